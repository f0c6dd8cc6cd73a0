package ovn

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/ovsdbwatch"
)

// The columns flowlens reads (ovn-sb.xml, ovn-nb.xml). Only these are
// monitored: a Southbound database holds a row per logical flow, and
// their match and actions columns are most of its size.
type sbLogicalFlow struct {
	UUID        string            `ovsdb:"_uuid"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// sbPortBinding: the client's cache indexes the table by its schema's
// indexes (datapath+tunnel_key, logical_port), so those columns are read
// too.
type sbPortBinding struct {
	UUID        string   `ovsdb:"_uuid"`
	LogicalPort string   `ovsdb:"logical_port"`
	TunnelKey   int      `ovsdb:"tunnel_key"`
	Type        string   `ovsdb:"type"`
	Datapath    string   `ovsdb:"datapath"`
	MAC         []string `ovsdb:"mac"`
}

type sbDatapathBinding struct {
	UUID        string            `ovsdb:"_uuid"`
	TunnelKey   int               `ovsdb:"tunnel_key"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

type nbACL struct {
	UUID        string            `ovsdb:"_uuid"`
	Direction   string            `ovsdb:"direction"`
	Action      string            `ovsdb:"action"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

type nbPortGroup struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Ports       []string          `ovsdb:"ports"`
	ACLs        []string          `ovsdb:"acls"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

type nbLogicalSwitchPort struct {
	UUID      string   `ovsdb:"_uuid"`
	Name      string   `ovsdb:"name"`
	Addresses []string `ovsdb:"addresses"`
}

// Run follows both databases until ctx is done; it returns at once when
// they are not configured. While one is unreachable, the last view is
// kept and the connection retried.
func (m *Mapper) Run(ctx context.Context) error {
	if m.cfg.NB == "" || m.cfg.SB == "" {
		return nil
	}
	errs := make(chan error, 2)
	// An error is logged at once: the other database may be followed for
	// as long as flowlens runs.
	follow := func(db, endpoints string, tables func(client.Client) []client.MonitorOption, read func(context.Context, client.Client) error) {
		err := m.follow(ctx, db, endpoints, tables, read)
		if err != nil {
			m.log.Error("OVN database source stopped: drop samples are marked, not traced", "database", db, "error", err)
		}
		errs <- err
	}
	go follow("OVN_Southbound", m.cfg.SB, m.sbTables, m.readSB)
	go follow("OVN_Northbound", m.cfg.NB, m.nbTables, m.readNB)
	var first error
	for range 2 {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (m *Mapper) sbTables(c client.Client) []client.MonitorOption {
	var lf sbLogicalFlow
	var pb sbPortBinding
	var dp sbDatapathBinding
	return []client.MonitorOption{client.WithTable(&lf, &lf.ExternalIDs),
		client.WithTable(&pb, &pb.LogicalPort, &pb.TunnelKey, &pb.Type, &pb.Datapath, &pb.MAC),
		client.WithTable(&dp, &dp.TunnelKey, &dp.ExternalIDs)}
}

func (m *Mapper) nbTables(c client.Client) []client.MonitorOption {
	var acl nbACL
	var pg nbPortGroup
	var lsp nbLogicalSwitchPort
	return []client.MonitorOption{
		client.WithTable(&acl, &acl.Direction, &acl.Action, &acl.ExternalIDs),
		client.WithTable(&pg, &pg.Name, &pg.Ports, &pg.ACLs, &pg.ExternalIDs),
		client.WithTable(&lsp, &lsp.Name, &lsp.Addresses),
	}
}

func (m *Mapper) follow(ctx context.Context, db, endpoints string, tables func(client.Client) []client.MonitorOption,
	read func(context.Context, client.Client) error) error {
	models := map[string]model.Model{"Logical_Flow": &sbLogicalFlow{}, "Port_Binding": &sbPortBinding{},
		"Datapath_Binding": &sbDatapathBinding{}}
	if db == "OVN_Northbound" {
		models = map[string]model.Model{"ACL": &nbACL{}, "Port_Group": &nbPortGroup{}, "Logical_Switch_Port": &nbLogicalSwitchPort{}}
	}
	dbModel, err := model.NewClientDBModel(db, models)
	if err != nil {
		return err
	}
	c, err := ovsdbwatch.NewClient(dbModel, Endpoints(endpoints), m.log.With("database", db))
	if err != nil {
		return err
	}
	err = ovsdbwatch.Connect(ctx, c, func(err error) {
		m.log.Warn("cannot connect to the OVN database; retrying (drop samples are marked, not traced, meanwhile)",
			"database", db, "endpoint", endpoints, "error", err)
	})
	if err != nil {
		return nil // stopped before it could connect
	}
	defer c.Close()
	changed := ovsdbwatch.Changes(c)
	if _, err := c.Monitor(ctx, c.NewMonitor(tables(c)...)); err != nil {
		return fmt.Errorf("%s %s: monitor: %w", db, endpoints, err)
	}
	if err := read(ctx, c); err != nil {
		return fmt.Errorf("%s %s: %w", db, endpoints, err)
	}
	m.log.Info("following the OVN database to trace drop samples", "database", db, "endpoint", endpoints)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		// Changes come in bursts (northd rewrites many flows at once).
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		if err := read(ctx, c); err != nil {
			m.log.Warn("reading the OVN database", "database", db, "error", err)
		}
	}
}

func (m *Mapper) readSB(ctx context.Context, c client.Client) error {
	var lfs []sbLogicalFlow
	var pbs []sbPortBinding
	var dps []sbDatapathBinding
	if err := c.List(ctx, &lfs); err != nil {
		return err
	}
	if err := c.List(ctx, &pbs); err != nil {
		return err
	}
	if err := c.List(ctx, &dps); err != nil {
		return err
	}
	m.setSB(buildSB(lfs))
	m.mu.Lock()
	f := m.onPorts
	m.mu.Unlock()
	if f != nil {
		f(buildPorts(pbs, dps))
	}
	return nil
}

// buildPorts lists the Neutron ports (VIF port bindings) with their
// logical switch: ML2/OVN names it neutron-<network id>, and its tunnel
// key is the VNI its Geneve packets carry (not Neutron's segmentation
// id).
func buildPorts(pbs []sbPortBinding, dps []sbDatapathBinding) []PortInfo {
	byUUID := make(map[string]*sbDatapathBinding, len(dps))
	for i := range dps {
		byUUID[dps[i].UUID] = &dps[i]
	}
	var out []PortInfo
	for _, pb := range pbs {
		dp := byUUID[pb.Datapath]
		if pb.Type != "" || dp == nil {
			continue // routers' patch and gateway ports, localports, …
		}
		name := dp.ExternalIDs["name"]
		p := PortInfo{PortID: pb.LogicalPort, Switch: name, TunnelKey: uint32(dp.TunnelKey), NetworkName: dp.ExternalIDs["name2"]}
		if id, ok := strings.CutPrefix(name, "neutron-"); ok {
			p.NetworkID = id
		}
		if len(pb.MAC) > 0 {
			// "fa:16:3e:… 10.0.0.5 fd00::5" (or "unknown")
			f := strings.Fields(pb.MAC[0])
			if len(f) > 0 && f[0] != "unknown" {
				p.MAC, p.IPs = f[0], f[1:]
			}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PortID < out[j].PortID })
	return out
}

func (m *Mapper) readNB(ctx context.Context, c client.Client) error {
	var acls []nbACL
	var pgs []nbPortGroup
	var lsps []nbLogicalSwitchPort
	if err := c.List(ctx, &acls); err != nil {
		return err
	}
	if err := c.List(ctx, &pgs); err != nil {
		return err
	}
	if err := c.List(ctx, &lsps); err != nil {
		return err
	}
	m.setNB(buildNB(acls, pgs, lsps))
	return nil
}

func buildSB(lfs []sbLogicalFlow) *sbView {
	v := &sbView{flows: make(map[uint32][]lflow)}
	for _, f := range lfs {
		p, ok := pointOf(f.UUID)
		if !ok {
			continue
		}
		v.flows[p] = append(v.flows[p], lflow{uuid: f.UUID, stage: f.ExternalIDs["stage-name"], hint: f.ExternalIDs["stage-hint"]})
	}
	return v
}

// pointOf returns the observation point OVN derives from a logical flow's
// uuid: its first 32 bits.
func pointOf(uuid string) (uint32, bool) {
	if len(uuid) < 8 {
		return 0, false
	}
	var p uint32
	for _, c := range []byte(uuid[:8]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		p = p<<4 | uint32(d)
	}
	return p, true
}

func buildNB(acls []nbACL, pgs []nbPortGroup, lsps []nbLogicalSwitchPort) *nbView {
	v := &nbView{acls: map[string][]*aclInfo{}, portByMAC: map[flow.MAC]*lspInfo{}, portByID: map[string]*lspInfo{}}
	group := map[string]*nbPortGroup{} // by ACL uuid
	for i := range pgs {
		for _, a := range pgs[i].ACLs {
			group[a] = &pgs[i]
		}
	}
	for _, a := range acls {
		if len(a.UUID) < 8 {
			continue
		}
		ai := &aclInfo{uuid: a.UUID, direction: a.Direction, action: a.Action, rule: a.ExternalIDs["neutron:security_group_rule_id"]}
		if pg := group[a.UUID]; pg != nil {
			ai.group = pg.Name
			ai.sg = securityGroup(pg.Name, pg.ExternalIDs)
			ai.defaultDrop = pg.Name == DropGroup
		}
		hint := strings.ToLower(a.UUID[:8])
		v.acls[hint] = append(v.acls[hint], ai)
	}
	sgs := map[string][]string{} // by logical switch port uuid
	for _, pg := range pgs {
		sg := securityGroup(pg.Name, pg.ExternalIDs)
		if sg == "" {
			continue
		}
		for _, p := range pg.Ports {
			sgs[p] = append(sgs[p], sg)
		}
	}
	for _, p := range lsps {
		info := &lspInfo{uuid: p.UUID, name: p.Name, sgs: sgs[p.UUID]}
		v.portByID[p.Name] = info
		// addresses: "MAC IP…", "router", "unknown", "dynamic".
		for _, a := range p.Addresses {
			f := strings.Fields(a)
			if len(f) == 0 {
				continue
			}
			if hw, err := net.ParseMAC(f[0]); err == nil && len(hw) == 6 {
				v.portByMAC[flow.MAC(hw)] = info
			}
		}
	}
	return v
}
