// Package udp receives datagrams: several SO_REUSEPORT sockets per listen
// address, each read by its own goroutine in batches (recvmmsg), with a
// large kernel receive buffer. A collector that is not reading loses data:
// Open vSwitch drops datagrams while nothing listens, and the kernel drops
// them when a socket's buffer is full, so both are made visible here.
package udp

import (
	"context"
	"errors"
	"fmt"
	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/lograte"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Config is the listener configuration.
type Config struct {
	// Listen addresses, host:port. An empty host (":6343") listens on
	// every IPv4 and IPv6 address.
	Listen []string `yaml:"listen"`
	// Sockets per address; 0 means one per CPU.
	Sockets int `yaml:"sockets"`
	// ReceiveBuffer is the kernel buffer asked for each socket, in bytes.
	ReceiveBuffer bytesize.Size `yaml:"receive_buffer"`
	// Batch is how many datagrams one system call may return.
	Batch int `yaml:"batch"`
	// MaxDatagram is the largest datagram kept whole; longer ones are
	// counted as truncated.
	MaxDatagram bytesize.Size `yaml:"max_datagram"`
	// AllowedSources are the addresses and CIDR prefixes datagrams are
	// accepted from; empty accepts every source.
	AllowedSources []string `yaml:"allowed_sources"`
	// MaxDatagramsPerSource is the most datagrams per second taken from one
	// source address on one socket (0: no limit).
	MaxDatagramsPerSource int `yaml:"max_datagrams_per_source"`
}

// Handler receives the datagrams of one socket, from that socket's
// goroutine only: it needs no locking for its own state. b is valid only
// during the call.
type Handler interface {
	Datagram(b []byte, src netip.AddrPort, now time.Time)
	// Flush is called flushAfter after the socket first had nothing more
	// to read, so the handler passes on what it accumulated. Under load
	// that is seldom: the handler should also pass on what it holds once
	// it is a large batch.
	Flush()
}

// SocketStats describes one socket.
type SocketStats struct {
	Addr          string
	Datagrams     uint64
	Bytes         uint64
	Truncated     uint64 // longer than MaxDatagram
	Denied        uint64 // from a source outside AllowedSources
	RateLimited   uint64 // over MaxDatagramsPerSource
	KernelDrops   uint64 // dropped by the kernel: receive buffer full
	ReceiveBuffer int    // what the kernel granted
}

// Listener owns the sockets.
type Listener struct {
	cfg     Config
	log     *slog.Logger
	sockets []*socket
	// activated counts the passed sockets read (socket activation).
	activated int

	closeOnce sync.Once
	// finalDrops are the kernel's drop counters read just before the
	// sockets closed: closed sockets vanish from /proc/net/udp.
	finalDrops atomic.Pointer[map[uint64]uint64]
}

type socket struct {
	addr  string
	conn  *net.UDPConn
	raw   syscall.RawConn
	inode uint64
	rcv   int
	// dup: another reader of the same kernel socket (socket activation)
	// already warned about its buffer and reports its kernel drops.
	dup bool

	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	bufs  [][]byte
	n     int
	errno syscall.Errno
	read  func(fd uintptr) bool
	// pending: datagrams were handed to the Handler since its last Flush;
	// armed: the read deadline that flushes them is set.
	pending, armed bool

	guard *guard
	warn  lograte.Limiter // of a denied or rate-limited source

	datagrams, bytes, truncated, denied, rateLimited atomic.Uint64
}

// Listen opens every socket. It fails if any address cannot be bound, with
// a message that says what to do.
func Listen(cfg Config, log *slog.Logger) (*Listener, error) {
	return ListenActivated(cfg, log, nil)
}

// ListenActivated is Listen that first looks among the sockets passed by
// socket activation (see Activation) for each address: a passed socket is
// read by cfg.Sockets goroutines instead of binding new ones, so it
// outlives this process. Addresses without a passed socket are bound as
// usual.
func ListenActivated(cfg Config, log *slog.Logger, act *Activated) (*Listener, error) {
	if cfg.Sockets <= 0 {
		cfg.Sockets = runtime.NumCPU()
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.MaxDatagram <= 0 {
		cfg.MaxDatagram = 65535
	}
	l := &Listener{cfg: cfg, log: log}
	for _, addr := range cfg.Listen {
		files, err := act.take(addr)
		if err != nil {
			l.Close()
			return nil, err
		}
		for _, f := range files {
			for i := 0; i < cfg.Sockets; i++ {
				s, err := l.inherit(f)
				if err != nil {
					l.Close()
					return nil, err
				}
				l.sockets = append(l.sockets, s)
			}
			l.activated++
		}
		if len(files) > 0 {
			continue
		}
		for i := 0; i < cfg.Sockets; i++ {
			s, err := l.open(addr)
			if err != nil {
				l.Close()
				return nil, err
			}
			l.sockets = append(l.sockets, s)
		}
	}
	if len(l.sockets) == 0 {
		return nil, errors.New("no listen address configured")
	}
	return l, nil
}

// Activated is how many passed sockets the listener reads.
func (l *Listener) Activated() int { return l.activated }

func (l *Listener) open(addr string) (*socket, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			if serr != nil {
				return
			}
			l.setReceiveBuffer(fd)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on UDP %s: %w (is another collector already bound to it without SO_REUSEPORT? change the address with --input.sflow.listen)", addr, err)
	}
	return l.setup(pc.(*net.UDPConn))
}

// inherit makes a reader of a passed socket. Each reader has its own
// descriptor (a dup) so that the runtime poller does not serialize them.
func (l *Listener) inherit(f *os.File) (*socket, error) {
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("socket activation: %s: %w", f.Name(), err)
	}
	conn, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("socket activation: %s is not a UDP socket", f.Name())
	}
	if raw, err := conn.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) {
			// Only ever raise what the socket unit set (ReceiveBuffer=).
			if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil && v/2 < int(l.cfg.ReceiveBuffer) {
				l.setReceiveBuffer(fd)
			}
		})
	}
	return l.setup(conn)
}

