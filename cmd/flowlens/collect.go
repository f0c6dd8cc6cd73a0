package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/flowlens/flowlens/internal/accuracy"
	"github.com/flowlens/flowlens/internal/agents"
	"github.com/flowlens/flowlens/internal/aggregate"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/console"
	"github.com/flowlens/flowlens/internal/console/assets"
	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/enrich/geoip"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/neutronlog"
	"github.com/flowlens/flowlens/internal/input/udp"
	"github.com/flowlens/flowlens/internal/output/elasticsearch"
	"github.com/flowlens/flowlens/internal/output/ndjson"
	"github.com/flowlens/flowlens/internal/ovs"
	"github.com/flowlens/flowlens/internal/pipeline"
	"github.com/flowlens/flowlens/internal/store"
	"github.com/flowlens/flowlens/internal/unanswered"
)

// loadConfig parses the common flags (--config and every setting) and
// builds the configuration.
func loadConfig(fs *flag.FlagSet, args []string) (*config.Config, error) {
	path := fs.String("config", os.Getenv(config.EnvPrefix+"CONFIG"), "YAML configuration file (default: built-in defaults; env FLOWLENS_CONFIG)")
	settings := config.Flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (settings are flags: --name=value)", fs.Arg(0))
	}
	return config.Load(*path, os.Environ(), settings)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdRun(args []string, stderr io.Writer) error {
	fs := newFlagSet("flowlens run", stderr)
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	mx, err := startMetrics(cfg.Metrics, log)
	if err != nil {
		return err
	}
	defer mx.close()

	var outputs []pipeline.Output
	var aggs []*aggregate.Aggregator
	if cfg.Output.NDJSON.Path != "" {
		w, err := ndjson.New(cfg.Output.NDJSON)
		if err != nil {
			return err
		}
		if n := w.TornBytes(); n > 0 {
			log.Warn("NDJSON output: the file ended in an unfinished line, left by a run killed while writing it: cut off, so that the next record starts a line of its own",
				"path", cfg.Output.NDJSON.Path, "bytes", n)
		}
		if cfg.Output.NDJSON.Aggregate {
			agg, err := aggregate.New(cfg.Aggregate, w)
			if err != nil {
				return err
			}
			aggs = append(aggs, agg)
		} else {
			outputs = append(outputs, w)
		}
	}
	var st *store.Store
	if cfg.Store.Enabled {
		if st, err = store.Open(cfg.Store, log); err != nil {
			return err
		}
		// The store keeps aggregates: one row per key and interval.
		agg, err := aggregate.New(cfg.Aggregate, st)
		if err != nil {
			st.Close()
			return err
		}
		// The console sees the current interval within seconds.
		st.SetLive(agg.Live)
		aggs = append(aggs, agg)
	}
	var es *elasticsearch.Output
	if ecfg := cfg.Output.Elasticsearch; len(ecfg.URLs) > 0 {
		if es, err = elasticsearch.New(ecfg, log); err != nil {
			return err
		}
		if ecfg.Aggregate {
			agg, err := aggregate.New(cfg.Aggregate, es)
			if err != nil {
				return err
			}
			aggs = append(aggs, agg)
		} else {
			outputs = append(outputs, es)
		}
	}
	if len(outputs) == 0 && len(aggs) == 0 {
		log.Warn("no output is configured: records are decoded and counted, then discarded (set output.ndjson.path)")
	}
	// Before aggregation: it needs every sample's rate, size and ports.
	// It observes each batch in the input goroutine rather than being an
	// output: no queue of batches held for it, no goroutine woken per
	// batch (BENCHMARKS.md section 9).
	acc := accuracy.New(accuracy.Config{})
	pcfg := pipeline.Config{
		QueueRecords: cfg.Pipeline.QueueRecords,
		Observers:    []pipeline.Observer{acc},
	}
	// Aggregators sum in the input goroutines too: an aggregator is a
	// map under a lock, and its writes to the store or output behind it
	// go through a goroutine of its own. p.Close closes them.
	for _, a := range aggs {
		pcfg.Observers = append(pcfg.Observers, a)
	}
	// Unanswered connection attempts, for the console: every sample too.
	var una *unanswered.Tracker
	if cfg.Console.Enabled {
		una = unanswered.New(cfg.Console.Unanswered)
		pcfg.Observers = append(pcfg.Observers, una)
	}
	stopEnrich := make(chan struct{})
	defer close(stopEnrich)
	var geo *geoip.DB
	var geoRefresh *geoip.Refresher
	if cfg.Enrich.GeoIP.Enabled() {
		db, err := geoip.Open(cfg.Enrich.GeoIP, log)
		if err != nil {
			return err
		}
		defer db.Close()
		geo = db
		go db.Run(stopEnrich)
		pcfg.Enrichers = append(pcfg.Enrichers, func() pipeline.Enricher { return db.NewEnricher() })
		loaded, missing := db.Databases()
		log.Info("GeoIP enrichment on", "databases", len(loaded), "city", cfg.Enrich.GeoIP.CityDatabases, "asn", cfg.Enrich.GeoIP.ASNDatabases,
			"waiting_for", missing)
		if a := db.Attribution(); a != "" {
			log.Info("GeoIP data licence", "attribution", a)
		}
		if cfg.Enrich.GeoIP.Download.Enabled {
			// In the background: without network the collector runs on,
			// and says what failed and what to set.
			geoRefresh = geoip.NewRefresher(cfg.Enrich.GeoIP.Download, log, func() {
				if _, err := db.Reload(); err != nil {
					log.Warn("GeoIP reload after download failed; keeping the loaded databases", "error", err)
				}
			})
			refreshCtx, stopRefresh := context.WithCancel(context.Background())
			defer stopRefresh()
			go geoRefresh.Run(refreshCtx)
		}
	}
	enrichCtx, stopSources := context.WithCancel(context.Background())
	defer stopSources()
	osInv, osAPI, err := startOpenStackSources(enrichCtx, cfg.Enrich.OpenStack, log)
	if err != nil {
		return err
	}
	// After GeoIP: the relation uses the direction it sets.
	pcfg.Enrichers = append(pcfg.Enrichers, func() pipeline.Enricher { return osInv.NewEnricher() })
	// Aggregates are attributed again when written: samples from before
	// the inventory (or OVN's databases) was read get names too.
	refresh := []func(*flow.Record){osInv.Enrich}
	// OVN drop samples: after OpenStack, whose port ids stand in for
	// MACs the Northbound does not list.
	ovnMap := startOVN(enrichCtx, cfg.Enrich.OpenStack.OVN, osInv, log)
	if ovnMap != nil {
		pcfg.Enrichers = append(pcfg.Enrichers, func() pipeline.Enricher { return ovnMap.NewEnricher() })
		refresh = append(refresh, ovnMap.Refresh)
	}
	for _, a := range aggs {
		a.SetRefresh(func(r *flow.Record) {
			for _, f := range refresh {
				f(r)
			}
		})
	}
	if len(cfg.Input.NeutronLog.Files) > 0 {
		// After OpenStack: which end is the logged port, and its security groups.
		pcfg.Enrichers = append(pcfg.Enrichers, func() pipeline.Enricher { return neutronlog.Enricher{Groups: osInv.SecurityGroups} })
	}
	nf := cfg.Input.NetFlow
	rates, _ := nf.Rates() // checked when the configuration was loaded
	dcfg := decode.Config{SFlow: sflow.Options{IncludeFCS: cfg.Input.SFlow.IncludeFCS},
		NetFlow: netflow.Options{DefaultSamplingRate: nf.DefaultSamplingRate, SamplingRates: rates, TemplateTTL: nf.TemplateTTL}}
	if len(nf.Listen) > 0 {
		dcfg.Templates = netflow.NewTemplates(dcfg.NetFlow)
		loadTemplates(nf.TemplateFile, dcfg.Templates, log)
	}
	p := pipeline.New(pcfg, log, outputs...)
	dec := decode.New(dcfg, p)

	// Sockets passed by systemd (flowlens.socket) outlive this process:
	// restarts lose no datagram.
	act, err := udp.Activation()
	if err != nil {
		p.Close()
		return err
	}
	var listeners []*udp.Listener
	ln, err := udp.ListenActivated(cfg.Input.SFlow.Config, log, act)
	if err != nil {
		p.Close()
		return err
	}
	listeners = append(listeners, ln)
	var nln *udp.Listener
	if len(nf.Listen) > 0 {
		if nln, err = udp.ListenActivated(nf.Config, log, act); err != nil {
			ln.Close()
			p.Close()
			return err
		}
		listeners = append(listeners, nln)
	}
	if act.Len() > 0 {
		n := 0
		for _, l := range listeners {
			n += l.Activated()
		}
		log.Info("socket activation: reading the sockets the service manager passed", "passed", act.Len(), "used", n)
		if u := act.Unused(); len(u) > 0 {
			log.Warn("socket activation passed UDP sockets that no input listens on: nothing reads them; make the socket unit's ListenDatagram= match input.sflow.listen and input.netflow.listen",
				"unused", strings.Join(u, ","))
		}
	}
	addrs := ln.Addrs()
	attrs := []any{"version", versionString(), "sflow", strings.Join(uniq(addrs), ","), "sockets", len(addrs), "ndjson", cfg.Output.NDJSON.Path}
	if nln != nil {
		attrs = append(attrs, "netflow_ipfix", strings.Join(uniq(nln.Addrs()), ","))
	}
	withAggs := append([]pipeline.Output(nil), outputs...)
	for _, a := range aggs {
		withAggs = append(withAggs, a)
	}
	mx.collect(p, withAggs, dcfg.Templates, geo, osInv, st, es, acc, ln, nln)
	if st != nil {
		restoreAgents(st, p.Agents, log)
	}
	var srv *console.Server
	if cfg.Console.Enabled {
		listen := map[string][]string{"sflow": uniq(addrs)}
		if nln != nil {
			listen["netflow"] = uniq(nln.Addrs())
		}
		var api http.Handler = console.NewAPI(st, p.Agents, p.Inventory, console.StatusInfo{
			Version: versionString(), Started: time.Now(), Listen: listen, QueryTimeout: cfg.Console.QueryTimeout,
			Enrichment: enrichmentStatus(cfg.Enrich, geo, geoRefresh, osInv, osAPI), Interval: cfg.Aggregate.Interval, Ports: osInv.Ports,
			SetupHint: ovs.ShellQuote(append([]string{"ovs-vsctl"}, ovs.Command(ovs.Settings{Agent: agentHint(),
				Target: "COLLECTOR_IP:" + port(addrs[0]), Sampling: 64, Polling: 10, Header: 128}, []string{"br-int"})...)),
		})
		api = console.WithAccuracy(api, acc, nil)
		api = console.WithUnanswered(api, una, nil)
		ccfg := cfg.Console
		ccfg.Assets = assets.FS
		if srv, err = console.NewServer(ccfg, api, log); err == nil {
			mx.serveOn(srv)
			err = srv.Start()
		}
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			p.Close()
			return err
		}
		attrs = append(attrs, "console", consoleURL(srv.Addr().String(), ccfg))
	}
	log.Info("flowlens started", attrs...)
	notifySystemd(log, "READY=1\nSTATUS=collecting")
	log.Info("to export sFlow from Open vSwitch to here, run `flowlens ovs configure --target <this host's IP>:" + port(addrs[0]) +
		"` (prints the ovs-vsctl command; --apply runs it), and `flowlens ovs check` to see what bridges export")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if cfg.Log.StatsInterval > 0 {
		go statsLoop(ctx, log, cfg.Log.StatsInterval, p, listeners)
	}
	if dcfg.Templates != nil {
		go templateLoop(ctx, nf.TemplateFile, dcfg.Templates, log)
	}
	errs := make(chan error, len(listeners))
	go func() { errs <- ln.Run(ctx, func(int) udp.Handler { return dec.Handler(decode.SFlow) }) }()
	if nln != nil {
		go func() { errs <- nln.Run(ctx, func(int) udp.Handler { return dec.Handler(decode.NetFlow) }) }()
	}
	nlogs, followers := startNeutronLogs(ctx, cfg.Input.NeutronLog, p, log)
	if ovnMap != nil || len(followers) > 0 {
		mx.m.Registry.MustRegister(&blockedCollector{ovn: ovnMap, followers: followers})
	}
	mx.ready(ctx)
	for range listeners {
		if e := <-errs; e != nil && err == nil {
			err = e
			stop() // one input failed: stop the others too
		}
	}
	stop()
	notifySystemd(log, "STOPPING=1")
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	nlogs.Wait() // they hand records to the pipeline
	if cerr := p.Close(); cerr != nil {
		log.Error("closing outputs", "error", cerr)
	}
	if dcfg.Templates != nil && nf.TemplateFile != "" {
		if serr := saveTemplates(nf.TemplateFile, dcfg.Templates); serr != nil {
			log.Error("saving NetFlow/IPFIX templates", "error", serr)
		}
	}
	logSummary(log, p, listeners, aggs)
	if es != nil {
		st := es.Stats()
		log.Info("elasticsearch summary", "accepted", st.Accepted, "indexed", st.Indexed, "duplicates", st.Duplicates,
			"dead_lettered", st.DeadLettered, "retried", st.Retried, "dropped", st.Dropped,
			"spooled_documents", st.Spool.Documents, "spooled_bytes", st.Spool.Bytes)
	}
	return err
}

