//go:build e2e

package e2e

// Building, starting and stopping the collector under test, and configuring OVS's sFlow.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// repoRoot is two levels above this package (test/e2e).
func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("runtime.Caller")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repo root %s: %v", root, err)
	}
	return root
}

// goTool finds the go command. `go test` puts its own GOROOT/bin first in the test's PATH (Go
// 1.19+), so this is the toolchain that built the test.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if r := os.Getenv("GOROOT"); r != "" {
		return filepath.Join(r, "bin", "go")
	}
	return "go"
}

// binEnv names a prebuilt collector binary to test instead of building ./cmd/flowlens.
const binEnv = "FLOWLENS_E2E_BIN"

// buildCollector builds ./cmd/flowlens into the work dir. With FLOWLENS_E2E_COLLECTOR=sink the
// test binary's own sink helper stands in for flowlens; FLOWLENS_E2E_BIN names a prebuilt one.
func (l *Lab) buildCollector() string {
	t := l.t
	if os.Getenv(collectorEnv) == "sink" {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		return self
	}
	if bin := os.Getenv(binEnv); bin != "" {
		// a prebuilt collector (e.g. another branch's, to try an assertion against it)
		t.Logf("%s: testing the prebuilt collector %s", binEnv, bin)
		return bin
	}
	bin := filepath.Join(l.Dir, "flowlens")
	cmd := exec.CommandContext(l.ctx, goTool(), "build", "-o", bin, "./cmd/flowlens")
	cmd.Dir = repoRoot(t)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	l.logCmd("$ (cd %s && go build -o %s ./cmd/flowlens) (%.1fs, err=%v)\n%s", cmd.Dir, bin, time.Since(start).Seconds(), err, indent(string(out)))
	if err != nil {
		t.Fatalf("go build ./cmd/flowlens: %v\n%s", err, out)
	}
	t.Logf("built %s in %.1fs", bin, time.Since(start).Seconds())
	return bin
}

// Collector is one running collector process.
type Collector struct {
	Tag     string
	Listen  string
	NetFlow string // --input.netflow.listen: 127.0.0.1:(port+1) (softflowd, netflow_test.go)
	Out     string // NDJSON path
	LogPath string // stderr: JSON logs
	Proc    *Proc
	Started time.Time // exec
	Bound   time.Time // first seen listening
	Stopped time.Time // exited after SIGTERM
}

// startCollector starts the collector inside the hypervisor namespace (where OVS sends its
// datagrams to 127.0.0.1) and waits until its UDP socket is bound.
func (l *Lab) startCollector(bin string, port int, tag string) *Collector {
	return l.startCollectorWith(bin, port, tag, nil)
}

