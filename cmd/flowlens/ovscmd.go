package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowlens/flowlens/internal/ovs"
)

const ovsUsage = `Usage:
  flowlens ovs configure [options]   print (or with --apply run) the ovs-vsctl command that exports sFlow here
  flowlens ovs check [options]       show what each bridge exports now
`

func cmdOVS(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, ovsUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("flowlens ovs "+sub, stderr)
	db := fs.String("db", "", "OVSDB to use, e.g. unix:/var/run/openvswitch/db.sock (default: ovs-vsctl's)")
	r := func() ovs.Runner {
		if *db == "" {
			return ovs.Runner{}
		}
		return ovs.Runner{Args: []string{"--db=" + *db}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch sub {
	case "configure":
		s := ovs.Settings{}
		bridges := fs.String("bridges", "", "comma-separated bridges (default: every bridge)")
		fs.StringVar(&s.Agent, "agent", ovs.DefaultInterface(), "interface (or address) whose address names this hypervisor in the data")
		fs.StringVar(&s.Target, "target", "127.0.0.1:6343", "sFlow collector address:port (this flowlens)")
		fs.IntVar(&s.Sampling, "sampling", 64, "sample 1 packet in N")
		fs.IntVar(&s.Polling, "polling", 10, "interface counters every N seconds")
		fs.IntVar(&s.Header, "header", 128, "bytes of each sampled packet")
		fs.StringVar(&s.IPFIX, "ipfix", "", "also export IPFIX to this address:port")
		apply := fs.Bool("apply", false, "run the command instead of printing it")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if err := s.Validate(); err != nil {
			return err
		}
		var list []string
		if *bridges != "" {
			list = strings.Split(*bridges, ",")
		} else {
			var err error
			if list, err = r().Bridges(ctx); err != nil {
				return err
			}
			if len(list) == 0 {
				return fmt.Errorf("no bridge in this Open vSwitch: create br-int first, or name bridges with --bridges")
			}
		}
		argv := ovs.Command(s, list)
		if !*apply {
			prefix := []string{"ovs-vsctl"}
			if *db != "" {
				prefix = append(prefix, "--db="+*db)
			}
			fmt.Fprintln(stdout, ovs.ShellQuote(append(prefix, argv...)))
			return nil
		}
		if err := r().Apply(ctx, s, list); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sFlow to %s configured on %s\n", s.Target, strings.Join(list, ", "))
		return nil
	case "check":
		collector := fs.String("target", "", "warn about bridges that do not send sFlow to this address:port")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		var want []string
		if *collector != "" {
			want = []string{*collector}
		}
		ex, err := r().Check(ctx, want)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "BRIDGE\tSFLOW\tAGENT\tSAMPLING\tPOLLING\tHEADER\tIPFIX\tNETFLOW\tPROBLEMS")
		for _, e := range ex {
			sf, agent, samp, poll, hdr := "-", "-", "-", "-", "-"
			if e.SFlow != nil {
				sf, agent = strings.Join(e.SFlow.Targets, ","), e.SFlow.Agent
				samp, poll, hdr = fmt.Sprint(e.SFlow.Sampling), fmt.Sprint(e.SFlow.Polling), fmt.Sprint(e.SFlow.Header)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Bridge, sf, agent, samp, poll, hdr,
				dash(strings.Join(e.IPFIX, ",")), dash(strings.Join(e.NetFlow, ",")), dash(strings.Join(e.Problems, "; ")))
		}
		return tw.Flush()
	}
	fmt.Fprint(stderr, ovsUsage)
	return errUsage
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
