package aggregate

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/pipeline"
)

type discard struct{}

func (discard) Name() string                { return "discard" }
func (discard) Write(*pipeline.Batch) error { return nil }
func (discard) Close() error                { return nil }

// captureBatch decodes the real Open vSwitch capture into one batch.
func captureBatch(tb testing.TB) *pipeline.Batch {
	ds, err := pcapfile.ReadAll("../../testdata/ovs/ovs-sflow.pcap", nil)
	if err != nil {
		tb.Fatal(err)
	}
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	b := &pipeline.Batch{}
	now := time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)
	for _, d := range ds {
		dec.Decode(d.Payload, now, &res)
		b.Flows = append(b.Flows, res.Flows...)
		b.Counters = append(b.Counters, res.Counters...)
	}
	return b
}

// BenchmarkWrite is the aggregator's cost per record in the default
// pipeline: the real capture's 697 flow samples and 24 counter samples per
// op, summed into its few keys, counters passed on in groups.
//
//	go test -run '^$' -bench Write -benchmem ./internal/aggregate/
func BenchmarkWrite(b *testing.B) {
	batch := captureBatch(b)
	now := time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)
	a := newAggregator(Config{Interval: time.Minute, MaxKeys: 100000}, discard{}, func() time.Time { return now })
	defer a.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.Write(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch.Len()), "ns/record")
}

// BenchmarkWriteDistinct: every record its own key, the cost of many
// distinct flows: an interval of 69 700 keys (100 ops) is flushed to a
// discarding output, then the next begins.
func BenchmarkWriteDistinct(b *testing.B) {
	batch := captureBatch(b)
	now := time.Date(2026, 11, 26, 10, 0, 5, 0, time.UTC)
	a := newAggregator(Config{Interval: time.Minute, MaxKeys: 100000}, discard{}, func() time.Time { return now })
	defer a.Close()
	flows := make([]flow.Record, len(batch.Flows))
	copy(flows, batch.Flows)
	one := &pipeline.Batch{Flows: flows}
	b.ReportAllocs()
	b.ResetTimer()
	port := uint16(0)
	for i := 0; i < b.N; i++ {
		for j := range flows {
			port++
			flows[j].SrcPort = port
			flows[j].SrcMAC[0] = byte(i)
		}
		a.Write(one)
		if i%100 == 99 {
			now = now.Add(time.Minute)
			a.flush()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(flows)), "ns/record")
}
