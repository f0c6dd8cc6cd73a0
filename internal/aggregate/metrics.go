package aggregate

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var (
	aggRecords     = metrics.Counter("flowlens_aggregate_records_total", "Flow records aggregated.", "output")
	aggAggregates  = metrics.Counter("flowlens_aggregate_aggregates_total", "Aggregated records written.", "output")
	aggOverflowed  = metrics.Counter("flowlens_aggregate_overflowed_records_total", "Flow records summed into an overflow record because the interval had max_keys keys.", "output")
	aggLate        = metrics.Counter("flowlens_aggregate_late_records_total", "Flow records for an interval already written, counted in the current one.", "output")
	aggKeys        = metrics.Gauge("flowlens_aggregate_keys", "Keys in the current interval.", "output")
	aggDropped     = metrics.Counter("flowlens_aggregate_dropped_records_total", "Aggregates and counter records not passed on because the output had fallen 64 writes behind.", "output")
	aggWriteErrors = metrics.Counter("flowlens_aggregate_write_errors_total", "Writes of aggregates or counter records that the output failed.", "output")
	aggHeld        = metrics.Gauge("flowlens_aggregate_held_intervals", "Finished intervals waiting for room in the queue to the output (at most 2; beyond, the oldest is dropped and counted).", "output")
	aggQueued      = metrics.Gauge("flowlens_aggregate_queued_writes", "Writes waiting for the output (at most 64).", "output")
)

// Metrics reports each aggregator, labelled with the output it writes to,
// when scraped.
func Metrics(aggs ...*Aggregator) prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{aggRecords, aggAggregates, aggOverflowed, aggLate, aggKeys, aggDropped, aggWriteErrors, aggQueued, aggHeld}, Read: func(ch chan<- prometheus.Metric) {
		for _, a := range aggs {
			st, name := a.Stats(), a.Name()
			aggRecords.Emit(ch, float64(st.Records), name)
			aggAggregates.Emit(ch, float64(st.Aggregates), name)
			aggOverflowed.Emit(ch, float64(st.Overflowed), name)
			aggLate.Emit(ch, float64(st.Late), name)
			aggKeys.Emit(ch, float64(st.Keys), name)
			aggDropped.Emit(ch, float64(st.Dropped), name)
			aggWriteErrors.Emit(ch, float64(st.WriteErrors), name)
			aggQueued.Emit(ch, float64(st.Queued), name)
			aggHeld.Emit(ch, float64(st.Held), name)
		}
	}}
}
