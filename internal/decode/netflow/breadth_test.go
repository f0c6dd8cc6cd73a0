package netflow_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
)

// Datagrams built from RFC 7011 (message format), RFC 7012 and the IANA
// IPFIX registry (element ids and types), RFC 5103 (biflows) and RFC 5477
// (packet sections), for what exporters other than Open vSwitch send.

// jsonOf returns r's ECS document.
func jsonOf(t *testing.T, r *flow.Record) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(ecs.AppendFlow(nil, r), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// at returns the value at a dotted path of a JSON document, nil if absent.
func at(v map[string]any, path ...string) any {
	var cur any = v
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// A template with both address families (IE 8/12 and 27/28): the family
// ipVersion (60) names wins, else the non-zero one, whichever comes last
// in the template; an all-zero address never overwrites a set one.
func TestMixedFamilyTemplate(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	withVersion := specs(60, 1, 8, 4, 12, 4, 27, 16, 28, 16, 4, 1, 2, 4, 1, 4)
	v6Last := specs(8, 4, 12, 4, 27, 16, 28, 16, 4, 1, 2, 4, 1, 4)
	v4Last := specs(27, 16, 28, 16, 8, 4, 12, 4, 4, 1, 2, 4, 1, 4)
	res := decode(t, dec, ipfix(uint32(t0.Unix()), 0, 0,
		set(2, tmpl(300, withVersion), tmpl(301, v6Last), tmpl(302, v4Last)),
		set(300,
			wire{}.u8(4).ip("10.0.0.1").ip("10.0.0.2").ip("::").ip("::").u8(6).u32(1, 60),
			wire{}.u8(6).ip("0.0.0.0").ip("0.0.0.0").ip("2001:db8::1").ip("2001:db8::2").u8(6).u32(1, 80),
		),
		set(301, wire{}.ip("10.0.0.3").ip("10.0.0.4").ip("::").ip("::").u8(17).u32(1, 60)),
		set(302, wire{}.ip("2001:db8::3").ip("2001:db8::4").ip("0.0.0.0").ip("0.0.0.0").u8(17).u32(1, 80)),
	), t0)
	want := []struct {
		src, dst, typ string
	}{
		{"10.0.0.1", "10.0.0.2", "ipv4"},
		{"2001:db8::1", "2001:db8::2", "ipv6"},
		{"10.0.0.3", "10.0.0.4", "ipv4"},
		{"2001:db8::3", "2001:db8::4", "ipv6"},
	}
	if len(res.Flows) != len(want) {
		t.Fatalf("%d flows, errors %v", len(res.Flows), res.Errors)
	}
	for i, w := range want {
		r := &res.Flows[i]
		doc := jsonOf(t, r)
		if r.SrcAddr.String() != w.src || r.DstAddr.String() != w.dst || at(doc, "network", "type") != w.typ {
			t.Errorf("flow %d: %v -> %v, network.type %v; want %s -> %s, %s", i, r.SrcAddr, r.DstAddr, at(doc, "network", "type"), w.src, w.dst, w.typ)
		}
	}
}

// ingressPhysicalInterface/egressPhysicalInterface (252/253) are the ports
// when ingressInterface/egressInterface (10/14) are absent or 0; when
// those are there, they win.
func TestPhysicalInterfaces(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	a := wire{}.ip("10.0.0.1").ip("10.0.0.2")
	res := decode(t, dec, ipfix(uint32(t0.Unix()), 0, 0,
		set(2,
			tmpl(300, specs(8, 4, 12, 4, 252, 4, 253, 4, 2, 4)),
			tmpl(301, specs(8, 4, 12, 4, 10, 4, 14, 4, 252, 4, 253, 4, 2, 4)),
		),
		set(300, append(a, wire{}.u32(5, 6, 1)...)),
		set(301, append(a, wire{}.u32(100, 200, 5, 6, 1)...), append(a, wire{}.u32(0, 0, 7, 8, 1)...)),
	), t0)
	if len(res.Flows) != 3 {
		t.Fatalf("%d flows", len(res.Flows))
	}
	for i, w := range [][2]uint32{{5, 6}, {100, 200}, {7, 8}} {
		r := res.Flows[i]
		if r.In.Format != flow.PortSingle || r.In.Index != w[0] || r.Out.Format != flow.PortSingle || r.Out.Index != w[1] {
			t.Errorf("flow %d: in %+v out %+v, want %d and %d", i, r.In, r.Out, w[0], w[1])
		}
	}
}

// BGP next hops (18/63) are kept, also when they are the only next hop or
// the IP next hop (15) is 0.0.0.0; an all-zero one never erases a set one.
func TestBGPNextHop(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	a := wire{}.ip("10.0.0.1").ip("10.0.0.2")
	res := decode(t, dec, v9(1000, uint32(t0.Unix()), 1, 0,
		set(0,
			tmpl(300, specs(8, 4, 12, 4, 15, 4, 18, 4, 2, 4)),
			tmpl(301, specs(8, 4, 12, 4, 18, 4, 63, 16, 2, 4)),
		),
		set(300, append(a, wire{}.ip("0.0.0.0").ip("192.0.2.1").u32(1)...)),
		set(301, append(a, wire{}.ip("0.0.0.0").ip("2001:db8::fe").u32(1)...), append(a, wire{}.ip("192.0.2.9").ip("::").u32(1)...)),
	), t0)
	if len(res.Flows) != 3 {
		t.Fatalf("%d flows", len(res.Flows))
	}
	for i, w := range []string{"192.0.2.1", "2001:db8::fe", "192.0.2.9"} {
		r := &res.Flows[i]
		if r.BGPNextHop.String() != w || r.NextHop.IsValid() {
			t.Errorf("flow %d: BGP next hop %v, next hop %v; want %s", i, r.BGPNextHop, r.NextHop, w)
		}
		if got := at(jsonOf(t, r), "flowlens", "router", "bgp_next_hop"); got != w {
			t.Errorf("flow %d: flowlens.router.bgp_next_hop %v", i, got)
		}
	}
}

// Post-NAT addresses and ports (225-228, 281/282) go to ECS source.nat and
// destination.nat; the record's own addresses stay the pre-NAT ones.
func TestPostNAT(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	res := decode(t, dec, ipfix(uint32(t0.Unix()), 0, 0,
		set(2,
			tmpl(300, specs(8, 4, 12, 4, 4, 1, 7, 2, 11, 2, 225, 4, 226, 4, 227, 2, 228, 2, 2, 4)),
			tmpl(301, specs(27, 16, 28, 16, 4, 1, 7, 2, 11, 2, 281, 16, 282, 16, 2, 4)),
		),
		set(300, wire{}.ip("10.0.0.1").ip("192.0.2.80").u8(6).u16(40000, 443).ip("198.51.100.7").ip("192.0.2.80").u16(61000, 443).u32(1)),
		set(301, wire{}.ip("fd00::1").ip("2001:db8::80").u8(17).u16(5000, 53).ip("2001:db8:1::1").ip("::").u32(1)),
	), t0)
	if len(res.Flows) != 2 {
		t.Fatalf("%d flows", len(res.Flows))
	}
	r := &res.Flows[0]
	if r.SrcAddr.String() != "10.0.0.1" || r.SrcNAT.String() != "198.51.100.7" || r.DstNAT.String() != "192.0.2.80" ||
		!r.HasNATPorts || r.SrcNATPort != 61000 || r.DstNATPort != 443 {
		t.Errorf("IPv4 NAT: %+v", r)
	}
	doc := jsonOf(t, r)
	if at(doc, "source", "nat", "ip") != "198.51.100.7" || at(doc, "source", "nat", "port") != 61000.0 ||
		at(doc, "destination", "nat", "ip") != "192.0.2.80" || at(doc, "destination", "nat", "port") != 443.0 {
		t.Errorf("IPv4 NAT document: source %v destination %v", at(doc, "source"), at(doc, "destination"))
	}
	r = &res.Flows[1]
	doc = jsonOf(t, r)
	if at(doc, "source", "nat", "ip") != "2001:db8:1::1" || at(doc, "destination", "nat") != nil || r.HasNATPorts {
		t.Errorf("IPv6 NAT document: source %v destination %v", at(doc, "source"), at(doc, "destination"))
	}
}

// RFC 5103: a biflow record's reverse elements (PEN 29305) make a second
// record, source and destination swapped, with the reverse counts, flags
// and times; a record whose reverse counts are 0 has no reverse traffic;
// a template without reverse counts is counted (ReasonBiflow).
func TestBiflow(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	rev := func(id, length uint16) spec { return spec{id: id, length: length, pen: 29305} }
	fields := append(specs(8, 4, 12, 4, 4, 1, 7, 2, 11, 2, 10, 4, 14, 4, 6, 1, 152, 8, 153, 8, 2, 8, 1, 8),
		rev(2, 8), rev(1, 8), rev(6, 1), rev(153, 8), rev(8, 4)) // reverse source address: a key, ignored
	start, end, revEnd := t0.Add(-10*time.Second), t0.Add(-time.Second), t0.Add(-2*time.Second)
	rec := func(fwdPkts, fwdBytes, revPkts, revBytes uint64) wire {
		return wire{}.ip("10.0.0.1").ip("192.0.2.80").u8(6).u16(40000, 443).u32(3, 4).u8(0x1b).
			u64(uint64(start.UnixMilli()), uint64(end.UnixMilli()), fwdPkts, fwdBytes, revPkts, revBytes).
			u8(0x12).u64(uint64(revEnd.UnixMilli())).ip("203.0.113.9")
	}
	noRevCounts := append(specs(8, 4, 12, 4, 2, 4, 1, 4), rev(6, 1))
	res := decode(t, dec, ipfix(uint32(t0.Unix()), 50, 0,
		set(2, tmpl(300, fields), tmpl(301, noRevCounts)),
		set(300, rec(10, 1000, 8, 12000), rec(5, 300, 0, 0)),
		set(301, wire{}.ip("10.0.0.1").ip("10.0.0.2").u32(1, 100).u8(0x10)),
	), t0)
	if len(res.Flows) != 4 || res.ReverseRecords != 1 {
		t.Fatalf("%d flows, %d reverse, errors %v", len(res.Flows), res.ReverseRecords, res.Errors)
	}
	f, r := &res.Flows[0], &res.Flows[1]
	if f.Biflow != flow.BiflowForward || f.Packets != 10 || f.Bytes != 1000 || f.TCPFlags != 0x1b || !f.End.Equal(end) {
		t.Errorf("forward: %v %d packets %d bytes flags %#x end %v", f.Biflow, f.Packets, f.Bytes, f.TCPFlags, f.End)
	}
	if r.Biflow != flow.BiflowReverse || r.SrcAddr.String() != "192.0.2.80" || r.DstAddr.String() != "10.0.0.1" ||
		r.SrcPort != 443 || r.DstPort != 40000 || r.Proto != 6 || r.In.Index != 4 || r.Out.Index != 3 {
		t.Errorf("reverse: %v %v:%d -> %v:%d proto %d in %d out %d", r.Biflow, r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, r.Proto, r.In.Index, r.Out.Index)
	}
	if r.Packets != 8 || r.Bytes != 12000 || r.TCPFlags != 0x12 || !r.Start.Equal(start) || !r.End.Equal(revEnd) || r.Sequence != f.Sequence {
		t.Errorf("reverse: %d packets %d bytes flags %#x %v-%v seq %d/%d", r.Packets, r.Bytes, r.TCPFlags, r.Start, r.End, r.Sequence, f.Sequence)
	}
	if at(jsonOf(t, r), "flowlens", "netflow", "biflow") != "reverse" || at(jsonOf(t, f), "flowlens", "netflow", "biflow") != "forward" {
		t.Error("flowlens.netflow.biflow not written")
	}
	// Zero reverse counts: a uniflow in a biflow template.
	if u := res.Flows[2]; u.Biflow != flow.BiflowForward || u.Packets != 5 || u.Sequence != 51 {
		t.Errorf("uniflow: %v %d packets seq %d", u.Biflow, u.Packets, u.Sequence)
	}
	// No reverse counts in the template: the forward record, and a reason.
	if u := res.Flows[3]; u.Packets != 1 || u.DstAddr.String() != "10.0.0.2" || res.Errors[netflow.ReasonBiflow] != 1 {
		t.Errorf("no reverse counts: %d packets to %v, biflow errors %d", u.Packets, u.DstAddr, res.Errors[netflow.ReasonBiflow])
	}
}

// Every time element family sets Start and End (RFC 7011 section 6.1.7-6.1.9
// encodings): seconds (150/151), milliseconds (152/153), microseconds and
// nanoseconds (154-157, NTP format), deltas (158/159) before the export
// time, and mixtures of them.
func TestTimeElementFamilies(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	export := t0
	ntp := func(tm time.Time) uint64 {
		sec := uint64(tm.Unix() + 2208988800)
		frac := uint64(tm.Nanosecond()) << 32 / 1e9
		return sec<<32 | frac
	}
	start := t0.Add(-90 * time.Second).Add(250 * time.Millisecond).Add(1500 * time.Nanosecond)
	end := t0.Add(-5 * time.Second).Add(750 * time.Millisecond).Add(2500 * time.Nanosecond)
	a := wire{}.ip("10.0.0.1").ip("10.0.0.2")
	res := decode(t, dec, ipfix(uint32(export.Unix()), 0, 0,
		set(2,
			tmpl(300, specs(8, 4, 12, 4, 150, 4, 151, 4)),
			tmpl(301, specs(8, 4, 12, 4, 152, 8, 153, 8)),
			tmpl(302, specs(8, 4, 12, 4, 154, 8, 155, 8)),
			tmpl(303, specs(8, 4, 12, 4, 156, 8, 157, 8)),
			tmpl(304, specs(8, 4, 12, 4, 158, 4, 159, 4)),
			tmpl(305, specs(8, 4, 12, 4, 156, 8, 153, 8)), // nanoseconds start, milliseconds end
			tmpl(306, specs(8, 4, 12, 4, 150, 4, 162, 4)), // seconds start, duration in µs
		),
		set(300, append(a, wire{}.u32(uint32(start.Unix()), uint32(end.Unix()))...)),
		set(301, append(a, wire{}.u64(uint64(start.UnixMilli()), uint64(end.UnixMilli()))...)),
		set(302, append(a, wire{}.u64(ntp(start), ntp(end))...)),
		set(303, append(a, wire{}.u64(ntp(start), ntp(end))...)),
		set(304, append(a, wire{}.u32(uint32(export.Sub(start).Microseconds()), uint32(export.Sub(end).Microseconds()))...)),
		set(305, append(a, wire{}.u64(ntp(start), uint64(end.UnixMilli()))...)),
		set(306, append(a, wire{}.u32(uint32(start.Unix()), 2500000)...)),
	), t0)
	want := []struct {
		start, end time.Time
		tol        time.Duration
	}{
		{start.Truncate(time.Second), end.Truncate(time.Second), 0},
		{start.Truncate(time.Millisecond), end.Truncate(time.Millisecond), 0},
		{start, end, time.Microsecond},
		{start, end, time.Nanosecond},
		{start.Truncate(time.Microsecond), end.Truncate(time.Microsecond), 2 * time.Microsecond},
		{start, end.Truncate(time.Millisecond), time.Nanosecond},
		{start.Truncate(time.Second), start.Truncate(time.Second).Add(2500 * time.Millisecond), 0},
	}
	if len(res.Flows) != len(want) {
		t.Fatalf("%d flows", len(res.Flows))
	}
	for i, w := range want {
		r := res.Flows[i]
		if r.Start.Sub(w.start).Abs() > w.tol || r.End.Sub(w.end).Abs() > w.tol {
			t.Errorf("template %d: %v - %v, want %v - %v", 300+i, r.Start.UTC(), r.End.UTC(), w.start.UTC(), w.end.UTC())
		}
	}
}

// frame builds an Ethernet frame: MACs, an 802.1Q tag when vlan is not 0,
// then an IPv4 header (total length ipLen) and a UDP header.
func frame(vlan uint16, src, dst string, sport, dport, ipLen uint16) []byte {
	w := wire{}.bytes([]byte{2, 0, 0, 0, 0, 2}).bytes([]byte{2, 0, 0, 0, 0, 1})
	if vlan != 0 {
		w = w.u16(0x8100, vlan)
	}
	w = w.u16(0x0800).u8(0x45, 0).u16(ipLen, 1, 0).u8(64, 17).u16(0).ip(src).ip(dst)
	return w.u16(sport, dport, ipLen-20, 0)
}

// dataLinkFrameSection (315), ipHeaderPacketSection (313) and
// ipPayloadPacketSection (314) are parsed with the sFlow header parser:
// addresses, ports, VLANs, MPLS, tunnels; one packet, IP bytes from the
// header (else the frame's size), times the sampling rate.
func TestPacketSections(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	f1 := frame(100, "10.1.1.1", "10.2.2.2", 1234, 53, 60)
	// VXLAN: outer UDP to 4789, VNI 5001, inner Ethernet/IPv4/UDP.
	inner := frame(0, "172.16.0.1", "172.16.0.2", 5353, 5353, 40)
	vx := wire{}.bytes(frame(0, "192.0.2.1", "192.0.2.2", 49152, 4789, uint16(20+8+8+len(inner))))
	vx = vx.u8(8, 0, 0, 0).u32(5001 << 8).bytes(inner)
	// MPLS: two labels, then IPv4.
	mp := wire{}.bytes([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}).u16(0x8847).u32(16<<12|0x40, 17<<12|0x140)
	mp = mp.bytes(frame(0, "10.9.9.1", "10.9.9.2", 1, 2, 100)[14:])
	// An IPv6/TCP header section and a TCP payload section.
	v6 := wire{}.u32(6<<28).u16(20).u8(6, 64).ip("2001:db8::1").ip("2001:db8::2").u16(443, 50000).u32(1, 2).u8(0x50, 0x12).u16(0, 0, 0)
	l4 := wire{}.u16(22, 50022).u32(1, 2).u8(0x50, 0x02).u16(0, 0, 0)
	res := decode(t, dec, ipfix(uint32(t0.Unix()), 0, 0,
		set(2,
			tmpl(300, specs(315, 0xffff, 312, 2, 34, 4)),
			tmpl(301, specs(313, 0xffff, 305, 4, 306, 4)),
			tmpl(302, specs(8, 4, 12, 4, 4, 1, 314, 0xffff)),
			tmpl(303, specs(8, 4, 12, 4, 2, 4, 1, 4, 315, 0xffff)),
		),
		set(300,
			wire{}.varlen(f1, false).u16(78).u32(100),
			wire{}.varlen(vx, false).u16(uint16(len(vx)+4)).u32(100),
			wire{}.varlen(mp, false).u16(118).u32(100),
		),
		set(301, wire{}.varlen(v6, false).u32(1, 9)),
		set(302, wire{}.ip("10.0.0.1").ip("10.0.0.2").u8(6).varlen(l4, false)),
		set(303, wire{}.ip("10.7.7.1").ip("10.7.7.2").u32(3, 4500).varlen(f1, false)), // the record's own fields win
	), t0)
	if len(res.Flows) != 6 {
		t.Fatalf("%d flows, errors %v", len(res.Flows), res.Errors)
	}
	r := &res.Flows[0]
	if r.SrcAddr.String() != "10.1.1.1" || r.DstAddr.String() != "10.2.2.2" || r.SrcPort != 1234 || r.DstPort != 53 ||
		r.Proto != 17 || r.VLAN != 100 || r.VLANCount != 1 || r.SrcMAC != (flow.MAC{2, 0, 0, 0, 0, 1}) || r.EtherType != 0x0800 ||
		r.Parsed != flow.LayerL4 || r.Packets != 100 || r.Bytes != 60*100 || r.SamplingRate != 100 {
		t.Errorf("Ethernet section: %+v", r)
	}
	if doc := jsonOf(t, r); at(doc, "flowlens", "header", "parsed") != "l4" || at(doc, "network", "bytes") != 6000.0 {
		t.Errorf("Ethernet section document: header %v bytes %v", at(doc, "flowlens", "header"), at(doc, "network", "bytes"))
	}
	r = &res.Flows[1]
	if r.Tunnel != flow.TunnelVXLAN || r.VNI != 5001 || !r.InnerPresent || r.Inner.SrcAddr.String() != "172.16.0.1" ||
		r.Inner.DstPort != 5353 || r.Parsed != flow.LayerInnerL4 || r.SrcAddr.String() != "192.0.2.1" {
		t.Errorf("VXLAN section: tunnel %v vni %d inner %+v parsed %v", r.Tunnel, r.VNI, r.Inner, r.Parsed)
	}
	r = &res.Flows[2]
	if r.MPLSCount != 2 || r.MPLSLabels[0] != 16 || r.MPLSLabels[1] != 17 || r.SrcAddr.String() != "10.9.9.1" || r.Bytes != 100*100 {
		t.Errorf("MPLS section: labels %v (%d) %v bytes %d", r.MPLSLabels, r.MPLSCount, r.SrcAddr, r.Bytes)
	}
	r = &res.Flows[3]
	if r.SrcAddr.String() != "2001:db8::1" || r.Proto != 6 || r.SrcPort != 443 || r.TCPFlags != 0x12 ||
		r.EtherType != 0x86dd || r.Packets != 10 || r.Bytes != 60*10 {
		t.Errorf("IPv6 header section: %v proto %d port %d flags %#x ethertype %#x %d packets %d bytes", r.SrcAddr, r.Proto, r.SrcPort, r.TCPFlags, r.EtherType, r.Packets, r.Bytes)
	}
	r = &res.Flows[4]
	if r.SrcPort != 22 || r.DstPort != 50022 || r.TCPFlags != 0x02 || r.Parsed != flow.LayerL4 || r.Packets != 1 || r.Bytes != uint64(len(l4)) {
		t.Errorf("payload section: ports %d %d flags %#x parsed %v %d packets %d bytes", r.SrcPort, r.DstPort, r.TCPFlags, r.Parsed, r.Packets, r.Bytes)
	}
	r = &res.Flows[5]
	if r.SrcAddr.String() != "10.7.7.1" || r.Packets != 3 || r.Bytes != 4500 || r.SrcPort != 1234 || r.VLAN != 100 {
		t.Errorf("record fields and section: %v %d packets %d bytes port %d vlan %d", r.SrcAddr, r.Packets, r.Bytes, r.SrcPort, r.VLAN)
	}
}

// Bad input, each counted or reported with a reason while everything else
// in the datagram is decoded: a template whose lengths lie, a section
// shorter than the frame it declares (cut inside the IP header), a section
// longer than its declared frame, an IE 315 of zero length.
func TestPacketSectionBadInput(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	full := frame(0, "10.1.1.1", "10.2.2.2", 1, 2, 1500)
	cut := full[:14+10]                                                                     // Ethernet and half an IPv4 header
	arp := wire{}.bytes([]byte{255, 255, 255, 255, 255, 255, 2, 0, 0, 0, 0, 1}).u16(0x0806) // and 28 bytes of ARP
	arp = arp.u16(1, 0x0800).u8(6, 4).u16(1).bytes(make([]byte, 20))
	good := wire{}.ip("10.0.0.1").ip("10.0.0.2").u32(1, 100)
	res := decode(t, dec, ipfix(uint32(t0.Unix()), 0, 0,
		set(2, tmpl(300, specs(315, 0xffff, 312, 2)), tmpl(301, specs(8, 4, 12, 4, 2, 4, 1, 4))),
		// A template whose field count runs past its set, then one whose
		// fixed-size section is longer than the data records.
		set(2, wire{}.u16(302, 40).u16(8, 4)),
		set(2, tmpl(303, specs(8, 4, 315, 1000))),
		set(303, wire{}.ip("10.0.0.9").bytes(make([]byte, 100))),
		set(300,
			wire{}.varlen(cut, false).u16(1514),
			wire{}.varlen(arp, false).u16(20), // frame "shorter" than its section
			wire{}.varlen(nil, false).u16(64), // empty section
		),
		set(301, good),
	), t0)
	if res.Errors[netflow.ReasonTemplate] != 1 || res.Errors[netflow.ReasonRecord] != 1 || res.Errors[netflow.ReasonSection] != 2 {
		t.Errorf("errors %v", res.Errors)
	}
	if len(res.Flows) != 4 {
		t.Fatalf("%d flows, errors %v", len(res.Flows), res.Errors)
	}
	r := &res.Flows[0]
	if !r.Truncated || r.EtherType != 0x0800 || r.SrcAddr.IsValid() || r.Parsed != flow.LayerL2 || r.Packets != 1 || r.Bytes != 1514 {
		t.Errorf("cut section: truncated %v ethertype %#x %v parsed %v %d packets %d bytes", r.Truncated, r.EtherType, r.SrcAddr, r.Parsed, r.Packets, r.Bytes)
	}
	if doc := jsonOf(t, r); at(doc, "flowlens", "header", "truncated") != true {
		t.Errorf("cut section: flowlens.header %v", at(doc, "flowlens", "header"))
	}
	if r := &res.Flows[1]; r.EtherType != 0x0806 || r.ARPOp != 1 || r.Bytes != uint64(len(arp)) {
		t.Errorf("ARP section longer than its frame: ethertype %#x op %d %d bytes", r.EtherType, r.ARPOp, r.Bytes)
	}
	if r := &res.Flows[2]; r.Packets != 1 || r.Bytes != 64 || r.Parsed != flow.LayerNone {
		t.Errorf("empty section: %d packets %d bytes parsed %v", r.Packets, r.Bytes, r.Parsed)
	}
	if r := &res.Flows[3]; r.DstAddr.String() != "10.0.0.2" || r.Bytes != 100 {
		t.Errorf("the data after the bad input: %v %d bytes", r.DstAddr, r.Bytes)
	}
}

// Every information element the decoder reads is in docs/netflow.md: the
// ids of the case clauses of field, breadthField and reverseKind must each
// appear there.
func TestEveryMappedElementDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/netflow.md")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	ids := map[int]bool{}
	for _, file := range []string{"record.go", "breadth.go", "template.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || (fn.Name.Name != "field" && fn.Name.Name != "breadthField" && fn.Name.Name != "reverseKind") {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if cc, ok := n.(*ast.CaseClause); ok {
					for _, e := range cc.List {
						if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.INT {
							v, _ := strconv.Atoi(lit.Value)
							ids[v] = true
						}
					}
				}
				return true
			})
		}
	}
	if len(ids) < 100 {
		t.Fatalf("only %d element ids found in the decoder", len(ids))
	}
	// The numbers the document names, ranges ("154–157") included.
	named := map[int]bool{}
	for _, m := range regexp.MustCompile(`(\d+)(?:\s*[–-]\s*(\d+))?`).FindAllStringSubmatch(string(doc), -1) {
		a, _ := strconv.Atoi(m[1])
		b := a
		if m[2] != "" {
			b, _ = strconv.Atoi(m[2])
		}
		for i := a; i <= b && i-a < 32; i++ {
			named[i] = true
		}
	}
	for id := range ids {
		if !named[id] {
			t.Errorf("element %d is read by the decoder but not in docs/netflow.md", id)
		}
	}
}

