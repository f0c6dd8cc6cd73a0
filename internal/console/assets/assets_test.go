package assets

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The committed build is complete: index.html and every file it references.
func TestEmbeddedConsole(t *testing.T) {
	index, err := fs.ReadFile(FS, "index.html")
	if err != nil {
		t.Fatalf("index.html missing from the embedded console (run `npm run build` in web/): %v", err)
	}
	refs := regexp.MustCompile(`(?:src|href)="\./(assets/[^"]+)"`).FindAllStringSubmatch(string(index), -1)
	if len(refs) == 0 {
		t.Fatalf("index.html references no built assets:\n%s", index)
	}
	for _, m := range refs {
		if _, err := fs.Stat(FS, m[1]); err != nil {
			t.Errorf("index.html references %s, not embedded: %v", m[1], err)
		}
	}
	// No run-time request may leave the host: no absolute http(s) URL to load.
	err = fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(FS, p)
		if err != nil {
			return err
		}
		for _, bad := range []string{"fonts.googleapis.com", "cdn.jsdelivr.net", "unpkg.com", "tile.openstreetmap.org"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s refers to %s: the console must load nothing from other hosts", p, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
