package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/store"
)

// searchPort is one port of a VM, from the OpenStack inventory.
type searchPort struct {
	ID        string `json:"id"`
	Agent     string `json:"agent"`
	Interface string `json:"interface"`
	IfIndex   uint32 `json:"ifindex"`
}

// searchMatch is one answer of GET /api/v1/search.
type searchMatch struct {
	// Kind: vm, project, network, host, interface (a port's name on its
	// bridge, e.g. tap…), ip or mac.
	Kind string `json:"kind"`
	// Value is what flows hold (VM, project and network names, else ids).
	Value string `json:"value"`
	// Label says what it is, e.g. "10.0.0.5 · web-1 (demo)".
	Label string `json:"label"`
	// Filter selects its traffic, either side: vm=web-1, ip=10.0.0.5.
	Filter string `json:"filter"`
	// Bytes is its traffic in the range (both sides, every observation).
	Bytes int64 `json:"bytes"`
	// Stored: flows in the range have it; Inventory: the OpenStack
	// inventory knows it.
	Stored    bool `json:"stored"`
	Inventory bool `json:"inventory"`
	// For a VM, and for a port, IP or MAC of a VM's port (inventory).
	VM      string       `json:"vm,omitempty"`
	VMID    string       `json:"vm_id,omitempty"`
	Project string       `json:"project,omitempty"`
	Host    string       `json:"host,omitempty"`
	Network string       `json:"network,omitempty"`
	IPs     []string     `json:"ips,omitempty"`
	MACs    []string     `json:"macs,omitempty"`
	Ports   []searchPort `json:"ports,omitempty"`
}

var kindOrder = func() map[string]int {
	m := map[string]int{}
	for i, k := range store.SearchKinds {
		m[k.Kind] = i
	}
	return m
}()

