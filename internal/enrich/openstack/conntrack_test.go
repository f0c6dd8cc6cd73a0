package openstack

import (
	"testing"

	"github.com/flowlens/flowlens/internal/flow"
)

// Samples as the lab's real ML2/OVS (openvswitch firewall) and OVN
// bridges sent them (shared/lab/openstack/evidence/*/sflow-raw-in-out.txt):
// every IP packet "discard, reason 256", ARP with real outputs.
func TestConntrackRecirculation(t *testing.T) {
	discard := flow.Port{Format: flow.PortDiscard, Reason: 256}
	tcp := func(flags uint16) flow.Record {
		r := flowRec(hostA, single(5), discard, "fa:16:3e:00:00:a1", "fa:16:3e:00:00:a2", "10.0.0.5", "10.0.0.6")
		r.EtherType, r.Proto, r.HasProto, r.DstPort, r.TCPFlags = 0x0800, 6, true, 22, flags
		return r
	}
	arp := flowRec(hostA, single(5), single(6), "fa:16:3e:00:00:a1", "fa:16:3e:00:00:a2", "0.0.0.0", "0.0.0.0")
	arp.EtherType = 0x0806

	inv := testInventory()
	syn := tcp(0x02)
	inv.Enrich(&syn)
	if syn.Out.Format != flow.PortDiscard {
		t.Errorf("auto, first SYN before anything is learnt: %s, want discard", syn.Out.Format)
	}
	// The lab's first TCP 22 sample after the SYN: the server's SYN-ACK.
	synack := tcp(0x12)
	synack.SubAgent = 2
	inv.Enrich(&synack)
	if synack.Out.Format != flow.PortRecirculated {
		t.Errorf("auto, a SYN-ACK (the SYN got through): %s, want recirculated", synack.Out.Format)
	}
	ack := tcp(0x10)
	inv.Enrich(&ack)
	if ack.Out.Format != flow.PortRecirculated {
		t.Fatalf("auto, an established connection's ACK: %s, want recirculated", ack.Out.Format)
	}
	// The destination is attributed by MAC and its tap is the inferred
	// output.
	if ack.DstID.OrEmpty().PortID != "port-a2" || ack.Out.Index != 6 || ack.Out.Name != "tapa2" {
		t.Errorf("recirculated: dst %+v, out %+v", ack.DstID, ack.Out)
	}
	syn2 := tcp(0x02)
	inv.Enrich(&syn2)
	if syn2.Out.Format != flow.PortRecirculated {
		t.Errorf("auto, a SYN once the bridge is known: %s", syn2.Out.Format)
	}
	inv.Enrich(&arp)
	if arp.Out.Format != flow.PortSingle || arp.DstID.OrEmpty().PortID != "port-a2" {
		t.Errorf("ARP keeps its real output: %+v", arp.Out)
	}
	if b := inv.ConntrackBridges(); len(b) != 2 || b[0] != hostA+"/0" || b[1] != hostA+"/2" {
		t.Errorf("bridges running conntrack: %v", b)
	}
	// Another bridge (sub-agent) is not taken for one running conntrack.
	other := tcp(0x02)
	other.SubAgent = 1
	inv.Enrich(&other)
	if other.Out.Format != flow.PortDiscard {
		t.Errorf("sub-agent 1: %s", other.Out.Format)
	}
	// An echo reply teaches it too (the request got through), on ICMP and
	// ICMPv6; an echo request does not.
	for _, c := range []struct {
		ether     uint16
		proto     uint8
		typ       uint8
		recircule bool
	}{{0x0800, 1, 8, false}, {0x0800, 1, 0, true}, {0x86dd, 58, 128, false}, {0x86dd, 58, 129, true}} {
		inv := testInventory()
		r := flowRec(hostA, single(5), discard, "fa:16:3e:00:00:a1", "fa:16:3e:00:00:a2", "10.0.0.5", "10.0.0.6")
		r.EtherType, r.Proto, r.HasProto, r.ICMPType, r.HasICMP = c.ether, c.proto, true, c.typ, true
		inv.Enrich(&r)
		if got := r.Out.Format == flow.PortRecirculated; got != c.recircule {
			t.Errorf("auto, protocol %d type %d: %s", c.proto, c.typ, r.Out.Format)
		}
	}
	// Both modes, set.
	for mode, want := range map[string]flow.PortFormat{"on": flow.PortRecirculated, "off": flow.PortDiscard} {
		inv := testInventory()
		inv.SetOptions(Options{Conntrack: mode})
		for _, flags := range []uint16{0x02, 0x10} {
			r := tcp(flags)
			inv.Enrich(&r)
			if r.Out.Format != want {
				t.Errorf("conntrack %s, flags %#x: %s, want %s", mode, flags, r.Out.Format, want)
			}
		}
	}
	// Other reasons are drops whatever the mode.
	r := tcp(0x10)
	r.Out.Reason = 258 // ACL
	inv.Enrich(&r)
	if r.Out.Format != flow.PortDiscard {
		t.Errorf("reason 258: %s", r.Out.Format)
	}
}

// OVN's ARP responder answers on the port the request came in (the lab's
// in=0x17 out=0x17): the asking VM is not the destination.
func TestARPResponderHairpin(t *testing.T) {
	inv := testInventory()
	req := flowRec(hostA, single(5), single(5), "fa:16:3e:00:00:a1", "ff:ff:ff:ff:ff:ff", "0.0.0.0", "0.0.0.0")
	req.EtherType = 0x0806
	inv.Enrich(&req)
	if req.SrcID.OrEmpty().PortID != "port-a1" || req.DstID != nil {
		t.Errorf("broadcast ARP request answered by OVN: src %+v dst %+v, want the asker as source only", req.SrcID, req.DstID)
	}
	uni := flowRec(hostA, single(5), single(5), "fa:16:3e:00:00:a1", "fa:16:3e:00:00:a2", "0.0.0.0", "0.0.0.0")
	uni.EtherType = 0x0806
	inv.Enrich(&uni)
	if uni.DstID.OrEmpty().PortID != "port-a2" {
		t.Errorf("unicast ARP request answered by OVN: dst %+v, want its target by MAC", uni.DstID)
	}
}
