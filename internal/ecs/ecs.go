// Package ecs writes flow records and counter records as Elastic Common
// Schema JSON documents (docs/fields.md), for the NDJSON and Elasticsearch
// outputs: appended to a buffer, without reflection or allocation.
package ecs

import (
	"fmt"

	"github.com/flowlens/flowlens/internal/flow"
	"math"
	"net/netip"
	"strconv"
)

// ianaStrings are indexed by IP protocol, so writing a record neither
// formats the number nor looks up a map. protoFields holds the fields
// network.transport and network.iana_number, written in one go;
// transportFields the first alone.
var ianaStrings, protoFields, transportFields [256]string

func init() {
	for i := range ianaStrings {
		ianaStrings[i] = strconv.Itoa(i)
		transportFields[i] = `,"transport":"` + flow.Transport(uint8(i)) + `"`
		protoFields[i] = transportFields[i] + `,"iana_number":"` + ianaStrings[i] + `"`
	}
}

var tcpFlagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"}

// What a flow document carries, as the outputs' "fields" setting names it.
const (
	FieldsFull    = "full"    // AppendFlow
	FieldsCompact = "compact" // AppendCompactFlow
)

// FlowEncoder returns the encoder for fields ("" is full), an error naming
// setting (e.g. "output.ndjson.fields") if it is neither "full" nor
// "compact".
func FlowEncoder(setting, fields string) (func([]byte, *flow.Record) []byte, error) {
	switch fields {
	case FieldsFull, "":
		return AppendFlow, nil
	case FieldsCompact:
		return AppendCompactFlow, nil
	}
	return nil, fmt.Errorf("%s %q: use full (every field of docs/fields.md) or compact (the fields marked compact there: ~40 %% fewer bytes)", setting, fields)
}

// AppendFlow appends r as one ECS JSON document (no newline) with every
// field docs/fields.md lists.
func AppendFlow(b []byte, r *flow.Record) []byte { return appendFlow(b, r, true) }

// AppendCompactFlow appends r as the compact ECS document: the same names,
// without what only the exporter's bookkeeping and the sampled header's
// details give (docs/fields.md marks what it keeps). It is ~40 % fewer
// bytes than a full document, and bytes are what limits writing one
// document per sample (BENCHMARKS.md section 9).
func AppendCompactFlow(b []byte, r *flow.Record) []byte { return appendFlow(b, r, false) }

