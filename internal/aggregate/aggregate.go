// Package aggregate sums flow records over fixed intervals by every
// dimension they have, so that outputs store one record per conversation
// and interval instead of one per sample. Memory is bounded: past a number
// of keys per interval, new keys are summed into one overflow record per
// agent, and counted. Writes to the next output happen on a goroutine of
// their own, so that a slow output (a store's checkpoint, a full disk) does
// not hold up aggregation and, behind it, the pipeline.
package aggregate

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// Config is the aggregation configuration.
type Config struct {
	// Interval is the aggregation period (at least 10 s).
	Interval time.Duration `yaml:"interval"`
	// MaxKeys bounds the distinct keys kept per interval.
	MaxKeys int `yaml:"max_keys"`
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Interval < 10*time.Second {
		return errors.New("aggregate.interval must be at least 10s")
	}
	if c.MaxKeys < 1 {
		return errors.New("aggregate.max_keys must be at least 1")
	}
	return nil
}

// key holds every dimension of a record that aggregation keeps. Measures
// (bytes, packets) and per-packet details (TTL, IP length, fragment
// offsets, sequence numbers) are left out: they would make every sample its
// own key.
//
// It is laid out for the map: no pointers and no padding (addresses as 16
// bytes plus a family byte instead of netip.Addr, which holds a pointer;
// fields ordered by size, TestKeyHasNoPadding checks it), so that the
// runtime hashes and compares it as one block of memory instead of field
// by field.
type key struct {
	agent, srcAddr, dstAddr, innerSrc, innerDst [16]byte
	// obsPoint: the IPFIX observation point, which for OVN's drop
	// samples names the dropping logical flow, so that drops by two
	// rules are not summed into one.
	obsPoint                   uint64
	subAgent                   uint32
	inIndex, outIndex          uint32 // ifIndex, port count or drop reason by format
	vni                        uint32
	samplingRate               uint32
	inVLAN, outVLAN            uint16
	etherType                  uint16
	vlan                       uint16
	srcPort, dstPort           uint16
	innerSrcPort, innerDstPort uint16
	srcMAC, dstMAC             flow.MAC
	// family of agent, srcAddr, dstAddr, innerSrc, innerDst: addrFamily.
	family             [5]uint8
	input              flow.Input
	inFormat           flow.PortFormat
	outFormat          flow.PortFormat
	proto              uint8
	icmpType, icmpCode uint8
	tunnel             flow.TunnelType
	innerProto         uint8
	observation        flow.Observation
	overflow           bool
	//lint:ignore U1000 fills the last word, so that the key has no padding; always 0
	spare uint8
}

// addr16 is a's 16 bytes and a family byte that tells apart what As16
// alone does not: no address (0), IPv4 (4), IPv6 (6), IPv6 with a zone
// (7; the zone itself is not kept: decoders never set one).
func addr16(a netip.Addr) ([16]byte, uint8) {
	switch {
	case !a.IsValid():
		return [16]byte{}, 0
	case a.Is4():
		return a.As16(), 4
	case a.Zone() != "":
		return a.As16(), 7
	}
	return a.As16(), 6
}

func portValue(p *flow.Port) uint32 {
	switch p.Format {
	case flow.PortSingle:
		return p.Index
	case flow.PortMultiple:
		return p.Count
	case flow.PortDiscard:
		return p.Reason
	case flow.PortRecirculated:
		return p.Index
	}
	return 0
}

func keyOf(r *flow.Record) key {
	k := key{
		subAgent: r.SubAgent, input: r.Input,
		inFormat: r.In.Format, outFormat: r.Out.Format,
		inIndex: portValue(&r.In), outIndex: portValue(&r.Out),
		inVLAN: r.In.VLAN, outVLAN: r.Out.VLAN,
		srcMAC: r.SrcMAC, dstMAC: r.DstMAC, etherType: r.EtherType, vlan: r.VLAN,
		proto: r.Proto, srcPort: r.SrcPort, dstPort: r.DstPort,
		tunnel: r.Tunnel, vni: r.VNI, samplingRate: r.SamplingRate,
		observation: r.Observation, obsPoint: r.ObservationPointID,
	}
	k.agent, k.family[0] = addr16(r.Agent)
	k.srcAddr, k.family[1] = addr16(r.SrcAddr)
	k.dstAddr, k.family[2] = addr16(r.DstAddr)
	if r.HasICMP {
		k.icmpType, k.icmpCode = r.ICMPType, r.ICMPCode
	}
	if r.InnerPresent {
		k.innerSrc, k.family[3] = addr16(r.Inner.SrcAddr)
		k.innerDst, k.family[4] = addr16(r.Inner.DstAddr)
		k.innerProto = r.Inner.Proto
		k.innerSrcPort, k.innerDstPort = r.Inner.SrcPort, r.Inner.DstPort
	}
	return k
}

