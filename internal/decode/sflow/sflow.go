// Package sflow decodes sFlow version 5 datagrams (sflow.org, "sFlow
// Version 5", July 2004, plus the structure registry) into flow and counter
// records. Every length in a datagram is checked against the bytes that are
// really there; nothing is allocated per datagram in steady state.
package sflow

import (
	"encoding/binary"
	"math"
	"net/netip"
	"time"

	"github.com/flowlens/flowlens/internal/decode/packet"
	"github.com/flowlens/flowlens/internal/flow"
)

// Reason says why (part of) a datagram could not be decoded. Reasons are
// small integers so they can be counted per agent without allocating.
type Reason uint8

const (
	ReasonNone          Reason = iota
	ReasonTruncated            // the datagram ended inside a structure
	ReasonVersion              // not sFlow version 5
	ReasonAgentAddress         // agent address type neither IPv4 nor IPv6
	ReasonSampleCount          // more samples announced than could fit
	ReasonSampleLength         // a sample claims more bytes than remain
	ReasonRecordCount          // more records announced than could fit
	ReasonRecordLength         // a record claims more bytes than its sample
	ReasonRecordContent        // a record is shorter than its structure
	NumReasons
)

var reasonNames = [NumReasons]string{
	"none", "truncated", "version", "agent_address", "sample_count", "sample_length",
	"record_count", "record_length", "record_content",
}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Error is a decoding failure. It is comparable, so callers can count by
// Reason without allocating.
type Error struct{ Reason Reason }

func (e Error) Error() string { return "sflow: " + e.Reason.String() }

// Header is the datagram header.
type Header struct {
	Version  uint32
	Agent    netip.Addr
	SubAgent uint32
	Sequence uint32
	Uptime   uint32 // milliseconds since the agent started
	Samples  uint32
}

// Result receives one decoded datagram. Reuse it across calls: its slices
// keep their capacity.
type Result struct {
	Header Header
	// HeaderOK is true when the datagram header was read whole, so
	// Header names the agent even if a later part failed.
	HeaderOK bool
	Flows    []flow.Record
	Counters []flow.Counter

	// Samples that were skipped: unknown formats, and samples whose
	// records did not add up (SampleErrors, by reason). Unknown records
	// inside good samples are skipped and counted in UnknownRecords.
	UnknownSamples uint32
	UnknownRecords uint32
	SampleErrors   [NumReasons]uint32
}

// Options change how sizes are reported.
type Options struct {
	// IncludeFCS counts the 4-byte Ethernet frame check sequence in
	// bytes. Agents report frame lengths with the FCS (Open vSwitch adds 4
	// bytes it never saw and says so in "stripped"); flowlens removes it by
	// default so flow bytes match Linux interface counters.
	IncludeFCS bool
}

// Decoder decodes datagrams. It is not safe for concurrent use: give each
// reading goroutine its own.
type Decoder struct {
	opt   Options
	names map[string]string // interned port and host names
}

// NewDecoder returns a Decoder.
func NewDecoder(opt Options) *Decoder {
	return &Decoder{opt: opt, names: make(map[string]string)}
}

// Sample formats (enterprise 0).
const (
	formatFlowSample         = 1
	formatCounterSample      = 2
	formatFlowSampleExpanded = 3
	formatCounterExpanded    = 4
)

// maxNames bounds the intern table: a hostile agent sending random names
// must not grow memory without limit.
const maxNames = 65536

