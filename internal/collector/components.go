package collector

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/accuracy"
	"github.com/flowlens/flowlens/internal/aggregate"
	"github.com/flowlens/flowlens/internal/console"
	"github.com/flowlens/flowlens/internal/console/assets"
	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/enrich/geoip"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/enrich/ovn"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/neutronlog"
	"github.com/flowlens/flowlens/internal/input/udp"
	"github.com/flowlens/flowlens/internal/metrics"
	"github.com/flowlens/flowlens/internal/output/elasticsearch"
	"github.com/flowlens/flowlens/internal/output/ndjson"
	"github.com/flowlens/flowlens/internal/ovs"
	"github.com/flowlens/flowlens/internal/pipeline"
	"github.com/flowlens/flowlens/internal/store"
	"github.com/flowlens/flowlens/internal/unanswered"
)

// startMetrics comes first: /healthz answers and /readyz says "starting"
// while the rest starts, and a busy metrics port fails before any input
// is open.
func (c *Collector) startMetrics() error {
	c.metrics = metrics.New(c.opt.Version, c.opt.Revision, slog.NewLogLogger(c.log.Handler(), slog.LevelError))
	if c.cfg.Metrics.Listen == "" {
		return nil
	}
	srv, err := metrics.Listen(c.cfg.Metrics.Listen, c.metrics, c.log)
	if err != nil {
		return err
	}
	c.onStop("metrics listener", srv.Close)
	return nil
}

// startOutputs opens the outputs, each behind an aggregator when it keeps
// aggregates. Until the pipeline exists (and closes them), they are
// closed here.
func (c *Collector) startOutputs() error {
	var closers []func() error
	c.onStop("outputs", func() error {
		if c.pipeline != nil {
			return nil // the pipeline closed them
		}
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	})
	// add puts an output behind an aggregator or a queue of its own; on
	// error the output is closed.
	add := func(o pipeline.Output, aggregated bool) (*aggregate.Aggregator, error) {
		if !aggregated {
			c.outputs = append(c.outputs, o)
			closers = append(closers, o.Close)
			return nil, nil
		}
		agg, err := aggregate.New(c.cfg.Aggregate, o)
		if err != nil {
			o.Close()
			return nil, err
		}
		c.aggs = append(c.aggs, agg)
		closers = append(closers, agg.Close) // closes o too
		return agg, nil
	}
	out := &c.cfg.Output
	if out.NDJSON.Path != "" {
		w, err := ndjson.New(out.NDJSON)
		if err != nil {
			return err
		}
		if n := w.TornBytes(); n > 0 {
			c.log.Warn("NDJSON output: the file ended in an unfinished line, left by a run killed while writing it: cut off, so that the next record starts a line of its own",
				"path", out.NDJSON.Path, "bytes", n)
		}
		if _, err := add(w, out.NDJSON.Aggregate); err != nil {
			return err
		}
	}
	if c.cfg.Store.Enabled {
		st, err := store.Open(c.cfg.Store, c.log)
		if err != nil {
			return err
		}
		// The store keeps aggregates: one row per key and interval.
		agg, err := add(st, true)
		if err != nil {
			return err
		}
		// The console sees the current interval within seconds.
		st.SetLive(agg.Live)
		c.store = st
		c.register(st.Metrics())
	}
	if ecfg := out.Elasticsearch; len(ecfg.URLs) > 0 {
		es, err := elasticsearch.New(ecfg, c.log)
		if err != nil {
			return err
		}
		if _, err := add(es, ecfg.Aggregate); err != nil {
			return err
		}
		c.es = es
		c.register(es.Metrics())
	}
	if len(c.aggs) > 0 {
		c.register(aggregate.Metrics(c.aggs...))
	}
	if len(c.outputs) == 0 && len(c.aggs) == 0 {
		c.log.Warn("no output is configured: records are decoded and counted, then discarded (set output.ndjson.path)")
	}
	return nil
}

