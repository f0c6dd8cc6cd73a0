package netflow_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/flow"
)

// wire builds big-endian structures.
type wire []byte

func (w wire) u8(vs ...uint8) wire { return append(w, vs...) }
func (w wire) u16(vs ...uint16) wire {
	for _, v := range vs {
		w = binary.BigEndian.AppendUint16(w, v)
	}
	return w
}
func (w wire) u32(vs ...uint32) wire {
	for _, v := range vs {
		w = binary.BigEndian.AppendUint32(w, v)
	}
	return w
}
func (w wire) u64(vs ...uint64) wire {
	for _, v := range vs {
		w = binary.BigEndian.AppendUint64(w, v)
	}
	return w
}
func (w wire) ip(s string) wire    { return append(w, netip.MustParseAddr(s).AsSlice()...) }
func (w wire) bytes(b []byte) wire { return append(w, b...) }

// varlen encodes an IPFIX variable-length value, with the 3-byte length
// form when long3 is set.
func (w wire) varlen(b []byte, long3 bool) wire {
	if long3 || len(b) >= 255 {
		w = w.u8(255).u16(uint16(len(b)))
	} else {
		w = w.u8(uint8(len(b)))
	}
	return append(w, b...)
}

// spec is a field specifier.
type spec struct {
	id, length uint16
	pen        uint32
}

func specs(pairs ...uint16) []spec {
	var s []spec
	for i := 0; i+1 < len(pairs); i += 2 {
		s = append(s, spec{id: pairs[i], length: pairs[i+1]})
	}
	return s
}

// tmpl is an IPFIX (or v9) template record.
func tmpl(id uint16, fields []spec) wire {
	w := wire{}.u16(id, uint16(len(fields)))
	for _, f := range fields {
		if f.pen != 0 {
			w = w.u16(f.id|0x8000, f.length).u32(f.pen)
		} else {
			w = w.u16(f.id, f.length)
		}
	}
	return w
}

// optTmpl is an IPFIX options template record.
func optTmpl(id uint16, scope int, fields []spec) wire {
	w := wire{}.u16(id, uint16(len(fields)), uint16(scope))
	for _, f := range fields {
		w = w.u16(f.id, f.length)
	}
	return w
}

// v9OptTmpl is a NetFlow v9 options template record.
func v9OptTmpl(id uint16, scope, opts []spec) wire {
	w := wire{}.u16(id, uint16(4*len(scope)), uint16(4*len(opts)))
	for _, f := range append(append([]spec{}, scope...), opts...) {
		w = w.u16(f.id, f.length)
	}
	return w
}

func set(id uint16, parts ...wire) wire {
	var body wire
	for _, p := range parts {
		body = append(body, p...)
	}
	return wire{}.u16(id, uint16(4+len(body))).bytes(body)
}

func ipfix(export, seq, domain uint32, sets ...wire) []byte {
	var body wire
	for _, s := range sets {
		body = append(body, s...)
	}
	return wire{}.u16(10, uint16(16+len(body))).u32(export, seq, domain).bytes(body)
}

func v9(uptime, secs, seq, source uint32, sets ...wire) []byte {
	var body wire
	for _, s := range sets {
		body = append(body, s...)
	}
	return wire{}.u16(9, uint16(len(sets))).u32(uptime, secs, seq, source).bytes(body)
}

var (
	exporter = netip.MustParseAddrPort("192.0.2.10:50000")
	t0       = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
)

func decode(t *testing.T, dec *netflow.Decoder, b []byte, now time.Time) *netflow.Result {
	t.Helper()
	res := new(netflow.Result)
	if err := dec.Decode(b, exporter, now, res); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res
}

func newDecoder(opt netflow.Options) (*netflow.Decoder, *netflow.Templates) {
	tm := netflow.NewTemplates(opt)
	return netflow.NewDecoder(tm, opt), tm
}

// A plain IPv4 template for synthetic tests (not Open vSwitch's shape).
var v4Fields = specs(
	8, 4, 12, 4, 4, 1, 7, 2, 11, 2, 6, 1, 10, 4, 14, 4, 2, 8, 1, 8,
)

func v4Record(src, dst string, proto uint8, sport, dport uint16, flags uint8, in, out uint32, pkts, octets uint64) wire {
	return wire{}.ip(src).ip(dst).u8(proto).u16(sport, dport).u8(flags).u32(in, out).u64(pkts, octets)
}

