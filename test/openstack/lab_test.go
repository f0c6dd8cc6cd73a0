//go:build openstack

package openstack

// The lab's machinery: one network namespace ("the host": control plane, Open vSwitch and
// the agent, all on its own 127.0.0.1, so no port can clash with anything on the machine),
// one namespace per VM, daemons as children of the test, commands logged to commands.log,
// phases timed, and a teardown that stops every process in the lab's namespaces and deletes
// them, also on failure.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Lab is one run's namespaces, work dir and processes.
type Lab struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
	mode   string // "ovs" (ML2/OVS) or "ovn" (ML2/OVN)
	prefix string // flosNNN
	host   string // the host namespace, prefix-host: the control plane and hv1
	hvs    []*HV  // hv1 (in the host namespace), hv2 (its own)
	dir    string // work dir
	env    []string

	mu      sync.Mutex
	procs   []*Proc
	vmNS    []string
	cmdLog  *os.File
	phases  []phaseTime
	tdOnce  sync.Once
	failed  atomic.Bool
	started time.Time
	phase   atomic.Pointer[string]
	phaseAt atomic.Int64 // unix nanos

	http *http.Client // talks to 127.0.0.1 inside the host namespace
}

type phaseTime struct {
	name string
	d    time.Duration
}

// Proc is a daemon started by the lab.
type Proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func newLab(t *testing.T, mode string) *Lab {
	t.Helper()
	prefix := pickPrefix()
	base := os.TempDir()
	// unix socket paths under the work dir must stay short; mysql and rabbitmq must reach it
	if len(base) > 20 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "flowlens-os-"+prefix+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lab{t: t, ctx: ctx, cancel: cancel, mode: mode, prefix: prefix, host: prefix + "-host", dir: dir, started: time.Now()}
	// test/openstack/cleanup.sh leaves runs alone whose owner is alive
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	l.cmdLog, err = os.Create(filepath.Join(dir, "commands.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"etc", "log", "run", "ovs/run", "ovs/db", "ovs/log", "mysql", "rabbitmq/mnesia", "log/rabbitmq",
		"keystone/fernet-keys", "keystone/credential-keys", "neutron/lock", "ovn/run", "ovn/db", "ovn/log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Chmod(filepath.Join(dir, "run"), 0o1777)
	_ = os.Chmod(filepath.Join(dir, "log"), 0o1777)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "FLOWLENS_") || strings.HasPrefix(kv, "OS_") || strings.HasPrefix(kv, "OVS_") ||
			strings.HasPrefix(kv, "OVN_") || strings.HasPrefix(kv, helperEnv+"=") {
			continue
		}
		l.env = append(l.env, kv)
	}
	l.env = append(l.env, "OVS_RUNDIR="+l.p("ovs/run"), "OVS_DBDIR="+l.p("ovs/db"), "OVS_LOGDIR="+l.p("ovs/log"),
		"OVS_SYSCONFDIR="+l.p("ovs/etc"), "OVN_RUNDIR="+l.p("ovn/run"), "OVN_DBDIR="+l.p("ovn/db"), "OVN_LOGDIR="+l.p("ovn/log"),
		"OVN_NB_DB=unix:"+l.p("ovn/run/ovnnb_db.sock"), "OVN_SB_DB=unix:"+l.p("ovn/run/ovnsb_db.sock"))
	l.http = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: l.dial, DisableKeepAlives: true}}
	activeLab.Store(l)
	t.Cleanup(func() {
		if t.Failed() {
			l.failed.Store(true)
		}
		l.teardown()
		activeLab.Store(nil)
	})
	l.newHVs()
	go l.progress()
	l.logf("lab %s (ML2/%s): work dir %s", prefix, strings.ToUpper(mode), dir)
	return l
}

// pickPrefix returns flosNNN (the pid modulo 1000) whose namespaces do not exist yet.
func pickPrefix() string {
	n := os.Getpid() % 1000
	for i := range 1000 {
		p := fmt.Sprintf("flos%d", (n+i)%1000)
		if _, err := os.Stat("/run/netns/" + p + "-host"); os.IsNotExist(err) {
			return p
		}
	}
	return fmt.Sprintf("flos%d", n)
}

