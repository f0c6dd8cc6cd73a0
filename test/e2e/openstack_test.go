//go:build e2e

package e2e

import (
	"fmt"
	"testing"
)

// Record fields of OpenStack attribution (docs/fields.md).
const (
	fSrcPortID     = "flowlens.src.port.id"
	fSrcInstanceID = "flowlens.src.instance.id"
	fSrcNetworkID  = "flowlens.src.network.id"
	fDstPortID     = "flowlens.dst.port.id"
	fDstInstanceID = "flowlens.dst.instance.id"
	fDstNetworkID  = "flowlens.dst.network.id"
	fRelation      = "flowlens.relation"
	fSrcProjectID  = "flowlens.src.project.id"
	fDstProjectID  = "flowlens.dst.project.id"
	fSrcHost       = "flowlens.src.host"
	fDstHost       = "flowlens.dst.host"
)

// identity is what a record says about one end.
type identity struct{ port, instance, network string }

func (id identity) is(v *VM) bool {
	return id.port == v.PortID && id.instance == v.InstanceID && id.network == v.Net.ID
}

func (id identity) String() string {
	return fmt.Sprintf("port %q instance %q network %q", id.port, id.instance, id.network)
}

func srcID(f *FlowRec, p *Problems) identity {
	var id identity
	id.port, _ = f.Raw.Str(fSrcPortID, p)
	id.instance, _ = f.Raw.Str(fSrcInstanceID, p)
	id.network, _ = f.Raw.Str(fSrcNetworkID, p)
	return id
}

func dstID(f *FlowRec, p *Problems) identity {
	var id identity
	id.port, _ = f.Raw.Str(fDstPortID, p)
	id.instance, _ = f.Raw.Str(fDstInstanceID, p)
	id.network, _ = f.Raw.Str(fDstNetworkID, p)
	return id
}

// allVMs: the traffic plan's VMs and the attribution cases'.
func (l *Lab) allVMs() []*VM {
	return append(append([]*VM{}, l.VMs...), l.VM4, l.VM5, l.VM6)
}

// checkOpenStack: every sampled byte sent by a VM port is attributed to that VM's Neutron port,
// instance and network, as os-vif and the ML2/OVS agent labelled them in OVSDB; VM-to-VM flows
// on this one hypervisor are same-host. Then the two hard cases, explicitly.
func checkOpenStack(t *testing.T, l *Lab, out *Output) {
	t.Run("all-vm-bytes", func(t *testing.T) { checkAllVMBytes(t, l, out) })
	t.Run("same-ip-two-networks", func(t *testing.T) { checkSameIP(t, l, out) })
	t.Run("patch-port", func(t *testing.T) { checkPatchPort(t, l, out) })
}

func checkAllVMBytes(t *testing.T, l *Lab, out *Output) {
	var p Problems
	byMAC := map[string]*VM{}
	for _, v := range l.allVMs() {
		byMAC[ecsMAC(v.MAC)] = v
	}
	var vmBytes, attributed int64
	sameHost := 0
	perVM := map[*VM]int64{}
	for _, f := range out.Flows {
		v := byMAC[f.SrcMAC]
		if v == nil {
			continue
		}
		vmBytes += f.Bytes
		if id := srcID(f, &p); !id.is(v) {
			p.Add("flow from "+v.Name+" not attributed to its port/instance/network", f)
			continue
		}
		attributed += f.Bytes
		perVM[v] += f.Bytes
		if d := byMAC[f.DstMAC]; d != nil {
			dport, _ := f.Raw.Str(fDstPortID, &p)
			rel, _ := f.Raw.Str(fRelation, &p)
			if dport != d.PortID || rel != "same-host" {
				p.Add("VM-to-VM flow without destination port or same-host relation", f)
			} else {
				sameHost++
			}
		}
	}
	if vmBytes == 0 {
		t.Fatal("no flow from a VM port")
	}
	t.Logf("attributed %d of %d sampled bytes from VM ports (%.2f%%); %d VM-to-VM flows same-host",
		attributed, vmBytes, 100*float64(attributed)/float64(vmBytes), sameHost)
	if attributed != vmBytes {
		t.Errorf("%.2f%% of VM bytes attributed, want 100%%", 100*float64(attributed)/float64(vmBytes))
	}
	for _, v := range l.allVMs() {
		if perVM[v] == 0 {
			t.Errorf("no attributed bytes from %s", v)
		}
	}
	p.Report(t.Errorf)
}

