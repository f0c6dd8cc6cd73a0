package netflow

import (
	"net/netip"

	"github.com/flowlens/flowlens/internal/decode/packet"
	"github.com/flowlens/flowlens/internal/flow"
)

// This file holds what routers, switches and firewalls export beyond Open
// vSwitch's elements: mixed-family templates, physical interfaces, BGP next
// hops, NAT, sampled packet sections (PSAMP) and RFC 5103 biflows. Element
// ids are from the IANA IPFIX registry (RFC 7012).

// breadthField stores the elements of this file; field calls it for the
// ids it does not handle itself.
func (d *Decoder) breadthField(kind uint16, v []byte, u uint64, isInt bool, s *scratch, r *flow.Record) {
	switch kind {
	case 60: // ipVersion
		if isInt {
			s.ipVersion = uint8(u)
		}
	case 18, 63: // bgpNextHopIPv4Address, bgpNextHopIPv6Address
		if a, ok := addr(v); ok && !a.IsUnspecified() {
			r.BGPNextHop = a
		}
	case 225, 281: // postNATSourceIPv4Address, postNATSourceIPv6Address
		if a, ok := addr(v); ok && !a.IsUnspecified() {
			r.SrcNAT = a
		}
	case 226, 282: // postNATDestinationIPv4Address, postNATDestinationIPv6Address
		if a, ok := addr(v); ok && !a.IsUnspecified() {
			r.DstNAT = a
		}
	case 227: // postNAPTSourceTransportPort
		if isInt {
			s.natSport, s.hasNATPorts = uint16(u), true
		}
	case 228: // postNAPTDestinationTransportPort
		if isInt {
			s.natDport, s.hasNATPorts = uint16(u), true
		}
	case 252: // ingressPhysicalInterface
		if isInt {
			s.physIn, s.hasPhysIn, s.lastIf = uint32(u), true, 1
		}
	case 253: // egressPhysicalInterface
		if isInt {
			s.physOut, s.hasPhysOut, s.lastIf = uint32(u), true, 2
		}
	case 315, 104: // dataLinkFrameSection; v9 layer2packetSectionData (NetFlow-Lite, deprecated for 315)
		s.l2Section = v
	case 313: // ipHeaderPacketSection
		s.ipSection = v
	case 314: // ipPayloadPacketSection
		s.payloadSection = v
	case 312: // dataLinkFrameSize
		s.frameSize, s.hasFrameSize = u, isInt
	case 224: // ipTotalLength
		s.ipTotalLen, s.hasIPTotalLen = u, isInt
	case 408: // dataLinkFrameType
		if isInt {
			s.frameType, s.hasFrameType = uint16(u), true
		}
	}
}

// setAddr keeps an address by family. An unspecified address never
// replaces one already set: a template that carries both families sends
// the unused one as zeros, and whichever comes last must not erase the
// real one.
func (s *scratch) setAddr(src bool, a netip.Addr) {
	var p *netip.Addr
	switch {
	case src && a.Is4():
		p = &s.src4
	case src:
		p = &s.src6
	case a.Is4():
		p = &s.dst4
	default:
		p = &s.dst6
	}
	if a.IsUnspecified() && p.IsValid() {
		return
	}
	*p = a
}

// addrs picks the record's addresses: the family ipVersion (IE 60) names
// when the record has it, else the family with a non-zero address, else
// the one present (0.0.0.0 is a real source: DHCP). IPv4 when both have
// non-zero addresses and nothing says which.
func (s *scratch) addrs() (src, dst netip.Addr) {
	has4 := s.src4.IsValid() || s.dst4.IsValid()
	has6 := s.src6.IsValid() || s.dst6.IsValid()
	set := func(a, b netip.Addr) bool {
		return a.IsValid() && !a.IsUnspecified() || b.IsValid() && !b.IsUnspecified()
	}
	six := has6
	switch {
	case s.ipVersion == 4 && has4:
		six = false
	case s.ipVersion == 6 && has6:
		six = true
	case has4 && has6:
		six = !set(s.src4, s.dst4) && set(s.src6, s.dst6)
	}
	if six {
		return s.src6, s.dst6
	}
	return s.src4, s.dst4
}

// finishBreadth sets the record fields of this file's elements, once all
// the record's values are known.
func (s *scratch) finishBreadth(r *flow.Record) {
	r.SrcAddr, r.DstAddr = s.addrs()
	if r.EtherType == 0 && !r.SrcAddr.IsValid() && !r.DstAddr.IsValid() {
		switch s.ipVersion {
		case 4:
			r.EtherType = 0x0800
		case 6:
			r.EtherType = 0x86dd
		}
	}
	// The physical interfaces name the ports when ingressInterface and
	// egressInterface (10/14) are absent or 0 (unknown): switches export
	// the LAG member, or only it.
	if r.In.Format == flow.PortUnknown && s.hasPhysIn {
		name := r.In.Name
		r.In = port(s.physIn)
		r.In.Name = name
	}
	if r.Out.Format == flow.PortUnknown && s.hasPhysOut {
		name := r.Out.Name
		r.Out = port(s.physOut)
		r.Out.Name = name
	}
	// Ports 0 after NAPT: no port translation was reported.
	if s.hasNATPorts && (s.natSport != 0 || s.natDport != 0) {
		r.SrcNATPort, r.DstNATPort, r.HasNATPorts = s.natSport, s.natDport, true
	}
}

