package accuracy

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

var (
	agent = netip.MustParseAddr("192.0.2.1")
	t0    = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
)

// sim plays an Open vSwitch bridge: packets cross ports, each is sampled
// with probability 1/rate, and every `poll` packets the ports' counters
// are sent. It produces the records flowlens's decoder would.
type sim struct {
	rng     *rand.Rand
	rate    uint32
	seq     uint32 // datagram sequence
	sseq    uint32 // sample sequence
	pool    uint32
	now     time.Time
	ctr     map[uint32]*flow.InterfaceCounters
	flows   []flow.Record
	ctrs    []flow.Counter
	dropped int // samples the "agent" lost on purpose
	dropOne int // drop one sample in dropOne (0: none)
}

func newSim(seed uint64, rate uint32, ports ...uint32) *sim {
	s := &sim{rng: rand.New(rand.NewPCG(seed, 7)), rate: rate, now: t0, ctr: map[uint32]*flow.InterfaceCounters{}}
	for _, p := range ports {
		s.ctr[p] = &flow.InterfaceCounters{Index: p, InBroadcast: flow.Unknown32, OutMulticast: flow.Unknown32, OutBroadcast: flow.Unknown32}
	}
	return s
}

// packet sends one frame of size bytes (without FCS) from port in to out.
func (s *sim) packet(in, out uint32, size int) {
	if c := s.ctr[in]; c != nil {
		c.InOctets += uint64(size)
		c.InUcast++
	}
	if c := s.ctr[out]; c != nil {
		c.OutOctets += uint64(size)
		c.OutUcast++
	}
	if s.rng.Uint32N(s.rate) != 0 {
		return
	}
	// Lost between the datapath and the agent: Open vSwitch's agent
	// never hears of it, so neither its sequence nor its pool counts it.
	if s.dropOne > 0 && s.rng.IntN(s.dropOne) == 0 {
		s.dropped++
		return
	}
	s.sseq++
	s.pool += s.rate // as Open vSwitch counts its pool
	s.seq++
	s.flows = append(s.flows, flow.Record{Time: s.now, Input: flow.InputSFlow, Agent: agent, Sequence: s.seq,
		SampleSeq: s.sseq, SourceIDType: 2, SourceIndex: 1000, SamplingRate: s.rate, SamplePool: s.pool,
		In: flow.Port{Format: flow.PortSingle, Index: in}, Out: flow.Port{Format: flow.PortSingle, Index: out},
		HeaderProto: 1, FrameLength: uint32(size) + 4, Stripped: 4,
		Bytes: uint64(size) * uint64(s.rate), Packets: uint64(s.rate)})
}

// poll sends every port's counters, as Open vSwitch does (ucast carries
// all packets, the OpenFlow port record is there).
func (s *sim) poll() {
	s.now = s.now.Add(10 * time.Second)
	for _, idx := range sortedKeys(s.ctr) {
		s.seq++
		s.ctrs = append(s.ctrs, flow.Counter{Time: s.now, Agent: agent, Sequence: s.seq, SourceIndex: idx,
			HasInterface: true, Interface: *s.ctr[idx], HasOFPort: true, OFPort: idx})
	}
}