func agentHint() string {
	if i := ovs.DefaultInterface(); i != "" {
		return i
	}
	return "eth0"
}

func consoleURL(addr string, c console.Config) string {
	scheme := "http"
	if c.TLS.CertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + addr + "/"
}

func port(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}

func uniq(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

type totals struct {
	datagrams, flows, counters, lost, errors, kernelDrops, outDropped uint64
}

func collectTotals(p *pipeline.Pipeline, lns []*udp.Listener) totals {
	var t totals
	for _, a := range p.Agents.All() {
		t.datagrams += a.Datagrams
		t.flows += a.FlowSamples
		t.counters += a.CounterSamples
		t.lost += a.Lost
		t.errors += a.ErrorCount()
	}
	for _, ln := range lns {
		for _, s := range ln.Stats() {
			t.kernelDrops += s.KernelDrops + s.Truncated
		}
	}
	for _, o := range p.Outputs() {
		t.outDropped += o.Dropped + o.Errored
	}
	return t
}

func statsLoop(ctx context.Context, log *slog.Logger, every time.Duration, p *pipeline.Pipeline, ln []*udp.Listener) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	prev := collectTotals(p, ln)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t := collectTotals(p, ln)
		secs := every.Seconds()
		level := slog.LevelInfo
		if t.lost > prev.lost || t.kernelDrops > prev.kernelDrops || t.outDropped > prev.outDropped {
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "stats",
			"datagrams_per_s", fmt.Sprintf("%.1f", float64(t.datagrams-prev.datagrams)/secs),
			"flow_samples_per_s", fmt.Sprintf("%.1f", float64(t.flows-prev.flows)/secs),
			"agents", len(p.Agents.All()),
			"datagrams", t.datagrams, "lost_by_sequence", t.lost, "decode_errors", t.errors,
			"kernel_drops", t.kernelDrops, "output_dropped", t.outDropped)
		prev = t
	}
}

