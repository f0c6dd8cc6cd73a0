package neutronlog

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var logLines = metrics.Counter("flowlens_neutron_log_lines_total",
	"Neutron packet log lines read, by kind: drop, accept, other (no action=), malformed",
	"path", "kind")

// Metrics reports the lines read from each log by kind when scraped.
func (fs *Followers) Metrics() prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{logLines}, Read: func(ch chan<- prometheus.Metric) {
		for _, f := range fs.List {
			st := f.Stats()
			for _, v := range []struct {
				kind string
				n    uint64
			}{{"drop", st.Drops}, {"accept", st.Accepts}, {"other", st.Other}, {"malformed", st.Malformed}} {
				logLines.Emit(ch, float64(v.n), f.Path, v.kind)
			}
		}
	}}
}
