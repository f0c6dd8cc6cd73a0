package ndjson

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/pipeline"
)

func batch(n int) *pipeline.Batch {
	b := &pipeline.Batch{}
	for i := 0; i < n; i++ {
		b.Flows = append(b.Flows, flow.Record{Bytes: uint64(i), Packets: 1})
	}
	b.Counters = append(b.Counters, flow.Counter{HasPortName: true, PortName: "br-int"})
	return b
}

func lines(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s line %d: %v", path, n+1, err)
		}
		n++
	}
	return n
}

func TestRotationBySizeKeepsEveryLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.ndjson")
	w, err := New(Config{Path: path, Flows: true, Counters: true, RotateSize: 4096, Keep: 0})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	w.now = func() time.Time { now = now.Add(time.Second); return now }
	for i := 0; i < 20; i++ {
		if err := w.Write(batch(10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + "*")
	if len(files) < 5 {
		t.Fatalf("expected several rotated files, got %v", files)
	}
	total := 0
	for _, f := range files {
		total += lines(t, f)
	}
	if total != 20*11 {
		t.Errorf("%d lines across %d files, want %d", total, len(files), 20*11)
	}
}

func TestKeepPrunesOldest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flows.ndjson")
	w, err := New(Config{Path: path, Flows: true, RotateInterval: time.Minute, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	w.now = func() time.Time { return now }
	w.opened = now
	for i := 0; i < 5; i++ {
		now = now.Add(2 * time.Minute)
		if err := w.Write(batch(1)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	rotated, _ := filepath.Glob(path + ".2*")
	if len(rotated) != 2 {
		t.Errorf("kept %v, want the 2 newest", rotated)
	}
}

func TestCountersCanBeLeftOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.ndjson")
	w, err := New(Config{Path: path, Flows: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(batch(3))
	w.Close()
	if n := lines(t, path); n != 3 {
		t.Errorf("%d lines, want 3 flows only", n)
	}
}

// BenchmarkWrite encodes the real OVS capture's flow records to a file, in
// batches of 1024 (what the pipeline hands over under load).
//
//	go test -run '^$' -bench Write -benchmem ./internal/output/ndjson/
func BenchmarkWrite(b *testing.B) {
	ds, err := pcapfile.ReadAll("../../../testdata/ovs/ovs-sflow.pcap", nil)
	if err != nil {
		b.Fatal(err)
	}
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	batch := &pipeline.Batch{}
	for len(batch.Flows) < 1024 {
		for _, d := range ds {
			dec.Decode(d.Payload, d.Time, &res)
			batch.Flows = append(batch.Flows, res.Flows...)
		}
	}
	batch.Flows = batch.Flows[:1024]
	w, err := New(Config{Path: filepath.Join(b.TempDir(), "flows.ndjson"), Flows: true, RotateSize: 1 << 30, Keep: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Write(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch.Flows))/b.Elapsed().Seconds(), "records/s")
}