// startEnrichment opens the GeoIP databases and starts the OpenStack and
// OVN sources; each runs until Stop.
func (c *Collector) startEnrichment() error {
	cfg := &c.cfg.Enrich
	if cfg.GeoIP.Enabled() {
		db, err := geoip.Open(cfg.GeoIP, c.log)
		if err != nil {
			return err
		}
		done := make(chan struct{})
		go db.Run(done)
		c.geo = db
		c.register(db.Metrics())
		c.onStop("geoip", func() error { close(done); db.Close(); return nil })
		loaded, missing := db.Databases()
		c.log.Info("GeoIP enrichment on", "databases", len(loaded), "city", cfg.GeoIP.CityDatabases, "asn", cfg.GeoIP.ASNDatabases,
			"waiting_for", missing)
		if a := db.Attribution(); a != "" {
			c.log.Info("GeoIP data licence", "attribution", a)
		}
		if cfg.GeoIP.Download.Enabled {
			// In the background: without network the collector runs on,
			// and says what failed and what to set.
			c.geoRefresh = geoip.NewRefresher(cfg.GeoIP.Download, c.log, func() {
				if _, err := db.Reload(); err != nil {
					c.log.Warn("GeoIP reload after download failed; keeping the loaded databases", "error", err)
				}
			})
			ctx, cancel := context.WithCancel(c.ctx)
			c.onStop("geoip download", func() error { cancel(); return nil })
			go c.geoRefresh.Run(ctx)
		}
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.onStop("openstack sources", func() error { cancel(); return nil })
	inv, api, err := openstack.Start(ctx, cfg.OpenStack.Config, c.log)
	if err != nil {
		return err
	}
	c.inventory, c.api = inv, api
	c.register(inv.Metrics())
	if c.ovn = ovn.Start(ctx, cfg.OpenStack.OVN, inv, c.log); c.ovn != nil {
		c.register(c.ovn.Metrics())
	}
	return nil
}

// startPipeline connects the decoders, the enrichers and the observers to
// the outputs.
func (c *Collector) startPipeline() error {
	cfg := c.cfg
	// Before aggregation: it needs every sample's rate, size and ports.
	// It observes each batch in the input goroutine rather than being an
	// output: no queue of batches held for it, no goroutine woken per
	// batch (BENCHMARKS.md section 9).
	c.accuracy = accuracy.New(accuracy.Config{})
	pcfg := pipeline.Config{QueueRecords: cfg.Pipeline.QueueRecords, Observers: []pipeline.Observer{c.accuracy}}
	// Aggregators sum in the input goroutines too: an aggregator is a map
	// under a lock, and its writes to the store or output behind it go
	// through a goroutine of its own. The pipeline closes them.
	for _, a := range c.aggs {
		pcfg.Observers = append(pcfg.Observers, a)
	}
	// Unanswered connection attempts, for the console: every sample too.
	if cfg.Console.Enabled {
		c.unanswered = unanswered.New(cfg.Console.Unanswered)
		pcfg.Observers = append(pcfg.Observers, c.unanswered)
	}
	if db := c.geo; db != nil {
		pcfg.Enrichers = append(pcfg.Enrichers, func() pipeline.Enricher { return db.NewEnricher() })
	}
	// After GeoIP: the relation uses the direction it sets.
	inv := c.inventory
	pcfg.Enrichers = append(pcfg.Enrichers, func() pipeline.Enricher { return inv.NewEnricher() })
	// Aggregates are attributed again when written: samples from before
	// the inventory (or OVN's databases) was read get names too.
	refresh := []func(*flow.Record){inv.Enrich}
	// OVN drop samples: after OpenStack, whose port ids stand in for MACs
	// the Northbound does not list.
	if m := c.ovn; m != nil {
		pcfg.Enrichers = append(pcfg.Enrichers, func() pipeline.Enricher { return m.NewEnricher() })
		refresh = append(refresh, m.Refresh)
	}
	for _, a := range c.aggs {
		a.SetRefresh(func(r *flow.Record) {
			for _, f := range refresh {
				f(r)
			}
		})
	}
	if len(cfg.Input.NeutronLog.Files) > 0 {
		// After OpenStack: which end is the logged port, and its security groups.
		pcfg.Enrichers = append(pcfg.Enrichers, func() pipeline.Enricher { return neutronlog.Enricher{Groups: inv.SecurityGroups} })
	}
	nf := &cfg.Input.NetFlow
	rates, _ := nf.Rates() // checked when the configuration was loaded
	dcfg := decode.Config{SFlow: sflow.Options{IncludeFCS: cfg.Input.SFlow.IncludeFCS},
		NetFlow: netflow.Options{DefaultSamplingRate: nf.DefaultSamplingRate, SamplingRates: rates, TemplateTTL: nf.TemplateTTL}}
	// Every socket decodes NetFlow/IPFIX (the version tells): one
	// template cache, expired and reported whether or not the NetFlow
	// input listens; saved to the template file only when it does.
	dcfg.Templates = netflow.NewTemplates(dcfg.NetFlow)
	if len(nf.Listen) > 0 {
		c.templateFile = nf.TemplateFile
	}
	dcfg.Templates.LoadFile(c.templateFile, c.log)
	c.pipeline = pipeline.New(pcfg, c.log, c.outputs...)
	c.decoders = decode.New(dcfg, c.pipeline)
	c.register(c.pipeline.Metrics())
	c.register(c.pipeline.Agents.Metrics())
	c.register(c.pipeline.Inventory.Metrics())
	c.register(c.accuracy.Metrics())
	c.register(dcfg.Templates.Metrics())
	c.onStop("pipeline", func() error {
		// The inputs have stopped: what the outputs hold is written.
		if err := c.pipeline.Close(); err != nil {
			c.log.Error("closing outputs", "error", err)
		}
		if c.templateFile != "" {
			if err := dcfg.Templates.SaveFile(c.templateFile); err != nil {
				c.log.Error("saving NetFlow/IPFIX templates", "error", err)
			}
		}
		c.logSummary()
		return nil
	})
	return nil
}

// listen opens the input sockets (or takes those systemd passed:
// flowlens.socket outlives this process, so restarts lose no datagram).
// They are read from the "running" step on.
func (c *Collector) listen() error {
	act, err := udp.Activation()
	if err != nil {
		return err
	}
	if c.sflow, err = udp.ListenActivated(c.cfg.Input.SFlow.Config, c.log, act); err != nil {
		return err
	}
	c.onStop("sFlow sockets", func() error { c.sflow.Close(); return nil })
	if nf := c.cfg.Input.NetFlow; len(nf.Listen) > 0 {
		if c.netflow, err = udp.ListenActivated(nf.Config, c.log, act); err != nil {
			return err
		}
		c.onStop("NetFlow/IPFIX sockets", func() error { c.netflow.Close(); return nil })
	}
	inputs := map[string]*udp.Listener{"sflow": c.sflow}
	if c.netflow != nil {
		inputs["netflow"] = c.netflow
	}
	c.register(udp.Metrics(inputs))
	if act.Len() > 0 {
		n := 0
		for _, l := range c.listeners() {
			n += l.Activated()
		}
		c.log.Info("socket activation: reading the sockets the service manager passed", "passed", act.Len(), "used", n)
		if u := act.Unused(); len(u) > 0 {
			c.log.Warn("socket activation passed UDP sockets that no input listens on: nothing reads them; make the socket unit's ListenDatagram= match input.sflow.listen and input.netflow.listen",
				"unused", strings.Join(u, ","))
		}
	}
	return nil
}

func (c *Collector) listeners() []*udp.Listener {
	if c.netflow == nil {
		return []*udp.Listener{c.sflow}
	}
	return []*udp.Listener{c.sflow, c.netflow}
}

// startConsole serves the web console and its API over the store, with
// the health and metrics endpoints.
func (c *Collector) startConsole() error {
	if c.store != nil {
		c.restoreAgents()
	}
	if !c.cfg.Console.Enabled {
		return nil
	}
	cfg := c.cfg
	addrs := c.sflow.Addrs()
	listen := map[string][]string{"sflow": uniq(addrs)}
	if c.netflow != nil {
		listen["netflow"] = uniq(c.netflow.Addrs())
	}
	var api http.Handler = console.NewAPI(c.store, c.pipeline.Agents, c.pipeline.Inventory, console.StatusInfo{
		Version: c.opt.Build, Started: time.Now(), Listen: listen, QueryTimeout: cfg.Console.QueryTimeout,
		Enrichment: c.enrichmentStatus, Interval: cfg.Aggregate.Interval, Ports: c.inventory.Ports,
		SetupHint: ovs.ShellQuote(append([]string{"ovs-vsctl"}, ovs.Command(ovs.Settings{Agent: agentHint(),
			Target: "COLLECTOR_IP:" + port(addrs[0]), Sampling: 64, Polling: 10, Header: 128}, []string{"br-int"})...)),
	})
	api = console.WithAccuracy(api, c.accuracy, nil)
	api = console.WithUnanswered(api, c.unanswered, nil)
	ccfg := cfg.Console
	ccfg.Assets = assets.FS
	srv, err := console.NewServer(ccfg, api, c.log)
	if err != nil {
		return err
	}
	// The health checks open, the metrics behind the console's
	// authentication.
	srv.Handle(metrics.MetricsPath, c.metrics.Handler())
	srv.HandlePublic(metrics.HealthPath, metrics.Healthz())
	srv.HandlePublic(metrics.ReadyPath, metrics.Readyz(c.metrics.Ready))
	if err := srv.Start(); err != nil {
		return err
	}
	c.console = srv
	c.onStop("console", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		return nil
	})
	return nil
}