func TestV9OptionsTemplateSampling(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{DefaultSamplingRate: 7})
	secs := uint32(t0.Unix())
	// Options: scope System (type 1, 4 bytes), SAMPLING_INTERVAL (34) and
	// SAMPLING_ALGORITHM (35): 1 in 100, random.
	opts := set(1, v9OptTmpl(300, specs(1, 4), specs(34, 4, 35, 1)))
	optData := set(300, wire{}.u32(0).u32(100).u8(2), wire{}.u8(0, 0, 0)) // + padding
	fields := append(specs(8, 4, 12, 4, 4, 1, 7, 2, 11, 2, 6, 1, 10, 2, 14, 2, 2, 4, 1, 4, 22, 4, 21, 4, 5, 1, 32, 2), spec{})
	fields = fields[:len(fields)-1]
	tpl := set(0, tmpl(256, fields))
	rec := wire{}.ip("10.0.0.1").ip("10.0.0.2").u8(6).u16(40000, 443).u8(0x12).u16(3, 4).u32(10, 1500).
		u32(90_000, 99_000). // first/last sysUptime ms
		u8(0x20).u16(0)      // TOS, ICMP type (0 for TCP: ignored)
	data := set(256, rec)
	res := decode(t, dec, v9(100_000, secs, 77, 5, opts, optData, tpl, data), t0)
	if res.Version != 9 || res.Sequence != 77 || res.Domain != 5 || res.OptionsRecords != 1 || res.OptionsTemplates != 1 || res.Templates != 1 {
		t.Fatalf("result %+v", res)
	}
	if len(res.Flows) != 1 {
		t.Fatalf("%d flows", len(res.Flows))
	}
	r := res.Flows[0]
	if r.Input != flow.InputNetFlowV9 || r.SubAgent != 5 || r.Sequence != 77 || r.TemplateID != 256 || r.Agent != exporter.Addr() {
		t.Errorf("stream fields: %+v", r)
	}
	if r.SamplingRate != 100 || r.Packets != 1000 || r.Bytes != 150_000 {
		t.Errorf("sampling: rate %d, %d packets, %d bytes; want 100, 1000, 150000", r.SamplingRate, r.Packets, r.Bytes)
	}
	if r.SrcPort != 40000 || r.DstPort != 443 || !r.HasPorts || r.TCPFlags != 0x12 || r.HasICMP || r.TOS != 0x20 || r.Parsed != flow.LayerL4 {
		t.Errorf("L4: %+v", r.Packet)
	}
	if r.In != (flow.Port{Format: flow.PortSingle, Index: 3}) || r.Out.Index != 4 {
		t.Errorf("interfaces %+v %+v (2-byte reduced size)", r.In, r.Out)
	}
	if want := t0.Add(-10 * time.Second); !r.Start.Equal(want) || !r.End.Equal(t0.Add(-time.Second)) {
		t.Errorf("start %v end %v, want %v and %v", r.Start, r.End, want, t0.Add(-time.Second))
	}

	// A rate in the record wins over options data; a sampler id picks
	// its sampler; no options data at all means the default.
	dec2, _ := newDecoder(netflow.Options{DefaultSamplingRate: 7})
	samplers := set(1, v9OptTmpl(301, specs(1, 4), specs(48, 1, 49, 1, 50, 4)))
	samplerData := set(301, wire{}.u32(0).u8(1, 2).u32(10), wire{}.u32(0).u8(2, 2).u32(1000))
	tpl2 := set(0, tmpl(257, specs(8, 4, 12, 4, 2, 4, 48, 1)), tmpl(258, specs(8, 4, 12, 4, 2, 4, 34, 4)), tmpl(259, specs(8, 4, 12, 4, 2, 4)))
	res = decode(t, dec2, v9(1000, secs, 1, 9, samplers, samplerData, tpl2,
		set(257, wire{}.ip("10.0.0.1").ip("10.0.0.2").u32(1).u8(2)),
		set(258, wire{}.ip("10.0.0.1").ip("10.0.0.2").u32(1).u32(3)),
		set(259, wire{}.ip("10.0.0.1").ip("10.0.0.2").u32(1))), t0)
	if len(res.Flows) != 3 || res.OptionsRecords != 2 {
		t.Fatalf("%d flows, %d options records", len(res.Flows), res.OptionsRecords)
	}
	for i, want := range []uint32{1000, 3, 7} {
		if r := res.Flows[i]; r.SamplingRate != want || r.Packets != uint64(want) {
			t.Errorf("flow %d: rate %d packets %d, want %d", i, r.SamplingRate, r.Packets, want)
		}
	}
}

func TestIPFIXVariableLengthAndEnterpriseFields(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	fields := []spec{
		{id: 8, length: 4}, {id: 12, length: 4},
		{id: 10, length: 4}, {id: 82, length: 0xffff}, // ingress and its name
		{id: 14, length: 4}, {id: 82, length: 0xffff}, // egress and its name
		{id: 100, length: 0xffff, pen: 9},      // enterprise, variable: skipped
		{id: 1, length: 4, pen: 5951},          // enterprise, fixed: skipped (29305 would be a biflow)
		{id: 893, length: 4, pen: 12345},       // a VMware id under another PEN: skipped
		{id: 83, length: 0xffff},               // interfaceDescription: ignored
		{id: 2, length: 2}, {id: 1, length: 4}, // reduced-size counts
	}
	long := strings.Repeat("x", 300)
	rec := wire{}.ip("192.168.1.1").ip("192.168.1.2").
		u32(7).varlen([]byte("tap0"), false).
		u32(8).varlen([]byte("tap1"), true). // 3-byte length form for a short value
		varlen([]byte(long), true).u32(0xdeadbeef).u32(1).varlen(nil, false).
		u16(3).u32(4500)
	res := decode(t, dec, ipfix(uint32(t0.Unix()), 10, 1, set(2, tmpl(400, fields)), set(400, rec, rec)), t0)
	if len(res.Flows) != 2 {
		t.Fatalf("%d flows, errors %v", len(res.Flows), res.Errors)
	}
	for i, r := range res.Flows {
		if r.In.Index != 7 || r.In.Name != "tap0" || r.Out.Index != 8 || r.Out.Name != "tap1" {
			t.Errorf("flow %d: in %+v out %+v", i, r.In, r.Out)
		}
		if r.Packets != 3 || r.Bytes != 4500 || r.SamplingRate != 0 {
			t.Errorf("flow %d: %d packets %d bytes rate %d", i, r.Packets, r.Bytes, r.SamplingRate)
		}
		if r.Sequence != 10+uint32(i) {
			t.Errorf("flow %d: sequence %d, want %d (IPFIX numbers records)", i, r.Sequence, 10+i)
		}
		if r.TunnelIngress.Present || r.TunnelEgress.Present || r.EtherType != 0x0800 || r.Parsed != flow.LayerL3 {
			t.Errorf("flow %d: tunnel %+v ethertype %#x parsed %v", i, r.TunnelIngress, r.EtherType, r.Parsed)
		}
	}
	if res.EnterpriseFields != 6 {
		t.Errorf("%d enterprise values skipped, want 6", res.EnterpriseFields)
	}
	// The same names again: interned, no allocation (checked by the
	// allocation test); here just check they are equal.
	if res.Flows[0].In.Name != res.Flows[1].In.Name {
		t.Error("names differ")
	}
}

