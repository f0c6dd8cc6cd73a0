package ovs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// DropSampling describes OVN's drop sampling to this collector: every
// hypervisor's Open vSwitch gets a Flow_Sample_Collector_Set on br-int
// with an IPFIX target, and the Northbound database tells ovn-northd to
// add a sample action, into that set and domain, to every drop flow.
type DropSampling struct {
	Bridge       string // integration bridge (br-int)
	Target       string // IPFIX collector host:port (this flowlens's input.netflow.listen)
	CollectorSet int    // Flow_Sample_Collector_Set id = NB_Global options:debug_drop_collector_set
	Domain       int    // NB_Global options:debug_drop_domain_id = enrich.openstack.ovn.drop_domain_id
}

// Validate checks the settings.
func (d DropSampling) Validate() error {
	if d.Bridge == "" {
		return errors.New("--bridge: name the integration bridge (br-int)")
	}
	if _, err := netip.ParseAddrPort(d.Target); err != nil {
		return fmt.Errorf("--target %q: use an address and port, e.g. 192.0.2.10:4739 (flowlens's input.netflow.listen)", d.Target)
	}
	if d.CollectorSet < 1 || d.CollectorSet > 1<<32-1 {
		return errors.New("--collector-set: a number from 1 to 4294967295")
	}
	if d.Domain < 1 || d.Domain > 255 {
		return errors.New("--domain: OVN's debug_drop_domain_id is 8 bits: 1 to 255, the same as enrich.openstack.ovn.drop_domain_id")
	}
	return nil
}

// OVSCommand returns the ovs-vsctl arguments (without "ovs-vsctl") that
// create the collector set. replace lists existing sets with the same id on
// the bridge (their uuids), removed in the same transaction so that the
// command can run again (the table's (id, bridge) index is unique).
func (d DropSampling) OVSCommand(replace []string) []string {
	var args []string
	for _, u := range replace {
		args = append(args, "--", "destroy", "Flow_Sample_Collector_Set", u)
	}
	return append(args, "--", "--id=@br", "get", "Bridge", d.Bridge,
		"--", "--id=@ipfix", "create", "IPFIX", "targets="+ovsdbString(d.Target),
		"--", "create", "Flow_Sample_Collector_Set", fmt.Sprintf("id=%d", d.CollectorSet), "bridge=@br", "ipfix=@ipfix")
}

// NBCommand returns the ovn-nbctl arguments (without "ovn-nbctl") that
// turn drop sampling on.
func (d DropSampling) NBCommand() []string {
	return []string{"set", "NB_Global", ".",
		fmt.Sprintf("options:debug_drop_collector_set=%d", d.CollectorSet),
		fmt.Sprintf("options:debug_drop_domain_id=%d", d.Domain)}
}

// CollectorSets returns the uuids of the Flow_Sample_Collector_Set rows
// with id on bridge.
func (r Runner) CollectorSets(ctx context.Context, bridge string, id int) ([]string, error) {
	out, err := r.run(ctx, "--bare", "--columns=_uuid,bridge", "find", "Flow_Sample_Collector_Set", fmt.Sprintf("id=%d", id))
	if err != nil {
		return nil, err
	}
	br, err := r.run(ctx, "--bare", "--columns=_uuid", "find", "Bridge", "name="+ovsdbString(bridge))
	if err != nil {
		return nil, err
	}
	brUUID := strings.TrimSpace(string(br))
	if brUUID == "" {
		return nil, fmt.Errorf("no bridge %s in this Open vSwitch (is ovn-controller running? it creates br-int)", bridge)
	}
	// --bare prints each row's columns on lines of their own, rows
	// separated by a blank line.
	var uuids []string
	for _, row := range strings.Split(strings.TrimSpace(string(out)), "\n\n") {
		f := strings.Fields(row)
		if len(f) == 2 && f[1] == brUUID {
			uuids = append(uuids, f[0])
		}
	}
	return uuids, nil
}

// ApplyDropSampling creates (or replaces) the collector set.
func (r Runner) ApplyDropSampling(ctx context.Context, d DropSampling) error {
	old, err := r.CollectorSets(ctx, d.Bridge, d.CollectorSet)
	if err != nil {
		return err
	}
	_, err = r.run(ctx, d.OVSCommand(old)...)
	return err
}

// NBRunner runs ovn-nbctl.
type NBRunner struct {
	Path string   // ovn-nbctl
	Args []string // e.g. --db=tcp:192.0.2.5:6641
}

// ApplyDropSampling sets the NB_Global options.
func (r NBRunner) ApplyDropSampling(ctx context.Context, d DropSampling) error {
	path := r.Path
	if path == "" {
		path = "ovn-nbctl"
	}
	args := append(append([]string{"--timeout=10"}, r.Args...), d.NBCommand()...)
	if _, err := exec.CommandContext(ctx, path, args...).Output(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("ovn-nbctl %s: %s", strings.Join(d.NBCommand(), " "), strings.TrimSpace(string(ee.Stderr)))
		}
		return fmt.Errorf("cannot run ovn-nbctl (is ovn-central or ovn-common installed?): %w", err)
	}
	return nil
}
