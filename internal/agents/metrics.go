package agents

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var (
	agentLabels         = []string{"agent", "sub_agent", "input"}
	agentDatagrams      = metrics.Counter("flowlens_agent_datagrams_total", "Datagrams received from the exporter (an sFlow agent and sub-agent, or a NetFlow/IPFIX exporter and observation domain), bad ones included.", agentLabels...)
	agentBytes          = metrics.Counter("flowlens_agent_received_bytes_total", "UDP payload bytes received from the exporter.", agentLabels...)
	agentFlowSamples    = metrics.Counter("flowlens_agent_flow_samples_total", "sFlow flow samples, or NetFlow/IPFIX flow records, decoded.", agentLabels...)
	agentCounterSamples = metrics.Counter("flowlens_agent_counter_samples_total", "sFlow counter samples decoded.", agentLabels...)
	agentLost           = metrics.Counter("flowlens_agent_sequence_lost_total", "What sequence numbers say never arrived: datagrams for sFlow and NetFlow v9, flow records for NetFlow v5 and IPFIX.", agentLabels...)
	agentResets         = metrics.Counter("flowlens_agent_sequence_resets_total", "Exporter restarts seen in its sequence numbers.", agentLabels...)
	agentOutOfOrder     = metrics.Counter("flowlens_agent_out_of_order_total", "Datagrams older than some already received.", agentLabels...)
	agentUnknownRecords = metrics.Counter("flowlens_agent_unknown_records_total", "Records (sFlow) or sets (NetFlow/IPFIX) of unknown types skipped.", agentLabels...)
	agentOtherSources   = metrics.Counter("flowlens_agent_other_source_datagrams_total", "sFlow datagrams with this agent address from another UDP source than the first: two exporters claim one agent address.", agentLabels...)
	agentUnknownSamples = metrics.Counter("flowlens_agent_unknown_samples_total", "sFlow samples of unknown types skipped.", agentLabels...)
	agentErrors         = metrics.Counter("flowlens_agent_decode_errors_total", "Decode errors by reason: datagrams dropped, and samples, records or sets skipped inside good datagrams.", append(agentLabels, "reason")...)
	agentLastSeen       = metrics.Gauge("flowlens_agent_last_seen_timestamp_seconds", "When the exporter's last datagram arrived (Unix time).", agentLabels...)
)

// Metrics reports every exporter's counters when scraped.
func (r *Registry) Metrics() prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{agentDatagrams, agentBytes, agentFlowSamples, agentCounterSamples, agentLost, agentResets, agentOutOfOrder, agentUnknownRecords, agentOtherSources, agentUnknownSamples, agentErrors, agentLastSeen}, Read: func(ch chan<- prometheus.Metric) {
		for _, a := range r.All() {
			collectAgent(ch, &a)
		}
	}}
}

func collectAgent(ch chan<- prometheus.Metric, a *Snapshot) {
	sub := "none" // the datagrams whose header could not be read
	if a.SubAgent != NoSubAgent {
		sub = strconv.FormatUint(uint64(a.SubAgent), 10)
	}
	lv := []string{a.Agent.String(), sub, a.Input.String()}
	agentDatagrams.Emit(ch, float64(a.Datagrams), lv...)
	agentBytes.Emit(ch, float64(a.Bytes), lv...)
	agentFlowSamples.Emit(ch, float64(a.FlowSamples), lv...)
	agentCounterSamples.Emit(ch, float64(a.CounterSamples), lv...)
	agentLost.Emit(ch, float64(a.Lost), lv...)
	agentResets.Emit(ch, float64(a.Resets), lv...)
	agentOutOfOrder.Emit(ch, float64(a.OutOfOrder), lv...)
	agentUnknownRecords.Emit(ch, float64(a.UnknownRecords), lv...)
	agentUnknownSamples.Emit(ch, float64(a.UnknownSamples), lv...)
	agentOtherSources.Emit(ch, float64(a.OtherSources), lv...)
	agentLastSeen.Emit(ch, metrics.UnixSeconds(a.LastSeen), lv...)
	for reason, n := range a.Errors {
		agentErrors.Emit(ch, float64(n), lv[0], lv[1], lv[2], reason)
	}
}