func (l *Listener) setReceiveBuffer(fd uintptr) {
	// SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN;
	// without it, fall back to the capped request and warn in setup.
	if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, int(l.cfg.ReceiveBuffer)) != nil {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, int(l.cfg.ReceiveBuffer))
	}
}

func (l *Listener) setup(conn *net.UDPConn) (*socket, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	s := &socket{addr: conn.LocalAddr().String(), conn: conn, raw: raw, guard: newGuard(l.cfg)}
	_ = raw.Control(func(fd uintptr) {
		// The kernel reports twice the usable size it granted.
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
			s.rcv = v / 2
		}
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) == nil {
			s.inode = st.Ino
		}
	})
	for _, o := range l.sockets {
		if o.inode == s.inode {
			s.dup = true
		}
	}
	if s.rcv < int(l.cfg.ReceiveBuffer) && !s.dup {
		l.log.Warn("the kernel capped the socket receive buffer; bursts may be dropped",
			"address", s.addr, "asked", l.cfg.ReceiveBuffer, "got", s.rcv,
			"fix", fmt.Sprintf("sysctl -w net.core.rmem_max=%d (or run flowlens with CAP_NET_ADMIN; with socket activation set ReceiveBuffer= in the socket unit)", l.cfg.ReceiveBuffer))
	}
	b := l.cfg.Batch
	s.msgs = make([]unix.Mmsghdr, b)
	s.iovs = make([]unix.Iovec, b)
	s.names = make([]unix.RawSockaddrInet6, b)
	s.bufs = make([][]byte, b)
	for i := range s.msgs {
		s.bufs[i] = make([]byte, l.cfg.MaxDatagram)
		s.iovs[i].Base = &s.bufs[i][0]
		s.iovs[i].SetLen(len(s.bufs[i]))
		s.msgs[i].Hdr.Iov = &s.iovs[i]
		s.msgs[i].Hdr.SetIovlen(1)
		s.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&s.names[i]))
	}
	s.read = s.recvmmsg
	return s, nil
}

