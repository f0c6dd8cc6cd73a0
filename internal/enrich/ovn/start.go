package ovn

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/enrich/openstack"
)

// Start starts tracing OVN drop samples, reading the databases until ctx
// ends; nil when drop_domain_id is 0. With an inventory, the Southbound's
// Neutron ports are added to it. It waits up to 5 s for the databases, so
// that the first drops are traced, but an unreachable one does not hold it
// up.
func Start(ctx context.Context, c Config, inv *openstack.Inventory, log *slog.Logger) *Mapper {
	if c.DropDomainID == 0 {
		return nil
	}
	m := New(c, log)
	if inv != nil {
		m.OnPorts(inventoryPorts(inv))
	}
	if c.NB == "" {
		// Drops are marked, not traced; the mapper says so (with what to
		// set) when the first arrives, not on every start.
		return m
	}
	go func() {
		if err := m.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("OVN database source stopped: drop samples are marked, not traced", "error", err)
		}
	}()
	// Wait a little, as for OVSDB, so that the first drops are traced;
	// the databases being unreachable must not keep flowlens from
	// listening.
	select {
	case <-m.Synced():
	case <-time.After(5 * time.Second):
		log.Warn("OVN databases not read yet; starting anyway, drops are traced once they are",
			"nb", c.NB, "sb", strings.TrimSpace(c.SB))
	case <-ctx.Done():
	}
	return m
}

// inventoryPorts feeds the Southbound's Neutron ports to the inventory (source
// "ovn-sb"): their logical switch and its tunnel key, the VNI of their
// Geneve packets.
func inventoryPorts(inv *openstack.Inventory) func([]PortInfo) {
	return func(ps []PortInfo) {
		ports := make([]openstack.Port, 0, len(ps))
		for _, p := range ps {
			ports = append(ports, openstack.Port{ID: p.PortID, MAC: p.MAC, FixedIPs: p.IPs, NetworkID: p.NetworkID,
				NetworkName: p.NetworkName, OVNSwitch: p.Switch, OVNTunnelKey: p.TunnelKey})
		}
		inv.Set("ovn-sb", ports)
	}
}