// section parses the record's sampled packet section with the parser sFlow
// uses for its sampled headers, and fills what the record's own elements
// left unset: the exporter's own fields win. It returns the section's
// length (0: no section).
//
// dataLinkFrameSection (315) is read as an Ethernet frame unless
// dataLinkFrameType (408) says otherwise (2 is an 802.11 frame, which the
// parser does not read: only its length is used). ipHeaderPacketSection
// (313) starts with the IP header, ipPayloadPacketSection (314) after it
// and needs the record's protocolIdentifier.
func (d *Decoder) section(s *scratch, r *flow.Record) int {
	var n int
	p := &d.secRec
	*p = flow.Record{}
	switch {
	case len(s.l2Section) > 0:
		n = len(s.l2Section)
		if s.hasFrameSize && uint64(n) > s.frameSize {
			s.sectionLie = true // a section cannot be longer than its frame
		}
		if s.hasFrameType && s.frameType != 1 {
			return n
		}
		packet.Parse(packet.HeaderEthernet, s.l2Section, p)
	case len(s.ipSection) > 0:
		n = len(s.ipSection)
		switch s.ipSection[0] >> 4 {
		case 4:
			packet.Parse(packet.HeaderIPv4, s.ipSection, p)
		case 6:
			packet.Parse(packet.HeaderIPv6, s.ipSection, p)
		}
	case len(s.payloadSection) > 0:
		n = len(s.payloadSection)
		if r.HasProto {
			packet.ParseTransport(r.Proto, s.payloadSection, p)
		}
	default:
		return 0
	}
	fill(&r.Packet, &p.Packet)
	if r.EtherType == 0 { // an IP header section has no EtherType of its own
		switch {
		case r.SrcAddr.Is4():
			r.EtherType = 0x0800
		case r.SrcAddr.Is6():
			r.EtherType = 0x86dd
		}
	}
	r.Parsed = max(r.Parsed, p.Parsed)
	r.Truncated = r.Truncated || p.Truncated
	if r.Tunnel == flow.TunnelNone && p.Tunnel != flow.TunnelNone {
		r.Tunnel, r.VNI, r.HasVNI = p.Tunnel, p.VNI, p.HasVNI
		r.Inner, r.InnerPresent = p.Inner, p.InnerPresent
	}
	return n
}

// fill copies into r the fields of p that r does not have.
func fill(r, p *flow.Packet) {
	if r.SrcMAC.IsZero() && r.DstMAC.IsZero() {
		r.SrcMAC, r.DstMAC = p.SrcMAC, p.DstMAC
	}
	if r.EtherType == 0 {
		r.EtherType = p.EtherType
	}
	if r.VLANCount == 0 {
		r.VLAN, r.InnerVLAN, r.VLANCount = p.VLAN, p.InnerVLAN, p.VLANCount
	}
	if r.MPLSCount == 0 {
		r.MPLSLabels, r.MPLSCount = p.MPLSLabels, p.MPLSCount
	}
	if !r.SrcAddr.IsValid() && !r.DstAddr.IsValid() {
		r.SrcAddr, r.DstAddr = p.SrcAddr, p.DstAddr
	}
	if !r.HasProto {
		r.Proto, r.HasProto = p.Proto, p.HasProto
	}
	if r.TOS == 0 {
		r.TOS = p.TOS
	}
	if r.TTL == 0 {
		r.TTL = p.TTL
	}
	if r.IPLength == 0 {
		r.IPLength = p.IPLength
	}
	if r.FlowLabel == 0 {
		r.FlowLabel = p.FlowLabel
	}
	if !r.Fragment {
		r.Fragment, r.FragmentOffset = p.Fragment, p.FragmentOffset
	}
	if !r.HasPorts && !r.HasICMP {
		r.SrcPort, r.DstPort, r.HasPorts = p.SrcPort, p.DstPort, p.HasPorts
		r.ICMPType, r.ICMPCode, r.HasICMP = p.ICMPType, p.ICMPCode, p.HasICMP
	}
	if r.TCPFlags == 0 {
		r.TCPFlags = p.TCPFlags
	}
	if r.ARPOp == 0 {
		r.ARPOp = p.ARPOp
	}
}

// packetReport reports whether the record describes one sampled packet
// (PSAMP, RFC 5476/5477): it has a packet section, even an empty one, or
// the frame's size.
func (s *scratch) packetReport(secLen int) bool {
	return secLen > 0 || s.emptySection || s.hasFrameSize
}

