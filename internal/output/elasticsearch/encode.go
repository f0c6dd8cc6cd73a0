package elasticsearch

import (
	"bytes"
	"encoding/base64"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
)

// encoder turns records into bulk "create" items: an action line naming
// the index and the document id, and the document. It keeps the current
// day's index names so that naming costs nothing per record.
type encoder struct {
	n      names
	compat bool
	ecs    func([]byte, *flow.Record) []byte
	// pinSource: geoip_pin locates the source instead of the destination.
	pinSource bool
	now       func() time.Time

	day  [2]int64
	name [2][]byte
	// full: a record's full ECS document, when the one written is another
	// (compact, netflow-compat) and the id depends on the document.
	full       []byte
	writesFull bool
}

func newEncoder(cfg *Config) *encoder {
	e := &encoder{n: names{cfg.Index, cfg.DataStream}, compat: cfg.Schema == SchemaNetFlowCompat,
		pinSource: cfg.GeoIPPin == GeoIPPinSource, now: time.Now, ecs: ecs.AppendFlow}
	if cfg.Fields == ecs.FieldsCompact {
		e.ecs = ecs.AppendCompactFlow
	}
	e.writesFull = !e.compat && cfg.Fields != ecs.FieldsCompact
	e.day = [2]int64{-1 << 62, -1 << 62}
	return e
}

// index returns the index (or data stream) for a record of kind k at t.
func (e *encoder) index(k kind, t time.Time) []byte {
	if e.n.dataStream {
		if e.name[k] == nil {
			e.name[k] = []byte(e.n.target(k))
		}
		return e.name[k]
	}
	if t.IsZero() {
		t = e.now()
	}
	sec := t.Unix()
	day := sec / 86400
	if sec < 0 && sec%86400 != 0 {
		day--
	}
	if day != e.day[k] {
		e.day[k] = day
		e.name[k] = t.UTC().AppendFormat(append(e.name[k][:0], e.n.target(k)...), "2006.01.02")
	}
	return e.name[k]
}

const actionFixed = len(`{"create":{"_index":"`) + len(`","_id":"`) + idLen + len("\"}}\n")

func appendAction(b, index []byte, id *[idLen]byte) []byte {
	b = append(b, `{"create":{"_index":"`...)
	b = append(b, index...)
	b = append(b, `","_id":"`...)
	b = append(b, id[:]...)
	return append(b, "\"}}\n"...)
}

// flow appends the bulk item of r. The action line's place is kept while
// the document is written, as its id may depend on the document.
func (e *encoder) flow(b []byte, r *flow.Record) []byte {
	index := e.index(kindFlows, r.Time)
	start, alen := len(b), actionFixed+len(index)
	b = slices.Grow(b, alen)[:start+alen]
	if e.compat {
		b = appendCompat(b, r, e.pinSource)
	} else {
		b = e.ecs(b, r)
	}
	doc := b[start+alen:]
	if idFromDocument(r) && !e.writesFull {
		// Records a compact or netflow-compat document does not tell
		// apart (two aggregates differing only in ICMP type, two NetFlow
		// records only in ToS) must not share an id: the second would be
		// refused as a duplicate.
		e.full = ecs.AppendFlow(e.full[:0], r)
		doc = e.full
	}
	id := flowID(r, doc)
	if a := appendAction(b[start:start:start+alen], index, &id); len(a) != alen {
		panic("elasticsearch: action line length")
	}
	return append(b, '\n')
}

// counter appends the bulk item of c.
func (e *encoder) counter(b []byte, c *flow.Counter) []byte {
	id := counterID(c)
	b = appendAction(b, e.index(kindCounters, c.Time), &id)
	b = ecs.AppendCounter(b, c)
	return append(b, '\n')
}

// Document ids. A bulk "create" with an id that already exists fails with
// 409 instead of adding a second copy, so a batch sent again after a
// timeout, a partial failure or a restart never duplicates a document.
// The id is a 128-bit hash of what identifies the observation: record
// kind, input, agent, sub-agent, datagram and sample sequence numbers,
// data source, arrival and flow times, and the flow's key. Sequence
// numbers alone would repeat when an agent restarts; the arrival time
// keeps those apart. An sFlow sample is identified by its sequence
// numbers; NetFlow and IPFIX records (several per datagram, sharing its
// sequence number) and aggregates (no sequence numbers) are identified by
// their whole document as well.

