// Package metrics exposes flowlens's health to Prometheus (/metrics) and to
// orchestrators (/healthz, /readyz).
//
// The collector reads the counters the components already keep, when it is
// scraped: the datagram path pays nothing for metrics. Every label value
// comes from what exporters send or from fixed names (agent addresses,
// listen addresses, output names, decode error reasons), never from the
// configuration's credentials, so no secret can reach a scrape.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowlens/flowlens/internal/accuracy"
	"github.com/flowlens/flowlens/internal/agents"
	"github.com/flowlens/flowlens/internal/aggregate"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/enrich/geoip"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/input/udp"
	"github.com/flowlens/flowlens/internal/output/elasticsearch"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// Sockets is one UDP listener, for the socket metrics.
type Sockets struct {
	// Input names the listener: sflow or netflow.
	Input string
	Stats func() []udp.SocketStats
}

// StoreUsage is what the metrics read from the store. It is a type of its
// own so that this package does not link the store's database engine.
type StoreUsage struct {
	Bytes                int64
	Written, WriteErrors uint64
	Memory               int64 // -1: unknown
}

// Sources are the components the collector reads. Every field is optional:
// a nil one (a component that is off) has no metrics.
type Sources struct {
	Pipeline      *pipeline.Pipeline
	Sockets       []Sockets
	Templates     *netflow.Templates
	Aggregators   []*aggregate.Aggregator
	GeoIP         *geoip.DB
	OpenStack     *openstack.Inventory
	Elasticsearch *elasticsearch.Output
	Store         func() StoreUsage
	// Accuracy compares estimates with port counters.
	Accuracy *accuracy.Tracker
}

// Metrics is the registry behind /metrics, and the readiness behind /readyz.
type Metrics struct {
	Registry *prometheus.Registry
	Ready    *Readiness
	errLog   promhttp.Logger
}

// New returns a registry with the Go runtime, process and build metrics;
// the components' metrics come with Collect, once they exist. Readiness
// starts "starting".
func New(version, revision string, errLog promhttp.Logger) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "flowlens_build_info",
		Help:        "Always 1; the labels say which flowlens runs.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	build.Set(1)
	reg.MustRegister(build)
	return &Metrics{Registry: reg, Ready: NewReadiness("starting"), errLog: errLog}
}

// Collect adds the components' metrics. Call it once.
func (m *Metrics) Collect(src Sources) error {
	return m.Registry.Register(&collector{src: src})
}

// Handler serves the metrics in the Prometheus text (or OpenMetrics)
// format.
func (m *Metrics) Handler() http.Handler {
	// ContinueOnError: one bad series must not hide all the others while
	// an operator needs them; the error is logged instead.
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorLog: m.errLog, ErrorHandling: promhttp.ContinueOnError})
}

// Readiness is what /readyz reports: ready, or not with a reason.
type Readiness struct {
	reason atomic.Pointer[string] // nil: ready
}

// NewReadiness returns a Readiness that is not ready, for reason.
func NewReadiness(reason string) *Readiness {
	r := &Readiness{}
	r.NotReady(reason)
	return r
}

// SetReady marks the process ready.
func (r *Readiness) SetReady() { r.reason.Store(nil) }

// NotReady marks the process not ready, saying why.
func (r *Readiness) NotReady(reason string) { r.reason.Store(&reason) }

// Check returns whether the process is ready and, if not, why.
func (r *Readiness) Check() (ready bool, reason string) {
	if p := r.reason.Load(); p != nil {
		return false, *p
	}
	return true, ""
}

// Healthz answers 200 "ok" to any request: it tells that the process
// serves HTTP, nothing more.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
}

// Readyz answers 200 "ready" when r is ready, else 503 and the reason.
func Readyz(r *Readiness) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if ok, reason := r.Check(); !ok {
			plain(w, http.StatusServiceUnavailable, "not ready: "+reason)
			return
		}
		plain(w, http.StatusOK, "ready")
	})
}

func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

// Paths, for servers that mount the handlers.
const (
	MetricsPath = "/metrics"
	HealthPath  = "/healthz"
	ReadyPath   = "/readyz"
)

// Mux serves the three endpoints and nothing else, for metrics.listen.
func (m *Metrics) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, m.Handler())
	mux.Handle(HealthPath, Healthz())
	mux.Handle(ReadyPath, Readyz(m.Ready))
	return mux
}