func appendFlow(b []byte, r *flow.Record, full bool) []byte {
	w := jsonw{b: b}
	w.begin()
	w.time(`,"@timestamp":`, r.Time)
	w.open(`,"event":{`)
	if full {
		w.fields(`,"kind":"event","dataset":"` + flow.DatasetFlow + `"`)
	} else {
		w.fields(`,"dataset":"` + flow.DatasetFlow + `"`)
	}
	if !r.Start.IsZero() {
		w.time(`,"start":`, r.Start)
	}
	if !r.End.IsZero() {
		w.time(`,"end":`, r.End)
		if !r.Start.IsZero() && !r.End.Before(r.Start) {
			w.uint(`,"duration":`, uint64(r.End.Sub(r.Start)))
		}
	}
	w.close()

	w.open(`,"observer":{`)
	w.addr(`,"ip":`, r.Agent)
	writeObserverPort(&w, `,"ingress":{`, &r.In)
	writeObserverPort(&w, `,"egress":{`, &r.Out)
	w.close()

	writeEnds(&w, &r.Packet, r.SrcAS, r.DstAS, r.SrcGeo, r.DstGeo, r)

	w.open(`,"network":{`)
	if r.EtherType != 0 {
		w.word(`,"type":`, flow.NetworkType(r.EtherType))
	} else if r.SrcAddr.IsValid() {
		if r.SrcAddr.Is4() {
			w.word(`,"type":`, "ipv4")
		} else {
			w.word(`,"type":`, "ipv6")
		}
	}
	if r.HasProto && full {
		w.fields(protoFields[r.Proto])
	} else if r.HasProto {
		w.fields(transportFields[r.Proto])
	}
	w.uint(`,"bytes":`, r.Bytes)
	w.uint(`,"packets":`, r.Packets)
	if r.Direction != flow.DirectionUnknown {
		w.word(`,"direction":`, r.Direction.String())
	}
	if r.VLANCount > 0 {
		w.open(`,"vlan":{`)
		w.uintStr(`,"id":`, uint64(r.VLAN))
		w.close()
		if r.VLANCount > 1 {
			w.open(`,"inner":{`)
			w.open(`,"vlan":{`)
			w.uintStr(`,"id":`, uint64(r.InnerVLAN))
			w.close()
			w.close()
		}
	}
	w.close()

	w.open(`,"flowlens":{`)
	w.word(`,"input":`, r.Input.String())
	writeIdentity(&w, `,"src":{`, r.SrcID)
	writeIdentity(&w, `,"dst":{`, r.DstID)
	if r.Relation != flow.RelationUnknown {
		w.word(`,"relation":`, r.Relation.String())
	}
	w.open(`,"observation":{`)
	w.boolean(`,"first":`, r.Counted())
	if r.Observation != flow.ObservationUnknown {
		w.word(`,"point":`, r.Observation.String())
	}
	w.close()
	w.open(`,"agent":{`)
	w.uint(`,"sub_id":`, uint64(r.SubAgent))
	w.close()
	w.uint(`,"sampling_rate":`, uint64(r.SamplingRate))
	if r.Samples > 0 {
		w.open(`,"aggregate":{`)
		w.uint(`,"samples":`, r.Samples)
		if r.Overflow {
			w.boolean(`,"overflow":`, true)
		}
		w.close()
	}
	if full && r.Input != flow.InputSFlow && r.Input != flow.InputNeutronLog {
		w.open(`,"netflow":{`)
		w.uint(`,"sequence":`, uint64(r.Sequence))
		if r.Biflow != flow.BiflowNone {
			w.word(`,"biflow":`, r.Biflow.String())
		}
		if r.HasEngine {
			w.uint(`,"engine_type":`, uint64(r.EngineType))
			w.uint(`,"engine_id":`, uint64(r.EngineID))
		}
		if r.TemplateID != 0 {
			w.uint(`,"template_id":`, uint64(r.TemplateID))
		}
		if r.EndReason != 0 {
			w.uint(`,"end_reason":`, uint64(r.EndReason))
		}
		if r.HasObservationPoint {
			w.uint(`,"observation_point_id":`, r.ObservationPointID)
		}
		if r.HasFlowDirection {
			w.word(`,"flow_direction":`, flowDirectionName(r.FlowDirection))
		}
		w.close()
	}
	writeBlocked(&w, r.Blocked)
	if full {
		writeSFlow(&w, r)
	}
	writeFlowlensPort(&w, `,"ingress":{`, &r.In, full)
	writeFlowlensPort(&w, `,"egress":{`, &r.Out, full)
	if full {
		w.open(`,"header":{`)
		w.word(`,"parsed":`, r.Parsed.String())
		if r.Truncated {
			w.boolean(`,"truncated":`, true)
		}
		w.close()
		if r.EtherType != 0 {
			w.key(`,"ethertype":`)
			w.b = appendHex(append(w.b, `"0x`...), uint64(r.EtherType), 4)
			w.b = append(w.b, `"`...)
		}
		writePacketExtras(&w, &r.Packet)
	} else if r.HasProto && r.Proto == 6 {
		w.open(`,"tcp":{`)
		w.uint(`,"flags":`, uint64(r.TCPFlags))
		w.close()
	}
	if r.Tunnel != flow.TunnelNone {
		w.open(`,"tunnel":{`)
		w.word(`,"type":`, r.Tunnel.String())
		if r.HasVNI {
			w.uint(`,"vni":`, uint64(r.VNI))
		}
		w.close()
	}
	if r.InnerPresent {
		w.open(`,"inner":{`)
		writeEnds(&w, &r.Inner, 0, 0, nil, nil, nil)
		w.open(`,"network":{`)
		if r.Inner.EtherType != 0 {
			w.word(`,"type":`, flow.NetworkType(r.Inner.EtherType))
		}
		if r.Inner.HasProto && full {
			w.fields(protoFields[r.Inner.Proto])
		} else if r.Inner.HasProto {
			w.fields(transportFields[r.Inner.Proto])
		}
		if r.Inner.VLANCount > 0 {
			w.open(`,"vlan":{`)
			w.uintStr(`,"id":`, uint64(r.Inner.VLAN))
			w.close()
		}
		w.close()
		if full {
			writePacketExtras(&w, &r.Inner)
		}
		w.close()
	}
	if !full {
		w.close()
		return w.end()
	}
	writeEndpoint(&w, `,"tunnel_egress":{`, &r.TunnelEgress, r.TunnelEgressVNI, r.HasTunnelEgressVNI)
	writeEndpoint(&w, `,"tunnel_ingress":{`, &r.TunnelIngress, r.TunnelIngressVNI, r.HasTunnelIngressVNI)
	if r.NextHop.IsValid() || r.BGPNextHop.IsValid() || r.SrcMask != 0 || r.DstMask != 0 {
		w.open(`,"router":{`)
		w.addr(`,"next_hop":`, r.NextHop)
		w.addr(`,"bgp_next_hop":`, r.BGPNextHop) // ECS has no BGP next hop
		w.uint(`,"source_mask":`, uint64(r.SrcMask))
		w.uint(`,"destination_mask":`, uint64(r.DstMask))
		w.close()
	}
	if r.HasGateway {
		w.open(`,"bgp":{`)
		w.uint(`,"peer_as":`, uint64(r.PeerAS))
		w.uint(`,"local_pref":`, uint64(r.LocalPref))
		if r.ASPathLen > 0 {
			w.key(`,"as_path":`)
			w.b = append(w.b, '[')
			for i := 0; i < int(r.ASPathLen); i++ {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				w.b = strconv.AppendUint(w.b, uint64(r.ASPath[i]), 10)
			}
			w.b = append(w.b, ']')
		}
		w.close()
	}
	w.close()
	return w.end()
}

