// Package schema is the one list of the fields of an aggregated flow: the
// store's columns (in table order) and the value each takes from a record,
// the console's and the API's dimensions and their labels, the name of each
// in Elasticsearch (ECS) and netflow-compat documents, and what of the
// record the aggregation key keeps so that the value survives aggregation.
//
// The store's tables, dimensions and rows, the console's dimension list
// (web/src/schema.gen.ts) and the table in docs/fields.md are made from it;
// the ECS and netflow-compat encoders, the Elasticsearch mapping and the
// aggregation key are checked against it by tests. Adding a field is one
// entry here, its value in the record, and the tests say what else to do.
package schema

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// Type is a field's type in the store.
type Type uint8

// The store's types.
const (
	String Type = iota
	Int
	Float
)

// SQL is the type's store column type.
func (t Type) SQL() string {
	switch t {
	case Int:
		return "BIGINT"
	case Float:
		return "DOUBLE"
	}
	return "VARCHAR"
}

func (t Type) String() string {
	switch t {
	case Int:
		return "integer"
	case Float:
		return "float"
	}
	return "string"
}

// Role says what a field is to aggregation and the console.
type Role uint8

// The roles.
const (
	// Dimension: grouped and filtered by; part of what makes an
	// aggregate (its source is in the aggregation key).
	Dimension Role = iota
	// Detail: stored, not offered as a dimension (a city, a location).
	Detail
	// Measure: summed.
	Measure
	// Time: the interval's start and length.
	Time
)

// Field is one field of an aggregated flow.
type Field struct {
	// Name is the store column and the API's and console's dimension.
	Name string
	Type Type
	Role Role
	// Label is the console's name for it.
	Label string
	// Kind normalises filter values: "ip", "mac" or "".
	Kind string
	// ECS is the field in Elasticsearch documents (docs/fields.md); "" if
	// none. Two store columns can share one (a geo_point's lat and lon).
	ECS string
	// Compat is the netflow-compat (fluent-plugin-netflow) field; "" if
	// the chain never had it.
	Compat string
	// Key names what of the record the aggregation key keeps for this
	// value: fields of aggregate's key; "" for measures and time.
	// Enrichment (names, geography) is kept through what it is computed
	// from, and attributed again when the aggregate is written.
	Key []string
	// Added is the value rows of stores made before the column existed
	// get ("" for the first release's columns, which come first).
	Added string
	// Doc says what the value is, for docs/fields.md.
	Doc string
	// Value is what the store keeps of r: an int64, a float64 or a string.
	Value func(r *flow.Record) any
}

