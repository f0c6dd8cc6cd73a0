// Package elasticsearch writes records to Elasticsearch 7.x/8.x and
// OpenSearch 1.x/2.x with the bulk API.
//
// Write encodes records straight into bulk request bodies ("create" items
// with ids derived from the records, into daily indices or data streams)
// and returns: full requests wait in a small memory queue for the workers,
// which send them gzip-compressed, read every item's result and act on it.
// Documents the cluster rejects for good (mapping or parse errors) go to a
// dead-letter file; those rejected for the moment (429, 5xx) are sent
// again with exponential back-off. When the cluster is down, slow or
// pushing back, requests go to a bounded disk spool, sent again in order
// when it recovers, also after a restart. A document sent twice is created
// once: the second "create" fails with 409, which counts as delivered.
package elasticsearch

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// chunk is one bulk request body being built, queued, sent or spooled.
type chunk struct {
	seq     uint64
	buf     []byte  // action and document lines
	offs    []int32 // where each item (action line) starts
	spooled bool    // read from the spool: its file goes once delivered
	born    time.Time
	free    chan *chunk // where it goes back when done with
}

func (c *chunk) docs() int { return len(c.offs) }

// item returns the action and document lines of item i.
func (c *chunk) item(i int) []byte {
	end := len(c.buf)
	if i+1 < len(c.offs) {
		end = int(c.offs[i+1])
	}
	return c.buf[c.offs[i]:end]
}

// keep leaves only the items listed (ascending) in c.
func (c *chunk) keep(idx []int) {
	w := 0
	for n, i := range idx {
		it := c.item(i)
		copy(c.buf[w:], it)
		c.offs[n] = int32(w)
		w += len(it)
	}
	c.buf = c.buf[:w]
	c.offs = c.offs[:len(idx)]
}

// index rebuilds offs from buf: every item is two lines.
func (c *chunk) index() error {
	c.offs = c.offs[:0]
	for pos, line := 0, 0; pos < len(c.buf); line++ {
		nl := bytes.IndexByte(c.buf[pos:], '\n')
		if nl < 0 {
			return errors.New("bulk body does not end with a newline")
		}
		if line%2 == 0 {
			c.offs = append(c.offs, int32(pos))
		}
		pos += nl + 1
		if pos == len(c.buf) && line%2 == 0 {
			return errors.New("bulk body ends with an action line")
		}
	}
	return nil
}

func (c *chunk) reset() {
	c.buf, c.offs, c.spooled, c.seq = c.buf[:0], c.offs[:0], false, 0
}

// release gives c back to its free list (a bounded one: a sync.Pool is
// emptied by every GC, and these buffers are megabytes).
func (c *chunk) release() {
	if c.free == nil {
		return
	}
	c.reset()
	select {
	case c.free <- c:
	default:
	}
}

// Stats are the output's counters. Every document Write accepted ends up
// Indexed, Duplicate, DeadLettered or Dropped, or is still Queued or
// spooled.
type Stats struct {
	// Accepted documents, encoded by Write.
	Accepted uint64
	// Indexed documents: created by the cluster.
	Indexed uint64
	// Duplicates: "create" found the document already there (409): sent
	// again after its first request's answer was lost. Delivered.
	Duplicates uint64
	// DeadLettered documents: rejected for good (mapping or parse error).
	DeadLettered uint64
	// Retried documents: sent again after a 429, a 5xx or a failed request.
	Retried uint64
	// Dropped documents: lost to the spool's overflow policy, to a spool
	// write error, or (without a spool) to a full memory queue.
	Dropped uint64
	// Requests sent, and those that failed as a whole (connection error,
	// timeout, 429, 5xx).
	Requests, RequestErrors uint64
	// BytesSent: request bodies as sent (compressed).
	BytesSent uint64
	// Queued: full bulk requests waiting in memory (for a worker, or to
	// be written to the spool); Pending: documents in the request being
	// filled.
	Queued, Pending int
	// Ready: the templates are installed (or set-up is off). Down: the
	// last request failed after its retries; new requests go to the spool.
	Ready, Down bool
	// DeadLetterWriteErrors: rejected documents that could not be written
	// to the dead-letter file (still counted in DeadLettered).
	DeadLetterWriteErrors uint64
	Spool                 SpoolStats
}

