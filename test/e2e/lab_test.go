//go:build e2e

package e2e

// The lab: a private Open vSwitch (ovsdb-server + ovs-vswitchd, userspace "netdev" datapath)
// running inside its own "hypervisor" network namespace, with network-namespace "VMs" attached
// to br-int through veth pairs, labelled the way os-vif and the Neutron ML2/OVS agent label
// real instance ports.
//
// Isolation: every interface the lab creates lives in a namespace the lab created
// (<prefix>-hv, <prefix>-vm1...), so nothing appears in the host's namespace (not even the
// br-int / ovs-netdev taps of the netdev datapath) and nothing can clash with a system OVS or a
// real br-int. The OVS database, sockets and logs are under the lab's work directory.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	bridge        = "br-int"
	exBridge      = "br-ex"     // a second bridge, joined to br-int by patch ports
	patchInt      = "int-br-ex" // the patch port on br-int (Neutron's name for it)
	patchEx       = "phy-br-ex" // its peer on br-ex
	ovsSchema     = "/usr/share/openvswitch/vswitch.ovsschema"
	vmCount       = 3
	prefixBase    = "fle2e" // netns/link prefix; test/e2e/cleanup.sh knows it
	workDirPrefix = "flowlens-e2e-"
	keepEnv       = "FLOWLENS_E2E_KEEP"
)

// Network is the Neutron network every VM port is on (ML2/OVS agent view).
type Network struct {
	ID          string // net_uuid
	Type        string // network_type
	PhysNet     string // physical_network
	SegmentID   int    // segmentation_id (provider VLAN)
	LocalVLAN   int    // Port.tag: the agent's local VLAN on br-int
	IPv4Prefix  netip.Prefix
	IPv6Prefix  netip.Prefix
	Description string
	// Names and project: what the Neutron API (here the static inventory) adds; the
	// two-hypervisor lab only.
	Name, ProjectID, ProjectName string
}

// VM is one "instance": a network namespace whose eth0 is the peer of a veth whose other end
// (HostIf) is an OVS port on br-int in the hypervisor namespace. Later tests use it to check
// that flowlens attributes traffic to the right port / instance.
type VM struct {
	Name        string           // vm1
	Netns       string           // <prefix>-vm1
	HostIf      string           // <prefix>-v1h: OVS Port/Interface name (sFlow ifName, record 1005)
	HostIfIndex int              // ifindex of HostIf in the hypervisor netns (= sFlow ifIndex)
	OFPort      int              // OpenFlow port number (sFlow record 1004)
	MAC         net.HardwareAddr // eth0 inside the VM = external_ids:attached-mac
	IPv4        netip.Addr
	IPv6        netip.Addr
	PortID      string // Neutron port UUID = external_ids:iface-id
	InstanceID  string // Nova instance UUID = external_ids:vm-uuid
	Net         *Network
	Bridge      string // the OVS bridge its port is on
	// Internal: the port is an OVS internal port moved into the VM's namespace (as Neutron's
	// L3 and DHCP agents do with qr-/qg-/tap ports) instead of a veth. OVS then no longer
	// knows its ifindex: sFlow reports input 0 for what it sends.
	Internal bool
	// HV is the VM's hypervisor in the two-hypervisor lab (twohv_test.go); nil in the single
	// one (l.HV).
	HV *Hypervisor
	// LocalVLAN is its port's Port.tag on br-int: the network's local VLAN on its hypervisor.
	LocalVLAN int
}

func (v *VM) String() string { return v.Name }

// ledger records everything the lab created, so that teardown removes exactly that, in reverse
// order, once, whether the test passed, failed, panicked or was interrupted.
type ledger struct {
	mu      sync.Mutex
	steps   []ledgerStep
	file    *os.File
	once    sync.Once
	dir     string
	onStart func() // called first by teardown
}

type ledgerStep struct {
	what string
	undo func() error
}

func (l *ledger) add(what string, undo func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.steps = append(l.steps, ledgerStep{what, undo})
	if l.file != nil {
		fmt.Fprintf(l.file, "%s %s\n", time.Now().Format(time.RFC3339), what)
	}
}

