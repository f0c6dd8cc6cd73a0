package neutronlog

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// The follower reads what the agent appends, not what was there before,
// and carries on through a rotation (rename, new file) as the agent's
// WatchedFileHandler does it.
func TestFollowerTailsAndRotates(t *testing.T) {
	lines := readLines(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "sg.log")
	if err := os.WriteFile(path, []byte(lines[0]+"\n"), 0o644); err != nil { // history: not replayed
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []flow.Record
	var logs bytes.Buffer
	f := NewFollower(path, netip.MustParseAddr("192.0.2.10"), func(rs []flow.Record) {
		mu.Lock()
		got = append(got, rs...)
		mu.Unlock()
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	f.Poll, f.Loc = 10*time.Millisecond, time.UTC
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	n := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (stats %+v)", what, f.Stats())
			}
		}
	}
	time.Sleep(50 * time.Millisecond)
	appendTo := func(p string, ls ...string) {
		fh, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			fh.WriteString(l + "\n")
		}
		fh.Close()
	}
	// A DROP, an ACCEPT, another message, a malformed line, and the
	// first half of a DROP whose end comes later.
	appendTo(path, lines[0], lines[1], lines[5], lines[6])
	fh, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	fh.WriteString(lines[2][:100])
	fh.Close()
	wait("the first drop", func() bool { return n() == 1 })
	fh, _ = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	fh.WriteString(lines[2][100:] + "\n")
	fh.Close()
	wait("the drop written in two parts", func() bool { return n() == 2 })
	// Rotation.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(path, lines[3])
	wait("the drop in the new file", func() bool { return n() == 3 })
	st := f.Stats()
	if st.Drops != 3 || st.Accepts != 1 || st.Other != 1 || st.Malformed != 1 {
		t.Errorf("stats %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if got[0].Blocked == nil || got[0].DstPort != 8080 || got[0].Agent != netip.MustParseAddr("192.0.2.10") || got[1].Packet.ICMPType != 133 || got[2].DstPort != 53 {
		t.Errorf("records %+v", got)
	}
	if !bytes.Contains(logs.Bytes(), []byte("unreadable Neutron packet log line")) {
		t.Errorf("the malformed line is not reported:\n%s", logs.String())
	}
}
