// Package openstack attributes each flow to the OpenStack ports at its two
// ends: instance, network, project and hypervisor. It merges what several
// sources know — the local OVSDB of each hypervisor, the Neutron and Nova
// APIs, a static file — into one inventory, and attributes by observation
// point and MAC, never by IP address alone: tenant networks reuse address
// ranges.
package openstack

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// Port is what is known about one Neutron port.
type Port struct {
	ID             string     `yaml:"id"`
	MAC            string     `yaml:"mac"`
	InstanceID     string     `yaml:"instance_id"`
	InstanceName   string     `yaml:"instance_name"`
	NetworkID      string     `yaml:"network_id"`
	NetworkName    string     `yaml:"network_name"`
	SegmentationID uint32     `yaml:"segmentation_id"`
	ProjectID      string     `yaml:"project_id"`
	ProjectName    string     `yaml:"project_name"`
	Host           string     `yaml:"host"`
	FixedIPs       []string   `yaml:"fixed_ips"`
	Attachments    []Attached `yaml:"attachments"`
	// DeviceOwner is Neutron's device_owner (compute:nova,
	// network:router_interface, network:dhcp…), from the API.
	DeviceOwner string `yaml:"device_owner,omitempty"`
	// SecurityGroups are the ids of the port's security groups, from the
	// API: what drops Neutron's packet logs report on the port are
	// attributed to.
	SecurityGroups []string `yaml:"security_groups,omitempty"`
	// OVNSwitch and OVNTunnelKey: with ML2/OVN, the port's logical switch
	// (neutron-<network id>) and its datapath's tunnel key, the VNI its
	// Geneve packets carry (not Neutron's segmentation id), from the
	// Southbound.
	OVNSwitch    string `yaml:"ovn_switch,omitempty"`
	OVNTunnelKey uint32 `yaml:"ovn_tunnel_key,omitempty"`

	// Source names where the port came from; a merged port lists several.
	Source string `yaml:"-"`
	mac    flow.MAC
	// id is what flows attributed to the port point at.
	id flow.Identity
	// at lists the agents the port is plugged on, parsed once.
	at []attachPoint
}

type attachPoint struct {
	agent netip.Addr
	index uint32 // 0: plugged without a Linux ifindex (an internal port in a netns)
	name  string // the OVS interface
}

// Attached says where a port is plugged: the sFlow agent address of its
// hypervisor and the Linux ifindex of its OVS interface (tap, qvo, vhu).
type Attached struct {
	Agent     string `yaml:"agent"`
	IfIndex   uint32 `yaml:"ifindex"`
	Interface string `yaml:"interface"`
	LocalVLAN uint16 `yaml:"local_vlan"` // the ML2/OVS agent's tag on br-int
	// Backend is what bound the port on its hypervisor: "ovn" when
	// ovn-controller did (Interface external_ids ovn-installed), "ovs" for
	// the ML2/OVS agent (it tags the port); "" when not known.
	Backend string `yaml:"backend,omitempty"`
}

type attachKey struct {
	agent netip.Addr
	index uint32
}

type snapshot struct {
	ports    []*Port
	byID     map[string]*Port // Neutron port id ("mac:…" keys for ports without one)
	byAttach map[attachKey]*Port
	// byAttach4 holds the IPv4 agents' attachments under a 64-bit key
	// (agent << 32 | ifIndex), and byMAC uses MACs as 64-bit keys: the
	// runtime's 64-bit map path is several times faster than hashing a
	// netip.Addr, and these run twice for every record.
	byAttach4 map[uint64]*Port
	byMAC     map[uint64][]*Port
	// fixedIPs holds every port's fixed addresses (any network): a
	// router's packet from one of them was routed inside the cloud.
	fixedIPs map[netip.Addr]bool
}

// Inventory merges what the sources report. Each source replaces its own
// part whenever it learns something; lookups read an immutable snapshot
// and never lock.
type Inventory struct {
	opts atomic.Pointer[Options]
	// conntrack holds the bridges (bridgeKey) seen running conntrack.
	conntrack sync.Map
	mu        sync.Mutex
	sources   map[string][]Port
	updated   map[string]time.Time
	enrichers []*counts
	cur       atomic.Pointer[snapshot]
}

// NewInventory returns an empty inventory.
func NewInventory() *Inventory {
	inv := &Inventory{sources: map[string][]Port{}, updated: map[string]time.Time{}}
	inv.cur.Store(&snapshot{byAttach: map[attachKey]*Port{}, byAttach4: map[uint64]*Port{}, byMAC: map[uint64][]*Port{}})
	inv.opts.Store(&Options{})
	return inv
}

