// Package synth generates the traffic of a synthetic OpenStack cloud:
// projects, tenant networks, VMs on hypervisors (OpenStack MACs, tap ports),
// external peers with countries and ASNs, and conversations between them
// whose rates follow a heavy-tailed (Zipf-like) distribution and a diurnal
// pattern, over a TCP/UDP/ICMP mix. It produces what the store receives
// behind the aggregator: one aggregated flow.Record per key and interval, as
// Open vSwitch sFlow on br-int would yield them (sampled at ingress, so a
// cross-host conversation is seen by both hypervisors), plus interface
// counter samples of every VM port.
//
// Output is deterministic given the seed: any interval can be generated on
// its own, in any order, and always gives the same records.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// Config sizes the cloud.
type Config struct {
	Seed        uint64
	VMs         int // 500
	Hypervisors int // VMs are spread over them
	Projects    int
	// Peers is the number of external addresses VMs talk to (clients of
	// public services and servers VMs reach).
	Peers int
	// Conversations is the number of long-lived conversations (a client
	// and a service). Each active one yields 1 to 4 records per interval.
	Conversations int
	// Noise is the mean number of short one-off flows per interval at the
	// daily peak (DNS lookups, pings, Internet scanners probing VMs).
	Noise int
	// Interval is the aggregation interval (the records' End - Start).
	Interval time.Duration
	// CounterInterval is the sFlow polling interval of VM ports.
	CounterInterval time.Duration
	// SamplingRate is the sFlow 1-in-N rate.
	SamplingRate uint32
	// PeakBps is the cloud's total traffic at the daily peak, bits/s.
	PeakBps float64
}

// DefaultConfig is a 500-VM cloud: 25 hypervisors, 40 projects, 4000
// conversations, about 7000 aggregated records per minute at the daily
// peak and 2500 at night.
func DefaultConfig() Config {
	return Config{
		Seed: 1, VMs: 500, Hypervisors: 25, Projects: 40, Peers: 400,
		Conversations: 4000, Noise: 1200,
		Interval: time.Minute, CounterInterval: 30 * time.Second,
		SamplingRate: 1024, PeakBps: 20e9,
	}
}

// Project is an OpenStack project (tenant).
type Project struct {
	ID, Name string
}

// Network is a tenant network.
type Network struct {
	ID, Name string
	Project  int
	VNI      uint32
	Prefix   netip.Prefix
}

// Hypervisor is a compute node running Open vSwitch (an sFlow agent).
type Hypervisor struct {
	Name string
	Addr netip.Addr
}

// VM is an instance with one port.
type VM struct {
	ID, Name   string
	Project    int
	Network    int
	Hypervisor int
	MAC        flow.MAC
	Addr       netip.Addr
	Port       string // tap device, e.g. tap3f1c2a9e-4b
	PortID     string // Neutron port UUID
	IfIndex    uint32
	OFPort     uint32
	Speed      uint64
}

// Peer is an address outside the cloud.
type Peer struct {
	Addr    netip.Addr
	Country string // ISO code
	Name    string // country name
	City    string
	Lat     float64
	Lon     float64
	ASN     uint32
	ASOrg   string
}

type service struct {
	proto    uint8
	port     uint16
	pktSize  float64 // mean bytes per packet, client to server
	respSize float64 // mean bytes per packet, server to client
	ratio    float64 // server-to-client packets per client-to-server packet
}

var services = []service{
	{6, 443, 200, 1300, 1.5}, {6, 80, 250, 1200, 1.4}, {6, 22, 120, 300, 1},
	{6, 3306, 300, 900, 1.2}, {6, 5432, 300, 900, 1.2}, {6, 6379, 120, 200, 1},
	{6, 8080, 400, 1100, 1.3}, {6, 9092, 1200, 90, 0.5}, {6, 2049, 1300, 200, 0.6},
	{17, 53, 80, 160, 1}, {17, 123, 90, 90, 1}, {17, 4789, 1400, 1400, 1}, {1, 0, 98, 98, 1},
}

