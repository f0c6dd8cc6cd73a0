package statefile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A write that fails leaves the previous file as it was and no temporary
// file; one that works replaces it whole, with the mode asked for.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state[1].json") // glob characters in the name
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteFile(path, 0o640, func(w io.Writer) error {
		w.Write([]byte("half of the new"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("after a failed write: %q", b)
	}
	if err := WriteFile(path, 0o640, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("after a write: %q", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("files left: %v", left)
	}
	// What a process killed in the middle of a WriteFile leaves.
	os.WriteFile(filepath.Join(dir, ".state[1].json.tmp4242"), []byte("ne"), 0o600)
	os.WriteFile(filepath.Join(dir, "other.tmp1"), nil, 0o600)
	RemoveTemps(path)
	if left, _ := os.ReadDir(dir); len(left) != 2 {
		t.Errorf("after RemoveTemps: %v", left)
	}
}

func TestSetAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cache")
	now := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	var names []string
	for _, content := range []string{"first", "second"} {
		os.WriteFile(path, []byte(content), 0o600)
		aside, err := SetAside(path, now)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, aside)
		if b, _ := os.ReadFile(aside); string(b) != content {
			t.Errorf("%s holds %q, want %q", aside, b, content)
		}
	}
	if names[0] != path+".corrupt-20261126T070000Z" || names[1] != names[0]+".1" {
		t.Errorf("names %v", names)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the file is still there: %v", err)
	}
	if _, err := SetAside(path, now); err == nil {
		t.Error("no error for a missing file")
	}
}
