//go:build e2e

package e2e

// The two-hypervisor lab (TestTwoHypervisors): two emulated compute nodes, each a network
// namespace with its own ovsdb-server + ovs-vswitchd (userspace datapath), laid out as
// Neutron's ML2/OVS agent lays out a VXLAN compute node:
//
//	br-int  VM ports (access ports of the network's local VLAN, Port.tag), patch-tun
//	br-tun  patch-int, vxlan-<remote ip in hex>; the agent's tables 0/2/4/10/20/22
//	br-phy  the underlay veth; the local tunnel address on br-phy's own (internal) port
//
// The two underlay ends are one veth pair between the two hypervisor namespaces. A third
// namespace holds the collector, reached by each hypervisor over its own veth ("management
// network"), so the two sFlow agents have distinct addresses.
//
// Why br-phy: with the userspace datapath, OVS encapsulates itself (tnl_push) and routes the
// outer packet with its own routing table (ovs-appctl ovs/route/show), which it copies from
// the kernel's: the route to the remote tunnel address must go through a device that is an OVS
// bridge's own port, so the local tunnel address sits on br-phy, as in OVS's userspace
// tunnelling documentation (README-native-tunneling, OVS-DPDK setups).

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	tunBridge  = "br-tun"
	phyBridge  = "br-phy"
	patchTun   = "patch-tun" // on br-int (the agent's name)
	patchIntTu = "patch-int" // its peer on br-tun
	vxlanMTU   = 1450        // Neutron's MTU for VMs on VXLAN networks (1500 - 50)
	vxlanPort  = 4789
)

// Hypervisor is one emulated compute node.
type Hypervisor struct {
	ovsHome
	N         int        // 1, 2
	Name      string     // hv1
	Host      string     // Open_vSwitch external_ids:hostname: flowlens.src.host / dst.host
	MgmtIf    string     // <prefix>-m1: link to the collector's namespace
	ColIf     string     // <prefix>-c1: its other end, in the collector's namespace
	MgmtIP    netip.Addr // its address: the sFlow agent address (agent=<MgmtIf>)
	ColIP     netip.Addr // the collector's address on that link (the sFlow target)
	UnderIf   string     // <prefix>-u1: the underlay veth, a port of br-phy
	TunIP     netip.Addr // local_ip of the VXLAN port, on br-phy
	VXLANPort string     // vxlan-ac100002: the agent names it after the remote address in hex
	// LocalVLAN: the local VLAN of each network on this host (the agent picks them per host).
	LocalVLAN map[*Network]int
	l         *Lab
}

func (h *Hypervisor) String() string { return h.Name }

func (h *Hypervisor) run(name string, args ...string) (string, error) {
	return h.l.runEnvT(60*time.Second, h.env(), name, args...)
}

func (h *Hypervisor) must(name string, args ...string) string {
	h.l.t.Helper()
	out, err := h.run(name, args...)
	if err != nil {
		h.l.t.Fatal(err)
	}
	return out
}

// vsctl runs ovs-vsctl against this hypervisor's OVSDB.
func (h *Hypervisor) vsctl(args ...string) string {
	h.l.t.Helper()
	return strings.TrimSpace(h.must("ovs-vsctl", append([]string{"--timeout=30"}, args...)...))
}

// appctl runs ovs-appctl against this hypervisor's ovs-vswitchd.
func (h *Hypervisor) appctl(args ...string) (string, error) {
	return h.run("ovs-appctl", append([]string{"-t", filepath.Join(h.RunDir, "ovs-vswitchd.ctl")}, args...)...)
}

func (h *Hypervisor) ofport(iface string) int {
	h.l.t.Helper()
	n, err := strconv.Atoi(h.vsctl("get", "Interface", iface, "ofport"))
	if err != nil || n <= 0 {
		h.l.t.Fatalf("%s: ofport of %s: %d %v", h, iface, n, err)
	}
	return n
}

// TwoHV is the two-hypervisor lab; its VMs are l.VMs (Lab.Net, Lab.Net2 are its networks).
type TwoHV struct {
	Col string // the collector's namespace
	HVs []*Hypervisor
}

