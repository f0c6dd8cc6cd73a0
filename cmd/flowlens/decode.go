package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/output/ndjson"
	"github.com/flowlens/flowlens/internal/pipeline"
)

func cmdDecode(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("flowlens decode", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: flowlens decode [options] FILE.pcap|FILE.pcapng ...\n\nDecodes the sFlow datagrams of captures and prints the records as NDJSON\n(the same records `flowlens run` writes), then a summary on standard error.\n\nOptions:")
		fs.PrintDefaults()
	}
	port := fs.Int("port", 6343, "UDP destination port of the sFlow datagrams in the capture (0: every UDP datagram)")
	flows := fs.Bool("flows", true, "print flow records")
	counters := fs.Bool("counters", true, "print counter records")
	out := fs.String("output", "-", `file to write NDJSON to ("-": standard output)`)
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
	p := pipeline.New(pipeline.Config{SFlow: sflow.Options{IncludeFCS: *fcs}, Wait: true}, log, w)
	h := p.SFlowHandler()
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
	for _, a := range p.Agents.All() {
		fmt.Fprintf(stderr, "agent %s sub-agent %d: %d datagrams, %d flow samples, %d counter samples, %d lost by sequence, %d decode errors\n",
			a.Agent, int32(a.SubAgent), a.Datagrams, a.FlowSamples, a.CounterSamples, a.Lost, a.ErrorCount())
	}
	if skipped.Total() > 0 || other > 0 {
		fmt.Fprintf(stderr, "not decoded: %d UDP datagrams to other ports than %d; packets skipped: %s\n", other, *port, skipped)
	}
	return nil
}
