package openstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// fakeCloud answers like Keystone v3, Neutron v2.0 and Nova v2.1, with the
// response shapes of the OpenStack API reference, paginated like the real
// services (limit/marker, *_links rel=next).
type fakeCloud struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	password  string
	tokens    map[string]bool // valid tokens
	issued    int             // tokens issued (logins)
	ports     []map[string]any
	networks  []map[string]any
	servers   []map[string]any
	projects  []map[string]any
	fail500   map[string]int // path -> number of 500s to answer
	down      bool           // every connection is dropped
	forbidAll bool           // Nova refuses all_tenants, Keystone refuses GET /v3/projects
	noCompute bool           // the catalog has no compute endpoint (a Neutron-only cloud)
	maxLimit  int            // the servers' max page size (pagination_max_limit, osapi_max_limit)
	expireAt  int            // tokens expire when GET /v2.0/ports is asked for the expireAt-th time
	hits      map[string]int // path -> requests
	queries   []string       // "path?query" of API requests
	authBody  []map[string]any
}

const (
	fakeUser     = "flowlens-reader"
	fakePassword = "s3cret-Pa55word"
)

func newFakeCloud(t *testing.T) *fakeCloud {
	f := &fakeCloud{t: t, password: fakePassword, tokens: map[string]bool{}, fail500: map[string]int{}, hits: map[string]int{}, maxLimit: 1000}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeCloud) authURL() string { return f.srv.URL + "/v3" }

// expire invalidates every token, as Keystone does when they expire.
func (f *fakeCloud) expire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]bool{}
}

func (f *fakeCloud) set(fn func(f *fakeCloud)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeCloud) hit(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeCloud) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		// unreachable: the connection drops without an answer
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	f.hits[r.URL.Path]++
	if r.URL.Path == "/network/v2.0/ports" && f.hits[r.URL.Path] == f.expireAt {
		f.tokens = map[string]bool{}
	}
	if r.Method == http.MethodPost && r.URL.Path == "/v3/auth/tokens" {
		f.auth(w, r)
		return
	}
	if r.URL.Path == "/network/" { // Neutron's version document, needs no token
		writeJSON(w, http.StatusOK, map[string]any{"versions": []any{map[string]any{"id": "v2.0", "status": "CURRENT",
			"links": []any{map[string]any{"href": f.srv.URL + "/network/v2.0/", "rel": "self"}}}}})
		return
	}
	if !f.tokens[r.Header.Get("X-Auth-Token")] {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}})
		return
	}
	f.queries = append(f.queries, r.URL.Path+"?"+r.URL.RawQuery)
	if n := f.fail500[r.URL.Path]; n > 0 {
		f.fail500[r.URL.Path] = n - 1
		writeJSON(w, http.StatusInternalServerError, map[string]any{"NeutronError": map[string]any{
			"type": "HTTPInternalServerError", "message": "Request Failed: internal server error while processing your request.", "detail": ""}})
		return
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case "/network/v2.0/ports":
		f.neutronList(w, r, "ports", f.ports)
	case "/network/v2.0/networks":
		f.neutronList(w, r, "networks", f.networks)
	case "/compute/v2.1/servers/detail":
		all := q.Get("all_tenants")
		if all != "" && f.forbidAll {
			writeJSON(w, http.StatusForbidden, map[string]any{"forbidden": map[string]any{
				"code": 403, "message": "Policy doesn't allow os_compute_api:servers:detail:get_all_tenants to be performed."}})
			return
		}
		list := f.servers
		if all == "" { // this project's servers only
			list = slices.DeleteFunc(slices.Clone(list), func(s map[string]any) bool { return s["tenant_id"] != "p-shop" })
		}
		f.novaList(w, r, list)
	case "/v3/projects":
		if f.forbidAll {
			writeJSON(w, http.StatusForbidden, map[string]any{"error": map[string]any{
				"code": 403, "title": "Forbidden", "message": "You are not authorized to perform the requested action: identity:list_projects."}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"projects": f.projects,
			"links": map[string]any{"self": f.srv.URL + "/v3/projects", "previous": nil, "next": nil}})
	case "/v3/auth/projects":
		var mine []map[string]any
		for _, p := range f.projects {
			if p["id"] == "p-shop" {
				mine = append(mine, p)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"projects": mine,
			"links": map[string]any{"self": f.srv.URL + "/v3/auth/projects", "previous": nil, "next": nil}})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"itemNotFound": map[string]any{"code": 404, "message": "not found: " + r.URL.Path}})
	}
}

