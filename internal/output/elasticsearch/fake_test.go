package elasticsearch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeES follows the documented Elasticsearch and OpenSearch APIs closely
// enough to test against: the root endpoint of Elasticsearch 7 and 8 and
// OpenSearch 2; composable index templates; ILM and ISM policies (ISM
// updates need if_seq_no and if_primary_term); and the bulk API — NDJSON
// action and source lines, gzip request bodies, "create" semantics (409
// when the id exists), per-item results and the errors flag, documents
// checked against the installed template's field types (a value that does
// not fit is a 400 mapper_parsing_exception, as in a real cluster).
// Failures are injected per request and per item.
type fakeES struct {
	t      testing.TB
	flavor string // es7, es8, os2

	// wantAuth: requests without this Authorization header get 401.
	wantAuth string

	mu        sync.Mutex
	docs      map[string][]byte // index/_id -> source
	arrival   []string          // index/_id in creation order
	templates map[string][]byte
	parsed    map[string]parsedTemplate
	ilm       map[string][]byte
	ism       map[string]*ismDoc
	auth      map[string]int // Authorization headers seen
	bulks     int            // bulk requests received
	gzipped   int
	attempts  map[string]int // create attempts per index/_id
	down      bool           // every request: 503
	refuse    bool           // bulk requests: connection closed without answer

	// reqFail returns a status to fail bulk request n (1-based) as a
	// whole, 0 to process it; store processes it first (the answer is
	// then lost: connection closed).
	reqFail func(n int) (status int, processThenDrop bool)
	// itemFail returns a per-item status (0: normal processing).
	itemFail func(id string, doc []byte, attempt int) (status int, typ, reason string)
	// slow holds every bulk request this long.
	slow time.Duration
	// late returns how long to wait before answering bulk request n
	// (1-based), after processing it whether or not the client still
	// waits: an overloaded cluster finishing work its client gave up on.
	late func(n int) time.Duration
}

type parsedTemplate struct {
	patterns []string
	priority float64
	types    map[string]string // dotted path -> type ("object" for objects)
}

func flatten(props map[string]any, prefix string, out map[string]string) {
	for k, v := range props {
		m, _ := v.(map[string]any)
		p := prefix + k
		if sub, ok := m["properties"].(map[string]any); ok {
			out[p] = "object"
			flatten(sub, p+".", out)
			continue
		}
		t, _ := m["type"].(string)
		out[p] = t
	}
}

type ismDoc struct {
	body       []byte
	seq, term  int64
	updatedSeq int
}

func newFakeES(t testing.TB, flavor string) (*fakeES, *httptest.Server) {
	f := &fakeES{t: t, flavor: flavor, docs: map[string][]byte{}, templates: map[string][]byte{},
		ilm: map[string][]byte{}, ism: map[string]*ismDoc{}, auth: map[string]int{}, attempts: map[string]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeES) setDown(v bool) {
	f.mu.Lock()
	f.down = v
	f.mu.Unlock()
}

func (f *fakeES) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.docs)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if b, ok := v.([]byte); ok {
		w.WriteHeader(status)
		w.Write(b)
		return
	}
	b, _ := json.Marshal(v)
	w.WriteHeader(status)
	w.Write(b)
}

