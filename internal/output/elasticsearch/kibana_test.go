package elasticsearch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
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

func parseObjects(t checker, ndjson []byte) map[string]*savedObject {
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

func attrJSON(t checker, o *savedObject, name string, v any) {
	t.Helper()
	s, ok := o.Attributes[name].(string)
	if !ok {
		t.Fatalf("%s/%s: no %s", o.Type, o.ID, name)
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s/%s: %s does not parse: %v", o.Type, o.ID, name, err)
	}
}

// What Kibana accepts in an import, from its published schemas: the keys
// of a saved object in the NDJSON import format, and the attributes of
// each type (Kibana 8's saved object and content-management schemas, which
// forbid unknown keys).
var (
	importRootKeys = set("id", "type", "attributes", "references", "coreMigrationVersion", "typeMigrationVersion",
		"migrationVersion", "managed", "namespaces", "originId", "version", "updated_at", "created_at")
	allowedAttributes = map[string]map[string]bool{
		"index-pattern": set("title", "timeFieldName", "fields", "fieldFormatMap", "sourceFilters", "typeMeta", "type",
			"runtimeFieldMap", "name", "allowNoIndex", "fieldAttrs", "allowHidden"),
		"visualization": set("title", "description", "version", "kibanaSavedObjectMeta", "uiStateJSON", "visState", "savedSearchRefName"),
		"lens":          set("title", "description", "visualizationType", "state", "uiStateJSON", "visState", "savedSearchRefName"),
		"map":           set("title", "description", "mapStateJSON", "layerListJSON", "uiStateJSON"),
		"dashboard": set("title", "description", "kibanaSavedObjectMeta", "timeRestore", "timeFrom", "timeTo", "refreshInterval",
			"controlGroupInput", "panelsJSON", "optionsJSON", "hits", "version"),
	}
	lensOperations = map[string]bool{ // operationType: isBucketed
		"terms": true, "date_histogram": true, "range": true, "filters": true,
		"sum": false, "max": false, "min": false, "average": false, "count": false, "unique_count": false, "last_value": false,
	}
	numericTypes = set("long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long")
)

func set(s ...string) map[string]bool {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return m
}

// versionLE compares dotted versions.
func versionLE(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < 3; i++ {
		var x, y int
		if i < len(pa) {
			fmt.Sscan(pa[i], &x)
		}
		if i < len(pb) {
			fmt.Sscan(pb[i], &y)
		}
		if x != y {
			return x < y
		}
	}
	return true
}

// checkSavedObjects validates an NDJSON file against the import format and
// the schemas above, for a schema and the oldest version of the flavor it
// is meant for (minVersion; "" for OpenSearch Dashboards). It returns what
// the objects show, as "geo:FIELD", "terms:FIELD", "time:FIELD",
// "metric:OP:FIELD" and "filter:FIELD", so that renderings can be compared.
func checkSavedObjects(t checker, ndjson []byte, schema, flavor, minVersion string) map[string]bool {
	t.Helper()
	if len(ndjson) == 0 || ndjson[len(ndjson)-1] != '\n' {
		t.Errorf("NDJSON does not end with a newline")
	}
	objs := parseObjects(t, ndjson)
	raw := map[string]map[string]json.RawMessage{}
	for i, line := range bytes.Split(bytes.TrimSpace(ndjson), []byte("\n")) {
		var root map[string]json.RawMessage
		json.Unmarshal(line, &root)
		var o savedObject
		json.Unmarshal(line, &o)
		raw[o.Type+"/"+o.ID] = root
		for k := range root {
			if !importRootKeys[k] {
				t.Errorf("line %d: key %q is not in the import format", i+1, k)
			}
		}
		if _, ok := root["references"]; !ok {
			t.Errorf("line %d: no references array", i+1)
		}
	}
	templates := map[string]map[string]any{
		dataViewFlows:    mappings(flowFieldsECS, SchemaECS),
		dataViewCounters: mappings(counterFieldsECS, SchemaECS),
	}
	if schema == SchemaNetFlowCompat {
		templates[dataViewFlows] = mappings(flowFieldsCompat, schema)
	}
	uses := map[string]bool{}
	// field checks a field against the template of a data view; kinds
	// lists the mapped types allowed ("" any but object).
	field := func(key, view, f string, kinds ...string) string {
		t.Helper()
		m := templates[view]
		if m == nil {
			t.Errorf("%s reads data view %q, not one of the file's", key, view)
			return ""
		}
		ty := mappedType(m, f)
		if ty == "" || ty == "object" {
			t.Errorf("%s uses %s, which is not in the %s template", key, f, view)
			return ""
		}
		if len(kinds) > 0 {
			ok := false
			for _, k := range kinds {
				ok = ok || k == ty || k == "numeric" && numericTypes[ty]
			}
			if !ok {
				t.Errorf("%s: %s is a %s, expected %v", key, f, ty, kinds)
			}
		}
		return ty
	}
	onDashboard := map[string]bool{}
	for key, o := range objs {
		root := raw[key]
		allowed := allowedAttributes[o.Type]
		if allowed == nil {
			t.Errorf("%s: type %s", key, o.Type)
			continue
		}
		for a := range o.Attributes {
			if !allowed[a] {
				t.Errorf("%s: attribute %q is not in the %s schema", key, a, o.Type)
			}
		}
		// Migration markers: none for OpenSearch Dashboards and Kibana 7;
		// otherwise no newer than the oldest Kibana the file is for.
		var core, typ string
		json.Unmarshal(root["coreMigrationVersion"], &core)
		json.Unmarshal(root["typeMigrationVersion"], &typ)
		if flavor == FlavorOSD || strings.HasPrefix(minVersion, "7.") {
			if core != "" || typ != "" {
				t.Errorf("%s: migration versions %q %q for %s %s", key, core, typ, flavor, minVersion)
			}
		} else {
			if core == "" || !versionLE(core, minVersion) {
				t.Errorf("%s: coreMigrationVersion %q for Kibana %s", key, core, minVersion)
			}
			if typ != "" && !versionLE(typ, minVersion) {
				t.Errorf("%s: typeMigrationVersion %q for Kibana %s", key, typ, minVersion)
			}
		}
		if flavor == FlavorOSD && (o.Type == "lens" || o.Type == "map") {
			t.Errorf("%s: OpenSearch Dashboards has no %s", key, o.Type)
		}
		refs := map[string]string{} // name -> id
		for _, r := range o.References {
			if objs[r.Type+"/"+r.ID] == nil {
				t.Errorf("%s: reference %s to %s/%s, not in the file", key, r.Name, r.Type, r.ID)
			}
			if refs[r.Name] != "" {
				t.Errorf("%s: reference name %s twice", key, r.Name)
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
				if strings.Contains(string(f.Query), "flowlens.observation.first") {
					field(key, refs[f.Meta.IndexRefName], "flowlens.observation.first", "boolean")
					uses["filter:flowlens.observation.first"] = true
				}
			}
			if ss.IndexRefName != "" && refs[ss.IndexRefName] == "" {
				t.Errorf("%s: indexRefName %s is not a reference", key, ss.IndexRefName)
			}
			if o.Type == "visualization" {
				var vis struct {
					Title string
					Type  string
					Aggs  []struct {
						Type   string
						Schema string
						Params map[string]any
					}
					Params map[string]any
				}
				attrJSON(t, o, "visState", &vis)
				if len(vis.Aggs) == 0 || vis.Params == nil || vis.Title != o.Attributes["title"] {
					t.Errorf("%s: visState without aggregations, params or title", key)
				}
				view := refs[ss.IndexRefName]
				for _, a := range vis.Aggs {
					f, _ := a.Params["field"].(string)
					switch a.Type {
					case "sum", "max":
						field(key, view, f, "numeric")
						uses["metric:"+a.Type+":"+f] = true
					case "terms":
						field(key, view, f, "keyword", "ip", "numeric")
						uses["terms:"+f] = true
					case "date_histogram":
						field(key, view, f, "date")
						uses["time:"+f] = true
					case "geohash_grid":
						field(key, view, f, "geo_point")
						uses["geo:"+f] = true
					default:
						t.Errorf("%s: aggregation %s", key, a.Type)
					}
				}
			}
		}
		switch o.Type {
		case "lens":
			checkLens(t, key, o, refs, field, uses)
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
					t.Errorf("%s: layer reference %s missing", key, sd.IndexPatternRefName)
				}
				field(key, dv, sd.GeoField, "geo_point")
				for _, m := range sd.Metrics {
					field(key, dv, m.Field, "numeric")
					uses["metric:"+m.Type+":"+m.Field] = true
				}
				uses["geo:"+sd.GeoField] = true
			}
		case "dashboard":
			var panels []struct {
				PanelRefName string `json:"panelRefName"`
				PanelIndex   string `json:"panelIndex"`
				Type         string `json:"type"`
				Version      string `json:"version"`
				GridData     struct{ X, Y, W, H int }
			}
			attrJSON(t, o, "panelsJSON", &panels)
			var opts map[string]any
			attrJSON(t, o, "optionsJSON", &opts)
			refType := map[string]string{}
			for _, r := range o.References {
				refType[r.Name] = r.Type
			}
			grid := map[[2]int]string{}
			for _, p := range panels {
				name := p.PanelRefName
				if flavor == FlavorKibana && versionLE("8.8.0", minVersion) {
					// Kibana 8's own naming: PANELINDEX:panel_PANELINDEX.
					name = p.PanelIndex + ":" + p.PanelRefName
					if p.Type != refType[name] {
						t.Errorf("%s: panel %s of type %q, its reference %q", key, p.PanelIndex, p.Type, refType[name])
					}
				}
				id := refs[name]
				if id == "" || p.GridData.W == 0 || p.GridData.H == 0 || p.GridData.X+p.GridData.W > 48 {
					t.Errorf("%s: panel %+v (reference %q)", key, p, name)
				}
				if p.Version == "" || !versionLE(p.Version, minVersion+map[bool]string{true: "7.10.2"}[minVersion == ""]) {
					t.Errorf("%s: panel version %q", key, p.Version)
				}
				onDashboard[refType[name]+"/"+id] = true
				for x := p.GridData.X; x < p.GridData.X+p.GridData.W; x++ {
					for y := p.GridData.Y; y < p.GridData.Y+p.GridData.H; y++ {
						if other := grid[[2]int{x, y}]; other != "" {
							t.Fatalf("%s: panels %s and %s overlap", key, other, p.PanelIndex)
						}
						grid[[2]int{x, y}] = p.PanelIndex
					}
				}
			}
		}
	}
	for key, o := range objs {
		if o.Type != "index-pattern" && o.Type != "dashboard" && !onDashboard[key] {
			t.Errorf("%s is on no dashboard", key)
		}
	}
	if n := len(objs) - len(onDashboard); n != 3 { // the data views and the dashboard
		t.Errorf("%d objects besides the panels", n)
	}
	return uses
}