// auth is POST /v3/auth/tokens: password method with user domain, scoped
// to a project by name and domain.
func (f *fakeCloud) auth(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": 400, "message": err.Error()}})
		return
	}
	f.authBody = append(f.authBody, body)
	var req struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						Name     string `json:"name"`
						Password string `json:"password"`
						Domain   struct {
							Name string `json:"name"`
						} `json:"domain"`
					} `json:"user"`
				} `json:"password"`
			} `json:"identity"`
			Scope struct {
				Project struct {
					Name   string `json:"name"`
					Domain struct {
						Name string `json:"name"`
					} `json:"domain"`
				} `json:"project"`
			} `json:"scope"`
		} `json:"auth"`
	}
	b, _ := json.Marshal(body)
	_ = json.Unmarshal(b, &req)
	u := req.Auth.Identity.Password.User
	if u.Name != fakeUser || u.Password != f.password || u.Domain.Name != "Default" ||
		req.Auth.Scope.Project.Name != "admin" || req.Auth.Scope.Project.Domain.Name != "Default" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
			"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}})
		return
	}
	f.issued++
	tok := fmt.Sprintf("gAAAAABtoken%04d", f.issued)
	f.tokens[tok] = true
	w.Header().Set("X-Subject-Token", tok)
	now := time.Now().UTC()
	writeJSON(w, http.StatusCreated, map[string]any{"token": map[string]any{
		"methods":    []string{"password"},
		"user":       map[string]any{"domain": map[string]any{"id": "default", "name": "Default"}, "id": "u-1", "name": fakeUser, "password_expires_at": nil},
		"audit_ids":  []string{"3T2dc1CGQxyJsHdDu1xkcw"},
		"expires_at": now.Add(time.Hour).Format("2006-01-02T15:04:05.000000Z"),
		"issued_at":  now.Format("2006-01-02T15:04:05.000000Z"),
		"project":    map[string]any{"domain": map[string]any{"id": "default", "name": "Default"}, "id": "p-admin", "name": "admin"},
		"is_domain":  false,
		"roles":      []any{map[string]any{"id": "r-1", "name": "reader"}, map[string]any{"id": "r-2", "name": "admin"}},
		"catalog":    f.catalog(),
	}})
}

// page applies limit and marker the way Neutron and Nova do: items sorted
// by id, the ones after marker, at most limit (capped by the server's
// maximum); next is true when the page is full.
func (f *fakeCloud) page(w http.ResponseWriter, r *http.Request, items []map[string]any) (page []map[string]any, next, ok bool) {
	q := r.URL.Query()
	sorted := slices.Clone(items)
	slices.SortFunc(sorted, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	limit := f.maxLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"NeutronError": map[string]any{"type": "BadRequest", "message": "bad limit"}})
			return nil, false, false
		}
		if n > 0 && n < limit {
			limit = n
		}
	}
	start := 0
	if m := q.Get("marker"); m != "" {
		i := slices.IndexFunc(sorted, func(x map[string]any) bool { return x["id"] == m })
		if i < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"NeutronError": map[string]any{"type": "BadRequest", "message": "marker not found"}})
			return nil, false, false
		}
		start = i + 1
	}
	end := min(start+limit, len(sorted))
	return sorted[start:end], end-start == limit, true
}