// Decode decodes datagram b received at time now into res. On a datagram
// level error it returns an Error; the samples decoded before the error are
// kept in res.
func (d *Decoder) Decode(b []byte, now time.Time, res *Result) error {
	res.Flows = res.Flows[:0]
	res.Counters = res.Counters[:0]
	res.UnknownSamples, res.UnknownRecords = 0, 0
	res.SampleErrors = [NumReasons]uint32{}
	res.Header = Header{}
	res.HeaderOK = false

	r := reader{b: b}
	h := &res.Header
	h.Version = r.u32()
	if r.bad {
		return Error{ReasonTruncated}
	}
	if h.Version != 5 {
		return Error{ReasonVersion}
	}
	switch r.u32() {
	case 1:
		h.Agent = r.ip4()
	case 2:
		h.Agent = r.ip6()
	default:
		if r.bad {
			return Error{ReasonTruncated}
		}
		return Error{ReasonAgentAddress}
	}
	h.SubAgent = r.u32()
	h.Sequence = r.u32()
	h.Uptime = r.u32()
	h.Samples = r.u32()
	if r.bad {
		return Error{ReasonTruncated}
	}
	res.HeaderOK = true
	// Each sample takes at least its 8-byte tag and length.
	if uint64(h.Samples)*8 > uint64(r.left()) {
		return Error{ReasonSampleCount}
	}
	for i := uint32(0); i < h.Samples; i++ {
		tag := r.u32()
		length := r.u32()
		if r.bad {
			return Error{ReasonTruncated}
		}
		if uint64(length) > uint64(r.left()) {
			return Error{ReasonSampleLength}
		}
		body := reader{b: r.take(int(length))}
		if tag>>12 != 0 {
			res.UnknownSamples++
			continue
		}
		var reason Reason
		switch tag & 0xfff {
		case formatFlowSample:
			reason = d.flowSample(&body, false, now, res)
		case formatFlowSampleExpanded:
			reason = d.flowSample(&body, true, now, res)
		case formatCounterSample:
			reason = d.counterSample(&body, false, now, res)
		case formatCounterExpanded:
			reason = d.counterSample(&body, true, now, res)
		default:
			res.UnknownSamples++
		}
		if reason != ReasonNone {
			res.SampleErrors[reason]++
		}
	}
	// Bytes after the announced samples are ignored: some agents pad.
	return nil
}

// port decodes the compact 32-bit interface encoding: two format bits and
// a 30-bit value.
// fcsStripped returns the frame check sequence bytes to take off a
// sampled_header's frame_length. sFlow v5 says frame_length includes the
// FCS only for layer-2 header protocols (Ethernet, token bus/ring, FDDI,
// frame relay, X.25, PPP, SMDS, AAL5, POS, 802.11): IPv4 (11), IPv6 (12)
// and MPLS (13) headers have no FCS, whatever "stripped" says (an agent
// that removed an Ethernet header and its FCS before an IPv4 header
// reports them there). Of a layer-2 frame, what the agent says it
// stripped is the FCS, up to 4 bytes (FCS-32; PPP and frame relay may
// use a 2-byte FCS-16).
func fcsStripped(proto, stripped uint32) uint32 {
	switch proto {
	case packet.HeaderIPv4, packet.HeaderIPv6, headerMPLS:
		return 0
	}
	if proto == 0 || proto > header80211AMSDU {
		return 0 // not a header protocol sFlow v5 defines
	}
	return min(stripped, 4)
}

// sFlow v5 header protocols beyond those packet parses.
const (
	headerMPLS       = 13
	header80211AMSDU = 17
)

func port(v uint32) flow.Port {
	return portExpanded(v>>30, v&0x3fffffff)
}

// portExpanded decodes the expanded form, where format and value have a
// word each.
func portExpanded(format, v uint32) flow.Port {
	switch format {
	case 0:
		switch v {
		case 0:
			return flow.Port{Format: flow.PortUnknown}
		case 0x3fffffff:
			return flow.Port{Format: flow.PortLocal}
		}
		return flow.Port{Format: flow.PortSingle, Index: v}
	case 1:
		return flow.Port{Format: flow.PortDiscard, Reason: v}
	case 2:
		return flow.Port{Format: flow.PortMultiple, Count: v}
	}
	return flow.Port{Format: flow.PortUnknown}
}

// sampleID reads a sample's sequence number and data source: type and
// index packed in one word (8 and 24 bits), or a word each when expanded.
func sampleID(r *reader, expanded bool) (seq uint32, typ uint8, index uint32) {
	seq = r.u32()
	if expanded {
		return seq, uint8(r.u32()), r.u32()
	}
	sid := r.u32()
	return seq, uint8(sid >> 24), sid & 0xffffff
}

