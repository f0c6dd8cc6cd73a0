package sflow_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

// xdr builds sFlow structures for tests.
type xdr []byte

func (x xdr) u32(vs ...uint32) xdr {
	for _, v := range vs {
		x = binary.BigEndian.AppendUint32(x, v)
	}
	return x
}
func (x xdr) u64(v uint64) xdr { return binary.BigEndian.AppendUint64(x, v) }
func (x xdr) bytes(b []byte) xdr {
	x = append(x, b...)
	for len(x)%4 != 0 {
		x = append(x, 0)
	}
	return x
}
func (x xdr) opaque(b []byte) xdr { return x.u32(uint32(len(b))).bytes(b) }
func (x xdr) record(tag uint32, body xdr) xdr {
	return x.u32(tag, uint32(len(body))).bytes(body)
}

func datagramV6(seq uint32, samples ...xdr) []byte {
	agent := netip.MustParseAddr("2001:db8::1").As16()
	x := xdr{}.u32(5, 2).bytes(agent[:]).u32(7, seq, 123456, uint32(len(samples)))
	for _, s := range samples {
		x = append(x, s...)
	}
	return x
}

func TestExpandedSamplesAndExtendedRecords(t *testing.T) {
	// A raw header with a VXLAN packet would be parsed; here the agent
	// describes the packet with sampled_ipv4 only, plus router, gateway,
	// tunnel and VNI records.
	ipv4 := xdr{}.u32(1500, 6).bytes([]byte{10, 0, 0, 1}).bytes([]byte{10, 0, 0, 2}).u32(33000, 80, 0x18, 0x20)
	router := xdr{}.u32(1).bytes([]byte{192, 0, 2, 254}).u32(24, 16)
	gateway := xdr{}.u32(1).bytes([]byte{192, 0, 2, 1}).u32(64500, 64501, 64502).
		u32(1).u32(2, 3, 64502, 64510, 15169). // one AS_SEQUENCE of 3
		u32(2, 0xfde80001, 0xfde80002).        // communities
		u32(100)                               // local pref
	tunnel := xdr{}.u32(0, 17).bytes([]byte{198, 51, 100, 1}).bytes([]byte{198, 51, 100, 2}).u32(49152, 4789, 0, 0)
	records := xdr{}.
		record(3, ipv4).
		record(1002, router).
		record(1003, gateway).
		record(1023, tunnel).
		record(1029, xdr{}.u32(5001)).
		record(9<<12|1, xdr{}.u32(1, 2, 3)) // enterprise 9: unknown, skipped
	fs := xdr{}.u32(42, 0, 17, 256, 25600, 3, 0, 12, 2, 5).u32(6).bytes(records)
	cs := xdr{}.u32(8, 0, 12, 2).
		record(1, xdr{}.u32(12, 6).u64(1e9).u32(1, 3).u64(1000).u32(1, 2, 3, 4, 5, 6).u64(2000).u32(7, 8, 9, 10, 11, 1)).
		record(1005, xdr{}.opaque([]byte("tap1234")))
	b := datagramV6(9, xdr{}.u32(3, uint32(len(fs))).bytes(fs), xdr{}.u32(4, uint32(len(cs))).bytes(cs))

	var res sflow.Result
	if err := sflow.NewDecoder(sflow.Options{}).Decode(b, time.Unix(0, 0), &res); err != nil {
		t.Fatal(err)
	}
	if res.Header.Agent != netip.MustParseAddr("2001:db8::1") || res.Header.SubAgent != 7 || res.Header.Sequence != 9 {
		t.Errorf("header %+v", res.Header)
	}
	if len(res.Flows) != 1 || len(res.Counters) != 1 || res.UnknownRecords != 1 {
		t.Fatalf("%d flows, %d counters, %d unknown records", len(res.Flows), len(res.Counters), res.UnknownRecords)
	}
	r := res.Flows[0]
	if r.SourceIDType != 0 || r.SourceIndex != 17 || r.SamplingRate != 256 || r.Drops != 3 {
		t.Errorf("sample header: %+v", r)
	}
	if r.In.Format != flow.PortSingle || r.In.Index != 12 {
		t.Errorf("expanded input: %+v", r.In)
	}
	if r.Out.Format != flow.PortMultiple || r.Out.Count != 5 {
		t.Errorf("expanded output (format 2, 5 ports): %+v", r.Out)
	}
	if r.SrcAddr != netip.MustParseAddr("10.0.0.1") || r.DstPort != 80 || r.TCPFlags != 0x18 || r.TOS != 0x20 {
		t.Errorf("sampled_ipv4: %+v", r.Packet)
	}
	if r.Bytes != 1500*256 || r.Packets != 256 {
		t.Errorf("scaled: %d bytes %d packets", r.Bytes, r.Packets)
	}
	if r.NextHop != netip.MustParseAddr("192.0.2.1") || r.SrcMask != 24 || r.DstMask != 16 {
		t.Errorf("router: %v /%d /%d", r.NextHop, r.SrcMask, r.DstMask)
	}
	if !r.HasGateway || r.SrcAS != 64501 || r.PeerAS != 64502 || r.DstAS != 15169 || r.ASPathLen != 3 || r.LocalPref != 100 {
		t.Errorf("gateway: src %d peer %d dst %d path %v local pref %d", r.SrcAS, r.PeerAS, r.DstAS, r.ASPath[:r.ASPathLen], r.LocalPref)
	}
	if !r.TunnelEgress.Present || r.TunnelEgress.Dst != netip.MustParseAddr("198.51.100.2") || r.TunnelEgress.DstPort != 4789 ||
		!r.HasTunnelEgressVNI || r.TunnelEgressVNI != 5001 {
		t.Errorf("tunnel egress: %+v vni %d", r.TunnelEgress, r.TunnelEgressVNI)
	}
	c := res.Counters[0]
	if !c.HasInterface || c.Interface.Index != 12 || c.Interface.InOctets != 1000 || c.Interface.OutErrors != 11 || c.PortName != "tap1234" {
		t.Errorf("counters: %+v", c)
	}
}

