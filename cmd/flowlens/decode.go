package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/flowlens/flowlens/internal/accuracy"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/decode/sflow"
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
	accOut := fs.String("accuracy", "", "write the comparison of estimates with port counters (GET /api/v1/accuracy's answer) as JSON to this file")
	fcs := fs.Bool("include-fcs", false, "count the 4-byte Ethernet FCS in flow bytes (see input.sflow.include_fcs)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := ndjson.New(ndjson.Config{Path: *out, Flows: *flows, Counters: *counters})
	if err != nil {
		return err
	}
	nopt := netflow.Options{}
	outs := []pipeline.Output{w}
	acc := accuracy.New(accuracy.Config{Windows: 1 << 16})
	if *accOut != "" {
		outs = append(outs, acc)
	}
	p := pipeline.New(pipeline.Config{SFlow: sflow.Options{IncludeFCS: *fcs}, Wait: true,
		NetFlow: nopt, Templates: netflow.NewTemplates(nopt)}, log, outs...)
	h := p.SFlowHandler()
	nh := p.NetFlowHandler()
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
			if isNetFlow(d.Payload) {
				nh.Datagram(d.Payload, d.Src, d.Time)
				nh.Flush()
			} else {
				h.Datagram(d.Payload, d.Src, d.Time)
				h.Flush()
			}
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
	for _, a := range p.Agents.All() {
		fmt.Fprintf(stderr, "%s %s sub-agent/domain %d: %d datagrams, %d flows, %d counter samples, %d lost by sequence, %d decode errors %v\n",
			a.Input, a.Agent, int32(a.SubAgent), a.Datagrams, a.FlowSamples, a.CounterSamples, a.Lost, a.ErrorCount(), a.Errors)
	}
	if skipped.Total() > 0 || other > 0 {
		fmt.Fprintf(stderr, "not decoded: %d UDP datagrams to other ports than %d; packets skipped: %s\n", other, *port, skipped)
	}
	return nil
}

// isNetFlow tells NetFlow v5/v9 and IPFIX (a 16-bit version 5, 9 or 10)
// from sFlow (a 32-bit version 5, so its first two bytes are 0).
func isNetFlow(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	v := uint16(b[0])<<8 | uint16(b[1])
	return v == 5 || v == 9 || v == 10
}
