// Benchmarks of the collector's stages after decoding, on the same capture,
// to tell where `flowlens run` spends its CPU (see BENCHMARKS.md): the
// per-socket handler (decode + per-agent accounting + enrichment +
// batching) and the NDJSON output (ECS JSON encoding, and writing to a
// file).
package bench

import (
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/output/ndjson"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// recvBatch is the collector's default recvmmsg batch: the handler is
// flushed after each batch read.
const recvBatch = 64

// BenchmarkCollectorNoOutput: what one socket goroutine of `flowlens run`
// does per datagram with the output disabled: decode.Handler
// (decode, per-agent sequence accounting, interface enrichment, batching),
// flushed every recvBatch datagrams.
func BenchmarkCollectorNoOutput(b *testing.B) {
	data := loadCapture(b)
	p := pipeline.New(pipeline.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer p.Close()
	h := decode.New(decode.Config{}, p).Handler(decode.SFlow)
	src := netip.MustParseAddrPort("127.0.0.1:50000")
	now := time.Now()
	run := func() {
		for i, d := range data {
			h.Datagram(d, src, now)
			if i%recvBatch == recvBatch-1 {
				h.Flush()
			}
		}
		h.Flush()
	}
	run() // warm up: agent entry, inventory, pooled batches
	m := startMeter(b)
	ops := 0
	for b.Loop() {
		run()
		ops++
	}
	m.stop(ops, len(data), wantFlows+wantCounters)
}

// captureRecords decodes the capture into the records the output sees.
func captureRecords(tb testing.TB) ([]flow.Record, []flow.Counter) {
	data := loadCapture(tb)
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	var flows []flow.Record
	var counters []flow.Counter
	now := time.Now()
	for _, d := range data {
		if err := dec.Decode(d, now, &res); err != nil {
			tb.Fatal(err)
		}
		flows = append(flows, res.Flows...)
		counters = append(counters, res.Counters...)
	}
	return flows, counters
}

// BenchmarkNDJSONEncode: ECS JSON encoding alone (ecs.AppendFlow, or
// ecs.AppendCompactFlow for output.ndjson.fields: compact, and
// ecs.AppendCounter) of every record of the capture into a reused buffer.
func BenchmarkNDJSONEncode(b *testing.B) {
	for _, fields := range []string{ecs.FieldsFull, ecs.FieldsCompact} {
		b.Run(fields, func(b *testing.B) {
			encode, err := ecs.FlowEncoder("fields", fields)
			if err != nil {
				b.Fatal(err)
			}
			flows, counters := captureRecords(b)
			buf := make([]byte, 0, 64<<10)
			var size int
			m := startMeter(b)
			ops := 0
			for b.Loop() {
				size = 0
				for i := range flows {
					buf = encode(buf[:0], &flows[i])
					size += len(buf) + 1
				}
				for i := range counters {
					buf = ecs.AppendCounter(buf[:0], &counters[i])
					size += len(buf) + 1
				}
				ops++
			}
			n := len(flows) + len(counters)
			m.stop(ops, wantDatagrams, n)
			b.ReportMetric(float64(size)/float64(n), "bytes/record")
		})
	}
}

// BenchmarkNDJSONWrite: the NDJSON output as the collector runs it
// (ndjson.Writer.Write of one batch holding every record of the capture)
// into a file under the test's temporary directory, on disk, with full and
// with compact flow documents.
func BenchmarkNDJSONWrite(b *testing.B) {
	for _, fields := range []string{ecs.FieldsFull, ecs.FieldsCompact} {
		b.Run(fields, func(b *testing.B) {
			flows, counters := captureRecords(b)
			w, err := ndjson.New(ndjson.Config{Path: filepath.Join(b.TempDir(), "out.ndjson"), Flows: true, Counters: true, Fields: fields})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			batch := &pipeline.Batch{Flows: flows, Counters: counters}
			if err := w.Write(batch); err != nil { // warm up the encoder's buffer
				b.Fatal(err)
			}
			m := startMeter(b)
			ops := 0
			for b.Loop() {
				if err := w.Write(batch); err != nil {
					b.Fatal(err)
				}
				ops++
			}
			m.stop(ops, wantDatagrams, len(flows)+len(counters))
		})
	}
}