func (l *Lab) p(rel string) string { return filepath.Join(l.dir, rel) }

func (l *Lab) mkdir(rel string) {
	if err := os.MkdirAll(l.p(rel), 0o755); err != nil {
		l.t.Fatal(err)
	}
}

// logf writes to the test log (streamed with -v) and to commands.log.
func (l *Lab) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.t.Helper()
	l.t.Logf("[%5.1fs] %s", time.Since(l.started).Seconds(), msg)
	l.logCmd("# %s", msg)
}

func (l *Lab) logCmd(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cmdLog != nil {
		fmt.Fprintf(l.cmdLog, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
}

// begin starts a timed phase; end closes it.
func (l *Lab) begin(name string) func() {
	start := time.Now()
	l.phase.Store(&name)
	l.phaseAt.Store(start.UnixNano())
	l.logf("phase %s ...", name)
	return func() {
		d := time.Since(start)
		l.mu.Lock()
		l.phases = append(l.phases, phaseTime{name, d})
		l.mu.Unlock()
		l.logf("phase %s: %.1f s", name, d.Seconds())
	}
}

// progress prints a line at least every 20 s, so CI logs show the test is alive.
func (l *Lab) progress() {
	tk := time.NewTicker(20 * time.Second)
	defer tk.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-tk.C:
			name := "?"
			if p := l.phase.Load(); p != nil {
				name = *p
			}
			fmt.Printf("openstack: %s: still in phase %q for %.0f s (%.0f s since start)\n", l.prefix, name,
				time.Since(time.Unix(0, l.phaseAt.Load())).Seconds(), time.Since(l.started).Seconds())
		}
	}
}

func (l *Lab) phaseSummary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, p := range l.phases {
		fmt.Fprintf(&b, "  %-44s %6.1f s\n", p.name, p.d.Seconds())
	}
	fmt.Fprintf(&b, "  %-44s %6.1f s\n", "total so far", time.Since(l.started).Seconds())
	return b.String()
}

// --- commands and daemons -------------------------------------------------------------------

// run runs argv to completion and returns its combined output.
func (l *Lab) run(timeout time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = l.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	l.logCmd("$ %s (%.2fs, err=%v)\n%s", strings.Join(argv, " "), time.Since(start).Seconds(), err, indent(out.String()))
	if err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, lastLines(out.String(), 15))
	}
	return out.String(), nil
}

// in runs argv inside namespace ns.
func (l *Lab) in(ns string, timeout time.Duration, argv ...string) (string, error) {
	return l.run(timeout, append([]string{"ip", "netns", "exec", ns}, argv...)...)
}

