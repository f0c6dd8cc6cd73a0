package geoip

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var (
	geoLookups = metrics.Counter("flowlens_geoip_lookups_total", "GeoIP database lookups (addresses not in the per-socket caches).")
	geoFound   = metrics.Counter("flowlens_geoip_found_total", "GeoIP database lookups that found a location or an AS.")
)

// Metrics reports the lookups when scraped.
func (db *DB) Metrics() prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{geoLookups, geoFound}, Read: func(ch chan<- prometheus.Metric) {
		st := db.Stats()
		geoLookups.Emit(ch, float64(st.Lookups))
		geoFound.Emit(ch, float64(st.Found))
	}}
}
