package netflow_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

const ipfixCapture = "../../../testdata/ovs/ovs-ipfix.pcap"

// ovsTemplates returns the template cache after the real OVS IPFIX capture,
// and its saved form.
func ovsTemplates(t *testing.T) (*netflow.Templates, []byte) {
	t.Helper()
	ds, err := pcapfile.ReadAll(ipfixCapture, nil)
	if err != nil {
		t.Fatal(err)
	}
	tm := netflow.NewTemplates(netflow.Options{})
	dec := netflow.NewDecoder(tm, netflow.Options{})
	var res netflow.Result
	now := time.Now()
	for _, d := range ds {
		dec.Decode(d.Payload, d.Src, now, &res)
	}
	if n := tm.Stats().Templates; n < 80 {
		t.Fatalf("%d templates from the capture", n)
	}
	var buf bytes.Buffer
	if err := tm.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return tm, buf.Bytes()
}

// asideFiles lists what LoadFile moved aside next to path.
func asideFiles(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".corrupt-*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A damaged template file at start-up is reported, moved aside with its
// content intact, and the collector goes on without it; the next save
// writes a good file in its place.
func TestLoadTemplatesSetsAsideDamagedFiles(t *testing.T) {
	_, good := ovsTemplates(t)
	cases := map[string][]byte{
		"empty":          {},
		"truncated":      good[:len(good)/2],
		"one byte short": good[:len(good)-2], // the encoder's final newline and the closing brace
		"garbage":        []byte("\x00\x01\x02 not JSON at all"),
		"wrong version":  bytes.Replace(good, []byte(`"version":1,`), []byte(`"version":99,`), 1),
		"other format":   bytes.Replace(good, []byte(`flowlens-netflow-templates`), []byte(`someone-elses-cache`), 1),
		"damaged record": bytes.Replace(good, []byte(`"record":"`), []byte(`"record":"A`), 1),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			if bytes.Equal(content, good) {
				t.Fatal("the case does not damage the file")
			}
			path := filepath.Join(t.TempDir(), "templates.json")
			if err := os.WriteFile(path, content, 0o640); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			tm := netflow.NewTemplates(netflow.Options{})
			tm.LoadFile(path, slog.New(slog.NewTextHandler(&logs, nil)))

			if st := tm.Stats(); st.Templates != 0 || st.Exporters != 0 {
				t.Errorf("templates loaded from a damaged file: %+v", st)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the damaged file is still in place (%v)", err)
			}
			aside := asideFiles(t, path)
			if len(aside) != 1 {
				t.Fatalf("moved aside: %v", aside)
			}
			if b, err := os.ReadFile(aside[0]); err != nil || !bytes.Equal(b, content) {
				t.Errorf("the moved file does not hold what was there (%v)", err)
			}
			log := logs.String()
			if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "moved aside") ||
				!strings.Contains(log, "moved_to="+aside[0]) || !strings.Contains(log, "send their templates again") {
				t.Errorf("not reported as it should be:\n%s", log)
			}

			// The collector learns the templates again and saves them.
			learnt, _ := ovsTemplates(t)
			if err := learnt.SaveFile(path); err != nil {
				t.Fatal(err)
			}
			again := netflow.NewTemplates(netflow.Options{})
			logs.Reset()
			again.LoadFile(path, slog.New(slog.NewTextHandler(&logs, nil)))
			if n := again.Stats().Templates; n != learnt.Stats().Templates || strings.Contains(logs.String(), "WARN") {
				t.Errorf("after a new save: %d templates restored, log:\n%s", n, logs.String())
			}
		})
	}
}

// Twice damaged in the same second: the first copy set aside is kept.
func TestLoadTemplatesKeepsEarlierCopies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "templates.json")
	for i := range 3 {
		os.WriteFile(path, []byte{byte('a' + i)}, 0o640)
		netflow.NewTemplates(netflow.Options{}).LoadFile(path, slog.New(slog.DiscardHandler))
	}
	aside := asideFiles(t, path)
	if len(aside) != 3 {
		t.Fatalf("moved aside: %v", aside)
	}
	seen := map[string]bool{}
	for _, f := range aside {
		b, _ := os.ReadFile(f)
		seen[string(b)] = true
	}
	if !seen["a"] || !seen["b"] || !seen["c"] {
		t.Errorf("copies set aside hold %v", seen)
	}
}

// Something that cannot be read as a file at all (here a directory where
// the file should be) is moved aside too; a missing file is no error.
func TestLoadTemplatesUnreadableAndMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "templates.json")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	netflow.NewTemplates(netflow.Options{}).LoadFile(path, log)
	if logs.Len() != 0 {
		t.Errorf("a missing file is logged:\n%s", logs.String())
	}
	if err := os.Mkdir(path, 0o750); err != nil {
		t.Fatal(err)
	}
	netflow.NewTemplates(netflow.Options{}).LoadFile(path, log)
	if aside := asideFiles(t, path); len(aside) != 1 || !strings.Contains(logs.String(), "is a directory") {
		t.Errorf("moved aside %v, log:\n%s", aside, logs.String())
	}
	tm, _ := ovsTemplates(t)
	if err := tm.SaveFile(path); err != nil {
		t.Errorf("saving where the directory was: %v", err)
	}
}

// A save the process did not finish leaves a temporary file and the
// previous file; the next start removes the former and reads the latter.
func TestSaveTemplatesInterrupted(t *testing.T) {
	tm, good := ovsTemplates(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "templates.json")
	if err := tm.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, good) {
		t.Fatal("saved file differs from Save's output")
	}
	// What a kill in the middle of the next save leaves behind.
	os.WriteFile(filepath.Join(dir, ".templates.json.tmp123456"), good[:100], 0o600)
	restored := netflow.NewTemplates(netflow.Options{})
	var logs bytes.Buffer
	restored.LoadFile(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if n := restored.Stats().Templates; n != tm.Stats().Templates || strings.Contains(logs.String(), "WARN") {
		t.Errorf("%d templates restored, log:\n%s", n, logs.String())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".templates.json.tmp*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