// desc is a metric's description and type.
type desc struct {
	*prometheus.Desc
	name string
	typ  prometheus.ValueType
}

// all lists every flowlens metric, for Describe and for the test that
// keeps docs/operations.md complete.
var all []desc

func newDesc(typ prometheus.ValueType, name, help string, labels ...string) desc {
	d := desc{prometheus.NewDesc(name, help, labels, nil), name, typ}
	all = append(all, d)
	return d
}

// Names lists the flowlens metrics the collector can report.
func Names() []string {
	out := make([]string, len(all))
	for i, d := range all {
		out[i] = d.name
	}
	return out
}

func counter(name, help string, labels ...string) desc {
	return newDesc(prometheus.CounterValue, name, help, labels...)
}

func gauge(name, help string, labels ...string) desc {
	return newDesc(prometheus.GaugeValue, name, help, labels...)
}

var agentLabels = []string{"agent", "sub_agent", "input"}

var (
	agentDatagrams = counter("flowlens_agent_datagrams_total",
		"Datagrams received from the exporter (an sFlow agent and sub-agent, or a NetFlow/IPFIX exporter and observation domain), bad ones included.", agentLabels...)
	agentBytes = counter("flowlens_agent_received_bytes_total",
		"UDP payload bytes received from the exporter.", agentLabels...)
	agentFlowSamples = counter("flowlens_agent_flow_samples_total",
		"sFlow flow samples, or NetFlow/IPFIX flow records, decoded.", agentLabels...)
	agentCounterSamples = counter("flowlens_agent_counter_samples_total",
		"sFlow counter samples decoded.", agentLabels...)
	agentLost = counter("flowlens_agent_sequence_lost_total",
		"What sequence numbers say never arrived: datagrams for sFlow and NetFlow v9, flow records for NetFlow v5 and IPFIX.", agentLabels...)
	agentResets = counter("flowlens_agent_sequence_resets_total",
		"Exporter restarts seen in its sequence numbers.", agentLabels...)
	agentOutOfOrder = counter("flowlens_agent_out_of_order_total",
		"Datagrams older than some already received.", agentLabels...)
	agentUnknownRecords = counter("flowlens_agent_unknown_records_total",
		"Records (sFlow) or sets (NetFlow/IPFIX) of unknown types skipped.", agentLabels...)
	agentOtherSources = counter("flowlens_agent_other_source_datagrams_total",
		"sFlow datagrams with this agent address from another UDP source than the first: two exporters claim one agent address.", agentLabels...)
	agentUnknownSamples = counter("flowlens_agent_unknown_samples_total",
		"sFlow samples of unknown types skipped.", agentLabels...)
	agentErrors = counter("flowlens_agent_decode_errors_total",
		"Decode errors by reason: datagrams dropped, and samples, records or sets skipped inside good datagrams.", append(agentLabels, "reason")...)
	agentLastSeen = gauge("flowlens_agent_last_seen_timestamp_seconds",
		"When the exporter's last datagram arrived (Unix time).", agentLabels...)

	socketLabels      = []string{"input", "address", "socket"}
	socketDatagrams   = counter("flowlens_socket_datagrams_total", "Datagrams read from the socket.", socketLabels...)
	socketBytes       = counter("flowlens_socket_received_bytes_total", "UDP payload bytes read from the socket.", socketLabels...)
	socketTruncated   = counter("flowlens_socket_truncated_total", "Datagrams longer than max_datagram, dropped.", socketLabels...)
	socketKernelDrops = counter("flowlens_socket_kernel_drops_total",
		"Datagrams the kernel dropped because the socket's receive buffer was full.", socketLabels...)
	socketDenied = counter("flowlens_socket_denied_total",
		"Datagrams dropped unread because their source is outside allowed_sources.", socketLabels...)
	socketRateLimited = counter("flowlens_socket_rate_limited_total",
		"Datagrams dropped unread because their source sent more than max_datagrams_per_source.", socketLabels...)
	socketBuffer = gauge("flowlens_socket_receive_buffer_bytes", "Receive buffer the kernel granted the socket.", socketLabels...)

	outputWritten = counter("flowlens_output_records_written_total",
		"Records the output (or its aggregator) took.", "output")
	outputDropped = counter("flowlens_output_records_dropped_total",
		"Records dropped because the output's queue was full (the output is slower than the input).", "output")
	outputFailed = counter("flowlens_output_records_failed_total",
		"Records in writes the output failed.", "output")
	outputQueued = gauge("flowlens_output_queue_records",
		"Records waiting in the output's queue (as the memory their batches hold).", "output")
	outputQueueLimit = gauge("flowlens_output_queue_limit_records",
		"Queue size beyond which records are dropped (pipeline.queue_records).", "output")

	aggRecords    = counter("flowlens_aggregate_records_total", "Flow records aggregated.", "output")
	aggAggregates = counter("flowlens_aggregate_aggregates_total", "Aggregated records written.", "output")
	aggOverflowed = counter("flowlens_aggregate_overflowed_records_total",
		"Flow records summed into an overflow record because the interval had max_keys keys.", "output")
	aggLate = counter("flowlens_aggregate_late_records_total",
		"Flow records for an interval already written, counted in the current one.", "output")
	aggKeys    = gauge("flowlens_aggregate_keys", "Keys in the current interval.", "output")
	aggDropped = counter("flowlens_aggregate_dropped_records_total",
		"Aggregates and counter records not passed on because the output had fallen 64 writes behind.", "output")
	aggWriteErrors = counter("flowlens_aggregate_write_errors_total",
		"Writes of aggregates or counter records that the output failed.", "output")
	aggQueued = gauge("flowlens_aggregate_queued_writes", "Writes waiting for the output (at most 64).", "output")

	tplExporters       = gauge("flowlens_netflow_template_exporters", "NetFlow v9/IPFIX exporters with templates or held data.")
	tplTemplates       = gauge("flowlens_netflow_templates", "Data and options templates cached.")
	tplBytes           = gauge("flowlens_netflow_template_bytes", "Memory of the cached templates.")
	tplPendingSets     = gauge("flowlens_netflow_pending_sets", "Data sets held until their template arrives.")
	tplPendingBytes    = gauge("flowlens_netflow_pending_bytes", "Memory of the held data sets.")
	tplPendingExpired  = counter("flowlens_netflow_pending_expired_total", "Held data sets dropped: no template came in time.")
	tplPendingOverflow = counter("flowlens_netflow_pending_overflow_total", "Held data sets dropped or refused: pending limits reached.")
	tplRejected        = counter("flowlens_netflow_templates_rejected_total", "Templates and options entries refused: cache limits reached.")

	geoLookups = counter("flowlens_geoip_lookups_total", "GeoIP database lookups (addresses not in the per-socket caches).")
	geoFound   = counter("flowlens_geoip_found_total", "GeoIP database lookups that found a location or an AS.")

	osPorts        = gauge("flowlens_openstack_ports", "OpenStack ports in the merged inventory.")
	osSourcePorts  = gauge("flowlens_openstack_source_ports", "Ports the source reported.", "source")
	osSourceUpdate = gauge("flowlens_openstack_source_updated_timestamp_seconds", "When the source last reported (Unix time).", "source")
	osFlows        = counter("flowlens_openstack_flows_total", "Flow records OpenStack attribution looked at.")
	osAttributed   = counter("flowlens_openstack_attributed_total",
		"Flow records with that end (source or destination) attributed to an OpenStack port.", "end")

	ifacesKnown = gauge("flowlens_interfaces", "Interfaces whose names are known (from counter samples and NetFlow/IPFIX options).")

	esAccepted      = counter("flowlens_elasticsearch_documents_accepted_total", "Documents encoded for Elasticsearch.")
	esIndexed       = counter("flowlens_elasticsearch_documents_indexed_total", "Documents the cluster created.")
	esDuplicates    = counter("flowlens_elasticsearch_documents_duplicate_total", "Documents the cluster already had (sent again after a lost answer): delivered.")
	esDeadLettered  = counter("flowlens_elasticsearch_documents_rejected_total", "Documents the cluster rejected for good (mapping or parse errors), sent to the dead-letter file.")
	esRetried       = counter("flowlens_elasticsearch_documents_retried_total", "Documents sent again after a 429, a 5xx or a failed request.")
	esDropped       = counter("flowlens_elasticsearch_documents_dropped_total", "Documents lost: spool overflow or write error, or a full memory queue without a spool.")
	esRequests      = counter("flowlens_elasticsearch_requests_total", "Bulk requests sent.")
	esRequestErrors = counter("flowlens_elasticsearch_request_errors_total", "Bulk requests that failed as a whole (connection error, timeout, 429, 5xx).")
	esBytesSent     = counter("flowlens_elasticsearch_sent_bytes_total", "Request bodies sent, as sent (compressed).")
	esQueued        = gauge("flowlens_elasticsearch_queued_requests", "Full bulk requests waiting in memory.")
	esPending       = gauge("flowlens_elasticsearch_pending_documents", "Documents in the bulk request being filled.")
	esReady         = gauge("flowlens_elasticsearch_ready", "1 once the index templates are installed (or set-up is off).")
	esDown          = gauge("flowlens_elasticsearch_down", "1 while the cluster is unreachable (the last request failed after its retries): requests go to the spool.")
	esDLErrors      = counter("flowlens_elasticsearch_dead_letter_write_errors_total", "Rejected documents that could not be written to the dead-letter file.")
	esSpoolBytes    = gauge("flowlens_elasticsearch_spool_bytes", "Disk use of the spool (compressed bulk requests).")
	esSpoolDocs     = gauge("flowlens_elasticsearch_spool_documents", "Documents waiting in the spool.")
	esSpoolFiles    = gauge("flowlens_elasticsearch_spool_files", "Bulk requests waiting in the spool.")
	esSpoolDropDocs = counter("flowlens_elasticsearch_spool_dropped_documents_total", "Documents the spool's overflow policy dropped.")
	esSpoolDropFile = counter("flowlens_elasticsearch_spool_dropped_files_total", "Bulk requests the spool's overflow policy dropped.")
	esSpoolCorrupt  = counter("flowlens_elasticsearch_spool_corrupt_files_total", "Spool files found corrupt and moved aside.")
	esSpoolWErrs    = counter("flowlens_elasticsearch_spool_write_errors_total", "Spool files that could not be written.")
	esSpoolDiskFull = counter("flowlens_elasticsearch_spool_disk_full_total", "Spool writes that found the disk full (the overflow policy then applies).")

	storeBytes       = gauge("flowlens_store_size_bytes", "Disk use of the store's database files.")
	storeMemory      = gauge("flowlens_store_memory_bytes", "Memory the store's database engine holds (buffer pool, bounded by store.memory_limit): part of the process's resident memory.")
	storeWritten     = counter("flowlens_store_records_written_total", "Flow records written to the store.")
	storeWriteErrors = counter("flowlens_store_write_errors_total", "Writes to the store that failed.")

	// One series per port and direction compared (accuracy's MaxPorts
	// bounds them), over the windows the tracker keeps (10 minutes at
	// polling=10), as GET /api/v1/accuracy without a range.
	accLabels          = []string{"agent", "sub_agent", "port", "name", "direction"}
	accEstimateBytes   = gauge("flowlens_accuracy_estimate_bytes", "Sampled estimate of the bytes through the port (in: entering the bridge from it, out: leaving into it), over the counter windows kept.", accLabels...)
	accCounterBytes    = gauge("flowlens_accuracy_counter_bytes", "The port's octet counters over the same windows (frames without FCS, as the estimate).", accLabels...)
	accEstimatePackets = gauge("flowlens_accuracy_estimate_packets", "Sampled estimate of the packets through the port over the counter windows kept.", accLabels...)
	accCounterPackets  = gauge("flowlens_accuracy_counter_packets", "The port's packet counters over the same windows.", accLabels...)
	accSamples         = gauge("flowlens_accuracy_samples", "Flow samples behind the estimate.", accLabels...)
	accDiffRatio       = gauge("flowlens_accuracy_diff_ratio", "(estimate − counter) / counter, bytes; absent when there is not enough data.", accLabels...)
	accDiffSigma       = gauge("flowlens_accuracy_diff_sigma", "Bytes estimate minus counter in standard deviations of the sampling error; beyond ±3 the estimate is off. Absent when there is not enough data.", accLabels...)
	accPacketsSigma    = gauge("flowlens_accuracy_packets_diff_sigma", "The same for packets.", accLabels...)
	accPorts           = gauge("flowlens_accuracy_ports", "Port directions by comparison status: ok, off, not enough data.", "status")
	accOverflow        = counter("flowlens_accuracy_overflow_ports_total", "Ports not compared because the tracker's table was full.")
)