// SecurityGroups returns the security groups of the Neutron port with id
// port (nil when not known).
func (inv *Inventory) SecurityGroups(port string) []string {
	if p := inv.cur.Load().byID[port]; p != nil {
		return p.SecurityGroups
	}
	return nil
}

// SetOptions sets how observations are classified.
func (inv *Inventory) SetOptions(o Options) { inv.opts.Store(&o) }

// Set replaces everything source knows.
func (inv *Inventory) Set(source string, ports []Port) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.sources[source] = ports
	inv.updated[source] = time.Now()
	inv.cur.Store(inv.merge())
}

// SourceStats describes what one source contributed.
type SourceStats struct {
	Name    string
	Ports   int
	Updated time.Time // when it last reported
}

// Stats describes the inventory and how well it attributes flows.
type Stats struct {
	Ports   int // merged
	Sources []SourceStats
	// Flows went through an Enricher; Source and Destination of them had
	// that end attributed to a port.
	Flows, Source, Destination uint64
}

// Stats returns the inventory's size and its Enrichers' counters.
func (inv *Inventory) Stats() Stats {
	st := Stats{Ports: len(inv.cur.Load().ports)}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for name, ports := range inv.sources {
		st.Sources = append(st.Sources, SourceStats{Name: name, Ports: len(ports), Updated: inv.updated[name]})
	}
	for _, c := range inv.enrichers {
		st.Flows += c.flows.Load()
		st.Source += c.src.Load()
		st.Destination += c.dst.Load()
	}
	sort.Slice(st.Sources, func(i, j int) bool { return st.Sources[i].Name < st.Sources[j].Name })
	return st
}

// counts belong to one Enricher; the padding keeps two input goroutines'
// counters off one cache line.
type counts struct {
	flows, src, dst atomic.Uint64
	_               [40]byte
}

// Enricher is Inventory.Enrich with attribution counters, for one input
// goroutine: counting on its own counters costs no contention between cores.
type Enricher struct {
	inv *Inventory
	c   *counts
	// Counted here, added to c at Flush: even uncontended atomic adds
	// were a fifth of attribution's cost per record.
	flows, src, dst uint64
}

// NewEnricher returns an Enricher whose counts Stats includes. Make one per
// input goroutine, not per record: the inventory keeps every one's counters
// for its whole life.
func (inv *Inventory) NewEnricher() *Enricher {
	c := &counts{}
	inv.mu.Lock()
	inv.enrichers = append(inv.enrichers, c)
	inv.mu.Unlock()
	return &Enricher{inv: inv, c: c}
}

// Enrich attributes r like Inventory.Enrich and counts the result.
func (e *Enricher) Enrich(r *flow.Record) {
	src, dst := e.inv.enrich(r)
	e.flows++
	if src {
		e.src++
	}
	if dst {
		e.dst++
	}
}

// Flush makes the counts so far visible to Stats. The pipeline calls it
// after each batch of datagrams.
func (e *Enricher) Flush() {
	if e.flows == 0 {
		return
	}
	e.c.flows.Add(e.flows)
	e.c.src.Add(e.src)
	e.c.dst.Add(e.dst)
	e.flows, e.src, e.dst = 0, 0, 0
}

// precedence: names from the cloud's APIs and the operator's file are
// better than OVSDB's (which has none); attachments come from wherever
// they are known.
func rank(source string) int {
	switch {
	case strings.HasPrefix(source, "static"):
		return 0
	case strings.HasPrefix(source, "neutron"):
		return 1
	}
	return 2
}

func (inv *Inventory) merge() *snapshot {
	names := make([]string, 0, len(inv.sources))
	for n := range inv.sources {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if ri, rj := rank(names[i]), rank(names[j]); ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	byID := map[string]*Port{}
	var order []*Port
	for _, src := range names {
		for _, p := range inv.sources[src] {
			p := p
			p.Source = src
			if m, err := parseMAC(p.MAC); err == nil {
				p.mac = m
			}
			key := p.ID
			if key == "" {
				key = "mac:" + strings.ToLower(p.MAC) + "/" + src
			}
			old := byID[key]
			if old == nil {
				cp := p
				byID[key] = &cp
				order = append(order, &cp)
				continue
			}
			mergeInto(old, &p)
		}
	}
	s := &snapshot{ports: order, byID: byID, byAttach: map[attachKey]*Port{}, byAttach4: map[uint64]*Port{}, byMAC: map[uint64][]*Port{},
		fixedIPs: map[netip.Addr]bool{}}
	for _, p := range order {
		p.id = flow.Identity{PortID: p.ID, InstanceID: p.InstanceID, InstanceName: p.InstanceName,
			NetworkID: p.NetworkID, NetworkName: p.NetworkName, SegmentationID: p.SegmentationID,
			ProjectID: p.ProjectID, ProjectName: p.ProjectName, Host: p.Host, Source: p.Source}
		for _, a := range p.Attachments {
			if addr, err := netip.ParseAddr(a.Agent); err == nil {
				p.at = append(p.at, attachPoint{addr.Unmap(), a.IfIndex, a.Interface})
			}
			if addr, err := netip.ParseAddr(a.Agent); err == nil && a.IfIndex != 0 {
				if k, ok := attach4(addr.Unmap(), a.IfIndex); ok {
					s.byAttach4[k] = p
				} else {
					s.byAttach[attachKey{addr.Unmap(), a.IfIndex}] = p
				}
			}
		}
		if !p.mac.IsZero() {
			s.byMAC[macKey(p.mac)] = append(s.byMAC[macKey(p.mac)], p)
		}
		for _, ip := range p.FixedIPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				s.fixedIPs[a.Unmap()] = true
			}
		}
	}
	return s
}

