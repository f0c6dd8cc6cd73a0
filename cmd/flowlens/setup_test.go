package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `flowlens setup kibana --output FILE` writes the saved objects without a
// Kibana: NDJSON, one object a line, for the configured prefix and schema.
func TestSetupKibanaOutput(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args      []string
		dashboard string
		types     map[string]int
	}{
		{[]string{}, "flowlens-overview", map[string]int{"index-pattern": 2, "lens": 5, "map": 1, "dashboard": 1}},
		{[]string{"--version", "8.7.1"}, "flowlens-overview", map[string]int{"index-pattern": 2, "visualization": 5, "map": 1, "dashboard": 1}},
		{[]string{"--flavor", "opensearch-dashboards"}, "flowlens-overview", map[string]int{"index-pattern": 2, "visualization": 7, "dashboard": 1}},
		{[]string{"--output.elasticsearch.schema=netflow-compat", "--output.elasticsearch.index=netflow"}, "flowlens-compat-overview",
			map[string]int{"index-pattern": 2, "lens": 8, "map": 1, "dashboard": 1}},
	} {
		path := filepath.Join(dir, "objects.ndjson")
		var stdout, stderr bytes.Buffer
		args := append([]string{"setup", "kibana", "--output", path}, c.args...)
		if rc := run(args, &stdout, &stderr); rc != 0 {
			t.Fatalf("%v: exit %d: %s", args, rc, stderr.String())
		}
		if !strings.Contains(stdout.String(), "saved objects for") || !strings.Contains(stdout.String(), "_import") {
			t.Errorf("%v: %s", args, stdout.String())
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		types := map[string]int{}
		ids := map[string]bool{}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var o struct {
				ID, Type   string
				Attributes map[string]any
			}
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			types[o.Type]++
			ids[o.ID] = true
			if o.Type == "index-pattern" && strings.Contains(strings.Join(c.args, " "), "index=netflow") &&
				!strings.HasPrefix(o.Attributes["title"].(string), "netflow-") {
				t.Errorf("data view %v", o.Attributes["title"])
			}
		}
		f.Close()
		if !ids[c.dashboard] || len(types) != len(c.types) {
			t.Errorf("%v: %v", args, types)
		}
		for k, n := range c.types {
			if types[k] != n {
				t.Errorf("%v: %d %s, want %d", args, types[k], k, n)
			}
		}
	}
	// Standard output; a bad flavor.
	var stdout, stderr bytes.Buffer
	if rc := run([]string{"setup", "kibana", "--output", "-"}, &stdout, &stderr); rc != 0 || bytes.Count(stdout.Bytes(), []byte("\n")) != 9 {
		t.Errorf("stdout: exit %d, %d lines", rc, bytes.Count(stdout.Bytes(), []byte("\n")))
	}
	stderr.Reset()
	if rc := run([]string{"setup", "kibana", "--output", "-", "--flavor", "grafana"}, &stdout, &stderr); rc == 0 || !strings.Contains(stderr.String(), "opensearch-dashboards") {
		t.Errorf("bad flavor: exit %d, %s", rc, stderr.String())
	}
	// Without --output and without a URL: says which setting, or --output.
	stderr.Reset()
	if rc := run([]string{"setup", "kibana"}, &stdout, &stderr); rc == 0 || !strings.Contains(stderr.String(), "kibana.url") || !strings.Contains(stderr.String(), "--output") {
		t.Errorf("no URL: exit %d, %s", rc, stderr.String())
	}
}
