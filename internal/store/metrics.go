package store

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var (
	storeBytes       = metrics.Gauge("flowlens_store_size_bytes", "Disk use of the store's database files.")
	storeMemory      = metrics.Gauge("flowlens_store_memory_bytes", "Memory the store's database engine holds (buffer pool, bounded by store.memory_limit): part of the process's resident memory.")
	storeWritten     = metrics.Counter("flowlens_store_records_written_total", "Flow records written to the store.")
	storeWriteErrors = metrics.Counter("flowlens_store_write_errors_total", "Writes to the store that failed.")
)

// Metrics reports the store's size and writes when scraped.
func (s *Store) Metrics() prometheus.Collector { return UsageMetrics(s.Usage) }

// UsageMetrics reports what usage returns when scraped.
func UsageMetrics(usage func() Usage) prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{storeBytes, storeMemory, storeWritten, storeWriteErrors}, Read: func(ch chan<- prometheus.Metric) {
		u := usage()
		storeBytes.Emit(ch, float64(u.Bytes))
		if u.Memory >= 0 {
			storeMemory.Emit(ch, float64(u.Memory))
		}
		storeWritten.Emit(ch, float64(u.Written))
		storeWriteErrors.Emit(ch, float64(u.WriteErrors))
	}}
}
