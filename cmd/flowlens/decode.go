package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/accuracy"
	"github.com/flowlens/flowlens/internal/agents"
	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/enrich/ovn"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/output/ndjson"
	"github.com/flowlens/flowlens/internal/pipeline"
)

func cmdDecode(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("flowlens decode", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: flowlens decode [options] FILE.pcap|FILE.pcapng ...\n\nDecodes the sFlow, NetFlow v5/v9 and IPFIX datagrams of captures (told apart by\ntheir version field) and prints the records as NDJSON (the same records\n`flowlens run` writes), then a summary on standard error.\n\nOptions:")
		fs.PrintDefaults()
	}
	port := fs.Int("port", 0, "only UDP datagrams to this destination port (0: every UDP datagram)")
	flows := fs.Bool("flows", true, "print flow records")
	counters := fs.Bool("counters", true, "print counter records")
	out := fs.String("output", "-", `file to write NDJSON to ("-": standard output)`)
	fields := fs.String("fields", "full", "fields of flow records: full or compact (as output.ndjson.fields; docs/fields.md)")
	accOut := fs.String("accuracy", "", "write the comparison of estimates with port counters (GET /api/v1/accuracy's answer) as JSON to this file")
	fcs := fs.Bool("include-fcs", false, "count the 4-byte Ethernet FCS in flow bytes (see input.sflow.include_fcs)")
	ovnCfg := ovn.DefaultConfig()
	fs.Func("ovn-drop-domain", "mark IPFIX records of this OVN drop domain as blocked, as enrich.openstack.ovn.drop_domain_id (default 1; 0: off)", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		ovnCfg.DropDomainID = uint32(n)
		return err
	})
	fs.StringVar(&ovnCfg.NB, "ovn-nb", "", "OVN Northbound database to trace drops with (enrich.openstack.ovn.nb)")
	fs.StringVar(&ovnCfg.SB, "ovn-sb", "", "OVN Southbound database (enrich.openstack.ovn.sb)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := ndjson.New(ndjson.Config{Path: *out, Flows: *flows, Counters: *counters, Fields: *fields})
	if err != nil {
		return err
	}
	nopt := netflow.Options{}
	templates := netflow.NewTemplates(nopt)
	outs := []pipeline.Output{w}
	acc := accuracy.New(accuracy.Config{Windows: 1 << 16})
	if *accOut != "" {
		outs = append(outs, acc)
	}
	if err := ovnCfg.Validate(); err != nil {
		return err
	}
	pcfg := pipeline.Config{Wait: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if m := ovn.Start(ctx, ovnCfg, nil, log); m != nil {
		pcfg.Enrichers = append(pcfg.Enrichers, func() pipeline.Enricher { return m.NewEnricher() })
	}
	p := pipeline.New(pcfg, log, outs...)
	h := decode.New(decode.Config{SFlow: sflow.Options{IncludeFCS: *fcs}, NetFlow: nopt, Templates: templates}, p).Handler(decode.SFlow)
	var skipped pcapfile.Skips
	var other uint64
	for _, path := range fs.Args() {
		r, err := pcapfile.Open(path)
		if err != nil {
			p.Close()
			return fmt.Errorf("%s: %w", path, err)
		}
		for {
			d, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				r.Close()
				p.Close()
				return fmt.Errorf("%s: %w", path, err)
			}
			if *port != 0 && int(d.Dst.Port()) != *port {
				other++
				continue
			}
			h.Datagram(d.Payload, d.Src, d.Time)
			h.Flush()
		}
		s := r.Skipped()
		skipped.NotUDP += s.NotUDP
		skipped.Fragment += s.Fragment
		skipped.UnsupportedLink += s.UnsupportedLink
		skipped.Truncated += s.Truncated
		skipped.Malformed += s.Malformed
		r.Close()
	}
	if err := p.Close(); err != nil {
		return err
	}
	if *accOut != "" {
		b, err := json.MarshalIndent(acc.Report(accuracy.Query{}), "", "  ")
		if err == nil {
			err = os.WriteFile(*accOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			return err
		}
	}
	writeSummary(stderr, p.Agents.All(), templates.Pending(), nopt.PendingTTLOrDefault())
	if skipped.Total() > 0 || other > 0 {
		fmt.Fprintf(stderr, "not decoded: %d UDP datagrams to other ports than %d; packets skipped: %s\n", other, *port, skipped)
	}
	return nil
}

// writeSummary prints what each exporter's datagrams said besides their
// records: sequence numbers (loss, resets, late data), data that came
// before its template and what became of it, and decode errors by reason.
// pending is the data still held for a template when the capture ended.
func writeSummary(w io.Writer, list []agents.Snapshot, pending []netflow.PendingInfo, pendingTTL time.Duration) {
	for _, a := range list {
		fmt.Fprintf(w, "%s %s sub-agent/domain %d: %d datagrams, %d flows, %d counter samples; sequence: %d lost, %d resets, %d out of order\n",
			a.Input, a.Agent, int32(a.SubAgent), a.Datagrams, a.FlowSamples, a.CounterSamples, a.Lost, a.Resets, a.OutOfOrder)
		var waiting, waitingBytes int
		var ids []string
		for _, pi := range pending {
			if pi.Exporter == a.Agent && pi.Domain == a.SubAgent && inputOf(pi.Version) == a.Input {
				waiting += pi.Sets
				waitingBytes += pi.Bytes
				ids = append(ids, strconv.Itoa(int(pi.TemplateID)))
			}
		}
		if a.PendingHeld > 0 || waiting > 0 {
			expired, overflow := a.Errors["no_template_expired"], a.Errors["no_template_overflow"]
			fmt.Fprintf(w, "  data before its template: %d sets held; %d decoded when the template came, %d dropped after waiting %s for it, %d dropped at the pending limits, %d still waiting at the end",
				a.PendingHeld, a.PendingDecoded, expired, pendingTTL, overflow, waiting)
			if waiting > 0 {
				fmt.Fprintf(w, " (%d bytes; template %s never came)", waitingBytes, strings.Join(ids, ", "))
			}
			fmt.Fprintln(w)
		}
		if n := a.ErrorCount(); n > 0 {
			reasons := make([]string, 0, len(a.Errors))
			for r := range a.Errors {
				reasons = append(reasons, r)
			}
			sort.Strings(reasons)
			var b strings.Builder
			for i, r := range reasons {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%s %d", r, a.Errors[r])
			}
			fmt.Fprintf(w, "  decode errors: %d (%s)\n", n, b.String())
		} else {
			fmt.Fprintln(w, "  decode errors: 0")
		}
	}
	// Data of exporters the registry does not list (none expected: every
	// held set came in a datagram that was counted).
	for _, pi := range pending {
		known := false
		for _, a := range list {
			known = known || pi.Exporter == a.Agent && pi.Domain == a.SubAgent && inputOf(pi.Version) == a.Input
		}
		if !known {
			fmt.Fprintf(w, "%s %s domain %d: %d data sets still waiting at the end for template %d\n", inputOf(pi.Version), pi.Exporter, pi.Domain, pi.Sets, pi.TemplateID)
		}
	}
}

func inputOf(version uint16) flow.Input {
	if version == 9 {
		return flow.InputNetFlowV9
	}
	return flow.InputIPFIX
}