// overflowKey is the key of the record that sums an exporter's records
// past MaxKeys.
func overflowKey(r *flow.Record) key {
	k := key{subAgent: r.SubAgent, input: r.Input, overflow: true}
	k.agent, k.family[0] = addr16(r.Agent)
	return k
}

type entry struct {
	rec     flow.Record // the first record of the key, with sums
	samples uint64
	// What Live has handed out of this interval's sums already.
	liveBytes, livePackets, liveSamples uint64
}

// Stats are the aggregator's counters.
type Stats struct {
	Records    uint64 // flow records aggregated
	Aggregates uint64 // aggregated records written
	Overflowed uint64 // records summed into an overflow record
	Late       uint64 // records for an interval already written, counted in the current one
	Keys       int    // keys in the current interval
	// Dropped: records (aggregates and counter records) not passed on
	// because the next output had fallen queueBatches writes behind (for
	// intervals: with maxHeld intervals already held).
	Dropped uint64
	// WriteErrors: writes to the next output that failed (it counts and
	// reports its own failures; this says they happened behind the
	// aggregator).
	WriteErrors uint64
	Queued      int // writes waiting for the next output
	// Held: finished intervals waiting for room in the queue.
	Held int
}

// queueBatches bounds the writes waiting for the next output: about a
// minute of counter groups plus an interval's aggregates, which covers a
// store's checkpoint or a bulk retry; an output stalled longer loses the
// newest counter groups, counted, rather than the aggregation stalling the
// pipeline. Finished intervals are held instead (up to maxHeld, the
// memory of as many interval maps), and the oldest held is dropped,
// counted, only beyond that.
const (
	queueBatches = 64
	maxHeld      = 2
)

// write is one batch for the next output, an interval without flows
// (quiet), or (neither) a marker the writer closes when everything before
// it was written.
type write struct {
	batch      *pipeline.Batch
	quiet      bool
	start, end time.Time
	done       chan struct{}
	// interval: a finished interval's entries, turned into records by the
	// writer flushChunk at a time, start and end set, refreshed with
	// refresh, then handed back to the free list.
	interval map[key]*entry
	refresh  func(*flow.Record)
}

// flushChunk is how many aggregates the writer hands the next output at a
// time: an interval's records are made a chunk at a time from its entries
// rather than copied whole (100 000 keys were 100 MB more at each flush).
const flushChunk = 4096

// QuietWriter is an output that records intervals in which no flow
// arrived, so that it can tell a quiet interval from one in which flowlens
// was not running (the store draws gaps for the latter).
type QuietWriter interface {
	WriteQuiet(start, end time.Time) error
}

// Aggregator is a pipeline.Output that aggregates flows and writes the
// aggregates, at the end of each interval, to the next output. Counter
// records pass through untouched.
type Aggregator struct {
	cfg  Config
	next pipeline.Output
	now  func() time.Time

	mu    sync.Mutex // guards the map and the counters
	start time.Time  // current interval
	// refresh re-attributes an aggregate before it is written (SetRefresh).
	refresh func(*flow.Record)
	// livePulled: when Live last handed out the current interval's sums;
	// created: when the aggregator started (the first interval began
	// before it).
	livePulled, created time.Time
	entries             map[key]*entry
	// free and spare (an emptied interval map, for the next) are guarded
	// by freeMu, not mu: the writer hands them back while Close may hold
	// mu waiting for room in the queue.
	freeMu sync.Mutex
	free   []*entry
	spare  map[key]*entry
	// Counter records are passed on at most every counterEvery, in
	// groups: a store commits each write to disk, and a commit per input
	// batch would cost more than the whole decoding.
	counters     []flow.Counter
	countersSent time.Time
	// counterFree: groups the writer is done with, for the next
	// (a counter is 700 bytes; a new group a second adds up).
	counterFree chan []flow.Counter

	records, aggregates, overflowed, late atomic.Uint64
	dropped, writeErrors                  atomic.Uint64
	// held are finished intervals the writer's queue had no room for:
	// kept, in order, and handed over as room frees (every second, with
	// the counters), so that a stalled output costs no interval while
	// fewer than maxHeld wait (guarded by mu).
	held []write

	queue      chan write // to the writer goroutine
	writerDone chan struct{}
	closing    bool // guarded by mu
	closeOnce  sync.Once
	closeErr   error

	running bool // the flushing goroutine was started
	stop    chan struct{}
	done    chan struct{}
}