func (d *Decoder) flowSample(r *reader, expanded bool, now time.Time, res *Result) Reason {
	res.Flows = append(res.Flows, flow.Record{})
	rec := &res.Flows[len(res.Flows)-1]
	h := &res.Header
	rec.Time = now
	rec.Agent, rec.SubAgent, rec.Sequence = h.Agent, h.SubAgent, h.Sequence
	rec.SampleSeq, rec.SourceIDType, rec.SourceIndex = sampleID(r, expanded)
	rec.SamplingRate = r.u32()
	rec.SamplePool = r.u32()
	rec.Drops = r.u32()
	if expanded {
		f, v := r.u32(), r.u32()
		rec.In = portExpanded(f, v)
		f, v = r.u32(), r.u32()
		rec.Out = portExpanded(f, v)
	} else {
		rec.In = port(r.u32())
		rec.Out = port(r.u32())
	}
	n := r.u32()
	if r.bad {
		res.Flows = res.Flows[:len(res.Flows)-1]
		return ReasonRecordContent
	}
	if uint64(n)*8 > uint64(r.left()) {
		res.Flows = res.Flows[:len(res.Flows)-1]
		return ReasonRecordCount
	}
	var size uint64 // sampled size from the best record seen
	var sizeRank int
	for i := uint32(0); i < n; i++ {
		tag, length := r.u32(), r.u32()
		if r.bad || uint64(length) > uint64(r.left()) {
			res.Flows = res.Flows[:len(res.Flows)-1]
			return ReasonRecordLength
		}
		body := reader{b: r.take(int(length))}
		if tag>>12 != 0 {
			res.UnknownRecords++
			continue
		}
		switch tag & 0xfff {
		case 1: // sampled_header
			proto, frame, stripped, hl := body.u32(), body.u32(), body.u32(), body.u32()
			if body.bad || uint64(hl) > uint64(body.left()) {
				res.Flows = res.Flows[:len(res.Flows)-1]
				return ReasonRecordContent
			}
			rec.HeaderProto, rec.FrameLength, rec.Stripped, rec.HeaderLength = proto, frame, stripped, hl
			packet.Parse(proto, body.take(int(hl)), rec)
			s := uint64(frame)
			if fcs := uint64(fcsStripped(proto, stripped)); !d.opt.IncludeFCS && s >= fcs {
				s -= fcs
			}
			size, sizeRank = s, 3
		case 2: // sampled_ethernet
			length := body.u32()
			var src, dst [8]byte
			copy(src[:], body.take(8))
			copy(dst[:], body.take(8))
			et := body.u32()
			if body.bad {
				res.Flows = res.Flows[:len(res.Flows)-1]
				return ReasonRecordContent
			}
			if rec.Parsed < flow.LayerL2 {
				copy(rec.SrcMAC[:], src[:6])
				copy(rec.DstMAC[:], dst[:6])
				rec.EtherType = uint16(et)
				rec.Parsed = flow.LayerL2
			}
			if sizeRank < 2 {
				s := uint64(length)
				if !d.opt.IncludeFCS && s >= 4 {
					s -= 4
				}
				size, sizeRank = s, 2
			}
		case 3, 4: // sampled_ipv4, sampled_ipv6
			var e flow.Endpoint
			length, tcpFlags, tos := sampledIP(&body, tag&0xfff == 4, &e)
			if body.bad {
				res.Flows = res.Flows[:len(res.Flows)-1]
				return ReasonRecordContent
			}
			if rec.Parsed < flow.LayerL3 {
				rec.SrcAddr, rec.DstAddr, rec.Proto, rec.HasProto = e.Src, e.Dst, e.Proto, true
				rec.TOS = tos
				if e.Proto == packet.ProtoTCP || e.Proto == packet.ProtoUDP || e.Proto == packet.ProtoSCTP {
					rec.SrcPort, rec.DstPort, rec.HasPorts = e.SrcPort, e.DstPort, true
				}
				if e.Proto == packet.ProtoTCP {
					rec.TCPFlags = uint16(tcpFlags)
				}
				rec.Parsed = flow.LayerL4
			}
			if sizeRank < 1 {
				size, sizeRank = uint64(length), 1
			}
		case 1001: // extended_switch
			inVLAN, _, outVLAN, _ := body.u32(), body.u32(), body.u32(), body.u32()
			if body.bad {
				res.Flows = res.Flows[:len(res.Flows)-1]
				return ReasonRecordContent
			}
			// VLAN ids are 12 bits (IEEE 802.1Q); agents send larger
			// values, 0xFFFFFFFF above all, for "unknown". A 16-bit
			// cast would make that VLAN 65535.
			if inVLAN < 4096 {
				rec.In.VLAN, rec.In.HasVLAN = uint16(inVLAN), true
			}
			if outVLAN < 4096 {
				rec.Out.VLAN, rec.Out.HasVLAN = uint16(outVLAN), true
			}
		case 1002: // extended_router
			rec.NextHop = body.addr()
			rec.SrcMask, rec.DstMask = uint8(body.u32()), uint8(body.u32())
			if body.bad {
				res.Flows = res.Flows[:len(res.Flows)-1]
				return ReasonRecordContent
			}
		case 1003: // extended_gateway
			if !gateway(&body, rec) {
				res.Flows = res.Flows[:len(res.Flows)-1]
				return ReasonRecordContent
			}
		case 1023, 1024, 1025, 1026: // extended_ipv4/ipv6_tunnel_egress/ingress
			e := &rec.TunnelEgress
			if tag&0xfff == 1024 || tag&0xfff == 1026 {
				e = &rec.TunnelIngress
			}
			sampledIP(&body, tag&0xfff >= 1025, e)
			if body.bad {
				res.Flows = res.Flows[:len(res.Flows)-1]
				return ReasonRecordContent
			}
			e.Present = true
		case 1029: // extended_vni_egress
			rec.TunnelEgressVNI, rec.HasTunnelEgressVNI = body.u32(), true
		case 1030: // extended_vni_ingress
			rec.TunnelIngressVNI, rec.HasTunnelIngressVNI = body.u32(), true
		default:
			// Known but not kept (user, URL, MPLS, NAT, 802.11, ...) or
			// unknown: either way the length lets us step over it.
			res.UnknownRecords++
		}
		if body.bad {
			res.Flows = res.Flows[:len(res.Flows)-1]
			return ReasonRecordContent
		}
	}
	rate := uint64(rec.SamplingRate)
	if rate == 0 {
		rate = 1 // a rate of 0 is invalid; count the sample once rather than lose it
	}
	rec.Bytes = size * rate
	rec.Packets = rate
	return ReasonNone
}

