//go:build e2e

package e2e

// Traffic between the VMs, and the generator's own account of it ("truth"), turned into the L2
// frame bytes that OVS's sFlow agent samples.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Traffic plan, per unordered VM pair {a, b} (run one pair after the other):
//
//	ARP    a -> b   1000 raw ARP requests (flooded) + the kernel's replies b -> a
//	ND     b -> a   1000 raw neighbour solicitations (multicast) + the kernel's NAs a -> b
//	0x88b5 a -> b   1000 raw frames of an unassigned ethertype (network.type "0x88b5")
//	ping   a -> b   IPv4, 1000 x 56 bytes at 2 ms (requests a->b, replies b->a)
//	ping   b -> a   IPv6, same
//	iperf3 TCP v4 a -> b --bidir, TCP v6 b -> a --bidir    (tcpRate each way, iperfSeconds)
//	iperf3 UDP v4 a -> b --bidir, UDP v6 b -> a --bidir    (udpRate each way, udpLen payload)
//
// 1000 packets of a kind give 1000/64 = 15.6 expected samples at 1-in-64, so the chance that a
// kind/direction is never sampled is e^-15.6 ~ 2e-7: "every pair x protocol x direction
// appears" is then a deterministic assertion in practice. See bytesTolerance for the byte
// estimate.
const (
	samplingRate  = 64
	pollingSec    = 10
	headerBytes   = 128
	pingCount     = 1000
	pingInterval  = "0.002"
	rawCount      = 1000
	rawEtherType  = 0x88b5 // IEEE 802 local experimental ethertype
	iperfSeconds  = 3
	tcpRate       = "40M"
	udpRate       = "5M"
	udpLen        = 1400 // < MTU for v4 and v6: no IP fragments (fragments carry no ports)
	iperfPort     = 5201
	ethHdr        = 14
	icmpEchoBytes = 8 + 56
)

// Dir is an ordered VM pair (indexes into Lab.VMs).
type Dir struct{ From, To int }

// Truth accumulates, per ordered pair, the L2 frames (without FCS) the generators put on the
// wire between the pair's IPv4/IPv6 addresses, and sum of squares of frame sizes (for the
// sampling error).
type Truth struct {
	Frames, Bytes, SumSq float64
	Parts                []string
}

func (t *Truth) add(what string, frames, frameSize float64) {
	if frames <= 0 {
		return
	}
	t.Frames += frames
	t.Bytes += frames * frameSize
	t.SumSq += frames * frameSize * frameSize
	t.Parts = append(t.Parts, fmt.Sprintf("%s %.0f x %.0fB", what, frames, frameSize))
}

// RelSE is the relative standard error of the sFlow byte estimate for this traffic: with
// Bernoulli sampling at p = 1/rate each frame of size s is counted s*rate with probability p,
// so Var(B^) = sum s^2 (1-p)/p ~ rate * sum s^2 and RelSE = sqrt(rate*sum s^2)/sum s, which is
// 1/sqrt(expected samples) when all frames have the same size.
func (t *Truth) RelSE() float64 {
	if t.Bytes == 0 {
		return math.Inf(1)
	}
	return math.Sqrt(samplingRate*t.SumSq) / t.Bytes
}

// Stream is one iperf3 stream as seen from the client (ports from start.connected).
type Stream struct {
	Proto      string // tcp / udp
	Client     *VM
	Server     *VM
	ClientIP   netip.Addr
	ServerIP   netip.Addr
	ClientPort int
	ServerPort int
	ClientSent bool // true: data flows client -> server; false: the --bidir reverse stream
	Bytes      int64
	Packets    int64 // UDP only
	Retrans    int64 // TCP only
}

// PingRun is one ping run.
type PingRun struct {
	From, To *VM
	Dst      netip.Addr
	Sent     int
	Received int
}

// Traffic is everything the generators did.
type Traffic struct {
	Truth   map[Dir]*Truth
	Streams []Stream
	Pings   []PingRun
	Raw     map[string]int // "arp vm1>vm2" -> frames sent
	Extra   []PingRun      // the attribution cases' traffic (generateAttribution)
	// Crossed: per ordered pair, what really crossed Open vSwitch during the pair's IP traffic
	// (ping and iperf3), from the kernel's counters (TestOVSsFlow only).
	Crossed map[Dir]*Crossed
	Start   time.Time
	End     time.Time
}

func (tr *Traffic) truth(a, b int) *Truth {
	d := Dir{a, b}
	if tr.Truth[d] == nil {
		tr.Truth[d] = &Truth{}
	}
	return tr.Truth[d]
}

