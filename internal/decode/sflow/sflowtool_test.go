package sflow_test

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

// A sample as sflowtool printed it: its keys in order (repeated keys such
// as flowBlock_tag keep every value).
type toolSample struct {
	kind string // FLOWSAMPLE or COUNTERSSAMPLE
	kv   map[string][]string
}

type toolDatagram struct {
	kv      map[string]string
	samples []toolSample
}

// readSflowtool parses sflowtool's default key/value output.
func readSflowtool(t *testing.T, path string) []toolDatagram {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []toolDatagram
	var cur *toolDatagram
	var smp *toolSample
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		switch k {
		case "startDatagram":
			out = append(out, toolDatagram{kv: map[string]string{}})
			cur = &out[len(out)-1]
		case "endDatagram":
			cur = nil
		case "startSample":
			cur.samples = append(cur.samples, toolSample{kv: map[string][]string{}})
			smp = &cur.samples[len(cur.samples)-1]
		case "endSample":
			smp = nil
		default:
			switch {
			case smp != nil:
				if k == "sampleType" {
					smp.kind = v
				}
				smp.kv[k] = append(smp.kv[k], v)
			case cur != nil:
				cur.kv[k] = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Keys sflowtool prints that flowlens does not keep, and why. Any other key
// must be compared below, or the test fails: a new sflowtool field cannot
// slip through unchecked.
var ignoredKeys = map[string]string{
	"sampleType_tag":   "the sample kind is checked through sampleType",
	"sampleType":       "checked: FLOWSAMPLE vs COUNTERSSAMPLE order",
	"flowBlock_tag":    "record tags; the records' contents are compared",
	"counterBlock_tag": "record tags; the records' contents are compared",
	"extendedType":     "extended_switch marker; its fields are compared",
	"flowSampleType":   "HEADER marker; the header's fields are compared",
	"headerBytes":      "the raw header; what it decodes to is compared",
	"in_priority":      "802.1p priority from extended_switch: not kept (always 0 from OVS)",
	"out_priority":     "802.1p priority from extended_switch: not kept (always 0 from OVS)",
	"decodedPriority":  "802.1p priority of the sampled header's tag: not kept",
	"IPID":             "IPv4 identification: per-packet noise, not a flow property",
	"UDPBytes":         "UDP length field: redundant with the IP length",
}

func TestMatchesSflowtool(t *testing.T) {
	for _, c := range []struct{ pcap, txt string }{
		{"ovs-sflow.pcap", "sflowtool.txt"},
		{"ovs-sflow-vlan.pcap", "sflowtool-vlan.txt"},
	} {
		t.Run(c.pcap, func(t *testing.T) { compareCapture(t, c.pcap, c.txt) })
	}
}

func compareCapture(t *testing.T, pcapName, txtName string) {
	dgs, err := pcapfile.ReadAll("../../../testdata/ovs/"+pcapName, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := readSflowtool(t, "../../../testdata/ovs/decoded/"+txtName)
	if len(dgs) != len(want) {
		t.Fatalf("%d datagrams in the capture, sflowtool printed %d", len(dgs), len(want))
	}
	dec := sflow.NewDecoder(sflow.Options{IncludeFCS: true})
	var res sflow.Result
	var flows, counters, fields int
	for i, dg := range dgs {
		w := want[i]
		if err := dec.Decode(dg.Payload, dg.Time, &res); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		h := res.Header
		ctx := fmt.Sprintf("datagram %d", i)
		eq(t, ctx, "datagramSize", w.kv["datagramSize"], len(dg.Payload))
		eq(t, ctx, "datagramVersion", w.kv["datagramVersion"], h.Version)
		eq(t, ctx, "agent", w.kv["agent"], h.Agent)
		eq(t, ctx, "agentSubId", w.kv["agentSubId"], h.SubAgent)
		eq(t, ctx, "packetSequenceNo", w.kv["packetSequenceNo"], h.Sequence)
		eq(t, ctx, "sysUpTime", w.kv["sysUpTime"], h.Uptime)
		eq(t, ctx, "samplesInPacket", w.kv["samplesInPacket"], h.Samples)
		var fi, ci int
		for j, s := range w.samples {
			sctx := fmt.Sprintf("%s sample %d", ctx, j)
			switch s.kind {
			case "FLOWSAMPLE":
				if fi >= len(res.Flows) {
					t.Fatalf("%s: flowlens decoded only %d flow samples", sctx, len(res.Flows))
				}
				fields += compareFlow(t, sctx, s.kv, &res.Flows[fi])
				fi++
				flows++
			case "COUNTERSSAMPLE":
				if ci >= len(res.Counters) {
					t.Fatalf("%s: flowlens decoded only %d counter samples", sctx, len(res.Counters))
				}
				fields += compareCounter(t, sctx, s.kv, &res.Counters[ci])
				ci++
				counters++
			default:
				t.Fatalf("%s: sample type %q", sctx, s.kind)
			}
		}
		if fi != len(res.Flows) || ci != len(res.Counters) {
			t.Errorf("%s: flowlens has %d flows/%d counters, sflowtool %d/%d", ctx, len(res.Flows), len(res.Counters), fi, ci)
		}
		if res.UnknownRecords != 0 || res.UnknownSamples != 0 {
			t.Errorf("%s: %d unknown records, %d unknown samples", ctx, res.UnknownRecords, res.UnknownSamples)
		}
	}
	if flows == 0 || counters == 0 {
		t.Fatalf("nothing compared: %d flows, %d counters", flows, counters)
	}
	t.Logf("%s: %d datagrams, %d flow samples, %d counter samples, %d field values equal to sflowtool's", pcapName, len(dgs), flows, counters, fields)
}

// eq compares sflowtool's text with flowlens's value in sflowtool's format.
func eq(t *testing.T, ctx, key, want string, got any) {
	t.Helper()
	var g string
	switch v := got.(type) {
	case netip.Addr:
		g = v.String()
		if w, err := netip.ParseAddr(want); err == nil {
			want = w.String() // sflowtool writes IPv6 without zero compression
		}
	default:
		g = fmt.Sprint(v)
	}
	if g != want {
		t.Errorf("%s: %s: sflowtool %q, flowlens %q", ctx, key, want, g)
	}
}

func macString(m flow.MAC) string { return fmt.Sprintf("%x", m[:]) }

// portString renders a decoded port the way sflowtool prints the raw value.
// The difference is the point: sflowtool prints "0" for "port unknown" and
// "multiple 1" for Open vSwitch's single output port without an ifindex;
// flowlens keeps the format explicit (PortUnknown, PortMultiple Count 1).
func portString(p flow.Port) string {
	switch p.Format {
	case flow.PortUnknown:
		return "0"
	case flow.PortSingle:
		return strconv.FormatUint(uint64(p.Index), 10)
	case flow.PortLocal:
		return "1073741823"
	case flow.PortDiscard:
		return "dropCode " + strconv.FormatUint(uint64(p.Reason), 10)
	case flow.PortMultiple:
		return "multiple " + strconv.FormatUint(uint64(p.Count), 10)
	}
	return "?"
}

func compareFlow(t *testing.T, ctx string, kv map[string][]string, r *flow.Record) int {
	t.Helper()
	n := 0
	for k, vs := range kv {
		if _, ok := ignoredKeys[k]; ok {
			continue
		}
		if len(vs) != 1 {
			t.Errorf("%s: key %s printed %d times", ctx, k, len(vs))
			continue
		}
		v := vs[0]
		var got any
		switch k {
		case "sampleSequenceNo":
			got = r.SampleSeq
		case "sourceId":
			got = fmt.Sprintf("%d:%d", r.SourceIDType, r.SourceIndex)
		case "meanSkipCount":
			got = r.SamplingRate
		case "samplePool":
			got = r.SamplePool
		case "dropEvents":
			got = r.Drops
		case "inputPort":
			got = portString(r.In)
		case "outputPort":
			got = portString(r.Out)
		case "in_vlan":
			got = r.In.VLAN
		case "out_vlan":
			got = r.Out.VLAN
		case "headerProtocol":
			got = r.HeaderProto
		case "sampledPacketSize":
			got = r.FrameLength
		case "strippedBytes":
			got = r.Stripped
		case "headerLen":
			got = r.HeaderLength
		case "dstMAC":
			got = macString(r.DstMAC)
		case "srcMAC":
			got = macString(r.SrcMAC)
		case "ethernet_type":
			got = r.EtherType
		case "decodedVLAN":
			got = r.VLAN
		case "srcIP", "srcIP6":
			got = r.SrcAddr
		case "dstIP", "dstIP6":
			got = r.DstAddr
		case "IPProtocol":
			got = r.Proto
		case "IPTOS":
			got = r.TOS
		case "IPTTL":
			got = r.TTL
		case "IPSize", "ip.tot_len":
			got = r.IPLength
		case "IPV6_payloadLen":
			got = r.IPLength - 40
		case "IP6_label":
			got = fmt.Sprintf("0x%x", r.FlowLabel)
		case "TCPSrcPort", "UDPSrcPort":
			got = r.SrcPort
		case "TCPDstPort", "UDPDstPort":
			got = r.DstPort
		case "TCPFlags":
			got = r.TCPFlags
		case "ICMPType":
			got = r.ICMPType
		case "ICMPCode":
			got = r.ICMPCode
		default:
			t.Errorf("%s: sflowtool field %s=%s is not compared", ctx, k, v)
			continue
		}
		eq(t, ctx, k, v, got)
		n++
	}
	// What flowlens adds beyond sflowtool: ICMPv6 type and code (sflowtool
	// prints ICMP fields for IPv4 only).
	if r.Proto == 58 && !r.HasICMP {
		t.Errorf("%s: ICMPv6 without type/code", ctx)
	}
	return n
}

func compareCounter(t *testing.T, ctx string, kv map[string][]string, c *flow.Counter) int {
	t.Helper()
	g, e, dp, a := &c.Interface, &c.Ethernet, &c.Datapath, &c.AppResources
	fields := map[string]any{
		"sampleSequenceNo": c.SampleSeq,
		"sourceId":         fmt.Sprintf("%d:%d", c.SourceIDType, c.SourceIndex),
		// generic interface
		"ifIndex": g.Index, "networkType": g.Type, "ifSpeed": g.Speed, "ifDirection": g.Direction,
		"ifStatus": g.Status, "ifInOctets": g.InOctets, "ifInUcastPkts": g.InUcast,
		"ifInMulticastPkts": g.InMulticast, "ifInBroadcastPkts": g.InBroadcast, "ifInDiscards": g.InDiscards,
		"ifInErrors": g.InErrors, "ifInUnknownProtos": g.InUnknown, "ifOutOctets": g.OutOctets,
		"ifOutUcastPkts": g.OutUcast, "ifOutMulticastPkts": g.OutMulticast, "ifOutBroadcastPkts": g.OutBroadcast,
		"ifOutDiscards": g.OutDiscards, "ifOutErrors": g.OutErrors, "ifPromiscuousMode": g.Promiscuous,
		// ethernet
		"dot3StatsAlignmentErrors": e.AlignmentErrors, "dot3StatsFCSErrors": e.FCSErrors,
		"dot3StatsSingleCollisionFrames": e.SingleCollisionFrames, "dot3StatsMultipleCollisionFrames": e.MultipleCollisionFrames,
		"dot3StatsSQETestErrors": e.SQETestErrors, "dot3StatsDeferredTransmissions": e.DeferredTransmissions,
		"dot3StatsLateCollisions": e.LateCollisions, "dot3StatsExcessiveCollisions": e.ExcessiveCollisions,
		"dot3StatsInternalMacTransmitErrors": e.InternalMacTransmitErrors, "dot3StatsCarrierSenseErrors": e.CarrierSenseErrors,
		"dot3StatsFrameTooLongs": e.FrameTooLongs, "dot3StatsInternalMacReceiveErrors": e.InternalMacReceiveErrors,
		"dot3StatsSymbolErrors": e.SymbolErrors,
		// Open vSwitch
		"openflow_datapath_id": fmt.Sprintf("%016x", c.DatapathID), "openflow_port": c.OFPort,
		"ifName":      c.PortName,
		"OVS_dp_hits": dp.Hits, "OVS_dp_misses": dp.Misses, "OVS_dp_lost": dp.Lost,
		"OVS_dp_mask_hits": dp.MaskHits, "OVS_dp_flows": dp.Flows, "OVS_dp_masks": dp.Masks,
		"user_time": a.UserTimeMs, "system_time": a.SystemTimeMs, "memory_used": a.MemUsed,
		"memory_max": a.MemMax, "files_open": a.FDOpen, "files_max": a.FDMax,
		"connections_open": a.ConnOpen, "connections_max": a.ConnMax,
	}
	n := 0
	for k, vs := range kv {
		if _, ok := ignoredKeys[k]; ok {
			continue
		}
		got, ok := fields[k]
		if !ok {
			t.Errorf("%s: sflowtool counter field %s=%v is not compared", ctx, k, vs)
			continue
		}
		eq(t, ctx, k, vs[0], got)
		n++
	}
	return n
}
