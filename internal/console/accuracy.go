package console

import (
	"github.com/flowlens/flowlens/internal/unanswered"
	"net/http"
	"time"

	"github.com/flowlens/flowlens/internal/accuracy"
)

// AccuracySource answers GET /api/v1/accuracy: the comparison of sampled
// estimates with the ports' counters (package accuracy).
type AccuracySource interface {
	Report(accuracy.Query) accuracy.Report
}

// WithAccuracy serves GET /api/v1/accuracy from src and everything else
// from api (NewAPI's handler). It wraps rather than joins NewAPI so that the
// comparison, which lives in memory, works with the store disabled too.
// now is the clock of relative times (nil: time.Now).
func WithAccuracy(api http.Handler, src AccuracySource, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return withEndpoint(api, "GET /api/v1/accuracy", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := checkParams(q, []string{"from", "to", "agent", "port"}); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		var aq accuracy.Query
		t := now()
		for _, p := range []struct {
			name string
			to   *time.Time
		}{{"from", &aq.From}, {"to", &aq.To}} {
			if v := q.Get(p.name); v != "" {
				tv, err := ParseTime(v, t)
				if err != nil {
					writeError(w, http.StatusBadRequest, p.name+": "+err.Error())
					return
				}
				*p.to = tv
			}
		}
		if !aq.From.IsZero() && !aq.To.IsZero() && !aq.From.Before(aq.To) {
			writeError(w, http.StatusBadRequest, "from must be before to")
			return
		}
		aq.Agent, aq.Port = q.Get("agent"), q.Get("port")
		writeJSON(w, http.StatusOK, src.Report(aq))
	})
}

// withEndpoint serves pattern with h and everything else with api: the
// endpoints answered from memory (accuracy, unanswered) wrap NewAPI's
// handler rather than join it, so that they work with the store disabled.
func withEndpoint(api http.Handler, pattern string, h http.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.HandleFunc(pattern, h)
	return mux
}

// UnansweredSource answers GET /api/v1/unanswered (package unanswered).
type UnansweredSource interface {
	Report(from time.Time) unanswered.Report
}

// WithUnanswered serves GET /api/v1/unanswered?from= from src (in memory,
// so with the store disabled too) and everything else from api.
func WithUnanswered(api http.Handler, src UnansweredSource, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return withEndpoint(api, "GET /api/v1/unanswered", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := checkParams(q, []string{"from"}); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		var from time.Time
		if v := q.Get("from"); v != "" {
			t, err := ParseTime(v, now())
			if err != nil {
				writeError(w, http.StatusBadRequest, "from: "+err.Error())
				return
			}
			from = t
		}
		writeJSON(w, http.StatusOK, src.Report(from))
	})
}
