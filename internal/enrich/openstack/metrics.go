package openstack

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var (
	osPorts        = metrics.Gauge("flowlens_openstack_ports", "OpenStack ports in the merged inventory.")
	osSourcePorts  = metrics.Gauge("flowlens_openstack_source_ports", "Ports the source reported.", "source")
	osSourceUpdate = metrics.Gauge("flowlens_openstack_source_updated_timestamp_seconds", "When the source last reported (Unix time).", "source")
	osFlows        = metrics.Counter("flowlens_openstack_flows_total", "Flow records OpenStack attribution looked at.")
	osAttributed   = metrics.Counter("flowlens_openstack_attributed_total", "Flow records with that end (source or destination) attributed to an OpenStack port.", "end")
)

// Metrics reports the inventory and its sources when scraped.
func (inv *Inventory) Metrics() prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{osPorts, osSourcePorts, osSourceUpdate, osFlows, osAttributed}, Read: func(ch chan<- prometheus.Metric) {
		st := inv.Stats()
		osPorts.Emit(ch, float64(st.Ports))
		for _, src := range st.Sources {
			osSourcePorts.Emit(ch, float64(src.Ports), src.Name)
			osSourceUpdate.Emit(ch, metrics.UnixSeconds(src.Updated), src.Name)
		}
		osFlows.Emit(ch, float64(st.Flows))
		osAttributed.Emit(ch, float64(st.Source), "source")
		osAttributed.Emit(ch, float64(st.Destination), "destination")
	}}
}