// New returns an Aggregator writing to next. It flushes on its own at each
// interval's end; Close flushes what is left.
func New(cfg Config, next pipeline.Output) (*Aggregator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := newAggregator(cfg, next, time.Now)
	a.running = true
	go a.loop()
	return a, nil
}

func newAggregator(cfg Config, next pipeline.Output, now func() time.Time) *Aggregator {
	a := &Aggregator{cfg: cfg, next: next, now: now, entries: make(map[key]*entry),
		stop: make(chan struct{}), done: make(chan struct{}),
		queue: make(chan write, queueBatches), writerDone: make(chan struct{}),
		counterFree: make(chan []flow.Counter, 2)}
	a.created = now()
	a.start = a.created.Truncate(cfg.Interval)
	go a.writer()
	return a
}

func (a *Aggregator) writer() {
	defer close(a.writerDone)
	for w := range a.queue {
		if w.quiet {
			if q, ok := a.next.(QuietWriter); ok {
				if err := q.WriteQuiet(w.start, w.end); err != nil {
					a.writeErrors.Add(1)
				}
			}
			continue
		}
		if w.interval != nil {
			a.writeInterval(w)
			continue
		}
		if w.batch == nil {
			close(w.done)
			continue
		}
		if err := a.next.Write(w.batch); err != nil {
			a.writeErrors.Add(1)
		}
		if len(w.batch.Flows) == 0 && cap(w.batch.Counters) > 0 {
			select {
			case a.counterFree <- w.batch.Counters[:0]:
			default:
			}
		}
	}
}

// writeInterval writes a finished interval's aggregates a chunk at a
// time, giving each chunk's entries back to the free list as soon as it is
// written (new keys of the next interval may be waiting for them), then
// the emptied map.
func (a *Aggregator) writeInterval(w write) {
	n := min(len(w.interval), flushChunk)
	chunk := make([]flow.Record, 0, n)
	done := make([]*entry, 0, n)
	flushOut := func() {
		if len(chunk) == 0 {
			return
		}
		if err := a.next.Write(&pipeline.Batch{Flows: chunk}); err != nil {
			a.writeErrors.Add(1)
		}
		chunk = chunk[:0] // outputs keep nothing of a batch
		a.freeMu.Lock()
		for _, e := range done {
			if len(a.free) >= a.cfg.MaxKeys {
				break
			}
			a.free = append(a.free, e)
		}
		a.freeMu.Unlock()
		clear(done)
		done = done[:0]
	}
	for _, e := range w.interval {
		r := e.rec
		r.Time, r.Start, r.End, r.Samples = w.end, w.start, w.end, e.samples
		if w.refresh != nil && !r.Overflow {
			w.refresh(&r)
		}
		chunk = append(chunk, r)
		done = append(done, e)
		if len(chunk) == flushChunk {
			flushOut()
		}
	}
	flushOut()
	clear(w.interval)
	a.freeMu.Lock()
	if a.spare == nil {
		a.spare = w.interval
	}
	a.freeMu.Unlock()
}

// send hands b to the writer without waiting (but for the last writes, at
// Close, which wait for room rather than be dropped).
func (a *Aggregator) send(b *pipeline.Batch) {
	if a.closing {
		a.queue <- write{batch: b}
		return
	}
	select {
	case a.queue <- write{batch: b}:
	default:
		a.dropped.Add(uint64(len(b.Flows) + len(b.Counters)))
	}
}

// wait returns once the writes handed over so far are done.
func (a *Aggregator) wait() {
	done := make(chan struct{})
	a.queue <- write{done: done}
	<-done
}

// Name is the name of the output it writes to: what logs and metrics
// label it with (they say "aggregate" themselves).
func (a *Aggregator) Name() string { return a.next.Name() }

