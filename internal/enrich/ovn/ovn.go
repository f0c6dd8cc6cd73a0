// Package ovn traces the packets OVN dropped back to the rule that dropped
// them. OVN (22.12 and later) can sample every dropped packet over IPFIX
// (NB_Global options:debug_drop_collector_set and debug_drop_domain_id):
// each record's observation domain is the drop domain id << 24 | the
// datapath's tunnel key, and its observation point id the first 32 bits of
// the dropping logical flow's uuid. The Southbound Logical_Flow's
// external_ids name its stage and, for ACL stages, the Northbound ACL
// (stage-hint: the first 8 hex digits of its uuid); the Port_Group holding
// that ACL is a Neutron security group (pg_<id with underscores>) or
// neutron_pg_drop, the drop of every packet no rule of a port's groups
// allowed.
package ovn

import (
	"errors"
	"fmt"
	"github.com/flowlens/flowlens/internal/lograte"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// Config configures OVN drop tracing (enrich.openstack.ovn).
type Config struct {
	// NB and SB are the OVN Northbound and Southbound databases
	// (tcp:HOST:6641, ssl:…, unix:…; several, comma-separated, for a
	// cluster). Empty: drops are marked but not traced.
	NB string `yaml:"nb"`
	SB string `yaml:"sb"`
	// DropDomainID is NB_Global options:debug_drop_domain_id: IPFIX
	// records of observation domains DropDomainID << 24 | datapath are
	// drop samples. 0 turns the marking off (domain 0 is also what Open
	// vSwitch's own per-bridge IPFIX uses).
	DropDomainID uint32 `yaml:"drop_domain_id"`
}

// DefaultConfig is what default.yaml says.
func DefaultConfig() Config { return Config{DropDomainID: 1} }

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.DropDomainID > 255 {
		return fmt.Errorf("enrich.openstack.ovn.drop_domain_id %d: OVN's debug_drop_domain_id is 8 bits: use 1 to 255 (0: off)", c.DropDomainID)
	}
	for _, e := range [...]struct{ name, v string }{{"nb", c.NB}, {"sb", c.SB}} {
		for _, ep := range Endpoints(e.v) {
			if !strings.HasPrefix(ep, "tcp:") && !strings.HasPrefix(ep, "ssl:") && !strings.HasPrefix(ep, "unix:") {
				return fmt.Errorf("enrich.openstack.ovn.%s %q: an endpoint starts with tcp:, ssl: or unix: (e.g. tcp:192.0.2.5:664%d)", e.name, ep,
					map[string]int{"nb": 1, "sb": 2}[e.name])
			}
		}
	}
	if (c.NB == "") != (c.SB == "") {
		return errors.New("enrich.openstack.ovn: set both nb and sb (the Southbound logical flow names the Northbound ACL), or neither")
	}
	return nil
}

