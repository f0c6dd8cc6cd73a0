//go:build e2e

// Package e2e is flowlens's end-to-end test against a real Open vSwitch: a private
// ovsdb-server + ovs-vswitchd (userspace datapath) in a network namespace, namespace "VMs" on
// br-int labelled like os-vif / Neutron ML2/OVS ports, real traffic between them, OVS's own
// sFlow export to the flowlens binary, and assertions on flowlens's NDJSON output.
//
// Run as root:  go test -tags e2e -v -count=1 ./test/e2e/    (see docs/e2e.md)
package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestOVSsFlow(t *testing.T) {
	requireLab(t)
	ctx := labContext(t)
	testStart := time.Now()

	l := newLab(t, ctx)
	bin := l.buildCollector()
	l.setup()

	// Any port is free in the fresh hypervisor namespace; a random one exercises the flag.
	port := 20000 + rand.IntN(20000)
	// The collector must listen BEFORE OVS exports: OVS sends from a connected UDP socket, and
	// while nothing listens every ICMP port-unreachable makes the next send() fail, so OVS
	// drops every other datagram.
	col := l.startCollector(bin, port, "main")
	l.configureSFlow(port)
	sink := os.Getenv(collectorEnv) == "sink"
	// NetFlow v9 and IPFIX from softflowd on vm1's host-side veth, during the same traffic.
	var sfs []*Softflowd
	if !sink {
		sfs = l.startSoftflowd(l.VMs[0].HostIf, col)
	}

	tr := l.generate()
	l.generateAttribution(tr)
	l.stopSoftflowd(sfs)
	t.Logf("traffic done in %.0fs; waiting %ds (one polling interval + margin) for the last counter samples",
		tr.End.Sub(tr.Start).Seconds(), pollingSec+3)
	l.sleep((pollingSec + 3) * time.Second)
	col.stop(t)

	// Datagram loss across a collector restart under traffic: binding its own socket (baseline,
	// not asserted to be 0), then with socket activation (asserted 0).
	rs := l.restartLoss(bin, port, false)
	var ra *RestartResult
	if !sink {
		ra = l.restartLoss(bin, port, true)
	}

	var p Problems
	out, sums := col.results(t, &p)
	// The sFlow checks see only the sFlow agents' summaries (and ParseOutput keeps NetFlow /
	// IPFIX records out of out.Flows).
	var sflowSums []AgentSummary
	for _, s := range sums {
		if s.Input == "" || s.Input == inputSFlow {
			sflowSums = append(sflowSums, s)
		}
	}

	t.Run("sequence", func(t *testing.T) { checkSequences(t, out, sflowSums) })
	t.Run("flows", func(t *testing.T) {
		if sink {
			t.Skip("FLOWLENS_E2E_COLLECTOR=sink: no flow records")
		}
		checkFlows(t, l, tr, out, testStart)
	})
	t.Run("bytes", func(t *testing.T) {
		if sink {
			t.Skip("FLOWLENS_E2E_COLLECTOR=sink: no flow records")
		}
		checkBytes(t, l, tr, out)
	})
	t.Run("counters", func(t *testing.T) {
		if sink {
			t.Skip("FLOWLENS_E2E_COLLECTOR=sink: no counter records")
		}
		checkCounters(t, l, out)
	})
	t.Run("openstack", func(t *testing.T) {
		if sink {
			t.Skip("FLOWLENS_E2E_COLLECTOR=sink: no flow records")
		}
		checkOpenStack(t, l, out)
	})
	t.Run("observation", func(t *testing.T) {
		if sink {
			t.Skip("FLOWLENS_E2E_COLLECTOR=sink: no flow records")
		}
		checkObservation(t, l, out)
	})
	t.Run("netflow-softflowd", func(t *testing.T) {
		if sink {
			t.Skip("FLOWLENS_E2E_COLLECTOR=sink: no NetFlow input")
		}
		checkNetFlow(t, l, out, sums, sfs)
	})
	t.Run("restart", func(t *testing.T) { checkRestart(t, rs) })
	t.Run("restart-socket-activation", func(t *testing.T) {
		if sink {
			t.Skip("FLOWLENS_E2E_COLLECTOR=sink: no socket activation")
		}
		checkRestart(t, ra)
	})
	t.Run("contract", func(t *testing.T) { p.Report(t.Errorf) })
}

// sleep waits, but not past the test's deadline context.
func (l *Lab) sleep(d time.Duration) {
	select {
	case <-time.After(d):
	case <-l.ctx.Done():
		l.t.Fatalf("deadline: %v", l.ctx.Err())
	}
}

// requireLab skips without root and installs the lab's tools when some are missing.
func requireLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the e2e test needs root (network namespaces, veths, Open vSwitch): sudo go test -tags e2e -v -count=1 ./test/e2e/")
	}
	if miss := toolsMissing(); len(miss) > 0 {
		t.Logf("missing %v: running test/e2e/install.sh", miss)
		cmd := exec.Command("bash", filepath.Join(repoRoot(t), "test", "e2e", "install.sh"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("install.sh: %v\n%s", err, lastBytes(string(out), 3000))
		}
		if miss := toolsMissing(); len(miss) > 0 {
			t.Fatalf("still missing after install.sh: %v", miss)
		}
	}
}

// labContext is the test's context: its deadline leaves time for an orderly teardown.
func labContext(t *testing.T) context.Context {
	// Leave time for an orderly teardown before go test's -timeout panics (which would skip
	// the t.Cleanup teardown).
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-45*time.Second))
		t.Cleanup(cancel)
	}
	return ctx
}