// conv is one long-lived conversation: a client and a server, each a VM
// or a peer.
type conv struct {
	client, server int // VM index, or -1 - peer index
	svc            int
	bps            float64 // mean rate at peak, both directions
	duty           float64 // probability of being active in an interval
	session        int64   // intervals per client source port
	phase          float64 // hours added to the diurnal clock
	v6             bool
}

// Cloud is a generated cloud.
type Cloud struct {
	cfg         Config
	Projects    []Project
	Networks    []Network
	Hypervisors []Hypervisor
	VMs         []VM
	Peers       []Peer
	convs       []conv
	vmRate      []float64
	// ids and geos are what records point at (flow.Record keeps them out
	// of line), one per VM and per peer.
	ids  []flow.Identity
	geos []flow.Geo
}

type city struct {
	iso, country, name string
	lat, lon           float64
	asn                uint32
	org                string
}

// Cities of external peers. Coordinates are approximate city centres; the
// ASNs are from the documentation range (RFC 5398).
var cities = []city{
	{"FR", "France", "Paris", 48.86, 2.35, 64496, "Example Transit FR"},
	{"DE", "Germany", "Frankfurt am Main", 50.11, 8.68, 64497, "Example Carrier DE"},
	{"US", "United States", "Ashburn", 39.04, -77.49, 64498, "Example Cloud US"},
	{"US", "United States", "San Jose", 37.34, -121.89, 64499, "Example CDN"},
	{"GB", "United Kingdom", "London", 51.51, -0.13, 64500, "Example ISP UK"},
	{"NL", "Netherlands", "Amsterdam", 52.37, 4.90, 64501, "Example IX Members"},
	{"JP", "Japan", "Tokyo", 35.68, 139.69, 64502, "Example Telecom JP"},
	{"SG", "Singapore", "Singapore", 1.35, 103.82, 64503, "Example Asia Pacific"},
	{"BR", "Brazil", "São Paulo", -23.55, -46.63, 64504, "Example Telecom BR"},
	{"IN", "India", "Mumbai", 19.08, 72.88, 64505, "Example Mobile IN"},
	{"CA", "Canada", "Toronto", 43.65, -79.38, 64506, "Example Cable CA"},
	{"AU", "Australia", "Sydney", -33.87, 151.21, 64507, "Example Broadband AU"},
	{"ES", "Spain", "Madrid", 40.42, -3.70, 64508, "Example Fibra ES"},
	{"PL", "Poland", "Warsaw", 52.23, 21.01, 64509, "Example Net PL"},
	{"ZA", "South Africa", "Johannesburg", -26.20, 28.05, 64510, "Example Africa"},
}

var vmRoles = []string{"web", "app", "db", "cache", "worker", "kafka", "nfs", "dns", "bastion", "ci"}

