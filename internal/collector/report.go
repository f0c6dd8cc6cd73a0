package collector

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/flowlens/flowlens/internal/agents"
	"github.com/flowlens/flowlens/internal/enrich/geoip"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/flow"
)

// enrichmentStatus reports, for /api/v1/status, what each enrichment
// source is and what it has done: an operator must see at once why names
// or countries are missing.
func (c *Collector) enrichmentStatus() any {
	return map[string]any{
		"geoip":     geoip.Status(c.cfg.Enrich.GeoIP, c.geo, c.geoRefresh),
		"openstack": openstack.Status(c.cfg.Enrich.OpenStack.Config, c.inventory, c.api),
	}
}

type totals struct {
	datagrams, flows, counters, lost, errors, kernelDrops, outDropped uint64
}

func (c *Collector) totals() totals {
	var t totals
	for _, a := range c.pipeline.Agents.All() {
		t.datagrams += a.Datagrams
		t.flows += a.FlowSamples
		t.counters += a.CounterSamples
		t.lost += a.Lost
		t.errors += a.ErrorCount()
	}
	for _, ln := range c.listeners() {
		for _, s := range ln.Stats() {
			t.kernelDrops += s.KernelDrops + s.Truncated
		}
	}
	for _, o := range c.pipeline.Outputs() {
		t.outDropped += o.Dropped + o.Errored
	}
	return t
}

// statsLoop logs rates and losses every log.stats_interval, as a warning
// when something was lost.
func (c *Collector) statsLoop(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	prev := c.totals()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t := c.totals()
		secs := every.Seconds()
		level := slog.LevelInfo
		if t.lost > prev.lost || t.kernelDrops > prev.kernelDrops || t.outDropped > prev.outDropped {
			level = slog.LevelWarn
		}
		c.log.Log(ctx, level, "stats",
			"datagrams_per_s", fmt.Sprintf("%.1f", float64(t.datagrams-prev.datagrams)/secs),
			"flow_samples_per_s", fmt.Sprintf("%.1f", float64(t.flows-prev.flows)/secs),
			"agents", len(c.pipeline.Agents.All()),
			"datagrams", t.datagrams, "lost_by_sequence", t.lost, "decode_errors", t.errors,
			"kernel_drops", t.kernelDrops, "output_dropped", t.outDropped)
		prev = t
	}
}

// logSummary writes one line per exporter, socket and output, so that a
// run's health is in its log even without metrics.
func (c *Collector) logSummary() {
	log := c.log
	for _, a := range c.pipeline.Agents.All() {
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
	if c.sflow != nil {
		for _, ln := range c.listeners() {
			for _, s := range ln.Stats() {
				log.Info("socket summary", "address", s.Addr, "datagrams", s.Datagrams, "kernel_drops", s.KernelDrops,
					"truncated", s.Truncated, "receive_buffer", s.ReceiveBuffer)
			}
		}
	}
	for _, o := range c.pipeline.Outputs() {
		log.Info("output summary", "output", o.Name, "written", o.Written, "dropped", o.Dropped, "failed", o.Errored)
	}
	for _, a := range c.aggs {
		st := a.Stats()
		log.Info("aggregate summary", "output", a.Name(), "records", st.Records, "aggregates", st.Aggregates,
			"overflowed", st.Overflowed, "late", st.Late, "dropped", st.Dropped, "write_errors", st.WriteErrors)
	}
	if c.es != nil {
		st := c.es.Stats()
		log.Info("elasticsearch summary", "accepted", st.Accepted, "indexed", st.Indexed, "duplicates", st.Duplicates,
			"dead_lettered", st.DeadLettered, "retried", st.Retried, "dropped", st.Dropped,
			"spooled_documents", st.Spool.Documents, "spooled_bytes", st.Spool.Bytes)
	}
}

// restoreAgents lists the exporters the store has flows or counters from,
// so that after a restart the console shows them, with when they were last
// heard, before they send again.
func (c *Collector) restoreAgents() {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	list, err := c.store.Exporters(ctx)
	if err != nil {
		c.log.Warn("could not list the exporters known from before the restart; the agents page lists them again when they send", "error", err)
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
	c.pipeline.Agents.Restore(seen)
}
