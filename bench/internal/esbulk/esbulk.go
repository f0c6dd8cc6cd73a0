// Package esbulk is a stand-in for an Elasticsearch 8 node, for the
// benchmarks and fault tests of the Elasticsearch output: Elasticsearch
// itself cannot run on the machines these run on.
//
// It follows the documented bulk API (docs: "Bulk API", Elasticsearch 8):
// NDJSON action and source lines, a body that must end with a newline,
// gzip request bodies (Content-Encoding: gzip), the index, create, update
// and delete actions with _index and _id (or the index of the path),
// per-item results in request order with their status, the errors flag,
// filter_path on the answer, and "create" semantics: a create of an _id
// the index holds already fails with 409 version_conflict_engine_exception,
// so a request sent twice never stores a document twice. It answers GET /
// as an 8.x node, acknowledges index template and ILM policy PUTs, counts
// documents (GET /_count, GET /INDEX/_count) and deletes indices (DELETE
// /INDEX, wildcards allowed), and sends X-Elastic-Product: Elasticsearch
// with every answer, which go-elasticsearch requires.
//
// It keeps ids, not sources. Sources are checked to be JSON objects (the
// first and last byte; Options.Validate parses them fully), as a mapping
// is out of its scope. With Options.TrackSources it also keeps a 64-bit
// hash of every created source, to find one document created under two
// ids: a duplicate that create semantics cannot catch.
package esbulk

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxContentLength is Elasticsearch's default http.max_content_length:
// larger requests get 413.
const MaxContentLength = 100 << 20

// Options choose the optional checks.
type Options struct {
	// Validate parses every source as JSON (a malformed one is a 400
	// document_parsing_exception item, as in Elasticsearch 8).
	Validate bool
	// TrackSources keeps a hash of every created source, for Stats.SameSource.
	TrackSources bool
	// Latency holds every bulk answer this long after the request was
	// processed, as a busy cluster does: a node going down then loses
	// answers to requests it has processed.
	Latency time.Duration
	// OnCreate, if set, is called with every document created, one call
	// at a time; src is only valid during the call.
	OnCreate func(index, id string, src []byte)
}

// Stats are the server's counters since it started.
type Stats struct {
	// Requests: bulk requests answered; Gzipped of them had gzip bodies.
	Requests, Gzipped uint64
	// Items: bulk items processed (action lines).
	Items uint64
	// Created documents; Conflicts: creates of an _id already there (409).
	Created, Conflicts uint64
	// Rejected items (400: malformed source, missing index).
	Rejected uint64
	// SameSource: documents created whose source equals one created
	// before under another id (only with Options.TrackSources).
	SameSource uint64
	// Docs: documents held now, over all indices.
	Docs int
	// BodyBytes: request bodies as received (compressed).
	BodyBytes uint64
	// Held: bulk requests processed whose answer is held (Options.Latency).
	Held int64
}

// Server is the stand-in node: an http.Handler.
type Server struct {
	opt Options

	mu      sync.Mutex
	indices map[string]*index
	sources map[uint64]struct{}
	seed    maphash.Seed

	requests, gzipped, items, created, conflicts, rejected, sameSource, bodyBytes atomic.Uint64
	held                                                                          atomic.Int64

	zpool sync.Pool
	bufs  sync.Pool // request bodies
	outs  sync.Pool // answers (*[]byte)
}

type index struct {
	ids map[string]struct{}
	seq int64
}

// New returns an empty node.
func New(opt Options) *Server {
	return &Server{opt: opt, indices: map[string]*index{}, sources: map[uint64]struct{}{}, seed: maphash.MakeSeed()}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{Requests: s.requests.Load(), Gzipped: s.gzipped.Load(), Items: s.items.Load(),
		Created: s.created.Load(), Conflicts: s.conflicts.Load(), Rejected: s.rejected.Load(),
		SameSource: s.sameSource.Load(), BodyBytes: s.bodyBytes.Load(), Held: s.held.Load()}
	s.mu.Lock()
	for _, ix := range s.indices {
		st.Docs += len(ix.ids)
	}
	s.mu.Unlock()
	return st
}

