package elasticsearch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

type savedObject struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Attributes map[string]any `json:"attributes"`
	References []struct {
		Name, Type, ID string
	} `json:"references"`
}

func parseObjects(t *testing.T, ndjson []byte) map[string]*savedObject {
	t.Helper()
	objs := map[string]*savedObject{}
	for i, line := range bytes.Split(bytes.TrimSpace(ndjson), []byte("\n")) {
		var o savedObject
		if err := json.Unmarshal(line, &o); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if o.ID == "" || o.Type == "" || o.Attributes == nil || o.Attributes["title"] == nil {
			t.Fatalf("line %d: no id, type, attributes or title: %s", i+1, line)
		}
		key := o.Type + "/" + o.ID
		if objs[key] != nil {
			t.Fatalf("%s twice", key)
		}
		objs[key] = &o
	}
	return objs
}

func attrJSON(t *testing.T, o *savedObject, name string, v any) {
	t.Helper()
	s, ok := o.Attributes[name].(string)
	if !ok {
		t.Fatalf("%s/%s: no %s", o.Type, o.ID, name)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s/%s: %s does not parse: %v", o.Type, o.ID, name, err)
	}
}

// The shipped saved objects parse, every reference resolves to an object
// in the file, and every field they use is in the template of the data
// view they read.
func TestSavedObjectsAreConsistent(t *testing.T) {
	for _, flavor := range []string{FlavorKibana, FlavorOSD} {
		t.Run(flavor, func(t *testing.T) {
			ndjson, err := SavedObjects("flow", SchemaECS, flavor)
			if err != nil {
				t.Fatal(err)
			}
			objs := parseObjects(t, ndjson)
			templates := map[string]map[string]any{
				"flowlens-flows":    mappings(flowFieldsECS, SchemaECS),
				"flowlens-counters": mappings(counterFieldsECS, SchemaECS),
			}
			titles := map[string]string{"flowlens-flows": "flow-*,-flow-counters*", "flowlens-counters": "flow-counters*"}
			for id, title := range titles {
				dv := objs["index-pattern/"+id]
				if dv == nil || dv.Attributes["title"] != title || dv.Attributes["timeFieldName"] != "@timestamp" {
					t.Errorf("data view %s: %+v", id, dv)
				}
			}
			fieldOK := func(o *savedObject, dataView, field string) {
				t.Helper()
				m := templates[dataView]
				if m == nil {
					t.Errorf("%s/%s reads data view %q", o.Type, o.ID, dataView)
					return
				}
				if ty := mappedType(m, field); ty == "" || ty == "object" {
					t.Errorf("%s/%s uses %s, which is not in the %s template", o.Type, o.ID, field, dataView)
				}
			}
			uses := map[string]bool{}
			for key, o := range objs {
				refs := map[string]string{} // name -> id
				for _, r := range o.References {
					if objs[r.Type+"/"+r.ID] == nil {
						t.Errorf("%s: reference %s to %s/%s, not in the file", key, r.Name, r.Type, r.ID)
					}
					refs[r.Name] = r.ID
				}
				if meta, ok := o.Attributes["kibanaSavedObjectMeta"].(map[string]any); ok {
					var ss struct {
						IndexRefName string `json:"indexRefName"`
						Filter       []struct {
							Meta struct {
								IndexRefName string `json:"indexRefName"`
							} `json:"meta"`
							Query json.RawMessage `json:"query"`
						} `json:"filter"`
					}
					if err := json.Unmarshal([]byte(meta["searchSourceJSON"].(string)), &ss); err != nil {
						t.Errorf("%s: searchSourceJSON: %v", key, err)
					}
					for _, f := range ss.Filter {
						if refs[f.Meta.IndexRefName] == "" {
							t.Errorf("%s: filter's indexRefName %q is not a reference", key, f.Meta.IndexRefName)
						}
						// The count-once filter: on a field the flows template maps.
						if strings.Contains(string(f.Query), "flowlens.observation.first") {
							fieldOK(o, refs[f.Meta.IndexRefName], "flowlens.observation.first")
							uses["filter:flowlens.observation.first"] = true
						}
					}
					if ss.IndexRefName != "" && refs[ss.IndexRefName] == "" {
						t.Errorf("%s: indexRefName %s is not a reference", key, ss.IndexRefName)
					}
					if o.Type == "visualization" {
						var vis struct {
							Type string
							Aggs []struct {
								Type   string
								Params map[string]any
							}
						}
						attrJSON(t, o, "visState", &vis)
						if len(vis.Aggs) == 0 {
							t.Errorf("%s: no aggregations", key)
						}
						for _, a := range vis.Aggs {
							if f, ok := a.Params["field"].(string); ok {
								fieldOK(o, refs[ss.IndexRefName], f)
								uses[vis.Type+":"+a.Type+":"+f] = true
							}
						}
					}
				}
				switch o.Type {
				case "dashboard":
					var panels []struct {
						PanelRefName string `json:"panelRefName"`
						GridData     struct{ W, H int }
					}
					attrJSON(t, o, "panelsJSON", &panels)
					if len(panels) != 6 || len(o.References) != 7 {
						t.Errorf("dashboard: %d panels, %d references (6 panels and the count-once filter's data view)", len(panels), len(o.References))
					}
					for _, p := range panels {
						if refs[p.PanelRefName] == "" || p.GridData.W == 0 || p.GridData.H == 0 {
							t.Errorf("dashboard panel %+v", p)
						}
					}
				case "map":
					var layers []struct {
						Type             string
						SourceDescriptor struct {
							Type                string
							GeoField            string
							IndexPatternRefName string
							Metrics             []struct{ Type, Field string }
						}
					}
					attrJSON(t, o, "layerListJSON", &layers)
					var state map[string]any
					attrJSON(t, o, "mapStateJSON", &state)
					for _, l := range layers {
						sd := l.SourceDescriptor
						if sd.IndexPatternRefName == "" {
							continue // the base map
						}
						dv := refs[sd.IndexPatternRefName]
						if dv == "" {
							t.Errorf("map layer reference %s missing", sd.IndexPatternRefName)
						}
						fieldOK(o, dv, sd.GeoField)
						if mappedType(templates[dv], sd.GeoField) != "geo_point" {
							t.Errorf("map layer on %s, not a geo_point", sd.GeoField)
						}
						for _, m := range sd.Metrics {
							fieldOK(o, dv, m.Field)
						}
						uses["map:"+sd.GeoField] = true
					}
				}
			}
			// The panels the dashboard promises.
			for _, want := range []string{
				"area:date_histogram:@timestamp",         // traffic over time
				"table:terms:source.ip",                  // top talkers (and VM-to-VM)
				"pie:terms:network.transport",            // protocol mix
				"table:terms:destination.ip",             // VM-to-VM table
				"table:terms:flowlens.interface.name",    // port counters
				"table:max:flowlens.interface.in_octets", // port counters
				"filter:flowlens.observation.first",      // each packet once, a pill to disable
			} {
				if !uses[want] {
					t.Errorf("no visualization for %s", want)
				}
			}
			if flavor == FlavorKibana && !uses["map:source.geo.location"] {
				t.Error("no map layer on source.geo.location")
			}
			if flavor == FlavorOSD {
				if !uses["tile_map:geohash_grid:source.geo.location"] {
					t.Error("no coordinate map on source.geo.location for OpenSearch Dashboards")
				}
				if bytes.Contains(ndjson, []byte("coreMigrationVersion")) || bytes.Contains(ndjson, []byte(`"type":"map"`)) {
					t.Error("Kibana-only content left for OpenSearch Dashboards")
				}
			}
		})
	}
	// Another prefix renames the data views' patterns; the compat schema
	// gets the data views only.
	nd, _ := SavedObjects("netflow", SchemaNetFlowCompat, FlavorKibana)
	objs := parseObjects(t, nd)
	if len(objs) != 2 || objs["index-pattern/flowlens-flows"].Attributes["title"] != "netflow-*,-netflow-counters*" ||
		objs["index-pattern/flowlens-counters"].Attributes["title"] != "netflow-counters*" {
		t.Errorf("compat objects: %s", nd)
	}
}