// writeSFlow writes the sFlow sample's own numbers (full documents only).
func writeSFlow(w *jsonw, r *flow.Record) {
	w.open(`,"sflow":{`)
	if r.Input == flow.InputSFlow && r.Samples == 0 { // an aggregate has no one sample's numbers
		w.uint(`,"sequence":`, uint64(r.Sequence))
		w.uint(`,"sample_sequence":`, uint64(r.SampleSeq))
		w.uint(`,"source_id_type":`, uint64(r.SourceIDType))
		w.uint(`,"source_id_index":`, uint64(r.SourceIndex))
		w.uint(`,"sample_pool":`, uint64(r.SamplePool))
		if r.Drops != 0 { // absent: none
			w.uint(`,"drops":`, uint64(r.Drops))
		}
	}
	if r.HeaderLength > 0 || r.FrameLength > 0 {
		w.uint(`,"frame_length":`, uint64(r.FrameLength))
		w.uint(`,"stripped":`, uint64(r.Stripped))
		w.uint(`,"header_length":`, uint64(r.HeaderLength))
		w.uint(`,"header_protocol":`, uint64(r.HeaderProto))
	}
	w.close()
}

// flowDirectionName names IPFIX flowDirection values (RFC 5102): 0
// ingress, 1 egress; others, undefined, as their number.
func flowDirectionName(d uint8) string {
	switch d {
	case 0:
		return "ingress"
	case 1:
		return "egress"
	}
	return ianaStrings[d]
}

