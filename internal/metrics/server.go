package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is the listener of metrics.listen: /metrics, /healthz and
// /readyz on an address of their own.
type Server struct {
	log  *slog.Logger
	srv  *http.Server
	done chan error
}

// Listen starts serving m's endpoints on addr. It is started before
// anything else, so that /healthz answers and /readyz says "starting"
// while the rest starts (OVSDB reads can take seconds), and a busy port
// fails the start before any input is open.
func Listen(addr string, m *Metrics, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w (pick a free address, or leave metrics.listen empty)", addr, err)
	}
	s := &Server{log: log, done: make(chan error, 1)}
	s.srv = &http.Server{Handler: m.Mux(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	log.Info("metrics listening", "url", "http://"+ln.Addr().String()+MetricsPath)
	return s, nil
}

// Close stops the listener, waiting up to 2 s for scrapes under way.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return errors.Join(s.srv.Shutdown(ctx), <-s.done)
}
