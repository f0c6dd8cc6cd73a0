//go:build e2e

package e2e

// Assertions of TestTwoHypervisors.
//
// Where Open vSwitch samples a packet (measured here, OVS 3.1, userspace datapath): only on the
// bridge the packet ENTERED, never again after a patch port or an encapsulation inside one
// ovs-vswitchd. So a VM -> VM packet between the two hypervisors is sampled
//   - on the sender's br-int (entered from the VM's port): the first observation;
//   - on the receiver's br-phy as the VXLAN packet from the underlay (outer header, inner
//     packet): a repeat, "tunnel";
//   - on the receiver's br-tun after decapsulation (entered from the VXLAN port, input
//     ifIndex unknown): a repeat, "forwarded";
//   - never on the sender's br-tun/br-phy (entered through patch-int / by tnl_push) nor on the
//     receiver's br-int (entered through patch-tun).
// A same-host packet is sampled once, on br-int.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// Summing every observation of a cross-host packet (br-int at the sender, br-tun at the
	// receiver; the br-phy samples carry outer addresses) estimates twice the traffic.
	allRatioMin, allRatioMax = 1.7, 2.3
	vxlanOverhead            = 14 + 20 + 8 + 8 // outer Ethernet + IPv4 + UDP + VXLAN
)

// bridgeSubAgents maps each (agent, sub-agent) to the bridge it exports: OVS numbers the
// sub-agents of one host's bridges in no fixed order, but each bridge's counter samples include
// its own port, named after the bridge.
func bridgeSubAgents(t *testing.T, tl *TwoHV, out *Output) map[AgentKey]string {
	m := map[AgentKey]string{}
	for _, c := range out.Counters {
		switch c.IfName {
		case bridge, tunBridge, phyBridge:
			k := AgentKey{c.Agent, c.SubID}
			if old, ok := m[k]; ok && old != c.IfName {
				t.Errorf("sub-agent %s has counter samples of %s and %s", k, old, c.IfName)
			}
			m[k] = c.IfName
		}
	}
	return m
}

func checkBridges(t *testing.T, tl *TwoHV, bridges map[AgentKey]string) {
	var keys []AgentKey
	for k := range bridges {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b AgentKey) int {
		if c := strings.Compare(a.Agent, b.Agent); c != 0 {
			return c
		}
		return int(a.SubID - b.SubID)
	})
	var desc []string
	for _, k := range keys {
		desc = append(desc, fmt.Sprintf("%s=%s", k, bridges[k]))
	}
	t.Logf("sub-agents: %s", strings.Join(desc, " "))
	for _, h := range tl.HVs {
		for _, br := range []string{bridge, tunBridge, phyBridge} {
			n := 0
			for k, b := range bridges {
				if k.Agent == h.MgmtIP.String() && b == br {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s (agent %s): %d sub-agents export %s, want 1", h, h.MgmtIP, n, br)
			}
		}
	}
	if len(bridges) != 3*len(tl.HVs) {
		t.Errorf("%d sub-agents, want %d (3 bridges x %d hypervisors)", len(bridges), 3*len(tl.HVs), len(tl.HVs))
	}
}

// obsRec is one sampled VM -> VM IP packet (source and destination addresses are two VMs').
type obsRec struct {
	f      *FlowRec
	d      Dir
	hv     *Hypervisor // where it was sampled (by agent address)
	bridge string
	// where OVS must have sampled it: at the sender's br-int, entering from the VM's port
	// (first), or at the receiver's br-tun, entering from the tunnel (repeat)
	expFirst bool
	// the record's own flowlens.observation.* (after issue 12)
	hasFirst, first bool
	point           string
}

type twoHVObs struct {
	recs   []obsRec
	tunnel []*FlowRec // samples with a VXLAN header (br-phy)
	byHV   map[string]*Hypervisor
	// flow records with and without flowlens.observation.first, and the points seen
	withField, withoutField int
	points                  map[string]int
	// idFirst: bytes of IP records with first observation true, by the ports they are
	// attributed to (as the console and the aggregated outputs count), whatever their addresses
	idFirst map[Dir]int64
	// idAll: the same for every observation (VXLAN samples included: attributed by inner MACs)
	idAll map[Dir]int64
}

