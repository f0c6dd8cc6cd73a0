//go:build e2e

package e2e

// Assertions on flowlens's output against what the lab did.

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bytesTolerance bounds |estimated - reference| / reference for the bytes and for the frames of
// an ordered VM pair, the reference being what crossed Open vSwitch (see checkBytes).
//
// Why +-25 %: OVS samples each packet independently with probability p = 1/64 and flowlens
// scales every sample by 64. For N frames of sizes s_i the estimate's variance is
// sum s_i^2 (1-p)/p ~ 64 sum s_i^2, i.e. a relative standard error of
// sqrt(64 sum s_i^2) / sum s_i, which is 1/sqrt(N/64) = 1/sqrt(expected samples) for equal
// sizes (and for frames). Per ordered pair the plan (traffic_test.go) sends ~2 x 40 Mbit/s x
// 3 s of TCP + 2 x 5 Mbit/s x 3 s of UDP + pings: ~29 000 frames, ~36 MB, a relative SE of
// ~5.1 % in bytes and ~4.7 % in frames, so 25 % is ~5 sigma (two-sided p ~ 6e-7 per pair and
// measure). checkBytes recomputes the sigmas from what crossed and fails if 25 % is not above
// 3 sigma, so a slow machine that could not produce the planned traffic is reported as such,
// not as a collector bug.
//
// What is compared: L2 frame bytes without FCS. OVS reports sampled_packet_size = frame
// length + 4 (FCS); the collector removes the 4 bytes (checked exactly on ICMP echo, whose
// frames are always 98 / 118 bytes); the kernel counts veth frames without FCS.
const bytesTolerance = 0.25

var validFormats = []string{"single", "discard", "multiple", "unknown"}

type vmIndex struct {
	byIP  map[netip.Addr]int
	byMAC map[string]int // ECS form
}

func indexVMs(l *Lab) vmIndex {
	ix := vmIndex{byIP: map[netip.Addr]int{}, byMAC: map[string]int{}}
	for i, v := range l.VMs {
		ix.byIP[v.IPv4] = i
		ix.byIP[v.IPv6] = i
		ix.byMAC[ecsMAC(v.MAC)] = i
	}
	return ix
}

// between returns the ordered VM pair of a record whose source and destination IPs are two
// different VMs.
func (ix vmIndex) between(f *FlowRec) (Dir, bool) {
	if !f.SrcIP.IsValid() || !f.DstIP.IsValid() {
		return Dir{}, false
	}
	a, okA := ix.byIP[f.SrcIP]
	b, okB := ix.byIP[f.DstIP]
	if !okA || !okB || a == b {
		return Dir{}, false
	}
	return Dir{a, b}, true
}

var ianaOf = map[string]string{"icmp": "1", "tcp": "6", "udp": "17", "ipv6-icmp": "58"}