// checkSameIP: vm1 and vm4 both have 10.77.0.11, on two networks (two net_uuids, two local
// VLANs). Flows from each carry its own port, instance and network, never the other's, and the
// flows to each are attributed to it too.
func checkSameIP(t *testing.T, l *Lab, out *Output) {
	var p Problems
	vm1, vm4, vm5 := l.VMs[0], l.VM4, l.VM5
	if vm1.IPv4 != vm4.IPv4 || vm1.Net.ID == vm4.Net.ID || vm1.Net.LocalVLAN == vm4.Net.LocalVLAN {
		t.Fatalf("lab: %s and %s must share an address on two networks", vm1, vm4)
	}
	from := map[*VM]int{}
	to := map[*VM]int{}
	requests, replies := 0, 0
	for _, f := range out.Flows {
		if f.SrcIP == vm1.IPv4 {
			id := srcID(f, &p)
			switch f.SrcMAC {
			case ecsMAC(vm1.MAC):
				from[vm1]++
				if !id.is(vm1) {
					p.Add(fmt.Sprintf("flow from %s (%s) attributed to %s", vm1, vm1.IPv4, id), f)
				}
			case ecsMAC(vm4.MAC):
				from[vm4]++
				if !id.is(vm4) {
					p.Add(fmt.Sprintf("flow from %s (%s, network 2) attributed to %s", vm4, vm4.IPv4, id), f)
				}
			}
		}
		if f.DstIP == vm1.IPv4 && f.Type != "arp" {
			id := dstID(f, &p)
			switch f.DstMAC {
			case ecsMAC(vm1.MAC):
				to[vm1]++
				if !id.is(vm1) {
					p.Add(fmt.Sprintf("flow to %s (%s) attributed to %s", vm1, vm1.IPv4, id), f)
				}
			case ecsMAC(vm4.MAC):
				to[vm4]++
				if !id.is(vm4) {
					p.Add(fmt.Sprintf("flow to %s (%s, network 2) attributed to %s", vm4, vm4.IPv4, id), f)
				}
			}
		}
		// vm4 <-> vm5: same-host, both ends on network 2
		if f.Transport == "icmp" && (f.SrcMAC == ecsMAC(vm4.MAC) && f.DstMAC == ecsMAC(vm5.MAC) || f.SrcMAC == ecsMAC(vm5.MAC) && f.DstMAC == ecsMAC(vm4.MAC)) {
			a, b := vm4, vm5
			if f.SrcMAC == ecsMAC(vm5.MAC) {
				a, b = vm5, vm4
			}
			rel, _ := f.Raw.Str(fRelation, &p)
			if s, d := srcID(f, &p), dstID(f, &p); !s.is(a) || !d.is(b) || rel != "same-host" {
				p.Add(fmt.Sprintf("%s -> %s on network 2: source %s, destination %s, relation %q", a, b, s, d, rel), f)
			}
			switch f.ICMPType {
			case 8:
				requests++
			case 0:
				replies++
			}
		}
	}
	t.Logf("source %s: %d flows from %s, %d from %s; destination %s: %d flows to %s, %d to %s; %s<->%s echo: %d request, %d reply flows",
		vm1.IPv4, from[vm1], vm1, from[vm4], vm4, vm1.IPv4, to[vm1], vm1, to[vm4], vm4, vm4, vm5, requests, replies)
	for _, v := range []*VM{vm1, vm4} {
		if from[v] == 0 || to[v] == 0 {
			t.Errorf("%s (%s on network %s): %d flows from it, %d to it; want both > 0", v, v.IPv4, v.Net.ID, from[v], to[v])
		}
	}
	if requests == 0 || replies == 0 {
		t.Errorf("%s -> %s echo: %d request flows, %d reply flows; want both > 0", vm4, vm5, requests, replies)
	}
	p.Report(t.Errorf)
}