// classifyTwoHV sorts the flow records into VM -> VM observations and tunnel samples, and
// notes records sampled where OVS does not sample a VM -> VM packet.
func classifyTwoHV(l *Lab, tl *TwoHV, bridges map[AgentKey]string, out *Output, p *Problems) *twoHVObs {
	o := &twoHVObs{byHV: map[string]*Hypervisor{}, points: map[string]int{}, idFirst: map[Dir]int64{}, idAll: map[Dir]int64{}}
	for _, h := range tl.HVs {
		o.byHV[h.MgmtIP.String()] = h
	}
	ix := indexVMs(l)
	byPort := map[string]int{}
	for i, v := range l.VMs {
		byPort[v.PortID] = i
	}
	for _, f := range out.Flows {
		first, has := f.Raw.Bool(fObsFirst, p)
		point, _ := f.Raw.Str(fObsPoint, p)
		if has {
			o.withField++
			o.points[fmt.Sprintf("first=%v point=%q", first, point)]++
			if f.Type == "ipv4" || f.Type == "ipv6" {
				sp, _ := f.Raw.Str(fSrcPortID, p)
				dp, _ := f.Raw.Str(fDstPortID, p)
				a, okA := byPort[sp]
				b, okB := byPort[dp]
				if okA && okB && a != b {
					o.idAll[Dir{a, b}] += f.Bytes
					if first {
						o.idFirst[Dir{a, b}] += f.Bytes
					}
				}
			}
		} else {
			o.withoutField++
		}
		h := o.byHV[f.Agent]
		if h == nil {
			p.Add(fmt.Sprintf("flow from agent %s: not a hypervisor's sFlow agent address", f.Agent), f)
			continue
		}
		if f.Rate != samplingRate {
			p.Add(fmt.Sprintf("%s = %d, want %d", fSampling, f.Rate, samplingRate), f)
		}
		if tt, ok := f.Raw.Str(fTunType, p); ok && tt != "" {
			o.tunnel = append(o.tunnel, f)
			continue
		}
		if f.Type != "ipv4" && f.Type != "ipv6" {
			continue
		}
		d, ok := ix.between(f)
		if !ok {
			continue
		}
		a, b := l.VMs[d.From], l.VMs[d.To]
		r := obsRec{f: f, d: d, hv: h, bridge: bridges[AgentKey{f.Agent, f.SubID}], hasFirst: has, first: first, point: point}
		switch {
		case r.bridge == bridge && h == a.HV && f.In.Format == "single" && f.In.ID == strconv.Itoa(a.HostIfIndex):
			r.expFirst = true
		case r.bridge == tunBridge && h == b.HV && a.HV != b.HV && f.In.Format != "single":
		default:
			p.Add(fmt.Sprintf("%s -> %s (%s -> %s) sampled on %s %s (ingress %s %s): OVS samples a VM -> VM packet only on the sender's br-int (from the VM port) and the receiver's br-tun (from the tunnel)",
				a, b, a.HV, b.HV, h, r.bridge, f.In.Format, f.In.ID), f)
			continue
		}
		o.recs = append(o.recs, r)
	}
	return o
}

// checkObservationPoints: cross-host pairs are sampled at both points, same-host pairs once.
func checkObservationPoints(t *testing.T, l *Lab, o *twoHVObs) {
	type cnt struct{ first, repeat int }
	per := map[Dir]*cnt{}
	for _, r := range o.recs {
		if per[r.d] == nil {
			per[r.d] = &cnt{}
		}
		if r.expFirst {
			per[r.d].first++
		} else {
			per[r.d].repeat++
		}
	}
	var dirs []Dir
	for d := range per {
		dirs = append(dirs, d)
	}
	slices.SortFunc(dirs, func(x, y Dir) int { return x.From*100 + x.To - y.From*100 - y.To })
	for _, d := range dirs {
		a, b := l.VMs[d.From], l.VMs[d.To]
		c := per[d]
		t.Logf("%s -> %s (%s -> %s): %d samples on %s's br-int (from the VM port), %d on %s's br-tun (from the tunnel)",
			a, b, a.HV, b.HV, c.first, a.HV, c.repeat, b.HV)
		if c.first == 0 {
			t.Errorf("%s -> %s: no sample on %s's br-int", a, b, a.HV)
		}
		if cross := a.HV != b.HV; cross && c.repeat == 0 {
			t.Errorf("%s -> %s: cross-host, but no sample on %s's br-tun", a, b, b.HV)
		}
	}
	t.Logf("%d tunnel (VXLAN) samples", len(o.tunnel))
	if len(o.tunnel) == 0 {
		t.Errorf("no sample with a VXLAN header (br-phy of the receiving hypervisor)")
	}
}

// pairSums are the estimated bytes and packets of one ordered VM pair.
type pairSums struct {
	onceB, allB, fieldFirstB, idFirstB int64
	onceP, allP                        int64
}

