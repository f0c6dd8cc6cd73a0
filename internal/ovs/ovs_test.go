package ovs

import (
	"context"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/ovstest"
)

func TestCommandQuoting(t *testing.T) {
	s := Settings{Agent: "eth0", Target: "192.0.2.10:6343", Sampling: 64, Polling: 10, Header: 128, IPFIX: "[2001:db8::10]:4739"}
	got := ShellQuote(append([]string{"ovs-vsctl"}, Command(s, []string{"br-int", "br-tun"})...))
	want := `ovs-vsctl -- --id=@sflow create sflow 'agent="eth0"' 'targets="192.0.2.10:6343"' header=128 sampling=64 polling=10` +
		` -- --id=@ipfix create ipfix 'targets="[2001:db8::10]:4739"' sampling=64` +
		` -- set bridge br-int sflow=@sflow ipfix=@ipfix -- set bridge br-tun sflow=@sflow ipfix=@ipfix`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if err := (Settings{Agent: "eth0", Target: "192.0.2.10", Sampling: 64, Header: 128}).Validate(); err == nil || !strings.Contains(err.Error(), "192.0.2.10:6343") {
		t.Errorf("a target without a port: %v", err)
	}
}

// The printed command works when a shell runs it, and check reads back
// what it set, against a real Open vSwitch database.
func TestApplyAndCheck(t *testing.T) {
	db := ovstest.Start(t)
	db.Vsctl("add-br", "br-int")
	db.Vsctl("add-br", "br-tun")
	db.Vsctl("add-br", "br-ex")
	r := Runner{Args: []string{"--db=unix:" + db.Socket, "--no-wait"}}
	ctx := context.Background()
	bridges, err := r.Bridges(ctx)
	if err != nil || len(bridges) != 3 {
		t.Fatalf("bridges %v %v", bridges, err)
	}
	s := Settings{Agent: "lo", Target: "127.0.0.1:6343", Sampling: 64, Polling: 10, Header: 128, IPFIX: "127.0.0.1:4739"}
	if err := r.Apply(ctx, s, []string{"br-int", "br-tun"}); err != nil {
		t.Fatal(err)
	}
	ex, err := r.Check(ctx, []string{"127.0.0.1:6343"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 3 {
		t.Fatalf("%+v", ex)
	}
	for _, e := range ex {
		switch e.Bridge {
		case "br-int", "br-tun":
			if e.SFlow == nil || e.SFlow.Agent != "lo" || len(e.SFlow.Targets) != 1 || e.SFlow.Targets[0] != "127.0.0.1:6343" ||
				e.SFlow.Sampling != 64 || e.SFlow.Polling != 10 || e.SFlow.Header != 128 || len(e.IPFIX) != 1 || len(e.Problems) != 0 {
				t.Errorf("%s: %+v %+v", e.Bridge, e, e.SFlow)
			}
		case "br-ex":
			if e.SFlow != nil || len(e.Problems) != 1 {
				t.Errorf("br-ex: %+v", e)
			}
		}
	}
	ex, _ = r.Check(ctx, []string{"192.0.2.99:6343"})
	if len(ex[0].Problems) == 0 && len(ex[1].Problems) == 0 {
		t.Error("a different collector is not reported")
	}
}