// mergeInto fills what dst lacks from src.
func mergeInto(dst, src *Port) {
	fill := func(d *string, s string) {
		if *d == "" {
			*d = s
		}
	}
	fill(&dst.MAC, src.MAC)
	fill(&dst.InstanceID, src.InstanceID)
	fill(&dst.InstanceName, src.InstanceName)
	fill(&dst.NetworkID, src.NetworkID)
	fill(&dst.NetworkName, src.NetworkName)
	fill(&dst.ProjectID, src.ProjectID)
	fill(&dst.ProjectName, src.ProjectName)
	fill(&dst.Host, src.Host)
	fill(&dst.DeviceOwner, src.DeviceOwner)
	if len(dst.SecurityGroups) == 0 {
		dst.SecurityGroups = src.SecurityGroups
	}
	fill(&dst.OVNSwitch, src.OVNSwitch)
	if dst.OVNTunnelKey == 0 {
		dst.OVNTunnelKey = src.OVNTunnelKey
	}
	if dst.SegmentationID == 0 {
		dst.SegmentationID = src.SegmentationID
	}
	if dst.mac.IsZero() {
		dst.mac = src.mac
	}
	if len(dst.FixedIPs) == 0 {
		dst.FixedIPs = src.FixedIPs
	}
	dst.Attachments = append(dst.Attachments, src.Attachments...)
	dst.Source += "+" + src.Source
}

func parseMAC(s string) (flow.MAC, error) {
	var m flow.MAC
	s = strings.NewReplacer(":", "", "-", "", ".", "").Replace(s)
	if len(s) != 12 {
		return m, fmt.Errorf("%q is not a MAC address", s)
	}
	for i := 0; i < 6; i++ {
		var b byte
		for _, c := range s[2*i : 2*i+2] {
			b <<= 4
			switch {
			case c >= '0' && c <= '9':
				b |= byte(c - '0')
			case c >= 'a' && c <= 'f':
				b |= byte(c-'a') + 10
			case c >= 'A' && c <= 'F':
				b |= byte(c-'A') + 10
			default:
				return m, fmt.Errorf("%q is not a MAC address", s)
			}
		}
		m[i] = b
	}
	return m, nil
}

// Ports returns the merged inventory, for `flowlens inventory`.
func (inv *Inventory) Ports() []Port {
	s := inv.cur.Load()
	out := make([]Port, len(s.ports))
	for i, p := range s.ports {
		out[i] = *p
	}
	return out
}

// lookup finds the port at one end of a flow: by where the packet entered
// or left (agent and ifIndex), else by MAC, using the VLAN or VNI to choose
// when one MAC belongs to ports of several networks. It returns nil rather
// than guess; attached says it was found by where it is plugged.
func (s *snapshot) lookup(agent netip.Addr, port *flow.Port, mac flow.MAC, vlan uint16, vni uint32) (p *Port, attached bool) {
	if port.Format == flow.PortSingle {
		if k, ok := attach4(agent, port.Index); ok {
			p = s.byAttach4[k]
		} else {
			p = s.byAttach[attachKey{agent, port.Index}]
		}
		if p != nil {
			return p, true
		}
	}
	if mac.IsZero() {
		return nil, false
	}
	cands := s.byMAC[macKey(mac)]
	switch len(cands) {
	case 0:
		return nil, false
	case 1:
		return cands[0], false
	}
	var pick *Port
	for _, p := range cands {
		match := vni != 0 && (p.SegmentationID == vni || p.OVNTunnelKey == vni) || vlan != 0 && (p.SegmentationID == uint32(vlan) || p.hasLocalVLAN(agent, vlan))
		if match {
			if pick != nil {
				return nil, false // still ambiguous
			}
			pick = p
		}
	}
	return pick, false
}