func sortedKeys(m map[uint32]*flow.InterfaceCounters) []uint32 {
	var out []uint32
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// flush hands what was produced to the tracker as one batch, flows and
// counters apart as the pipeline does.
func (s *sim) flush(t *Tracker) {
	t.Observe(s.flows, s.ctrs)
	s.flows, s.ctrs = s.flows[:0], s.ctrs[:0]
}

// traffic is a size mix: mostly full-size frames with small ACKs, so that
// the bytes' σ is far from what 1/√n would give.
func (s *sim) size() int {
	if s.rng.IntN(3) == 0 {
		return 66
	}
	return 1514 - s.rng.IntN(200)
}

func row(t *testing.T, rep Report, index uint32, dir string) Row {
	t.Helper()
	for _, r := range rep.Ports {
		if r.Index == index && r.Direction == dir {
			return r
		}
	}
	t.Fatalf("no row for port %d %s in %+v", index, dir, rep.Ports)
	return Row{}
}

// The difference in σ must be standard normal when the sampling is what
// sFlow says: a wrong σ (1/√n for bytes, n instead of n·(R−1), sizes with
// the FCS) moves its spread away from 1, a wrong direction or window its
// mean away from 0.
func TestSigmaIsStandardNormal(t *testing.T) {
	const trials = 300
	var zs, zps []float64
	for trial := 0; trial < trials; trial++ {
		s := newSim(uint64(trial), 64, 1, 2)
		tr := New(Config{})
		s.poll()
		s.flush(tr)
		for w := 0; w < 3; w++ {
			for i := 0; i < 20000; i++ {
				if i%4 == 0 {
					s.packet(2, 1, 66)
				} else {
					s.packet(1, 2, s.size())
				}
			}
			s.poll()
			s.flush(tr)
		}
		rep := tr.Report(Query{})
		for _, r := range rep.Ports {
			if r.Status == StatusNoData {
				t.Fatalf("trial %d: %+v", trial, r)
			}
			if r.Windows != 3 {
				t.Fatalf("windows %d, want 3", r.Windows)
			}
		}
		r := row(t, rep, 1, "in")
		zs = append(zs, *r.DiffSigma)
		zps = append(zps, *r.PacketsDiffSigma)
		if r.CounterPackets != 45000 {
			t.Fatalf("counter packets %d, want 45000", r.CounterPackets)
		}
	}
	for name, z := range map[string][]float64{"bytes": zs, "packets": zps} {
		mean, sd := meanSD(z)
		out := 0
		for _, v := range z {
			if math.Abs(v) > 3 {
				out++
			}
		}
		t.Logf("%s: mean z %.3f, sd %.3f, |z|>3: %d of %d", name, mean, sd, out, len(z))
		if math.Abs(mean) > 0.2 || sd < 0.85 || sd > 1.15 || out > 3 {
			t.Errorf("%s: z is not standard normal: mean %.3f sd %.3f, %d beyond 3σ", name, mean, sd, out)
		}
	}
}

func meanSD(v []float64) (float64, float64) {
	var s, s2 float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	for _, x := range v {
		s2 += (x - m) * (x - m)
	}
	return m, math.Sqrt(s2 / float64(len(v)-1))
}

// Losing one sample in ten is a 10 % bias: far beyond 3 σ at this volume,
// on both directions of both ports.
func TestLostSamplesAreOff(t *testing.T) {
	s := newSim(1, 64, 1, 2)
	s.dropOne = 10
	tr := New(Config{})
	s.poll()
	for w := 0; w < 3; w++ {
		for i := 0; i < 50000; i++ {
			s.packet(1, 2, s.size())
			s.packet(2, 1, 66)
		}
		s.poll()
	}
	s.flush(tr)
	rep := tr.Report(Query{})
	for _, r := range rep.Ports {
		if r.Status != StatusOff || *r.DiffSigma > -3 || *r.PacketsDiffRatio > -0.05 || *r.PacketsDiffRatio < -0.15 {
			t.Errorf("port %d %s: %s %s, diff %.3f (%.1f σ), want off about −10 %%", r.Index, r.Direction, r.Status, r.Reason,
				*r.PacketsDiffRatio, *r.DiffSigma)
		}
	}
	if r := row(t, rep, 1, "in"); !strings.Contains(r.Reason, "never processed") {
		t.Errorf("in below the counters: reason %q does not point at ingress drops", r.Reason)
	}
	if len(rep.Sources) != 1 {
		t.Fatalf("sources %+v", rep.Sources)
	}
	// The agent's own sequence numbers cannot show a loss the agent
	// itself made before numbering: Open vSwitch's pool counts samples.
	src := rep.Sources[0]
	if src.Sent != src.Received || src.PoolRate != 64 || src.MeanRate != 64 {
		t.Errorf("source %+v", src)
	}
}

// With every packet sampled the estimate is exact, once the 4 FCS bytes
// that sFlow counts and Linux does not are taken off.
func TestRateOneIsExactWithoutFCS(t *testing.T) {
	s := newSim(2, 1, 1, 2)
	tr := New(Config{})
	s.poll()
	for i := 0; i < 100; i++ {
		s.packet(1, 2, 100+i)
	}
	s.poll()
	s.flush(tr)
	r := row(t, tr.Report(Query{}), 1, "in")
	if r.Status != StatusOK || r.EstimateBytes != r.CounterBytes || r.CounterBytes != 100*100+99*50 || *r.DiffSigma != 0 {
		t.Errorf("%+v", r)
	}
	r = row(t, tr.Report(Query{}), 2, "out")
	if r.EstimatePackets != 100 || r.CounterPackets != 100 || r.Status != StatusOK {
		t.Errorf("%+v", r)
	}
	// The other directions carried nothing: nothing to compare.
	if r := row(t, tr.Report(Query{}), 1, "out"); r.Status != StatusNoData || r.DiffSigma != nil {
		t.Errorf("%+v", r)
	}
}

// A counter sample closes the window after the flow samples of earlier
// datagrams and before those of later ones, though a batch carries flows
// and counters in two lists.
func TestBatchOrderBySequence(t *testing.T) {
	tr := New(Config{MinExpectedSamples: 1})
	mk := func(seq uint32, in uint32) flow.Record {
		return flow.Record{Time: t0, Input: flow.InputSFlow, Agent: agent, Sequence: seq, SampleSeq: seq, SamplingRate: 1,
			In: flow.Port{Format: flow.PortSingle, Index: in}, HeaderProto: 1, FrameLength: 104, Stripped: 4}
	}
	ctr := func(seq uint32, pk uint32, at time.Duration) flow.Counter {
		return flow.Counter{Time: t0.Add(at), Agent: agent, Sequence: seq, HasInterface: true, HasOFPort: true,
			Interface: flow.InterfaceCounters{Index: 7, InUcast: pk, InOctets: 100 * uint64(pk)}}
	}
	// Datagrams 1, 2: 2 samples; 3: counters (2 packets); 4-6: 3
	// samples; 7: counters (5 packets); 8: 1 sample.
	flows := []flow.Record{mk(1, 7), mk(2, 7), mk(4, 7), mk(5, 7), mk(6, 7), mk(8, 7)}
	ctrs := []flow.Counter{ctr(3, 2, 0), ctr(7, 5, 10*time.Second)}
	tr.Observe(flows, ctrs)
	r := row(t, tr.Report(Query{}), 7, "in")
	if r.Windows != 1 || r.Samples != 3 || r.CounterPackets != 3 || r.EstimateBytes != 300 || r.Status != StatusOK {
		t.Errorf("%+v", r)
	}
}

func counterAt(seq uint32, at time.Duration, ic flow.InterfaceCounters) flow.Counter {
	return flow.Counter{Time: t0.Add(at), Agent: agent, Sequence: seq, HasInterface: true, HasOFPort: true, Interface: ic}
}

// Bad input never gives a number: each case says why.
func TestBadInputIsNotEnoughData(t *testing.T) {
	flowsTo := func(seq uint32, idx uint32, n int) []flow.Record {
		var out []flow.Record
		for i := 0; i < n; i++ {
			out = append(out, flow.Record{Time: t0, Input: flow.InputSFlow, Agent: agent, Sequence: seq, SamplingRate: 64,
				In: flow.Port{Format: flow.PortSingle, Index: idx}, HeaderProto: 1, FrameLength: 1504, Stripped: 4})
		}
		return out
	}
	ic := func(inOct uint64, inPk uint32) flow.InterfaceCounters {
		return flow.InterfaceCounters{Index: 9, InOctets: inOct, InUcast: inPk, OutOctets: 0, OutUcast: 0}
	}
	cases := []struct {
		name   string
		run    func(tr *Tracker)
		reason string
	}{
		{"reset", func(tr *Tracker) {
			tr.Observe(nil, []flow.Counter{counterAt(1, 0, ic(1e9, 1e6))})
			tr.Observe(flowsTo(2, 9, 100), []flow.Counter{counterAt(3, 10*time.Second, ic(6400*1500, 6400))})
		}, "went back"},
		{"32-bit reset looking like a wrap", func(tr *Tracker) {
			tr.Observe(nil, []flow.Counter{counterAt(1, 0, ic(1e6, math.MaxUint32-10))})
			tr.Observe(flowsTo(2, 9, 100), []flow.Counter{counterAt(3, 10*time.Second, ic(1e6+9600000, 4e9))})
		}, "disagree"},
		{"unknown counters", func(tr *Tracker) {
			tr.Observe(nil, []flow.Counter{counterAt(1, 0, ic(flow.Unknown64, flow.Unknown32))})
			tr.Observe(flowsTo(2, 9, 100), []flow.Counter{counterAt(3, 10*time.Second, ic(flow.Unknown64, flow.Unknown32))})
		}, "does not report"},
		{"one counter sample", func(tr *Tracker) {
			tr.Observe(flowsTo(2, 9, 100), []flow.Counter{counterAt(1, 0, ic(0, 0))})
		}, "second counter sample"},
		{"flows without counters", func(tr *Tracker) {
			tr.Observe(flowsTo(2, 9, 100), nil)
		}, "no counter samples"},
		{"counters without flows", func(tr *Tracker) {
			tr.Observe(nil, []flow.Counter{counterAt(1, 0, ic(0, 0))})
			tr.Observe(nil, []flow.Counter{counterAt(2, 10*time.Second, ic(6400*1500, 6400))})
		}, "no flow sample names this port"},
		{"too little traffic", func(tr *Tracker) {
			tr.Observe(nil, []flow.Counter{counterAt(1, 0, ic(0, 0))})
			tr.Observe(flowsTo(2, 9, 1), []flow.Counter{counterAt(3, 10*time.Second, ic(640*1500, 640))})
		}, "too little traffic"},
		{"datagrams lost", func(tr *Tracker) {
			tr.Observe(nil, []flow.Counter{counterAt(1, 0, ic(0, 0))})
			// 50 samples arrive, 50 were in the 40 datagrams lost.
			tr.Observe(flowsTo(42, 9, 50), []flow.Counter{counterAt(43, 10*time.Second, ic(6400*1500, 6400))})
		}, "40 sFlow datagrams"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := New(Config{})
			c.run(tr)
			r := row(t, tr.Report(Query{}), 9, "in")
			if r.Status != StatusNoData || r.DiffSigma != nil || r.DiffRatio != nil || !strings.Contains(r.Reason, c.reason) {
				t.Errorf("status %q reason %q, want %q about %q", r.Status, r.Reason, StatusNoData, c.reason)
			}
		})
	}
}

