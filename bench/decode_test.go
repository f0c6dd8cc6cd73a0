// Decode benchmarks: flowlens next to goflow2 on the same real Open vSwitch
// capture. This is its own module (bench/go.mod) so that the product's
// go.mod never depends on goflow2.
//
// One benchmark op decodes every sFlow datagram of the capture once (144
// datagrams, 697 flow samples, 24 counter samples). Besides ns/op, B/op and
// allocs/op, each benchmark reports
//
//	datagrams/s, samples/s   throughput (samples = flow + counter samples)
//	allocs/datagram          heap allocations per datagram (runtime.MemStats)
//	cpu-ns/op                CPU time of the process per op (getrusage: user +
//	                         system, GC included), which unlike ns/op does not
//	                         grow when other processes take the CPU away: the
//	                         machine these run on is shared
//	samples/cpu-s            samples per second of CPU time
//
// Run: cd bench && go test -run '^$' -bench . -benchmem -count 6 -cpu 1
package bench

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"

	gfsflow "github.com/netsampler/goflow2/v2/decoders/sflow"
	"github.com/netsampler/goflow2/v2/producer"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"
)

// The capture and what it holds (see testdata/ovs/README.md).
var capturePath = filepath.Join("..", "testdata", "ovs", "ovs-sflow.pcap")

const (
	wantDatagrams = 144
	wantFlows     = 697
	wantCounters  = 24
)

// loadCapture returns the payloads of the sFlow datagrams (UDP 6343) of the
// capture, each in its own slice.
func loadCapture(tb testing.TB) [][]byte {
	tb.Helper()
	ds, err := pcapfile.ReadAll(capturePath, func(d pcapfile.Datagram) bool { return d.Dst.Port() == 6343 })
	if err != nil {
		tb.Fatal(err)
	}
	if len(ds) != wantDatagrams {
		tb.Fatalf("%s: %d sFlow datagrams, want %d", capturePath, len(ds), wantDatagrams)
	}
	out := make([][]byte, len(ds))
	for i, d := range ds {
		out[i] = bytes.Clone(d.Payload)
	}
	return out
}

// meter measures a benchmark loop: heap allocations over the whole loop
// (not only what -benchmem sees per op) and the throughput metrics.
type meter struct {
	b       *testing.B
	mallocs uint64
	cpu     time.Duration
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startMeter(b *testing.B) *meter {
	b.ReportAllocs()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := &meter{b: b, mallocs: ms.Mallocs, cpu: cpuTime()}
	b.ResetTimer()
	return m
}

// stop reports throughput for ops ops of datagrams datagrams holding
// samples samples each.
func (m *meter) stop(ops, datagrams, samples int) {
	b := m.b
	b.StopTimer()
	cpu := cpuTime() - m.cpu
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	secs := b.Elapsed().Seconds()
	if secs <= 0 || ops == 0 {
		return
	}
	b.ReportMetric(float64(ops*datagrams)/secs, "datagrams/s")
	b.ReportMetric(float64(ops*samples)/secs, "samples/s")
	b.ReportMetric(float64(ms.Mallocs-m.mallocs)/float64(ops*datagrams), "allocs/datagram")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(ops), "cpu-ns/op")
	if cpu > 0 {
		b.ReportMetric(float64(ops*samples)/cpu.Seconds(), "samples/cpu-s")
	}
}

// BenchmarkFlowlens: flowlens' decoder, which also parses every sampled
// header to L4 (and into VXLAN/Geneve/GRE) into flow.Record, and decodes the
// counter samples. The Result is reused, as the collector does.
func BenchmarkFlowlens(b *testing.B) {
	data := loadCapture(b)
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	now := time.Now()
	// Warm up once so the Result's slices and the name table reach their
	// steady-state size, as after the collector's first datagrams.
	for _, d := range data {
		if err := dec.Decode(d, now, &res); err != nil {
			b.Fatal(err)
		}
	}
	m := startMeter(b)
	ops := 0
	for b.Loop() {
		for _, d := range data {
			if err := dec.Decode(d, now, &res); err != nil {
				b.Fatal(err)
			}
		}
		ops++
	}
	m.stop(ops, len(data), wantFlows+wantCounters)
}

// goflow2Decode is what goflow2's own sFlow pipe (utils/pipe.go,
// SFlowPipe.DecodeFlow) does with each datagram before producing.
func goflow2Decode(d []byte, p *gfsflow.Packet) error {
	*p = gfsflow.Packet{}
	return gfsflow.DecodeMessageVersion(bytes.NewBuffer(d), p)
}

// BenchmarkGoflow2: goflow2's sFlow decoder alone. It decodes the datagram
// into its structures (flow and counter samples, records) but leaves the
// sampled headers as raw bytes: it does less work than BenchmarkFlowlens.
func BenchmarkGoflow2(b *testing.B) {
	data := loadCapture(b)
	var pkt gfsflow.Packet
	m := startMeter(b)
	ops := 0
	for b.Loop() {
		for _, d := range data {
			if err := goflow2Decode(d, &pkt); err != nil {
				b.Fatal(err)
			}
		}
		ops++
	}
	m.stop(ops, len(data), wantFlows+wantCounters)
}