// Open vSwitch's tunnel template: the key block, then VMware tunnel
// elements, then the counts.
func ovsTunnelTemplate() []spec {
	fs := specs(138, 4, 61, 1, 56, 6, 80, 6, 256, 2, 240, 1, 10, 4, 60, 1, 192, 1, 4, 1, 8, 4, 12, 4, 7, 2, 11, 2)
	fs = append(fs, []spec{{893, 4, 6876}, {894, 4, 6876}, {895, 1, 6876}, {896, 2, 6876}, {897, 2, 6876}, {891, 1, 6876}, {892, 0xffff, 6876}}...)
	return append(fs, specs(158, 4, 159, 4, 2, 8, 352, 8, 136, 1, 1, 8)...)
}

func ovsTunnelRecord(direction uint8, vni []byte) wire {
	return wire{}.u32(0).u8(direction).bytes([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2}).u16(0x0800).u8(14).
		u32(12).u8(4, 64, 17).ip("10.1.0.1").ip("10.1.0.2").u16(5000, 53).
		ip("198.51.100.1").ip("198.51.100.2").u8(17).u16(49152, 4789).u8(1).varlen(vni, false).
		u32(500_000, 250_000).u64(64, 64*1064).u8(2).u64(64 * 1050)
}

func TestVMwareTunnelElements(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{DefaultSamplingRate: 64})
	export := uint32(t0.Unix())
	res := decode(t, dec, ipfix(export, 1, 0, set(2, tmpl(500, ovsTunnelTemplate())),
		set(500, ovsTunnelRecord(0, []byte{0, 0x13, 0x88}), ovsTunnelRecord(1, []byte{0, 0, 0, 0, 0, 0, 0, 9}))), t0)
	if len(res.Flows) != 2 || res.EnterpriseFields != 0 {
		t.Fatalf("%d flows, %d enterprise fields skipped, errors %v", len(res.Flows), res.EnterpriseFields, res.Errors)
	}
	in, out := res.Flows[0], res.Flows[1]
	want := flow.Endpoint{Present: true, Src: netip.MustParseAddr("198.51.100.1"), Dst: netip.MustParseAddr("198.51.100.2"), Proto: 17, SrcPort: 49152, DstPort: 4789}
	if in.TunnelIngress != want || !in.HasTunnelIngressVNI || in.TunnelIngressVNI != 5000 || in.TunnelEgress.Present || in.HasTunnelEgressVNI {
		t.Errorf("ingress tunnel: %+v vni %d (%v)", in.TunnelIngress, in.TunnelIngressVNI, in.HasTunnelIngressVNI)
	}
	// flowDirection 1: sampled on output into the tunnel. An 8-byte
	// STT key that fits 32 bits is still a usable id.
	if out.TunnelEgress != want || out.TunnelEgressVNI != 9 || !out.HasTunnelEgressVNI || out.TunnelIngress.Present {
		t.Errorf("egress tunnel: %+v vni %d", out.TunnelEgress, out.TunnelEgressVNI)
	}
	// The inner flow is the record's 5-tuple; the template is Open
	// vSwitch's, so its counts are not multiplied again.
	if in.SrcAddr != netip.MustParseAddr("10.1.0.1") || in.DstPort != 53 || in.Packets != 64 || in.Bytes != 64*1050 || in.SamplingRate != 64 {
		t.Errorf("inner flow: %v -> %v:%d, %d packets %d bytes rate %d", in.SrcAddr, in.DstAddr, in.DstPort, in.Packets, in.Bytes, in.SamplingRate)
	}
	if !in.Start.Equal(t0.Add(-500*time.Millisecond)) || !in.End.Equal(t0.Add(-250*time.Millisecond)) {
		t.Errorf("delta times: %v %v", in.Start, in.End)
	}
	if in.In.Index != 12 || in.TTL != 64 || in.EtherType != 0x0800 || in.EndReason != 2 {
		t.Errorf("in %+v ttl %d ethertype %#x end reason %d", in.In, in.TTL, in.EtherType, in.EndReason)
	}
}