// New builds the cloud described by cfg.
func New(cfg Config) *Cloud {
	def := DefaultConfig()
	if cfg.VMs <= 0 {
		cfg.VMs = def.VMs
	}
	if cfg.Hypervisors <= 0 {
		cfg.Hypervisors = max(1, cfg.VMs/20)
	}
	if cfg.Projects <= 0 {
		cfg.Projects = max(1, cfg.VMs/12)
	}
	if cfg.Peers <= 0 {
		cfg.Peers = def.Peers
	}
	if cfg.Conversations <= 0 {
		cfg.Conversations = cfg.VMs * 8
	}
	if cfg.Noise < 0 {
		cfg.Noise = 0
	}
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.CounterInterval <= 0 {
		cfg.CounterInterval = def.CounterInterval
	}
	if cfg.SamplingRate == 0 {
		cfg.SamplingRate = def.SamplingRate
	}
	if cfg.PeakBps <= 0 {
		cfg.PeakBps = def.PeakBps
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	c := &Cloud{cfg: cfg}

	for i := range cfg.Hypervisors {
		c.Hypervisors = append(c.Hypervisors, Hypervisor{
			Name: fmt.Sprintf("compute-%02d", i+1),
			Addr: netip.AddrFrom4([4]byte{172, 16, byte(i / 250), byte(i%250 + 1)}),
		})
	}
	for i := range cfg.Projects {
		c.Projects = append(c.Projects, Project{ID: uuid(r), Name: fmt.Sprintf("project-%02d", i+1)})
		nets := 1 + r.IntN(3)
		for j := range nets {
			n := len(c.Networks)
			c.Networks = append(c.Networks, Network{
				ID: uuid(r), Name: fmt.Sprintf("project-%02d-net%d", i+1, j+1), Project: i,
				VNI:    uint32(1000 + n),
				Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n / 256), byte(n % 256), 0}), 24),
			})
		}
	}
	// Project sizes are skewed: a few big tenants, many small ones.
	pz := rand.NewZipf(r, 1.3, 2, uint64(cfg.Projects-1))
	used := make([]int, len(c.Networks))
	ifindex := make([]uint32, cfg.Hypervisors)
	for i := range cfg.VMs {
		p := int(pz.Uint64())
		if i < cfg.Projects {
			p = i // every project has at least one VM
		}
		var nets []int
		for n := range c.Networks {
			if c.Networks[n].Project == p {
				nets = append(nets, n)
			}
		}
		n := nets[r.IntN(len(nets))]
		used[n]++
		h := r.IntN(cfg.Hypervisors)
		ifindex[h]++
		portID := uuid(r)
		var mac flow.MAC
		mac[0], mac[1], mac[2] = 0xfa, 0x16, 0x3e
		mac[3], mac[4], mac[5] = byte(i>>8), byte(i), byte(r.IntN(256))
		pre := c.Networks[n].Prefix.Addr().As4()
		pre[3] = byte(used[n]%250 + 3)
		c.VMs = append(c.VMs, VM{
			ID: uuid(r), Name: fmt.Sprintf("%s-%s-%d", c.Projects[p].Name, vmRoles[r.IntN(len(vmRoles))], i+1),
			Project: p, Network: n, Hypervisor: h, MAC: mac, Addr: netip.AddrFrom4(pre),
			Port: "tap" + portID[:11], PortID: portID,
			IfIndex: 20 + ifindex[h], OFPort: 10 + ifindex[h], Speed: 10_000_000_000,
		})
	}
	cz := rand.NewZipf(r, 1.2, 1, uint64(len(cities)-1))
	for i := range cfg.Peers {
		ct := cities[cz.Uint64()]
		var a netip.Addr
		switch i % 3 {
		case 0:
			a = netip.AddrFrom4([4]byte{198, 51, 100, byte(i/3%254 + 1)})
		case 1:
			a = netip.AddrFrom4([4]byte{203, 0, 113, byte(i/3%254 + 1)})
		default:
			a = netip.AddrFrom4([4]byte{192, 0, 2, byte(i/3%254 + 1)})
		}
		if i%10 == 9 {
			b := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(i >> 8), 0, byte(i)}
			b[15] = 1
			a = netip.AddrFrom16(b)
		}
		c.Peers = append(c.Peers, Peer{Addr: a, Country: ct.iso, Name: ct.country, City: ct.name,
			Lat: ct.lat, Lon: ct.lon, ASN: ct.asn, ASOrg: ct.org})
	}

	// Conversations: popular VMs and peers (Zipf) talk most; rates are
	// log-normal, so a few conversations carry most of the bytes.
	vz := rand.NewZipf(r, 1.05, 4, uint64(cfg.VMs-1))
	ez := rand.NewZipf(r, 1.1, 2, uint64(cfg.Peers-1))
	perm := r.Perm(cfg.VMs) // popularity rank -> VM
	var total float64
	for range cfg.Conversations {
		cv := conv{svc: r.IntN(len(services)), duty: 0.3 + 0.7*r.Float64(),
			session: int64(1 + r.IntN(30)), phase: r.NormFloat64() * 1.5}
		if r.IntN(5) == 0 {
			cv.svc = 0 // HTTPS is everywhere
		}
		a := perm[vz.Uint64()]
		switch x := r.Float64(); {
		case x < 0.55: // east-west, mostly inside one project
			b := perm[vz.Uint64()]
			for tries := 0; tries < 20 && (b == a || c.VMs[b].Project != c.VMs[a].Project); tries++ {
				b = perm[r.IntN(cfg.VMs)]
			}
			if b == a {
				b = (a + 1) % cfg.VMs
			}
			cv.client, cv.server = a, b
		case x < 0.8: // Internet clients of a service a VM runs
			cv.client, cv.server = -1-int(ez.Uint64()), a
			if cv.svc > 2 && cv.svc != 12 {
				cv.svc = r.IntN(3)
			}
		default: // a VM reaching out (updates, APIs, backups)
			cv.client, cv.server = a, -1-int(ez.Uint64())
		}
		cv.v6 = (cv.client < 0 && c.Peers[-1-cv.client].Addr.Is6()) || (cv.server < 0 && c.Peers[-1-cv.server].Addr.Is6())
		cv.bps = math.Exp(r.NormFloat64()*2.2) * 1e5
		if services[cv.svc].proto == 1 {
			cv.bps = 2000 + r.Float64()*4000
		}
		total += cv.bps * cv.duty
		c.convs = append(c.convs, cv)
	}
	scale := cfg.PeakBps / total
	c.vmRate = make([]float64, cfg.VMs)
	for i := range c.convs {
		cv := &c.convs[i]
		cv.bps *= scale
		for _, end := range []int{cv.client, cv.server} {
			if end >= 0 {
				c.vmRate[end] += cv.bps * cv.duty / 2
			}
		}
	}
	c.ids = make([]flow.Identity, len(c.VMs))
	for i := range c.VMs {
		c.ids[i] = c.newIdentity(i)
	}
	c.geos = make([]flow.Geo, len(c.Peers))
	for i := range c.Peers {
		c.geos[i] = c.newGeo(i)
	}
	return c
}

