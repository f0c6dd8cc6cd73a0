// Package store is flowlens's embedded flow store: aggregated flow records
// and port counters in an embedded analytical database (DuckDB), kept at
// decreasing resolutions as they age (1 min, then 5 min after 6 h, then 1 h
// after 48 h by default) and deleted after the retention period. It is a
// pipeline.Output, placed behind an aggregate.Aggregator, and answers the
// console's queries (see query.go and docs/store.md).
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
	"github.com/flowlens/flowlens/internal/schema"
)

// FileName is the database file in the store directory.
const FileName = "flows.duckdb"

// Store is the embedded flow store.
type Store struct {
	cfg   Config
	log   *slog.Logger
	eng   Engine
	tiers []Tier

	// mu serialises writes: appends, rollups and deletions.
	mu sync.Mutex
	// state, guarded by smu, is read by queries.
	smu   sync.RWMutex
	state []tierState
	// rawStep is the interval of raw records (learnt from their Start
	// and End), in seconds.
	rawStep atomic.Int64
	cov     coverage
	// live, set under mu, reads the aggregator's current interval
	// (live.go); liveAt, guarded by liveMu, is when the live table was
	// last refreshed.
	live     func() []flow.Record
	liveAt   time.Time
	liveTook time.Duration // guarded by liveMu, as liveAt
	liveOn   atomic.Bool
	liveMu   sync.Mutex

	written, writeErrors atomic.Uint64
	lastErrLog           atomic.Int64 // unix nanoseconds

	stop chan struct{}
	done chan struct{}
}

// tierState is what the store knows of one tier's contents.
type tierState struct {
	oldest, newest int64 // ts of the oldest and newest rows; 0 when empty
	newestEnd      int64 // max(ts + dur)
	// done: every source row with ts < done has been rolled up into this
	// tier (not used for the raw tier).
	done int64
}

// Open opens the store in cfg.Dir() with DuckDB, creating it if needed,
// and starts its maintenance (rollups and retention) every
// cfg.MaintenanceInterval.
func Open(cfg Config, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dir := cfg.Dir()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("store.path: %w (set store.path to a writable directory)", err)
	}
	path := filepath.Join(dir, FileName)
	opts := DuckDBOptions{MemoryLimit: cfg.MemoryLimit, Threads: cfg.Threads, CheckpointThreshold: cfg.CheckpointThreshold}
	eng, err := OpenDuckDB(path, opts)
	if wal, db := damaged(err); wal || db {
		if err := setAsideDamaged(path, db, err, log); err != nil {
			return nil, err
		}
		eng, err = OpenDuckDB(path, opts)
	}
	if err != nil {
		return nil, err
	}
	s, err := OpenEngine(cfg, log, eng)
	if err != nil {
		eng.Close()
		return nil, err
	}
	return s, nil
}