func TestPortFormats(t *testing.T) {
	for _, c := range []struct {
		raw  uint32
		want flow.Port
	}{
		{0, flow.Port{Format: flow.PortUnknown}},
		{29, flow.Port{Format: flow.PortSingle, Index: 29}},
		{0x3fffffff, flow.Port{Format: flow.PortLocal}},
		{0x40000000 | 256, flow.Port{Format: flow.PortDiscard, Reason: 256}},
		{0x80000001, flow.Port{Format: flow.PortMultiple, Count: 1}},
		{0x80000000, flow.Port{Format: flow.PortMultiple, Count: 0}},
	} {
		hdr := xdr{}.u32(1, 102, 4, 0)
		fs := xdr{}.u32(1, 2<<24|1000, 64, 64, 0, 0, c.raw, 1).record(1, hdr)
		b := datagramV6(1, xdr{}.u32(1, uint32(len(fs))).bytes(fs))
		var res sflow.Result
		if err := sflow.NewDecoder(sflow.Options{}).Decode(b, time.Time{}, &res); err != nil {
			t.Fatal(err)
		}
		if got := res.Flows[0].Out; got != c.want {
			t.Errorf("%#x: got %+v, want %+v", c.raw, got, c.want)
		}
	}
}

func TestFCS(t *testing.T) {
	hdr := xdr{}.u32(1, 102, 4, 0)
	fs := xdr{}.u32(1, 2<<24|1000, 64, 64, 0, 1, 2, 1).record(1, hdr)
	b := datagramV6(1, xdr{}.u32(1, uint32(len(fs))).bytes(fs))
	var res sflow.Result
	for _, c := range []struct {
		include bool
		want    uint64
	}{{false, 98 * 64}, {true, 102 * 64}} {
		if err := sflow.NewDecoder(sflow.Options{IncludeFCS: c.include}).Decode(b, time.Time{}, &res); err != nil {
			t.Fatal(err)
		}
		if res.Flows[0].Bytes != c.want {
			t.Errorf("IncludeFCS %v: %d bytes, want %d", c.include, res.Flows[0].Bytes, c.want)
		}
	}
}

func captureDatagrams(t testing.TB) [][]byte {
	var out [][]byte
	for _, f := range []string{"ovs-sflow.pcap", "ovs-sflow-vlan.pcap", "ovs-sflow-internal-port.pcap"} {
		ds, err := pcapfile.ReadAll("../../../testdata/ovs/"+f, func(d pcapfile.Datagram) bool { return d.Dst.Port() == 6343 })
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			out = append(out, d.Payload)
		}
	}
	return out
}

func reasonOf(err error) sflow.Reason {
	var e sflow.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return sflow.ReasonNone
}

