package openstack

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/ovstest"
)

func waitFor(t *testing.T, what string, cond func() bool) { t.Helper(); ovstest.WaitFor(t, what, cond) }

// The source reads what os-vif and the ML2/OVS agent write, and follows
// changes.
func TestOVSDBSourceFollowsARealOVSDB(t *testing.T) {
	db := ovstest.Start(t)
	sock, vsctl := db.Socket, func(args ...string) { db.Vsctl(args...) }
	vsctl("set", "Open_vSwitch", ".", "external_ids:hostname=compute-1")
	vsctl("add-br", "br-int")
	vsctl("add-port", "br-int", "tapaaaa", "--",
		"set", "Interface", "tapaaaa", "external_ids:iface-id=aaaa-port", "external_ids:attached-mac=fa:16:3e:aa:aa:aa",
		"external_ids:vm-uuid=aaaa-vm", "external_ids:iface-status=active", "ifindex=12", "--",
		"set", "Port", "tapaaaa", "tag=3", "other_config:net_uuid=net-red", "other_config:segmentation_id=101",
		"other_config:network_type=vlan", "other_config:physical_network=physnet1")
	vsctl("add-port", "br-int", "patch-tun") // no iface-id: not a Neutron port

	inv := NewInventory()
	agent := netip.MustParseAddr("192.0.2.1")
	var logs syncBuffer
	src := NewOVSDBSource("unix:"+sock, agent, inv, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer func() {
		// libovsdb must not complain about columns the model leaves out.
		if strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("errors logged:\n%s", logs.String())
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "the port", func() bool { return len(inv.Ports()) == 1 })
	p := inv.Ports()[0]
	if p.ID != "aaaa-port" || p.MAC != "fa:16:3e:aa:aa:aa" || p.InstanceID != "aaaa-vm" || p.NetworkID != "net-red" ||
		p.SegmentationID != 101 || p.Host != "compute-1" || len(p.Attachments) != 1 ||
		p.Attachments[0].IfIndex != 12 || p.Attachments[0].LocalVLAN != 3 || p.Attachments[0].Interface != "tapaaaa" {
		t.Errorf("port %+v", p)
	}
	r := flow.Record{Agent: agent, In: flow.Port{Format: flow.PortSingle, Index: 12}}
	inv.Enrich(&r)
	if r.SrcID.OrEmpty().PortID != "aaaa-port" || r.SrcID.OrEmpty().Source != "ovsdb:192.0.2.1" {
		t.Errorf("attribution %+v", r.SrcID)
	}

	// A VM boots, another goes away.
	vsctl("add-port", "br-int", "tapbbbb", "--", "set", "Interface", "tapbbbb", "external_ids:iface-id=bbbb-port",
		"external_ids:attached-mac=fa:16:3e:bb:bb:bb", "ifindex=13")
	waitFor(t, "the second port", func() bool { return len(inv.Ports()) == 2 })
	// Columns flowlens does not read change too (ovs-vswitchd updates
	// these all the time).
	vsctl("set", "Open_vSwitch", ".", "next_cfg=7", "cur_cfg=7")
	vsctl("set", "Interface", "tapbbbb", "mtu_request=1400", "statistics:rx_packets=5")
	vsctl("del-port", "br-int", "tapaaaa")
	waitFor(t, "the first port to go", func() bool { ps := inv.Ports(); return len(ps) == 1 && ps[0].ID == "bbbb-port" })
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestParseOVSDB(t *testing.T) {
	if a, e, err := ParseOVSDB("192.0.2.1=unix:/var/run/openvswitch/db.sock"); err != nil || a.String() != "192.0.2.1" || e != "unix:/var/run/openvswitch/db.sock" {
		t.Errorf("%v %v %v", a, e, err)
	}
	for _, bad := range []string{"unix:/x", "host=unix:/x", "192.0.2.1=/var/run/db.sock"} {
		if _, _, err := ParseOVSDB(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// An OVN hypervisor's Interface rows, as the lab's ovn-controller left
// them (shared/lab/openstack/evidence/ovn/ovsdb-interfaces.txt): bound
// by OVN, no Port.tag, so no local VLAN to show.
func TestBuildPortsOVN(t *testing.T) {
	idx, of := 13, 1
	ifaces := []ovsInterface{{UUID: "u1", Name: "tapc790b755-c7", Ifindex: &idx, OFPort: &of, ExternalIDs: map[string]string{
		"attached-mac": "fa:16:3e:e5:d2:12", "iface-id": "c790b755-c742-4fa8-a3c5-f3fe37ef24a2", "iface-status": "active",
		"ovn-installed": "true", "vm-uuid": "319a624d-9f48-41e9-8fcc-e770a72c7ee2"}}}
	ports := []ovsPort{{UUID: "p1", Name: "tapc790b755-c7", Interfaces: []string{"u1"}}}
	roots := []ovsRoot{{ExternalIDs: map[string]string{"hostname": "oslab-hv1", "ovn-remote": "tcp:127.0.0.1:6642", "system-id": "oslab-hv1"}}}
	got := buildPorts(netip.MustParseAddr("127.0.0.1"), ifaces, ports, roots)
	if len(got) != 1 {
		t.Fatalf("%d ports", len(got))
	}
	p := got[0]
	if p.ID != "c790b755-c742-4fa8-a3c5-f3fe37ef24a2" || p.Host != "oslab-hv1" || len(p.Attachments) != 1 ||
		p.Attachments[0].Backend != "ovn" || p.Attachments[0].IfIndex != 13 || p.Attachments[0].LocalVLAN != 0 {
		t.Errorf("OVN port: %+v", p)
	}
}