func esError(status int, typ, reason string) map[string]any {
	return map[string]any{"error": map[string]any{"root_cause": []any{map[string]any{"type": typ, "reason": reason}},
		"type": typ, "reason": reason}, "status": status}
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.auth[r.Header.Get("Authorization")]++
	down, wantAuth := f.down, f.wantAuth
	f.mu.Unlock()
	if down {
		writeJSON(w, 503, esError(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"))
		return
	}
	if wantAuth != "" && r.Header.Get("Authorization") != wantAuth {
		w.Header().Set("WWW-Authenticate", `Basic realm="security" charset="UTF-8"`)
		writeJSON(w, 401, esError(401, "security_exception", "unable to authenticate user [elastic] for REST request [/]"))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSON(w, 400, esError(400, "parse_exception", err.Error()))
		return
	}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			writeJSON(w, 400, esError(400, "parse_exception", "bad gzip body: "+err.Error()))
			return
		}
		f.mu.Lock()
		f.gzipped++
		f.mu.Unlock()
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodGet && path == "/":
		writeJSON(w, 200, f.root())
	case path == "/_bulk" && r.Method == http.MethodPost:
		f.bulk(w, r, body)
	case strings.HasPrefix(path, "/_index_template/") && r.Method == http.MethodPut:
		var tpl struct {
			IndexPatterns []string `json:"index_patterns"`
			Priority      float64  `json:"priority"`
			Template      struct {
				Mappings map[string]any `json:"mappings"`
			} `json:"template"`
		}
		if err := json.Unmarshal(body, &tpl); err != nil || len(tpl.IndexPatterns) == 0 || tpl.Template.Mappings == nil {
			writeJSON(w, 400, esError(400, "x_content_parse_exception", "bad template"))
			return
		}
		f.mu.Lock()
		f.templates[strings.TrimPrefix(path, "/_index_template/")] = body
		if f.parsed == nil {
			f.parsed = map[string]parsedTemplate{}
		}
		types := map[string]string{}
		props, _ := tpl.Template.Mappings["properties"].(map[string]any)
		flatten(props, "", types)
		f.parsed[strings.TrimPrefix(path, "/_index_template/")] = parsedTemplate{tpl.IndexPatterns, tpl.Priority, types}
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	case strings.HasPrefix(path, "/_ilm/policy/") && r.Method == http.MethodPut:
		if f.flavor == "os2" {
			writeJSON(w, 400, map[string]any{"error": "no handler found for uri [" + path + "] and method [PUT]"})
			return
		}
		f.mu.Lock()
		f.ilm[strings.TrimPrefix(path, "/_ilm/policy/")] = body
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	case strings.HasPrefix(path, "/_plugins/_ism/policies/"):
		f.ismPolicy(w, r, strings.TrimPrefix(path, "/_plugins/_ism/policies/"), body)
	case strings.HasSuffix(path, "/_refresh"):
		writeJSON(w, 200, map[string]any{"_shards": map[string]any{"total": 1, "successful": 1, "failed": 0}})
	case strings.HasSuffix(path, "/_count") || strings.HasPrefix(path, "/_cat/indices/"):
		prefix := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(path, "/_cat/indices"), "/"), "/_count"), "*")
		f.mu.Lock()
		n, indices := 0, map[string]bool{}
		for k := range f.docs {
			if strings.HasPrefix(k, prefix) {
				n++
				indices[k[:strings.Index(k, "/")]] = true
			}
		}
		f.mu.Unlock()
		if strings.HasSuffix(path, "/_count") {
			writeJSON(w, 200, map[string]any{"count": n})
			return
		}
		var list []any
		for i := range indices {
			list = append(list, map[string]any{"index": i})
		}
		writeJSON(w, 200, list)
	case r.Method == http.MethodDelete:
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	default:
		writeJSON(w, 400, map[string]any{"error": "no handler found for uri [" + path + "] and method [" + r.Method + "]"})
	}
}

func (f *fakeES) root() any {
	switch f.flavor {
	case "es7":
		return map[string]any{"name": "es7", "cluster_name": "test", "cluster_uuid": "x",
			"version": map[string]any{"number": "7.17.22", "build_flavor": "default", "build_type": "docker", "lucene_version": "8.11.3",
				"minimum_wire_compatibility_version": "6.8.0", "minimum_index_compatibility_version": "6.0.0-beta1"},
			"tagline": "You Know, for Search"}
	case "os2":
		return map[string]any{"name": "os2", "cluster_name": "test", "cluster_uuid": "x",
			"version": map[string]any{"distribution": "opensearch", "number": "2.17.1", "build_type": "tar", "lucene_version": "9.11.1",
				"minimum_wire_compatibility_version": "7.10.0", "minimum_index_compatibility_version": "7.0.0"},
			"tagline": "The OpenSearch Project: https://opensearch.org/"}
	}
	return map[string]any{"name": "es8", "cluster_name": "test", "cluster_uuid": "x",
		"version": map[string]any{"number": "8.15.3", "build_flavor": "default", "build_type": "docker", "lucene_version": "9.11.1",
			"minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0"},
		"tagline": "You Know, for Search"}
}

