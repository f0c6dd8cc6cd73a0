// Package packet parses the packet headers that flow exporters sample:
// Ethernet with 802.1Q/QinQ and MPLS, ARP, IPv4, IPv6 with extension headers,
// TCP, UDP, SCTP, ICMP, ICMPv6, and one level of VXLAN, Geneve or GRE
// encapsulation. It reads only the bytes it is given, never allocates, and
// records how far it got when the header was cut short.
package packet

import (
	"encoding/binary"
	"net/netip"

	"github.com/flowlens/flowlens/internal/flow"
)

// EtherTypes and protocol numbers the parser acts on.
const (
	EtherTypeIPv4   = 0x0800
	EtherTypeARP    = 0x0806
	EtherTypeVLAN   = 0x8100
	EtherTypeQinQ   = 0x88a8
	EtherTypeQinQ2  = 0x9100
	EtherTypeIPv6   = 0x86dd
	EtherTypeMPLS   = 0x8847
	EtherTypeMPLSMC = 0x8848
	EtherTypeTEB    = 0x6558 // transparent Ethernet bridging (GRE, Geneve)

	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoGRE    = 47
	ProtoICMPv6 = 58
	ProtoSCTP   = 132

	PortVXLAN  = 4789
	PortGeneve = 6081
)

// Limits on loops driven by packet contents: a hostile header cannot make the
// parser walk further than these.
const (
	maxVLANTags  = 4
	maxMPLS      = 8
	maxIPv6Ext   = 8
	sizeEthernet = 14
)

// Header protocols of the sFlow sampled_header record.
const (
	HeaderEthernet = 1
	HeaderIPv4     = 11
	HeaderIPv6     = 12
)

// Parse fills r's packet fields from a sampled header of the given sFlow
// header protocol. Unknown protocols leave r untouched.
func Parse(proto uint32, b []byte, r *flow.Record) {
	var p parser
	p.r = r
	switch proto {
	case HeaderEthernet:
		p.ethernet(b, &r.Packet, false)
	case HeaderIPv4:
		p.ip(b, &r.Packet, false, 4)
	case HeaderIPv6:
		p.ip(b, &r.Packet, false, 6)
	}
}

// ParseEthernet parses an Ethernet frame into r.
func ParseEthernet(b []byte, r *flow.Record) { Parse(HeaderEthernet, b, r) }

// ParseTransport parses what follows an IP header of protocol proto (the
// IPFIX ipPayloadPacketSection, IE 314) into r: ports, TCP flags, ICMP
// type and code, and a tunnel behind UDP or GRE.
func ParseTransport(proto uint8, b []byte, r *flow.Record) {
	p := parser{r: r}
	p.l4(proto, b, &r.Packet, false)
}

type parser struct {
	r *flow.Record
}

func (p *parser) reached(l flow.Layer, inner bool) {
	if inner {
		l += flow.LayerInnerL2 - flow.LayerL2
	}
	if l > p.r.Parsed {
		p.r.Parsed = l
	}
}

func (p *parser) truncated() { p.r.Truncated = true }

func (p *parser) ethernet(b []byte, pk *flow.Packet, inner bool) {
	if len(b) < sizeEthernet {
		p.truncated()
		return
	}
	copy(pk.DstMAC[:], b[0:6])
	copy(pk.SrcMAC[:], b[6:12])
	et := binary.BigEndian.Uint16(b[12:14])
	b = b[14:]
	for tags := 0; et == EtherTypeVLAN || et == EtherTypeQinQ || et == EtherTypeQinQ2; tags++ {
		if tags == maxVLANTags || len(b) < 4 {
			p.truncated()
			pk.EtherType = et
			return
		}
		vid := binary.BigEndian.Uint16(b[0:2]) & 0x0fff
		switch pk.VLANCount {
		case 0:
			pk.VLAN = vid
		case 1:
			pk.InnerVLAN = vid
		}
		pk.VLANCount++
		et = binary.BigEndian.Uint16(b[2:4])
		b = b[4:]
	}
	pk.EtherType = et
	p.reached(flow.LayerL2, inner)
	p.ethPayload(et, b, pk, inner)
}

func (p *parser) ethPayload(et uint16, b []byte, pk *flow.Packet, inner bool) {
	switch et {
	case EtherTypeIPv4:
		p.ip(b, pk, inner, 4)
	case EtherTypeIPv6:
		p.ip(b, pk, inner, 6)
	case EtherTypeARP:
		p.arp(b, pk, inner)
	case EtherTypeMPLS, EtherTypeMPLSMC:
		p.mpls(b, pk, inner)
	}
}

