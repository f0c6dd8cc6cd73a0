//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
)

// checkObservation (issue 12, count once; docs/openstack.md "Counting each packet once"): every
// flow record says whether it is the packet's first observation. On this one hypervisor every
// packet is sampled exactly once -- on the bridge it entered, never again after the patch
// ports -- so every sample of a packet a VM sent is its first observation, at point `port`:
//   - vm1..vm5 (veths on br-int): sampled with input ifIndex = the VM's port ("entered from the
//     sending port's own interface");
//   - vm6 (an internal port moved into a namespace, on br-ex): sampled on br-ex with input
//     ifIndex 0, its Interface having ifindex 0 in OVSDB ("a port plugged here without an
//     ifindex (router and DHCP ports in their namespaces report input 0)").
//
// NetFlow v9 / IPFIX records (softflowd) must carry the field too.
func checkObservation(t *testing.T, l *Lab, out *Output) {
	var p Problems
	byMAC := map[string]*VM{}
	for _, v := range l.allVMs() {
		byMAC[ecsMAC(v.MAC)] = v
	}
	tally := map[string]int{}
	perVM := map[*VM]map[string]int{}
	others := 0
	for _, f := range out.Flows {
		first, has := f.Raw.Bool(fObsFirst, &p)
		point, _ := f.Raw.Str(fObsPoint, &p)
		if !has {
			p.Add("flow record without "+fObsFirst, f)
			continue
		}
		v := byMAC[f.SrcMAC]
		src := "other source"
		if v != nil {
			src = "VM"
		}
		got := fmt.Sprintf("first=%v point=%q", first, point)
		tally[fmt.Sprintf("sub-agent %d, %s, ingress %s: %s", f.SubID, src, f.In.Format, got)]++
		if v == nil {
			if others++; others <= 5 {
				t.Logf("observation: a sample from no VM: sub-agent %d, ingress %s %q (%s), %s -> %s, %s %s %s -> %s, %s",
					f.SubID, f.In.Format, f.In.ID, f.In.Name, f.SrcMAC, f.DstMAC, f.Type, f.Transport, f.SrcIP, f.DstIP, got)
			}
			continue
		}
		if perVM[v] == nil {
			perVM[v] = map[string]int{}
		}
		perVM[v][got]++
		fromPort := f.In.Format == "single" && f.In.ID == strconv.Itoa(v.HostIfIndex)
		if v.Internal {
			// OVS knows no ifindex for it: input 0 ("unknown" in flowlens)
			fromPort = f.In.Format == "unknown" && f.In.ID == ""
		}
		switch {
		case !fromPort:
			p.Add(fmt.Sprintf("a sample of what %s sent, not from its port (ingress %s %q): OVS samples a packet only where it entered", v, f.In.Format, f.In.ID), f)
		case !first || point != "port":
			what := "entered from its own port (ifIndex " + strconv.Itoa(v.HostIfIndex) + ")"
			if v.Internal {
				what = fmt.Sprintf("entered from its own port, an internal port moved into a namespace on %s, which OVS samples with input ifIndex 0 (OVSDB ifindex 0): \"a port plugged here without an ifindex\"", v.Bridge)
			}
			p.Add(fmt.Sprintf("%s's sample is %s, want first=true point=\"port\": it is the packet's only sample, it %s", v, got, what), f)
		}
	}
	var keys []string
	for k := range tally {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Logf("observation: %6d records %s", tally[k], k)
	}
	for _, v := range l.allVMs() {
		t.Logf("observation: %s (%s on %s): %v", v, v.HostIf, v.Bridge, perVM[v])
		if len(perVM[v]) == 0 {
			t.Errorf("no flow record from %s's MAC", v)
		}
	}
	nfWith := 0
	nf := map[string]int{}
	for _, f := range out.NetFlows {
		if first, has := f.Raw.Bool(fObsFirst, &p); has {
			nfWith++
			point, _ := f.Raw.Str(fObsPoint, &p)
			nf[fmt.Sprintf("%s first=%v point=%q", f.Input, first, point)]++
		} else {
			p.Add(fmt.Sprintf("%s record without %s", f.Input, fObsFirst), f)
		}
	}
	t.Logf("observation: %d of %d NetFlow/IPFIX records carry %s: %v", nfWith, len(out.NetFlows), fObsFirst, nf)
	p.Report(t.Errorf)
}