// OpenEngine opens the store on an engine already opened. Maintenance runs
// in the background when cfg.MaintenanceInterval > 0; otherwise the caller
// runs Maintain (tests and benchmarks, with their own clock).
func OpenEngine(cfg Config, log *slog.Logger, eng Engine) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tiers, err := cfg.Tiers()
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: log, eng: eng, tiers: tiers, state: make([]tierState, len(tiers)),
		stop: make(chan struct{}), done: make(chan struct{})}
	ctx := context.Background()
	for _, q := range tableStatements(tiers, eng.RowStore()) {
		if _, err := eng.DB().ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("creating the store's tables: %w", err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	// What was live before a restart was written at shutdown.
	if _, err := eng.DB().ExecContext(ctx, "DELETE FROM "+liveTable); err != nil {
		return nil, fmt.Errorf("creating the store's tables: %w", err)
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if err := s.loadCoverage(ctx); err != nil {
		return nil, fmt.Errorf("reading the store: %w", err)
	}
	if cfg.MaintenanceInterval > 0 {
		go s.loop(cfg.MaintenanceInterval)
	} else {
		close(s.done)
	}
	return s, nil
}

// migrate brings a store made by an older flowlens up to date, once.
func (s *Store) migrate(ctx context.Context) error {
	db := s.eng.DB()
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM meta WHERE k = 'folded_port'").Scan(&n); err != nil || n > 0 {
		return err
	}
	// Rollups used to fold ephemeral ports to 0, which is also "no port":
	// such rows become foldedPort (TCP, UDP or SCTP to or from a service
	// port never has a real port 0).
	for _, t := range s.tiers[1:] {
		for _, k := range []string{"src_port", "dst_port"} {
			other := "dst_port"
			if k == other {
				other = "src_port"
			}
			q := fmt.Sprintf("UPDATE %s SET %s = %d WHERE %s = 0 AND %s BETWEEN 1 AND %d AND proto IN ('tcp', 'udp', 'sctp')",
				t.table("flows"), k, foldedPort, k, other, ephemeralPort-1)
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("updating the store's folded ports: %w", err)
			}
		}
	}
	_, err := db.ExecContext(ctx, "INSERT INTO meta (k, v) VALUES ('folded_port', ?)", foldedPort)
	return err
}

// load reads the tiers' bounds and rollup progress.
func (s *Store) load(ctx context.Context) error {
	db := s.eng.DB()
	for i, t := range s.tiers {
		st := &s.state[i]
		var lo, hi, end sql.NullInt64
		if err := db.QueryRowContext(ctx, "SELECT min(ts), max(ts), max(ts + dur) FROM "+t.table("flows")).Scan(&lo, &hi, &end); err != nil {
			return fmt.Errorf("reading the store: %w", err)
		}
		st.oldest, st.newest, st.newestEnd = lo.Int64, hi.Int64, end.Int64
		if i > 0 {
			var v sql.NullInt64
			if err := db.QueryRowContext(ctx, "SELECT max(v) FROM meta WHERE k = ?", "done_"+t.table("flows")).Scan(&v); err != nil {
				return fmt.Errorf("reading the store: %w", err)
			}
			st.done = v.Int64
		}
	}
	var step sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT max(dur) FROM (SELECT dur FROM "+s.tiers[0].table("flows")+" WHERE dur % 10 = 0 AND dur <= 3600 ORDER BY ts DESC LIMIT 1000) x").Scan(&step); err != nil {
		return fmt.Errorf("reading the store: %w", err)
	}
	if step.Int64 > 0 {
		s.rawStep.Store(step.Int64)
	}
	return nil
}

// Engine returns the engine the store runs on.
func (s *Store) Engine() Engine { return s.eng }

// Tiers returns the store's resolutions.
func (s *Store) Tiers() []Tier { return append([]Tier(nil), s.tiers...) }

// Name implements pipeline.Output.
func (s *Store) Name() string { return "store" }

// Write implements pipeline.Output: it stores the batch's flows (which
// should be aggregated records: put an aggregate.Aggregator in front) and
// port counters. The records are on disk when it returns nil.
func (s *Store) Write(b *pipeline.Batch) error {
	err := s.Append(b.Flows, b.Counters)
	if err != nil {
		n := s.writeErrors.Add(1)
		// The aggregator's interval flushes come from its own goroutine,
		// which has nobody to tell: the store says it, every 10 s at most.
		now := time.Now().UnixNano()
		if last := s.lastErrLog.Load(); now-last >= int64(10*time.Second) && s.lastErrLog.CompareAndSwap(last, now) {
			s.log.Warn("store: write failed, its records are lost", "error", err.Error(),
				"flows", len(b.Flows), "counters", len(b.Counters), "write_errors_total", n)
		}
	}
	return err
}