// A 32-bit packet counter that wraps once, with octets that agree, is a
// good window.
func TestPacketCounterWrap(t *testing.T) {
	tr := New(Config{})
	var flows []flow.Record
	for i := 0; i < 100; i++ {
		flows = append(flows, flow.Record{Time: t0, Input: flow.InputSFlow, Agent: agent, Sequence: 2, SamplingRate: 64,
			In: flow.Port{Format: flow.PortSingle, Index: 9}, HeaderProto: 1, FrameLength: 1504, Stripped: 4})
	}
	tr.Observe(nil, []flow.Counter{counterAt(1, 0, flow.InterfaceCounters{Index: 9, InOctets: 1 << 40, InUcast: math.MaxUint32 - 99})})
	tr.Observe(flows, []flow.Counter{counterAt(3, 10*time.Second, flow.InterfaceCounters{Index: 9, InOctets: 1<<40 + 6400*1500, InUcast: 6300})})
	r := row(t, tr.Report(Query{}), 9, "in")
	if r.CounterPackets != 6400 || r.Status != StatusOK || *r.PacketsDiffSigma != 0 {
		t.Errorf("%+v", r)
	}
}

// Generic (non-OVS) agents count unicast, multicast and broadcast apart.
func TestRFC2863PacketSum(t *testing.T) {
	prev := flow.InterfaceCounters{InOctets: 0, InUcast: 10, InMulticast: 5, InBroadcast: flow.Unknown32}
	cur := flow.InterfaceCounters{InOctets: 100 * 30, InUcast: 30, InMulticast: 15, InBroadcast: flow.Unknown32}
	if pk, _, why := counterDelta(In, &prev, &cur, false); pk != 30 || why != "" {
		t.Errorf("generic: %d %q, want 30", pk, why)
	}
	// Open vSwitch: ucast is every packet, multicast a part of it.
	if pk, _, _ := counterDelta(In, &prev, &cur, true); pk != 20 {
		t.Errorf("ovs: %d, want 20", pk)
	}
}

