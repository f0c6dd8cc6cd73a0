package store

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/flowlens/flowlens/internal/console/apiv1"
	"math"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/schema"
)

// Dimension is a column flows can be grouped and filtered by.
type Dimension struct {
	Name  string
	Label string
	// Int dimensions hold numbers; filter values must be whole numbers.
	Int bool
	// kind normalises filter values: "ip", "mac" or "".
	kind string
}

// Dimensions lists every dimension, in the order the console shows them
// (from the schema).
var Dimensions = func() []Dimension {
	var out []Dimension
	for _, f := range schema.Dimensions() {
		out = append(out, Dimension{Name: f.Name, Label: f.Label, Int: f.Type == schema.Int, kind: f.Kind})
	}
	return out
}()

var dimByName = func() map[string]Dimension {
	m := map[string]Dimension{}
	for _, d := range Dimensions {
		m[d.Name] = d
	}
	return m
}()

// LookupDimension returns the dimension called name.
func LookupDimension(name string) (Dimension, bool) {
	d, ok := dimByName[name]
	return d, ok
}

// EitherSide is a filter-only dimension that matches a flow when either
// of its two columns does: vm=web-1 selects web-1's traffic in both
// directions. Flows cannot be grouped by it (a flow has two values).
type EitherSide struct {
	Name  string
	Label string
	// Of names the two dimensions it matches (source, destination).
	Of [2]string
}

// EitherSides lists the filter-only dimensions, in the order the console
// shows them (from the schema).
var EitherSides = func() []EitherSide {
	var out []EitherSide
	for _, e := range schema.EitherSides {
		out = append(out, EitherSide{Name: e.Name, Label: e.Label, Of: e.Of})
	}
	return out
}()

// LookupEitherSide returns the filter-only dimension called name.
func LookupEitherSide(name string) (EitherSide, bool) {
	for _, e := range EitherSides {
		if e.Name == name {
			return e, true
		}
	}
	return EitherSide{}, false
}

// IsFilterDimension says whether filters can name dim: a dimension or an
// either-side one.
func IsFilterDimension(name string) bool {
	if _, ok := dimByName[name]; ok {
		return true
	}
	_, ok := LookupEitherSide(name)
	return ok
}

// BadRequest is an error in a query's parameters: the message says what is
// wrong and how to fix it.
type BadRequest struct{ Msg string }

func (e *BadRequest) Error() string { return e.Msg }

func badRequest(format string, a ...any) error { return &BadRequest{Msg: fmt.Sprintf(format, a...)} }

func unknownDimension(name string) error {
	names := make([]string, len(Dimensions))
	for i, d := range Dimensions {
		names[i] = d.Name
	}
	return badRequest("unknown dimension %q: use one of %s", name, strings.Join(names, ", "))
}

// unknownFilterDimension also lists the either-side dimensions.
func unknownFilterDimension(name string) error {
	names := make([]string, 0, len(Dimensions)+len(EitherSides))
	for _, d := range Dimensions {
		names = append(names, d.Name)
	}
	for _, e := range EitherSides {
		names = append(names, e.Name)
	}
	return badRequest("filter on unknown dimension %q: use one of %s", name, strings.Join(names, ", "))
}

// Filter selects flows whose dimension equals (or, with Not, differs
// from) Value.
type Filter struct {
	Dim   string
	Not   bool
	Value string
}

// ParseFilter parses "dim=value" or "dim!=value".
func ParseFilter(s string) (Filter, error) {
	if d, v, ok := strings.Cut(s, "!="); ok {
		return Filter{Dim: strings.TrimSpace(d), Not: true, Value: v}, nil
	}
	if d, v, ok := strings.Cut(s, "="); ok {
		return Filter{Dim: strings.TrimSpace(d), Value: v}, nil
	}
	return Filter{}, badRequest("filter %q: write dimension=value or dimension!=value, e.g. filter=proto=tcp", s)
}

// Query is what every flow query has: a time range and filters.
type Query struct {
	From, To time.Time
	// Filters AND together; filters on the same dimension and operator
	// combine: "=" ones OR (IN), "!=" ones exclude every value (NOT IN).
	Filters []Filter
	// Expr is a filter expression (expr.go), ANDed with Filters.
	Expr string
	// AllObservations counts every sample of a packet, on every bridge it
	// crossed; by default only its first observation in the cloud counts
	// (docs/openstack.md, "Counting each packet once").
	AllObservations bool
}

// Observations names what a query counts: "first" or "all".
func (q Query) Observations() string {
	if q.AllObservations {
		return "all"
	}
	return "first"
}

// firstObservation is the condition of first observations: not
// classified (older rows, inputs without ports), or where the packet
// entered the cloud.
// Drop samples (blocked) are not traffic counts: the packet was counted
// where it entered.
const firstObservation = " AND observation IN ('', 'port', 'uplink') AND blocked = ''"

func (q Query) check() error {
	if q.From.IsZero() || q.To.IsZero() {
		return badRequest("from and to are required")
	}
	if !q.From.Before(q.To) {
		return badRequest("from (%s) must be before to (%s)", q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339))
	}
	return nil
}