func (f *fakeES) ismPolicy(w http.ResponseWriter, r *http.Request, id string, body []byte) {
	if f.flavor != "os2" {
		writeJSON(w, 400, map[string]any{"error": "no handler found for uri [" + r.URL.Path + "]"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cur := f.ism[id]
	switch r.Method {
	case http.MethodGet:
		if cur == nil {
			writeJSON(w, 404, esError(404, "status_exception", "Policy not found"))
			return
		}
		var p map[string]any
		json.Unmarshal(cur.body, &p)
		writeJSON(w, 200, map[string]any{"_id": id, "_version": cur.seq + 1, "_seq_no": cur.seq, "_primary_term": cur.term, "policy": p["policy"]})
	case http.MethodPut:
		var p struct {
			Policy struct {
				DefaultState string `json:"default_state"`
				States       []any  `json:"states"`
			} `json:"policy"`
		}
		if json.Unmarshal(body, &p) != nil || p.Policy.DefaultState == "" || len(p.Policy.States) == 0 {
			writeJSON(w, 400, esError(400, "illegal_argument_exception", "bad policy"))
			return
		}
		if cur != nil {
			seq, e1 := strconv.ParseInt(r.URL.Query().Get("if_seq_no"), 10, 64)
			term, e2 := strconv.ParseInt(r.URL.Query().Get("if_primary_term"), 10, 64)
			if e1 != nil || e2 != nil || seq != cur.seq || term != cur.term {
				writeJSON(w, 409, esError(409, "version_conflict_engine_exception", "["+id+"]: version conflict, required seqNo ["+r.URL.Query().Get("if_seq_no")+"]"))
				return
			}
			cur.body, cur.seq = body, cur.seq+1
			cur.updatedSeq++
			writeJSON(w, 200, map[string]any{"_id": id, "_seq_no": cur.seq, "_primary_term": cur.term})
			return
		}
		f.ism[id] = &ismDoc{body: body, seq: 7, term: 1}
		writeJSON(w, 201, map[string]any{"_id": id, "_seq_no": 7, "_primary_term": 1})
	default:
		writeJSON(w, 405, esError(405, "method_not_allowed", r.Method))
	}
}

func (f *fakeES) bulk(w http.ResponseWriter, r *http.Request, body []byte) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") && !strings.HasPrefix(ct, "application/json") {
		writeJSON(w, 406, map[string]any{"error": "Content-Type header [" + ct + "] is not supported", "status": 406})
		return
	}
	f.mu.Lock()
	f.bulks++
	n := f.bulks
	reqFail, slow, refuse, late := f.reqFail, f.slow, f.refuse, f.late
	f.mu.Unlock()
	if slow > 0 {
		select {
		case <-time.After(slow):
		case <-r.Context().Done():
			return
		}
	}
	if refuse {
		hijackClose(w)
		return
	}
	drop := false
	if reqFail != nil {
		status, processThenDrop := reqFail(n)
		if processThenDrop {
			drop = true
		} else if status != 0 {
			if status == 429 {
				writeJSON(w, 429, esError(429, "es_rejected_execution_exception", "rejected execution of coordinating operation"))
			} else {
				writeJSON(w, status, esError(status, "unavailable_shards_exception", "primary shard is not active"))
			}
			return
		}
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		writeJSON(w, 400, esError(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"))
		return
	}
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	if len(lines)%2 != 0 {
		writeJSON(w, 400, esError(400, "illegal_argument_exception", "Malformed action/metadata line"))
		return
	}
	items := make([]any, 0, len(lines)/2)
	errorsFlag := false
	for i := 0; i < len(lines); i += 2 {
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(lines[i], &action); err != nil || len(action) != 1 {
			writeJSON(w, 400, esError(400, "illegal_argument_exception", "Malformed action/metadata line ["+strconv.Itoa(i+1)+"]"))
			return
		}
		meta, ok := action["create"]
		if !ok || meta.Index == "" || meta.ID == "" {
			f.t.Errorf("bulk item is not a create with _index and _id: %s", lines[i])
			writeJSON(w, 400, esError(400, "action_request_validation_exception", "bad action"))
			return
		}
		status, typ, reason := f.item(meta.Index, meta.ID, lines[i+1])
		res := map[string]any{"_index": meta.Index, "_id": meta.ID, "status": status}
		if typ != "" {
			errorsFlag = true
			res["error"] = map[string]any{"type": typ, "reason": reason, "index": meta.Index}
		} else {
			res["result"], res["_version"] = "created", 1
		}
		items = append(items, map[string]any{"create": res})
	}
	if drop {
		hijackClose(w)
		return
	}
	if late != nil {
		time.Sleep(late(n))
	}
	writeJSON(w, 200, map[string]any{"took": 3, "errors": errorsFlag, "items": items})
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
		}
	}
}

// item processes one create: injected failure, mapping check, then
// create-or-409.
func (f *fakeES) item(index, id string, src []byte) (int, string, string) {
	key := index + "/" + id
	f.mu.Lock()
	f.attempts[key]++
	attempt := f.attempts[key]
	itemFail := f.itemFail
	f.mu.Unlock()
	if itemFail != nil {
		if status, typ, reason := itemFail(id, src, attempt); status != 0 {
			return status, typ, reason
		}
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return 400, "mapper_parsing_exception", "failed to parse: " + err.Error()
	}
	if reason := f.checkMapping(index, doc); reason != "" {
		return 400, "mapper_parsing_exception", reason
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.docs[key]; ok {
		return 409, "version_conflict_engine_exception", "[" + id + "]: version conflict, document already exists (current version [1])"
	}
	f.docs[key] = append([]byte(nil), src...)
	f.arrival = append(f.arrival, key)
	return 201, "", ""
}

// checkMapping checks a document against the template whose pattern
// matches index (highest priority), as dynamic: true mapping would.
func (f *fakeES) checkMapping(index string, doc map[string]any) string {
	f.mu.Lock()
	var best map[string]string
	bestPrio := -1.0
	for _, tpl := range f.parsed {
		for _, p := range tpl.patterns {
			if strings.HasPrefix(index, strings.TrimSuffix(p, "*")) && tpl.priority > bestPrio {
				best, bestPrio = tpl.types, tpl.priority
			}
		}
	}
	f.mu.Unlock()
	if best == nil {
		return ""
	}
	var walk func(prefix string, v any) string
	walk = func(prefix string, v any) string {
		if m, ok := v.(map[string]any); ok {
			if t := best[prefix]; t == "geo_point" {
				return checkValue(prefix, t, v)
			}
			for k, c := range m {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				if r := walk(p, c); r != "" {
					return r
				}
			}
			return ""
		}
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				if r := walk(prefix, e); r != "" {
					return r
				}
			}
			return ""
		}
		t := best[prefix]
		if t == "object" {
			return fmt.Sprintf("object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", prefix, prefix)
		}
		return checkValue(prefix, t, v)
	}
	return walk("", doc)
}

