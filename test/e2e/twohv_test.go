//go:build e2e

package e2e

// TestTwoHypervisors: two emulated compute nodes joined by a VXLAN tunnel, as Neutron's
// ML2/OVS agent builds them (twohv_lab_test.go), sFlow from br-int, br-tun and br-phy of both
// to one flowlens, same-host and cross-host traffic of known volume, and what flowlens makes
// of it: counted once, counted at every observation, both ends attributed, the tunnel's VNI
// and outer/inner addresses (twohv_assert_test.go). See docs/e2e.md.
//
//	go test -tags e2e -count=1 -v -run TestTwoHypervisors ./test/e2e/

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTwoHypervisors(t *testing.T) {
	requireLab(t)
	if os.Getenv(collectorEnv) == "sink" {
		t.Skip("FLOWLENS_E2E_COLLECTOR=sink: the two-hypervisor test needs flowlens's records")
	}
	ctx := labContext(t)
	testStart := time.Now()

	l := newLab(t, ctx)
	bin := l.buildCollector()
	t.Cleanup(func() { // runs before the lab's teardown (registered later)
		if t.Failed() && keep() {
			t.Logf("two-hypervisor lab left up: OVS of hvN with\n"+
				"  export OVS_RUNDIR=%[1]s/hvN/ovs/run OVS_DBDIR=%[1]s/hvN/ovs/db OVS_LOGDIR=%[1]s/hvN/ovs/log\n"+
				"  ovs-vsctl show; ovs-ofctl dump-flows br-tun; ovs-appctl -t $OVS_RUNDIR/ovs-vswitchd.ctl tnl/neigh/show\n"+
				"  ip netns exec %[2]s-vm1 ping 10.81.0.14", l.Dir, l.Prefix)
		}
	})
	setupStart := time.Now()
	tl := l.setupTwoHV()
	setupDur := time.Since(setupStart)
	inv := l.writeInventory()

	port := 20000 + rand.IntN(20000)
	// The collector listens before OVS exports (see TestOVSsFlow).
	col := l.startCollectorTwoHV(bin, tl, port, inv)
	// Let it read both OVSDBs before the first sample (otherwise the first samples would
	// legitimately lack attribution).
	l.waitFor("collector reading both OVSDBs", 20*time.Second, func() error {
		if n := strings.Count(readFile(col.LogPath), `"msg":"following OVSDB for OpenStack ports"`); n < len(tl.HVs) {
			return fmt.Errorf("%d of %d OVSDB reads logged:\n%s", n, len(tl.HVs), tail(col.LogPath, 10))
		}
		return nil
	})
	l.configureSFlowTwoHV(tl, port)

	vm := func(name string) int {
		for i, v := range l.VMs {
			if v.Name == name {
				return i
			}
		}
		t.Fatalf("no VM %s", name)
		return -1
	}
	// vm1 (hv1) <-> vm4 (hv2) on network A, vm3 (hv1) <-> vm5 (hv2) on network B: cross-host;
	// vm1 <-> vm2 on hv1: same host.
	pairs := []Dir{{vm("vm1"), vm("vm4")}, {vm("vm3"), vm("vm5")}, {vm("vm1"), vm("vm2")}}
	drops0 := l.socketDrops(tl)
	tr := l.generateTwoHV(tl, pairs)
	trafficDur := tr.End.Sub(tr.Start)
	t.Logf("traffic done in %.0fs; waiting %ds (one polling interval + margin) for the last counter samples",
		trafficDur.Seconds(), pollingSec+3)
	l.sleep((pollingSec + 3) * time.Second)
	// Packets ovs-vswitchd's receive sockets dropped during the run (a userspace datapath
	// short of CPU): counted by the ports, never seen, never sampled.
	drops := l.socketDrops(tl)
	for k, v := range drops0 {
		drops[k] -= v
	}
	var dl []string
	for k, v := range drops {
		if v != 0 {
			dl = append(dl, fmt.Sprintf("%s %d", k, v))
		}
	}
	slices.Sort(dl)
	t.Logf("OVS receive drops during the run (ss -0 -m, sk_drops of ovs-vswitchd's AF_PACKET sockets): %s", strings.Join(dl, ", "))
	acc := l.queryAccuracy(tl, port+2)
	tops := l.queryTops(tl, port+2, testStart.Add(-5*time.Minute))
	col.stop(t)

	var p Problems
	out, sums := col.results(t, &p)
	t.Logf("TIMING two hypervisors: setup %.1fs, traffic %.1fs, whole test so far %.1fs",
		setupDur.Seconds(), trafficDur.Seconds(), time.Since(testStart).Seconds())

	bridges := bridgeSubAgents(t, tl, out)
	var want []AgentKey
	for k := range bridges {
		want = append(want, k)
	}
	t.Run("bridges", func(t *testing.T) { checkBridges(t, tl, bridges) })
	t.Run("sequence", func(t *testing.T) { checkSequencesOf(t, out, sums, want...) })
	obs := classifyTwoHV(l, tl, bridges, out, &p)
	t.Run("observation-points", func(t *testing.T) { checkObservationPoints(t, l, obs) })
	t.Run("bytes", func(t *testing.T) { checkBytesTwoHV(t, l, tr, obs) })
	t.Run("count-once", func(t *testing.T) { checkCountOnce(t, l, tr, obs) })
	t.Run("attribution", func(t *testing.T) { checkAttributionTwoHV(t, l, tl, out) })
	t.Run("tunnel", func(t *testing.T) { checkTunnel(t, l, tl, tr, bridges, out) })
	t.Run("api-count-once", func(t *testing.T) { checkAPICountOnce(t, l, tr, obs, tops) })
	t.Run("accuracy", func(t *testing.T) { checkAccuracy(t, l, acc, drops) })
	t.Run("contract", func(t *testing.T) { p.Report(t.Errorf) })
}