type counters struct {
	accepted, indexed, duplicates, deadLettered, retried, dropped atomic.Uint64
	requests, requestErrors, bytesSent                            atomic.Uint64
}

// Output is the Elasticsearch/OpenSearch output. Write is called from one
// goroutine; Stats from any.
type Output struct {
	cfg Config
	log *slog.Logger
	cl  *client
	sp  *spool
	dl  *deadLetter

	free      chan *chunk // chunks to reuse
	mq        *memQueue
	spillq    chan *chunk // to the spool, written by spiller (fsync off Write's path)
	spillDone chan struct{}

	mu     sync.Mutex // enc, cur, seq, closed
	enc    *encoder
	cur    *chunk
	seq    uint64
	closed bool

	ctx       context.Context // cancelled when Close gives up waiting
	cancel    context.CancelFunc
	closing   chan struct{}
	ready     chan struct{}
	flushStop chan struct{}
	flushDone chan struct{}
	wg        sync.WaitGroup

	down   atomic.Bool
	streak atomic.Int32 // consecutive give-ups, for the probing back-off
	info   atomic.Pointer[Info]
	st     counters

	warnMu sync.Mutex
	warned map[string]time.Time
	now    func() time.Time
}

// bulkQuery trims the bulk answer to what is read.
const bulkQuery = "/_bulk?filter_path=errors,items.*.status,items.*.error"

// New starts the output. It reads the spool back and starts the workers;
// it does not wait for the cluster, so flowlens starts while the cluster
// is down. With setup_templates, nothing is sent before the templates are
// installed (until then requests queue, then spool).
func New(cfg Config, log *slog.Logger) (*Output, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cl, err := newClient(cfg.URLs, cfg.Auth, cfg.TLS, cfg.Timeout, cfg.Workers)
	if err != nil {
		return nil, fmt.Errorf("output.elasticsearch: %w", err)
	}
	o := &Output{cfg: cfg, log: log, cl: cl, enc: newEncoder(&cfg),
		mq: newMemQueue(cfg.QueueSize), spillq: make(chan *chunk, 2), spillDone: make(chan struct{}), closing: make(chan struct{}), ready: make(chan struct{}),
		flushStop: make(chan struct{}), flushDone: make(chan struct{}), warned: map[string]time.Time{}, now: time.Now}
	o.free = make(chan *chunk, cfg.Workers+2)
	if cfg.Spool.Dir != "" {
		if o.sp, err = openSpool(cfg.Spool.Dir, int64(cfg.Spool.MaxBytes), cfg.Spool.Overflow, log); err != nil {
			return nil, fmt.Errorf("output.elasticsearch: %w", err)
		}
		o.seq = o.sp.maxSeq
	}
	if cfg.DeadLetter.Path != "" {
		if o.dl, err = openDeadLetter(cfg.DeadLetter.Path, int64(cfg.DeadLetter.MaxBytes)); err != nil {
			return nil, fmt.Errorf("output.elasticsearch: %w", err)
		}
		if o.dl.torn > 0 {
			log.Warn("elasticsearch output: the dead-letter file ended in an unfinished line, left by a run killed while writing it: cut off",
				"file", cfg.DeadLetter.Path, "bytes", o.dl.torn)
		}
	}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.wg.Add(1)
	go o.setupLoop()
	for i := 0; i < cfg.Workers; i++ {
		o.wg.Add(1)
		go o.worker()
	}
	go o.flusher()
	go o.spiller()
	return o, nil
}

// Name implements pipeline.Output.
func (o *Output) Name() string { return "elasticsearch" }

// Info returns what was detected of the cluster, or nil before the set-up
// ran (or when setup_templates is off).
func (o *Output) Info() *Info { return o.info.Load() }

var errClosed = errors.New("elasticsearch output: closed")

