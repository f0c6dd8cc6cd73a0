//go:build openstack

package openstack

// Bringing the cloud up: MariaDB, RabbitMQ, Keystone, Neutron (ML2/OVS), Open vSwitch and the
// agent in the host namespace; Keystone's and Neutron's objects through the APIs (gophercloud).

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gcos "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/endpoints"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/services"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/portsbinding"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"
)

// Cloud is what the test created through the APIs.
type Cloud struct {
	Nets    []*Net
	VMs     []*VM
	network *gophercloud.ServiceClient
	// NoNova: the catalog has no compute endpoint, as in a Neutron-only
	// deployment: flowlens must still name ports, networks and projects
	// (instances keep their ids).
	NoNova bool
}

// Net is a project with its network, subnet and security group. The lab's two networks
// are in two projects and use the same address range, as tenants do.
type Net struct {
	ProjectID, ProjectName string
	ID, Name               string
	SegmentationID         int
	Type                   string
	MTU                    int
	SubnetID               string
	SGID, SGName           string
}

const subnetCIDR = "10.20.0.0/24"

// VM is a Neutron port plugged into a namespace, as os-vif plugs an instance.
type VM struct {
	Name       string // instance name (the Nova stand-in serves it)
	Net        *Net
	HV         *HV
	Host       int // its address in subnetCIDR
	NS         string
	PortID     string
	PortName   string
	MAC        string
	IP         string
	InstanceID string // device_id
	Tap        string
	VIFType    string
}

func (l *Lab) render(name, tmpl string) string { return l.renderHV(l.hvs[0], name, tmpl) }

// renderHV renders a configuration file for hypervisor h (hv1's are the control plane's).
func (l *Lab) renderHV(h *HV, name, tmpl string) string {
	path := l.p("etc/" + name)
	plugins, ovn := "log", "" // ML2/OVS: Neutron's packet logging (what security groups dropped)
	if l.mode == "ovn" {
		plugins, ovn = "ovn-router", flowlensOVN
	}
	control := "127.0.0.1"
	if h.dir != "" {
		control = l.hvs[0].MgmtIP
	}
	s := strings.NewReplacer("@DIR@", l.dir, "@HOST@", h.Name, "@CONTROL@", control, "@STATE@", h.p("neutron"),
		"@LOCAL_IP@", h.TunIP, "@OVSDB@", h.db(), "@SERVICE_PLUGINS@", plugins, "@OVN@", ovn).Replace(tmpl)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		l.t.Fatal(err)
	}
	return path
}