func (f *fakeCloud) link(r *http.Request, marker string, rel string, pageReverse bool) map[string]any {
	q := url.Values{}
	if l := r.URL.Query().Get("limit"); l != "" {
		q.Set("limit", l)
	}
	for _, k := range []string{"all_tenants"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	q.Set("marker", marker)
	if pageReverse {
		q.Set("page_reverse", "True")
	}
	return map[string]any{"rel": rel, "href": f.srv.URL + r.URL.Path + "?" + q.Encode()}
}

// neutronList: {"ports": [...], "ports_links": [{"rel": "next", ...}, {"rel": "previous", ...}]}
func (f *fakeCloud) neutronList(w http.ResponseWriter, r *http.Request, key string, items []map[string]any) {
	page, next, ok := f.page(w, r, items)
	if !ok {
		return
	}
	body := map[string]any{key: page}
	var links []any
	if next {
		links = append(links, f.link(r, page[len(page)-1]["id"].(string), "next", false))
	}
	if r.URL.Query().Get("marker") != "" && len(page) > 0 {
		links = append(links, f.link(r, page[0]["id"].(string), "previous", true))
	}
	if links != nil {
		body[key+"_links"] = links
	}
	writeJSON(w, http.StatusOK, body)
}

// novaList: {"servers": [...], "servers_links": [{"href": ".../servers/detail?limit=1&marker=...", "rel": "next"}]}
func (f *fakeCloud) novaList(w http.ResponseWriter, r *http.Request, items []map[string]any) {
	page, next, ok := f.page(w, r, items)
	if !ok {
		return
	}
	body := map[string]any{"servers": page}
	if next {
		body["servers_links"] = []any{f.link(r, page[len(page)-1]["id"].(string), "next", false)}
	}
	writeJSON(w, http.StatusOK, body)
}

// --- the cloud's contents ---------------------------------------------------------------------

func neutronPort(id, mac, owner, device, network, project, host string, ips ...string) map[string]any {
	var fixed []any
	for _, ip := range ips {
		fixed = append(fixed, map[string]any{"ip_address": ip, "subnet_id": "subnet-" + network})
	}
	return map[string]any{
		"admin_state_up": true, "allowed_address_pairs": []any{},
		"binding:host_id": host, "binding:profile": map[string]any{}, "binding:vif_details": map[string]any{"ovs_hybrid_plug": false, "port_filter": true, "connectivity": "l2", "bridge_name": "br-int", "datapath_type": "system"},
		"binding:vif_type": "ovs", "binding:vnic_type": "normal",
		"created_at": "2024-05-02T10:11:12Z", "data_plane_status": nil, "description": "",
		"device_id": device, "device_owner": owner, "extra_dhcp_opts": []any{}, "fixed_ips": fixed,
		"id": id, "ip_allocation": "immediate", "mac_address": mac, "name": "", "network_id": network,
		"port_security_enabled": true, "project_id": project, "revision_number": 3, "security_groups": []any{"sg-1"},
		"status": "ACTIVE", "tags": []any{}, "tenant_id": project, "updated_at": "2024-05-02T10:11:15Z",
	}
}

func neutronNetwork(id, name, project, netType string, seg any) map[string]any {
	return map[string]any{
		"admin_state_up": true, "availability_zone_hints": []any{}, "availability_zones": []any{"nova"},
		"created_at": "2024-05-01T08:00:00Z", "description": "", "dns_domain": "", "id": id,
		"ipv4_address_scope": nil, "ipv6_address_scope": nil, "is_default": false, "l2_adjacency": true, "mtu": 1450,
		"name": name, "port_security_enabled": true, "project_id": project, "qos_policy_id": nil,
		"provider:network_type": netType, "provider:physical_network": nil, "provider:segmentation_id": seg,
		"revision_number": 2, "router:external": false, "shared": false, "status": "ACTIVE", "subnets": []any{"subnet-" + id},
		"tags": []any{}, "tenant_id": project, "updated_at": "2024-05-01T08:00:01Z", "vlan_transparent": false,
	}
}

func novaServer(id, name, project, host string) map[string]any {
	return map[string]any{
		"accessIPv4": "", "accessIPv6": "", "addresses": map[string]any{},
		"created": "2024-05-02T10:11:00Z", "flavor": map[string]any{"id": "1", "links": []any{}},
		"hostId": "bcf92836fc9ed4203a75cb0337afc7f917d2be504164b995c2334b25", "id": id,
		"image":    map[string]any{"id": "70a599e0-31e7-49b7-b260-868f441e862b", "links": []any{}},
		"key_name": nil, "links": []any{map[string]any{"href": "http://nova/v2.1/servers/" + id, "rel": "self"}},
		"metadata": map[string]any{}, "name": name, "progress": 0, "status": "ACTIVE", "tenant_id": project,
		"updated": "2024-05-02T10:11:30Z", "user_id": "u-9",
		"OS-DCF:diskConfig": "AUTO", "OS-EXT-AZ:availability_zone": "nova",
		"OS-EXT-SRV-ATTR:host": host, "OS-EXT-SRV-ATTR:hypervisor_hostname": host + ".example.org",
		"OS-EXT-SRV-ATTR:instance_name": "instance-0000" + id[:4],
		"OS-EXT-STS:power_state":        1, "OS-EXT-STS:task_state": nil, "OS-EXT-STS:vm_state": "active",
		"os-extended-volumes:volumes_attached": []any{}, "security_groups": []any{map[string]any{"name": "default"}},
	}
}

func keystoneProject(id, name string) map[string]any {
	return map[string]any{"id": id, "name": name, "description": "", "domain_id": "default", "enabled": true,
		"is_domain": false, "parent_id": "default", "tags": []any{}, "links": map[string]any{"self": "http://keystone/v3/projects/" + id}}
}

// populate fills the cloud: the testInventory hosts, plus enough ports and
// servers to need several pages.
func (f *fakeCloud) populate() {
	f.set(func(f *fakeCloud) {
		f.networks = []map[string]any{
			neutronNetwork("net-red", "red", "p-shop", "vxlan", 101),
			neutronNetwork("net-blue", "blue", "p-bank", "vlan", "102"), // some deployments send strings
			neutronNetwork("net-ext", "public", "p-admin", "flat", nil),
		}
		f.ports = []map[string]any{
			neutronPort("port-a1", "fa:16:3e:00:00:a1", "compute:nova", "vm-a1", "net-red", "p-shop", "compute-a", "10.0.0.5"),
			neutronPort("port-a2", "fa:16:3e:00:00:a2", "compute:nova", "vm-a2", "net-blue", "p-bank", "compute-a", "10.0.0.5"),
			neutronPort("port-b1", "fa:16:3e:00:00:b1", "compute:az2", "vm-b1", "net-red", "p-shop", "", "10.0.0.6"),
			neutronPort("router-1", "fa:16:3e:00:00:01", "network:router_interface", "router-uuid", "net-red", "p-shop", "network-1", "10.0.0.1"),
			neutronPort("dhcp-1", "fa:16:3e:00:00:02", "network:dhcp", "dhcpd3377d3c-a0d1-5d71-9947-f17125c357bb-net-red", "net-red", "p-shop", "network-1", "10.0.0.2"),
		}
		f.servers = []map[string]any{
			novaServer("vm-a1", "web-1", "p-shop", "compute-a"),
			novaServer("vm-a2", "db-1", "p-bank", "compute-a"),
			novaServer("vm-b1", "web-2", "p-shop", "compute-b"),
		}
		for i := range 20 {
			id := fmt.Sprintf("vm-x%02d", i)
			f.servers = append(f.servers, novaServer(id, fmt.Sprintf("batch-%02d", i), "p-bank", "compute-c"))
			f.ports = append(f.ports, neutronPort(fmt.Sprintf("port-x%02d", i), fmt.Sprintf("fa:16:3e:00:01:%02x", i),
				"compute:nova", id, "net-blue", "p-bank", "compute-c", fmt.Sprintf("10.1.0.%d", 10+i)))
		}
		f.projects = []map[string]any{keystoneProject("p-shop", "shop"), keystoneProject("p-bank", "bank"), keystoneProject("p-admin", "admin")}
	})
}

// --- the source under test --------------------------------------------------------------------

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) count(level, msg string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, "level="+level) && strings.Contains(line, msg) {
			n++
		}
	}
	return n
}

