package elasticsearch

import (
	"bytes"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// default.yaml (the block the lead pastes into internal/config) is
// DefaultConfig, has every setting, and a comment above every key.
func TestDefaultYAML(t *testing.T) {
	data, err := os.ReadFile("default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Output struct {
			Elasticsearch Config `yaml:"elasticsearch"`
		} `yaml:"output"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	got, want := doc.Output.Elasticsearch, DefaultConfig()
	if len(got.URLs) == 0 {
		got.URLs = nil // [] in the file
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("default.yaml:\n%+v\nDefaultConfig():\n%+v", got, want)
	}
	var root yaml.Node
	yaml.Unmarshal(data, &root)
	inYAML := map[string]bool{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.DocumentNode {
			walk(n.Content[0], prefix)
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := prefix + k.Value
			if prefix != "" && strings.TrimSpace(k.HeadComment) == "" {
				t.Errorf("default.yaml: %s has no comment", path)
			}
			if v.Kind != yaml.MappingNode {
				inYAML[path] = true
			}
			walk(v, path+".")
		}
	}
	walk(&root, "")
	var fields []string
	var walkT func(ty reflect.Type, prefix string)
	walkT = func(ty reflect.Type, prefix string) {
		for i := 0; i < ty.NumField(); i++ {
			f := ty.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if opts == "inline" {
				walkT(f.Type, prefix)
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walkT(f.Type, prefix+name+".")
				continue
			}
			fields = append(fields, prefix+name)
		}
	}
	walkT(reflect.TypeOf(Config{}), "output.elasticsearch.")
	sort.Strings(fields)
	for _, f := range fields {
		if !inYAML[f] {
			t.Errorf("%s is not in default.yaml", f)
		}
		delete(inYAML, f)
	}
	for k := range inYAML {
		t.Errorf("default.yaml has %s, which is no setting", k)
	}
}

func TestValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.URLs = []string{"https://es:9200"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"no url":       func(c *Config) { c.URLs = nil },
		"bad url":      func(c *Config) { c.URLs = []string{"es:9200"} },
		"schema":       func(c *Config) { c.Schema = "netflow" },
		"overflow":     func(c *Config) { c.Spool.Overflow = "block" },
		"index":        func(c *Config) { c.Index = "Flow" },
		"index comma":  func(c *Config) { c.Index = "a,b" },
		"compression":  func(c *Config) { c.Compression = 10 },
		"workers":      func(c *Config) { c.Workers = 0 },
		"batch":        func(c *Config) { c.BatchBytes = 200 << 20 },
		"spool size":   func(c *Config) { c.Spool.MaxBytes = 1000 },
		"backoff":      func(c *Config) { c.BackoffMax = time.Millisecond },
		"retention":    func(c *Config) { c.RetentionDays = -1 },
		"flavor":       func(c *Config) { c.Kibana.Flavor = "grafana" },
		"two auths":    func(c *Config) { c.APIKey, c.BearerToken = "a", "b" },
		"kibana auths": func(c *Config) { c.Kibana.APIKey, c.Kibana.Username = "a", "b" },
	} {
		c := ok
		c.URLs = append([]string(nil), ok.URLs...)
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