func attach4(agent netip.Addr, ifIndex uint32) (uint64, bool) {
	if !agent.Is4() {
		return 0, false
	}
	a := agent.As4()
	return uint64(a[0])<<56 | uint64(a[1])<<48 | uint64(a[2])<<40 | uint64(a[3])<<32 | uint64(ifIndex), true
}

func macKey(m flow.MAC) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

func (p *Port) hasLocalVLAN(agent netip.Addr, vlan uint16) bool {
	for _, a := range p.Attachments {
		if a.LocalVLAN == vlan {
			if ad, err := netip.ParseAddr(a.Agent); err == nil && ad.Unmap() == agent {
				return true
			}
		}
	}
	return false
}

// Enrich attributes both ends of r and sets its relation. It is safe for
// concurrent use and does not allocate.
func (inv *Inventory) Enrich(r *flow.Record) { inv.enrich(r) }

// enrich reports which ends it attributed.
func (inv *Inventory) enrich(r *flow.Record) (srcFound, dstFound bool) {
	s := inv.cur.Load()
	o := inv.opts.Load()
	recirculated := r.Out.Format == flow.PortRecirculated // attributed again, after aggregation
	if r.Out.Format == flow.PortDiscard && r.Out.Reason == noOutput && inv.recirculates(r, o) {
		r.Out.Format, recirculated = flow.PortRecirculated, true
	}
	if len(s.ports) == 0 {
		if r.InnerPresent && o.cloudMAC(s, r.Inner.SrcMAC) {
			r.Observation = flow.ObservationTunnel
		} else {
			r.Observation = o.classify(s, r, nil, false)
		}
		return false, false
	}
	vlan := r.In.VLAN
	if vlan == 0 {
		vlan = r.VLAN
	}
	src, srcAttached := s.lookup(r.Agent, &r.In, r.SrcMAC, vlan, 0)
	dst, _ := s.lookup(r.Agent, &r.Out, r.DstMAC, vlan, 0)
	// On a physical NIC, VM traffic is inside VXLAN/Geneve: the inner MACs
	// and the VNI name the ports.
	// OVN's ARP responder (and ND) answers on the port the request came
	// in: the output is the sender's own port, not the destination's.
	if dst != nil && dst == src && r.In.Format == flow.PortSingle && r.Out.Format == flow.PortSingle && r.In.Index == r.Out.Index {
		dst, _ = s.lookup(r.Agent, &flow.Port{}, r.DstMAC, vlan, 0)
	}
	if recirculated && dst != nil {
		// Where the packet goes once conntrack lets it: the destination's
		// port on this bridge, if it is plugged here.
		for _, a := range dst.at {
			if a.agent == r.Agent && a.index != 0 {
				r.Out.Index, r.Out.Name = a.index, a.name
				break
			}
		}
	}
	inner := false
	if r.InnerPresent && src == nil && dst == nil {
		none := flow.Port{}
		src, _ = s.lookup(r.Agent, &none, r.Inner.SrcMAC, 0, r.VNI)
		dst, _ = s.lookup(r.Agent, &none, r.Inner.DstMAC, 0, r.VNI)
		inner = true
	}
	if inner && (src != nil || o.cloudMAC(s, r.Inner.SrcMAC)) {
		r.Observation = flow.ObservationTunnel
	} else {
		r.Observation = o.classify(s, r, src, srcAttached)
	}
	if src != nil {
		r.SrcID = &src.id
	}
	if dst != nil {
		r.DstID = &dst.id
	}
	r.Relation = relation(src, dst, r.Direction)
	return src != nil, dst != nil
}

// relation classifies a flow. A VM is a port with an instance; router,
// DHCP and other ports without one are infrastructure. Outside the cloud
// means what GeoIP enrichment's direction says (it runs first).
func relation(src, dst *Port, dir flow.Direction) flow.Relation {
	srcVM, dstVM := src != nil && src.InstanceID != "", dst != nil && dst.InstanceID != ""
	switch {
	case src == nil && dst == nil:
		return flow.RelationUnknown
	case srcVM && dstVM:
		if src.Host != "" && src.Host == dst.Host || src.Host == "" && dst.Host == "" && sameAgent(src, dst) {
			return flow.RelationSameHost
		}
		return flow.RelationCrossHost
	case srcVM && dst == nil && (dir == flow.DirectionOutbound || dir == flow.DirectionExternal):
		return flow.RelationVMToExternal
	case dstVM && src == nil && (dir == flow.DirectionInbound || dir == flow.DirectionExternal):
		return flow.RelationExternalToVM
	}
	return flow.RelationInfrastructure
}

func sameAgent(a, b *Port) bool {
	for _, x := range a.Attachments {
		for _, y := range b.Attachments {
			if x.Agent == y.Agent {
				return true
			}
		}
	}
	return false
}