// breadthSeeds are fuzz seeds of the shapes above: a mixed-family template,
// physical interfaces, BGP next hop and NAT, packet sections (Ethernet with
// VXLAN, IP header, payload; cut, empty, longer than its frame), biflows
// with and without reverse counts, and a template whose records do not fit
// its data.
func breadthSeeds() [][]byte {
	rev := func(id, length uint16) spec { return spec{id: id, length: length, pen: 29305} }
	f := frame(100, "10.1.1.1", "10.2.2.2", 1234, 4789, 120)
	f = append(f, 8, 0, 0, 0, 0, 0x13, 0x89, 0)
	f = append(f, frame(0, "172.16.0.1", "172.16.0.2", 1, 2, 40)...)
	v6 := wire{}.u32(6<<28).u16(20).u8(6, 64).ip("2001:db8::1").ip("2001:db8::2").u16(443, 50000).u32(1, 2).u8(0x50, 0x12).u16(0, 0, 0)
	return [][]byte{
		ipfix(1, 0, 0, set(2, tmpl(300, specs(60, 1, 8, 4, 12, 4, 27, 16, 28, 16, 252, 4, 253, 4, 18, 4, 63, 16, 225, 4, 226, 4, 227, 2, 228, 2, 2, 4))),
			set(300, wire{}.u8(6).ip("0.0.0.0").ip("0.0.0.0").ip("2001:db8::1").ip("2001:db8::2").u32(1, 2).ip("192.0.2.1").ip("::").ip("198.51.100.1").ip("0.0.0.0").u16(1, 0).u32(1))),
		ipfix(1, 0, 0, set(2, tmpl(301, specs(315, 0xffff, 312, 2, 408, 2, 34, 4)), tmpl(302, specs(313, 0xffff, 224, 2)), tmpl(303, specs(4, 1, 314, 0xffff))),
			set(301, wire{}.varlen(f, false).u16(uint16(len(f))).u16(1).u32(10), wire{}.varlen(f[:20], false).u16(1514).u16(1).u32(10),
				wire{}.varlen(nil, false).u16(60).u16(1).u32(10), wire{}.varlen(f, true).u16(20).u16(2).u32(10)),
			set(302, wire{}.varlen(v6, false).u16(60)), set(303, wire{}.u8(6).varlen(v6[40:], false))),
		ipfix(1, 5, 0, set(2, tmpl(304, append(specs(8, 4, 12, 4, 4, 1, 7, 2, 11, 2, 2, 4, 1, 4), rev(2, 4), rev(1, 4), rev(6, 1), rev(153, 8), rev(10, 4))),
			tmpl(305, append(specs(8, 4, 12, 4, 2, 4), rev(6, 1)))),
			set(304, wire{}.ip("10.0.0.1").ip("10.0.0.2").u8(6).u16(1, 2).u32(1, 60, 1, 40).u8(0x12).u64(1).u32(9)),
			set(305, wire{}.ip("10.0.0.1").ip("10.0.0.2").u32(1).u8(2))),
		ipfix(1, 0, 0, set(2, wire{}.u16(306, 40).u16(8, 4)), set(2, tmpl(307, specs(8, 4, 315, 1000))), set(307, wire{}.ip("10.0.0.9").bytes(make([]byte, 100)))),
	}
}

// The new shapes keep decoding allocation-free in steady state (templates
// known, Result reused): sections, reverse records and mixed families go
// through scratch space in the Decoder.
func TestBreadthDoesNotAllocate(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	seeds := breadthSeeds()[:3]
	var res netflow.Result
	for _, b := range seeds {
		if err := dec.Decode(b, exporter, t0, &res); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, b := range seeds {
			_ = dec.Decode(b, exporter, t0, &res)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run", allocs)
	}
}
