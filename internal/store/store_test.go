package store

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/synth"
)

func testConfig(dir string) Config {
	c := DefaultConfig()
	c.Path = dir
	c.MaintenanceInterval = 0
	c.MemoryLimit = "256MB"
	c.Threads = 2
	return c
}

func openTest(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tinyCloud is a 20-VM cloud (about 100 records a minute), enough for
// behaviour tests.
func tinyCloud() *synth.Cloud {
	c := synth.DefaultConfig()
	c.VMs, c.Hypervisors, c.Projects, c.Conversations, c.Noise, c.Peers = 20, 3, 3, 60, 10, 20
	return synth.New(c)
}

// fill ingests [from, to) of cloud, running maintenance with the data's
// clock every maintainEvery intervals; it returns the bytes of each
// interval start.
func fill(t testing.TB, s *Store, c *synth.Cloud, from, to time.Time, maintainEvery int) map[int64]int64 {
	t.Helper()
	bytes := map[int64]int64{}
	i := 0
	err := c.Range(from, to, func(f []flow.Record, cs []flow.Counter) error {
		for j := range f {
			if f[j].Observation.First() { // what queries count by default
				bytes[f[j].Start.Unix()] += int64(f[j].Bytes)
			}
		}
		if err := s.Append(f, cs); err != nil {
			return err
		}
		i++
		if i%maintainEvery == 0 {
			return s.Maintain(f[0].End)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bytes
}

func sumSince(bytes map[int64]int64, from, to time.Time) int64 {
	var n int64
	for ts, b := range bytes {
		if ts >= from.Unix() && ts < to.Unix() {
			n += b
		}
	}
	return n
}

var day = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

func total(t *testing.T, s *Store, from, to time.Time, filters ...Filter) int64 {
	t.Helper()
	top, err := s.Top(context.Background(), TopRequest{Query: Query{From: from, To: to, Filters: filters}, By: []string{"proto"}})
	if err != nil {
		t.Fatal(err)
	}
	return top.Total.Bytes
}

// Rollups keep every byte while resolutions coarsen, and retention
// deletes each tier's old rows, on 14 h of traffic with 5 min after 2 h,
// 1 h after 6 h and 12 h of retention.
func TestRollupsAndRetention(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Retention, cfg.Rollups = 12*time.Hour, []string{"1h after 6h", "5m after 2h"}
	s := openTest(t, cfg)
	c := tinyCloud()
	end := day.Add(14 * time.Hour)
	bytes := fill(t, s, c, day, end, 15)
	// Past the grace period, the last partial buckets are rolled up too.
	if err := s.Maintain(end.Add(10 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Tiers) != 3 || st.Tiers[1].Step != 300 || st.Tiers[2].Step != 3600 {
		t.Fatalf("tiers %+v", st.Tiers)
	}
	if u := s.Usage(); u.Bytes != st.Bytes || u.Bytes == 0 || u.Written != st.Written || u.Written == 0 {
		t.Errorf("usage %+v, stats %+v", u, st)
	}
	now := end.Add(10 * time.Minute)
	for i, want := range []time.Duration{2 * time.Hour, 6 * time.Hour, 12 * time.Hour} {
		tr := st.Tiers[i]
		if tr.Rows == 0 {
			t.Fatalf("tier %d empty", i)
		}
		if age := now.Sub(tr.Oldest); age > want || age < want-time.Hour {
			t.Errorf("tier %ds: oldest row %s old, want about %s", tr.Step, age, want)
		}
	}
	if st.Tiers[1].Newest != end.Add(-5*time.Minute) || st.Tiers[2].Newest != end.Add(-time.Hour) {
		t.Errorf("rollups did not reach the end: %+v", st.Tiers)
	}
	// Every byte of the retained period, whatever tiers answer.
	// The first whole hour within the retention (the bucket of 02:00 is
	// older than 12 h when it starts, so it has gone).
	from := now.Add(-12 * time.Hour).Truncate(time.Hour).Add(time.Hour)
	for _, r := range [][2]time.Time{{from, end}, {end.Add(-90 * time.Minute), end}, {end.Add(-5 * time.Hour), end.Add(-4 * time.Hour)}, {from, from.Add(3 * time.Hour)}} {
		if got, want := total(t, s, r[0], r[1]), sumSince(bytes, r[0], r[1]); got != want {
			t.Errorf("%s..%s: %d bytes, want %d", r[0].Format("15:04"), r[1].Format("15:04"), got, want)
		}
	}
	// Ranges off the buckets' bounds are read exactly: whole hours from
	// the hourly tier, the edges from 5-minute and raw rows.
	// (Raw rows are kept 2 h here, 5-minute ones 6 h.)
	for _, r := range [][2]time.Time{{end.Add(-5*time.Hour - 15*time.Minute), end.Add(-37 * time.Minute)},
		{end.Add(-4*time.Hour - 5*time.Minute), end.Add(-time.Hour - 50*time.Minute)}} {
		if got, want := total(t, s, r[0], r[1]), sumSince(bytes, r[0], r[1]); got != want {
			t.Errorf("%s..%s: %d bytes, want %d", r[0].Format("15:04"), r[1].Format("15:04"), got, want)
		}
	}
	// Where only hourly rows are left, a range starting within an hour
	// reads that whole hour, and says so.
	top, err := s.Top(context.Background(), TopRequest{Query: Query{From: from.Add(20 * time.Minute), To: from.Add(3 * time.Hour)}, By: []string{"proto"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := sumSince(bytes, from, from.Add(3*time.Hour)); !top.From.Equal(from) || top.Total.Bytes != want {
		t.Errorf("from %s: answered from %s with %d bytes, want %s and %d", from.Add(20*time.Minute).Format("15:04"), top.From.Format("15:04"), top.Total.Bytes, from.Format("15:04"), want)
	}
	// Rollups fold clients' ephemeral ports; the raw tier keeps them.
	for _, tier := range []string{"flows_raw", "flows_300", "flows_3600"} {
		var n int64
		q := "SELECT count(*) FROM " + tier + " WHERE (src_port >= 32768 AND dst_port BETWEEN 1 AND 32767) OR (dst_port >= 32768 AND src_port BETWEEN 1 AND 32767)"
		if err := s.eng.DB().QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if (n == 0) != (tier != "flows_raw") {
			t.Errorf("%s: %d rows with an ephemeral client port", tier, n)
		}
	}
	// Nothing older than the retention.
	if got := total(t, s, day, from); got != 0 {
		t.Errorf("%d bytes kept past the retention", got)
	}
	// The step follows the tier: 1 min for the last hour, 5 min for the
	// last 6 h, 1 h beyond.
	for _, tc := range []struct {
		from time.Time
		step int64
	}{{end.Add(-time.Hour), 60}, {end.Add(-5 * time.Hour), 300}, {from, 3600}} {
		ts, err := s.Timeseries(context.Background(), TimeseriesRequest{Query: Query{From: tc.from, To: end}, Step: 60})
		if err != nil {
			t.Fatal(err)
		}
		if ts.Step != tc.step {
			t.Errorf("from %s: step %d, want %d", tc.from.Format("15:04"), ts.Step, tc.step)
		}
		var sum float64
		for _, v := range ts.Series[0].Values {
			sum += v * float64(ts.Step) / 8
		}
		if want := sumSince(bytes, ts.From, end); int64(sum+0.5) != want {
			t.Errorf("from %s: series sum %.0f, want %d", tc.from.Format("15:04"), sum, want)
		}
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// After a restart, the data and the rollup progress are there: rollups go
// on without double counting.
func TestRestart(t *testing.T) {
	cfg := testConfig(t.TempDir())
	c := tinyCloud()
	s, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	b1 := fill(t, s, c, day, day.Add(2*time.Hour), 10)
	st1, _ := s.Stats(context.Background())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, cfg)
	st2, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st2.Rows != st1.Rows || st2.Counters != st1.Counters || !st2.Oldest.Equal(st1.Oldest) || !st2.Newest.Equal(st1.Newest) {
		t.Fatalf("after restart %+v, before %+v", st2, st1)
	}
	b2 := fill(t, s, c, day.Add(2*time.Hour), day.Add(3*time.Hour), 10)
	for k, v := range b2 {
		b1[k] = v
	}
	if err := s.Maintain(day.Add(3*time.Hour + 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	want := sumSince(b1, day, day.Add(3*time.Hour))
	if got := total(t, s, day, day.Add(3*time.Hour)); got != want {
		t.Errorf("%d bytes, want %d", got, want)
	}
	// The 5-minute tier alone holds each byte once.
	var rolled int64
	if err := s.eng.DB().QueryRow("SELECT sum(bytes) FROM flows_300 WHERE true" + firstObservation).Scan(&rolled); err != nil {
		t.Fatal(err)
	}
	if rolled != want {
		t.Errorf("flows_300 holds %d bytes, want %d", rolled, want)
	}
}

const childEnv = "FLOWLENS_STORE_KILL_CHILD"

// killBatch is the records per batch the child writes.
const killBatch = 500

func killRecords(i int) []flow.Record {
	out := make([]flow.Record, killBatch)
	start := day.Add(time.Duration(i) * time.Minute)
	for j := range out {
		r := flow.Record{Start: start, End: start.Add(time.Minute), Time: start.Add(time.Minute),
			Agent: netip.MustParseAddr("192.0.2.1"), SubAgent: uint32(i), Bytes: 1000, Packets: 1, Samples: 1}
		r.SrcAddr, r.DstAddr = netip.AddrFrom4([4]byte{10, 0, byte(j >> 8), byte(j)}), netip.MustParseAddr("10.1.0.1")
		r.Proto, r.HasProto, r.SrcPort, r.DstPort, r.HasPorts = 6, true, uint16(j), 443, true
		out[j] = r
	}
	return out
}

// TestKillChild is the child of TestKill9: it writes batches in a loop,
// with maintenance between them, printing "ack N" once batch N is stored.
func TestKillChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("child process of TestKill9")
	}
	cfg := testConfig(dir)
	cfg.Rollups = []string{"5m after 2h"}
	s, err := Open(cfg, nil)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		if err := s.Append(killRecords(i), nil); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Printf("ack %d\n", i)
		if i%7 == 6 {
			if err := s.Maintain(day.Add(time.Duration(i) * time.Minute)); err != nil {
				fmt.Println("error", err)
				os.Exit(1)
			}
		}
	}
}

// TestKill9 kills a process writing to the store with SIGKILL, then
// reopens the store: it must open, pass its integrity check, hold every
// batch acknowledged before the kill, and no partial batch.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		cmd := exec.Command(exe, "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := -1
		sc := bufio.NewScanner(out)
		killAt := 20 + 13*round
		for sc.Scan() {
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "ack "); ok {
				acked, _ = strconv.Atoi(n)
				if acked >= killAt {
					cmd.Process.Signal(syscall.SIGKILL)
					break
				}
			} else if strings.HasPrefix(line, "error") {
				t.Fatal(line)
			}
		}
		cmd.Wait()
		if acked < killAt {
			t.Fatalf("round %d: child stopped after batch %d", round, acked)
		}

		s, err := Open(testConfig(dir), nil)
		if err != nil {
			t.Fatalf("round %d: reopening after kill -9: %v", round, err)
		}
		if err := s.Check(context.Background()); err != nil {
			t.Fatalf("round %d: integrity check after kill -9: %v", round, err)
		}
		rows, err := s.eng.DB().Query("SELECT sub_agent, count(*) FROM flows_raw GROUP BY sub_agent")
		if err != nil {
			t.Fatal(err)
		}
		got := map[int]int{}
		for rows.Next() {
			var b, n int
			rows.Scan(&b, &n)
			got[b] = n
		}
		rows.Close()
		for i := 0; i <= acked; i++ {
			if got[i] != killBatch {
				t.Errorf("round %d: acknowledged batch %d has %d rows of %d", round, i, got[i], killBatch)
			}
		}
		for b, n := range got {
			if n != killBatch {
				t.Errorf("round %d: batch %d has %d rows: a partial write", round, b, n)
			}
		}
		t.Logf("round %d: killed after batch %d acknowledged; %d batches on disk", round, acked, len(got))
		s.Close()
		// The next round appends the same batches again: start clean.
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o755)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		rollups []string
		ret     time.Duration
		want    string
	}{
		{[]string{"5m after"}, 168 * time.Hour, "RESOLUTION after AGE"},
		{[]string{"5x after 6h"}, 168 * time.Hour, "durations"},
		{[]string{"90s after 6h"}, 168 * time.Hour, "whole minutes"},
		{[]string{"5m after 6h", "7m after 12h"}, 168 * time.Hour, "multiple"},
		{[]string{"5m after 6h", "1h after 2h"}, 168 * time.Hour, "start later"},
		{[]string{"5m after 6h"}, 2 * time.Hour, "shorter"},
		{nil, time.Minute, "at least 1h"},
	} {
		c := DefaultConfig()
		c.Rollups, c.Retention = tc.rollups, tc.ret
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %s: %v, want %q", tc.rollups, tc.ret, err, tc.want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Error(err)
	}
	for size, ok := range map[string]bool{"32MB": true, "1GB": true, "512 MiB": true, "0.5GB": true, "32": false, "lots": false, "32 M": false} {
		c := DefaultConfig()
		c.CheckpointThreshold = size
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("checkpoint_threshold %q: %v", size, err)
		}
		if ok { // what passes validation, DuckDB takes
			e, err := OpenDuckDB(filepath.Join(t.TempDir(), "x.duckdb"), DuckDBOptions{CheckpointThreshold: size})
			if err != nil {
				t.Errorf("checkpoint_threshold %q: %v", size, err)
				continue
			}
			e.Close()
		}
	}
}