// setupTwoHV builds the lab: namespaces, two OVS, bridges, underlay, tunnel, flows, VMs, and
// checks connectivity and isolation.
func (l *Lab) setupTwoHV() *TwoHV {
	t := l.t
	// Two tenant networks in two projects, on the same address range (tenants reuse ranges);
	// VNIs 1001/1002. Host addresses are unique across both so that IPs name VMs in the
	// byte checks; the VNI keeps the networks apart (checked below).
	l.Net = &Network{
		ID: newUUID(), Type: "vxlan", SegmentID: 1001, Name: "net-a", ProjectID: strings.ReplaceAll(newUUID(), "-", ""), ProjectName: "project-a",
		IPv4Prefix: netip.MustParsePrefix("10.81.0.0/24"), IPv6Prefix: netip.MustParsePrefix("fd81::/64"),
	}
	l.Net2 = &Network{
		ID: newUUID(), Type: "vxlan", SegmentID: 1002, Name: "net-b", ProjectID: strings.ReplaceAll(newUUID(), "-", ""), ProjectName: "project-b",
		IPv4Prefix: l.Net.IPv4Prefix, IPv6Prefix: l.Net.IPv6Prefix,
	}
	tl := &TwoHV{Col: l.Prefix + "-col"}
	l.addNetns(tl.Col)
	l.mustRun("ip", "-n", tl.Col, "link", "set", "lo", "up")
	for i := 1; i <= 2; i++ {
		dir := filepath.Join(l.Dir, fmt.Sprintf("hv%d", i), "ovs")
		h := &Hypervisor{
			ovsHome: ovsHome{NS: fmt.Sprintf("%s-hv%d", l.Prefix, i), RunDir: filepath.Join(dir, "run"),
				DBDir: filepath.Join(dir, "db"), LogDir: filepath.Join(dir, "log")},
			N:       i,
			Name:    fmt.Sprintf("hv%d", i),
			Host:    fmt.Sprintf("compute-%d.%s", i, l.Prefix),
			MgmtIf:  fmt.Sprintf("%s-m%d", l.Prefix, i),
			ColIf:   fmt.Sprintf("%s-c%d", l.Prefix, i),
			MgmtIP:  netip.MustParseAddr(fmt.Sprintf("10.98.%d.2", i)),
			ColIP:   netip.MustParseAddr(fmt.Sprintf("10.98.%d.1", i)),
			UnderIf: fmt.Sprintf("%s-u%d", l.Prefix, i),
			TunIP:   netip.MustParseAddr(fmt.Sprintf("172.16.0.%d", i)),
			// The agent numbers local VLANs per host, in the order it sees networks: here
			// crosswise, so that a wrong VLAN <-> VNI mapping would show.
			LocalVLAN: map[*Network]int{l.Net: i, l.Net2: 3 - i},
			l:         l,
		}
		for _, d := range []string{h.RunDir, h.DBDir, h.LogDir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		tl.HVs = append(tl.HVs, h)
	}
	for _, h := range tl.HVs {
		l.addNetns(h.NS)
		l.mustRun("ip", "-n", h.NS, "link", "set", "lo", "up")
		l.startOVSDaemons(h.ovsHome)
		h.vsctl("set", "Open_vSwitch", ".", "external_ids:hostname="+h.Host)
		for _, br := range []string{bridge, tunBridge, phyBridge} {
			h.vsctl("add-br", br, "--", "set", "bridge", br, "datapath_type=netdev")
		}
		// br-int <-> br-tun, as the agent joins them
		h.vsctl("--", "add-port", bridge, patchTun, "--", "set", "Interface", patchTun, "type=patch", "options:peer="+patchIntTu,
			"--", "add-port", tunBridge, patchIntTu, "--", "set", "Interface", patchIntTu, "type=patch", "options:peer="+patchTun)
		// management link to the collector
		l.veth(h.MgmtIf, h.NS, h.ColIf, tl.Col)
		l.mustRun("ip", "-n", h.NS, "addr", "add", h.MgmtIP.String()+"/24", "dev", h.MgmtIf)
		l.mustRun("ip", "-n", h.NS, "link", "set", h.MgmtIf, "up")
		l.mustRun("ip", "-n", tl.Col, "addr", "add", h.ColIP.String()+"/24", "dev", h.ColIf)
		l.mustRun("ip", "-n", tl.Col, "link", "set", h.ColIf, "up")
	}
	h1, h2 := tl.HVs[0], tl.HVs[1]
	// the underlay: one veth between the two hypervisors, each end a port of its br-phy
	l.veth(h1.UnderIf, h1.NS, h2.UnderIf, h2.NS)
	for _, h := range tl.HVs {
		l.mustRun("ip", "-n", h.NS, "link", "set", h.UnderIf, "up")
		if _, err := l.inNS(h.NS, 10*time.Second, "ethtool", "-K", h.UnderIf, "tx", "off"); err != nil {
			t.Fatal(err)
		}
		h.vsctl("add-port", phyBridge, h.UnderIf)
		for _, br := range []string{bridge, tunBridge} {
			l.mustRun("ip", "-n", h.NS, "link", "set", br, "up")
		}
		l.mustRun("ip", "-n", h.NS, "addr", "add", h.TunIP.String()+"/24", "dev", phyBridge)
		l.mustRun("ip", "-n", h.NS, "link", "set", phyBridge, "up")
	}
	for _, h := range tl.HVs {
		peer := h2
		if h == h2 {
			peer = h1
		}
		h.addTunnel(peer, []*Network{l.Net, l.Net2})
	}

	// VMs: two on network A and one on network B on hv1; one of each on hv2.
	type spec struct {
		h    *Hypervisor
		net  *Network
		host int
	}
	for i, s := range []spec{{h1, l.Net, 11}, {h1, l.Net, 12}, {h1, l.Net2, 23}, {h2, l.Net, 14}, {h2, l.Net2, 25}} {
		l.VMs = append(l.VMs, l.addVM(vmSpec{i: i + 1, net: s.net, bridge: bridge, hv: s.h, vlan: s.h.LocalVLAN[s.net], mtu: vxlanMTU,
			ipv4: netip.MustParseAddr(fmt.Sprintf("10.81.0.%d", s.host)), ipv6: netip.MustParseAddr(fmt.Sprintf("fd81::%d", s.host))}))
	}
	// The userspace datapath resolves the remote tunnel address itself (tnl/neigh, snooped
	// from ARP on br-phy); one ping over the underlay fills it before the VMs talk.
	for _, h := range tl.HVs {
		peer := h2
		if h == h2 {
			peer = h1
		}
		if _, err := l.inNS(h.NS, 10*time.Second, "ping", "-c", "1", "-W", "2", peer.TunIP.String()); err != nil {
			t.Fatalf("%s: underlay: %v\n%s", h, err, h.diag())
		}
	}
	l.checkTwoHVConnectivity(tl)
	for _, h := range tl.HVs {
		route, _ := h.appctl("ovs/route/show")
		neigh, _ := h.appctl("tnl/neigh/show")
		l.logCmd("%s ovs/route/show:\n%s\n%s tnl/neigh/show:\n%s", h, indent(route), h, indent(neigh))
	}
	for _, v := range l.VMs {
		if _, err := l.start("iperf3-"+v.Name, filepath.Join(l.Dir, "iperf3-server-"+v.Name+".log"),
			"ip", "netns", "exec", v.Netns, "iperf3", "-s", "-p", strconv.Itoa(iperfPort)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	return tl
}

// veth creates a veth pair with one end in each namespace (never in the host's), recorded for
// teardown (deleting either end removes both).
func (l *Lab) veth(a, nsA, b, nsB string) {
	for _, n := range []string{a, b} {
		if len(n) > 15 {
			l.t.Fatalf("interface name %q longer than 15 characters", n)
		}
	}
	l.mustRun("ip", "link", "add", "name", a, "netns", nsA, "type", "veth", "peer", "name", b, "netns", nsB)
	l.led.add("veth "+a+" in "+nsA, func() error {
		if _, err := l.runT(10*time.Second, "ip", "-n", nsA, "link", "show", a); err != nil {
			return nil // already gone with its namespace
		}
		_, err := l.runT(10*time.Second, "ip", "-n", nsA, "link", "del", a)
		return err
	})
}

// addTunnel adds the VXLAN port to peer on br-tun and replaces br-tun's flows with the ML2/OVS
// agent's (neutron/plugins/ml2/drivers/openvswitch/agent/openflow/native/br_tun.py), for the
// given networks:
//
//	table 0   from patch-int -> 2; from the tunnel -> 4; else drop
//	table 2   unicast -> 20, multicast/broadcast -> 22
//	table 4   tun_id=<VNI> -> mod_vlan_vid:<local VLAN>, -> 10; else drop
//	table 10  learn (table 20: VLAN + MAC -> strip VLAN, set the VNI, out the port it came in by),
//	          output to patch-int
//	table 20  learned unicast entries; else -> 22
//	table 22  dl_vlan=<local VLAN> -> strip_vlan, set_tunnel <VNI>, output to the tunnel port(s)
//
// Left out: l2population's ARP responder (table 21), DVR (tables 1, 9), and the other tunnel
// types' tables (3, 6). br-int keeps NORMAL switching with Port.tag on the VM ports, which is
// what the agent's br-int tables come down to without security groups.
func (h *Hypervisor) addTunnel(peer *Hypervisor, nets []*Network) {
	a := peer.TunIP.As4()
	h.VXLANPort = fmt.Sprintf("vxlan-%02x%02x%02x%02x", a[0], a[1], a[2], a[3])
	h.vsctl("--", "add-port", tunBridge, h.VXLANPort, "--", "set", "Interface", h.VXLANPort, "type=vxlan",
		"options:remote_ip="+peer.TunIP.String(), "options:local_ip="+h.TunIP.String(),
		"options:in_key=flow", "options:out_key=flow", "options:df_default=true", "options:egress_pkt_mark=0",
		fmt.Sprintf("options:dst_port=%d", vxlanPort))
	patch, vx := h.ofport(patchIntTu), h.ofport(h.VXLANPort)
	flows := []string{
		fmt.Sprintf("table=0,priority=1,in_port=%d,actions=resubmit(,2)", patch),
		fmt.Sprintf("table=0,priority=1,in_port=%d,actions=resubmit(,4)", vx),
		"table=0,priority=0,actions=drop",
		"table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)",
		"table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)",
		"table=4,priority=0,actions=drop",
		fmt.Sprintf("table=10,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],"+
			"NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],"+
			"output:OXM_OF_IN_PORT[]),output:%d", patch),
		"table=20,priority=0,actions=resubmit(,22)",
		"table=22,priority=0,actions=drop",
	}
	for _, n := range nets {
		vlan := h.LocalVLAN[n]
		flows = append(flows,
			fmt.Sprintf("table=4,priority=1,tun_id=%#x,actions=mod_vlan_vid:%d,resubmit(,10)", n.SegmentID, vlan),
			fmt.Sprintf("table=22,priority=1,dl_vlan=%d,actions=strip_vlan,load:%#x->NXM_NX_TUN_ID[],output:%d", vlan, n.SegmentID, vx))
	}
	file := filepath.Join(h.RunDir, "..", "br-tun.flows")
	if err := os.WriteFile(file, []byte(strings.Join(flows, "\n")+"\n"), 0o644); err != nil {
		h.l.t.Fatal(err)
	}
	h.must("ovs-ofctl", "del-flows", tunBridge)
	h.must("ovs-ofctl", "add-flows", tunBridge, file)
	h.l.t.Logf("%s: %s %s -> %s (ofport %d), patch-int ofport %d; br-tun flows: %d; local VLANs: %s %d, %s %d",
		h, tunBridge, h.VXLANPort, peer.TunIP, vx, patch, len(flows),
		nets[0].Name, h.LocalVLAN[nets[0]], nets[1].Name, h.LocalVLAN[nets[1]])
}

// checkTwoHVConnectivity pings every pair of VMs on one network (IPv4 and IPv6, both ways,
// same host and across the tunnel), and checks that the networks are apart: a VM of network B
// cannot reach a VM of network A, although they share the address range.
func (l *Lab) checkTwoHVConnectivity(tl *TwoHV) {
	ping := func(a *VM, dst netip.Addr, tries int) error {
		var err error
		for range tries {
			if _, err = l.inNS(a.Netns, 10*time.Second, "ping", "-c", "1", "-W", "2", dst.String()); err == nil {
				break
			}
		}
		return err
	}
	for _, a := range l.VMs {
		for _, b := range l.VMs {
			if a == b || a.Net != b.Net {
				continue
			}
			for _, dst := range []netip.Addr{b.IPv4, b.IPv6} {
				if err := ping(a, dst, 5); err != nil {
					l.t.Fatalf("no connectivity %s (%s) -> %s (%s) %s: %v\n%s\n%s", a, a.HV, b, b.HV, dst, err, tl.HVs[0].diag(), tl.HVs[1].diag())
				}
			}
		}
	}
	for _, a := range l.VMs {
		for _, b := range l.VMs {
			if a.Net == b.Net {
				continue
			}
			if _, err := l.inNS(a.Netns, 10*time.Second, "ping", "-c", "1", "-W", "1", b.IPv4.String()); err == nil {
				l.t.Fatalf("%s (%s) reaches %s (%s) on the other network: the networks are not apart", a, a.Net.Name, b, b.Net.Name)
			}
			break // one probe per VM is enough (each costs a 1 s timeout)
		}
	}
}

// diag returns this hypervisor's OVS state for failure messages.
func (h *Hypervisor) diag() string {
	var b strings.Builder
	show, _ := h.run("ovs-vsctl", "--timeout=5", "show")
	fmt.Fprintf(&b, "=== %s ovs-vsctl show:\n%s\n", h, show)
	for _, br := range []string{bridge, tunBridge} {
		f, _ := h.run("ovs-ofctl", "dump-flows", br)
		fmt.Fprintf(&b, "=== %s ovs-ofctl dump-flows %s:\n%s\n", h, br, f)
	}
	for _, c := range [][]string{{"dpctl/dump-flows"}, {"ovs/route/show"}, {"tnl/neigh/show"}} {
		out, _ := h.appctl(c...)
		fmt.Fprintf(&b, "=== %s ovs-appctl %s:\n%s\n", h, c[0], out)
	}
	fmt.Fprintf(&b, "=== %s vswitchd log tail:\n%s\n", h, tail(filepath.Join(h.LogDir, "ovs-vswitchd.log"), 15))
	return b.String()
}

// configureSFlowTwoHV exports sFlow from br-int, br-tun and br-phy of both hypervisors to the
// one collector, as an operator would (one sFlow row per host, agent = the management link).
func (l *Lab) configureSFlowTwoHV(tl *TwoHV, port int) {
	for _, h := range tl.HVs {
		h.vsctl("--", "--id=@sflow", "create", "sflow", "agent="+h.MgmtIf,
			fmt.Sprintf(`target="%s:%d"`, h.ColIP, port),
			"header="+strconv.Itoa(headerBytes), "sampling="+strconv.Itoa(samplingRate),
			"polling="+strconv.Itoa(pollingSec),
			"--", "set", "bridge", bridge, "sflow=@sflow",
			"--", "set", "bridge", tunBridge, "sflow=@sflow",
			"--", "set", "bridge", phyBridge, "sflow=@sflow")
		l.t.Logf("%s: sFlow on %s, %s, %s: agent %s (%s) -> %s:%d", h, bridge, tunBridge, phyBridge, h.MgmtIf, h.MgmtIP, h.ColIP, port)
	}
}

// writeInventory writes the static inventory that the APIs would give (names and projects);
// OVSDB gives the rest (ports, MACs, instances, networks, attachments, hosts).
func (l *Lab) writeInventory() string {
	var b strings.Builder
	b.WriteString("ports:\n")
	for _, v := range l.VMs {
		fmt.Fprintf(&b, "  - id: %s\n    mac: %q\n    instance_id: %s\n    instance_name: %s\n    network_id: %s\n    network_name: %s\n"+
			"    segmentation_id: %d\n    project_id: %s\n    project_name: %s\n    host: %s\n    fixed_ips: [%q, %q]\n",
			v.PortID, v.MAC.String(), v.InstanceID, v.Name, v.Net.ID, v.Net.Name, v.Net.SegmentID, v.Net.ProjectID, v.Net.ProjectName,
			v.HV.Host, v.IPv4.String(), v.IPv6.String())
	}
	path := filepath.Join(l.Dir, "inventory.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		l.t.Fatal(err)
	}
	return path
}

// startCollectorTwoHV starts flowlens in the collector's namespace, listening on every
// address there, with both hypervisors' OVSDB and the static inventory, and waits until its
// UDP socket is bound.
func (l *Lab) startCollectorTwoHV(bin string, tl *TwoHV, port int, inventory string) *Collector {
	t := l.t
	tag := "twohv"
	c := &Collector{
		Tag:     tag,
		Listen:  fmt.Sprintf("0.0.0.0:%d", port),
		Out:     filepath.Join(l.Dir, "flows-"+tag+".ndjson"),
		LogPath: filepath.Join(l.Dir, "flowlens-"+tag+".log"),
	}
	var ovsdb []string
	for _, h := range tl.HVs {
		ovsdb = append(ovsdb, h.MgmtIP.String()+"=unix:"+filepath.Join(h.RunDir, "db.sock"))
	}
	argv := []string{"ip", "netns", "exec", tl.Col, bin, "run",
		"--input.sflow.listen=" + c.Listen,
		"--input.netflow.listen=",
		"--output.ndjson.path=" + c.Out,
		"--store.path=" + filepath.Join(l.Dir, "store-"+tag),
		"--console.listen=" + fmt.Sprintf("127.0.0.1:%d", port+2),
		"--enrich.openstack.ovsdb=" + strings.Join(ovsdb, ","),
		"--enrich.openstack.static_file=" + inventory,
		"--log.format=json",
		"--log.level=info"}
	c.Started = time.Now()
	p, err := l.start("collector-"+tag, c.LogPath, argv...)
	if err != nil {
		t.Fatal(err)
	}
	c.Proc = p
	deadline := time.Now().Add(20 * time.Second)
	// 0.0.0.0 is bound as [::] (dual stack): its "flowlens started" line comes after the bind
	for !logged(c.LogPath, `"msg":"flowlens started"`) {
		if !p.Running() {
			t.Fatalf("collector %s exited before listening (%v):\n%s", tag, p.err, tail(c.LogPath, 30))
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector %s not listening on %s after 20s:\n%s", tag, c.Listen, tail(c.LogPath, 30))
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Bound = time.Now()
	return c
}

var ssDropsRe = regexp.MustCompile(`\*:(\S+)\s.*skmem:\([^)]*\bd(\d+)\)`)

// socketDrops reads, per interface of every hypervisor, the packets the kernel dropped on
// ovs-vswitchd's AF_PACKET socket for it (`ss -0 -a -m`: skmem's d, sk_drops): what a netdev
// (userspace) datapath that could not keep up never received -- never sampled, yet counted in
// the interface's counters. Keys are "hv1/<ifname>".
func (l *Lab) socketDrops(tl *TwoHV) map[string]int64 {
	m := map[string]int64{}
	for _, h := range tl.HVs {
		for k, n := range l.socketDropsIn(h.NS) {
			m[h.Name+"/"+k] += n
		}
	}
	return m
}

// socketDropsIn is socketDrops for the ovs-vswitchd of namespace ns, keyed by interface name.
func (l *Lab) socketDropsIn(ns string) map[string]int64 {
	m := map[string]int64{}
	// -p: only ovs-vswitchd's sockets (TestOVSsFlow's softflowd listens on vm1's port too)
	out, err := l.inNS(ns, 10*time.Second, "ss", "-0", "-a", "-m", "-n", "-p")
	if err != nil {
		return m
	}
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"ovs-vswitchd"`) {
			continue
		}
		if g := ssDropsRe.FindStringSubmatch(line); g != nil {
			n, _ := strconv.ParseInt(g[2], 10, 64)
			m[g[1]] += n
		}
	}
	return m
}
