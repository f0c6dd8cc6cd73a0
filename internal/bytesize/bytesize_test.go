package bytesize

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Size{
		"0": 0, "33554432": 32 << 20, "32MiB": 32 << 20, "32 MiB": 32 << 20, "32mib": 32 << 20, "32M": 32 << 20,
		"5MB": 5_000_000, "5mb": 5_000_000, "1GiB": 1 << 30, "1G": 1 << 30, "2KB": 2000, "2KiB": 2048, "100B": 100, "1TiB": 1 << 40,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "1.5GiB", "-1", "ten", "1PB", "9999999999TiB"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if s := Size(32 << 20).String(); s != "32MiB" {
		t.Errorf("String %q", s)
	}
	if s := Size(5_000_000).String(); s != "5000000" {
		t.Errorf("String %q", s)
	}
}

// In YAML: a number or a string, and a clear error with the line.
func TestYAML(t *testing.T) {
	var c struct {
		A Size `yaml:"a"`
		B Size `yaml:"b"`
	}
	if err := yaml.Unmarshal([]byte("a: 1048576\nb: 5MiB\n"), &c); err != nil || c.A != 1<<20 || c.B != 5<<20 {
		t.Errorf("%+v %v", c, err)
	}
	if err := yaml.Unmarshal([]byte("a: 1\nb: lots\n"), &c); err == nil {
		t.Error("a bad size accepted")
	}
	out, _ := yaml.Marshal(c)
	if string(out) == "" {
		t.Error("no output")
	}
}
