package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/enrich/geoip"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
)

// startOpenStackSources also returns the API source, if enabled, so that
// `flowlens inventory` can wait for its first read.
func startOpenStackSources(ctx context.Context, c config.OpenStack, log *slog.Logger) (*openstack.Inventory, *openstack.APISource, error) {
	// Without any source the inventory stays empty but still classifies
	// observations (Neutron's MAC prefix, ports and bridges), so that
	// every packet is counted once.
	inv := openstack.NewInventory()
	opts, err := c.Options()
	if err != nil {
		return nil, nil, err
	}
	inv.SetOptions(opts)
	if c.StaticFile != "" {
		if err := openstack.WatchStatic(ctx, c.StaticFile, inv, log); err != nil {
			return nil, nil, err
		}
	}
	var ovsdbs []*openstack.OVSDBSource
	for _, o := range c.OVSDB {
		agent, endpoint, err := openstack.ParseOVSDB(o)
		if err != nil {
			return nil, nil, err
		}
		src := openstack.NewOVSDBSource(endpoint, agent, inv, log)
		go func() {
			if err := src.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("OVSDB source stopped", "endpoint", endpoint, "error", err)
			}
		}()
		ovsdbs = append(ovsdbs, src)
	}
	// Wait a little for the local databases, so that the first flows are
	// attributed too; an unreachable one must not keep flowlens from
	// listening (Open vSwitch drops what it sends meanwhile).
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, src := range ovsdbs {
		select {
		case <-src.Synced():
		case <-wait.Done():
			log.Warn("OVSDB not read yet; starting anyway, flows are attributed once it is", "endpoint", src.Endpoint)
		}
	}
	var api *openstack.APISource
	if c.API.Enabled {
		api = openstack.NewAPISource(c.API, inv, log)
		go func() {
			if err := api.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("OpenStack API source stopped", "error", err)
			}
		}()
	}
	return inv, api, nil
}

func cmdInventory(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("flowlens inventory", stderr)
	wait := fs.Duration("wait", 3*time.Second, "how long to let the sources report before printing")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inv, api, err := startOpenStackSources(ctx, cfg.Enrich.OpenStack, log)
	if err != nil {
		return err
	}
	if c := cfg.Enrich.OpenStack; len(c.OVSDB) == 0 && c.StaticFile == "" && !c.API.Enabled {
		return fmt.Errorf("no OpenStack source configured: set enrich.openstack.ovsdb (AGENT=ENDPOINT), enrich.openstack.static_file or enrich.openstack.api.enabled")
	}
	// ML2/OVN: the Southbound adds each port's logical switch and key.
	startOVN(ctx, cfg.Enrich.OpenStack.OVN, inv, log)
	time.Sleep(*wait)
	if api != nil {
		// The APIs' first read can take longer than --wait (logins, pages).
		select {
		case <-api.Ready():
		case <-time.After(4 * cfg.Enrich.OpenStack.API.Timeout):
			log.Warn("the OpenStack APIs have not answered yet; printing what the other sources know")
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tMAC\tINSTANCE\tNETWORK\tSEG\tPROJECT\tHOST\tATTACHED\tSOURCE")
	for _, p := range inv.Ports() {
		var at []string
		for _, a := range p.Attachments {
			switch a.Backend {
			case "ovn": // no local VLAN: OVN's logical switch is the network
				sw := "ovn"
				if p.OVNSwitch != "" {
					sw = fmt.Sprintf("ovn %s key %d", p.OVNSwitch, p.OVNTunnelKey)
				}
				at = append(at, fmt.Sprintf("%s/%d(%s,%s)", a.Agent, a.IfIndex, a.Interface, sw))
			default:
				at = append(at, fmt.Sprintf("%s/%d(%s,vlan %d)", a.Agent, a.IfIndex, a.Interface, a.LocalVLAN))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", p.ID, p.MAC, or(p.InstanceName, p.InstanceID),
			or(p.NetworkName, p.NetworkID), p.SegmentationID, or(p.ProjectName, p.ProjectID), p.Host, strings.Join(at, " "), p.Source)
	}
	return tw.Flush()
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// enrichmentStatus reports, for /api/v1/status, what each enrichment
// source is and what it has done: an operator must see at once why names
// or countries are missing.
func enrichmentStatus(c config.Enrich, geo *geoip.DB, geoRefresh *geoip.Refresher, inv *openstack.Inventory, api *openstack.APISource) func() any {
	return func() any {
		g := geoipStatus(c, geo, geoRefresh)
		o := map[string]any{"base_mac": c.OpenStack.BaseMAC, "uplink_bridges_export": c.OpenStack.UplinkBridgesExport}
		if inv != nil {
			st := inv.Stats()
			sources := []map[string]any{}
			for _, s := range st.Sources {
				sources = append(sources, map[string]any{"name": s.Name, "ports": s.Ports, "updated": s.Updated.UTC()})
			}
			o["ports"], o["sources"], o["conntrack_bridges"] = st.Ports, sources, inv.ConntrackBridges()
			o["flows"], o["source_attributed"], o["destination_attributed"] = st.Flows, st.Source, st.Destination
		}
		o["ovsdb"] = c.OpenStack.OVSDB
		a := map[string]any{"enabled": c.OpenStack.API.Enabled}
		if api != nil {
			ready := false
			select {
			case <-api.Ready():
				ready = true
			default:
			}
			a["read"], a["missing_services"], a["requests"] = ready, api.Missing(), api.Requests()
		}
		o["api"] = a
		if len(c.OpenStack.OVSDB) == 0 && c.OpenStack.StaticFile == "" && !c.OpenStack.API.Enabled {
			o["hint"] = "no OpenStack source: set enrich.openstack.ovsdb, .api.enabled or .static_file (docs/openstack.md)"
		}
		return map[string]any{"geoip": g, "openstack": o}
	}
}
