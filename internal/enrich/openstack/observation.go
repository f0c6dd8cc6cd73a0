package openstack

import (
	"fmt"
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