func (p *parser) mpls(b []byte, pk *flow.Packet, inner bool) {
	for i := 0; ; i++ {
		if i == maxMPLS || len(b) < 4 {
			p.truncated()
			return
		}
		v := binary.BigEndian.Uint32(b)
		b = b[4:]
		if int(pk.MPLSCount) < len(pk.MPLSLabels) {
			pk.MPLSLabels[pk.MPLSCount] = v >> 12
		}
		pk.MPLSCount++
		if v&0x100 != 0 { // bottom of stack
			break
		}
	}
	// MPLS does not say what it carries; the IP version nibble is the
	// usual and only cheap guess.
	if len(b) == 0 {
		p.truncated()
		return
	}
	switch b[0] >> 4 {
	case 4:
		p.ip(b, pk, inner, 4)
	case 6:
		p.ip(b, pk, inner, 6)
	}
}

func (p *parser) arp(b []byte, pk *flow.Packet, inner bool) {
	if len(b) < 8 {
		p.truncated()
		return
	}
	ptype := binary.BigEndian.Uint16(b[2:4])
	hlen, plen := int(b[4]), int(b[5])
	pk.ARPOp = binary.BigEndian.Uint16(b[6:8])
	p.reached(flow.LayerL3, inner)
	if ptype != EtherTypeIPv4 || plen != 4 {
		return
	}
	need := 8 + 2*hlen + 2*plen
	if len(b) < need {
		p.truncated()
		return
	}
	spa := 8 + hlen
	tpa := spa + plen + hlen
	pk.SrcAddr = netip.AddrFrom4([4]byte(b[spa : spa+4]))
	pk.DstAddr = netip.AddrFrom4([4]byte(b[tpa : tpa+4]))
}

func (p *parser) ip(b []byte, pk *flow.Packet, inner bool, version int) {
	var proto uint8
	var payload []byte
	if version == 4 {
		if len(b) < 20 {
			p.truncated()
			return
		}
		ihl := int(b[0]&0x0f) * 4
		if b[0]>>4 != 4 || ihl < 20 {
			return // not IPv4 after all: keep what L2 said
		}
		pk.TOS = b[1]
		pk.IPLength = binary.BigEndian.Uint16(b[2:4])
		frag := binary.BigEndian.Uint16(b[6:8])
		pk.FragmentOffset = frag & 0x1fff
		pk.Fragment = frag&0x2000 != 0 || pk.FragmentOffset != 0
		pk.TTL = b[8]
		proto = b[9]
		pk.SrcAddr = netip.AddrFrom4([4]byte(b[12:16]))
		pk.DstAddr = netip.AddrFrom4([4]byte(b[16:20]))
		pk.Proto, pk.HasProto = proto, true
		p.reached(flow.LayerL3, inner)
		if len(b) < ihl {
			p.truncated()
			return
		}
		if pk.FragmentOffset != 0 {
			return // later fragments carry no L4 header
		}
		payload = b[ihl:]
	} else {
		if len(b) < 40 {
			p.truncated()
			return
		}
		if b[0]>>4 != 6 {
			return
		}
		vtf := binary.BigEndian.Uint32(b[0:4])
		pk.TOS = uint8(vtf >> 20)
		pk.FlowLabel = vtf & 0xfffff
		pk.IPLength = binary.BigEndian.Uint16(b[4:6]) + 40
		proto = b[6]
		pk.TTL = b[7]
		pk.SrcAddr = netip.AddrFrom16([16]byte(b[8:24]))
		pk.DstAddr = netip.AddrFrom16([16]byte(b[24:40]))
		payload = b[40:]
		// Extension headers: the protocol is the first that is not one.
		for n := 0; ; n++ {
			var hdrLen int
			switch proto {
			case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination, mobility, HIP, shim6
				if len(payload) < 8 {
					pk.Proto, pk.HasProto = proto, true
					p.reached(flow.LayerL3, inner)
					p.truncated()
					return
				}
				hdrLen = (int(payload[1]) + 1) * 8
			case 44: // fragment
				if len(payload) < 8 {
					pk.Proto, pk.HasProto = proto, true
					p.reached(flow.LayerL3, inner)
					p.truncated()
					return
				}
				pk.Fragment = true
				pk.FragmentOffset = binary.BigEndian.Uint16(payload[2:4]) >> 3
				hdrLen = 8
			case 51: // authentication header
				if len(payload) < 8 {
					pk.Proto, pk.HasProto = proto, true
					p.reached(flow.LayerL3, inner)
					p.truncated()
					return
				}
				hdrLen = (int(payload[1]) + 2) * 4
			default:
				hdrLen = -1
			}
			if hdrLen < 0 {
				break
			}
			if n == maxIPv6Ext || len(payload) < hdrLen {
				pk.Proto, pk.HasProto = proto, true
				p.reached(flow.LayerL3, inner)
				p.truncated()
				return
			}
			proto = payload[0]
			payload = payload[hdrLen:]
		}
		pk.Proto, pk.HasProto = proto, true
		p.reached(flow.LayerL3, inner)
		if pk.FragmentOffset != 0 {
			return
		}
	}
	p.l4(proto, payload, pk, inner)
}