// checkBytesTwoHV compares the per-pair estimates with what the generators sent, counting
// each packet at its first observation (the sender's br-int samples, chosen by where they were
// sampled, independent of flowlens's observation field), and at every observation.
func checkBytesTwoHV(t *testing.T, l *Lab, tr *Traffic, o *twoHVObs) {
	sums := map[Dir]*pairSums{}
	for _, r := range o.recs {
		s := sums[r.d]
		if s == nil {
			s = &pairSums{}
			sums[r.d] = s
		}
		s.allB += r.f.Bytes
		s.allP += r.f.Packets
		if r.expFirst {
			s.onceB += r.f.Bytes
			s.onceP += r.f.Packets
		}
	}
	t.Logf("%-8s %-10s %12s %12s %8s %8s %12s %7s %10s %10s", "pair", "where", "generated B", "once B", "diff", "3 sigma", "all B", "all/gen", "gen frames", "once frms")
	for _, d := range tr.dirs() {
		tru := tr.Truth[d]
		s := sums[d]
		if s == nil {
			s = &pairSums{}
		}
		a, b := l.VMs[d.From], l.VMs[d.To]
		name := fmt.Sprintf("%s->%s", a, b)
		where := "same-host"
		if a.HV != b.HV {
			where = "cross"
		}
		diff := (float64(s.onceB) - tru.Bytes) / tru.Bytes
		ratio := float64(s.allB) / tru.Bytes
		sigma := tru.RelSE()
		t.Logf("%-8s %-10s %12.0f %12d %+7.1f%% %7.1f%% %12d %7.3f %10.0f %10d", name, where, tru.Bytes, s.onceB, 100*diff, 300*sigma, s.allB, ratio, tru.Frames, s.onceP)
		if 3*sigma >= bytesTolerance {
			t.Errorf("%s: the traffic was too small for the +-%.0f%% check (3 sigma = %.1f%%): %s",
				name, 100*bytesTolerance, 300*sigma, strings.Join(tru.Parts, ", "))
		}
		if math.Abs(diff) > bytesTolerance {
			t.Errorf("%s (%s): counted once (first observations), estimated %d bytes, generated %.0f (%+.1f%%, tolerance +-%.0f%%, sigma %.1f%%)",
				name, where, s.onceB, tru.Bytes, 100*diff, 100*bytesTolerance, 100*sigma)
		}
		if a.HV != b.HV {
			// two independent samplings of the same packets: all/generated = 2 +- sqrt(2) sigma
			if 2+3*math.Sqrt2*sigma > allRatioMax {
				t.Errorf("%s: the traffic was too small for the all-observations ratio check", name)
			}
			if ratio < allRatioMin || ratio > allRatioMax {
				t.Errorf("%s (cross-host): every observation summed estimates %.3f x the generated bytes, want %.1f-%.1f (sent once, sampled on two bridges)",
					name, ratio, allRatioMin, allRatioMax)
			}
		} else if s.allB != s.onceB {
			t.Errorf("%s (same host): every observation %d bytes, first observations %d: a same-host packet is sampled once", name, s.allB, s.onceB)
		}
	}
}

// checkCountOnce: flowlens's own observation field (issue 12) says first exactly where OVS
// sampled the packet as it entered from the VM, and counting only first observations -- by
// addresses and by attributed ports -- estimates each pair's traffic once.
func checkCountOnce(t *testing.T, l *Lab, tr *Traffic, o *twoHVObs) {
	var pts []string
	for k, n := range o.points {
		pts = append(pts, fmt.Sprintf("%s: %d", k, n))
	}
	slices.Sort(pts)
	t.Logf("flow records with %s: %d, without: %d; %s", fObsFirst, o.withField, o.withoutField, strings.Join(pts, ", "))
	if o.withField == 0 {
		t.Fatalf("no flow record carries %s: the collector predates the count-once rule (issue 12, /work/notes/contract.md)", fObsFirst)
	}
	if o.withoutField > 0 {
		t.Errorf("%d flow records without %s (it is on every flow record)", o.withoutField, fObsFirst)
	}
	var p Problems
	sums := map[Dir]*pairSums{}
	for _, r := range o.recs {
		a, b := l.VMs[r.d.From], l.VMs[r.d.To]
		if r.first != r.expFirst {
			p.Add(fmt.Sprintf("%s -> %s sampled on %s %s (ingress %s): %s = %v, want %v", a, b, r.hv, r.bridge, r.f.In.Format, fObsFirst, r.first, r.expFirst), r.f)
		}
		wantPoint := "forwarded"
		if r.expFirst {
			wantPoint = "port"
		}
		if r.point != wantPoint {
			p.Add(fmt.Sprintf("%s -> %s sampled on %s %s: %s = %q, want %q", a, b, r.hv, r.bridge, fObsPoint, r.point, wantPoint), r.f)
		}
		s := sums[r.d]
		if s == nil {
			s = &pairSums{}
			sums[r.d] = s
		}
		s.allB += r.f.Bytes
		if r.first {
			s.fieldFirstB += r.f.Bytes
		}
	}
	for _, f := range o.tunnel {
		first, _ := f.Raw.Bool(fObsFirst, &p)
		point, _ := f.Raw.Str(fObsPoint, &p)
		if first || point != "tunnel" {
			p.Add(fmt.Sprintf("VXLAN sample (outer %s -> %s): %s = %v, %s = %q; want false, \"tunnel\"", f.SrcIP, f.DstIP, fObsFirst, first, fObsPoint, point), f)
		}
	}
	p.Report(t.Errorf)
	t.Logf("%-8s %-10s %12s %12s %8s %12s %8s %12s %7s %12s %7s", "pair", "where", "generated B", "first B", "diff", "by port B", "diff", "all B", "all/gen", "all port B", "/gen")
	for _, d := range tr.dirs() {
		tru := tr.Truth[d]
		s := sums[d]
		if s == nil {
			s = &pairSums{}
		}
		s.idFirstB = o.idFirst[d]
		a, b := l.VMs[d.From], l.VMs[d.To]
		name := fmt.Sprintf("%s->%s", a, b)
		where := "same-host"
		if a.HV != b.HV {
			where = "cross"
		}
		diff := (float64(s.fieldFirstB) - tru.Bytes) / tru.Bytes
		idDiff := (float64(s.idFirstB) - tru.Bytes) / tru.Bytes
		ratio := float64(s.allB) / tru.Bytes
		t.Logf("%-8s %-10s %12.0f %12d %+7.1f%% %12d %+7.1f%% %12d %7.3f %12d %7.3f", name, where, tru.Bytes, s.fieldFirstB, 100*diff,
			s.idFirstB, 100*idDiff, s.allB, ratio, o.idAll[d], float64(o.idAll[d])/tru.Bytes)
		if math.Abs(diff) > bytesTolerance {
			t.Errorf("%s (%s): records with %s=true estimate %d bytes, generated %.0f (%+.1f%%, tolerance +-%.0f%%, sigma %.1f%%)",
				name, where, fObsFirst, s.fieldFirstB, tru.Bytes, 100*diff, 100*bytesTolerance, 100*tru.RelSE())
		}
		if math.Abs(idDiff) > bytesTolerance {
			t.Errorf("%s (%s): first observations attributed to %s's and %s's ports estimate %d bytes, generated %.0f (%+.1f%%)",
				name, where, a, b, s.idFirstB, tru.Bytes, 100*idDiff)
		}
	}
}

