// Package metrics exposes flowlens's health to Prometheus (/metrics) and to
// orchestrators (/healthz, /readyz).
//
// Each component reports its own metrics (a Collector beside the counters
// it keeps, read when scraped: the datagram path pays nothing for
// metrics); this package holds the registry, the endpoints and the
// readiness, and imports no component. Every label value
// comes from what exporters send or from fixed names (agent addresses,
// listen addresses, output names, decode error reasons), never from the
// configuration's credentials, so no secret can reach a scrape.
package metrics

import (
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the registry behind /metrics, and the readiness behind /readyz.
type Metrics struct {
	Registry *prometheus.Registry
	Ready    *Readiness
	errLog   promhttp.Logger
}

// New returns a registry with the Go runtime, process and build metrics;
// the components' metrics come with Register, once they exist. Readiness
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

// Register adds components' metrics (their Metrics methods).
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.Registry.Register(c); err != nil {
			return err
		}
	}
	return nil
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

// Desc is one metric a component reports: its description and type.
// Components declare theirs as package variables, with Counter and Gauge,
// next to the counters they keep.
type Desc struct {
	desc *prometheus.Desc
	name string
	typ  prometheus.ValueType
}

// all lists every flowlens metric declared in the packages linked in, for
// the test that keeps docs/operations.md complete.
var (
	allMu sync.Mutex
	all   []string
)

func newDesc(typ prometheus.ValueType, name, help string, labels ...string) Desc {
	allMu.Lock()
	all = append(all, name)
	allMu.Unlock()
	return Desc{prometheus.NewDesc(name, help, labels, nil), name, typ}
}

// Counter declares a counter with these variable labels.
func Counter(name, help string, labels ...string) Desc {
	return newDesc(prometheus.CounterValue, name, help, labels...)
}

// Gauge declares a gauge with these variable labels.
func Gauge(name, help string, labels ...string) Desc {
	return newDesc(prometheus.GaugeValue, name, help, labels...)
}

// Emit sends one sample of d.
func (d Desc) Emit(ch chan<- prometheus.Metric, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d.desc, d.typ, v, labels...)
}

// Names lists the flowlens metrics of the packages linked in.
func Names() []string {
	allMu.Lock()
	defer allMu.Unlock()
	return append([]string(nil), all...)
}

// Collector is a component's metrics: what it reports, and Read, which
// reads the counters the component already keeps when scraped, so that
// the datagram path pays nothing for metrics.
type Collector struct {
	Descs []Desc
	Read  func(ch chan<- prometheus.Metric)
}

// Describe implements prometheus.Collector.
func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.Descs {
		ch <- d.desc
	}
}

// Collect implements prometheus.Collector.
func (c Collector) Collect(ch chan<- prometheus.Metric) { c.Read(ch) }

// UnixSeconds is t as a timestamp gauge's value (0 for the zero time).
func UnixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// Bool is b as a gauge's value.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
