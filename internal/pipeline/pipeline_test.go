package pipeline_test

import (
	"io"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// slowOutput counts what it is given, slowly.
type slowOutput struct {
	delay   time.Duration
	records atomic.Uint64
}

func (o *slowOutput) Name() string { return "slow" }
func (o *slowOutput) Write(b *pipeline.Batch) error {
	time.Sleep(o.delay)
	o.records.Add(uint64(b.Len()))
	return nil
}
func (o *slowOutput) Close() error { return nil }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func records(n int) []flow.Record {
	rs := make([]flow.Record, n)
	for i := range rs {
		rs[i].SrcAddr = netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})
		rs[i].Bytes, rs[i].Packets = 100, 1
	}
	return rs
}

// A slow output loses records (counted), and never holds up the input.
func TestSlowOutputDropsAreCounted(t *testing.T) {
	out := &slowOutput{delay: 20 * time.Millisecond}
	p := pipeline.New(pipeline.Config{QueueRecords: 50}, quiet(), out)
	h := p.NewHandler()
	const rounds, per = 200, 10
	start := time.Now()
	for range rounds {
		h.Add(records(per), nil)
		h.Flush()
	}
	if el := time.Since(start); el > rounds*out.delay/2 {
		t.Errorf("the input waited for the output: %v", el)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	st := p.Outputs()[0]
	if st.Dropped == 0 || st.Written+st.Dropped != rounds*per || st.Written != out.records.Load() {
		t.Errorf("written %d + dropped %d != %d records (output saw %d)", st.Written, st.Dropped, rounds*per, out.records.Load())
	}
}

type keepOdd struct{ seen int }

func (k *keepOdd) Enrich(r *flow.Record)    { k.seen++; r.Packets = uint64(k.seen) }
func (k *keepOdd) Keep(r *flow.Record) bool { return r.Packets%2 == 1 }

type observed struct{ flows atomic.Int64 }

func (o *observed) Observe(fs []flow.Record, _ []flow.Counter) { o.flows.Add(int64(len(fs))) }

// Enrichers run on every record, filters after them, and observers and
// outputs see only what the filters kept.
func TestHandlerEnrichFilterObserve(t *testing.T) {
	out := &slowOutput{}
	obs := &observed{}
	p := pipeline.New(pipeline.Config{Wait: true, Observers: []pipeline.Observer{obs},
		Enrichers: []func() pipeline.Enricher{func() pipeline.Enricher { return &keepOdd{} }}}, quiet(), out)
	h := p.NewHandler()
	h.Records(records(10))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if out.records.Load() != 5 || obs.flows.Load() != 5 {
		t.Errorf("output got %d, observer %d records; want the 5 kept of 10", out.records.Load(), obs.flows.Load())
	}
}
