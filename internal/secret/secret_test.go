package secret

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// A secret never shows, however it is printed or dumped; an empty one
// shows as empty (so "not set" stays visible).
func TestRedacted(t *testing.T) {
	s := Secret("hunter2")
	y, _ := yaml.Marshal(map[string]Secret{"password": s})
	j, _ := json.Marshal(map[string]Secret{"password": s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %#v %+v", s, s, s, s), string(y), string(j)} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "[redacted]") {
			t.Errorf("%q", out)
		}
	}
	if fmt.Sprint(Secret("")) != "" {
		t.Error("an empty secret is not empty")
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "token")
	os.WriteFile(f, []byte("  s3cret-token  \nsecond line\n"), 0o600)
	if s, err := ReadFile(f, "token"); err != nil || s != "s3cret-token" {
		t.Errorf("%q %v", string(s), err)
	}
	os.WriteFile(f, []byte("\n"), 0o600)
	if _, err := ReadFile(f, "token"); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none"), "token"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("missing file: %v", err)
	}
}
