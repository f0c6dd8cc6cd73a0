package bench

// The peer's documents: the ECS document flowlens writes for a flow record
// (ecs.AppendFlow, docs/fields.md), as a user of go-elasticsearch
// would write it: Go structs with json tags, optional objects as pointers
// with omitempty, filled from the record and given to json.Marshal.
// TestSameDocuments checks that both give the same document.

import (
	"encoding/base64"
	"hash/fnv"
	"net/netip"
	"time"

	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
)

type ecsDoc struct {
	Timestamp   time.Time    `json:"@timestamp"`
	Event       ecsEvent     `json:"event"`
	Observer    *ecsObserver `json:"observer,omitempty"`
	Source      *ecsEnd      `json:"source,omitempty"`
	Destination *ecsEnd      `json:"destination,omitempty"`
	Network     ecsNetwork   `json:"network"`
	Flowlens    ecsFlowlens  `json:"flowlens"`
}

type ecsEvent struct {
	Kind     string     `json:"kind"`
	Dataset  string     `json:"dataset"`
	Start    *time.Time `json:"start,omitempty"`
	End      *time.Time `json:"end,omitempty"`
	Duration *uint64    `json:"duration,omitempty"`
}

type ecsObserver struct {
	IP      string           `json:"ip,omitempty"`
	Ingress *ecsObserverPort `json:"ingress,omitempty"`
	Egress  *ecsObserverPort `json:"egress,omitempty"`
}

type ecsObserverPort struct {
	Interface *ecsInterface `json:"interface,omitempty"`
	VLAN      *ecsVLAN      `json:"vlan,omitempty"`
}

type ecsInterface struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

type ecsVLAN struct {
	ID string `json:"id"`
}

type ecsEnd struct {
	IP   string  `json:"ip,omitempty"`
	Port *uint16 `json:"port,omitempty"`
	MAC  string  `json:"mac,omitempty"`
	AS   *ecsAS  `json:"as,omitempty"`
	Geo  *ecsGeo `json:"geo,omitempty"`
}

type ecsAS struct {
	Number       uint32   `json:"number,omitempty"`
	Organization *ecsName `json:"organization,omitempty"`
}

type ecsName struct {
	Name string `json:"name"`
}

type ecsGeo struct {
	CountryISOCode string       `json:"country_iso_code,omitempty"`
	CountryName    string       `json:"country_name,omitempty"`
	CityName       string       `json:"city_name,omitempty"`
	Location       *ecsLocation `json:"location,omitempty"`
}

type ecsLocation struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

type ecsNetwork struct {
	Type       string    `json:"type,omitempty"`
	Transport  string    `json:"transport,omitempty"`
	IANANumber string    `json:"iana_number,omitempty"`
	Bytes      uint64    `json:"bytes"`
	Packets    uint64    `json:"packets"`
	Direction  string    `json:"direction,omitempty"`
	VLAN       *ecsVLAN  `json:"vlan,omitempty"`
	Inner      *ecsInner `json:"inner,omitempty"`
}

type ecsInner struct {
	VLAN ecsVLAN `json:"vlan"`
}

type ecsFlowlens struct {
	Input         string           `json:"input"`
	Src           *ecsIdentity     `json:"src,omitempty"`
	Dst           *ecsIdentity     `json:"dst,omitempty"`
	Relation      string           `json:"relation,omitempty"`
	Observation   ecsObservation   `json:"observation"`
	Agent         ecsAgent         `json:"agent"`
	SamplingRate  uint32           `json:"sampling_rate"`
	Aggregate     *ecsAggregate    `json:"aggregate,omitempty"`
	NetFlow       *ecsNetFlow      `json:"netflow,omitempty"`
	SFlow         *ecsSFlow        `json:"sflow,omitempty"`
	Ingress       ecsFlowlensPort  `json:"ingress"`
	Egress        ecsFlowlensPort  `json:"egress"`
	Header        ecsHeader        `json:"header"`
	EtherType     string           `json:"ethertype,omitempty"`
	IP            *ecsIP           `json:"ip,omitempty"`
	TCP           *ecsTCP          `json:"tcp,omitempty"`
	ICMP          *ecsICMP         `json:"icmp,omitempty"`
	ARP           *ecsARP          `json:"arp,omitempty"`
	MPLS          *ecsMPLS         `json:"mpls,omitempty"`
	Tunnel        *ecsTunnel       `json:"tunnel,omitempty"`
	Inner         *ecsInnerPacket  `json:"inner,omitempty"`
	TunnelEgress  *ecsTunnelReport `json:"tunnel_egress,omitempty"`
	TunnelIngress *ecsTunnelReport `json:"tunnel_ingress,omitempty"`
	Router        *ecsRouter       `json:"router,omitempty"`
	BGP           *ecsBGP          `json:"bgp,omitempty"`
}