// sampledIP reads the sampled_ipv4/ipv6 structure, which the tunnel
// records reuse.
func sampledIP(r *reader, v6 bool, e *flow.Endpoint) (length, tcpFlags uint32, tos uint8) {
	length = r.u32()
	e.Proto = uint8(r.u32())
	if v6 {
		e.Src, e.Dst = r.ip6(), r.ip6()
	} else {
		e.Src, e.Dst = r.ip4(), r.ip4()
	}
	e.SrcPort, e.DstPort = uint16(r.u32()), uint16(r.u32())
	tcpFlags = r.u32()
	tos = uint8(r.u32())
	return
}

func gateway(r *reader, rec *flow.Record) bool {
	rec.NextHop = r.addr()
	r.u32() // the router's own AS
	rec.SrcAS = r.u32()
	rec.PeerAS = r.u32()
	segs := r.u32()
	if r.bad || uint64(segs)*8 > uint64(r.left()) {
		return false
	}
	for s := uint32(0); s < segs; s++ {
		r.u32() // segment type: set or sequence
		n := r.u32()
		if r.bad || uint64(n)*4 > uint64(r.left()) {
			return false
		}
		for i := uint32(0); i < n; i++ {
			as := r.u32()
			if int(rec.ASPathLen) < len(rec.ASPath) {
				rec.ASPath[rec.ASPathLen] = as
				rec.ASPathLen++
			}
			rec.DstAS = as
		}
	}
	nc := r.u32()
	if r.bad || uint64(nc)*4 > uint64(r.left()) {
		return false
	}
	r.take(int(nc) * 4)
	rec.LocalPref = r.u32()
	rec.HasGateway = true
	return !r.bad
}

