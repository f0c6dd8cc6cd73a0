package elasticsearch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// smallDisk mounts a tmpfs of the given size (e.g. "1m") for the test: a
// real file system that really fills up (ENOSPC), without touching the
// machine's disks.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs for a real full disk needs root; run the tests as root to cover it")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v): run as root outside a restricted container to cover it", dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes a file until the disk is full, leaving free about keep bytes.
func fill(t *testing.T, dir string, keep int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if n := free - keep; n > 0 {
		if _, err := f.Write(make([]byte, n)); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatal(err)
		}
	}
	return path
}

// sampleSeqs reads the flow documents of every spool file in dir, as the
// next start would, and returns their sample sequence numbers.
func spooledSeqs(t *testing.T, dir string) (seqs map[int]int, corrupt uint64) {
	t.Helper()
	sp, err := openSpool(dir, 1<<40, DropOldest, nil)
	if err != nil {
		t.Fatal(err)
	}
	seqs = map[int]int{}
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
			if err := json.Unmarshal(doc, &d); err != nil {
				t.Fatal(err)
			}
			seqs[d.Flowlens.Sflow.SampleSequence]++
		}
	}
	return seqs, sp.stats().Corrupt
}

// The spool's disk fills up long before max_bytes: Write goes on, the
// overflow policy applies as for a full spool, every document is either
// in the spool or counted as dropped, no half-written file is left, and
// what was spooled is delivered once the cluster is back.
func TestSpoolDiskFull(t *testing.T) {
	for _, policy := range []string{DropOldest, DropNewest} {
		t.Run(policy, func(t *testing.T) {
			disk := smallDisk(t, "1m")
			f, srv := newFakeES(t, "es8")
			f.setDown(true)
			cfg := testConfig(t, srv.URL)
			cfg.Spool.Dir = filepath.Join(disk, "spool")
			cfg.Spool.MaxBytes, cfg.Spool.Overflow = 1<<30, policy // only the disk bounds it
			cfg.Workers, cfg.BatchDocs, cfg.QueueSize, cfg.Counters = 1, 500, 1, false
			log, logs := testLogger(t)
			o, err := New(cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			const total = 40000
			for i := 0; i < total; i += 500 {
				if err := o.Write(batchOf(i, 500, 0)); err != nil {
					t.Fatal(err)
				}
			}
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			s := o.Stats()
			if s.Spool.DiskFull == 0 {
				t.Fatalf("the disk never filled up: %+v", s.Spool)
			}
			if s.Accepted != total || s.Indexed != 0 || s.Dropped == 0 || s.Spool.Documents+int64(s.Dropped) != total {
				t.Fatalf("accounting: accepted %d, indexed %d, spooled %d + dropped %d != %d", s.Accepted, s.Indexed, s.Spool.Documents, s.Dropped, total)
			}
			// Room is made as the policy says, and counted as overflow.
			if s.Spool.DroppedDocuments != s.Dropped || s.Spool.WriteErrors != 0 {
				t.Errorf("%d dropped, %d of them by the policy; %d write errors", s.Dropped, s.Spool.DroppedDocuments, s.Spool.WriteErrors)
			}
			if !strings.Contains(logs.String(), "spool full (max_bytes, or the disk)") {
				t.Errorf("the overflow is not reported:\n%s", logs)
			}
			if left, _ := filepath.Glob(filepath.Join(cfg.Spool.Dir, "*.tmp*")); len(left) != 0 {
				t.Errorf("half-written files left: %v", left)
			}

			// What is on disk is what the counters say, whole, and the
			// policy decided which part of the stream it is.
			seqs, corrupt := spooledSeqs(t, cfg.Spool.Dir)
			if corrupt != 0 || int64(len(seqs)) != s.Spool.Documents {
				t.Fatalf("spool holds %d documents (stats: %d), %d corrupt files", len(seqs), s.Spool.Documents, corrupt)
			}
			if policy == DropOldest && (seqs[0] != 0 || seqs[total-1] != 1) {
				t.Errorf("drop_oldest: first document kept %v, last %v", seqs[0] != 0, seqs[total-1] != 0)
			}
			if policy == DropNewest && (seqs[0] != 1 || seqs[total-1] != 0) {
				t.Errorf("drop_newest: first document kept %v, last %v", seqs[0] != 0, seqs[total-1] != 0)
			}

			// The cluster is back: a new start delivers the spool.
			f.setDown(false)
			o2, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the spool to drain", 20*time.Second, func() bool { return f.count() == len(seqs) })
			if err := o2.Close(); err != nil {
				t.Fatal(err)
			}
			if s2 := o2.Stats(); s2.Indexed != uint64(len(seqs)) || s2.Spool.Files != 0 || s2.Spool.Corrupt != 0 {
				t.Errorf("second start: %+v", s2)
			}
		})
	}
}

// A spool file partly delivered is rewritten with what is left; when the
// disk is full that rewrite fails, and the previous version of the file,
// still whole on disk, is kept and sent again: nothing is dropped, and
// what had been delivered comes back as duplicates, not as second copies.
func TestSpoolRewriteOnFullDiskKeepsFile(t *testing.T) {
	disk := smallDisk(t, "1m")
	f, srv := newFakeES(t, "es8")
	f.setDown(true)
	cfg := testConfig(t, srv.URL)
	cfg.Spool.Dir = filepath.Join(disk, "spool")
	cfg.Workers, cfg.BatchDocs, cfg.QueueSize, cfg.Counters, cfg.MaxRetries = 1, 500, 1, false, 1
	o, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	const total = 2000
	for i := 0; i < total; i += 500 {
		o.Write(batchOf(i, 500, 0))
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if s := o.Stats(); s.Spool.Documents != total {
		t.Fatalf("spooled: %+v", s)
	}

	// The disk fills up; the cluster comes back but refuses a third of
	// the documents for now.
	filler := fill(t, disk, 0)
	var refusing atomic.Bool
	refusing.Store(true)
	f.mu.Lock()
	f.down = false
	f.itemFail = func(id string, doc []byte, attempt int) (int, string, string) {
		if refusing.Load() && crc32.ChecksumIEEE([]byte(id))%3 == 0 {
			return 429, "es_rejected_execution_exception", "rejected execution of primary operation"
		}
		return 0, "", ""
	}
	f.mu.Unlock()
	o2, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a rewrite to find the disk full", 20*time.Second, func() bool { return o2.Stats().Spool.DiskFull > 0 })
	if s := o2.Stats(); s.Dropped != 0 {
		t.Fatalf("documents dropped when a rewrite failed: %+v", s)
	}
	os.Remove(filler)
	refusing.Store(false)
	waitFor(t, "every document", 20*time.Second, func() bool { return f.count() == total })
	waitFor(t, "the spool to drain", 20*time.Second, func() bool { return o2.Stats().Spool.Files == 0 })
	if err := o2.Close(); err != nil {
		t.Fatal(err)
	}
	s := o2.Stats()
	if s.Dropped != 0 || s.Indexed != total || s.Duplicates == 0 {
		t.Errorf("indexed %d of %d, duplicates %d (the kept file's delivered part), dropped %d", s.Indexed, total, s.Duplicates, s.Dropped)
	}
}

// The dead-letter file's disk fills up: the entries that cannot be
// written are counted, the file holds no half entry, and once there is
// room again new entries are written.
func TestDeadLetterDiskFull(t *testing.T) {
	disk := smallDisk(t, "256k")
	f, srv := newFakeES(t, "es8")
	cfg := testConfig(t, srv.URL)
	cfg.DeadLetter.Path = filepath.Join(disk, "dead-letter.ndjson")
	cfg.Counters = false
	log, logs := testLogger(t)
	o, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	waitFor(t, "templates", 5*time.Second, func() bool { return o.Stats().Ready })
	rejected := func(from, n int) {
		b := batchOf(from, n, 0)
		for i := range b.Flows {
			b.Flows[i].DstPort = 666 // the fake cluster rejects these for good
		}
		o.Write(b)
		want := o.Stats().Accepted
		waitFor(t, "the cluster's answers", 10*time.Second, func() bool { return o.Stats().DeadLettered == want })
		o.dl.flush()
	}
	f.itemFail = func(id string, doc []byte, attempt int) (int, string, string) {
		if bytes.Contains(doc, []byte(`"port":666,`)) {
			return 400, "mapper_parsing_exception", "failed to parse field [destination.port]: injected"
		}
		return 0, "", ""
	}
	rejected(0, 100)
	filler := fill(t, disk, 0)
	rejected(100, 400)
	s := o.Stats()
	if s.DeadLetterWriteErrors == 0 {
		t.Fatalf("no write error on a full disk: %+v", s)
	}
	os.Remove(filler)
	rejected(500, 100)
	o.dl.flush()
	entries := readDeadLetters(t, cfg.DeadLetter.Path) // fails on a line that is not whole JSON
	s = o.Stats()
	if uint64(len(entries))+s.DeadLetterWriteErrors != s.DeadLettered || s.DeadLettered != 600 {
		t.Errorf("%d entries in the file + %d not written != %d rejected", len(entries), s.DeadLetterWriteErrors, s.DeadLettered)
	}
	var after int
	for _, e := range entries {
		var d struct {
			Flowlens struct {
				Sflow struct {
					SampleSequence int `json:"sample_sequence"`
				}
			}
		}
		json.Unmarshal(e.Document, &d)
		if d.Flowlens.Sflow.SampleSequence >= 500 {
			after++
		}
	}
	if after != 100 {
		t.Errorf("%d of the 100 entries rejected once there was room again are in the file", after)
	}
	if strings.Contains(logs.String(), "panic") {
		t.Error(logs.String())
	}
}

// A cluster slower than the client's timeout: it creates the documents of
// the first requests but answers after the client gave up. The output
// sends them again, the cluster says they are there (409), and every
// record is stored once, none lost, none twice.
func TestSlowClusterBeyondTimeout(t *testing.T) {
	f, srv := newFakeES(t, "es8")
	cfg := testConfig(t, srv.URL)
	cfg.Timeout, cfg.Workers, cfg.BatchDocs, cfg.Counters = 200*time.Millisecond, 2, 100, false
	f.late = func(n int) time.Duration {
		if n <= 4 {
			return 400 * time.Millisecond
		}
		return 0
	}
	log, logs := testLogger(t)
	o, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	const total = 1000
	for i := 0; i < total; i += 100 {
		o.Write(batchOf(i, 100, 0))
	}
	waitFor(t, "every document", 20*time.Second, func() bool {
		s := o.Stats()
		return s.Accepted == total && s.Indexed+s.Duplicates == total && s.Spool.Files == 0
	})
	s := o.Stats()
	if s.Dropped != 0 || s.DeadLettered != 0 || s.RequestErrors < 4 || s.Duplicates < 100 {
		t.Errorf("stats %+v: want the 4 late requests timed out, and their documents, sent again, found there (409)", s)
	}
	stored := f.stored()
	if len(stored) != total {
		t.Errorf("%d documents stored, %d written", len(stored), total)
	}
	for i := 0; i < total; i++ {
		r := genRecord(i)
		if _, ok := stored[idOf(&r)]; !ok {
			t.Fatalf("record %d lost", i)
		}
	}
	if !strings.Contains(logs.String(), "Timeout") && !strings.Contains(logs.String(), "deadline") {
		t.Errorf("the timeouts are not in the log:\n%s", logs)
	}
}

const killChildEnv = "FLOWLENS_ES_KILL_CHILD"

// TestKillChild is the child of TestKill9: it writes to a cluster that is
// down, so that everything goes to the spool, printing "wrote N" after
// batch N.
func TestKillChild(t *testing.T) {
	env := os.Getenv(killChildEnv)
	if env == "" {
		t.Skip("child process of TestKill9")
	}
	url, dir, _ := strings.Cut(env, " ")
	cfg := testConfig(t, url)
	cfg.Spool.Dir = dir
	cfg.Workers, cfg.BatchDocs, cfg.QueueSize, cfg.Counters = 1, killBatch, killQueue, false
	o, err := New(cfg, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		if err := o.Write(batchOf(i*killBatch, killBatch, 0)); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("wrote %d\n", i)
	}
}

const (
	killBatch = 200
	killQueue = 2
)

// TestKill9 kills a process spooling for a cluster that is down with
// SIGKILL, at different points of its writes, then starts again with the
// cluster up: no spool file is damaged, the half-written one is cleaned
// up, everything spooled is delivered once, and what is lost is at most
// what was in memory (the queue, the spool writer's hand-off and the
// request being filled).
func TestKill9(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		f, srv := newFakeES(t, "es8")
		f.setDown(true)
		dir := filepath.Join(t.TempDir(), "spool")
		cmd := exec.Command(exe, "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), killChildEnv+"="+srv.URL+" "+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wrote := -1
		killed := false
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "wrote "); ok {
				wrote, _ = strconv.Atoi(n)
				if wrote >= 20+10*round && !killed {
					time.Sleep(time.Duration(round) * time.Millisecond)
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
			} else if strings.HasPrefix(line, "error") {
				t.Fatal(line)
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d: the child stopped after batch %d", round, wrote)
		}
		tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp*"))

		seqs, corrupt := spooledSeqs(t, dir)
		if corrupt != 0 {
			t.Fatalf("round %d: %d spool files damaged by the kill", round, corrupt)
		}
		written := (wrote + 1) * killBatch
		for k, n := range seqs {
			if n != 1 || k >= written {
				t.Fatalf("round %d: document %d spooled %d times (%d written)", round, k, n, written)
			}
		}
		// In memory at the kill: the queue, the spiller's channel (2) and
		// the request it was writing, and the request being filled.
		if lost := written - len(seqs); lost > (killQueue+3+1)*killBatch {
			t.Errorf("round %d: %d documents lost of %d written: more than was in memory", round, lost, written)
		}

		f.setDown(false)
		cfg := testConfig(t, srv.URL)
		cfg.Spool.Dir = dir
		o, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the spool to drain", 20*time.Second, func() bool { return f.count() == len(seqs) })
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		if s := o.Stats(); s.Indexed != uint64(len(seqs)) || s.Duplicates != 0 || s.Spool.Files != 0 {
			t.Errorf("round %d: after the restart %+v", round, s)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
			t.Errorf("round %d: files left in the spool: %v", round, left)
		}
		t.Logf("round %d: killed after batch %d written; %d of %d documents were in the spool; %d half-written file(s) cleaned up",
			round, wrote, len(seqs), written, len(tmp))
	}
}

// A dead-letter file left ending in half an entry by a killed run is cut
// back to its last whole entry at start, and reported.
func TestDeadLetterTornLineCut(t *testing.T) {
	_, srv := newFakeES(t, "es8")
	cfg := testConfig(t, srv.URL)
	whole := `{"@timestamp":"2026-11-26T00:00:00Z","_index":"flow-2026.11.26","_id":"a","status":400,"error":{"type":"x","reason":"y"}}` + "\n"
	if err := os.WriteFile(cfg.DeadLetter.Path, []byte(whole+`{"@timestamp":"2026-11-26T00:00:01Z","_ind`), 0o640); err != nil {
		t.Fatal(err)
	}
	log, logs := testLogger(t)
	o, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	if b, _ := os.ReadFile(cfg.DeadLetter.Path); string(b) != whole {
		t.Errorf("dead-letter file after the start: %q", b)
	}
	if !strings.Contains(logs.String(), "dead-letter file ended in an unfinished line") {
		t.Errorf("not reported:\n%s", logs)
	}
}