// run starts reading: the sockets, the packet logs, the periodic work.
func (c *Collector) run() error {
	cfg := c.cfg
	addrs := c.sflow.Addrs()
	attrs := []any{"version", c.opt.Build, "sflow", strings.Join(uniq(addrs), ","), "sockets", len(addrs), "ndjson", cfg.Output.NDJSON.Path}
	if c.netflow != nil {
		attrs = append(attrs, "netflow_ipfix", strings.Join(uniq(c.netflow.Addrs()), ","))
	}
	if c.console != nil {
		attrs = append(attrs, "console", consoleURL(c.console.Addr().String(), cfg.Console))
	}
	c.log.Info("flowlens started", attrs...)
	c.opt.Notify("READY=1\nSTATUS=collecting")
	c.log.Info("to export sFlow from Open vSwitch to here, run `flowlens ovs configure --target <this host's IP>:" + port(addrs[0]) +
		"` (prints the ovs-vsctl command; --apply runs it), and `flowlens ovs check` to see what bridges export")

	ctx := c.ctx
	if cfg.Log.StatsInterval > 0 {
		go c.statsLoop(ctx, cfg.Log.StatsInterval)
	}
	go c.decoders.Templates().Maintain(ctx, c.templateFile, c.log)
	read := func(l *udp.Listener, p decode.Protocol) {
		c.inputs.Add(1)
		go func() {
			defer c.inputs.Done()
			if err := l.Run(ctx, func(int) udp.Handler { return c.decoders.Handler(p) }); err != nil {
				c.inputFailed(err)
			}
		}()
	}
	read(c.sflow, decode.SFlow)
	if c.netflow != nil {
		read(c.netflow, decode.NetFlow)
	}
	if c.opt.Feed != nil && c.store != nil {
		c.inputs.Add(1)
		go func() {
			defer c.inputs.Done()
			c.opt.Feed(ctx, c.store)
		}()
	}
	c.neutron = neutronlog.Start(ctx, cfg.Input.NeutronLog.Files, func() func([]flow.Record) {
		return c.pipeline.NewHandler().Records
	}, c.log)
	if len(c.neutron.List) > 0 {
		c.register(c.neutron.Metrics())
	}
	c.metrics.Ready.SetReady()
	c.onStop("inputs", func() error {
		c.metrics.Ready.NotReady("shutting down")
		c.opt.Notify("STOPPING=1")
		c.inputs.Wait()
		c.neutron.Wait() // they hand records to the pipeline
		return nil
	})
	return nil
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
