package openstack_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/synth"
)

// BenchmarkEnrichInventory is attribution's cost per record with the
// inventory of the real two-hypervisor OpenStack lab (test/openstack: five
// ports from the Neutron API, both hypervisors' OVSDB and the OVN
// Southbound) next to the emulated 500-VM cloud (internal/synth: 500 ports
// on 20 hypervisors), each with records of its own traffic. #13 asks for
// the two side by side.
//
//	go test -run '^$' -bench EnrichInventory -benchmem ./internal/enrich/openstack/
func BenchmarkEnrichInventory(b *testing.B) {
	for _, c := range []struct {
		name string
		make func() (*openstack.Inventory, []flow.Record)
	}{{"lab-2hv-5ports", labInventory}, {"synth-20hv-500ports", synthInventory}} {
		inv, recs := c.make()
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			rs := make([]flow.Record, len(recs))
			attributed := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(rs, recs)
				for j := range rs {
					inv.Enrich(&rs[j])
				}
			}
			b.StopTimer()
			for j := range rs {
				if rs[j].SrcID.Known() {
					attributed++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
			b.ReportMetric(100*float64(attributed)/float64(len(rs)), "%src-attributed")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// labInventory is the real lab's inventory as flowlens merged it (ids,
// names and attachments as its run of 2026-12-06 reported them, shortened),
// and samples of its traffic: a VM's tap, the receiver's tunnel port, the
// underlay with the inner frame, ARP.
func labInventory() (*openstack.Inventory, []flow.Record) {
	hv1, hv2 := "127.0.0.1", "10.99.0.2"
	type vm struct {
		name, mac, ip, hv, net string
		seg, key               uint32
		ifindex                uint32
	}
	vms := []vm{
		{"flos-vm1", "fa:16:3e:b3:f5:d4", "10.20.0.11", hv1, "a", 1959, 1, 8},
		{"flos-vm2", "fa:16:3e:6b:75:f0", "10.20.0.12", hv1, "a", 1959, 1, 9},
		{"flos-vm3", "fa:16:3e:8d:02:bb", "10.20.0.13", hv2, "a", 1959, 1, 7},
		{"flos-vm4", "fa:16:3e:08:67:84", "10.20.0.11", hv2, "b", 1549, 2, 8},
		{"flos-vm5", "fa:16:3e:11:72:ff", "10.20.0.12", hv1, "b", 1549, 2, 10},
	}
	var api, ovs1, ovs2, sb []openstack.Port
	for i, v := range vms {
		id := fmt.Sprintf("3885d458-c0e4-4d60-b557-60000000000%d", i)
		api = append(api, openstack.Port{ID: id, MAC: v.mac, InstanceID: "i-" + v.name, InstanceName: v.name, NetworkID: "net-" + v.net,
			NetworkName: "flos-net-" + v.net, SegmentationID: v.seg, ProjectID: "p-" + v.net, ProjectName: "flos-" + v.net,
			Host: map[string]string{hv1: "flos-hv1", hv2: "flos-hv2"}[v.hv], FixedIPs: []string{v.ip}, DeviceOwner: "compute:nova"})
		at := openstack.Port{ID: id, MAC: v.mac, Attachments: []openstack.Attached{{Agent: v.hv, IfIndex: v.ifindex, Interface: "tap" + id[:11], Backend: "ovs"}}}
		if v.hv == hv1 {
			ovs1 = append(ovs1, at)
		} else {
			ovs2 = append(ovs2, at)
		}
		sb = append(sb, openstack.Port{ID: id, OVNSwitch: "neutron-net-" + v.net, OVNTunnelKey: v.key})
	}
	inv := openstack.NewInventory()
	inv.Set("neutron-api", api)
	inv.Set("ovsdb:"+hv1, ovs1)
	inv.Set("ovsdb:"+hv2, ovs2)
	inv.Set("ovn-sb", sb)
	mac := func(s string) flow.MAC {
		var m flow.MAC
		fmt.Sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5])
		return m
	}
	var recs []flow.Record
	add := func(agent string, in flow.Port, src, dst vm, tunnel bool) {
		r := flow.Record{Time: time.Unix(1, 0), Input: flow.InputSFlow, Agent: netip.MustParseAddr(agent), SamplingRate: 1, In: in,
			Out: flow.Port{Format: flow.PortDiscard, Reason: 256}}
		r.EtherType = 0x0800
		r.SrcAddr, r.DstAddr = netip.MustParseAddr(src.ip), netip.MustParseAddr(dst.ip)
		r.Proto, r.HasProto, r.TCPFlags, r.SrcPort, r.DstPort = 6, true, 0x10, 40000, 22
		if tunnel {
			r.SrcMAC, r.DstMAC = mac("02:00:00:00:00:01"), mac("02:00:00:00:00:02")
			r.InnerPresent, r.VNI = true, src.seg
			r.Inner.SrcMAC, r.Inner.DstMAC = mac(src.mac), mac(dst.mac)
		} else {
			r.SrcMAC, r.DstMAC = mac(src.mac), mac(dst.mac)
		}
		recs = append(recs, r)
	}
	tap := func(v vm) flow.Port { return flow.Port{Format: flow.PortSingle, Index: v.ifindex} }
	for range 20 {
		add(hv1, tap(vms[0]), vms[0], vms[1], false)                         // same host
		add(hv1, tap(vms[0]), vms[0], vms[2], false)                         // sender's br-int, across hosts
		add(hv2, flow.Port{Format: flow.PortUnknown}, vms[0], vms[2], false) // receiver, from the tunnel
		add(hv2, flow.Port{Format: flow.PortSingle, Index: 3}, vms[0], vms[2], true)
		add(hv1, tap(vms[4]), vms[4], vms[3], false) // project b, vm1's and vm2's addresses
	}
	return inv, recs
}

// synthInventory is the emulated cloud's inventory (every VM's port,
// attached on its hypervisor) and one interval of its flows, with the
// attribution synth does itself removed.
func synthInventory() (*openstack.Inventory, []flow.Record) {
	c := synth.New(synth.DefaultConfig())
	var ports []openstack.Port
	for _, v := range c.VMs {
		n := c.Networks[v.Network]
		ports = append(ports, openstack.Port{ID: v.PortID, MAC: net.HardwareAddr(v.MAC[:]).String(), InstanceID: v.ID, InstanceName: v.Name,
			NetworkID: n.ID, NetworkName: n.Name, SegmentationID: n.VNI, ProjectID: c.Projects[v.Project].ID,
			ProjectName: c.Projects[v.Project].Name, Host: c.Hypervisors[v.Hypervisor].Name, FixedIPs: []string{v.Addr.String()},
			Attachments: []openstack.Attached{{Agent: c.Hypervisors[v.Hypervisor].Addr.String(), IfIndex: v.IfIndex, Interface: v.Port}}})
	}
	inv := openstack.NewInventory()
	inv.Set("static", ports)
	recs := c.Flows(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC))
	for i := range recs {
		recs[i].SrcID, recs[i].DstID = nil, nil
	}
	return inv, recs
}
