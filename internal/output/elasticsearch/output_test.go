package elasticsearch

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// Mixed per-item results (201, 400 mapper_parsing_exception, 429
// es_rejected_execution_exception, 503, 409), whole-request 429 and 503,
// and a request processed whose answer is lost: every document ends up
// indexed exactly once, except the ones with a mapping error, which are in
// the dead-letter file with their reason, and only those.
func TestPartialFailuresNoLossNoDuplicates(t *testing.T) {
	f, srv := newFakeES(t, "es8")
	const n = 1000
	recs := make([]flow.Record, n)
	bad := map[string]bool{}
	pre := map[string]bool{}
	for i := range recs {
		recs[i] = genRecord(i)
		if i%97 == 5 {
			recs[i].DstPort = 666 // the "cluster" rejects these
			bad[idOf(&recs[i])] = true
		} else if i%13 == 0 {
			pre[idOf(&recs[i])] = true // delivered by an earlier run
		}
	}
	for k := range pre {
		f.docs[k] = []byte(`{}`)
	}
	f.itemFail = func(id string, doc []byte, attempt int) (int, string, string) {
		h := crc32.ChecksumIEEE([]byte(id))
		switch {
		case bytes.Contains(doc, []byte(`"port":666,`)):
			return 400, "mapper_parsing_exception", "failed to parse field [destination.port] of type [integer]: injected"
		case h%7 == 0 && attempt <= 2:
			return 429, "es_rejected_execution_exception", "rejected execution of primary operation"
		case h%11 == 0 && attempt == 1:
			return 503, "unavailable_shards_exception", "primary shard is not active"
		}
		return 0, "", ""
	}
	f.reqFail = func(n int) (int, bool) {
		switch n {
		case 2:
			return 429, false
		case 4:
			return 503, false
		case 6, 9:
			return 0, true // processed, answer lost
		}
		return 0, false
	}
	cfg := testConfig(t, srv.URL)
	log, _ := testLogger(t)
	o, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	counters := 0
	for i := 0; i < n; i += 100 {
		b := &pipeline.Batch{Flows: append([]flow.Record(nil), recs[i:i+100]...)}
		for j := 0; j < 10; j++ {
			b.Counters = append(b.Counters, genCounter(i+j))
			counters++
		}
		if err := o.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every document", 10*time.Second, func() bool {
		s := o.Stats()
		return s.Indexed+s.Duplicates+s.DeadLettered == s.Accepted
	})
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	s := o.Stats()
	stored := f.stored()
	for i := range recs {
		k := idOf(&recs[i])
		_, ok := stored[k]
		if bad[k] && ok {
			t.Errorf("record %d was rejected but is stored", i)
		}
		if !bad[k] && !ok {
			t.Errorf("record %d lost", i)
		}
	}
	wantStored := n - len(bad) + counters
	if len(stored) != wantStored {
		t.Errorf("%d documents stored, want %d", len(stored), wantStored)
	}
	// No duplicates: one document per record (ids are per record, and
	// no record is stored under two ids).
	seen := map[string]bool{}
	for k, src := range stored {
		if pre[k] {
			continue
		}
		var d struct {
			Event    struct{ Dataset string }
			Flowlens struct {
				Sflow struct {
					SampleSequence int `json:"sample_sequence"`
				}
			}
		}
		if err := json.Unmarshal(src, &d); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		key := d.Event.Dataset + "/" + strconv.Itoa(d.Flowlens.Sflow.SampleSequence)
		if seen[key] {
			t.Errorf("record stored twice: %s", key)
		}
		seen[key] = true
	}
	dl := readDeadLetters(t, cfg.DeadLetter.Path)
	if len(dl) != len(bad) {
		t.Errorf("%d dead letters, want %d", len(dl), len(bad))
	}
	for _, e := range dl {
		if !bad[e.Index+"/"+e.ID] {
			t.Errorf("unexpected dead letter %s/%s", e.Index, e.ID)
		}
		if e.Status != 400 || e.Error.Type != "mapper_parsing_exception" || !strings.Contains(e.Error.Reason, "injected") {
			t.Errorf("dead letter without its reason: %+v", e)
		}
		var doc struct{ Destination struct{ Port int } }
		if err := json.Unmarshal(e.Document, &doc); err != nil || doc.Destination.Port != 666 {
			t.Errorf("dead letter document: %s (%v)", e.Document, err)
		}
	}
	if s.Accepted != uint64(n+counters) || s.DeadLettered != uint64(len(bad)) || s.Dropped != 0 {
		t.Errorf("stats %+v", s)
	}
	if s.Indexed+s.Duplicates+s.DeadLettered != s.Accepted {
		t.Errorf("accounting: indexed %d + duplicates %d + dead-lettered %d != accepted %d", s.Indexed, s.Duplicates, s.DeadLettered, s.Accepted)
	}
	// The pre-existing ones, and those of the requests whose answer was
	// lost, came back as 409: delivered, not duplicated.
	if s.Duplicates <= uint64(len(pre)) {
		t.Errorf("duplicates %d: want more than the %d pre-existing documents", s.Duplicates, len(pre))
	}
	if s.Retried == 0 || s.RequestErrors < 4 {
		t.Errorf("retries not exercised: %+v", s)
	}
	if s.Spool.Files != 0 || s.Spool.Documents != 0 {
		t.Errorf("spool not empty: %+v", s.Spool)
	}
	if f.gzipped == 0 {
		t.Error("requests were not gzip-compressed")
	}
	// Daily indices from each record's @timestamp: the stream crosses
	// midnight.
	days := map[string]bool{}
	for k := range stored {
		days[k[:strings.Index(k, "/")]] = true
	}
	for _, want := range []string{"flow-2026.11.26", "flow-2026.11.27", "flow-counters-2026.11.26", "flow-counters-2026.11.27"} {
		if !days[want] {
			t.Errorf("no document in %s (indices %v)", want, days)
		}
	}
}