type ecsObservation struct {
	First bool   `json:"first"`
	Point string `json:"point,omitempty"`
}

type ecsIdentity struct {
	Port     *ecsIDName    `json:"port,omitempty"`
	Instance *ecsIDName    `json:"instance,omitempty"`
	Network  *ecsIDNetwork `json:"network,omitempty"`
	Project  *ecsIDName    `json:"project,omitempty"`
	Host     string        `json:"host,omitempty"`
	Source   string        `json:"source,omitempty"`
}

type ecsIDName struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

type ecsIDNetwork struct {
	ID             string `json:"id,omitempty"`
	Name           string `json:"name,omitempty"`
	SegmentationID uint32 `json:"segmentation_id,omitempty"`
}

type ecsAgent struct {
	SubID uint32 `json:"sub_id"`
}

type ecsAggregate struct {
	Samples  uint64 `json:"samples"`
	Overflow bool   `json:"overflow,omitempty"`
}

type ecsNetFlow struct {
	Sequence   uint32 `json:"sequence"`
	EngineType *uint8 `json:"engine_type,omitempty"`
	EngineID   *uint8 `json:"engine_id,omitempty"`
	TemplateID uint16 `json:"template_id,omitempty"`
	EndReason  uint8  `json:"end_reason,omitempty"`
	// OVN's per-flow sampling (drop samples), IPFIX IE 138 and 61.
	ObservationPointID *uint64 `json:"observation_point_id,omitempty"`
}

type ecsSFlow struct {
	Sequence       *uint32 `json:"sequence,omitempty"`
	SampleSequence *uint32 `json:"sample_sequence,omitempty"`
	SourceIDType   *uint8  `json:"source_id_type,omitempty"`
	SourceIDIndex  *uint32 `json:"source_id_index,omitempty"`
	SamplePool     *uint32 `json:"sample_pool,omitempty"`
	Drops          *uint32 `json:"drops,omitempty"`
	FrameLength    *uint32 `json:"frame_length,omitempty"`
	Stripped       *uint32 `json:"stripped,omitempty"`
	HeaderLength   *uint32 `json:"header_length,omitempty"`
	HeaderProtocol *uint32 `json:"header_protocol,omitempty"`
}

type ecsFlowlensPort struct {
	Format       string  `json:"format"`
	Index        *uint32 `json:"index,omitempty"`
	Reason       *uint32 `json:"reason,omitempty"`
	Count        *uint32 `json:"count,omitempty"`
	OpenFlowPort *uint32 `json:"openflow_port,omitempty"`
	Speed        uint64  `json:"speed,omitempty"`
}

type ecsHeader struct {
	Parsed    string `json:"parsed"`
	Truncated bool   `json:"truncated,omitempty"`
}

type ecsIP struct {
	TOS            uint8   `json:"tos,omitempty"`
	TTL            uint8   `json:"ttl,omitempty"`
	Length         uint16  `json:"length,omitempty"`
	FlowLabel      uint32  `json:"flow_label,omitempty"`
	Fragment       bool    `json:"fragment,omitempty"`
	FragmentOffset *uint16 `json:"fragment_offset,omitempty"`
}

type ecsTCP struct {
	Flags     uint16   `json:"flags"`
	FlagNames []string `json:"flag_names"`
}

