package netflow

import (
	"encoding/binary"
	"math"
	"net/netip"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// scratch collects the values of one data record that need the whole record
// before they can be turned into flow.Record fields.
type scratch struct {
	packets, bytes, l2bytes, postPackets, postBytes   uint64
	hasPackets, hasBytes, hasL2, hasPostPkts, hasPost bool

	// Sampling described in the record (or options record).
	rate                     uint32 // samplingInterval / samplerRandomInterval
	pktInterval, pktSpace    uint64
	hasPktInterval           bool
	sampSize, sampPopulation uint64
	probability              float64
	samplerID                uint32
	hasSampler               bool

	// Times.
	startAbs, endAbs         int64 // unix nanoseconds
	hasStartAbs, hasEndAbs   bool
	startUp, endUp           uint32 // ms of sysUpTime
	hasStartUp, hasEndUp     bool
	startDelta, endDelta     uint64 // µs before export time
	hasStartDelta, hasEndDlt bool
	durNs                    int64
	hasDur                   bool
	sysInitMs                uint64
	hasSysInit               bool

	sport, dport     uint16
	hasSport, hasDpt bool
	altSport         uint16 // udp/tcpSourcePort (180/182)
	altDport         uint16
	hasAltPorts      bool
	icmpType         uint8
	icmpCode         uint8
	hasICMP          bool
	dscp             uint8
	hasDSCP, hasTOS  bool
	minTTL           uint8
	hasMinTTL        bool
	hasTTL           bool
	hasInVLAN        bool
	hasOutVLAN       bool
	postDot1q        uint16
	hasPostDot1q     bool
	lastIf           uint8 // 1 after ingressInterface, 2 after egressInterface
	direction        uint8 // flowDirection: 0 ingress, 1 egress
	postSrcMAC       flow.MAC
	postDstMAC       flow.MAC

	tunnel    flow.Endpoint
	hasTunnel bool
	tunKey    uint32
	hasTunKey bool

	breadth
}

// breadth holds the values of the elements that other exporters than Open
// vSwitch use: addresses by family, physical interfaces, NAT, packet
// sections. Kept apart from the fields above so that the record's other
// elements can be changed without touching these.
type breadth struct {
	// Addresses by family: a template may carry IPv4 and IPv6 fields
	// (8/12 and 27/28) of which one family is all zero; finish picks one.
	src4, dst4, src6, dst6 netip.Addr
	ipVersion              uint8 // ipVersion (60), 0 if absent
	hasTCPFlags            bool

	physIn, physOut       uint32 // ingress/egressPhysicalInterface (252/253)
	hasPhysIn, hasPhysOut bool

	natSport, natDport uint16 // postNAPTSource/DestinationTransportPort (227/228)
	hasNATPorts        bool

	// Sampled packet sections (PSAMP, RFC 5477): they alias the
	// datagram and are parsed before record returns.
	l2Section, ipSection, payloadSection []byte
	frameSize, ipTotalLen                uint64 // dataLinkFrameSize (312), ipTotalLength (224)
	hasFrameSize, hasIPTotalLen          bool
	frameType                            uint16 // dataLinkFrameType (408): 1 Ethernet, 2 802.11
	hasFrameType                         bool
	sectionLie                           bool // a section longer than the frame it says it is from
	emptySection                         bool // a section element of length 0
}

// uvalue reads an unsigned integer of 1 to 8 bytes (reduced-size encoding,
// RFC 7011 section 6.2). Longer values are not integers: ok is false.
func uvalue(v []byte) (x uint64, ok bool) {
	switch len(v) {
	case 1:
		return uint64(v[0]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(v)), true
	case 4:
		return uint64(binary.BigEndian.Uint32(v)), true
	case 8:
		return binary.BigEndian.Uint64(v), true
	case 3, 5, 6, 7:
		for _, c := range v {
			x = x<<8 | uint64(c)
		}
		return x, true
	}
	return 0, false
}

// addr reads an IPv4 or IPv6 address by its length.
func addr(v []byte) (netip.Addr, bool) {
	switch len(v) {
	case 4:
		return netip.AddrFrom4([4]byte(v)), true
	case 16:
		return netip.AddrFrom16([16]byte(v)), true
	}
	return netip.Addr{}, false
}

// ntpNano converts an NTP timestamp (dateTimeMicroseconds and
// dateTimeNanoseconds, RFC 7011 section 6.1.9) to unix nanoseconds.
func ntpNano(v uint64) int64 {
	const ntpToUnix = 2208988800
	sec := int64(v>>32) - ntpToUnix
	frac := (v & 0xffffffff) * 1e9 >> 32
	return sec*1e9 + int64(frac)
}

// record decodes one data record at the start of b and returns its length.
func (d *Decoder) record(c *msgCtx, tpl *template, smp *sampling, b []byte, res *Result) (int, bool) {
	var rec *flow.Record
	if !tpl.options {
		res.Flows = append(res.Flows, flow.Record{})
		rec = &res.Flows[len(res.Flows)-1]
	} else {
		rec = &d.optRec
		*rec = flow.Record{}
	}
	var s scratch
	if tpl.biflow {
		d.revS, d.revRec = scratch{}, flow.Record{}
	}
	p := 0
	for i := range tpl.fields {
		f := &tpl.fields[i]
		l := int(f.length)
		if f.length == varLen {
			if p >= len(b) {
				return d.fail(tpl, res)
			}
			l = int(b[p])
			p++
			if l == 255 {
				if p+2 > len(b) {
					return d.fail(tpl, res)
				}
				l = int(binary.BigEndian.Uint16(b[p:]))
				p += 2
			}
		}
		if l > len(b)-p {
			return d.fail(tpl, res)
		}
		v := b[p : p+l : p+l]
		p += l
		if l == 0 {
			if isSection(f.kind) {
				// An empty packet section: nothing to parse; the
				// record's other fields are still good.
				res.Errors[ReasonSection]++
				s.emptySection = true
			}
			continue
		}
		if f.kind == kindSkip {
			if !tpl.options {
				res.EnterpriseFields++
			}
			continue
		}
		if f.kind&kindReverse == kindReverse {
			d.field(f.kind&^kindReverse, v, &d.revS, &d.revRec)
			continue
		}
		d.field(f.kind, v, &s, rec)
	}
	if tpl.options {
		d.optionsRecord(c, &s, res)
		return p, true
	}
	d.finish(c, tpl, smp, &s, rec)
	if s.sectionLie {
		res.Errors[ReasonSection]++
	}
	if tpl.biflow {
		d.reverse(c, tpl, smp, rec, res)
	}
	return p, true
}

// isSection reports whether kind is a packet section element.
func isSection(kind uint16) bool {
	switch kind {
	case 104, 313, 314, 315:
		return true
	}
	return false
}

// fail undoes the record appended by record.
func (d *Decoder) fail(tpl *template, res *Result) (int, bool) {
	if !tpl.options {
		res.Flows = res.Flows[:len(res.Flows)-1]
	}
	return 0, false
}

// field stores one value. Ids are IANA IPFIX information elements
// (RFC 7012 and the registry); NetFlow v9 field types 1-127 are the same
// numbers, and exporters use the IPFIX numbers above 127 in v9 too.
func (d *Decoder) field(kind uint16, v []byte, s *scratch, r *flow.Record) {
	u, isInt := uvalue(v)
	switch kind {
	case 1: // octetDeltaCount
		s.bytes, s.hasBytes = u, isInt
	case 2: // packetDeltaCount
		s.packets, s.hasPackets = u, isInt
	case 23: // postOctetDeltaCount (v9 OUT_BYTES)
		s.postBytes, s.hasPost = u, isInt
	case 24: // postPacketDeltaCount (v9 OUT_PKTS)
		s.postPackets, s.hasPostPkts = u, isInt
	case 352: // layer2OctetDeltaCount
		s.l2bytes, s.hasL2 = u, isInt
	case 4: // protocolIdentifier
		if isInt {
			r.Proto, r.HasProto = uint8(u), true
		}
	case 5: // ipClassOfService
		if isInt {
			r.TOS, s.hasTOS = uint8(u), true
		}
	case 195: // ipDiffServCodePoint
		if isInt {
			s.dscp, s.hasDSCP = uint8(u), true
		}
	case 6: // tcpControlBits
		r.TCPFlags = uint16(u) & 0x1ff
		s.hasTCPFlags = isInt
	case 7: // sourceTransportPort
		s.sport, s.hasSport = uint16(u), isInt
	case 11: // destinationTransportPort
		s.dport, s.hasDpt = uint16(u), isInt
	case 180, 182: // udpSourcePort, tcpSourcePort
		s.altSport, s.hasAltPorts = uint16(u), isInt
	case 181, 183: // udpDestinationPort, tcpDestinationPort
		s.altDport, s.hasAltPorts = uint16(u), isInt
	case 8, 27, 12, 28: // source/destinationIPv4Address, source/destinationIPv6Address
		if a, ok := addr(v); ok {
			s.setAddr(kind == 8 || kind == 27, a)
		}
	case 9, 29: // sourceIPv4/IPv6PrefixLength
		r.SrcMask = uint8(u)
	case 13, 30: // destinationIPv4/IPv6PrefixLength
		r.DstMask = uint8(u)
	case 10: // ingressInterface
		if isInt {
			name := r.In.Name
			r.In = port(uint32(u))
			r.In.Name = name
			s.lastIf = 1
		}
	case 14: // egressInterface
		if isInt {
			name := r.Out.Name
			r.Out = port(uint32(u))
			r.Out.Name = name
			s.lastIf = 2
		}
	case 82: // interfaceName: Open vSwitch sends it after each interface
		name := d.intern(v)
		if s.lastIf == 2 {
			r.Out.Name = name
		} else {
			r.In.Name = name
		}
	case 15, 62: // ipNextHopIPv4Address, ipNextHopIPv6Address
		if a, ok := addr(v); ok && !a.IsUnspecified() {
			r.NextHop = a
		}
	case 16: // bgpSourceAsNumber
		r.SrcAS = uint32(u)
	case 17: // bgpDestinationAsNumber
		r.DstAS = uint32(u)
	case 21: // flowEndSysUpTime
		s.endUp, s.hasEndUp = uint32(u), isInt
	case 22: // flowStartSysUpTime
		s.startUp, s.hasStartUp = uint32(u), isInt
	case 31: // flowLabelIPv6
		r.FlowLabel = uint32(u) & 0xfffff
	case 32, 139: // icmpTypeCodeIPv4, icmpTypeCodeIPv6
		if isInt {
			s.icmpType, s.icmpCode, s.hasICMP = uint8(u>>8), uint8(u), true
		}
	case 176, 178: // icmpTypeIPv4, icmpTypeIPv6
		if isInt {
			s.icmpType, s.hasICMP = uint8(u), true
		}
	case 177, 179: // icmpCodeIPv4, icmpCodeIPv6
		if isInt {
			s.icmpCode, s.hasICMP = uint8(u), true
		}
	case 34, 50: // samplingInterval, samplerRandomInterval
		if isInt && u <= math.MaxUint32 {
			s.rate = uint32(u)
		}
	case 48, 302: // samplerId (v9 FLOW_SAMPLER_ID), selectorId
		if isInt {
			s.samplerID, s.hasSampler = uint32(u), true
		}
	case 305: // samplingPacketInterval
		s.pktInterval, s.hasPktInterval = u, isInt
	case 306: // samplingPacketSpace
		s.pktSpace = u
	case 309: // samplingSize
		s.sampSize = u
	case 310: // samplingPopulation
		s.sampPopulation = u
	case 311: // samplingProbability (float64, or float32 reduced-size)
		switch len(v) {
		case 8:
			s.probability = math.Float64frombits(u)
		case 4:
			s.probability = float64(math.Float32frombits(uint32(u)))
		}
	case 38: // engineType (v9 ENGINE_TYPE)
		r.EngineType, r.HasEngine = uint8(u), true
	case 39: // engineId
		r.EngineID, r.HasEngine = uint8(u), true
	case 52: // minimumTTL
		s.minTTL, s.hasMinTTL = uint8(u), isInt
	case 192: // ipTTL
		if isInt {
			r.TTL, s.hasTTL = uint8(u), true
		}
	case 56: // sourceMacAddress
		if len(v) == 6 {
			r.SrcMAC = flow.MAC(v)
		}
	case 80: // destinationMacAddress
		if len(v) == 6 {
			r.DstMAC = flow.MAC(v)
		}
	case 81: // postSourceMacAddress
		if len(v) == 6 {
			s.postSrcMAC = flow.MAC(v)
		}
	case 57: // postDestinationMacAddress
		if len(v) == 6 {
			s.postDstMAC = flow.MAC(v)
		}
	// VLAN ids are 12 bits; larger values (0xFFFF) mean unknown, not a
	// VLAN whose id is their low bits.
	case 58: // vlanId: the VLAN of the ingress interface
		if isInt && u < 4096 {
			r.In.VLAN, s.hasInVLAN = uint16(u), true
		}
	case 59: // postVlanId: the VLAN of the egress interface
		if isInt && u < 4096 {
			r.Out.VLAN, s.hasOutVLAN = uint16(u), true
		}
	case 243: // dot1qVlanId: the packet's (outer) tag
		if isInt && u != 0 && u < 4096 {
			r.VLAN = uint16(u)
			r.VLANCount = max(r.VLANCount, 1)
		}
	case 245: // dot1qCustomerVlanId: the inner tag
		if isInt && u != 0 && u < 4096 {
			r.InnerVLAN = uint16(u)
			r.VLANCount = 2
		}
	case 254: // postDot1qVlanId
		s.postDot1q, s.hasPostDot1q = uint16(u), isInt && u < 4096
	case 61: // flowDirection
		s.direction = uint8(u)
		if isInt {
			r.FlowDirection, r.HasFlowDirection = uint8(u), true
		}
	case 138: // observationPointId: OVN's drop sampling puts the logical flow there
		if isInt {
			r.ObservationPointID, r.HasObservationPoint = u, true
		}
	case 70, 71, 72, 73, 74, 75, 76, 77, 78, 79: // mplsTopLabelStackSection ... mplsLabelStackSection10
		if isInt && len(v) == 3 && int(r.MPLSCount) < len(r.MPLSLabels) {
			r.MPLSLabels[r.MPLSCount] = uint32(u >> 4)
			r.MPLSCount++
		}
	case 88: // fragmentOffset
		r.FragmentOffset = uint16(u)
		if u != 0 {
			r.Fragment = true
		}
	case 136: // flowEndReason
		r.EndReason = uint8(u)
	case 150, 151: // flowStartSeconds, flowEndSeconds
		if isInt {
			setAbs(s, kind == 150, int64(u)*1e9)
		}
	case 152, 153: // flowStartMilliseconds, flowEndMilliseconds
		if isInt {
			setAbs(s, kind == 152, int64(u)*1e6)
		}
	case 154, 155, 156, 157: // flowStart/EndMicroseconds, flowStart/EndNanoseconds (NTP format)
		if isInt && len(v) == 8 {
			setAbs(s, kind == 154 || kind == 156, ntpNano(u))
		}
	case 158: // flowStartDeltaMicroseconds
		s.startDelta, s.hasStartDelta = u, isInt
	case 159: // flowEndDeltaMicroseconds
		s.endDelta, s.hasEndDlt = u, isInt
	case 160: // systemInitTimeMilliseconds
		s.sysInitMs, s.hasSysInit = u, isInt
	case 161: // flowDurationMilliseconds
		s.durNs, s.hasDur = int64(u)*1e6, isInt
	case 162: // flowDurationMicroseconds
		s.durNs, s.hasDur = int64(u)*1e3, isInt
	case 256: // ethernetType
		r.EtherType = uint16(u)

	// VMware elements (Open vSwitch tunnel sampling). The tunnel is the
	// outer header of the flow's packets.
	case kindTunnelType:
		s.hasTunnel = true
	case kindTunnelKey:
		// 3 bytes for VXLAN, Geneve and LISP, 4 for GRE, 8 for STT; a
		// key that does not fit 32 bits is not a VNI.
		if isInt && u <= math.MaxUint32 {
			s.tunKey, s.hasTunKey = uint32(u), true
		}
	case kindTunnelSourceIPv4Address:
		// Length 16 is taken as IPv6: no IPv6 variant is defined
		// (ipfix-enterprise-entities.def has none), so be lenient.
		if a, ok := addr(v); ok {
			s.tunnel.Src, s.hasTunnel = a, true
		}
	case kindTunnelDestinationIPv4Addr:
		if a, ok := addr(v); ok {
			s.tunnel.Dst, s.hasTunnel = a, true
		}
	case kindTunnelProtocolIdentifier:
		s.tunnel.Proto, s.hasTunnel = uint8(u), true
	case kindTunnelSourceTransportPort:
		s.tunnel.SrcPort, s.hasTunnel = uint16(u), true
	case kindTunnelDestinationTransport:
		s.tunnel.DstPort, s.hasTunnel = uint16(u), true
	default:
		d.breadthField(kind, v, u, isInt, s, r)
	}
}

func setAbs(s *scratch, start bool, ns int64) {
	if start {
		s.startAbs, s.hasStartAbs = ns, true
	} else {
		s.endAbs, s.hasEndAbs = ns, true
	}
}

// recordRate returns the sampling rate described by a record's own fields,
// 0 if none.
func (s *scratch) recordRate() uint32 {
	if s.rate > 0 {
		return s.rate
	}
	if s.hasPktInterval && s.pktInterval > 0 {
		r := (s.pktInterval + s.pktSpace) / s.pktInterval
		if r > 0 && r <= math.MaxUint32 {
			return uint32(r)
		}
	}
	if s.sampSize > 0 && s.sampPopulation >= s.sampSize {
		r := s.sampPopulation / s.sampSize
		if r <= math.MaxUint32 {
			return uint32(r)
		}
	}
	if s.probability > 0 && s.probability <= 1 {
		r := math.Round(1 / s.probability)
		if r <= math.MaxUint32 {
			return uint32(r)
		}
	}
	return 0
}

// optionsRecord keeps what an options data record says about sampling and
// the exporter's boot time.
func (d *Decoder) optionsRecord(c *msgCtx, s *scratch, res *Result) {
	res.OptionsRecords++
	// An interface table (scope ingressInterface, interfaceName): names
	// for the interface inventory, which puts them on every flow.
	if in := &d.optRec.In; in.Format == flow.PortSingle && in.Name != "" && len(res.Interfaces) < maxInterfaceNames {
		res.Interfaces = append(res.Interfaces, InterfaceName{Index: in.Index, Name: in.Name})
	}
	rate := s.recordRate()
	if rate == 0 && !s.hasSysInit {
		return
	}
	if !d.t.setSampling(c.addr, dkey{version: c.version, domain: c.domain}, s.samplerID, s.hasSampler, rate, s.sysInitMs, s.hasSysInit, c.now) {
		res.Errors[ReasonTemplateLimit]++
	}
}

// finish turns the collected values into the record's remaining fields.
func (d *Decoder) finish(c *msgCtx, tpl *template, smp *sampling, s *scratch, r *flow.Record) {
	r.Time = c.now
	r.Input = flow.InputIPFIX
	if c.version == 9 {
		r.Input = flow.InputNetFlowV9
	}
	r.Agent = c.addr
	r.SubAgent = c.domain
	r.Sequence = c.seq
	r.TemplateID = tpl.id

	// Layer 4.
	isICMP := r.HasProto && (r.Proto == protoICMP || r.Proto == protoICMPv6)
	if !s.hasSport && !s.hasDpt && s.hasAltPorts {
		s.sport, s.dport, s.hasSport = s.altSport, s.altDport, true
	}
	switch {
	case s.hasICMP && (isICMP || !r.HasProto):
		// Some v9 templates carry ICMP type fields for every protocol.
		r.ICMPType, r.ICMPCode, r.HasICMP = s.icmpType, s.icmpCode, true
	case isICMP && s.hasDpt:
		// Like v5, many v9 exporters put type and code in the
		// destination port.
		r.ICMPType, r.ICMPCode, r.HasICMP = uint8(s.dport>>8), uint8(s.dport), true
	}
	if (s.hasSport || s.hasDpt) && !isICMP {
		r.SrcPort, r.DstPort, r.HasPorts = s.sport, s.dport, true
	}
	if r.HasProto && r.Proto != protoTCP {
		r.TCPFlags = 0
	}
	s.finishBreadth(r)

	// Layer 3.
	if !s.hasTOS && s.hasDSCP {
		r.TOS = s.dscp << 2
	}
	if !s.hasTTL && s.hasMinTTL {
		r.TTL = s.minTTL
	}
	if r.EtherType == 0 {
		switch {
		case r.SrcAddr.Is4() || r.DstAddr.Is4():
			r.EtherType = 0x0800
		case r.SrcAddr.Is6() || r.DstAddr.Is6():
			r.EtherType = 0x86dd
		}
	}

	// Layer 2.
	if r.SrcMAC.IsZero() {
		r.SrcMAC = s.postSrcMAC
	}
	if r.DstMAC.IsZero() {
		r.DstMAC = s.postDstMAC
	}
	r.In.HasVLAN = s.hasInVLAN
	if !s.hasOutVLAN && s.hasPostDot1q {
		r.Out.VLAN, s.hasOutVLAN = s.postDot1q, true
	}
	r.Out.HasVLAN = s.hasOutVLAN

	switch {
	case r.HasPorts || r.HasICMP:
		r.Parsed = flow.LayerL4
	case r.SrcAddr.IsValid() || r.DstAddr.IsValid() || r.HasProto:
		r.Parsed = flow.LayerL3
	case !r.SrcMAC.IsZero() || !r.DstMAC.IsZero() || r.EtherType != 0:
		r.Parsed = flow.LayerL2
	}
	secLen := d.section(s, r)

	// Tunnel elements: Open vSwitch sends them for packets sampled on a
	// tunnel port; flowDirection says whether the packet came in through
	// the tunnel (ingress, 0) or is sent into it (egress, 1).
	if s.hasTunnel || s.hasTunKey {
		s.tunnel.Present = s.hasTunnel
		if s.direction == 1 {
			r.TunnelEgress = s.tunnel
			r.TunnelEgressVNI, r.HasTunnelEgressVNI = s.tunKey, s.hasTunKey
		} else {
			r.TunnelIngress = s.tunnel
			r.TunnelIngressVNI, r.HasTunnelIngressVNI = s.tunKey, s.hasTunKey
		}
	}

	d.times(c, smp, s, r)

	// Counts and sampling.
	pkts := s.packets
	switch {
	case s.hasPackets:
	case s.hasPostPkts:
		pkts = s.postPackets
	case s.packetReport(secLen):
		pkts = 1 // a packet report (PSAMP) is one sampled packet
	}
	octets := s.bytes
	switch {
	case s.hasBytes:
	case s.hasL2:
		octets = s.l2bytes
	case s.hasPost:
		octets = s.postBytes
	case s.packetReport(secLen):
		octets = s.sectionBytes(r, secLen)
	}
	rate := s.recordRate()
	if rate == 0 && smp != nil {
		rate = smp.rateFor(s.samplerID, s.hasSampler)
	}
	if rate == 0 {
		rate = d.configuredRate(c.addr)
	}
	r.SamplingRate = rate
	if tpl.prescaled {
		rate = 1 // Open vSwitch: already multiplied
	}
	r.Packets = scale(pkts, rate)
	r.Bytes = scale(octets, rate)
}

// rateFor picks the options-data rate for a record.
func (s *sampling) rateFor(id uint32, hasID bool) uint32 {
	if hasID {
		if r, ok := s.samplers[id]; ok {
			return r
		}
	}
	if s.rate != 0 {
		return s.rate
	}
	if len(s.samplers) == 1 {
		for _, r := range s.samplers {
			return r
		}
	}
	return 0
}

// times sets Start and End from whichever time elements the record has:
// absolute times first, then IPFIX deltas from the export time, then
// sysUpTime-relative times (v9: against the header's sysUptime and unix
// seconds; IPFIX: against systemInitTimeMilliseconds from the record or
// from options data).
func (d *Decoder) times(c *msgCtx, smp *sampling, s *scratch, r *flow.Record) {
	export := int64(c.exportSec) * 1e9
	start, end := s.startAbs, s.endAbs
	hasStart, hasEnd := s.hasStartAbs, s.hasEndAbs
	if !hasStart && s.hasStartDelta && s.startDelta < 1<<40 {
		start, hasStart = export-int64(s.startDelta)*1e3, true
	}
	if !hasEnd && s.hasEndDlt && s.endDelta < 1<<40 {
		end, hasEnd = export-int64(s.endDelta)*1e3, true
	}
	if (!hasStart && s.hasStartUp) || (!hasEnd && s.hasEndUp) {
		var base int64 // unix ns: of system init (IPFIX), of the export (v9)
		ok := false
		if c.version == 9 {
			base, ok = export, true
		} else if s.hasSysInit {
			base, ok = int64(s.sysInitMs)*1e6, true
		} else if smp != nil && smp.hasSysInit {
			base, ok = int64(smp.sysInitMs)*1e6, true
		}
		if ok {
			at := func(up uint32) int64 {
				if c.version == 9 {
					return base - int64(int32(c.uptime-up))*1e6
				}
				return base + int64(up)*1e6
			}
			if !hasStart && s.hasStartUp {
				start, hasStart = at(s.startUp), true
			}
			if !hasEnd && s.hasEndUp {
				end, hasEnd = at(s.endUp), true
			}
		}
	}
	if s.hasDur && s.durNs >= 0 {
		if hasStart && !hasEnd {
			end, hasEnd = start+s.durNs, true
		} else if hasEnd && !hasStart {
			start, hasStart = end-s.durNs, true
		}
	}
	if hasStart {
		r.Start = time.Unix(0, start)
	}
	if hasEnd {
		r.End = time.Unix(0, end)
	}
}