// Append stores flows and counters.
func (s *Store) Append(flows []flow.Record, counters []flow.Counter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx := context.Background()
	raw := s.tiers[0]
	if len(flows) > 0 {
		var lo, hi, end, step int64
		err := s.eng.Append(ctx, raw.table("flows"), len(flowColumns), len(flows), func(i int, row []driver.Value) {
			ts, dur := flowRow(&flows[i], row)
			if lo == 0 || ts < lo {
				lo = ts
			}
			hi, end = max(hi, ts), max(end, ts+dur)
			// Whole intervals only: a partial one (flushed at shutdown)
			// is rarely a multiple of 10 s.
			if dur > step && dur <= 3600 && dur%10 == 0 {
				step = dur
			}
		})
		if err != nil {
			s.recover(err)
			return fmt.Errorf("storing flows: %w", err)
		}
		s.written.Add(uint64(len(flows)))
		s.smu.Lock()
		st := &s.state[0]
		if st.oldest == 0 || lo < st.oldest {
			st.oldest = lo
		}
		st.newest, st.newestEnd = max(st.newest, hi), max(st.newestEnd, end)
		s.smu.Unlock()
		if step > 0 {
			s.rawStep.Store(step)
		}
		// The batch's intervals were collected (the aggregator writes one
		// interval at a time; records without a duration cover a step).
		var last span
		for i := range flows {
			from, to := flowSpan(&flows[i], s.resolution(0))
			if from == last.from && to == last.to {
				continue
			}
			last = span{from, to}
			if err := s.recordCoverage(ctx, from, to); err != nil {
				return fmt.Errorf("storing flows: %w", err)
			}
		}
	}
	n := 0
	for i := range counters {
		if counters[i].HasInterface {
			counters[n] = counters[i] // the batch is ours until we return
			n++
		}
	}
	if n > 0 {
		err := s.eng.Append(ctx, raw.table("counters"), len(counterColumns), n, func(i int, row []driver.Value) {
			counterRow(&counters[i], row)
		})
		if err != nil {
			s.recover(err)
			return fmt.Errorf("storing counters: %w", err)
		}
	}
	return nil
}

func str(a fmt.Stringer, ok bool) string {
	if !ok {
		return ""
	}
	return a.String()
}

// flowSpan is the time r covers, in Unix seconds.
func flowSpan(r *flow.Record, step int64) (from, to int64) {
	start := r.Start
	if start.IsZero() {
		start = r.Time
	}
	from, to = start.Unix(), start.Unix()+step
	if !r.End.IsZero() && r.End.After(start) {
		to = r.End.Unix()
	}
	return from, to
}

// flowRow fills row with r's columns (the schema's values) and returns its
// ts and duration.
func flowRow(r *flow.Record, row []driver.Value) (ts, dur int64) {
	for i := range schema.Flows {
		row[i] = schema.Flows[i].Value(r)
	}
	return row[0].(int64), row[1].(int64)
}

func known32(v uint32) driver.Value {
	if v == flow.Unknown32 {
		return nil
	}
	return int64(v)
}

func known64(v uint64) driver.Value {
	if v == flow.Unknown64 {
		return nil
	}
	return int64(v)
}

// sum32 adds the counters the agent keeps; nil when it keeps none.
func sum32(vs ...uint32) driver.Value {
	var n int64
	ok := false
	for _, v := range vs {
		if v != flow.Unknown32 {
			n += int64(v)
			ok = true
		}
	}
	if !ok {
		return nil
	}
	return n
}

func counterRow(c *flow.Counter, row []driver.Value) {
	g := &c.Interface
	name := ""
	if c.HasPortName {
		name = c.PortName
	}
	speed := known64(g.Speed)
	v := [...]driver.Value{
		c.Time.Unix(), str(c.Agent, c.Agent.IsValid()), int64(c.SubAgent), int64(g.Index), name, speed,
		known64(g.InOctets), known64(g.OutOctets),
		sum32(g.InUcast, g.InMulticast, g.InBroadcast), sum32(g.OutUcast, g.OutMulticast, g.OutBroadcast),
		known32(g.InErrors), known32(g.OutErrors), known32(g.InDiscards), known32(g.OutDiscards),
	}
	copy(row, v[:])
}

