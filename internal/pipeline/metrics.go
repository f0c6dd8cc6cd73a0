package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var (
	outputWritten    = metrics.Counter("flowlens_output_records_written_total", "Records the output took from its queue (per-sample outputs; an aggregated output reports flowlens_aggregate_records_total).", "output")
	outputDropped    = metrics.Counter("flowlens_output_records_dropped_total", "Records dropped because the output's queue was full (the output is slower than the input).", "output")
	outputFailed     = metrics.Counter("flowlens_output_records_failed_total", "Records in writes the output failed.", "output")
	outputQueued     = metrics.Gauge("flowlens_output_queue_records", "Records waiting in the output's queue (as the memory their batches hold).", "output")
	outputQueueLimit = metrics.Gauge("flowlens_output_queue_limit_records", "Queue size beyond which records are dropped (pipeline.queue_records).", "output")
)

// Metrics reports each output's queue when scraped.
func (p *Pipeline) Metrics() prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{outputWritten, outputDropped, outputFailed, outputQueued, outputQueueLimit}, Read: func(ch chan<- prometheus.Metric) {
		for _, o := range p.Outputs() {
			outputWritten.Emit(ch, float64(o.Written), o.Name)
			outputDropped.Emit(ch, float64(o.Dropped), o.Name)
			outputFailed.Emit(ch, float64(o.Errored), o.Name)
			outputQueued.Emit(ch, float64(o.QueuedRecords), o.Name)
			outputQueueLimit.Emit(ch, float64(o.QueueLimit), o.Name)
		}
	}}
}