// Endpoints splits a comma-separated endpoint list.
func Endpoints(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// Reasons a drop is not (fully) traced, as written in
// flowlens.blocked.reason.
const (
	ReasonNoDatabases = "OVN databases not configured"
	ReasonFlowUnknown = "logical flow not found"
	ReasonAmbiguous   = "several logical flows share the observation point"
	ReasonNotACL      = "not an ACL"
	ReasonACLUnknown  = "ACL not found"
	// ReasonPhysical: a drop flow of ovn-controller's own (physical)
	// tables, whose observation point is the OpenFlow table, not a
	// logical flow. Such samples are not kept (Keep).
	ReasonPhysical = "physical pipeline"
)

// maxTable is the largest OpenFlow table id: an observation point up to
// it that no logical flow starts with is a physical table's drop.
const maxTable = 0xff

// Stats count drop samples by outcome.
type Stats struct {
	Records     uint64 // drop samples seen
	Traced      uint64 // traced to an ACL
	NotACL      uint64 // dropped by another stage (port security, no destination, …)
	FlowUnknown uint64 // logical flow not known: gone, or the Southbound not read yet
	ACLUnknown  uint64 // logical flow known, its ACL not
	// Physical counts samples of ovn-controller's physical tables' drop
	// flows: no security group's, and not always a drop (the sender's
	// chassis samples every packet it tunnels to another one in its
	// local-output table), so they are not kept.
	Physical uint64
}

// Mapper holds the OVN view the enrichers read and what they counted.
type Mapper struct {
	cfg  Config
	log  *slog.Logger
	view atomic.Pointer[view]

	mu      sync.Mutex // guards nb, sb (the parts views are built from)
	nb      *nbView
	sb      *sbView
	records atomic.Uint64
	traced  atomic.Uint64
	notACL  atomic.Uint64
	unknown atomic.Uint64
	aclGone atomic.Uint64
	phys    atomic.Uint64

	// Samples that could not be traced are logged at most every
	// logEvery: a flood of drops must not flood the log.
	untraced   lograte.Limiter
	logEvery   time.Duration
	nbSynced   chan struct{}
	sbSynced   chan struct{}
	syncedOnce [2]sync.Once

	onPorts func([]PortInfo) // guarded by mu
}

// PortInfo is what the Southbound says about a Neutron port: its logical
// switch (the network's datapath) and that datapath's tunnel key.
type PortInfo struct {
	PortID      string // logical_port: the Neutron port id
	MAC         string
	IPs         []string
	Switch      string // datapath's external_ids:name, neutron-<network id>
	NetworkID   string
	NetworkName string // external_ids:name2
	TunnelKey   uint32 // the Geneve VNI of the network's packets
}

// OnPorts sets a function that receives the Neutron ports each time the
// Southbound is read (e.g. to feed the OpenStack inventory).
func (m *Mapper) OnPorts(f func([]PortInfo)) {
	m.mu.Lock()
	m.onPorts = f
	m.mu.Unlock()
}

// view is what one generation of the databases says; immutable.
type view struct {
	nb *nbView
	sb *sbView
}

// sbView: logical flows by their observation point (first 32 bits of the
// uuid).
type sbView struct {
	flows map[uint32][]lflow
}

type lflow struct {
	uuid  string
	stage string // external_ids:stage-name
	hint  string // external_ids:stage-hint
}

// nbView: ACLs by the first 8 hex digits of their uuid (stage-hint), and
// logical switch ports by MAC and name with their security groups.
type nbView struct {
	acls      map[string][]*aclInfo
	portByMAC map[flow.MAC]*lspInfo
	portByID  map[string]*lspInfo
}

type aclInfo struct {
	uuid, direction, action string
	rule                    string // neutron:security_group_rule_id
	group                   string // the Port_Group's name
	sg                      string // its Neutron security group, if any
	defaultDrop             bool   // neutron_pg_drop
}

type lspInfo struct {
	uuid, name string   // name: the Neutron port id
	sgs        []string // security groups (pg_* groups the port is in)
}

// New returns a Mapper; Run follows the databases.
func New(cfg Config, log *slog.Logger) *Mapper {
	m := &Mapper{cfg: cfg, log: log, logEvery: time.Minute, nbSynced: make(chan struct{}), sbSynced: make(chan struct{})}
	m.view.Store(&view{})
	return m
}

// Enabled reports whether drop samples are marked at all.
func (m *Mapper) Enabled() bool { return m != nil && m.cfg.DropDomainID != 0 }

// Stats returns the counters.
func (m *Mapper) Stats() Stats {
	return Stats{Records: m.records.Load(), Traced: m.traced.Load(), NotACL: m.notACL.Load(),
		FlowUnknown: m.unknown.Load(), ACLUnknown: m.aclGone.Load(), Physical: m.phys.Load()}
}

// Synced is closed once both databases were read (never when they are not
// configured).
func (m *Mapper) Synced() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		<-m.nbSynced
		<-m.sbSynced
		close(ch)
	}()
	return ch
}

func (m *Mapper) setNB(v *nbView) {
	m.mu.Lock()
	m.nb = v
	m.view.Store(&view{nb: m.nb, sb: m.sb})
	m.mu.Unlock()
	m.syncedOnce[0].Do(func() { close(m.nbSynced) })
}

