package elasticsearch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
)

var t0 = time.Date(2026, 11, 26, 23, 59, 59, 500e6, time.UTC)

// genRecord returns record i of a stream: distinct sequence numbers, both
// address families, some tunnelled, crossing midnight (two daily indices).
func genRecord(i int) flow.Record {
	a := netip.MustParseAddr
	r := flow.Record{
		Time: t0.Add(time.Duration(i) * time.Millisecond), Agent: a("192.0.2.10"), SubAgent: uint32(i % 2),
		Sequence: uint32(i / 5), SampleSeq: uint32(i), SourceIDType: 2, SourceIndex: 1001, SamplingRate: 64,
		SamplePool: uint32(i * 64), FrameLength: 102, Stripped: 4, HeaderLength: 98, HeaderProto: 1,
		Bytes: 98 * 64, Packets: 64, Parsed: flow.LayerL4,
		In:  flow.Port{Format: flow.PortSingle, Index: 3, Name: "tap0a1b2c3d-4e", HasOFPort: true, OFPort: 5},
		Out: flow.Port{Format: flow.PortSingle, Index: 4, Name: "tap9f8e7d6c-5b"},
	}
	r.Packet = flow.Packet{SrcMAC: flow.MAC{0xfa, 0x16, 0x3e, 0, 0, 1}, DstMAC: flow.MAC{0xfa, 0x16, 0x3e, 0, 0, 2},
		EtherType: 0x0800, SrcAddr: a("10.0.0.5"), DstAddr: a("10.0.0.6"), Proto: 6, HasProto: true, TTL: 64,
		SrcPort: uint16(40000 + i%1000), DstPort: 443, HasPorts: true, TCPFlags: 0x18, IPLength: 84}
	if i%3 == 1 {
		r.Packet.EtherType, r.SrcAddr, r.DstAddr = 0x86dd, a("2001:db8::5"), a("2001:db8::6")
		r.Proto, r.DstPort = 17, 53
	}
	if i%4 == 2 {
		r.Tunnel, r.VNI, r.HasVNI, r.InnerPresent = flow.TunnelVXLAN, 77, true, true
		r.Inner = flow.Packet{EtherType: 0x0800, SrcAddr: a("172.16.0.1"), DstAddr: a("172.16.0.2"), Proto: 1, HasProto: true,
			HasICMP: true, ICMPType: 8}
	}
	return r
}

func genCounter(i int) flow.Counter {
	return flow.Counter{Time: t0.Add(time.Duration(i) * time.Millisecond), Agent: netip.MustParseAddr("192.0.2.10"),
		SubAgent: 0, Sequence: uint32(i), SampleSeq: uint32(i), SourceIndex: 3,
		HasInterface: true, Interface: flow.InterfaceCounters{Index: 3, Speed: 1e10, Status: 3, InOctets: uint64(i) * 1000,
			OutOctets: uint64(i) * 2000, InDiscards: flow.Unknown32, OutErrors: 1},
		HasPortName: true, PortName: "tap0a1b2c3d-4e"}
}

func batchOf(from, n int, counters int) *pipeline.Batch {
	b := &pipeline.Batch{}
	for i := from; i < from+n; i++ {
		b.Flows = append(b.Flows, genRecord(i))
	}
	for i := 0; i < counters; i++ {
		b.Counters = append(b.Counters, genCounter(from+i))
	}
	return b
}

