package ovn

import (
	"context"
	"fmt"
	"net"
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
	go func() { errs <- m.follow(ctx, "OVN_Southbound", m.cfg.SB, m.sbTables, m.readSB) }()
	go func() { errs <- m.follow(ctx, "OVN_Northbound", m.cfg.NB, m.nbTables, m.readNB) }()
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
	return []client.MonitorOption{client.WithTable(&lf, &lf.ExternalIDs)}
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
	models := map[string]model.Model{"Logical_Flow": &sbLogicalFlow{}}
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
	if err := c.List(ctx, &lfs); err != nil {
		return err
	}
	m.setSB(buildSB(lfs))
	return nil
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