func nameOr(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

func addUniq(list []string, v string) []string {
	if v == "" || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// search answers GET /api/v1/search: values of VMs, projects, networks,
// hypervisors, port names, IPs and MACs containing q, from the store's
// flows in the range and from the OpenStack inventory.
func (a *api) search(ctx context.Context, q url.Values, base store.Query) (any, error) {
	text := strings.TrimSpace(q.Get("q"))
	if text == "" {
		return nil, bad("q is required: the text to look for (part of a VM, project, network, hypervisor or port name, an IP or a MAC)")
	}
	if len(text) > 200 {
		return nil, bad("q is %d characters long: at most 200", len(text))
	}
	limit, err := intParam(q, "limit", 20, 1, 100)
	if err != nil {
		return nil, err
	}
	kinds := map[string]bool{}
	for _, k := range strings.Split(q.Get("kind"), ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if _, ok := kindOrder[k]; !ok {
			return nil, bad("kind %q: use vm, project, network, host, interface, ip or mac (comma-separated)", k)
		}
		kinds[k] = true
	}
	want := func(k string) bool { return len(kinds) == 0 || kinds[k] }
	lq := strings.ToLower(text)
	// MACs are stored lower case with colons.
	if macWithDashes(lq) {
		lq = strings.ReplaceAll(lq, "-", ":")
	}
	contains := func(vals ...string) bool {
		for _, v := range vals {
			if v != "" && strings.Contains(strings.ToLower(v), lq) {
				return true
			}
		}
		return false
	}

	matches := map[[2]string]*searchMatch{}
	var order [][2]string
	get := func(kind, value string) *searchMatch {
		k := [2]string{kind, value}
		m := matches[k]
		if m == nil {
			m = &searchMatch{Kind: kind, Value: value, Filter: kind + "=" + value}
			matches[k] = m
			order = append(order, k)
		}
		return m
	}

	// The inventory's VMs, each with its ports.
	vms := map[string]*searchMatch{}
	var ports []openstack.Port
	if a.info.Ports != nil {
		ports = a.info.Ports()
	}
	for _, p := range ports {
		name := nameOr(p.InstanceName, p.InstanceID)
		if name == "" {
			continue
		}
		v := vms[name]
		if v == nil {
			v = &searchMatch{Kind: "vm", Value: name, Filter: "vm=" + name, VM: name, VMID: p.InstanceID, Inventory: true}
			vms[name] = v
		}
		v.Project = nameOr(p.ProjectName, p.ProjectID)
		v.Host = p.Host
		v.Network = nameOr(p.NetworkName, p.NetworkID)
		for _, ip := range p.FixedIPs {
			v.IPs = addUniq(v.IPs, ip)
		}
		v.MACs = addUniq(v.MACs, strings.ToLower(p.MAC))
		for _, at := range p.Attachments {
			v.Ports = append(v.Ports, searchPort{ID: p.ID, Agent: at.Agent, Interface: at.Interface, IfIndex: at.IfIndex})
		}
	}
	withVM := func(m *searchMatch, p openstack.Port) {
		if v := vms[nameOr(p.InstanceName, p.InstanceID)]; v != nil {
			m.VM, m.VMID, m.Project, m.Host, m.Network = v.VM, v.VMID, v.Project, v.Host, v.Network
		}
	}
	for _, p := range ports {
		vm := nameOr(p.InstanceName, p.InstanceID)
		if want("vm") && vm != "" && contains(p.InstanceName, p.InstanceID) {
			m := get("vm", vm)
			*m = *vms[vm]
		}
		if pr := nameOr(p.ProjectName, p.ProjectID); want("project") && contains(p.ProjectName, p.ProjectID) {
			get("project", pr).Inventory = true
		}
		if n := nameOr(p.NetworkName, p.NetworkID); want("network") && contains(p.NetworkName, p.NetworkID) {
			get("network", n).Inventory = true
		}
		if want("host") && contains(p.Host) {
			get("host", p.Host).Inventory = true
		}
		for _, at := range p.Attachments {
			if want("interface") && contains(at.Interface) {
				m := get("interface", at.Interface)
				m.Inventory = true
				withVM(m, p)
			}
		}
		for _, ip := range p.FixedIPs {
			if want("ip") && contains(ip) {
				m := get("ip", ip)
				m.Inventory = true
				withVM(m, p)
			}
		}
		if mac := strings.ToLower(p.MAC); want("mac") && contains(mac) {
			m := get("mac", mac)
			m.Inventory = true
			withVM(m, p)
		}
	}

	// The store's values in the range.
	if a.st != nil {
		var ks []string
		for k := range kinds {
			ks = append(ks, k)
		}
		hits, err := a.st.Search(ctx, store.SearchRequest{From: base.From, To: base.To, Q: lq, Limit: limit, Kinds: ks})
		if err != nil {
			return nil, err
		}
		for _, h := range hits {
			if !want(h.Kind) {
				continue
			}
			m := get(h.Kind, h.Value)
			m.Stored, m.Bytes = true, h.Bytes
			if h.Kind == "vm" && vms[h.Value] != nil && !m.Inventory {
				st, b := m.Stored, m.Bytes
				*m = *vms[h.Value]
				m.Stored, m.Bytes = st, b
			}
		}
	}

	// Exact matches first, then prefixes, then the busiest.
	rank := func(m *searchMatch) int {
		v := strings.ToLower(m.Value)
		switch {
		case v == lq:
			return 0
		case strings.HasPrefix(v, lq):
			return 1
		}
		return 2
	}
	list := make([]*searchMatch, 0, len(order))
	for _, k := range order {
		list = append(list, matches[k])
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		if a.Bytes != b.Bytes {
			return a.Bytes > b.Bytes
		}
		if ka, kb := kindOrder[a.Kind], kindOrder[b.Kind]; ka != kb {
			return ka < kb
		}
		return a.Value < b.Value
	})
	if len(list) > limit {
		list = list[:limit]
	}
	out := make([]searchMatch, len(list))
	for i, m := range list {
		m.Label = label(m)
		out[i] = *m
	}
	return map[string]any{"q": text, "from": base.From.UTC(), "to": base.To.UTC(), "matches": out,
		"inventory": a.info.Ports != nil && len(ports) > 0}, nil
}

// macWithDashes says whether s is (part of) a MAC written with dashes:
// at least three groups of one or two hex digits (fa-16-3e…).
func macWithDashes(s string) bool {
	parts := strings.Split(strings.Trim(s, "-"), "-")
	if len(parts) < 3 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 2 || strings.Trim(p, "0123456789abcdef") != "" {
			return false
		}
	}
	return true
}

// label says what a match is: the value, and the VM it belongs to.
func label(m *searchMatch) string {
	var extra []string
	switch m.Kind {
	case "vm":
		extra = append(extra, m.Project, m.Host)
		if len(m.IPs) > 0 {
			extra = append(extra, m.IPs[0])
		}
	case "interface", "ip", "mac":
		if m.VM != "" {
			extra = append(extra, m.VM)
		}
	}
	extra = slices.DeleteFunc(extra, func(s string) bool { return s == "" })
	if len(extra) == 0 {
		return m.Value
	}
	return m.Value + " · " + strings.Join(extra, " · ")
}

// searchHandler serves GET /api/v1/search: from and to as for flows but
// the last 24 h by default; it works without the store too (the
// inventory alone).
func (a *api) searchHandler(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkParams(q, []string{"q", "kind", "limit", "from", "to"}); err != nil {
		a.fail(w, err)
		return
	}
	tq := url.Values{"from": {"-24h"}, "to": {"now"}}
	for _, k := range []string{"from", "to"} {
		if v := q.Get(k); v != "" {
			tq.Set(k, v)
		}
	}
	from, to, err := a.timeRange(tq)
	if err != nil {
		a.fail(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.info.QueryTimeout)
	defer cancel()
	v, err := a.search(ctx, q, store.Query{From: from, To: to})
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
