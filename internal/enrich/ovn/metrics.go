package ovn

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var ovnDrops = metrics.Counter("flowlens_ovn_drop_samples_total",
	"OVN drop samples by result: traced (to an ACL), not_acl (another stage's drop), flow_unknown (logical flow gone or not read yet), acl_unknown, physical (ovn-controller's own tables: not kept)",
	"result")

// Metrics reports the drop samples by how far they were traced when
// scraped.
func (m *Mapper) Metrics() prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{ovnDrops}, Read: func(ch chan<- prometheus.Metric) {
		st := m.Stats()
		for _, v := range []struct {
			result string
			n      uint64
		}{{"traced", st.Traced}, {"not_acl", st.NotACL}, {"flow_unknown", st.FlowUnknown}, {"acl_unknown", st.ACLUnknown}, {"physical", st.Physical}} {
			ovnDrops.Emit(ch, float64(v.n), v.result)
		}
	}}
}
