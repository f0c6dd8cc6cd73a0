// Elasticsearch output benchmark: flowlens' output
// (internal/output/elasticsearch) next to go-elasticsearch's
// esutil.BulkIndexer with encoding/json, shipping the same flow records to
// the same local bulk endpoint, end to end (every document acknowledged).
// See BENCHMARKS.md.
//
// Run: cd bench && go test -run '^$' -bench Elasticsearch -benchtime 3x -count 3
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/flowlens/flowlens/bench/internal/esbulk"
	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
	es "github.com/flowlens/flowlens/internal/output/elasticsearch"
	"github.com/flowlens/flowlens/internal/pipeline"
)

func TestMain(m *testing.M) {
	if os.Getenv(esbulk.ChildEnv) != "" {
		os.Exit(esbulk.RunChild(os.Stdin, os.Stdout))
	}
	code := m.Run()
	if stopNode != nil {
		stopNode()
	}
	os.Exit(code)
}

var (
	nodeOnce sync.Once
	nodeURL  string
	nodeErr  error
	stopNode func()
)

// bulkNode returns the URL of the bulk endpoint (internal/esbulk), run in
// a process of its own (this test binary again) so that its CPU,
// allocations and GC are not the client's: cpu-µs/doc, B/op and allocs/op
// are the client's alone. It shares the machine's cores with the client.
func bulkNode(tb testing.TB) string {
	nodeOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			nodeErr = err
			return
		}
		nodeURL, stopNode, nodeErr = esbulk.StartChild(exe)
	})
	if nodeErr != nil {
		tb.Fatal(nodeErr)
	}
	return nodeURL
}

const (
	benchIndex = "flowbench"
	// esLoops: capture loops per op, 697 flow documents each.
	esLoops = 200
	// esWorkers: bulk requests in flight, both sides (flowlens' default).
	esWorkers = 4
	// esFlushBytes: request size, both sides (flowlens' default
	// batch_bytes; go-elasticsearch's default FlushBytes is 5e6).
	esFlushBytes = 5 << 20
)

// loopedFlows returns the capture's flow records and a renumber function
// that gives them, for loop l, sequence numbers no other loop has (as
// `flowlens replay` does), so that every document of an op is new.
func loopedFlows(tb testing.TB) (orig []flow.Record, renumber func(work []flow.Record, l int)) {
	flows, _ := captureRecords(tb)
	var seqSpan, sampleSpan uint32
	for i := range flows {
		seqSpan = max(seqSpan, flows[i].Sequence+1)
		sampleSpan = max(sampleSpan, flows[i].SampleSeq+1)
	}
	return flows, func(work []flow.Record, l int) {
		for i := range work {
			work[i].Sequence = flows[i].Sequence + uint32(l)*seqSpan
			work[i].SampleSeq = flows[i].SampleSeq + uint32(l)*sampleSpan
		}
	}
}

// nodeCall makes one request to the bulk endpoint and decodes its answer.
func nodeCall(tb testing.TB, method, url string, into any) {
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && resp.StatusCode != 404 {
		tb.Fatalf("%s %s: %s", method, url, body)
	}
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			tb.Fatalf("%s %s: %v: %s", method, url, err, body)
		}
	}
}

func nodeCount(tb testing.TB, url string) int {
	var c struct{ Count int }
	nodeCall(tb, http.MethodGet, url+"/"+benchIndex+"*/_count", &c)
	return c.Count
}

func nodeStats(tb testing.TB, url string) esbulk.Stats {
	var s esbulk.Stats
	nodeCall(tb, http.MethodGet, url+"/_esbulk/stats", &s)
	return s
}

// esRun measures one side: ship runs one op (every document of esLoops
// loops, acknowledged) and returns the documents the side counted as
// indexed.
type esRun struct {
	b        *testing.B
	url      string
	docs     int
	cpu      time.Duration
	mallocs  uint64
	allocB   uint64
	elapsed  time.Duration
	reqBytes uint64
	requests uint64
}