// value converts a filter value to the dimension's column type.
func (d Dimension) value(v string) (any, error) {
	if d.Int {
		if v == "" {
			return int64(0), nil
		}
		if portDim(d.Name) && strings.EqualFold(strings.TrimSpace(v), EphemeralPort) {
			return int64(foldedPort), nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, badRequest("filter on %s: %q is not a whole number", d.Name, v)
		}
		return n, nil
	}
	switch d.kind {
	case "ip":
		if v == "" {
			return "", nil
		}
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil {
			return nil, badRequest("filter on %s: %q is not an IP address", d.Name, v)
		}
		return a.Unmap().String(), nil
	case "mac":
		return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(v), "-", ":")), nil
	}
	return v, nil
}

// where returns the SQL condition of a query's filters (starting with
// " AND") and its arguments.
func where(q Query) (string, []any, error) {
	cond, args, err := filters(q)
	if err != nil || q.AllObservations {
		return cond, args, err
	}
	return firstObservation + cond, args, nil
}

// filters is the condition of q's filters and expression (" AND …").
func filters(q Query) (string, []any, error) {
	cond, args, err := filterCond(q.Filters)
	if err != nil || q.Expr == "" {
		return cond, args, err
	}
	ec, eargs, err := ParseExpr(q.Expr)
	if err != nil {
		return "", nil, badRequest("%v", err)
	}
	if ec == "" {
		return cond, args, nil
	}
	return cond + " AND " + ec, append(args, eargs...), nil
}