type collector struct {
	src Sources
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range all {
		ch <- d.Desc
	}
}

// emit sends one sample.
func emit(ch chan<- prometheus.Metric, d desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d.Desc, d.typ, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := &c.src
	if p := s.Pipeline; p != nil {
		for _, a := range p.Agents.All() {
			collectAgent(ch, &a)
		}
		for _, o := range p.Outputs() {
			name := outputName(o.Name)
			emit(ch, outputWritten, float64(o.Written), name)
			emit(ch, outputDropped, float64(o.Dropped), name)
			emit(ch, outputFailed, float64(o.Errored), name)
			emit(ch, outputQueued, float64(o.QueuedRecords), name)
			emit(ch, outputQueueLimit, float64(o.QueueLimit), name)
		}
		emit(ch, ifacesKnown, float64(p.Inventory.Len()))
	}
	for _, l := range s.Sockets {
		// A listen address has several sockets (SO_REUSEPORT): number
		// them within their address.
		index := map[string]int{}
		for _, st := range l.Stats() {
			n := index[st.Addr]
			index[st.Addr] = n + 1
			lv := []string{l.Input, st.Addr, strconv.Itoa(n)}
			emit(ch, socketDatagrams, float64(st.Datagrams), lv...)
			emit(ch, socketBytes, float64(st.Bytes), lv...)
			emit(ch, socketTruncated, float64(st.Truncated), lv...)
			emit(ch, socketKernelDrops, float64(st.KernelDrops), lv...)
			emit(ch, socketDenied, float64(st.Denied), lv...)
			emit(ch, socketRateLimited, float64(st.RateLimited), lv...)
			emit(ch, socketBuffer, float64(st.ReceiveBuffer), lv...)
		}
	}
	for _, a := range s.Aggregators {
		st, name := a.Stats(), outputName(a.Name())
		emit(ch, aggRecords, float64(st.Records), name)
		emit(ch, aggAggregates, float64(st.Aggregates), name)
		emit(ch, aggOverflowed, float64(st.Overflowed), name)
		emit(ch, aggLate, float64(st.Late), name)
		emit(ch, aggKeys, float64(st.Keys), name)
		emit(ch, aggDropped, float64(st.Dropped), name)
		emit(ch, aggWriteErrors, float64(st.WriteErrors), name)
		emit(ch, aggQueued, float64(st.Queued), name)
	}
	if t := s.Templates; t != nil {
		st := t.Stats()
		emit(ch, tplExporters, float64(st.Exporters))
		emit(ch, tplTemplates, float64(st.Templates))
		emit(ch, tplBytes, float64(st.TemplateBytes))
		emit(ch, tplPendingSets, float64(st.PendingSets))
		emit(ch, tplPendingBytes, float64(st.PendingBytes))
		emit(ch, tplPendingExpired, float64(st.PendingExpired))
		emit(ch, tplPendingOverflow, float64(st.PendingOverflow))
		emit(ch, tplRejected, float64(st.Rejected))
	}
	if g := s.GeoIP; g != nil {
		st := g.Stats()
		emit(ch, geoLookups, float64(st.Lookups))
		emit(ch, geoFound, float64(st.Found))
	}
	if inv := s.OpenStack; inv != nil {
		st := inv.Stats()
		emit(ch, osPorts, float64(st.Ports))
		for _, src := range st.Sources {
			emit(ch, osSourcePorts, float64(src.Ports), src.Name)
			emit(ch, osSourceUpdate, unixSeconds(src.Updated), src.Name)
		}
		emit(ch, osFlows, float64(st.Flows))
		emit(ch, osAttributed, float64(st.Source), "source")
		emit(ch, osAttributed, float64(st.Destination), "destination")
	}
	if es := s.Elasticsearch; es != nil {
		collectES(ch, es.Stats())
	}
	if s.Accuracy != nil {
		collectAccuracy(ch, s.Accuracy.Report(accuracy.Query{}))
	}
	if s.Store != nil {
		u := s.Store()
		emit(ch, storeBytes, float64(u.Bytes))
		if u.Memory >= 0 {
			emit(ch, storeMemory, float64(u.Memory))
		}
		emit(ch, storeWritten, float64(u.Written))
		emit(ch, storeWriteErrors, float64(u.WriteErrors))
	}
}

