package openstack

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/flow"
)

func mac(s string) flow.MAC { m, _ := parseMAC(s); return m }

var hostA, hostB = "192.0.2.1", "192.0.2.2"

func testInventory() *Inventory {
	inv := NewInventory()
	// What each hypervisor's OVSDB says: port ids, MACs, instances and
	// where they are plugged, no names.
	inv.Set("ovsdb:"+hostA, []Port{
		{ID: "port-a1", MAC: "fa:16:3e:00:00:a1", InstanceID: "vm-a1", NetworkID: "net-red", SegmentationID: 101,
			Attachments: []Attached{{Agent: hostA, IfIndex: 5, Interface: "tapa1", LocalVLAN: 1}}},
		{ID: "port-a2", MAC: "fa:16:3e:00:00:a2", InstanceID: "vm-a2", NetworkID: "net-blue", SegmentationID: 102,
			Attachments: []Attached{{Agent: hostA, IfIndex: 6, Interface: "tapa2", LocalVLAN: 2}}},
	})
	inv.Set("ovsdb:"+hostB, []Port{
		{ID: "port-b1", MAC: "fa:16:3e:00:00:b1", InstanceID: "vm-b1", NetworkID: "net-red", SegmentationID: 101,
			Attachments: []Attached{{Agent: hostB, IfIndex: 7, Interface: "tapb1", LocalVLAN: 4}}},
	})
	// What Neutron and Nova say: names, projects, hosts, addresses. Both
	// VMs a1 and a2 have 10.0.0.5, in different networks.
	inv.Set("neutron", []Port{
		{ID: "port-a1", MAC: "fa:16:3e:00:00:a1", InstanceID: "vm-a1", InstanceName: "web-1", NetworkID: "net-red", NetworkName: "red",
			ProjectID: "p1", ProjectName: "shop", Host: "compute-a", FixedIPs: []string{"10.0.0.5"}},
		{ID: "port-a2", MAC: "fa:16:3e:00:00:a2", InstanceID: "vm-a2", InstanceName: "db-1", NetworkID: "net-blue", NetworkName: "blue",
			ProjectID: "p2", ProjectName: "bank", Host: "compute-a", FixedIPs: []string{"10.0.0.5"}},
		{ID: "port-b1", MAC: "fa:16:3e:00:00:b1", InstanceID: "vm-b1", InstanceName: "web-2", NetworkID: "net-red", NetworkName: "red",
			ProjectID: "p1", ProjectName: "shop", Host: "compute-b", FixedIPs: []string{"10.0.0.6"}},
		{ID: "router-1", MAC: "fa:16:3e:00:00:01", NetworkID: "net-red", NetworkName: "red", ProjectID: "p1", FixedIPs: []string{"10.0.0.1"},
			DeviceOwner: "network:router_interface"},
		{ID: "router-1-gw", MAC: "fa:16:3e:00:00:02", NetworkID: "net-ext", ProjectID: "p1", FixedIPs: []string{"203.0.113.10"},
			DeviceOwner: "network:router_gateway"},
	})
	return inv
}

func flowRec(agent string, in, out flow.Port, src, dst string, srcIP, dstIP string) flow.Record {
	return flow.Record{Agent: netip.MustParseAddr(agent), In: in, Out: out,
		Packet: flow.Packet{SrcMAC: mac(src), DstMAC: mac(dst), SrcAddr: netip.MustParseAddr(srcIP), DstAddr: netip.MustParseAddr(dstIP)}}
}

func single(i uint32) flow.Port { return flow.Port{Format: flow.PortSingle, Index: i} }

func TestSameAddressInTwoNetworksStaysDistinct(t *testing.T) {
	inv := testInventory()
	r1 := flowRec(hostA, single(5), flow.Port{Format: flow.PortMultiple, Count: 1}, "fa:16:3e:00:00:a1", "fa:16:3e:00:00:01", "10.0.0.5", "10.0.0.1")
	r2 := flowRec(hostA, single(6), flow.Port{Format: flow.PortMultiple, Count: 1}, "fa:16:3e:00:00:a2", "fa:16:3e:99:99:99", "10.0.0.5", "10.0.0.1")
	inv.Enrich(&r1)
	inv.Enrich(&r2)
	if r1.SrcID.OrEmpty().InstanceName != "web-1" || r1.SrcID.OrEmpty().ProjectName != "shop" || r1.SrcID.OrEmpty().NetworkName != "red" {
		t.Errorf("r1 source: %+v", r1.SrcID)
	}
	if r2.SrcID.OrEmpty().InstanceName != "db-1" || r2.SrcID.OrEmpty().ProjectName != "bank" {
		t.Errorf("r2 source: %+v", r2.SrcID)
	}
	if r1.DstID.OrEmpty().PortID != "router-1" || r1.Relation != flow.RelationInfrastructure {
		t.Errorf("r1 destination (router, by MAC): %+v relation %v", r1.DstID, r1.Relation)
	}
	if r2.DstID.OrEmpty().Known() {
		t.Errorf("unknown MAC attributed: %+v", r2.DstID)
	}
}

