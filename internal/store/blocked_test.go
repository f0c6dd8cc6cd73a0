package store

import (
	"context"
	"github.com/flowlens/flowlens/internal/console/apiv1"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// The lab's blocked TCP 8080 SYNs (vm1 → vm2, dropped by vm2's security
// group) next to the sFlow samples of the same packets and of allowed SSH.
func blockedFlows(start time.Time) []flow.Record {
	syn := obsRecord(start, flow.ObservationPort, 60)
	syn.SrcAddr, syn.DstAddr, syn.DstPort, syn.Packets = netip.MustParseAddr("10.30.0.11"), netip.MustParseAddr("10.30.0.12"), 8080, 1
	syn.SrcID = &flow.Identity{InstanceName: "vm1", ProjectName: "demo", PortID: "p1"}
	syn.DstID = &flow.Identity{InstanceName: "vm2", ProjectName: "demo", PortID: "p2"}
	ssh := syn
	ssh.DstPort, ssh.Bytes, ssh.Packets = 22, 6000, 100
	drop := syn
	drop.Input, drop.SubAgent, drop.Samples = flow.InputIPFIX, 1<<24|1, 4
	drop.Bytes, drop.Packets = 240, 4
	drop.Blocked = &flow.Blocked{Source: flow.BlockedOVNDropSampling, LogicalFlow: "e755ed2a-6b3c-4d5e-9f01-23456789abcd", Stage: "ls_out_acl",
		ACL: "c0fddb45-fb97-400f-b1bb-b18108b22882", ACLDirection: "to-lport", Default: true,
		SecurityGroups: []string{"53d28899-3b1f-489c-81f8-6edd94637fae"}, Port: "p2"}
	gone := drop
	gone.ObservationPointID, gone.Samples, gone.Bytes, gone.Packets = 0xfa0ab1e1, 1, 60, 1
	gone.Blocked = &flow.Blocked{Source: flow.BlockedOVNDropSampling, LogicalFlow: "fa0ab1e1", Reason: "logical flow not found"}
	return []flow.Record{syn, ssh, drop, gone}
}

// Drop samples reach the store with their cause, are selected by the
// blocked dimension, answer /api/v1/blocked, and are not traffic: the
// packets were counted where they entered.
func TestBlockedStoredAndQueried(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Rollups = []string{"5m after 2h"}
	s := openTest(t, cfg)
	var flows []flow.Record
	for i := range 10 {
		flows = append(flows, blockedFlows(day.Add(time.Duration(i)*time.Minute))...)
	}
	if err := s.Append(flows, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, rng := range [][2]time.Time{{day, day.Add(10 * time.Minute)}, {day, day.Add(time.Hour)}} {
		q := Query{From: rng[0], To: rng[1]}
		if got := total(t, s, q.From, q.To); got != 10*(60+6000) {
			t.Errorf("traffic %d bytes, want %d: drop samples must not count", got, 10*(60+6000))
		}
		b, err := s.Blocked(ctx, BlockedRequest{Query: q})
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Rows) != 2 || b.Total != 50 {
			t.Fatalf("%+v", b)
		}
		got := b.Rows[0]
		want := apiv1.BlockedRow{Source: "ovn-drop-sampling", VM: "vm2", Port: "p2", Project: "demo",
			SecurityGroups: []string{"53d28899-3b1f-489c-81f8-6edd94637fae"}, Default: true, Direction: "to-lport",
			ACL: "c0fddb45-fb97-400f-b1bb-b18108b22882", LogicalFlow: "e755ed2a-6b3c-4d5e-9f01-23456789abcd", Stage: "ls_out_acl",
			SrcIP: "10.30.0.11", SrcVM: "vm1", SrcProject: "demo", DstIP: "10.30.0.12", DstVM: "vm2", DstProject: "demo",
			Proto: "tcp", DstPort: "8080", Packets: 40, Bytes: 2400, Samples: 40,
			FirstSeen: day, LastSeen: day.Add(10 * time.Minute)}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("\n got %+v\nwant %+v", got, want)
		}
		if r := b.Rows[1]; r.LogicalFlow != "fa0ab1e1" || r.Reason != "logical flow not found" || r.Packets != 10 || len(r.SecurityGroups) != 0 {
			t.Errorf("untraced drop: %+v", r)
		}
	}
	// The dimension selects them; every observation includes them.
	top, err := s.Top(ctx, TopRequest{Query: Query{From: day, To: day.Add(time.Hour), AllObservations: true,
		Filters: []Filter{{Dim: "blocked", Not: true, Value: ""}}}, By: []string{"dst_port"}})
	if err != nil || len(top.Rows) != 1 || top.Rows[0].Key["dst_port"] != "8080" || top.Total.Packets != 50 {
		t.Errorf("blocked!=: %+v %v", top, err)
	}
	// Rolled up, the cause survives.
	if err := s.Maintain(day.Add(3 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.eng.DB().QueryRow("SELECT count(DISTINCT blocked) FROM flows_300").Scan(&n); err != nil || n != 3 {
		t.Errorf("flows_300 has %d blocked values (%v), want 3", n, err)
	}
	if _, err := s.Blocked(ctx, BlockedRequest{Query: Query{From: day, To: day.Add(time.Hour)}, Limit: 20000}); err == nil {
		t.Error("limit 20000 accepted")
	}
}
