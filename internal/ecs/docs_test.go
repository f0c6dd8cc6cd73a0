package ecs_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
)

// flatten maps the dotted path of every value in a JSON document to it.
func flatten(prefix string, v any, out map[string]any) {
	if m, ok := v.(map[string]any); ok && !strings.HasSuffix(prefix, ".location") { // a geo_point is one field
		for k, c := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, c, out)
		}
		return
	}
	out[prefix] = v
}

// leaves adds the dotted paths of every value in a JSON document to out.
func leaves(v any, out map[string]bool) {
	m := map[string]any{}
	flatten("", v, m)
	for p := range m {
		out[p] = true
	}
}

// absent lists, sorted, the fields of a that b lacks and keep accepts.
func absent(a, b map[string]bool, keep func(string) bool) []string {
	var out []string
	for p := range a {
		if !b[p] && keep(p) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func all(string) bool { return true }

// full returns records with every optional part set, so that every field
// flowlens can write is written at least once.
func full() (*flow.Record, *flow.Counter) {
	a := netip.MustParseAddr
	pk := flow.Packet{
		SrcMAC: flow.MAC{1}, DstMAC: flow.MAC{2}, EtherType: 0x0800, VLAN: 10, InnerVLAN: 20, VLANCount: 2,
		MPLSCount: 1, MPLSLabels: [4]uint32{16}, SrcAddr: a("10.0.0.1"), DstAddr: a("10.0.0.2"),
		Proto: 6, HasProto: true, TOS: 1, TTL: 2, IPLength: 60, FlowLabel: 5, Fragment: true,
		SrcPort: 1, DstPort: 2, HasPorts: true, TCPFlags: 2, ICMPType: 3, HasICMP: true, ARPOp: 1,
	}
	ep := flow.Endpoint{Present: true, Src: a("192.0.2.1"), Dst: a("192.0.2.2"), Proto: 17, SrcPort: 1, DstPort: 4789}
	r := &flow.Record{
		Time: time.Unix(1, 0), Agent: a("127.0.0.1"), SamplingRate: 64, FrameLength: 102, Stripped: 4, HeaderLength: 98, HeaderProto: 1, Drops: 1,
		In:     flow.Port{Format: flow.PortSingle, Index: 3, Name: "tap1", HasOFPort: true, OFPort: 1, Speed: 1e9, VLAN: 5, HasVLAN: true},
		Out:    flow.Port{Format: flow.PortSingle, Index: 4, Name: "tap2", HasOFPort: true, OFPort: 2, Speed: 1e9, VLAN: 6, HasVLAN: true},
		Packet: pk, Parsed: flow.LayerInnerL4, Truncated: true, Tunnel: flow.TunnelVXLAN, VNI: 7, HasVNI: true, Inner: pk, InnerPresent: true,
		TunnelEgress: ep, TunnelIngress: ep, TunnelEgressVNI: 1, HasTunnelEgressVNI: true, TunnelIngressVNI: 2, HasTunnelIngressVNI: true,
		SrcGeo:    &flow.Geo{CountryISO: "FR", CountryName: "France", City: "Paris", Lat: 48.8, Lon: 2.3, HasLocation: true, ASN: 1, ASOrg: "Org"},
		DstGeo:    &flow.Geo{CountryISO: "FR", CountryName: "France", City: "Paris", Lat: 48.8, Lon: 2.3, HasLocation: true, ASN: 1, ASOrg: "Org"},
		SrcID:     &flow.Identity{PortID: "p", InstanceID: "i", InstanceName: "vm", NetworkID: "n", NetworkName: "net", SegmentationID: 5, ProjectID: "t", ProjectName: "proj", Host: "h", Source: "ovsdb"},
		DstID:     &flow.Identity{PortID: "p", InstanceID: "i", InstanceName: "vm", NetworkID: "n", NetworkName: "net", SegmentationID: 5, ProjectID: "t", ProjectName: "proj", Host: "h", Source: "ovsdb"},
		Direction: flow.DirectionInbound, Relation: flow.RelationCrossHost, Observation: flow.ObservationPort,
		NextHop: a("192.0.2.254"), SrcMask: 24, DstMask: 24, SrcAS: 1, DstAS: 2, PeerAS: 3, ASPath: [8]uint32{2}, ASPathLen: 1, LocalPref: 100, HasGateway: true,
		BGPNextHop: a("192.0.2.253"), SrcNAT: a("198.51.100.1"), DstNAT: a("198.51.100.2"), SrcNATPort: 40000, DstNATPort: 443, HasNATPorts: true, Biflow: flow.BiflowReverse,
	}
	c := &flow.Counter{Time: time.Unix(1, 0), Agent: a("127.0.0.1"), HasInterface: true, HasEthernet: true, HasVLAN: true,
		HasProcessor: true, HasOFPort: true, HasPortName: true, PortName: "br-int", HasDatapath: true, HasAppResources: true,
		HasHost: true, HostName: "compute-1", HasHostCPU: true, HasHostMemory: true, HasHostDisk: true, HasHostNet: true}
	return r, c
}

// writtenFields returns the fields encode writes for records that have,
// between them, every optional part.
func writtenFields(t *testing.T, encode func([]byte, *flow.Record) []byte) map[string]bool {
	t.Helper()
	written := map[string]bool{}
	add := func(r *flow.Record) {
		var v map[string]any
		if err := json.Unmarshal(encode(nil, r), &v); err != nil {
			t.Fatal(err)
		}
		leaves(v, written)
	}
	r, _ := full()
	add(r)
	r.In.Format, r.In.Count, r.Out.Format, r.Out.Reason = flow.PortMultiple, 3, flow.PortDiscard, 256
	add(r)
	r.In, r.Out = r.Out, r.In
	add(r)
	r.Samples, r.Overflow = 3, true
	r.Input, r.Start, r.End, r.HasEngine, r.EngineID, r.TemplateID, r.EndReason = flow.InputIPFIX, time.Unix(1, 0), time.Unix(2, 0), true, 1, 256, 2
	r.ObservationPointID, r.HasObservationPoint, r.FlowDirection, r.HasFlowDirection = 0xe755ed2a, true, 0, true
	r.Blocked = &flow.Blocked{Source: flow.BlockedOVNDropSampling, LogicalFlow: "e755ed2a-0000-4000-8000-000000000000", Stage: "ls_out_acl",
		ACL: "c0fddb45-fb97-400f-b1bb-b18108b22882", ACLDirection: "to-lport", Default: true, SecurityGroups: []string{"53d28899-3b1f-489c-81f8-6edd94637fae"},
		SecurityGroupRule: "r", Port: "p", Reason: "x"}
	add(r)
	return written
}

// Every field flowlens writes is in docs/fields.md, and every field there
// is one flowlens writes.
func TestFieldsDocIsComplete(t *testing.T) {
	doc, err := os.ReadFile("../../docs/fields.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| `") {
			documented[strings.Trim(strings.Split(line, "|")[1], " `")] = true
		}
	}
	written := writtenFields(t, ecs.AppendFlow)
	_, c := full()
	var v map[string]any
	if err := json.Unmarshal(ecs.AppendCounter(nil, c), &v); err != nil {
		t.Fatal(err)
	}
	leaves(v, written)
	missing := absent(written, documented, all)
	// Rows without a dot are the ifIndex format table's.
	stale := absent(documented, written, func(p string) bool { return strings.Contains(p, ".") || p == "@timestamp" })
	if len(missing) > 0 {
		t.Errorf("written but not in docs/fields.md: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("in docs/fields.md but never written: %v", stale)
	}
}

// The compact flow document writes exactly the fields docs/fields.md marks
// compact, with the values the full document gives them.
func TestCompactFieldsDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/fields.md")
	if err != nil {
		t.Fatal(err)
	}
	marked := map[string]bool{}
	section := ""
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = line
		}
		if strings.HasPrefix(line, "| `") && strings.Contains(section, "Flow records") {
			cols := strings.Split(line, "|")
			if strings.TrimSpace(cols[3]) == "✓" {
				marked[strings.Trim(cols[1], " `")] = true
			}
		}
	}
	written := writtenFields(t, ecs.AppendCompactFlow)
	missing, stale := absent(written, marked, all), absent(marked, written, all)
	if len(missing) > 0 {
		t.Errorf("written in compact documents but not marked compact in docs/fields.md: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("marked compact in docs/fields.md but not written in compact documents: %v", stale)
	}
	if len(marked) < 40 {
		t.Errorf("only %d compact fields read from docs/fields.md", len(marked))
	}

	// Same values as the full document, in less than 60 % of its bytes.
	r, _ := full()
	fullDoc, compactDoc := ecs.AppendFlow(nil, r), ecs.AppendCompactFlow(nil, r)
	var f, c map[string]any
	if err := json.Unmarshal(fullDoc, &f); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(compactDoc, &c); err != nil {
		t.Fatal(err)
	}
	fv, cv := map[string]any{}, map[string]any{}
	flatten("", f, fv)
	flatten("", c, cv)
	for p, v := range cv {
		if fmt.Sprint(fv[p]) != fmt.Sprint(v) {
			t.Errorf("%s: compact %v, full %v", p, v, fv[p])
		}
	}
	if 10*len(compactDoc) >= 6*len(fullDoc) {
		t.Errorf("compact document %d bytes, full %d", len(compactDoc), len(fullDoc))
	}
}
