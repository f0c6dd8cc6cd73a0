package netflow_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

// Captures of real exporters (testdata/exporters, made by
// test/exporters/capture.sh): pmacct 1.7.7's pmacctd with its nfprobe
// plugin (NetFlow v9 and IPFIX) and fprobe 1.1 (NetFlow v5), watching one
// end of a veth pair that carried ICMP, ICMPv6, UDP and TCP, IPv4 and
// IPv6. The traffic itself was captured on the same veth
// (traffic.pcap): what each exporter should report is worked out from
// it, packet by packet, and every flow flowlens decodes is checked
// against it.

const exportersDir = "../../../testdata/exporters/"

// key is a flow key as the exporters keep it.
type key struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
}

func (k key) String() string {
	return fmt.Sprintf("%s:%d > %s:%d proto %d", k.src, k.sport, k.dst, k.dport, k.proto)
}

// truth is what the traffic capture says about one flow.
type truth struct {
	packets, bytes     uint64 // bytes: IP total length (IPv6: payload + 40)
	first, last        time.Time
	tcpFlags           uint8
	tos                uint8
	srcMAC, dstMAC     flow.MAC
	icmpType, icmpCode uint8
}

// readTraffic reads the classic pcap file of Ethernet frames the script
// wrote (tcpdump, microseconds, this machine's byte order) and sums its
// packets per flow key.
func readTraffic(t *testing.T) map[key]*truth {
	t.Helper()
	b, err := os.ReadFile(exportersDir + "traffic.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 1 {
		t.Fatalf("traffic.pcap: not a little-endian microsecond pcap of Ethernet frames")
	}
	out := map[key]*truth{}
	for p := 24; p+16 <= len(b); {
		ts := time.Unix(int64(binary.LittleEndian.Uint32(b[p:])), int64(binary.LittleEndian.Uint32(b[p+4:]))*1000)
		n := int(binary.LittleEndian.Uint32(b[p+8:]))
		f := b[p+16 : p+16+n]
		p += 16 + n
		var k key
		var tr truth
		copy(tr.dstMAC[:], f[0:6])
		copy(tr.srcMAC[:], f[6:12])
		ip := f[14:]
		var l4 []byte
		switch binary.BigEndian.Uint16(f[12:]) {
		case 0x0800:
			ihl := int(ip[0]&15) * 4
			tr.tos, k.proto = ip[1], ip[9]
			tr.bytes = uint64(binary.BigEndian.Uint16(ip[2:]))
			k.src, k.dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
			l4 = ip[ihl:]
		case 0x86dd:
			tr.tos = ip[0]<<4 | ip[1]>>4
			tr.bytes = uint64(binary.BigEndian.Uint16(ip[4:])) + 40
			k.src, k.dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
			next, l := ip[6], ip[40:]
			for next == 0 { // hop-by-hop options (MLD reports)
				next, l = l[0], l[(int(l[1])+1)*8:]
			}
			k.proto, l4 = next, l
		default:
			t.Fatalf("traffic.pcap: ethertype %#x", binary.BigEndian.Uint16(f[12:]))
		}
		switch k.proto {
		case 6, 17:
			k.sport, k.dport = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
			if k.proto == 6 {
				tr.tcpFlags = l4[13]
			}
		case 1, 58:
			tr.icmpType, tr.icmpCode = l4[0], l4[1]
			// Request and reply of one ping are two flows anyway; the
			// exporters keep the type in the key (in the port fields).
			k.dport = uint16(l4[0])<<8 | uint16(l4[1])
		}
		if o := out[k]; o != nil {
			o.packets++
			o.bytes += tr.bytes
			o.last = ts
			o.tcpFlags |= tr.tcpFlags
			continue
		}
		tr.packets, tr.first, tr.last = 1, ts, ts
		out[k] = &tr
	}
	if len(out) < 10 {
		t.Fatalf("traffic.pcap: %d flows", len(out))
	}
	return out
}

// exported is what one exporter's records, summed per key, say.
type exported struct {
	truth
	records int
	rate    uint32
	in      flow.Port
	sub     uint32
	dir     int // flowDirection, -1 when absent
}

