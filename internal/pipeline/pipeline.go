// Package pipeline carries records from the inputs' decoders through
// enrichment to the outputs. Each input socket decodes and enriches in its
// own goroutine, with its own decoder state; records then travel in batches
// to every output, each behind its own bounded queue, so a slow output can
// only lose its own records, and every record it loses is counted.
package pipeline

import (
	"errors"
	"github.com/flowlens/flowlens/internal/lograte"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/internal/agents"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/enrich/ifaces"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/udp"
)

// Batch is a group of records on its way to the outputs. Outputs must not
// keep it, or anything it points to, after Write returns.
type Batch struct {
	Flows    []flow.Record
	Counters []flow.Counter
	refs     atomic.Int32
	p        *Pipeline
}

// Len is the number of records in the batch.
func (b *Batch) Len() int { return len(b.Flows) + len(b.Counters) }

// size is what the batch holds in memory, in records: its capacity, not
// its length, since a pooled batch keeps the arrays it once grew to.
func (b *Batch) size() int64 { return int64(cap(b.Flows) + cap(b.Counters)) }

func (b *Batch) release() {
	if b.refs.Add(-1) == 0 {
		if cap(b.Flows) > 2*maxBatch || cap(b.Counters) > 2*maxBatch {
			return // an exceptional batch: let the GC have it
		}
		b.Flows, b.Counters = b.Flows[:0], b.Counters[:0]
		b.p.pool.Put(b)
	}
}

// Output is a destination for records. Write is called from one goroutine.
type Output interface {
	Name() string
	Write(*Batch) error
	Close() error
}

// Config is the pipeline configuration.
type Config struct {
	// QueueRecords bounds the records each output may have waiting, and
	// so the memory a slow output can hold.
	QueueRecords int
	// Decoder options for sFlow.
	SFlow sflow.Options
	// NetFlow/IPFIX decoder options and the template cache every NetFlow
	// socket shares (nil: no NetFlow input).
	NetFlow   netflow.Options
	Templates *netflow.Templates
	// Enrichers make, for each input goroutine, the enrichers its records
	// go through after the interface inventory, in order.
	Enrichers []func() Enricher
	// Observers see every batch before the outputs, in the input
	// goroutine that made it (see Observer).
	Observers []Observer
	// Wait makes a full queue hold up the input instead of dropping:
	// right for reading files, wrong for live UDP, where holding up the
	// socket only moves the loss into the kernel, uncounted by us.
	Wait bool
}

// Filter is an Enricher that can also say a record is not to be kept
// (e.g. a sample that is no flow at all); Keep runs after every Enrich.
type Filter interface {
	Keep(*flow.Record) bool
}

// Observer looks at every batch, in the input goroutine that filled it,
// before it goes to the outputs: for quick in-memory accounting (the
// accuracy tracker) that would otherwise be an output of its own, with a
// queue holding batches and a goroutine to wake for each. Observe must be
// safe for concurrent use (each input socket calls it), must not keep the
// slices, and must not change them.
type Observer interface {
	Observe(flows []flow.Record, counters []flow.Counter)
}

// Enricher adds information to a flow record. Each input goroutine has its
// own, so enrichers may keep unlocked caches.
type Enricher interface {
	Enrich(*flow.Record)
}

// Pipeline connects inputs to outputs.
type Pipeline struct {
	cfg       Config
	log       *slog.Logger
	Agents    *agents.Registry
	Inventory *ifaces.Inventory
	outputs   []*queue
	pool      sync.Pool
	wg        sync.WaitGroup
	stopped   bool
	// ovsSeq: the sequence of each Open vSwitch IPFIX exporter address
	// (*agents.Stats), across its observation domains; as bounded as the
	// template cache's exporters.
	ovsSeq sync.Map
}

// queue is one output's bounded queue and its counters.
type queue struct {
	out     Output
	ch      chan *Batch
	written atomic.Uint64 // records
	dropped atomic.Uint64 // records lost because the queue was full
	errors  atomic.Uint64 // failed writes
	failed  atomic.Uint64 // records in failed writes
	log     lograte.Limiter
	queued  atomic.Int64 // records waiting
	limit   int64
}

// OutputStats describes one output.
type OutputStats struct {
	Name                      string
	Written, Dropped, Errored uint64
	Queued                    int // batches waiting
	// QueuedRecords is what counts against QueueLimit: the records the
	// waiting batches can hold (their capacity, as that is their memory).
	QueuedRecords, QueueLimit int64
}

