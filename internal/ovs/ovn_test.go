package ovs

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/ovstest"
)

func TestDropSamplingCommands(t *testing.T) {
	d := DropSampling{Bridge: "br-int", Target: "192.0.2.10:4739", CollectorSet: 1, Domain: 1}
	got := ShellQuote(append([]string{"ovs-vsctl"}, d.OVSCommand(nil)...))
	want := `ovs-vsctl -- --id=@br get Bridge br-int -- --id=@ipfix create IPFIX 'targets="192.0.2.10:4739"'` +
		` -- create Flow_Sample_Collector_Set id=1 bridge=@br ipfix=@ipfix`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got, want := ShellQuote(append([]string{"ovn-nbctl"}, d.NBCommand()...)),
		`ovn-nbctl set NB_Global . options:debug_drop_collector_set=1 options:debug_drop_domain_id=1`; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []DropSampling{{Bridge: "br-int", Target: "192.0.2.10", CollectorSet: 1, Domain: 1},
		{Bridge: "br-int", Target: "192.0.2.10:4739", CollectorSet: 1, Domain: 256}, {Target: "192.0.2.10:4739", CollectorSet: 1, Domain: 1}} {
		if bad.Validate() == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// Applied twice against a real Open vSwitch database and a real OVN
// Northbound: one collector set, the options set.
func TestApplyDropSampling(t *testing.T) {
	db := ovstest.Start(t)
	db.Vsctl("add-br", "br-int")
	db.Vsctl("add-br", "br-ex")
	nb := startNB(t)
	r := Runner{Args: []string{"--db=unix:" + db.Socket, "--no-wait"}}
	n := NBRunner{Args: []string{"--db=" + nb}}
	ctx := context.Background()
	d := DropSampling{Bridge: "br-int", Target: "127.0.0.1:4739", CollectorSet: 1, Domain: 1}
	for i := 0; i < 2; i++ {
		if err := r.ApplyDropSampling(ctx, d); err != nil {
			t.Fatal(err)
		}
		if err := n.ApplyDropSampling(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	sets, err := r.CollectorSets(ctx, "br-int", 1)
	if err != nil || len(sets) != 1 {
		t.Fatalf("collector sets %v %v", sets, err)
	}
	if out := db.Vsctl("--bare", "--columns=targets", "list", "IPFIX"); strings.TrimSpace(out) != "127.0.0.1:4739" {
		t.Errorf("IPFIX targets %q (the replaced set's row must go)", out)
	}
	out, err := exec.Command("ovn-nbctl", "--db="+nb, "get", "NB_Global", ".", "options").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `debug_drop_collector_set="1"`) || !strings.Contains(string(out), `debug_drop_domain_id="1"`) {
		t.Errorf("NB_Global options %s %v", out, err)
	}
	if _, err := r.CollectorSets(ctx, "br-nope", 1); err == nil || !strings.Contains(err.Error(), "no bridge br-nope") {
		t.Errorf("a missing bridge: %v", err)
	}
}

// startNB runs an OVN Northbound ovsdb-server (Debian's ovn-central schema)
// on a unix socket, initialised as ovn-northd's users find it.
func startNB(t *testing.T) string {
	t.Helper()
	const schema = "/usr/share/ovn/ovn-nb.ovsschema"
	if _, err := exec.LookPath("ovn-nbctl"); err != nil {
		t.Skip("no ovn-nbctl (apt-get install ovn-common)")
	}
	sock := strings.TrimPrefix(ovstest.Server(t, schema, false, "ovn-central: it ships the schemas"), "unix:")
	if out, err := exec.Command("ovn-nbctl", "--db=unix:"+sock, "init").CombinedOutput(); err != nil {
		t.Fatalf("ovn-nbctl init: %v %s", err, out)
	}
	return "unix:" + sock
}