func TestOpenVSwitchRecognition(t *testing.T) {
	ovs := ovsTunnelTemplate()
	ids := make([]uint16, len(ovs))
	for i, f := range ovs {
		ids[i] = f.id
	}
	if !netflow.IsOpenVSwitch(ids) {
		t.Error("Open vSwitch tunnel template not recognised")
	}
	// Older Open vSwitch without observationPointId/flowDirection.
	if !netflow.IsOpenVSwitch([]uint16{56, 80, 256, 240, 158, 159, 2, 352, 136}) {
		t.Error("Open vSwitch 2.5 template not recognised")
	}
	for _, ids := range [][]uint16{
		{8, 12, 4, 7, 11, 2, 1},             // an ordinary exporter
		{56, 80, 256, 2, 352},               // no ethernetHeaderLength
		{56, 80, 256, 240, 2},               // no layer2OctetDeltaCount
		{138, 61, 56, 80, 256, 240},         // no counts
		{61, 138, 56, 80, 256, 240, 2, 352}, // key block order differs
	} {
		if netflow.IsOpenVSwitch(ids) {
			t.Errorf("%v taken for Open vSwitch", ids)
		}
	}
	// And an ordinary IPFIX exporter is scaled by the default rate.
	dec, _ := newDecoder(netflow.Options{DefaultSamplingRate: 64})
	res := decode(t, dec, ipfix(uint32(t0.Unix()), 0, 0, set(2, tmpl(256, v4Fields)),
		set(256, v4Record("10.0.0.1", "10.0.0.2", 17, 1, 2, 0, 1, 2, 1, 100))), t0)
	if r := res.Flows[0]; r.Packets != 64 || r.Bytes != 6400 || r.SamplingRate != 64 {
		t.Errorf("ordinary exporter: %d packets %d bytes rate %d", r.Packets, r.Bytes, r.SamplingRate)
	}
}

func TestIPFIXSamplingOptions(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	export := uint32(t0.Unix())
	// PSAMP systematic count-based selector (softflowd): interval 1, space
	// 99 → 1 in 100; scope selectorId. Then a probability selector.
	opts := set(3, optTmpl(600, 1, specs(302, 4, 305, 4, 306, 4)), optTmpl(601, 1, specs(302, 4, 311, 8)))
	optData := set(600, wire{}.u32(1, 1, 99))
	probData := set(601, wire{}.u32(2).u64(math.Float64bits(0.001)))
	withSel := append(specs(302, 4), v4Fields...)
	tpls := set(2, tmpl(256, withSel), tmpl(257, v4Fields))
	res := decode(t, dec, ipfix(export, 0, 3, opts, optData, probData, tpls,
		set(256, wire{}.u32(1).bytes(v4Record("10.0.0.1", "10.0.0.2", 17, 1, 2, 0, 1, 2, 2, 200)),
			wire{}.u32(2).bytes(v4Record("10.0.0.1", "10.0.0.2", 17, 1, 2, 0, 1, 2, 2, 200)),
			wire{}.u32(3).bytes(v4Record("10.0.0.1", "10.0.0.2", 17, 1, 2, 0, 1, 2, 2, 200))),
		set(257, v4Record("10.0.0.1", "10.0.0.2", 17, 1, 2, 0, 1, 2, 2, 200))), t0)
	if len(res.Flows) != 4 || res.OptionsRecords != 2 {
		t.Fatalf("%d flows %d options records, errors %v", len(res.Flows), res.OptionsRecords, res.Errors)
	}
	// Selector 1: 1 in 100; selector 2: 1 in 1000; selector 3 unknown and
	// no selector: two samplers known, none without id: no rate.
	for i, want := range []uint32{100, 1000, 0, 0} {
		r := res.Flows[i]
		mult := uint64(max(want, 1))
		if r.SamplingRate != want || r.Packets != 2*mult || r.Bytes != 200*mult {
			t.Errorf("flow %d: rate %d, %d packets, %d bytes; want rate %d", i, r.SamplingRate, r.Packets, r.Bytes, want)
		}
	}
}

func TestIPFIXTimeElements(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	export := uint32(t0.Unix())
	boot := t0.Add(-24 * time.Hour)
	ntp := func(tm time.Time) uint64 {
		sec := uint64(tm.Unix() + 2208988800)
		frac := uint64(tm.Nanosecond()) << 32 / 1e9
		return sec<<32 | frac
	}
	opts := set(3, optTmpl(700, 1, specs(144, 4, 160, 8)))
	optData := set(700, wire{}.u32(1).u64(uint64(boot.UnixMilli())))
	tpls := set(2,
		tmpl(256, specs(8, 4, 12, 4, 152, 8, 153, 8)),
		tmpl(257, specs(8, 4, 12, 4, 150, 4, 161, 4)),
		tmpl(258, specs(8, 4, 12, 4, 154, 8, 157, 8)),
		tmpl(259, specs(8, 4, 12, 4, 22, 4, 21, 4)),
		tmpl(260, specs(8, 4, 12, 4, 160, 8, 22, 4, 21, 4)),
	)
	a := wire{}.ip("10.0.0.1").ip("10.0.0.2")
	start := t0.Add(-3 * time.Second).Add(123456789 * time.Nanosecond)
	res := decode(t, dec, ipfix(export, 0, 0, opts, optData, tpls,
		set(256, append(a, wire{}.u64(uint64(start.UnixMilli()), uint64(t0.UnixMilli()))...)),
		set(257, append(a, wire{}.u32(uint32(t0.Unix()-60)).u32(1500)...)),
		set(258, append(a, wire{}.u64(ntp(start), ntp(t0))...)),
		set(259, append(a, wire{}.u32(1000, 5000)...)),
		set(260, append(a, wire{}.u64(uint64(boot.Add(time.Hour).UnixMilli())).u32(1000, 5000)...)),
	), t0)
	if len(res.Flows) != 5 {
		t.Fatalf("%d flows, errors %v", len(res.Flows), res.Errors)
	}
	for i, w := range []struct{ start, end time.Time }{
		{start.Truncate(time.Millisecond), t0},
		{t0.Add(-60 * time.Second), t0.Add(-60*time.Second + 1500*time.Millisecond)},
		{start, t0},
		{boot.Add(time.Second), boot.Add(5 * time.Second)},                       // system init time from options data
		{boot.Add(time.Hour + time.Second), boot.Add(time.Hour + 5*time.Second)}, // ... from the record
	} {
		r := res.Flows[i]
		if d := r.Start.Sub(w.start).Abs(); d > time.Microsecond {
			t.Errorf("flow %d: start %v, want %v", i, r.Start, w.start)
		}
		if d := r.End.Sub(w.end).Abs(); d > time.Microsecond {
			t.Errorf("flow %d: end %v, want %v", i, r.End, w.end)
		}
	}
}