func collectAgent(ch chan<- prometheus.Metric, a *agents.Snapshot) {
	sub := "none" // the datagrams whose header could not be read
	if a.SubAgent != agents.NoSubAgent {
		sub = strconv.FormatUint(uint64(a.SubAgent), 10)
	}
	lv := []string{a.Agent.String(), sub, a.Input.String()}
	emit(ch, agentDatagrams, float64(a.Datagrams), lv...)
	emit(ch, agentBytes, float64(a.Bytes), lv...)
	emit(ch, agentFlowSamples, float64(a.FlowSamples), lv...)
	emit(ch, agentCounterSamples, float64(a.CounterSamples), lv...)
	emit(ch, agentLost, float64(a.Lost), lv...)
	emit(ch, agentResets, float64(a.Resets), lv...)
	emit(ch, agentOutOfOrder, float64(a.OutOfOrder), lv...)
	emit(ch, agentUnknownRecords, float64(a.UnknownRecords), lv...)
	emit(ch, agentUnknownSamples, float64(a.UnknownSamples), lv...)
	emit(ch, agentOtherSources, float64(a.OtherSources), lv...)
	emit(ch, agentLastSeen, unixSeconds(a.LastSeen), lv...)
	for reason, n := range a.Errors {
		emit(ch, agentErrors, float64(n), lv[0], lv[1], lv[2], reason)
	}
}

