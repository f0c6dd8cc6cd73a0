package store

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/pipeline"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// batchesIn counts the rows of each batch written by killRecords; a batch
// with another count than killBatch was written in part.
func batchesIn(t *testing.T, s *Store) map[int]int {
	t.Helper()
	rows, err := s.eng.DB().Query("SELECT sub_agent, count(*) FROM flows_raw GROUP BY sub_agent")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int]int{}
	for rows.Next() {
		var b, n int
		rows.Scan(&b, &n)
		got[b] = n
	}
	return got
}

// A damaged store at start-up does not stop flowlens: a damaged
// write-ahead log is moved aside (the store opens as of its last
// checkpoint), a damaged database file is moved aside with its log (an
// empty store), both reported. A log cut short (a power loss in the
// middle of an append) is no damage: the store opens with every whole
// batch, and nothing is moved.
func TestDamagedFilesSetAside(t *testing.T) {
	src := t.TempDir()
	checkpointed, withWAL := filepath.Join(src, "checkpointed"), filepath.Join(src, "wal")
	os.MkdirAll(checkpointed, 0o755)
	os.MkdirAll(withWAL, 0o755)
	s, err := Open(testConfig(filepath.Join(src, "live")), nil)
	if err != nil {
		t.Fatal(err)
	}
	const batches = 10
	for i := range batches {
		if err := s.Append(killRecords(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	// What a crash leaves: the database as of its last checkpoint, and
	// the log of every append since (each committed before it returned).
	live := filepath.Join(src, "live", FileName)
	copyFile(t, live, filepath.Join(withWAL, FileName))
	copyFile(t, live+".wal", filepath.Join(withWAL, FileName+".wal"))
	if err := s.Close(); err != nil { // checkpoints: no log left
		t.Fatal(err)
	}
	copyFile(t, live, filepath.Join(checkpointed, FileName))
	if _, err := os.Stat(live + ".wal"); !os.IsNotExist(err) {
		t.Fatalf("a log is left after Close: %v", err)
	}

	damage := func(path string, at int64, n int) func(t *testing.T) {
		return func(t *testing.T) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, n), at); err != nil {
				t.Fatal(err)
			}
		}
	}
	cut := func(path string, frac float64) func(t *testing.T) {
		return func(t *testing.T) {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, int64(float64(st.Size())*frac)); err != nil {
				t.Fatal(err)
			}
		}
	}
	walSize := func() int64 { st, _ := os.Stat(filepath.Join(withWAL, FileName+".wal")); return st.Size() }()
	for _, tc := range []struct {
		name    string
		from    string
		file    string // damaged, relative to the store
		damage  func(dir string) func(t *testing.T)
		moved   []string // files moved aside
		batches int      // whole batches after the start; -1: some
	}{
		{"log entry damaged", withWAL, FileName + ".wal",
			func(dir string) func(*testing.T) { return damage(filepath.Join(dir, FileName+".wal"), walSize/2, 64) },
			[]string{FileName + ".wal"}, 0},
		{"log cut short", withWAL, FileName + ".wal",
			func(dir string) func(*testing.T) { return cut(filepath.Join(dir, FileName+".wal"), 0.5) },
			nil, -1},
		{"database header damaged", checkpointed, FileName,
			func(dir string) func(*testing.T) { return damage(filepath.Join(dir, FileName), 0, 12288) },
			[]string{FileName}, 0},
		{"database block damaged", checkpointed, FileName,
			func(dir string) func(*testing.T) { return damage(filepath.Join(dir, FileName), 12288, 256<<10) },
			[]string{FileName}, 0},
		{"database cut short", checkpointed, FileName,
			func(dir string) func(*testing.T) { return cut(filepath.Join(dir, FileName), 0.3) },
			[]string{FileName}, 0},
		{"database damaged, with a log", withWAL, FileName,
			func(dir string) func(*testing.T) { return damage(filepath.Join(dir, FileName), 0, 12288) },
			[]string{FileName, FileName + ".wal"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range []string{FileName, FileName + ".wal"} {
				if _, err := os.Stat(filepath.Join(tc.from, f)); err == nil {
					copyFile(t, filepath.Join(tc.from, f), filepath.Join(dir, f))
				}
			}
			tc.damage(dir)(t)
			before := map[string][]byte{}
			for _, f := range tc.moved {
				before[f], _ = os.ReadFile(filepath.Join(dir, f))
			}
			var logs bytes.Buffer
			s, err := Open(testConfig(dir), slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("a damaged store stops the start: %v", err)
			}
			defer s.Close()
			if err := s.Check(context.Background()); err != nil {
				t.Fatalf("integrity check after the start: %v", err)
			}
			got := batchesIn(t, s)
			for b, n := range got {
				if n != killBatch {
					t.Errorf("batch %d has %d rows of %d: a partial write", b, n, killBatch)
				}
			}
			switch {
			case tc.batches >= 0 && len(got) != tc.batches:
				t.Errorf("%d batches after the start, want %d", len(got), tc.batches)
			case tc.batches < 0 && (len(got) == 0 || len(got) >= batches):
				t.Errorf("%d batches after the start, want some of the %d", len(got), batches)
			}
			for _, f := range tc.moved {
				aside, _ := filepath.Glob(filepath.Join(dir, f+".corrupt-*"))
				if len(aside) != 1 {
					t.Fatalf("%s moved aside as %v", f, aside)
				}
				if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, before[f]) {
					t.Errorf("%s does not hold what %s held", aside[0], f)
				}
			}
			all, _ := filepath.Glob(filepath.Join(dir, "*.corrupt-*"))
			if len(all) != len(tc.moved) {
				t.Errorf("moved aside: %v, want %v", all, tc.moved)
			}
			if len(tc.moved) > 0 && (!strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "moved aside")) {
				t.Errorf("not reported:\n%s", logs.String())
			}
			if len(tc.moved) == 0 && logs.Len() != 0 {
				t.Errorf("logged:\n%s", logs.String())
			}
			// It goes on storing.
			if err := s.Append(killRecords(100), nil); err != nil {
				t.Fatal(err)
			}
			if got := batchesIn(t, s); got[100] != killBatch {
				t.Errorf("after the start: %d rows of a new batch", got[100])
			}
		})
	}
}

