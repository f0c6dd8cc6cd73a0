package udp

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Socket activation (systemd's sd_listen_fds protocol) is how flowlens
// restarts without losing a datagram: the socket belongs to the service
// manager, stays bound while the collector process is replaced, and the
// kernel queues what arrives meanwhile in its receive buffer. A collector
// that binds its own socket leaves the port closed for the restart, and
// Open vSwitch drops what it sends during that time.

// listenFDsStart is SD_LISTEN_FDS_START: passed sockets begin at fd 3.
const listenFDsStart = 3

// Activated holds the datagram sockets the service manager passed. Listen
// takes the ones whose address matches a configured listen address.
type Activated struct {
	mu      sync.Mutex
	sockets []activatedSocket
}

type activatedSocket struct {
	file  *os.File
	local *net.UDPAddr
	name  string
	taken bool
}

var (
	activationOnce sync.Once
	activation     *Activated
	activationErr  error
)

// Activation returns the sockets passed by socket activation, or nil when
// there are none (flowlens started by hand, or by a unit without a socket
// unit). The environment is read once and cleared, so that processes
// flowlens starts (ovs-vsctl) do not believe the sockets are theirs.
func Activation() (*Activated, error) {
	activationOnce.Do(func() {
		activation, activationErr = activationFromEnv(os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"),
			os.Getenv("LISTEN_FDNAMES"), os.Getpid())
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
	})
	return activation, activationErr
}

func activationFromEnv(pidVar, fdsVar, namesVar string, pid int) (*Activated, error) {
	if fdsVar == "" {
		return nil, nil
	}
	// LISTEN_PID says whom the sockets are for; a process that merely
	// inherited the environment must leave them alone (sd_listen_fds does
	// the same).
	if p, err := strconv.Atoi(pidVar); err != nil || p != pid {
		return nil, nil
	}
	n, err := strconv.Atoi(fdsVar)
	if err != nil || n < 0 || n > 1024 {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%q is not a count of sockets", fdsVar)
	}
	names := strings.Split(namesVar, ":")
	a := &Activated{}
	for i := 0; i < n; i++ {
		fd := listenFDsStart + i
		unix.CloseOnExec(fd)
		name := ""
		if i < len(names) {
			name = names[i]
		}
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil {
			return nil, fmt.Errorf("socket activation: passed descriptor %d (%s) is not a socket: %v", fd, name, err)
		}
		f := os.NewFile(uintptr(fd), "activated-"+strconv.Itoa(fd))
		if typ != unix.SOCK_DGRAM {
			// A stream socket, e.g. for the console: not the UDP input's.
			a.sockets = append(a.sockets, activatedSocket{file: f, name: name, taken: true})
			continue
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return nil, fmt.Errorf("socket activation: descriptor %d (%s): %v", fd, name, err)
		}
		var local *net.UDPAddr
		switch sa := sa.(type) {
		case *unix.SockaddrInet4:
			local = &net.UDPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}
		case *unix.SockaddrInet6:
			local = &net.UDPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
		default:
			return nil, fmt.Errorf("socket activation: descriptor %d (%s) is not an IPv4 or IPv6 UDP socket", fd, name)
		}
		a.sockets = append(a.sockets, activatedSocket{file: f, local: local, name: name})
	}
	return a, nil
}

// take returns the unclaimed sockets bound to addr (host:port as in the
// configuration; an empty or unspecified host matches a socket on the
// unspecified address).
func (a *Activated) take(addr string) ([]*os.File, error) {
	if a == nil {
		return nil, nil
	}
	want, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*os.File
	for i := range a.sockets {
		s := &a.sockets[i]
		if s.taken || s.local == nil || s.local.Port != want.Port {
			continue
		}
		if (want.IP == nil || want.IP.IsUnspecified()) && s.local.IP.IsUnspecified() || want.IP.Equal(s.local.IP) {
			s.taken = true
			out = append(out, s.file)
		}
	}
	return out, nil
}

// Unused lists the passed datagram sockets no input took: a socket unit
// that does not match the configuration, worth a warning.
func (a *Activated) Unused() []string {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, s := range a.sockets {
		if !s.taken {
			out = append(out, s.local.String())
		}
	}
	return out
}

// Len is how many sockets were passed.
func (a *Activated) Len() int {
	if a == nil {
		return 0
	}
	return len(a.sockets)
}
