package elasticsearch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRealCluster runs against a real Elasticsearch or OpenSearch when
// ELASTICSEARCH_URL is set (and a real Kibana or OpenSearch Dashboards
// when KIBANA_URL is set too); it is skipped otherwise. Optional:
// ELASTICSEARCH_USERNAME, ELASTICSEARCH_PASSWORD, ELASTICSEARCH_API_KEY,
// ELASTICSEARCH_CA_FILE, ELASTICSEARCH_INSECURE=1, KIBANA_USERNAME,
// KIBANA_PASSWORD. It creates indices, templates and policies named
// flowlens-it-<time>-… and deletes them at the end. See
// docs/elasticsearch.md for a docker command line.
func TestRealCluster(t *testing.T) {
	url := os.Getenv("ELASTICSEARCH_URL")
	if url == "" {
		t.Skip("ELASTICSEARCH_URL is not set: no real cluster to test against")
	}
	base := DefaultConfig()
	base.URLs = strings.Split(url, ",")
	base.Username, base.Password = os.Getenv("ELASTICSEARCH_USERNAME"), Secret(os.Getenv("ELASTICSEARCH_PASSWORD"))
	base.APIKey = Secret(os.Getenv("ELASTICSEARCH_API_KEY"))
	base.TLS.CAFile, base.TLS.Insecure = os.Getenv("ELASTICSEARCH_CA_FILE"), os.Getenv("ELASTICSEARCH_INSECURE") == "1"
	base.Replicas, base.RetentionDays = 0, 1
	base.FlushInterval, base.BatchDocs = 100*time.Millisecond, 200
	base.BackoffInitial, base.BackoffMax = 50*time.Millisecond, time.Second

	for _, dataStream := range []bool{false, true} {
		for _, schema := range []string{SchemaECS, SchemaNetFlowCompat} {
			name := fmt.Sprintf("datastream=%v/%s", dataStream, schema)
			t.Run(name, func(t *testing.T) {
				cfg := base
				dir := t.TempDir()
				cfg.Spool.Dir, cfg.DeadLetter.Path = dir+"/spool", dir+"/dead.ndjson"
				cfg.Index = fmt.Sprintf("flowlens-it-%d", time.Now().UnixNano())
				cfg.DataStream, cfg.Schema = dataStream, schema
				c, err := newClient(cfg.URLs, cfg.Auth, cfg.TLS, cfg.Timeout, 2)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cleanup(t, c, &cfg) })
				info, err := Setup(ctxT(t), cfg, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("cluster: %s", info)

				const n = 1000
				write := func() Stats {
					o, err := New(cfg, nil)
					if err != nil {
						t.Fatal(err)
					}
					for i := 0; i < n; i += 100 {
						o.Write(batchOf(i, 100, 10))
					}
					waitFor(t, "delivery", 60*time.Second, func() bool {
						s := o.Stats()
						return s.Indexed+s.Duplicates+s.DeadLettered == s.Accepted
					})
					o.Close()
					return o.Stats()
				}
				s := write()
				if s.Indexed != n+100 || s.DeadLettered != 0 {
					t.Fatalf("first run: %+v (dead letters in %s)", s, cfg.DeadLetter.Path)
				}
				// The same records again: all already there, none added.
				s = write()
				if s.Duplicates != n+100 || s.Indexed != 0 {
					t.Errorf("second run: %+v", s)
				}
				c.do(ctxT(t), http.MethodPost, "/"+cfg.Index+"-*/_refresh", "", nil)
				_, body, err := c.do(ctxT(t), http.MethodGet, "/"+cfg.Index+"-*/_count", "", nil)
				if err != nil {
					t.Fatal(err)
				}
				var cnt struct{ Count int }
				json.Unmarshal(body, &cnt)
				if cnt.Count != n+100 {
					t.Errorf("%d documents in the cluster, want %d", cnt.Count, n+100)
				}
				// A document the mapping refuses goes to the dead-letter file.
				o, err := New(cfg, nil)
				if err != nil {
					t.Fatal(err)
				}
				ch := o.getChunk()
				idx := names{cfg.Index, cfg.DataStream}.target(kindFlows)
				if !cfg.DataStream {
					idx += time.Now().UTC().Format("2006.01.02")
				}
				field := `"source":{"ip":"not-an-address"}`
				if schema == SchemaNetFlowCompat {
					field = `"ipv4_src_addr":"not-an-address"`
				}
				ch.buf = fmt.Appendf(ch.buf, `{"create":{"_index":"%s","_id":"bad-%d"}}`+"\n"+`{"@timestamp":"%s",%s}`+"\n",
					idx, time.Now().UnixNano(), time.Now().UTC().Format(time.RFC3339Nano), field)
				ch.offs = append(ch.offs, 0)
				o.mu.Lock()
				o.seq++
				ch.seq = o.seq
				o.enqueue(ch)
				o.mu.Unlock()
				waitFor(t, "the dead letter", 30*time.Second, func() bool { return o.Stats().DeadLettered == 1 })
				o.Close()
				dl := readDeadLetters(t, cfg.DeadLetter.Path)
				if len(dl) != 1 || dl[0].Status != 400 || !strings.Contains(dl[0].Error.Type, "parsing_exception") {
					t.Errorf("dead letters: %+v", dl)
				}
			})
		}
	}
	if kurl := os.Getenv("KIBANA_URL"); kurl != "" {
		// Both schemas' objects are imported, then read back: every
		// object of the file is there, with its references.
		for _, schema := range []string{SchemaECS, SchemaNetFlowCompat} {
			cfg := base
			cfg.Schema = schema
			cfg.Kibana.URL = kurl
			cfg.Kibana.Username, cfg.Kibana.Password = os.Getenv("KIBANA_USERNAME"), Secret(os.Getenv("KIBANA_PASSWORD"))
			cfg.Kibana.TLS = cfg.TLS
			res, err := SetupKibana(ctxT(t), cfg, nil)
			if err != nil {
				t.Fatalf("%s: %v", schema, err)
			}
			t.Logf("kibana, %s: %+v", schema, res)
			nd, _ := SavedObjects(cfg.Index, schema, res.Flavor, res.Version)
			kc, err := newClient([]string{kurl}, cfg.Kibana.Auth, cfg.Kibana.TLS, cfg.Timeout, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(nd)), "\n") {
				var o struct{ ID, Type string }
				json.Unmarshal([]byte(line), &o)
				_, body, err := kc.do(ctxT(t), http.MethodGet, "/api/saved_objects/"+o.Type+"/"+o.ID, "", nil)
				if err != nil {
					t.Errorf("%s: reading %s/%s back: %v", schema, o.Type, o.ID, err)
					continue
				}
				var got struct {
					Error      any `json:"error"`
					References []any
				}
				if json.Unmarshal(body, &got); got.Error != nil {
					t.Errorf("%s: %s/%s: %s", schema, o.Type, o.ID, body)
				}
			}
		}
	}
}

