// Package console serves flowlens's web console: the JSON API of
// docs/api.md over the embedded store, the agents' health and the interface
// inventory, and the console's static files, behind optional
// authentication (Server).
package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/flowlens/flowlens/internal/console/apiv1"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/agents"
	"github.com/flowlens/flowlens/internal/enrich/ifaces"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/store"
)

// StatusInfo is what /api/v1/status tells besides the store's figures.
type StatusInfo struct {
	Version string
	Started time.Time
	// Listen lists the addresses flowlens receives on, by input
	// (e.g. "sflow": [":6343"]).
	Listen map[string][]string
	// SetupHint is a command that sends sFlow here, e.g. the ovs-vsctl
	// line of docs/getting-started-openstack.md.
	SetupHint string
	// QueryTimeout bounds one API query (0: 30 s).
	QueryTimeout time.Duration
	// Now is the clock of relative times (nil: time.Now); for tests.
	Now func() time.Time
	// Enrichment reports each enrichment source and its state (nil:
	// none configured).
	Enrichment func() any
	// Interval is the aggregation interval: the finest tier's step.
	Interval time.Duration
	// Ports returns the OpenStack inventory's ports (nil: none), for
	// /api/v1/search.
	Ports func() []openstack.Port
}

type api struct {
	st   *store.Store
	ag   *agents.Registry
	inv  *ifaces.Inventory
	info StatusInfo
}

// NewAPI returns the handler of /api/v1/*. st may be nil (store disabled):
// flow endpoints then answer 503; ag and inv may be nil too.
func NewAPI(st *store.Store, ag *agents.Registry, inv *ifaces.Inventory, info StatusInfo) http.Handler {
	if info.QueryTimeout <= 0 {
		info.QueryTimeout = 30 * time.Second
	}
	if info.Now == nil {
		info.Now = time.Now
	}
	a := &api{st: st, ag: ag, inv: inv, info: info}
	mux := http.NewServeMux()
	flowParams := []string{"from", "to", "filter", "expr", "observations"}
	mux.HandleFunc("GET /api/v1/timeseries", a.flows(a.timeseries, append(flowParams, "metric", "by", "top", "step")...))
	mux.HandleFunc("GET /api/v1/top", a.flows(a.top, append(flowParams, "by", "metric", "limit")...))
	mux.HandleFunc("GET /api/v1/matrix", a.flows(a.matrix, append(flowParams, "level", "limit")...))
	mux.HandleFunc("GET /api/v1/geo", a.flows(a.geo, append(flowParams, "limit")...))
	mux.HandleFunc("GET /api/v1/ports", a.flows(a.ports, "from", "to", "agent", "port", "step", "limit"))
	mux.HandleFunc("GET /api/v1/blocked", a.flows(a.blocked, "from", "to", "filter", "expr", "limit"))
	mux.HandleFunc("GET /api/v1/expr", a.exprHandler)
	mux.HandleFunc("GET /api/v1/search", a.searchHandler)
	mux.HandleFunc("GET /api/v1/values", a.valuesHandler)
	mux.HandleFunc("GET /api/v1/agents", a.simple(a.agents))
	mux.HandleFunc("GET /api/v1/interfaces", a.simple(a.interfaces))
	mux.HandleFunc("GET /api/v1/status", a.simple(a.status))
	mux.HandleFunc("GET /api/v1/dimensions", a.simple(a.dimensions))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusMethodNotAllowed, "the API is read-only: use GET")
			return
		}
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path+" (see docs/api.md: /api/v1/timeseries, top, matrix, geo, ports, blocked, expr, search, values, agents, interfaces, status, dimensions)")
	})
	return mux
}

// httpError is an error with its status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func bad(format string, a ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (a *api) fail(w http.ResponseWriter, err error) {
	var he *httpError
	var br *store.BadRequest
	switch {
	case errors.As(err, &he):
		writeError(w, he.status, he.msg)
	case errors.As(err, &br):
		writeError(w, http.StatusBadRequest, br.Msg)
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "the query took too long: narrow the time range or add filters")
	default:
		writeError(w, http.StatusInternalServerError, "store query failed: "+err.Error())
	}
}