// Flooded packets name no output port: an out estimate short by them is
// not an alarm.
func TestFloodIsNotAnAlarm(t *testing.T) {
	s := newSim(3, 16, 1, 2, 3)
	tr := New(Config{})
	s.poll()
	for i := 0; i < 20000; i++ {
		s.packet(1, 2, 1000)
		// A broadcast from 3 out of 1 and 2: sampled with Out "multiple".
		if c := s.ctr[3]; c != nil {
			c.InOctets += 60
			c.InUcast++
		}
		for _, o := range []uint32{1, 2} {
			s.ctr[o].OutOctets += 60
			s.ctr[o].OutUcast++
		}
		if s.rng.Uint32N(16) == 0 {
			s.seq++
			s.flows = append(s.flows, flow.Record{Time: s.now, Input: flow.InputSFlow, Agent: agent, Sequence: s.seq, SamplingRate: 16,
				In: flow.Port{Format: flow.PortSingle, Index: 3}, Out: flow.Port{Format: flow.PortMultiple, Count: 2},
				HeaderProto: 1, FrameLength: 64, Stripped: 4})
		}
	}
	s.poll()
	s.flush(tr)
	r := row(t, tr.Report(Query{}), 2, "out")
	if r.Status != StatusOK || *r.PacketsDiffRatio > -0.3 || r.FloodedPackets < 15000 {
		t.Errorf("%+v (packets diff %.3f)", r, *r.PacketsDiffRatio)
	}
	if r := row(t, tr.Report(Query{}), 3, "in"); r.Status != StatusOK {
		t.Errorf("%+v", r)
	}
}