// checkLens validates a Lens visualization: the formBased datasource's
// layers and columns (operations on fields of the right type in the data
// view the layer references), and the visualization's accessors.
func checkLens(t checker, key string, o *savedObject, refs map[string]string,
	field func(key, view, f string, kinds ...string) string, uses map[string]bool) {
	t.Helper()
	b, _ := json.Marshal(o.Attributes["state"])
	var st struct {
		DatasourceStates map[string]struct {
			Layers map[string]struct {
				ColumnOrder []string `json:"columnOrder"`
				Columns     map[string]struct {
					Label         string         `json:"label"`
					DataType      string         `json:"dataType"`
					OperationType string         `json:"operationType"`
					SourceField   string         `json:"sourceField"`
					IsBucketed    *bool          `json:"isBucketed"`
					Params        map[string]any `json:"params"`
				} `json:"columns"`
			} `json:"layers"`
		} `json:"datasourceStates"`
		Visualization json.RawMessage `json:"visualization"`
		Query         struct{ Query, Language string }
		Filters       []any `json:"filters"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Errorf("%s: state: %v", key, err)
		return
	}
	if st.Query.Language == "" || st.Filters == nil || st.Visualization == nil {
		t.Errorf("%s: state without query, filters or visualization", key)
	}
	for ds := range st.DatasourceStates {
		if ds != "formBased" {
			t.Errorf("%s: datasource %q (Kibana 8.6 and later: formBased)", key, ds)
		}
	}
	layers := st.DatasourceStates["formBased"].Layers
	if len(layers) == 0 {
		t.Errorf("%s: no formBased layer", key)
	}
	bucketed := map[string]bool{} // layer/column -> bucketed
	for id, l := range layers {
		view := refs["indexpattern-datasource-layer-"+id]
		if view == "" {
			t.Errorf("%s: layer %s has no indexpattern-datasource-layer-%s reference", key, id, id)
		}
		if len(l.ColumnOrder) != len(l.Columns) || len(l.Columns) == 0 {
			t.Errorf("%s: columnOrder %v for %d columns", key, l.ColumnOrder, len(l.Columns))
		}
		for _, c := range l.ColumnOrder {
			col, ok := l.Columns[c]
			if !ok {
				t.Errorf("%s: columnOrder names %s, not a column", key, c)
				continue
			}
			wantBucketed, known := lensOperations[col.OperationType]
			if !known || col.IsBucketed == nil || *col.IsBucketed != wantBucketed || col.Label == "" {
				t.Errorf("%s: column %s: %+v", key, c, col)
				continue
			}
			bucketed[id+"/"+c] = wantBucketed
			var ty string
			switch col.OperationType {
			case "date_histogram":
				ty = field(key, view, col.SourceField, "date")
				uses["time:"+col.SourceField] = true
			case "terms":
				ty = field(key, view, col.SourceField, "keyword", "ip", "numeric")
				uses["terms:"+col.SourceField] = true
				size, _ := col.Params["size"].(float64)
				orderBy, _ := col.Params["orderBy"].(map[string]any)
				if size <= 0 || orderBy == nil {
					t.Errorf("%s: terms column %s without size or orderBy", key, c)
				} else if orderBy["type"] == "column" {
					if _, ok := l.Columns[orderBy["columnId"].(string)]; !ok {
						t.Errorf("%s: terms column %s ordered by a missing column", key, c)
					}
				}
			default:
				ty = field(key, view, col.SourceField, "numeric")
				uses["metric:"+col.OperationType+":"+col.SourceField] = true
			}
			if ty != "" && col.DataType != lensDataType(ty) {
				t.Errorf("%s: column %s dataType %s for a %s field", key, c, col.DataType, ty)
			}
		}
	}
	has := func(layer, col string, wantBucketed bool) {
		t.Helper()
		b, ok := bucketed[layer+"/"+col]
		if !ok || b != wantBucketed {
			t.Errorf("%s: visualization names column %q of layer %q (bucketed %v), not in the datasource", key, col, layer, wantBucketed)
		}
	}
	switch vt := o.Attributes["visualizationType"]; vt {
	case "lnsXY":
		var v struct {
			PreferredSeriesType string `json:"preferredSeriesType"`
			Layers              []struct {
				LayerID, LayerType, SeriesType, XAccessor, SplitAccessor string
				Accessors                                                []string
			}
		}
		json.Unmarshal(st.Visualization, &v)
		if len(v.Layers) == 0 || v.PreferredSeriesType == "" {
			t.Errorf("%s: lnsXY without layers", key)
		}
		for _, l := range v.Layers {
			if l.LayerType != "data" || l.SeriesType == "" || len(l.Accessors) == 0 {
				t.Errorf("%s: lnsXY layer %+v", key, l)
			}
			has(l.LayerID, l.XAccessor, true)
			if l.SplitAccessor != "" {
				has(l.LayerID, l.SplitAccessor, true)
			}
			for _, a := range l.Accessors {
				has(l.LayerID, a, false)
			}
		}
	case "lnsDatatable":
		var v struct {
			LayerID, LayerType string
			Columns            []struct{ ColumnID string }
		}
		json.Unmarshal(st.Visualization, &v)
		if v.LayerType != "data" || len(v.Columns) != len(layers[v.LayerID].Columns) {
			t.Errorf("%s: lnsDatatable %+v", key, v)
		}
		for _, c := range v.Columns {
			has(v.LayerID, c.ColumnID, bucketed[v.LayerID+"/"+c.ColumnID])
		}
	case "lnsPie":
		var v struct {
			Shape  string
			Layers []struct {
				LayerID, LayerType string
				PrimaryGroups      []string
				Metrics            []string
			}
		}
		json.Unmarshal(st.Visualization, &v)
		if v.Shape == "" || len(v.Layers) == 0 {
			t.Errorf("%s: lnsPie %+v", key, v)
		}
		for _, l := range v.Layers {
			if len(l.PrimaryGroups) == 0 || len(l.Metrics) == 0 {
				t.Errorf("%s: lnsPie layer %+v", key, l)
			}
			for _, g := range l.PrimaryGroups {
				has(l.LayerID, g, true)
			}
			for _, m := range l.Metrics {
				has(l.LayerID, m, false)
			}
		}
	default:
		t.Errorf("%s: visualizationType %v", key, vt)
	}
}

// Every rendering (Lens for Kibana 8.8+, aggregation-based for Kibana 7.10
// to 8.7 and OpenSearch Dashboards) passes the checks and shows the same
// things: the same charts on the same fields, and the map on both ends.
func TestSavedObjectsAreValid(t *testing.T) {
	want := map[string][]string{
		SchemaECS: {
			"time:@timestamp", "metric:sum:network.bytes", "metric:sum:network.packets",
			"terms:source.ip", "terms:destination.ip", "terms:network.transport",
			"terms:observer.ingress.interface.name", "terms:flowlens.interface.name", "metric:max:flowlens.interface.in_octets",
			"geo:source.geo.location", "geo:destination.geo.location", "filter:flowlens.observation.first",
		},
		SchemaNetFlowCompat: {
			"time:@timestamp", "metric:sum:in_bytes", "metric:sum:in_pkts", "terms:ipv4_src_addr", "terms:ipv4_dst_addr",
			"terms:protocol", "terms:l4_dst_port", "terms:host", "geo:geoip_pin", "terms:input_snmp", "terms:output_snmp",
		},
	}
	for _, schema := range []string{SchemaECS, SchemaNetFlowCompat} {
		var first map[string]bool
		for _, c := range []struct{ flavor, version, min string }{
			{FlavorKibana, "", "8.8.0"},
			{FlavorKibana, "9.1.0", "8.8.0"},
			{FlavorKibana, "8.7.1", "8.0.0"},
			{FlavorKibana, "7.17.3", "7.10.0"},
			{FlavorOSD, "2.17.1", ""},
		} {
			t.Run(schema+"/"+c.flavor+c.version, func(t *testing.T) {
				nd, err := SavedObjects("flow", schema, c.flavor, c.version)
				if err != nil {
					t.Fatal(err)
				}
				uses := checkSavedObjects(t, nd, schema, c.flavor, c.min)
				for _, w := range want[schema] {
					if !uses[w] {
						t.Errorf("nothing shows %s", w)
					}
				}
				if first == nil {
					first = uses
				} else if !reflect.DeepEqual(uses, first) {
					t.Errorf("this rendering shows %v, the Lens one %v", keys(uses), keys(first))
				}
				lens := bytes.Contains(nd, []byte(`"type":"lens"`))
				if lens != (c.min == "8.8.0") {
					t.Errorf("Lens objects: %v", lens)
				}
			})
		}
	}
	// Another prefix renames the data views' patterns.
	nd, _ := SavedObjects("netflow", SchemaNetFlowCompat, FlavorKibana, "")
	objs := parseObjects(t, nd)
	if objs["index-pattern/flowlens-flows"].Attributes["title"] != "netflow-*,-netflow-counters*" ||
		objs["index-pattern/flowlens-counters"].Attributes["title"] != "netflow-counters*" ||
		objs["dashboard/flowlens-compat-overview"] == nil || objs["map/flowlens-compat-map"] == nil {
		t.Errorf("compat objects: %v", keys(objs))
	}
	if _, err := SavedObjects("flow", SchemaECS, "grafana", ""); err == nil {
		t.Error("unknown flavor accepted")
	}
}

// The checks catch what Kibana would refuse.
func TestSavedObjectChecksFail(t *testing.T) {
	good, _ := SavedObjects("flow", SchemaECS, FlavorKibana, "")
	for name, edit := range map[string]func(string) string{
		"unknown attribute": func(s string) string {
			return strings.Replace(s, `"visualizationType"`, `"panels":1,"visualizationType"`, 1)
		},
		"old datasource name": func(s string) string { return strings.Replace(s, `"formBased"`, `"indexpattern"`, 1) },
		"missing layer ref":   func(s string) string { return strings.Replace(s, `indexpattern-datasource-layer-layer1`, `x`, 1) },
		"unmapped field": func(s string) string {
			return strings.Replace(s, `"sourceField":"source.ip"`, `"sourceField":"source.nope"`, 1)
		},
		"sum of a keyword": func(s string) string {
			return strings.Replace(s, `"sourceField":"network.bytes"`, `"sourceField":"network.transport"`, 1)
		},
		"dangling accessor": func(s string) string { return strings.Replace(s, `"xAccessor":"time"`, `"xAccessor":"when"`, 1) },
		"newer migration": func(s string) string {
			return strings.Replace(s, `"typeMigrationVersion":"8.6.0"`, `"typeMigrationVersion":"8.19.0"`, 1)
		},
		"panel without its type": func(s string) string { return strings.Replace(s, `\"type\":\"lens\"`, `\"type\":\"map\"`, 1) },
	} {
		bad := []byte(edit(string(good)))
		if bytes.Equal(bad, good) {
			t.Fatalf("%s: the edit changed nothing", name)
		}
		r := &recorder{}
		func() {
			defer func() {
				if v := recover(); v != nil && v != r {
					panic(v)
				}
			}()
			checkSavedObjects(r, bad, SchemaECS, FlavorKibana, "8.8.0")
		}()
		if len(r.errs) == 0 {
			t.Errorf("%s: not caught", name)
		} else {
			t.Logf("%s: %s", name, r.errs[0])
		}
	}
}

