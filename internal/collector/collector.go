// Package collector is one flowlens collector's lifecycle: it builds every
// component from one configuration, starts them in the data's order
// (metrics, outputs, enrichment, pipeline, inputs, console), runs until its
// context ends or an input fails, and stops them in reverse order. When a
// component fails to start, what was already started is stopped, in
// reverse order, before the error is returned: nothing is left open.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flowlens/flowlens/internal/accuracy"
	"github.com/flowlens/flowlens/internal/aggregate"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/console"
	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/enrich/geoip"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/enrich/ovn"
	"github.com/flowlens/flowlens/internal/input/neutronlog"
	"github.com/flowlens/flowlens/internal/input/udp"
	"github.com/flowlens/flowlens/internal/metrics"
	"github.com/flowlens/flowlens/internal/output/elasticsearch"
	"github.com/flowlens/flowlens/internal/pipeline"
	"github.com/flowlens/flowlens/internal/store"
	"github.com/flowlens/flowlens/internal/unanswered"
)

// Options is what the collector needs besides the configuration.
type Options struct {
	// Version and Revision are reported by /metrics; Build, the whole
	// version line, by the log and the console.
	Version, Revision, Build string
	// Notify tells the service manager about the state ("READY=1",
	// "STOPPING=1"; see sd_notify(3)); nil: nobody to tell.
	Notify func(state string)
	// Feed, if set and the store is on, writes records to the store
	// beside the inputs until ctx ends; it is stopped with the inputs,
	// before the store closes (flowlens demo's synthetic cloud).
	Feed func(ctx context.Context, st *store.Store)
}

// Collector is one running flowlens. Use it once: Start, then Stop (or
// Run, which does both).
type Collector struct {
	cfg  *config.Config
	log  *slog.Logger
	opt  Options
	ctx  context.Context // ends when Stop begins: what the inputs and sources run under
	stop context.CancelFunc

	mu      sync.Mutex
	stack   []step // what was started, in order
	stopped bool
	failed  chan error // an input that stopped on its own

	metrics    *metrics.Metrics
	outputs    []pipeline.Output // per-sample outputs, behind the pipeline's queues
	aggs       []*aggregate.Aggregator
	store      *store.Store
	es         *elasticsearch.Output
	accuracy   *accuracy.Tracker
	unanswered *unanswered.Tracker
	geo        *geoip.DB
	geoRefresh *geoip.Refresher
	inventory  *openstack.Inventory
	api        *openstack.APISource
	ovn        *ovn.Mapper
	decoders   *decode.Decoders
	// templateFile: where NetFlow/IPFIX templates are kept across
	// restarts ("" when the NetFlow input does not listen).
	templateFile string
	pipeline     *pipeline.Pipeline
	sflow        *udp.Listener
	netflow      *udp.Listener // nil: no NetFlow/IPFIX input
	console      *console.Server
	neutron      *neutronlog.Followers
	inputs       sync.WaitGroup
}

// step is one started component and how to stop it.
type step struct {
	name string
	stop func() error
}

// New returns a collector for cfg; nothing is started yet.
func New(cfg *config.Config, log *slog.Logger, opt Options) *Collector {
	if opt.Notify == nil {
		opt.Notify = func(string) {}
	}
	return &Collector{cfg: cfg, log: log, opt: opt, failed: make(chan error, 2)}
}

// Run starts the collector, runs it until ctx ends or an input fails, then
// stops it. The error is the start's, an input's, or the stop's.
func (c *Collector) Run(ctx context.Context) error {
	if err := c.Start(); err != nil {
		return err
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-c.failed: // one input failed: stop the others too
	}
	if serr := c.Stop(); err == nil {
		err = serr
	}
	return err
}

// Start builds and starts every component in order. On error, what was
// started is stopped in reverse order and the error says which component
// failed and what to do.
func (c *Collector) Start() error {
	c.ctx, c.stop = context.WithCancel(context.Background())
	for _, s := range []struct {
		name  string
		start func() error
	}{
		{"metrics", c.startMetrics},
		{"outputs", c.startOutputs},
		{"enrichment", c.startEnrichment},
		{"pipeline", c.startPipeline},
		{"inputs", c.listen},
		{"console", c.startConsole},
		{"running", c.run},
	} {
		if err := s.start(); err != nil {
			if serr := c.Stop(); serr != nil {
				c.log.Error("stopping what had started", "error", serr)
			}
			return err
		}
	}
	return nil
}

// onStop adds a started component's stop to the stack.
func (c *Collector) onStop(name string, stop func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stack = append(c.stack, step{name, stop})
}

// Stop stops what was started, in reverse order: the inputs first (the
// service is then not ready), the console, the pipeline (whose outputs
// write what they hold), the enrichment sources, the metrics listener
// last, so that a scrape during the shutdown still sees the outputs drain.
// Stopping twice is harmless.
func (c *Collector) Stop() error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	stack := c.stack
	c.mu.Unlock()
	if c.stop != nil {
		c.stop()
	}
	var errs []error
	for i := len(stack) - 1; i >= 0; i-- {
		start := time.Now()
		if err := stack[i].stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", stack[i].name, err))
		}
		c.log.Debug("stopped", "component", stack[i].name, "took", time.Since(start).Round(time.Millisecond))
	}
	return errors.Join(errs...)
}

// inputFailed reports an input that stopped on its own.
func (c *Collector) inputFailed(err error) {
	select {
	case c.failed <- err:
	default:
	}
}