// cleanup deletes what the test created, by name (Elasticsearch 8 refuses
// wildcard deletes by default).
func cleanup(t *testing.T, c *client, cfg *Config) {
	ctx := ctxT(t)
	n := names{cfg.Index, cfg.DataStream}
	if cfg.DataStream {
		for _, k := range []kind{kindFlows, kindCounters} {
			c.do(ctx, http.MethodDelete, "/_data_stream/"+n.target(k), "", nil, 404)
		}
	} else {
		_, body, _ := c.do(ctx, http.MethodGet, "/_cat/indices/"+cfg.Index+"-*?format=json&h=index", "", nil)
		var idx []struct{ Index string }
		json.Unmarshal(body, &idx)
		for _, i := range idx {
			c.do(ctx, http.MethodDelete, "/"+i.Index, "", nil, 404)
		}
	}
	for _, k := range []kind{kindFlows, kindCounters} {
		c.do(ctx, http.MethodDelete, "/_index_template/"+n.template(k), "", nil, 404)
	}
	c.do(ctx, http.MethodDelete, "/_ilm/policy/"+n.policy(), "", nil, 400, 404)
	c.do(ctx, http.MethodDelete, "/_plugins/_ism/policies/"+n.policy(), "", nil, 400, 404)
}

// The real-cluster test itself is kept honest against the fake cluster.
func TestRealClusterTestAgainstFake(t *testing.T) {
	if os.Getenv("ELASTICSEARCH_URL") != "" {
		t.Skip("a real cluster is configured")
	}
	for _, flavor := range []string{"es8", "os2"} {
		t.Run(flavor, func(t *testing.T) {
			_, srv := newFakeES(t, flavor)
			k := httptest.NewServer(&fakeKibana{osd: flavor == "os2"})
			defer k.Close()
			t.Setenv("ELASTICSEARCH_URL", srv.URL)
			t.Setenv("KIBANA_URL", k.URL)
			TestRealCluster(t)
		})
	}
}
