// Package flow defines the records every input produces and every output
// consumes: one flow record type and one counter record type, whatever the
// export protocol. Records hold no pointers into the datagram they came
// from, so decoders can reuse their buffers.
package flow

import (
	"net/netip"
	"time"
)

// MAC is an Ethernet address. A fixed array keeps Record free of slices.
type MAC [6]byte

// IsZero reports whether the address is 00:00:00:00:00:00 (absent).
func (m MAC) IsZero() bool { return m == MAC{} }

// PortFormat says how an sFlow interface value must be read. sFlow packs a
// format into the top two bits of a 32-bit interface number; passing the raw
// number on would make 0x80000003 ("flooded to 3 ports") look like a port.
type PortFormat uint8

const (
	// PortUnknown: the agent did not know the port (value 0). Open vSwitch
	// reports this for ports without a Linux ifindex (patch ports, internal
	// ports moved into another namespace).
	PortUnknown PortFormat = iota
	// PortSingle: Index is the ifIndex of one port.
	PortSingle
	// PortLocal: the packet came from or went to the agent itself (0x3FFFFFFF).
	PortLocal
	// PortDiscard: the packet was dropped; Reason holds the sFlow reason code.
	PortDiscard
	// PortMultiple: the packet went out of Count ports (0 = unknown number).
	// Open vSwitch also uses Count 1 for a single output port it has no
	// ifindex for.
	PortMultiple
	// PortRecirculated: the agent said discard (reason 256, no output)
	// but the bridge runs conntrack: Open vSwitch samples a packet in its
	// first datapath pass, which ends in ct() and recirculation before
	// any output, allowed and blocked packets alike. The output is not
	// known; Index and Name, when set, are inferred from the destination's
	// port. Not a drop.
	PortRecirculated
)

var portFormatNames = [...]string{"unknown", "single", "local", "discard", "multiple", "recirculated"}

func (f PortFormat) String() string {
	if int(f) < len(portFormatNames) {
		return portFormatNames[f]
	}
	return "unknown"
}

// Port is one end of a packet's path through the observation point.
type Port struct {
	Format PortFormat
	Index  uint32 // ifIndex when Format is PortSingle
	Count  uint32 // ports when Format is PortMultiple
	Reason uint32 // drop reason when Format is PortDiscard
	VLAN   uint16 // 802.1Q VLAN on this side (sFlow extended_switch), 0 if none

	// From the interface inventory (counter samples, OVSDB).
	Name       string
	OFPort     uint32 // OpenFlow port number, 0 if unknown
	Speed      uint64 // bits/s, 0 if unknown
	HasOFPort  bool
	HasVLAN    bool
	DatapathID uint64
}

// Tunnel kinds found in sampled headers.
type TunnelType uint8

const (
	TunnelNone TunnelType = iota
	TunnelVXLAN
	TunnelGeneve
	TunnelGRE
)

var tunnelNames = [...]string{"", "vxlan", "geneve", "gre"}

func (t TunnelType) String() string {
	if int(t) < len(tunnelNames) {
		return tunnelNames[t]
	}
	return ""
}

// Layer names how far the header parser got. A truncated header keeps every
// field of the layers before Layer.
type Layer uint8

const (
	LayerNone Layer = iota
	LayerL2
	LayerL3
	LayerL4
	LayerInnerL2
	LayerInnerL3
	LayerInnerL4
)

var layerNames = [...]string{"none", "l2", "l3", "l4", "inner_l2", "inner_l3", "inner_l4"}

func (l Layer) String() string {
	if int(l) < len(layerNames) {
		return layerNames[l]
	}
	return "none"
}

// Packet holds what was parsed from one packet's headers. A flow record has
// one for the packet as seen on the wire and one for the packet inside a
// tunnel.
type Packet struct {
	SrcMAC, DstMAC MAC
	EtherType      uint16
	VLAN           uint16 // outer 802.1Q/802.1ad tag
	InnerVLAN      uint16 // second tag (QinQ)
	VLANCount      uint8
	MPLSCount      uint8
	MPLSLabels     [4]uint32

	SrcAddr, DstAddr netip.Addr
	Proto            uint8 // IP protocol (TCP 6, UDP 17, ...)
	HasProto         bool
	TOS              uint8
	TTL              uint8
	IPLength         uint16 // total length (IPv4) or payload length + 40 (IPv6)
	FlowLabel        uint32
	Fragment         bool // a fragment (IPv4 MF/offset or an IPv6 fragment header)
	FragmentOffset   uint16

	SrcPort, DstPort uint16
	HasPorts         bool
	TCPFlags         uint16
	ICMPType         uint8
	ICMPCode         uint8
	HasICMP          bool
	ARPOp            uint16
}

