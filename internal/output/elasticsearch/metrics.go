package elasticsearch

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/metrics"
)

var (
	esAccepted      = metrics.Counter("flowlens_elasticsearch_documents_accepted_total", "Documents encoded for Elasticsearch.")
	esIndexed       = metrics.Counter("flowlens_elasticsearch_documents_indexed_total", "Documents the cluster created.")
	esDuplicates    = metrics.Counter("flowlens_elasticsearch_documents_duplicate_total", "Documents the cluster already had (sent again after a lost answer): delivered.")
	esDeadLettered  = metrics.Counter("flowlens_elasticsearch_documents_rejected_total", "Documents the cluster rejected for good (mapping or parse errors), sent to the dead-letter file.")
	esRetried       = metrics.Counter("flowlens_elasticsearch_documents_retried_total", "Documents sent again after a 429, a 5xx or a failed request.")
	esDropped       = metrics.Counter("flowlens_elasticsearch_documents_dropped_total", "Documents lost: spool overflow or write error, or a full memory queue without a spool.")
	esRequests      = metrics.Counter("flowlens_elasticsearch_requests_total", "Bulk requests sent.")
	esRequestErrors = metrics.Counter("flowlens_elasticsearch_request_errors_total", "Bulk requests that failed as a whole (connection error, timeout, 429, 5xx).")
	esBytesSent     = metrics.Counter("flowlens_elasticsearch_sent_bytes_total", "Request bodies sent, as sent (compressed).")
	esQueued        = metrics.Gauge("flowlens_elasticsearch_queued_requests", "Full bulk requests waiting in memory.")
	esPending       = metrics.Gauge("flowlens_elasticsearch_pending_documents", "Documents in the bulk request being filled.")
	esReady         = metrics.Gauge("flowlens_elasticsearch_ready", "1 once the index templates are installed (or set-up is off).")
	esDown          = metrics.Gauge("flowlens_elasticsearch_down", "1 while the cluster is unreachable (the last request failed after its retries): requests go to the spool.")
	esDLErrors      = metrics.Counter("flowlens_elasticsearch_dead_letter_write_errors_total", "Rejected documents that could not be written to the dead-letter file.")
	esSpoolBytes    = metrics.Gauge("flowlens_elasticsearch_spool_bytes", "Disk use of the spool (compressed bulk requests).")
	esSpoolDocs     = metrics.Gauge("flowlens_elasticsearch_spool_documents", "Documents waiting in the spool.")
	esSpoolFiles    = metrics.Gauge("flowlens_elasticsearch_spool_files", "Bulk requests waiting in the spool.")
	esSpoolDropDocs = metrics.Counter("flowlens_elasticsearch_spool_dropped_documents_total", "Documents the spool's overflow policy dropped.")
	esSpoolDropFile = metrics.Counter("flowlens_elasticsearch_spool_dropped_files_total", "Bulk requests the spool's overflow policy dropped.")
	esSpoolCorrupt  = metrics.Counter("flowlens_elasticsearch_spool_corrupt_files_total", "Spool files found corrupt and moved aside.")
	esSpoolWErrs    = metrics.Counter("flowlens_elasticsearch_spool_write_errors_total", "Spool files that could not be written.")
	esSpoolDiskFull = metrics.Counter("flowlens_elasticsearch_spool_disk_full_total", "Spool writes that found the disk full (the overflow policy then applies).")
)

// Metrics reports the output, its requests and its spool when scraped.
func (o *Output) Metrics() prometheus.Collector {
	return metrics.Collector{Descs: []metrics.Desc{esAccepted, esIndexed, esDuplicates, esDeadLettered, esRetried, esDropped, esRequests, esRequestErrors, esBytesSent, esQueued, esPending, esReady, esDown, esDLErrors, esSpoolBytes, esSpoolDocs, esSpoolFiles, esSpoolDropDocs, esSpoolDropFile, esSpoolCorrupt, esSpoolWErrs, esSpoolDiskFull}, Read: func(ch chan<- prometheus.Metric) {
		collectES(ch, o.Stats())
	}}
}

func collectES(ch chan<- prometheus.Metric, st Stats) {
	esAccepted.Emit(ch, float64(st.Accepted))
	esIndexed.Emit(ch, float64(st.Indexed))
	esDuplicates.Emit(ch, float64(st.Duplicates))
	esDeadLettered.Emit(ch, float64(st.DeadLettered))
	esRetried.Emit(ch, float64(st.Retried))
	esDropped.Emit(ch, float64(st.Dropped))
	esRequests.Emit(ch, float64(st.Requests))
	esRequestErrors.Emit(ch, float64(st.RequestErrors))
	esBytesSent.Emit(ch, float64(st.BytesSent))
	esQueued.Emit(ch, float64(st.Queued))
	esPending.Emit(ch, float64(st.Pending))
	esReady.Emit(ch, metrics.Bool(st.Ready))
	esDown.Emit(ch, metrics.Bool(st.Down))
	esDLErrors.Emit(ch, float64(st.DeadLetterWriteErrors))
	esSpoolBytes.Emit(ch, float64(st.Spool.Bytes))
	esSpoolDocs.Emit(ch, float64(st.Spool.Documents))
	esSpoolFiles.Emit(ch, float64(st.Spool.Files))
	esSpoolDropDocs.Emit(ch, float64(st.Spool.DroppedDocuments))
	esSpoolDropFile.Emit(ch, float64(st.Spool.DroppedFiles))
	esSpoolCorrupt.Emit(ch, float64(st.Spool.Corrupt))
	esSpoolWErrs.Emit(ch, float64(st.Spool.WriteErrors))
	esSpoolDiskFull.Emit(ch, float64(st.Spool.DiskFull))
}