// Stats describes the store's contents.
type Stats struct {
	Engine string
	// Rows is the number of flow rows over every resolution.
	Rows     int64
	Counters int64 // port counter samples over every resolution
	// Bytes is the disk use of the database files.
	Bytes          int64
	Oldest, Newest time.Time // zero when empty
	Written        uint64    // flow records written since Open
	WriteErrors    uint64
	Tiers          []TierStats
}

// TierStats describes one resolution.
type TierStats struct {
	Step           int64 // seconds; 0: raw
	Keep           time.Duration
	Rows           int64
	Oldest, Newest time.Time
}

func unixOrZero(ts int64) time.Time {
	if ts == 0 {
		return time.Time{}
	}
	return time.Unix(ts, 0).UTC()
}

// Stats returns the row counts, disk use and time bounds.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Engine: s.eng.Name(), Written: s.written.Load(), WriteErrors: s.writeErrors.Load()}
	s.smu.RLock()
	state := append([]tierState(nil), s.state...)
	s.smu.RUnlock()
	var oldest, newest int64
	for i, t := range s.tiers {
		var n, c int64
		if err := s.eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+t.table("flows")).Scan(&n); err != nil {
			return st, err
		}
		if err := s.eng.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+t.table("counters")).Scan(&c); err != nil {
			return st, err
		}
		st.Rows += n
		st.Counters += c
		ts := state[i]
		st.Tiers = append(st.Tiers, TierStats{Step: t.Step, Keep: t.Keep, Rows: n,
			Oldest: unixOrZero(ts.oldest), Newest: unixOrZero(ts.newest)})
		if ts.oldest != 0 && (oldest == 0 || ts.oldest < oldest) {
			oldest = ts.oldest
		}
		newest = max(newest, ts.newest)
	}
	st.Oldest, st.Newest = unixOrZero(oldest), unixOrZero(newest)
	st.Bytes = s.diskBytes()
	return st, nil
}

// Usage is the part of Stats that needs no query, cheap enough to read at
// every metrics scrape.
type Usage struct {
	Bytes                int64 // disk use of the database files
	Written, WriteErrors uint64
	// Memory is what the database engine holds in memory (its buffer
	// pool, up to memory_limit): part of the process's resident memory
	// that is the store's cache, not the collector's. -1 if unknown.
	Memory int64
}

// Usage returns the disk use, memory and write counters.
func (s *Store) Usage() Usage {
	u := Usage{Bytes: s.diskBytes(), Written: s.written.Load(), WriteErrors: s.writeErrors.Load(), Memory: -1}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	u.Memory = s.eng.Memory(ctx)
	return u
}

func (s *Store) diskBytes() int64 {
	var n int64
	for _, f := range s.eng.Files() {
		if fi, err := os.Stat(f); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Retention is the configured retention.
func (s *Store) Retention() time.Duration { return s.cfg.Retention }

func (s *Store) loop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	lastCompact := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if err := s.Maintain(time.Now()); err != nil {
			s.log.Warn("store maintenance failed (rollups, retention); retrying at the next interval", "error", err)
			s.recover(err)
		}
		if time.Since(lastCompact) > time.Hour {
			lastCompact = time.Now()
			s.checkpoint()
		}
	}
}

// checkpoint writes the log into the database file.
func (s *Store) checkpoint() {
	if err := s.eng.Compact(context.Background()); err != nil {
		s.log.Warn("store checkpoint failed", "error", err)
		s.recover(err)
	}
}

// recover lets the engine reopen a database it had to give up on (see
// duckEngine.Recover): without it one checkpoint on a full disk would stop
// the store until flowlens restarts.
func (s *Store) recover(err error) {
	r, ok := s.eng.(interface{ Recover(error) (bool, error) })
	if !ok {
		return
	}
	reopened, rerr := r.Recover(err)
	switch {
	case rerr != nil:
		s.log.Error("store: the database stopped after a fatal error and could not be opened again; retrying (writes fail meanwhile, counted)",
			"error", err.Error(), "reopen_error", rerr.Error())
	case reopened:
		s.log.Warn("store: the database stopped after a fatal error (a checkpoint on a full disk, for one) and was opened again; what was committed is kept",
			"error", err.Error())
	}
}