// New returns a pipeline writing to outputs.
func New(cfg Config, log *slog.Logger, outputs ...Output) *Pipeline {
	if cfg.QueueRecords <= 0 {
		cfg.QueueRecords = 65536
	}
	p := &Pipeline{cfg: cfg, log: log, Agents: agents.NewRegistry(), Inventory: ifaces.New()}
	p.pool.New = func() any { return &Batch{p: p} }
	for _, o := range outputs {
		q := &queue{out: o, ch: make(chan *Batch, 4096), limit: int64(cfg.QueueRecords)}
		p.outputs = append(p.outputs, q)
		p.wg.Add(1)
		go p.drain(q)
	}
	return p
}

func (p *Pipeline) drain(q *queue) {
	defer p.wg.Done()
	for b := range q.ch {
		n := uint64(b.Len())
		q.queued.Add(-b.size())
		if err := q.out.Write(b); err != nil {
			q.errors.Add(1)
			q.failed.Add(n)
			p.rateLog(q, "output failed to write records", "output", q.out.Name(), "records", n, "error", err)
		} else {
			q.written.Add(n)
		}
		b.release()
	}
}

// rateLog logs at most once every 10 s per output.
func (p *Pipeline) rateLog(q *queue, msg string, args ...any) {
	if ok, _ := q.log.Allow(time.Now(), 10*time.Second); ok {
		p.log.Warn(msg, args...)
	}
}

func (p *Pipeline) dispatch(b *Batch) {
	if len(p.outputs) == 0 {
		b.refs.Store(1)
		b.release()
		return
	}
	b.refs.Store(int32(len(p.outputs)))
	n, size := int64(b.Len()), b.size()
	for _, q := range p.outputs {
		if p.cfg.Wait {
			q.queued.Add(size)
			q.ch <- b
			continue
		}
		if q.queued.Add(size) <= q.limit {
			select {
			case q.ch <- b:
				continue
			default:
			}
		}
		q.queued.Add(-size)
		q.dropped.Add(uint64(n))
		p.rateLog(q, "output queue full: records dropped (the output is slower than the input)",
			"output", q.out.Name(), "dropped_total", q.dropped.Load())
		b.release()
	}
}