// Write implements pipeline.Output.
func (a *Aggregator) Write(b *pipeline.Batch) error {
	a.Observe(b.Flows, b.Counters)
	return nil
}

// Observe implements pipeline.Observer: flowlens run has the pipeline's
// input goroutines sum their batches here directly (safe for concurrent
// use), so that no queue of batches is held for the aggregator and no
// goroutine is woken for each batch; writes to the next output still go
// through the aggregator's own writer goroutine.
func (a *Aggregator) Observe(flows []flow.Record, counters []flow.Counter) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range flows {
		a.add(&flows[i])
	}
	a.counters = append(a.counters, counters...)
	if len(a.counters) >= maxCounters || a.now().Sub(a.countersSent) >= counterEvery {
		a.sendCounters()
	}
}

const (
	counterEvery = time.Second
	maxCounters  = 4096
)

func (a *Aggregator) sendCounters() {
	a.moveHeld()
	a.countersSent = a.now()
	if len(a.counters) == 0 {
		return
	}
	n := len(a.counters)
	a.send(&pipeline.Batch{Counters: a.counters})
	// The writer owns the old slice until it hands it back; the next
	// group is likely the same size.
	select {
	case a.counters = <-a.counterFree:
	default:
		a.counters = make([]flow.Counter, 0, n+n/4)
	}
}

func (a *Aggregator) add(r *flow.Record) {
	a.records.Add(1)
	if r.Time.Before(a.start) {
		a.late.Add(1)
	}
	k := keyOf(r)
	e := a.entries[k]
	if e == nil {
		if len(a.entries) >= a.cfg.MaxKeys {
			a.overflowed.Add(1)
			k = overflowKey(r)
			e = a.entries[k]
		}
		if e == nil {
			e = a.newEntry(r, k.overflow)
			a.entries[k] = e
		}
	}
	e.rec.Bytes += r.Bytes
	e.rec.Packets += r.Packets
	e.rec.TCPFlags |= r.TCPFlags
	e.rec.Inner.TCPFlags |= r.Inner.TCPFlags
	if r.Samples > 0 {
		e.samples += r.Samples
	} else {
		e.samples++
	}
	// Names can arrive after a port's first flows.
	if e.rec.In.Name == "" {
		e.rec.In.Name = r.In.Name
	}
	if e.rec.Out.Name == "" {
		e.rec.Out.Name = r.Out.Name
	}
}

func (a *Aggregator) newEntry(r *flow.Record, overflow bool) *entry {
	var e *entry
	a.freeMu.Lock()
	if n := len(a.free); n > 0 {
		e, a.free = a.free[n-1], a.free[:n-1]
	}
	a.freeMu.Unlock()
	if e == nil {
		e = new(entry)
	}
	e.samples, e.liveBytes, e.livePackets, e.liveSamples = 0, 0, 0, 0
	if overflow {
		e.rec = flow.Record{Agent: r.Agent, SubAgent: r.SubAgent, Input: r.Input, Overflow: true}
		return e
	}
	e.rec = *r
	e.rec.Bytes, e.rec.Packets = 0, 0
	// Per-packet details do not describe an aggregate.
	e.rec.Sequence, e.rec.SampleSeq, e.rec.SamplePool, e.rec.Drops = 0, 0, 0, 0
	e.rec.FrameLength, e.rec.Stripped, e.rec.HeaderLength = 0, 0, 0
	e.rec.Truncated = false
	e.rec.TTL, e.rec.IPLength, e.rec.FlowLabel, e.rec.Fragment, e.rec.FragmentOffset = 0, 0, 0, false, 0
	return e
}

// SetRefresh sets a function run on every aggregate before it is written
// (and on what Live hands out): the OpenStack inventory's Enrich, so that
// samples that arrived before the inventory was read (at start-up, or
// before a new port was known) are stored with names, not ids only.
func (a *Aggregator) SetRefresh(f func(*flow.Record)) {
	a.mu.Lock()
	a.refresh = f
	a.mu.Unlock()
}

