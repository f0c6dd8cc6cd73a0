package accuracy

import (
	"testing"
)

// The tracker sees every record: its cost per record bounds what it
// takes from the collector's throughput.
func BenchmarkObserve(b *testing.B) {
	s := newSim(1, 1, 1, 2, 3, 4)
	for i := 0; i < 4096; i++ {
		s.packet(uint32(1+i%4), uint32(1+(i+1)%4), 1000)
	}
	s.poll()
	flows, ctrs := s.flows, s.ctrs
	tr := New(Config{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tr.Observe(flows, ctrs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(flows)), "ns/record")
}