// generate runs the traffic plan over every VM pair.
func (l *Lab) generate() *Traffic {
	t := l.t
	tr := &Traffic{Truth: map[Dir]*Truth{}, Raw: map[string]int{}, Crossed: map[Dir]*Crossed{}, Start: time.Now()}
	for ai := range l.VMs {
		for bi := ai + 1; bi < len(l.VMs); bi++ {
			a, b := l.VMs[ai], l.VMs[bi]
			pairStart := time.Now()
			stats0 := l.portStats()
			// Fresh neighbour caches: the kernels ARP / solicit again (flooded by OVS).
			for _, v := range []*VM{a, b} {
				l.mustRun("ip", "-n", v.Netns, "neigh", "flush", "all")
			}
			l.rawFrames(tr, a, b, "arp")
			l.rawFrames(tr, b, a, "ns")
			l.rawFrames(tr, a, b, "ether")
			// a's kernel answers b's solicitations with unicast neighbour advertisements
			// a -> b (IPv6 40 + NA 24 + target link-layer option 8): IPv6 between the pair.
			tr.truth(ai, bi).add("ND NA", float64(rawCount), ethHdr+40+24+8)

			// The reference of checkBytes: the kernel's counters and OVS's receive drops
			// around the pair's IP traffic only (the raw frames above are not IP between the
			// pair, except the NAs, which checkBytes leaves out of that comparison).
			time.Sleep(200 * time.Millisecond) // the last raw frames and their answers
			ip0 := l.crossingSnapshot()
			l.ping(tr, ai, bi, b.IPv4)
			l.ping(tr, bi, ai, a.IPv6)
			l.iperf(tr, ai, bi, b.IPv4, "tcp")
			l.iperf(tr, bi, ai, a.IPv6, "tcp")
			l.iperf(tr, ai, bi, b.IPv4, "udp")
			l.iperf(tr, bi, ai, a.IPv6, "udp")
			time.Sleep(200 * time.Millisecond) // the last ACKs
			ip1 := l.crossingSnapshot()
			tr.Crossed[Dir{ai, bi}] = crossed(a, b, ip0, ip1)
			tr.Crossed[Dir{bi, ai}] = crossed(b, a, ip0, ip1)

			stats1 := l.portStats()
			t.Logf("pair %s<->%s done in %.1fs; kernel rx on %s: %d frames %d B (model %s->%s: %.0f frames %.0f B); on %s: %d frames %d B (model %.0f frames %.0f B)",
				a, b, time.Since(pairStart).Seconds(),
				a.HostIf, stats1[a.HostIf].pkts-stats0[a.HostIf].pkts, stats1[a.HostIf].bytes-stats0[a.HostIf].bytes,
				a, b, tr.truth(ai, bi).Frames, tr.truth(ai, bi).Bytes,
				b.HostIf, stats1[b.HostIf].pkts-stats0[b.HostIf].pkts, stats1[b.HostIf].bytes-stats0[b.HostIf].bytes,
				tr.truth(bi, ai).Frames, tr.truth(bi, ai).Bytes)
		}
	}
	tr.End = time.Now()
	return tr
}

// ifStats: a link's kernel counters; pkts and bytes are rx.
type ifStats struct{ pkts, bytes, txPkts, txBytes int64 }

// Crossed is what really crossed Open vSwitch from one VM to another during a pair's IP
// traffic, by the kernel's counters of the two VM ports' host ends (frame bytes without FCS):
//   - Kernel: what the sender put on the wire towards OVS (rx of its port's host end);
//   - Drops: what the kernel dropped on ovs-vswitchd's AF_PACKET socket for that port
//     (sk_drops: the userspace datapath fell behind): counted in Kernel, never seen by OVS,
//     never sampled;
//   - Delivered: what OVS wrote into the receiver's port (tx of its host end).
//
// Processed = Kernel - Drops is what OVS saw and could sample: the reference of the estimate
// (checkBytes).
type Crossed struct {
	KernelPkts, KernelBytes       int64
	Drops                         int64
	DeliveredPkts, DeliveredBytes int64
}

// ProcessedPkts is what OVS received from the sender's port.
func (c *Crossed) ProcessedPkts() float64 { return float64(c.KernelPkts - c.Drops) }