// checkPatchPort: vm6 is on br-ex, behind the patch ports, its port an internal port moved into
// its namespace (OVSDB: ifindex 0). OVS samples a packet on the bridge it entered:
//   - vm6 -> vm1 is sampled on br-ex, with input ifIndex 0 (format unknown: OVS no longer knows
//     the device) and no single output (it leaves br-ex through the patch port): both ends are
//     attributed by MAC only, from what OVSDB says;
//   - vm1 -> vm6 is sampled on br-int: the source by its ifIndex, the destination (through the
//     patch port, no single output either) by MAC.
func checkPatchPort(t *testing.T, l *Lab, out *Output) {
	var p Problems
	vm1, vm6 := l.VMs[0], l.VM6
	var fromVM6, toVM6 int
	subFrom, subTo := map[int64]int{}, map[int64]int{}
	types := map[int64]int{}
	for _, f := range out.Flows {
		switch {
		case f.SrcMAC == ecsMAC(vm6.MAC):
			fromVM6++
			subFrom[f.SubID]++
			if f.In.Format == "single" {
				p.Add(fmt.Sprintf("flow from %s: ingress is single (%s), want unknown (input ifIndex 0)", vm6, f.In.ID), f)
			}
			if id := srcID(f, &p); !id.is(vm6) {
				p.Add(fmt.Sprintf("flow from %s (ingress %s): source attributed to %s", vm6, f.In.Format, id), f)
			}
			if f.DstMAC == ecsMAC(vm1.MAC) {
				if f.Out.Format == "single" {
					p.Add(fmt.Sprintf("flow %s -> %s through the patch port: single egress %s", vm6, vm1, f.Out.ID), f)
				}
				if id := dstID(f, &p); !id.is(vm1) {
					p.Add(fmt.Sprintf("flow %s -> %s: destination attributed to %s", vm6, vm1, id), f)
				}
				if f.Transport == "icmp" {
					types[f.ICMPType]++
				}
			}
		case f.DstMAC == ecsMAC(vm6.MAC):
			toVM6++
			subTo[f.SubID]++
			if f.Out.Format == "single" {
				p.Add(fmt.Sprintf("flow to %s through the patch port: single egress %s", vm6, f.Out.ID), f)
			}
			if id := dstID(f, &p); !id.is(vm6) {
				p.Add(fmt.Sprintf("flow to %s (egress %s): destination attributed to %s", vm6, f.Out.Format, id), f)
			}
			if f.SrcMAC == ecsMAC(vm1.MAC) {
				if id := srcID(f, &p); !id.is(vm1) || f.In.ID != fmt.Sprint(vm1.HostIfIndex) {
					p.Add(fmt.Sprintf("flow %s -> %s: source %s, ingress %s", vm1, vm6, id, f.In.ID), f)
				}
				if f.Transport == "icmp" {
					types[100+f.ICMPType]++
				}
			}
		}
	}
	t.Logf("%s (behind %s): %d flows from it (by sub-agent %v), %d to it (by sub-agent %v); echo %s->%s %d request flows, %s->%s %d reply flows",
		vm6, patchInt, fromVM6, subFrom, toVM6, subTo, vm6, vm1, types[8], vm1, vm6, types[100])
	if types[8] == 0 || types[100] == 0 {
		t.Errorf("want echo requests %s -> %s (sampled on %s) and replies %s -> %s (sampled on %s): %d and %d flows",
			vm6, vm1, exBridge, vm1, vm6, bridge, types[8], types[100])
	}
	// The two directions were sampled by two bridges: one sub-agent each.
	if len(subFrom) != 1 || len(subTo) != 1 || keysOf(subFrom)[0] == keysOf(subTo)[0] {
		t.Errorf("flows from %s by sub-agent %v, to it %v: want each direction from one bridge, two bridges (sub-agents)", vm6, subFrom, subTo)
	}
	p.Report(t.Errorf)
}

func keysOf(m map[int64]int) []int64 {
	var ks []int64
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