func chownR(path, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	var uid, gid int
	fmt.Sscan(u.Uid, &uid)
	fmt.Sscan(u.Gid, &gid)
	return filepath.Walk(path, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// checkTCP succeeds when something accepts connections on 127.0.0.1:port in the host namespace.
func (l *Lab) checkTCP(port string) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := l.dial(ctx, "tcp", "127.0.0.1:"+port)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func (l *Lab) checkHTTP(url string) func() error {
	return func() error {
		resp, err := l.http.Get(url)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

// startControlPlane starts RabbitMQ, MariaDB, Keystone, Open vSwitch and Neutron's databases.
func (l *Lab) startControlPlane() {
	l.t.Helper()
	end := l.begin("namespaces + rabbitmq start + mariadb")
	l.setupNetwork()
	// RabbitMQ boots in the background (~10 s) while the databases are made
	l.render("rabbitmq-env.conf", rabbitEnv)
	l.render("rabbitmq.conf", rabbitConf)
	if err := chownR(l.p("rabbitmq"), "rabbitmq"); err != nil {
		l.t.Fatal(err)
	}
	if err := chownR(l.p("log/rabbitmq"), "rabbitmq"); err != nil {
		l.t.Fatal(err)
	}
	renv := []string{"HOME=/var/lib/rabbitmq", "ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_CONF_ENV_FILE=" + l.p("etc/rabbitmq-env.conf"), "RABBITMQ_CONFIG_FILE=" + l.p("etc/rabbitmq.conf")}
	rabbit := l.start(l.host, "rabbitmq", renv, "setpriv", "--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups",
		"/usr/lib/rabbitmq/bin/rabbitmq-server")

	cnf := l.render("my.cnf", myCnf)
	if err := chownR(l.p("mysql"), "mysql"); err != nil {
		l.t.Fatal(err)
	}
	l.must(120*time.Second, "mariadb-install-db", "--defaults-file="+cnf, "--auth-root-authentication-method=socket")
	maria := l.start(l.host, "mariadbd", nil, "mariadbd", "--defaults-file="+cnf)
	l.waitFor("mariadb", 60*time.Second, func() error {
		_, err := l.in(l.host, 10*time.Second, "mariadb", "--defaults-file="+cnf, "-e", "select 1")
		return err
	}, maria)
	l.must(30*time.Second, "mariadb", "--defaults-file="+cnf, "-e", `CREATE DATABASE keystone; CREATE DATABASE neutron;
CREATE USER 'keystone'@'127.0.0.1' IDENTIFIED BY 'ksdbpass'; GRANT ALL ON keystone.* TO 'keystone'@'127.0.0.1';
CREATE USER 'neutron'@'127.0.0.1' IDENTIFIED BY 'ntdbpass'; GRANT ALL ON neutron.* TO 'neutron'@'127.0.0.1';`)
	end()

	// Keystone's and Neutron's schemas and Open vSwitch, side by side
	end = l.begin("keystone db_sync+bootstrap | neutron-db-manage | ovs ×2" + map[string]string{"ovn": " + ovn"}[l.mode])
	kc := l.render("keystone.conf", keystoneConf)
	l.render("keystone-uwsgi.ini", keystoneUwsgi)
	l.render("neutron.conf", neutronConf)
	if l.mode == "ovn" {
		l.render("ml2_conf.ini", ml2ConfOVN)
	} else {
		l.render("ml2_conf.ini", ml2Conf)
		l.render("openvswitch_agent.ini", ovsAgentIni)
	}
	l.render("clouds.yaml", cloudsYAML)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Add(3)
	go func() {
		defer wg.Done()
		for _, argv := range [][]string{
			{"keystone-manage", "--config-file", kc, "db_sync"},
			{"keystone-manage", "--config-file", kc, "fernet_setup", "--keystone-user", "root", "--keystone-group", "root"},
			{"keystone-manage", "--config-file", kc, "credential_setup", "--keystone-user", "root", "--keystone-group", "root"},
			{"keystone-manage", "--config-file", kc, "bootstrap", "--bootstrap-password", "adminpass",
				"--bootstrap-admin-url", "http://127.0.0.1:5000/v3/", "--bootstrap-internal-url", "http://127.0.0.1:5000/v3/",
				"--bootstrap-public-url", "http://127.0.0.1:5000/v3/", "--bootstrap-region-id", "RegionOne"},
		} {
			if _, err := l.in(l.host, 5*time.Minute, argv...); err != nil {
				errs[0] = err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		_, errs[1] = l.in(l.host, 5*time.Minute, "neutron-db-manage", "--config-file", l.p("etc/neutron.conf"),
			"--config-file", l.p("etc/ml2_conf.ini"), "upgrade", "heads")
	}()
	go func() {
		defer wg.Done()
		for _, h := range l.hvs {
			if errs[2] = h.startOVS(); errs[2] != nil {
				return
			}
		}
	}()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			l.t.Fatal(err)
		}
	}
	l.underlay()
	if l.mode == "ovn" {
		l.startOVN()
	}
	end()

	end = l.begin("keystone up")
	ks := l.start(l.host, "keystone-uwsgi", nil, "uwsgi", "--ini", l.p("etc/keystone-uwsgi.ini"))
	l.waitFor("keystone API", 90*time.Second, l.checkHTTP("http://127.0.0.1:5000/v3"), ks)
	end()

	end = l.begin("rabbitmq ready")
	l.waitFor("rabbitmq on 127.0.0.1:5672", 120*time.Second, l.checkTCP(portAMQP), rabbit)
	end()
}

// startOVN starts the northbound and southbound databases (TCP 6641/6642 for neutron-server),
// ovn-northd and ovn-controller, which creates a netdev br-int.
func (l *Lab) startOVN() {
	l.t.Helper()
	var watch []*Proc
	for _, db := range []struct{ name, schema, port, table string }{
		{"nb", "/usr/share/ovn/ovn-nb.ovsschema", "6641", "OVN_Northbound,NB_Global"},
		{"sb", "/usr/share/ovn/ovn-sb.ovsschema", "6642", "OVN_Southbound,SB_Global"},
	} {
		f := l.p("ovn/db/ovn" + db.name + "_db.db")
		if _, err := l.run(30*time.Second, "ovsdb-tool", "create", f, db.schema); err != nil {
			l.t.Fatal(err)
		}
		watch = append(watch, l.start(l.host, "ovsdb-server-"+db.name, nil, "ovsdb-server", f,
			"--remote=punix:"+l.p("ovn/run/ovn"+db.name+"_db.sock"), "--remote=ptcp:"+db.port+":127.0.0.1",
			"--remote=ptcp:"+db.port+":"+l.hvs[0].MgmtIP, // hv2's ovn-controller
			"--remote=db:"+db.table+",connections", "--unixctl="+l.p("ovn/run/ovn"+db.name+"_db.ctl"),
			"--log-file="+l.p("ovn/log/ovsdb-server-"+db.name+".log"), "--no-chdir"))
	}
	l.waitFor("OVN databases", 30*time.Second, func() error {
		if _, err := l.run(10*time.Second, "ovn-nbctl", "--no-wait", "init"); err != nil {
			return err
		}
		_, err := l.run(10*time.Second, "ovn-sbctl", "init")
		return err
	}, watch...)
	watch = append(watch, l.start(l.host, "ovn-northd", nil, "ovn-northd", "--ovnnb-db=unix:"+l.p("ovn/run/ovnnb_db.sock"),
		"--ovnsb-db=unix:"+l.p("ovn/run/ovnsb_db.sock"), "--unixctl="+l.p("ovn/run/ovn-northd.ctl"),
		"--log-file="+l.p("ovn/log/ovn-northd.log"), "--no-chdir"))
	for _, h := range l.hvs {
		sb := "tcp:127.0.0.1:6642"
		if h.dir != "" {
			sb = "tcp:" + l.hvs[0].MgmtIP + ":6642"
		}
		watch = append(watch, h.startOVNController(sb))
	}
	for _, h := range l.hvs {
		l.waitFor(h.Name+": ovn-controller's br-int", 60*time.Second, func() error {
			_, err := h.vsctl("br-exists", "br-int")
			return err
		}, watch...)
	}
}

// provider logs in as admin (a new token: its catalog has every endpoint registered so far).
func (l *Lab) provider() *gophercloud.ProviderClient {
	l.t.Helper()
	pc, err := gcos.NewClient("http://127.0.0.1:5000/v3")
	if err != nil {
		l.t.Fatal(err)
	}
	pc.HTTPClient = *l.http
	opts := gophercloud.AuthOptions{IdentityEndpoint: "http://127.0.0.1:5000/v3", Username: "admin", Password: "adminpass",
		DomainName: "Default", Scope: &gophercloud.AuthScope{ProjectName: "admin", DomainName: "Default"}, AllowReauth: true}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := gcos.Authenticate(ctx, pc, opts); err != nil {
		l.t.Fatalf("keystone login: %v", err)
	}
	return pc
}

// keystoneObjects creates the service project, the neutron user, the demo project and the
// network and compute endpoints (compute: the test's Nova stand-in).
func (l *Lab) keystoneObjects(c *Cloud) {
	l.t.Helper()
	end := l.begin("keystone: projects, users, endpoints")
	defer end()
	ctx := context.Background()
	id, err := gcos.NewIdentityV3(l.provider(), gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		l.t.Fatal(err)
	}
	svc, err := projects.Create(ctx, id, projects.CreateOpts{Name: "service", DomainID: "default"}).Extract()
	if err != nil {
		l.t.Fatalf("create project service: %v", err)
	}
	for _, n := range c.Nets {
		pr, err := projects.Create(ctx, id, projects.CreateOpts{Name: n.ProjectName, DomainID: "default"}).Extract()
		if err != nil {
			l.t.Fatalf("create project %s: %v", n.ProjectName, err)
		}
		n.ProjectID = pr.ID
	}
	u, err := users.Create(ctx, id, users.CreateOpts{Name: "neutron", Password: "neutronpass", DomainID: "default"}).Extract()
	if err != nil {
		l.t.Fatalf("create user neutron: %v", err)
	}
	pages, err := roles.List(id, roles.ListOpts{Name: "admin"}).AllPages(ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	rl, err := roles.ExtractRoles(pages)
	if err != nil || len(rl) == 0 {
		l.t.Fatalf("role admin: %v (%d roles)", err, len(rl))
	}
	if err := roles.Assign(ctx, id, rl[0].ID, roles.AssignOpts{UserID: u.ID, ProjectID: svc.ID}).ExtractErr(); err != nil {
		l.t.Fatalf("assign admin to neutron: %v", err)
	}
	svcs := []struct{ name, typ, url string }{{"neutron", "network", "http://127.0.0.1:9696"}}
	if !c.NoNova {
		svcs = append(svcs, struct{ name, typ, url string }{"nova", "compute", "http://127.0.0.1:8774/v2.1"}) // the test's stand-in, for instance names
	}
	for _, s := range svcs {
		sv, err := services.Create(ctx, id, services.CreateOpts{Type: s.typ, Name: s.name}).Extract()
		if err != nil {
			l.t.Fatalf("create service %s: %v", s.name, err)
		}
		for _, itf := range []gophercloud.Availability{gophercloud.AvailabilityPublic, gophercloud.AvailabilityInternal, gophercloud.AvailabilityAdmin} {
			if _, err := endpoints.Create(ctx, id, endpoints.CreateOpts{Availability: itf, Region: "RegionOne", URL: s.url,
				ServiceID: sv.ID}).Extract(); err != nil {
				l.t.Fatalf("create endpoint %s %s: %v", s.name, itf, err)
			}
		}
	}
}

// startNeutron starts neutron-server and the Open vSwitch agent and waits for a live agent.
func (l *Lab) startNeutron() {
	l.t.Helper()
	end := l.begin("neutron-server API up")
	ns := l.start(l.host, "neutron-server", nil, "neutron-server", "--config-file", l.p("etc/neutron.conf"),
		"--config-file", l.p("etc/ml2_conf.ini"), "--log-file", l.p("log/neutron-server.log"))
	l.waitFor("neutron API", 180*time.Second, l.checkHTTP("http://127.0.0.1:9696/"), ns)
	end()
	watch := []*Proc{ns}
	if l.mode == "ovn" {
		end = l.begin("both ovn-controllers seen alive by neutron")
	} else {
		end = l.begin("both openvswitch agents alive")
		for _, h := range l.hvs {
			watch = append(watch, h.startAgent())
		}
	}
	net := l.networkClient()
	for _, h := range l.hvs {
		l.waitFor("a live L2 agent (OVS agent or OVN controller) on "+h.Name, 120*time.Second, func() error {
			// Not agents.ExtractAgents: ML2/OVN's agents (made from the southbound Chassis) carry
			// timestamps gophercloud cannot parse ("1970-01-01 00:00:00+00:00": "extra text").
			var body struct {
				Agents []struct {
					Host      string `json:"host"`
					AgentType string `json:"agent_type"`
					Alive     bool   `json:"alive"`
				} `json:"agents"`
			}
			if _, err := net.Get(context.Background(), net.ServiceURL("agents"), &body, nil); err != nil {
				return err
			}
			as := body.Agents
			for _, a := range as {
				if a.Alive && a.Host == h.Name {
					l.logf("agent alive: %s on %s", a.AgentType, a.Host)
					return nil
				}
			}
			return fmt.Errorf("no live agent on %s yet (%d agents)", h.Name, len(as))
		}, watch...)
	}
	if l.mode == "ovn" {
		// The API answers before neutron-server's maintenance worker has created the port group
		// every port joins; a port created before then fails with a 500 (RowNotFound:
		// "Cannot find Port_Group with name=neutron_pg_drop").
		l.waitFor("Port_Group neutron_pg_drop in the OVN northbound database", 120*time.Second, func() error {
			_, err := l.run(10*time.Second, "ovn-nbctl", "get", "Port_Group", "neutron_pg_drop", "name")
			return err
		}, watch...)
		end()
		return
	}
	for _, h := range l.hvs {
		l.waitFor(h.Name+": br-int and its firewall flows", 60*time.Second, func() error {
			out, err := l.run(5*time.Second, "ovs-ofctl", "dump-flows", "unix:"+h.p("ovs/run/br-int.mgmt"), "table=94")
			if err != nil {
				return err
			}
			if !strings.Contains(out, "table=94") {
				return fmt.Errorf("no table 94 flows in br-int yet")
			}
			return nil
		}, watch...)
	}
	end()
}

func (l *Lab) networkClient() *gophercloud.ServiceClient {
	l.t.Helper()
	c, err := gcos.NewNetworkV2(l.provider(), gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

// VMSpec says where a VM goes.
type VMSpec struct {
	Name string
	Net  *Net
	HV   *HV
	Host int // address in subnetCIDR
}

// neutronObjects creates, per project, a network, a subnet (no gateway, no DHCP) and a
// security group that lets in ICMP and TCP 22 only; then one port per VM bound to its
// hypervisor.
func (l *Lab) neutronObjects(c *Cloud, specs []VMSpec) {
	l.t.Helper()
	end := l.begin("neutron: networks, subnets, security groups, ports")
	defer end()
	ctx := context.Background()
	n := l.networkClient()
	c.network = n
	for _, nt := range c.Nets {
		net, err := networks.Create(ctx, n, networks.CreateOpts{Name: nt.Name, ProjectID: nt.ProjectID}).Extract()
		if err != nil {
			l.t.Fatalf("create network: %v", err)
		}
		nt.ID = net.ID
		var full struct {
			MTU            int    `json:"mtu"`
			NetworkType    string `json:"provider:network_type"`
			SegmentationID int    `json:"provider:segmentation_id"`
		}
		if err := networks.Get(ctx, n, net.ID).ExtractInto(&full); err != nil {
			l.t.Fatal(err)
		}
		nt.MTU, nt.Type, nt.SegmentationID = full.MTU, full.NetworkType, full.SegmentationID
		noGW, dhcp := "", false
		sub, err := subnets.Create(ctx, n, subnets.CreateOpts{NetworkID: net.ID, Name: nt.Name + "-v4", CIDR: subnetCIDR,
			IPVersion: gophercloud.IPv4, GatewayIP: &noGW, EnableDHCP: &dhcp, ProjectID: nt.ProjectID}).Extract()
		if err != nil {
			l.t.Fatalf("create subnet: %v", err)
		}
		nt.SubnetID = sub.ID
		sg, err := groups.Create(ctx, n, groups.CreateOpts{Name: nt.SGName, ProjectID: nt.ProjectID,
			Description: "ICMP and SSH in; everything else (e.g. TCP 8080) dropped"}).Extract()
		if err != nil {
			l.t.Fatalf("create security group: %v", err)
		}
		nt.SGID = sg.ID
		for _, r := range []rules.CreateOpts{
			{Direction: rules.DirIngress, EtherType: rules.EtherType4, Protocol: rules.ProtocolICMP, SecGroupID: sg.ID},
			{Direction: rules.DirIngress, EtherType: rules.EtherType4, Protocol: rules.ProtocolTCP, PortRangeMin: 22, PortRangeMax: 22, SecGroupID: sg.ID},
		} {
			if _, err := rules.Create(ctx, n, r).Extract(); err != nil {
				l.t.Fatalf("create security group rule: %v", err)
			}
		}
		l.logf("network %s %s: %s %d, MTU %d; project %s %s; security group %s %s", nt.Name, nt.ID, nt.Type,
			nt.SegmentationID, nt.MTU, nt.ProjectName, nt.ProjectID, nt.SGName, nt.SGID)
	}
	for _, sp := range specs {
		ip := fmt.Sprintf("%s.%d", strings.TrimSuffix(subnetCIDR, ".0/24"), sp.Host)
		opts := portsbinding.CreateOptsExt{
			CreateOptsBuilder: ports.CreateOpts{Name: sp.Name + "-port", NetworkID: sp.Net.ID, ProjectID: sp.Net.ProjectID,
				FixedIPs: []ports.IP{{SubnetID: sp.Net.SubnetID, IPAddress: ip}}, DeviceOwner: "compute:nova", DeviceID: newUUID(),
				SecurityGroups: &[]string{sp.Net.SGID}},
			HostID: sp.HV.Name,
		}
		var p struct { // no embedded ports.Port: its UnmarshalJSON would hide the other fields
			ID         string `json:"id"`
			Name       string `json:"name"`
			MACAddress string `json:"mac_address"`
			DeviceID   string `json:"device_id"`
			VIFType    string `json:"binding:vif_type"`
		}
		if err := ports.Create(ctx, n, opts).ExtractInto(&p); err != nil {
			l.t.Fatalf("create port %s: %v", sp.Name, err)
		}
		c.VMs = append(c.VMs, &VM{Name: sp.Name, Net: sp.Net, HV: sp.HV, Host: sp.Host, NS: l.prefix + "-" + sp.Name, PortID: p.ID,
			PortName: p.Name, MAC: p.MACAddress, IP: ip, InstanceID: p.DeviceID, Tap: "tap" + p.ID[:11], VIFType: p.VIFType})
		l.logf("port %s %s on %s (%s): mac %s ip %s vif_type %s device_id %s", p.Name, p.ID, sp.HV, sp.Net.Name, p.MACAddress, ip,
			p.VIFType, p.DeviceID)
	}
}

// networkLogs asks Neutron to log what each security group drops (ML2/OVS's packet logging,
// as `openstack network log create --resource-type security_group --event DROP`).
func (l *Lab) networkLogs(c *Cloud) {
	l.t.Helper()
	for _, n := range c.Nets {
		body := map[string]any{"log": map[string]any{"name": n.SGName + "-drops", "resource_type": "security_group",
			"resource_id": n.SGID, "event": "DROP", "enabled": true, "project_id": n.ProjectID}}
		var resp struct {
			Log struct {
				ID string `json:"id"`
			} `json:"log"`
		}
		if _, err := c.network.Post(context.Background(), c.network.ServiceURL("log", "logs"), body, &resp, nil); err != nil {
			l.t.Fatalf("create network log for %s: %v", n.SGName, err)
		}
		l.logf("network log %s: DROP of security group %s", resp.Log.ID, n.SGName)
	}
}

// plug plugs a VM like os-vif (vif_type ovs, no hybrid plug): a veth tap<port id[:11]> on
// its hypervisor's br-int with os-vif's external_ids, eth0 in the VM's namespace.
func (l *Lab) plug(vm *VM) {
	l.t.Helper()
	l.addNetns(vm.NS)
	mtu := fmt.Sprint(vm.Net.MTU)
	hv := vm.HV
	for _, argv := range [][]string{
		{"ip", "-n", hv.NS, "link", "add", vm.Tap, "type", "veth", "peer", "name", "eth0", "netns", vm.NS},
		{"ip", "-n", vm.NS, "link", "set", "eth0", "address", vm.MAC, "mtu", mtu},
		{"ip", "-n", vm.NS, "addr", "add", vm.IP + "/24", "dev", "eth0"},
		{"ip", "-n", vm.NS, "link", "set", "eth0", "up"},
		{"ip", "-n", hv.NS, "link", "set", vm.Tap, "mtu", mtu, "up"},
		// userspace datapath: TCP/UDP need TX checksum offload off on both ends
		{"ip", "netns", "exec", hv.NS, "ethtool", "-K", vm.Tap, "tx", "off"},
		{"ip", "netns", "exec", vm.NS, "ethtool", "-K", "eth0", "tx", "off"},
		{"ovs-vsctl", "--db=" + hv.db(), "--", "--may-exist", "add-port", "br-int", vm.Tap, "--", "set", "Interface", vm.Tap,
			"external_ids:iface-id=" + vm.PortID, "external_ids:iface-status=active",
			"external_ids:attached-mac=" + vm.MAC, "external_ids:vm-uuid=" + vm.InstanceID},
	} {
		if _, err := l.run(30*time.Second, argv...); err != nil {
			l.t.Fatal(err)
		}
	}
}

// waitActive waits until the agent has bound every VM's port (status ACTIVE).
func (l *Lab) waitActive(c *Cloud) {
	l.t.Helper()
	l.waitFor("ports ACTIVE", 120*time.Second, func() error {
		for _, vm := range c.VMs {
			p, err := ports.Get(context.Background(), c.network, vm.PortID).Extract()
			if err != nil {
				return err
			}
			if p.Status != "ACTIVE" {
				return fmt.Errorf("port %s is %s", vm.PortName, p.Status)
			}
		}
		return nil
	})
}

// startNova serves GET /v2.1/servers/detail on 127.0.0.1:8774 in the host namespace: a
// stand-in for Nova, which flowlens needs in the catalog today (#13 point 5 removes that).
func (l *Lab) startNova(c *Cloud) {
	l.t.Helper()
	ln, err := l.listen("127.0.0.1:" + portNova)
	if err != nil {
		l.t.Fatal(err)
	}
	var servers []map[string]any
	for _, vm := range c.VMs {
		servers = append(servers, map[string]any{"id": vm.InstanceID, "name": vm.Name, "tenant_id": vm.Net.ProjectID,
			"status": "ACTIVE", "OS-EXT-SRV-ATTR:host": vm.HV.Name})
	}
	body, _ := json.Marshal(map[string]any{"servers": servers})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.logCmd("nova stand-in: %s %s", r.Method, r.URL)
		w.Header().Set("Content-Type", "application/json")
		switch p := strings.TrimRight(r.URL.Path, "/"); {
		case strings.HasSuffix(p, "/servers/detail"):
			_, _ = w.Write(body)
		case p == "" || p == "/v2.1":
			_, _ = w.Write([]byte(`{"version": {"id": "v2.1", "status": "CURRENT", "version": "2.95", "min_version": "2.1"}}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"itemNotFound": {"code": 404, "message": "not found"}}`))
		}
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	l.t.Cleanup(srv.Close)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