func TestSetupKibana(t *testing.T) {
	for _, osd := range []bool{false, true} {
		k := &fakeKibana{osd: osd, wantAuth: "Basic " + base64.StdEncoding.EncodeToString([]byte("kibana_admin:Zebra-Horse-77"))}
		srv := httptest.NewServer(k)
		defer srv.Close()
		cfg := DefaultConfig()
		cfg.Kibana.URL, cfg.Kibana.Space = srv.URL+"/", "ops"
		cfg.Kibana.Username, cfg.Kibana.Password = "kibana_admin", "Zebra-Horse-77"
		res, err := SetupKibana(ctxT(t), cfg, nil)
		if err != nil {
			t.Fatalf("osd %v: %v", osd, err)
		}
		wantFlavor := FlavorKibana
		if osd {
			wantFlavor = FlavorOSD
		}
		if res.Flavor != wantFlavor || res.SuccessCount != 9 || res.Objects != 9 || len(k.objects) != 9 {
			t.Errorf("osd %v: %+v, %d objects stored", osd, res, len(k.objects))
		}
		if k.lastPath != "/s/ops/api/saved_objects/_import" {
			t.Errorf("import path %s", k.lastPath)
		}
		if k.objects["dashboard/flowlens-overview"] == nil || k.objects["index-pattern/flowlens-flows"] == nil {
			t.Errorf("objects %v", keys(k.objects))
		}
		// Wrong credentials: a clear error, without the password.
		k.wantAuth = "Basic other"
		_, err = SetupKibana(ctxT(t), cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "Zebra-Horse-77") {
			t.Errorf("bad credentials: %v", err)
		}
	}
	// A Kibana that rejects objects: the error names them.
	k := &fakeKibana{reject: map[string]bool{"map": true}} // e.g. Maps disabled
	srv := httptest.NewServer(k)
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.Kibana.URL = srv.URL
	if _, err := SetupKibana(ctxT(t), cfg, nil); err == nil || !strings.Contains(err.Error(), "flowlens-map") {
		t.Errorf("partial import: %v", err)
	}
	cfg.Kibana.URL = ""
	if _, err := SetupKibana(ctxT(t), cfg, nil); err == nil {
		t.Error("no URL accepted")
	}
}