// BenchmarkGoflow2Producer: goflow2's decoder plus its protobuf producer
// with the default mapping (goflow2 -produce=sample without -mapping), which
// turns every flow sample into a flow message with the sampled header parsed
// (Ethernet, VLAN, MPLS, IPv4/6, TCP/UDP/ICMP, GRE, Geneve...). This is the
// apples-to-apples comparison with BenchmarkFlowlens: datagram in, parsed
// flows out, nothing serialized. (goflow2's producer ignores counter
// samples; its decoder still decodes them, as flowlens does.) Messages are
// returned to goflow2's pool with Commit, as its pipe does.
func BenchmarkGoflow2Producer(b *testing.B) {
	data := loadCapture(b)
	prod := newGoflow2Producer(b)
	src := netip.MustParseAddrPort("127.0.0.1:50000")
	dst := netip.MustParseAddrPort("127.0.0.1:6343")
	now := time.Now()
	var pkt gfsflow.Packet
	m := startMeter(b)
	ops := 0
	for b.Loop() {
		for _, d := range data {
			if err := goflow2Decode(d, &pkt); err != nil {
				b.Fatal(err)
			}
			args := producer.ProduceArgs{Src: src, Dst: dst, TimeReceived: now, SamplerAddress: src.Addr()}
			msgs, err := prod.Produce(&pkt, &args)
			if err != nil {
				b.Fatal(err)
			}
			prod.Commit(msgs)
		}
		ops++
	}
	m.stop(ops, len(data), wantFlows+wantCounters)
}

// newGoflow2Producer builds the producer as goflow2's main does without a
// mapping file.
func newGoflow2Producer(tb testing.TB) producer.ProducerInterface {
	var cfg *protoproducer.ProducerConfig // nil: default mapping
	cfgm, err := cfg.Compile()
	if err != nil {
		tb.Fatal(err)
	}
	p, err := protoproducer.CreateProtoProducer(cfgm, protoproducer.CreateSamplingSystem)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestSameWork checks that the benchmarks do the work they claim: every
// datagram decodes without error in both, to the same sample counts, and
// both parse the sampled headers down to the same L4 ports.
func TestSameWork(t *testing.T) {
	data := loadCapture(t)
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	var pkt gfsflow.Packet
	prod := newGoflow2Producer(t)
	src := netip.MustParseAddrPort("127.0.0.1:50000")
	var flFlows, flCounters, gfFlows, gfCounters, gfMsgs, mismatches int
	for i, d := range data {
		if err := dec.Decode(d, time.Now(), &res); err != nil {
			t.Fatalf("flowlens, datagram %d: %v", i, err)
		}
		flFlows += len(res.Flows)
		flCounters += len(res.Counters)
		if err := goflow2Decode(d, &pkt); err != nil {
			t.Fatalf("goflow2, datagram %d: %v", i, err)
		}
		for _, s := range pkt.Samples {
			switch s.(type) {
			case gfsflow.FlowSample, gfsflow.ExpandedFlowSample:
				gfFlows++
			case gfsflow.CounterSample: // goflow2 decodes expanded counter samples into CounterSample too
				gfCounters++
			}
		}
		msgs, err := prod.Produce(&pkt, &producer.ProduceArgs{Src: src, TimeReceived: time.Now(), SamplerAddress: src.Addr()})
		if err != nil {
			t.Fatalf("goflow2 producer, datagram %d: %v", i, err)
		}
		gfMsgs += len(msgs)
		if len(msgs) == len(res.Flows) {
			for j, m := range msgs {
				fm := m.(*protoproducer.ProtoProducerMessage)
				r := &res.Flows[j]
				if fm.SrcPort != uint32(r.SrcPort) || fm.DstPort != uint32(r.DstPort) || fm.Proto != uint32(r.Proto) {
					mismatches++
				}
			}
		}
		prod.Commit(msgs)
	}
	t.Logf("flowlens: %d flows, %d counters; goflow2: %d flow samples, %d counter samples, %d flow messages; L4 mismatches %d",
		flFlows, flCounters, gfFlows, gfCounters, gfMsgs, mismatches)
	if flFlows != wantFlows || flCounters != wantCounters {
		t.Errorf("flowlens decoded %d flows and %d counters, want %d and %d", flFlows, flCounters, wantFlows, wantCounters)
	}
	if gfFlows != wantFlows || gfCounters != wantCounters || gfMsgs != wantFlows {
		t.Errorf("goflow2 decoded %d flow and %d counter samples, produced %d messages; want %d, %d, %d",
			gfFlows, gfCounters, gfMsgs, wantFlows, wantCounters, wantFlows)
	}
	if mismatches != 0 {
		t.Errorf("%d flows where goflow2 and flowlens disagree on protocol or ports", mismatches)
	}
}
