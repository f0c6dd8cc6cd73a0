package ndjson

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/pipeline"
	"golang.org/x/sys/unix"
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

// A file that ends in an unfinished line (a killed run) is cut back to its
// last whole line before anything is appended: every line stays readable.
func TestTornLastLineCut(t *testing.T) {
	for _, tc := range []struct {
		name, before, want string
	}{
		{"torn line", "{\"a\":1}\n{\"b\":", "{\"a\":1}\n"},
		{"only a torn line", "{\"b\":", ""},
		{"whole lines", "{\"a\":1}\n", "{\"a\":1}\n"},
		// longer than one read back from the end
		{"long torn line", "{\"a\":1}\n{\"b\":\"" + strings.Repeat("x", 200<<10), "{\"a\":1}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flows.ndjson")
			if err := os.WriteFile(path, []byte(tc.before), 0o644); err != nil {
				t.Fatal(err)
			}
			w, err := New(Config{Path: path, Flows: true})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := w.TornBytes(), int64(len(tc.before)-len(tc.want)); got != want {
				t.Errorf("TornBytes %d, want %d", got, want)
			}
			if err := w.Write(batch(3)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			if !strings.HasPrefix(string(b), tc.want) {
				t.Fatalf("the file starts with %.40q, want %.40q", b, tc.want)
			}
			if n := lines(t, path); n != strings.Count(tc.want, "\n")+3 {
				t.Errorf("%d lines", n)
			}
		})
	}
}

const killChildEnv = "FLOWLENS_NDJSON_KILL_CHILD"

// killBatch is big enough that a batch reaches the file in several
// buffer-sized writes, so that a kill can land between two of them.
const killBatch = 2000

// TestKillChild is the child of TestKill9: it writes batches in a loop,
// printing "ack N" once Write returned for batch N.
func TestKillChild(t *testing.T) {
	path := os.Getenv(killChildEnv)
	if path == "" {
		t.Skip("child process of TestKill9")
	}
	w, err := New(Config{Path: path, Flows: true})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	// One batch, renumbered: the child spends its time writing.
	b := seqBatch(0, killBatch)
	for i := 0; ; i++ {
		for j := range b.Flows {
			b.Flows[j].SampleSeq = uint32(i*killBatch + j)
		}
		if err := w.Write(b); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("ack %d\n", i)
	}
}

// seqBatch holds flow records with sample sequence numbers from..from+n-1.
func seqBatch(from, n int) *pipeline.Batch {
	b := &pipeline.Batch{}
	for i := from; i < from+n; i++ {
		b.Flows = append(b.Flows, flow.Record{SampleSeq: uint32(i), Bytes: 1500, Packets: 1,
			In: flow.Port{Format: flow.PortSingle, Index: 3, Name: "tap0a1b2c3d-4e"}})
	}
	return b
}

// TestKill9 kills a process writing NDJSON with SIGKILL, then starts a
// writer on the same file as the next run would: every record of every
// batch acknowledged before the kill is there once, every line is whole
// JSON, and the next run's records follow.
func TestKill9(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "flows.ndjson")
	next := 1 << 30 // the next run's records, told apart by their numbers
	var torn int64
	for round := range 3 {
		cmd := exec.Command(exe, "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := -1
		sc := bufio.NewScanner(out)
		killAt := 5 + 3*round
		killed := false
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "ack "); ok {
				acked, _ = strconv.Atoi(n)
				if acked >= killAt && !killed {
					// Into the next batch, at a different point each round.
					time.Sleep(time.Duration(1+2*round) * time.Millisecond)
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
			} else if strings.HasPrefix(line, "error") {
				t.Fatal(line)
			}
		}
		// The acknowledgements printed before the kill have been read.
		cmd.Wait()
		if acked < killAt {
			t.Fatalf("round %d: child stopped after batch %d", round, acked)
		}

		w, err := New(Config{Path: path, Flows: true})
		if err != nil {
			t.Fatalf("round %d: opening after kill -9: %v", round, err)
		}
		torn += w.TornBytes()
		if err := w.Write(seqBatch(next, 10)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}

		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]int{}
		sc = bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for n := 1; sc.Scan(); n++ {
			var r struct {
				Flowlens struct {
					Sflow struct {
						SampleSequence int `json:"sample_sequence"`
					}
				}
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("round %d: line %d is not whole JSON (%v): %.80q", round, n, err, sc.Bytes())
			}
			seen[r.Flowlens.Sflow.SampleSequence]++
		}
		f.Close()
		for i := 0; i < (acked+1)*killBatch; i++ {
			if seen[i] != 1 {
				t.Fatalf("round %d: acknowledged record %d is there %d times", round, i, seen[i])
			}
		}
		for i := next; i < next+10; i++ {
			if seen[i] != 1 {
				t.Fatalf("round %d: the next run's record %d is there %d times", round, i, seen[i])
			}
		}
		for k, n := range seen {
			if n != 1 {
				t.Fatalf("round %d: record %d is there %d times", round, k, n)
			}
		}
		t.Logf("round %d: killed after batch %d acknowledged; %d records in the file; %d bytes of an unfinished line cut",
			round, acked, len(seen), w.TornBytes())
		// The child starts numbering from 0 again: start clean.
		os.Remove(path)
		next += 10
	}
	if torn == 0 {
		t.Log("no kill landed in the middle of a line (TestTornLastLineCut covers that case)")
	}
}

