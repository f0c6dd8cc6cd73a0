// Package pipeline is the contract between the inputs and the outputs:
// records in batches (Batch), what an output implements (Output), what
// enrichers, filters and observers implement, and the transport between
// them. A Handler enriches the records of one input goroutine; records
// then travel in batches to every output, each behind its own bounded
// queue, so a slow output can only lose its own records, and every record
// it loses is counted. It imports no decoder and no input: decoders
// (package decode) and other record sources hold a Handler.
package pipeline

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/internal/agents"
	"github.com/flowlens/flowlens/internal/enrich/ifaces"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/lograte"
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

// Log is the logger the pipeline was made with, for the record sources
// that feed it.
func (p *Pipeline) Log() *slog.Logger { return p.log }

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

// maxBatch bounds the records held before they are dispatched. Inputs
// flush only after a lull (udp.flushAfter), so under load batches are this
// size: large enough for an output to take in one go (a write for NDJSON),
// small enough that the records are still in the CPU's cache when the
// output reads them, and that pooled batches stay small (4 096 made the
// default pipeline's peak RSS 20 % larger).
const maxBatch = 1024

// Handler enriches the records of one input goroutine and hands them, in
// batches, to the observers and the outputs. Decoders (package decode)
// and other record sources (Neutron's packet log) each hold one; it is not
// safe for concurrent use and must not be used after Close.
type Handler struct {
	p         *Pipeline
	cache     map[agents.Key]*agents.Stats // this goroutine's view of the registry, lock-free
	batch     *Batch
	enrichers []Enricher
	filters   []Filter
}

// NewHandler returns a handler for one input goroutine, with its own
// enrichers (so they may keep unlocked caches).
func (p *Pipeline) NewHandler() *Handler {
	h := &Handler{p: p, cache: make(map[agents.Key]*agents.Stats)}
	for _, newEnricher := range p.cfg.Enrichers {
		e := newEnricher()
		h.enrichers = append(h.enrichers, e)
		if f, ok := e.(Filter); ok {
			h.filters = append(h.filters, f)
		}
	}
	return h
}

// Stats finds an exporter's counters through the handler's own cache, so
// the registry's lock is taken only for new exporters.
func (h *Handler) Stats(key agents.Key) *agents.Stats {
	st := h.cache[key]
	if st == nil {
		if len(h.cache) > 4096 {
			clear(h.cache)
		}
		st = h.p.Agents.Get(key)
		h.cache[key] = st
	}
	return st
}

// Add enriches flows and queues them with counters for the outputs; they
// go when the batch is full or at Flush. Add keeps neither slice.
func (h *Handler) Add(flows []flow.Record, counters []flow.Counter) {
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

// Flush hands the records gathered so far to the observers and outputs.
func (h *Handler) Flush() {
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

// Records enriches flows and hands them to the outputs at once: for slow
// sources, where batching would only delay them.
func (h *Handler) Records(flows []flow.Record) {
	h.Add(flows, nil)
	h.Flush()
}