func writeBlocked(w *jsonw, b *flow.Blocked) {
	if b == nil {
		return
	}
	w.open(`,"blocked":{`)
	w.boolean(`,"dropped":`, true)
	w.str(`,"source":`, b.Source)
	if b.Reason != "" {
		w.str(`,"reason":`, b.Reason)
	}
	if b.LogicalFlow != "" || b.Stage != "" {
		w.open(`,"logical_flow":{`)
		if b.LogicalFlow != "" {
			w.str(`,"id":`, b.LogicalFlow)
		}
		if b.Stage != "" {
			w.str(`,"stage":`, b.Stage)
		}
		w.close()
	}
	if b.ACL != "" {
		w.open(`,"acl":{`)
		w.str(`,"id":`, b.ACL)
		if b.ACLDirection != "" {
			w.str(`,"direction":`, b.ACLDirection)
		}
		w.close()
	}
	if b.Default {
		w.boolean(`,"default":`, true)
	}
	if len(b.SecurityGroups) > 0 || b.SecurityGroupRule != "" {
		w.open(`,"security_group":{`)
		if len(b.SecurityGroups) > 0 {
			w.key(`,"id":`)
			w.b = append(w.b, '[')
			for i, g := range b.SecurityGroups {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				w.b = appendString(w.b, g)
			}
			w.b = append(w.b, ']')
		}
		if b.SecurityGroupRule != "" {
			w.str(`,"rule_id":`, b.SecurityGroupRule)
		}
		w.close()
	}
	if b.Port != "" {
		w.open(`,"port":{`)
		w.str(`,"id":`, b.Port)
		w.close()
	}
	w.close()
}

func writeObserverPort(w *jsonw, key string, p *flow.Port) {
	w.open(key)
	if p.Format == flow.PortSingle || p.Name != "" {
		w.open(`,"interface":{`)
		if p.Format == flow.PortSingle {
			w.uintStr(`,"id":`, uint64(p.Index))
		}
		if p.Name != "" {
			w.str(`,"name":`, p.Name)
		}
		w.close()
	}
	if p.HasVLAN && p.VLAN != 0 {
		w.open(`,"vlan":{`)
		w.uintStr(`,"id":`, uint64(p.VLAN))
		w.close()
	}
	w.close()
}

// writeFlowlensPort writes the port's ifIndex format. A compact document
// leaves out a single port, whose index observer.*.interface.id already
// has, and the OpenFlow port and speed.
func writeFlowlensPort(w *jsonw, key string, p *flow.Port, full bool) {
	if !full && p.Format == flow.PortSingle {
		return
	}
	w.open(key)
	w.word(`,"format":`, p.Format.String())
	switch p.Format {
	case flow.PortSingle:
		w.uint(`,"index":`, uint64(p.Index))
	case flow.PortDiscard, flow.PortRecirculated:
		w.uint(`,"reason":`, uint64(p.Reason))
		if p.Format == flow.PortRecirculated && p.Index != 0 {
			w.uint(`,"index":`, uint64(p.Index)) // inferred from the destination
		}
	case flow.PortMultiple:
		w.uint(`,"count":`, uint64(p.Count))
	}
	if p.HasOFPort && full {
		w.uint(`,"openflow_port":`, uint64(p.OFPort))
	}
	if p.Speed != 0 && full {
		w.uint(`,"speed":`, p.Speed)
	}
	w.close()
}

// writeEnds writes source and destination. nat is the record whose NAT
// translation (ECS source.nat / destination.nat) goes with them; nil for
// the inner packet.
func writeEnds(w *jsonw, p *flow.Packet, srcAS, dstAS uint32, srcGeo, dstGeo *flow.Geo, nat *flow.Record) {
	w.open(`,"source":{`)
	w.addr(`,"ip":`, p.SrcAddr)
	if p.HasPorts {
		w.uint(`,"port":`, uint64(p.SrcPort))
	}
	if nat != nil {
		writeNAT(w, nat.SrcNAT, nat.SrcNATPort, nat.HasNATPorts)
	}
	if !p.SrcMAC.IsZero() {
		w.mac(`,"mac":`, p.SrcMAC)
	}
	writeGeo(w, srcAS, srcGeo)
	w.close()
	w.open(`,"destination":{`)
	w.addr(`,"ip":`, p.DstAddr)
	if p.HasPorts {
		w.uint(`,"port":`, uint64(p.DstPort))
	}
	if nat != nil {
		writeNAT(w, nat.DstNAT, nat.DstNATPort, nat.HasNATPorts)
	}
	if !p.DstMAC.IsZero() {
		w.mac(`,"mac":`, p.DstMAC)
	}
	writeGeo(w, dstAS, dstGeo)
	w.close()
}

