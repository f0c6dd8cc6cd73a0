//go:build e2e

package e2e

// Datagram loss across a collector restart under traffic, two ways: a collector that binds its
// own socket (the baseline: Open vSwitch drops what it sends while nothing is bound, measured,
// not asserted), and socket activation as flowlens.socket does it (the socket outlives the
// process; asserted: not one datagram lost).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	floodInterval = "0.0002" // 5000 echo requests/s (+ replies): ~10 kpps through br-int
	floodSeconds  = 8
)

// RestartResult is what restartLoss measured.
type RestartResult struct {
	Activated      bool                    `json:"socket_activation"`
	Agents         map[string]RestartAgent `json:"agents"`
	Lost           int64                   `json:"lost_datagrams"`
	StopMs         float64                 `json:"sigterm_to_exit_ms"`
	PauseMs        float64                 `json:"pause_ms"`
	StartMs        float64                 `json:"exec_to_bound_ms"`
	DowntimeMs     float64                 `json:"downtime_ms"` // SIGTERM to the new socket bound
	RatePerSec     float64                 `json:"datagrams_per_second"`
	FloodPPS       float64                 `json:"flood_echo_requests_per_second"`
	OVSSendFailed  int                     `json:"ovs_send_failures_logged"`
	OVSFailedAfter int                     `json:"ovs_send_failures_after_rebind"`
	FlowsA, FlowsB int                     `json:"-"`
	SumsB          []AgentSummary          `json:"-"`
	Err            string                  `json:"error,omitempty"`
}

// RestartAgent is the sequence view of one (agent, sub-agent) across the restart.
type RestartAgent struct {
	MaxSeqA    int64 `json:"max_seq_before"`
	MinSeqB    int64 `json:"min_seq_after"`
	GapRestart int64 `json:"lost_at_restart"`
	GapsOther  int64 `json:"lost_elsewhere"`
	DatagramsA int   `json:"datagrams_before"`
	DatagramsB int   `json:"datagrams_after"`
}

// restartLoss: collector A up, ping flood vm1 -> vm2 starts, after 2.5 s SIGTERM A, wait 1 s,
// start B on the same port while the flood goes on, stop B after the flood. Loss is read from
// the sFlow datagram sequence numbers seen by A and B.
func (l *Lab) restartLoss(bin string, port int, activated bool) *RestartResult {
	t := l.t
	rs := &RestartResult{Agents: map[string]RestartAgent{}, Activated: activated}
	tag := "restart"
	var sock *os.File
	if activated {
		tag = "restart-activated"
		sock = l.passedSocket(port)
		defer sock.Close()
	}
	a := l.startCollectorWith(bin, port, tag+"-a", sock)
	// Right after A binds, OVS's first send may still fail (ECONNREFUSED left over from the
	// time nobody listened); let A settle before the measurement starts.
	l.sleep(1500 * time.Millisecond)
	vm1, vm2 := l.VMs[0], l.VMs[1]
	flood, err := l.start("ping-flood", filepath.Join(l.Dir, "ping-flood.log"), "ip", "netns", "exec", vm1.Netns,
		"ping", "-q", "-n", "-i", floodInterval, "-w", strconv.Itoa(floodSeconds), vm2.IPv4.String())
	if err != nil {
		t.Fatal(err)
	}
	floodStart := time.Now()
	l.sleep(2500 * time.Millisecond)
	term := time.Now()
	a.stop(t)
	rs.StopMs = ms(a.Stopped.Sub(term))
	l.sleep(time.Second)
	pauseEnd := time.Now()
	rs.PauseMs = ms(pauseEnd.Sub(a.Stopped))
	b := l.startCollectorWith(bin, port, tag+"-b", sock)
	rs.StartMs = ms(b.Bound.Sub(b.Started))
	rs.DowntimeMs = ms(b.Bound.Sub(term))
	if err := flood.Wait(time.Duration(floodSeconds+10) * time.Second); err != nil {
		t.Logf("ping flood: %v", err)
	}
	floodEnd := time.Now()
	l.sleep(2 * time.Second)
	b.stop(t)

	var p Problems // contract problems are reported by the main output's parse
	outA, errA := ParseOutput(a.Out, &p)
	outB, errB := ParseOutput(b.Out, &p)
	if errA != nil || errB != nil {
		rs.Err = fmt.Sprint(errA, errB)
		return rs
	}
	rs.FlowsA, rs.FlowsB = len(outA.Flows)+len(outA.Datagrams), len(outB.Flows)+len(outB.Datagrams)
	rs.SumsB, _, _ = ParseSummaries(b.LogPath, &p)
	seqA, seqB := outA.Sequences(), outB.Sequences()
	for k, sb := range seqB {
		sa := seqA[k]
		ra := RestartAgent{DatagramsA: len(sa), DatagramsB: len(sb), MinSeqB: sb[0]}
		if len(sa) > 0 {
			ra.MaxSeqA = sa[len(sa)-1]
			ra.GapRestart = sb[0] - ra.MaxSeqA - 1
			ga, _ := Gaps(sa)
			gb, _ := Gaps(sb)
			ra.GapsOther = ga + gb
			rs.Lost += ra.GapRestart + ra.GapsOther
		}
		rs.Agents[k.String()] = ra
	}
	// datagram rate during the flood, from B's records received while the flood ran
	rs.RatePerSec = datagramRate(outB, b.Bound, floodEnd)
	if m := pingRe.FindStringSubmatch(tail(flood.LogPath, 5)); m != nil {
		n, _ := strconv.Atoi(m[1])
		rs.FloodPPS = float64(n) / floodEnd.Sub(floodStart).Seconds()
	}
	// OVS logs (rate-limited) each failed send to the collector: while nobody listens, and also
	// right after the new socket is bound, because the ICMP port-unreachable of the last send
	// into the void is reported (ECONNREFUSED) on OVS's connected socket at the next send().
	rs.OVSSendFailed, rs.OVSFailedAfter = ovsSendFailures(filepath.Join(l.LogDir, "ovs-vswitchd.log"), term, b.Bound)
	t.Logf("restart: flood %s from %s (%.1fs before SIGTERM)", vm2.IPv4, vm1, term.Sub(floodStart).Seconds())
	if j, err := json.MarshalIndent(rs, "", "  "); err == nil {
		_ = os.WriteFile(filepath.Join(l.Dir, tag+".json"), j, 0o644)
	}
	return rs
}