// Input names the protocol a record arrived in.
type Input uint8

const (
	InputSFlow Input = iota
	InputNetFlowV5
	InputNetFlowV9
	InputIPFIX
	// InputNeutronLog: a packet Neutron's packet logging wrote
	// (ML2/OVS security group logging), not a sample.
	InputNeutronLog
)

var inputNames = [...]string{"sflow", "netflow_v5", "netflow_v9", "ipfix", "neutron_log"}

func (i Input) String() string {
	if int(i) < len(inputNames) {
		return inputNames[i]
	}
	return "unknown"
}

// ParseInput returns the input named s (Input.String).
func ParseInput(s string) (Input, bool) {
	for i, n := range inputNames {
		if n == s {
			return Input(i), true
		}
	}
	return 0, false
}

// Record is one flow observation: an sFlow flow sample, a NetFlow/IPFIX data
// record, whatever the input. Bytes and Packets are estimates of the real
// traffic: the sampled size times the sampling rate.
type Record struct {
	Time  time.Time // arrival time at the collector (sFlow carries none)
	Input Input

	// Flow start and end as the exporter reports them (NetFlow, IPFIX);
	// zero for sFlow, which samples single packets.
	Start, End time.Time

	// Observation point. For NetFlow and IPFIX, Agent is the exporter's
	// address and SubAgent its source id / observation domain.
	Agent        netip.Addr
	SubAgent     uint32
	Sequence     uint32 // datagram (sFlow, NetFlow) or record (IPFIX) sequence number
	SampleSeq    uint32 // flow sample sequence number
	SourceIDType uint8  // sFlow source id: 0 ifIndex, 1 VLAN, 2 entity
	SourceIndex  uint32
	SamplingRate uint32
	SamplePool   uint32
	Drops        uint32 // samples the agent dropped (resource shortage)
	In, Out      Port

	// Sizes.
	FrameLength  uint32 // as the agent reported it (sFlow: includes the FCS)
	Stripped     uint32 // bytes the agent removed before the header (FCS)
	HeaderLength uint32 // bytes of header the agent sent
	HeaderProto  uint32 // sFlow header_protocol (1 = Ethernet)
	Bytes        uint64 // estimated bytes: sampled size x rate
	Packets      uint64 // estimated packets
	// Samples is the number of samples or exported records summed into
	// this one by aggregation; 0 for a record that was not aggregated.
	Samples uint64
	// Overflow marks the aggregate that collects records whose own key did
	// not fit under the aggregation's key limit.
	Overflow bool

	Packet             // outer packet as seen on the wire
	Parsed       Layer // how far the header parser got
	Truncated    bool  // header ended before the parser was done
	Tunnel       TunnelType
	VNI          uint32 // VXLAN/Geneve VNI or GRE key
	HasVNI       bool
	Inner        Packet // packet carried in the tunnel
	InnerPresent bool

	// sFlow extended tunnel and VNI records: what the agent says about the
	// encapsulation the packet got (egress) or had (ingress), as opposed to
	// the tunnel parsed from the header.
	TunnelEgress, TunnelIngress             Endpoint
	TunnelEgressVNI, TunnelIngressVNI       uint32
	HasTunnelEgressVNI, HasTunnelIngressVNI bool

	// sFlow extended_router / extended_gateway.
	NextHop          netip.Addr
	SrcMask, DstMask uint8
	SrcAS, DstAS     uint32
	PeerAS           uint32
	ASPath           [8]uint32
	ASPathLen        uint8
	LocalPref        uint32
	HasGateway       bool

	// NetFlow/IPFIX routing and NAT. BGPNextHop is bgpNextHopIPv4Address
	// or bgpNextHopIPv6Address (IE 18/63), kept apart from NextHop (the IP
	// next hop, IE 15/62): a router exports both and they differ. SrcNAT,
	// DstNAT and their ports are the addresses and ports after NAT (IE
	// 225-228, 281/282); the packet fields keep the pre-NAT ones.
	BGPNextHop     netip.Addr
	SrcNAT, DstNAT netip.Addr
	SrcNATPort     uint16
	DstNATPort     uint16
	HasNATPorts    bool

	// Enrichment: geography and network of each end, the OpenStack
	// identity of each end, and what the flow is relative to the cloud.
	// Nil when unknown. They point at the enrichers' immutable entries,
	// shared by every record of that address or port: never write through
	// them (replace the pointer). Out of line, they keep the record small:
	// records are copied from decoder to batch to output, and this is most
	// of their cost.
	SrcGeo, DstGeo *Geo
	SrcID, DstID   *Identity
	Direction      Direction
	Relation       Relation
	// Observation says whether this sample is the packet's first
	// observation in the cloud (counted) or a repeat of a packet already
	// sampled where it entered (docs/openstack.md "Counting each packet once").
	Observation Observation

	// NetFlow and IPFIX specifics.
	//
	// Biflow says which direction of an RFC 5103 bidirectional flow the
	// record is (BiflowForward, BiflowReverse); 0 for a plain flow.
	Biflow               Biflow
	EngineType, EngineID uint8
	HasEngine            bool
	EndReason            uint8 // IPFIX flowEndReason (IE 136), 0 if absent
	TemplateID           uint16
	// The NetFlow v5 header's record count and sampling field as sent
	// (mode in the top two bits, interval in the low 14), kept for the
	// netflow-compat schema: fluent-plugin-netflow writes both on every
	// record. Zero for other inputs.
	V5Count, V5Sampling uint16
	// V5ICMPInSrcPort: the NetFlow v5 record had its ICMP type in the
	// source port field and its code in the destination port (fprobe,
	// sflowtool -c), not type·256+code in the destination port.
	V5ICMPInSrcPort bool
	// IPFIX observationPointId (IE 138): Open vSwitch's sample action
	// sends its obs_point_id here; OVN's drop sampling puts the first 32
	// bits of the dropping logical flow's uuid in it.
	ObservationPointID  uint64
	HasObservationPoint bool
	// IPFIX flowDirection (IE 61): 0 ingress, 1 egress.
	FlowDirection    uint8
	HasFlowDirection bool
	// SysUptime is the exporter's uptime (ms) in the NetFlow v5 header,
	// for the netflow-compat schema; 0 for other inputs.
	SysUptime uint32

	// Blocked is set on a record of a packet that a security group (or
	// another drop rule of the virtual network) dropped; nil otherwise.
	// Like SrcID it points at an immutable entry: replace, never write
	// through it.
	Blocked *Blocked
}