func filterCond(filters []Filter) (string, []any, error) {
	type group struct {
		cols []Dimension // one, or two for an either-side dimension
		not  bool
		vals []any
	}
	var groups []*group
	idx := map[string]*group{}
	for _, f := range filters {
		var cols []Dimension
		if d, ok := LookupDimension(f.Dim); ok {
			cols = []Dimension{d}
		} else if e, ok := LookupEitherSide(f.Dim); ok {
			cols = []Dimension{dimByName[e.Of[0]], dimByName[e.Of[1]]}
		} else {
			return "", nil, unknownFilterDimension(f.Dim)
		}
		// Both columns of an either-side dimension have the same kind.
		v, err := cols[0].value(f.Value)
		if err != nil {
			return "", nil, err
		}
		k := f.Dim + strconv.FormatBool(f.Not)
		g := idx[k]
		if g == nil {
			g = &group{cols: cols, not: f.Not}
			idx[k] = g
			groups = append(groups, g)
		}
		g.vals = append(g.vals, v)
	}
	var b strings.Builder
	var args []any
	for _, g := range groups {
		in := " IN (" + placeholders(len(g.vals)) + ")"
		if g.not {
			in = " NOT" + in
		}
		// "=": either column matches; "!=": neither does.
		join := " OR "
		if g.not {
			join = " AND "
		}
		parts := make([]string, len(g.cols))
		for i, c := range g.cols {
			parts[i] = c.Name + in
			args = append(args, g.vals...)
		}
		if len(parts) == 1 {
			b.WriteString(" AND " + parts[0])
		} else {
			b.WriteString(" AND (" + strings.Join(parts, join) + ")")
		}
	}
	return b.String(), args, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// segment is a time range read from one tier.
type segment struct {
	tier     int
	from, to int64
}

// resolution returns tier i's resolution in seconds.
func (s *Store) resolution(i int) int64 {
	if i == 0 {
		if r := s.rawStep.Load(); r > 0 {
			return r
		}
		return 60
	}
	return s.tiers[i].Step
}

var niceSteps = []int64{10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400}

// autoStep is about span/300, rounded up to a round number of seconds.
func autoStep(span int64) int64 {
	want := span / 300
	for _, s := range niceSteps {
		if s >= want {
			return s
		}
	}
	return (want + 86399) / 86400 * 86400
}

// plan picks the tiers and step to read [from, to) at about step seconds:
// the coarsest tier not coarser than step (or a coarser one when it alone
// still holds data that old), completed with finer tiers for the most
// recent part that is not rolled up yet.
func (s *Store) plan(from, to, step int64) ([]segment, int64, int64) {
	s.smu.RLock()
	state := append([]tierState(nil), s.state...)
	s.smu.RUnlock()
	k := 0
	for i := range s.tiers {
		if s.resolution(i) <= step {
			k = i
		}
	}
	for k < len(s.tiers)-1 {
		st := state[k]
		if st.oldest != 0 && st.oldest <= from {
			break
		}
		older := false // does a coarser tier hold older data?
		for j := k + 1; j < len(s.tiers); j++ {
			if o := state[j].oldest; o != 0 && (st.oldest == 0 || o < st.oldest) {
				older = true
			}
		}
		if !older {
			break
		}
		k++
	}
	res := s.resolution(k)
	if step < res {
		step = res
	}
	step = (step + res - 1) / res * res
	from -= from % step
	var segs []segment
	cur := from
	for j := k; j >= 0 && cur < to; j-- {
		end := to
		if j > 0 {
			if state[j].done == 0 {
				continue
			}
			end = min(to, state[j].done)
		}
		if cur < end {
			segs = append(segs, segment{j, cur, end})
			cur = end
		}
	}
	return s.withLive(segs, from, to), step, from
}

// cover picks the tiers to read [from, to) as a whole (top-N, matrix, geo:
// no time axis): each part from the coarsest tier whose whole buckets fit
// in it, the edges from finer tiers, so that a day is read mostly from
// hourly rows yet exactly from its first second. Where only a coarse tier
// still holds the start (finer ones have expired it), its whole bucket is
// read and the returned start moves back to the bucket's.
func (s *Store) cover(from, to int64) ([]segment, int64) {
	s.smu.RLock()
	state := append([]tierState(nil), s.state...)
	s.smu.RUnlock()
	start := from
	// A range the raw tier holds whole is read from it alone: exact, and
	// with every port as it was (short ranges, the console's default).
	if raw := state[0]; raw.oldest != 0 {
		older := false
		for _, st := range state[1:] {
			older = older || st.oldest != 0 && st.oldest < raw.oldest
		}
		if raw.oldest <= from || !older {
			return s.withLive([]segment{{0, from, to}}, from, to), start
		}
	}
	var segs []segment
	var walk func(a, b int64, j int)
	walk = func(a, b int64, j int) {
		if a >= b {
			return
		}
		if j == 0 {
			segs = append(segs, segment{0, a, b})
			return
		}
		res, st := s.resolution(j), state[j]
		if st.done == 0 || st.oldest == 0 { // nothing rolled up yet
			walk(a, b, j-1)
			return
		}
		lo := a + (res-a%res)%res // first whole bucket
		finer := state[j-1].oldest
		if a < lo && (finer == 0 || finer > a) {
			// The finer tiers no longer hold the partial first bucket.
			lo = a - a%res
		}
		lo = max(lo, st.oldest-st.oldest%res)
		hi := b - b%res // past the last whole bucket
		if hi < b && (finer == 0 || finer > hi) {
			// Nor the partial last one: it is read whole, as time
			// series read every bucket that starts before the end.
			hi += res
		}
		hi = min(hi, st.done)
		if lo >= hi {
			walk(a, b, j-1)
			return
		}
		walk(a, lo, j-1)
		start = min(start, lo) // lo < a: a whole first bucket is read
		segs = append(segs, segment{j, lo, hi})
		walk(hi, b, j-1)
	}
	walk(from, to, len(s.tiers)-1)
	return s.withLive(segs, from, to), start
}

// scope is what a flow query over q starts with: the conditions of its
// filters, the live interval brought up to date, and the segments of the
// tiers that cover its range, with the range's start as read.
func (s *Store) scope(ctx context.Context, q Query) (cond string, args []any, segs []segment, from int64, err error) {
	cond, args, err = where(q)
	if err != nil {
		return "", nil, nil, 0, err
	}
	s.refreshLive(ctx, q.To)
	segs, from = s.cover(q.From.Unix(), q.To.Unix())
	return cond, args, segs, from, nil
}

// base returns a UNION ALL of cols from each segment's flows table, with
// the filters, and its arguments. Where rolled-up rows (whose clients'
// ephemeral ports are folded) meet raw rows, the raw rows' ports are
// folded the same way, so that one answer never shows a connection's port
// for part of its range and "ephemeral" for the rest.
func (s *Store) base(segs []segment, cols, cond string, condArgs []any) (string, []any) {
	if len(segs) == 0 {
		// An empty relation with the right columns.
		return fmt.Sprintf("SELECT %s FROM %s WHERE 1 = 0", cols, s.tiers[0].table("flows")), nil
	}
	folded := foldedCols(cols)
	fold := false
	for _, sg := range segs {
		fold = fold || sg.tier > 0
	}
	var parts []string
	var args []any
	for _, sg := range segs {
		c := cols
		if fold && sg.tier <= 0 {
			c = folded
		}
		parts = append(parts, fmt.Sprintf("SELECT %s FROM %s WHERE ts >= ? AND ts < ?%s", c, s.flowTable(sg.tier), cond))
		args = append(args, sg.from, sg.to)
		args = append(args, condArgs...)
	}
	return strings.Join(parts, " UNION ALL "), args
}

// foldedCols replaces the port columns of a select list by their folded
// form (rollupKey).
func foldedCols(cols string) string {
	items := strings.Split(cols, ", ")
	for i, it := range items {
		for _, k := range []string{"src_port", "dst_port"} {
			switch {
			case it == k:
				items[i] = rollupKey(k) + " AS " + k
			case strings.HasPrefix(it, k+" AS "):
				items[i] = rollupKey(k) + it[len(k):]
			}
		}
	}
	return strings.Join(items, ", ")
}

// flowTable is tier i's flows table; tier -1 is the live table.
func (s *Store) flowTable(i int) string {
	if i < 0 {
		return liveTable
	}
	return s.tiers[i].table("flows")
}

// EphemeralPort is how a client's ephemeral port, folded in rolled-up
// resolutions, appears in answers and filters.
const EphemeralPort = "ephemeral"

// portDim says whether a dimension is an L4 port, which can be folded.
func portDim(d string) bool { return d == "src_port" || d == "dst_port" }

// dimKey is how a dimension's value appears in answers.
func dimKey(dim string, k any) string {
	k = normKey(k)
	if n, ok := k.(int64); ok && n == foldedPort && portDim(dim) {
		return EphemeralPort
	}
	return keyString(k)
}

// notes say what a query's answer cannot show: a filter on an ephemeral
// port that the rolled-up rows it reads have folded.
func notes(q Query, segs []segment, tiers []Tier) []string {
	rolled := false
	for _, sg := range segs {
		rolled = rolled || sg.tier > 0
	}
	if !rolled {
		return nil
	}
	var out []string
	for _, f := range q.Filters {
		if !portDim(f.Dim) || f.Not {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(f.Value), 10, 64); err == nil && n >= ephemeralPort {
			out = append(out, fmt.Sprintf("filter %s=%d: ports from %d up are clients' ephemeral ports, folded to %q after %s: only the last %s can match",
				f.Dim, n, ephemeralPort, EphemeralPort, tiers[0].Keep, tiers[0].Keep))
		}
	}
	return out
}

// TimeseriesRequest asks for traffic over time.
type TimeseriesRequest struct {
	Query
	Metric string // bps (default) or pps
	By     string // dimension; "" for the total only
	Top    int    // series besides "other" (default 10)
	Step   int64  // seconds; 0 picks one for about 300 points
}

// OtherKey names the series of everything outside the top N; TotalKey the
// only series when there is no by.
const (
	OtherKey = "other"
	TotalKey = "total"
)

// maxPoints bounds a time series' length.
const maxPoints = 5000

func metricColumn(metric string) (string, error) {
	switch metric {
	case "", "bps", "bytes":
		return "bytes", nil
	case "pps", "packets":
		return "packets", nil
	}
	return "", badRequest("metric %q: use bps or pps (timeseries), bytes or packets (top)", metric)
}

// Timeseries returns the top series by total over the range and "other".
func (s *Store) Timeseries(ctx context.Context, r TimeseriesRequest) (*apiv1.Timeseries, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if r.Metric == "" {
		r.Metric = "bps"
	}
	if r.Metric != "bps" && r.Metric != "pps" {
		return nil, badRequest("metric %q: use bps or pps", r.Metric)
	}
	m, _ := metricColumn(r.Metric)
	var dim Dimension
	if r.By != "" {
		var ok bool
		if dim, ok = LookupDimension(r.By); !ok {
			return nil, unknownDimension(r.By)
		}
	}
	if r.Top <= 0 {
		r.Top = 10
	}
	if r.Top > 100 {
		return nil, badRequest("top %d: ask for at most 100 series", r.Top)
	}
	s.refreshLive(ctx, r.To)
	segs, from, _, step, n, err := s.steps(r.From, r.To, r.Step)
	if err != nil {
		return nil, err
	}
	cond, cargs, err := where(r.Query)
	if err != nil {
		return nil, err
	}
	out := &apiv1.Timeseries{From: time.Unix(from, 0).UTC(), To: r.To.UTC(), Step: step, Metric: r.Metric, By: r.By,
		Timestamps: make([]int64, n), Observations: r.Observations(), Notes: notes(r.Query, segs, s.tiers)}
	for i := range out.Timestamps {
		out.Timestamps[i] = from + int64(i)*step
	}
	db := s.eng.DB()
	scale := 1 / float64(step)
	if m == "bytes" {
		scale *= 8
	}
	if r.By == "" {
		q, args := s.base(segs, "ts, "+m+" AS m", cond, cargs)
		q = fmt.Sprintf("SELECT ts - ts %% %d AS b, sum(m) FROM (%s) x GROUP BY b", step, q)
		vals := make([]float64, n)
		err := scanRows(ctx, db, q, args, func(rows *sql.Rows) error {
			var b, v int64
			if err := rows.Scan(&b, &v); err != nil {
				return err
			}
			if i := (b - from) / step; i >= 0 && i < n {
				vals[i] += float64(v) * scale
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out.Series = []apiv1.Series{{Key: TotalKey, Values: vals}}
		s.markGaps(out)
		return out, nil
	}
	// The top keys over the whole range, then every bucket of those keys
	// and of the rest.
	q, args := s.base(segs, dim.Name+" AS k, "+m+" AS m", cond, cargs)
	q = fmt.Sprintf("SELECT k, sum(m) AS v FROM (%s) x GROUP BY k ORDER BY v DESC, k LIMIT %d", q, r.Top)
	var keys []any
	err = scanRows(ctx, db, q, args, func(rows *sql.Rows) error {
		var k any
		var v int64
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		keys = append(keys, normKey(k))
		return nil
	})
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for i, k := range keys {
		idx[keyString(k)] = i
		out.Series = append(out.Series, apiv1.Series{Key: dimKey(r.By, k), Values: make([]float64, n)})
	}
	other := apiv1.Series{Key: OtherKey, Values: make([]float64, n)}
	in := "1 = 0"
	if len(keys) > 0 {
		in = "k IN (" + placeholders(len(keys)) + ")"
	}
	q, args = s.base(segs, "ts, "+dim.Name+" AS k, "+m+" AS m", cond, cargs)
	q = fmt.Sprintf("SELECT ts - ts %% %d AS b, CASE WHEN %s THEN k END AS kk, sum(m) FROM (%s) x GROUP BY b, kk", step, in, q)
	args = append(append([]any(nil), keys...), args...)
	err = scanRows(ctx, db, q, args, func(rows *sql.Rows) error {
		var b, v int64
		var k any
		if err := rows.Scan(&b, &k, &v); err != nil {
			return err
		}
		i := (b - from) / step
		if i < 0 || i >= n {
			return nil
		}
		vals := other.Values
		if k != nil {
			if j, ok := idx[keyString(normKey(k))]; ok {
				vals = out.Series[j].Values
			}
		}
		vals[i] += float64(v) * scale
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Series = append(out.Series, other)
	s.markGaps(out)
	return out, nil
}

// markGaps sets every series to NaN (null) in the steps nothing covers:
// flowlens was not running.
func (s *Store) markGaps(ts *apiv1.Timeseries) {
	now := time.Now().Unix()
	for i, b := range ts.Timestamps {
		if b >= now || s.cov.covered(b, b+ts.Step) {
			continue
		}
		for j := range ts.Series {
			ts.Series[j].Values[i] = math.NaN()
		}
	}
}

// normKey converts what the driver returns for a dimension to int64 or
// string.
func normKey(k any) any {
	switch v := k.(type) {
	case []byte:
		return string(v)
	case int32:
		return int64(v)
	case int:
		return int64(v)
	}
	return k
}

func keyString(k any) string {
	switch v := k.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case nil:
		return ""
	}
	return fmt.Sprint(k)
}

func scanRows(ctx context.Context, db *sql.DB, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// TopRequest asks for the top keys over a range.
type TopRequest struct {
	Query
	By     []string // one or more dimensions
	Metric string   // bytes (default) or packets
	Limit  int      // rows (default 10)
}

// Top returns the keys with the most bytes (or packets), the rest as
// Other and the Total.
func (s *Store) Top(ctx context.Context, r TopRequest) (*apiv1.Top, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if len(r.By) == 0 {
		return nil, badRequest("by is required: one or more dimensions separated by commas, e.g. by=src_ip,dst_ip")
	}
	if len(r.By) > 6 {
		return nil, badRequest("by: at most 6 dimensions")
	}
	for _, b := range r.By {
		if _, ok := LookupDimension(b); !ok {
			return nil, unknownDimension(b)
		}
	}
	if r.Metric == "" {
		r.Metric = "bytes"
	}
	if r.Metric != "bytes" && r.Metric != "packets" {
		return nil, badRequest("metric %q: use bytes or packets", r.Metric)
	}
	if r.Limit <= 0 {
		r.Limit = 10
	}
	if r.Limit > 10000 {
		return nil, badRequest("limit %d: at most 10000 rows", r.Limit)
	}
	cond, cargs, segs, from, err := s.scope(ctx, r.Query)
	if err != nil {
		return nil, err
	}
	cols := strings.Join(r.By, ", ")
	q, args := s.base(segs, cols+", bytes, packets", cond, cargs)
	order := "b"
	if r.Metric == "packets" {
		order = "p"
	}
	q = fmt.Sprintf("SELECT %s, sum(bytes) AS b, sum(packets) AS p, sum(sum(bytes)) OVER (), sum(sum(packets)) OVER () FROM (%s) x GROUP BY %s ORDER BY %s DESC, %s LIMIT %d",
		cols, q, cols, order, cols, r.Limit)
	out := &apiv1.Top{From: time.Unix(from, 0).UTC(), To: r.To.UTC(), By: r.By, Rows: []apiv1.TopRow{}, Observations: r.Observations(),
		Notes: notes(r.Query, segs, s.tiers)}
	secs := float64(r.To.Unix() - from)
	var sum apiv1.Totals
	err = scanRows(ctx, s.eng.DB(), q, args, func(rows *sql.Rows) error {
		vals := make([]any, len(r.By)+4)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := apiv1.TopRow{Key: map[string]string{}}
		for i, b := range r.By {
			row.Key[b] = dimKey(b, vals[i])
		}
		n := len(r.By)
		row.Bytes, row.Packets = toInt(vals[n]), toInt(vals[n+1])
		out.Total = apiv1.Totals{Bytes: toInt(vals[n+2]), Packets: toInt(vals[n+3])}
		row.Bps, row.Pps = float64(row.Bytes)*8/secs, float64(row.Packets)/secs
		sum.Bytes += row.Bytes
		sum.Packets += row.Packets
		out.Rows = append(out.Rows, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Other = apiv1.Totals{Bytes: out.Total.Bytes - sum.Bytes, Packets: out.Total.Packets - sum.Packets}
	return out, nil
}

// toInt converts a SUM result (int64, float64, *big.Int-like strings or
// HUGEINT) to int64.
func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case float64:
		return int64(x)
	case []byte:
		n, _ := strconv.ParseInt(string(x), 10, 64)
		return n
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	case fmt.Stringer:
		n, _ := strconv.ParseInt(x.String(), 10, 64)
		return n
	}
	return 0
}

// MatrixRequest asks who talks to whom.
type MatrixRequest struct {
	Query
	Level string // ip (default), vm, network, project, host, country, mixed
	Limit int    // links (default 50)
}

var matrixLevels = map[string][2]string{
	"ip": {"src_ip", "dst_ip"}, "vm": {"src_vm", "dst_vm"}, "network": {"src_network", "dst_network"},
	"project": {"src_project", "dst_project"}, "host": {"src_host", "dst_host"}, "country": {"src_country", "dst_country"},
}

// mixedEnd names one end at the mixed level: the VM where the cloud knows
// it, else the country where GeoIP places it, else the address; at the
// country level, the country, else "cloud" for the cloud's own ends
// (they have no country). The kind prefixes the id so that a VM named
// like a country stays apart.
func mixedEnd(side, level string) string {
	if level == "country" {
		return fmt.Sprintf("CASE WHEN %[1]s_country <> '' THEN 'country:' || %[1]s_country ELSE 'cloud:' END", side)
	}
	return fmt.Sprintf("CASE WHEN %[1]s_vm <> '' THEN 'vm:' || %[1]s_vm WHEN %[1]s_country <> '' THEN 'country:' || %[1]s_country "+
		"ELSE 'ip:' || %[1]s_ip END", side)
}

// Matrix returns the top links between ends at the requested level; ends
// without a value at that level (a VM level for external addresses) are
// left out, except at the mixed level (VM, else country, else address:
// cloud↔internet in one picture) and the country level (the cloud's own
// ends are one "cloud" node).
func (s *Store) Matrix(ctx context.Context, r MatrixRequest) (*apiv1.Matrix, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if r.Level == "" {
		r.Level = "ip"
	}
	cols, ok := matrixLevels[r.Level]
	if !ok && r.Level != "mixed" {
		return nil, badRequest("level %q: use ip, vm, network, project, host, country or mixed", r.Level)
	}
	if r.Limit <= 0 {
		r.Limit = 50
	}
	if r.Limit > 10000 {
		return nil, badRequest("limit %d: at most 10000 links", r.Limit)
	}
	if r.Level == "mixed" || r.Level == "country" {
		return s.mixedMatrix(ctx, r)
	}
	tq := r.Query
	tq.Filters = append(append([]Filter(nil), r.Filters...), Filter{Dim: cols[0], Not: true}, Filter{Dim: cols[1], Not: true})
	top, err := s.Top(ctx, TopRequest{Query: tq, By: cols[:], Limit: r.Limit})
	if err != nil {
		return nil, err
	}
	out := &apiv1.Matrix{Level: r.Level, Nodes: []apiv1.Node{}, Links: []apiv1.Link{}, Observations: r.Observations(), Notes: top.Notes}
	seen := map[string]bool{}
	for _, row := range top.Rows {
		a, b := row.Key[cols[0]], row.Key[cols[1]]
		out.Links = append(out.Links, apiv1.Link{Source: a, Target: b, Bytes: row.Bytes, Packets: row.Packets})
		for _, id := range []string{a, b} {
			if !seen[id] {
				seen[id] = true
				out.Nodes = append(out.Nodes, apiv1.Node{ID: id, Label: id})
			}
		}
	}
	return out, nil
}

func (s *Store) mixedMatrix(ctx context.Context, r MatrixRequest) (*apiv1.Matrix, error) {
	cond, cargs, segs, _, err := s.scope(ctx, r.Query)
	if err != nil {
		return nil, err
	}
	in, args := s.base(segs, mixedEnd("src", r.Level)+" AS a, "+mixedEnd("dst", r.Level)+" AS b, bytes, packets", cond, cargs)
	// A country level link between two cloud ends says nothing.
	skip := ""
	if r.Level == "country" {
		skip = " WHERE NOT (a = 'cloud:' AND b = 'cloud:')"
	}
	q := fmt.Sprintf("SELECT a, b, sum(bytes) AS bb, sum(packets) FROM (%s) x%s GROUP BY a, b ORDER BY bb DESC, a, b LIMIT %d", in, skip, r.Limit)
	out := &apiv1.Matrix{Level: r.Level, Nodes: []apiv1.Node{}, Links: []apiv1.Link{}, Observations: r.Observations(), Notes: notes(r.Query, segs, s.tiers)}
	seen := map[string]bool{}
	err = scanRows(ctx, s.eng.DB(), q, args, func(rows *sql.Rows) error {
		var a, b string
		var l apiv1.Link
		if err := rows.Scan(&a, &b, &l.Bytes, &l.Packets); err != nil {
			return err
		}
		l.Source, l.Target = a, b
		out.Links = append(out.Links, l)
		for _, id := range []string{a, b} {
			if seen[id] {
				continue
			}
			seen[id] = true
			kind, value, _ := strings.Cut(id, ":")
			label := value
			if kind == "cloud" {
				label = "this cloud"
			}
			out.Nodes = append(out.Nodes, apiv1.Node{ID: id, Label: label, Kind: kind, Value: value})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GeoRequest asks where external traffic comes from and goes to.
type GeoRequest struct {
	Query
	Limit int // points (default 100)
}

// Geo returns the external addresses with a known location that exchange
// the most bytes, each direction apart.
func (s *Store) Geo(ctx context.Context, r GeoRequest) ([]apiv1.GeoPoint, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if r.Limit <= 0 {
		r.Limit = 100
	}
	if r.Limit > 10000 {
		return nil, badRequest("limit %d: at most 10000 points", r.Limit)
	}
	cond, cargs, segs, _, err := s.scope(ctx, r.Query)
	if err != nil {
		return nil, err
	}
	in, inArgs := s.base(segs, "'inbound' AS d, src_ip AS ip, src_country AS c, src_city AS city, src_lat AS lat, src_lon AS lon, src_asn AS asn, src_as_org AS o, bytes, packets",
		cond+" AND src_country <> '' AND (src_lat <> 0 OR src_lon <> 0)", cargs)
	outq, outArgs := s.base(segs, "'outbound' AS d, dst_ip AS ip, dst_country AS c, dst_city AS city, dst_lat AS lat, dst_lon AS lon, dst_asn AS asn, dst_as_org AS o, bytes, packets",
		cond+" AND dst_country <> '' AND (dst_lat <> 0 OR dst_lon <> 0)", cargs)
	// The AS organisation is the ASN's: max() keeps one where a database
	// update renamed it meanwhile.
	q := fmt.Sprintf("SELECT d, ip, c, city, lat, lon, asn, max(o), sum(bytes) AS b, sum(packets) FROM (%s UNION ALL %s) x GROUP BY d, ip, c, city, lat, lon, asn ORDER BY b DESC, ip LIMIT %d",
		in, outq, r.Limit)
	points := []apiv1.GeoPoint{}
	err = scanRows(ctx, s.eng.DB(), q, append(inArgs, outArgs...), func(rows *sql.Rows) error {
		var p apiv1.GeoPoint
		var b, pk any
		if err := rows.Scan(&p.Direction, &p.IP, &p.Country, &p.City, &p.Lat, &p.Lon, &p.ASN, &p.ASOrg, &b, &pk); err != nil {
			return err
		}
		p.Bytes, p.Packets = toInt(b), toInt(pk)
		points = append(points, p)
		return nil
	})
	return points, err
}

// PortsRequest asks for port counter series.
type PortsRequest struct {
	From, To time.Time
	Agent    string // "" for every agent
	Port     string // name or ifIndex; "" for every port
	Step     int64  // seconds; 0 for about 300 points
	Limit    int    // ports (default 20), busiest first
}

// steps turns a time range and an asked-for step (0: automatic) into the
// segments to read, the aligned range, the step the data allows and the
// number of points, refusing steps that would give too many points.
func (s *Store) steps(fromT, toT time.Time, asked int64) (segs []segment, from, to, step, n int64, err error) {
	if asked < 0 {
		return nil, 0, 0, 0, 0, badRequest("step must be a positive number of seconds")
	}
	from, to = fromT.Unix(), toT.Unix()
	step = asked
	if step == 0 {
		step = autoStep(to - from)
	}
	segs, step, from = s.plan(from, to, step)
	n = (to - from + step - 1) / step
	if n > maxPoints {
		return nil, 0, 0, 0, 0, badRequest("step %ds gives %d points over this range: use a step of at least %ds", step, n, (to-from)/maxPoints+1)
	}
	return segs, from, to, step, n, nil
}

// Ports returns the rates of the matching ports. Each point is the rate
// between the last sample of the previous step and the last sample of
// this one (errors and discards per second); a counter that went back
// (an agent or port restart) gives no value.
func (s *Store) Ports(ctx context.Context, r PortsRequest) ([]apiv1.PortSeries, error) {
	if err := (Query{From: r.From, To: r.To}).check(); err != nil {
		return nil, err
	}
	if r.Limit <= 0 {
		r.Limit = 20
	}
	if r.Limit > 1000 {
		return nil, badRequest("limit %d: at most 1000 ports", r.Limit)
	}
	segs, from, _, step, n, err := s.steps(r.From, r.To, r.Step)
	if err != nil {
		return nil, err
	}
	cond := ""
	var cargs []any
	if r.Agent != "" {
		a, err := netip.ParseAddr(r.Agent)
		if err != nil {
			return nil, badRequest("agent %q is not an IP address", r.Agent)
		}
		cond += " AND agent = ?"
		cargs = append(cargs, a.Unmap().String())
	}
	if r.Port != "" {
		if idx, err := strconv.ParseInt(r.Port, 10, 64); err == nil {
			cond += " AND idx = ?"
			cargs = append(cargs, idx)
		} else {
			cond += " AND name = ?"
			cargs = append(cargs, r.Port)
		}
	}
	var parts []string
	var args []any
	for _, sg := range segs {
		if sg.tier < 0 {
			continue // the live table holds flows; counters are stored as they come
		}
		// One sample before the range, to have a rate for its first step.
		parts = append(parts, fmt.Sprintf("SELECT * FROM %s WHERE ts >= ? AND ts < ?%s", s.tiers[sg.tier].table("counters"), cond))
		lo := sg.from
		if sg.from == from {
			lo -= step
		}
		args = append(args, lo, sg.to)
		args = append(args, cargs...)
	}
	if len(parts) == 0 {
		return []apiv1.PortSeries{}, nil
	}
	q := strings.Join(parts, " UNION ALL ")
	q = "SELECT ts, agent, sub_agent, idx, name, speed, in_octets, out_octets, in_pkts, out_pkts, in_errors, out_errors, in_discards, out_discards FROM (" +
		q + ") x ORDER BY agent, sub_agent, idx, ts"
	type sample struct {
		ts int64
		v  [8]sql.NullInt64
	}
	type key struct {
		agent    string
		sub, idx int64
	}
	var ports []*apiv1.PortSeries
	var cur *apiv1.PortSeries
	totals := map[*apiv1.PortSeries]float64{} // busiest first
	var curKey key
	var prev *sample
	var last [8]sql.NullInt64 // last sample of the previous step
	var lastTS int64
	lastBucket := int64(-1)
	flush := func(sm *sample, bucket int64) {
		// Rate from the last sample of the previous step to sm.
		if lastTS != 0 && sm.ts > lastTS && bucket >= 0 {
			dt := float64(sm.ts - lastTS)
			series := []apiv1.Values{cur.InBps, cur.OutBps, cur.InPps, cur.OutPps, cur.InErrors, cur.OutErrors, cur.InDiscards, cur.OutDiscards}
			for j := range 8 {
				if sm.v[j].Valid && last[j].Valid && sm.v[j].Int64 >= last[j].Int64 {
					rate := float64(sm.v[j].Int64-last[j].Int64) / dt
					if j < 2 {
						rate *= 8
						totals[cur] += rate
					}
					series[j][bucket] = rate
				}
			}
			if cur.Speed > 0 {
				cur.InUtilisation[bucket] = cur.InBps[bucket] / float64(cur.Speed)
				cur.OutUtilisation[bucket] = cur.OutBps[bucket] / float64(cur.Speed)
			}
		}
		last, lastTS = sm.v, sm.ts
	}
	nan := func() apiv1.Values {
		v := make(apiv1.Values, n)
		for i := range v {
			v[i] = math.NaN()
		}
		return v
	}
	err = scanRows(ctx, s.eng.DB(), q, args, func(rows *sql.Rows) error {
		var sm sample
		var k key
		var name sql.NullString
		var speed sql.NullInt64
		if err := rows.Scan(&sm.ts, &k.agent, &k.sub, &k.idx, &name, &speed,
			&sm.v[0], &sm.v[1], &sm.v[2], &sm.v[3], &sm.v[4], &sm.v[5], &sm.v[6], &sm.v[7]); err != nil {
			return err
		}
		if cur == nil || k != curKey {
			if cur != nil && prev != nil {
				flush(prev, lastBucket)
			}
			cur = &apiv1.PortSeries{Agent: k.agent, SubAgent: k.sub, Index: k.idx, Timestamps: make([]int64, n),
				InBps: nan(), OutBps: nan(), InPps: nan(), OutPps: nan(), InErrors: nan(), OutErrors: nan(),
				InDiscards: nan(), OutDiscards: nan(), InUtilisation: nan(), OutUtilisation: nan()}
			for i := range cur.Timestamps {
				cur.Timestamps[i] = from + int64(i)*step
			}
			ports = append(ports, cur)
			curKey, prev, lastTS, lastBucket = k, nil, 0, -2
		}
		if name.String != "" {
			cur.Name = name.String
		}
		if speed.Valid {
			cur.Speed = speed.Int64
		}
		b := (sm.ts - from) / step
		if sm.ts < from {
			b = -1
		}
		if prev != nil && b != lastBucket {
			flush(prev, lastBucket)
		}
		if lastTS == 0 {
			// No sample before this one: the first bucket's rate runs from
			// its first sample to its last, rather than being left empty.
			last, lastTS = sm.v, sm.ts
		}
		smc := sm
		prev, lastBucket = &smc, b
		return nil
	})
	if err != nil {
		return nil, err
	}
	if cur != nil && prev != nil {
		flush(prev, lastBucket)
	}
	sort.SliceStable(ports, func(i, j int) bool { return totals[ports[i]] > totals[ports[j]] })
	if len(ports) > r.Limit {
		ports = ports[:r.Limit]
	}
	out := make([]apiv1.PortSeries, len(ports))
	for i, p := range ports {
		out[i] = *p
	}
	return out, nil
}