func (d *Decoder) counterSample(r *reader, expanded bool, now time.Time, res *Result) Reason {
	res.Counters = append(res.Counters, flow.Counter{})
	c := &res.Counters[len(res.Counters)-1]
	h := &res.Header
	c.Time = now
	c.Agent, c.SubAgent, c.Sequence = h.Agent, h.SubAgent, h.Sequence
	c.SampleSeq, c.SourceIDType, c.SourceIndex = sampleID(r, expanded)
	n := r.u32()
	drop := func(reason Reason) Reason {
		res.Counters = res.Counters[:len(res.Counters)-1]
		return reason
	}
	if r.bad {
		return drop(ReasonRecordContent)
	}
	if uint64(n)*8 > uint64(r.left()) {
		return drop(ReasonRecordCount)
	}
	for i := uint32(0); i < n; i++ {
		tag, length := r.u32(), r.u32()
		if r.bad || uint64(length) > uint64(r.left()) {
			return drop(ReasonRecordLength)
		}
		b := reader{b: r.take(int(length))}
		if tag>>12 != 0 {
			res.UnknownRecords++
			continue
		}
		switch tag & 0xfff {
		case 1:
			g := &c.Interface
			g.Index, g.Type, g.Speed = b.u32(), b.u32(), b.u64()
			g.Direction, g.Status = b.u32(), b.u32()
			g.InOctets = b.u64()
			g.InUcast, g.InMulticast, g.InBroadcast = b.u32(), b.u32(), b.u32()
			g.InDiscards, g.InErrors, g.InUnknown = b.u32(), b.u32(), b.u32()
			g.OutOctets = b.u64()
			g.OutUcast, g.OutMulticast, g.OutBroadcast = b.u32(), b.u32(), b.u32()
			g.OutDiscards, g.OutErrors, g.Promiscuous = b.u32(), b.u32(), b.u32()
			c.HasInterface = true
		case 2:
			e := &c.Ethernet
			e.AlignmentErrors, e.FCSErrors, e.SingleCollisionFrames = b.u32(), b.u32(), b.u32()
			e.MultipleCollisionFrames, e.SQETestErrors, e.DeferredTransmissions = b.u32(), b.u32(), b.u32()
			e.LateCollisions, e.ExcessiveCollisions, e.InternalMacTransmitErrors = b.u32(), b.u32(), b.u32()
			e.CarrierSenseErrors, e.FrameTooLongs, e.InternalMacReceiveErrors = b.u32(), b.u32(), b.u32()
			e.SymbolErrors = b.u32()
			c.HasEthernet = true
		case 5:
			v := &c.VLAN
			v.ID, v.Octets = b.u32(), b.u64()
			v.Ucast, v.Multicast, v.Broadcast, v.Discards = b.u32(), b.u32(), b.u32(), b.u32()
			c.HasVLAN = true
		case 1001:
			p := &c.Processor
			p.CPU5s, p.CPU1m, p.CPU5m = b.u32(), b.u32(), b.u32()
			p.TotalMemory, p.FreeMemory = b.u64(), b.u64()
			c.HasProcessor = true
		case 1004:
			c.DatapathID, c.OFPort = b.u64(), b.u32()
			c.HasOFPort = true
		case 1005:
			c.PortName = d.intern(b.str())
			c.HasPortName = true
		case 2000: // host_descr: only the name is worth a field
			c.HostName = d.intern(b.str())
			c.HasHost = true
		case 2003:
			h := &c.HostCPU
			h.Load1, h.Load5, h.Load15 = b.f32(), b.f32(), b.f32()
			h.ProcRun, h.ProcTotal, h.CPUs, h.SpeedMHz, h.UptimeSec = b.u32(), b.u32(), b.u32(), b.u32(), b.u32()
			h.User, h.Nice, h.System, h.Idle = b.u32(), b.u32(), b.u32(), b.u32()
			h.IOWait, h.Intr, h.SoftIntr = b.u32(), b.u32(), b.u32()
			h.Interrupts, h.Contexts = b.u32(), b.u32()
			c.HasHostCPU = true
		case 2004:
			m := &c.HostMemory
			m.Total, m.Free, m.Shared, m.Buffers, m.Cached = b.u64(), b.u64(), b.u64(), b.u64(), b.u64()
			m.SwapTotal, m.SwapFree = b.u64(), b.u64()
			m.PageIn, m.PageOut, m.SwapIn, m.SwapOut = b.u32(), b.u32(), b.u32(), b.u32()
			c.HasHostMemory = true
		case 2005:
			k := &c.HostDisk
			k.Total, k.Free, k.PartMaxUsed = b.u64(), b.u64(), int32(b.u32())
			k.Reads, k.BytesRead, k.ReadTimeMs = b.u32(), b.u64(), b.u32()
			k.Writes, k.BytesWritten, k.WriteTimeMs = b.u32(), b.u64(), b.u32()
			c.HasHostDisk = true
		case 2006:
			n := &c.HostNet
			n.BytesIn, n.PktsIn, n.ErrsIn, n.DropsIn = b.u64(), b.u32(), b.u32(), b.u32()
			n.BytesOut, n.PktsOut, n.ErrsOut, n.DropsOut = b.u64(), b.u32(), b.u32(), b.u32()
			c.HasHostNet = true
		case 2203:
			a := &c.AppResources
			a.UserTimeMs, a.SystemTimeMs = b.u32(), b.u32()
			a.MemUsed, a.MemMax = b.u64(), b.u64()
			a.FDOpen, a.FDMax, a.ConnOpen, a.ConnMax = b.u32(), b.u32(), b.u32(), b.u32()
			c.HasAppResources = true
		case 2207:
			dp := &c.Datapath
			dp.Hits, dp.Misses, dp.Lost = b.u32(), b.u32(), b.u32()
			dp.MaskHits, dp.Flows, dp.Masks = b.u32(), b.u32(), b.u32()
			c.HasDatapath = true
		default:
			res.UnknownRecords++
		}
		if b.bad {
			return drop(ReasonRecordContent)
		}
	}
	return ReasonNone
}