func decodeExporter(t *testing.T, name string, port uint16) (map[key]*exported, netflow.Result) {
	t.Helper()
	ds, err := pcapfile.ReadAll(exportersDir+name, func(d pcapfile.Datagram) bool { return d.Dst.Port() == port })
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) == 0 {
		t.Fatalf("%s: no datagrams to port %d", name, port)
	}
	dec, _ := newDecoder(netflow.Options{})
	out := map[key]*exported{}
	var sum netflow.Result // errors and counts over the capture
	for _, d := range ds {
		var res netflow.Result
		if err := dec.Decode(d.Payload, d.Src, d.Time, &res); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for r, n := range res.Errors {
			sum.Errors[r] += n
		}
		sum.PendingRecords += res.PendingRecords
		for i := range res.Flows {
			r := &res.Flows[i]
			k := key{src: r.SrcAddr, dst: r.DstAddr, proto: r.Proto, sport: r.SrcPort, dport: r.DstPort}
			if r.HasICMP {
				k.sport, k.dport = 0, uint16(r.ICMPType)<<8|uint16(r.ICMPCode)
			}
			e := out[k]
			if e == nil {
				e = &exported{truth: truth{first: r.Start, last: r.End, tos: r.TOS, srcMAC: r.SrcMAC, dstMAC: r.DstMAC,
					icmpType: r.ICMPType, icmpCode: r.ICMPCode}, rate: r.SamplingRate, in: r.In, sub: r.SubAgent, dir: -1}
				if r.HasFlowDirection {
					e.dir = int(r.FlowDirection)
				}
				out[k] = e
			}
			e.records++
			e.packets += r.Packets
			e.bytes += r.Bytes
			e.tcpFlags |= uint8(r.TCPFlags)
			if r.Start.Before(e.first) {
				e.first = r.Start
			}
			if r.End.After(e.last) {
				e.last = r.End
			}
			if r.SamplingRate != e.rate || r.SubAgent != e.sub {
				t.Errorf("%s %v: records disagree on rate (%d, %d) or domain (%d, %d)", name, k, e.rate, r.SamplingRate, e.sub, r.SubAgent)
			}
		}
	}
	return out, sum
}

// within says whether got is at most tol away from want.
func within(got, want time.Time, tol time.Duration) bool {
	d := got.Sub(want)
	return d <= tol && d >= -tol
}

func keysOf[V any](m map[key]V) []key {
	var ks []key
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].String() < ks[j].String() })
	return ks
}

func TestRealExporters(t *testing.T) {
	traffic := readTraffic(t)
	for _, c := range []struct {
		file  string
		port  uint16
		ipv4  bool   // fprobe: IPv4 only
		rate  uint32 // exported sampling rate (pmacct: options data)
		sub   uint32 // source id / observation domain (nfprobe_engine)
		in    uint32 // input ifIndex (nfprobe_ifindex), 0: none
		dir   int    // flowDirection (nfprobe_direction in: 0), -1: none
		macs  bool
		tol   time.Duration // flow times against the capture's
		icmp  bool          // the exporter says ICMP type and code
		tos6  bool          // the exporter says the IPv6 traffic class
		flows int
	}{
		// fprobe: NetFlow v5, unsampled, no MACs, no interfaces; times
		// from its sysUptime in milliseconds; the ICMP type in the
		// source port field, the code in the destination port.
		{file: "fprobe-netflow-v5.pcap", port: 2055, ipv4: true, dir: -1, tol: 2 * time.Millisecond, icmp: true, flows: 5},
		// pmacctd + nfprobe, NetFlow v5: the rate in the header's
		// sampling field (mode 1, interval 10), engine 3/4, interface 7,
		// ICMP type and code in the destination port.
		{file: "pmacct-netflow-v5.pcap", port: 2056, ipv4: true, rate: 10, in: 7, dir: -1, tol: 2 * time.Millisecond, icmp: true, flows: 5},
		// pmacctd + nfprobe: pmacctd_ext_sampling_rate 10, announced in
		// options data (samplerId 48, samplerMode 49,
		// samplerRandomInterval 50) and named by each record's samplerId;
		// flowStart/EndMilliseconds; MACs; ICMP type and code in the
		// destination port; the IPv6 traffic class not exported (0).
		{file: "pmacct-netflow-v9.pcap", port: 9995, rate: 10, sub: 7, in: 5, dir: 0, macs: true, tol: 2 * time.Millisecond, icmp: true},
		{file: "pmacct-ipfix.pcap", port: 4739, rate: 10, sub: 8, in: 6, dir: 0, macs: true, tol: 2 * time.Millisecond, icmp: true},
	} {
		t.Run(c.file, func(t *testing.T) {
			got, sum := decodeExporter(t, c.file, c.port)
			for r, n := range sum.Errors {
				if n > 0 {
					t.Errorf("decode errors: %v %d", netflow.Reason(r), n)
				}
			}
			if sum.PendingRecords != 0 {
				t.Errorf("%d records waited for a template", sum.PendingRecords)
			}
			want := map[key]*truth{}
			for k, tr := range traffic {
				if c.ipv4 && !k.src.Is4() {
					continue
				}
				if !c.icmp && (k.proto == 1 || k.proto == 58) {
					k.dport = 0
				}
				want[k] = tr
			}
			if c.flows > 0 && len(want) != c.flows {
				t.Errorf("%d flows in the traffic, want %d", len(want), c.flows)
			}
			for _, k := range keysOf(want) {
				w, g := want[k], got[k]
				if g == nil {
					t.Errorf("%v: not exported (%d packets)", k, w.packets)
					continue
				}
				scale := uint64(max(c.rate, 1))
				if g.rate != c.rate || g.packets != w.packets*scale || g.bytes != w.bytes*scale {
					t.Errorf("%v: %d packets %d bytes at rate %d, want %d × %d packets, %d × %d bytes",
						k, g.packets, g.bytes, g.rate, w.packets, scale, w.bytes, scale)
				}
				if !within(g.first, w.first, c.tol) || !within(g.last, w.last, c.tol) {
					t.Errorf("%v: %s to %s, the capture %s to %s", k, g.first.Format(time.StampMicro), g.last.Format(time.StampMicro),
						w.first.Format(time.StampMicro), w.last.Format(time.StampMicro))
				}
				if k.proto == 6 && g.tcpFlags != w.tcpFlags {
					t.Errorf("%v: TCP flags %#x, want %#x", k, g.tcpFlags, w.tcpFlags)
				}
				wantTOS := w.tos
				if k.src.Is6() && !c.tos6 {
					wantTOS = 0
				}
				if g.tos != wantTOS {
					t.Errorf("%v: TOS %#x, want %#x", k, g.tos, wantTOS)
				}
				if c.macs && (g.srcMAC != w.srcMAC || g.dstMAC != w.dstMAC) {
					t.Errorf("%v: MACs %v > %v, want %v > %v", k, g.srcMAC, g.dstMAC, w.srcMAC, w.dstMAC)
				}
				if !c.macs && (!g.srcMAC.IsZero() || !g.dstMAC.IsZero()) {
					t.Errorf("%v: MACs from an exporter that sends none", k)
				}
				if (k.proto == 1 || k.proto == 58) && c.icmp && (g.icmpType != w.icmpType || g.icmpCode != w.icmpCode) {
					t.Errorf("%v: ICMP %d/%d, want %d/%d", k, g.icmpType, g.icmpCode, w.icmpType, w.icmpCode)
				}
				wantIn := flow.Port{}
				if c.in != 0 {
					wantIn = flow.Port{Format: flow.PortSingle, Index: c.in}
				}
				if g.in.Format != wantIn.Format || g.in.Index != wantIn.Index {
					t.Errorf("%v: input port %+v, want %+v", k, g.in, wantIn)
				}
				if g.dir != c.dir {
					t.Errorf("%v: flow direction %d, want %d", k, g.dir, c.dir)
				}
				if g.sub != c.sub {
					t.Errorf("%v: source id %d, want %d", k, g.sub, c.sub)
				}
			}
			for _, k := range keysOf(got) {
				if want[k] == nil {
					t.Errorf("%v: exported (%d packets) but not in the traffic", k, got[k].packets)
				}
			}
		})
	}
}