// arrivalOrder returns the sflow sample sequence of stored flow documents
// in the order the cluster created them.
func arrivalOrder(t *testing.T, f *fakeES) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, k := range f.arrival {
		var d struct {
			Event    struct{ Dataset string }
			Flowlens struct {
				Sflow struct {
					SampleSequence int `json:"sample_sequence"`
				}
			}
		}
		if err := json.Unmarshal(f.docs[k], &d); err != nil {
			t.Fatal(err)
		}
		if d.Event.Dataset == flow.DatasetFlow {
			out = append(out, d.Flowlens.Sflow.SampleSequence)
		}
	}
	return out
}

// The cluster goes down while documents arrive: requests go to the spool
// and are shipped in order when it comes back.
func TestSpoolWhileDownDrainsInOrder(t *testing.T) {
	f, srv := newFakeES(t, "os2")
	cfg := testConfig(t, srv.URL)
	cfg.Workers, cfg.BatchDocs, cfg.MaxRetries, cfg.QueueSize = 1, 20, 2, 4
	cfg.Counters = false
	o, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	waitFor(t, "templates", 5*time.Second, func() bool { return o.Stats().Ready })
	f.setDown(true)
	for i := 0; i < 600; i += 20 {
		o.Write(batchOf(i, 20, 0))
	}
	waitFor(t, "spooling", 5*time.Second, func() bool { s := o.Stats(); return s.Down && s.Spool.Files > 10 })
	if f.count() != 0 {
		t.Fatal("documents stored while down")
	}
	f.setDown(false)
	waitFor(t, "recovery", 10*time.Second, func() bool { return f.count() == 600 })
	order := arrivalOrder(t, f)
	if !sort.IntsAreSorted(order) {
		t.Errorf("not shipped in order: %v", order)
	}
	waitFor(t, "spool emptied", 5*time.Second, func() bool { s := o.Stats(); return s.Spool.Files == 0 && !s.Down })
}