func collectAccuracy(ch chan<- prometheus.Metric, rep accuracy.Report) {
	status := map[string]int{accuracy.StatusOK: 0, accuracy.StatusOff: 0, accuracy.StatusNoData: 0}
	for i := range rep.Ports {
		r := &rep.Ports[i]
		status[r.Status]++
		if r.Windows == 0 {
			continue // nothing to show but the status
		}
		lv := []string{r.Agent, strconv.FormatUint(uint64(r.SubAgent), 10), strconv.FormatUint(uint64(r.Index), 10), r.Name, r.Direction}
		emit(ch, accEstimateBytes, float64(r.EstimateBytes), lv...)
		emit(ch, accCounterBytes, float64(r.CounterBytes), lv...)
		emit(ch, accEstimatePackets, float64(r.EstimatePackets), lv...)
		emit(ch, accCounterPackets, float64(r.CounterPackets), lv...)
		emit(ch, accSamples, float64(r.Samples), lv...)
		if r.DiffSigma != nil {
			emit(ch, accDiffRatio, *r.DiffRatio, lv...)
			emit(ch, accDiffSigma, *r.DiffSigma, lv...)
			emit(ch, accPacketsSigma, *r.PacketsDiffSigma, lv...)
		}
	}
	for st, n := range status {
		emit(ch, accPorts, float64(n), st)
	}
	emit(ch, accOverflow, float64(rep.Overflow))
}