// Flows are the flows tables' columns, in table order: the first
// release's, then those added later (Added set), last.
var Flows = []Field{
	{Name: "ts", Type: Int, Role: Time, ECS: "@timestamp", Compat: "@timestamp",
		Doc:   "start of the interval (aggregates) or of the flow, Unix seconds",
		Value: func(r *flow.Record) any { return start(r).Unix() }},
	{Name: "dur", Type: Int, Role: Time, ECS: "event.duration",
		Doc:   "seconds the flow lasted, when the exporter says (NetFlow, IPFIX); 0 for samples",
		Value: duration},
	{Name: "agent", Type: String, Label: "Agent", Kind: "ip", ECS: "observer.ip", Compat: "host", Key: []string{"agent"},
		Doc:   "the exporter: sFlow agent address, NetFlow/IPFIX source address",
		Value: func(r *flow.Record) any { return addr(r.Agent) }},
	{Name: "sub_agent", Type: Int, Label: "Sub-agent (bridge)", ECS: "flowlens.agent.sub_id", Key: []string{"subAgent"},
		Doc:   "sFlow sub-agent (Open vSwitch: one per bridge) or IPFIX observation domain",
		Value: func(r *flow.Record) any { return int64(r.SubAgent) }},
	{Name: "input", Type: String, Label: "Input protocol", ECS: "flowlens.input", Key: []string{"input"},
		Doc:   "sflow, netflow_v5, netflow_v9, ipfix or neutron_log",
		Value: func(r *flow.Record) any { return r.Input.String() }},
	{Name: "in_port", Type: String, Label: "Input port", ECS: "observer.ingress.interface.name", Compat: "input_snmp", Key: []string{"inFormat", "inIndex"},
		Doc:   "input port: its name, else its ifIndex, else its format (local, discard, multiple, recirculated)",
		Value: func(r *flow.Record) any { return PortLabel(&r.In) }},
	{Name: "out_port", Type: String, Label: "Output port", ECS: "observer.egress.interface.name", Compat: "output_snmp", Key: []string{"outFormat", "outIndex"},
		Doc:   "output port, as in_port",
		Value: func(r *flow.Record) any { return PortLabel(&r.Out) }},
	{Name: "src_mac", Type: String, Label: "Source MAC", Kind: "mac", ECS: "source.mac", Compat: "in_src_mac", Key: []string{"srcMAC"},
		Doc:   "source MAC, lower-case with colons",
		Value: func(r *flow.Record) any { return mac(r.SrcMAC) }},
	{Name: "dst_mac", Type: String, Label: "Destination MAC", Kind: "mac", ECS: "destination.mac", Compat: "in_dst_mac", Key: []string{"dstMAC"},
		Doc:   "destination MAC",
		Value: func(r *flow.Record) any { return mac(r.DstMAC) }},
	{Name: "vlan", Type: Int, Label: "VLAN", ECS: "network.vlan.id", Compat: "src_vlan", Key: []string{"vlan", "inVLAN"},
		Doc: "the packet's 802.1Q VLAN, else the input port's (sFlow extended_switch); 0 if none",
		Value: func(r *flow.Record) any {
			if r.VLAN == 0 {
				return int64(r.In.VLAN)
			}
			return int64(r.VLAN)
		}},
	{Name: "vni", Type: Int, Label: "VNI", ECS: "flowlens.tunnel.vni", Key: []string{"vni"},
		Doc: "VXLAN/Geneve network identifier; 0 if none",
		Value: func(r *flow.Record) any {
			if r.HasVNI {
				return int64(r.VNI)
			}
			return int64(0)
		}},
	{Name: "src_ip", Type: String, Label: "Source IP", Kind: "ip", ECS: "source.ip", Compat: "ipv4_src_addr", Key: []string{"srcAddr"},
		Doc:   "source address (IPv4, IPv6, or ARP sender)",
		Value: func(r *flow.Record) any { return addr(r.SrcAddr) }},
	{Name: "dst_ip", Type: String, Label: "Destination IP", Kind: "ip", ECS: "destination.ip", Compat: "ipv4_dst_addr", Key: []string{"dstAddr"},
		Doc:   "destination address",
		Value: func(r *flow.Record) any { return addr(r.DstAddr) }},
	{Name: "src_port", Type: Int, Label: "Source port", ECS: "source.port", Compat: "l4_src_port", Key: []string{"srcPort"},
		Doc:   "TCP, UDP or SCTP source port; 0 if none",
		Value: func(r *flow.Record) any { return int64(r.SrcPort) }},
	{Name: "dst_port", Type: Int, Label: "Destination port", ECS: "destination.port", Compat: "l4_dst_port", Key: []string{"dstPort"},
		Doc:   "destination port",
		Value: func(r *flow.Record) any { return int64(r.DstPort) }},
	{Name: "proto", Type: String, Label: "Protocol", ECS: "network.transport", Compat: "protocol", Key: []string{"proto"},
		Doc: "IANA protocol name, lower case (tcp, udp, icmp, ipv6-icmp, …), else its number",
		Value: func(r *flow.Record) any {
			if r.HasProto {
				return flow.Transport(r.Proto)
			}
			return ""
		}},
	{Name: "network_type", Type: String, Label: "Network type", ECS: "network.type", Key: []string{"etherType", "srcAddr"},
		Doc: "ipv4, ipv6, arp, … (the EtherType), else the address family",
		Value: func(r *flow.Record) any {
			t := flow.NetworkType(r.EtherType)
			if t == "" && r.SrcAddr.IsValid() {
				t = "ipv4"
				if r.SrcAddr.Is6() {
					t = "ipv6"
				}
			}
			return t
		}},
	{Name: "tunnel", Type: String, Label: "Tunnel", ECS: "flowlens.tunnel.type", Key: []string{"tunnel"},
		Doc:   "vxlan, geneve, gre, … when the sampled packet was encapsulated",
		Value: func(r *flow.Record) any { return r.Tunnel.String() }},
	{Name: "inner_src_ip", Type: String, Label: "Inner source IP", Kind: "ip", ECS: "flowlens.inner.source.ip", Key: []string{"innerSrc"},
		Doc:   "source address inside the tunnel",
		Value: func(r *flow.Record) any { return inner(r, r.Inner.SrcAddr) }},
	{Name: "inner_dst_ip", Type: String, Label: "Inner destination IP", Kind: "ip", ECS: "flowlens.inner.destination.ip", Key: []string{"innerDst"},
		Doc:   "destination address inside the tunnel",
		Value: func(r *flow.Record) any { return inner(r, r.Inner.DstAddr) }},
	{Name: "src_vm", Type: String, Label: "Source VM", ECS: "flowlens.src.instance.name", Key: srcEnd,
		Doc:   "instance (VM) of the source's OpenStack port: its name, else its id",
		Value: func(r *flow.Record) any { i := r.SrcID.OrEmpty(); return or(i.InstanceName, i.InstanceID) }},
	{Name: "dst_vm", Type: String, Label: "Destination VM", ECS: "flowlens.dst.instance.name", Key: dstEnd,
		Doc:   "instance (VM) of the destination's port",
		Value: func(r *flow.Record) any { i := r.DstID.OrEmpty(); return or(i.InstanceName, i.InstanceID) }},
	{Name: "src_project", Type: String, Label: "Source project", ECS: "flowlens.src.project.name", Key: srcEnd,
		Doc:   "project (tenant) of the source's port: its name, else its id",
		Value: func(r *flow.Record) any { i := r.SrcID.OrEmpty(); return or(i.ProjectName, i.ProjectID) }},
	{Name: "dst_project", Type: String, Label: "Destination project", ECS: "flowlens.dst.project.name", Key: dstEnd,
		Doc:   "project of the destination's port",
		Value: func(r *flow.Record) any { i := r.DstID.OrEmpty(); return or(i.ProjectName, i.ProjectID) }},
	{Name: "src_network", Type: String, Label: "Source network", ECS: "flowlens.src.network.name", Key: srcEnd,
		Doc:   "Neutron network of the source's port: its name, else its id",
		Value: func(r *flow.Record) any { i := r.SrcID.OrEmpty(); return or(i.NetworkName, i.NetworkID) }},
	{Name: "dst_network", Type: String, Label: "Destination network", ECS: "flowlens.dst.network.name", Key: dstEnd,
		Doc:   "Neutron network of the destination's port",
		Value: func(r *flow.Record) any { i := r.DstID.OrEmpty(); return or(i.NetworkName, i.NetworkID) }},
	{Name: "src_host", Type: String, Label: "Source hypervisor", ECS: "flowlens.src.host", Key: srcEnd,
		Doc:   "hypervisor (Neutron binding host) of the source's port",
		Value: func(r *flow.Record) any { return r.SrcID.OrEmpty().Host }},
	{Name: "dst_host", Type: String, Label: "Destination hypervisor", ECS: "flowlens.dst.host", Key: dstEnd,
		Doc:   "hypervisor of the destination's port",
		Value: func(r *flow.Record) any { return r.DstID.OrEmpty().Host }},
	{Name: "src_country", Type: String, Label: "Source country", ECS: "source.geo.country_iso_code", Key: []string{"srcAddr"},
		Doc:   "ISO 3166 country of the source address (GeoIP)",
		Value: func(r *flow.Record) any { return r.SrcGeo.OrEmpty().CountryISO }},
	{Name: "dst_country", Type: String, Label: "Destination country", ECS: "destination.geo.country_iso_code", Key: []string{"dstAddr"},
		Doc:   "country of the destination address",
		Value: func(r *flow.Record) any { return r.DstGeo.OrEmpty().CountryISO }},
	{Name: "src_asn", Type: Int, Label: "Source AS", ECS: "source.as.number", Compat: "src_as", Key: []string{"srcAddr"},
		Doc: "AS of the source address (ASN database), else the exporter's (sFlow extended_gateway, NetFlow)",
		Value: func(r *flow.Record) any {
			if n := r.SrcGeo.OrEmpty().ASN; n != 0 {
				return int64(n)
			}
			return int64(r.SrcAS)
		}},
	{Name: "dst_asn", Type: Int, Label: "Destination AS", ECS: "destination.as.number", Compat: "dst_as", Key: []string{"dstAddr"},
		Doc: "AS of the destination address",
		Value: func(r *flow.Record) any {
			if n := r.DstGeo.OrEmpty().ASN; n != 0 {
				return int64(n)
			}
			return int64(r.DstAS)
		}},
	{Name: "direction", Type: String, Label: "Direction", ECS: "network.direction", Key: []string{"srcAddr", "dstAddr"},
		Doc:   "internal, inbound, outbound or external, from the addresses (enrich.geoip.internal_networks)",
		Value: func(r *flow.Record) any { return r.Direction.String() }},
	{Name: "relation", Type: String, Label: "Relation", ECS: "flowlens.relation", Key: append(slices.Clone(srcEnd), dstEnd...),
		Doc:   "same_host, cross_host, vm_external, … from the two ends' ports (docs/openstack.md)",
		Value: func(r *flow.Record) any { return r.Relation.String() }},
	{Name: "src_city", Type: String, Role: Detail, ECS: "source.geo.city_name", Key: []string{"srcAddr"},
		Doc:   "city of the source address (GeoIP)",
		Value: func(r *flow.Record) any { return r.SrcGeo.OrEmpty().City }},
	{Name: "dst_city", Type: String, Role: Detail, ECS: "destination.geo.city_name", Key: []string{"dstAddr"},
		Doc:   "city of the destination address",
		Value: func(r *flow.Record) any { return r.DstGeo.OrEmpty().City }},
	{Name: "src_lat", Type: Float, Role: Detail, ECS: "source.geo.location", Key: []string{"srcAddr"},
		Doc:   "latitude of the source address; 0 if unknown",
		Value: func(r *flow.Record) any { return r.SrcGeo.OrEmpty().Lat }},
	{Name: "src_lon", Type: Float, Role: Detail, ECS: "source.geo.location", Key: []string{"srcAddr"},
		Doc:   "longitude of the source address",
		Value: func(r *flow.Record) any { return r.SrcGeo.OrEmpty().Lon }},
	{Name: "dst_lat", Type: Float, Role: Detail, ECS: "destination.geo.location", Compat: "geoip_pin", Key: []string{"dstAddr"},
		Doc:   "latitude of the destination address (netflow-compat: the geoip_pin)",
		Value: func(r *flow.Record) any { return r.DstGeo.OrEmpty().Lat }},
	{Name: "dst_lon", Type: Float, Role: Detail, ECS: "destination.geo.location", Compat: "geoip_pin", Key: []string{"dstAddr"},
		Doc:   "longitude of the destination address",
		Value: func(r *flow.Record) any { return r.DstGeo.OrEmpty().Lon }},
	{Name: "bytes", Type: Int, Role: Measure, ECS: "network.bytes", Compat: "in_bytes",
		Doc:   "bytes, estimated: sampled frame lengths × sampling rate, without the FCS",
		Value: func(r *flow.Record) any { return int64(r.Bytes) }},
	{Name: "packets", Type: Int, Role: Measure, ECS: "network.packets", Compat: "in_pkts",
		Doc:   "packets, estimated",
		Value: func(r *flow.Record) any { return int64(r.Packets) }},
	{Name: "samples", Type: Int, Role: Measure, ECS: "flowlens.aggregate.samples",
		Doc:   "samples or flow records summed",
		Value: func(r *flow.Record) any { return int64(max(r.Samples, 1)) }},
	{Name: "observation", Type: String, Label: "Observation point", ECS: "flowlens.observation.point", Key: []string{"observation"}, Added: "''",
		Doc:   "where the packet was seen (port, forwarded, tunnel, uplink, …): what counting each packet once keeps (docs/openstack.md)",
		Value: func(r *flow.Record) any { return r.Observation.String() }},
	{Name: "blocked", Type: String, Label: "Blocked by", ECS: "flowlens.blocked.source", Key: []string{"obsPoint", "srcMAC", "dstMAC"}, Added: "''",
		Doc:   "what dropped the packet (OVN ACL, Neutron packet log) and the security group, URL-encoded; \"\" for traffic that was not dropped",
		Value: func(r *flow.Record) any { return BlockedValue(r.Blocked) }},
	{Name: "src_as_org", Type: String, Label: "Source AS organisation", ECS: "source.as.organization.name", Key: []string{"srcAddr"}, Added: "''",
		Doc:   "organisation of the source AS (ASN database)",
		Value: func(r *flow.Record) any { return r.SrcGeo.OrEmpty().ASOrg }},
	{Name: "dst_as_org", Type: String, Label: "Destination AS organisation", ECS: "destination.as.organization.name", Key: []string{"dstAddr"}, Added: "''",
		Doc:   "organisation of the destination AS",
		Value: func(r *flow.Record) any { return r.DstGeo.OrEmpty().ASOrg }},
}

