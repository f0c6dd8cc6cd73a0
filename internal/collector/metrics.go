package collector

import "github.com/prometheus/client_golang/prometheus"

// register adds a started component's metrics.
func (c *Collector) register(m prometheus.Collector) {
	if err := c.metrics.Register(m); err != nil {
		// A programming error (metrics described twice), not the
		// operator's: collecting goes on without them.
		c.log.Error("metrics of a component not registered", "error", err)
	}
}
