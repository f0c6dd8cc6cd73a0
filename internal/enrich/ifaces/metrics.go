package ifaces

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var (
	ifacesKnown = metrics.Gauge("flowlens_interfaces", "Interfaces whose names are known (from counter samples and NetFlow/IPFIX options).")
)

// Metrics reports how many interfaces are known when scraped.
func (inv *Inventory) Metrics() prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{ifacesKnown}, Read: func(ch chan<- prometheus.Metric) {
		ifacesKnown.Emit(ch, float64(inv.Len()))
	}}
}