const idLen = 22 // 16 bytes in unpadded base64url

type hash128 struct {
	h1, h2 uint64
	n      uint64
}

const (
	hc1 = 0x87c37b91114253d5
	hc2 = 0x4cf5ad432745937f
)

// add mixes two 64-bit words (MurmurHash3 x64 128 block step).
func (h *hash128) add(k1, k2 uint64) {
	k1 *= hc1
	k1 = bits.RotateLeft64(k1, 31)
	k1 *= hc2
	h.h1 ^= k1
	h.h1 = bits.RotateLeft64(h.h1, 27)
	h.h1 += h.h2
	h.h1 = h.h1*5 + 0x52dce729
	k2 *= hc2
	k2 = bits.RotateLeft64(k2, 33)
	k2 *= hc1
	h.h2 ^= k2
	h.h2 = bits.RotateLeft64(h.h2, 31)
	h.h2 += h.h1
	h.h2 = h.h2*5 + 0x38495ab5
	h.n += 16
}

func (h *hash128) addr(a netip.Addr) {
	b := a.As16()
	h.add(beUint64(b[:8]), beUint64(b[8:]))
}

// bytes mixes p, 16 bytes at a time, the tail zero-padded.
func (h *hash128) bytes(p []byte) {
	for len(p) >= 16 {
		h.add(leUint64(p), leUint64(p[8:]))
		p = p[16:]
	}
	if len(p) > 0 {
		var tail [16]byte
		copy(tail[:], p)
		h.add(leUint64(tail[:]), leUint64(tail[8:]))
		h.n += uint64(len(p)) - 16
	}
}

func leUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

func (h *hash128) sum() (id [idLen]byte) {
	h1, h2 := h.h1^h.n, h.h2^h.n
	h1 += h2
	h2 += h1
	h1, h2 = fmix64(h1), fmix64(h2)
	h1 += h2
	h2 += h1
	var raw [16]byte
	putUint64(raw[:8], h1)
	putUint64(raw[8:], h2)
	base64.RawURLEncoding.Encode(id[:], raw[:])
	return id
}

func beUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func putUint64(b []byte, v uint64) {
	_ = b[7]
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func nanos(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano())
}

// flowID is the id of r; doc is r's full ECS document (ecs.AppendFlow).
func flowID(r *flow.Record, doc []byte) [idLen]byte {
	h := hash128{h1: 0x666c6f776c656e73, h2: 0x666c6f7773}
	h.addr(r.Agent)
	h.add(uint64(kindFlows)<<40|uint64(r.Input)<<32|uint64(r.SubAgent), uint64(r.Sequence)<<32|uint64(r.SampleSeq))
	h.add(uint64(r.SourceIDType)<<32|uint64(r.SourceIndex), nanos(r.Time))
	h.add(nanos(r.Start), nanos(r.End))
	h.addr(r.SrcAddr)
	h.addr(r.DstAddr)
	h.add(uint64(r.SrcPort)<<48|uint64(r.DstPort)<<32|uint64(r.Proto)<<24|uint64(r.TemplateID),
		uint64(r.In.Index)<<32|uint64(r.Out.Index))
	h.add(r.Bytes, r.Packets)
	if idFromDocument(r) {
		h.add(r.Samples, nanos(r.Time))
		h.bytes(doc)
	}
	return h.sum()
}

// idFromDocument: r's id hashes its full ECS document too. An sFlow
// sample is told apart by its sequence numbers; NetFlow records of one
// message and aggregates of one interval need everything they carry.
func idFromDocument(r *flow.Record) bool { return r.Input != flow.InputSFlow || r.Samples > 0 }

func counterID(c *flow.Counter) [idLen]byte {
	h := hash128{h1: 0x666c6f776c656e73, h2: 0x636f756e74657273}
	h.addr(c.Agent)
	h.add(uint64(kindCounters)<<40|uint64(c.SubAgent), uint64(c.Sequence)<<32|uint64(c.SampleSeq))
	h.add(uint64(c.SourceIDType)<<32|uint64(c.SourceIndex), nanos(c.Time))
	return h.sum()
}

