package store

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// liveTable holds what the aggregator has summed of its current interval,
// so that traffic shows within seconds instead of at the interval's end.
// Its rows are the growth between two reads of the aggregator; rows of an
// interval that has been written to the raw tier are left out of queries
// and deleted at the next refresh.
const liveTable = "flows_live"

// liveEvery bounds how often queries refresh the live table: the console
// asks every few seconds, and several panels ask at once.
const liveEvery = time.Second

// SetLive gives the store the aggregator in front of it (its Live method),
// whose current interval queries then include.
func (s *Store) SetLive(live func() []flow.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = live
	s.liveOn.Store(live != nil)
}

// refreshLive brings the live table up to date for a query ending at to,
// at most every liveEvery. Errors only leave the live part out of date:
// the query still answers from what is written.
func (s *Store) refreshLive(ctx context.Context, to time.Time) {
	if !s.liveOn.Load() {
		return
	}
	// Busy writing (a checkpoint can take seconds): answer with the live
	// rows as they are rather than wait.
	if !s.mu.TryLock() {
		return
	}
	defer s.mu.Unlock()
	// A busy cloud's interval can hold 100 000 keys: refreshing it takes
	// the store for a while, so refreshes are spaced by four times the
	// last one's duration, and the store's own writes keep most of its
	// time.
	if s.live == nil || time.Since(s.liveAt) < max(liveEvery, 4*s.liveTook) {
		return
	}
	s.smu.RLock()
	written := s.state[0].newestEnd
	s.smu.RUnlock()
	if to.Unix() <= written {
		return
	}
	s.liveAt = time.Now()
	defer func() { s.liveTook = time.Since(s.liveAt) }()
	if _, err := s.eng.DB().ExecContext(ctx, "DELETE FROM "+liveTable+" WHERE ts < ?", written); err != nil {
		s.log.Debug("store: refreshing the live interval failed", "error", err)
		return
	}
	recs := s.live()
	if len(recs) == 0 {
		return
	}
	err := s.eng.Append(ctx, liveTable, len(flowColumns), len(recs), func(i int, row []driver.Value) {
		flowRow(&recs[i], row)
	})
	if err != nil {
		s.log.Debug("store: refreshing the live interval failed", "error", err)
	}
}

// withLive adds the live table's part of [from, to) to segs: what the raw
// tier does not hold yet.
func (s *Store) withLive(segs []segment, from, to int64) []segment {
	if !s.liveOn.Load() {
		return segs
	}
	s.smu.RLock()
	lo := max(from, s.state[0].newestEnd)
	s.smu.RUnlock()
	if lo < to {
		segs = append(segs, segment{-1, lo, to})
	}
	return segs
}
