package elasticsearch

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/pipeline"
)

// bulkSink is the cheapest correct bulk endpoint: it reads (and gunzips)
// the body, counts the items and answers 201 for each, as Elasticsearch
// does with filter_path.
func bulkSink(b *testing.B) *httptest.Server {
	const item = `{"create":{"status":201}}`
	var items bytes.Buffer
	for i := 0; i < 20000; i++ {
		if i > 0 {
			items.WriteByte(',')
		}
		items.WriteString(item)
	}
	all := items.Bytes()
	zpool := sync.Pool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, _ := zpool.Get().(*gzip.Reader)
			if zr == nil {
				zr, _ = gzip.NewReader(r.Body)
			} else {
				zr.Reset(r.Body)
			}
			defer zpool.Put(zr)
			rd = zr
		}
		buf := make([]byte, 256<<10)
		lines := 0
		for {
			n, err := rd.Read(buf)
			lines += bytes.Count(buf[:n], []byte{'\n'})
			if err != nil {
				break
			}
		}
		docs := lines / 2
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"errors":false,"items":[`))
		w.Write(all[:max(docs*(len(item)+1)-1, 0)])
		w.Write([]byte(`]}`))
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkShip encodes records and ships them to a local bulk endpoint,
// end to end (Close waits for every answer). One op is one document.
func BenchmarkShip(b *testing.B) {
	for _, schema := range []string{SchemaECS, SchemaNetFlowCompat} {
		for _, level := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/gzip=%d", schema, level), func(b *testing.B) {
				srv := bulkSink(b)
				cfg := DefaultConfig()
				cfg.URLs = []string{srv.URL}
				cfg.Schema, cfg.Compression = schema, level
				cfg.SetupTemplates = false
				cfg.Spool.Dir = b.TempDir()
				cfg.DeadLetter.Path = ""
				batch := batchOf(0, 1000, 0)
				o, err := New(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for n := 0; n < b.N; n += len(batch.Flows) {
					if rest := b.N - n; rest < len(batch.Flows) {
						batch = &pipeline.Batch{Flows: batch.Flows[:rest]}
					}
					for i := range batch.Flows {
						batch.Flows[i].SampleSeq += 1000
					}
					o.Write(batch)
				}
				o.Close()
				el := time.Since(start)
				b.StopTimer()
				s := o.Stats()
				if s.Indexed != uint64(b.N) {
					b.Fatalf("indexed %d of %d: %+v", s.Indexed, b.N, s)
				}
				b.ReportMetric(float64(b.N)/el.Seconds(), "docs/s")
				b.ReportMetric(float64(s.BytesSent)/float64(b.N), "wire-B/doc")
			})
		}
	}
}

// BenchmarkEncode is the encoding alone: action line, id and document.
func BenchmarkEncode(b *testing.B) {
	for _, schema := range []string{SchemaECS, SchemaNetFlowCompat} {
		b.Run(schema, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Schema = schema
			enc := newEncoder(&cfg)
			recs := batchOf(0, 1000, 0).Flows
			buf := make([]byte, 0, 4<<20)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%1000 == 0 {
					buf = buf[:0]
				}
				buf = enc.flow(buf, &recs[i%1000])
			}
			b.SetBytes(int64(len(buf) / max(1, min(b.N, 1000))))
		})
	}
}