// Write implements pipeline.Output. It encodes the batch and returns; it
// never waits for the cluster. When the memory queue is full (or the
// cluster is down) full requests go to the spool.
func (o *Output) Write(b *pipeline.Batch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errClosed
	}
	n := 0
	if o.cfg.Flows {
		for i := range b.Flows {
			o.addFlow(&b.Flows[i])
		}
		n += len(b.Flows)
	}
	if o.cfg.Counters {
		for i := range b.Counters {
			o.addCounter(&b.Counters[i])
		}
		n += len(b.Counters)
	}
	o.st.accepted.Add(uint64(n))
	return nil
}

func (o *Output) current() *chunk {
	if o.cur == nil {
		o.cur = o.getChunk()
		o.cur.born = o.now()
	}
	return o.cur
}

func (o *Output) addFlow(r *flow.Record) {
	c := o.current()
	start := len(c.buf)
	c.buf = o.enc.flow(c.buf, r)
	o.added(c, start)
}

func (o *Output) addCounter(r *flow.Counter) {
	c := o.current()
	start := len(c.buf)
	c.buf = o.enc.counter(c.buf, r)
	o.added(c, start)
}

func (o *Output) added(c *chunk, start int) {
	c.offs = append(c.offs, int32(start))
	if len(c.buf) >= int(o.cfg.BatchBytes) || len(c.offs) >= o.cfg.BatchDocs {
		o.seal()
	}
}

// seal queues the current request. Called with mu held.
func (o *Output) seal() {
	c := o.cur
	o.cur = nil
	if c == nil || c.docs() == 0 {
		if c != nil {
			c.release()
		}
		return
	}
	o.seq++
	c.seq = o.seq
	o.enqueue(c)
}

func (o *Output) newSeq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	return o.seq
}

// enqueue hands c to the workers through memory, or through the spool
// when memory is full or the cluster is down. Workers take the oldest
// request of either. Spool files are written (and synced) by the spiller
// goroutine: Write waits for the disk only when the spiller is a whole
// queue behind, that is when the disk is slower than the input.
func (o *Output) enqueue(c *chunk) {
	if (o.sp == nil || !o.down.Load()) && o.mq.push(c) {
		return
	}
	if o.sp == nil {
		o.spill(c)
		return
	}
	o.spillq <- c
}

func (o *Output) spiller() {
	defer close(o.spillDone)
	for c := range o.spillq {
		o.spill(c)
	}
}

// spill writes c to the spool, or drops it (counted) without one.
func (o *Output) spill(c *chunk) {
	defer c.release()
	if o.sp == nil {
		o.st.dropped.Add(uint64(c.docs()))
		o.warn("drop", "elasticsearch output: memory queue full and no spool: documents dropped",
			"dropped_total", o.st.dropped.Load(), "fix", "set output.elasticsearch.spool.dir, or check the cluster")
		return
	}
	dropped, err := o.sp.put(c)
	o.spoolDropped(dropped, err)
}

// spoolDropped counts and reports what a spool write lost.
func (o *Output) spoolDropped(dropped int, err error) {
	if dropped > 0 {
		o.st.dropped.Add(uint64(dropped))
	}
	if err != nil {
		o.warn("spoolerr", "elasticsearch output: cannot write the spool (check the disk of the spool directory)",
			"error", err.Error(), "dir", o.cfg.Spool.Dir, "dropped", dropped, "dropped_total", o.st.dropped.Load())
		return
	}
	if dropped > 0 {
		o.warn("overflow", "elasticsearch output: spool full (max_bytes, or the disk): documents dropped by the overflow policy",
			"policy", o.cfg.Spool.Overflow, "dropped_total", o.st.dropped.Load(), "max_bytes", o.cfg.Spool.MaxBytes,
			"disk_full_total", o.sp.stats().DiskFull)
	}
}

// flusher sends a partial request once it is flush_interval old.
func (o *Output) flusher() {
	defer close(o.flushDone)
	tick := max(o.cfg.FlushInterval/4, 5*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-o.flushStop:
			return
		case <-t.C:
			o.mu.Lock()
			if o.cur != nil && o.now().Sub(o.cur.born) >= o.cfg.FlushInterval {
				o.seal()
			}
			o.mu.Unlock()
			if o.dl != nil {
				o.dl.flush()
			}
		}
	}
}