// endOK says whether a record's src (or dst) identity is v's, with project and host.
func endOK(f *FlowRec, v *VM, src bool, p *Problems) (bool, string) {
	var id identity
	var project, host string
	if src {
		id = srcID(f, p)
		project, _ = f.Raw.Str(fSrcProjectID, p)
		host, _ = f.Raw.Str(fSrcHost, p)
	} else {
		id = dstID(f, p)
		project, _ = f.Raw.Str(fDstProjectID, p)
		host, _ = f.Raw.Str(fDstHost, p)
	}
	ok := id.is(v) && project == v.Net.ProjectID && host == v.HV.Host
	return ok, fmt.Sprintf("%s project %q host %q", id, project, host)
}

// checkAttributionTwoHV: every sampled packet sent by a VM is attributed to its port,
// instance, network, project and host, wherever it was sampled (its own hypervisor's br-int,
// or the other's br-tun); VM -> VM records are attributed on both ends, with relation
// same-host or cross-host.
func checkAttributionTwoHV(t *testing.T, l *Lab, tl *TwoHV, out *Output) {
	var p Problems
	byMAC := map[string]*VM{}
	for _, v := range l.VMs {
		byMAC[ecsMAC(v.MAC)] = v
	}
	var vmBytes, srcOK, both int64
	rels := map[string]int{}
	perVM := map[*VM]int64{}
	for _, f := range out.Flows {
		a := byMAC[f.SrcMAC]
		if a == nil {
			continue
		}
		vmBytes += f.Bytes
		ok, got := endOK(f, a, true, &p)
		if !ok {
			p.Add(fmt.Sprintf("flow from %s (%s) sampled by %s: source attributed to %s", a, a.HV, f.Agent, got), f)
			continue
		}
		srcOK += f.Bytes
		perVM[a] += f.Bytes
		b := byMAC[f.DstMAC]
		if b == nil {
			continue
		}
		rel, _ := f.Raw.Str(fRelation, &p)
		wantRel := "same-host"
		if a.HV != b.HV {
			wantRel = "cross-host"
		}
		rels[fmt.Sprintf("%s %s", f.Agent, rel)]++
		if ok, got := endOK(f, b, false, &p); !ok {
			p.Add(fmt.Sprintf("flow %s -> %s sampled by %s: destination attributed to %s", a, b, f.Agent, got), f)
			continue
		}
		if rel != wantRel {
			p.Add(fmt.Sprintf("flow %s (%s) -> %s (%s): relation %q, want %q", a, a.HV, b, b.HV, rel, wantRel), f)
			continue
		}
		both += f.Bytes
	}
	if vmBytes == 0 {
		t.Fatal("no flow from a VM's MAC")
	}
	t.Logf("attributed (port, instance, network, project, host) %d of %d sampled bytes from VMs (%.2f%%); VM -> VM bytes with both ends and relation: %d; relations by agent: %v",
		srcOK, vmBytes, 100*float64(srcOK)/float64(vmBytes), both, rels)
	if srcOK != vmBytes {
		t.Errorf("%.2f%% of VM bytes attributed, want 100%%", 100*float64(srcOK)/float64(vmBytes))
	}
	for _, v := range l.VMs {
		if perVM[v] == 0 {
			t.Errorf("no attributed bytes from %s", v)
		}
	}
	p.Report(t.Errorf)
}