func TestTemplateWithdrawal(t *testing.T) {
	dec, tm := newDecoder(netflow.Options{})
	export := uint32(t0.Unix())
	rec := v4Record("10.0.0.1", "10.0.0.2", 6, 1, 2, 2, 1, 2, 1, 60)
	res := decode(t, dec, ipfix(export, 0, 0, set(2, tmpl(256, v4Fields), tmpl(257, v4Fields)), set(256, rec)), t0)
	if len(res.Flows) != 1 || tm.Stats().Templates != 2 {
		t.Fatalf("%d flows, %d templates", len(res.Flows), tm.Stats().Templates)
	}
	// Withdraw 256 (field count 0): its data is now held, 257 still works.
	res = decode(t, dec, ipfix(export, 1, 0, set(2, wire{}.u16(256, 0)), set(256, rec), set(257, rec)), t0)
	if res.Withdrawals != 1 || len(res.Flows) != 1 || res.PendingHeld != 1 || res.Flows[0].TemplateID != 257 {
		t.Fatalf("after withdrawal: %d withdrawals, %d flows, %d held", res.Withdrawals, len(res.Flows), res.PendingHeld)
	}
	// Template id 2 withdraws every data template of the domain.
	res = decode(t, dec, ipfix(export, 2, 0, set(2, wire{}.u16(2, 0)), set(257, rec)), t0)
	if res.Withdrawals != 1 || len(res.Flows) != 0 || res.PendingHeld != 1 {
		t.Fatalf("after withdrawing all: %d flows, %d held", len(res.Flows), res.PendingHeld)
	}
	if s := tm.Stats(); s.Templates != 0 || s.PendingSets != 2 {
		t.Errorf("stats %+v", s)
	}
	// A withdrawal for another domain changes nothing here.
	res = decode(t, dec, ipfix(export, 3, 0, set(2, tmpl(256, v4Fields))), t0)
	if res.PendingDecoded != 1 || len(res.Flows) != 1 {
		t.Errorf("redefined 256: %d held sets decoded, %d flows", res.PendingDecoded, len(res.Flows))
	}
	decode(t, dec, ipfix(export, 4, 9, set(2, wire{}.u16(256, 0))), t0)
	if tm.Stats().Templates != 1 {
		t.Errorf("withdrawal in domain 9 removed domain 0's template")
	}
}

func TestTemplateExpiry(t *testing.T) {
	dec, tm := newDecoder(netflow.Options{TemplateTTL: time.Minute})
	export := uint32(t0.Unix())
	rec := v4Record("10.0.0.1", "10.0.0.2", 6, 1, 2, 2, 1, 2, 1, 60)
	decode(t, dec, ipfix(export, 0, 0, set(2, tmpl(256, v4Fields))), t0)
	// Refreshed at +50 s: still alive at +100 s.
	decode(t, dec, ipfix(export, 0, 0, set(2, tmpl(256, v4Fields))), t0.Add(50*time.Second))
	if res := decode(t, dec, ipfix(export, 0, 0, set(256, rec)), t0.Add(100*time.Second)); len(res.Flows) != 1 {
		t.Fatalf("refreshed template not used")
	}
	// Not refreshed for more than TemplateTTL: the data is held instead.
	res := decode(t, dec, ipfix(export, 0, 0, set(256, rec)), t0.Add(111*time.Second))
	if len(res.Flows) != 0 || res.PendingHeld != 1 {
		t.Fatalf("expired template used: %d flows, %d held", len(res.Flows), res.PendingHeld)
	}
	x := tm.Expire(t0.Add(112 * time.Second))
	if x.Templates != 1 || x.PendingSets != 0 || tm.Stats().Templates != 0 {
		t.Errorf("expire: %+v, stats %+v", x, tm.Stats())
	}
}