func (l *ledger) teardown(logf func(string, ...any)) {
	l.once.Do(func() {
		if l.onStart != nil {
			l.onStart()
		}
		l.mu.Lock()
		steps := l.steps
		l.steps = nil
		l.mu.Unlock()
		for i := len(steps) - 1; i >= 0; i-- {
			if err := steps[i].undo(); err != nil {
				logf("teardown %s: %v", steps[i].what, err)
			}
		}
		if l.file != nil {
			fmt.Fprintf(l.file, "%s teardown done\n", time.Now().Format(time.RFC3339))
			l.file.Close()
		}
	})
}

// activeLedger is torn down by the signal handler in TestMain (SIGINT/SIGTERM/SIGHUP).
var activeLedger atomic.Pointer[ledger]

// Lab is the running environment.
type Lab struct {
	t      *testing.T
	ctx    context.Context
	Dir    string // work directory (OVS db/run/log, collector output, command log)
	Prefix string // fle2e<NNN>
	HV     string // hypervisor netns: OVS daemons, br-int, host ends of the veths, collector
	RunDir string // OVS_RUNDIR
	DBDir  string
	LogDir string
	Net    *Network
	VMs    []*VM // the VMs of the traffic plan (traffic_test.go), all on Net
	// Attribution cases outside the traffic plan (openstack_test.go):
	Net2    *Network // a second Neutron network, with another local VLAN
	VM4     *VM      // on Net2, with VM1's IPv4 address
	VM5     *VM      // on Net2
	VM6     *VM      // on Net, behind the patch port: on br-ex, an internal port in its netns
	led     *ledger
	cmdLog  *os.File
	cmdLogM sync.Mutex
	// tearingDown: commands no longer use ctx (the test's deadline), only their own timeout
	tearingDown atomic.Bool
}