// The disk fills up: the batch that does not fit fails whole (the file is
// cut back to the batch before), and once there is room again the next
// batches are written. A real full file system: a small tmpfs.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs for a real full disk needs root; run the tests as root to cover it")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=256k"); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v)", dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "flows.ndjson")
	w, err := New(Config{Path: path, Flows: true})
	if err != nil {
		t.Fatal(err)
	}
	written := 0
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("the disk never filled up")
		}
		err := w.Write(seqBatch(i*50, 50))
		if err == nil {
			written++
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("batch %d: %v", i, err)
		}
		break
	}
	if n := lines(t, path); n != written*50 {
		t.Fatalf("%d lines after the disk filled up, want the %d batches written whole: %d", n, written, written*50)
	}
	os.Remove(filler)
	if err := w.Write(seqBatch(1<<20, 50)); err != nil {
		t.Fatalf("once there is room again: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := lines(t, path); n != (written+1)*50 {
		t.Errorf("%d lines, want %d", n, (written+1)*50)
	}
}

// Large batches are encoded in two halves on two goroutines: the lines
// still come out whole, once each and in the batch's order, batch after
// batch, with counters after the flows.
func TestLargeBatchesKeepOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.ndjson")
	w, err := New(Config{Path: path, Flows: true, Counters: true})
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for _, n := range []int{parallelMin, 1001, parallelMin - 1, 4096} {
		b := seqBatch(next, n)
		b.Counters = []flow.Counter{{SampleSeq: uint32(1<<30 + next)}}
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		next += n
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	want, batchStart := 0, 0
	for _, n := range []int{parallelMin, 1001, parallelMin - 1, 4096} {
		for i := 0; i <= n; i++ {
			if !sc.Scan() {
				t.Fatalf("file ends before record %d", want)
			}
			var r struct {
				Flowlens struct {
					Sflow struct {
						SampleSequence int `json:"sample_sequence"`
					}
				}
			}
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("line %q: %v", sc.Bytes(), err)
			}
			got := r.Flowlens.Sflow.SampleSequence
			if i == n { // the batch's counter record
				if got != 1<<30+batchStart {
					t.Fatalf("after the flows of the batch at %d: sequence %d, want its counter record", batchStart, got)
				}
				continue
			}
			if got != want {
				t.Fatalf("record %d where %d was expected", got, want)
			}
			want++
		}
		batchStart += n
	}
	if sc.Scan() {
		t.Errorf("more lines than written: %q", sc.Bytes())
	}
}

// fields: compact writes compact flow documents; anything but full or
// compact is refused with the setting's name.
func TestCompactFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flows.ndjson")
	if _, err := New(Config{Path: path, Flows: true, Fields: "small"}); err == nil || !strings.Contains(err.Error(), "output.ndjson.fields") {
		t.Fatalf("fields: small: %v", err)
	}
	w, err := New(Config{Path: path, Flows: true, Fields: "compact"})
	if err != nil {
		t.Fatal(err)
	}
	r := flow.Record{Input: flow.InputSFlow, Sequence: 7, SamplingRate: 64, Bytes: 100, Packets: 64}
	r.In = flow.Port{Format: flow.PortSingle, Index: 3}
	if err := w.Write(&pipeline.Batch{Flows: []flow.Record{r}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Observer map[string]any `json:"observer"`
		Flowlens map[string]any `json:"flowlens"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if d.Flowlens["sampling_rate"] != 64.0 || d.Flowlens["sflow"] != nil || d.Flowlens["ingress"] != nil || d.Observer["ingress"] == nil {
		t.Errorf("not a compact document: %s", b)
	}
}

// A file written past a few chunks does not stay in the page cache: what
// is on disk two chunks back is dropped (on tmpfs there is no disk, and
// nothing to drop).
func TestWrittenChunksLeaveThePageCache(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type == unix.TMPFS_MAGIC {
		t.Skipf("%s is on tmpfs (%v)", dir, err)
	}
	path := filepath.Join(dir, "flows.ndjson")
	w, err := New(Config{Path: path, Flows: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	b := batch(2000) // ~1 MB of lines
	write := func(until int64) {
		for w.size < until {
			if err := w.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	resident := func() int {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := unix.Mmap(int(f.Fd()), 0, cacheChunk, unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(m)
		vec := make([]byte, cacheChunk/os.Getpagesize())
		if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
			t.Fatal(e)
		}
		n := 0
		for _, v := range vec {
			n += int(v & 1)
		}
		return n
	}
	write(2 * cacheChunk)
	if n := resident(); n == 0 {
		t.Fatalf("the first chunk left the page cache before the third was written")
	}
	if err := w.f.Sync(); err != nil { // on disk: what handOver drops
		t.Fatal(err)
	}
	write(3*cacheChunk + 1)
	if n := resident(); n > 16 {
		t.Errorf("%d pages of the first chunk still cached after three more chunks were written", n)
	}
	if got := lines(t, path); got < 3*cacheChunk/600 {
		t.Errorf("%d lines", got)
	}
}