// Traffic a VM port receives from another host was sampled on br-tun,
// not on br-int: br-int's samples of what its VMs send through patch-tun
// ("multiple, 1": one port without an ifindex) are no flood and must not
// excuse the receiving port's missing samples (the two-hypervisor e2e saw
// "ok" for 0 samples against 34 MB).
func TestPatchPortOutputIsNotAFlood(t *testing.T) {
	s := newSim(5, 16, 1, 2)
	tr := New(Config{})
	s.poll()
	for i := 0; i < 20000; i++ {
		s.packet(1, 0, 1000) // VM 1 to another host, through patch-tun
		s.packet(2, 0, 100)  // VM 2's replies, to another host too
		// Another host's VM to VM 2: arrives from br-tun through
		// patch-int, never sampled on this bridge.
		s.ctr[2].OutOctets += 1000
		s.ctr[2].OutUcast++
	}
	for i := range s.flows { // as Open vSwitch reports patch-tun
		s.flows[i].Out = flow.Port{Format: flow.PortMultiple, Count: 1}
	}
	s.poll()
	s.flush(tr)
	r := row(t, tr.Report(Query{}), 2, "out")
	if r.Status == StatusOK {
		t.Errorf("port 2 out: 0 samples against %d bytes read ok: %+v", r.CounterBytes, r)
	}
	t.Logf("port 2 out: %s (%s)", r.Status, r.Reason)
}

// Memory is bounded: ports past MaxPorts are counted, windows past
// Windows replace the oldest.
func TestBounds(t *testing.T) {
	tr := New(Config{MaxPorts: 2, Windows: 3, MinExpectedSamples: 1})
	for i := 0; i < 6; i++ {
		var ctrs []flow.Counter
		for p := uint32(1); p <= 3; p++ {
			ctrs = append(ctrs, flow.Counter{Time: t0.Add(time.Duration(i) * 10 * time.Second), Agent: agent, Sequence: uint32(i + 1),
				HasInterface: true, Interface: flow.InterfaceCounters{Index: p, InOctets: uint64(i) * 1000, InUcast: uint32(i) * 10}})
		}
		tr.Observe([]flow.Record{{Time: t0, Input: flow.InputSFlow, Agent: agent, Sequence: uint32(i + 1), SamplingRate: 10,
			In: flow.Port{Format: flow.PortSingle, Index: 1}, HeaderProto: 1, FrameLength: 104, Stripped: 4}}, ctrs)
	}
	rep := tr.Report(Query{})
	if rep.Tracked != 2 || rep.Overflow == 0 || tr.Stats().OverflowPorts != rep.Overflow {
		t.Errorf("tracked %d overflow %d", rep.Tracked, rep.Overflow)
	}
	r := row(t, rep, 1, "in")
	if r.Windows != 3 || !r.WindowFrom.Equal(t0.Add(20*time.Second)) || !r.WindowTo.Equal(t0.Add(50*time.Second)) {
		t.Errorf("windows %d %v–%v", r.Windows, r.WindowFrom, r.WindowTo)
	}
	// A range selects whole windows.
	r = row(t, tr.Report(Query{From: t0.Add(30 * time.Second)}), 1, "in")
	if r.Windows != 2 || !r.WindowFrom.Equal(t0.Add(30*time.Second)) {
		t.Errorf("windows %d from %v", r.Windows, r.WindowFrom)
	}
	if got := tr.Report(Query{Port: "2"}); len(got.Ports) != 2 || got.Ports[0].Index != 2 {
		t.Errorf("port filter: %+v", got.Ports)
	}
	if got := tr.Report(Query{Agent: "192.0.2.99"}); len(got.Ports) != 0 {
		t.Errorf("agent filter: %+v", got.Ports)
	}
}
