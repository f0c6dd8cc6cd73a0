//go:build openstack

package openstack

// The lab's two hypervisors (#13 point 2). hv1 shares the host namespace with the control
// plane; hv2 is a namespace of its own with its own Open vSwitch and its own L2 agent (the
// Open vSwitch agent or ovn-controller) under its own host name. They are joined as a compute
// node is to its cloud:
//
//	management  <prefix>-m1 10.99.0.1 (hv1, the control plane, flowlens) — <prefix>-m2 10.99.0.2 (hv2):
//	            RabbitMQ and the OVN southbound database for hv2's agent, sFlow to flowlens
//	underlay    <prefix>-u1 — <prefix>-u2, each a port of its host's br-phy, the tunnel address
//	            (local_ip, ovn-encap-ip) on br-phy's own port: 172.16.0.1, 172.16.0.2
//
// Why br-phy: the userspace datapath encapsulates itself (tnl_push) and routes the outer
// packet with its own copy of the kernel's routes, which must lead out through an Open vSwitch
// bridge's own port (Open vSwitch's userspace tunnelling documentation).

import (
	"fmt"
	"time"
)

// HV is one hypervisor.
type HV struct {
	Name    string // Neutron host, OVS system-id and hostname
	NS      string
	dir     string // "" (hv1: ovs/, ovn/ at the top of the work dir) or "hv2/"
	MgmtIf  string
	MgmtIP  string
	UnderIf string
	TunIP   string
	// SFlowAgent is the address its sFlow datagrams carry (agent=): the key of its OVSDB in
	// flowlens's enrich.openstack.ovsdb.
	SFlowAgent string
	env        []string // OVS_RUNDIR, OVN_RUNDIR… for its daemons and tools
	l          *Lab
}

const (
	mgmtPrefix = "10.99.0."
	tunPrefix  = "172.16.0."
)

// newHVs describes the two hypervisors (nothing is created yet).
func (l *Lab) newHVs() {
	for i := 1; i <= 2; i++ {
		h := &HV{Name: fmt.Sprintf("flos-hv%d", i), NS: l.host, MgmtIf: fmt.Sprintf("%s-m%d", l.prefix, i),
			MgmtIP: fmt.Sprint(mgmtPrefix, i), UnderIf: fmt.Sprintf("%s-u%d", l.prefix, i), TunIP: fmt.Sprint(tunPrefix, i), l: l}
		if i == 1 {
			h.SFlowAgent = "127.0.0.1" // agent=lo: hv1 sends from the namespace flowlens runs in
		} else {
			h.NS, h.dir, h.SFlowAgent = l.prefix+"-hv2", "hv2/", h.MgmtIP
		}
		h.env = []string{"OVS_RUNDIR=" + h.p("ovs/run"), "OVS_DBDIR=" + h.p("ovs/db"), "OVS_LOGDIR=" + h.p("ovs/log"),
			"OVS_SYSCONFDIR=" + h.p("ovs/etc"), "OVN_RUNDIR=" + h.p("ovn/run"), "OVN_DBDIR=" + h.p("ovn/db"), "OVN_LOGDIR=" + h.p("ovn/log")}
		l.hvs = append(l.hvs, h)
	}
}

// p is a path in the hypervisor's part of the work dir.
func (h *HV) p(rel string) string { return h.l.p(h.dir + rel) }

func (h *HV) db() string { return "unix:" + h.p("ovs/run/db.sock") }

func (h *HV) String() string { return h.Name }

// vsctl runs ovs-vsctl against this hypervisor's database.
func (h *HV) vsctl(args ...string) (string, error) {
	return h.l.run(30*time.Second, append([]string{"ovs-vsctl", "--db=" + h.db()}, args...)...)
}

func (h *HV) mustVsctl(args ...string) string {
	h.l.t.Helper()
	out, err := h.vsctl(args...)
	if err != nil {
		h.l.t.Fatal(err)
	}
	return out
}

// appctl talks to this hypervisor's ovs-vswitchd.
func (h *HV) appctl(args ...string) (string, error) {
	return h.l.run(10*time.Second, append([]string{"ovs-appctl", "-t", h.p("ovs/run/ovs-vswitchd.ctl")}, args...)...)
}

// setupNetwork creates the namespaces and the management and underlay links (the underlay
// ends join br-phy once Open vSwitch runs: underlay()).
func (l *Lab) setupNetwork() {
	l.t.Helper()
	l.addNetns(l.host)
	h1, h2 := l.hvs[0], l.hvs[1]
	l.addNetns(h2.NS)
	for _, d := range []string{"ovs/run", "ovs/db", "ovs/log", "ovs/etc", "ovn/run", "ovn/log", "neutron/lock"} {
		l.mkdir(h2.dir + d)
	}
	for _, pair := range [][2]string{{h1.MgmtIf, h2.MgmtIf}, {h1.UnderIf, h2.UnderIf}} {
		if _, err := l.run(10*time.Second, "ip", "link", "add", "name", pair[0], "netns", h1.NS, "type", "veth",
			"peer", "name", pair[1], "netns", h2.NS); err != nil {
			l.t.Fatal(err)
		}
	}
	for _, h := range l.hvs {
		for _, argv := range [][]string{
			{"ip", "-n", h.NS, "addr", "add", h.MgmtIP + "/24", "dev", h.MgmtIf},
			{"ip", "-n", h.NS, "link", "set", h.MgmtIf, "up"},
			{"ip", "-n", h.NS, "link", "set", h.UnderIf, "up"},
			// userspace datapath: the underlay's TCP/UDP needs full checksums from the kernel
			{"ip", "netns", "exec", h.NS, "ethtool", "-K", h.UnderIf, "tx", "off"},
		} {
			if _, err := l.run(10*time.Second, argv...); err != nil {
				l.t.Fatal(err)
			}
		}
	}
}

