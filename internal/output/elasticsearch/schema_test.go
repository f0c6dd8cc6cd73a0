package elasticsearch

import (
	"encoding/json"
	"testing"

	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/schema"
)

// Every field of an aggregated flow (internal/schema) is mapped with a
// type that holds its values (ECS keeps identifiers such as VLAN ids as
// keywords), and written by the ECS encoder; its
// netflow-compat name, when it has one, by the compat encoder.
func TestSchemaFieldsMappedAndWritten(t *testing.T) {
	ecsM, compatM := mappings(flowFieldsECS, SchemaECS), mappings(flowFieldsCompat, SchemaNetFlowCompat)
	recs, _ := fullRecords()
	ecsW, compatW := map[string]bool{}, map[string]bool{}
	for i := range recs {
		r := recs[i]
		r.Samples = 2
		for _, w := range []struct {
			b   []byte
			out map[string]bool
		}{{ecs.AppendFlow(nil, &r), ecsW}, {appendCompat(nil, &r, false), compatW}} {
			var v map[string]any
			if err := json.Unmarshal(w.b, &v); err != nil {
				t.Fatal(err)
			}
			leaves("", v, w.out)
		}
	}
	for _, f := range schema.Flows {
		typ := mappedType(ecsM, f.ECS)
		want := map[schema.Type][]string{schema.Int: {"long", "integer", "short", "date", "keyword"}, schema.Float: {"geo_point", "double", "float"},
			schema.String: {"keyword", "ip", "geo_point"}}[f.Type]
		ok := false
		for _, w := range want {
			ok = ok || typ == w
		}
		if !ok {
			t.Errorf("%s: ECS %s mapped as %q, want one of %v", f.Name, f.ECS, typ, want)
		}
		if !ecsW[f.ECS] {
			t.Errorf("%s: ECS %s never written", f.Name, f.ECS)
		}
		if f.Compat == "" {
			continue
		}
		if mappedType(compatM, f.Compat) == "" {
			t.Errorf("%s: netflow-compat %s not mapped", f.Name, f.Compat)
		}
		if !compatW[f.Compat] {
			t.Errorf("%s: netflow-compat %s never written", f.Name, f.Compat)
		}
	}
}