func TestDataBeforeTemplate(t *testing.T) {
	dec, tm := newDecoder(netflow.Options{})
	export := uint32(t0.Unix())
	rec := v4Record("10.0.0.1", "10.0.0.2", 17, 1000, 53, 0, 1, 2, 5, 500)
	res := decode(t, dec, ipfix(export, 40, 0, set(256, rec, rec)), t0)
	if len(res.Flows) != 0 || res.PendingHeld != 1 {
		t.Fatalf("%d flows, %d held", len(res.Flows), res.PendingHeld)
	}
	// Another exporter's template with the same id does not release it.
	other := netflow.NewDecoder(tm, netflow.Options{})
	var r2 netflow.Result
	if err := other.Decode(ipfix(export, 0, 0, set(2, tmpl(256, v4Fields))), netip.MustParseAddrPort("192.0.2.99:1"), t0, &r2); err != nil || r2.PendingDecoded != 0 {
		t.Fatalf("other exporter released held data: %v %d", err, r2.PendingDecoded)
	}
	// The template arrives 2 s later, in a datagram with its own data:
	// both are decoded into this result, the held records keep their
	// arrival time and sequence numbers.
	later := t0.Add(2 * time.Second)
	res = decode(t, dec, ipfix(export+2, 42, 0, set(2, tmpl(256, v4Fields)), set(256, rec)), later)
	if len(res.Flows) != 3 || res.PendingDecoded != 1 || res.PendingRecords != 2 {
		t.Fatalf("%d flows, %d held sets decoded, %d records from them", len(res.Flows), res.PendingDecoded, res.PendingRecords)
	}
	if !res.Flows[0].Time.Equal(t0) || res.Flows[0].Sequence != 40 || res.Flows[1].Sequence != 41 || !res.Flows[2].Time.Equal(later) || res.Flows[2].Sequence != 42 {
		t.Errorf("times/sequences: %v %d, %v %d, %v %d", res.Flows[0].Time, res.Flows[0].Sequence, res.Flows[1].Time, res.Flows[1].Sequence, res.Flows[2].Time, res.Flows[2].Sequence)
	}
	if s := tm.Stats(); s.PendingSets != 0 || s.PendingBytes != 0 {
		t.Errorf("held data left: %+v", s)
	}
	// Data set before its template in the same message (v9).
	dec9, _ := newDecoder(netflow.Options{})
	res = decode(t, dec9, v9(1000, export, 1, 1, set(256, rec), set(0, tmpl(256, v4Fields))), t0)
	if len(res.Flows) != 1 || res.PendingHeld != 1 || res.PendingDecoded != 1 {
		t.Errorf("same datagram: %d flows, %d held, %d decoded", len(res.Flows), res.PendingHeld, res.PendingDecoded)
	}
}

func TestPendingDataExpires(t *testing.T) {
	dec, tm := newDecoder(netflow.Options{PendingTTL: 5 * time.Second})
	export := uint32(t0.Unix())
	rec := v4Record("10.0.0.1", "10.0.0.2", 17, 1000, 53, 0, 1, 2, 5, 500)
	decode(t, dec, ipfix(export, 0, 0, set(256, rec)), t0)
	decode(t, dec, ipfix(export, 0, 0, set(257, rec)), t0.Add(3*time.Second))
	// The exporter's next datagram after 5 s drops the first held set and
	// counts it in that datagram's result.
	res := decode(t, dec, ipfix(export, 0, 0), t0.Add(6*time.Second))
	if res.PendingExpired != 1 || tm.Stats().PendingSets != 1 {
		t.Fatalf("expired %d, still held %d", res.PendingExpired, tm.Stats().PendingSets)
	}
	// A template arriving now is too late for it.
	res = decode(t, dec, ipfix(export, 0, 0, set(2, tmpl(256, v4Fields))), t0.Add(7*time.Second))
	if res.PendingDecoded != 0 || len(res.Flows) != 0 {
		t.Errorf("expired data decoded")
	}
	// Expire drops the rest when the exporter says nothing more.
	if x := tm.Expire(t0.Add(9 * time.Second)); x.PendingSets != 1 {
		t.Errorf("Expire dropped %d held sets, want 1", x.PendingSets)
	}
	if s := tm.Stats(); s.PendingExpired != 2 || s.PendingSets != 0 || s.PendingBytes != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestPendingLimits(t *testing.T) {
	dec, tm := newDecoder(netflow.Options{PendingMaxSets: 2, PendingMaxBytes: 1000})
	export := uint32(t0.Unix())
	rec := v4Record("10.0.0.1", "10.0.0.2", 17, 1000, 53, 0, 1, 2, 5, 500)
	for id := uint16(256); id < 259; id++ {
		decode(t, dec, ipfix(export, 0, 0, set(id, rec)), t0)
	}
	if s := tm.Stats(); s.PendingSets != 2 || s.PendingOverflow != 1 {
		t.Fatalf("stats %+v", s)
	}
	// The oldest (256) was dropped to make room.
	res := decode(t, dec, ipfix(export, 0, 0, set(2, tmpl(256, v4Fields), tmpl(257, v4Fields), tmpl(258, v4Fields))), t0)
	if res.PendingDecoded != 2 || len(res.Flows) != 2 || res.Flows[0].TemplateID != 257 {
		t.Errorf("decoded %d held sets, %d flows", res.PendingDecoded, len(res.Flows))
	}
	// A set bigger than the per-exporter budget is not held at all.
	big := make(wire, 0, 1200)
	for len(big) < 1100 {
		big = append(big, rec...)
	}
	res = decode(t, dec, ipfix(export, 0, 0, set(300, big)), t0)
	if res.PendingHeld != 0 || res.PendingOverflow != 1 {
		t.Errorf("big set: held %d overflow %d", res.PendingHeld, res.PendingOverflow)
	}
}

func TestCacheLimits(t *testing.T) {
	opt := netflow.Options{MaxExporters: 2, MaxTemplatesPerExporter: 3}
	tm := netflow.NewTemplates(opt)
	dec := netflow.NewDecoder(tm, opt)
	export := uint32(t0.Unix())
	var res netflow.Result
	for i := 0; i < 4; i++ {
		ex := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 1)
		if err := dec.Decode(ipfix(export, 0, 0, set(2, tmpl(256, v4Fields), tmpl(257, v4Fields), tmpl(258, v4Fields), tmpl(259, v4Fields))), ex, t0, &res); err != nil {
			t.Fatal(err)
		}
		want := uint32(1) // the 4th template of an exporter
		if i >= 2 {
			want = 4 // no room for another exporter
		}
		if res.Errors[netflow.ReasonTemplateLimit] != want {
			t.Errorf("exporter %d: %d templates refused, want %d", i, res.Errors[netflow.ReasonTemplateLimit], want)
		}
	}
	if s := tm.Stats(); s.Exporters != 2 || s.Templates != 6 || s.Rejected != 10 {
		t.Errorf("stats %+v", s)
	}
	// Memory budget.
	tm = netflow.NewTemplates(netflow.Options{MaxTemplateBytes: 1000})
	dec = netflow.NewDecoder(tm, netflow.Options{})
	if err := dec.Decode(ipfix(export, 0, 0, set(2, tmpl(256, v4Fields), tmpl(257, v4Fields), tmpl(258, v4Fields), tmpl(259, v4Fields), tmpl(260, v4Fields))), exporter, t0, &res); err != nil {
		t.Fatal(err)
	}
	if s := tm.Stats(); s.TemplateBytes > 1000 || s.Templates == 0 || s.Templates == 5 {
		t.Errorf("memory budget: %+v", s)
	}
}