// The cluster goes away under continuous load (one request processed but
// its answer lost, then every connection closed without an answer), for
// longer than the retries last, and comes back while the load goes on:
// every record written before, during and after is stored exactly once,
// and the spool drains. bench/es-outage.sh is the long version of this,
// with `flowlens run` and a 10-minute outage.
func TestOutageUnderLoadExactlyOnce(t *testing.T) {
	f, srv := newFakeES(t, "es8")
	cfg := testConfig(t, srv.URL)
	cfg.Counters = false
	o, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	waitFor(t, "templates", 5*time.Second, func() bool { return o.Stats().Ready })

	stop := make(chan struct{})
	written := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				written <- n
				return
			default:
			}
			if err := o.Write(batchOf(n, 10, 0)); err != nil {
				t.Error(err)
			}
			n += 10
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(150 * time.Millisecond)
	f.mu.Lock()
	lost := f.bulks + 1
	f.reqFail = func(n int) (int, bool) { return 0, n == lost }
	f.mu.Unlock()
	waitFor(t, "a request whose answer is lost", 5*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.bulks >= lost
	})
	f.mu.Lock()
	f.refuse = true
	f.mu.Unlock()
	waitFor(t, "spooling", 5*time.Second, func() bool { s := o.Stats(); return s.Down && s.Spool.Files > 2 })
	time.Sleep(300 * time.Millisecond)
	f.mu.Lock()
	f.refuse = false
	f.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	n := <-written

	waitFor(t, "every document", 20*time.Second, func() bool {
		s := o.Stats()
		return s.Accepted == uint64(n) && s.Indexed+s.Duplicates == s.Accepted && s.Spool.Files == 0
	})
	s := o.Stats()
	if s.Dropped != 0 || s.DeadLettered != 0 || s.Spool.Documents != 0 {
		t.Errorf("stats %+v", s)
	}
	if s.Duplicates == 0 {
		t.Errorf("the request whose answer was lost was not sent again (no 409): %+v", s)
	}
	stored := f.stored()
	if len(stored) != n {
		t.Errorf("%d documents stored, %d written", len(stored), n)
	}
	for i := 0; i < n; i++ {
		r := genRecord(i)
		if _, ok := stored[idOf(&r)]; !ok {
			t.Fatalf("record %d of %d lost", i, n)
		}
	}
	// One document per record: no record stored under a second id.
	seen := map[int]bool{}
	for k, src := range stored {
		var d struct {
			Flowlens struct {
				Sflow struct {
					SampleSequence int `json:"sample_sequence"`
				}
			}
		}
		if err := json.Unmarshal(src, &d); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if seen[d.Flowlens.Sflow.SampleSequence] {
			t.Errorf("record %d stored twice", d.Flowlens.Sflow.SampleSequence)
		}
		seen[d.Flowlens.Sflow.SampleSequence] = true
	}
}

