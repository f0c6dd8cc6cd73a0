package store

import (
	"context"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/aggregate"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
)

type keepStore struct{ *Store }

func (keepStore) Close() error { return nil }

// Traffic is in the answers within seconds, long before the aggregation
// interval ends, and counted once when the interval is written.
func TestLiveInterval(t *testing.T) {
	s := openTest(t, testConfig(t.TempDir()))
	agg, err := aggregate.New(aggregate.Config{Interval: time.Hour, MaxKeys: 1000}, keepStore{s})
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	s.SetLive(agg.Live)
	rec := func(src string, bytes uint64) flow.Record {
		r := flow.Record{Time: time.Now(), Agent: netip.MustParseAddr("192.0.2.1"), Bytes: bytes, Packets: 1, SamplingRate: 1}
		r.SrcAddr, r.DstAddr = netip.MustParseAddr(src), netip.MustParseAddr("10.0.0.9")
		return r
	}
	total := func() int64 {
		t.Helper()
		now := time.Now()
		top, err := s.Top(context.Background(), TopRequest{Query: Query{From: now.Add(-2 * time.Hour), To: now.Add(time.Second)}, By: []string{"src_ip"}})
		if err != nil {
			t.Fatal(err)
		}
		return top.Total.Bytes
	}
	agg.Write(&pipeline.Batch{Flows: []flow.Record{rec("10.0.0.1", 1000), rec("10.0.0.2", 500)}})
	start := time.Now()
	if got := total(); got != 1500 {
		t.Fatalf("first query: %d bytes, want 1500 (served live)", got)
	}
	t.Logf("first answer %s after the records", time.Since(start))
	agg.Write(&pipeline.Batch{Flows: []flow.Record{rec("10.0.0.1", 200)}})
	time.Sleep(liveEvery + 100*time.Millisecond)
	if got := total(); got != 1700 {
		t.Errorf("after more traffic: %d bytes, want 1700", got)
	}
	ts, err := s.Timeseries(context.Background(), TimeseriesRequest{Query: Query{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Second)}, Step: 60})
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, v := range ts.Series[0].Values {
		if !math.IsNaN(v) { // before the store was opened: not collecting
			sum += v * 60 / 8
		}
	}
	if int64(sum+0.5) != 1700 {
		t.Errorf("time series: %.0f bytes, want 1700", sum)
	}
	// The interval is written: counted once.
	agg.Flush()
	time.Sleep(liveEvery + 100*time.Millisecond)
	if got := total(); got != 1700 {
		t.Errorf("after the interval was written: %d bytes, want 1700", got)
	}
	agg.Write(&pipeline.Batch{Flows: []flow.Record{rec("10.0.0.3", 7)}})
	time.Sleep(liveEvery + 100*time.Millisecond)
	if got := total(); got != 1707 {
		t.Errorf("next interval, live: %d bytes, want 1707", got)
	}
}