// ProcessedBytes is the bytes of the packets OVS received from the sender's port. The kernel
// counts the dropped packets but not their sizes; OVS forwards everything it processes here
// (NORMAL switching between two known MACs), so what it delivered to the receiver is the
// processed traffic itself, when its packet count agrees with Kernel - Drops (it does, within
// a few packets: logged). Otherwise the drops are taken at the sender's mean frame size.
func (c *Crossed) ProcessedBytes() float64 {
	if p := c.ProcessedPkts(); p > 0 && math.Abs(float64(c.DeliveredPkts)-p) <= 0.005*p {
		return float64(c.DeliveredBytes)
	}
	if c.KernelPkts == 0 {
		return 0
	}
	return float64(c.KernelBytes) * c.ProcessedPkts() / float64(c.KernelPkts)
}

// crossingSnap is the kernel's counters of the hypervisor's links and ovs-vswitchd's receive
// drops per interface, at one moment.
type crossingSnap struct {
	stats map[string]ifStats
	drops map[string]int64
}

func (l *Lab) crossingSnapshot() crossingSnap {
	return crossingSnap{stats: l.portStats(), drops: l.socketDropsIn(l.HV)}
}

// crossed is what crossed OVS from a to b between two snapshots.
func crossed(a, b *VM, s0, s1 crossingSnap) *Crossed {
	ra0, ra1 := s0.stats[a.HostIf], s1.stats[a.HostIf]
	tb0, tb1 := s0.stats[b.HostIf], s1.stats[b.HostIf]
	return &Crossed{
		KernelPkts: ra1.pkts - ra0.pkts, KernelBytes: ra1.bytes - ra0.bytes,
		Drops:         s1.drops[a.HostIf] - s0.drops[a.HostIf],
		DeliveredPkts: tb1.txPkts - tb0.txPkts, DeliveredBytes: tb1.txBytes - tb0.txBytes,
	}
}

// portStats reads the kernel's rx counters of the VM ports' host ends (what each VM put on the
// wire towards OVS; frame bytes without FCS). Only logged, to show that the frame model
// matches what crossed the switch. (OVS's Interface.statistics column would lag: vswitchd
// refreshes it only every 5 s.)
func (l *Lab) portStats() map[string]ifStats { return l.portStatsIn(l.HV) }