// Config returns the configuration the cloud was built with.
func (c *Cloud) Config() Config { return c.cfg }

func uuid(r *rand.Rand) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 36)
	for i := range b {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
		default:
			b[i] = hex[r.IntN(16)]
		}
	}
	return string(b)
}

// Diurnal is the traffic level at t relative to the daily peak (0.25 at
// night to 1 in the afternoon, UTC), shifted by phase hours.
func Diurnal(t time.Time, phase float64) float64 {
	h := float64(t.Unix()%86400)/3600 + phase
	return 0.25 + 0.75*(0.5-0.5*math.Cos(2*math.Pi*(h-3)/24))
}

// diurnalIntegral is the integral of Diurnal(phase 0) from 0 to t seconds.
func diurnalIntegral(t float64) float64 {
	w := 2 * math.Pi / 86400
	return 0.625*t - 0.375*(math.Sin(w*t-w*3*3600)-math.Sin(-w*3*3600))/w
}

func (c *Cloud) identity(vm int) *flow.Identity { return &c.ids[vm] }

func (c *Cloud) newIdentity(vm int) flow.Identity {
	v := &c.VMs[vm]
	n := &c.Networks[v.Network]
	p := &c.Projects[v.Project]
	return flow.Identity{PortID: v.PortID, InstanceID: v.ID, InstanceName: v.Name,
		NetworkID: n.ID, NetworkName: n.Name, SegmentationID: n.VNI,
		ProjectID: p.ID, ProjectName: p.Name, Host: c.Hypervisors[v.Hypervisor].Name, Source: "synth"}
}

func (c *Cloud) geo(peer int) *flow.Geo { return &c.geos[peer] }

func (c *Cloud) newGeo(peer int) flow.Geo {
	p := &c.Peers[peer]
	return flow.Geo{CountryISO: p.Country, CountryName: p.Name, City: p.City, Lat: p.Lat, Lon: p.Lon,
		HasLocation: true, ASN: p.ASN, ASOrg: p.ASOrg}
}

