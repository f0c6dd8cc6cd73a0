// Package accuracy checks flowlens's sampled estimates against the exact
// interface counters that sFlow agents send for the same ports.
//
// An sFlow agent samples one packet in R and sends, every polling interval,
// each port's cumulative octet and packet counters. Between two counter
// samples of a port the counters' deltas are the truth; the flow samples
// the agent sent in between, with In (entering the bridge from the port)
// or Out (leaving the bridge into it) naming the port, scaled by their
// sampling rates, are the estimate. Under the random sampling sFlow
// specifies (and Open vSwitch implements: each packet is sampled with
// probability 1/R), the estimate is unbiased and its standard deviation is
// known, so the difference can be read in σ: a port far outside a few σ is
// losing samples, or being counted wrongly.
//
// Windows are cut by the agent's own datagram order, not by arrival times:
// a counter sample and the flow samples around it travel in the same
// datagram stream, so "the flow samples between two counter samples" is
// exact up to the samples that share the counter sample's datagram.
//
// Memory is bounded: a fixed number of ports (further ones are counted as
// overflow) and, per port, the last few windows.
package accuracy

import (
	"math"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// Config bounds what the tracker keeps and says when a difference is an
// alarm.
type Config struct {
	// MaxPorts bounds the ports tracked (default 2048). Ports past it are
	// counted in Stats.OverflowPorts and not compared.
	MaxPorts int
	// Windows is how many counter windows each port keeps (default 60:
	// 10 minutes at Open vSwitch's polling=10).
	Windows int
	// MinExpectedSamples is the number of samples the counted packets
	// must be worth at the sampling rate before a comparison is made
	// (default 30). Fewer samples make the normal approximation of the
	// sampling error, and so the σ, meaningless.
	MinExpectedSamples float64
	// Threshold is the difference, in σ, beyond which the status is
	// "off" (default 3).
	Threshold float64
	// Expire forgets a port not heard from for this long, when room is
	// needed for a new one (default 1 h).
	Expire time.Duration
}

func (c *Config) defaults() {
	if c.MaxPorts <= 0 {
		c.MaxPorts = 2048
	}
	if c.Windows <= 0 {
		c.Windows = 60
	}
	if c.MinExpectedSamples <= 0 {
		c.MinExpectedSamples = 30
	}
	if c.Threshold <= 0 {
		c.Threshold = 3
	}
	if c.Expire <= 0 {
		c.Expire = time.Hour
	}
}

// Direction of traffic relative to the bridge (the agent), as sFlow's
// interface counters of the bridge's port count it.
const (
	// In is traffic entering the bridge from the port: flow samples with
	// In = the port, the port's ifInOctets/ifInUcastPkts. For a VM's port
	// on br-int, what the VM sent.
	In = 0
	// Out is traffic leaving the bridge into the port: flow samples with
	// Out = the port, its ifOutOctets/ifOutUcastPkts.
	Out = 1
)

// DirectionName is "in" or "out".
func DirectionName(d int) string {
	if d == Out {
		return "out"
	}
	return "in"
}

// Statuses of a comparison.
const (
	StatusOK      = "ok"
	StatusOff     = "off"
	StatusNoData  = "not enough data"
	maxStreamJump = 1 << 20 // a sequence jump beyond this is a restart, not loss
)

// PortKey names a port: ifIndex values are unique per agent, and a port's
// flow and counter samples come from one sub-agent (its bridge).
type PortKey struct {
	Agent    netip.Addr
	SubAgent uint32
	Index    uint32
}

type streamKey struct {
	agent netip.Addr
	sub   uint32
}

// stream is one sub-agent's datagram sequence: where loss and restarts
// are seen.
type stream struct {
	have    bool
	lastSeq uint32
	lost    uint64 // datagrams missing from the sequence
	resets  uint64 // sequence restarts
	rate    uint32 // last sampling rate seen
	// Flooded and multicast samples (Out is "multiple"): they may have
	// left through any port, so out estimates are lower bounds by up to
	// this much.
	floodPackets, floodBytes float64
}

// sum gathers flow samples of one direction of one port.
type sum struct {
	samples uint64
	packets float64 // Σ r
	bytes   float64 // Σ r·s
	s2      float64 // Σ s², for the bytes' sampling error
}

func (s *sum) add(rate, size float64) {
	s.samples++
	s.packets += rate
	s.bytes += rate * size
	s.s2 += size * size
}

// dirWindow is one direction of one counter window.
type dirWindow struct {
	sum
	ctrPackets, ctrBytes uint64
	// invalid says why the counters of this direction cannot be used.
	invalid string
	// floodPackets/Bytes: flooded samples of the port's stream during
	// the window (Out only).
	floodPackets, floodBytes float64
}

// window is the time between two counter samples of a port.
type window struct {
	from, to time.Time
	dir      [2]dirWindow
	lost     uint64 // datagrams of the stream lost during the window
	resets   uint64
	rate     uint32 // the stream's sampling rate at the window's end
	invalid  string // why neither direction can be used
}

type port struct {
	key        PortKey
	name       string
	haveCtr    bool
	ctrs       uint64 // counter samples seen
	last       flow.InterfaceCounters
	lastTime   time.Time
	ovs        bool // counters laid out as Open vSwitch fills them
	cur        [2]sum
	curFlood   [2]float64 // stream flood totals at the window's start
	curLost    uint64     // stream loss count at the window's start
	curResets  uint64
	samples    uint64 // flow samples ever seen for the port
	preSamples uint64 // flow samples before its first counter sample
	windows    []window
	head       int // next slot of windows
	n          int // windows held
	lastSeen   time.Time
}

// source is one sampler (agent, sub-agent, source id): what its sample
// sequence, sample pool and drops say about samples lost before and after
// the agent.
type source struct {
	have                bool
	firstSeq, lastSeq   uint32
	firstPool, lastPool uint32
	firstDrops, drops   uint32
	received            uint64  // samples that arrived
	packets             float64 // Σ rate of the samples that arrived
	rate                uint32
	seqResets           uint64
	seqSpan             uint64 // samples the sequence says were sent, over completed spans
	poolSpan            uint64 // pool over completed spans
	dropSpan            uint64
	firstTime, lastTime time.Time
}

type sourceKey struct {
	agent   netip.Addr
	sub     uint32
	idType  uint8
	idIndex uint32
}

// Tracker compares estimates with counters. It is a pipeline.Output: give
// it every batch, before aggregation. Safe for concurrent use.
type Tracker struct {
	cfg Config

	mu       sync.Mutex
	ports    map[PortKey]*port
	streams  map[streamKey]*stream
	sources  map[sourceKey]*source
	overflow uint64
	lastGC   time.Time

	// scratch for ordering a batch
	pending map[streamKey][]int

	// Direct-mapped caches in front of the maps: every flow sample
	// looks up its stream, its source and one or two ports, and maps
	// keyed by netip.Addr structs are hashed field by field; a hit here
	// is a compare. Entries are never removed from streams and
	// sources; ports' are, and clear portCache.
	lastStream  *stream
	lastStreamK streamKey
	portCache   [cacheSlots]struct {
		k PortKey
		p *port
	}
	sourceCache [cacheSlots]struct {
		k sourceKey
		s *source
	}
}

// cacheSlots is the size of the lookup caches: more than the ports of a
// busy hypervisor's bridge.
const cacheSlots = 256

// New returns a Tracker.
func New(cfg Config) *Tracker {
	cfg.defaults()
	return &Tracker{cfg: cfg, ports: make(map[PortKey]*port), streams: make(map[streamKey]*stream),
		sources: make(map[sourceKey]*source), pending: make(map[streamKey][]int)}
}

// Name implements pipeline.Output.
func (t *Tracker) Name() string { return "accuracy" }

// Close implements pipeline.Output.
func (t *Tracker) Close() error { return nil }

// Write implements pipeline.Output.
func (t *Tracker) Write(b *pipeline.Batch) error {
	t.Observe(b.Flows, b.Counters)
	return nil
}

// seqAfter reports whether sequence number a comes after b.
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// Observe takes records in the order they arrived. A batch holds flows and
// counters apart; within each the order is the arrival order, and every
// record carries its datagram's sequence number, so the two lists are
// merged back per stream: a counter sample closes its port's window after
// the flow samples of earlier datagrams and before those of later ones.
func (t *Tracker) Observe(flows []flow.Record, counters []flow.Counter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pend := t.pending
	if len(pend) > 4096 {
		clear(pend)
	}
	for k := range pend {
		pend[k] = pend[k][:0]
	}
	for i := range counters {
		c := &counters[i]
		k := streamKey{c.Agent, c.SubAgent}
		pend[k] = append(pend[k], i)
	}
	for i := range flows {
		r := &flows[i]
		if r.Input != flow.InputSFlow {
			continue
		}
		if len(counters) == 0 {
			t.flow(r)
			continue
		}
		k := streamKey{r.Agent, r.SubAgent}
		if q := pend[k]; len(q) > 0 {
			for len(q) > 0 && seqAfter(r.Sequence, counters[q[0]].Sequence) {
				t.counter(&counters[q[0]])
				q = q[1:]
			}
			pend[k] = q
		}
		t.flow(r)
	}
	for i := range counters {
		c := &counters[i]
		k := streamKey{c.Agent, c.SubAgent}
		q := pend[k]
		if len(q) > 0 && q[0] == i {
			t.counter(c)
			pend[k] = q[1:]
		}
	}
}

// streamSeq accounts for a datagram sequence number of the stream.
func (t *Tracker) streamSeq(k streamKey, seq uint32) *stream {
	var s *stream
	if t.lastStream != nil && t.lastStreamK == k {
		s = t.lastStream
	} else {
		s = t.streams[k]
		if s != nil {
			t.lastStream, t.lastStreamK = s, k
		}
	}
	if s == nil {
		if len(t.streams) >= 4*t.cfg.MaxPorts {
			return nil
		}
		s = &stream{}
		t.streams[k] = s
	}
	if !s.have {
		s.have, s.lastSeq = true, seq
		return s
	}
	d := int64(int32(seq - s.lastSeq))
	switch {
	case d == 0:
	case d > 0 && d < maxStreamJump:
		s.lost += uint64(d - 1)
		s.lastSeq = seq
	case d < 0 && -d < 1024:
		// Reordered on the way: it was counted as lost when the gap
		// opened, which errs on the side of "not enough data".
	default:
		s.resets++
		s.lastSeq = seq
	}
	return s
}

// frameSize is the sampled packet's length as interface counters count
// it: without the Ethernet FCS. sFlow's frame_length includes the FCS
// (Open vSwitch adds 4 bytes it never had and reports them as stripped),
// while Linux, and so Open vSwitch's port counters, count frames without
// it. This does not depend on input.sflow.include_fcs, which changes what
// the outputs report, not what is compared here.
func frameSize(r *flow.Record) float64 {
	if r.FrameLength == 0 {
		// No sampled header: the decoder's size, per packet.
		if r.SamplingRate > 0 {
			return float64(r.Bytes) / float64(r.SamplingRate)
		}
		return float64(r.Bytes)
	}
	s := r.FrameLength
	if r.HeaderProto == 1 && r.Stripped >= 4 && s >= 4 {
		s -= 4
	}
	return float64(s)
}

func (t *Tracker) flow(r *flow.Record) {
	k := streamKey{r.Agent, r.SubAgent}
	st := t.streamSeq(k, r.Sequence)
	rate := r.SamplingRate
	if rate == 0 {
		rate = 1
	}
	if st != nil {
		st.rate = rate
	}
	t.sourceSample(r, rate)
	size := frameSize(r)
	fr := float64(rate)
	if r.In.Format == flow.PortSingle {
		if p := t.port(PortKey{r.Agent, r.SubAgent, r.In.Index}, r.Time); p != nil {
			p.sample(In, fr, size, r.Time, r.In.Name)
		}
	}
	switch r.Out.Format {
	case flow.PortSingle:
		if p := t.port(PortKey{r.Agent, r.SubAgent, r.Out.Index}, r.Time); p != nil {
			p.sample(Out, fr, size, r.Time, r.Out.Name)
		}
	case flow.PortMultiple:
		// Open vSwitch says "multiple, 1" for one output port without an
		// ifindex (a patch or tunnel port): not a flood, and no VM port's
		// out counters see it on this bridge.
		if st != nil && r.Out.Count != 1 {
			st.floodPackets += fr
			st.floodBytes += fr * size
		}
	}
}

func (p *port) sample(d int, rate, size float64, now time.Time, name string) {
	p.samples++
	if !p.haveCtr {
		p.preSamples++
	}
	p.cur[d].add(rate, size)
	if now.After(p.lastSeen) {
		p.lastSeen = now
	}
	if name != "" && p.name == "" {
		p.name = name
	}
}

func (t *Tracker) sourceSample(r *flow.Record, rate uint32) {
	k := sourceKey{r.Agent, r.SubAgent, r.SourceIDType, r.SourceIndex}
	c := &t.sourceCache[(r.SourceIndex^r.SubAgent)%cacheSlots]
	s := c.s
	if s == nil || c.k != k {
		s = t.sources[k]
		if s == nil {
			if len(t.sources) >= t.cfg.MaxPorts {
				return
			}
			s = &source{firstTime: r.Time}
			t.sources[k] = s
		}
		c.k, c.s = k, s
	}
	d := int64(int32(r.SampleSeq - s.lastSeq))
	switch {
	case s.have && d > 0 && d < maxStreamJump:
		s.lastSeq, s.lastPool, s.drops = r.SampleSeq, r.SamplePool, r.Drops
	case s.have && d <= 0 && d > -1024:
		// Reordered on the way: it arrived all the same.
	default:
		if s.have {
			// The sampler restarted: keep what the old span said.
			s.seqResets++
			s.seqSpan += uint64(s.lastSeq - s.firstSeq)
			s.poolSpan += uint64(s.lastPool - s.firstPool)
			s.dropSpan += uint64(s.drops - s.firstDrops)
		}
		// A span's first sample is the base its deltas start from, so
		// it is not counted as received either.
		s.have = true
		s.firstSeq, s.firstPool, s.firstDrops = r.SampleSeq, r.SamplePool, r.Drops
		s.lastSeq, s.lastPool, s.drops = r.SampleSeq, r.SamplePool, r.Drops
		s.lastTime, s.rate = r.Time, rate
		return
	}
	s.received++
	s.packets += float64(rate)
	s.lastTime, s.rate = r.Time, rate
}

// port finds or makes a port's state; nil when the table is full.
func (t *Tracker) port(k PortKey, now time.Time) *port {
	c := &t.portCache[(k.Index^k.SubAgent)%cacheSlots]
	if c.p != nil && c.k == k {
		return c.p
	}
	if p := t.ports[k]; p != nil {
		c.k, c.p = k, p
		return p
	}
	if len(t.ports) >= t.cfg.MaxPorts {
		t.expire(now)
		if len(t.ports) >= t.cfg.MaxPorts {
			t.overflow++
			return nil
		}
	}
	p := &port{key: k, windows: make([]window, 0, 4), lastSeen: now}
	t.ports[k] = p
	return p
}

// expire forgets ports not heard from for cfg.Expire. It scans the table,
// so it runs at most every 10 s (of record time).
func (t *Tracker) expire(now time.Time) {
	if now.Sub(t.lastGC) < 10*time.Second {
		return
	}
	t.lastGC = now
	for k, p := range t.ports {
		if now.Sub(p.lastSeen) > t.cfg.Expire {
			delete(t.ports, k)
			t.portCache = [cacheSlots]struct {
				k PortKey
				p *port
			}{}
		}
	}
}

// ovsLayout tells Open vSwitch's use of the generic counters: it puts
// every received packet (Linux rx_packets) in ifInUcastPkts, with
// multicast a part of it, and all sent packets in ifOutUcastPkts. Summing
// unicast, multicast and broadcast as RFC 2863 means would count
// multicast twice. Its counter samples carry the OpenFlow port record.
func ovsLayout(c *flow.Counter) bool { return c.HasOFPort }

// delta32 is the difference of a 32-bit counter across a wrap.
func delta32(now, before uint32) uint64 { return uint64(now - before) }

func (t *Tracker) counter(c *flow.Counter) {
	// Every sample's datagram counts for the stream's sequence, the
	// bridge-wide counters' too: a datagram may carry nothing else.
	st := t.streamSeq(streamKey{c.Agent, c.SubAgent}, c.Sequence)
	if !c.HasInterface || c.SourceIDType != 0 {
		return
	}
	idx := c.Interface.Index
	if idx == 0 {
		idx = c.SourceIndex
	}
	p := t.port(PortKey{c.Agent, c.SubAgent, idx}, c.Time)
	if p == nil {
		return
	}
	if c.HasPortName && c.PortName != "" {
		p.name = c.PortName
	}
	if c.Time.After(p.lastSeen) {
		p.lastSeen = c.Time
	}
	p.ctrs++
	ovs := ovsLayout(c)
	var lost, resets uint64
	var flood [2]float64
	var rate uint32
	if st != nil {
		lost, resets, flood, rate = st.lost, st.resets, [2]float64{st.floodPackets, st.floodBytes}, st.rate
	}
	if p.haveCtr {
		w := window{from: p.lastTime, to: c.Time, lost: lost - p.curLost, resets: resets - p.curResets, rate: rate}
		prev, cur := &p.last, &c.Interface
		if ovs != p.ovs {
			w.invalid = "the counters changed layout (a different agent answers for this port)"
		}
		for d := 0; d < 2; d++ {
			dw := &w.dir[d]
			dw.sum = p.cur[d]
			dw.ctrPackets, dw.ctrBytes, dw.invalid = counterDelta(d, prev, cur, ovs)
		}
		w.dir[Out].floodPackets = flood[0] - p.curFlood[0]
		w.dir[Out].floodBytes = flood[1] - p.curFlood[1]
		p.push(w, t.cfg.Windows)
	}
	p.haveCtr, p.last, p.lastTime, p.ovs = true, c.Interface, c.Time, ovs
	p.cur = [2]sum{}
	p.curLost, p.curResets, p.curFlood = lost, resets, flood
}

// counterDelta is what the port's counters say happened in one direction
// between two counter samples, or why they cannot say.
func counterDelta(d int, prev, cur *flow.InterfaceCounters, ovs bool) (packets, bytes uint64, invalid string) {
	o0, o1 := prev.InOctets, cur.InOctets
	u0, u1 := prev.InUcast, cur.InUcast
	m0, m1 := prev.InMulticast, cur.InMulticast
	b0, b1 := prev.InBroadcast, cur.InBroadcast
	if d == Out {
		o0, o1 = prev.OutOctets, cur.OutOctets
		u0, u1 = prev.OutUcast, cur.OutUcast
		m0, m1 = prev.OutMulticast, cur.OutMulticast
		b0, b1 = prev.OutBroadcast, cur.OutBroadcast
	}
	if o0 == flow.Unknown64 || o1 == flow.Unknown64 || u0 == flow.Unknown32 || u1 == flow.Unknown32 {
		return 0, 0, "the agent does not report this port's octet or packet counters"
	}
	if o1 < o0 {
		// 64-bit octet counters do not wrap in practice: the port or
		// the agent was reset, and the window's start is unknown.
		return 0, 0, "the counters went back (the port or the agent was reset)"
	}
	bytes = o1 - o0
	packets = delta32(u1, u0)
	if !ovs {
		if m0 != flow.Unknown32 && m1 != flow.Unknown32 {
			packets += delta32(m1, m0)
		}
		if b0 != flow.Unknown32 && b1 != flow.Unknown32 {
			packets += delta32(b1, b0)
		}
	}
	// 32-bit packet counters wrap; a wrap and a reset look alike in them,
	// so the octets decide: a real window carries between a minimal
	// Ethernet header and a jumbo frame per packet.
	switch {
	case packets == 0 && bytes == 0:
	case packets == 0 || bytes/packets < 14 || bytes/packets > 65600:
		return 0, 0, "the packet and octet counters disagree (a 32-bit counter was reset or wrapped more than once)"
	}
	return packets, bytes, ""
}

func (p *port) push(w window, max int) {
	if len(p.windows) < max {
		p.windows = append(p.windows, w)
		p.n = len(p.windows)
		p.head = p.n % max
		return
	}
	p.windows[p.head] = w
	p.head = (p.head + 1) % max
	p.n = max
}

// ordered returns the windows oldest first. Until the ring is full, head
// is its length and the rotation leaves it as it is.
func (p *port) ordered() []window {
	out := make([]window, 0, len(p.windows))
	out = append(out, p.windows[p.head:]...)
	return append(out, p.windows[:p.head]...)
}

// Query selects what Report compares.
type Query struct {
	// From and To select the windows entirely inside [From, To]; zero
	// values leave that side open.
	From, To time.Time
	// Agent is an agent address ("" for all); Port an ifIndex or a port
	// name ("" for all).
	Agent, Port string
}

// Row is the comparison for one port and direction.
type Row struct {
	Agent           string  `json:"agent"`
	SubAgent        uint32  `json:"sub_agent"`
	Index           uint32  `json:"index"`
	Name            string  `json:"name"`
	Direction       string  `json:"direction"`
	EstimateBytes   uint64  `json:"estimate_bytes"`
	CounterBytes    uint64  `json:"counter_bytes"`
	EstimatePackets uint64  `json:"estimate_packets"`
	CounterPackets  uint64  `json:"counter_packets"`
	Samples         uint64  `json:"samples"`
	SamplingRate    uint32  `json:"sampling_rate"`
	ExpectedSamples float64 `json:"expected_samples"`
	// Bytes: (estimate − counter) / counter, σ of the estimate / counter,
	// and the difference in σ. Nil when there is not enough data.
	DiffRatio  *float64 `json:"diff_ratio"`
	SigmaRatio *float64 `json:"sigma_ratio"`
	DiffSigma  *float64 `json:"diff_sigma"`
	// The same for packets.
	PacketsDiffRatio  *float64 `json:"packets_diff_ratio"`
	PacketsSigmaRatio *float64 `json:"packets_sigma_ratio"`
	PacketsDiffSigma  *float64 `json:"packets_diff_sigma"`
	// Out only: estimated flooded/multicast packets of the bridge in the
	// windows, which may have left through this port too.
	FloodedPackets uint64 `json:"flooded_packets,omitempty"`
	Status         string `json:"status"`
	Reason         string `json:"reason,omitempty"`
	Windows        int    `json:"windows"`
	WindowsSkipped int    `json:"windows_skipped"`
	// WindowFrom and WindowTo span the windows compared.
	WindowFrom *time.Time `json:"window_from"`
	WindowTo   *time.Time `json:"window_to"`
}

// Source is what one sampler's sequence numbers and sample pool say.
type Source struct {
	Agent        string `json:"agent"`
	SubAgent     uint32 `json:"sub_agent"`
	SourceIDType uint8  `json:"source_id_type"`
	SourceIndex  uint32 `json:"source_id_index"`
	SamplingRate uint32 `json:"sampling_rate"`
	// Samples that arrived after the first, samples the agent's sample
	// sequence numbers say it sent over the same span, and the span's
	// sample pool and drops deltas.
	Received   uint64 `json:"samples_received"`
	Sent       uint64 `json:"samples_sent"`
	PoolDelta  uint64 `json:"sample_pool_delta"`
	DropsDelta uint64 `json:"drops_delta"`
	// PoolRate is the effective sampling rate sFlow defines,
	// sample_pool delta / samples sent; MeanRate the mean rate of the
	// samples received. They differ when the agent lost samples it
	// counted in its pool.
	PoolRate float64   `json:"pool_rate"`
	MeanRate float64   `json:"mean_rate"`
	Resets   uint64    `json:"sequence_resets"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
}

// Report is the comparison for the ports the query selects.
type Report struct {
	Ports   []Row    `json:"ports"`
	Sources []Source `json:"sources"`
	// Tracked ports, and ports not tracked because the table was full.
	Tracked  int    `json:"tracked_ports"`
	Overflow uint64 `json:"overflow_ports"`
}

// Stats is the tracker's own health.
type Stats struct {
	Ports         int
	OverflowPorts uint64
}

// Stats returns the tracker's health.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Ports: len(t.ports), OverflowPorts: t.overflow}
}

// Report compares, for every selected port and both directions, the
// estimate with the counters over the windows in the query's range.
func (t *Tracker) Report(q Query) Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	rep := Report{Ports: []Row{}, Sources: []Source{}, Tracked: len(t.ports), Overflow: t.overflow}
	for _, p := range t.ports {
		if q.Agent != "" && p.key.Agent.String() != q.Agent {
			continue
		}
		if q.Port != "" && q.Port != p.name && q.Port != uitoa(p.key.Index) {
			continue
		}
		var rate uint32
		if st := t.streams[streamKey{p.key.Agent, p.key.SubAgent}]; st != nil {
			rate = st.rate
		}
		for d := 0; d < 2; d++ {
			rep.Ports = append(rep.Ports, t.compare(p, d, q, rate))
		}
	}
	sort.Slice(rep.Ports, func(i, j int) bool {
		a, b := &rep.Ports[i], &rep.Ports[j]
		if a.Agent != b.Agent {
			return a.Agent < b.Agent
		}
		if a.SubAgent != b.SubAgent {
			return a.SubAgent < b.SubAgent
		}
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		return a.Direction < b.Direction
	})
	for k, s := range t.sources {
		if q.Agent != "" && k.agent.String() != q.Agent {
			continue
		}
		src := Source{Agent: k.agent.String(), SubAgent: k.sub, SourceIDType: k.idType, SourceIndex: k.idIndex,
			SamplingRate: s.rate, Received: s.received, Resets: s.seqResets, From: s.firstTime.UTC(), To: s.lastTime.UTC(),
			Sent:       s.seqSpan + uint64(s.lastSeq-s.firstSeq),
			PoolDelta:  s.poolSpan + uint64(s.lastPool-s.firstPool),
			DropsDelta: s.dropSpan + uint64(s.drops-s.firstDrops)}
		if src.Sent > 0 {
			src.PoolRate = float64(src.PoolDelta) / float64(src.Sent)
		}
		if s.received > 0 {
			src.MeanRate = s.packets / float64(s.received)
		}
		rep.Sources = append(rep.Sources, src)
	}
	sort.Slice(rep.Sources, func(i, j int) bool {
		a, b := &rep.Sources[i], &rep.Sources[j]
		if a.Agent != b.Agent {
			return a.Agent < b.Agent
		}
		if a.SubAgent != b.SubAgent {
			return a.SubAgent < b.SubAgent
		}
		return a.SourceIndex < b.SourceIndex
	})
	return rep
}

func uitoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func fptr(v float64) *float64 { return &v }

// compare sums the port's windows in the range for one direction.
//
// The sampling error: each packet is sampled independently with
// probability p = 1/R and a sample stands for R packets (Horvitz–Thompson).
// For N packets of sizes s_i the estimates R·Σsampled 1 and R·Σsampled s_i
// are unbiased with variances N·(R−1) and (R−1)·Σ s_i². The counters give
// N exactly; Σ s_i² is estimated as N times the mean square size of the
// samples (with no samples, as N·(bytes/N)², its least possible value).
// Using the counted N rather than the sampled one makes the σ that of the
// hypothesis being tested (the estimate is right), so a port that lost
// all its samples is far off, not "0 ± 0".
func (t *Tracker) compare(p *port, d int, q Query, streamRate uint32) Row {
	row := Row{Agent: p.key.Agent.String(), SubAgent: p.key.SubAgent, Index: p.key.Index, Name: p.name,
		Direction: DirectionName(d), Status: StatusNoData}
	if !p.haveCtr {
		row.Reason = "no counter samples for this port (an internal port moved to another namespace, a patch port, or counter polling off)"
		c := &p.cur[d]
		row.Samples, row.EstimatePackets, row.EstimateBytes = c.samples, uint64(c.packets), uint64(c.bytes)
		return row
	}
	if p.n == 0 {
		row.Reason = "waiting for the port's second counter sample (they come every polling interval)"
		return row
	}
	if p.samples == 0 {
		row.Reason = "no flow sample names this port (is sampling on for its bridge?)"
		return row
	}
	var varPk, varB, flood, floodB float64
	var est sum
	var lastSkip string
	var rate uint32
	for _, w := range p.ordered() {
		if (!q.From.IsZero() && w.from.Before(q.From)) || (!q.To.IsZero() && w.to.After(q.To)) {
			continue
		}
		dw := &w.dir[d]
		skip := w.invalid
		if skip == "" {
			skip = dw.invalid
		}
		if skip == "" && w.lost > 0 {
			skip = uitoa(uint32(min(w.lost, math.MaxUint32))) + " sFlow datagrams of this bridge are missing in the window: lost on the way or in the socket's buffer (flowlens_agent_sequence_lost_total, flowlens_socket_kernel_drops_total)"
		}
		if skip == "" && w.resets > 0 {
			skip = "the agent restarted in the window (its sequence numbers went back)"
		}
		r := float64(w.rate)
		if dw.samples > 0 {
			r = dw.packets / float64(dw.samples)
		}
		if skip == "" && r < 1 {
			skip = "no sampling rate known for this bridge yet"
		}
		if skip != "" {
			row.WindowsSkipped++
			lastSkip = skip
			continue
		}
		if row.Windows == 0 {
			row.WindowFrom = timePtr(w.from)
		}
		row.WindowTo = timePtr(w.to)
		row.Windows++
		est.samples += dw.samples
		est.packets += dw.packets
		est.bytes += dw.bytes
		row.CounterPackets += dw.ctrPackets
		row.CounterBytes += dw.ctrBytes
		n := float64(dw.ctrPackets)
		varPk += n * (r - 1)
		m2 := 0.0
		if dw.samples > 0 {
			m2 = dw.s2 / float64(dw.samples)
		} else if n > 0 {
			m := float64(dw.ctrBytes) / n
			m2 = m * m
		}
		varB += n * (r - 1) * m2
		row.ExpectedSamples += n / r
		flood += dw.floodPackets
		floodB += dw.floodBytes
		rate = uint32(math.Round(r))
	}
	row.Samples = est.samples
	row.EstimatePackets = uint64(math.Round(est.packets))
	row.EstimateBytes = uint64(math.Round(est.bytes))
	row.SamplingRate = rate
	if rate == 0 {
		row.SamplingRate = streamRate
	}
	if d == Out {
		row.FloodedPackets = uint64(math.Round(flood))
	}
	switch {
	case row.Windows == 0 && lastSkip != "":
		row.Reason = lastSkip
		return row
	case row.Windows == 0:
		row.Reason = "no complete counter window in the range"
		return row
	case row.ExpectedSamples < t.cfg.MinExpectedSamples:
		row.Reason = "too little traffic for a comparison: the counted packets are worth " +
			uitoa(uint32(row.ExpectedSamples)) + " samples, " + uitoa(uint32(t.cfg.MinExpectedSamples)) + " are needed"
		return row
	}
	ctrB, ctrP := float64(row.CounterBytes), float64(row.CounterPackets)
	// At rate 1 nothing is left to chance and σ is 0: a floor of one
	// packet and one byte keeps the difference a finite number of σ.
	sB, sP := max(math.Sqrt(varB), 1), max(math.Sqrt(varPk), 1)
	zB := (est.bytes - ctrB) / sB
	zP := (est.packets - ctrP) / sP
	row.DiffRatio, row.SigmaRatio, row.DiffSigma = fptr((est.bytes-ctrB)/ctrB), fptr(sB/ctrB), fptr(zB)
	row.PacketsDiffRatio, row.PacketsSigmaRatio, row.PacketsDiffSigma = fptr((est.packets-ctrP)/ctrP), fptr(sP/ctrP), fptr(zP)
	row.Status = StatusOK
	// Flooded and multicast packets count in the port's out counters but
	// name no single output port in their samples: an out estimate short
	// by no more than the bridge's flooded traffic is no evidence of loss.
	if d == Out {
		zB = (min(est.bytes+floodB, max(est.bytes, ctrB)) - ctrB) / sB
		zP = (min(est.packets+flood, max(est.packets, ctrP)) - ctrP) / sP
	}
	if math.Abs(zB) > t.cfg.Threshold || math.Abs(zP) > t.cfg.Threshold {
		row.Status = StatusOff
		row.Reason = "the estimate is " + fmtSigma(zB, zP) + " away from the counters"
		if d == Out && flood > 0 {
			row.Reason += ", counting the bridge's flooded packets as possibly sent here"
		}
		switch {
		case est.packets > ctrP:
			row.Reason += ": more sampled than counted (a wrong sampling rate, or samples counted twice)"
		case d == In:
			// Measured on Open vSwitch's userspace datapath at its limit
			// (bench/accuracy-lab.sh): the port's rx counts what the
			// datapath never read, and the agent's sample pool, which
			// grows only with samples, cannot show it.
			row.Reason += ": the port received packets the bridge never processed (a datapath that cannot keep up drops them before sampling; Open vSwitch: compare `ovs-appctl dpctl/show` lookups with the ports' rx), or samples were lost between the datapath and the agent"
		default:
			row.Reason += ": samples lost between the datapath and the agent, or packets sent here that name no single output port"
		}
	}
	if row.WindowsSkipped > 0 && row.Reason == "" {
		row.Reason = uitoa(uint32(row.WindowsSkipped)) + " windows left out: " + lastSkip
	}
	return row
}

func fmtSigma(zB, zP float64) string {
	z := zB
	what := "bytes"
	if math.Abs(zP) > math.Abs(zB) {
		z, what = zP, "packets"
	}
	return strconvF(z) + " σ (" + what + ")"
}

func strconvF(v float64) string {
	if v < 0 {
		return "−" + strconv.FormatFloat(-v, 'f', 1, 64)
	}
	return "+" + strconv.FormatFloat(v, 'f', 1, 64)
}

func timePtr(t time.Time) *time.Time {
	u := t.UTC()
	return &u
}
