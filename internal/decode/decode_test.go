package decode_test

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/agents"
	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/input/udp"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// memOutput keeps copies of what it is given.
type memOutput struct {
	mu       sync.Mutex
	flows    []flow.Record
	counters []flow.Counter
	delay    time.Duration
}

func (m *memOutput) Name() string { return "memory" }
func (m *memOutput) Write(b *pipeline.Batch) error {
	time.Sleep(m.delay)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flows = append(m.flows, b.Flows...)
	m.counters = append(m.counters, b.Counters...)
	return nil
}
func (m *memOutput) Close() error { return nil }

// sflowHandler is what a socket of the sFlow input gets.
func sflowHandler(p *pipeline.Pipeline) *decode.Handler {
	return decode.New(decode.Config{}, p).Handler(decode.SFlow)
}

// sockets gives each socket of a listener its handler.
func sockets(d *decode.Decoders, proto decode.Protocol) func(int) udp.Handler {
	return func(int) udp.Handler { return d.Handler(proto) }
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func sflowCapture(t *testing.T) []pcapfile.Datagram {
	ds, err := pcapfile.ReadAll("../../testdata/ovs/ovs-sflow.pcap", nil)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestLoopback receives a real capture over UDP on loopback, with a second
// "agent" sending garbage from another socket at the same time, and checks
// that the real agent loses nothing, the garbage is counted against its
// sender, and flows get their port names from counter samples.
func TestLoopback(t *testing.T) {
	out := &memOutput{}
	p := pipeline.New(pipeline.Config{}, quiet(), out)
	ln, err := udp.Listen(udp.Config{Listen: []string{"127.0.0.1:0"}, Sockets: 1, ReceiveBuffer: 8 << 20}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ln.Run(ctx, sockets(decode.New(decode.Config{}, p), decode.SFlow)) }()

	dst := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ln.Addrs()[0]))
	good, err := net.DialUDP("udp", nil, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	bad, err := net.DialUDP("udp", nil, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()

	ds := sflowCapture(t)
	// Skip datagram 10: the collector must report exactly one lost.
	sent := 0
	for i, d := range ds {
		if i == 10 {
			continue
		}
		if _, err := good.Write(d.Payload); err != nil {
			t.Fatal(err)
		}
		sent++
		// Garbage from another sender: a wrong version (no header, so
		// counted against the UDP source), or a good header from another
		// agent followed by a sample that lies about its length.
		junk := []byte{0, 0, 0, 9, 1, 2, 3, 4}
		if i%2 == 1 {
			junk = []byte{0, 0, 0, 5, 0, 0, 0, 1, 10, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, byte(i), 0, 0, 0, 1, 0, 0, 0, 1,
				0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}
		}
		if _, err := bad.Write(junk); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // loopback is fast, but let the reader keep up
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var total uint64
		for _, a := range p.Agents.All() {
			total += a.Datagrams
		}
		if total >= uint64(2*sent) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	var real, junk, spoof *agents.Snapshot
	all := p.Agents.All()
	for i := range all {
		switch {
		case all[i].SubAgent == agents.NoSubAgent:
			junk = &all[i]
		case all[i].Agent == netip.MustParseAddr("10.9.9.9"):
			spoof = &all[i]
		default:
			real = &all[i]
		}
	}
	if real == nil || junk == nil || spoof == nil {
		t.Fatalf("agents: %+v", all)
	}
	if real.Datagrams != uint64(sent) || real.Lost != 1 || real.ErrorCount() != 0 {
		t.Errorf("real agent: %d datagrams (sent %d), %d lost (want 1), %d errors", real.Datagrams, sent, real.Lost, real.ErrorCount())
	}
	if junk.Datagrams+spoof.Datagrams != uint64(sent) || junk.Errors[sflow.ReasonVersion.String()] != junk.Datagrams ||
		spoof.Errors[sflow.ReasonSampleLength.String()] != spoof.Datagrams || spoof.Datagrams == 0 {
		t.Errorf("junk sender: %d datagrams, errors %v; spoofed agent: %d datagrams, errors %v",
			junk.Datagrams, junk.Errors, spoof.Datagrams, spoof.Errors)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	if real.FlowSamples != uint64(len(out.flows)) || real.CounterSamples != uint64(len(out.counters)) {
		t.Errorf("output has %d flows/%d counters, agent stats %d/%d", len(out.flows), len(out.counters), real.FlowSamples, real.CounterSamples)
	}
	named := 0
	for _, f := range out.flows {
		if f.In.Name != "" {
			named++
		}
	}
	// Names arrive with the first counter samples, 10 s into the capture;
	// most flows come after.
	if named < len(out.flows)/2 {
		t.Errorf("only %d of %d flows have an ingress port name", named, len(out.flows))
	}
	inv := p.Inventory.List()
	names := map[string]bool{}
	for _, i := range inv {
		names[i.Name] = true
	}
	for _, n := range []string{"br-int", "lab-v1h", "lab-v2h"} {
		if !names[n] {
			t.Errorf("inventory lacks %s: %+v", n, inv)
		}
	}
}

// Open vSwitch's IPFIX and NetFlow v5, received over UDP like sFlow: every
// record arrives, no loss is reported, interface names come from IPFIX.
func TestNetFlowAndIPFIXLoopback(t *testing.T) {
	out := &memOutput{}
	opt := netflow.Options{}
	p := pipeline.New(pipeline.Config{}, quiet(), out)
	ln, err := udp.Listen(udp.Config{Listen: []string{"127.0.0.1:0"}, Sockets: 1, ReceiveBuffer: 8 << 20}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ln.Run(ctx, sockets(decode.New(decode.Config{NetFlow: opt}, p), decode.NetFlow)) }()
	sent := 0
	for _, f := range []string{"ovs-ipfix.pcap", "ovs-netflow.pcap"} {
		ds, err := pcapfile.ReadAll("../../testdata/ovs/"+f, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("udp", ln.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			c.Write(d.Payload)
			sent++
			if i%20 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n uint64
		for _, a := range p.Agents.All() {
			n += a.Datagrams
		}
		if n >= uint64(sent) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	p.Close()
	byInput := map[flow.Input]agents.Snapshot{}
	for _, a := range p.Agents.All() {
		byInput[a.Input] = a
	}
	ipfix, v5 := byInput[flow.InputIPFIX], byInput[flow.InputNetFlowV5]
	if ipfix.FlowSamples != 1386 || ipfix.Lost != 0 || ipfix.ErrorCount() != 0 {
		t.Errorf("IPFIX: %+v", ipfix)
	}
	if v5.FlowSamples != 16 || v5.Lost != 0 || v5.ErrorCount() != 0 {
		t.Errorf("NetFlow v5: %+v", v5)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	named := 0
	for _, f := range out.flows {
		if f.Input == flow.InputIPFIX && f.In.Name != "" {
			named++
		}
	}
	if len(out.flows) != 1386+16 || named < 1000 {
		t.Errorf("%d flows, %d IPFIX flows with an ingress name", len(out.flows), named)
	}
}

// ipfixMessage builds an IPFIX message of the observation domain with sets.
func ipfixMessage(domain, seq uint32, sets ...[]byte) []byte {
	be := binary.BigEndian
	b := be.AppendUint16(nil, 10)
	b = be.AppendUint16(b, 0) // length, below
	b = be.AppendUint32(b, uint32(time.Now().Unix()))
	b = be.AppendUint32(b, seq)
	b = be.AppendUint32(b, domain)
	for _, s := range sets {
		b = append(b, s...)
	}
	be.PutUint16(b[2:], uint16(len(b)))
	return b
}

// ipfixSet builds one set (id 2: templates, 3: options templates, 256 and
// above: data).
func ipfixSet(id uint16, body []byte) []byte {
	be := binary.BigEndian
	b := be.AppendUint16(nil, id)
	b = be.AppendUint16(b, uint16(4+len(body)))
	return append(b, body...)
}

// An exporter's interface table (IPFIX options data: scope ingressInterface,
// interfaceName) names the interfaces of its flows.
func TestIPFIXInterfaceTable(t *testing.T) {
	be := binary.BigEndian
	msg := func(seq uint32, sets ...[]byte) []byte { return ipfixMessage(7, seq, sets...) }
	set := ipfixSet
	u16 := func(vs ...uint16) []byte {
		var b []byte
		for _, v := range vs {
			b = be.AppendUint16(b, v)
		}
		return b
	}
	// Options template 300: scope ingressInterface (10), interfaceName (82, variable length).
	optTpl := set(3, u16(300, 2, 1, 10, 4, 82, 65535))
	// Data template 301: ingressInterface, source and destination IPv4, packetDeltaCount.
	dataTpl := set(2, u16(301, 4, 10, 4, 8, 4, 12, 4, 2, 8))
	optData := set(300, append(be.AppendUint32(nil, 5), append([]byte{4}, "tap5"...)...))
	rec := be.AppendUint32(nil, 5)
	rec = append(rec, 10, 0, 0, 1, 10, 0, 0, 2)
	rec = be.AppendUint64(rec, 3)
	data := set(301, rec)

	out := &memOutput{}
	opt := netflow.Options{}
	p := pipeline.New(pipeline.Config{Wait: true}, quiet(), out)
	h := decode.New(decode.Config{NetFlow: opt}, p).Handler(decode.NetFlow)
	src := netip.MustParseAddrPort("192.0.2.9:40000")
	h.Datagram(msg(0, optTpl, dataTpl, optData), src, time.Now())
	h.Datagram(msg(1, data), src, time.Now())
	h.Flush()
	p.Close()
	if len(out.flows) != 1 {
		t.Fatalf("%d flows", len(out.flows))
	}
	if f := out.flows[0]; f.In.Index != 5 || f.In.Name != "tap5" || f.Packets != 3 {
		t.Errorf("flow %+v", f.In)
	}
}

// IPFIX's sequence number counts the data records sent before the message
// (RFC 7011 §3.1); softflowd counts them up to and including the message.
// Both are in order; a real gap is still loss under either.
func TestIPFIXSequenceConventions(t *testing.T) {
	msg := func(seq uint32, sets ...[]byte) []byte { return ipfixMessage(1, seq, sets...) }
	set := ipfixSet
	// Template 256: sourceIPv4Address, destinationIPv4Address.
	tpl := set(2, []byte{1, 0, 0, 2, 0, 8, 0, 4, 0, 12, 0, 4})
	data := func(n int) []byte {
		var b []byte
		for i := range n {
			b = append(b, 10, 0, 0, byte(i), 10, 0, 1, byte(i))
		}
		return set(256, b)
	}
	// Sizes chosen so that the lost message does not also fit the other
	// convention (5+2 records lost before a 7-record message would).
	sizes := []int{3, 5, 2, 6, 4}
	for _, c := range []struct {
		name      string
		inclusive bool
		skip      int // index of a message not delivered, -1 for none
		lost      uint64
	}{
		{"rfc7011", false, -1, 0},
		{"softflowd", true, -1, 0},
		{"rfc7011-gap", false, 2, 2},
		{"softflowd-gap", true, 2, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := &memOutput{}
			opt := netflow.Options{}
			p := pipeline.New(pipeline.Config{Wait: true}, quiet(), out)
			h := decode.New(decode.Config{NetFlow: opt}, p).Handler(decode.NetFlow)
			src := netip.MustParseAddrPort("192.0.2.10:40000")
			var seq uint32
			for i, n := range sizes {
				if c.inclusive {
					seq += uint32(n)
				}
				sets := [][]byte{data(n)}
				if i == 0 {
					sets = append([][]byte{tpl}, sets...)
				}
				if i != c.skip {
					h.Datagram(msg(seq, sets...), src, time.Now())
				}
				if !c.inclusive {
					seq += uint32(n)
				}
			}
			h.Flush()
			p.Close()
			var got agents.Snapshot
			for _, a := range p.Agents.All() {
				got = a
			}
			if got.Lost != c.lost || got.ErrorCount() != 0 {
				t.Errorf("lost %d (want %d), errors %d", got.Lost, c.lost, got.ErrorCount())
			}
		})
	}
}

// An RFC 5103 biflow data record gives two flow records (forward and
// reverse) but is one data record for IPFIX's sequence number: consecutive
// messages of biflows are in order, nothing is lost.
func TestIPFIXBiflowSequence(t *testing.T) {
	be := binary.BigEndian
	set := ipfixSet
	// Template 256: sourceIPv4Address, destinationIPv4Address,
	// packetDeltaCount (4), reversePacketDeltaCount (4, PEN 29305).
	tpl := set(2, []byte{1, 0, 0, 4, 0, 8, 0, 4, 0, 12, 0, 4, 0, 2, 0, 4, 0x80, 2, 0, 4, 0, 0, 0x72, 0x79})
	data := func(n int) []byte {
		var b []byte
		for i := range n {
			b = append(b, 10, 0, 0, byte(i), 10, 0, 1, byte(i))
			b = be.AppendUint32(b, 3)
			b = be.AppendUint32(b, 2)
		}
		return set(256, b)
	}
	out := &memOutput{}
	opt := netflow.Options{}
	p := pipeline.New(pipeline.Config{Wait: true}, quiet(), out)
	h := decode.New(decode.Config{NetFlow: opt}, p).Handler(decode.NetFlow)
	src := netip.MustParseAddrPort("192.0.2.11:40000")
	var seq uint32
	for i, n := range []int{3, 2, 4} {
		sets := [][]byte{data(n)}
		if i == 0 {
			sets = append([][]byte{tpl}, sets...)
		}
		h.Datagram(ipfixMessage(1, seq, sets...), src, time.Now())
		seq += uint32(n)
	}
	h.Flush()
	p.Close()
	if len(out.flows) != 18 {
		t.Fatalf("%d flows, want 9 forward and 9 reverse", len(out.flows))
	}
	a := p.Agents.All()[0]
	if a.Lost != 0 || a.Resets != 0 || a.OutOfOrder != 0 || a.ErrorCount() != 0 {
		t.Errorf("lost %d, resets %d, out of order %d, errors %v", a.Lost, a.Resets, a.OutOfOrder, a.Errors)
	}
}

// Open vSwitch numbers the IPFIX messages of all its observation domains
// in one sequence (OVN's drop sampling: a domain per datapath). Messages
// of two domains with one shared, gapless sequence lose nothing; one
// message not delivered is one lost, not the other domain's count.
func TestIPFIXOpenVSwitchSharedSequence(t *testing.T) {
	ds, err := pcapfile.ReadAll("../../testdata/openstack/ovn-ipfix-drops.pcap", func(d pcapfile.Datagram) bool { return d.Dst.Port() == 46055 })
	if err != nil {
		t.Fatal(err)
	}
	// The capture's sets: Open vSwitch's templates and a data set of one record.
	var tmpls [][]byte
	var data []byte
	for _, d := range ds {
		b := d.Payload[16:]
		for len(b) >= 4 {
			id, n := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
			if n < 4 || n > len(b) {
				break
			}
			switch {
			case id == 2:
				tmpls = append(tmpls, append([]byte(nil), b[:n]...))
			case id >= 256 && data == nil && binary.BigEndian.Uint32(d.Payload[12:]) != 0: // not the options data
				data = append([]byte(nil), b[:n]...)
			}
			b = b[n:]
		}
	}
	if tmpls == nil || data == nil {
		t.Fatal("no template or data set in the capture")
	}
	for _, c := range []struct {
		name string
		skip int
		lost uint64
	}{{"gapless", -1, 0}, {"one lost", 3, 1}} {
		t.Run(c.name, func(t *testing.T) {
			opt := netflow.Options{}
			p := pipeline.New(pipeline.Config{Wait: true}, quiet(), &memOutput{})
			h := decode.New(decode.Config{NetFlow: opt}, p).Handler(decode.NetFlow)
			src := netip.MustParseAddrPort("192.0.2.10:40000")
			for _, ts := range tmpls { // as Open vSwitch sends them: one message each, in one domain
				h.Datagram(ipfixMessage(1<<24, 0, ts), src, time.Now())
			}
			// one record per message, domains 1<<24|1 and 1<<24|2 in turn
			for i := range 8 {
				if i != c.skip {
					h.Datagram(ipfixMessage(1<<24|uint32(1+i%2), uint32(i), data), src, time.Now())
				}
			}
			h.Flush()
			p.Close()
			var lost, rows uint64
			for _, a := range p.Agents.All() {
				lost += a.Lost
				if a.FlowSamples > 0 {
					rows++
				}
			}
			if lost != c.lost || rows != 2 {
				t.Errorf("lost %d (want %d) over %d domains with records (want 2)", lost, c.lost, rows)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want decode.Protocol
	}{
		{[]byte{0, 0, 0, 5, 0, 0, 0, 1}, decode.SFlow},
		{[]byte{0, 5, 0, 1}, decode.NetFlow},
		{[]byte{0, 9, 0, 1}, decode.NetFlow},
		{[]byte{0, 10, 0, 16}, decode.NetFlow},
		{[]byte{0, 5}, decode.NetFlow},       // truncated: NetFlow's decoder says so
		{[]byte{0, 0, 0, 4}, decode.Unknown}, // sFlow v4
		{[]byte{0, 0, 0}, decode.Unknown},
		{nil, decode.Unknown},
		{[]byte{0xff, 0xff, 0xff, 0xff}, decode.Unknown},
	} {
		if got := decode.Sniff(c.b); got != c.want {
			t.Errorf("Sniff(% x) = %v, want %v", c.b, got, c.want)
		}
	}
}

// Either port takes either protocol: the version decides, and what no
// version tells goes to the socket's own decoder, which says why it is bad.
func TestOneHandlerEveryProtocol(t *testing.T) {
	out := &memOutput{}
	p := pipeline.New(pipeline.Config{Wait: true}, quiet(), out)
	d := decode.New(decode.Config{}, p)
	sf, nf := d.Handler(decode.SFlow), d.Handler(decode.NetFlow)
	ds := sflowCapture(t)
	ipfixSrc := netip.MustParseAddrPort("192.0.2.9:40000")
	// IPFIX template 256 (source, destination IPv4, packetDeltaCount) and a record.
	be := binary.BigEndian
	tpl := ipfixSet(2, be.AppendUint16(be.AppendUint16(be.AppendUint16(be.AppendUint16(be.AppendUint16(be.AppendUint16(be.AppendUint16(be.AppendUint16(nil, 256), 3), 8), 4), 12), 4), 2), 8))
	rec := be.AppendUint64([]byte{10, 0, 0, 1, 10, 0, 0, 2}, 3)
	now := time.Now()
	for _, h := range []*decode.Handler{sf, nf} {
		h.Datagram(ds[0].Payload, ds[0].Src, now)
		h.Datagram(ipfixMessage(1, 0, tpl, ipfixSet(256, rec)), ipfixSrc, now)
		h.Datagram([]byte("garbage!"), netip.MustParseAddrPort("192.0.2.66:1"), now)
		h.Flush()
	}
	p.Close()
	byInput := map[flow.Input]uint64{}
	var garbage []string
	for _, a := range p.Agents.All() {
		if a.Agent != netip.MustParseAddr("192.0.2.66") {
			byInput[a.Input] += a.Datagrams
			continue
		}
		for r := range a.Errors {
			garbage = append(garbage, a.Input.String()+":"+r)
		}
	}
	if byInput[flow.InputIPFIX] != 2 || byInput[flow.InputSFlow] != 2 {
		t.Errorf("datagrams by input %v, want 2 IPFIX and 2 sFlow", byInput)
	}
	if len(garbage) != 2 || garbage[0][:5] == garbage[1][:5] {
		t.Errorf("garbage counted as %v, want one sFlow and one NetFlow reason", garbage)
	}
	ipfix := 0
	for _, f := range out.flows {
		if f.Input == flow.InputIPFIX && f.Packets == 3 {
			ipfix++
		}
	}
	if ipfix != 2 {
		t.Errorf("%d IPFIX flows decoded, want one per socket", ipfix)
	}
}