// newLab creates the work dir, the hypervisor namespace, the private OVS with br-int and the
// VMs. Everything is registered for teardown with t.Cleanup.
func newLab(t *testing.T, ctx context.Context) *Lab {
	prefix := pickPrefix()
	dir, err := os.MkdirTemp("", workDirPrefix+prefix+"-")
	if err != nil {
		t.Fatal(err)
	}
	l := &Lab{t: t, ctx: ctx, Dir: dir, Prefix: prefix, HV: prefix + "-hv", led: &ledger{dir: dir}}
	// Teardown may run from the signal handler while the test goroutine is still running (and
	// cancels its context when it fails): teardown commands get their own timeouts only.
	l.led.onStart = func() { l.tearingDown.Store(true) }
	l.RunDir = filepath.Join(dir, "ovs", "run")
	l.DBDir = filepath.Join(dir, "ovs", "db")
	l.LogDir = filepath.Join(dir, "ovs", "log")
	for _, d := range []string{l.RunDir, l.DBDir, l.LogDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// owner.pid lets cleanup.sh tell a live run from a leftover.
	_ = os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	l.led.file, _ = os.Create(filepath.Join(dir, "ledger.txt"))
	l.cmdLog, _ = os.Create(filepath.Join(dir, "commands.log"))
	activeLedger.Store(l.led)
	t.Logf("lab %s: work dir %s", prefix, dir)

	t.Cleanup(func() {
		if t.Failed() && keep() {
			t.Logf("%s=1 and the test failed: leaving the lab up. Inspect with:\n"+
				"  export OVS_RUNDIR=%s OVS_DBDIR=%s OVS_LOGDIR=%s\n"+
				"  ovs-vsctl show; ovs-ofctl dump-flows %s; ip netns exec %s ip -br link\n"+
				"  ip netns exec %s-vm1 ping %s\n"+
				"remove it with: sudo test/e2e/cleanup.sh --force %s",
				keepEnv, l.RunDir, l.DBDir, l.LogDir, bridge, l.HV, prefix, "10.77.0.12", prefix)
			activeLedger.CompareAndSwap(l.led, nil)
			return
		}
		l.led.teardown(t.Logf)
		activeLedger.CompareAndSwap(l.led, nil)
		if l.cmdLog != nil {
			l.cmdLog.Close()
		}
		if t.Failed() {
			t.Logf("work dir kept for debugging (logs, NDJSON, commands.log): %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	})

	return l
}

// setup creates the hypervisor namespace, the private OVS with br-int, the VMs and their
// iperf3 servers, and checks connectivity.
func (l *Lab) setup() {
	l.Net = &Network{
		ID: newUUID(), Type: "vlan", PhysNet: "physnet1", SegmentID: 1077, LocalVLAN: 1,
		IPv4Prefix: netip.MustParsePrefix("10.77.0.0/24"), IPv6Prefix: netip.MustParsePrefix("fd77::/64"),
	}
	l.Net2 = &Network{
		ID: newUUID(), Type: "vlan", PhysNet: "physnet1", SegmentID: 1078, LocalVLAN: 2,
		IPv4Prefix:  l.Net.IPv4Prefix, // tenant networks reuse address ranges
		Description: "second tenant network, same range",
	}
	l.addNetns(l.HV)
	l.mustRun("ip", "-n", l.HV, "link", "set", "lo", "up")
	l.startOVS()
	for i := 1; i <= vmCount; i++ {
		l.VMs = append(l.VMs, l.addVM(vmSpec{i: i, net: l.Net, bridge: bridge,
			ipv4: netip.MustParseAddr(fmt.Sprintf("10.77.0.%d", 10+i)), ipv6: netip.MustParseAddr(fmt.Sprintf("fd77::%d", 10+i))}))
	}
	// (a) the same IPv4 address as vm1, on another network (another net_uuid and local VLAN)
	l.VM4 = l.addVM(vmSpec{i: 4, net: l.Net2, bridge: bridge, ipv4: l.VMs[0].IPv4})
	l.VM5 = l.addVM(vmSpec{i: 5, net: l.Net2, bridge: bridge, ipv4: netip.MustParseAddr("10.77.0.25")})
	// (b) a second bridge joined to br-int by patch ports; vm6's traffic crosses them
	l.addPatchedBridge()
	l.VM6 = l.addVM(vmSpec{i: 6, net: l.Net, bridge: exBridge, internal: true, ipv4: netip.MustParseAddr("10.77.0.16")})
	l.checkConnectivity()
	for _, v := range l.VMs {
		// one server per VM, in the foreground (we own the pid); it serves tests one at a time
		if _, err := l.start("iperf3-"+v.Name, filepath.Join(l.Dir, "iperf3-server-"+v.Name+".log"),
			"ip", "netns", "exec", v.Netns, "iperf3", "-s", "-p", strconv.Itoa(iperfPort)); err != nil {
			l.t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
}

// pickPrefix returns fle2e<pid%1000>, moving on if a namespace with that prefix exists
// (a leftover of a killed run with the same pid).
func pickPrefix() string {
	n := os.Getpid() % 1000
	for range 1000 {
		p := fmt.Sprintf("%s%d", prefixBase, n)
		if matches, _ := filepath.Glob("/var/run/netns/" + p + "-*"); len(matches) == 0 {
			return p
		}
		n = (n + 1) % 1000
	}
	return fmt.Sprintf("%s%d", prefixBase, os.Getpid()%1000)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// --- running commands ---------------------------------------------------------------------

func (l *Lab) logCmd(format string, args ...any) {
	l.cmdLogM.Lock()
	defer l.cmdLogM.Unlock()
	if l.cmdLog != nil {
		fmt.Fprintf(l.cmdLog, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
}

// ovsEnv is the environment of every command the lab runs: the private OVS's directories, and
// without this test's own FLOWLENS_E2E_* settings (flowlens rejects FLOWLENS_* variables it
// does not know).
func (l *Lab) ovsEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "FLOWLENS_E2E_") {
			env = append(env, e)
		}
	}
	return append(env, "OVS_RUNDIR="+l.RunDir, "OVS_DBDIR="+l.DBDir, "OVS_LOGDIR="+l.LogDir)
}

// keep reports whether the lab should be left up if the test fails.
func keep() bool { return os.Getenv(keepEnv) == "1" }

// deathSignal is sent to a child when the test process dies (e.g. SIGKILL), except with
// FLOWLENS_E2E_KEEP=1, whose point is to leave the lab running.
func deathSignal(sig syscall.Signal) syscall.Signal {
	if keep() {
		return 0
	}
	return sig
}

// run runs a command to completion (bounded by timeout) and returns its combined output.
func (l *Lab) runT(timeout time.Duration, name string, args ...string) (string, error) {
	return l.runEnvT(timeout, nil, name, args...)
}

// runEnvT is runT with more environment variables (they win over the lab's: another
// hypervisor's OVS_RUNDIR, ...).
func (l *Lab) runEnvT(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	parent := l.ctx
	if l.tearingDown.Load() {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// for a duplicate key, exec uses the last value
	cmd.Env = append(l.ovsEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: deathSignal(syscall.SIGKILL)} // if the test is killed
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	l.logCmd("$ %s (%.2fs, err=%v)\n%s", shellQuote(append([]string{name}, args...)), time.Since(start).Seconds(), err, indent(out.String()))
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", shellQuote(append([]string{name}, args...)), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

func (l *Lab) run(name string, args ...string) (string, error) {
	return l.runT(60*time.Second, name, args...)
}

func (l *Lab) mustRun(name string, args ...string) string {
	l.t.Helper()
	out, err := l.run(name, args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// inNS runs argv inside a namespace.
func (l *Lab) inNS(ns string, timeout time.Duration, argv ...string) (string, error) {
	return l.runT(timeout, "ip", append([]string{"netns", "exec", ns}, argv...)...)
}

func (l *Lab) vsctl(args ...string) string {
	l.t.Helper()
	return strings.TrimSpace(l.mustRun("ovs-vsctl", append([]string{"--timeout=30"}, args...)...))
}

func shellQuote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsAny(a, " \t\n\"'\\$`*?[]{}()<>|&;#~") {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// --- background processes -----------------------------------------------------------------

// Proc is a background process started by the lab (OVS daemons, iperf3 servers, collector).
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string
	done    chan struct{}
	err     error
}

// start starts argv in the background with stdout+stderr to logPath. The process gets its own
// process group (a terminal ^C reaches only the test, which then tears down in order) and
// SIGTERM if the test process dies.
func (l *Lab) start(name, logPath string, argv ...string) (*Proc, error) {
	return l.startFiles(name, logPath, nil, argv...)
}

// startFiles is start with an open file passed as descriptor 3 (when not nil).
func (l *Lab) startFiles(name, logPath string, fd3 *os.File, argv ...string) (*Proc, error) {
	return l.startFilesEnv(name, logPath, fd3, nil, argv...)
}

// startFilesEnv is startFiles with more environment variables (see runEnvT).
func (l *Lab) startFilesEnv(name, logPath string, fd3 *os.File, env []string, argv ...string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(l.ovsEnv(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if fd3 != nil {
		cmd.ExtraFiles = []*os.File{fd3}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSignal(syscall.SIGTERM)}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	l.logCmd("& %s (pid %d, log %s)", shellQuote(argv), cmd.Process.Pid, logPath)
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	l.led.add(fmt.Sprintf("process %s pid %d", name, cmd.Process.Pid), func() error {
		return p.Stop(syscall.SIGTERM, 5*time.Second)
	})
	return p, nil
}

// Running reports whether the process is still alive.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends sig, waits up to timeout, then SIGKILLs. Safe to call more than once.
func (p *Proc) Stop(sig syscall.Signal, timeout time.Duration) error {
	if !p.Running() {
		return nil
	}
	_ = p.Cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s (pid %d) ignored %v for %v, killed", p.Name, p.Cmd.Process.Pid, sig, timeout)
}

// Wait waits for the process to exit on its own.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.Name, timeout)
	}
}

// --- namespaces, OVS, VMs -----------------------------------------------------------------

func (l *Lab) addNetns(ns string) {
	l.mustRun("ip", "netns", "add", ns)
	l.led.add("netns "+ns, func() error {
		// processes that were started in it by hand, e.g. while debugging
		if out, err := l.runT(10*time.Second, "ip", "netns", "pids", ns); err == nil {
			for _, f := range strings.Fields(out) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		_, err := l.runT(20*time.Second, "ip", "netns", "del", ns)
		return err
	})
}

// ovsHome is one private Open vSwitch: the namespace its daemons run in, and its directories.
type ovsHome struct {
	NS, RunDir, DBDir, LogDir string
}

// env points the OVS tools at this Open vSwitch.
func (h ovsHome) env() []string {
	return []string{"OVS_RUNDIR=" + h.RunDir, "OVS_DBDIR=" + h.DBDir, "OVS_LOGDIR=" + h.LogDir}
}

func (l *Lab) startOVS() {
	t := l.t
	l.startOVSDaemons(ovsHome{NS: l.HV, RunDir: l.RunDir, DBDir: l.DBDir, LogDir: l.LogDir})
	// The kernel datapath is not available here (no openvswitch module): the userspace datapath.
	l.vsctl("add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev")
	l.mustRun("ip", "-n", l.HV, "link", "set", bridge, "up")
	t.Logf("OVS %s up in netns %s (rundir %s)", firstLine(l.mustRun("ovs-vswitchd", "--version")), l.HV, l.RunDir)
}

// startOVSDaemons creates h's database and starts its ovsdb-server and ovs-vswitchd in h.NS,
// in the foreground as children of the test, stopped in order at teardown.
func (l *Lab) startOVSDaemons(h ovsHome) {
	t := l.t
	env := h.env()
	must := func(name string, args ...string) {
		t.Helper()
		if _, err := l.runEnvT(60*time.Second, env, name, args...); err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(h.DBDir, "conf.db")
	must("ovsdb-tool", "create", db, ovsSchema)
	sock := filepath.Join(h.RunDir, "db.sock")
	dbCtl := filepath.Join(h.RunDir, "ovsdb-server.ctl")
	vsCtl := filepath.Join(h.RunDir, "ovs-vswitchd.ctl")
	suffix := ""
	if h.NS != l.HV {
		suffix = "@" + h.NS
	}

	dbProc, err := l.startFilesEnv("ovsdb-server"+suffix, filepath.Join(h.LogDir, "ovsdb-server.stderr"), nil, env,
		"ip", "netns", "exec", h.NS, "ovsdb-server", db,
		"--remote=punix:"+sock, "--pidfile="+filepath.Join(h.RunDir, "ovsdb-server.pid"),
		"--unixctl="+dbCtl, "--log-file="+filepath.Join(h.LogDir, "ovsdb-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	// stop ovsdb-server the polite way first (this undo runs after vswitchd's)
	l.led.add("ovsdb-server exit"+suffix, func() error {
		if !dbProc.Running() {
			return nil
		}
		_, _ = l.runEnvT(10*time.Second, env, "ovs-appctl", "-t", dbCtl, "exit")
		return dbProc.Wait(5 * time.Second)
	})
	l.waitFor("ovsdb-server socket"+suffix, 20*time.Second, func() error {
		if !dbProc.Running() {
			return fmt.Errorf("ovsdb-server exited: %s", tail(dbProc.LogPath, 10))
		}
		_, err := l.runEnvT(5*time.Second, env, "ovs-vsctl", "--timeout=2", "--no-wait", "show")
		return err
	})
	must("ovs-vsctl", "--timeout=10", "--no-wait", "init")

	vsProc, err := l.startFilesEnv("ovs-vswitchd"+suffix, filepath.Join(h.LogDir, "ovs-vswitchd.stderr"), nil, env,
		"ip", "netns", "exec", h.NS, "ovs-vswitchd", "unix:"+sock,
		"--pidfile="+filepath.Join(h.RunDir, "ovs-vswitchd.pid"),
		"--unixctl="+vsCtl, "--log-file="+filepath.Join(h.LogDir, "ovs-vswitchd.log"))
	if err != nil {
		t.Fatal(err)
	}
	l.led.add("ovs-vswitchd exit --cleanup"+suffix, func() error {
		if !vsProc.Running() {
			return nil
		}
		_, _ = l.runEnvT(15*time.Second, env, "ovs-appctl", "-t", vsCtl, "exit", "--cleanup")
		return vsProc.Wait(10 * time.Second)
	})
	l.waitFor("ovs-vswitchd control socket"+suffix, 20*time.Second, func() error {
		if !vsProc.Running() {
			return fmt.Errorf("ovs-vswitchd exited: %s", tail(vsProc.LogPath, 10))
		}
		_, err := l.runEnvT(5*time.Second, env, "ovs-appctl", "-t", vsCtl, "version")
		return err
	})
}

func (l *Lab) waitFor(what string, timeout time.Duration, check func() error) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		if l.ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.t.Fatalf("waiting for %s: %v", what, err)
}

// vmSpec says how to build a VM.
type vmSpec struct {
	i        int
	net      *Network
	bridge   string
	ipv4     netip.Addr
	ipv6     netip.Addr // optional
	internal bool       // an OVS internal port moved into the namespace, instead of a veth
	// Two-hypervisor lab (twohv_test.go): the hypervisor (nil: the single lab's l.HV), the
	// local VLAN there (0: net.LocalVLAN), and the VM's MTU (0: the default 1500).
	hv   *Hypervisor
	vlan int
	mtu  int
}

// addVM creates a VM: namespace, veth (host end in the hypervisor netns, eth0 in the VM) or
// internal port, addresses, checksum offload off, and the OVS port labelled like os-vif + the
// ML2/OVS agent.
func (l *Lab) addVM(sp vmSpec) *VM {
	t := l.t
	i := sp.i
	hvNS, vsctl := l.HV, l.vsctl
	if sp.hv != nil {
		hvNS, vsctl = sp.hv.NS, sp.hv.vsctl
	}
	if sp.vlan == 0 {
		sp.vlan = sp.net.LocalVLAN
	}
	v := &VM{
		Name:       fmt.Sprintf("vm%d", i),
		Netns:      fmt.Sprintf("%s-vm%d", l.Prefix, i),
		HostIf:     fmt.Sprintf("%s-v%dh", l.Prefix, i),
		IPv4:       sp.ipv4,
		IPv6:       sp.ipv6,
		PortID:     newUUID(),
		InstanceID: newUUID(),
		Net:        sp.net,
		Bridge:     sp.bridge,
		Internal:   sp.internal,
		HV:         sp.hv,
		LocalVLAN:  sp.vlan,
	}
	if sp.internal {
		v.HostIf = fmt.Sprintf("%s-v%di", l.Prefix, i)
	}
	if len(v.HostIf) > 15 {
		t.Fatalf("interface name %q longer than 15 characters", v.HostIf)
	}
	// Neutron's default MAC prefix fa:16:3e, random rest.
	mac := make([]byte, 6)
	_, _ = rand.Read(mac)
	mac[0], mac[1], mac[2] = 0xfa, 0x16, 0x3e
	v.MAC = net.HardwareAddr(mac)

	l.addNetns(v.Netns)
	// os-vif (vif_plug_ovs) sets Interface.external_ids; the ML2/OVS agent sets Port.tag (local
	// VLAN, on br-int) and Port.other_config (net_uuid, network_type, physical_network,
	// segmentation_id).
	labels := []string{"--", "set", "Interface", v.HostIf,
		"external_ids:iface-id=" + v.PortID,
		`external_ids:attached-mac="` + v.MAC.String() + `"`,
		"external_ids:vm-uuid=" + v.InstanceID,
		"external_ids:iface-status=active",
		"--", "set", "Port", v.HostIf,
		"other_config:net_uuid=" + v.Net.ID,
		"other_config:network_type=" + v.Net.Type,
		fmt.Sprintf("other_config:segmentation_id=%d", v.Net.SegmentID)}
	if v.Net.PhysNet != "" { // tunnelled networks have none
		labels = append(labels, "other_config:physical_network="+v.Net.PhysNet)
	}
	if sp.bridge == bridge {
		labels = append(labels, fmt.Sprintf("tag=%d", v.LocalVLAN))
	}
	dev := "eth0" // the VM's interface, in its namespace
	if sp.internal {
		// OVS creates the device (a tap, with the userspace datapath) in the hypervisor netns;
		// it is then moved into the VM. Deleting the port, or stopping ovs-vswitchd, removes it.
		dev = v.HostIf
		vsctl(append([]string{"--", "add-port", sp.bridge, v.HostIf, "--", "set", "Interface", v.HostIf, "type=internal"}, labels...)...)
		l.led.add("internal port "+v.HostIf, func() error {
			if _, err := l.runT(10*time.Second, "ip", "-n", v.Netns, "link", "show", v.HostIf); err != nil {
				return nil // already gone with ovs-vswitchd or its namespace
			}
			_, err := l.runT(10*time.Second, "ip", "-n", v.Netns, "link", "del", v.HostIf)
			return err
		})
		l.mustRun("ip", "-n", hvNS, "link", "set", v.HostIf, "netns", v.Netns)
		l.mustRun("ip", "-n", v.Netns, "link", "set", v.HostIf, "address", v.MAC.String())
	} else {
		// Both ends are created directly in their namespaces: nothing ever shows up in the host's.
		l.mustRun("ip", "link", "add", "name", v.HostIf, "netns", hvNS, "type", "veth",
			"peer", "name", "eth0", "address", v.MAC.String(), "netns", v.Netns)
		l.led.add("veth "+v.HostIf, func() error {
			if _, err := l.runT(10*time.Second, "ip", "-n", hvNS, "link", "show", v.HostIf); err != nil {
				return nil // already gone with its namespace
			}
			_, err := l.runT(10*time.Second, "ip", "-n", hvNS, "link", "del", v.HostIf)
			return err
		})
	}
	in := func(args ...string) { l.mustRun("ip", append([]string{"-n", v.Netns}, args...)...) }
	in("link", "set", "lo", "up")
	in("addr", "add", v.IPv4.String()+"/24", "dev", dev)
	if v.IPv6.IsValid() {
		in("addr", "add", v.IPv6.String()+"/64", "dev", dev, "nodad")
	}
	if sp.mtu > 0 {
		// Neutron gives VMs on VXLAN networks an MTU of 1450 (1500 - 50 bytes of VXLAN): with
		// 1500 the encapsulated frames would not fit the underlay.
		in("link", "set", dev, "mtu", strconv.Itoa(sp.mtu))
	}
	in("link", "set", dev, "up")
	// REQUIRED with the userspace datapath: with TX checksum offload a veth leaves TCP/UDP
	// checksums unfinished, OVS (AF_PACKET) forwards them so and the peer drops them
	// (ping works, iperf3 "Connection timed out").
	if _, err := l.inNS(v.Netns, 10*time.Second, "ethtool", "-K", dev, "tx", "off"); err != nil && !sp.internal {
		t.Fatal(err)
	}
	if !sp.internal {
		l.mustRun("ip", "-n", hvNS, "link", "set", v.HostIf, "up")
		vsctl(append([]string{"--", "add-port", sp.bridge, v.HostIf}, labels...)...)
		var links []struct {
			IfIndex int    `json:"ifindex"`
			Address string `json:"address"`
		}
		if err := json.Unmarshal([]byte(l.mustRun("ip", "-n", hvNS, "-j", "link", "show", "dev", v.HostIf)), &links); err != nil || len(links) != 1 {
			t.Fatalf("ifindex of %s: %v %v", v.HostIf, links, err)
		}
		v.HostIfIndex = links[0].IfIndex
	}
	ofp, err := strconv.Atoi(vsctl("get", "Interface", v.HostIf, "ofport"))
	if err != nil || ofp <= 0 {
		t.Fatalf("ofport of %s: %d %v", v.HostIf, ofp, err)
	}
	v.OFPort = ofp
	if got := strings.Trim(vsctl("get", "Interface", v.HostIf, "external_ids:attached-mac"), `"`); got != v.MAC.String() {
		t.Fatalf("attached-mac of %s = %q, want %q", v.HostIf, got, v.MAC)
	}
	kind := "veth"
	if v.Internal {
		kind = "internal port moved into the VM"
	}
	addrs := v.IPv4.String()
	if v.IPv6.IsValid() {
		addrs += " " + v.IPv6.String()
	}
	where := ""
	if v.HV != nil {
		where = v.HV.Name + " "
	}
	t.Logf("%s: netns %s, %s%s port %s (%s, ifindex %d, ofport %d), mac %s, %s, network %s (local VLAN %d), iface-id %s, vm-uuid %s",
		v.Name, v.Netns, where, v.Bridge, v.HostIf, kind, v.HostIfIndex, v.OFPort, v.MAC, addrs, v.Net.ID, v.LocalVLAN, v.PortID, v.InstanceID)
	return v
}

// addPatchedBridge adds br-ex and joins it to br-int with a pair of patch ports, as the
// ML2/OVS agent does for a provider bridge. The patch port on br-int is an access port of
// Net's local VLAN (the agent does that with flows; NORMAL switching needs the tag), so a VM
// on br-ex is on Net.
func (l *Lab) addPatchedBridge() {
	l.vsctl("add-br", exBridge, "--", "set", "bridge", exBridge, "datapath_type=netdev")
	l.mustRun("ip", "-n", l.HV, "link", "set", exBridge, "up")
	l.vsctl("--", "add-port", bridge, patchInt, "--", "set", "Interface", patchInt, "type=patch", "options:peer="+patchEx,
		"--", "set", "Port", patchInt, fmt.Sprintf("tag=%d", l.Net.LocalVLAN),
		"--", "add-port", exBridge, patchEx, "--", "set", "Interface", patchEx, "type=patch", "options:peer="+patchInt)
	l.t.Logf("%s joined to %s by patch ports %s <-> %s (ifindex %s)", exBridge, bridge, patchInt, patchEx,
		l.vsctl("get", "Interface", patchInt, "ifindex"))
}

// checkConnectivity pings every pair over IPv4 and IPv6 (before sFlow is configured), and the
// attribution cases: vm4 <-> vm5 on the second network, vm6 (behind the patch ports) <-> vm1,
// and that vm4 cannot reach the first network (so the two 10.77.0.11 are really apart).
func (l *Lab) checkConnectivity() {
	ping := func(a *VM, dst netip.Addr) error {
		var err error
		for range 5 {
			if _, err = l.inNS(a.Netns, 10*time.Second, "ping", "-c", "1", "-W", "2", dst.String()); err == nil {
				break
			}
		}
		return err
	}
	for _, a := range l.VMs {
		for _, b := range l.VMs {
			if a == b {
				continue
			}
			for _, dst := range []netip.Addr{b.IPv4, b.IPv6} {
				if err := ping(a, dst); err != nil {
					l.t.Fatalf("no connectivity %s -> %s %s: %v\n%s", a, b, dst, err, l.diag())
				}
			}
		}
	}
	for _, p := range [][2]*VM{{l.VM4, l.VM5}, {l.VM5, l.VM4}, {l.VM6, l.VMs[0]}, {l.VMs[0], l.VM6}} {
		if err := ping(p[0], p[1].IPv4); err != nil {
			l.t.Fatalf("no connectivity %s -> %s %s: %v\n%s", p[0], p[1], p[1].IPv4, err, l.diag())
		}
	}
	if _, err := l.inNS(l.VM4.Netns, 10*time.Second, "ping", "-c", "1", "-W", "1", l.VMs[1].IPv4.String()); err == nil {
		l.t.Fatalf("%s (network 2) reaches %s's %s on network 1: the networks are not apart", l.VM4, l.VMs[1], l.VMs[1].IPv4)
	}
}

// diag returns OVS state for failure messages.
func (l *Lab) diag() string {
	show, _ := l.run("ovs-vsctl", "--timeout=5", "show")
	flows, _ := l.run("ovs-appctl", "-t", filepath.Join(l.RunDir, "ovs-vswitchd.ctl"), "dpctl/dump-flows")
	return "ovs-vsctl show:\n" + show + "\ndatapath flows:\n" + flows + "\nvswitchd log tail:\n" + tail(filepath.Join(l.LogDir, "ovs-vswitchd.log"), 20)
}

// --- small helpers ------------------------------------------------------------------------

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// ecsMAC formats a MAC the ECS way: uppercase, hyphen-separated.
func ecsMAC(m net.HardwareAddr) string {
	return strings.ToUpper(strings.ReplaceAll(m.String(), ":", "-"))
}

// toolsMissing lists the commands the lab needs that are not installed.
func toolsMissing() []string {
	var miss []string
	for _, c := range []string{"ovs-vsctl", "ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-appctl", "ip", "iperf3", "ping", "ethtool", "softflowd", "softflowctl"} {
		if _, err := exec.LookPath(c); err != nil {
			if _, err := os.Stat("/usr/sbin/" + c); err != nil {
				miss = append(miss, c)
			}
		}
	}
	return miss
}

// readLines reads a file line by line (lines may be long).
func readLines(path string, fn func(line []byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	return sc.Err()
}