// checkParams refuses parameters the endpoint does not take, so that a
// typo is an error rather than silently ignored.
func checkParams(q url.Values, allowed []string) error {
	for k := range q {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
			}
		}
		if !ok {
			return bad("unknown parameter %q: this endpoint takes %s", k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

type flowHandler func(ctx context.Context, q url.Values, base store.Query) (any, error)

func (a *api) flows(h flowHandler, allowed ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := checkParams(q, allowed); err != nil {
			a.fail(w, err)
			return
		}
		if a.st == nil {
			writeError(w, http.StatusServiceUnavailable, "the flow store is disabled: set store.enabled: true")
			return
		}
		base, err := a.query(q)
		if err != nil {
			a.fail(w, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), a.info.QueryTimeout)
		defer cancel()
		v, err := h(ctx, q, base)
		if err != nil {
			a.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (a *api) simple(h func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := checkParams(r.URL.Query(), nil); err != nil {
			a.fail(w, err)
			return
		}
		v, err := h(r)
		if err != nil {
			a.fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// ParseTime reads an RFC 3339 time, Unix seconds, "now", or a duration
// relative to now: -15m, -6h, -7d (also -1w, and "now-6h").
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" {
		return now, nil
	}
	rel := strings.TrimPrefix(s, "now")
	if strings.HasPrefix(rel, "-") || strings.HasPrefix(rel, "+") {
		sign := time.Duration(1)
		if rel[0] == '-' {
			sign = -1
		}
		d, err := parseDuration(rel[1:])
		if err == nil {
			return now.Add(sign * d), nil
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2026-11-20T14:00:00Z), Unix seconds, now, or relative to now (-15m, -6h, -7d)", s)
}

func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseFloat(n, 64)
		return time.Duration(v * float64(24*time.Hour)), err
	}
	if n, ok := strings.CutSuffix(s, "w"); ok {
		v, err := strconv.ParseFloat(n, 64)
		return time.Duration(v * float64(7*24*time.Hour)), err
	}
	return time.ParseDuration(s)
}

func (a *api) timeRange(q url.Values) (time.Time, time.Time, error) {
	now := a.info.Now()
	from, to := now.Add(-time.Hour), now
	if v := q.Get("from"); v != "" {
		t, err := ParseTime(v, now)
		if err != nil {
			return from, to, bad("from: %v", err)
		}
		from = t
	}
	if v := q.Get("to"); v != "" {
		t, err := ParseTime(v, now)
		if err != nil {
			return from, to, bad("to: %v", err)
		}
		to = t
	}
	if !from.Before(to) {
		return from, to, bad("from (%s) must be before to (%s)", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	}
	return from, to, nil
}

func (a *api) query(q url.Values) (store.Query, error) {
	from, to, err := a.timeRange(q)
	if err != nil {
		return store.Query{}, err
	}
	out := store.Query{From: from, To: to}
	switch o := q.Get("observations"); o {
	case "", "first":
	case "all":
		out.AllObservations = true
	default:
		return out, bad("observations %q: use first (each packet once, where it entered the cloud) or all (every sample, on every bridge)", o)
	}
	if e := q.Get("expr"); e != "" {
		if _, _, err := store.ParseExpr(e); err != nil {
			return out, bad("%v", err)
		}
		out.Expr = e
	}
	for _, f := range q["filter"] {
		flt, err := store.ParseFilter(f)
		if err != nil {
			return out, err
		}
		if !store.IsFilterDimension(flt.Dim) {
			return out, bad("filter %q: unknown dimension %q (GET /api/v1/dimensions lists them, and the either-side ones: vm, project, network, host, ip, mac, interface)", f, flt.Dim)
		}
		out.Filters = append(out.Filters, flt)
	}
	return out, nil
}

// exprHandler checks a filter expression (GET /api/v1/expr?expr=): the
// console asks before it queries, so that a mistake is said once, at the
// filter bar, with its place, rather than by every panel.
func (a *api) exprHandler(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkParams(q, []string{"expr"}); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, _, err := store.ParseExpr(q.Get("expr")); err != nil {
		body := map[string]any{"error": err.Error()}
		if ee := (*store.ExprError)(nil); errors.As(err, &ee) {
			body["position"], body["message"] = ee.Pos, ee.Msg
		}
		writeJSON(w, http.StatusBadRequest, body)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true})
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, bad("%s %q: use a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

func (a *api) timeseries(ctx context.Context, q url.Values, base store.Query) (any, error) {
	top, err := intParam(q, "top", 10, 1, 100)
	if err != nil {
		return nil, err
	}
	step, err := intParam(q, "step", 0, 1, 365*86400)
	if err != nil {
		return nil, err
	}
	by := q.Get("by")
	if strings.Contains(by, ",") {
		return nil, bad("by %q: timeseries take one dimension (top takes several)", by)
	}
	return a.st.Timeseries(ctx, store.TimeseriesRequest{Query: base, Metric: q.Get("metric"), By: by, Top: top, Step: int64(step)})
}

func (a *api) top(ctx context.Context, q url.Values, base store.Query) (any, error) {
	limit, err := intParam(q, "limit", 10, 1, 10000)
	if err != nil {
		return nil, err
	}
	var by []string
	for _, b := range strings.Split(q.Get("by"), ",") {
		if b = strings.TrimSpace(b); b != "" {
			by = append(by, b)
		}
	}
	return a.st.Top(ctx, store.TopRequest{Query: base, By: by, Metric: q.Get("metric"), Limit: limit})
}

func (a *api) matrix(ctx context.Context, q url.Values, base store.Query) (any, error) {
	limit, err := intParam(q, "limit", 50, 1, 10000)
	if err != nil {
		return nil, err
	}
	return a.st.Matrix(ctx, store.MatrixRequest{Query: base, Level: q.Get("level"), Limit: limit})
}

func (a *api) geo(ctx context.Context, q url.Values, base store.Query) (any, error) {
	limit, err := intParam(q, "limit", 100, 1, 10000)
	if err != nil {
		return nil, err
	}
	pts, err := a.st.Geo(ctx, store.GeoRequest{Query: base, Limit: limit})
	if err != nil {
		return nil, err
	}
	return map[string]any{"points": pts, "observations": base.Observations()}, nil
}

// blocked answers what security groups (and other drop rules) dropped.
func (a *api) blocked(ctx context.Context, q url.Values, base store.Query) (any, error) {
	limit, err := intParam(q, "limit", 100, 1, 10000)
	if err != nil {
		return nil, err
	}
	return a.st.Blocked(ctx, store.BlockedRequest{Query: base, Limit: limit})
}

func (a *api) ports(ctx context.Context, q url.Values, base store.Query) (any, error) {
	limit, err := intParam(q, "limit", 20, 1, 1000)
	if err != nil {
		return nil, err
	}
	step, err := intParam(q, "step", 0, 1, 365*86400)
	if err != nil {
		return nil, err
	}
	ps, err := a.st.Ports(ctx, store.PortsRequest{From: base.From, To: base.To, Agent: q.Get("agent"), Port: q.Get("port"),
		Step: int64(step), Limit: limit})
	if err != nil {
		return nil, err
	}
	// Names the counters did not carry, from the inventory.
	if a.inv != nil {
		names := map[string]string{}
		for _, e := range a.inv.List() {
			if e.Name != "" {
				names[e.Agent.String()+"/"+strconv.FormatUint(uint64(e.Index), 10)] = e.Name
			}
		}
		for i := range ps {
			if ps[i].Name == "" {
				ps[i].Name = names[ps[i].Agent+"/"+strconv.FormatInt(ps[i].Index, 10)]
			}
		}
	}
	return map[string]any{"ports": ps}, nil
}

type agentJSON struct {
	Agent    string `json:"agent"`
	SubAgent int64  `json:"sub_agent"`
	// Input: sflow, netflow_v5, netflow_v9 or ipfix; one exporter sending
	// two protocols is two rows.
	Input          string  `json:"input"`
	Datagrams      uint64  `json:"datagrams"`
	DatagramsPerS  float64 `json:"datagrams_per_s"`
	FlowSamples    uint64  `json:"flow_samples"`
	CounterSamples uint64  `json:"counter_samples"`
	Lost           uint64  `json:"lost"`
	LossRatio      float64 `json:"loss_ratio"`
	DecodeErrors   uint64  `json:"decode_errors"`
	Resets         uint64  `json:"resets"`
	// FirstSeen is absent for an exporter known from the store and not
	// heard from since the restart.
	FirstSeen *time.Time `json:"first_seen,omitempty"`
	LastSeen  time.Time  `json:"last_seen"`
	// Silent: not heard from for more than silentAfter.
	Silent bool `json:"silent"`
	// Restored: known from the store, not heard from since the restart.
	Restored bool `json:"restored"`
}

// silentAfter: exporters send at least every few seconds (Open vSwitch
// flushes once a second and sends counters every polling interval).
const silentAfter = agents.RateWindow

func (a *api) agents(*http.Request) (any, error) {
	list := []agentJSON{}
	if a.ag != nil {
		now := time.Now()
		for _, s := range a.ag.All() {
			j := agentJSON{Agent: s.Agent.String(), SubAgent: int64(s.SubAgent), Input: s.Input.String(), Datagrams: s.Datagrams,
				DatagramsPerS: s.Rate, FlowSamples: s.FlowSamples, CounterSamples: s.CounterSamples, Lost: s.Lost,
				DecodeErrors: s.ErrorCount(), Resets: s.Resets, LastSeen: s.LastSeen.UTC(),
				Silent: now.Sub(s.LastSeen) > silentAfter, Restored: s.Restored}
			if !s.FirstSeen.IsZero() {
				t := s.FirstSeen.UTC()
				j.FirstSeen = &t
			}
			if s.SubAgent == agents.NoSubAgent {
				j.SubAgent = -1 // datagrams whose header could not be read
			}
			if n := s.Datagrams + s.Lost; n > 0 {
				j.LossRatio = float64(s.Lost) / float64(n)
			}
			list = append(list, j)
		}
	}
	return map[string]any{"agents": list}, nil
}

type ifaceJSON struct {
	Agent      string    `json:"agent"`
	SubAgent   uint32    `json:"sub_agent"`
	Index      uint32    `json:"index"`
	Name       string    `json:"name"`
	OFPort     *uint32   `json:"ofport"`
	DatapathID string    `json:"datapath_id,omitempty"`
	Speed      uint64    `json:"speed"`
	AdminUp    bool      `json:"admin_up"`
	OperUp     bool      `json:"oper_up"`
	LastSeen   time.Time `json:"last_seen"`
}

func (a *api) interfaces(*http.Request) (any, error) {
	list := []ifaceJSON{}
	if a.inv != nil {
		for _, e := range a.inv.List() {
			j := ifaceJSON{Agent: e.Agent.String(), SubAgent: e.SubAgent, Index: e.Index, Name: e.Name, Speed: e.Speed,
				AdminUp: e.AdminUp, OperUp: e.OperUp, LastSeen: e.LastSeen.UTC()}
			if e.HasOFPort {
				of := e.OFPort
				j.OFPort = &of
				j.DatapathID = fmt.Sprintf("%016x", e.DatapathID)
			}
			list = append(list, j)
		}
	}
	return map[string]any{"interfaces": list}, nil
}

type tierJSON struct {
	Step   int64      `json:"step"`
	Keep   string     `json:"keep"`
	Rows   int64      `json:"rows"`
	Oldest *time.Time `json:"oldest"`
	Newest *time.Time `json:"newest"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (a *api) status(r *http.Request) (any, error) {
	out := map[string]any{
		"version": a.info.Version, "started": a.info.Started.UTC(),
		"listen": a.info.Listen, "setup_hint": a.info.SetupHint,
		"store_enabled": a.st != nil,
		"flows_stored":  0, "oldest": nil, "newest": nil, "store_bytes": 0, "retention": "",
	}
	if a.info.Listen == nil {
		out["listen"] = map[string][]string{}
	}
	out["interval"] = int64(a.info.Interval / time.Second)
	out["enrichment"] = map[string]any{}
	if a.info.Enrichment != nil {
		out["enrichment"] = a.info.Enrichment()
	}
	if a.st == nil {
		return out, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.info.QueryTimeout)
	defer cancel()
	st, err := a.st.Stats(ctx)
	if err != nil {
		return nil, err
	}
	tiers := []tierJSON{}
	for _, t := range st.Tiers {
		tiers = append(tiers, tierJSON{Step: t.Step, Keep: t.Keep.String(), Rows: t.Rows, Oldest: timePtr(t.Oldest), Newest: timePtr(t.Newest)})
	}
	out["flows_stored"] = st.Rows // kept for v1 clients: rows, not flows
	out["flow_rows"] = st.Rows
	out["counters_stored"] = st.Counters
	out["oldest"], out["newest"] = timePtr(st.Oldest), timePtr(st.Newest)
	out["store_bytes"] = st.Bytes
	out["store_engine"] = st.Engine
	out["store_write_errors"] = st.WriteErrors
	out["retention"] = a.st.Retention().String()
	out["tiers"] = tiers
	return out, nil
}

func (a *api) dimensions(*http.Request) (any, error) {
	var out apiv1.Dimensions
	for _, d := range store.Dimensions {
		out.Dimensions = append(out.Dimensions, apiv1.Dimension{Name: d.Name, Label: d.Label})
	}
	for _, e := range store.EitherSides {
		out.EitherSide = append(out.EitherSide, apiv1.EitherSide{Name: e.Name, Label: e.Label, Of: e.Of})
	}
	return out, nil
}
