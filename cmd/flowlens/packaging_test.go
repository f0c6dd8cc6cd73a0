package main

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/config"
)

// The packaged configuration must load, and flowlens.socket must pass the
// sockets that configuration listens on: a socket nobody reads would hold
// datagrams forever, and an address missing from the unit would be bound by
// flowlens itself and lose data across restarts.
func TestPackagedUnitsMatchTheConfiguration(t *testing.T) {
	root := filepath.Join("..", "..", "packaging")
	cfg, err := config.Load(filepath.Join(root, "flowlens.yaml"), nil, nil)
	if err != nil {
		t.Fatalf("packaging/flowlens.yaml: %v", err)
	}
	if len(cfg.Warnings) > 0 {
		t.Errorf("packaging/flowlens.yaml: %v", cfg.Warnings)
	}
	var want []string
	for _, a := range append(cfg.Input.SFlow.Listen, cfg.Input.NetFlow.Listen...) {
		want = append(want, strings.TrimPrefix(a, ":"))
	}
	var got []string
	f, err := os.Open(filepath.Join(root, "systemd", "flowlens.socket"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ListenDatagram="); ok {
			got = append(got, v)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("flowlens.socket ListenDatagram=%v, but flowlens.yaml listens on %v", got, want)
	}

	unit, err := os.ReadFile(filepath.Join(root, "systemd", "flowlens.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Type=notify", "Requires=flowlens.socket", "ExecStart=/usr/bin/flowlens run --config /etc/flowlens/flowlens.yaml"} {
		if !strings.Contains(string(unit), "\n"+line+"\n") {
			t.Errorf("flowlens.service lacks %q", line)
		}
	}
	// The packaged paths are the service's state directory.
	if !strings.HasPrefix(cfg.Store.Path, "/var/lib/flowlens") || !strings.HasPrefix(cfg.Input.NetFlow.TemplateFile, "/var/lib/flowlens/") ||
		!strings.HasPrefix(cfg.Enrich.GeoIP.Download.Dir, "/var/lib/flowlens/") {
		t.Errorf("state outside /var/lib/flowlens (the only writable path of the unit): %q %q %q", cfg.Store.Path, cfg.Input.NetFlow.TemplateFile,
			cfg.Enrich.GeoIP.Download.Dir)
	}
}
