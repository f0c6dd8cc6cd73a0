package console

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/store"
	"github.com/flowlens/flowlens/internal/synth"
)

// synthAPI stores 20 minutes of a 20-VM synthetic cloud and returns its
// API, with an OpenStack inventory of the cloud's ports plus one VM that
// sent nothing.
func synthAPI(t *testing.T) (*capture, *synth.Cloud, time.Time, time.Time) {
	t.Helper()
	cfg := store.DefaultConfig()
	cfg.Path, cfg.MaintenanceInterval, cfg.MemoryLimit, cfg.Threads = t.TempDir(), 0, "256MB", 2
	cfg.Rollups = nil
	st, err := store.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sc := synth.DefaultConfig()
	sc.VMs, sc.Hypervisors, sc.Projects, sc.Conversations, sc.Noise, sc.Peers = 20, 3, 3, 60, 10, 20
	cloud := synth.New(sc)
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-20 * time.Minute)
	if err := cloud.Range(start, end, func(f []flow.Record, c []flow.Counter) error { return st.Append(f, c) }); err != nil {
		t.Fatal(err)
	}
	var ports []openstack.Port
	for _, v := range cloud.VMs {
		ports = append(ports, openstack.Port{ID: v.PortID, MAC: macString(v.MAC), InstanceID: v.ID, InstanceName: v.Name,
			NetworkName: cloud.Networks[v.Network].Name, ProjectName: cloud.Projects[v.Project].Name,
			Host: cloud.Hypervisors[v.Hypervisor].Name, FixedIPs: []string{v.Addr.String()},
			Attachments: []openstack.Attached{{Agent: cloud.Hypervisors[v.Hypervisor].Addr.String(), IfIndex: v.IfIndex, Interface: v.Port}}})
	}
	ports = append(ports, openstack.Port{ID: "port-idle", MAC: "fa:16:3e:00:00:99", InstanceID: "inst-idle", InstanceName: "Idle-Builder",
		ProjectName: "project-01", Host: "compute-09", FixedIPs: []string{"10.99.0.9"},
		Attachments: []openstack.Attached{{Agent: "192.0.2.9", IfIndex: 77, Interface: "tapidle0000-99"}}})
	api := NewAPI(st, nil, nil, StatusInfo{Version: "test", Started: start, Ports: func() []openstack.Port { return ports }})
	return &capture{api: api, st: st}, cloud, start, end
}

type searchResp struct {
	Q       string `json:"q"`
	Matches []struct {
		Kind      string   `json:"kind"`
		Value     string   `json:"value"`
		Label     string   `json:"label"`
		Filter    string   `json:"filter"`
		Bytes     int64    `json:"bytes"`
		Stored    bool     `json:"stored"`
		Inventory bool     `json:"inventory"`
		VM        string   `json:"vm"`
		Project   string   `json:"project"`
		Host      string   `json:"host"`
		IPs       []string `json:"ips"`
		Ports     []struct {
			Agent     string `json:"agent"`
			Interface string `json:"interface"`
		} `json:"ports"`
	} `json:"matches"`
	Inventory bool `json:"inventory"`
}