// Down from the start (even GET / fails): everything is spooled at Close,
// and a new instance ships it, in order, when the cluster is back.
func TestSpoolSurvivesRestart(t *testing.T) {
	f, srv := newFakeES(t, "es7")
	f.setDown(true)
	cfg := testConfig(t, srv.URL)
	cfg.Workers, cfg.BatchDocs, cfg.QueueSize = 1, 25, 2
	o, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i += 50 {
		o.Write(batchOf(i, 50, 5))
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	s := o.Stats()
	if s.Spool.Documents != 550 || s.Indexed != 0 || s.Dropped != 0 {
		t.Fatalf("after close: %+v", s)
	}
	files, _ := filepath.Glob(filepath.Join(cfg.Spool.Dir, "*.spool"))
	if len(files) == 0 {
		t.Fatal("no spool file")
	}
	f.setDown(false)
	o2, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the spool to drain", 10*time.Second, func() bool { return f.count() == 550 })
	if err := o2.Close(); err != nil {
		t.Fatal(err)
	}
	if s := o2.Stats(); s.Indexed != 550 || s.Spool.Files != 0 {
		t.Errorf("second instance: %+v", s)
	}
	if order := arrivalOrder(t, f); !sort.IntsAreSorted(order) {
		t.Errorf("not shipped in order: %v", order)
	}
	if files, _ := filepath.Glob(filepath.Join(cfg.Spool.Dir, "*")); len(files) != 0 {
		t.Errorf("spool files left: %v", files)
	}
}

// A full spool loses documents as its policy says, and counts them.
func TestSpoolOverflowPolicies(t *testing.T) {
	for _, policy := range []string{DropOldest, DropNewest} {
		t.Run(policy, func(t *testing.T) {
			f, srv := newFakeES(t, "es8")
			f.setDown(true)
			cfg := testConfig(t, srv.URL)
			cfg.Workers, cfg.BatchDocs, cfg.QueueSize, cfg.Counters = 1, 1000, 1, false
			cfg.Spool.MaxBytes, cfg.Spool.Overflow = 1<<20, policy
			o, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			const total = 30000
			for i := 0; i < total; i += 1000 {
				o.Write(batchOf(i, 1000, 0))
			}
			o.Close()
			s := o.Stats()
			if s.Dropped == 0 || s.Spool.DroppedDocuments != s.Dropped || s.Spool.Bytes > int64(cfg.Spool.MaxBytes) {
				t.Fatalf("overflow not applied or not counted: %+v", s)
			}
			if s.Spool.Documents+int64(s.Dropped) != total {
				t.Fatalf("spooled %d + dropped %d != %d", s.Spool.Documents, s.Dropped, total)
			}
			// What is left, oldest first, read back as the next start would.
			sp, err := openSpool(cfg.Spool.Dir, int64(cfg.Spool.MaxBytes), policy, nil)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int
			for c := sp.pop(func() *chunk { return &chunk{} }); c != nil; c = sp.pop(func() *chunk { return &chunk{} }) {
				for i := 0; i < c.docs(); i++ {
					_, doc, _ := bytes.Cut(c.item(i), []byte("\n"))
					var d struct {
						Flowlens struct {
							Sflow struct {
								SampleSequence int `json:"sample_sequence"`
							}
						}
					}
					json.Unmarshal(doc, &d)
					seqs = append(seqs, d.Flowlens.Sflow.SampleSequence)
				}
			}
			if int64(len(seqs)) != s.Spool.Documents || !sort.IntsAreSorted(seqs) {
				t.Fatalf("spool holds %d documents (stats: %d), sorted %v", len(seqs), s.Spool.Documents, sort.IntsAreSorted(seqs))
			}
			first, last := seqs[0], seqs[len(seqs)-1]
			if policy == DropOldest && (first == 0 || last != total-1) {
				t.Errorf("drop_oldest kept %d..%d", first, last)
			}
			if policy == DropNewest && (first != 0 || last == total-1) {
				t.Errorf("drop_newest kept %d..%d", first, last)
			}
		})
	}
}

// Corrupt spool files found at start-up are moved aside and reported; the
// good ones are shipped.
func TestCorruptSpoolFilesMovedAside(t *testing.T) {
	f, srv := newFakeES(t, "es8")
	cfg := testConfig(t, srv.URL)
	log, logs := testLogger(t)
	sp, err := openSpool(cfg.Spool.Dir, int64(int64(cfg.Spool.MaxBytes)), DropOldest, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := newEncoder(&cfg)
	c := &chunk{seq: 9}
	for i := 0; i < 10; i++ {
		r := genRecord(i)
		c.offs = append(c.offs, int32(len(c.buf)))
		c.buf = enc.flow(c.buf, &r)
	}
	if _, err := sp.put(c); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(sp.path(9))
	os.WriteFile(filepath.Join(cfg.Spool.Dir, "0000000000000003.spool"), []byte("not a spool file"), 0o640)
	os.WriteFile(filepath.Join(cfg.Spool.Dir, "0000000000000004.spool"), good[:len(good)-7], 0o640)
	bits := append([]byte(nil), good...)
	bits[len(bits)-3] ^= 0xff
	os.WriteFile(filepath.Join(cfg.Spool.Dir, "0000000000000005.spool"), bits, 0o640)
	os.WriteFile(filepath.Join(cfg.Spool.Dir, "0000000000000006.spool.tmp"), []byte("half written"), 0o640)
	os.WriteFile(filepath.Join(cfg.Spool.Dir, ".0000000000000007.spool.tmp4242"), []byte("half written"), 0o640) // statefile's name

	o, err := New(cfg, log)
	if err != nil {
		t.Fatalf("corrupt spool files must not be fatal: %v", err)
	}
	waitFor(t, "the good file", 5*time.Second, func() bool { return f.count() == 10 })
	o.Close()
	if s := o.Stats(); s.Spool.Corrupt != 3 {
		t.Errorf("corrupt files counted: %+v", s.Spool)
	}
	aside, _ := filepath.Glob(filepath.Join(cfg.Spool.Dir, "*.corrupt-*"))
	if len(aside) != 3 {
		t.Errorf("moved aside: %v", aside)
	}
	if !strings.Contains(logs.String(), "corrupt spool file moved aside") {
		t.Error("corrupt files not reported in the log")
	}
	for _, n := range []string{"0000000000000006.spool.tmp", ".0000000000000007.spool.tmp4242"} {
		if _, err := os.Stat(filepath.Join(cfg.Spool.Dir, n)); !os.IsNotExist(err) {
			t.Errorf("temporary file %s left", n)
		}
	}
}

// Write never waits for a slow cluster: requests beyond the memory queue
// go to the spool.
func TestWriteNeverBlocks(t *testing.T) {
	f, srv := newFakeES(t, "es8")
	cfg := testConfig(t, srv.URL)
	cfg.Workers, cfg.QueueSize, cfg.BatchDocs = 1, 1, 100
	cfg.CloseTimeout = 300 * time.Millisecond
	o, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "templates", 5*time.Second, func() bool { return o.Stats().Ready })
	f.mu.Lock()
	f.slow = 5 * time.Second
	f.mu.Unlock()
	var worst time.Duration
	for i := 0; i < 5000; i += 100 {
		start := time.Now()
		o.Write(batchOf(i, 100, 0))
		worst = max(worst, time.Since(start))
	}
	if worst > 500*time.Millisecond { // the cluster takes 5 s per request
		t.Errorf("Write took %v", worst)
	}
	s := o.Stats()
	if s.Spool.Documents == 0 {
		t.Errorf("nothing spooled: %+v", s)
	}
	start := time.Now()
	o.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v with close_timeout %v", d, cfg.CloseTimeout)
	}
	s = o.Stats()
	if s.Spool.Documents+int64(s.Indexed) != 5000 || s.Dropped != 0 {
		t.Errorf("after close: spooled %d, indexed %d, dropped %d", s.Spool.Documents, s.Indexed, s.Dropped)
	}
}

