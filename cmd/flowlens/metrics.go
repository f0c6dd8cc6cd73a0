package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/flowlens/flowlens/internal/accuracy"
	"github.com/flowlens/flowlens/internal/aggregate"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/console"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/enrich/geoip"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/input/udp"
	"github.com/flowlens/flowlens/internal/metrics"
	"github.com/flowlens/flowlens/internal/output/elasticsearch"
	"github.com/flowlens/flowlens/internal/pipeline"
	"github.com/flowlens/flowlens/internal/store"
)

// metricsServer holds what `flowlens run` exposes to Prometheus and to
// probes, and the listener of its own when metrics.listen is set.
type metricsServer struct {
	m    *metrics.Metrics
	log  *slog.Logger
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// startMetrics starts the metrics.listen listener, if configured, before
// anything else: /healthz answers and /readyz says "starting" while the
// rest starts (OVSDB reads can take seconds), and a busy port fails the
// start before any input is open.
func startMetrics(c config.Metrics, log *slog.Logger) (*metricsServer, error) {
	v, rev := buildVersion()
	s := &metricsServer{m: metrics.New(v, rev, slog.NewLogLogger(log.Handler(), slog.LevelError)), log: log}
	if c.Listen == "" {
		return s, nil
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w (pick a free address, or leave metrics.listen empty)", c.Listen, err)
	}
	s.ln, s.done = ln, make(chan error, 1)
	s.srv = &http.Server{Handler: s.m.Mux(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	log.Info("metrics listening", "url", "http://"+ln.Addr().String()+metrics.MetricsPath)
	return s, nil
}

// collect adds the components' metrics; nil ones are off.
func (s *metricsServer) collect(p *pipeline.Pipeline, outputs []pipeline.Output, templates *netflow.Templates,
	geo *geoip.DB, osInv *openstack.Inventory, st *store.Store, es *elasticsearch.Output, acc *accuracy.Tracker, sflowLn, netflowLn *udp.Listener) {
	src := metrics.Sources{Pipeline: p, Templates: templates, GeoIP: geo, OpenStack: osInv, Elasticsearch: es, Accuracy: acc}
	for _, o := range outputs {
		if a, ok := o.(*aggregate.Aggregator); ok {
			src.Aggregators = append(src.Aggregators, a)
		}
	}
	if sflowLn != nil {
		src.Sockets = append(src.Sockets, metrics.Sockets{Input: "sflow", Stats: sflowLn.Stats})
	}
	if netflowLn != nil {
		src.Sockets = append(src.Sockets, metrics.Sockets{Input: "netflow", Stats: netflowLn.Stats})
	}
	if st != nil {
		src.Store = func() metrics.StoreUsage {
			u := st.Usage()
			return metrics.StoreUsage{Bytes: u.Bytes, Written: u.Written, WriteErrors: u.WriteErrors, Memory: u.Memory}
		}
	}
	if err := s.m.Collect(src); err != nil {
		// A programming error (metrics described twice), not the
		// operator's: collecting goes on without them.
		s.log.Error("metrics of the components not registered", "error", err)
	}
}

// serveOn mounts the endpoints on the console: the health checks open,
// the metrics behind the console's authentication.
func (s *metricsServer) serveOn(srv *console.Server) {
	srv.Handle(metrics.MetricsPath, s.m.Handler())
	srv.HandlePublic(metrics.HealthPath, metrics.Healthz())
	srv.HandlePublic(metrics.ReadyPath, metrics.Readyz(s.m.Ready))
}

// ready marks flowlens ready (its inputs read, its pipeline runs) until
// ctx ends, when it stops taking data.
func (s *metricsServer) ready(ctx context.Context) {
	s.m.Ready.SetReady()
	go func() {
		<-ctx.Done()
		s.m.Ready.NotReady("shutting down")
	}()
}

// close stops the listener. It runs last, so that a scrape during the
// shutdown still sees the outputs drain.
func (s *metricsServer) close() {
	s.m.Ready.NotReady("shutting down")
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := errors.Join(s.srv.Shutdown(ctx), <-s.done); err != nil {
		s.log.Warn("stopping the metrics listener", "error", err)
	}
}