// checkFlows: every record is well-formed; records between VMs carry the right MACs, ports and
// interfaces; every VM pair x protocol x direction of the plan is present.
func checkFlows(t *testing.T, l *Lab, tr *Traffic, out *Output, testStart time.Time) {
	if len(out.Flows) == 0 {
		t.Fatal("no flow records")
	}
	ix := indexVMs(l)
	var p Problems
	named := 0
	for _, f := range out.Flows {
		if f.Agent != "127.0.0.1" {
			p.Add(fmt.Sprintf("%s = %q, want 127.0.0.1 (agent=lo)", fAgentIP, f.Agent), f)
		}
		if f.SubID != 0 && f.SubID != 1 {
			p.Add(fmt.Sprintf("%s = %d, want 0 or 1 (two bridges with sFlow: br-int, br-ex)", fSubID, f.SubID), f)
		}
		if f.Rate != samplingRate {
			p.Add(fmt.Sprintf("%s = %d, want %d", fSampling, f.Rate, samplingRate), f)
		}
		if !f.Time.IsZero() && (f.Time.Before(testStart.Add(-time.Minute)) || f.Time.After(time.Now().Add(time.Minute))) {
			p.Add(fTimestamp+" outside the test run", f)
		}
		if f.Packets <= 0 || f.Bytes <= 0 {
			p.Add("non-positive "+fBytes+"/"+fPackets, f)
		} else if avg := f.Bytes / f.Packets; avg < 14 || avg > 1518 {
			p.Add(fmt.Sprintf("%s/%s = %d: not an Ethernet frame length", fBytes, fPackets, avg), f)
		}
		if !slices.Contains(validFormats, f.In.Format) {
			p.Add(fmt.Sprintf("%s = %q", fInFormat, f.In.Format), f)
		}
		if !slices.Contains(validFormats, f.Out.Format) {
			p.Add(fmt.Sprintf("%s = %q", fOutFormat, f.Out.Format), f)
		}
		if (f.In.Format == "single") != (f.In.ID != "") {
			p.Add(fmt.Sprintf("%s present iff %s is single: format %q id %q", fInID, fInFormat, f.In.Format, f.In.ID), f)
		}
		if (f.Out.Format == "single") != (f.Out.ID != "") {
			p.Add(fmt.Sprintf("%s present iff %s is single: format %q id %q", fOutID, fOutFormat, f.Out.Format, f.Out.ID), f)
		}
		if f.Transport != "" && f.IANA != ianaOf[f.Transport] && ianaOf[f.Transport] != "" {
			p.Add(fmt.Sprintf("%s %q with %s %q", fTransport, f.Transport, fIANA, f.IANA), f)
		}
		if f.SrcMAC != "" && f.SrcMAC != strings.ToUpper(f.SrcMAC) || strings.Contains(f.SrcMAC+f.DstMAC, ":") {
			p.Add("MAC not in ECS format (uppercase, hyphens)", f)
		}

		d, ok := ix.between(f)
		if !ok {
			continue
		}
		a, b := l.VMs[d.From], l.VMs[d.To]
		if f.Type == "arp" {
			// flowlens puts the ARP sender / target protocol addresses in source.ip /
			// destination.ip: the sender is the VM whose MAC and port the frame came from.
			if f.SrcMAC != ecsMAC(a.MAC) || f.In.ID != strconv.Itoa(a.HostIfIndex) {
				p.Add("ARP record: sender IP's VM is not the source MAC / ingress port", f)
			}
			if f.DstMAC != "FF-FF-FF-FF-FF-FF" && f.DstMAC != ecsMAC(b.MAC) {
				p.Add("ARP record: unicast destination MAC is not the target IP's VM", f)
			}
			if f.Transport != "" || f.SrcPort >= 0 || f.DstPort >= 0 {
				p.Add("ARP record with a transport or ports", f)
			}
			continue
		}
		wantType := "ipv4"
		if f.SrcIP.Is6() {
			wantType = "ipv6"
		}
		if f.Type != wantType {
			p.Add(fmt.Sprintf("%s = %q for %s traffic", fNetType, f.Type, wantType), f)
		}
		if f.SrcMAC != ecsMAC(a.MAC) || f.DstMAC != ecsMAC(b.MAC) {
			p.Add("VM->VM record: source.mac/destination.mac are not the VMs' MACs", f)
		}
		if f.In.Format != "single" || f.In.ID != strconv.Itoa(a.HostIfIndex) {
			p.Add(fmt.Sprintf("VM->VM record: ingress must be the source VM's port ifindex (%s)", "single"), f)
		}
		if f.In.Name != "" {
			named++
			if f.In.Name != a.HostIf {
				p.Add("VM->VM record: ingress interface name is not the source VM's port", f)
			}
		}
		if f.Out.Format == "single" && f.Out.ID != strconv.Itoa(b.HostIfIndex) {
			p.Add("VM->VM record: single egress interface is not the destination VM's port", f)
		}
		if f.Out.Name != "" && f.Out.Name != b.HostIf {
			p.Add("VM->VM record: egress interface name is not the destination VM's port", f)
		}
		switch f.Transport {
		case "tcp", "udp":
			if f.SrcPort < 0 || f.DstPort < 0 {
				p.Add("tcp/udp record without ports", f)
			} else if f.SrcPort != iperfPort && f.DstPort != iperfPort {
				p.Add(fmt.Sprintf("tcp/udp between VMs not involving iperf3's port %d", iperfPort), f)
			}
		case "icmp", "ipv6-icmp":
			if f.ICMPType < 0 || f.ICMPCode < 0 {
				p.Add("icmp record without "+fICMPType+"/"+fICMPCode, f)
			}
			if f.SrcPort >= 0 || f.DstPort >= 0 {
				p.Add("icmp record with ports", f)
			}
			// Echo frames are 14+20+8+56 = 98 (v4) / 14+40+8+56 = 118 (v6) bytes: this checks
			// that the 4 FCS bytes in OVS's sampled_packet_size were removed and the scaling.
			if isEcho(f) {
				want := int64(ethHdr + 20 + icmpEchoBytes)
				if f.SrcIP.Is6() {
					want = ethHdr + 40 + icmpEchoBytes
				}
				if f.Packets > 0 && f.Bytes != want*f.Packets {
					p.Add(fmt.Sprintf("echo record: bytes %d for %d packets, want %d per packet (frame length without FCS)", f.Bytes, f.Packets, want), f)
				}
				if f.Packets%samplingRate != 0 {
					p.Add(fmt.Sprintf("%s not a multiple of the sampling rate", fPackets), f)
				}
			}
		default:
			p.Add(fmt.Sprintf("VM->VM record with %s %q", fTransport, f.Transport), f)
		}
	}
	p.Report(t.Errorf)
	if named == 0 {
		t.Errorf("no VM->VM flow record carries %s (port names are learned from counter samples, polling=%ds, traffic ran %.0fs)",
			fInName, pollingSec, tr.End.Sub(tr.Start).Seconds())
	}

	// Coverage: every expectation of the plan is met by at least one record.
	var missing []string
	for _, e := range expectations(l, tr) {
		if !slices.ContainsFunc(out.Flows, e.match) {
			missing = append(missing, e.what)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of the expected (pair, protocol, direction) combinations have no flow record:\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	} else {
		t.Logf("all %d (pair, protocol, direction) combinations present; %d flow records, %d with an ingress name", len(expectations(l, tr)), len(out.Flows), named)
	}
}

func isEcho(f *FlowRec) bool {
	switch f.Transport {
	case "icmp":
		return f.ICMPType == 8 || f.ICMPType == 0
	case "ipv6-icmp":
		return f.ICMPType == 128 || f.ICMPType == 129
	}
	return false
}

type expectation struct {
	what  string
	match func(*FlowRec) bool
}

func ipFlow(transport string, src, dst netip.Addr, sport, dport, icmpType int64) func(*FlowRec) bool {
	return func(f *FlowRec) bool {
		return f.Transport == transport && f.SrcIP == src && f.DstIP == dst &&
			(sport < 0 || f.SrcPort == sport) && (dport < 0 || f.DstPort == dport) &&
			(icmpType < 0 || f.ICMPType == icmpType)
	}
}

// expectations lists what the traffic plan must have produced in the output.
func expectations(l *Lab, tr *Traffic) []expectation {
	var es []expectation
	add := func(what string, m func(*FlowRec) bool) { es = append(es, expectation{what, m}) }
	for _, pr := range tr.Pings {
		req, rep, tp := int64(8), int64(0), "icmp"
		if pr.Dst.Is6() {
			req, rep, tp = 128, 129, "ipv6-icmp"
		}
		src := l.vmAddr(pr.From, pr.Dst.Is6())
		add(fmt.Sprintf("%s echo request %s->%s (%s->%s)", tp, pr.From, pr.To, src, pr.Dst), ipFlow(tp, src, pr.Dst, -1, -1, req))
		add(fmt.Sprintf("%s echo reply %s->%s (%s->%s)", tp, pr.To, pr.From, pr.Dst, src), ipFlow(tp, pr.Dst, src, -1, -1, rep))
	}
	for _, s := range tr.Streams {
		fam := ipFamily(s.ServerIP)
		cp, sp := int64(s.ClientPort), int64(s.ServerPort)
		fwd := fmt.Sprintf("%s/%s %s->%s [%s]:%d->[%s]:%d", s.Proto, fam, s.Client, s.Server, s.ClientIP, cp, s.ServerIP, sp)
		rev := fmt.Sprintf("%s/%s %s->%s [%s]:%d->[%s]:%d", s.Proto, fam, s.Server, s.Client, s.ServerIP, sp, s.ClientIP, cp)
		switch {
		case s.Proto == "tcp": // data one way, ACKs the other: both directions
			add(fwd, ipFlow("tcp", s.ClientIP, s.ServerIP, cp, sp, -1))
			add(rev, ipFlow("tcp", s.ServerIP, s.ClientIP, sp, cp, -1))
		case s.ClientSent:
			add(fwd, ipFlow("udp", s.ClientIP, s.ServerIP, cp, sp, -1))
		default:
			add(rev, ipFlow("udp", s.ServerIP, s.ClientIP, sp, cp, -1))
		}
	}
	for key := range tr.Raw {
		kind, names, _ := strings.Cut(key, " ")
		an, bn, _ := strings.Cut(names, ">")
		a, b := l.vmByName(an), l.vmByName(bn)
		am, bm := ecsMAC(a.MAC), ecsMAC(b.MAC)
		switch kind {
		case "arp":
			add(fmt.Sprintf("arp request %s->broadcast", a), func(f *FlowRec) bool {
				return f.Type == "arp" && f.SrcMAC == am && f.DstMAC == "FF-FF-FF-FF-FF-FF"
			})
			add(fmt.Sprintf("arp reply %s->%s", b, a), func(f *FlowRec) bool {
				return f.Type == "arp" && f.SrcMAC == bm && f.DstMAC == am
			})
		case "ns":
			add(fmt.Sprintf("ipv6-icmp neighbor solicitation %s->solicited-node of %s", a, b), func(f *FlowRec) bool {
				return f.Transport == "ipv6-icmp" && f.SrcIP == a.IPv6 && f.ICMPType == 135 && f.DstIP.IsMulticast()
			})
			add(fmt.Sprintf("ipv6-icmp neighbor advertisement %s->%s", b, a), func(f *FlowRec) bool {
				return f.Transport == "ipv6-icmp" && f.SrcIP == b.IPv6 && f.DstIP == a.IPv6 && f.ICMPType == 136
			})
		case "ether":
			want := fmt.Sprintf("0x%04x", rawEtherType)
			add(fmt.Sprintf("ethertype %s %s->%s", want, a, b), func(f *FlowRec) bool {
				return f.Type == want && f.SrcMAC == am && f.DstMAC == bm
			})
		}
	}
	slices.SortFunc(es, func(x, y expectation) int { return strings.Compare(x.what, y.what) })
	return es
}

func (l *Lab) vmByName(n string) *VM {
	for _, v := range l.VMs {
		if v.Name == n {
			return v
		}
	}
	panic("no VM " + n)
}

// checkBytes compares, per ordered VM pair, the sum of network.bytes / network.packets of
// IPv4/IPv6 flow records between the pair's addresses with what really crossed Open vSwitch
// from the one to the other (Traffic.Crossed: the kernel's counters of the sender's port minus
// what ovs-vswitchd's receive socket dropped), within bytesTolerance for bytes and for frames.
// The generators' own account (tr.Truth: iperf3's payload plus headers, one TCP ACK per two
// segments) is logged next to it as "model": its ACK count is a guess (receivers sent one ACK
// per 3.7-6 segments), so its frames run 12-23 % above what crossed; and it includes what
// OVS's sockets dropped under load, which OVS never saw. The comparison with the kernel
// leaves out the neighbour discovery records (the raw phase's NAs are outside the kernel
// window); the model's includes them.
//
// Every pair is also logged as one "E2E-ACCURACY" line (bench/e2e-accuracy.py pools them over
// runs).
func checkBytes(t *testing.T, l *Lab, tr *Traffic, out *Output) {
	ix := indexVMs(l)
	type sum struct{ b, f, ipB, ipF int64 }
	est := map[Dir]sum{}
	for _, f := range out.Flows {
		if f.Type != "ipv4" && f.Type != "ipv6" {
			continue
		}
		if d, ok := ix.between(f); ok {
			e := est[d]
			e.b += f.Bytes
			e.f += f.Packets
			if !isND(f) {
				e.ipB += f.Bytes
				e.ipF += f.Packets
			}
			est[d] = e
		}
	}
	pct := func(e, ref float64) float64 { return 100 * (e - ref) / ref }
	t.Logf("per ordered pair: estimate (est) vs processed by OVS (proc = kernel - OVS receive drops), kernel (rx of the sender's port), model (generators + 1 ACK per 2 segments); diff in %% and in sigma of the sampling error")
	t.Logf("%-9s %5s %12s %12s %12s %12s %8s %7s %8s %7s %8s %7s", "pair", "", "est", "proc", "kernel", "model",
		"vs proc", "sigma", "vs kern", "sigma", "vs model", "sigma")
	for _, d := range tr.dirs() {
		tru := tr.Truth[d]
		c := tr.Crossed[d]
		e := est[d]
		name := fmt.Sprintf("%s->%s", l.VMs[d.From], l.VMs[d.To])
		if c == nil || c.KernelPkts <= 0 {
			t.Errorf("%s: no kernel counters for the pair's traffic (%+v)", name, c)
			continue
		}
		procB, procF := c.ProcessedBytes(), c.ProcessedPkts()
		// sigma of the byte estimate from the model's frame sizes (their squares are dominated
		// by the data frames, which the model has right); of the frame estimate sqrt(rate/N).
		sdB := math.Sqrt(samplingRate * tru.SumSq)
		sB, sBk, sBm := sdB/procB, sdB/float64(c.KernelBytes), tru.RelSE()
		sF, sFk, sFm := math.Sqrt(samplingRate/procF), math.Sqrt(samplingRate/float64(c.KernelPkts)), math.Sqrt(samplingRate/tru.Frames)
		dB, dBk, dBm := pct(float64(e.ipB), procB), pct(float64(e.ipB), float64(c.KernelBytes)), pct(float64(e.b), tru.Bytes)
		dF, dFk, dFm := pct(float64(e.ipF), procF), pct(float64(e.ipF), float64(c.KernelPkts)), pct(float64(e.f), tru.Frames)
		t.Logf("%-9s %5s %12d %12.0f %12d %12.0f %+7.1f%% %+6.1fs %+7.1f%% %+6.1fs %+7.1f%% %+6.1fs", name, "bytes",
			e.ipB, procB, c.KernelBytes, tru.Bytes, dB, dB/100/sB, dBk, dBk/100/sBk, dBm, dBm/100/sBm)
		t.Logf("%-9s %5s %12d %12.0f %12d %12.0f %+7.1f%% %+6.1fs %+7.1f%% %+6.1fs %+7.1f%% %+6.1fs", "", "frames",
			e.ipF, procF, c.KernelPkts, tru.Frames, dF, dF/100/sF, dFk, dFk/100/sFk, dFm, dFm/100/sFm)
		t.Logf("%-9s OVS receive drops %d; OVS delivered to %s %d frames %d B (vs processed %+.0f frames); sigma bytes %.1f%%, frames %.1f%%",
			"", c.Drops, l.VMs[d.To], c.DeliveredPkts, c.DeliveredBytes, float64(c.DeliveredPkts)-procF, 100*sB, 100*sF)
		t.Logf("E2E-ACCURACY pair=%s est_b=%d est_f=%d proc_b=%.0f proc_f=%.0f kernel_b=%d kernel_f=%d drops=%d delivered_b=%d delivered_f=%d model_est_b=%d model_est_f=%d model_b=%.0f model_f=%.0f sigma_b=%.4f sigma_f=%.4f model_sigma_b=%.4f",
			name, e.ipB, e.ipF, procB, procF, c.KernelBytes, c.KernelPkts, c.Drops, c.DeliveredBytes, c.DeliveredPkts,
			e.b, e.f, tru.Bytes, tru.Frames, sB, sF, sBm)
		if 3*sB >= bytesTolerance || 3*sF >= bytesTolerance {
			t.Errorf("%s: the traffic was too small for the +-%.0f%% check (3 sigma = %.1f%% bytes, %.1f%% frames): %s",
				name, 100*bytesTolerance, 300*sB, 300*sF, strings.Join(tru.Parts, ", "))
		}
		if math.Abs(dB) > 100*bytesTolerance {
			t.Errorf("%s: estimated %d bytes, OVS processed %.0f (%+.1f%% = %+.1f sigma, tolerance +-%.0f%%); kernel %d B, OVS receive drops %d, model %.0f B",
				name, e.ipB, procB, dB, dB/100/sB, 100*bytesTolerance, c.KernelBytes, c.Drops, tru.Bytes)
		}
		if math.Abs(dF) > 100*bytesTolerance {
			t.Errorf("%s: estimated %d frames, OVS processed %.0f (%+.1f%% = %+.1f sigma, tolerance +-%.0f%%); kernel %d, OVS receive drops %d, model %.0f",
				name, e.ipF, procF, dF, dF/100/sF, 100*bytesTolerance, c.KernelPkts, c.Drops, tru.Frames)
		}
	}
}

// isND: an ICMPv6 neighbour discovery record (router/neighbour solicitation/advertisement,
// redirect).
func isND(f *FlowRec) bool {
	return f.Transport == "ipv6-icmp" && f.ICMPType >= 133 && f.ICMPType <= 137
}

// checkSequences: no datagram lost, by the collector's own count and by the sequence numbers.
func checkSequences(t *testing.T, out *Output, sums []AgentSummary) {
	checkSequencesOf(t, out, sums, AgentKey{"127.0.0.1", 0})
}

// checkSequencesOf is checkSequences with the (sub-)agents that must have sent.
func checkSequencesOf(t *testing.T, out *Output, sums []AgentSummary, want ...AgentKey) {
	seqs := out.Sequences()
	if len(sums) == 0 {
		t.Errorf(`no "agent summary" line in the collector log`)
	}
	seen := map[AgentKey]bool{}
	for _, s := range sums {
		k := AgentKey{s.Agent, s.SubAgent}
		if seen[k] {
			t.Errorf("agent summary for %s logged twice", k)
		}
		seen[k] = true
		t.Logf("agent summary %s: datagrams=%d samples=%d lost=%d decode_errors=%d", k, s.Datagrams, s.Samples, s.Lost, s.DecodeErrors)
		if s.Lost != 0 {
			t.Errorf("agent %s: collector counted %d lost datagrams", k, s.Lost)
		}
		if s.DecodeErrors != 0 {
			t.Errorf("agent %s: %d decode errors", k, s.DecodeErrors)
		}
		if s.Datagrams <= 0 || s.Samples <= 0 {
			t.Errorf("agent %s: no datagrams/samples counted", k)
		}
		if n := int64(len(seqs[k])); n != s.Datagrams {
			t.Errorf("agent %s: summary counts %d datagrams, the output has records from %d distinct sequence numbers", k, s.Datagrams, n)
		}
	}
	for _, w := range want {
		if !seen[w] && len(sums) > 0 {
			t.Errorf("no agent summary for %s", w)
		}
	}
	if len(seqs) == 0 {
		t.Fatalf("no record carries %s", fSequence)
	}
	for k, s := range seqs {
		missing, ranges := Gaps(s)
		t.Logf("sequence %s: %d datagrams, %d..%d, %d missing", k, len(s), s[0], s[len(s)-1], missing)
		if missing > 0 {
			t.Errorf("agent %s: %d datagram sequence numbers missing from the output: %s", k, missing, strings.Join(ranges, ", "))
		}
		// The collector listened before sFlow was configured and OVS starts each agent at 1.
		if s[0] != 1 {
			t.Errorf("agent %s: first sequence number in the output is %d, want 1", k, s[0])
		}
	}
	for _, w := range want {
		if _, ok := seqs[w]; seen[w] && !ok {
			t.Errorf("no records from agent %s", w)
		}
	}
}

// checkCounters: counter samples name every VM port and br-int, with matching ifIndex and
// OpenFlow port; datapath statistics are there.
func checkCounters(t *testing.T, l *Lab, out *Output) {
	if len(out.Counters) == 0 {
		t.Fatal("no counter records")
	}
	byName := map[string][]*CounterRec{}
	dp := 0
	for _, c := range out.Counters {
		if c.Datapath {
			dp++
			continue
		}
		byName[c.IfName] = append(byName[c.IfName], c)
	}
	var names []string
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	t.Logf("counter records: %d interface (names %v), %d datapath", len(out.Counters)-dp, names, dp)
	for _, v := range l.VMs {
		cs := byName[v.HostIf]
		if len(cs) == 0 {
			t.Errorf("no counter record named %s (%s's port)", v.HostIf, v)
			continue
		}
		var maxIn int64
		for _, c := range cs {
			if c.IfIndex != int64(v.HostIfIndex) {
				t.Errorf("counter %s: %s %d, want ifindex %d", v.HostIf, fIfIndex, c.IfIndex, v.HostIfIndex)
				break
			}
			if c.OFPort != int64(v.OFPort) {
				t.Errorf("counter %s: %s %d, want ofport %d", v.HostIf, fIfOFPort, c.OFPort, v.OFPort)
				break
			}
			maxIn = max(maxIn, c.InOctets)
		}
		if maxIn <= 0 {
			t.Errorf("counter %s: %s never > 0 although the VM sent traffic", v.HostIf, fIfInOctets)
		}
	}
	if cs := byName[bridge]; len(cs) == 0 {
		t.Errorf("no counter record named %s", bridge)
	} else if cs[0].OFPort != 65534 {
		t.Errorf("counter %s: %s %d, want 65534 (OFPP_LOCAL)", bridge, fIfOFPort, cs[0].OFPort)
	}
	if dp == 0 {
		t.Errorf("no datapath statistics record (%s)", fDPHits)
	} else {
		var hits int64
		for _, c := range out.Counters {
			if c.Datapath {
				hits = max(hits, c.DPHits)
			}
		}
		if hits <= 0 {
			t.Errorf("datapath hits never > 0")
		}
	}
}