// Without a spool, a full memory queue drops new documents, counted.
func TestNoSpoolDropsAreCounted(t *testing.T) {
	f, srv := newFakeES(t, "es8")
	cfg := testConfig(t, srv.URL)
	cfg.Spool.Dir = ""
	cfg.Workers, cfg.QueueSize, cfg.BatchDocs, cfg.CloseTimeout = 1, 2, 100, 200*time.Millisecond
	o, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "templates", 5*time.Second, func() bool { return o.Stats().Ready })
	f.setDown(true)
	for i := 0; i < 2000; i += 100 {
		o.Write(batchOf(i, 100, 0))
	}
	s := o.Stats()
	if s.Dropped < 1000 {
		t.Errorf("dropped %d", s.Dropped)
	}
	o.Close()
	if s := o.Stats(); s.Dropped != 2000 || s.Indexed != 0 {
		t.Errorf("after close: %+v", s)
	}
}

// A request too large for the cluster (413) is split.
func TestRequestTooLargeIsSplit(t *testing.T) {
	f, srv := newFakeES(t, "es8")
	f.reqFail = func(n int) (int, bool) {
		if n <= 2 {
			return 413, false
		}
		return 0, false
	}
	cfg := testConfig(t, srv.URL)
	cfg.Workers, cfg.BatchDocs = 1, 40
	o, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Write(batchOf(0, 40, 0))
	waitFor(t, "delivery", 5*time.Second, func() bool { return f.count() == 40 })
	o.Close()
	if s := o.Stats(); s.Indexed != 40 || s.DeadLettered != 0 {
		t.Errorf("%+v", s)
	}
}