// Flush queues the documents written so far without waiting for the
// flush interval.
func (o *Output) Flush() {
	o.mu.Lock()
	o.seal()
	o.mu.Unlock()
}

func (o *Output) isClosing() bool {
	select {
	case <-o.closing:
		return true
	default:
		return false
	}
}

// sleep waits d, or less if Close starts; it reports whether it slept.
func (o *Output) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-o.closing:
		return false
	case <-o.ctx.Done():
		return false
	}
}

// backoff is the wait before retry n (0-based): exponential, capped, with
// jitter (half fixed, half random) so that workers and collectors spread.
func (o *Output) backoff(n int) time.Duration {
	d := o.cfg.BackoffMax
	if n < 30 {
		d = min(o.cfg.BackoffInitial<<uint(n), o.cfg.BackoffMax)
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// warn logs at most once every 10 s per key.
func (o *Output) warn(key, msg string, args ...any) {
	now := time.Now()
	o.warnMu.Lock()
	last, ok := o.warned[key]
	if ok && now.Sub(last) < 10*time.Second {
		o.warnMu.Unlock()
		return
	}
	o.warned[key] = now
	o.warnMu.Unlock()
	o.log.Warn(msg, args...)
}

func (o *Output) setupLoop() {
	defer o.wg.Done()
	if !o.cfg.SetupTemplates {
		close(o.ready)
		return
	}
	for attempt := 0; ; attempt++ {
		info, err := setup(o.ctx, o.cl, &o.cfg, o.log)
		if err == nil {
			o.info.Store(&info)
			close(o.ready)
			return
		}
		if o.ctx.Err() != nil {
			return
		}
		o.warn("setup", "elasticsearch output: cannot install the index templates; nothing is sent until it works (documents queue, then spool)",
			"error", err.Error(), "attempt", attempt+1)
		if !o.sleep(o.backoff(attempt)) {
			return
		}
	}
}

func (o *Output) worker() {
	defer o.wg.Done()
	select {
	case <-o.ready:
	case <-o.closing:
		return // Close spools what is queued
	}
	w := &worker{o: o}
	if o.cfg.Compression > 0 {
		w.zw, _ = gzip.NewWriterLevel(&w.zbuf, o.cfg.Compression)
	}
	for {
		c := o.next()
		if c == nil {
			return
		}
		w.ship(c)
	}
}

// next returns the oldest request (lowest sequence number), from memory
// or from the spool. While closing it drains memory only; the spool waits
// for the next start.
func (o *Output) next() *chunk {
	for {
		memWake := o.mq.waitCh()
		var spWake <-chan struct{}
		closing := o.isClosing()
		head, spooled := uint64(0), false
		if o.sp != nil && !closing {
			spWake = o.sp.waitCh()
			head, spooled = o.sp.head()
		}
		if c := o.mq.popBefore(head, spooled); c != nil {
			return c
		}
		if closing {
			return nil
		}
		if spooled {
			if c := o.sp.pop(o.getChunk); c != nil {
				return c
			}
			continue
		}
		select {
		case <-memWake:
		case <-spWake:
		case <-o.closing:
		}
	}
}

func (o *Output) getChunk() *chunk {
	select {
	case c := <-o.free:
		return c
	default:
	}
	// Room for a full request and the document that fills it.
	return &chunk{free: o.free, buf: make([]byte, 0, o.cfg.BatchBytes+64<<10),
		offs: make([]int32, 0, min(o.cfg.BatchDocs, int(o.cfg.BatchBytes)/256+1))}
}

// Close sends what is queued, for at most close_timeout, spools the rest
// and closes the files.
func (o *Output) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.seal()
	o.mu.Unlock()
	close(o.flushStop)
	<-o.flushDone
	close(o.closing)
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(o.cfg.CloseTimeout):
		o.cancel() // in-flight requests fail and go to the spool
		<-done
	}
	o.cancel()
	close(o.spillq)
	<-o.spillDone
	for _, c := range o.mq.drain() {
		o.spill(c)
	}
	var err error
	if o.dl != nil {
		err = o.dl.close()
	}
	s := o.Stats()
	o.log.Info("elasticsearch output closed", "accepted", s.Accepted, "indexed", s.Indexed, "duplicates", s.Duplicates,
		"dead_lettered", s.DeadLettered, "dropped", s.Dropped, "spooled_documents", s.Spool.Documents)
	o.cl.http.CloseIdleConnections()
	return err
}