// What an end's OpenStack attribution is computed from, when an aggregate
// is attributed again at write time.
var (
	srcEnd = []string{"agent", "srcMAC", "srcAddr", "inFormat", "inIndex"}
	dstEnd = []string{"agent", "dstMAC", "dstAddr", "outFormat", "outIndex"}
)

// KeyOnly are the aggregation key's fields that are no column of their
// own, and why the key keeps them.
var KeyOnly = map[string]string{
	"samplingRate": "samples taken at different rates are not summed into one estimate",
	"icmpType":     "ICMP types and codes are the ports of ICMP (NetFlow and ECS documents carry them)",
	"icmpCode":     "ICMP code",
	"innerProto":   "the tunnelled conversation's protocol and ports (ECS documents carry them)",
	"innerSrcPort": "inner source port",
	"innerDstPort": "inner destination port",
	"outVLAN":      "the output port's VLAN (ECS observer.egress.vlan.id)",
	"family":       "tells IPv4 from IPv6 and no address in the 16-byte addresses",
	"overflow":     "the record that sums an exporter's keys past aggregate.max_keys",
	"spare":        "padding: always 0",
}

// Order is the console's order of the dimensions: the OpenStack and
// address questions first, the exporter's details last.
var Order = []string{
	"src_ip", "dst_ip", "proto", "src_port", "dst_port",
	"src_vm", "dst_vm", "src_project", "dst_project", "src_network", "dst_network", "src_host", "dst_host",
	"direction", "relation", "src_country", "dst_country", "src_asn", "dst_asn", "src_as_org", "dst_as_org",
	"agent", "sub_agent", "input", "in_port", "out_port", "src_mac", "dst_mac", "vlan", "vni",
	"network_type", "tunnel", "inner_src_ip", "inner_dst_ip", "observation", "blocked",
}