// Requests rotate over the URLs; a dead one costs retries, not documents.
func TestSeveralURLs(t *testing.T) {
	f, srv := newFakeES(t, "es8")
	cfg := testConfig(t, srv.URL)
	cfg.URLs = []string{"http://127.0.0.1:1", srv.URL}
	cfg.Counters = false
	o, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i += 50 {
		o.Write(batchOf(i, 50, 0))
	}
	waitFor(t, "delivery", 10*time.Second, func() bool { return f.count() == 500 })
	o.Close()
}

func TestChunkIndexAndKeep(t *testing.T) {
	cfg := DefaultConfig()
	enc := newEncoder(&cfg)
	c := &chunk{}
	for i := 0; i < 5; i++ {
		r := genRecord(i)
		c.offs = append(c.offs, int32(len(c.buf)))
		c.buf = enc.flow(c.buf, &r)
	}
	items := make([][]byte, 5)
	for i := range items {
		items[i] = append([]byte(nil), c.item(i)...)
	}
	offs := append([]int32(nil), c.offs...)
	if err := c.index(); err != nil || len(c.offs) != 5 {
		t.Fatal(err, c.offs)
	}
	for i := range offs {
		if offs[i] != c.offs[i] {
			t.Fatalf("index() %v, want %v", c.offs, offs)
		}
	}
	c.keep([]int{1, 3, 4})
	if c.docs() != 3 || !bytes.Equal(c.item(0), items[1]) || !bytes.Equal(c.item(1), items[3]) || !bytes.Equal(c.item(2), items[4]) {
		t.Error("keep")
	}
	c.buf = c.buf[:len(c.buf)-1]
	if c.index() == nil {
		t.Error("a body without its final newline must not index")
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status int
		typ    string
		want   itemClass
	}{
		{201, "", itemOK}, {200, "", itemOK},
		{409, "version_conflict_engine_exception", itemDuplicate},
		{429, "es_rejected_execution_exception", itemRetry}, {503, "unavailable_shards_exception", itemRetry},
		{500, "", itemRetry}, {403, "cluster_block_exception", itemRetry}, {404, "index_not_found_exception", itemRetry},
		{400, "mapper_parsing_exception", itemDead}, {400, "document_parsing_exception", itemDead},
		{400, "illegal_argument_exception", itemDead}, {413, "", itemDead},
	} {
		if got := classify(tc.status, tc.typ); got != tc.want {
			t.Errorf("classify(%d, %s) = %d, want %d", tc.status, tc.typ, got, tc.want)
		}
	}
	if !errorsFalse([]byte(`{"errors":false,"items":[]}`)) || !errorsFalse([]byte(`{"took":3, "errors" : false}`)) ||
		errorsFalse([]byte(`{"took":3,"errors":true}`)) || errorsFalse([]byte(`{}`)) {
		t.Error("errorsFalse")
	}
}