func TestHostileInput(t *testing.T) {
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	good := captureDatagrams(t)[1]

	// Every truncation of a real datagram is an error, never a panic.
	for n := 0; n < len(good); n++ {
		if err := dec.Decode(good[:n], time.Time{}, &res); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(good))
		}
	}
	cases := []struct {
		name string
		b    []byte
		want sflow.Reason
	}{
		{"empty", nil, sflow.ReasonTruncated},
		{"version 4", xdr{}.u32(4, 1, 0, 0, 0, 0, 0), sflow.ReasonVersion},
		{"agent type 3", xdr{}.u32(5, 3, 0, 0, 0, 0, 0), sflow.ReasonAgentAddress},
		{"a billion samples", xdr{}.u32(5, 1, 0, 0, 1, 1, 1e9), sflow.ReasonSampleCount},
		{"sample longer than datagram", xdr{}.u32(5, 1, 0, 0, 1, 1, 1, 1, 1e6, 0), sflow.ReasonSampleLength},
	}
	for _, c := range cases {
		if got := reasonOf(dec.Decode(c.b, time.Time{}, &res)); got != c.want {
			t.Errorf("%s: reason %v, want %v", c.name, got, c.want)
		}
	}
	// A flow sample announcing a huge record count is skipped, the
	// datagram's other samples survive.
	bad := xdr{}.u32(1, 0, 64, 64, 0, 1, 2, 1e9)
	okHdr := xdr{}.u32(1, 102, 4, 0)
	ok := xdr{}.u32(2, 0, 64, 64, 0, 1, 2, 1).record(1, okHdr)
	b := datagramV6(1, xdr{}.u32(1, uint32(len(bad))).bytes(bad), xdr{}.u32(1, uint32(len(ok))).bytes(ok))
	if err := dec.Decode(b, time.Time{}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Flows) != 1 || res.Flows[0].SampleSeq != 2 || res.SampleErrors[sflow.ReasonRecordCount] != 1 {
		t.Errorf("flows %d, sample errors %v", len(res.Flows), res.SampleErrors)
	}
	// Random bytes: errors, not panics.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		junk := make([]byte, rng.IntN(600))
		for j := range junk {
			junk[j] = byte(rng.Uint32())
		}
		if i%2 == 0 && len(junk) >= 8 {
			binary.BigEndian.PutUint32(junk, 5)
			binary.BigEndian.PutUint32(junk[4:], 1)
		}
		_ = dec.Decode(junk, time.Time{}, &res)
	}
}