// grace is how long after the newest raw record's end the store waits,
// when no newer record arrives, before rolling up the last partial bucket.
const grace = 3 * time.Minute

// rollupChunk bounds the source rows rolled up by one statement.
const rollupChunk = 3600

// Maintain rolls up complete buckets into each coarser tier and deletes
// rows older than each tier keeps, as of now. The background loop calls it
// with the wall clock; tests and benchmarks call it with theirs.
func (s *Store) Maintain(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx := context.Background()
	for i := 1; i < len(s.tiers); i++ {
		if err := s.rollup(ctx, i, now); err != nil {
			return err
		}
	}
	return s.expire(ctx, now)
}

func (s *Store) rollup(ctx context.Context, i int, now time.Time) error {
	t, src := s.tiers[i], s.tiers[i-1]
	s.smu.RLock()
	ss, st, raw := s.state[i-1], s.state[i], s.state[0]
	s.smu.RUnlock()
	if ss.newest == 0 {
		return nil
	}
	step := t.Step
	// A bucket is complete once the source has a row past it: the
	// aggregator writes intervals in order. When no raw record has come
	// for a while, the last one is complete too (the finer tiers were
	// rolled up just before, up to the end of the raw records).
	wm := ss.newest - ss.newest%step
	if raw.newestEnd != 0 && now.Unix() >= raw.newestEnd+int64(grace/time.Second) {
		wm = ss.newestEnd - ss.newestEnd%step
		if ss.newestEnd%step != 0 {
			wm += step
		}
		wm = min(wm, now.Unix()-now.Unix()%step)
	}
	from := st.done
	if from == 0 || from < ss.oldest-ss.oldest%step {
		from = ss.oldest - ss.oldest%step
	}
	chunk := max(step, rollupChunk)
	for from < wm {
		to := min(wm, from-from%chunk+chunk)
		if err := s.rollupRange(ctx, t, src, from, to); err != nil {
			return fmt.Errorf("rolling up %s into %s: %w", src.table("flows"), t.table("flows"), err)
		}
		s.smu.Lock()
		ns := &s.state[i]
		ns.done = to
		s.smu.Unlock()
		from = to
	}
	// The rolled-up tier's bounds.
	var lo, hi, end sql.NullInt64
	if err := s.eng.DB().QueryRowContext(ctx, "SELECT min(ts), max(ts), max(ts + dur) FROM "+t.table("flows")).Scan(&lo, &hi, &end); err != nil {
		return err
	}
	s.smu.Lock()
	ns := &s.state[i]
	ns.oldest, ns.newest, ns.newestEnd = lo.Int64, hi.Int64, end.Int64
	s.smu.Unlock()
	return nil
}

// ephemeralPort is where client ports start: Linux's default
// ip_local_port_range (32768-60999) and Windows' (49152-65535) are above
// it, and few services listen there.
const ephemeralPort = 32768

// foldedPort is what rollups store for a folded ephemeral port: not 0,
// which is a real value (no L4 ports, as for ICMP). Answers show it as
// EphemeralPort.
const foldedPort = -1

// rollupKey is the expression a rollup groups column k by. A client's
// ephemeral port (at or above ephemeralPort, talking to a port below it)
// becomes 0: every connection has a new one, so keeping it would make each
// connection its own row in every tier and leave rollups hardly smaller
// than what they summarise, while the service port says what the traffic
// is. Full ports stay in the raw tier (docs/store.md).
func rollupKey(k string) string {
	switch k {
	case "src_port":
		return fmt.Sprintf("CASE WHEN src_port >= %d AND dst_port BETWEEN 1 AND %d THEN %d ELSE src_port END", ephemeralPort, ephemeralPort-1, foldedPort)
	case "dst_port":
		return fmt.Sprintf("CASE WHEN dst_port >= %d AND src_port BETWEEN 1 AND %d THEN %d ELSE dst_port END", ephemeralPort, ephemeralPort-1, foldedPort)
	}
	return k
}