// cityGeos are the cities as records point at them.
var cityGeos = func() []flow.Geo {
	g := make([]flow.Geo, len(cities))
	for i, ct := range cities {
		g[i] = flow.Geo{CountryISO: ct.iso, CountryName: ct.country, City: ct.name, Lat: ct.lat, Lon: ct.lon,
			HasLocation: true, ASN: ct.asn, ASOrg: ct.org}
	}
	return g
}()

// end describes one side of a packet.
type end struct {
	vm   int // -1 outside
	addr netip.Addr
	mac  flow.MAC
	id   *flow.Identity
	geo  *flow.Geo
}

var routerMAC = flow.MAC{0xfa, 0x16, 0x3e, 0xff, 0x00, 0x01}

func (c *Cloud) end(x int, v6 bool) end {
	if x >= 0 {
		e := end{vm: x, addr: c.VMs[x].Addr, mac: c.VMs[x].MAC, id: c.identity(x)}
		if v6 {
			a := c.VMs[x].Addr.As4()
			b := [16]byte{0xfd, 0x00, 0, 0, 0, 0, a[1], a[2], 0, 0, 0, 0, 0, 0, 0, a[3]}
			e.addr = netip.AddrFrom16(b)
		}
		return e
	}
	p := -1 - x
	return end{vm: -1, addr: c.Peers[p].Addr, mac: routerMAC, geo: c.geo(p)}
}