func (p *parser) l4(proto uint8, b []byte, pk *flow.Packet, inner bool) {
	switch proto {
	case ProtoTCP:
		if p.ports(b, 14, pk, inner) {
			pk.TCPFlags = binary.BigEndian.Uint16(b[12:14]) & 0x01ff
		}
	case ProtoUDP:
		if p.ports(b, 8, pk, inner) && !inner {
			switch pk.DstPort {
			case PortVXLAN:
				p.vxlan(b[8:])
			case PortGeneve:
				p.geneve(b[8:])
			}
		}
	case ProtoSCTP:
		p.ports(b, 4, pk, inner)
	case ProtoICMP, ProtoICMPv6:
		if len(b) < 2 {
			p.truncated()
			return
		}
		pk.ICMPType, pk.ICMPCode, pk.HasICMP = b[0], b[1], true
		p.reached(flow.LayerL4, inner)
	case ProtoGRE:
		if !inner {
			p.gre(b)
		}
	}
}

// ports reads the source and destination ports that TCP, UDP and SCTP
// headers start with, once need bytes of the header are there.
func (p *parser) ports(b []byte, need int, pk *flow.Packet, inner bool) bool {
	if len(b) < need {
		p.truncated()
		return false
	}
	pk.SrcPort = binary.BigEndian.Uint16(b[0:2])
	pk.DstPort = binary.BigEndian.Uint16(b[2:4])
	pk.HasPorts = true
	p.reached(flow.LayerL4, inner)
	return true
}

func (p *parser) vxlan(b []byte) {
	if len(b) < 8 {
		p.truncated()
		return
	}
	if b[0]&0x08 == 0 { // VNI not valid: not VXLAN as we know it
		return
	}
	p.r.Tunnel = flow.TunnelVXLAN
	p.r.VNI, p.r.HasVNI = binary.BigEndian.Uint32(b[4:8])>>8, true
	p.r.InnerPresent = true
	p.ethernet(b[8:], &p.r.Inner, true)
}

func (p *parser) geneve(b []byte) {
	if len(b) < 8 {
		p.truncated()
		return
	}
	if b[0]>>6 != 0 { // only version 0 exists
		return
	}
	optLen := int(b[0]&0x3f) * 4
	proto := binary.BigEndian.Uint16(b[2:4])
	p.r.Tunnel = flow.TunnelGeneve
	p.r.VNI, p.r.HasVNI = binary.BigEndian.Uint32(b[4:8])>>8, true
	if len(b) < 8+optLen {
		p.truncated()
		return
	}
	p.inner(proto, b[8+optLen:])
}

func (p *parser) gre(b []byte) {
	if len(b) < 4 {
		p.truncated()
		return
	}
	flags := binary.BigEndian.Uint16(b[0:2])
	proto := binary.BigEndian.Uint16(b[2:4])
	if flags&0x0007 != 0 { // GRE version 1 (PPTP) is not a tunnel we look into
		return
	}
	p.r.Tunnel = flow.TunnelGRE
	off := 4
	if flags&0x8000 != 0 { // checksum present
		off += 4
	}
	if flags&0x2000 != 0 { // key present
		if len(b) < off+4 {
			p.truncated()
			return
		}
		p.r.VNI, p.r.HasVNI = binary.BigEndian.Uint32(b[off:off+4]), true
		off += 4
	}
	if flags&0x1000 != 0 { // sequence number present
		off += 4
	}
	if len(b) < off {
		p.truncated()
		return
	}
	p.inner(proto, b[off:])
}

func (p *parser) inner(proto uint16, b []byte) {
	switch proto {
	case EtherTypeTEB:
		p.r.InnerPresent = true
		p.ethernet(b, &p.r.Inner, true)
	case EtherTypeIPv4, EtherTypeIPv6:
		p.r.InnerPresent = true
		p.r.Inner.EtherType = proto
		p.reached(flow.LayerL2, true)
		p.ethPayload(proto, b, &p.r.Inner, true)
	}
}