// fullRecords returns records with every optional part set, in the
// variants that between them make ecs.AppendFlow write every field (as in
// internal/flow/docs_test.go).
func fullRecords() ([]flow.Record, flow.Counter) {
	a := netip.MustParseAddr
	pk := flow.Packet{
		SrcMAC: flow.MAC{1}, DstMAC: flow.MAC{2}, EtherType: 0x0800, VLAN: 10, InnerVLAN: 20, VLANCount: 2,
		MPLSCount: 1, MPLSLabels: [4]uint32{16}, SrcAddr: a("10.0.0.1"), DstAddr: a("10.0.0.2"),
		Proto: 6, HasProto: true, TOS: 1, TTL: 2, IPLength: 60, FlowLabel: 5, Fragment: true,
		SrcPort: 1, DstPort: 2, HasPorts: true, TCPFlags: 2, ICMPType: 3, HasICMP: true, ARPOp: 1,
	}
	ep := flow.Endpoint{Present: true, Src: a("192.0.2.1"), Dst: a("192.0.2.2"), Proto: 17, SrcPort: 1, DstPort: 4789}
	r := flow.Record{
		Time: t0, Agent: a("127.0.0.1"), SamplingRate: 64, FrameLength: 102, Stripped: 4, HeaderLength: 98, HeaderProto: 1, Drops: 1,
		In:     flow.Port{Format: flow.PortSingle, Index: 3, Name: "tap1", HasOFPort: true, OFPort: 1, Speed: 1e9, VLAN: 5, HasVLAN: true},
		Out:    flow.Port{Format: flow.PortSingle, Index: 4, Name: "tap2", HasOFPort: true, OFPort: 2, Speed: 1e9, VLAN: 6, HasVLAN: true},
		Packet: pk, Parsed: flow.LayerInnerL4, Truncated: true, Tunnel: flow.TunnelVXLAN, VNI: 7, HasVNI: true, Inner: pk, InnerPresent: true,
		TunnelEgress: ep, TunnelIngress: ep, TunnelEgressVNI: 1, HasTunnelEgressVNI: true, TunnelIngressVNI: 2, HasTunnelIngressVNI: true,
		NextHop: a("192.0.2.254"), SrcMask: 24, DstMask: 24, SrcAS: 1, DstAS: 2, PeerAS: 3, ASPath: [8]uint32{2}, ASPathLen: 1, LocalPref: 100, HasGateway: true,
		BGPNextHop: a("192.0.2.253"), SrcNAT: a("198.51.100.1"), DstNAT: a("198.51.100.2"), SrcNATPort: 40000, DstNATPort: 443, HasNATPorts: true, Biflow: flow.BiflowReverse,
		SrcGeo:    &flow.Geo{CountryISO: "FR", CountryName: "France", City: "Paris", Lat: 48.8566, Lon: 2.3522, HasLocation: true, ASN: 1, ASOrg: "Org"},
		DstGeo:    &flow.Geo{CountryISO: "DE", CountryName: "Germany", City: "Berlin", Lat: 52.52, Lon: 13.405, HasLocation: true, ASN: 3320, ASOrg: "DTAG"},
		SrcID:     &flow.Identity{PortID: "p", InstanceID: "i", InstanceName: "vm", NetworkID: "n", NetworkName: "net", SegmentationID: 5, ProjectID: "t", ProjectName: "proj", Host: "h", Source: "ovsdb"},
		DstID:     &flow.Identity{PortID: "p2", InstanceID: "i2", InstanceName: "vm2", NetworkID: "n", NetworkName: "net", SegmentationID: 5, ProjectID: "t", ProjectName: "proj", Host: "h2", Source: "neutron"},
		Direction: flow.DirectionInbound, Relation: flow.RelationCrossHost, Observation: flow.ObservationPort,
	}
	out := []flow.Record{r}
	r.In.Format, r.In.Count, r.Out.Format, r.Out.Reason = flow.PortMultiple, 3, flow.PortDiscard, 256
	out = append(out, r)
	r.In, r.Out = r.Out, r.In
	out = append(out, r)
	r.Samples, r.Overflow = 3, true
	r.Input, r.Start, r.End, r.HasEngine, r.EngineID, r.TemplateID, r.EndReason = flow.InputIPFIX, t0, t0.Add(time.Second), true, 1, 256, 2
	r.ObservationPointID, r.HasObservationPoint, r.FlowDirection, r.HasFlowDirection = 0xe755ed2a, true, 1, true
	r.Blocked = &flow.Blocked{Source: flow.BlockedOVNDropSampling, LogicalFlow: "e755ed2a-0000-4000-8000-000000000000", Stage: "ls_out_acl",
		ACL: "c0fddb45-fb97-400f-b1bb-b18108b22882", ACLDirection: "to-lport", Default: true, SecurityGroups: []string{"sg"},
		SecurityGroupRule: "r", Port: "p", Reason: "x"}
	out = append(out, r)
	v6 := r
	v6.SrcAddr, v6.DstAddr, v6.NextHop, v6.Input = a("2001:db8::1"), a("2001:db8::2"), a("2001:db8::fe"), flow.InputNetFlowV9
	out = append(out, v6)
	c := flow.Counter{Time: t0, Agent: a("127.0.0.1"), HasInterface: true, HasEthernet: true, HasVLAN: true,
		HasProcessor: true, HasOFPort: true, HasPortName: true, PortName: "br-int", HasDatapath: true, HasAppResources: true,
		HasHost: true, HostName: "compute-1", HasHostCPU: true, HasHostMemory: true, HasHostDisk: true, HasHostNet: true}
	return out, c
}

// leaves lists the dotted paths of every value in a JSON document.
func leaves(prefix string, v any, out map[string]bool) {
	if m, ok := v.(map[string]any); ok && !strings.HasSuffix(prefix, ".location") { // a geo_point is one field
		for k, c := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			leaves(p, c, out)
		}
		return
	}
	out[prefix] = true
}

func testConfig(t testing.TB, url string) Config {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.URLs = []string{url}
	cfg.Spool.Dir = filepath.Join(dir, "spool")
	cfg.DeadLetter.Path = filepath.Join(dir, "dead-letter.ndjson")
	cfg.BackoffInitial, cfg.BackoffMax = 2*time.Millisecond, 20*time.Millisecond
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.Timeout, cfg.CloseTimeout = 5*time.Second, 5*time.Second
	cfg.BatchDocs = 50
	cfg.Workers = 2
	return cfg
}

// logBuffer collects log output to check that no secret is in it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readDeadLetters(t testing.TB, path string) []DeadLetterEntry {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []DeadLetterEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e DeadLetterEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("dead-letter line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// idOf returns the document id and daily index of a record.
func idOf(r *flow.Record) string {
	id := flowID(r, nil) // sFlow samples: the document does not count
	return "flow-" + r.Time.UTC().Format("2006.01.02") + "/" + string(id[:])
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