// Blocked says what dropped a packet and on whose behalf.
type Blocked struct {
	// Source is where the drop is known from: BlockedOVNDropSampling.
	Source string
	// LogicalFlow is the OVN Southbound Logical_Flow uuid of the drop
	// flow; only its first 8 hex digits (the observation point) when
	// the flow is not (or no longer) known.
	LogicalFlow string
	Stage       string // logical flow's stage-name: ls_in_acl, ls_out_acl, …
	// ACL is the OVN Northbound ACL behind the logical flow (its
	// stage-hint), ACLDirection its from-lport or to-lport.
	ACL          string
	ACLDirection string
	// Default: dropped because no rule of the port's security groups
	// allowed it (Neutron's neutron_pg_drop port group), not by a rule.
	Default bool
	// SecurityGroups are the Neutron security groups of the port the
	// drop protected (for a default drop) or the one whose rule dropped.
	SecurityGroups    []string
	SecurityGroupRule string // neutron:security_group_rule_id, when a rule dropped
	// Port is the Neutron port the drop protected: the receiver for a
	// to-lport ACL, the sender for a from-lport one.
	Port string
	// Reason says why some of the above is not known (e.g. the logical
	// flow is gone); empty when everything that applies is known.
	Reason string
}

// BlockedOVNDropSampling is the source of drops OVN sampled over IPFIX
// (NB_Global options:debug_drop_collector_set).
const BlockedOVNDropSampling = "ovn-drop-sampling"

// Counted reports whether the record counts traffic once: its first
// observation in the cloud, and not a drop sample (a dropped packet was
// counted where it entered, by the sample of the port it came from).
func (r *Record) Counted() bool {
	return r.Blocked == nil && r.Observation.First()
}

// Biflow names a direction of an RFC 5103 bidirectional flow.
type Biflow uint8

const (
	BiflowNone Biflow = iota
	// BiflowForward: the record's own (forward) direction.
	BiflowForward
	// BiflowReverse: the reverse direction, made from the reverse
	// information elements (enterprise 29305) of the same data record,
	// with source and destination swapped.
	BiflowReverse
)

var biflowNames = [...]string{"", "forward", "reverse"}

func (b Biflow) String() string {
	if int(b) < len(biflowNames) {
		return biflowNames[b]
	}
	return ""
}