// must runs argv in the host namespace and fails the test on error.
func (l *Lab) must(timeout time.Duration, argv ...string) string {
	l.t.Helper()
	out, err := l.in(l.host, timeout, argv...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// start starts a daemon in namespace ns, output to log/NAME.out.
func (l *Lab) start(ns, name string, extraEnv []string, argv ...string) *Proc {
	l.t.Helper()
	f, err := os.Create(l.p("log/" + name + ".out"))
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	full := append([]string{"netns", "exec", ns}, argv...)
	cmd := exec.Command("ip", full...)
	cmd.Env = append(append([]string{}, l.env...), extraEnv...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	l.logCmd("& [pid %d] %s %s > log/%s.out", cmd.Process.Pid, strings.Join(extraEnv, " "), strings.Join(argv, " "), name)
	return p
}

func (p *Proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the daemon's process group and waits up to timeout, then kills it.
func (p *Proc) stop(sig syscall.Signal, timeout time.Duration) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// waitFor polls check until it succeeds, a daemon in watch exits, or timeout passes.
func (l *Lab) waitFor(what string, timeout time.Duration, check func() error, watch ...*Proc) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	nextLog := time.Now().Add(20 * time.Second)
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		if time.Now().After(nextLog) {
			l.logf("still waiting for %s: %v", what, err)
			nextLog = time.Now().Add(20 * time.Second)
		}
		for _, p := range watch {
			if p.exited() {
				l.t.Fatalf("%s: %s exited (%v) while waiting; its log:\n%s", what, p.name, p.err, tailFile(l.p("log/"+p.name+".out"), 30))
			}
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("timeout (%v) waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// --- namespaces -----------------------------------------------------------------------------

func (l *Lab) addNetns(ns string) {
	l.t.Helper()
	if _, err := l.run(10*time.Second, "ip", "netns", "add", ns); err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	if ns != l.host {
		l.vmNS = append(l.vmNS, ns)
	}
	l.mu.Unlock()
	if _, err := l.run(10*time.Second, "ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
		l.t.Fatal(err)
	}
}

// dial connects from inside the host namespace: the socket is created by a thread that has
// joined it (the thread is never returned to the Go scheduler: it exits with the goroutine).
func (l *Lab) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := l.inHostNS(func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// listen opens a TCP listener on addr inside the host namespace.
func (l *Lab) listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := l.inHostNS(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

func (l *Lab) inHostNS(fn func() error) error {
	// The thread goes back to its namespace afterwards: a thread that ends (a locked goroutine
	// returning) would send the parent-death signal to every child the test forked from it.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		f, err := os.Open("/run/netns/" + l.host)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", l.host, err)
			return
		}
		err = fn()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread() // else: stays locked, and the thread ends with this goroutine
		}
		errc <- err
	}()
	return <-errc
}

// --- teardown -------------------------------------------------------------------------------

// teardown stops the lab's daemons (in reverse order), then every other process left in its
// namespaces, deletes the namespaces and, unless the test failed, the work dir.
func (l *Lab) teardown() {
	l.tdOnce.Do(func() {
		start := time.Now()
		fmt.Printf("openstack: %s: tearing down\n", l.prefix)
		l.mu.Lock()
		procs := append([]*Proc(nil), l.procs...)
		nss := append([]string{}, l.vmNS...)
		l.mu.Unlock()
		nss = append(nss, l.host)
		// SIGTERM everything at once (the OVS agent alone takes ~10 s to exit), then wait
		for i := len(procs) - 1; i >= 0; i-- {
			if !procs[i].exited() {
				_ = syscall.Kill(-procs[i].cmd.Process.Pid, syscall.SIGTERM)
			}
		}
		for _, ns := range nss {
			killNS(ns, syscall.SIGTERM)
		}
		// Nothing the lab keeps outlives it (databases and logs are in the work dir), so 5 s
		// of grace is enough; the Open vSwitch agent often needs longer and is killed.
		deadline := time.Now().Add(5 * time.Second)
		var killed []string
		for _, p := range procs {
			if p.exited() {
				continue
			}
			select {
			case <-p.done:
			case <-time.After(time.Until(deadline)):
				killed = append(killed, p.name)
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
			}
		}
		if len(killed) > 0 {
			fmt.Printf("openstack: still running 5 s after SIGTERM, killed: %s\n", strings.Join(killed, ", "))
		}
		for _, ns := range nss {
			for i := 0; i < 10 && len(nsPids(ns)) > 0; i++ {
				time.Sleep(200 * time.Millisecond)
			}
			if left := nsPids(ns); len(left) > 0 {
				fmt.Printf("openstack: processes left in %s: %v: SIGKILL\n", ns, left)
				killNS(ns, syscall.SIGKILL)
				for i := 0; i < 25 && len(nsPids(ns)) > 0; i++ {
					time.Sleep(200 * time.Millisecond)
				}
			}
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				fmt.Printf("openstack: ip netns del %s: %v %s\n", ns, err, out)
			}
		}
		l.cancel()
		l.mu.Lock()
		if l.cmdLog != nil {
			l.cmdLog.Close()
			l.cmdLog = nil
		}
		l.mu.Unlock()
		if l.failed.Load() {
			l.dumpLogs()
		}
		if os.Getenv("FLOS_KEEP_DIR") == "1" {
			fmt.Printf("openstack: work dir kept (FLOS_KEEP_DIR=1): %s\n", l.dir)
		} else {
			_ = os.RemoveAll(l.dir)
		}
		fmt.Printf("openstack: %s: torn down in %.1f s\n", l.prefix, time.Since(start).Seconds())
	})
}

// dumpLogs prints the end of every log of the lab (CI keeps the test's output, not the
// machine), before the work dir is removed.
func (l *Lab) dumpLogs() {
	var files []string
	for _, pat := range []string{"log/*.out", "log/*.log", "log/*.err", "log/rabbitmq/*.log", "ovs/log/*.log", "ovn/log/*.log",
		"hv2/ovs/log/*.log", "hv2/ovn/log/*.log"} {
		m, _ := filepath.Glob(l.p(pat))
		files = append(files, m...)
	}
	files = append(files, l.p("commands.log"))
	for _, f := range files {
		n := 25
		if strings.HasSuffix(f, "commands.log") {
			n = 80
		}
		rel, _ := filepath.Rel(l.dir, f)
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(" ERROR ")) {
			var errs []string
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, " ERROR ") {
					errs = append(errs, line)
				}
			}
			fmt.Printf("openstack: ---- ERROR lines of %s (last 80) ----\n%s\n", rel, indent(lastLines(strings.Join(errs, "\n"), 80)))
		}
		fmt.Printf("openstack: ---- last %d lines of %s ----\n%s\n", n, rel, indent(tailFile(f, n)))
	}
	fmt.Printf("openstack: ---- end of the logs (FLOS_KEEP_DIR=1 keeps the work dir) ----\n")
}

// nsPids lists the processes in namespace ns.
func nsPids(ns string) []int {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if n, err := strconv.Atoi(f); err == nil && n != os.Getpid() {
			pids = append(pids, n)
		}
	}
	return pids
}