// Stats returns the output's counters.
func (o *Output) Stats() Stats {
	s := Stats{
		Accepted: o.st.accepted.Load(), Indexed: o.st.indexed.Load(), Duplicates: o.st.duplicates.Load(),
		DeadLettered: o.st.deadLettered.Load(), Retried: o.st.retried.Load(), Dropped: o.st.dropped.Load(),
		Requests: o.st.requests.Load(), RequestErrors: o.st.requestErrors.Load(), BytesSent: o.st.bytesSent.Load(),
		Queued: o.mq.len() + len(o.spillq), Down: o.down.Load(),
	}
	select {
	case <-o.ready:
		s.Ready = true
	default:
	}
	if o.mu.TryLock() {
		if o.cur != nil {
			s.Pending = o.cur.docs()
		}
		o.mu.Unlock()
	}
	if o.sp != nil {
		s.Spool = o.sp.stats()
	}
	if o.dl != nil {
		s.DeadLetterWriteErrors = o.dl.errors()
	}
	return s
}

// worker sends requests; its buffers are reused from one to the next.
type worker struct {
	o          *Output
	zw         *gzip.Writer
	zbuf       bytes.Buffer
	rbuf       bytes.Buffer
	retry      []int
	retryAfter time.Duration
}

// ship delivers c: every item indexed, already there, or dead-lettered.
// What still fails after max_retries goes to the spool (keeping its
// sequence number, so its place in the order).
func (w *worker) ship(c *chunk) {
	o := w.o
	for attempt := 0; ; attempt++ {
		if attempt > 0 || o.down.Load() {
			n := attempt - 1
			if attempt == 0 {
				n = int(o.streak.Load())
			}
			d := max(o.backoff(n), w.retryAfter)
			w.retryAfter = 0
			if !o.sleep(d) {
				break
			}
		}
		tooLarge := w.send(c)
		if tooLarge && c.docs() > 1 {
			w.split(c)
			attempt = -1 // a new request
			continue
		}
		if c.docs() == 0 {
			o.down.Store(false)
			o.streak.Store(0)
			if c.spooled {
				o.sp.ack(c.seq)
			}
			c.release()
			return
		}
		// Without a spool, retry for ever: Write drops new documents
		// (counted) when memory is full, rather than these.
		if o.isClosing() || o.sp != nil && (attempt >= o.cfg.MaxRetries || o.down.Load()) {
			break
		}
		o.st.retried.Add(uint64(c.docs()))
	}
	// Give up for now.
	o.down.Store(true)
	o.streak.Add(1)
	switch {
	case c.spooled:
		o.spoolDropped(o.sp.release(c))
		c.release()
	default:
		o.spill(c)
	}
}

// split sends the second half of c as its own request (for 413).
func (w *worker) split(c *chunk) {
	o := w.o
	half := c.docs() / 2
	c2 := o.getChunk()
	c2.seq = o.newSeq()
	c2.buf = append(c2.buf[:0], c.buf[c.offs[half]:]...)
	base := c.offs[half]
	for _, off := range c.offs[half:] {
		c2.offs = append(c2.offs, off-base)
	}
	c.buf = c.buf[:base]
	c.offs = c.offs[:half]
	if c.spooled {
		// c's file holds both halves; the second gets its own first.
		o.spill(c2)
		return
	}
	w.ship(c2)
}