// openrc sets the variables an openrc file sets, and no OS_CLOUD.
func openrc(t *testing.T, f *fakeCloud) {
	for _, kv := range [][2]string{
		{"OS_CLOUD", ""}, {"OS_CLIENT_CONFIG_FILE", ""},
		{"OS_AUTH_URL", f.authURL()}, {"OS_USERNAME", fakeUser}, {"OS_PASSWORD", fakePassword},
		{"OS_PROJECT_NAME", "admin"}, {"OS_USER_DOMAIN_NAME", "Default"}, {"OS_PROJECT_DOMAIN_NAME", "Default"},
		{"OS_REGION_NAME", "RegionOne"}, {"OS_INTERFACE", "internal"}, {"OS_IDENTITY_API_VERSION", "3"},
	} {
		t.Setenv(kv[0], kv[1])
	}
}

func testAPIConfig() APIConfig {
	return APIConfig{Enabled: true, Refresh: time.Hour, RateLimit: 0, Timeout: 5 * time.Second, PageSize: 4}
}

func newTestSource(cfg APIConfig, inv *Inventory) (*APISource, *logBuf) {
	lb := &logBuf{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := NewAPISource(cfg, inv, log)
	s.retryMin, s.retryMax = 20*time.Millisecond, 80*time.Millisecond
	return s, lb
}

// ovsdbHostA is what hypervisor A's OVSDB says: ids, MACs and where the
// ports are plugged, no names.
func ovsdbHostA(inv *Inventory) {
	inv.Set("ovsdb:"+hostA, []Port{
		{ID: "port-a1", MAC: "fa:16:3e:00:00:a1", InstanceID: "vm-a1", NetworkID: "net-red", Host: "compute-a.example.org",
			Attachments: []Attached{{Agent: hostA, IfIndex: 5, Interface: "tapa1", LocalVLAN: 1}}},
		{ID: "port-a2", MAC: "fa:16:3e:00:00:a2", InstanceID: "vm-a2", NetworkID: "net-blue",
			Attachments: []Attached{{Agent: hostA, IfIndex: 6, Interface: "tapa2", LocalVLAN: 2}}},
	})
}

func portByID(inv *Inventory, id string) (Port, bool) {
	for _, p := range inv.Ports() {
		if p.ID == id {
			return p, true
		}
	}
	return Port{}, false
}

// One read: every listing followed across its pages, ports joined with
// their networks, instances and projects, and the merged inventory (with
// an OVSDB source beside it) attributes flows with names.
func TestAPISourceReadsNeutronNovaKeystone(t *testing.T) {
	f := newFakeCloud(t)
	f.populate()
	openrc(t, f)
	inv := NewInventory()
	ovsdbHostA(inv)
	s, logs := newTestSource(testAPIConfig(), inv)
	n, err := s.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 25 {
		t.Errorf("%d ports read, want 25", n)
	}

	// pagination: 25 ports by 4 = 7 pages, 23 servers = 6 pages, 3 networks = 1 page
	if got := f.hit("/network/v2.0/ports"); got != 7 {
		t.Errorf("%d port pages requested, want 7", got)
	}
	if got := f.hit("/compute/v2.1/servers/detail"); got != 6 {
		t.Errorf("%d server pages requested, want 6", got)
	}
	f.mu.Lock()
	var markers, allTenants int
	for _, q := range f.queries {
		if strings.Contains(q, "marker=") {
			markers++
		}
		if strings.HasPrefix(q, "/compute/") && strings.Contains(q, "all_tenants=") {
			allTenants++
		}
	}
	f.mu.Unlock()
	if markers != 6+5 || allTenants != 6 {
		t.Errorf("%d requests with a marker (want 11), %d server requests with all_tenants (want 6)", markers, allTenants)
	}

	p, ok := portByID(inv, "port-a1")
	if !ok || p.InstanceName != "web-1" || p.NetworkName != "red" || p.SegmentationID != 101 || p.ProjectName != "shop" ||
		p.Host != "compute-a" || p.InstanceID != "vm-a1" || !slices.Equal(p.FixedIPs, []string{"10.0.0.5"}) ||
		len(p.Attachments) != 1 || p.Attachments[0].IfIndex != 5 || p.Source != "neutron+ovsdb:"+hostA {
		t.Errorf("port-a1 merged: %+v", p)
	}
	if p, _ := portByID(inv, "port-a2"); p.SegmentationID != 102 || p.ProjectName != "bank" {
		t.Errorf("port-a2 (string segmentation id): %+v", p)
	}
	// binding:host_id empty: the server's host
	if p, _ := portByID(inv, "port-b1"); p.Host != "compute-b" || p.InstanceName != "web-2" {
		t.Errorf("port-b1: %+v", p)
	}
	// a router's device_id is not an instance
	if p, _ := portByID(inv, "router-1"); p.InstanceID != "" || p.NetworkName != "red" || p.Host != "network-1" {
		t.Errorf("router-1: %+v", p)
	}
	if p, _ := portByID(inv, "port-x19"); p.InstanceName != "batch-19" || p.Host != "compute-c" {
		t.Errorf("last page's port: %+v", p)
	}

	// Same 10.0.0.5 in two networks: told apart by where they entered.
	r1 := flowRec(hostA, single(5), flow.Port{Format: flow.PortMultiple, Count: 1}, "fa:16:3e:00:00:a1", "fa:16:3e:00:00:01", "10.0.0.5", "10.0.0.1")
	r2 := flowRec(hostA, single(6), single(5), "fa:16:3e:00:00:a2", "fa:16:3e:00:00:a1", "10.0.0.5", "10.0.0.5")
	inv.Enrich(&r1)
	inv.Enrich(&r2)
	if r1.SrcID.OrEmpty().InstanceName != "web-1" || r1.SrcID.OrEmpty().ProjectName != "shop" || r1.SrcID.OrEmpty().NetworkName != "red" || r1.SrcID.OrEmpty().SegmentationID != 101 {
		t.Errorf("r1 source: %+v", r1.SrcID)
	}
	if r1.DstID.OrEmpty().PortID != "router-1" || r1.Relation != flow.RelationInfrastructure {
		t.Errorf("r1 destination: %+v %v", r1.DstID, r1.Relation)
	}
	if r2.SrcID.OrEmpty().InstanceName != "db-1" || r2.SrcID.OrEmpty().ProjectName != "bank" || r2.DstID.OrEmpty().InstanceName != "web-1" || r2.Relation != flow.RelationSameHost {
		t.Errorf("r2: %+v -> %+v %v", r2.SrcID, r2.DstID, r2.Relation)
	}
	// Through a patch port (no ifIndex), from a VM on another host known
	// only to the APIs: attributed by MAC, cross-host.
	r3 := flowRec(hostA, flow.Port{Format: flow.PortUnknown}, single(5), "fa:16:3e:00:00:b1", "fa:16:3e:00:00:a1", "10.0.0.6", "10.0.0.5")
	inv.Enrich(&r3)
	if r3.SrcID.OrEmpty().InstanceName != "web-2" || r3.SrcID.OrEmpty().Host != "compute-b" || r3.SrcID.OrEmpty().Source != "neutron" || r3.Relation != flow.RelationCrossHost {
		t.Errorf("r3: %+v -> %+v %v", r3.SrcID, r3.DstID, r3.Relation)
	}

	if strings.Contains(logs.String(), fakePassword) {
		t.Error("the password was logged")
	}
}

// A token that expires between two reads is replaced: gophercloud logs in
// again on the 401 and the read goes on.
func TestAPISourceReauthenticatesOnExpiredToken(t *testing.T) {
	f := newFakeCloud(t)
	f.populate()
	openrc(t, f)
	inv := NewInventory()
	s, _ := newTestSource(testAPIConfig(), inv)
	ctx := context.Background()
	if _, err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	f.expire()
	f.set(func(f *fakeCloud) {
		f.servers[0]["name"] = "web-1-renamed"
	})
	if _, err := s.Refresh(ctx); err != nil {
		t.Fatalf("after the token expired: %v", err)
	}
	f.mu.Lock()
	issued, logins := f.issued, f.hits["/v3/auth/tokens"]
	f.mu.Unlock()
	if issued != 2 || logins != 2 {
		t.Errorf("%d tokens issued in %d logins, want 2 (one at start, one after the 401)", issued, logins)
	}
	if p, _ := portByID(inv, "port-a1"); p.InstanceName != "web-1-renamed" {
		t.Errorf("second read not applied: %+v", p)
	}

	// Expired in the middle of a listing, between two pages.
	f.set(func(f *fakeCloud) { f.expireAt = f.hits["/network/v2.0/ports"] + 4 })
	if _, err := s.Refresh(ctx); err != nil {
		t.Fatalf("token expired mid-listing: %v", err)
	}
	f.mu.Lock()
	issued, pages := f.issued, f.hits["/network/v2.0/ports"]
	f.mu.Unlock()
	if issued != 3 || pages != 7+7+8 { // the 4th page was asked twice: 401, then with the new token
		t.Errorf("%d tokens issued, %d port pages asked for; want 3 and 22", issued, pages)
	}
	if p, _ := portByID(inv, "port-x19"); p.InstanceName != "batch-19" {
		t.Errorf("last page after re-authentication: %+v", p)
	}

	// A password changed under us: the read fails, the inventory stays.
	f.set(func(f *fakeCloud) { f.password = "rotated"; f.tokens = map[string]bool{} })
	_, err := s.Refresh(ctx)
	if err == nil {
		t.Fatal("read succeeded with a wrong password")
	}
	if strings.Contains(err.Error(), fakePassword) {
		t.Errorf("the password is in the error: %v", err)
	}
	if s.conn != nil {
		t.Error("a session that cannot log in again is kept")
	}
	if len(inv.Ports()) != 25 {
		t.Errorf("inventory lost on a failed read: %d ports", len(inv.Ports()))
	}
}

// Run: a 500, then a total outage, during which the inventory keeps the
// last data and one warning is logged; then recovery, with backoff retries.
func TestAPISourceOutageKeepsLastInventory(t *testing.T) {
	f := newFakeCloud(t)
	f.populate()
	openrc(t, f)
	f.set(func(f *fakeCloud) { f.fail500["/network/v2.0/ports"] = 1 })
	inv := NewInventory()
	ovsdbHostA(inv)
	cfg := testAPIConfig()
	cfg.Refresh = 150 * time.Millisecond
	s, logs := newTestSource(cfg, inv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	select {
	case <-s.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("no first read")
	}
	// the first read met the 500: retried shortly after
	waitFor(t, "recovery from the 500", func() bool { p, _ := portByID(inv, "port-a1"); return p.InstanceName == "web-1" })
	if n := logs.count("WARN", "OpenStack APIs not read"); n != 1 || !strings.Contains(logs.String(), "HTTP 500") {
		t.Errorf("%d warnings for the 500:\n%s", n, logs)
	}
	if logs.count("INFO", "OpenStack APIs read again") != 1 {
		t.Errorf("recovery not logged:\n%s", logs)
	}

	// Outage: nothing answers.
	f.set(func(f *fakeCloud) { f.down = true })
	before := s.Requests()
	time.Sleep(600 * time.Millisecond)
	if got := s.Requests() - before; got < 4 {
		t.Errorf("only %d attempts in 600 ms of outage (retry 20-80 ms with backoff)", got)
	}
	if got := s.Requests() - before; got > 40 {
		t.Errorf("%d attempts in 600 ms: no backoff", got)
	}
	if n := logs.count("WARN", "OpenStack APIs not read"); n != 2 {
		t.Errorf("%d warnings after the outage started, want 2 (one for the 500, one for the outage: rate-limited):\n%s", n, logs)
	}
	// The collector goes on attributing with what it knew.
	r := flowRec(hostA, single(5), flow.Port{}, "fa:16:3e:00:00:a1", "fa:16:3e:00:00:ff", "10.0.0.5", "192.0.2.77")
	inv.Enrich(&r)
	if r.SrcID.OrEmpty().InstanceName != "web-1" || r.SrcID.OrEmpty().ProjectName != "shop" {
		t.Errorf("during the outage: %+v", r.SrcID)
	}
	if len(inv.Ports()) != 25 {
		t.Errorf("%d ports during the outage, want 25", len(inv.Ports()))
	}

	// Back, with a change.
	f.set(func(f *fakeCloud) {
		f.down = false
		f.servers[0]["name"] = "web-1b"
	})
	waitFor(t, "the read after the outage", func() bool { p, _ := portByID(inv, "port-a1"); return p.InstanceName == "web-1b" })
	if logs.count("INFO", "OpenStack APIs read again") != 2 {
		t.Errorf("end of the outage not logged:\n%s", logs)
	}
	// and periodic refreshes go on
	f.set(func(f *fakeCloud) { f.servers[0]["name"] = "web-1c" })
	waitFor(t, "a periodic refresh", func() bool { p, _ := portByID(inv, "port-a1"); return p.InstanceName == "web-1c" })
	if strings.Contains(logs.String(), fakePassword) {
		t.Error("the password was logged")
	}
}

// Requests are spaced by the rate limit, logins and pages included.
func TestAPISourceRateLimit(t *testing.T) {
	f := newFakeCloud(t)
	f.populate()
	openrc(t, f)
	cfg := testAPIConfig()
	cfg.RateLimit = 50 // 20 ms apart
	s, _ := newTestSource(cfg, NewInventory())
	start := time.Now()
	if _, err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// 1 login + Neutron's version document + 1 network page + 7 port pages + 6 server pages + 1 projects
	n := s.Requests()
	if n != 17 {
		t.Errorf("%d requests, want 17", n)
	}
	if want := time.Duration(n-1) * 20 * time.Millisecond; took < want {
		t.Errorf("%d requests in %v: faster than 50/s (%v)", n, took, want)
	}
}

// A user who may not list every project's servers, nor every project,
// still gets a useful inventory: its own project's instances, and project
// names where Keystone tells them.
func TestAPISourceNonAdmin(t *testing.T) {
	f := newFakeCloud(t)
	f.populate()
	f.set(func(f *fakeCloud) { f.forbidAll = true })
	openrc(t, f)
	inv := NewInventory()
	s, _ := newTestSource(testAPIConfig(), inv)
	if _, err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p, _ := portByID(inv, "port-a1"); p.InstanceName != "web-1" || p.ProjectName != "shop" {
		t.Errorf("own project's port: %+v", p)
	}
	// another project's: ids, no names
	if p, _ := portByID(inv, "port-a2"); p.InstanceID != "vm-a2" || p.InstanceName != "" || p.ProjectID != "p-bank" || p.ProjectName != "" || p.NetworkName != "blue" {
		t.Errorf("other project's port: %+v", p)
	}
	if f.hit("/v3/auth/projects") != 1 {
		t.Error("no fallback to GET /v3/auth/projects after the 403")
	}
}

func TestAPICredentials(t *testing.T) {
	f := newFakeCloud(t)
	f.populate()
	dir := t.TempDir()
	cloudsYAML := filepath.Join(dir, "clouds.yaml")
	os.WriteFile(cloudsYAML, []byte(`clouds:
  prod:
    auth:
      auth_url: `+f.authURL()+`
      username: `+fakeUser+`
      password: `+fakePassword+`
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: internal
    identity_api_version: 3
`), 0o600)
	for _, k := range []string{"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_REGION_NAME", "OS_INTERFACE", "OS_CLIENT_CONFIG_FILE", "OS_CLOUD"} {
		t.Setenv(k, "")
	}

	// clouds.yaml, the cloud named in the configuration
	cfg := testAPIConfig()
	cfg.Cloud, cfg.CloudsFile = "prod", cloudsYAML
	inv := NewInventory()
	s, logs := newTestSource(cfg, inv)
	if _, err := s.Refresh(context.Background()); err != nil {
		t.Fatalf("clouds.yaml: %v", err)
	}
	if s.conn.network.Endpoint != f.srv.URL+"/network/" {
		t.Errorf("network endpoint %q", s.conn.network.Endpoint)
	}
	if !strings.Contains(logs.String(), "cloud prod, user "+fakeUser) || strings.Contains(logs.String(), fakePassword) {
		t.Errorf("log:\n%s", logs)
	}

	// clouds.yaml through OS_CLOUD and OS_CLIENT_CONFIG_FILE
	t.Setenv("OS_CLOUD", "prod")
	t.Setenv("OS_CLIENT_CONFIG_FILE", cloudsYAML)
	s, _ = newTestSource(testAPIConfig(), NewInventory())
	if _, err := s.Refresh(context.Background()); err != nil {
		t.Fatalf("OS_CLOUD: %v", err)
	}
	// an unknown cloud
	t.Setenv("OS_CLOUD", "staging")
	s, _ = newTestSource(testAPIConfig(), NewInventory())
	if _, err := s.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), `"staging"`) {
		t.Errorf("unknown cloud: %v", err)
	}
	t.Setenv("OS_CLOUD", "")

	// nothing at all
	t.Setenv("OS_CLIENT_CONFIG_FILE", "")
	if _, _, _, _, err := testAPIConfig().credentials(); err == nil || !strings.Contains(err.Error(), "OS_AUTH_URL") {
		t.Errorf("no credentials: %v", err)
	}
	// openrc without a password
	t.Setenv("OS_AUTH_URL", f.authURL())
	t.Setenv("OS_USERNAME", fakeUser)
	if _, _, _, _, err := testAPIConfig().credentials(); err == nil || !strings.Contains(err.Error(), "OS_PASSWORD") {
		t.Errorf("no password: %v", err)
	}
	// application credential: no scope, the secret never shown
	t.Setenv("OS_USERNAME", "")
	t.Setenv("OS_APPLICATION_CREDENTIAL_ID", "ac-1")
	t.Setenv("OS_APPLICATION_CREDENTIAL_SECRET", "app-secret-xyz")
	t.Setenv("OS_PROJECT_NAME", "admin")
	ao, _, _, what, err := testAPIConfig().credentials()
	if err != nil || ao.ApplicationCredentialID != "ac-1" || ao.Scope != nil || strings.Contains(what, "app-secret") {
		t.Errorf("application credential: %+v %q %v", ao.Scope, what, err)
	}
	// a wrong login says so without the secret
	s, _ = newTestSource(testAPIConfig(), NewInventory())
	_, err = s.Refresh(context.Background())
	if err == nil || strings.Contains(err.Error(), "app-secret-xyz") || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong application credential: %v", err)
	}
}