func TestPaddingAndReservedSets(t *testing.T) {
	dec, _ := newDecoder(netflow.Options{})
	export := uint32(t0.Unix())
	rec := v4Record("10.0.0.1", "10.0.0.2", 6, 1, 2, 2, 1, 2, 1, 60)
	// Padding after a template record and after data records, and a set
	// with a reserved id.
	res := decode(t, dec, ipfix(export, 0, 0,
		set(2, tmpl(256, v4Fields), wire{}.u32(0)),
		set(256, rec, rec, wire{}.u8(0, 0, 0)),
		set(4, wire{}.u32(1, 2, 3))), t0)
	if len(res.Flows) != 2 || res.UnknownSets != 1 || res.Errors != [netflow.NumReasons]uint32{} {
		t.Errorf("%d flows, %d unknown sets, errors %v", len(res.Flows), res.UnknownSets, res.Errors)
	}
	// A variable-length template followed by padding shorter than 4 bytes.
	res = decode(t, dec, ipfix(export, 0, 0, set(2, tmpl(257, specs(82, 0xffff))), set(257, wire{}.varlen([]byte("a"), false), wire{}.u8(0, 0))), t0)
	if len(res.Flows) != 1 {
		t.Errorf("variable-length records with padding: %d flows", len(res.Flows))
	}
}

func TestNetFlowV5Sampling(t *testing.T) {
	rec := wire{}.ip("10.0.0.1").ip("10.0.0.2").u32(0).u16(70000&0xffff, 2).u32(2, 300).u32(900, 1000).u16(80, 1234).u8(0, 0x1b, 6, 0).u16(64500, 64501).u8(24, 16).u16(0)
	hdr := func(interval uint16) []byte {
		return wire{}.u16(5, 1).u32(1000, uint32(t0.Unix()), 5e8, 99).u8(1, 2).u16(interval).bytes(rec)
	}
	for _, c := range []struct {
		name     string
		interval uint16
		def      uint32
		rate     uint32
	}{
		{"unsampled", 0, 0, 0},
		{"header 1:100", 100, 7, 100},
		{"mode 2, 1:50", 0x8000 | 50, 0, 50},
		{"sflowtool -S: mode 1, interval 0", 0x4000, 0, 0},
		{"sflowtool -S with a configured rate", 0x4000, 64, 64},
	} {
		dec, _ := newDecoder(netflow.Options{DefaultSamplingRate: c.def})
		res := decode(t, dec, hdr(c.interval), t0)
		r := res.Flows[0]
		m := uint64(max(c.rate, 1))
		if r.SamplingRate != c.rate || r.Packets != 2*m || r.Bytes != 300*m {
			t.Errorf("%s: rate %d, %d packets, %d bytes", c.name, r.SamplingRate, r.Packets, r.Bytes)
		}
		if r.SrcAS != 64500 || r.DstMask != 16 || r.TCPFlags != 0x1b || r.EngineID != 2 || r.In.Index != 70000&0xffff ||
			!r.Start.Equal(t0.Add(500*time.Millisecond-100*time.Millisecond)) || !r.End.Equal(t0.Add(500*time.Millisecond)) {
			t.Errorf("%s: %+v", c.name, r)
		}
	}
}

