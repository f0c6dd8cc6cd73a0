package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/enrich/ovn"
	"github.com/flowlens/flowlens/internal/input/neutronlog"
	"github.com/flowlens/flowlens/internal/metrics"
)

// registerMetrics adds the components' metrics; nil ones are off.
func (c *Collector) registerMetrics() {
	src := metrics.Sources{Pipeline: c.pipeline, Templates: c.decoders.Templates(), GeoIP: c.geo, OpenStack: c.inventory,
		Elasticsearch: c.es, Accuracy: c.accuracy, Aggregators: c.aggs}
	if len(c.cfg.Input.NetFlow.Listen) == 0 {
		src.Templates = nil
	}
	src.Sockets = append(src.Sockets, metrics.Sockets{Input: "sflow", Stats: c.sflow.Stats})
	if c.netflow != nil {
		src.Sockets = append(src.Sockets, metrics.Sockets{Input: "netflow", Stats: c.netflow.Stats})
	}
	if st := c.store; st != nil {
		src.Store = func() metrics.StoreUsage {
			u := st.Usage()
			return metrics.StoreUsage{Bytes: u.Bytes, Written: u.Written, WriteErrors: u.WriteErrors, Memory: u.Memory}
		}
	}
	if err := c.metrics.Collect(src); err != nil {
		// A programming error (metrics described twice), not the
		// operator's: collecting goes on without them.
		c.log.Error("metrics of the components not registered", "error", err)
	}
}

// registerBlockedMetrics adds the drop sources' counters, if any runs.
func (c *Collector) registerBlockedMetrics() {
	if c.ovn != nil || len(c.neutron.List) > 0 {
		c.metrics.Registry.MustRegister(&blockedCollector{ovn: c.ovn, followers: c.neutron.List})
	}
}

// blockedCollector exposes what the drop sources counted: OVN drop
// samples by how far they were traced, Neutron packet log lines by kind.
type blockedCollector struct {
	ovn       *ovn.Mapper
	followers []*neutronlog.Follower
}

var (
	ovnDropsDesc = prometheus.NewDesc("flowlens_ovn_drop_samples_total",
		"OVN drop samples by result: traced (to an ACL), not_acl (another stage's drop), flow_unknown (logical flow gone or not read yet), acl_unknown, physical (ovn-controller's own tables: not kept)",
		[]string{"result"}, nil)
	neutronLogDesc = prometheus.NewDesc("flowlens_neutron_log_lines_total",
		"Neutron packet log lines read, by kind: drop, accept, other (no action=), malformed",
		[]string{"path", "kind"}, nil)
)

func (c *blockedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- ovnDropsDesc
	ch <- neutronLogDesc
}

func (c *blockedCollector) Collect(ch chan<- prometheus.Metric) {
	if c.ovn != nil {
		st := c.ovn.Stats()
		for _, v := range []struct {
			result string
			n      uint64
		}{{"traced", st.Traced}, {"not_acl", st.NotACL}, {"flow_unknown", st.FlowUnknown}, {"acl_unknown", st.ACLUnknown}, {"physical", st.Physical}} {
			ch <- prometheus.MustNewConstMetric(ovnDropsDesc, prometheus.CounterValue, float64(v.n), v.result)
		}
	}
	for _, f := range c.followers {
		st := f.Stats()
		for _, v := range []struct {
			kind string
			n    uint64
		}{{"drop", st.Drops}, {"accept", st.Accepts}, {"other", st.Other}, {"malformed", st.Malformed}} {
			ch <- prometheus.MustNewConstMetric(neutronLogDesc, prometheus.CounterValue, float64(v.n), f.Path, v.kind)
		}
	}
}