// writeNAT writes an ECS nat object (the address and port after NAT).
func writeNAT(w *jsonw, a netip.Addr, port uint16, hasPort bool) {
	if !a.IsValid() && !hasPort {
		return
	}
	w.open(`,"nat":{`)
	w.addr(`,"ip":`, a)
	if hasPort {
		w.uint(`,"port":`, uint64(port))
	}
	w.close()
}

// writeGeo writes ECS geo and as objects. An AS from the exporter (BGP)
// wins over the ASN database's.
func writeGeo(w *jsonw, as uint32, g *flow.Geo) {
	if g != nil && as == 0 {
		as = g.ASN
	}
	if as != 0 || g != nil && g.ASOrg != "" {
		w.open(`,"as":{`)
		if as != 0 {
			w.uint(`,"number":`, uint64(as))
		}
		if g != nil && g.ASOrg != "" {
			w.open(`,"organization":{`)
			w.str(`,"name":`, g.ASOrg)
			w.close()
		}
		w.close()
	}
	if g == nil {
		return
	}
	w.open(`,"geo":{`)
	if g.CountryISO != "" {
		w.str(`,"country_iso_code":`, g.CountryISO)
	}
	if g.CountryName != "" {
		w.str(`,"country_name":`, g.CountryName)
	}
	if g.City != "" {
		w.str(`,"city_name":`, g.City)
	}
	if g.HasLocation {
		w.open(`,"location":{`)
		w.float(`,"lat":`, g.Lat)
		w.float(`,"lon":`, g.Lon)
		w.close()
	}
	w.close()
}

func writeIdentity(w *jsonw, key string, id *flow.Identity) {
	if !id.Known() {
		return
	}
	w.open(key)
	w.open(`,"port":{`)
	if id.PortID != "" {
		w.str(`,"id":`, id.PortID)
	}
	w.close()
	w.open(`,"instance":{`)
	if id.InstanceID != "" {
		w.str(`,"id":`, id.InstanceID)
	}
	if id.InstanceName != "" {
		w.str(`,"name":`, id.InstanceName)
	}
	w.close()
	w.open(`,"network":{`)
	if id.NetworkID != "" {
		w.str(`,"id":`, id.NetworkID)
	}
	if id.NetworkName != "" {
		w.str(`,"name":`, id.NetworkName)
	}
	if id.SegmentationID != 0 {
		w.uint(`,"segmentation_id":`, uint64(id.SegmentationID))
	}
	w.close()
	w.open(`,"project":{`)
	if id.ProjectID != "" {
		w.str(`,"id":`, id.ProjectID)
	}
	if id.ProjectName != "" {
		w.str(`,"name":`, id.ProjectName)
	}
	w.close()
	if id.Host != "" {
		w.str(`,"host":`, id.Host)
	}
	if id.Source != "" {
		w.str(`,"source":`, id.Source)
	}
	w.close()
}