// startCollectorWith starts the collector; with a passed socket (activated) it is started the
// way systemd starts flowlens.service from flowlens.socket: the socket as descriptor 3,
// LISTEN_FDS=1 and LISTEN_PID set to the collector's own pid (by the shell that then execs it).
func (l *Lab) startCollectorWith(bin string, port int, tag string, activated *os.File) *Collector {
	t := l.t
	c := &Collector{
		Tag:     tag,
		Listen:  fmt.Sprintf("127.0.0.1:%d", port),
		NetFlow: fmt.Sprintf("127.0.0.1:%d", port+1),
		Out:     filepath.Join(l.Dir, "flows-"+tag+".ndjson"),
		LogPath: filepath.Join(l.Dir, "flowlens-"+tag+".log"),
	}
	argv := []string{"ip", "netns", "exec", l.HV}
	if os.Getenv(collectorEnv) == "sink" {
		argv = append([]string{"env", helperEnv + "=sink"}, argv...)
	}
	if activated != nil {
		argv = append(argv, "sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=flowlens.socket exec "$0" "$@"`)
	}
	argv = append(argv, bin, "run",
		"--input.sflow.listen="+c.Listen,
		// NetFlow v9 / IPFIX on a known port (softflowd exports there, netflow_test.go).
		"--input.netflow.listen="+c.NetFlow,
		"--output.ndjson.path="+c.Out,
		// The embedded store in this run's folder, not in /var/lib/flowlens.
		"--store.path="+filepath.Join(l.Dir, "store-"+tag),
		// OpenStack attribution from this lab's OVSDB, as on a hypervisor
		// (OVS's sFlow agent is lo: 127.0.0.1).
		"--enrich.openstack.ovsdb=127.0.0.1=unix:"+filepath.Join(l.RunDir, "db.sock"),
		"--log.format=json",
		"--log.level=info")
	c.Started = time.Now()
	p, err := l.startFiles("collector-"+tag, c.LogPath, activated, argv...)
	if err != nil {
		t.Fatal(err)
	}
	c.Proc = p
	deadline := time.Now().Add(20 * time.Second)
	for {
		if !p.Running() {
			t.Fatalf("collector %s exited before listening (%v):\n%s", tag, p.err, tail(c.LogPath, 30))
		}
		if activated != nil && logged(c.LogPath, `"msg":"flowlens started"`) || activated == nil && udpBound(p.Cmd.Process.Pid, port) {
			c.Bound = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector %s not listening on %s after 20s:\n%s", tag, c.Listen, tail(c.LogPath, 30))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return c
}

// logged reports whether the log file has a line containing s.
func logged(path, s string) bool {
	found := false
	_ = readLines(path, func(line []byte) {
		if strings.Contains(string(line), s) {
			found = true
		}
	})
	return found
}

// passedSocket binds a UDP socket on 127.0.0.1:port inside the hypervisor namespace, as
// systemd does for flowlens.socket (ListenDatagram=, ReceiveBuffer=), and keeps it open across
// collector restarts. Only this thread enters the namespace, and returns.
func (l *Lab) passedSocket(port int) *os.File {
	t := l.t
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	hv, err := os.Open(filepath.Join("/run/netns", l.HV))
	if err != nil {
		t.Fatal(err)
	}
	defer hv.Close()
	if err := unix.Setns(int(hv.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	fd, serr := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if serr == nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
		serr = unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	}
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread is in the wrong namespace: never let it run anything else.
		runtime.Goexit()
	}
	if serr != nil {
		t.Fatalf("binding 127.0.0.1:%d in %s: %v", port, l.HV, serr)
	}
	f := os.NewFile(uintptr(fd), "flowlens.socket")
	l.led.add(fmt.Sprintf("passed socket 127.0.0.1:%d", port), f.Close)
	return f
}

// udpBound reports whether 127.0.0.1:port is bound in the network namespace of pid
// (/proc/PID/net/udp shows that process's namespace).
func udpBound(pid, port int) bool {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/udp", pid))
	if err != nil {
		return false
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 1 && fs[1] == want {
			return true
		}
	}
	return false
}

// stop sends SIGTERM and waits for the exit (the agent summaries are logged on exit).
func (c *Collector) stop(t *testing.T) {
	t.Helper()
	if err := c.Proc.Stop(syscall.SIGTERM, 20*time.Second); err != nil {
		t.Errorf("collector %s: %v", c.Tag, err)
	}
	c.Stopped = time.Now()
	if err := c.Proc.err; err != nil {
		t.Errorf("collector %s exited with %v after SIGTERM; log tail:\n%s", c.Tag, err, tail(c.LogPath, 20))
	}
}

// configureSFlow does what an operator does. The target value must reach ovs-vsctl WITH its
// double quotes (in a shell: target="\"127.0.0.1:PORT\""), otherwise ovs-vsctl fails with
// `unexpected ":" parsing set of 1 or more strings`.
func (l *Lab) configureSFlow(port int) {
	l.vsctl("--", "--id=@sflow", "create", "sflow", "agent=lo",
		fmt.Sprintf(`target="127.0.0.1:%d"`, port),
		"header="+strconv.Itoa(headerBytes), "sampling="+strconv.Itoa(samplingRate),
		"polling="+strconv.Itoa(pollingSec),
		"--", "set", "bridge", bridge, "sflow=@sflow",
		// br-ex too, as operators do for every bridge: OVS samples a packet on the bridge it
		// entered, so what vm6 sends is sampled there (OVS gives each bridge its own
		// sub-agent), and what crosses the patch ports leaves with no single egress ifIndex.
		"--", "set", "bridge", exBridge, "sflow=@sflow")
	l.t.Logf("sFlow on %s and %s: %s", bridge, exBridge, strings.Join(strings.Fields(l.vsctl("list", "sflow")), " "))
}

// results reads the collector's NDJSON output and its log's summaries,
// and logs what they hold and the first WARN/ERROR lines.
func (c *Collector) results(t *testing.T, p *Problems) (*Output, []AgentSummary) {
	t.Helper()
	out, err := ParseOutput(c.Out, p)
	if err != nil {
		t.Fatalf("reading %s: %v", c.Out, err)
	}
	sums, logErrs, err := ParseSummaries(c.LogPath, p)
	if err != nil {
		t.Fatalf("reading %s: %v", c.LogPath, err)
	}
	t.Logf("collector output: %d lines, %d flow records, %d counter records, other %v; %d WARN/ERROR log lines",
		out.Lines, len(out.Flows), len(out.Counters), out.Other, len(logErrs))
	for i, e := range logErrs {
		if i == 10 {
			break
		}
		t.Logf("collector log: %s", e)
	}
	return out, sums
}