// datagramRate estimates datagrams/s from the sequence numbers of records stamped in [from, to].
func datagramRate(o *Output, from, to time.Time) float64 {
	var seqs []int64
	var t0, t1 time.Time
	add := func(ts time.Time, seq int64) {
		if ts.Before(from) || ts.After(to) {
			return
		}
		seqs = append(seqs, seq)
		if t0.IsZero() || ts.Before(t0) {
			t0 = ts
		}
		if ts.After(t1) {
			t1 = ts
		}
	}
	for _, f := range o.Flows {
		if f.HasSeq {
			add(f.Time, f.Seq)
		}
	}
	for _, d := range o.Datagrams {
		add(d.Time, d.Seq)
	}
	if len(seqs) < 2 || !t1.After(t0) {
		return 0
	}
	return float64(slices.Max(seqs)-slices.Min(seqs)) / t1.Sub(t0).Seconds()
}

// ovsSendFailures counts "sending to collector failed" lines logged from `from` on, and how many
// of them at or after `after`.
func ovsSendFailures(logPath string, from, after time.Time) (total, late int) {
	_ = readLines(logPath, func(line []byte) {
		s := string(line)
		if !strings.Contains(s, "sending to collector failed") {
			return
		}
		ts, _, _ := strings.Cut(s, "|")
		t, err := time.Parse("2006-01-02T15:04:05.000Z07:00", ts)
		if err != nil || t.Before(from.Add(-time.Millisecond)) {
			return
		}
		total++
		if !t.Before(after.Add(-time.Millisecond)) {
			late++
		}
	})
	return total, late
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func checkRestart(t *testing.T, rs *RestartResult) {
	if rs.Err != "" {
		t.Fatal(rs.Err)
	}
	what := "RESTART BASELINE (collector binds its own socket)"
	if rs.Activated {
		what = "RESTART WITH SOCKET ACTIVATION"
	}
	t.Logf("%s: %d sFlow datagrams lost across a collector restart (SIGTERM->exit %.0f ms, pause %.0f ms, exec->ready %.0f ms; downtime %.0f ms) at ~%.1f datagrams/s (ping flood %.0f requests/s)",
		what, rs.Lost, rs.StopMs, rs.PauseMs, rs.StartMs, rs.DowntimeMs, rs.RatePerSec, rs.FloodPPS)
	t.Logf("  ovs-vswitchd logged %d failed sends to the collector (rate-limited log) from SIGTERM on, %d of them after the new collector had bound its socket",
		rs.OVSSendFailed, rs.OVSFailedAfter)
	for k, a := range rs.Agents {
		t.Logf("  agent %s: before restart %d datagrams (last seq %d), after %d (first seq %d): %d lost at the restart, %d elsewhere",
			k, a.DatagramsA, a.MaxSeqA, a.DatagramsB, a.MinSeqB, a.GapRestart, a.GapsOther)
	}
	if rs.FlowsB == 0 {
		t.Errorf("the restarted collector wrote no flow records")
	}
	var dg int64
	for _, s := range rs.SumsB {
		dg += s.Datagrams
	}
	if dg == 0 {
		t.Errorf("the restarted collector's agent summaries report no datagrams: %+v", rs.SumsB)
	}
	if len(rs.Agents) == 0 {
		t.Errorf("no sequence numbers seen after the restart")
	}
	if rs.Activated {
		// br-ex's sub-agent only sends counters every polling interval:
		// the flooded bridge is the one that must span the restart.
		spanned := false
		for _, a := range rs.Agents {
			spanned = spanned || a.DatagramsA > 0 && a.DatagramsB > 0
		}
		if !spanned {
			t.Errorf("no agent was seen by both collectors, so the restart proves nothing: %+v", rs.Agents)
		}
		if rs.Lost != 0 {
			t.Errorf("%d datagrams lost across a restart with socket activation; want 0", rs.Lost)
		}
		if rs.OVSSendFailed != 0 {
			t.Errorf("ovs-vswitchd logged %d failed sends while the socket stayed bound", rs.OVSSendFailed)
		}
	}
}