// EitherSide is a filter-only dimension that matches a flow when either
// of its two columns does: vm=web-1 selects web-1's traffic in both
// directions. Flows cannot be grouped by it (a flow has two values).
type EitherSide struct {
	Name, Label string
	// Short is the label of a filter chip.
	Short string
	// Of names the two dimensions it matches (source, destination).
	Of [2]string
}

// EitherSides lists the filter-only dimensions, in the console's order.
var EitherSides = []EitherSide{
	{"vm", "VM (source or destination)", "VM (either side)", [2]string{"src_vm", "dst_vm"}},
	{"project", "Project (source or destination)", "Project (either side)", [2]string{"src_project", "dst_project"}},
	{"network", "Network (source or destination)", "Network (either side)", [2]string{"src_network", "dst_network"}},
	{"host", "Hypervisor (source or destination)", "Hypervisor (either side)", [2]string{"src_host", "dst_host"}},
	{"ip", "IP (source or destination)", "IP (either side)", [2]string{"src_ip", "dst_ip"}},
	{"mac", "MAC (source or destination)", "MAC (either side)", [2]string{"src_mac", "dst_mac"}},
	{"interface", "Port name (input or output)", "Port name", [2]string{"in_port", "out_port"}},
}

var byName = func() map[string]*Field {
	m := map[string]*Field{}
	for i := range Flows {
		m[Flows[i].Name] = &Flows[i]
	}
	return m
}()

