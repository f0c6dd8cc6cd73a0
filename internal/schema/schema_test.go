package schema_test

import (
	"flag"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/schema"
)

var update = flag.Bool("update", false, "rewrite docs/fields.md's table and web/src/schema.gen.ts from the schema")

const (
	begin = "<!-- schema:begin (generated from internal/schema: go test ./internal/schema -update) -->\n"
	end   = "<!-- schema:end -->\n"
)

// docs/fields.md's table of aggregated fields is the schema's.
func TestFieldsDoc(t *testing.T) {
	const path = "../../docs/fields.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q and %q", path, begin, end)
	}
	want := doc[:i+len(begin)] + schema.Markdown() + doc[j:]
	if doc == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is not the schema's: run go test ./internal/schema -update", path)
}

// The console's built-in dimensions are the schema's.
func TestConsoleDimensions(t *testing.T) {
	const path = "../../web/src/schema.gen.ts"
	b, _ := os.ReadFile(path)
	want := schema.TypeScript()
	if string(b) == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is not the schema's: run go test ./internal/schema -update (then rebuild the console: npm run build in web/)", path)
}

// Every value has its declared type, on an empty record and a full one.
func TestValueTypes(t *testing.T) {
	a := netip.MustParseAddr
	full := &flow.Record{Time: time.Unix(100, 0), Start: time.Unix(90, 0), End: time.Unix(95, 0), Agent: a("192.0.2.1"),
		Bytes: 10, Packets: 1, Samples: 1, HasVNI: true, VNI: 5, InnerPresent: true}
	full.SrcAddr, full.DstAddr, full.Proto, full.HasProto = a("10.0.0.1"), a("2001:db8::1"), 6, true
	full.Inner.SrcAddr = a("10.1.0.1")
	full.SrcGeo = &flow.Geo{CountryISO: "FR", Lat: 1.5, Lon: 2.5, ASN: 3, ASOrg: "Org"}
	full.SrcID = &flow.Identity{InstanceName: "vm", ProjectID: "p"}
	full.Blocked = &flow.Blocked{Source: "ovn", SecurityGroups: []string{"a", "b"}}
	for _, r := range []*flow.Record{{}, full} {
		row := make([]any, len(schema.Flows))
		schema.Row(r, row)
		for i, f := range schema.Flows {
			ok := false
			switch row[i].(type) {
			case int64:
				ok = f.Type == schema.Int
			case float64:
				ok = f.Type == schema.Float
			case string:
				ok = f.Type == schema.String
			}
			if !ok {
				t.Errorf("%s: %T value for a %s field", f.Name, row[i], f.Type)
			}
		}
	}
	row := make([]any, len(schema.Flows))
	schema.Row(full, row)
	got := map[string]any{}
	for i, f := range schema.Flows {
		got[f.Name] = row[i]
	}
	for name, want := range map[string]any{"ts": int64(90), "dur": int64(5), "src_ip": "10.0.0.1", "dst_ip": "2001:db8::1",
		"proto": "tcp", "network_type": "ipv4", "inner_src_ip": "10.1.0.1", "vni": int64(5), "src_vm": "vm", "src_project": "p",
		"src_asn": int64(3), "src_lat": 1.5, "src_as_org": "Org", "blocked": "sg=a%2Cb&source=ovn", "samples": int64(1)} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}

// Every dimension is ordered, labelled and kept by aggregation; measures
// and time are not dimensions.
func TestTable(t *testing.T) {
	dims := schema.Dimensions()
	if len(dims) < 30 {
		t.Fatalf("%d dimensions", len(dims))
	}
	for _, f := range schema.Flows {
		if f.Role != schema.Measure && f.Role != schema.Time && len(f.Key) == 0 {
			t.Errorf("%s: no aggregation key field keeps it", f.Name)
		}
		if f.ECS == "" {
			t.Errorf("%s: no ECS name (every aggregated field is in the Elasticsearch documents)", f.Name)
		}
	}
	for _, e := range schema.EitherSides {
		for _, n := range e.Of {
			if f, ok := schema.Lookup(n); !ok || f.Role != schema.Dimension {
				t.Errorf("either-side %s: %s is no dimension", e.Name, n)
			}
		}
	}
}
