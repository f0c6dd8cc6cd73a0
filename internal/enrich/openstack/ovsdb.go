package openstack

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"

	"github.com/flowlens/flowlens/internal/ovsdbwatch"
)

// The columns flowlens reads from Open vSwitch's database (vswitch.xml).
// os-vif writes external_ids on the Interface; the ML2/OVS agent writes
// the Port's tag and other_config.
type ovsInterface struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Ifindex     *int              `ovsdb:"ifindex"`
	OFPort      *int              `ovsdb:"ofport"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

type ovsPort struct {
	UUID        string            `ovsdb:"_uuid"`
	Name        string            `ovsdb:"name"`
	Interfaces  []string          `ovsdb:"interfaces"`
	Tag         *int              `ovsdb:"tag"`
	OtherConfig map[string]string `ovsdb:"other_config"`
}

type ovsRoot struct {
	UUID        string            `ovsdb:"_uuid"`
	ExternalIDs map[string]string `ovsdb:"external_ids"`
}

// OVSDBSource follows one hypervisor's OVSDB and keeps its ports in the
// inventory.
type OVSDBSource struct {
	Endpoint string     // unix:/var/run/openvswitch/db.sock, tcp:host:6640
	Agent    netip.Addr // sFlow agent address of that hypervisor
	inv      *Inventory
	log      *slog.Logger
	name     string
	synced   chan struct{}
}

// Synced is closed once the source has put its first view of the database
// into the inventory.
func (s *OVSDBSource) Synced() <-chan struct{} { return s.synced }

// ParseOVSDB reads the "AGENT=ENDPOINT" form of enrich.openstack.ovsdb.
func ParseOVSDB(s string) (agent netip.Addr, endpoint string, err error) {
	a, e, ok := strings.Cut(s, "=")
	if !ok {
		return agent, "", fmt.Errorf("enrich.openstack.ovsdb %q: write AGENT=ENDPOINT: AGENT is the sFlow agent address of that hypervisor, e.g. 192.0.2.10=unix:/var/run/openvswitch/db.sock", s)
	}
	agent, err = netip.ParseAddr(a)
	if err != nil {
		return agent, "", fmt.Errorf("enrich.openstack.ovsdb %q: %q is not an IP address", s, a)
	}
	if !strings.HasPrefix(e, "unix:") && !strings.HasPrefix(e, "tcp:") && !strings.HasPrefix(e, "ssl:") {
		return agent, "", fmt.Errorf("enrich.openstack.ovsdb %q: the endpoint must start with unix:, tcp: or ssl: (e.g. unix:/var/run/openvswitch/db.sock)", s)
	}
	return agent.Unmap(), e, nil
}

// NewOVSDBSource returns a source; Run connects and follows changes.
func NewOVSDBSource(endpoint string, agent netip.Addr, inv *Inventory, log *slog.Logger) *OVSDBSource {
	return &OVSDBSource{Endpoint: endpoint, Agent: agent, inv: inv, log: log, name: "ovsdb:" + agent.String(),
		synced: make(chan struct{})}
}

// Run connects (retrying with backoff), mirrors the tables and rebuilds
// this source's ports after every change, until ctx is done. While the
// database is unreachable the inventory keeps what it last knew.
func (s *OVSDBSource) Run(ctx context.Context) error {
	dbModel, err := model.NewClientDBModel("Open_vSwitch", map[string]model.Model{
		"Interface": &ovsInterface{}, "Port": &ovsPort{}, "Open_vSwitch": &ovsRoot{},
	})
	if err != nil {
		return err
	}
	c, err := ovsdbwatch.NewClient(dbModel, []string{s.Endpoint}, s.log)
	if err != nil {
		return err
	}
	err = ovsdbwatch.Connect(ctx, c, func(err error) {
		s.log.Warn("cannot connect to OVSDB; retrying", "endpoint", s.Endpoint, "error", err)
	})
	if err != nil {
		return err
	}
	defer c.Close()
	changed := ovsdbwatch.Changes(c)
	// Monitor only the columns the model has: with MonitorAll the server
	// sends every column, and libovsdb logs an error for each it cannot map.
	var ifc ovsInterface
	var port ovsPort
	var root ovsRoot
	mon := c.NewMonitor(
		client.WithTable(&ifc, &ifc.Name, &ifc.Ifindex, &ifc.OFPort, &ifc.ExternalIDs),
		client.WithTable(&port, &port.Name, &port.Interfaces, &port.Tag, &port.OtherConfig),
		client.WithTable(&root, &root.ExternalIDs),
	)
	if _, err := c.Monitor(ctx, mon); err != nil {
		return fmt.Errorf("OVSDB %s: monitor: %w", s.Endpoint, err)
	}
	// The first view goes in at once; later changes are batched.
	ports, err := s.read(ctx, c)
	if err != nil {
		return fmt.Errorf("OVSDB %s: %w", s.Endpoint, err)
	}
	s.inv.Set(s.name, ports)
	close(s.synced)
	s.log.Info("following OVSDB for OpenStack ports", "endpoint", s.Endpoint, "agent", s.Agent, "ports", len(ports))
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		// Changes come in bursts (a VM boot touches several rows).
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		ports, err := s.read(ctx, c)
		if err != nil {
			s.log.Warn("reading OVSDB", "endpoint", s.Endpoint, "error", err)
			continue
		}
		s.inv.Set(s.name, ports)
	}
}

func (s *OVSDBSource) read(ctx context.Context, c client.Client) ([]Port, error) {
	var ifaces []ovsInterface
	var ports []ovsPort
	var roots []ovsRoot
	if err := c.List(ctx, &ifaces); err != nil {
		return nil, err
	}
	if err := c.List(ctx, &ports); err != nil {
		return nil, err
	}
	if err := c.List(ctx, &roots); err != nil {
		return nil, err
	}
	return buildPorts(s.Agent, ifaces, ports, roots), nil
}

// buildPorts turns OVSDB rows into ports: one per Interface that os-vif
// (or the OVN controller's iface-id binding) labelled.
func buildPorts(agent netip.Addr, ifaces []ovsInterface, ports []ovsPort, roots []ovsRoot) []Port {
	owner := map[string]*ovsPort{}
	for i := range ports {
		for _, u := range ports[i].Interfaces {
			owner[u] = &ports[i]
		}
	}
	host := ""
	for _, r := range roots {
		if h := r.ExternalIDs["hostname"]; h != "" {
			host = h
		}
	}
	var out []Port
	for _, ifc := range ifaces {
		id := ifc.ExternalIDs["iface-id"]
		if id == "" {
			continue
		}
		p := Port{ID: id, MAC: ifc.ExternalIDs["attached-mac"], InstanceID: ifc.ExternalIDs["vm-uuid"], Host: host}
		a := Attached{Agent: agent.String(), Interface: ifc.Name}
		if ifc.Ifindex != nil && *ifc.Ifindex > 0 {
			a.IfIndex = uint32(*ifc.Ifindex)
		}
		if ifc.ExternalIDs["ovn-installed"] == "true" {
			a.Backend = "ovn" // ovn-controller bound it: no local VLAN
		}
		if po := owner[ifc.UUID]; po != nil {
			if po.Tag != nil {
				a.LocalVLAN = uint16(*po.Tag)
				a.Backend = "ovs"
			}
			p.NetworkID = po.OtherConfig["net_uuid"]
			if seg, err := strconv.ParseUint(po.OtherConfig["segmentation_id"], 10, 32); err == nil {
				p.SegmentationID = uint32(seg)
			}
		}
		p.Attachments = []Attached{a}
		out = append(out, p)
	}
	return out
}