// checker is what the checks need of a *testing.T.
type checker interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// recorder collects the errors of checks expected to fail.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	panic(r)
}

// The rendering follows the version Kibana reports; the compat schema gets
// its own dashboard.
func TestSetupKibanaVersionsAndCompat(t *testing.T) {
	for _, c := range []struct {
		version, schema, typ string
	}{
		{"8.15.3", SchemaECS, "lens"},
		{"8.7.1", SchemaECS, "visualization"},
		{"7.17.3", SchemaECS, "visualization"},
		{"8.15.3", SchemaNetFlowCompat, "lens"},
	} {
		k := &fakeKibana{version: c.version}
		srv := httptest.NewServer(k)
		cfg := DefaultConfig()
		cfg.Kibana.URL, cfg.Schema, cfg.Index = srv.URL, c.schema, "netflow"
		res, err := SetupKibana(ctxT(t), cfg, nil)
		srv.Close()
		if err != nil || res.Version != c.version {
			t.Fatalf("%+v: %v %+v", c, err, res)
		}
		dash := "dashboard/flowlens-overview"
		chart := c.typ + "/flowlens-traffic"
		if c.schema == SchemaNetFlowCompat {
			dash, chart = "dashboard/flowlens-compat-overview", c.typ+"/flowlens-compat-traffic"
		}
		if k.objects[dash] == nil || k.objects[chart] == nil {
			t.Errorf("%+v: %v", c, keys(k.objects))
		}
		_, core := k.objects[dash]["coreMigrationVersion"]
		if core == strings.HasPrefix(c.version, "7.") {
			t.Errorf("%+v: coreMigrationVersion on the dashboard: %v", c, core)
		}
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
		wantFlavor, want := FlavorKibana, 9
		if osd {
			wantFlavor, want = FlavorOSD, 10 // a coordinate map for each end
		}
		if res.Flavor != wantFlavor || res.SuccessCount != want || res.Objects != want || len(k.objects) != want {
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