// The vm (and ip) either-side filters select a VM's traffic in both
// directions: as much as its source and destination filters together.
func TestEitherSideFilters(t *testing.T) {
	c, cloud, start, end := synthAPI(t)
	rng := fmt.Sprintf("from=%d&to=%d", start.Unix(), end.Unix())
	total := func(filters ...string) int64 {
		var top topResp
		q := "/api/v1/top?by=proto&" + rng
		for _, f := range filters {
			q += "&filter=" + url.QueryEscape(f)
		}
		c.get(t, q, 200, &top)
		return top.Total.Bytes
	}
	all := total()
	checked := 0
	for _, v := range cloud.VMs[:6] {
		out, in, self := total("src_vm="+v.Name), total("dst_vm="+v.Name), total("src_vm="+v.Name, "dst_vm="+v.Name)
		either := total("vm=" + v.Name)
		if out+in == 0 {
			continue
		}
		checked++
		if either != out+in-self {
			t.Errorf("vm=%s: %d bytes, want out %d + in %d - both %d", v.Name, either, out, in, self)
		}
		if not := total("vm!=" + v.Name); not != all-either {
			t.Errorf("vm!=%s: %d bytes, want %d", v.Name, not, all-either)
		}
		ip := v.Addr.String()
		if got, want := total("ip="+ip), total("src_ip="+ip)+total("dst_ip="+ip)-total("src_ip="+ip, "dst_ip="+ip); got != want {
			t.Errorf("ip=%s: %d, want %d", ip, got, want)
		}
		// Two values of one either-side dimension OR, as for any dimension.
		if w := cloud.VMs[7].Name; total("vm="+v.Name, "vm="+w) < either {
			t.Errorf("vm=%s OR %s reads less than vm=%s", v.Name, w, v.Name)
		}
	}
	t.Logf("%d VMs checked, total %d", checked, all)
	if checked == 0 {
		t.Fatal("no VM with traffic")
	}
	// Blocked and timeseries take them too; the dimensions list them.
	c.get(t, "/api/v1/blocked?filter=vm%3Dx&"+rng, 200, nil)
	c.get(t, "/api/v1/timeseries?filter=interface%3D"+cloud.VMs[0].Port+"&"+rng, 200, nil)
	var dims struct {
		EitherSide []struct {
			Name string    `json:"name"`
			Of   [2]string `json:"of"`
		} `json:"either_side"`
	}
	c.get(t, "/api/v1/dimensions", 200, &dims)
	if len(dims.EitherSide) != len(store.EitherSides) || dims.EitherSide[0].Name != "vm" || dims.EitherSide[0].Of != [2]string{"src_vm", "dst_vm"} {
		t.Errorf("dimensions: %+v", dims)
	}
	// Grouping by one is refused: a flow has two values.
	c.get(t, "/api/v1/top?by=vm&"+rng, 400, nil)
	body := c.get(t, "/api/v1/top?by=proto&filter=vmm%3Dx&"+rng, 400, nil)
	if !strings.Contains(body, "either-side") {
		t.Errorf("unknown filter dimension: %s", body)
	}
	c.get(t, "/api/v1/top?by=proto&filter=ip%3Dnot-an-ip&"+rng, 400, nil)
}