// underlay puts each underlay end into its host's br-phy with the tunnel address on br-phy's
// own port, and pings across it so that each ovs-vswitchd has learnt its peer's MAC
// (tnl/neigh) before a tunnel needs it.
func (l *Lab) underlay() {
	l.t.Helper()
	for _, h := range l.hvs {
		h.mustVsctl("--may-exist", "add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev",
			"--", "--may-exist", "add-port", "br-phy", h.UnderIf)
		for _, argv := range [][]string{
			{"ip", "-n", h.NS, "addr", "add", h.TunIP + "/24", "dev", "br-phy"},
			{"ip", "-n", h.NS, "link", "set", "br-phy", "up"},
		} {
			if _, err := l.run(10*time.Second, argv...); err != nil {
				l.t.Fatal(err)
			}
		}
	}
	for i, h := range l.hvs {
		peer := l.hvs[1-i]
		l.waitFor(fmt.Sprintf("underlay %s -> %s", h.TunIP, peer.TunIP), 20*time.Second, func() error {
			_, err := l.in(h.NS, 5*time.Second, "ping", "-c", "1", "-W", "1", peer.TunIP)
			return err
		})
	}
}

// startOVS starts the hypervisor's ovsdb-server and ovs-vswitchd and names the host.
func (h *HV) startOVS() error {
	l := h.l
	db := h.p("ovs/db/conf.db")
	if _, err := l.run(30*time.Second, "ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return err
	}
	l.start(h.NS, "ovsdb-server"+h.suffix(), h.env, "ovsdb-server", db, "--remote=punix:"+h.p("ovs/run/db.sock"),
		"--remote=db:Open_vSwitch,Open_vSwitch,manager_options", "--unixctl="+h.p("ovs/run/ovsdb-server.ctl"),
		"--log-file="+h.p("ovs/log/ovsdb-server.log"), "--no-chdir")
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := h.vsctl("--no-wait", "init")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := h.vsctl("--no-wait", "set", "Open_vSwitch", ".", "external_ids:hostname="+h.Name, "external_ids:system-id="+h.Name); err != nil {
		return err
	}
	// OVS_RUNDIR: each ovs-vswitchd makes its bridges' management sockets there
	vs := l.start(h.NS, "ovs-vswitchd"+h.suffix(), h.env, "ovs-vswitchd", h.db(),
		"--unixctl="+h.p("ovs/run/ovs-vswitchd.ctl"), "--log-file="+h.p("ovs/log/ovs-vswitchd.log"), "--no-chdir")
	for {
		_, err := h.appctl("version")
		if err == nil {
			return nil
		}
		if vs.exited() {
			return fmt.Errorf("%s: ovs-vswitchd exited: %v\n%s", h, vs.err, tailFile(l.p("log/ovs-vswitchd"+h.suffix()+".out"), 20))
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// suffix tells hv2's daemons and logs from hv1's ("" for hv1, whose names are the lab's
// historical ones).
func (h *HV) suffix() string {
	if h.dir == "" {
		return ""
	}
	return "-" + h.Name[len("flos-"):]
}

// startOVNController points the hypervisor's Open vSwitch at the southbound database and
// starts its ovn-controller, which creates a netdev br-int.
func (h *HV) startOVNController(sb string) *Proc {
	l := h.l
	l.t.Helper()
	h.mustVsctl("set", "Open_vSwitch", ".", "external_ids:ovn-remote="+sb,
		"external_ids:ovn-encap-type=geneve", "external_ids:ovn-encap-ip="+h.TunIP, "external_ids:ovn-bridge=br-int",
		"external_ids:ovn-bridge-datapath-type=netdev")
	// ovn-controller rejects --unixctl; its control socket goes to $OVN_RUNDIR
	return l.start(h.NS, "ovn-controller"+h.suffix(), h.env, "ovn-controller", h.db(),
		"--log-file="+h.p("ovn/log/ovn-controller.log"), "--no-chdir")
}

// startAgent starts the hypervisor's Open vSwitch agent with its own host name, local_ip and
// database.
func (h *HV) startAgent() *Proc {
	l := h.l
	conf := l.renderHV(h, "neutron"+h.suffix()+".conf", neutronConf)
	ini := l.renderHV(h, "openvswitch_agent"+h.suffix()+".ini", ovsAgentIni)
	return l.start(h.NS, "neutron-ovs-agent"+h.suffix(), h.env, "neutron-openvswitch-agent", "--config-file", conf,
		"--config-file", ini, "--log-file", l.p("log/neutron-ovs-agent"+h.suffix()+".log"))
}

// sflow exports sFlow from every bridge of the hypervisor to flowlens, one sampler per bridge
// as Open vSwitch has it: the packets' repeats (the receiver's br-int or br-tun, the
// underlay's br-phy) are what counting once must see through.
func (h *HV) sflow(bridges []string) {
	h.l.t.Helper()
	agent := "lo"
	target := "127.0.0.1:" + portSFlow
	if h.dir != "" {
		agent, target = h.MgmtIf, h.l.hvs[0].MgmtIP+":"+portSFlow
	}
	args := []string{"--", "--id=@sflow", "create", "sflow", "agent=" + agent, `target="` + target + `"`, "header=128",
		"sampling=1", "polling=10"}
	for _, br := range bridges {
		args = append(args, "--", "set", "bridge", br, "sflow=@sflow")
	}
	h.mustVsctl(args...)
}