func checkValue(field, typ string, v any) string {
	bad := func() string {
		return fmt.Sprintf("failed to parse field [%s] of type [%s] in document. Preview of field's value: '%v'", field, typ, v)
	}
	switch typ {
	case "":
		return "" // dynamic
	case "ip":
		s, ok := v.(string)
		if _, err := netip.ParseAddr(s); !ok || err != nil {
			return bad()
		}
	case "keyword":
		switch v.(type) {
		case string, json.Number, bool:
		default:
			return bad()
		}
	case "long", "integer", "short", "byte":
		n, ok := v.(json.Number)
		if !ok {
			return bad()
		}
		x, err := strconv.ParseFloat(string(n), 64)
		limit := map[string]float64{"long": math.MaxInt64, "integer": math.MaxInt32, "short": math.MaxInt16, "byte": math.MaxInt8}[typ]
		if err != nil || x != math.Trunc(x) || x > limit || x < -limit-1 {
			return bad()
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case "date":
		s, ok := v.(string)
		if _, err := time.Parse(time.RFC3339Nano, s); !ok || err != nil {
			return bad()
		}
	case "geo_point":
		switch g := v.(type) {
		case string:
			la, lo, ok := strings.Cut(g, ",")
			lat, e1 := strconv.ParseFloat(strings.TrimSpace(la), 64)
			lon, e2 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
			if !ok || e1 != nil || e2 != nil || math.Abs(lat) > 90 || math.Abs(lon) > 180 {
				return bad()
			}
		case map[string]any:
			if _, ok := g["lat"].(json.Number); !ok {
				return bad()
			}
			if _, ok := g["lon"].(json.Number); !ok {
				return bad()
			}
		default:
			return bad()
		}
	}
	return ""
}

// stored returns every stored source, keyed by index/_id.
func (f *fakeES) stored() map[string][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string][]byte, len(f.docs))
	for k, v := range f.docs {
		out[k] = v
	}
	return out
}

// fakeKibana answers GET /api/status and POST /api/saved_objects/_import
// (multipart "file", xsrf header, overwrite) like Kibana 8 or OpenSearch
// Dashboards 2.
type fakeKibana struct {
	osd      bool
	version  string          // "": 8.15.3, or 2.17.1 for OpenSearch Dashboards
	reject   map[string]bool // types refused as unsupported
	wantAuth string
	mu       sync.Mutex
	objects  map[string]map[string]any // type/id
	imports  int
	lastPath string
}