// Lookup returns the field called name.
func Lookup(name string) (*Field, bool) {
	f, ok := byName[name]
	return f, ok
}

// Dimensions are the fields flows are grouped and filtered by, in the
// console's order.
func Dimensions() []*Field {
	out := make([]*Field, 0, len(Order))
	for _, n := range Order {
		out = append(out, byName[n])
	}
	return out
}

// Row fills row (len(Flows) long) with r's values, in column order.
func Row(r *flow.Record, row []any) {
	for i := range Flows {
		row[i] = Flows[i].Value(r)
	}
}

func start(r *flow.Record) time.Time {
	if r.Start.IsZero() {
		return r.Time
	}
	return r.Start
}

func duration(r *flow.Record) any {
	s := start(r)
	if !r.End.IsZero() && r.End.After(s) {
		return int64(r.End.Sub(s).Round(time.Second) / time.Second)
	}
	return int64(0)
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func inner(r *flow.Record, a netip.Addr) string {
	if !r.InnerPresent {
		return ""
	}
	return addr(a)
}

func mac(m flow.MAC) string {
	if m.IsZero() {
		return ""
	}
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 17)
	for i, x := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[x>>4], hex[x&0xf])
	}
	return string(b)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// PortLabel is how a flow's port appears in the in_port and out_port