// sectionBytes is the byte count of a record that has a packet section but
// no octet count: IP bytes, as octetDeltaCount counts them —
// ipTotalLength (224), else the IP length in the section's header — else
// the frame's length (dataLinkFrameSize 312, non-IP frames), else the
// section's own length. A frame size shorter than its section is a lie:
// the section's length is used.
func (s *scratch) sectionBytes(r *flow.Record, secLen int) uint64 {
	switch {
	case s.hasIPTotalLen:
		return s.ipTotalLen
	case r.IPLength > 0:
		return uint64(r.IPLength)
	case s.hasFrameSize:
		return max(s.frameSize, uint64(secLen))
	}
	return uint64(secLen)
}

// reverse appends the reverse direction of a biflow data record (RFC
// 5103): the forward record with source and destination swapped (section 5:
// the reverse direction's key is the forward key swapped), and the values
// of the reverse elements (enterprise 29305) the record has: counts, TCP
// flags, TOS, TTL, interfaces, VLANs, times and end reason. Reverse values
// the record does not have are not guessed: TCP flags, TOS, TTL, ICMP type
// and the NAT translation are left out; times and interfaces are the
// forward ones (swapped for interfaces).
//
// No reverse record is made when both reverse counts are 0 (a uniflow
// exported with a biflow template: nothing came back), nor when the
// template has no reverse count at all, which is counted (ReasonBiflow):
// the reverse direction's traffic is unknown.
func (d *Decoder) reverse(c *msgCtx, tpl *template, smp *sampling, fwd *flow.Record, res *Result) {
	fwd.Biflow = flow.BiflowForward
	if !tpl.revCounts {
		res.Errors[ReasonBiflow]++
		return
	}
	rs, rr := &d.revS, &d.revRec
	pkts := rs.packets
	if !rs.hasPackets {
		pkts = rs.postPackets
	}
	octets := rs.bytes
	switch {
	case rs.hasBytes:
	case rs.hasL2:
		octets = rs.l2bytes
	default:
		octets = rs.postBytes
	}
	if pkts == 0 && octets == 0 {
		return
	}
	if len(res.Flows) >= MaxRecordsPerDatagram {
		res.Errors[ReasonTooManyRecords]++
		return
	}
	r := *fwd
	r.Biflow = flow.BiflowReverse
	r.SrcAddr, r.DstAddr = fwd.DstAddr, fwd.SrcAddr
	r.SrcPort, r.DstPort = fwd.DstPort, fwd.SrcPort
	r.SrcMAC, r.DstMAC = fwd.DstMAC, fwd.SrcMAC
	r.SrcAS, r.DstAS = fwd.DstAS, fwd.SrcAS
	r.SrcMask, r.DstMask = fwd.DstMask, fwd.SrcMask
	r.SrcGeo, r.DstGeo = fwd.DstGeo, fwd.SrcGeo
	r.In, r.Out = fwd.Out, fwd.In
	r.SrcNAT, r.DstNAT, r.SrcNATPort, r.DstNATPort, r.HasNATPorts = netip.Addr{}, netip.Addr{}, 0, 0, false
	r.TCPFlags, r.TOS, r.TTL, r.FlowLabel = 0, 0, 0, 0
	r.ICMPType, r.ICMPCode, r.HasICMP = 0, 0, false
	if r.Parsed == flow.LayerL4 && !r.HasPorts {
		r.Parsed = flow.LayerL3
	}
	if rs.hasTCPFlags && r.Proto == protoTCP {
		r.TCPFlags = rr.TCPFlags
	}
	switch {
	case rs.hasTOS:
		r.TOS = rr.TOS
	case rs.hasDSCP:
		r.TOS = rs.dscp << 2
	}
	switch {
	case rs.hasTTL:
		r.TTL = rr.TTL
	case rs.hasMinTTL:
		r.TTL = rs.minTTL
	}
	if rr.In.Format == flow.PortSingle {
		r.In = rr.In
	} else if rs.hasPhysIn && rs.physIn != 0 {
		r.In = port(rs.physIn)
	}
	if rr.Out.Format == flow.PortSingle {
		r.Out = rr.Out
	} else if rs.hasPhysOut && rs.physOut != 0 {
		r.Out = port(rs.physOut)
	}
	if rs.hasInVLAN {
		r.In.VLAN, r.In.HasVLAN = rr.In.VLAN, true
	}
	if rs.hasOutVLAN {
		r.Out.VLAN, r.Out.HasVLAN = rr.Out.VLAN, true
	}
	if rr.EndReason != 0 {
		r.EndReason = rr.EndReason
	}
	var t flow.Record
	d.times(c, smp, rs, &t)
	if !t.Start.IsZero() {
		r.Start = t.Start
	}
	if !t.End.IsZero() {
		r.End = t.End
	}
	rate := r.SamplingRate
	if tpl.prescaled {
		rate = 1
	}
	r.Packets, r.Bytes = scale(pkts, rate), scale(octets, rate)
	res.Flows = append(res.Flows, r)
	res.ReverseRecords++
}
