package packet

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
)

// Small builders for test packets. Each returns the bytes of one layer
// followed by its payload.

func eth(dst, src flow.MAC, et uint16, payload []byte) []byte {
	b := append(append(append([]byte{}, dst[:]...), src[:]...), byte(et>>8), byte(et))
	return append(b, payload...)
}

func vlanTag(tpid uint16, vid uint16, inner uint16) []byte {
	return []byte{byte(tpid >> 8), byte(tpid), byte(vid >> 8), byte(vid), byte(inner >> 8), byte(inner)}
}

func ipv4(src, dst string, proto uint8, frag uint16, payload []byte) []byte {
	b := make([]byte, 20)
	b[0] = 0x45
	b[1] = 0x10
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8] = 63
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	return append(b, payload...)
}

func ipv6(src, dst string, next uint8, payload []byte) []byte {
	b := make([]byte, 40)
	binary.BigEndian.PutUint32(b[0:], 6<<28|0xab<<20|0x12345)
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6] = next
	b[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, payload...)
}

func tcp(sport, dport uint16, flags uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[12:], 5<<12|flags)
	return b
}

func udp(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

var (
	macA = flow.MAC{0x12, 0x93, 0xb5, 0xa9, 0x2d, 0x63}
	macB = flow.MAC{0xd2, 0x3b, 0x30, 0x88, 0xa9, 0x3e}
	macC = flow.MAC{0xfa, 0x16, 0x3e, 0x00, 0x00, 0x01}
	macD = flow.MAC{0xfa, 0x16, 0x3e, 0x00, 0x00, 0x02}
)

func parse(b []byte) *flow.Record {
	var r flow.Record
	ParseEthernet(b, &r)
	return &r
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestTCPv4(t *testing.T) {
	r := parse(eth(macB, macA, EtherTypeIPv4, ipv4("10.0.0.1", "10.0.0.2", ProtoTCP, 0x4000, tcp(40000, 443, 0x012))))
	if r.SrcMAC != macA || r.DstMAC != macB || r.EtherType != EtherTypeIPv4 {
		t.Errorf("L2: %+v", r.Packet)
	}
	if r.SrcAddr != addr("10.0.0.1") || r.DstAddr != addr("10.0.0.2") || r.Proto != ProtoTCP || r.TTL != 63 || r.TOS != 0x10 {
		t.Errorf("L3: %+v", r.Packet)
	}
	if !r.HasPorts || r.SrcPort != 40000 || r.DstPort != 443 || r.TCPFlags != 0x012 {
		t.Errorf("L4: ports %d→%d flags %#x", r.SrcPort, r.DstPort, r.TCPFlags)
	}
	if r.Fragment || r.Parsed != flow.LayerL4 || r.Truncated {
		t.Errorf("fragment %v parsed %v truncated %v", r.Fragment, r.Parsed, r.Truncated)
	}
}

func TestQinQ(t *testing.T) {
	payload := append(vlanTag(EtherTypeVLAN, 0x2000|200, EtherTypeIPv4)[2:], ipv4("192.0.2.1", "192.0.2.2", ProtoUDP, 0, udp(53, 5353, nil))...)
	b := eth(macB, macA, EtherTypeQinQ, append([]byte{0, 100}, append([]byte{0x81, 0x00}, payload...)...))
	r := parse(b)
	if r.VLANCount != 2 || r.VLAN != 100 || r.InnerVLAN != 200 {
		t.Fatalf("VLANs: count %d outer %d inner %d", r.VLANCount, r.VLAN, r.InnerVLAN)
	}
	if r.EtherType != EtherTypeIPv4 || r.SrcPort != 53 || r.DstPort != 5353 || r.Proto != ProtoUDP {
		t.Errorf("payload after QinQ: %+v", r.Packet)
	}
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	hop := []byte{44, 0, 1, 4, 0, 0, 0, 0}               // hop-by-hop, next: fragment
	frag := []byte{ProtoUDP, 0, 0x00, 0x01, 0, 0, 0, 42} // offset 0, more fragments
	r := parse(eth(macB, macA, EtherTypeIPv6, ipv6("fd00::1", "fd00::2", 0, append(append(hop, frag...), udp(1000, 2000, nil)...))))
	if r.Proto != ProtoUDP || r.SrcPort != 1000 || r.DstPort != 2000 {
		t.Errorf("UDP behind hop-by-hop+fragment: proto %d ports %d→%d", r.Proto, r.SrcPort, r.DstPort)
	}
	if !r.Fragment || r.FragmentOffset != 0 || r.FlowLabel != 0x12345 || r.TOS != 0xab {
		t.Errorf("fragment %v offset %d label %#x tclass %#x", r.Fragment, r.FragmentOffset, r.FlowLabel, r.TOS)
	}
	later := []byte{ProtoUDP, 0, 0x05, 0x00, 0, 0, 0, 42} // offset 160 bytes
	r = parse(eth(macB, macA, EtherTypeIPv6, ipv6("fd00::1", "fd00::2", 44, append(later, udp(1000, 2000, nil)...))))
	if r.HasPorts || !r.Fragment || r.FragmentOffset != 160 || r.Proto != ProtoUDP {
		t.Errorf("later fragment: ports %v fragment %v offset %d", r.HasPorts, r.Fragment, r.FragmentOffset)
	}
}

func TestIPv4LaterFragmentHasNoPorts(t *testing.T) {
	r := parse(eth(macB, macA, EtherTypeIPv4, ipv4("10.0.0.1", "10.0.0.2", ProtoUDP, 185, udp(1, 2, nil))))
	if r.HasPorts || !r.Fragment || r.FragmentOffset != 185 {
		t.Errorf("ports %v fragment %v offset %d", r.HasPorts, r.Fragment, r.FragmentOffset)
	}
}

func TestARP(t *testing.T) {
	arp := []byte{0, 1, 8, 0, 6, 4, 0, 1}
	arp = append(arp, macA[:]...)
	arp = append(arp, 172, 31, 0, 11)
	arp = append(arp, 0, 0, 0, 0, 0, 0)
	arp = append(arp, 172, 31, 0, 12)
	r := parse(eth(flow.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macA, EtherTypeARP, arp))
	if r.ARPOp != 1 || r.SrcAddr != addr("172.31.0.11") || r.DstAddr != addr("172.31.0.12") || r.Parsed != flow.LayerL3 {
		t.Errorf("ARP: op %d %v → %v parsed %v", r.ARPOp, r.SrcAddr, r.DstAddr, r.Parsed)
	}
}

func TestICMPv6(t *testing.T) {
	r := parse(eth(macB, macA, EtherTypeIPv6, ipv6("fd31::11", "fd31::12", ProtoICMPv6, []byte{128, 0, 0, 0, 0, 1, 0, 1})))
	if !r.HasICMP || r.ICMPType != 128 || r.ICMPCode != 0 {
		t.Errorf("ICMPv6: %v type %d code %d", r.HasICMP, r.ICMPType, r.ICMPCode)
	}
}

func TestVXLAN(t *testing.T) {
	inner := eth(macD, macC, EtherTypeIPv4, ipv4("10.1.0.5", "10.1.0.6", ProtoTCP, 0, tcp(22, 51000, 0x018)))
	vx := append([]byte{0x08, 0, 0, 0, 0, 0x13, 0x89, 0}, inner...) // VNI 5001
	r := parse(eth(macB, macA, EtherTypeIPv4, ipv4("192.0.2.10", "192.0.2.20", ProtoUDP, 0, udp(49152, PortVXLAN, vx))))
	if r.Tunnel != flow.TunnelVXLAN || !r.HasVNI || r.VNI != 5001 || !r.InnerPresent {
		t.Fatalf("tunnel %v vni %d inner %v", r.Tunnel, r.VNI, r.InnerPresent)
	}
	if r.SrcAddr != addr("192.0.2.10") || r.DstPort != PortVXLAN {
		t.Errorf("outer: %v :%d", r.SrcAddr, r.DstPort)
	}
	in := r.Inner
	if in.SrcMAC != macC || in.DstMAC != macD || in.SrcAddr != addr("10.1.0.5") || in.DstAddr != addr("10.1.0.6") ||
		in.Proto != ProtoTCP || in.SrcPort != 22 || in.DstPort != 51000 || in.TCPFlags != 0x018 {
		t.Errorf("inner: %+v", in)
	}
	if r.Parsed != flow.LayerInnerL4 || r.Truncated {
		t.Errorf("parsed %v truncated %v", r.Parsed, r.Truncated)
	}
}

func TestGeneve(t *testing.T) {
	inner := eth(macD, macC, EtherTypeIPv6, ipv6("fd00:1::5", "fd00:1::6", ProtoUDP, udp(123, 123, nil)))
	opts := []byte{0x01, 0x02, 0x80, 0x01, 0, 0, 0, 7} // one 8-byte option
	gv := append([]byte{0x02, 0x00, 0x65, 0x58, 0x00, 0x00, 0x2a, 0x00}, opts...)
	r := parse(eth(macB, macA, EtherTypeIPv4, ipv4("192.0.2.10", "192.0.2.20", ProtoUDP, 0, udp(50000, PortGeneve, append(gv, inner...)))))
	if r.Tunnel != flow.TunnelGeneve || r.VNI != 42 || !r.InnerPresent {
		t.Fatalf("tunnel %v vni %d", r.Tunnel, r.VNI)
	}
	if r.Inner.SrcAddr != addr("fd00:1::5") || r.Inner.DstPort != 123 || r.Inner.Proto != ProtoUDP {
		t.Errorf("inner: %+v", r.Inner)
	}
}

func TestGRE(t *testing.T) {
	// GRE with key (NVGRE-style) carrying Ethernet.
	inner := eth(macD, macC, EtherTypeIPv4, ipv4("10.2.0.1", "10.2.0.2", ProtoICMP, 0, []byte{8, 0, 0, 0}))
	gre := append([]byte{0x20, 0x00, 0x65, 0x58, 0x00, 0x01, 0x00, 0x00}, inner...)
	r := parse(eth(macB, macA, EtherTypeIPv4, ipv4("192.0.2.1", "192.0.2.2", ProtoGRE, 0, gre)))
	if r.Tunnel != flow.TunnelGRE || !r.HasVNI || r.VNI != 0x10000 || r.Inner.SrcAddr != addr("10.2.0.1") || r.Inner.ICMPType != 8 {
		t.Errorf("GRE/TEB: tunnel %v key %#x inner %+v", r.Tunnel, r.VNI, r.Inner)
	}
	// Plain GRE with checksum carrying IPv4.
	gre = append([]byte{0x80, 0x00, 0x08, 0x00, 0, 0, 0, 0}, ipv4("10.3.0.1", "10.3.0.2", ProtoUDP, 0, udp(1, 2, nil))...)
	r = parse(eth(macB, macA, EtherTypeIPv4, ipv4("192.0.2.1", "192.0.2.2", ProtoGRE, 0, gre)))
	if r.Tunnel != flow.TunnelGRE || r.HasVNI || r.Inner.SrcAddr != addr("10.3.0.1") || r.Inner.DstPort != 2 {
		t.Errorf("GRE/IPv4: %+v", r.Inner)
	}
}

func TestMPLS(t *testing.T) {
	labels := []byte{0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40} // 16, then 32 bottom of stack
	r := parse(eth(macB, macA, EtherTypeMPLS, append(labels, ipv4("10.0.0.1", "10.0.0.2", ProtoTCP, 0, tcp(1, 2, 0x002))...)))
	if r.MPLSCount != 2 || r.MPLSLabels[0] != 16 || r.MPLSLabels[1] != 32 || r.SrcAddr != addr("10.0.0.1") || r.DstPort != 2 {
		t.Errorf("MPLS: %d labels %v, %v :%d", r.MPLSCount, r.MPLSLabels, r.SrcAddr, r.DstPort)
	}
}

// Cutting a packet anywhere must never panic, must say it was cut, and must
// keep what the complete layers said.
func TestTruncationKeepsEarlierLayers(t *testing.T) {
	inner := eth(macD, macC, EtherTypeIPv4, ipv4("10.1.0.5", "10.1.0.6", ProtoTCP, 0, tcp(22, 51000, 0x018)))
	vx := append([]byte{0x08, 0, 0, 0, 0, 0x13, 0x89, 0}, inner...)
	full := eth(macB, macA, EtherTypeIPv4, ipv4("192.0.2.10", "192.0.2.20", ProtoUDP, 0, udp(49152, PortVXLAN, vx)))
	for n := 0; n < len(full); n++ {
		r := parse(full[:n])
		// The parser needs the first 14 bytes of TCP (ports and flags):
		// any shorter cut loses a field and must say so; the last 6 bytes
		// of the TCP header hold nothing it reports.
		if n < len(full)-6 && !r.Truncated {
			t.Errorf("cut at %d: not marked truncated (parsed %v)", n, r.Parsed)
		}
		if n >= 34 && r.SrcAddr != addr("192.0.2.10") {
			t.Errorf("cut at %d: outer IPv4 lost", n)
		}
		if n >= 42 && (r.DstPort != PortVXLAN || r.Parsed < flow.LayerL4) {
			t.Errorf("cut at %d: outer UDP lost", n)
		}
	}
	if r := parse(full); r.Truncated || r.Parsed != flow.LayerInnerL4 {
		t.Errorf("full packet: truncated %v parsed %v", r.Truncated, r.Parsed)
	}
}

func FuzzParse(f *testing.F) {
	inner := eth(macD, macC, EtherTypeIPv4, ipv4("10.1.0.5", "10.1.0.6", ProtoTCP, 0, tcp(22, 51000, 0x018)))
	f.Add(uint32(HeaderEthernet), eth(macB, macA, EtherTypeIPv4, ipv4("192.0.2.10", "192.0.2.20", ProtoUDP, 0,
		udp(49152, PortVXLAN, append([]byte{0x08, 0, 0, 0, 0, 0x13, 0x89, 0}, inner...)))))
	f.Add(uint32(HeaderEthernet), eth(macB, macA, EtherTypeIPv6, ipv6("fd00::1", "fd00::2", 0,
		append([]byte{44, 0, 1, 4, 0, 0, 0, 0, ProtoUDP, 0, 0, 1, 0, 0, 0, 42}, udp(1, 2, nil)...))))
	f.Add(uint32(HeaderIPv4), ipv4("10.0.0.1", "10.0.0.2", ProtoGRE, 0, append([]byte{0x20, 0, 0x65, 0x58, 0, 0, 0, 1}, inner...)))
	f.Fuzz(func(t *testing.T, proto uint32, b []byte) {
		var r flow.Record
		Parse(proto%16, b, &r)
		if r.VLANCount > maxVLANTags || r.MPLSCount > maxMPLS {
			t.Fatalf("loop bounds exceeded: %d tags, %d labels", r.VLANCount, r.MPLSCount)
		}
		_ = ecs.AppendFlow(nil, &r)
	})
}