// Endpoint is a tunnel's outer header as an sFlow agent reports it
// (extended_ipv4/ipv6_tunnel_egress/ingress).
type Endpoint struct {
	Present          bool
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

// Geo is what GeoIP and ASN databases say about an address.
type Geo struct {
	CountryISO  string
	CountryName string
	City        string
	Lat, Lon    float64
	HasLocation bool
	ASN         uint32
	ASOrg       string
}

// Identity is what the cloud says about one end of a flow: the OpenStack
// port, instance, network and project behind a MAC or an address.
type Identity struct {
	PortID         string
	InstanceID     string
	InstanceName   string
	NetworkID      string
	NetworkName    string
	SegmentationID uint32
	ProjectID      string
	ProjectName    string
	Host           string // hypervisor the port is bound to
	Source         string // where the identity came from: ovsdb, neutron, static
}

var (
	noGeo      Geo
	noIdentity Identity
)

// OrEmpty returns g, or an empty Geo when g is nil, for reading only.
func (g *Geo) OrEmpty() *Geo {
	if g == nil {
		return &noGeo
	}
	return g
}

// OrEmpty returns i, or an empty Identity when i is nil, for reading only.
func (i *Identity) OrEmpty() *Identity {
	if i == nil {
		return &noIdentity
	}
	return i
}

// Known reports whether anything is known.
func (i *Identity) Known() bool {
	return i != nil && (i.PortID != "" || i.InstanceID != "" || i.NetworkID != "")
}

// Direction classifies a flow by whether its ends are inside the cloud
// (private, link-local and other reserved addresses, or known ports) or
// outside. The names are ECS network.direction values.
type Direction uint8

const (
	DirectionUnknown Direction = iota
	DirectionInternal
	DirectionInbound
	DirectionOutbound
	DirectionExternal
)

var directionNames = [...]string{"", "internal", "inbound", "outbound", "external"}

func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return ""
}

// Relation says what a flow is in the cloud's terms.
type Relation uint8

const (
	RelationUnknown        Relation = iota
	RelationSameHost                // VM to VM on one hypervisor
	RelationCrossHost               // VM to VM on two hypervisors
	RelationVMToExternal            // a VM to something outside the cloud
	RelationExternalToVM            // something outside to a VM
	RelationInfrastructure          // neither end is a VM (routers, DHCP, metadata, hosts)
)

var relationNames = [...]string{"", "same-host", "cross-host", "vm-to-external", "external-to-vm", "infrastructure"}

func (r Relation) String() string {
	if int(r) < len(relationNames) {
		return relationNames[r]
	}
	return ""
}

// Observation says where a sampled packet was observed relative to where
// it entered the cloud. Open vSwitch samples a packet on every bridge it
// enters, so a VM-to-VM packet between two hypervisors is sampled twice;
// counting only first observations counts every packet once.
type Observation uint8

const (
	// ObservationUnknown: not classified (no port or MAC information, as
	// in NetFlow v5 from a router). Counted.
	ObservationUnknown Observation = iota
	// ObservationPort: the packet entered from the sending port's own
	// interface (a VM's tap, a router or DHCP port plugged here). First.
	ObservationPort
	// ObservationUplink: the packet entered the cloud from outside, from
	// a physical interface or through a patch port from an uplink bridge
	// that does not export itself. First.
	ObservationUplink
	// ObservationForwarded: the sender is a port of the cloud, but the
	// packet did not enter from it here: it came through a tunnel or patch
	// port from another hypervisor or bridge, or a router re-emitted it.
	// A repeat.
	ObservationForwarded
	// ObservationTunnel: the outer packet of a tunnel whose inner sender
	// is a port of the cloud (the underlay). A repeat.
	ObservationTunnel
	// ObservationPatch: entered through a patch port from an uplink bridge
	// that exports too, where it was counted. A repeat.
	ObservationPatch
)

var observationNames = [...]string{"", "port", "uplink", "forwarded", "tunnel", "patch"}

func (o Observation) String() string {
	if int(o) < len(observationNames) {
		return observationNames[o]
	}
	return ""
}

// First reports whether the observation counts the packet: it is where
// the packet entered the cloud, or nothing says otherwise.
func (o Observation) First() bool {
	return o == ObservationUnknown || o == ObservationPort || o == ObservationUplink
}

// ParseObservation returns the observation named s ("" is unknown).
func ParseObservation(s string) (Observation, bool) {
	for i, n := range observationNames {
		if n == s {
			return Observation(i), true
		}
	}
	return 0, false
}