func TestPatchPortTrafficIsAttributedByMAC(t *testing.T) {
	inv := testInventory()
	// Arrived through a patch port (no ifindex: format unknown), left to VM a1.
	r := flowRec(hostA, flow.Port{Format: flow.PortUnknown}, single(5), "fa:16:3e:00:00:b1", "fa:16:3e:00:00:a1", "10.0.0.6", "10.0.0.5")
	inv.Enrich(&r)
	if r.SrcID.OrEmpty().InstanceName != "web-2" || r.SrcID.OrEmpty().Host != "compute-b" || r.DstID.OrEmpty().InstanceName != "web-1" {
		t.Errorf("src %+v dst %+v", r.SrcID, r.DstID)
	}
	if r.Relation != flow.RelationCrossHost {
		t.Errorf("relation %v, want cross-host", r.Relation)
	}
	if !strings.Contains(r.SrcID.OrEmpty().Source, "neutron") || !strings.Contains(r.SrcID.OrEmpty().Source, "ovsdb") {
		t.Errorf("merged source %q", r.SrcID.OrEmpty().Source)
	}
}

func TestSameHostAndExternal(t *testing.T) {
	inv := testInventory()
	r := flowRec(hostA, single(5), single(6), "fa:16:3e:00:00:a1", "fa:16:3e:00:00:a2", "10.0.0.5", "10.0.0.5")
	inv.Enrich(&r)
	if r.Relation != flow.RelationSameHost {
		t.Errorf("relation %v", r.Relation)
	}
	r = flowRec(hostA, single(5), flow.Port{Format: flow.PortUnknown}, "fa:16:3e:00:00:a1", "00:00:5e:00:53:01", "10.0.0.5", "8.8.8.8")
	r.Direction = flow.DirectionOutbound
	inv.Enrich(&r)
	if r.Relation != flow.RelationVMToExternal {
		t.Errorf("relation %v", r.Relation)
	}
}

func TestAmbiguousMACIsResolvedByVLANOrLeftAlone(t *testing.T) {
	inv := NewInventory()
	inv.Set("static", []Port{
		{ID: "x", MAC: "fa:16:3e:00:00:0e", NetworkID: "n1", SegmentationID: 100, InstanceID: "i1"},
		{ID: "y", MAC: "fa:16:3e:00:00:0e", NetworkID: "n2", SegmentationID: 200, InstanceID: "i2"},
	})
	r := flowRec(hostA, flow.Port{}, flow.Port{}, "fa:16:3e:00:00:0e", "fa:16:3e:00:00:ff", "10.0.0.1", "10.0.0.2")
	inv.Enrich(&r)
	if r.SrcID.OrEmpty().Known() {
		t.Errorf("guessed between two ports: %+v", r.SrcID)
	}
	r.In.VLAN = 200
	inv.Enrich(&r)
	if r.SrcID.OrEmpty().PortID != "y" {
		t.Errorf("VLAN 200 must pick y: %+v", r.SrcID)
	}
}

func TestVXLANInnerMACs(t *testing.T) {
	inv := testInventory()
	r := flowRec(hostA, single(99), single(98), "52:54:00:00:00:01", "52:54:00:00:00:02", "192.0.2.1", "192.0.2.2")
	r.InnerPresent, r.VNI = true, 101
	r.Inner.SrcMAC, r.Inner.DstMAC = mac("fa:16:3e:00:00:a1"), mac("fa:16:3e:00:00:b1")
	inv.Enrich(&r)
	if r.SrcID.OrEmpty().InstanceName != "web-1" || r.DstID.OrEmpty().InstanceName != "web-2" || r.Relation != flow.RelationCrossHost {
		t.Errorf("inner: src %+v dst %+v %v", r.SrcID, r.DstID, r.Relation)
	}
}

