package openstack

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/flowlens/flowlens/internal/flow"
)

// Options say how observations are classified (docs/openstack.md,
// "Counting each packet once").
type Options struct {
	// BaseMAC is Neutron's base_mac: MACs with its prefix are ports of
	// the cloud even when the inventory does not list them (a collector
	// on one hypervisor knows only its own ports). Its first three bytes
	// are the prefix, four when the fourth is not zero, as in Neutron.
	// Zero: no prefix.
	BaseMAC flow.MAC
	// UplinkExports says that the uplink bridges (br-ex, provider
	// bridges) export sFlow too: a packet entering br-int through a patch
	// port from outside was then counted on the uplink bridge already.
	UplinkExports bool
	// Conntrack says whether bridges run conntrack-based security
	// groups, so that "discard, reason 256" means "recirculated": auto
	// (learnt per bridge), on or off.
	Conntrack string
}

// noOutput is the sFlow discard reason Open vSwitch reports when the
// datapath pass it sampled had no output action.
const noOutput = 256

type bridgeKey struct {
	agent    netip.Addr
	subAgent uint32
}

// recirculates reports whether r's bridge runs conntrack, so that its
// "no output" is a recirculation rather than a drop. With conntrack-based
// security groups (the ML2/OVS openvswitch firewall, OVN ACLs) every
// sampled IP packet reports no output: the pass ends in ct() before any
// output. In auto mode a bridge is known to run conntrack once it reports
// no output for a TCP segment that carries an ACK (a SYN-ACK or any later
// segment) or an echo reply: they exist only because the packets they
// answer got through.
func (inv *Inventory) recirculates(r *flow.Record, o *Options) bool {
	if r.EtherType != 0x0800 && r.EtherType != 0x86dd {
		return false // ARP and ND skip conntrack: their outputs are real
	}
	switch o.Conntrack {
	case "on":
		return true
	case "off":
		return false
	}
	k := bridgeKey{r.Agent, r.SubAgent}
	if _, ok := inv.conntrack.Load(k); ok {
		return true
	}
	if answered(r) {
		inv.conntrack.Store(k, true)
		return true
	}
	return false
}

// answered reports whether r exists only because an earlier packet the
// other way got through: a TCP segment with ACK, or an ICMP or ICMPv6
// echo reply.
func answered(r *flow.Record) bool {
	switch {
	case !r.HasProto:
		return false
	case r.Proto == 6:
		return r.TCPFlags&0x10 != 0
	case r.Proto == 1:
		return r.HasICMP && r.ICMPType == 0
	case r.Proto == 58:
		return r.HasICMP && r.ICMPType == 129
	}
	return false
}

// ConntrackBridges lists the bridges (agent, sub-agent) seen running
// conntrack, for status.
func (inv *Inventory) ConntrackBridges() []string {
	out := []string{}
	inv.conntrack.Range(func(k, _ any) bool {
		b := k.(bridgeKey)
		out = append(out, fmt.Sprintf("%s/%d", b.agent, b.subAgent))
		return true
	})
	sort.Strings(out)
	return out
}

// ParseConntrack checks the conntrack option.
func ParseConntrack(s string) (string, error) {
	switch s {
	case "", "auto":
		return "auto", nil
	case "on", "off":
		return s, nil
	}
	return "", fmt.Errorf("conntrack %q: use auto (learn it per bridge), on (every bridge runs conntrack-based security groups) or off", s)
}

// DefaultBaseMAC is Neutron's default base_mac.
const DefaultBaseMAC = "fa:16:3e:00:00:00"

// ParseBaseMAC parses Neutron's base_mac option ("" for none).
func ParseBaseMAC(s string) (flow.MAC, error) {
	if s == "" {
		return flow.MAC{}, nil
	}
	m, err := parseMAC(s)
	if err != nil {
		return m, fmt.Errorf("base_mac %q is not a MAC address: write it as Neutron's base_mac option, e.g. %s", s, DefaultBaseMAC)
	}
	return m, nil
}

// cloudMAC reports whether m belongs to a port of the cloud: a port the
// inventory knows, or a MAC Neutron would allocate.
func (o *Options) cloudMAC(s *snapshot, m flow.MAC) bool {
	if m.IsZero() {
		return false
	}
	if len(s.byMAC[macKey(m)]) > 0 {
		return true
	}
	b := o.BaseMAC
	if b.IsZero() {
		return false
	}
	n := 3
	if b[3] != 0 {
		n = 4
	}
	return string(m[:n]) == string(b[:n])
}

