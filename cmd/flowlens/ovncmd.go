package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/flowlens/flowlens/internal/ovs"
)

const ovnUsage = `Usage:
  flowlens ovn configure [options]   print (or with --apply run) the ovs-vsctl and ovn-nbctl commands that make
                                     OVN sample every packet it drops (security groups) to this collector over IPFIX
`

func cmdOVN(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "configure" {
		fmt.Fprint(stderr, ovnUsage)
		return errUsage
	}
	fs := newFlagSet("flowlens ovn configure", stderr)
	d := ovs.DropSampling{}
	fs.StringVar(&d.Target, "target", "127.0.0.1:4739", "IPFIX collector address:port (this flowlens's input.netflow.listen), as the hypervisors reach it")
	fs.StringVar(&d.Bridge, "bridge", "br-int", "integration bridge")
	fs.IntVar(&d.CollectorSet, "collector-set", 1, "Flow_Sample_Collector_Set id (NB_Global options:debug_drop_collector_set)")
	fs.IntVar(&d.Domain, "domain", 1, "observation domain id (NB_Global options:debug_drop_domain_id); must equal enrich.openstack.ovn.drop_domain_id")
	db := fs.String("db", "", "Open vSwitch database for ovs-vsctl, e.g. unix:/var/run/openvswitch/db.sock (default: ovs-vsctl's)")
	nb := fs.String("nb", "", "OVN Northbound database for ovn-nbctl, e.g. tcp:192.0.2.5:6641 (default: ovn-nbctl's)")
	only := fs.String("only", "", "ovs: only this hypervisor's Open vSwitch; nb: only the Northbound options (default: both)")
	apply := fs.Bool("apply", false, "run the commands instead of printing them")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if err := d.Validate(); err != nil {
		return err
	}
	if *only != "" && *only != "ovs" && *only != "nb" {
		return fmt.Errorf("--only %q: use ovs or nb", *only)
	}
	doOVS, doNB := *only != "nb", *only != "ovs"
	r := ovs.Runner{}
	vsctl := []string{"ovs-vsctl"}
	if *db != "" {
		r.Args = []string{"--db=" + *db}
		vsctl = append(vsctl, "--db="+*db)
	}
	n := ovs.NBRunner{}
	nbctl := []string{"ovn-nbctl"}
	if *nb != "" {
		n.Args = []string{"--db=" + *nb}
		nbctl = append(nbctl, "--db="+*nb)
	}
	if !*apply {
		if doOVS {
			fmt.Fprintf(stdout, "# On every hypervisor (the Open vSwitch ovn-controller runs): send the drop samples of collector set %d to %s\n",
				d.CollectorSet, d.Target)
			fmt.Fprintln(stdout, ovs.ShellQuote(append(vsctl, d.OVSCommand(nil)...)))
		}
		if doNB {
			fmt.Fprintf(stdout, "# Once, against the Northbound database: ovn-northd adds a sample action to every drop flow\n")
			fmt.Fprintln(stdout, ovs.ShellQuote(append(nbctl, d.NBCommand()...)))
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if doOVS {
		if err := r.ApplyDropSampling(ctx, d); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Flow_Sample_Collector_Set %d on %s sends IPFIX to %s\n", d.CollectorSet, d.Bridge, d.Target)
	}
	if doNB {
		if err := n.ApplyDropSampling(ctx, d); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "NB_Global: debug_drop_collector_set=%d debug_drop_domain_id=%d\n", d.CollectorSet, d.Domain)
	}
	return nil
}
