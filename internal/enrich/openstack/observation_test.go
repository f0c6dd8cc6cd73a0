package openstack

import (
	"net/netip"
	"testing"

	"github.com/flowlens/flowlens/internal/flow"
)

// The count-once rule on the paths of docs/openstack.md's diagram: each
// path's samples, as the bridges they cross report them, must hold exactly
// one first observation.
func TestObservationCountsEachPacketOnce(t *testing.T) {
	base, _ := ParseBaseMAC(DefaultBaseMAC)
	inv := testInventory()
	// A DHCP port plugged on host A as an internal port moved into its
	// namespace: OVSDB has it without an ifindex.
	inv.Set("ovsdb-dhcp:"+hostA, []Port{{ID: "dhcp-1", MAC: "fa:16:3e:00:00:d1", NetworkID: "net-red",
		Attachments: []Attached{{Agent: hostA, Interface: "tapd1"}}}})
	inv.SetOptions(Options{BaseMAC: base})
	unknown := flow.Port{}
	upstream := "52:54:00:12:34:56" // the physical router outside the cloud
	type sample struct {
		name string
		r    flow.Record
	}
	paths := []struct {
		name    string
		samples []sample
		want    []flow.Observation
	}{
		{"same host: a1 to a2", []sample{
			{"br-int A from a1's tap", flowRec(hostA, single(5), single(6), "fa:16:3e:00:00:a1", "fa:16:3e:00:00:a2", "10.0.0.5", "10.0.0.6")},
		}, []flow.Observation{flow.ObservationPort}},
		// Open vSwitch samples a packet where a datapath pass starts: a
		// packet crossing a patch port is not sampled again on the peer
		// bridge, one decapsulated from a tunnel is (on br-tun).
		{"cross host: a1 to b1, br-tun exporting too", []sample{
			{"br-int A from a1's tap", flowRec(hostA, single(5), unknown, "fa:16:3e:00:00:a1", "fa:16:3e:00:00:b1", "10.0.0.5", "10.0.0.6")},
			{"br-tun B from the VXLAN port", flowRec(hostB, unknown, flow.Port{Format: flow.PortMultiple, Count: 1}, "fa:16:3e:00:00:a1", "fa:16:3e:00:00:b1", "10.0.0.5", "10.0.0.6")},
		}, []flow.Observation{flow.ObservationPort, flow.ObservationForwarded}},
		{"cross host: a port no inventory lists (Neutron's MAC prefix)", []sample{
			{"br-int A from its tap", flowRec(hostA, single(40), unknown, "fa:16:3e:77:77:77", "fa:16:3e:00:00:b1", "10.0.0.9", "10.0.0.6")},
			{"br-tun B from the VXLAN port", flowRec(hostB, unknown, single(7), "fa:16:3e:77:77:77", "fa:16:3e:00:00:b1", "10.0.0.9", "10.0.0.6")},
		}, []flow.Observation{flow.ObservationPort, flow.ObservationForwarded}},
		{"external to b1 through a router, br-int only exports", []sample{
			// br-ex to br-int through patch ports: one pass, not sampled
			// on br-int; the router's re-emission from its qr- port is.
			{"br-int B from the router's qr- port", flowRec(hostB, unknown, single(7), "fa:16:3e:00:00:01", "fa:16:3e:00:00:b1", "198.51.100.7", "10.0.0.6")},
		}, []flow.Observation{flow.ObservationUplink}},
		{"b1 to external through a router", []sample{
			{"br-int B from b1's tap", flowRec(hostB, single(7), unknown, "fa:16:3e:00:00:b1", "fa:16:3e:00:00:01", "10.0.0.6", "198.51.100.7")},
			{"br-int B from the router's qg- port", flowRec(hostB, unknown, unknown, "fa:16:3e:00:00:02", upstream, "203.0.113.10", "198.51.100.7")},
		}, []flow.Observation{flow.ObservationPort, flow.ObservationForwarded}},
		{"a1 to b1 routed between two networks", []sample{
			{"br-int A from a1's tap", flowRec(hostA, single(5), unknown, "fa:16:3e:00:00:a1", "fa:16:3e:00:00:01", "10.0.0.5", "10.0.1.6")},
			{"br-int from the router's other qr- port", flowRec(hostB, unknown, single(7), "fa:16:3e:00:00:01", "fa:16:3e:00:00:b1", "10.0.0.5", "10.0.1.6")},
		}, []flow.Observation{flow.ObservationPort, flow.ObservationForwarded}},
		{"DHCP reply from a port in a namespace on A to b1", []sample{
			{"br-int A, input 0", flowRec(hostA, unknown, unknown, "fa:16:3e:00:00:d1", "fa:16:3e:00:00:b1", "10.0.0.2", "10.0.0.6")},
			{"br-int B from patch-tun", flowRec(hostB, unknown, single(7), "fa:16:3e:00:00:d1", "fa:16:3e:00:00:b1", "10.0.0.2", "10.0.0.6")},
		}, []flow.Observation{flow.ObservationPort, flow.ObservationForwarded}},
	}
	for _, p := range paths {
		first := 0
		for i, s := range p.samples {
			r := s.r
			inv.Enrich(&r)
			if r.Observation != p.want[i] {
				t.Errorf("%s, %s: observation %q, want %q", p.name, s.name, r.Observation, p.want[i])
			}
			if r.Observation.First() {
				first++
			}
		}
		if first != 1 {
			t.Errorf("%s: %d first observations, want 1", p.name, first)
		}
	}
}

