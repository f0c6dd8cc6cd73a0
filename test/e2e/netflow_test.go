//go:build e2e

package e2e

// Live NetFlow v9 and IPFIX: two softflowd (Debian's, 1.1.0) in the hypervisor namespace
// capture on vm1's host-side veth while the traffic plan runs, and export to the main
// collector's --input.netflow.listen. softflowd builds its flows from every packet (no
// sampling), so the check is coverage: every (peer VM, protocol, family, direction) of vm1's
// traffic shows up in both inputs with the right addresses and non-zero counts.

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Softflowd is one running softflowd.
type Softflowd struct {
	Input   string // flowlens.input its records get: netflow_v9 / ipfix
	Version string // softflowd -v
	Ctl     string // control socket (softflowctl -c)
	Iface   string // where it captures (in l.HV)
	Proc    *Proc
}

var softflowdInputs = []struct{ input, version string }{{"netflow_v9", "9"}, {"ipfix", "10"}}

// startSoftflowd starts one softflowd per export version on iface (in l.HV), exporting to
// the collector's NetFlow listener. Short timeouts so flows are exported during the run.
func (l *Lab) startSoftflowd(iface string, col *Collector) []*Softflowd {
	var sfs []*Softflowd
	for _, v := range softflowdInputs {
		s := &Softflowd{Input: v.input, Version: v.version, Iface: iface,
			Ctl: filepath.Join(l.Dir, "softflowd-"+v.input+".ctl")}
		argv := []string{"ip", "netns", "exec", l.HV, "softflowd", "-d",
			"-i", iface, "-n", col.NetFlow, "-v", v.version,
			"-6", // IPv6 flows too (v9 and IPFIX have IPv6 templates)
			"-p", filepath.Join(l.Dir, "softflowd-"+v.input+".pid"),
			"-c", s.Ctl,
			"-t", "maxlife=5", "-t", "general=5", "-t", "tcp=5", "-t", "udp=5", "-t", "icmp=5",
			"-t", "tcp.rst=5", "-t", "tcp.fin=5", "-t", "expint=2"}
		p, err := l.start("softflowd-"+v.input, filepath.Join(l.Dir, "softflowd-"+v.input+".log"), argv...)
		if err != nil {
			l.t.Fatal(err)
		}
		s.Proc = p
		sfs = append(sfs, s)
	}
	// softflowd opens its pcap handle right away; give it a moment and check it did not die
	// (wrong option, interface missing).
	time.Sleep(time.Second)
	for _, s := range sfs {
		if !s.Proc.Running() {
			l.t.Fatalf("softflowd %s exited at start (%v):\n%s", s.Input, s.Proc.err, tail(s.Proc.LogPath, 30))
		}
	}
	l.t.Logf("softflowd -v 9 and -v 10 on %s -> %s", iface, col.NetFlow)
	return sfs
}

// stopSoftflowd makes every softflowd export what it still tracks and exit: softflowctl
// shutdown (expire all, export, exit), SIGTERM as the fallback.
func (l *Lab) stopSoftflowd(sfs []*Softflowd) {
	if len(sfs) == 0 {
		return
	}
	// softflowd reads pcap from a TPACKET_V3 ring: a block that is not full stays in the
	// kernel (seen: 590 packets still there after 2 s idle), and shutdown does not read it,
	// so the last ping (vm6 -> vm1) lost half its packets. Fill the ring with frames sent on
	// the veth itself, from the hypervisor side: 2000 full-size frames of the raw ethertype
	// to a MAC nobody has (vm1 drops them, OVS does not receive what is sent on its port,
	// softflowd ignores non-IP), then give softflowd a moment to process.
	self, err := os.Executable()
	if err != nil {
		l.t.Fatal(err)
	}
	out, err := l.runT(30*time.Second, "env", helperEnv+"=raw", "FLOWLENS_E2E_RAW_IF="+sfs[0].Iface,
		"FLOWLENS_E2E_RAW=flush,2000,0.0.0.0,0.0.0.0,02:00:00:00:00:01",
		"ip", "netns", "exec", l.HV, self, "-test.run=^$")
	if err != nil {
		l.t.Errorf("flush frames on %s: %v %s", sfs[0].Iface, err, out)
	}
	time.Sleep(time.Second)
	for _, s := range sfs {
		if out, err := l.runT(10*time.Second, "ip", "netns", "exec", l.HV, "softflowctl", "-c", s.Ctl, "statistics"); err == nil {
			l.logCmd("softflowd %s statistics:\n%s", s.Input, indent(out))
		}
	}
	for _, s := range sfs {
		if s.Proc.Running() {
			out, err := l.runT(10*time.Second, "ip", "netns", "exec", l.HV, "softflowctl", "-c", s.Ctl, "shutdown")
			l.logCmd("softflowctl -c %s shutdown: %v %s", s.Ctl, err, strings.TrimSpace(out))
		}
		if err := s.Proc.Wait(5 * time.Second); err != nil && s.Proc.Running() {
			if err := s.Proc.Stop(syscall.SIGTERM, 5*time.Second); err != nil {
				l.t.Errorf("softflowd %s: %v", s.Input, err)
			}
		}
	}
	// The export datagrams are on the namespace's loopback: a moment for the collector.
	time.Sleep(time.Second)
}