func (k *fakeKibana) versionNumber() string {
	switch {
	case k.version != "":
		return k.version
	case k.osd:
		return "2.17.1"
	}
	return "8.15.3"
}

func (k *fakeKibana) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if k.osd {
		w.Header().Set("osd-name", "osd")
	} else {
		w.Header().Set("kbn-name", "kibana")
	}
	if k.wantAuth != "" && r.Header.Get("Authorization") != k.wantAuth {
		writeJSON(w, 401, map[string]any{"statusCode": 401, "error": "Unauthorized", "message": "Unauthorized"})
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/api/status"):
		v := k.versionNumber()
		writeJSON(w, 200, map[string]any{"name": "kb", "version": map[string]any{"number": v, "build_hash": "x", "build_number": 1, "build_snapshot": false}})
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api/saved_objects/_import"):
		k.mu.Lock()
		k.lastPath = r.URL.Path
		k.mu.Unlock()
		header := "kbn-xsrf"
		if k.osd {
			header = "osd-xsrf"
		}
		if r.Header.Get(header) == "" {
			writeJSON(w, 400, map[string]any{"statusCode": 400, "error": "Bad Request", "message": "Request must contain a " + header + " header."})
			return
		}
		if r.URL.Query().Get("overwrite") != "true" {
			writeJSON(w, 400, map[string]any{"statusCode": 400, "error": "Bad Request", "message": "overwrite expected in this test"})
			return
		}
		file, _, err := r.FormFile("file")
		if err != nil {
			writeJSON(w, 400, map[string]any{"statusCode": 400, "error": "Bad Request", "message": "[request body.file]: expected value of type [Stream]"})
			return
		}
		var errs []any
		n := 0
		sc := bufio.NewScanner(file)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.objects == nil {
			k.objects = map[string]map[string]any{}
		}
		k.imports++
		for sc.Scan() {
			var o map[string]any
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				writeJSON(w, 400, map[string]any{"statusCode": 400, "error": "Bad Request", "message": "Unexpected token in JSON"})
				return
			}
			typ, _ := o["type"].(string)
			id, _ := o["id"].(string)
			supported := map[string]bool{"index-pattern": true, "visualization": true, "dashboard": true, "search": true, "map": !k.osd, "lens": !k.osd}
			if !supported[typ] || k.reject[typ] {
				errs = append(errs, map[string]any{"id": id, "type": typ, "title": "", "error": map[string]any{"type": "unsupported_type"}})
				continue
			}
			// Kibana refuses objects from a newer Kibana.
			if core, _ := o["coreMigrationVersion"].(string); core != "" && !k.osd && !versionLE(core, k.versionNumber()) {
				errs = append(errs, map[string]any{"id": id, "type": typ, "error": map[string]any{"type": "unknown",
					"message": "Document \"" + id + "\" has property \"coreMigrationVersion\" which belongs to a more recent version of Kibana [" + core + "]"}})
				continue
			}
			if _, ok := o["coreMigrationVersion"]; ok && k.osd {
				errs = append(errs, map[string]any{"id": id, "type": typ, "error": map[string]any{"type": "unknown", "message": "coreMigrationVersion is not allowed"}})
				continue
			}
			k.objects[typ+"/"+id] = o
			n++
		}
		writeJSON(w, 200, map[string]any{"success": len(errs) == 0, "successCount": n, "errors": errs})
	case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/api/saved_objects/"):
		// GET /api/saved_objects/TYPE/ID
		parts := strings.Split(strings.TrimPrefix(r.URL.Path[strings.Index(r.URL.Path, "/api/saved_objects/"):], "/api/saved_objects/"), "/")
		k.mu.Lock()
		var o map[string]any
		if len(parts) == 2 {
			o = k.objects[parts[0]+"/"+parts[1]]
		}
		k.mu.Unlock()
		if o == nil {
			writeJSON(w, 404, map[string]any{"statusCode": 404, "error": "Not Found", "message": "Saved object [" + strings.Join(parts, "/") + "] not found"})
			return
		}
		writeJSON(w, 200, o)
	default:
		writeJSON(w, 404, map[string]any{"statusCode": 404, "error": "Not Found", "message": "Not Found"})
	}
}
