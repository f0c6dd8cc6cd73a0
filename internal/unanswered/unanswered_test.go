package unanswered

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
)

func tcp(at time.Time, src, dst string, sport, dport uint16, flags uint16, rate uint32) flow.Record {
	r := flow.Record{Time: at, SamplingRate: rate}
	r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort = netip.MustParseAddr(src), netip.MustParseAddr(dst), sport, dport
	r.Proto, r.HasProto, r.TCPFlags = 6, true, flags
	return r
}

// The lab's traffic: TCP 8080 SYNs a security group dropped (retried, no
// reply), an allowed SSH connection, a single unanswered SYN at sampling
// 1 in 64 (not reported: its reply may merely be unsampled), the same
// SYN seen again on another bridge (one SYN).
func TestUnanswered(t *testing.T) {
	now := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	tr := New(Config{Window: 10 * time.Second})
	tr.now = func() time.Time { return now }
	repeat := tcp(now.Add(time.Second), "10.20.0.11", "10.20.0.12", 40001, 8080, syn, 1)
	repeat.Observation = flow.ObservationForwarded
	b := &pipeline.Batch{Flows: []flow.Record{
		tcp(now, "10.20.0.11", "10.20.0.12", 40001, 8080, syn, 1),
		repeat,
		tcp(now.Add(time.Second), "10.20.0.11", "10.20.0.12", 40001, 8080, syn, 1),
		tcp(now.Add(3*time.Second), "10.20.0.11", "10.20.0.12", 40002, 8080, syn, 1),
		tcp(now, "10.20.0.11", "10.20.0.12", 40003, 22, syn, 1),
		tcp(now, "10.20.0.12", "10.20.0.11", 22, 40003, syn|ack, 1),
		tcp(now, "10.20.0.11", "10.20.0.13", 40004, 22, syn, 1),
		tcp(now, "10.20.0.11", "10.20.0.13", 40004, 22, ack, 1), // the SYN-ACK unsampled, the connection exists
		tcp(now, "10.20.0.11", "10.20.0.14", 40005, 443, syn, 64),
		tcp(now, "10.20.0.11", "10.20.0.15", 40006, 443, syn, 64),
		tcp(now.Add(time.Second), "10.20.0.11", "10.20.0.15", 40006, 443, syn, 64),
	}}
	tr.Observe(b.Flows, nil)
	if r := tr.Report(time.Time{}); len(r.Rows) != 0 || r.Tracking != 4 {
		t.Fatalf("before the window: %d rows, tracking %d (want 0, 4)", len(r.Rows), r.Tracking)
	}
	now = now.Add(15 * time.Second)
	r := tr.Report(time.Time{})
	if len(r.Rows) != 2 || r.Inference == "" {
		t.Fatalf("rows %+v", r.Rows)
	}
	got := r.Rows[0]
	if got.DstIP.String() != "10.20.0.12" || got.DstPort != 8080 || got.Attempts != 2 || got.SYNs != 3 {
		t.Errorf("8080: %+v, want 2 attempts, 3 SYN samples", got)
	}
	if got := r.Rows[1]; got.DstIP.String() != "10.20.0.15" || got.Attempts != 1 || got.SYNs != 2 {
		t.Errorf("retried at 1 in 64: %+v", got)
	}
	if r.Tracking != 0 {
		t.Errorf("still tracking %d", r.Tracking)
	}
	// Kept for Keep, then forgotten; from filters.
	if r := tr.Report(now); len(r.Rows) != 0 {
		t.Errorf("from now: %+v", r.Rows)
	}
	now = now.Add(2 * time.Hour)
	if r := tr.Report(time.Time{}); len(r.Rows) != 0 {
		t.Errorf("after keep: %+v", r.Rows)
	}
}

// SYN retries further apart than the window (TCP waits 1, 2, 4 s) stay
// one attempt; a reply that comes late withdraws it.
func TestUnansweredRetriesAfterTheWindow(t *testing.T) {
	now := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	tr := New(Config{Window: time.Second})
	tr.now = func() time.Time { return now }
	t0 := now
	for _, at := range []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second} {
		now = t0.Add(at)
		tr.Observe([]flow.Record{tcp(now, "10.0.0.1", "10.0.0.2", 40000, 8080, syn, 1),
			tcp(now, "10.0.0.1", "10.0.0.3", 40001, 443, syn, 1)}, nil)
		// between retries, the window passes: the attempt is found unanswered
		now = now.Add(1500 * time.Millisecond)
		tr.Report(time.Time{})
	}
	now = now.Add(5 * time.Second)
	tr.Observe([]flow.Record{tcp(now, "10.0.0.3", "10.0.0.1", 443, 40001, syn|ack, 1)}, nil) // late answer
	r := tr.Report(time.Time{})
	if len(r.Rows) != 1 || r.Rows[0].Attempts != 1 || r.Rows[0].SYNs != 4 || r.Rows[0].DstPort != 8080 {
		t.Errorf("rows %+v, want one attempt of 4 SYNs to 8080", r.Rows)
	}
}

// Beyond MaxTracked, SYNs are counted, not followed.
func TestUnansweredBound(t *testing.T) {
	tr := New(Config{MaxTracked: 2})
	now := time.Now()
	b := &pipeline.Batch{}
	for i := range 5 {
		b.Flows = append(b.Flows, tcp(now, "192.0.2.1", "192.0.2.2", uint16(1000+i), 80, syn, 1))
	}
	tr.Observe(b.Flows, nil)
	if r := tr.Report(time.Time{}); r.Tracking != 2 || r.Untracked != 3 {
		t.Errorf("tracking %d untracked %d", r.Tracking, r.Untracked)
	}
}