// portStatsIn is portStats for the interfaces of namespace ns.
func (l *Lab) portStatsIn(ns string) map[string]ifStats {
	m := map[string]ifStats{}
	out, err := l.run("ip", "-n", ns, "-s", "-j", "link", "show")
	if err != nil {
		return m
	}
	var links []struct {
		IfName  string `json:"ifname"`
		Stats64 struct {
			Rx struct {
				Bytes   int64 `json:"bytes"`
				Packets int64 `json:"packets"`
			} `json:"rx"`
			Tx struct {
				Bytes   int64 `json:"bytes"`
				Packets int64 `json:"packets"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if json.Unmarshal([]byte(out), &links) != nil {
		return m
	}
	for _, k := range links {
		m[k.IfName] = ifStats{k.Stats64.Rx.Packets, k.Stats64.Rx.Bytes, k.Stats64.Tx.Packets, k.Stats64.Tx.Bytes}
	}
	return m
}

var pingRe = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// ping runs ping from VM ai to dst (an address of VM bi).
func (l *Lab) ping(tr *Traffic, ai, bi int, dst netip.Addr) {
	a, b := l.VMs[ai], l.VMs[bi]
	pr := l.pingRun(a, b, dst)
	tr.Pings = append(tr.Pings, pr)
	ipHdr := 20.0
	if dst.Is6() {
		ipHdr = 40
	}
	size := ethHdr + ipHdr + icmpEchoBytes
	tr.truth(ai, bi).add("echo request", float64(pr.Sent), size)
	tr.truth(bi, ai).add("echo reply", float64(pr.Received), size)
}

// pingRun sends pingCount echo requests from a to dst (an address of b).
func (l *Lab) pingRun(a, b *VM, dst netip.Addr) PingRun {
	t := l.t
	args := []string{"ping", "-q", "-n", "-c", strconv.Itoa(pingCount), "-i", pingInterval, "-s", "56", "-W", "2"}
	if dst.Is6() {
		args = append(args, "-6")
	}
	out, err := l.inNS(a.Netns, 60*time.Second, append(args, dst.String())...)
	m := pingRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ping %s -> %s %s: %v\n%s", a, b, dst, err, out)
	}
	sent, _ := strconv.Atoi(m[1])
	recv, _ := strconv.Atoi(m[2])
	if recv < sent*9/10 {
		t.Errorf("ping %s -> %s %s: only %d of %d replies", a, b, dst, recv, sent)
	}
	return PingRun{From: a, To: b, Dst: dst, Sent: sent, Received: recv}
}

// generateAttribution runs the traffic of the attribution cases, outside the byte and
// coverage checks (their addresses collide with the plan's on purpose): vm4 -> vm5 on the
// second network, vm4 having vm1's address; vm6, behind the patch ports, -> vm1. 1000 echo
// requests and replies each way: ~15.6 expected samples a direction at 1 in 64.
func (l *Lab) generateAttribution(tr *Traffic) {
	start := time.Now()
	tr.Extra = append(tr.Extra, l.pingRun(l.VM4, l.VM5, l.VM5.IPv4), l.pingRun(l.VM6, l.VMs[0], l.VMs[0].IPv4))
	l.t.Logf("attribution traffic (%s -> %s on network 2, %s via %s -> %s) done in %.1fs",
		l.VM4, l.VM5, l.VM6, patchInt, l.VMs[0], time.Since(start).Seconds())
}

// iperf3 -J output, the parts used here.
type iperfJSON struct {
	Start struct {
		Connected []struct {
			Socket     int    `json:"socket"`
			LocalHost  string `json:"local_host"`
			LocalPort  int    `json:"local_port"`
			RemoteHost string `json:"remote_host"`
			RemotePort int    `json:"remote_port"`
		} `json:"connected"`
		TCPMSSDefault int `json:"tcp_mss_default"`
		TestStart     struct {
			Protocol string `json:"protocol"`
			Blksize  int    `json:"blksize"`
		} `json:"test_start"`
	} `json:"start"`
	End struct {
		Streams []struct {
			Sender *struct { // TCP
				Socket      int   `json:"socket"`
				Bytes       int64 `json:"bytes"`
				Retransmits int64 `json:"retransmits"`
				Sender      bool  `json:"sender"`
			} `json:"sender"`
			UDP *struct {
				Socket  int   `json:"socket"`
				Bytes   int64 `json:"bytes"`
				Packets int64 `json:"packets"`
				Sender  bool  `json:"sender"`
			} `json:"udp"`
		} `json:"streams"`
	} `json:"end"`
	Error string `json:"error"`
}

// iperf runs an iperf3 --bidir test from VM ci (client) to server address dst of VM si.
func (l *Lab) iperf(tr *Traffic, ci, si int, dst netip.Addr, proto string) {
	t := l.t
	c, s := l.VMs[ci], l.VMs[si]
	args := []string{"iperf3", "-J", "--connect-timeout", "3000", "-c", dst.String(), "-p", strconv.Itoa(iperfPort),
		"-t", strconv.Itoa(iperfSeconds), "--bidir"}
	if proto == "udp" {
		args = append(args, "-u", "-b", udpRate, "-l", strconv.Itoa(udpLen))
	} else {
		args = append(args, "-b", tcpRate)
	}
	var res iperfJSON
	var out string
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		out, err = l.inNS(c.Netns, time.Duration(iperfSeconds+30)*time.Second, args...)
		// iperf3 may warn on stderr before the JSON, e.g. with a 1450 MTU (two-hypervisor
		// lab): "UDP block size 1400 exceeds TCP MSS 1398" (1400 + 28 fits the MTU)
		if i := strings.Index(out, "\n{"); i >= 0 && !strings.HasPrefix(out, "{") {
			out = out[i+1:]
		}
		res = iperfJSON{}
		if jerr := json.Unmarshal([]byte(out), &res); jerr == nil && res.Error == "" && err == nil {
			break
		}
		// "the server is busy running a test" right after the previous test: retry
		time.Sleep(time.Second)
	}
	tag := fmt.Sprintf("%s/%s %s->%s", proto, ipFamily(dst), c, s)
	if err != nil || res.Error != "" {
		t.Fatalf("iperf3 %s: %v %s\n%s\n(TCP/UDP dead but ping fine usually means TX checksum offload is on in a VM)", tag, err, res.Error, lastBytes(out, 2000))
	}
	_ = os.WriteFile(filepath.Join(l.Dir, "iperf3-"+strings.NewReplacer("/", "-", ">", "", " ", "_").Replace(tag)+".json"), []byte(out), 0o644)

	socketPort := map[int]int{}
	for _, cn := range res.Start.Connected {
		socketPort[cn.Socket] = cn.LocalPort
		if cn.RemotePort != iperfPort {
			t.Fatalf("iperf3 %s: remote port %d", tag, cn.RemotePort)
		}
	}
	ipHdr := 20.0
	if dst.Is6() {
		ipHdr = 40
	}
	clientIP := l.vmAddr(c, dst.Is6())
	n := 0
	for _, st := range res.End.Streams {
		str := Stream{Proto: proto, Client: c, Server: s, ClientIP: clientIP, ServerIP: dst, ServerPort: iperfPort}
		switch {
		case proto == "tcp" && st.Sender != nil:
			str.ClientPort = socketPort[st.Sender.Socket]
			str.ClientSent = st.Sender.Sender
			str.Bytes = st.Sender.Bytes
			str.Retrans = st.Sender.Retransmits
		case proto == "udp" && st.UDP != nil:
			str.ClientPort = socketPort[st.UDP.Socket]
			str.ClientSent = st.UDP.Sender
			str.Bytes = st.UDP.Bytes
			str.Packets = st.UDP.Packets
		default:
			continue
		}
		if str.ClientPort == 0 || str.Bytes == 0 {
			t.Fatalf("iperf3 %s: stream without port or bytes: %+v", tag, str)
		}
		n++
		tr.Streams = append(tr.Streams, str)
		from, to := ci, si
		if !str.ClientSent {
			from, to = si, ci
		}
		if proto == "udp" {
			// exact: iperf3 counts UDP payload bytes and datagrams
			tr.truth(from, to).add("udp", float64(str.Packets), float64(str.Bytes)/float64(str.Packets)+ethHdr+ipHdr+8)
			continue
		}
		// TCP: iperf3 counts payload only. Segments ~ payload/MSS (bulk transfer, no TSO on
		// the wire here since tx checksumming is off) plus retransmitted segments; each frame
		// adds Ethernet + IP + TCP-with-timestamps (32) headers. ACKs go the other way, one
		// per ~2 segments (delayed ACK): at most n*hdr bytes, i.e. <= 4.4 % (v4) of the data
		// direction's bytes, so assuming n/2 errs by <= ~2.2 %.
		mss := float64(res.Start.TCPMSSDefault)
		if mss < 500 || mss > 1460 {
			mss = 1500 - ipHdr - 32
		}
		hdr := ethHdr + ipHdr + 32
		segs := math.Ceil(float64(str.Bytes)/mss) + float64(str.Retrans)
		tr.truth(from, to).add("tcp data", segs, (float64(str.Bytes)+float64(str.Retrans)*mss)/segs+hdr)
		tr.truth(to, from).add("tcp ack", segs/2, hdr)
	}
	if n != 2 {
		t.Fatalf("iperf3 %s: want 2 streams (--bidir), got %d", tag, n)
	}
}

func (l *Lab) vmAddr(v *VM, v6 bool) netip.Addr {
	if v6 {
		return v.IPv6
	}
	return v.IPv4
}

func ipFamily(a netip.Addr) string {
	if a.Is6() {
		return "v6"
	}
	return "v4"
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// rawFrames makes VM a send rawCount raw frames of a kind to VM b, by re-running this test
// binary inside a's namespace as a helper (see helper_test.go).
func (l *Lab) rawFrames(tr *Traffic, a, b *VM, kind string) {
	t := l.t
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var dst netip.Addr
	var src netip.Addr
	switch kind {
	case "arp", "ether":
		src, dst = a.IPv4, b.IPv4
	case "ns":
		src, dst = a.IPv6, b.IPv6
	}
	env := []string{
		helperEnv + "=raw",
		"FLOWLENS_E2E_RAW=" + strings.Join([]string{kind, strconv.Itoa(rawCount), src.String(), dst.String(), b.MAC.String()}, ","),
	}
	out, err := l.runT(60*time.Second, "env", append(append(env, "ip", "netns", "exec", a.Netns, self), "-test.run=^$")...)
	if err != nil {
		t.Fatalf("raw %s %s->%s: %v", kind, a, b, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(lastLine(out)))
	if n != rawCount {
		t.Fatalf("raw %s %s->%s: sent %d of %d: %s", kind, a, b, n, rawCount, out)
	}
	tr.Raw[fmt.Sprintf("%s %s>%s", kind, a, b)] = n
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// pairs returns the ordered VM pairs, sorted.
func (tr *Traffic) dirs() []Dir {
	var ds []Dir
	for d := range tr.Truth {
		ds = append(ds, d)
	}
	slices.SortFunc(ds, func(x, y Dir) int {
		if x.From != y.From {
			return x.From - y.From
		}
		return x.To - y.To
	})
	return ds
}
