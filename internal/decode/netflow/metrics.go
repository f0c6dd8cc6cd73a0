package netflow

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var (
	tplExporters       = metrics.Gauge("flowlens_netflow_template_exporters", "NetFlow v9/IPFIX exporters with templates or held data.")
	tplTemplates       = metrics.Gauge("flowlens_netflow_templates", "Data and options templates cached.")
	tplBytes           = metrics.Gauge("flowlens_netflow_template_bytes", "Memory of the cached templates.")
	tplPendingSets     = metrics.Gauge("flowlens_netflow_pending_sets", "Data sets held until their template arrives.")
	tplPendingBytes    = metrics.Gauge("flowlens_netflow_pending_bytes", "Memory of the held data sets.")
	tplPendingExpired  = metrics.Counter("flowlens_netflow_pending_expired_total", "Held data sets dropped: no template came in time.")
	tplPendingOverflow = metrics.Counter("flowlens_netflow_pending_overflow_total", "Held data sets dropped or refused: pending limits reached.")
	tplRejected        = metrics.Counter("flowlens_netflow_templates_rejected_total", "Templates and options entries refused: cache limits reached.")
)

// Metrics reports the template cache when scraped.
func (t *Templates) Metrics() prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{tplExporters, tplTemplates, tplBytes, tplPendingSets, tplPendingBytes, tplPendingExpired, tplPendingOverflow, tplRejected}, Read: func(ch chan<- prometheus.Metric) {
		st := t.Stats()
		tplExporters.Emit(ch, float64(st.Exporters))
		tplTemplates.Emit(ch, float64(st.Templates))
		tplBytes.Emit(ch, float64(st.TemplateBytes))
		tplPendingSets.Emit(ch, float64(st.PendingSets))
		tplPendingBytes.Emit(ch, float64(st.PendingBytes))
		tplPendingExpired.Emit(ch, float64(st.PendingExpired))
		tplPendingOverflow.Emit(ch, float64(st.PendingOverflow))
		tplRejected.Emit(ch, float64(st.Rejected))
	}}
}
