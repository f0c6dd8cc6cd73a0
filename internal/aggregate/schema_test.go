package aggregate

import (
	"reflect"
	"sort"
	"testing"

	"github.com/flowlens/flowlens/internal/schema"
)

// The aggregation key keeps what every field of an aggregated flow is
// computed from (internal/schema names its key fields), and nothing that
// is neither a field's source nor listed with its reason in
// schema.KeyOnly: a key field no column uses would split aggregates
// nobody can tell apart.
func TestKeyMatchesSchema(t *testing.T) {
	kt := reflect.TypeOf(key{})
	have := map[string]bool{}
	for i := 0; i < kt.NumField(); i++ {
		have[kt.Field(i).Name] = true
	}
	used := map[string]bool{}
	for _, f := range schema.Flows {
		for _, k := range f.Key {
			if !have[k] {
				t.Errorf("schema field %s is kept through key.%s, which the key does not have", f.Name, k)
			}
			used[k] = true
		}
	}
	for k, why := range schema.KeyOnly {
		if !have[k] {
			t.Errorf("schema.KeyOnly lists key.%s (%s), which the key does not have", k, why)
		}
		if used[k] {
			t.Errorf("key.%s is both a field's source and in schema.KeyOnly", k)
		}
		used[k] = true
	}
	var unused []string
	for k := range have {
		if !used[k] {
			unused = append(unused, k)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("key fields no schema field is computed from and not in schema.KeyOnly: %v", unused)
	}
}