func (s *Store) rollupRange(ctx context.Context, t, src Tier, from, to int64) error {
	tx, err := s.eng.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	keys := ""
	for _, k := range flowKeyColumns {
		keys += ", " + rollupKey(k)
	}
	bucket := fmt.Sprintf("ts - ts %% %d", t.Step)
	names := "ts, dur, " + strings.Join(flowKeyColumns, ", ") + ", bytes, packets, samples"
	q := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s, %d%s, sum(bytes), sum(packets), sum(samples) FROM %s WHERE ts >= ? AND ts < ? GROUP BY %s%s",
		t.table("flows"), names, bucket, t.Step, keys, src.table("flows"), bucket, keys)
	if _, err := tx.ExecContext(ctx, q, from, to); err != nil {
		return err
	}
	// Counters are cumulative: keep the last sample of each port in each
	// bucket.
	cs := src.table("counters")
	q = fmt.Sprintf(`INSERT INTO %s SELECT c.* FROM %s c JOIN (SELECT agent, sub_agent, idx, max(ts) AS m FROM %s
		WHERE ts >= ? AND ts < ? GROUP BY agent, sub_agent, idx, ts - ts %% %d) l
		ON c.agent = l.agent AND c.sub_agent = l.sub_agent AND c.idx = l.idx AND c.ts = l.m WHERE c.ts >= ? AND c.ts < ?`,
		t.table("counters"), cs, cs, t.Step)
	if _, err := tx.ExecContext(ctx, q, from, to, from, to); err != nil {
		return err
	}
	k := "done_" + t.table("flows")
	if _, err := tx.ExecContext(ctx, "DELETE FROM meta WHERE k = ?", k); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO meta (k, v) VALUES (?, ?)", k, to); err != nil {
		return err
	}
	return tx.Commit()
}

// expire deletes what each tier no longer keeps; never rows not yet
// rolled up into the next tier.
func (s *Store) expire(ctx context.Context, now time.Time) error {
	cut := now.Add(-s.cfg.Retention).Unix()
	if _, err := s.eng.DB().ExecContext(ctx, "DELETE FROM intervals WHERE ts + dur < ?", cut); err != nil {
		return fmt.Errorf("deleting old intervals: %w", err)
	}
	s.cov.trim(cut)
	for i, t := range s.tiers {
		cut := now.Add(-t.Keep).Unix()
		s.smu.RLock()
		if i+1 < len(s.tiers) {
			cut = min(cut, s.state[i+1].done)
		}
		oldest := s.state[i].oldest
		s.smu.RUnlock()
		if oldest == 0 || oldest >= cut {
			continue
		}
		for _, kind := range []string{"flows", "counters"} {
			if _, err := s.eng.DB().ExecContext(ctx, "DELETE FROM "+t.table(kind)+" WHERE ts < ?", cut); err != nil {
				return fmt.Errorf("deleting old rows of %s: %w", t.table(kind), err)
			}
		}
		var lo sql.NullInt64
		if err := s.eng.DB().QueryRowContext(ctx, "SELECT min(ts) FROM "+t.table("flows")).Scan(&lo); err != nil {
			return err
		}
		s.smu.Lock()
		st := &s.state[i]
		st.oldest = lo.Int64
		if !lo.Valid {
			st.newest, st.newestEnd = 0, 0
		}
		s.smu.Unlock()
	}
	return nil
}

// Close stops the maintenance and closes the database.
func (s *Store) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.eng.Compact(context.Background()), s.eng.Close())
}

// Check verifies the database's integrity.
func (s *Store) Check(ctx context.Context) error { return s.eng.Check(ctx) }