// checkTunnel: the VXLAN samples (the receiver's br-phy) carry the tunnel endpoints as outer
// addresses, UDP port 4789, the network's VNI, and the two VMs as inner addresses and MACs;
// their outer bytes estimate the pair's frames plus 50 bytes each; the samples of cross-host
// packets on br-int (sender) and br-tun (receiver) carry OVS's tunnel structures with the
// endpoints and the VNI.
func checkTunnel(t *testing.T, l *Lab, tl *TwoHV, tr *Traffic, bridges map[AgentKey]string, out *Output) {
	var p Problems
	ix := indexVMs(l)
	byTunIP := map[netip.Addr]*Hypervisor{}
	byAgent := map[string]*Hypervisor{}
	for _, h := range tl.HVs {
		byTunIP[h.TunIP] = h
		byAgent[h.MgmtIP.String()] = h
	}
	addr := func(f *FlowRec, path string) netip.Addr { return addrField(f.Raw, path, &p) }
	vni := func(f *FlowRec, path string) int64 { n, _ := f.Raw.Int(path, &p); return n }
	est := map[Dir][2]int64{} // outer bytes, packets of VXLAN samples by inner pair
	var vx int
	// cross-host samples on the sender's br-int and the receiver's br-tun, by transport, and
	// how many of them carry OVS's tunnel structure
	egress, ingress := map[string][2]int{}, map[string][2]int{}
	egPorts, inPorts := map[int64]int{}, map[int64]int{}
	for _, f := range out.Flows {
		h := byAgent[f.Agent]
		br := bridges[AgentKey{f.Agent, f.SubID}]
		if tt, ok := f.Raw.Str(fTunType, &p); ok && tt != "" {
			vx++
			from, to := byTunIP[f.SrcIP], byTunIP[f.DstIP]
			if tt != "vxlan" || from == nil || to == nil || to != h || from == to || br != phyBridge ||
				f.Transport != "udp" || f.DstPort != vxlanPort {
				p.Add(fmt.Sprintf("tunnel sample on %s %s: %s %s %s:%d -> %s:%d; want vxlan from the other hypervisor's tunnel address to this one's, UDP port %d, on %s",
					h, br, tt, f.Transport, f.SrcIP, f.SrcPort, f.DstIP, f.DstPort, vxlanPort, phyBridge), f)
				continue
			}
			in := &FlowRec{SrcIP: addr(f, fInnerSrcIP), DstIP: addr(f, fInnerDstIP)}
			d, ok := ix.between(in)
			if !ok {
				continue // ARP, ND to multicast, ... inside the tunnel
			}
			a, b := l.VMs[d.From], l.VMs[d.To]
			smac, _ := f.Raw.Str(fInnerSrcMAC, &p)
			dmac, _ := f.Raw.Str(fInnerDstMAC, &p)
			if a.HV != from || b.HV != to || vni(f, fTunVNI) != int64(a.Net.SegmentID) || smac != ecsMAC(a.MAC) || dmac != ecsMAC(b.MAC) {
				p.Add(fmt.Sprintf("VXLAN sample %s -> %s, VNI %d, inner %s -> %s (%s -> %s): want %s -> %s, VNI %d (%s), MACs %s -> %s",
					from, to, vni(f, fTunVNI), in.SrcIP, in.DstIP, smac, dmac, a.HV, b.HV, a.Net.SegmentID, a.Net.Name, ecsMAC(a.MAC), ecsMAC(b.MAC)), f)
				continue
			}
			// attributed by the inner MACs (and the VNI), like the packet it carries
			okS, gotS := endOK(f, a, true, &p)
			okD, gotD := endOK(f, b, false, &p)
			rel, _ := f.Raw.Str(fRelation, &p)
			if !okS || !okD || rel != "cross-host" {
				p.Add(fmt.Sprintf("VXLAN sample of %s -> %s: source %s, destination %s, relation %q; want the inner VMs, cross-host", a, b, gotS, gotD, rel), f)
			}
			e := est[d]
			e[0] += f.Bytes
			e[1] += f.Packets
			est[d] = e
			continue
		}
		if f.Type != "ipv4" && f.Type != "ipv6" {
			continue
		}
		d, ok := ix.between(f)
		if !ok {
			continue
		}
		a, b := l.VMs[d.From], l.VMs[d.To]
		if a.HV == b.HV {
			continue
		}
		switch {
		case br == bridge && h == a.HV: // sender: the packet leaves through the tunnel
			n := egress[f.Transport]
			n[0]++
			port, ok := f.Raw.Int(fTunEgDstPort, &p)
			if ok {
				n[1]++
				egPorts[port]++
			}
			egress[f.Transport] = n
			if !ok {
				continue
			}
			if addr(f, fTunEgSrcIP) != a.HV.TunIP || addr(f, fTunEgDstIP) != b.HV.TunIP || vni(f, fTunEgVNI) != int64(a.Net.SegmentID) {
				p.Add(fmt.Sprintf("%s -> %s on %s br-int: tunnel_egress %v -> %v VNI %d, want %s -> %s VNI %d", a, b, h,
					addr(f, fTunEgSrcIP), addr(f, fTunEgDstIP), vni(f, fTunEgVNI), a.HV.TunIP, b.HV.TunIP, a.Net.SegmentID), f)
			}
		case br == tunBridge && h == b.HV: // receiver: the packet came out of the tunnel
			n := ingress[f.Transport]
			n[0]++
			port, ok := f.Raw.Int(fTunInDstPort, &p)
			if ok {
				n[1]++
				inPorts[port]++
			}
			ingress[f.Transport] = n
			if !ok {
				continue
			}
			if addr(f, fTunInSrcIP) != a.HV.TunIP || addr(f, fTunInDstIP) != b.HV.TunIP || vni(f, fTunInVNI) != int64(a.Net.SegmentID) {
				p.Add(fmt.Sprintf("%s -> %s on %s br-tun: tunnel_ingress %v -> %v VNI %d, want %s -> %s VNI %d", a, b, h,
					addr(f, fTunInSrcIP), addr(f, fTunInDstIP), vni(f, fTunInVNI), a.HV.TunIP, b.HV.TunIP, a.Net.SegmentID), f)
			}
		}
	}
	// Not every sample carries OVS's tunnel structures (seen: on the sender's br-int only ICMPv4
	// samples have tunnel_egress; on the receiver's br-tun nearly all have tunnel_ingress), so
	// they are checked where present, and must be present on some.
	// OVS 3.1 writes their UDP ports in network byte order into a host-order field
	// (ofproto-dpif-sflow.c, dpif_sflow_tunnel_v4): 4789 reads 46354 (0xb512) on x86: logged.
	t.Logf("%d VXLAN samples; cross-host samples [all, with tunnel_egress] on the sender's br-int by transport %v (destination ports %v); [all, with tunnel_ingress] on the receiver's br-tun %v (destination ports %v)",
		vx, egress, egPorts, ingress, inPorts)
	if len(egPorts) == 0 || len(inPorts) == 0 {
		t.Errorf("no cross-host sample with tunnel_egress (%v) or none with tunnel_ingress (%v)", egress, ingress)
	}
	t.Logf("%-8s %12s %12s %8s %8s", "pair", "model B", "VXLAN est B", "diff", "3 sigma")
	for _, d := range tr.dirs() {
		a, b := l.VMs[d.From], l.VMs[d.To]
		if a.HV == b.HV {
			continue
		}
		tru := tr.Truth[d]
		// each frame carries 50 more bytes in the underlay
		model := tru.Bytes + vxlanOverhead*tru.Frames
		sumSq := tru.SumSq + 2*vxlanOverhead*tru.Bytes + vxlanOverhead*vxlanOverhead*tru.Frames
		sigma := math.Sqrt(samplingRate*sumSq) / model
		e := est[d]
		diff := (float64(e[0]) - model) / model
		name := fmt.Sprintf("%s->%s", a, b)
		t.Logf("%-8s %12.0f %12d %+7.1f%% %7.1f%%", name, model, e[0], 100*diff, 300*sigma)
		if e[1] == 0 {
			t.Errorf("%s: no VXLAN sample on %s's br-phy", name, b.HV)
			continue
		}
		if math.Abs(diff) > bytesTolerance {
			t.Errorf("%s: VXLAN samples estimate %d outer bytes, model %.0f (frames + %d B each): %+.1f%%", name, e[0], model, vxlanOverhead, 100*diff)
		}
	}
	p.Report(t.Errorf)
}

