package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/enrich/ovn"
)

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
	inv, api, err := openstack.Start(ctx, cfg.Enrich.OpenStack.Config, log)
	if err != nil {
		return err
	}
	if !cfg.Enrich.OpenStack.Configured() {
		return fmt.Errorf("no OpenStack source configured: set enrich.openstack.ovsdb (AGENT=ENDPOINT), enrich.openstack.static_file or enrich.openstack.api.enabled")
	}
	// ML2/OVN: the Southbound adds each port's logical switch and key.
	ovn.Start(ctx, cfg.Enrich.OpenStack.OVN, inv, log)
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
