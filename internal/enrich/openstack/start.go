package openstack

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Config is the OpenStack attribution's configuration (enrich.openstack).
type Config struct {
	// Sources: the local Open vSwitch databases (AGENT=ENDPOINT), a
	// static file, the OpenStack APIs.
	OVSDB      []string  `yaml:"ovsdb"`
	StaticFile string    `yaml:"static_file"`
	API        APIConfig `yaml:"api"`
	// BaseMAC and UplinkBridgesExport drive the count-once rule.
	BaseMAC             string `yaml:"base_mac"`
	UplinkBridgesExport bool   `yaml:"uplink_bridges_export"`
	Conntrack           string `yaml:"conntrack"`
}

// Options returns the observation classification options.
func (c Config) Options() (Options, error) {
	m, err := ParseBaseMAC(c.BaseMAC)
	if err != nil {
		return Options{}, fmt.Errorf("enrich.openstack.%w", err)
	}
	ct, err := ParseConntrack(c.Conntrack)
	if err != nil {
		return Options{}, fmt.Errorf("enrich.openstack.%w", err)
	}
	return Options{BaseMAC: m, UplinkExports: c.UplinkBridgesExport, Conntrack: ct}, nil
}

// Configured tells whether any source of ports is set.
func (c Config) Configured() bool {
	return len(c.OVSDB) > 0 || c.StaticFile != "" || c.API.Enabled
}

// Start makes the inventory and starts its sources, which run until ctx
// ends. It waits up to 5 s for the local databases, so that the first
// flows are attributed too, but an unreachable one does not hold it up:
// Open vSwitch drops what it sends while nothing listens. The API source,
// if enabled, is returned so that callers can wait for its first read.
func Start(ctx context.Context, c Config, log *slog.Logger) (*Inventory, *APISource, error) {
	// Without any source the inventory stays empty but still classifies
	// observations (Neutron's MAC prefix, ports and bridges), so that
	// every packet is counted once.
	inv := NewInventory()
	opts, err := c.Options()
	if err != nil {
		return nil, nil, err
	}
	inv.SetOptions(opts)
	if c.StaticFile != "" {
		if err := WatchStatic(ctx, c.StaticFile, inv, log); err != nil {
			return nil, nil, err
		}
	}
	var ovsdbs []*OVSDBSource
	for _, o := range c.OVSDB {
		agent, endpoint, err := ParseOVSDB(o)
		if err != nil {
			return nil, nil, err
		}
		src := NewOVSDBSource(endpoint, agent, inv, log)
		go func() {
			if err := src.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("OVSDB source stopped", "endpoint", endpoint, "error", err)
			}
		}()
		ovsdbs = append(ovsdbs, src)
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, src := range ovsdbs {
		select {
		case <-src.Synced():
		case <-wait.Done():
			log.Warn("OVSDB not read yet; starting anyway, flows are attributed once it is", "endpoint", src.Endpoint)
		}
	}
	var api *APISource
	if c.API.Enabled {
		api = NewAPISource(c.API, inv, log)
		go func() {
			if err := api.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("OpenStack API source stopped", "error", err)
			}
		}()
	}
	return inv, api, nil
}