type ecsICMP struct {
	Type uint8 `json:"type"`
	Code uint8 `json:"code"`
}

type ecsARP struct {
	Op uint16 `json:"op"`
}

type ecsMPLS struct {
	Labels []uint32 `json:"labels"`
}

type ecsTunnel struct {
	Type string  `json:"type,omitempty"`
	VNI  *uint32 `json:"vni,omitempty"`
}

type ecsInnerPacket struct {
	Source      *ecsEnd          `json:"source,omitempty"`
	Destination *ecsEnd          `json:"destination,omitempty"`
	Network     *ecsInnerNetwork `json:"network,omitempty"`
	IP          *ecsIP           `json:"ip,omitempty"`
	TCP         *ecsTCP          `json:"tcp,omitempty"`
	ICMP        *ecsICMP         `json:"icmp,omitempty"`
	ARP         *ecsARP          `json:"arp,omitempty"`
	MPLS        *ecsMPLS         `json:"mpls,omitempty"`
}

type ecsInnerNetwork struct {
	Type       string   `json:"type,omitempty"`
	Transport  string   `json:"transport,omitempty"`
	IANANumber string   `json:"iana_number,omitempty"`
	VLAN       *ecsVLAN `json:"vlan,omitempty"`
}

type ecsTunnelReport struct {
	Source      *ecsHostPort `json:"source,omitempty"`
	Destination *ecsHostPort `json:"destination,omitempty"`
	Transport   string       `json:"transport,omitempty"`
	VNI         *uint32      `json:"vni,omitempty"`
}

type ecsHostPort struct {
	IP   string `json:"ip,omitempty"`
	Port uint16 `json:"port"`
}

type ecsRouter struct {
	NextHop         string `json:"next_hop,omitempty"`
	SourceMask      uint8  `json:"source_mask"`
	DestinationMask uint8  `json:"destination_mask"`
}