// generateTwoHV runs, per VM pair {a, b}: ping a -> b IPv4 and b -> a IPv6 (1000 each),
// iperf3 --bidir TCP and UDP over IPv4 from a, and TCP over IPv6 from b (3 s each).
func (l *Lab) generateTwoHV(tl *TwoHV, pairs []Dir) *Traffic {
	t := l.t
	tr := &Traffic{Truth: map[Dir]*Truth{}, Raw: map[string]int{}, Start: time.Now()}
	for _, d := range pairs {
		ai, bi := d.From, d.To
		a, b := l.VMs[ai], l.VMs[bi]
		pairStart := time.Now()
		stats0 := map[string]ifStats{}
		for _, h := range tl.HVs {
			for k, v := range l.portStatsIn(h.NS) {
				stats0[k] = v
			}
		}
		l.ping(tr, ai, bi, b.IPv4)
		l.ping(tr, bi, ai, a.IPv6)
		l.iperf(tr, ai, bi, b.IPv4, "tcp")
		l.iperf(tr, ai, bi, b.IPv4, "udp")
		l.iperf(tr, bi, ai, a.IPv6, "tcp")
		stats1 := map[string]ifStats{}
		for _, h := range tl.HVs {
			for k, v := range l.portStatsIn(h.NS) {
				stats1[k] = v
			}
		}
		where := "same host " + a.HV.Name
		if a.HV != b.HV {
			where = fmt.Sprintf("cross-host %s/%s, VNI %d", a.HV.Name, b.HV.Name, a.Net.SegmentID)
		}
		t.Logf("pair %s<->%s (%s) done in %.1fs; kernel rx on %s: %d frames %d B (model %s->%s: %.0f frames %.0f B); on %s: %d frames %d B (model %.0f frames %.0f B)",
			a, b, where, time.Since(pairStart).Seconds(),
			a.HostIf, stats1[a.HostIf].pkts-stats0[a.HostIf].pkts, stats1[a.HostIf].bytes-stats0[a.HostIf].bytes,
			a, b, tr.truth(ai, bi).Frames, tr.truth(ai, bi).Bytes,
			b.HostIf, stats1[b.HostIf].pkts-stats0[b.HostIf].pkts, stats1[b.HostIf].bytes-stats0[b.HostIf].bytes,
			tr.truth(bi, ai).Frames, tr.truth(bi, ai).Bytes)
	}
	tr.End = time.Now()
	return tr
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