// The hot path must not allocate per datagram once buffers have grown.
func TestDecodeDoesNotAllocate(t *testing.T) {
	dgs := captureDatagrams(t)
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	for _, d := range dgs {
		_ = dec.Decode(d, time.Time{}, &res)
	}
	allocs := testing.AllocsPerRun(20, func() {
		for _, d := range dgs {
			_ = dec.Decode(d, time.Time{}, &res)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per pass over %d datagrams, want 0", allocs, len(dgs))
	}
}

func FuzzDecode(f *testing.F) {
	for i, d := range captureDatagrams(f) {
		if i%8 == 0 {
			f.Add(d)
		}
	}
	// Edge values: extended_switch VLANs 0xFFFFFFFF and 4096, and header
	// protocols with and without an FCS.
	for _, proto := range []uint32{1, 7, 11, 15, 99} {
		records := xdr{}.record(1, xdr{}.u32(proto, 1504, 4, 0)).record(1001, xdr{}.u32(0xffffffff, 0, 4096, 0))
		fs := xdr{}.u32(1, 2<<24|1000, 64, 64, 0, 1, 2, 2).bytes(records)
		f.Add(datagramV6(1, xdr{}.u32(1, uint32(len(fs))).bytes(fs)))
	}
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	f.Fuzz(func(t *testing.T, b []byte) {
		err := dec.Decode(b, time.Time{}, &res)
		if err == nil && !res.HeaderOK {
			t.Fatal("no error but no header")
		}
		// Whatever was decoded must fit in the datagram: every sample
		// takes at least 8 bytes of it.
		if (len(res.Flows)+len(res.Counters))*8 > len(b) {
			t.Fatalf("%d records from %d bytes", len(res.Flows)+len(res.Counters), len(b))
		}
		for i := range res.Flows {
			_ = ecs.AppendFlow(nil, &res.Flows[i])
		}
		for i := range res.Counters {
			_ = ecs.AppendCounter(nil, &res.Counters[i])
		}
	})
}

// Host structures (sflow_host.txt) as hsflowd sends them: one counter
// sample of the host with its description, CPU, memory, disk and network
// blocks.
func TestHostCounters(t *testing.T) {
	f32 := func(v float32) uint32 { return math.Float32bits(v) }
	descr := xdr{}.opaque([]byte("hv-07")).bytes(make([]byte, 16)).u32(2, 3) // hostname, uuid, machine type, os
	descr = descr.opaque([]byte("6.1.0-26-amd64"))
	cpu := xdr{}.u32(f32(0.5), f32(1.25), f32(-1)).u32(3, 412, 16, 2600, 86400).
		u32(1000, 20, 300, 50000, 40, 5, 6).u32(123456, 654321)
	mem := xdr{}.u64(64<<30).u64(10<<30).u64(1<<20).u64(2<<20).u64(30<<30).u64(8<<30).u64(7<<30).u32(11, 12, 13, 14)
	disk := xdr{}.u64(500 << 30).u64(100 << 30).u32(8123).u32(77).u64(1 << 40).u32(900).u32(88).u64(2 << 40).u32(1900)
	net := xdr{}.u64(5e12).u32(1e9, 3, 4).u64(6e12).u32(2e9, 5, 6)
	cs := xdr{}.u32(1, 2<<24|1, 5). // sequence, source (2: a host), records
					record(2000, descr).record(2003, cpu).record(2004, mem).record(2005, disk).record(2006, net)
	b := datagramV6(1, xdr{}.u32(2, uint32(len(cs))).bytes(cs))
	var res sflow.Result
	if err := sflow.NewDecoder(sflow.Options{}).Decode(b, time.Unix(1e9, 0), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Counters) != 1 || res.UnknownRecords != 0 {
		t.Fatalf("%d counters, %d unknown records", len(res.Counters), res.UnknownRecords)
	}
	c := res.Counters[0]
	if !c.HasHost || c.HostName != "hv-07" {
		t.Errorf("host_descr: %q", c.HostName)
	}
	if h := c.HostCPU; !c.HasHostCPU || h.Load1 != 0.5 || h.Load5 != 1.25 || h.Load15 != -1 || h.ProcTotal != 412 || h.CPUs != 16 ||
		h.UptimeSec != 86400 || h.User != 1000 || h.Idle != 50000 || h.SoftIntr != 6 || h.Contexts != 654321 {
		t.Errorf("host_cpu: %+v", h)
	}
	if m := c.HostMemory; !c.HasHostMemory || m.Total != 64<<30 || m.Cached != 30<<30 || m.SwapFree != 7<<30 || m.PageIn != 11 || m.SwapOut != 14 {
		t.Errorf("host_memory: %+v", m)
	}
	if k := c.HostDisk; !c.HasHostDisk || k.Total != 500<<30 || k.PartMaxUsed != 8123 || k.Reads != 77 || k.BytesRead != 1<<40 ||
		k.ReadTimeMs != 900 || k.Writes != 88 || k.BytesWritten != 2<<40 || k.WriteTimeMs != 1900 {
		t.Errorf("host_disk_io: %+v", k)
	}
	if n := c.HostNet; !c.HasHostNet || n.BytesIn != 5e12 || n.PktsIn != 1e9 || n.DropsIn != 4 || n.BytesOut != 6e12 || n.ErrsOut != 5 {
		t.Errorf("host_net_io: %+v", n)
	}
	var doc struct {
		Host     struct{ Hostname string } `json:"host"`
		Flowlens struct {
			Host struct {
				CPU  map[string]float64 `json:"cpu"`
				Disk map[string]float64 `json:"disk"`
				Net  map[string]float64 `json:"net"`
			} `json:"host"`
		} `json:"flowlens"`
	}
	js := ecs.AppendCounter(nil, &c)
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("%v: %s", err, js)
	}
	h := doc.Flowlens.Host
	_, has15 := h.CPU["load_15m"]
	if doc.Host.Hostname != "hv-07" || h.CPU["load_5m"] != 1.25 || has15 || h.CPU["context_switches"] != 654321 ||
		h.Disk["part_max_used_pct100"] != 8123 || h.Net["out_bytes"] != 6e12 {
		t.Errorf("JSON: %s", js)
	}
}

// extended_switch VLANs are 32-bit fields holding 12-bit ids: anything
// from 4096 up (Open vSwitch and switches send 0xFFFFFFFF) is "unknown"
// and must not become VLAN 65535 or 4095.
func TestExtendedSwitchUnknownVLAN(t *testing.T) {
	for _, c := range []struct {
		in, out         uint32
		hasIn, hasOut   bool
		wantIn, wantOut uint16
	}{
		{0xffffffff, 0xffffffff, false, false, 0, 0},
		{4096, 4095, false, true, 0, 4095},
		{100, 0x10064, true, false, 100, 0},
		{0, 200, true, true, 0, 200},
	} {
		hdr := xdr{}.u32(1, 102, 4, 0)
		records := xdr{}.record(1, hdr).record(1001, xdr{}.u32(c.in, 0, c.out, 0))
		fs := xdr{}.u32(1, 2<<24|1000, 64, 64, 0, 1, 2, 2).bytes(records)
		b := datagramV6(1, xdr{}.u32(1, uint32(len(fs))).bytes(fs))
		var res sflow.Result
		if err := sflow.NewDecoder(sflow.Options{}).Decode(b, time.Time{}, &res); err != nil {
			t.Fatal(err)
		}
		r := res.Flows[0]
		if r.In.HasVLAN != c.hasIn || r.In.VLAN != c.wantIn || r.Out.HasVLAN != c.hasOut || r.Out.VLAN != c.wantOut {
			t.Errorf("extended_switch %#x/%#x: in %v %d, out %v %d", c.in, c.out, r.In.HasVLAN, r.In.VLAN, r.Out.HasVLAN, r.Out.VLAN)
		}
		var doc map[string]any
		if err := json.Unmarshal(ecs.AppendFlow(nil, &r), &doc); err != nil {
			t.Fatal(err)
		}
		in := doc["observer"].(map[string]any)["ingress"].(map[string]any)
		if _, ok := in["vlan"]; ok != (c.hasIn && c.wantIn != 0) {
			t.Errorf("extended_switch %#x: observer.ingress %v", c.in, in)
		}
	}
}

// sFlow v5's frame_length includes the FCS for layer-2 header protocols
// only; an IPv4, IPv6 or MPLS header's frame_length has none to take off,
// whatever "stripped" says.
func TestFCSByHeaderProtocol(t *testing.T) {
	for _, c := range []struct {
		proto, frame, stripped uint32
		want                   uint64
	}{
		{1, 102, 4, 98},      // Ethernet: FCS-32 stripped
		{1, 102, 0, 102},     // Ethernet, agent says nothing was stripped
		{15, 1504, 4, 1500},  // 802.11 MAC frame: FCS-32
		{7, 1502, 2, 1500},   // PPP with FCS-16
		{3, 1504, 4, 1500},   // token ring
		{11, 1500, 4, 1500},  // IPv4: no FCS in the length
		{12, 1280, 18, 1280}, // IPv6 (Ethernet header and FCS removed)
		{13, 1504, 4, 1504},  // MPLS
		{99, 1504, 4, 1504},  // unknown protocol: taken as sent
	} {
		hdr := xdr{}.u32(c.proto, c.frame, c.stripped, 0)
		fs := xdr{}.u32(1, 2<<24|1000, 1, 1, 0, 1, 2, 1).record(1, hdr)
		b := datagramV6(1, xdr{}.u32(1, uint32(len(fs))).bytes(fs))
		var res sflow.Result
		if err := sflow.NewDecoder(sflow.Options{}).Decode(b, time.Time{}, &res); err != nil {
			t.Fatal(err)
		}
		if got := res.Flows[0].Bytes; got != c.want {
			t.Errorf("header protocol %d, frame %d, stripped %d: %d bytes, want %d", c.proto, c.frame, c.stripped, got, c.want)
		}
	}
}

// The lab's high-rate TCP capture (testdata/ovs/ovs-sflow-tcp.pcap, the
// benchmarks' second workload) decodes whole: every datagram, 6.2 flow
// samples each, consecutive sequence numbers, TCP between the lab's VMs.
func TestLabTCPCapture(t *testing.T) {
	ds, err := pcapfile.ReadAll("../../../testdata/ovs/ovs-sflow-tcp.pcap", nil)
	if err != nil {
		t.Fatal(err)
	}
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	flows, tcp := 0, 0
	var seq uint32
	for i, d := range ds {
		if err := dec.Decode(d.Payload, d.Time, &res); err != nil || res.SampleErrors != [len(res.SampleErrors)]uint32{} {
			t.Fatalf("datagram %d: %v %v", i, err, res.SampleErrors)
		}
		if i > 0 && res.Header.Sequence != seq+1 {
			t.Errorf("datagram %d: sequence %d after %d", i, res.Header.Sequence, seq)
		}
		seq = res.Header.Sequence
		flows += len(res.Flows)
		for _, f := range res.Flows {
			if f.Proto == 6 && f.SrcAddr.Is4() {
				tcp++
			}
		}
	}
	if len(ds) != 1000 || flows != 6174 || tcp < flows*9/10 {
		t.Errorf("%d datagrams, %d flow samples, %d TCP", len(ds), flows, tcp)
	}
}