func TestAPICacheFile(t *testing.T) {
	f := newFakeCloud(t)
	f.populate()
	openrc(t, f)
	cfg := testAPIConfig()
	cfg.CacheFile = filepath.Join(t.TempDir(), "inventory-cache.yaml")
	s, _ := newTestSource(cfg, NewInventory())
	if _, err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A restart while the APIs are down: the cache gives the names at once.
	f.set(func(f *fakeCloud) { f.down = true })
	inv := NewInventory()
	s, logs := newTestSource(cfg, inv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-s.Ready()
	p, ok := portByID(inv, "port-a1")
	if !ok || p.InstanceName != "web-1" || p.ProjectName != "shop" || p.Source != "neutron" {
		t.Errorf("from the cache: %+v", p)
	}
	if !strings.Contains(logs.String(), "loaded from the cache file") {
		t.Errorf("log:\n%s", logs)
	}
}

// A damaged cache file at start-up is reported and moved aside with its
// content intact; the source starts without it and writes a new one at the
// first good read.
func TestAPICacheFileDamaged(t *testing.T) {
	f := newFakeCloud(t)
	f.populate()
	openrc(t, f)
	dir := t.TempDir()
	cfg := testAPIConfig()
	cfg.CacheFile = filepath.Join(dir, "inventory-cache.yaml")
	s, _ := newTestSource(cfg, NewInventory())
	n, err := s.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(cfg.CacheFile)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(cfg.CacheFile); st.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v: it names instances and projects", st.Mode().Perm())
	}
	if ports, err := loadCache(cfg.CacheFile); err != nil || len(ports) != n || n < 2 {
		t.Fatalf("good cache: %d ports of %d (%v)", len(ports), n, err)
	}
	body := string(good)
	endLine := body[strings.LastIndex(body, cacheEnd):]
	lastPort := strings.LastIndex(body, "\n    - ")
	cases := map[string]string{
		"empty":             "",
		"garbage":           "\x00\x01 not yaml: [",
		"cut in the middle": body[:len(body)/2],
		// YAML cut at a line boundary is valid YAML: only the end line
		// tells that ports are missing.
		"last port and end line cut": body[:lastPort+1],
		"a port less":                body[:lastPort+1] + endLine,
		"end line cut":               strings.TrimSuffix(body, endLine),
		"not a port":                 strings.Replace(body, "ports:", "portz:", 1),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			if content == body {
				t.Fatal("the case does not damage the file")
			}
			if err := os.WriteFile(cfg.CacheFile, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			// A restart while the APIs are down.
			f.set(func(f *fakeCloud) { f.down = true })
			inv := NewInventory()
			s, logs := newTestSource(cfg, inv)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			<-s.Ready()
			if ports := inv.Ports(); len(ports) != 0 {
				t.Errorf("%d ports loaded from a damaged cache", len(ports))
			}
			aside, _ := filepath.Glob(cfg.CacheFile + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("moved aside: %v", aside)
			}
			if b, err := os.ReadFile(aside[0]); err != nil || string(b) != content {
				t.Errorf("the moved file does not hold what was there (%v)", err)
			}
			os.Remove(aside[0])
			if log := logs.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "moved_to="+aside[0]) {
				t.Errorf("not reported:\n%s", log)
			}
			// The APIs come back: a new cache, which loads.
			f.set(func(f *fakeCloud) { f.down = false })
			waitFor(t, "a new cache file", func() bool { _, err := loadCache(cfg.CacheFile); return err == nil })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if ports, err := loadCache(cfg.CacheFile); err != nil || len(ports) != n {
				t.Errorf("new cache: %d ports of %d (%v)", len(ports), n, err)
			}
		})
	}
}