// Live returns what the current interval has summed since the last call
// (or since the interval started): one record per key that grew, holding
// only the growth, from the previous call's time to now. The store serves
// it so that traffic is visible within seconds, long before the interval
// is written; summed with the interval's aggregates once they are
// written, it would count twice, so the store drops it then.
func (a *Aggregator) Live() []flow.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	from := a.livePulled
	if from.Before(a.start) {
		from = a.start
	}
	if from.Before(a.created) {
		from = a.created
	}
	var out []flow.Record
	for _, e := range a.entries {
		if e.rec.Bytes == e.liveBytes && e.rec.Packets == e.livePackets && e.samples == e.liveSamples {
			continue
		}
		r := e.rec
		r.Bytes, r.Packets, r.Samples = e.rec.Bytes-e.liveBytes, e.rec.Packets-e.livePackets, e.samples-e.liveSamples
		r.Time, r.Start, r.End = now, from, now
		e.liveBytes, e.livePackets, e.liveSamples = e.rec.Bytes, e.rec.Packets, e.samples
		if a.refresh != nil && !r.Overflow {
			a.refresh(&r)
		}
		out = append(out, r)
	}
	a.livePulled = now
	return out
}

// Flush writes the aggregates of the current interval, starts the next,
// and returns once the next output has them.
func (a *Aggregator) Flush() {
	a.flush()
	a.wait()
}

// flush hands the current interval to the writer and starts the next.
func (a *Aggregator) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushLocked(a.now().Truncate(a.cfg.Interval))
}

func (a *Aggregator) flushLocked(next time.Time) {
	a.sendCounters()
	if a.closing {
		// Shutting down: the held intervals go first, waiting for room.
		for _, h := range a.held {
			a.queue <- h
		}
		a.held = nil
	}
	end := a.start.Add(a.cfg.Interval)
	if now := a.now(); now.Before(end) {
		end = now // a partial interval, flushed at shutdown
	}
	if len(a.entries) == 0 {
		if _, ok := a.next.(QuietWriter); ok && end.After(a.start) {
			select {
			case a.queue <- write{quiet: true, start: a.start, end: end}:
			default: // the writer is behind: a quiet interval is the least loss
			}
		}
		a.start = next
		return
	}
	n := len(a.entries)
	w := write{interval: a.entries, start: a.start, end: end, refresh: a.refresh}
	a.freeMu.Lock()
	spare := a.spare
	a.spare = nil
	a.freeMu.Unlock()
	if spare != nil {
		a.entries = spare
	} else {
		a.entries = make(map[key]*entry, n)
	}
	a.start = next
	a.aggregates.Add(uint64(n))
	if a.closing {
		a.queue <- w
		return
	}
	if len(a.held) == 0 {
		select {
		case a.queue <- w:
			return
		default:
		}
	}
	// The writer is behind: hold the interval rather than lose it.
	a.held = append(a.held, w)
	if len(a.held) > maxHeld {
		a.dropped.Add(uint64(len(a.held[0].interval)))
		a.held[0] = write{} // its entries go to the GC
		a.held = a.held[1:]
	}
}

// moveHeld hands the held intervals, oldest first, to the writer while its
// queue has room (mu held).
func (a *Aggregator) moveHeld() {
	for len(a.held) > 0 {
		select {
		case a.queue <- a.held[0]:
			a.held[0] = write{}
			a.held = a.held[1:]
		default:
			return
		}
	}
}

func (a *Aggregator) loop() {
	defer close(a.done)
	for {
		a.mu.Lock()
		wait := a.start.Add(a.cfg.Interval).Sub(a.now())
		a.mu.Unlock()
		if wait < 0 {
			wait = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-a.stop:
			t.Stop()
			return
		case <-t.C:
		}
		a.flush()
	}
}

// Stats returns the counters.
func (a *Aggregator) Stats() Stats {
	a.mu.Lock()
	n, held := len(a.entries), len(a.held)
	a.mu.Unlock()
	return Stats{Records: a.records.Load(), Aggregates: a.aggregates.Load(), Overflowed: a.overflowed.Load(),
		Late: a.late.Load(), Keys: n, Dropped: a.dropped.Load(), WriteErrors: a.writeErrors.Load(), Queued: len(a.queue), Held: held}
}

// Close flushes the current interval, waits for the next output to have
// everything, then closes it. Writes after Close are not allowed.
func (a *Aggregator) Close() error {
	a.closeOnce.Do(func() {
		if a.running {
			close(a.stop)
			<-a.done
		}
		a.mu.Lock()
		a.closing = true
		a.flushLocked(a.now().Truncate(a.cfg.Interval))
		a.mu.Unlock()
		close(a.queue)
		<-a.writerDone
		a.closeErr = a.next.Close()
	})
	return a.closeErr
}
