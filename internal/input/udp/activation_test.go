package udp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv makes the test binary act as a collector process that reads a
// passed socket (see TestMain).
const childEnv = "FLOWLENS_UDP_TEST_ACTIVATED_CHILD"

func TestMain(m *testing.M) {
	if addr := os.Getenv(childEnv); addr != "" {
		os.Exit(activatedChild(addr))
	}
	os.Exit(m.Run())
}

// seqHandler prints the sequence number each datagram carries.
type seqHandler struct {
	mu  *sync.Mutex
	out *bufio.Writer
}

func (h seqHandler) Datagram(b []byte, _ netip.AddrPort, _ time.Time) {
	if len(b) < 8 {
		return
	}
	h.mu.Lock()
	fmt.Fprintln(h.out, binary.BigEndian.Uint64(b))
	h.mu.Unlock()
}
func (seqHandler) Flush() {}

// activatedChild is a minimal collector: sockets from socket activation,
// two readers each, every sequence number to stdout, stop on SIGTERM after
// handing over what was read (as flowlens run does).
func activatedChild(addr string) int {
	// A real service manager sets LISTEN_PID to the child's pid; the
	// parent test cannot know it before the fork, so the child sets it.
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	act, err := Activation()
	if err != nil || act.Len() != 1 {
		fmt.Fprintln(os.Stderr, "activation:", act.Len(), err)
		return 1
	}
	ln, err := ListenActivated(Config{Listen: []string{addr}, Sockets: 2, ReceiveBuffer: 4 << 20}, quiet(), act)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if ln.Activated() != 1 || len(act.Unused()) != 0 || os.Getenv("LISTEN_FDS") != "" {
		fmt.Fprintln(os.Stderr, "passed socket not taken", ln.Activated(), act.Unused())
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	h := seqHandler{mu: &sync.Mutex{}, out: out}
	if err := ln.Run(ctx, func(int) Handler { return h }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out.Flush()
	return 0
}

// The restart design, without Open vSwitch: a socket held by the "service
// manager" (this test) is passed to one collector process, then to the
// next, while datagrams keep arriving; the second process reads what
// arrived in between, so every datagram is read exactly once.
func TestRestartWithPassedSocketLosesNothing(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// What arrives while no process reads must fit in the buffer, as a
	// socket unit's ReceiveBuffer= provides; scale it to what was granted
	// (about 1 KiB of kernel memory per small datagram).
	raw, _ := pc.(*net.UDPConn).SyscallConn()
	granted := 0
	raw.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20) != nil {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 16<<20)
		}
		granted, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	pause := min(granted/2/1536, 5000)
	sockFile, err := pc.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer sockFile.Close()
	addr := pc.LocalAddr().String()

	start := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+addr, "LISTEN_FDS=1", "LISTEN_FDNAMES=flowlens.socket")
		cmd.ExtraFiles = []*os.File{sockFile}
		var out bytes.Buffer
		pr, pw, _ := os.Pipe()
		cmd.Stdout, cmd.Stderr = pw, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		r := bufio.NewReader(pr)
		if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("child did not start: %q %v", line, err)
		}
		done := make(chan struct{})
		go func() { out.ReadFrom(r); close(done) }()
		cmd.Cancel = func() error { <-done; return nil }
		return cmd, &out
	}
	wait := func(cmd *exec.Cmd) {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
		cmd.Cancel()
	}

	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var sent uint64
	send := func(n int) {
		b := make([]byte, 64)
		for end := sent + uint64(n); sent < end; {
			for i := 0; i < 20 && sent < end; i++ {
				binary.BigEndian.PutUint64(b, sent)
				if _, err := conn.Write(b); err != nil {
					t.Fatal(err)
				}
				sent++
			}
			time.Sleep(time.Millisecond)
		}
	}

	a, outA := start()
	send(5000)
	a.Process.Signal(syscall.SIGTERM)
	// Datagrams keep coming while the first process stops and the next
	// starts: only the kernel buffer holds them.
	send(pause / 2)
	wait(a)
	send(pause / 2)
	b, outB := start()
	send(5000)
	time.Sleep(100 * time.Millisecond)
	b.Process.Signal(syscall.SIGTERM)
	wait(b)

	seen := make([]int, sent)
	count := func(out *bytes.Buffer) int {
		n := 0
		for _, f := range strings.Fields(out.String()) {
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil || v >= sent {
				t.Fatalf("bad line %q", f)
			}
			seen[v]++
			n++
		}
		return n
	}
	na, nb := count(outA), count(outB)
	var lost, dup int
	for _, c := range seen {
		if c == 0 {
			lost++
		}
		if c > 1 {
			dup++
		}
	}
	t.Logf("receive buffer %d bytes: %d datagrams sent while no process read", granted/2, pause)
	t.Logf("sent %d datagrams: %d read by the first process, %d by the second; %d lost, %d read twice", sent, na, nb, lost, dup)
	if na == 0 || nb == 0 {
		t.Errorf("each process should have read some datagrams")
	}
	if lost != 0 || dup != 0 {
		t.Errorf("%d datagrams lost and %d read twice across the restart", lost, dup)
	}
}

func TestActivationEnvironment(t *testing.T) {
	// Sockets meant for another process (LISTEN_PID differs, or absent) are
	// not touched, like sd_listen_fds.
	for _, pid := range []string{"", "1", "x"} {
		if a, err := activationFromEnv(pid, "2", "", 4242); a != nil || err != nil {
			t.Errorf("LISTEN_PID=%q: %v %v", pid, a, err)
		}
	}
	if a, err := activationFromEnv("4242", "", "", 4242); a != nil || err != nil {
		t.Errorf("no LISTEN_FDS: %v %v", a, err)
	}
	if _, err := activationFromEnv("4242", "lots", "", 4242); err == nil || !strings.Contains(err.Error(), "LISTEN_FDS") {
		t.Errorf("bad LISTEN_FDS: %v", err)
	}
	// Without socket activation every address is bound as usual.
	var none *Activated
	if f, err := none.take("127.0.0.1:6343"); f != nil || err != nil || none.Len() != 0 || none.Unused() != nil {
		t.Errorf("nil Activated: %v %v", f, err)
	}
}

func TestActivatedAddressMatching(t *testing.T) {
	mk := func(ip string, port int) activatedSocket {
		return activatedSocket{local: &net.UDPAddr{IP: net.ParseIP(ip), Port: port}, file: os.NewFile(0, ip)}
	}
	a := &Activated{sockets: []activatedSocket{mk("::", 6343), mk("127.0.0.1", 2055), mk("0.0.0.0", 4739)}}
	for _, c := range []struct {
		addr string
		want int
	}{
		{"127.0.0.1:6343", 0}, // a specific address is not the wildcard socket
		{":6343", 1},
		{":6343", 0}, // already taken
		{"[::1]:2055", 0},
		{"127.0.0.1:2055", 1},
		{"0.0.0.0:4739", 1},
	} {
		f, err := a.take(c.addr)
		if err != nil || len(f) != c.want {
			t.Errorf("take(%s) = %d sockets, %v; want %d", c.addr, len(f), err, c.want)
		}
	}
	if u := a.Unused(); len(u) != 0 {
		t.Errorf("unused %v", u)
	}
}