// ML2/OVN: a Geneve packet carries its datapath's tunnel key, not
// Neutron's segmentation id; with the Southbound's key (source ovn-sb,
// merged into the API's port) it chooses between two ports of one MAC.
func TestGeneveTunnelKey(t *testing.T) {
	inv := NewInventory()
	inv.Set("neutron-api", []Port{
		{ID: "x", MAC: "fa:16:3e:00:00:0e", NetworkID: "n1", SegmentationID: 20423, InstanceID: "i1"},
		{ID: "y", MAC: "fa:16:3e:00:00:0e", NetworkID: "n2", SegmentationID: 65024, InstanceID: "i2"},
	})
	inv.Set("ovn-sb", []Port{{ID: "x", OVNSwitch: "neutron-n1", OVNTunnelKey: 1}, {ID: "y", OVNSwitch: "neutron-n2", OVNTunnelKey: 2}})
	r := flowRec(hostA, single(99), single(98), "52:54:00:00:00:01", "52:54:00:00:00:02", "192.0.2.1", "192.0.2.2")
	r.InnerPresent, r.VNI = true, 2
	r.Inner.SrcMAC, r.Inner.DstMAC = mac("fa:16:3e:00:00:0e"), mac("fa:16:3e:00:00:ff")
	inv.Enrich(&r)
	if got := r.SrcID.OrEmpty(); got.PortID != "y" || got.SegmentationID != 65024 {
		t.Errorf("VNI 2 (OVN key of n2): %+v", got)
	}
	ps := inv.Ports()
	if len(ps) != 2 || ps[0].OVNSwitch == "" || ps[0].SegmentationID == 0 {
		t.Errorf("merged ports: %+v", ps)
	}
}

func TestEnrichDoesNotAllocate(t *testing.T) {
	inv := testInventory()
	r := flowRec(hostA, single(5), single(6), "fa:16:3e:00:00:a1", "fa:16:3e:00:00:a2", "10.0.0.5", "10.0.0.5")
	if a := testing.AllocsPerRun(100, func() { inv.Enrich(&r) }); a != 0 {
		t.Errorf("%.1f allocations per flow", a)
	}
}

// Each input goroutine's Enricher counts on its own; Stats adds them up.
func TestEnricherCounts(t *testing.T) {
	inv := testInventory()
	e1, e2 := inv.NewEnricher(), inv.NewEnricher()
	both := flowRec(hostA, single(5), single(6), "fa:16:3e:00:00:a1", "fa:16:3e:00:00:a2", "10.0.0.5", "10.0.0.5")
	srcOnly := flowRec(hostA, single(5), single(99), "fa:16:3e:00:00:a1", "02:00:00:00:00:99", "10.0.0.5", "8.8.8.8")
	none := flowRec(hostA, single(98), single(99), "02:00:00:00:00:98", "02:00:00:00:00:99", "192.0.2.9", "8.8.8.8")
	e1.Enrich(&both)
	e2.Enrich(&srcOnly)
	e2.Enrich(&none)
	if both.DstID.OrEmpty().PortID != "port-a2" || srcOnly.SrcID.OrEmpty().PortID != "port-a1" || none.SrcID.OrEmpty().PortID != "" {
		t.Fatalf("attribution: %+v %+v %+v", both.DstID, srcOnly.SrcID, none.SrcID)
	}
	// Counts become visible when the pipeline flushes a batch.
	if st := inv.Stats(); st.Flows != 0 {
		t.Errorf("counted before Flush: %+v", st)
	}
	e1.Flush()
	e2.Flush()
	st := inv.Stats()
	if st.Flows != 3 || st.Source != 2 || st.Destination != 1 {
		t.Errorf("counts: %+v", st)
	}
	if st.Ports != 5 || len(st.Sources) != 3 || st.Sources[0].Name != "neutron" || st.Sources[0].Ports != 5 || st.Sources[0].Updated.IsZero() {
		t.Errorf("sources: %+v", st)
	}
	if a := testing.AllocsPerRun(100, func() { e1.Enrich(&both) }); a != 0 {
		t.Errorf("%.1f allocations per flow", a)
	}
}

func TestStaticFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "inventory.yaml")
	os.WriteFile(path, []byte(`ports:
  - id: 5d2c1e40-0000-4000-8000-000000000001
    mac: fa:16:3e:12:34:56
    instance_id: 0b0e6e1c-0000-4000-8000-000000000002
    instance_name: web-1
    network_name: red
    project_name: shop
    host: compute-1
    attachments:
      - {agent: 192.0.2.1, ifindex: 12, interface: tap5d2c1e40-00}
`), 0o644)
	ports, err := LoadStatic(path)
	if err != nil {
		t.Fatal(err)
	}
	inv := NewInventory()
	inv.Set("static", ports)
	r := flowRec("192.0.2.1", single(12), flow.Port{}, "00:00:00:00:00:01", "00:00:00:00:00:02", "10.0.0.1", "10.0.0.2")
	inv.Enrich(&r)
	if r.SrcID.OrEmpty().InstanceName != "web-1" || r.SrcID.OrEmpty().Source != "static" {
		t.Errorf("%+v", r.SrcID)
	}
	os.WriteFile(path, []byte("ports:\n  - mac: nonsense\n"), 0o644)
	if _, err := LoadStatic(path); err == nil {
		t.Error("bad MAC accepted")
	}
	os.WriteFile(path, []byte("ports:\n  - id: x\n    instnce_name: typo\n"), 0o644)
	if _, err := LoadStatic(path); err == nil {
		t.Error("unknown key accepted")
	}
}