// logSummary writes one line per exporter, so a run's health is in its log
// even without metrics.
func logSummary(log *slog.Logger, p *pipeline.Pipeline, lns []*udp.Listener, aggs []*aggregate.Aggregator) {
	for _, a := range p.Agents.All() {
		sub := int64(a.SubAgent)
		if a.SubAgent == agents.NoSubAgent {
			sub = -1
		}
		attrs := []any{"agent", a.Agent.String(), "input", a.Input.String(), "sub_agent", sub, "datagrams", a.Datagrams,
			"samples", a.FlowSamples + a.CounterSamples, "flow_samples", a.FlowSamples,
			"counter_samples", a.CounterSamples, "lost", a.Lost, "resets", a.Resets,
			"out_of_order", a.OutOfOrder, "decode_errors", a.ErrorCount(), "unknown_records", a.UnknownRecords}
		for r, n := range a.Errors {
			attrs = append(attrs, "error_"+r, n)
		}
		log.Info("agent summary", attrs...)
	}
	for _, ln := range lns {
		for _, s := range ln.Stats() {
			log.Info("socket summary", "address", s.Addr, "datagrams", s.Datagrams, "kernel_drops", s.KernelDrops,
				"truncated", s.Truncated, "receive_buffer", s.ReceiveBuffer)
		}
	}
	for _, o := range p.Outputs() {
		log.Info("output summary", "output", o.Name, "written", o.Written, "dropped", o.Dropped, "failed", o.Errored)
	}
	for _, a := range aggs {
		st := a.Stats()
		log.Info("aggregate summary", "output", a.Name(), "records", st.Records, "aggregates", st.Aggregates,
			"overflowed", st.Overflowed, "late", st.Late, "dropped", st.Dropped, "write_errors", st.WriteErrors)
	}
}

// restoreAgents lists the exporters the store has flows or counters from,
// so that after a restart the console shows them, with when they were last
// heard, before they send again.
func restoreAgents(st *store.Store, reg *agents.Registry, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := st.Exporters(ctx)
	if err != nil {
		log.Warn("could not list the exporters known from before the restart; the agents page lists them again when they send", "error", err)
		return
	}
	seen := map[agents.Key]time.Time{}
	for _, e := range list {
		in, ok := flow.ParseInput(e.Input)
		if !ok {
			continue
		}
		seen[agents.Key{Agent: e.Agent, SubAgent: e.SubAgent, Input: in}] = e.LastSeen
	}
	reg.Restore(seen)
}