// exporterDatagrams returns the export datagrams of a capture of
// testdata/exporters.
func exporterDatagrams(t testing.TB, name string, port uint16) []pcapfile.Datagram {
	t.Helper()
	ds, err := pcapfile.ReadAll(exportersDir+name, func(d pcapfile.Datagram) bool { return d.Dst.Port() == port })
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// Bad input shaped like the real exporters': every datagram of the three
// captures cut at every length (and, for IPFIX and v9, with the message
// length made to agree, so that the set lengths lie) is refused with a
// reason, or decoded as the shorter datagram it then is; nothing panics,
// and the decoder goes on decoding the intact datagrams afterwards.
func TestRealExportersTruncated(t *testing.T) {
	for _, c := range []struct {
		file string
		port uint16
		hdr  int // header length; 0: NetFlow v5 (every cut is an error)
	}{
		{"fprobe-netflow-v5.pcap", 2055, 0},
		{"pmacct-netflow-v5.pcap", 2056, 0},
		{"pmacct-netflow-v9.pcap", 9995, 20},
		{"pmacct-ipfix.pcap", 4739, 16},
	} {
		ds := exporterDatagrams(t, c.file, c.port)
		dec := warmDecoder(t, ds)
		var res netflow.Result
		for i, d := range ds {
			b := d.Payload
			ends := map[int]bool{}
			if c.hdr > 0 {
				ends = setBoundaries(b, c.hdr)
			}
			for n := 0; n < len(b); n++ {
				cut := append([]byte(nil), b[:n]...)
				if c.hdr == 16 && n >= 4 { // IPFIX: the length agrees
					binary.BigEndian.PutUint16(cut[2:], uint16(n))
				}
				err := dec.Decode(cut, d.Src, d.Time, &res)
				valid := n >= c.hdr && c.hdr > 0 && ends[n]
				if valid != (err == nil) {
					t.Fatalf("%s datagram %d cut to %d of %d bytes: error %v (a cut between sets: %v)", c.file, i, n, len(b), err, valid)
				}
				if err != nil && reasonOf(err) == netflow.ReasonNone {
					t.Fatalf("%s datagram %d cut to %d bytes: %v, without a reason", c.file, i, n, err)
				}
			}
			if err := dec.Decode(b, d.Src, d.Time, &res); err != nil {
				t.Fatalf("%s datagram %d whole, after its cuts: %v", c.file, i, err)
			}
		}
	}
}