// appendCompat appends r as a netflow-compat document: the field names and
// value types of fluent-plugin-netflow's records (its NetFlow v5 names,
// plus its v9 names for IPv6 addresses, MACs and VLAN), as the Fluentd
// chain flowlens replaces indexed them, and the geoip_pin ("lat,lon") its
// GeoIP filter added, of the destination or, with pinSource, the source.
//
// A NetFlow v5 record is written as fluent-plugin-netflow writes it
// (lib/fluent/plugin/parser_netflow.rb, forV5): every header field on
// every record, every record field including a 0.0.0.0 next hop, the
// counts as exported. An sFlow sample is written as the seed's sflowtool
// -c turned it into NetFlow v5 before the plugin read it (one record per
// datagram, engine 0/0, sampling field 0 with the counts already scaled),
// so that the fields the chain always had are always there. NetFlow v9
// and IPFIX records carry the names the plugin gives their elements.
func appendCompat(b []byte, r *flow.Record, pinSource bool) []byte {
	b = append(b, `{"@timestamp":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if r.Agent.IsValid() {
		b = append(b, `,"host":"`...)
		b = r.Agent.Unmap().AppendTo(b)
		b = append(b, '"')
	}
	v5 := r.Input == flow.InputNetFlowV5
	// The seed's sFlow went through sflowtool -c: NetFlow v5.
	asV5 := v5 || r.Input == flow.InputSFlow
	src, dst := r.SrcAddr.Unmap(), r.DstAddr.Unmap()
	pkts, octets := r.Packets, r.Bytes
	switch {
	case v5:
		// The header, on every record, as the plugin copies it.
		b = append(b, `,"version":5`...)
		b = appendUintField(b, "uptime", uint64(r.SysUptime))
		b = appendUintField(b, "flow_records", uint64(r.V5Count))
		b = appendUintField(b, "flow_seq_num", uint64(r.Sequence))
		b = appendUintField(b, "engine_type", uint64(r.EngineType))
		b = appendUintField(b, "engine_id", uint64(r.EngineID))
		b = appendUintField(b, "sampling_algorithm", uint64(r.V5Sampling>>14))
		rate := uint64(r.V5Sampling & 0x3fff)
		b = appendUintField(b, "sampling_interval", rate)
		// The counts as exported: the decoder multiplied them by the
		// header's interval (exactly: 32-bit counts, 14-bit rate). A
		// rate flowlens applied from its configuration stays applied,
		// with sampling_interval 0: in_bytes × max(sampling_interval, 1)
		// is the estimate in every v5 (and sFlow) document.
		if rate > 1 && r.SamplingRate == uint32(rate) {
			pkts, octets = pkts/rate, octets/rate
		}
	case r.Input == flow.InputSFlow:
		// sflowtool -c: version 5, one record a datagram, engine 0/0,
		// sampling field 0 (it scales the counts itself), and a sysUptime
		// that pretends the agent started at midnight.
		b = append(b, `,"version":5`...)
		t := r.Time.UTC()
		h, m, sec := t.Clock()
		b = appendUintField(b, "uptime", uint64(((h*60+m)*60+sec)*1000+t.Nanosecond()/1e6))
		b = append(b, `,"flow_records":1`...)
		b = appendUintField(b, "flow_seq_num", uint64(r.Sequence))
		b = append(b, `,"engine_type":0,"engine_id":0,"sampling_algorithm":0,"sampling_interval":0`...)
		octets = sflowtoolBytes(r, octets)
	default:
		switch r.Input {
		case flow.InputNetFlowV9:
			b = append(b, `,"version":9`...)
		case flow.InputIPFIX:
			b = append(b, `,"version":10`...)
		} // Neutron's packet log: no export version
		b = appendUintField(b, "flow_seq_num", uint64(r.Sequence))
		if r.HasEngine {
			b = appendUintField(b, "engine_type", uint64(r.EngineType))
			b = appendUintField(b, "engine_id", uint64(r.EngineID))
		}
		b = appendUintField(b, "sampling_interval", uint64(r.SamplingRate))
	}
	if r.TemplateID != 0 {
		b = appendUintField(b, "flowset_id", uint64(r.TemplateID))
	}
	b = appendAddrField(b, "ipv4_src_addr", "ipv6_src_addr", src)
	b = appendAddrField(b, "ipv4_dst_addr", "ipv6_dst_addr", dst)
	if nh := r.NextHop.Unmap(); nh.IsValid() {
		b = appendAddrField(b, "ipv4_next_hop", "ipv6_next_hop", nh)
	} else if asV5 && (v5 || src.Is4()) {
		// NetFlow v5 always has the field; 0.0.0.0 says "none".
		b = append(b, `,"ipv4_next_hop":"0.0.0.0"`...)
	}
	if r.Input == flow.InputSFlow {
		b = appendUintField(b, "input_snmp", sflowtoolPort(&r.In))
		b = appendUintField(b, "output_snmp", sflowtoolPort(&r.Out))
	} else {
		b = appendUintField(b, "input_snmp", snmpIndex(&r.In))
		b = appendUintField(b, "output_snmp", snmpIndex(&r.Out))
	}
	b = appendUintField(b, "in_pkts", pkts)
	b = appendUintField(b, "in_bytes", octets)
	first, last := r.Start, r.End
	if first.IsZero() {
		first = r.Time
	}
	if last.IsZero() {
		last = r.Time
	}
	// fluent-plugin-netflow's format: milliseconds, Z.
	b = append(b, `,"first_switched":"`...)
	at := len(b)
	b = appendMillis(b, first)
	stamp := b[at:]
	b = append(b, `","last_switched":"`...)
	if last.Equal(first) { // sFlow: one instant
		b = append(b, stamp...)
	} else {
		b = appendMillis(b, last)
	}
	b = append(b, '"')
	var sport, dport uint64
	switch {
	case r.HasPorts:
		sport, dport = uint64(r.SrcPort), uint64(r.DstPort)
	case v5 && r.HasICMP && r.V5ICMPInSrcPort:
		// The port fields as the exporter wrote them, as the plugin
		// copies them: the type in the source port, the code in the
		// destination port (fprobe, sflowtool -c)...
		sport, dport = uint64(r.ICMPType), uint64(r.ICMPCode)
	case v5 && r.HasICMP:
		// ... or type·256+code in the destination port (Cisco).
		dport = uint64(r.ICMPType)<<8 | uint64(r.ICMPCode)
	case asV5 && r.HasICMP:
		// sflowtool's decoder puts the type in the source port and
		// the code in the destination port, and -c exports them so.
		sport, dport = uint64(r.ICMPType), uint64(r.ICMPCode)
	}
	b = appendUintField(b, "l4_src_port", sport)
	b = appendUintField(b, "l4_dst_port", dport)
	var flags, proto uint64
	if r.HasProto {
		proto = uint64(r.Proto)
		if r.Proto == 6 {
			flags = uint64(r.TCPFlags & 0xff)
		}
	}
	b = appendUintField(b, "tcp_flags", flags)
	b = appendUintField(b, "protocol", proto)
	b = appendUintField(b, "src_tos", uint64(r.TOS))
	srcAS, dstAS := r.SrcAS, r.DstAS
	if !v5 { // NetFlow v5 says what the router knows, 0 included
		if srcAS == 0 {
			srcAS = r.SrcGeo.OrEmpty().ASN
		}
		if dstAS == 0 {
			dstAS = r.DstGeo.OrEmpty().ASN
		}
	}
	b = appendUintField(b, "src_as", uint64(srcAS))
	b = appendUintField(b, "dst_as", uint64(dstAS))
	b = appendUintField(b, "src_mask", uint64(r.SrcMask))
	b = appendUintField(b, "dst_mask", uint64(r.DstMask))
	if !r.SrcMAC.IsZero() {
		b = appendMACField(b, "in_src_mac", r.SrcMAC)
	}
	if !r.DstMAC.IsZero() {
		b = appendMACField(b, "in_dst_mac", r.DstMAC)
	}
	if r.VLANCount > 0 {
		b = appendUintField(b, "src_vlan", uint64(r.VLAN))
	}
	if src.IsValid() && !v5 { // a v9 element; NetFlow v5 has no such field
		v := uint64(6)
		if src.Is4() {
			v = 4
		}
		b = appendUintField(b, "ip_protocol_version", v)
	}
	// fluent-plugin-geoip as the chain configured it: the destination's
	// location, nothing when the address has none (skip_adding_null_record).
	g := r.DstGeo.OrEmpty()
	if pinSource {
		g = r.SrcGeo.OrEmpty()
	}
	if g.HasLocation {
		b = append(b, `,"geoip_pin":"`...)
		b = appendRubyFloat(b, g.Lat)
		b = append(b, ',')
		b = appendRubyFloat(b, g.Lon)
		b = append(b, '"')
	}
	return append(b, '}')
}