func (m *Mapper) setSB(v *sbView) {
	m.mu.Lock()
	m.sb = v
	m.view.Store(&view{nb: m.nb, sb: m.sb})
	m.mu.Unlock()
	m.syncedOnce[1].Do(func() { close(m.sbSynced) })
}

// IsDropSample reports whether r is a record of OVN's drop sampling.
func (m *Mapper) IsDropSample(r *flow.Record) bool {
	return m.Enabled() && r.Input == flow.InputIPFIX && r.HasObservationPoint && r.SubAgent>>24 == m.cfg.DropDomainID
}

// Enricher marks drop samples; each input goroutine has its own, with a
// cache of what it traced.
type Enricher struct {
	m     *Mapper
	v     *view
	cache map[cacheKey]*flow.Blocked
}

type cacheKey struct {
	point          uint32
	srcMAC, dstMAC flow.MAC
	srcPort        string // from the OpenStack inventory, when the MAC is not in the NB
	dstPort        string
}

// maxCache bounds an enricher's cache; it is emptied when full.
const maxCache = 4096

// NewEnricher returns an enricher for one goroutine.
func (m *Mapper) NewEnricher() *Enricher { return &Enricher{m: m} }

// Enrich sets r.Blocked on drop samples.
func (e *Enricher) Enrich(r *flow.Record) {
	if !e.m.IsDropSample(r) {
		return
	}
	v := e.m.view.Load()
	if v != e.v || len(e.cache) >= maxCache {
		e.v, e.cache = v, make(map[cacheKey]*flow.Blocked)
	}
	k := cacheKey{point: uint32(r.ObservationPointID), srcMAC: r.SrcMAC, dstMAC: r.DstMAC,
		srcPort: r.SrcID.OrEmpty().PortID, dstPort: r.DstID.OrEmpty().PortID}
	b, ok := e.cache[k]
	if !ok {
		b = e.m.trace(v, r)
		e.cache[k] = b
	}
	e.m.count(b, r)
	r.Blocked = b
}

// Keep drops the samples of ovn-controller's physical tables (Stats.Physical).
func (e *Enricher) Keep(r *flow.Record) bool {
	return r.Blocked == nil || r.Blocked.Reason != ReasonPhysical
}

// Refresh traces r again if it is a drop sample that could not be traced
// (the databases had not been read yet), for aggregates about to be
// written.
func (m *Mapper) Refresh(r *flow.Record) {
	if !m.IsDropSample(r) || r.Blocked != nil && r.Blocked.Reason != ReasonFlowUnknown {
		return
	}
	r.Blocked = m.trace(m.view.Load(), r)
}

func (m *Mapper) count(b *flow.Blocked, r *flow.Record) {
	m.records.Add(1)
	switch b.Reason {
	case "":
		m.traced.Add(1)
		return
	case ReasonNotACL:
		m.notACL.Add(1)
		return
	case ReasonACLUnknown:
		m.aclGone.Add(1)
	case ReasonPhysical:
		m.phys.Add(1)
		return
	default:
		m.unknown.Add(1)
	}
	prev := m.untraced.Last()
	ok, held := m.untraced.Allow(time.Now(), m.logEvery)
	if !ok {
		return
	}
	args := []any{"reason", b.Reason, "observation_point", fmt.Sprintf("%08x", uint32(r.ObservationPointID)), "samples", held + 1}
	if !prev.IsZero() {
		args = append(args, "since", prev.Format(time.RFC3339))
	}
	m.log.Warn("OVN drop samples that cannot be traced to a security group: kept, marked blocked, with the logical flow's observation point only",
		append(args, "hint", hint(b.Reason))...)
}

func hint(reason string) string {
	switch reason {
	case ReasonNoDatabases:
		return "set enrich.openstack.ovn.nb and .sb to the OVN databases"
	case ReasonFlowUnknown:
		return "the logical flow is gone (the ACL or port changed since the packet was dropped) or the Southbound database has not been read yet"
	case ReasonACLUnknown:
		return "the ACL named by the logical flow's stage-hint is not in the Northbound database (deleted meanwhile)"
	}
	return ""
}

