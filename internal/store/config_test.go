package store

import (
	"os"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// default.yaml (for internal/config) and DefaultConfig agree, and every
// key has a comment.
func TestDefaultYAML(t *testing.T) {
	b, err := os.ReadFile("default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Store yaml.Node `yaml:"store"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var c Config
	dec := doc.Store
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, DefaultConfig()) {
		t.Errorf("default.yaml gives %+v, DefaultConfig %+v", c, DefaultConfig())
	}
	checkComments(t, &doc.Store, "store")
}

func checkComments(t *testing.T, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.HeadComment == "" {
			t.Errorf("%s.%s has no comment", path, k.Value)
		}
		checkComments(t, n.Content[i+1], path+"."+k.Value)
	}
}
