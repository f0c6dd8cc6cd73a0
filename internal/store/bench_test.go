package store

import (
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/synth"
)

// BenchmarkAppend stores the aggregated flows of the synthetic 500-VM cloud,
// one aggregation interval per Append, as the aggregator hands them over.
//
//	go test -run '^$' -bench Append -benchtime 20x ./internal/store/
func BenchmarkAppend(b *testing.B) {
	cloud := synth.New(synth.DefaultConfig())
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var batches [][]flow.Record
	var counters [][]flow.Counter
	cloud.Range(start, start.Add(30*time.Minute), func(f []flow.Record, c []flow.Counter) error {
		batches, counters = append(batches, f), append(counters, c)
		return nil
	})
	cfg := DefaultConfig()
	cfg.Path = b.TempDir()
	s := openTest(b, cfg)
	rows := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, c := batches[i%len(batches)], counters[i%len(batches)]
		// Later passes are later intervals, as in a running collector.
		shift := time.Duration(i/len(batches)) * 30 * time.Minute
		if shift > 0 {
			for j := range f {
				f[j].Start, f[j].End = f[j].Start.Add(30*time.Minute), f[j].End.Add(30*time.Minute)
			}
		}
		if err := s.Append(f, c); err != nil {
			b.Fatal(err)
		}
		rows += len(f)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(rows)/float64(b.N), "records/op")
}