// trace builds what is known of a drop sample's cause.
func (m *Mapper) trace(v *view, r *flow.Record) *flow.Blocked {
	point := uint32(r.ObservationPointID)
	b := &flow.Blocked{Source: flow.BlockedOVNDropSampling, LogicalFlow: fmt.Sprintf("%08x", point)}
	var flows []lflow
	if v.sb != nil {
		flows = v.sb.flows[point]
	}
	if len(flows) == 0 && point <= maxTable {
		// ovn-controller's own drop flows sample with their table as the
		// observation point (a logical flow's uuid starts with 000000 once
		// in 16 million).
		b.Reason = ReasonPhysical
		return b
	}
	if m.cfg.NB == "" && m.cfg.SB == "" {
		b.Reason = ReasonNoDatabases
		return b
	}
	if len(flows) == 0 {
		b.Reason = ReasonFlowUnknown
		return b
	}
	lf := flows[0]
	if len(flows) > 1 {
		// 32 bits of a random uuid: rare, but prefer the ACL stage.
		for _, f := range flows {
			if isACLStage(f.stage) {
				lf = f
			}
		}
	}
	b.LogicalFlow, b.Stage = lf.uuid, lf.stage
	if !isACLStage(lf.stage) {
		b.Reason = ReasonNotACL
		return b
	}
	// The pipeline says the side: ingress (ls_in_*) runs the sender's
	// from-lport ACLs, egress (ls_out_*) the receiver's to-lport ones.
	b.ACLDirection = "to-lport"
	if strings.HasPrefix(lf.stage, "ls_in_") {
		b.ACLDirection = "from-lport"
	}
	var acl *aclInfo
	if v.nb != nil {
		for _, a := range v.nb.acls[lf.hint] {
			if acl == nil || a.action == "drop" || a.action == "reject" {
				acl = a
			}
		}
	}
	if acl == nil {
		b.Reason = ReasonACLUnknown
		if len(flows) > 1 {
			b.Reason = ReasonAmbiguous
		}
	} else {
		b.ACL, b.ACLDirection, b.Default, b.SecurityGroupRule = acl.uuid, acl.direction, acl.defaultDrop, acl.rule
	}
	// The port whose security groups dropped it.
	mac, id := r.DstMAC, r.DstID.OrEmpty().PortID
	if b.ACLDirection == "from-lport" {
		mac, id = r.SrcMAC, r.SrcID.OrEmpty().PortID
	}
	var port *lspInfo
	if v.nb != nil {
		if port = v.nb.portByMAC[mac]; port == nil && id != "" {
			port = v.nb.portByID[id]
		}
	}
	switch {
	case port != nil:
		b.Port = port.name
	case id != "":
		b.Port = id
	}
	switch {
	case acl != nil && acl.sg != "":
		b.SecurityGroups = []string{acl.sg} // a group's own rule
	case port != nil:
		b.SecurityGroups = port.sgs // the default drop: none of them allowed it
	}
	return b
}

// isACLStage says whether a logical flow stage evaluates ACLs:
// ls_in_acl, ls_out_acl (and ls_*_acl_eval/_action in later OVN).
func isACLStage(stage string) bool {
	return (strings.HasPrefix(stage, "ls_in_acl") || strings.HasPrefix(stage, "ls_out_acl")) && !strings.HasSuffix(stage, "_hint")
}

// securityGroup returns the Neutron security group of a port group:
// external_ids neutron:security_group_id, else from the name
// pg_<id with underscores>; "" for others (neutron_pg_drop).
func securityGroup(name string, ext map[string]string) string {
	if id := ext["neutron:security_group_id"]; id != "" {
		return id
	}
	if rest, ok := strings.CutPrefix(name, "pg_"); ok {
		return strings.ReplaceAll(rest, "_", "-")
	}
	return ""
}

// DropGroup is the port group Neutron's ML2/OVN driver puts every port
// with security groups in; its ACLs drop what no rule allowed.
const DropGroup = "neutron_pg_drop"
