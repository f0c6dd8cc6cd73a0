package store

import (
	"context"
	"database/sql"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
)

// coverage is when flowlens was collecting: the intervals the aggregator
// wrote, with flows or quiet, merged into spans. A time series draws a gap,
// not a zero, where nothing covers a bucket: the collector was not running.
type coverage struct {
	mu    sync.RWMutex
	spans []span // sorted, not overlapping
	// since: nothing was recorded before it (a store made by an older
	// flowlens): assume it was covered.
	since int64
	// opened: this process's start; it covers everything since.
	opened int64
}

type span struct{ from, to int64 }

// add merges [from, to) and reports whether it covered anything new.
func (c *coverage) add(from, to int64) bool {
	if to <= from {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.spans), func(i int) bool { return c.spans[i].to >= from })
	if i < len(c.spans) && c.spans[i].from <= from && c.spans[i].to >= to {
		return false
	}
	j := i
	for j < len(c.spans) && c.spans[j].from <= to {
		from, to = min(from, c.spans[j].from), max(to, c.spans[j].to)
		j++
	}
	c.spans = append(c.spans[:i], append([]span{{from, to}}, c.spans[j:]...)...)
	return true
}

// covered reports whether anything covers part of [from, to).
func (c *coverage) covered(from, to int64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if from < c.since || to > c.opened {
		return true
	}
	i := sort.Search(len(c.spans), func(i int) bool { return c.spans[i].to > from })
	return i < len(c.spans) && c.spans[i].from < to
}

// trim forgets what is older than cut.
func (c *coverage) trim(cut int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.spans), func(i int) bool { return c.spans[i].to > cut })
	c.spans = append([]span(nil), c.spans[i:]...)
}

// loadCoverage reads the recorded intervals.
func (s *Store) loadCoverage(ctx context.Context) error {
	db := s.eng.DB()
	var since sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT max(v) FROM meta WHERE k = 'coverage_since'").Scan(&since); err != nil {
		return err
	}
	now := time.Now().Unix()
	if !since.Valid {
		// A new store records everything; one made by an older flowlens
		// has history without intervals, which is assumed collected.
		for _, st := range s.state {
			if st.newest != 0 {
				since.Int64 = now
			}
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO meta (k, v) VALUES ('coverage_since', ?)", since.Int64); err != nil {
			return err
		}
	}
	s.cov.since, s.cov.opened = since.Int64, now
	return scanRows(ctx, db, "SELECT ts, dur FROM intervals ORDER BY ts", nil, func(rows *sql.Rows) error {
		var ts, dur int64
		if err := rows.Scan(&ts, &dur); err != nil {
			return err
		}
		s.cov.add(ts, ts+dur)
		return nil
	})
}

// recordCoverage stores [from, to) as collected, unless already known.
// The caller holds s.mu.
func (s *Store) recordCoverage(ctx context.Context, from, to int64) error {
	if !s.cov.add(from, to) {
		return nil
	}
	_, err := s.eng.DB().ExecContext(ctx, "INSERT INTO intervals (ts, dur) VALUES (?, ?)", from, to-from)
	return err
}

// WriteQuiet records an aggregation interval in which no flow arrived
// (aggregate.QuietWriter): the collector was running, the traffic was 0.
func (s *Store) WriteQuiet(start, end time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recordCoverage(context.Background(), start.Unix(), end.Unix())
}

// Exporter is an exporter the store holds flows or counters from.
type Exporter struct {
	Agent    netip.Addr
	SubAgent uint32
	Input    string // sflow, netflow_v5, netflow_v9, ipfix
	LastSeen time.Time
}

// Exporters lists every exporter with rows in the store and when its last
// row ends: after a restart, the console lists the agents it knew, with
// when they were last heard, before they send again.
func (s *Store) Exporters(ctx context.Context) ([]Exporter, error) {
	var parts []string
	for _, t := range s.tiers {
		parts = append(parts, "SELECT agent, sub_agent, input, max(ts + dur) AS last FROM "+t.table("flows")+" GROUP BY agent, sub_agent, input",
			"SELECT agent, sub_agent, 'sflow' AS input, max(ts) AS last FROM "+t.table("counters")+" GROUP BY agent, sub_agent")
	}
	q := "SELECT agent, sub_agent, input, max(last) FROM (" + strings.Join(parts, " UNION ALL ") + ") x GROUP BY agent, sub_agent, input"
	var out []Exporter
	err := scanRows(ctx, s.eng.DB(), q, nil, func(rows *sql.Rows) error {
		var agent, input string
		var sub, last int64
		if err := rows.Scan(&agent, &sub, &input, &last); err != nil {
			return err
		}
		a, err := netip.ParseAddr(agent)
		if err != nil {
			return nil // the overflow aggregate's or a damaged row: not an exporter
		}
		out = append(out, Exporter{Agent: a, SubAgent: uint32(sub), Input: input, LastSeen: time.Unix(last, 0).UTC()})
		return nil
	})
	return out, err
}