func TestAPIConfigValidate(t *testing.T) {
	good := APIConfig{Enabled: true, Refresh: 5 * time.Minute, RateLimit: 5, Timeout: 30 * time.Second, PageSize: 500}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*APIConfig){
		func(c *APIConfig) { c.Interface = "publicURL " },
		func(c *APIConfig) { c.Refresh = 0 },
		func(c *APIConfig) { c.RateLimit = -1 },
		func(c *APIConfig) { c.Timeout = 0 },
	} {
		c := good
		bad(&c)
		if c.Validate() == nil {
			t.Errorf("accepted %+v", c)
		}
	}
	if (APIConfig{}).Validate() != nil {
		t.Error("a disabled source needs no settings")
	}
}

func (f *fakeCloud) catalog() []any {
	c := []any{ep("identity", f.srv.URL+"/v3/"), ep("network", f.srv.URL+"/network")}
	if !f.noCompute {
		c = append(c, ep("compute", f.srv.URL+"/compute/v2.1"))
	}
	return c
}

// Without Nova in the catalog (a Neutron-only deployment, a lab), ports,
// networks and projects still get their names; instances keep their ids,
// and the missing service is reported.
func TestAPISourceWithoutNova(t *testing.T) {
	f := newFakeCloud(t)
	f.noCompute = true
	f.populate()
	openrc(t, f)
	inv := NewInventory()
	s, logs := newTestSource(testAPIConfig(), inv)
	if _, err := s.Refresh(context.Background()); err != nil {
		t.Fatalf("a catalog without Nova: %v", err)
	}
	p, ok := portByID(inv, "port-a1")
	if !ok || p.NetworkName != "red" || p.ProjectName == "" || p.InstanceID != "vm-a1" || p.InstanceName != "" {
		t.Errorf("port-a1 without Nova: %+v", p)
	}
	if f.hit("/compute/v2.1/servers/detail") != 0 {
		t.Error("Nova asked for although the catalog has none")
	}
	if m := s.Missing(); len(m) != 1 || m[0] != "compute" {
		t.Errorf("missing %v, want [compute]", m)
	}
	if !strings.Contains(logs.String(), "no compute (Nova) endpoint") {
		t.Errorf("the missing Nova is not logged: %s", logs.String())
	}
}

func ep(kind, url string) map[string]any {
	var eps []any
	for i, iface := range []string{"public", "internal", "admin"} {
		eps = append(eps, map[string]any{"id": fmt.Sprintf("%s-%d", kind, i), "interface": iface,
			"region": "RegionOne", "region_id": "RegionOne", "url": url})
	}
	// another region, whose endpoints must not be used
	eps = append(eps, map[string]any{"id": kind + "-r2", "interface": "public", "region": "RegionTwo", "region_id": "RegionTwo",
		"url": "http://192.0.2.99:1/" + kind})
	return map[string]any{"endpoints": eps, "id": kind + "-svc", "type": kind, "name": kind}
}