// Flows returns the aggregated records of the interval starting at start
// (truncated to the interval).
func (c *Cloud) Flows(start time.Time) []flow.Record {
	start = start.Truncate(c.cfg.Interval).UTC()
	slot := start.Unix() / int64(c.cfg.Interval/time.Second)
	r := rand.New(rand.NewPCG(c.cfg.Seed, uint64(start.Unix())))
	secs := c.cfg.Interval.Seconds()
	out := make([]flow.Record, 0, c.cfg.Conversations*2)
	for i := range c.convs {
		cv := &c.convs[i]
		d := Diurnal(start, cv.phase)
		if r.Float64() > cv.duty*(0.4+0.6*d) {
			continue
		}
		svc := &services[cv.svc]
		bits := cv.bps * d * math.Exp(r.NormFloat64()*0.5) * secs
		reqBytes := bits / 8 / (1 + svc.ratio*svc.respSize/svc.pktSize)
		reqPkts := reqBytes / svc.pktSize
		cport := uint16(32768 + (hash(uint64(i), uint64(slot/cv.session))+uint64(i))%28000)
		if svc.proto == 1 {
			cport = 0
		}
		cl, sv := c.end(cv.client, cv.v6), c.end(cv.server, cv.v6)
		out = c.emit(out, r, start, cl, sv, svc, cport, svc.port, reqPkts, svc.pktSize, false)
		out = c.emit(out, r, start, sv, cl, svc, svc.port, cport, reqPkts*svc.ratio, svc.respSize, true)
	}
	// One-off flows: DNS lookups to the project's first VM or to a peer,
	// pings, and Internet scanners probing VMs (new source each time).
	n := int(float64(c.cfg.Noise) * Diurnal(start, 0) * (0.8 + 0.4*r.Float64()))
	for range n {
		vm := r.IntN(len(c.VMs))
		var cl, sv end
		var svc service
		var sport, dport uint16
		switch x := r.Float64(); {
		case x < 0.5:
			cl = c.end(vm, false)
			sv = c.end(-1-r.IntN(len(c.Peers)), false)
			for sv.addr.Is6() {
				sv = c.end(-1-r.IntN(len(c.Peers)), false)
			}
			svc = services[9]
			sport, dport = uint16(32768+r.IntN(28000)), 53
		case x < 0.7:
			cl, sv = c.end(vm, false), c.end(r.IntN(len(c.VMs)), false)
			svc = services[12]
		default:
			src := netip.AddrFrom4([4]byte{198, 18 + byte(r.IntN(2)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
			cl = end{vm: -1, addr: src, mac: routerMAC, geo: &cityGeos[r.IntN(len(cities))]}
			sv = c.end(vm, false)
			svc = service{proto: 6, pktSize: 60}
			sport = uint16(1024 + r.IntN(60000))
			dport = []uint16{22, 23, 3389, 445, 8080, 5900}[r.IntN(6)]
		}
		pk := float64(c.cfg.SamplingRate) * (0.5 + r.Float64())
		out = c.emit(out, r, start, cl, sv, &svc, sport, dport, pk, svc.pktSize, false)
	}
	return out
}

func hash(a, b uint64) uint64 {
	h := a*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9
	h ^= h >> 31
	h *= 0x94d049bb133111eb
	return h ^ h>>29
}

// emit appends the records of one direction of a conversation: one per
// hypervisor where the packets enter br-int.
func (c *Cloud) emit(out []flow.Record, r *rand.Rand, start time.Time, src, dst end, svc *service,
	sport, dport uint16, pkts, size float64, reply bool) []flow.Record {
	rate := float64(c.cfg.SamplingRate)
	// sFlow sampling: the number of samples is what survives; a small
	// flow is often not seen at all.
	expected := pkts / rate
	samples := math.Floor(expected)
	if r.Float64() < expected-samples {
		samples++
	}
	if samples == 0 {
		return out
	}
	rec := flow.Record{
		Time: start.Add(c.cfg.Interval), Start: start, End: start.Add(c.cfg.Interval),
		Input: flow.InputSFlow, SamplingRate: c.cfg.SamplingRate,
		Samples: uint64(samples), Packets: uint64(samples * rate),
		Parsed: flow.LayerL4,
	}
	rec.Bytes = uint64(samples * rate * math.Max(60, size*(0.9+0.2*r.Float64())))
	rec.SrcMAC, rec.DstMAC = src.mac, dst.mac
	rec.SrcAddr, rec.DstAddr = src.addr, dst.addr
	rec.EtherType = 0x0800
	if src.addr.Is6() {
		rec.EtherType = 0x86dd
	}
	rec.Proto, rec.HasProto = svc.proto, true
	if svc.proto == 1 && src.addr.Is6() {
		rec.Proto = 58
	}
	if svc.proto == 6 || svc.proto == 17 {
		rec.SrcPort, rec.DstPort, rec.HasPorts = sport, dport, true
	} else {
		rec.HasICMP = true
		switch {
		case rec.Proto == 58 && reply:
			rec.ICMPType = 129 // echo reply
		case rec.Proto == 58:
			rec.ICMPType = 128 // echo request
		case reply:
			rec.ICMPType = 0
		default:
			rec.ICMPType = 8
		}
	}
	if svc.proto == 6 {
		rec.TCPFlags = 0x18 // PSH ACK
		if svc.pktSize == 60 {
			rec.TCPFlags = 0x02 // SYN (scanner)
		}
	}
	rec.SrcID, rec.DstID = src.id, dst.id
	rec.SrcGeo, rec.DstGeo = src.geo, dst.geo
	switch {
	case src.vm >= 0 && dst.vm >= 0:
		rec.Direction = flow.DirectionInternal
		if c.VMs[src.vm].Hypervisor == c.VMs[dst.vm].Hypervisor {
			rec.Relation = flow.RelationSameHost
		} else {
			rec.Relation = flow.RelationCrossHost
		}
	case src.vm >= 0:
		rec.Direction, rec.Relation = flow.DirectionOutbound, flow.RelationVMToExternal
	default:
		rec.Direction, rec.Relation = flow.DirectionInbound, flow.RelationExternalToVM
	}
	// Seen where the packet enters br-int: the sender's tap, and on the
	// receiver's hypervisor the tunnel side (no ifindex in OVS: format
	// unknown), when it is another hypervisor.
	if src.vm >= 0 {
		v := &c.VMs[src.vm]
		x := rec
		x.Agent = c.Hypervisors[v.Hypervisor].Addr
		x.In = c.port(src.vm)
		x.Observation = flow.ObservationPort
		if dst.vm >= 0 && c.VMs[dst.vm].Hypervisor == v.Hypervisor {
			x.Out = c.port(dst.vm)
		} else {
			x.Out = flow.Port{Format: flow.PortMultiple, Count: 1}
		}
		out = append(out, x)
	}
	if dst.vm >= 0 && (src.vm < 0 || c.VMs[src.vm].Hypervisor != c.VMs[dst.vm].Hypervisor) {
		x := rec
		x.Agent = c.Hypervisors[c.VMs[dst.vm].Hypervisor].Addr
		x.In = flow.Port{Format: flow.PortUnknown}
		x.Out = c.port(dst.vm)
		// The packet was counted on the sender's hypervisor; from
		// outside, it enters the cloud here (through br-ex's patch port).
		x.Observation = flow.ObservationForwarded
		if src.vm < 0 {
			x.Observation = flow.ObservationUplink
		}
		out = append(out, x)
	}
	return out
}

func (c *Cloud) port(vm int) flow.Port {
	v := &c.VMs[vm]
	return flow.Port{Format: flow.PortSingle, Index: v.IfIndex, Name: v.Port, OFPort: v.OFPort, HasOFPort: true, Speed: v.Speed}
}

// Counters returns the counter samples of every VM port at t: cumulative
// octets and packets following the VM's traffic and the diurnal pattern,
// with occasional discards.
func (c *Cloud) Counters(t time.Time) []flow.Counter {
	t = t.UTC()
	sec := float64(t.Unix())
	out := make([]flow.Counter, 0, len(c.VMs))
	for i := range c.VMs {
		v := &c.VMs[i]
		// Octets: the VM's mean rate times the diurnal integral, from a
		// per-port base so ports do not all start at zero.
		base := float64(hash(c.cfg.Seed, uint64(i)) % 1e12)
		tx := base + c.vmRate[i]/8*diurnalIntegral(sec)
		rx := base/2 + c.vmRate[i]/8*0.8*diurnalIntegral(sec)
		disc := uint32(uint64(rx/1e9) % (1 << 32))
		out = append(out, flow.Counter{
			Time: t, Agent: c.Hypervisors[v.Hypervisor].Addr, SourceIDType: 0, SourceIndex: v.IfIndex,
			Sequence: uint32(t.Unix() / 30), SampleSeq: uint32(t.Unix() / 30),
			HasInterface: true,
			Interface: flow.InterfaceCounters{
				Index: v.IfIndex, Type: 6, Speed: v.Speed, Direction: 1, Status: 3,
				// The switch receives what the VM sends.
				InOctets: uint64(tx), InUcast: uint32(uint64(tx/700) % (1 << 32)),
				InMulticast: flow.Unknown32, InBroadcast: flow.Unknown32,
				InDiscards: 0, InErrors: 0, InUnknown: flow.Unknown32,
				OutOctets: uint64(rx), OutUcast: uint32(uint64(rx/700) % (1 << 32)),
				OutMulticast: flow.Unknown32, OutBroadcast: flow.Unknown32,
				OutDiscards: disc, OutErrors: 0, Promiscuous: flow.Unknown32,
			},
			HasOFPort: true, OFPort: v.OFPort, DatapathID: 0x0000_0000_0000_1000 + uint64(v.Hypervisor),
			HasPortName: true, PortName: v.Port,
		})
	}
	return out
}

// Range calls fn, in time order, with the flows of every interval that
// starts in [from, to) and the counter samples taken in it.
func (c *Cloud) Range(from, to time.Time, fn func(flows []flow.Record, counters []flow.Counter) error) error {
	iv, ci := c.cfg.Interval, c.cfg.CounterInterval
	for t := from.Truncate(iv); t.Before(to); t = t.Add(iv) {
		var counters []flow.Counter
		for ct := t.Truncate(ci); ct.Before(t.Add(iv)); ct = ct.Add(ci) {
			if !ct.Before(t) {
				counters = append(counters, c.Counters(ct)...)
			}
		}
		if err := fn(c.Flows(t), counters); err != nil {
			return err
		}
	}
	return nil
}