// sflowtoolBytes is the byte count sflowtool -c gave an sFlow sample in
// NetFlow v5: the IP packet's size, i.e. the frame length less what the
// agent stripped (the FCS) and the Ethernet header with its 802.1Q tags
// (its offsetToIPV4), times the sampling rate. flowlens's own estimate
// counts the Ethernet frame. Aggregates, and samples without a frame
// length, keep flowlens's count.
func sflowtoolBytes(r *flow.Record, octets uint64) uint64 {
	if r.Samples != 0 || r.FrameLength == 0 || !r.SrcAddr.IsValid() {
		return octets
	}
	l2 := uint32(0)
	if r.HeaderProto == 1 { // Ethernet
		l2 = 14 + 4*uint32(r.VLANCount)
	}
	if r.FrameLength <= r.Stripped+l2 {
		return octets
	}
	return uint64(r.FrameLength-r.Stripped-l2) * r.Packets
}

// appendRubyFloat appends f as Ruby's Float#to_s writes it, which is how
// fluent-plugin-geoip put coordinates into geoip_pin: the shortest
// representation, always with a fraction ("35.0"), in exponent form
// ("1.0e-05") below 1e-4 and from 1e16.
func appendRubyFloat(b []byte, f float64) []byte {
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		at := len(b)
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		// Go: 1e-05, 1.5e+16; Ruby: 1.0e-05, 1.5e+16.
		e := bytes.IndexByte(b[at:], 'e') + at
		if bytes.IndexByte(b[at:e], '.') < 0 {
			b = slices.Insert(b, e, '.', '0')
		}
		return b
	}
	at := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	if bytes.IndexByte(b[at:], '.') < 0 {
		b = append(b, '.', '0')
	}
	return b
}