func (r *esRun) loop(ship func() int) {
	b := r.b
	b.ReportAllocs()
	nodeCall(b, http.MethodDelete, r.url+"/"+benchIndex+"*", nil)
	ops := 0
	for b.Loop() {
		b.StopTimer()
		nodeCall(b, http.MethodDelete, r.url+"/"+benchIndex+"*", nil)
		runtime.GC()
		st := nodeStats(b, r.url)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		cpu := cpuTime()
		start := time.Now()
		b.StartTimer()

		got := ship()

		b.StopTimer()
		r.elapsed += time.Since(start)
		r.cpu += cpuTime() - cpu
		var ms2 runtime.MemStats
		runtime.ReadMemStats(&ms2)
		r.mallocs += ms2.Mallocs - ms.Mallocs
		r.allocB += ms2.TotalAlloc - ms.TotalAlloc
		st2 := nodeStats(b, r.url)
		r.reqBytes += st2.BodyBytes - st.BodyBytes
		r.requests += st2.Requests - st.Requests
		if got != r.docs {
			b.Fatalf("the client counted %d documents indexed, want %d", got, r.docs)
		}
		if n := nodeCount(b, r.url); n != r.docs {
			b.Fatalf("the node holds %d documents, want %d", n, r.docs)
		}
		if c := st2.Conflicts - st.Conflicts; c != 0 {
			b.Fatalf("%d creates of an id already there", c)
		}
		ops++
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(ops * r.docs)
	b.ReportMetric(n/r.elapsed.Seconds(), "docs/s")
	b.ReportMetric(float64(r.cpu.Microseconds())/n, "cpu-µs/doc")
	b.ReportMetric(float64(r.allocB)/n, "B/doc")
	b.ReportMetric(float64(r.mallocs)/n, "allocs/doc")
	b.ReportMetric(float64(r.reqBytes)/n, "wire-B/doc")
	b.ReportMetric(float64(r.requests)/float64(ops), "requests/op")
}

// BenchmarkElasticsearch: one op ships esLoops × 697 flow documents (the
// real capture's flow samples, renumbered per loop) and waits until the
// bulk endpoint acknowledged all of them (flowlens: Flush, then Stats until
// Indexed has grown by all of them; go-elasticsearch: Flush, which returns
// once every request's answer was handled). Each side's client lives
// across ops, as in a running collector. Same records, endpoint, workers,
// request size, flush interval and gzip level for both.
func BenchmarkElasticsearch(b *testing.B) {
	url := bulkNode(b)
	flows, renumber := loopedFlows(b)
	docs := esLoops * len(flows)
	for _, level := range []int{1, 0} {
		b.Run(fmt.Sprintf("gzip=%d/flowlens", level), func(b *testing.B) {
			cfg := es.DefaultConfig()
			cfg.URLs = []string{url}
			cfg.Index = benchIndex
			cfg.SetupTemplates = false
			cfg.Counters = false
			cfg.Compression = level
			cfg.Workers = esWorkers
			cfg.BatchBytes = esFlushBytes
			cfg.FlushInterval = time.Second
			cfg.Spool.Dir = b.TempDir()
			cfg.DeadLetter.Path = ""
			o, err := es.New(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			work := append([]flow.Record(nil), flows...)
			batch := &pipeline.Batch{Flows: work}
			r := &esRun{b: b, url: url, docs: docs}
			r.loop(func() int {
				before := o.Stats().Indexed
				for l := 0; l < esLoops; l++ {
					renumber(work, l)
					if err := o.Write(batch); err != nil {
						b.Fatal(err)
					}
				}
				o.Flush()
				deadline := time.Now().Add(2 * time.Minute)
				for o.Stats().Indexed-before < uint64(docs) {
					if time.Now().After(deadline) {
						b.Fatalf("flowlens: not all indexed after 2 min: %+v", o.Stats())
					}
					time.Sleep(500 * time.Microsecond)
				}
				s := o.Stats()
				if s.Dropped != 0 || s.DeadLettered != 0 || s.Duplicates != 0 {
					b.Fatalf("flowlens: %+v", s)
				}
				return int(s.Indexed - before)
			})
		})
		b.Run(fmt.Sprintf("gzip=%d/go-elasticsearch", level), func(b *testing.B) {
			client, err := elasticsearch.NewClient(elasticsearch.Config{
				Addresses:                []string{url},
				CompressRequestBody:      level > 0,
				CompressRequestBodyLevel: level,
				PoolCompressor:           true,
				// As many idle connections as workers, as flowlens keeps
				// (Go's default transport keeps 2 per host).
				Transport: &http.Transport{
					DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
					MaxIdleConns:        esWorkers,
					MaxIdleConnsPerHost: esWorkers,
					IdleConnTimeout:     90 * time.Second,
				},
			})
			if err != nil {
				b.Fatal(err)
			}
			var ok, failed atomic.Int64
			var firstErr atomic.Value
			onSuccess := func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) { ok.Add(1) }
			onFailure := func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s %s %v", res.Status, res.Error.Type, res.Error.Reason, err))
			}
			bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
				Client:        client,
				NumWorkers:    esWorkers,
				FlushBytes:    esFlushBytes,
				FlushInterval: time.Second,
				OnError: func(_ context.Context, err error) {
					firstErr.CompareAndSwap(nil, err.Error())
				},
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			defer bi.Close(ctx)
			work := append([]flow.Record(nil), flows...)
			idx := indexName{prefix: benchIndex}
			r := &esRun{b: b, url: url, docs: docs}
			r.loop(func() int {
				before := ok.Load()
				for l := 0; l < esLoops; l++ {
					renumber(work, l)
					for i := range work {
						rec := &work[i]
						body, err := json.Marshal(newECSDoc(rec))
						if err != nil {
							b.Fatal(err)
						}
						err = bi.Add(ctx, esutil.BulkIndexerItem{
							Index:      idx.of(rec.Time),
							Action:     "create",
							DocumentID: peerID(rec),
							Body:       bytes.NewReader(body),
							OnSuccess:  onSuccess,
							OnFailure:  onFailure,
						})
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := bi.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				if failed.Load() != 0 || firstErr.Load() != nil {
					b.Fatalf("go-elasticsearch: %d failed: %v", failed.Load(), firstErr.Load())
				}
				return int(ok.Load() - before)
			})
		})
	}
}

// indexName is the daily index of a record, as flowlens names it
// (PREFIX-2006.01.02 from @timestamp, UTC), formatted once per day.
type indexName struct {
	prefix string
	day    int64
	name   string
}

func (x *indexName) of(t time.Time) string {
	if d := t.Unix() / 86400; d != x.day || x.name == "" {
		x.day = d
		x.name = x.prefix + "-" + t.UTC().Format("2006.01.02")
	}
	return x.name
}

// Both sides write the same document for every record: the capture's, and
// records with every optional part set.
func TestSameDocuments(t *testing.T) {
	flows, _ := captureRecords(t)
	flows = append(flows, fullRecords()...)
	for i := range flows {
		r := &flows[i]
		var a, b any
		if err := json.Unmarshal(ecs.AppendFlow(nil, r), &a); err != nil {
			t.Fatal(err)
		}
		peer, err := json.Marshal(newECSDoc(r))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(peer, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("record %d:\nflowlens %s\npeer     %s", i, ecs.AppendFlow(nil, r), peer)
		}
	}
}

// Every document of an op has its own id, on both sides.
func TestLoopedIDsUnique(t *testing.T) {
	flows, renumber := loopedFlows(t)
	work := append([]flow.Record(nil), flows...)
	seen := map[string]bool{}
	for l := 0; l < 3; l++ {
		renumber(work, l)
		for i := range work {
			id := peerID(&work[i])
			if seen[id] {
				t.Fatalf("loop %d record %d: id %s seen before", l, i, id)
			}
			seen[id] = true
		}
	}
}