func collectES(ch chan<- prometheus.Metric, st elasticsearch.Stats) {
	emit(ch, esAccepted, float64(st.Accepted))
	emit(ch, esIndexed, float64(st.Indexed))
	emit(ch, esDuplicates, float64(st.Duplicates))
	emit(ch, esDeadLettered, float64(st.DeadLettered))
	emit(ch, esRetried, float64(st.Retried))
	emit(ch, esDropped, float64(st.Dropped))
	emit(ch, esRequests, float64(st.Requests))
	emit(ch, esRequestErrors, float64(st.RequestErrors))
	emit(ch, esBytesSent, float64(st.BytesSent))
	emit(ch, esQueued, float64(st.Queued))
	emit(ch, esPending, float64(st.Pending))
	emit(ch, esReady, b2f(st.Ready))
	emit(ch, esDown, b2f(st.Down))
	emit(ch, esDLErrors, float64(st.DeadLetterWriteErrors))
	emit(ch, esSpoolBytes, float64(st.Spool.Bytes))
	emit(ch, esSpoolDocs, float64(st.Spool.Documents))
	emit(ch, esSpoolFiles, float64(st.Spool.Files))
	emit(ch, esSpoolDropDocs, float64(st.Spool.DroppedDocuments))
	emit(ch, esSpoolDropFile, float64(st.Spool.DroppedFiles))
	emit(ch, esSpoolCorrupt, float64(st.Spool.Corrupt))
	emit(ch, esSpoolWErrs, float64(st.Spool.WriteErrors))
	emit(ch, esSpoolDiskFull, float64(st.Spool.DiskFull))
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// outputName is the output's destination: an aggregating output is named
// "aggregate→store" in logs, but as a label the destination alone is what
// a query selects on, and it is unique (one store, one NDJSON file, one
// cluster).
func outputName(name string) string {
	if rest, ok := strings.CutPrefix(name, "aggregate→"); ok {
		return rest
	}
	return name
}