// writePacketExtras writes what ECS has no field for, under flowlens.
func writePacketExtras(w *jsonw, p *flow.Packet) {
	if p.HasProto {
		w.open(`,"ip":{`)
		if p.TOS != 0 {
			w.uint(`,"tos":`, uint64(p.TOS))
		}
		if p.TTL != 0 {
			w.uint(`,"ttl":`, uint64(p.TTL))
		}
		if p.IPLength != 0 {
			w.uint(`,"length":`, uint64(p.IPLength))
		}
		if p.FlowLabel != 0 {
			w.uint(`,"flow_label":`, uint64(p.FlowLabel))
		}
		if p.Fragment {
			w.boolean(`,"fragment":`, true)
			w.uint(`,"fragment_offset":`, uint64(p.FragmentOffset))
		}
		w.close()
	}
	if p.HasProto && p.Proto == 6 {
		w.open(`,"tcp":{`)
		w.uint(`,"flags":`, uint64(p.TCPFlags))
		w.key(`,"flag_names":`)
		w.b = append(w.b, '[')
		n := 0
		for i, name := range tcpFlagNames {
			if p.TCPFlags&(1<<uint(i)) != 0 {
				if n > 0 {
					w.b = append(w.b, ',')
				}
				w.b = appendString(w.b, name)
				n++
			}
		}
		w.b = append(w.b, ']')
		w.close()
	}
	if p.HasICMP {
		w.open(`,"icmp":{`)
		w.uint(`,"type":`, uint64(p.ICMPType))
		w.uint(`,"code":`, uint64(p.ICMPCode))
		w.close()
	}
	if p.ARPOp != 0 {
		w.open(`,"arp":{`)
		w.uint(`,"op":`, uint64(p.ARPOp))
		w.close()
	}
	if p.MPLSCount > 0 {
		w.open(`,"mpls":{`)
		w.key(`,"labels":`)
		w.b = append(w.b, '[')
		for i := 0; i < int(p.MPLSCount) && i < len(p.MPLSLabels); i++ {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = strconv.AppendUint(w.b, uint64(p.MPLSLabels[i]), 10)
		}
		w.b = append(w.b, ']')
		w.close()
	}
}

func writeEndpoint(w *jsonw, key string, e *flow.Endpoint, vni uint32, hasVNI bool) {
	if !e.Present && !hasVNI {
		return
	}
	w.open(key)
	if e.Present {
		w.open(`,"source":{`)
		w.addr(`,"ip":`, e.Src)
		w.uint(`,"port":`, uint64(e.SrcPort))
		w.close()
		w.open(`,"destination":{`)
		w.addr(`,"ip":`, e.Dst)
		w.uint(`,"port":`, uint64(e.DstPort))
		w.close()
		w.word(`,"transport":`, flow.Transport(e.Proto))
	}
	if hasVNI {
		w.uint(`,"vni":`, uint64(vni))
	}
	w.close()
}