// checkNetFlow: both inputs present, vm1's flows with every peer, and clean summaries.
func checkNetFlow(t *testing.T, l *Lab, out *Output, sums []AgentSummary, sfs []*Softflowd) {
	if len(sfs) == 0 {
		t.Skip("softflowd not run")
	}
	for _, s := range sfs {
		if b, err := os.ReadFile(s.Proc.LogPath); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			t.Logf("softflowd %s log:\n%s", s.Input, lastBytes(string(b), 1500))
		}
	}
	by := map[string][]*FlowRec{}
	for _, f := range out.NetFlows {
		by[f.Input] = append(by[f.Input], f)
	}
	vm1 := l.VMs[0]
	for _, s := range sfs {
		recs := by[s.Input]
		if len(recs) == 0 {
			t.Errorf("no flow record with %s %q (softflowd -v %s); NetFlow records by input: %v", fInput, s.Input, s.Version, counts(by))
			continue
		}
		// What there is, for the log: transport/family counts of vm1's records.
		kinds := map[string]int{}
		for _, f := range recs {
			kinds[fmt.Sprintf("%s/%s", f.Transport, ipFamilyOf(f.SrcIP))]++
			if f.Bytes <= 0 || f.Packets <= 0 {
				t.Errorf("%s: record with bytes %d packets %d: %s", s.Input, f.Bytes, f.Packets, f)
			}
			if f.Agent != "127.0.0.1" {
				t.Errorf("%s: %s = %q, want 127.0.0.1: %s", s.Input, fAgentIP, f.Agent, f)
			}
		}
		t.Logf("%s: %d flow records: %v", s.Input, len(recs), kinds)

		var missing []string
		for _, peer := range append(slices.Clone(l.VMs[1:]), l.VM6) {
			type want struct {
				transport string
				src, dst  netip.Addr
			}
			var wants []want
			add := func(transport string, a, b netip.Addr) {
				wants = append(wants, want{transport, a, b}, want{transport, b, a})
			}
			add("icmp", vm1.IPv4, peer.IPv4)
			if peer != l.VM6 { // vm6 only pings vm1 (generateAttribution)
				add("tcp", vm1.IPv4, peer.IPv4)
				add("udp", vm1.IPv4, peer.IPv4)
				add("ipv6-icmp", vm1.IPv6, peer.IPv6)
				add("tcp", vm1.IPv6, peer.IPv6)
				add("udp", vm1.IPv6, peer.IPv6)
			}
			for _, w := range wants {
				var pkts, bytes int64
				n := 0
				for _, f := range recs {
					if f.Transport == w.transport && f.SrcIP == w.src && f.DstIP == w.dst {
						n++
						pkts += f.Packets
						bytes += f.Bytes
					}
				}
				if n == 0 {
					missing = append(missing, fmt.Sprintf("%s %s->%s (%s)", w.transport, w.src, w.dst, peer))
					continue
				}
				t.Logf("%s %s %s->%s: %d records, %d packets, %d bytes", s.Input, w.transport, w.src, w.dst, n, pkts, bytes)
				// At least the ping: pingCount echo requests / replies each way (softflowd
				// sees every packet, no sampling).
				if w.transport == "icmp" && pkts < pingCount*9/10 {
					t.Errorf("%s icmp %s->%s: %d packets in the records, ping sent %d", s.Input, w.src, w.dst, pkts, pingCount)
				}
			}
		}
		if len(missing) > 0 {
			t.Errorf("%s: no flow record for %d of vm1's flows: %s", s.Input, len(missing), strings.Join(missing, "; "))
		}
	}

	// The collector's summary per NetFlow/IPFIX exporter.
	for _, s := range sfs {
		found := false
		for _, sum := range sums {
			if sum.Input != s.Input {
				continue
			}
			found = true
			t.Logf("agent summary %s %s/%d: datagrams=%d samples=%d lost=%d decode_errors=%d",
				sum.Input, sum.Agent, sum.SubAgent, sum.Datagrams, sum.Samples, sum.Lost, sum.DecodeErrors)
			if sum.DecodeErrors != 0 {
				t.Errorf("agent summary %s %s/%d: %d decode errors", sum.Input, sum.Agent, sum.SubAgent, sum.DecodeErrors)
			}
			// Loopback loses nothing; softflowd's IPFIX counts a message's own
			// records in its sequence number (NetFlow v9: datagrams), which the
			// collector must recognise rather than report as loss.
			if sum.Lost != 0 {
				t.Errorf("agent summary %s %s/%d: %d records lost by sequence numbers", sum.Input, sum.Agent, sum.SubAgent, sum.Lost)
			}
			if sum.Datagrams <= 0 {
				t.Errorf("agent summary %s %s/%d: no datagrams", sum.Input, sum.Agent, sum.SubAgent)
			}
		}
		if !found {
			t.Errorf(`no "agent summary" line with input %q`, s.Input)
		}
	}
}

func ipFamilyOf(a netip.Addr) string {
	switch {
	case a.Is4():
		return "v4"
	case a.Is6():
		return "v6"
	}
	return "-"
}

func counts(m map[string][]*FlowRec) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, len(m[k]))
	}
	return strings.TrimSpace(b.String())
}