// accuracyRow is a row of GET /api/v1/accuracy (issue 12 point 3; /work/notes/contract.md).
type accuracyRow struct {
	Agent           string   `json:"agent"`
	SubAgent        int64    `json:"sub_agent"`
	Index           int64    `json:"index"`
	Name            string   `json:"name"`
	Direction       string   `json:"direction"`
	EstimateBytes   float64  `json:"estimate_bytes"`
	CounterBytes    float64  `json:"counter_bytes"`
	EstimatePackets float64  `json:"estimate_packets"`
	CounterPackets  float64  `json:"counter_packets"`
	Samples         float64  `json:"samples"`
	DiffRatio       *float64 `json:"diff_ratio"`
	SigmaRatio      *float64 `json:"sigma_ratio"`
	DiffSigma       *float64 `json:"diff_sigma"`
	PacketsSigma    *float64 `json:"packets_sigma_ratio"`
	PacketsDiff     *float64 `json:"packets_diff_sigma"`
	Status          string   `json:"status"`
	Reason          string   `json:"reason"`
}

type accuracyReport struct {
	Ports []accuracyRow `json:"ports"`
}

// accuracyAnswer is what the collector answered to GET /api/v1/accuracy.
type accuracyAnswer struct {
	Absent bool   // 404: a collector without the endpoint
	Err    error  // no answer, or not the expected JSON
	Body   string // as received
	Report accuracyReport
}

// apiGet asks the running collector's HTTP API (console on 127.0.0.1:consolePort in the
// collector's namespace) through the test binary's "get" helper; absent: 404.
func (l *Lab) apiGet(tl *TwoHV, consolePort int, pathQuery string) (body string, absent bool, err error) {
	self, err := os.Executable()
	if err != nil {
		return "", false, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d%s", consolePort, pathQuery)
	out, err := l.runT(30*time.Second, "env", helperEnv+"=get", "FLOWLENS_E2E_URL="+url,
		"ip", "netns", "exec", tl.Col, self, "-test.run=^$")
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		return out, true, nil
	}
	return out, false, err
}

// queryAccuracy asks the running collector for its comparison of the sampled estimates with
// the ports' counters, over everything it has (kept as accuracy.json).
func (l *Lab) queryAccuracy(tl *TwoHV, consolePort int) *accuracyAnswer {
	out, absent, err := l.apiGet(tl, consolePort, "/api/v1/accuracy")
	_ = os.WriteFile(filepath.Join(l.Dir, "accuracy.json"), []byte(out), 0o644)
	a := &accuracyAnswer{Body: out, Absent: absent, Err: err}
	if !absent && err == nil {
		a.Err = json.Unmarshal([]byte(out), &a.Report)
	}
	return a
}