// IDs returns the ids held by the indices matching pattern (path.Match).
func (s *Server) IDs(pattern string) map[string]struct{} {
	out := map[string]struct{}{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, ix := range s.indices {
		if ok, _ := path.Match(pattern, name); ok {
			for id := range ix.ids {
				out[name+"/"+id] = struct{}{}
			}
		}
	}
	return out
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	p := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(p, "/")
	last := parts[len(parts)-1]
	switch {
	case p == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		writeJSON(w, 200, root)
	case p == "_esbulk/stats" && r.Method == http.MethodGet:
		// Not an Elasticsearch API: the stand-in's own counters.
		b, _ := json.Marshal(s.Stats())
		writeJSON(w, 200, b)
	case last == "_bulk" && (r.Method == http.MethodPost || r.Method == http.MethodPut) && len(parts) <= 2:
		def := ""
		if len(parts) == 2 {
			def = parts[0]
		}
		s.bulk(w, r, def)
	case last == "_count" && (r.Method == http.MethodGet || r.Method == http.MethodPost) && len(parts) <= 2:
		pat := "*"
		if len(parts) == 2 {
			pat = parts[0]
		}
		n := 0
		s.mu.Lock()
		for name, ix := range s.indices {
			if matchAny(pat, name) {
				n += len(ix.ids)
			}
		}
		s.mu.Unlock()
		writeJSON(w, 200, []byte(`{"count":`+strconv.Itoa(n)+`,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0}}`))
	case (parts[0] == "_index_template" || parts[0] == "_template" || parts[0] == "_component_template") && len(parts) == 2 && r.Method == http.MethodPut,
		parts[0] == "_ilm" && len(parts) == 3 && parts[1] == "policy" && r.Method == http.MethodPut:
		io.Copy(io.Discard, r.Body)
		writeJSON(w, 200, []byte(`{"acknowledged":true}`))
	case len(parts) == 1 && !strings.HasPrefix(p, "_") && r.Method == http.MethodDelete:
		s.mu.Lock()
		n := 0
		for name := range s.indices {
			if matchAny(p, name) {
				delete(s.indices, name)
				n++
			}
		}
		if len(s.indices) == 0 {
			s.sources = map[uint64]struct{}{}
		}
		s.mu.Unlock()
		if n == 0 && !strings.ContainsAny(p, "*?") {
			writeJSON(w, 404, esError(404, "index_not_found_exception", "no such index ["+p+"]"))
			return
		}
		writeJSON(w, 200, []byte(`{"acknowledged":true}`))
	default:
		writeJSON(w, 400, []byte(`{"error":"no handler found for uri [`+r.URL.Path+`] and method [`+r.Method+`]"}`))
	}
}

// matchAny reports whether name matches the comma-separated index
// expression expr (wildcards allowed).
func matchAny(expr, name string) bool {
	for _, e := range strings.Split(expr, ",") {
		if e == "_all" {
			return true
		}
		if ok, _ := path.Match(e, name); ok {
			return true
		}
	}
	return false
}

var root = []byte(`{"name":"esbulk","cluster_name":"flowlens-bench","cluster_uuid":"esbulk-0000000000000000",` +
	`"version":{"number":"8.19.7","build_flavor":"default","build_type":"tar","lucene_version":"9.12.2",` +
	`"minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"You Know, for Search"}`)

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func esError(status int, typ, reason string) []byte {
	r, _ := json.Marshal(reason)
	return []byte(`{"error":{"root_cause":[{"type":"` + typ + `","reason":` + string(r) + `}],"type":"` + typ +
		`","reason":` + string(r) + `},"status":` + strconv.Itoa(status) + `}`)
}

// countingReader counts the bytes of the body as received.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (s *Server) getBuf() *bytes.Buffer {
	if b, ok := s.bufs.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

var errTooLarge = errors.New("too large")

// readBody reads (and gunzips) the request body into buf.
func (s *Server) readBody(r *http.Request, buf *bytes.Buffer) error {
	cr := &countingReader{r: r.Body}
	var rd io.Reader = cr
	if enc := r.Header.Get("Content-Encoding"); enc == "gzip" {
		s.gzipped.Add(1)
		zr, _ := s.zpool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(cr)
		} else {
			err = zr.Reset(cr)
		}
		if err != nil {
			return err
		}
		defer s.zpool.Put(zr)
		rd = zr
	} else if enc != "" && enc != "identity" {
		return fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	_, err := buf.ReadFrom(io.LimitReader(rd, MaxContentLength+1))
	s.bodyBytes.Add(uint64(cr.n))
	if err == nil && buf.Len() > MaxContentLength {
		return errTooLarge
	}
	return err
}

// action is an action line's metadata.
type action struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

type actionLine struct {
	Index  *action `json:"index"`
	Create *action `json:"create"`
	Update *action `json:"update"`
	Delete *action `json:"delete"`
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, defIndex string) {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/x-ndjson") && !strings.HasPrefix(ct, "application/json") &&
		!strings.HasPrefix(ct, "application/vnd.elasticsearch+x-ndjson") && !strings.HasPrefix(ct, "application/vnd.elasticsearch+json") {
		writeJSON(w, 406, []byte(`{"error":"Content-Type header [`+ct+`] is not supported","status":406}`))
		return
	}
	buf := s.getBuf()
	defer s.bufs.Put(buf)
	if err := s.readBody(r, buf); err != nil {
		if errors.Is(err, errTooLarge) {
			writeJSON(w, 413, nil)
			return
		}
		writeJSON(w, 400, esError(400, "parse_exception", "reading the request body: "+err.Error()))
		return
	}
	s.requests.Add(1)
	body := buf.Bytes()
	if len(body) == 0 {
		writeJSON(w, 400, esError(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;"))
		return
	}
	if body[len(body)-1] != '\n' {
		writeJSON(w, 400, esError(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"))
		return
	}
	f := compileFilter(r.URL.Query().Get("filter_path"))
	obp, _ := s.outs.Get().(*[]byte)
	if obp == nil {
		obp = new([]byte)
	}
	defer s.outs.Put(obp)
	ob := append((*obp)[:0], '{')
	top := 0
	if f.match("took") {
		ob = append(ob, `"took":1`...)
		top++
	}
	errorsAt := -1
	if f.match("errors") {
		if top > 0 {
			ob = append(ob, ',')
		}
		ob = append(ob, `"errors":`...)
		errorsAt = len(ob)
		ob = append(ob, `false`...)
		top++
	}
	itemsOut := f.any("items")
	nItems := 0
	hasErrors := false
	rest := body
	for line := 1; len(rest) > 0; line++ {
		nl := bytes.IndexByte(rest, '\n')
		act := rest[:nl]
		rest = rest[nl+1:]
		if len(bytes.TrimSpace(act)) == 0 {
			continue // Elasticsearch skips empty lines
		}
		var al actionLine
		if err := json.Unmarshal(act, &al); err != nil {
			writeJSON(w, 400, esError(400, "x_content_parse_exception", fmt.Sprintf("[%d:1] Malformed action/metadata line [%d]: %v", line, line, err)))
			return
		}
		name, meta := "", (*action)(nil)
		for _, c := range []struct {
			n string
			a *action
		}{{"index", al.Index}, {"create", al.Create}, {"update", al.Update}, {"delete", al.Delete}} {
			if c.a != nil {
				if meta != nil {
					writeJSON(w, 400, esError(400, "illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected END_OBJECT", line)))
					return
				}
				name, meta = c.n, c.a
			}
		}
		if meta == nil {
			writeJSON(w, 400, esError(400, "illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected one of [create, delete, index, update]", line)))
			return
		}
		var src []byte
		if name != "delete" {
			line++
			if len(rest) == 0 {
				writeJSON(w, 400, esError(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"))
				return
			}
			nl = bytes.IndexByte(rest, '\n')
			src = rest[:nl]
			rest = rest[nl+1:]
		}
		ix := meta.Index
		if ix == "" {
			ix = defIndex
		}
		if ix == "" {
			writeJSON(w, 400, esError(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;"))
			return
		}
		s.items.Add(1)
		status, res := s.item(name, ix, meta.ID, src)
		if status >= 300 {
			hasErrors = true
		}
		if itemsOut {
			if nItems == 0 {
				if top > 0 {
					ob = append(ob, ',')
				}
				ob = append(ob, `"items":[`...)
				top++
			} else {
				ob = append(ob, ',')
			}
			ob = f.item(ob, name, &res)
			nItems++
		}
	}
	if nItems > 0 {
		ob = append(ob, ']')
	}
	ob = append(ob, '}')
	if hasErrors && errorsAt >= 0 {
		ob = append(ob[:errorsAt], append([]byte("true"), ob[errorsAt+5:]...)...)
	}
	if s.opt.Latency > 0 {
		s.held.Add(1)
		defer s.held.Add(-1)
		select {
		case <-time.After(s.opt.Latency):
		case <-r.Context().Done():
			return // connection closed: the answer is lost, the documents stay
		}
	}
	writeJSON(w, 200, ob)
	*obp = ob
}

// result is one item's outcome.
type result struct {
	index, id   string
	status      int
	seq         int64
	version     int
	result      string
	errType     string
	errReason   string
	idGenerated bool
}

var autoID atomic.Uint64

// item applies one action.
func (s *Server) item(act, ixName, id string, src []byte) (int, result) {
	res := result{index: ixName, id: id}
	if act != "delete" {
		if bad := s.checkSource(src); bad != "" {
			s.rejected.Add(1)
			res.status, res.errType, res.errReason = 400, "document_parsing_exception", bad
			return 400, res
		}
	}
	if id == "" {
		if act != "index" && act != "create" {
			s.rejected.Add(1)
			res.status, res.errType, res.errReason = 400, "action_request_validation_exception", "Validation Failed: 1: id is missing;"
			return 400, res
		}
		res.id = "auto-" + strconv.FormatUint(autoID.Add(1), 36)
		res.idGenerated = true
	}
	var h uint64
	if s.opt.TrackSources && src != nil {
		h = maphash.Bytes(s.seed, src)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[ixName]
	if ix == nil {
		if act == "delete" || act == "update" {
			res.status, res.errType, res.errReason = 404, "index_not_found_exception", "no such index ["+ixName+"]"
			return 404, res
		}
		ix = &index{ids: map[string]struct{}{}}
		s.indices[ixName] = ix
	}
	_, exists := ix.ids[res.id]
	switch act {
	case "create":
		if exists {
			s.conflicts.Add(1)
			res.status, res.errType = 409, "version_conflict_engine_exception"
			res.errReason = "[" + res.id + "]: version conflict, document already exists (current version [1])"
			return 409, res
		}
	case "update", "delete":
		if !exists {
			res.status, res.errType, res.errReason = 404, "document_missing_exception", "["+res.id+"]: document missing"
			if act == "delete" {
				res.errType, res.errReason = "", ""
				res.result = "not_found"
			}
			return 404, res
		}
	}
	ix.seq++
	res.seq, res.version = ix.seq-1, 1
	switch {
	case act == "delete":
		delete(ix.ids, res.id)
		res.status, res.result = 200, "deleted"
	case exists:
		res.status, res.result, res.version = 200, "updated", 2
	default:
		ix.ids[res.id] = struct{}{}
		s.created.Add(1)
		res.status, res.result = 201, "created"
		if s.opt.TrackSources {
			if _, seen := s.sources[h]; seen {
				s.sameSource.Add(1)
			}
			s.sources[h] = struct{}{}
		}
		if s.opt.OnCreate != nil {
			s.opt.OnCreate(ixName, res.id, src)
		}
	}
	return res.status, res
}

// checkSource returns why a source is not a document, or "".
func (s *Server) checkSource(src []byte) string {
	t := bytes.TrimSpace(src)
	if len(t) < 2 || t[0] != '{' || t[len(t)-1] != '}' {
		return "[1:1] failed to parse: the source is not a JSON object"
	}
	if s.opt.Validate && !json.Valid(t) {
		return "[1:1] failed to parse: malformed JSON"
	}
	return ""
}
