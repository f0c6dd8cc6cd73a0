package accuracy

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

// One series per port and direction compared (MaxPorts bounds them), over
// the windows the tracker keeps (10 minutes at polling=10), as GET
// /api/v1/accuracy without a range.
var (
	accLabels          = []string{"agent", "sub_agent", "port", "name", "direction"}
	accEstimateBytes   = metrics.Gauge("flowlens_accuracy_estimate_bytes", "Sampled estimate of the bytes through the port (in: entering the bridge from it, out: leaving into it), over the counter windows kept.", accLabels...)
	accCounterBytes    = metrics.Gauge("flowlens_accuracy_counter_bytes", "The port's octet counters over the same windows (frames without FCS, as the estimate).", accLabels...)
	accEstimatePackets = metrics.Gauge("flowlens_accuracy_estimate_packets", "Sampled estimate of the packets through the port over the counter windows kept.", accLabels...)
	accCounterPackets  = metrics.Gauge("flowlens_accuracy_counter_packets", "The port's packet counters over the same windows.", accLabels...)
	accSamples         = metrics.Gauge("flowlens_accuracy_samples", "Flow samples behind the estimate.", accLabels...)
	accDiffRatio       = metrics.Gauge("flowlens_accuracy_diff_ratio", "(estimate − counter) / counter, bytes; absent when there is not enough data.", accLabels...)
	accDiffSigma       = metrics.Gauge("flowlens_accuracy_diff_sigma", "Bytes estimate minus counter in standard deviations of the sampling error; beyond ±3 the estimate is off. Absent when there is not enough data.", accLabels...)
	accPacketsSigma    = metrics.Gauge("flowlens_accuracy_packets_diff_sigma", "The same for packets.", accLabels...)
	accPorts           = metrics.Gauge("flowlens_accuracy_ports", "Port directions by comparison status: ok, off, not enough data.", "status")
	accOverflow        = metrics.Counter("flowlens_accuracy_overflow_ports_total", "Ports not compared because the tracker's table was full.")
)

// Metrics reports the comparison of estimates with port counters when
// scraped.
func (t *Tracker) Metrics() prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{accEstimateBytes, accCounterBytes, accEstimatePackets, accCounterPackets, accSamples, accDiffRatio, accDiffSigma, accPacketsSigma, accPorts, accOverflow}, Read: func(ch chan<- prometheus.Metric) {
		collectAccuracy(ch, t.Report(Query{}))
	}}
}

func collectAccuracy(ch chan<- prometheus.Metric, rep Report) {
	status := map[string]int{StatusOK: 0, StatusOff: 0, StatusNoData: 0}
	for i := range rep.Ports {
		r := &rep.Ports[i]
		status[r.Status]++
		if r.Windows == 0 {
			continue // nothing to show but the status
		}
		lv := []string{r.Agent, strconv.FormatUint(uint64(r.SubAgent), 10), strconv.FormatUint(uint64(r.Index), 10), r.Name, r.Direction}
		accEstimateBytes.Emit(ch, float64(r.EstimateBytes), lv...)
		accCounterBytes.Emit(ch, float64(r.CounterBytes), lv...)
		accEstimatePackets.Emit(ch, float64(r.EstimatePackets), lv...)
		accCounterPackets.Emit(ch, float64(r.CounterPackets), lv...)
		accSamples.Emit(ch, float64(r.Samples), lv...)
		if r.DiffSigma != nil {
			accDiffRatio.Emit(ch, *r.DiffRatio, lv...)
			accDiffSigma.Emit(ch, *r.DiffSigma, lv...)
			accPacketsSigma.Emit(ch, *r.PacketsDiffSigma, lv...)
		}
	}
	for st, n := range status {
		accPorts.Emit(ch, float64(n), st)
	}
	accOverflow.Emit(ch, float64(rep.Overflow))
}