// checkAccuracy: for every VM port, what the samples say entered the bridge from it ("in")
// is within 3 sigma of what its counters say (status ok). The one exception, logged: packets
// the kernel dropped on ovs-vswitchd's receive socket for the port (drops, from ss) are in the
// counters but were never seen by OVS, so never sampled; an "off" port passes when its
// estimated packets lie within 3 sigma of [counters - drops, counters].
// "out" is logged only: a packet that arrives from the other hypervisor is sampled on br-tun
// (leaving through patch-int), never with this port as its output, so the out estimate of a
// port with cross-host traffic is short by design.
func checkAccuracy(t *testing.T, l *Lab, a *accuracyAnswer, drops map[string]int64) {
	if a.Absent {
		t.Skip("GET /api/v1/accuracy answers 404: this collector predates the accuracy endpoint (issue 12 point 3); nothing to check")
	}
	if a.Err != nil {
		t.Fatalf("GET /api/v1/accuracy: %v\n%s", a.Err, lastBytes(a.Body, 2000))
	}
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%+.3f", *p)
	}
	for _, v := range l.VMs {
		var in *accuracyRow
		for _, dir := range []string{"in", "out"} {
			var r *accuracyRow
			for i := range a.Report.Ports {
				p := &a.Report.Ports[i]
				if p.Agent == v.HV.MgmtIP.String() && p.Index == int64(v.HostIfIndex) && p.Direction == dir {
					r = p
				}
			}
			if r == nil {
				t.Logf("%s %s (%s ifindex %d) %s: no row", v, v.HostIf, v.HV, v.HostIfIndex, dir)
				continue
			}
			if dir == "in" {
				in = r
			}
			t.Logf("%s %s %-3s: estimate %.0f B / counters %.0f B (%s), sigma %s, %s sigma, %.0f samples: %s %s",
				v, r.Name, dir, r.EstimateBytes, r.CounterBytes, f(r.DiffRatio), f(r.SigmaRatio), f(r.DiffSigma), r.Samples, r.Status, r.Reason)
		}
		d := drops[v.HV.Name+"/"+v.HostIf]
		switch {
		case in == nil:
			t.Errorf("%s: no accuracy row for %s (agent %s, ifindex %d), direction in", v, v.HostIf, v.HV.MgmtIP, v.HostIfIndex)
		case in.Status == "ok" && in.DiffSigma != nil && math.Abs(*in.DiffSigma) <= 3:
		case d > 0 && in.PacketsSigma != nil && in.EstimatePackets >= in.CounterPackets-float64(d)-3**in.PacketsSigma*in.CounterPackets &&
			in.EstimatePackets <= in.CounterPackets+3**in.PacketsSigma*in.CounterPackets:
			t.Logf("%s: in-estimate %.0f packets vs counters %.0f (%s sigma, %q), explained by %d packets ovs-vswitchd's socket dropped on %s: within 3 sigma of [counters - drops, counters]",
				v, in.EstimatePackets, in.CounterPackets, f(in.PacketsDiff), in.Status, d, v.HostIf)
		default:
			t.Errorf("%s (%s on %s): in-estimate %.0f B vs counters %.0f B, %s sigma (packets %.0f vs %.0f, %s sigma; %d dropped by ovs-vswitchd's socket), status %q (%s); want within 3 sigma, ok",
				v, v.HostIf, v.HV, in.EstimateBytes, in.CounterBytes, f(in.DiffSigma), in.EstimatePackets, in.CounterPackets, f(in.PacketsDiff), d, in.Status, in.Reason)
		}
	}
}

// topAnswer is the part of GET /api/v1/top's answer used here.
type topAnswer struct {
	Observations string `json:"observations"`
	Rows         []struct {
		Key     map[string]string `json:"key"`
		Bytes   int64             `json:"bytes"`
		Packets int64             `json:"packets"`
	} `json:"rows"`
	Total struct {
		Bytes int64 `json:"bytes"`
	} `json:"total"`
}

// apiTops are the console's answers, per VM pair, by addresses and by instances, counting
// first observations and every observation.
type apiTops struct {
	Err  error
	Byte map[string]map[Dir]int64 // "ip first", "ip all", "vm first", "vm all" -> pair -> bytes
	Obs  map[string]string        // the answers' "observations"
}

