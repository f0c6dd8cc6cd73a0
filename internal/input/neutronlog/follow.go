package neutronlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/lograte"
)

// ParseFile reads the "AGENT=PATH" form of input.neutron_log.files.
func ParseFile(s string) (agent netip.Addr, path string, err error) {
	a, p, ok := strings.Cut(s, "=")
	if !ok || p == "" {
		return agent, "", fmt.Errorf("input.neutron_log.files %q: write AGENT=PATH: the address of the hypervisor the log is from (its sFlow agent address) and the log file, e.g. 192.0.2.10=/var/log/neutron/security-group.log", s)
	}
	agent, err = netip.ParseAddr(a)
	if err != nil {
		return agent, "", fmt.Errorf("input.neutron_log.files %q: %q is not an IP address", s, a)
	}
	return agent.Unmap(), p, nil
}

// Stats count what a Follower read.
type Stats struct {
	Lines     uint64 // complete lines read
	Drops     uint64 // DROP lines: blocked records
	Accepts   uint64 // ACCEPT lines (not recorded)
	Other     uint64 // lines without action= (the agent's other messages)
	Malformed uint64 // lines with action= that could not be read
}

// Follower follows one packet log file like `tail -F`: from its end at
// start (the history before is not replayed), through rotation (the agent
// writes through a WatchedFileHandler, which reopens a renamed file).
type Follower struct {
	Path  string
	Agent netip.Addr
	Loc   *time.Location // zone of the log's times (nil: local)
	// Poll is how often the file is checked for new lines (0: 500 ms).
	Poll time.Duration
	log  *slog.Logger
	out  func([]flow.Record)

	mu   sync.Mutex
	st   Stats
	warn lograte.Limiter
}

// NewFollower returns a follower that hands the blocked records of each
// read to out.
func NewFollower(path string, agent netip.Addr, out func([]flow.Record), log *slog.Logger) *Follower {
	return &Follower{Path: path, Agent: agent, out: out, log: log}
}

// Stats returns the counters.
func (f *Follower) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// Run follows the file until ctx is done. A missing file is waited for.
func (f *Follower) Run(ctx context.Context) {
	poll := f.Poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	loc := f.Loc
	if loc == nil {
		loc = time.Local
	}
	var file *os.File
	var partial []byte
	first := true // at start, skip what is there already
	missingLogged := false
	defer func() {
		if file != nil {
			file.Close()
		}
	}()
	buf := make([]byte, 64<<10)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if file == nil {
			fh, err := os.Open(f.Path)
			switch {
			case err == nil:
				if first {
					fh.Seek(0, io.SeekEnd)
				}
				file, partial, missingLogged = fh, partial[:0], false
				f.log.Info("following Neutron's packet log for security group drops", "path", f.Path, "agent", f.Agent)
			case !missingLogged:
				f.log.Warn("Neutron packet log not readable yet; waiting for it", "path", f.Path, "error", err)
				missingLogged = true
			}
			first = false
		}
		if file != nil {
			for {
				n, err := file.Read(buf)
				partial = append(partial, buf[:n]...)
				f.lines(&partial, loc)
				if n == 0 || err != nil {
					break
				}
			}
			if f.replaced(file) {
				// Rotated: what the old file had is read; the new one is
				// read from its start.
				file.Close()
				file = nil
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// replaced says whether the path now names another file, or the file was
// truncated.
func (f *Follower) replaced(file *os.File) bool {
	cur, err1 := file.Stat()
	now, err2 := os.Stat(f.Path)
	if err1 != nil || err2 != nil {
		return err2 == nil // the old one is gone and a new one is there
	}
	if !os.SameFile(cur, now) {
		return true
	}
	off, err := file.Seek(0, io.SeekCurrent)
	if err == nil && now.Size() < off {
		file.Seek(0, io.SeekStart) // truncated (copytruncate)
	}
	return false
}

// maxLine bounds a line kept while waiting for its end.
const maxLine = 1 << 20

// lines parses the complete lines of *b and keeps the unfinished rest.
func (f *Follower) lines(b *[]byte, loc *time.Location) {
	var recs []flow.Record
	now := time.Now()
	for {
		i := bytes.IndexByte(*b, '\n')
		if i < 0 {
			if len(*b) > maxLine {
				*b = (*b)[:0] // not a log line: drop it
			}
			break
		}
		line := string((*b)[:i])
		*b = (*b)[i+1:]
		e, err := ParseLine(line, loc, now)
		f.mu.Lock()
		f.st.Lines++
		switch {
		case errors.Is(err, ErrNotPacketLog):
			f.st.Other++
		case err != nil:
			f.st.Malformed++
			if ok, _ := f.warn.Allow(now, time.Minute); ok {
				f.log.Warn("unreadable Neutron packet log line skipped (logged at most once a minute)", "path", f.Path,
					"reason", err, "malformed_total", f.st.Malformed)
			}
		case e.Action == "DROP":
			f.st.Drops++
			recs = append(recs, e.Record(f.Agent))
		default:
			f.st.Accepts++
		}
		f.mu.Unlock()
	}
	// Keep the buffer from growing: move the rest to the front.
	*b = append((*b)[:0:0], *b...)
	if len(recs) > 0 {
		f.out(recs)
	}
}

// Followers are the packet logs being followed.
type Followers struct {
	List []*Follower
	wg   sync.WaitGroup
}

// Start follows each AGENT=PATH of files until ctx ends, handing the
// records of each to a sink of its own (sink is called once per file).
// Wait before closing what the sinks write to.
func Start(ctx context.Context, files []string, sink func() func([]flow.Record), log *slog.Logger) *Followers {
	fs := &Followers{}
	for _, spec := range files {
		agent, path, err := ParseFile(spec) // checked when the configuration was loaded
		if err != nil {
			continue
		}
		f := NewFollower(path, agent, sink(), log)
		fs.List = append(fs.List, f)
		fs.wg.Add(1)
		go func() {
			defer fs.wg.Done()
			f.Run(ctx)
		}()
	}
	return fs
}

// Wait waits for the followers to stop (their context ended).
func (fs *Followers) Wait() { fs.wg.Wait() }