func TestObservationUplinkBridgesExport(t *testing.T) {
	base, _ := ParseBaseMAC(DefaultBaseMAC)
	for _, exports := range []bool{false, true} {
		inv := testInventory()
		inv.SetOptions(Options{BaseMAC: base, UplinkExports: exports})
		nic := flow.Port{Format: flow.PortSingle, Index: 3, Name: "eth1"}
		onEx := flowRec(hostB, nic, flow.Port{}, "52:54:00:12:34:56", "fa:16:3e:00:00:b1", "198.51.100.7", "10.0.0.6")
		onInt := flowRec(hostB, flow.Port{}, single(7), "52:54:00:12:34:56", "fa:16:3e:00:00:b1", "198.51.100.7", "10.0.0.6")
		inv.Enrich(&onEx)
		inv.Enrich(&onInt)
		// The router's re-emission towards the VM: the first sample when
		// br-ex does not export, a repeat when it does.
		viaRouter := flowRec(hostB, flow.Port{}, single(7), "fa:16:3e:00:00:01", "fa:16:3e:00:00:b1", "198.51.100.7", "10.0.0.6")
		inv.Enrich(&viaRouter)
		if viaRouter.Observation.First() == exports {
			t.Errorf("exports=%v: the router's re-emission from outside: %q", exports, viaRouter.Observation)
		}
		if onEx.Observation != flow.ObservationUplink {
			t.Errorf("exports=%v: br-ex's sample from eth1: %q, want uplink", exports, onEx.Observation)
		}
		want := flow.ObservationUplink
		if exports {
			want = flow.ObservationPatch
		}
		if onInt.Observation != want {
			t.Errorf("exports=%v: br-int's sample from patch-ex: %q, want %q", exports, onInt.Observation, want)
		}
		// Where br-ex does not export, the br-ex sample does not exist:
		// either way, one first observation.
		n := 0
		if onInt.Observation.First() {
			n++
		}
		if exports && onEx.Observation.First() {
			n++
		}
		if n != 1 {
			t.Errorf("exports=%v: %d first observations", exports, n)
		}
	}
}