// dimensions: its name, else its ifIndex, else its format (local,
// discard, multiple, recirculated; "" when unknown).
func PortLabel(p *flow.Port) string {
	switch p.Format {
	case flow.PortSingle:
		if p.Name != "" {
			return p.Name
		}
		return strconv.FormatUint(uint64(p.Index), 10)
	case flow.PortUnknown:
		return p.Name
	case flow.PortRecirculated:
		// Never "discard": conntrack sent the packet on; the port the
		// destination is plugged in, where known.
		if p.Name != "" {
			return p.Name
		}
	}
	return p.Format.String()
}

// BlockedValue is the blocked dimension's value of a drop: what dropped
// it, URL-encoded ("" for traffic that was not dropped).
func BlockedValue(b *flow.Blocked) string {
	if b == nil {
		return ""
	}
	v := url.Values{"source": {b.Source}}
	add := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	add("port", b.Port)
	add("sg", strings.Join(b.SecurityGroups, ","))
	add("rule", b.SecurityGroupRule)
	add("acl", b.ACL)
	add("dir", b.ACLDirection)
	add("lflow", b.LogicalFlow)
	add("stage", b.Stage)
	add("reason", b.Reason)
	if b.Default {
		v.Set("default", "1")
	}
	return v.Encode()
}

// check refuses an inconsistent table at start-up: a programming error
// every test would meet first.
func init() {
	seen := map[string]bool{}
	for _, f := range Flows {
		if seen[f.Name] || f.Value == nil {
			panic(fmt.Sprintf("schema: field %q twice or without a value", f.Name))
		}
		seen[f.Name] = true
		if (f.Role == Dimension) != (f.Label != "") {
			panic(fmt.Sprintf("schema: dimension %q without a label, or a label on a non-dimension", f.Name))
		}
	}
	dims := 0
	for _, f := range Flows {
		if f.Role == Dimension {
			dims++
		}
	}
	for _, n := range Order {
		if f, ok := byName[n]; !ok || f.Role != Dimension {
			panic(fmt.Sprintf("schema: %q in Order is not a dimension", n))
		}
	}
	if dims != len(Order) {
		panic("schema: a dimension is missing from Order")
	}
}
