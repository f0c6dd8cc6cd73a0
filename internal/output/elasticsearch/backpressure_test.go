package elasticsearch

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// A cluster slower than the input (it takes half of what arrives) costs no
// record while the spool has room: what the bulk workers cannot send goes
// to the disk spool, not lost at the pipeline's queue, and is delivered,
// once each, when the cluster keeps up again. Issue 14's 5-minute version
// of this is `bench/cmd/esoutage` with -latency (BENCHMARKS.md section 6).
func TestSlowClusterSpoolsNotDrops(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s of load")
	}
	f, srv := newFakeES(t, "es8")
	cfg := testConfig(t, srv.URL)
	cfg.Counters = false
	// The cluster's rate: 2 workers × 50 documents per 50 ms = 2 000/s.
	cfg.Workers, cfg.BatchDocs = 2, 50
	f.mu.Lock()
	f.late = func(int) time.Duration { return 50 * time.Millisecond }
	f.mu.Unlock()
	o, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "templates", 5*time.Second, func() bool { return o.Stats().Ready })
	p := pipeline.New(pipeline.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	h := p.NewHandler()

	// Twice the cluster's rate for 10 s: 4 000 records/s, 40 a batch.
	const rate, seconds, per = 4000, 10, 40
	start, n := time.Now(), 0
	spooled := false
	for n < rate*seconds {
		recs := make([]flow.Record, per)
		for i := range recs {
			recs[i] = genRecord(n + i)
		}
		h.Records(recs)
		n += per
		if d := time.Until(start.Add(time.Duration(n) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		spooled = spooled || o.Stats().Spool.Files > 0
	}
	if el := time.Since(start); el > seconds*time.Second*3/2 {
		t.Errorf("feeding took %v: the input was held up", el)
	}
	st := p.Outputs()[0]
	if st.Dropped != 0 || st.Errored != 0 {
		t.Errorf("the pipeline's queue lost records: %+v", st)
	}
	if !spooled {
		t.Error("nothing was spooled: the cluster kept up, so the test proves nothing")
	}
	// The cluster keeps up again: the spool drains, everything arrives,
	// once.
	f.mu.Lock()
	f.late = nil
	f.mu.Unlock()
	waitFor(t, "the spool to drain", 60*time.Second, func() bool {
		s := o.Stats()
		return s.Spool.Files == 0 && s.Indexed+s.Duplicates == uint64(n)
	})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	s := o.Stats()
	if s.Accepted != uint64(n) || s.Dropped != 0 {
		t.Errorf("accepted %d of %d, dropped %d", s.Accepted, n, s.Dropped)
	}
	if got := len(f.stored()); got != n {
		t.Errorf("%d documents stored, %d sent (stats %+v)", got, n, s)
	}
}