// recvmmsg is called by the runtime poller with the socket's descriptor. It
// returns false when nothing is there, so the goroutine parks until the
// socket is readable without holding an OS thread.
func (s *socket) recvmmsg(fd uintptr) bool {
	for i := range s.msgs {
		s.msgs[i].Hdr.Namelen = uint32(unsafe.Sizeof(s.names[i]))
		s.msgs[i].Hdr.Flags = 0
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd,
		uintptr(unsafe.Pointer(&s.msgs[0])), uintptr(len(s.msgs)), unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN || errno == unix.EINTR {
		if s.pending && !s.armed && errno == unix.EAGAIN {
			// The poller wakes us at the deadline even if nothing comes.
			s.armed = s.conn.SetReadDeadline(time.Now().Add(flushAfter)) == nil
		}
		return false
	}
	s.n, s.errno = int(n), errno
	return true
}

// Run reads every socket until ctx is done, giving each socket's datagrams
// to the Handler that newHandler made for it.
func (l *Listener) Run(ctx context.Context, newHandler func(socket int) Handler) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(l.sockets))
	for i, s := range l.sockets {
		h := newHandler(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.loop(s, h); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("reading %s: %w", s.addr, err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	l.Close()
	wg.Wait()
	return err
}

// flushAfter is how long records may wait in the Handler once the socket
// has had nothing to read. Flushing at every lull instead, at a rate the
// receiver only just keeps up with, made batches of a few datagrams: a
// write per few records in the NDJSON output, and a queue full of batches
// mostly empty (the queue counts what batches can hold).
const flushAfter = 20 * time.Millisecond

func (l *Listener) loop(s *socket, h Handler) error {
	defer func() {
		if s.pending {
			h.Flush()
		}
	}()
	for {
		if err := s.raw.Read(s.read); errors.Is(err, os.ErrDeadlineExceeded) {
			s.armed = false
			if err := s.conn.SetReadDeadline(time.Time{}); err != nil {
				return err
			}
			s.pending = false
			h.Flush()
			continue
		} else if err != nil {
			return err
		}
		if s.errno != 0 {
			if s.errno == unix.EBADF {
				return net.ErrClosed
			}
			return s.errno
		}
		now := time.Now()
		for i := 0; i < s.n; i++ {
			m := &s.msgs[i]
			size := int(m.Len)
			if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
				s.truncated.Add(1)
				continue
			}
			s.datagrams.Add(1)
			s.bytes.Add(uint64(size))
			src := sockaddr(&s.names[i])
			if s.guard != nil {
				if v := s.guard.admit(src.Addr(), now); v != admitted {
					l.refuse(s, v, src, now)
					continue
				}
			}
			h.Datagram(s.bufs[i][:size], src, now)
			s.pending = true
		}
	}
}

// refuse counts a datagram the guard turned away and says so, at most
// every 10 s per socket.
func (l *Listener) refuse(s *socket, v verdict, src netip.AddrPort, now time.Time) {
	var n uint64
	if v == denied {
		n = s.denied.Add(1)
	} else {
		n = s.rateLimited.Add(1)
	}
	if ok, _ := s.warn.Allow(now, 10*time.Second); !ok {
		return
	}
	if v == denied {
		l.log.Warn("datagram from a source outside allowed_sources dropped (logged at most every 10 s per socket)",
			"from", src.String(), "socket", s.addr, "denied_so_far", n,
			"fix", "add its address to allowed_sources if it is one of yours")
	} else {
		l.log.Warn("source over max_datagrams_per_source: datagrams dropped (logged at most every 10 s per socket)",
			"from", src.String(), "socket", s.addr, "limit_per_second", l.cfg.MaxDatagramsPerSource, "rate_limited_so_far", n)
	}
}

// sockaddr converts what the kernel wrote without allocating.
func sockaddr(sa *unix.RawSockaddrInet6) netip.AddrPort {
	port := uint16(sa.Port>>8) | uint16(sa.Port<<8) // network byte order
	switch sa.Family {
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	}
	return netip.AddrPort{}
}

// Close closes every socket; Run then returns. The kernel's drop counters
// are read first, so that Stats still reports them.
func (l *Listener) Close() {
	l.closeOnce.Do(func() {
		d := kernelDrops()
		l.finalDrops.Store(&d)
		for _, s := range l.sockets {
			s.conn.Close()
		}
	})
}

// Addrs returns the bound addresses (useful with port 0).
func (l *Listener) Addrs() []string {
	out := make([]string, 0, len(l.sockets))
	for _, s := range l.sockets {
		out = append(out, s.addr)
	}
	return out
}

// Stats returns per-socket counters, including the kernel's drop count.
func (l *Listener) Stats() []SocketStats {
	var drops map[uint64]uint64
	if d := l.finalDrops.Load(); d != nil {
		drops = *d
	} else {
		drops = kernelDrops()
	}
	out := make([]SocketStats, len(l.sockets))
	for i, s := range l.sockets {
		out[i] = SocketStats{
			Addr: s.addr, Datagrams: s.datagrams.Load(), Bytes: s.bytes.Load(),
			Truncated: s.truncated.Load(), ReceiveBuffer: s.rcv,
			Denied: s.denied.Load(), RateLimited: s.rateLimited.Load(),
		}
		// Readers sharing a passed socket share its drop counter: count it once.
		if !s.dup {
			out[i].KernelDrops = drops[s.inode]
		}
	}
	return out
}