// A store another process has open is not damaged: the start fails with
// DuckDB's error, and nothing is moved.
func TestLockedStoreNotSetAside(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait() }()
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "ack ") {
	}
	go func() {
		for sc.Scan() {
		}
	}()
	s, err := Open(testConfig(dir), nil)
	if err == nil {
		s.Close()
		t.Fatal("opened a store another process has open")
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, "*.corrupt-*")); len(aside) != 0 {
		t.Errorf("moved aside: %v (error: %v)", aside, err)
	}
	t.Logf("error: %v", err)
}

// The store's disk fills up: the write that does not fit fails whole and
// is counted; a checkpoint on the full disk makes DuckDB give up on the
// database (a fatal error), which the store opens again; once there is
// room the store goes on, and after a restart every batch written is
// there, whole. A real full file system: a small tmpfs.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs for a real full disk needs root; run the tests as root to cover it")
	}
	disk := t.TempDir()
	if err := syscall.Mount("tmpfs", disk, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=6m"); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v)", disk, err)
	}
	t.Cleanup(func() { syscall.Unmount(disk, syscall.MNT_DETACH) })
	defer func(d time.Duration) { reopenEvery = d }(reopenEvery)
	reopenEvery = 0
	filler := filepath.Join(disk, "filler")
	if err := os.WriteFile(filler, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(filepath.Join(disk, "store"))
	var logs bytes.Buffer
	s, err := Open(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	written := map[int]bool{}
	full := -1
	for i := 0; i < 1000; i++ {
		if err := s.Write(&pipeline.Batch{Flows: killRecords(i)}); err != nil {
			if !strings.Contains(err.Error(), "No space left on device") {
				t.Fatalf("batch %d: %v", i, err)
			}
			full = i
			break
		}
		written[i] = true
	}
	if full < 0 {
		t.Fatal("the disk never filled up")
	}
	// The hourly checkpoint comes while the disk is full.
	s.checkpoint()
	err = s.Write(&pipeline.Batch{Flows: killRecords(full + 1)})
	if err == nil {
		t.Fatal("a write on a full disk worked")
	}
	if st, _ := s.Stats(context.Background()); st.WriteErrors != 2 {
		t.Errorf("write errors counted: %d, want 2", st.WriteErrors)
	}
	os.Remove(filler)
	for i := full + 2; i < full+5; i++ {
		if err := s.Write(&pipeline.Batch{Flows: killRecords(i)}); err != nil {
			t.Fatalf("batch %d, once there is room again: %v\n%s", i, err, logs.String())
		}
		written[i] = true
	}
	if !strings.Contains(logs.String(), "store: write failed, its records are lost") {
		t.Errorf("the failed writes are not reported:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "was opened again") {
		t.Errorf("the reopening is not reported:\n%s", logs.String())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, cfg)
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := batchesIn(t, s)
	for b, n := range got {
		if !written[b] || n != killBatch {
			t.Errorf("batch %d: %d rows (written: %v)", b, n, written[b])
		}
	}
	if len(got) != len(written) {
		t.Errorf("%d batches stored, %d written", len(got), len(written))
	}
}