// fromOutside reports whether r's source address is outside the cloud:
// no port's fixed address, or, when the inventory knows no addresses, not
// an internal one by GeoIP enrichment's direction.
func (o *Options) fromOutside(s *snapshot, r *flow.Record) bool {
	if !r.SrcAddr.IsValid() {
		return false
	}
	if len(s.fixedIPs) > 0 {
		return !s.fixedIPs[r.SrcAddr.Unmap()]
	}
	return r.Direction == flow.DirectionInbound || r.Direction == flow.DirectionExternal
}

// router reports whether p is a Neutron router's port (legacy, HA or
// DVR), by its device owner or, from OVSDB alone, its interface's name.
func (p *Port) router() bool {
	if p.DeviceOwner != "" {
		return strings.HasPrefix(p.DeviceOwner, "network:router") || strings.HasPrefix(p.DeviceOwner, "network:ha_router") ||
			p.DeviceOwner == "network:floatingip_agent_gateway"
	}
	if p.InstanceID != "" {
		return false
	}
	for _, a := range p.Attachments {
		for _, pre := range [...]string{"qr-", "qg-", "sg-", "rfp-", "fg-", "ha-"} {
			if strings.HasPrefix(a.Interface, pre) {
				return true
			}
		}
	}
	return false
}

// portLike reports whether an interface name is one that Neutron and
// os-vif give to the ports they plug (VM taps, hybrid-plug veths,
// vhost-user sockets, router, DHCP and HA ports), as opposed to uplinks
// and tunnel ports.
func portLike(name string) bool {
	for _, p := range [...]string{"tap", "qvo", "vhu", "qr-", "qg-", "sg-", "ha-", "fg-", "rfp-", "o-hm"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// classify says whether r is its packet's first observation in the cloud.
// src is the sending port (nil when unknown), attached whether it was
// found by the port the packet entered from.
//
// Open vSwitch samples a packet on every bridge it enters: a packet from a
// VM on hypervisor A to one on B is sampled on A's br-int (from the VM's
// tap) and again on B's br-int (from br-tun, through a patch port, input
// ifIndex 0). A packet is counted where it entered the cloud: from the
// sender's own port, or from outside.
func (o *Options) classify(s *snapshot, r *flow.Record, src *Port, attached bool) flow.Observation {
	// A router forwards: what it sends was counted where it entered the
	// cloud, a VM's tap or an uplink bridge that exports. Open vSwitch
	// samples a packet only on the bridge where a datapath pass starts, so
	// a packet from outside that crosses br-ex into br-int through a patch
	// port is not sampled on br-int: when the uplinks do not export, the
	// router's re-emission towards the cloud is its first sample.
	if src != nil && src.router() {
		if !o.UplinkExports && o.cloudMAC(s, r.DstMAC) && o.fromOutside(s, r) {
			return flow.ObservationUplink
		}
		return flow.ObservationForwarded
	}
	if attached {
		return flow.ObservationPort
	}
	in := &r.In
	if src != nil {
		if len(src.at) > 0 {
			for _, a := range src.at {
				// Plugged here without an ifindex (a router or DHCP port
				// in its namespace): Open vSwitch reports input 0.
				if a.agent == r.Agent && a.index == 0 && in.Format == flow.PortUnknown {
					return flow.ObservationPort
				}
			}
			return flow.ObservationForwarded
		}
		// Where it is plugged is not known (names from the APIs only):
		// an input port with a port's name, or no name yet, is its own.
		if in.Format == flow.PortSingle && (in.Name == "" || portLike(in.Name)) {
			return flow.ObservationPort
		}
		return flow.ObservationForwarded
	}
	if o.cloudMAC(s, r.SrcMAC) {
		if in.Format == flow.PortSingle && (in.Name == "" || portLike(in.Name)) {
			return flow.ObservationPort
		}
		return flow.ObservationForwarded
	}
	switch in.Format {
	case flow.PortSingle:
		if portLike(in.Name) {
			return flow.ObservationPort
		}
		return flow.ObservationUplink
	case flow.PortLocal:
		return flow.ObservationUplink // from the host itself
	case flow.PortUnknown:
		if r.SrcMAC.IsZero() && in.Index == 0 && r.Input != flow.InputSFlow {
			// NetFlow without ports or MACs: nothing to go by.
			return flow.ObservationUnknown
		}
		if o.UplinkExports {
			return flow.ObservationPatch
		}
		return flow.ObservationUplink
	}
	return flow.ObservationUnknown
}