func killNS(ns string, sig syscall.Signal) {
	for _, pid := range nsPids(ns) {
		_ = syscall.Kill(pid, sig)
	}
}

// --- memory ---------------------------------------------------------------------------------

// memory sums the proportional set size (PSS) of every process in the lab's namespaces, by
// daemon group; the total is what the lab costs.
func (l *Lab) memory() (string, int) {
	groups := map[string]int{}
	l.mu.Lock()
	nss := append([]string{l.host}, l.vmNS...)
	l.mu.Unlock()
	for _, ns := range nss {
		for _, pid := range nsPids(ns) {
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil {
				continue
			}
			pss := smapsPss(pid)
			groups[memGroup(strings.ReplaceAll(string(cmdline), "\x00", " "))] += pss
		}
	}
	names := make([]string, 0, len(groups))
	total := 0
	for g, v := range groups {
		names = append(names, g)
		total += v
	}
	sort.Strings(names)
	var b strings.Builder
	for _, g := range names {
		fmt.Fprintf(&b, "  %-22s PSS %5d MiB\n", g, groups[g]/1024)
	}
	fmt.Fprintf(&b, "  %-22s PSS %5d MiB\n", "total", total/1024)
	return b.String(), total / 1024
}

func smapsPss(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "Pss:" {
			n, _ := strconv.Atoi(fs[1])
			return n
		}
	}
	return 0
}

func memGroup(cmd string) string {
	for _, g := range []struct{ match, name string }{
		{"mariadbd", "mariadb"}, {"beam.smp", "rabbitmq"}, {"epmd", "rabbitmq"}, {"erl_child", "rabbitmq"},
		{"inet_gethost", "rabbitmq"}, {"keystone", "keystone (uwsgi)"}, {"neutron-server", "neutron-server"},
		{"neutron-openvswitch-agent", "neutron-ovs-agent"}, {"privsep-helper", "neutron-ovs-agent"},
		{"ovn-", "ovn"}, {"ovnnb_db", "ovn"}, {"ovnsb_db", "ovn"}, {"ovsdb-server", "openvswitch"}, {"ovs-vswitchd", "openvswitch"}, {"flowlens", "flowlens"},
		{helperEnv, "vm helpers"}, {".test", "vm helpers"},
	} {
		if strings.Contains(cmd, g.match) {
			return g.name
		}
	}
	f := strings.Fields(cmd)
	if len(f) == 0 {
		return "other"
	}
	return "other (" + filepath.Base(f[0]) + ")"
}

// --- small helpers --------------------------------------------------------------------------

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return lastLines(string(b), n)
}