func TestSaveLoad(t *testing.T) {
	ds := capture(t, "ovs-ipfix.pcap", 4739)
	dec, tm := newDecoder(netflow.Options{})
	var res netflow.Result
	var want []flow.Record
	for _, d := range ds {
		if err := dec.Decode(d.Payload, d.Src, d.Time, &res); err != nil {
			t.Fatal(err)
		}
		want = append(want, res.Flows...)
	}
	// Options data too: a v9 exporter's sampling rate.
	decode(t, dec, v9(1000, uint32(t0.Unix()), 1, 3,
		set(1, v9OptTmpl(300, specs(1, 4), specs(34, 4))), set(300, wire{}.u32(0, 100)),
		set(1, v9OptTmpl(301, specs(1, 4), specs(48, 1, 50, 4))), set(301, wire{}.u32(0).u8(5).u32(1000)),
		set(0, tmpl(256, v4Fields))), t0)
	var buf bytes.Buffer
	if err := tm.Save(&buf); err != nil {
		t.Fatal(err)
	}
	saved := buf.Bytes()

	// A fresh cache decodes the data messages at once.
	tm2 := netflow.NewTemplates(netflow.Options{})
	if err := tm2.Load(bytes.NewReader(saved)); err != nil {
		t.Fatal(err)
	}
	if s1, s2 := tm.Stats(), tm2.Stats(); s1.Templates != s2.Templates || s1.TemplateBytes != s2.TemplateBytes {
		t.Fatalf("before %+v, after %+v", s1, s2)
	}
	dec2 := netflow.NewDecoder(tm2, netflow.Options{})
	var got []flow.Record
	for _, d := range ds {
		if err := dec2.Decode(d.Payload, d.Src, d.Time, &res); err != nil {
			t.Fatal(err)
		}
		if res.PendingHeld != 0 {
			t.Fatal("data held after Load")
		}
		got = append(got, res.Flows...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d records after Load, %d before", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d differs after Load:\n%+v\n%+v", i, got[i], want[i])
		}
	}
	res2 := decode(t, dec2, v9(1000, uint32(t0.Unix()), 2, 3, set(256, v4Record("10.0.0.1", "10.0.0.2", 6, 1, 2, 0, 1, 2, 1, 10))), t0)
	if len(res2.Flows) != 1 || res2.Flows[0].SamplingRate != 100 {
		t.Errorf("options data not restored: %+v", res2.Flows)
	}
	// Saving again gives the same file.
	var again bytes.Buffer
	if err := tm2.Save(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), saved) {
		t.Error("Save(Load(Save)) differs from Save")
	}
}

func TestLoadCorrupt(t *testing.T) {
	dec, tm := newDecoder(netflow.Options{})
	decode(t, dec, ipfix(uint32(t0.Unix()), 0, 0, set(2, tmpl(256, v4Fields)), set(3, optTmpl(257, 1, specs(144, 4, 34, 4)))), t0)
	decode(t, dec, ipfix(uint32(t0.Unix()), 0, 0, set(257, wire{}.u32(1, 64))), t0)
	var buf bytes.Buffer
	if err := tm.Save(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	record := regexp.MustCompile(`"record":"[^"]*"`)
	withRecord := func(b []byte) string {
		return record.ReplaceAllLiteralString(good, `"record":"`+base64.StdEncoding.EncodeToString(b)+`"`)
	}
	cases := map[string]string{
		"empty":                "",
		"not json":             "\x00\x01garbage",
		"other format":         strings.Replace(good, "flowlens-netflow-templates", "something-else", 1),
		"version 2":            strings.Replace(good, `"version":1,`, `"version":2,`, 1),
		"bad base64":           strings.Replace(good, `"record":"`, `"record":"!!`, 1),
		"65535 fields":         withRecord([]byte{1, 0, 0xff, 0xff, 0, 8, 0, 4}),
		"fields past the end":  withRecord([]byte{1, 0, 0, 2, 0, 8, 0, 4}),
		"zero-length record":   withRecord([]byte{1, 0, 0, 1, 0, 8, 0, 0}),
		"template id 5":        withRecord([]byte{0, 5, 0, 1, 0, 8, 0, 4}),
		"withdrawal":           withRecord([]byte{1, 0, 0, 0}),
		"trailing bytes":       withRecord([]byte{1, 0, 0, 1, 0, 8, 0, 4, 0}),
		"empty record":         withRecord(nil),
		"bad exporter":         strings.Replace(good, `"exporter":"192.0.2.10"`, `"exporter":"192.0.2.300"`, 1),
		"bad version":          strings.Replace(good, `"version":10`, `"version":7`, 1),
		"unknown field":        strings.Replace(good, `"domain":0`, `"domian":0`, 1),
		"trailing data":        good + "{}",
		"number overflow":      strings.Replace(good, `"domain":0`, `"domain":99999999999`, 1),
		"too many samplers":    strings.Replace(good, `"rate":64`, `"samplers":[`+strings.Repeat(`{"id":1,"rate":2},`, 300)+`{"id":1,"rate":2}]`, 1),
		"bad sampling version": strings.Replace(good, `"version":10,"domain":0,"rate"`, `"version":8,"domain":0,"rate"`, 1),
	}
	for i := 0; i < len(good)-1; i += 7 {
		cases[fmt.Sprintf("truncated to %d bytes", i)] = good[:i]
	}
	for name, s := range cases {
		if s == good {
			t.Fatalf("%s: case did not change the file", name)
		}
		fresh := netflow.NewTemplates(netflow.Options{})
		err := fresh.Load(strings.NewReader(s))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if st := fresh.Stats(); st.Templates != 0 || st.Exporters != 0 {
			t.Errorf("%s: half loaded: %+v", name, st)
		}
	}
	if err := netflow.NewTemplates(netflow.Options{}).Load(strings.NewReader(good)); err != nil {
		t.Errorf("good file: %v", err)
	}
}

func reasonOf(err error) netflow.Reason {
	var e netflow.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return netflow.ReasonNone
}
