package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOVNConfigurePrints(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"ovn", "configure", "--target", "192.0.2.10:4739", "--db", "unix:/run/ovs/db.sock", "--nb", "tcp:192.0.2.5:6641"}, &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	for _, want := range []string{
		`ovs-vsctl --db=unix:/run/ovs/db.sock -- --id=@br get Bridge br-int -- --id=@ipfix create IPFIX 'targets="192.0.2.10:4739"' -- create Flow_Sample_Collector_Set id=1 bridge=@br ipfix=@ipfix`,
		`ovn-nbctl --db=tcp:192.0.2.5:6641 set NB_Global . options:debug_drop_collector_set=1 options:debug_drop_domain_id=1`,
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("missing\n%s\nin\n%s", want, out.String())
		}
	}
	out.Reset()
	if rc := run([]string{"ovn", "configure", "--only", "nb", "--domain", "7"}, &out, &errb); rc != 0 || strings.Contains(out.String(), "ovs-vsctl") ||
		!strings.Contains(out.String(), "debug_drop_domain_id=7") {
		t.Errorf("--only nb: %d %s", rc, out.String())
	}
	if rc := run([]string{"ovn", "configure", "--domain", "300"}, &out, &errb); rc == 0 {
		t.Error("--domain 300 accepted")
	}
}

// flowlens decode marks the real capture's drop samples.
func TestDecodeMarksOVNDrops(t *testing.T) {
	decode := func(args ...string) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "out.ndjson")
		var errb bytes.Buffer
		if rc := run(append(append([]string{"decode", "--output", path}, args...), "../../testdata/openstack/ovn-ipfix-drops.pcap"), &errb, &errb); rc != 0 {
			t.Fatalf("rc %d: %s", rc, errb.String())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	out := decode()
	if n := strings.Count(out, `"blocked":{"dropped":true,"source":"ovn-drop-sampling"`); n != 5 {
		t.Errorf("%d records marked, want 5:\n%s", n, out)
	}
	if n := strings.Count(out, `"observation_point_id":3881168170`); n != 4 {
		t.Errorf("%d records with observation point 0xe755ed2a, want 4", n)
	}
	if out := decode("--ovn-drop-domain", "0"); strings.Contains(out, `"blocked"`) {
		t.Error("--ovn-drop-domain 0: marked anyway")
	}
}