// appendMillis appends t as 2006-01-02T15:04:05.000Z, in UTC, faster
// than a layout.
func appendMillis(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05.000Z")
	}
	h, mi, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// snmpIndex is the port's ifIndex, 0 when it is not a single port (as a
// NetFlow exporter reports an unknown interface).
func snmpIndex(p *flow.Port) uint64 {
	if p.Format == flow.PortSingle {
		return uint64(p.Index)
	}
	return 0
}

// sflowtoolPort is the interface number sflowtool -c exported for an
// sFlow port: the value without its two format bits, i.e. the ifIndex,
// the number of ports of a multiple output, the reason of a discard,
// 0x3FFFFFFF for the agent itself. (sflowtool then cut it to NetFlow v5's
// 16 bits; flowlens keeps it whole.)
func sflowtoolPort(p *flow.Port) uint64 {
	switch p.Format {
	case flow.PortSingle:
		return uint64(p.Index)
	case flow.PortMultiple:
		return uint64(p.Count)
	case flow.PortDiscard:
		return uint64(p.Reason)
	case flow.PortRecirculated:
		return 256 // the discard reason Open vSwitch sent
	case flow.PortLocal:
		return 0x3fffffff
	}
	return 0
}

func appendUintField(b []byte, k string, v uint64) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, '"', ':')
	return strconv.AppendUint(b, v, 10)
}

func appendAddrField(b []byte, k4, k6 string, a netip.Addr) []byte {
	if !a.IsValid() {
		return b
	}
	k := k6
	if a.Is4() {
		k = k4
	}
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, `":"`...)
	b = a.AppendTo(b)
	return append(b, '"')
}

// appendMACField writes a MAC as fluent-plugin-netflow does: lower case,
// colon-separated.
func appendMACField(b []byte, k string, m flow.MAC) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, `":"`...)
	for i, c := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexd[c>>4], hexd[c&15])
	}
	return append(b, '"')
}