// Close waits for the outputs to write what is queued, then closes them,
// then the observers that have a Close method. Inputs must be stopped
// first.
func (p *Pipeline) Close() error {
	if p.stopped {
		return nil
	}
	p.stopped = true
	for _, q := range p.outputs {
		close(q.ch)
	}
	p.wg.Wait()
	var errs []error
	for _, q := range p.outputs {
		if err := q.out.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	// Then the observers that have something to close (an aggregator
	// flushes its interval to its output and closes it).
	for _, o := range p.cfg.Observers {
		if c, ok := o.(interface{ Close() error }); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Outputs returns each output's counters.
func (p *Pipeline) Outputs() []OutputStats {
	out := make([]OutputStats, len(p.outputs))
	for i, q := range p.outputs {
		out[i] = OutputStats{Name: q.out.Name(), Written: q.written.Load(), Dropped: q.dropped.Load(),
			Errored: q.failed.Load(), Queued: len(q.ch), QueuedRecords: q.queued.Load(), QueueLimit: q.limit}
	}
	return out
}

// SFlowHandler returns a new handler for one input socket. It is also what
// `flowlens decode` feeds captured datagrams to.
func (p *Pipeline) SFlowHandler() *SFlowHandler {
	return &SFlowHandler{handler: p.newHandler(), dec: sflow.NewDecoder(p.cfg.SFlow)}
}

// UDPHandler adapts SFlowHandler to the udp package.
func (p *Pipeline) UDPHandler(int) udp.Handler { return p.SFlowHandler() }

// SFlowHandler decodes, accounts for and enriches the datagrams of one
// socket. It is not safe for concurrent use.
type SFlowHandler struct {
	handler
	dec *sflow.Decoder
	res sflow.Result
}

// maxBatch bounds the records held before they are dispatched.
const maxBatch = 4096

// Datagram handles one datagram.
func (h *SFlowHandler) Datagram(b []byte, src netip.AddrPort, now time.Time) {
	err := h.dec.Decode(b, now, &h.res)
	o := agents.Observation{Size: len(b), Flows: len(h.res.Flows), Counters: len(h.res.Counters),
		Unknown: h.res.UnknownRecords, UnknownSamples: h.res.UnknownSamples}
	// A type assertion, not errors.As: the decoder returns the value
	// itself, and errors.As would allocate its target on every datagram.
	if se, ok := err.(sflow.Error); ok {
		o.Error = se.Reason.String()
	}
	hdr := &h.res.Header
	key := agents.Key{Agent: hdr.Agent, SubAgent: hdr.SubAgent, Input: flow.InputSFlow}
	if h.res.HeaderOK {
		o.HeaderOK, o.Sequence, o.Step, o.Uptime = true, hdr.Sequence, 1, hdr.Uptime
		o.Source = src.Addr().Unmap()
	} else {
		// Without a header the datagram belongs to whoever sent it.
		key = agents.Key{Agent: src.Addr().Unmap(), SubAgent: agents.NoSubAgent, Input: flow.InputSFlow}
	}
	st := h.p.stats(h.cache, key)
	_, logIt := st.Observe(now, &o)
	for r, n := range h.res.SampleErrors {
		st.AddErrors(sflow.Reason(r).String(), uint64(n))
	}
	if logIt {
		h.p.log.Warn("bad sFlow datagram dropped (logged at most every 10 s per agent)",
			"from", src.String(), "agent", key.Agent.String(), "reason", o.Error, "size", len(b))
	}
	if o.LogConflict {
		h.p.log.Warn("two exporters send sFlow with the same agent address and sub-agent: their sequence numbers, loss and ports mix (logged at most every minute)",
			"agent", key.Agent.String(), "sub_agent", key.SubAgent, "first_source", st.FirstSource().String(), "other_source", src.Addr().Unmap().String(),
			"fix", "give each exporter an agent address of its own (Open vSwitch: flowlens ovs configure --agent IFACE, an interface with a unique address)")
	}
	if len(h.res.Flows) == 0 && len(h.res.Counters) == 0 {
		return
	}
	// Counters first: a port's name may arrive in the same datagram as
	// its first flows.
	for i := range h.res.Counters {
		h.p.Inventory.Update(&h.res.Counters[i])
	}
	h.add(h.res.Flows, h.res.Counters)
}

// stats finds an exporter's Stats through a goroutine-local cache, so the
// registry's lock is taken only for new exporters.
func (p *Pipeline) stats(cache map[agents.Key]*agents.Stats, key agents.Key) *agents.Stats {
	st := cache[key]
	if st == nil {
		if len(cache) > 4096 {
			clear(cache)
		}
		st = p.Agents.Get(key)
		cache[key] = st
	}
	return st
}

// handler is what the protocol handlers share: enrichment and batching.
type handler struct {
	p         *Pipeline
	cache     map[agents.Key]*agents.Stats // this socket's view of the registry, lock-free
	batch     *Batch
	enrichers []Enricher
	filters   []Filter
}

func (p *Pipeline) newHandler() handler {
	h := handler{p: p, cache: make(map[agents.Key]*agents.Stats)}
	for _, newEnricher := range p.cfg.Enrichers {
		e := newEnricher()
		h.enrichers = append(h.enrichers, e)
		if f, ok := e.(Filter); ok {
			h.filters = append(h.filters, f)
		}
	}
	return h
}

// add enriches flows and queues them with counters for the outputs.
func (h *handler) add(flows []flow.Record, counters []flow.Counter) {
	if len(flows) == 0 && len(counters) == 0 {
		return
	}
	for i := range flows {
		h.p.Inventory.Enrich(&flows[i])
		for _, e := range h.enrichers {
			e.Enrich(&flows[i])
		}
	}
	if len(h.filters) > 0 {
		kept := flows[:0]
	next:
		for i := range flows {
			for _, f := range h.filters {
				if !f.Keep(&flows[i]) {
					continue next
				}
			}
			kept = append(kept, flows[i])
		}
		flows = kept
	}
	if h.batch == nil {
		h.batch = h.p.pool.Get().(*Batch)
	}
	h.batch.Flows = append(h.batch.Flows, flows...)
	h.batch.Counters = append(h.batch.Counters, counters...)
	if h.batch.Len() >= maxBatch {
		h.Flush()
	}
}

// Flush hands the records gathered so far to the outputs.
func (h *handler) Flush() {
	for _, e := range h.enrichers {
		if f, ok := e.(interface{ Flush() }); ok {
			f.Flush()
		}
	}
	if h.batch == nil {
		return
	}
	b := h.batch
	h.batch = nil
	for _, o := range h.p.cfg.Observers {
		o.Observe(b.Flows, b.Counters)
	}
	h.p.dispatch(b)
}

// RecordHandler enriches and queues records that were not decoded from
// datagrams (Neutron's packet log). It is not safe for concurrent use; it
// must not be used after Close.
type RecordHandler struct{ handler }

// RecordHandler returns a new handler for one record source.
func (p *Pipeline) RecordHandler() *RecordHandler { return &RecordHandler{handler: p.newHandler()} }

// Records enriches flows and hands them to the outputs at once (such
// sources are slow: batching would only delay them).
func (h *RecordHandler) Records(flows []flow.Record) {
	h.add(flows, nil)
	h.Flush()
}

// NetFlowHandler decodes, accounts for and enriches the NetFlow v5/v9 and
// IPFIX datagrams of one socket. It is not safe for concurrent use.
type NetFlowHandler struct {
	handler
	dec *netflow.Decoder
	res netflow.Result
}

// NetFlowHandler returns a new handler for one NetFlow/IPFIX socket.
func (p *Pipeline) NetFlowHandler() *NetFlowHandler {
	return &NetFlowHandler{handler: p.newHandler(), dec: netflow.NewDecoder(p.cfg.Templates, p.cfg.NetFlow)}
}

// NetFlowUDPHandler adapts NetFlowHandler to the udp package.
func (p *Pipeline) NetFlowUDPHandler(int) udp.Handler { return p.NetFlowHandler() }

// Datagram handles one datagram.
func (h *NetFlowHandler) Datagram(b []byte, src netip.AddrPort, now time.Time) {
	err := h.dec.Decode(b, src, now, &h.res)
	r := &h.res
	o := agents.Observation{Size: len(b), Flows: len(r.Flows), Unknown: r.UnknownSets}
	if ne, ok := err.(netflow.Error); ok {
		o.Error = ne.Reason.String()
	}
	key := agents.Key{Agent: src.Addr().Unmap(), SubAgent: r.Domain, Input: flow.InputIPFIX}
	switch r.Version {
	case 5:
		key.Input = flow.InputNetFlowV5
	case 9:
		key.Input = flow.InputNetFlowV9
	}
	if r.HeaderOK {
		o.HeaderOK, o.Sequence = true, r.Sequence
		switch r.Version {
		case 5: // flows seen before this datagram (Open vSwitch: up to and including it)
			o.Step, o.StepIncluded = uint32(len(r.Flows)), true
		case 9: // datagrams
			o.Step, o.Uptime = 1, r.SysUptime
		default: // IPFIX: data records, options data included, before this message (softflowd: up to and including it)
			o.Step = uint32(len(r.Flows)) - r.PendingRecords - r.ReverseRecords + r.OptionsRecords
			o.StepIncluded = true
			o.Resync = r.PendingHeld > 0 // held sets have records we cannot count yet
		}
	} else {
		key.SubAgent = agents.NoSubAgent
	}
	// Open vSwitch numbers the IPFIX messages of all its observation
	// domains in one sequence (one counter per exporter): measured per
	// domain, each domain would count the others' messages as lost. The
	// loss goes to the row of the datagram that revealed it.
	var shared uint64
	if r.Version == 10 && r.OpenVSwitch && o.HeaderOK {
		seq, ok := h.p.ovsSeq.Load(key.Agent)
		if !ok { // allocated once per exporter, not per datagram
			seq, _ = h.p.ovsSeq.LoadOrStore(key.Agent, agents.NewSequence())
		}
		shared, _ = seq.(*agents.Stats).Observe(now, &agents.Observation{HeaderOK: true, Sequence: o.Sequence, Step: o.Step,
			StepIncluded: o.StepIncluded, Resync: o.Resync})
		o.HeaderOK = false
	}
	st := h.p.stats(h.cache, key)
	_, logIt := st.Observe(now, &o)
	st.AddLost(shared)
	for reason, n := range r.Errors {
		st.AddErrors(netflow.Reason(reason).String(), uint64(n))
	}
	st.AddErrors("no_template_expired", uint64(r.PendingExpired))
	st.AddErrors("no_template_overflow", uint64(r.PendingOverflow))
	st.AddPending(uint64(r.PendingHeld), uint64(r.PendingDecoded))
	if logIt {
		h.p.log.Warn("bad NetFlow/IPFIX datagram dropped (logged at most every 10 s per exporter)",
			"from", src.String(), "reason", o.Error, "size", len(b))
	}
	for _, i := range r.Interfaces {
		h.p.Inventory.Learn(key.Agent, i.Index, i.Name, now)
	}
	h.add(r.Flows, nil)
}