// AppendCounter appends c as one ECS JSON document (no newline).
func AppendCounter(b []byte, c *flow.Counter) []byte {
	w := jsonw{b: b}
	w.begin()
	w.time(`,"@timestamp":`, c.Time)
	w.open(`,"event":{`)
	w.fields(`,"kind":"metric","dataset":"` + flow.DatasetCounters + `"`)
	w.close()
	w.open(`,"observer":{`)
	w.addr(`,"ip":`, c.Agent)
	w.close()
	if c.HasHost {
		w.open(`,"host":{`)
		w.str(`,"hostname":`, c.HostName)
		w.close()
	}
	w.open(`,"flowlens":{`)
	w.open(`,"agent":{`)
	w.uint(`,"sub_id":`, uint64(c.SubAgent))
	w.close()
	w.open(`,"sflow":{`)
	w.uint(`,"sequence":`, uint64(c.Sequence))
	w.uint(`,"sample_sequence":`, uint64(c.SampleSeq))
	w.uint(`,"source_id_type":`, uint64(c.SourceIDType))
	w.uint(`,"source_id_index":`, uint64(c.SourceIndex))
	w.close()
	if c.HasInterface || c.HasPortName || c.HasOFPort || c.HasEthernet {
		w.open(`,"interface":{`)
		if c.HasInterface {
			w.uint(`,"index":`, uint64(c.Interface.Index))
		} else if c.SourceIDType == 0 {
			w.uint(`,"index":`, uint64(c.SourceIndex))
		}
		if c.HasPortName {
			w.str(`,"name":`, c.PortName)
		}
		if c.HasOFPort {
			w.uint(`,"openflow_port":`, uint64(c.OFPort))
			w.hex(`,"datapath_id":`, c.DatapathID, 16)
		}
		if c.HasInterface {
			g := &c.Interface
			w.u32(`,"type":`, g.Type)
			w.u64(`,"speed":`, g.Speed)
			w.u32(`,"direction":`, g.Direction)
			w.boolean(`,"admin_up":`, g.Status&1 != 0)
			w.boolean(`,"oper_up":`, g.Status&2 != 0)
			w.u64(`,"in_octets":`, g.InOctets)
			w.u32(`,"in_ucast_pkts":`, g.InUcast)
			w.u32(`,"in_multicast_pkts":`, g.InMulticast)
			w.u32(`,"in_broadcast_pkts":`, g.InBroadcast)
			w.u32(`,"in_discards":`, g.InDiscards)
			w.u32(`,"in_errors":`, g.InErrors)
			w.u32(`,"in_unknown_protos":`, g.InUnknown)
			w.u64(`,"out_octets":`, g.OutOctets)
			w.u32(`,"out_ucast_pkts":`, g.OutUcast)
			w.u32(`,"out_multicast_pkts":`, g.OutMulticast)
			w.u32(`,"out_broadcast_pkts":`, g.OutBroadcast)
			w.u32(`,"out_discards":`, g.OutDiscards)
			w.u32(`,"out_errors":`, g.OutErrors)
			w.u32(`,"promiscuous":`, g.Promiscuous)
		}
		if c.HasEthernet {
			e := &c.Ethernet
			w.open(`,"ethernet":{`)
			w.u32(`,"alignment_errors":`, e.AlignmentErrors)
			w.u32(`,"fcs_errors":`, e.FCSErrors)
			w.u32(`,"single_collision_frames":`, e.SingleCollisionFrames)
			w.u32(`,"multiple_collision_frames":`, e.MultipleCollisionFrames)
			w.u32(`,"sqe_test_errors":`, e.SQETestErrors)
			w.u32(`,"deferred_transmissions":`, e.DeferredTransmissions)
			w.u32(`,"late_collisions":`, e.LateCollisions)
			w.u32(`,"excessive_collisions":`, e.ExcessiveCollisions)
			w.u32(`,"internal_mac_transmit_errors":`, e.InternalMacTransmitErrors)
			w.u32(`,"carrier_sense_errors":`, e.CarrierSenseErrors)
			w.u32(`,"frame_too_longs":`, e.FrameTooLongs)
			w.u32(`,"internal_mac_receive_errors":`, e.InternalMacReceiveErrors)
			w.u32(`,"symbol_errors":`, e.SymbolErrors)
			w.close()
		}
		w.close()
	}
	if c.HasVLAN {
		v := &c.VLAN
		w.open(`,"vlan":{`)
		w.uint(`,"id":`, uint64(v.ID))
		w.u64(`,"octets":`, v.Octets)
		w.u32(`,"ucast_pkts":`, v.Ucast)
		w.u32(`,"multicast_pkts":`, v.Multicast)
		w.u32(`,"broadcast_pkts":`, v.Broadcast)
		w.u32(`,"discards":`, v.Discards)
		w.close()
	}
	if c.HasProcessor {
		p := &c.Processor
		w.open(`,"processor":{`)
		w.u32(`,"cpu_5s_pct100":`, p.CPU5s)
		w.u32(`,"cpu_1m_pct100":`, p.CPU1m)
		w.u32(`,"cpu_5m_pct100":`, p.CPU5m)
		w.u64(`,"memory_total":`, p.TotalMemory)
		w.u64(`,"memory_free":`, p.FreeMemory)
		w.close()
	}
	if c.HasDatapath {
		d := &c.Datapath
		w.open(`,"datapath":{`)
		w.u32(`,"hits":`, d.Hits)
		w.u32(`,"misses":`, d.Misses)
		w.u32(`,"lost":`, d.Lost)
		w.u32(`,"mask_hits":`, d.MaskHits)
		w.u32(`,"flows":`, d.Flows)
		w.u32(`,"masks":`, d.Masks)
		w.close()
	}
	if c.HasAppResources {
		a := &c.AppResources
		w.open(`,"app":{`)
		w.u32(`,"user_time_ms":`, a.UserTimeMs)
		w.u32(`,"system_time_ms":`, a.SystemTimeMs)
		w.u64(`,"memory_used":`, a.MemUsed)
		w.u64(`,"memory_max":`, a.MemMax)
		w.u32(`,"fd_open":`, a.FDOpen)
		w.u32(`,"fd_max":`, a.FDMax)
		w.u32(`,"conn_open":`, a.ConnOpen)
		w.u32(`,"conn_max":`, a.ConnMax)
		w.close()
	}
	writeHostCounters(&w, c)
	w.close()
	return w.end()
}