// intern returns a string equal to b, reusing an earlier copy: port names
// repeat in every counter sample, and a fresh string each time would be an
// allocation per sample.
func (d *Decoder) intern(b []byte) string {
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.names) < maxNames {
		d.names[s] = s
	}
	return s
}

// reader reads XDR big-endian words. After any short read it sets bad and
// returns zeros, so callers check once after a group of reads.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) left() int { return len(r.b) }

func (r *reader) u32() uint32 {
	if len(r.b) < 4 {
		r.bad, r.b = true, nil
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) f32() float32 { return math.Float32frombits(r.u32()) }

func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.bad, r.b = true, nil
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// take returns the next n bytes and skips XDR padding to the next 4-byte
// boundary (padding may be missing at the very end).
func (r *reader) take(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.bad, r.b = true, nil
		return nil
	}
	v := r.b[:n:n]
	p := (n + 3) &^ 3
	if p > len(r.b) {
		p = len(r.b)
	}
	r.b = r.b[p:]
	return v
}

func (r *reader) ip4() netip.Addr {
	b := r.take(4)
	if b == nil {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(b))
}

func (r *reader) ip6() netip.Addr {
	b := r.take(16)
	if b == nil {
		return netip.Addr{}
	}
	return netip.AddrFrom16([16]byte(b))
}

func (r *reader) addr() netip.Addr {
	switch r.u32() {
	case 1:
		return r.ip4()
	case 2:
		return r.ip6()
	case 0:
		return netip.Addr{}
	}
	r.bad = true
	return netip.Addr{}
}

// str reads an XDR string<>. The length is checked against what remains.
func (r *reader) str() []byte {
	n := r.u32()
	if r.bad || uint64(n) > uint64(len(r.b)) {
		r.bad, r.b = true, nil
		return nil
	}
	return r.take(int(n))
}