func TestObservationWithoutInventory(t *testing.T) {
	base, _ := ParseBaseMAC(DefaultBaseMAC)
	inv := NewInventory()
	inv.SetOptions(Options{BaseMAC: base})
	tap := flow.Port{Format: flow.PortSingle, Index: 12, Name: "tap0a1b2c3d-4e"}
	cases := []struct {
		name string
		r    flow.Record
		want flow.Observation
	}{
		{"from a tap", flowRec(hostA, tap, flow.Port{}, "fa:16:3e:aa:bb:cc", "fa:16:3e:dd:ee:ff", "10.0.0.5", "10.0.0.6"), flow.ObservationPort},
		{"from a tap whose name is not known yet", flowRec(hostA, single(12), flow.Port{}, "fa:16:3e:aa:bb:cc", "fa:16:3e:dd:ee:ff", "10.0.0.5", "10.0.0.6"), flow.ObservationPort},
		{"a cloud MAC through patch-tun", flowRec(hostA, flow.Port{}, tap, "fa:16:3e:dd:ee:ff", "fa:16:3e:aa:bb:cc", "10.0.0.6", "10.0.0.5"), flow.ObservationForwarded},
		{"a cloud MAC from a physical NIC (provider network)", flowRec(hostA, flow.Port{Format: flow.PortSingle, Index: 2, Name: "eth1"}, flow.Port{}, "fa:16:3e:dd:ee:ff", "fa:16:3e:aa:bb:cc", "10.0.0.6", "10.0.0.5"), flow.ObservationForwarded},
		{"outside through patch-ex", flowRec(hostA, flow.Port{}, tap, "52:54:00:12:34:56", "fa:16:3e:aa:bb:cc", "198.51.100.7", "10.0.0.5"), flow.ObservationUplink},
		{"from the host itself", flowRec(hostA, flow.Port{Format: flow.PortLocal}, tap, "52:54:00:12:34:57", "fa:16:3e:aa:bb:cc", "192.0.2.1", "10.0.0.5"), flow.ObservationUplink},
	}
	for _, c := range cases {
		r := c.r
		inv.Enrich(&r)
		if r.Observation != c.want {
			t.Errorf("%s: %q, want %q", c.name, r.Observation, c.want)
		}
	}
	// The underlay: VXLAN between hypervisors carrying a VM's packet,
	// sampled on a physical NIC.
	r := flowRec(hostA, flow.Port{Format: flow.PortSingle, Index: 2, Name: "eth0"}, flow.Port{}, "52:54:00:00:00:01", "52:54:00:00:00:02", "192.0.2.1", "192.0.2.2")
	r.Tunnel, r.InnerPresent, r.VNI, r.HasVNI = flow.TunnelVXLAN, true, 101, true
	r.Inner.SrcMAC, r.Inner.DstMAC = mac("fa:16:3e:aa:bb:cc"), mac("fa:16:3e:dd:ee:ff")
	inv.Enrich(&r)
	if r.Observation != flow.ObservationTunnel || r.Observation.First() {
		t.Errorf("underlay sample: %q", r.Observation)
	}
	// NetFlow v5 from a router: no MACs, no port formats.
	nf := flow.Record{Input: flow.InputNetFlowV5, Agent: netip.MustParseAddr(hostA),
		Packet: flow.Packet{SrcAddr: netip.MustParseAddr("198.51.100.7"), DstAddr: netip.MustParseAddr("10.0.0.5")}}
	inv.Enrich(&nf)
	if nf.Observation != flow.ObservationUnknown || !nf.Observation.First() {
		t.Errorf("NetFlow without ports: %q", nf.Observation)
	}
	// Without a base MAC only the inventory's ports are the cloud's.
	inv.SetOptions(Options{})
	r2 := flowRec(hostA, flow.Port{}, tap, "fa:16:3e:dd:ee:ff", "fa:16:3e:aa:bb:cc", "10.0.0.6", "10.0.0.5")
	inv.Enrich(&r2)
	if r2.Observation != flow.ObservationUplink {
		t.Errorf("no base MAC: %q, want uplink", r2.Observation)
	}
}

func TestParseBaseMAC(t *testing.T) {
	if _, err := ParseBaseMAC("fa:16:3e"); err == nil {
		t.Error("a 3-byte base_mac was accepted")
	}
	m, err := ParseBaseMAC("fa:16:3e:4f:00:00")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{BaseMAC: m}
	s := NewInventory().cur.Load()
	if o.cloudMAC(s, mac("fa:16:3e:00:11:22")) || !o.cloudMAC(s, mac("fa:16:3e:4f:11:22")) {
		t.Error("a base_mac with a fourth byte must match four bytes")
	}
}

// A router's ports are plugged in namespaces (no ifindex, input 0): what
// they send was routed, counted where it entered the cloud.
func TestObservationRouterPorts(t *testing.T) {
	base, _ := ParseBaseMAC(DefaultBaseMAC)
	inv := testInventory()
	inv.Set("ovsdb-router:"+hostB, []Port{
		{ID: "qg-1", MAC: "fa:16:3e:00:00:0a", Attachments: []Attached{{Agent: hostB, Interface: "qg-1a2b3c4d-5e"}}},
		{ID: "dhcp-b", MAC: "fa:16:3e:00:00:0d", Attachments: []Attached{{Agent: hostB, Interface: "tap0d0d0d0d-0d"}}},
	})
	inv.Set("neutron-routers", []Port{{ID: "qr-api", MAC: "fa:16:3e:00:00:0b", DeviceOwner: "network:router_interface",
		Attachments: []Attached{{Agent: hostB, Interface: "qr-0b0b0b0b-0b"}}}})
	inv.SetOptions(Options{BaseMAC: base})
	for _, c := range []struct {
		mac  string
		want flow.Observation
	}{{"fa:16:3e:00:00:0a", flow.ObservationForwarded}, {"fa:16:3e:00:00:0b", flow.ObservationForwarded}, {"fa:16:3e:00:00:0d", flow.ObservationPort}} {
		r := flowRec(hostB, flow.Port{}, flow.Port{}, c.mac, "52:54:00:12:34:56", "10.0.0.1", "198.51.100.7")
		inv.Enrich(&r)
		if r.Observation != c.want {
			t.Errorf("from %s: %q, want %q", c.mac, r.Observation, c.want)
		}
	}
}