// queryTops asks the collector's API, as the console does, for the bytes between VM pairs
// over the whole run: top by src_ip,dst_ip and by src_vm,dst_vm, with observations=first (the
// default, left out) and observations=all.
func (l *Lab) queryTops(tl *TwoHV, consolePort int, from time.Time) *apiTops {
	a := &apiTops{Byte: map[string]map[Dir]int64{}, Obs: map[string]string{}}
	byIP, byName := map[string]int{}, map[string]int{}
	for i, v := range l.VMs {
		byIP[v.IPv4.String()], byIP[v.IPv6.String()], byName[v.Name] = i, i, i
	}
	for _, q := range []struct{ name, by, obs string }{
		{"ip first", "src_ip,dst_ip", ""}, {"ip all", "src_ip,dst_ip", "&observations=all"},
		{"vm first", "src_vm,dst_vm", ""}, {"vm all", "src_vm,dst_vm", "&observations=all"},
	} {
		path := fmt.Sprintf("/api/v1/top?by=%s&limit=1000&from=%d&to=now%s", q.by, from.Unix(), q.obs)
		out, absent, err := l.apiGet(tl, consolePort, path)
		_ = os.WriteFile(filepath.Join(l.Dir, "api-top-"+strings.ReplaceAll(q.name, " ", "-")+".json"), []byte(out), 0o644)
		if absent || err != nil {
			a.Err = fmt.Errorf("GET %s: absent %v, %v: %s", path, absent, err, lastBytes(out, 500))
			return a
		}
		var ans topAnswer
		if err := json.Unmarshal([]byte(out), &ans); err != nil {
			a.Err = fmt.Errorf("GET %s: %v: %s", path, err, lastBytes(out, 500))
			return a
		}
		a.Obs[q.name] = ans.Observations
		m := map[Dir]int64{}
		src, dst := strings.Split(q.by, ",")[0], strings.Split(q.by, ",")[1]
		for _, r := range ans.Rows {
			look := byIP
			if src == "src_vm" {
				look = byName
			}
			i, okA := look[r.Key[src]]
			j, okB := look[r.Key[dst]]
			if okA && okB && i != j {
				m[Dir{i, j}] += r.Bytes
			}
		}
		a.Byte[q.name] = m
	}
	return a
}

// checkAPICountOnce: the console's API counts first observations by default and every
// observation with observations=all: per VM pair, by addresses and by instances, first is the
// pair's traffic (+-25 %) and the same bytes as the NDJSON records with first == true; by
// addresses, all is 2x for cross-host pairs (br-int + br-tun; the VXLAN samples carry outer
// addresses) and the same as first for same-host ones; by instance, all also counts the VXLAN
// samples (attributed to the inner VMs): logged.
func checkAPICountOnce(t *testing.T, l *Lab, tr *Traffic, o *twoHVObs, a *apiTops) {
	if a.Err != nil {
		t.Fatal(a.Err)
	}
	for k, want := range map[string]string{"ip first": "first", "vm first": "first", "ip all": "all", "vm all": "all"} {
		if a.Obs[k] != want {
			t.Errorf("top (%s): the answer says observations %q, want %q", k, a.Obs[k], want)
		}
	}
	ndFirst := map[Dir]int64{}
	for _, r := range o.recs {
		if r.first {
			ndFirst[r.d] += r.f.Bytes
		}
	}
	t.Logf("%-8s %-10s %12s %12s %8s %12s %7s %12s %8s %12s %7s", "pair", "where", "generated B", "ip first", "diff", "ip all", "/gen", "vm first", "diff", "vm all", "/gen")
	for _, d := range tr.dirs() {
		tru := tr.Truth[d]
		a2, b := l.VMs[d.From], l.VMs[d.To]
		name := fmt.Sprintf("%s->%s", a2, b)
		where := "same-host"
		if a2.HV != b.HV {
			where = "cross"
		}
		ipF, ipA, vmF, vmA := a.Byte["ip first"][d], a.Byte["ip all"][d], a.Byte["vm first"][d], a.Byte["vm all"][d]
		rel := func(x int64) float64 { return (float64(x) - tru.Bytes) / tru.Bytes }
		t.Logf("%-8s %-10s %12.0f %12d %+7.1f%% %12d %7.3f %12d %+7.1f%% %12d %7.3f", name, where, tru.Bytes,
			ipF, 100*rel(ipF), ipA, float64(ipA)/tru.Bytes, vmF, 100*rel(vmF), vmA, float64(vmA)/tru.Bytes)
		for _, c := range []struct {
			what string
			v    int64
		}{{"by addresses", ipF}, {"by instances", vmF}} {
			if math.Abs(rel(c.v)) > bytesTolerance {
				t.Errorf("%s (%s): the API's first observations %s: %d bytes, generated %.0f (%+.1f%%, tolerance +-%.0f%%)",
					name, where, c.what, c.v, tru.Bytes, 100*rel(c.v), 100*bytesTolerance)
			}
		}
		// The store sums the same records as the NDJSON (no sampling in between).
		if nd := ndFirst[d]; math.Abs(float64(ipF-nd)) > 0.005*float64(nd) {
			t.Errorf("%s: the API's first observations by addresses %d bytes, the NDJSON's %d", name, ipF, nd)
		}
		if a2.HV != b.HV {
			if r := float64(ipA) / tru.Bytes; r < allRatioMin || r > allRatioMax {
				t.Errorf("%s (cross-host): observations=all by addresses %.3f x the generated bytes, want %.1f-%.1f", name, r, allRatioMin, allRatioMax)
			}
		} else if ipA != ipF {
			t.Errorf("%s (same host): observations=all %d bytes, first %d; want equal", name, ipA, ipF)
		}
	}
}