func TestSearch(t *testing.T) {
	c, cloud, start, end := synthAPI(t)
	rng := fmt.Sprintf("&from=%d&to=%d", start.Unix(), end.Unix())
	find := func(r searchResp, kind, value string) int {
		for i, m := range r.Matches {
			if m.Kind == kind && m.Value == value {
				return i
			}
		}
		return -1
	}
	vm := cloud.VMs[3]
	var r searchResp
	// Case-insensitive, exact first, with the inventory's details.
	c.get(t, "/api/v1/search?q="+url.QueryEscape(strings.ToUpper(vm.Name))+rng, 200, &r)
	if len(r.Matches) == 0 || r.Matches[0].Kind != "vm" || r.Matches[0].Value != vm.Name {
		t.Fatalf("q=%s: %+v", vm.Name, r)
	}
	m := r.Matches[0]
	if m.Filter != "vm="+vm.Name || !m.Inventory || m.Host != cloud.Hypervisors[vm.Hypervisor].Name || m.Project != cloud.Projects[vm.Project].Name ||
		len(m.IPs) != 1 || m.IPs[0] != vm.Addr.String() || len(m.Ports) != 1 || m.Ports[0].Interface != vm.Port || !strings.HasPrefix(m.Label, vm.Name+" · ") {
		t.Errorf("VM match: %+v", m)
	}
	if !r.Inventory {
		t.Error("inventory: false")
	}
	// A project name is a prefix of its VMs' names: the project (exact) comes
	// first, its VMs next, busiest first.
	p := cloud.Projects[0].Name
	c.get(t, "/api/v1/search?q="+p+rng, 200, &r)
	if len(r.Matches) < 2 || r.Matches[0].Kind != "project" || r.Matches[0].Value != p || !r.Matches[0].Stored || r.Matches[0].Bytes == 0 {
		t.Fatalf("q=%s: %+v", p, r.Matches)
	}
	// IP, MAC (written with dashes), port name: each with its VM.
	for _, q := range []struct{ q, kind, value string }{
		{vm.Addr.String(), "ip", vm.Addr.String()},
		{strings.ReplaceAll(strings.ToUpper(macString(vm.MAC)), ":", "-"), "mac", macString(vm.MAC)},
		{vm.Port, "interface", vm.Port},
	} {
		c.get(t, "/api/v1/search?q="+url.QueryEscape(q.q)+rng, 200, &r)
		i := find(r, q.kind, q.value)
		if i < 0 || r.Matches[i].VM != vm.Name || r.Matches[i].Filter != q.kind+"="+q.value {
			t.Errorf("q=%s: %+v", q.q, r.Matches)
		}
	}
	// In the inventory only (no flows): found, not stored.
	c.get(t, "/api/v1/search?q=idle"+rng, 200, &r)
	if i := find(r, "vm", "Idle-Builder"); i < 0 || r.Matches[i].Stored || !r.Matches[i].Inventory || r.Matches[i].Ports[0].Agent != "192.0.2.9" {
		t.Errorf("q=idle: %+v", r.Matches)
	}
	// kind restricts; limit bounds.
	c.get(t, "/api/v1/search?q=project&kind=network&limit=3"+rng, 200, &r)
	if len(r.Matches) != 3 {
		t.Errorf("kind=network limit=3: %+v", r.Matches)
	}
	for _, m := range r.Matches {
		if m.Kind != "network" {
			t.Errorf("kind=network: %+v", m)
		}
	}
	// From the store alone, with the default range (the last 24 h).
	c.get(t, "/api/v1/search?q="+cloud.Hypervisors[1].Name, 200, &r)
	if i := find(r, "host", cloud.Hypervisors[1].Name); i < 0 || !r.Matches[i].Stored {
		t.Errorf("host: %+v", r.Matches)
	}
	c.get(t, "/api/v1/search?q=nothing-like-this"+rng, 200, &r)
	if len(r.Matches) != 0 {
		t.Errorf("no match: %+v", r.Matches)
	}
	c.get(t, "/api/v1/search", 400, nil)
	c.get(t, "/api/v1/search?q=%20", 400, nil)
	c.get(t, "/api/v1/search?q=a&kind=vms", 400, nil)
	c.get(t, "/api/v1/search?q=a&limit=1000", 400, nil)
	c.get(t, "/api/v1/search?q=a&filter=proto%3Dtcp", 400, nil)
	c.get(t, "/api/v1/search?q="+strings.Repeat("a", 201), 400, nil)

	// Without the store: the inventory alone.
	noStore := &capture{api: NewAPI(nil, nil, nil, StatusInfo{Ports: func() []openstack.Port {
		return []openstack.Port{{ID: "p", InstanceName: "web-1", FixedIPs: []string{"10.0.0.5"}}}
	}})}
	noStore.get(t, "/api/v1/search?q=WEB", 200, &r)
	if len(r.Matches) != 1 || r.Matches[0].Value != "web-1" || r.Matches[0].Stored {
		t.Errorf("without the store: %+v", r.Matches)
	}
}

func macString(m flow.MAC) string { return net.HardwareAddr(m[:]).String() }

func TestMACWithDashes(t *testing.T) {
	for s, want := range map[string]bool{"fa-16-3e": true, "fa-16-3e-00-00-99": true, "fa-16-": false, "add-bed-1": false, "web-db-1": false, "a-b-c": true, "fa:16:3e": false} {
		if got := macWithDashes(s); got != want {
			t.Errorf("%q: %v", s, got)
		}
	}
}