// send posts c once and removes from it every item that is done with:
// indexed, already there, or dead-lettered. It reports whether the
// cluster refused the request as too large.
func (w *worker) send(c *chunk) (tooLarge bool) {
	o := w.o
	body := c.buf
	if w.zw != nil {
		w.zbuf.Reset()
		w.zw.Reset(&w.zbuf)
		w.zw.Write(c.buf)
		w.zw.Close()
		body = w.zbuf.Bytes()
	}
	base := o.cl.base()
	req, err := http.NewRequestWithContext(o.ctx, http.MethodPost, base+bulkQuery, bytes.NewReader(body))
	if err != nil {
		o.requestFailed(c, o.cl.redact(err.Error()))
		return false
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if w.zw != nil {
		req.Header.Set("Content-Encoding", "gzip")
	}
	o.cl.prepare(req)
	o.st.requests.Add(1)
	o.st.bytesSent.Add(uint64(len(body)))
	resp, err := o.cl.http.Do(req)
	if err != nil {
		o.requestFailed(c, o.cl.redact(err.Error()))
		return false
	}
	w.rbuf.Reset()
	_, err = w.rbuf.ReadFrom(io.LimitReader(resp.Body, 256<<20))
	resp.Body.Close()
	if err != nil {
		o.requestFailed(c, o.cl.redact(fmt.Sprintf("POST %s/_bulk: reading the answer: %v", base, err)))
		return false
	}
	status := resp.StatusCode
	switch {
	case status == http.StatusOK:
		w.items(c, w.rbuf.Bytes())
		return false
	case status == http.StatusRequestEntityTooLarge:
		if c.docs() > 1 {
			return true
		}
		w.deadLetterAll(c, status, "request_entity_too_large", "the document is larger than the cluster accepts (http.max_content_length)")
		return false
	case status == 429 || status >= 500 || status == 408 || status == 401 || status == 403 || status == 404:
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && ra > 0 {
			w.retryAfter = min(time.Duration(ra)*time.Second, o.cfg.BackoffMax)
		}
		msg := o.cl.redact(fmt.Sprintf("POST %s/_bulk: HTTP %d: %s", base, status, errorSummary(w.rbuf.Bytes())))
		if status == 401 || status == 403 {
			o.log.Error("elasticsearch output: the cluster refuses the credentials; documents are kept and sent again", "error", msg)
		}
		o.requestFailed(c, msg)
		return false
	default:
		// The request as a whole is refused: not something a retry fixes.
		typ, reason := "request_rejected", o.cl.redact(fmt.Sprintf("HTTP %d: %s", status, errorSummary(w.rbuf.Bytes())))
		w.deadLetterAll(c, status, typ, reason)
		return false
	}
}

func (o *Output) requestFailed(c *chunk, msg string) {
	o.st.requestErrors.Add(1)
	o.warn("request", "elasticsearch output: bulk request failed; retrying with back-off", "error", msg, "documents", c.docs())
}

func (w *worker) deadLetterAll(c *chunk, status int, typ, reason string) {
	now := w.o.now()
	for i := 0; i < c.docs(); i++ {
		w.o.deadLetter(now, c.item(i), status, typ, reason)
	}
	c.keep(nil)
}

func (o *Output) deadLetter(now time.Time, item []byte, status int, typ, reason string) {
	o.st.deadLettered.Add(1)
	if o.dl != nil {
		o.dl.add(now, item, status, typ, reason)
	}
	o.warn("deadletter", "elasticsearch output: documents rejected by the cluster, written to the dead-letter file",
		"status", status, "type", typ, "reason", reason, "file", o.cfg.DeadLetter.Path, "dead_lettered_total", o.st.deadLettered.Load())
}

type bulkError struct {
	Type     string `json:"type"`
	Reason   string `json:"reason"`
	CausedBy *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"caused_by"`
}

type bulkItem struct {
	Status int        `json:"status"`
	Error  *bulkError `json:"error"`
}

type bulkResponse struct {
	Errors bool                  `json:"errors"`
	Items  []map[string]bulkItem `json:"items"`
}

// errorsFalse reports whether a bulk answer starts with "errors": false,
// the common case, which needs no further reading.
func errorsFalse(b []byte) bool {
	head := b[:min(len(b), 512)]
	i := bytes.Index(head, []byte(`"errors"`))
	if i < 0 {
		return false
	}
	rest := bytes.TrimLeft(head[i+len(`"errors"`):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(rest[1:], " \t\r\n"), []byte("false"))
}

// items reads a 200 bulk answer and acts on every item's result.
func (w *worker) items(c *chunk, body []byte) {
	o := w.o
	if errorsFalse(body) {
		o.st.indexed.Add(uint64(c.docs()))
		c.keep(nil)
		return
	}
	var r bulkResponse
	if err := json.Unmarshal(body, &r); err != nil || len(r.Items) != c.docs() {
		msg := fmt.Sprintf("unreadable bulk answer (%d items for %d documents)", len(r.Items), c.docs())
		if err != nil {
			msg = "unreadable bulk answer: " + err.Error()
		}
		o.requestFailed(c, msg)
		return
	}
	w.retry = w.retry[:0]
	now := o.now()
	var indexed, dups uint64
	for i, m := range r.Items {
		var it bulkItem
		for _, v := range m {
			it = v
		}
		typ, reason := "", ""
		if it.Error != nil {
			typ, reason = it.Error.Type, it.Error.Reason
			if cb := it.Error.CausedBy; cb != nil && cb.Type != "" {
				reason += " (caused by " + cb.Type + ": " + cb.Reason + ")"
			}
		}
		switch classify(it.Status, typ) {
		case itemOK:
			indexed++
		case itemDuplicate:
			dups++
		case itemRetry:
			w.retry = append(w.retry, i)
			o.warn("itemretry", "elasticsearch output: documents rejected for now; retrying with back-off", "status", it.Status, "type", typ, "reason", reason)
		default:
			o.deadLetter(now, c.item(i), it.Status, typ, reason)
		}
	}
	o.st.indexed.Add(indexed)
	o.st.duplicates.Add(dups)
	c.keep(w.retry)
}

type itemClass int

const (
	itemOK itemClass = iota
	itemDuplicate
	itemRetry
	itemDead
)

// classify decides what becomes of a bulk item. 409 on "create" is a
// document that is already there: delivered. 429 and 5xx are the cluster
// pushing back. Authorisation, missing index and index blocks are the
// cluster's configuration, not the document's fault: retried, never
// dead-lettered. Other 4xx (mapping and parse errors) are the document's:
// dead-lettered.
func classify(status int, typ string) itemClass {
	switch {
	case status >= 200 && status < 300:
		return itemOK
	case status == 409:
		return itemDuplicate
	case status == 429 || status >= 500 || status == 401 || status == 403 || status == 404 || status == 408:
		return itemRetry
	case typ == "cluster_block_exception" || typ == "es_rejected_execution_exception" ||
		typ == "circuit_breaking_exception" || typ == "index_not_found_exception" || typ == "security_exception":
		return itemRetry
	case status == 0:
		return itemRetry // no status: an answer we do not understand
	}
	return itemDead
}

// memQueue holds full requests in memory, oldest (lowest sequence number)
// first. Requests given up on go to the spool, so an older one can be on
// disk while newer ones wait here: workers compare both heads.
type memQueue struct {
	mu    sync.Mutex
	items []*chunk
	max   int
	wake  chan struct{}
}

func newMemQueue(n int) *memQueue { return &memQueue{max: n, wake: make(chan struct{})} }

// push adds c unless the queue is full.
func (q *memQueue) push(c *chunk) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) >= q.max {
		return false
	}
	i := len(q.items)
	for i > 0 && q.items[i-1].seq > c.seq {
		i--
	}
	q.items = append(q.items, nil)
	copy(q.items[i+1:], q.items[i:])
	q.items[i] = c
	close(q.wake)
	q.wake = make(chan struct{})
	return true
}

// popBefore takes the oldest request if it is older than seq (or if ok is
// false: there is nothing to compare with).
func (q *memQueue) popBefore(seq uint64, ok bool) *chunk {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 || ok && q.items[0].seq > seq {
		return nil
	}
	c := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	return c
}

func (q *memQueue) waitCh() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wake
}

func (q *memQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *memQueue) drain() []*chunk {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.items
	q.items = nil
	return out
}