func writeHostCounters(w *jsonw, c *flow.Counter) {
	if !c.HasHostCPU && !c.HasHostMemory && !c.HasHostDisk && !c.HasHostNet {
		return
	}
	w.open(`,"host":{`)
	if c.HasHostCPU {
		h := &c.HostCPU
		w.open(`,"cpu":{`)
		for _, l := range []struct {
			k string
			v float32
		}{{`,"load_1m":`, h.Load1}, {`,"load_5m":`, h.Load5}, {`,"load_15m":`, h.Load15}} {
			if l.v >= 0 && !math.IsInf(float64(l.v), 0) && !math.IsNaN(float64(l.v)) { // negative: unknown
				w.key(l.k)
				w.b = strconv.AppendFloat(w.b, float64(l.v), 'f', -1, 32)
			}
		}
		w.u32(`,"processes_running":`, h.ProcRun)
		w.u32(`,"processes":`, h.ProcTotal)
		w.u32(`,"count":`, h.CPUs)
		w.u32(`,"speed_mhz":`, h.SpeedMHz)
		w.u32(`,"uptime_s":`, h.UptimeSec)
		w.u32(`,"user_ms":`, h.User)
		w.u32(`,"nice_ms":`, h.Nice)
		w.u32(`,"system_ms":`, h.System)
		w.u32(`,"idle_ms":`, h.Idle)
		w.u32(`,"iowait_ms":`, h.IOWait)
		w.u32(`,"irq_ms":`, h.Intr)
		w.u32(`,"softirq_ms":`, h.SoftIntr)
		w.u32(`,"interrupts":`, h.Interrupts)
		w.u32(`,"context_switches":`, h.Contexts)
		w.close()
	}
	if c.HasHostMemory {
		m := &c.HostMemory
		w.open(`,"memory":{`)
		w.u64(`,"total":`, m.Total)
		w.u64(`,"free":`, m.Free)
		w.u64(`,"shared":`, m.Shared)
		w.u64(`,"buffers":`, m.Buffers)
		w.u64(`,"cached":`, m.Cached)
		w.u64(`,"swap_total":`, m.SwapTotal)
		w.u64(`,"swap_free":`, m.SwapFree)
		w.u32(`,"page_in":`, m.PageIn)
		w.u32(`,"page_out":`, m.PageOut)
		w.u32(`,"swap_in":`, m.SwapIn)
		w.u32(`,"swap_out":`, m.SwapOut)
		w.close()
	}
	if c.HasHostDisk {
		k := &c.HostDisk
		w.open(`,"disk":{`)
		w.u64(`,"total":`, k.Total)
		w.u64(`,"free":`, k.Free)
		if k.PartMaxUsed >= 0 {
			w.uint(`,"part_max_used_pct100":`, uint64(k.PartMaxUsed))
		}
		w.u32(`,"reads":`, k.Reads)
		w.u64(`,"read_bytes":`, k.BytesRead)
		w.u32(`,"read_time_ms":`, k.ReadTimeMs)
		w.u32(`,"writes":`, k.Writes)
		w.u64(`,"write_bytes":`, k.BytesWritten)
		w.u32(`,"write_time_ms":`, k.WriteTimeMs)
		w.close()
	}
	if c.HasHostNet {
		n := &c.HostNet
		w.open(`,"net":{`)
		w.u64(`,"in_bytes":`, n.BytesIn)
		w.u32(`,"in_pkts":`, n.PktsIn)
		w.u32(`,"in_errors":`, n.ErrsIn)
		w.u32(`,"in_drops":`, n.DropsIn)
		w.u64(`,"out_bytes":`, n.BytesOut)
		w.u32(`,"out_pkts":`, n.PktsOut)
		w.u32(`,"out_errors":`, n.ErrsOut)
		w.u32(`,"out_drops":`, n.DropsOut)
		w.close()
	}
	w.close()
}