type ecsBGP struct {
	PeerAS    uint32   `json:"peer_as"`
	LocalPref uint32   `json:"local_pref"`
	ASPath    []uint32 `json:"as_path,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().String()
}

func macString(m flow.MAC) string {
	if m.IsZero() {
		return ""
	}
	return string(ecs.AppendMAC(nil, m))
}

func u32str(v uint32) string { return itoa(uint64(v)) }

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

var tcpFlagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"}

func observerPort(p *flow.Port) *ecsObserverPort {
	var o ecsObserverPort
	if p.Format == flow.PortSingle || p.Name != "" {
		o.Interface = &ecsInterface{Name: p.Name}
		if p.Format == flow.PortSingle {
			o.Interface.ID = u32str(p.Index)
		}
	}
	if p.HasVLAN && p.VLAN != 0 {
		o.VLAN = &ecsVLAN{ID: u32str(uint32(p.VLAN))}
	}
	if o.Interface == nil && o.VLAN == nil {
		return nil
	}
	return &o
}

func flowlensPort(p *flow.Port) ecsFlowlensPort {
	o := ecsFlowlensPort{Format: p.Format.String(), Speed: p.Speed}
	switch p.Format {
	case flow.PortSingle:
		o.Index = ptr(p.Index)
	case flow.PortDiscard:
		o.Reason = ptr(p.Reason)
	case flow.PortMultiple:
		o.Count = ptr(p.Count)
	}
	if p.HasOFPort {
		o.OpenFlowPort = ptr(p.OFPort)
	}
	return o
}

func end(ip netip.Addr, port uint16, hasPorts bool, mac flow.MAC, as uint32, g *flow.Geo) *ecsEnd {
	e := ecsEnd{IP: addrString(ip), MAC: macString(mac)}
	if hasPorts {
		e.Port = ptr(port)
	}
	if g != nil && as == 0 {
		as = g.ASN
	}
	if as != 0 || g != nil && g.ASOrg != "" {
		e.AS = &ecsAS{Number: as}
		if g != nil && g.ASOrg != "" {
			e.AS.Organization = &ecsName{Name: g.ASOrg}
		}
	}
	if g != nil && (g.CountryISO != "" || g.CountryName != "" || g.City != "" || g.HasLocation) {
		e.Geo = &ecsGeo{CountryISOCode: g.CountryISO, CountryName: g.CountryName, CityName: g.City}
		if g.HasLocation {
			e.Geo.Location = &ecsLocation{Lat: g.Lat, Lon: g.Lon}
		}
	}
	if e == (ecsEnd{}) {
		return nil
	}
	return &e
}

func identity(id *flow.Identity) *ecsIdentity {
	if !id.Known() {
		return nil
	}
	o := &ecsIdentity{Host: id.Host, Source: id.Source}
	if id.PortID != "" {
		o.Port = &ecsIDName{ID: id.PortID}
	}
	if id.InstanceID != "" || id.InstanceName != "" {
		o.Instance = &ecsIDName{ID: id.InstanceID, Name: id.InstanceName}
	}
	if id.NetworkID != "" || id.NetworkName != "" || id.SegmentationID != 0 {
		o.Network = &ecsIDNetwork{ID: id.NetworkID, Name: id.NetworkName, SegmentationID: id.SegmentationID}
	}
	if id.ProjectID != "" || id.ProjectName != "" {
		o.Project = &ecsIDName{ID: id.ProjectID, Name: id.ProjectName}
	}
	return o
}

// packetExtras fills what ECS has no field for.
func packetExtras(p *flow.Packet) (ip *ecsIP, tcp *ecsTCP, icmp *ecsICMP, arp *ecsARP, mpls *ecsMPLS) {
	if p.HasProto {
		ip = &ecsIP{TOS: p.TOS, TTL: p.TTL, Length: p.IPLength, FlowLabel: p.FlowLabel, Fragment: p.Fragment}
		if p.Fragment {
			ip.FragmentOffset = ptr(p.FragmentOffset)
		}
		if *ip == (ecsIP{}) {
			ip = nil // flowlens writes no empty object
		}
		if p.Proto == 6 {
			tcp = &ecsTCP{Flags: p.TCPFlags, FlagNames: []string{}}
			for i, n := range tcpFlagNames {
				if p.TCPFlags&(1<<uint(i)) != 0 {
					tcp.FlagNames = append(tcp.FlagNames, n)
				}
			}
		}
	}
	if p.HasICMP {
		icmp = &ecsICMP{Type: p.ICMPType, Code: p.ICMPCode}
	}
	if p.ARPOp != 0 {
		arp = &ecsARP{Op: p.ARPOp}
	}
	if p.MPLSCount > 0 {
		mpls = &ecsMPLS{Labels: append([]uint32(nil), p.MPLSLabels[:min(int(p.MPLSCount), len(p.MPLSLabels))]...)}
	}
	return
}

func tunnelReport(e *flow.Endpoint, vni uint32, hasVNI bool) *ecsTunnelReport {
	if !e.Present && !hasVNI {
		return nil
	}
	t := &ecsTunnelReport{}
	if e.Present {
		t.Source = &ecsHostPort{IP: addrString(e.Src), Port: e.SrcPort}
		t.Destination = &ecsHostPort{IP: addrString(e.Dst), Port: e.DstPort}
		t.Transport = flow.Transport(e.Proto)
	}
	if hasVNI {
		t.VNI = ptr(vni)
	}
	return t
}

// newECSDoc builds the document of r.
func newECSDoc(r *flow.Record) *ecsDoc {
	d := &ecsDoc{Timestamp: r.Time.UTC()}
	d.Event = ecsEvent{Kind: "event", Dataset: flow.DatasetFlow}
	if !r.Start.IsZero() {
		d.Event.Start = ptr(r.Start.UTC())
	}
	if !r.End.IsZero() {
		d.Event.End = ptr(r.End.UTC())
		if !r.Start.IsZero() && !r.End.Before(r.Start) {
			d.Event.Duration = ptr(uint64(r.End.Sub(r.Start)))
		}
	}
	obs := ecsObserver{IP: addrString(r.Agent), Ingress: observerPort(&r.In), Egress: observerPort(&r.Out)}
	if obs != (ecsObserver{}) {
		d.Observer = &obs
	}
	d.Source = end(r.SrcAddr, r.SrcPort, r.HasPorts, r.SrcMAC, r.SrcAS, r.SrcGeo)
	d.Destination = end(r.DstAddr, r.DstPort, r.HasPorts, r.DstMAC, r.DstAS, r.DstGeo)

	n := &d.Network
	n.Bytes, n.Packets = r.Bytes, r.Packets
	if r.EtherType != 0 {
		n.Type = flow.NetworkType(r.EtherType)
	} else if r.SrcAddr.IsValid() {
		n.Type = "ipv6"
		if r.SrcAddr.Is4() {
			n.Type = "ipv4"
		}
	}
	if r.HasProto {
		n.Transport, n.IANANumber = flow.Transport(r.Proto), u32str(uint32(r.Proto))
	}
	if r.Direction != flow.DirectionUnknown {
		n.Direction = r.Direction.String()
	}
	if r.VLANCount > 0 {
		n.VLAN = &ecsVLAN{ID: u32str(uint32(r.VLAN))}
		if r.VLANCount > 1 {
			n.Inner = &ecsInner{VLAN: ecsVLAN{ID: u32str(uint32(r.InnerVLAN))}}
		}
	}

	f := &d.Flowlens
	f.Input = r.Input.String()
	f.Src, f.Dst = identity(r.SrcID), identity(r.DstID)
	if r.Relation != flow.RelationUnknown {
		f.Relation = r.Relation.String()
	}
	f.Observation.First = r.Observation.First()
	if r.Observation != flow.ObservationUnknown {
		f.Observation.Point = r.Observation.String()
	}
	f.Agent.SubID = r.SubAgent
	f.SamplingRate = r.SamplingRate
	if r.Samples > 0 {
		f.Aggregate = &ecsAggregate{Samples: r.Samples, Overflow: r.Overflow}
	}
	if r.Input != flow.InputSFlow {
		f.NetFlow = &ecsNetFlow{Sequence: r.Sequence, TemplateID: r.TemplateID, EndReason: r.EndReason}
		if r.HasObservationPoint {
			f.NetFlow.ObservationPointID = ptr(r.ObservationPointID)
		}
		if r.HasEngine {
			f.NetFlow.EngineType, f.NetFlow.EngineID = ptr(r.EngineType), ptr(r.EngineID)
		}
	}
	var sf ecsSFlow
	if r.Input == flow.InputSFlow && r.Samples == 0 {
		sf.Sequence, sf.SampleSequence = ptr(r.Sequence), ptr(r.SampleSeq)
		sf.SourceIDType, sf.SourceIDIndex = ptr(r.SourceIDType), ptr(r.SourceIndex)
		sf.SamplePool = ptr(r.SamplePool)
		if r.Drops != 0 {
			sf.Drops = ptr(r.Drops)
		}
	}
	if r.HeaderLength > 0 || r.FrameLength > 0 {
		sf.FrameLength, sf.Stripped = ptr(r.FrameLength), ptr(r.Stripped)
		sf.HeaderLength, sf.HeaderProtocol = ptr(r.HeaderLength), ptr(r.HeaderProto)
	}
	if sf != (ecsSFlow{}) {
		f.SFlow = &sf
	}
	f.Ingress, f.Egress = flowlensPort(&r.In), flowlensPort(&r.Out)
	f.Header = ecsHeader{Parsed: r.Parsed.String(), Truncated: r.Truncated}
	if r.EtherType != 0 {
		f.EtherType = "0x" + string([]byte{hexd[r.EtherType>>12], hexd[r.EtherType>>8&15], hexd[r.EtherType>>4&15], hexd[r.EtherType&15]})
	}
	f.IP, f.TCP, f.ICMP, f.ARP, f.MPLS = packetExtras(&r.Packet)
	if r.Tunnel != flow.TunnelNone {
		f.Tunnel = &ecsTunnel{Type: r.Tunnel.String()}
		if r.HasVNI {
			f.Tunnel.VNI = ptr(r.VNI)
		}
	}
	if r.InnerPresent {
		in := &r.Inner
		ip := &ecsInnerPacket{
			Source:      end(in.SrcAddr, in.SrcPort, in.HasPorts, in.SrcMAC, 0, nil),
			Destination: end(in.DstAddr, in.DstPort, in.HasPorts, in.DstMAC, 0, nil),
		}
		var nw ecsInnerNetwork
		if in.EtherType != 0 {
			nw.Type = flow.NetworkType(in.EtherType)
		}
		if in.HasProto {
			nw.Transport, nw.IANANumber = flow.Transport(in.Proto), u32str(uint32(in.Proto))
		}
		if in.VLANCount > 0 {
			nw.VLAN = &ecsVLAN{ID: u32str(uint32(in.VLAN))}
		}
		if nw != (ecsInnerNetwork{}) {
			ip.Network = &nw
		}
		ip.IP, ip.TCP, ip.ICMP, ip.ARP, ip.MPLS = packetExtras(in)
		if *ip != (ecsInnerPacket{}) {
			f.Inner = ip
		}
	}
	f.TunnelEgress = tunnelReport(&r.TunnelEgress, r.TunnelEgressVNI, r.HasTunnelEgressVNI)
	f.TunnelIngress = tunnelReport(&r.TunnelIngress, r.TunnelIngressVNI, r.HasTunnelIngressVNI)
	if r.NextHop.IsValid() || r.SrcMask != 0 || r.DstMask != 0 {
		f.Router = &ecsRouter{NextHop: addrString(r.NextHop), SourceMask: r.SrcMask, DestinationMask: r.DstMask}
	}
	if r.HasGateway {
		f.BGP = &ecsBGP{PeerAS: r.PeerAS, LocalPref: r.LocalPref}
		if r.ASPathLen > 0 {
			f.BGP.ASPath = append([]uint32(nil), r.ASPath[:r.ASPathLen]...)
		}
	}
	return d
}

const hexd = "0123456789abcdef"

// peerID is the peer's document id: a 128-bit hash (FNV-1a) of what
// identifies the observation, as flowlens' ids are (the same fields as
// internal/output/elasticsearch flowID for sFlow samples), base64url.
func peerID(r *flow.Record) string {
	h := fnv.New128a()
	var b [96]byte
	p := b[:0]
	a16 := r.Agent.As16()
	p = append(p, a16[:]...)
	p = append(p, byte(r.Input), byte(r.SourceIDType))
	p = appendU64(p, uint64(r.SubAgent)<<32|uint64(r.Sequence))
	p = appendU64(p, uint64(r.SampleSeq)<<32|uint64(r.SourceIndex))
	p = appendU64(p, uint64(r.Time.UnixNano()))
	s16, d16 := r.SrcAddr.As16(), r.DstAddr.As16()
	p = append(p, s16[:]...)
	p = append(p, d16[:]...)
	p = appendU64(p, uint64(r.SrcPort)<<48|uint64(r.DstPort)<<32|uint64(r.Proto)<<24)
	p = appendU64(p, r.Bytes)
	h.Write(p)
	var sum [16]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0]))
}

func appendU64(b []byte, v uint64) []byte {
	return append(b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// fullRecords returns records that between them set every optional part
// of a flow document (as internal/flow/docs_test.go does), so that
// TestSameDocuments covers every field, not only the capture's.
func fullRecords() []flow.Record {
	a := netip.MustParseAddr
	pk := flow.Packet{
		SrcMAC: flow.MAC{1}, DstMAC: flow.MAC{2}, EtherType: 0x0800, VLAN: 10, InnerVLAN: 20, VLANCount: 2,
		MPLSCount: 1, MPLSLabels: [4]uint32{16}, SrcAddr: a("10.0.0.1"), DstAddr: a("10.0.0.2"),
		Proto: 6, HasProto: true, TOS: 1, TTL: 2, IPLength: 60, FlowLabel: 5, Fragment: true,
		SrcPort: 1, DstPort: 2, HasPorts: true, TCPFlags: 0x12, ICMPType: 3, HasICMP: true, ARPOp: 1,
	}
	ep := flow.Endpoint{Present: true, Src: a("192.0.2.1"), Dst: a("192.0.2.2"), Proto: 17, SrcPort: 1, DstPort: 4789}
	geo := flow.Geo{CountryISO: "FR", CountryName: "France", City: "Paris", Lat: 48.8, Lon: 2.3, HasLocation: true, ASN: 1, ASOrg: "Org"}
	id := flow.Identity{PortID: "p", InstanceID: "i", InstanceName: "vm", NetworkID: "n", NetworkName: "net", SegmentationID: 5, ProjectID: "t", ProjectName: "proj", Host: "h", Source: "ovsdb"}
	sf := flow.Record{
		Time: time.Unix(1, 5), Agent: a("127.0.0.1"), SamplingRate: 64, FrameLength: 102, Stripped: 4, HeaderLength: 98, HeaderProto: 1,
		Sequence: 3, SampleSeq: 4, SourceIDType: 2, SourceIndex: 1000, SamplePool: 640, Drops: 1, SubAgent: 2,
		In:     flow.Port{Format: flow.PortSingle, Index: 3, Name: "tap1", HasOFPort: true, OFPort: 1, Speed: 1e9, VLAN: 5, HasVLAN: true},
		Out:    flow.Port{Format: flow.PortMultiple, Count: 4, Name: "tap2", HasOFPort: true, OFPort: 2, Speed: 1e9, VLAN: 6, HasVLAN: true},
		Packet: pk, Parsed: flow.LayerInnerL4, Truncated: true, Tunnel: flow.TunnelVXLAN, VNI: 7, HasVNI: true, Inner: pk, InnerPresent: true,
		TunnelEgress: ep, TunnelIngress: ep, TunnelEgressVNI: 1, HasTunnelEgressVNI: true, TunnelIngressVNI: 2, HasTunnelIngressVNI: true,
		SrcGeo: &geo, DstGeo: &geo, SrcID: &id, DstID: &id, Direction: flow.DirectionInbound, Relation: flow.RelationCrossHost,
		NextHop: a("192.0.2.254"), SrcMask: 24, DstMask: 24, SrcAS: 1, DstAS: 2, PeerAS: 3, ASPath: [8]uint32{2, 3}, ASPathLen: 2, LocalPref: 100, HasGateway: true,
		Bytes: 6400, Packets: 64,
	}
	nf := flow.Record{
		Time: time.Unix(100, 0), Start: time.Unix(90, 0), End: time.Unix(99, 5e8), Input: flow.InputIPFIX, Agent: a("::ffff:192.0.2.9"),
		SubAgent: 256, Sequence: 77, TemplateID: 300, HasEngine: true, EngineType: 1, EndReason: 3, Bytes: 1500, Packets: 3,
		In: flow.Port{Format: flow.PortDiscard, Reason: 2}, Out: flow.Port{Format: flow.PortUnknown},
		Packet: flow.Packet{SrcAddr: a("2001:db8::1"), DstAddr: a("2001:db8::2"), Proto: 58, HasProto: true, HasICMP: true, ICMPType: 128},
		SrcGeo: &flow.Geo{ASOrg: "Only org"}, DstGeo: &flow.Geo{CountryISO: "DE"}, Direction: flow.DirectionOutbound,
	}
	agg := flow.Record{
		Time: time.Unix(200, 0), Agent: a("10.1.1.1"), Samples: 12, Overflow: true, Bytes: 1, Packets: 1,
		Packet:  flow.Packet{EtherType: 0x0806, ARPOp: 2, SrcMAC: flow.MAC{0xaa}},
		SrcID:   &flow.Identity{InstanceID: "only-instance"},
		NextHop: a("10.1.1.254"),
	}
	return []flow.Record{sf, nf, agg}
}
