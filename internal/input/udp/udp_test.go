package udp

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type countHandler struct {
	mu      sync.Mutex
	n       int
	flushes int
	from    map[netip.Addr]int
}

func (h *countHandler) Datagram(b []byte, src netip.AddrPort, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	h.from[src.Addr()]++
}
func (h *countHandler) Flush() { h.mu.Lock(); h.flushes++; h.mu.Unlock() }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// IPv4 and IPv6 senders, several sockets on one port, batched reads.
func TestIPv4AndIPv6(t *testing.T) {
	ln, err := Listen(Config{Listen: []string{"127.0.0.1:0", "[::1]:0"}, Sockets: 2, ReceiveBuffer: 1 << 20, Batch: 8}, quiet())
	if err != nil {
		t.Skipf("no IPv6 loopback here? %v", err)
	}
	if len(ln.Addrs()) != 4 {
		t.Fatalf("addresses %v", ln.Addrs())
	}
	h := &countHandler{from: map[netip.Addr]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ln.Run(ctx, func(int) Handler { return h }) }()
	const n = 500
	for _, a := range []string{ln.Addrs()[0], ln.Addrs()[2]} {
		c, err := net.Dial("udp", a)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			c.Write([]byte("datagram"))
		}
		c.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		h.mu.Lock()
		got := h.n
		h.mu.Unlock()
		if got >= 2*n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if h.from[netip.MustParseAddr("127.0.0.1")] != n || h.from[netip.MustParseAddr("::1")] != n {
		t.Errorf("received by source: %v", h.from)
	}
	var total uint64
	for _, s := range ln.Stats() {
		total += s.Datagrams
	}
	if total != 2*n {
		t.Errorf("socket stats count %d", total)
	}
	if h.flushes == 0 || h.flushes > 2*n {
		t.Errorf("%d flushes for %d datagrams", h.flushes, 2*n)
	}
}

// Kernel drops are read back from /proc/net/udp for our own socket.
func TestKernelDropsAreReported(t *testing.T) {
	ln, err := Listen(Config{Listen: []string{"127.0.0.1:0"}, Sockets: 1, ReceiveBuffer: 4096}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("udp", ln.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, 1000)
	for i := 0; i < 2000; i++ { // nobody reads: the small buffer overflows
		c.Write(payload)
	}
	st := ln.Stats()[0]
	if st.KernelDrops == 0 {
		t.Errorf("no kernel drops reported after overflowing a %d-byte buffer", st.ReceiveBuffer)
	}
	// The shutdown summary is written after the sockets closed.
	ln.Close()
	if after := ln.Stats()[0]; after.KernelDrops < st.KernelDrops {
		t.Errorf("after Close: %d kernel drops, %d before", after.KernelDrops, st.KernelDrops)
	}
}

func TestTruncatedDatagramsAreCounted(t *testing.T) {
	ln, err := Listen(Config{Listen: []string{"127.0.0.1:0"}, Sockets: 1, ReceiveBuffer: 1 << 20, MaxDatagram: 1500}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	h := &countHandler{from: map[netip.Addr]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ln.Run(ctx, func(int) Handler { return h }) }()
	c, _ := net.Dial("udp", ln.Addrs()[0])
	c.Write(make([]byte, 4000))
	c.Write(make([]byte, 100))
	c.Close()
	deadline := time.Now().Add(2 * time.Second)
	for ln.Stats()[0].Truncated+ln.Stats()[0].Datagrams < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if st := ln.Stats()[0]; st.Truncated != 1 || st.Datagrams != 1 || h.n != 1 {
		t.Errorf("truncated %d, datagrams %d, handled %d", st.Truncated, st.Datagrams, h.n)
	}
}

func TestBusyPortSaysWhatToDo(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // no SO_REUSEPORT
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_, err = Listen(Config{Listen: []string{pc.LocalAddr().String()}}, quiet())
	if err == nil {
		t.Fatal("bound a port another socket holds without SO_REUSEPORT")
	}
	t.Log(err)
}

// pendingHandler counts the datagrams not yet flushed and when the last
// flush happened.
type pendingHandler struct {
	mu               sync.Mutex
	pending, flushes int
	flushed          time.Time
}

func (h *pendingHandler) Datagram([]byte, netip.AddrPort, time.Time) {
	h.mu.Lock()
	h.pending++
	h.mu.Unlock()
}

func (h *pendingHandler) Flush() {
	h.mu.Lock()
	if h.pending > 0 {
		h.flushes++
		h.flushed = time.Now()
	}
	h.pending = 0
	h.mu.Unlock()
}

// Datagrams that trickle in are flushed once per lull of flushAfter, not
// once per read (which made batches of a datagram or two), and the last
// ones are flushed soon after traffic stops, without anything more coming.
func TestFlushAfterLull(t *testing.T) {
	ln, err := Listen(Config{Listen: []string{"127.0.0.1:0"}, Sockets: 1, ReceiveBuffer: 1 << 20}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	h := &pendingHandler{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ln.Run(ctx, func(int) Handler { return h }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	c, err := net.Dial("udp", ln.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 60
	start := time.Now()
	for i := 0; i < n; i++ { // one at a time: each read finds the socket empty after it
		c.Write([]byte("datagram"))
		time.Sleep(time.Millisecond)
	}
	last := time.Now()
	deadline := last.Add(2 * time.Second)
	for {
		h.mu.Lock()
		pending, flushes, flushed := h.pending, h.flushes, h.flushed
		h.mu.Unlock()
		if pending == 0 && flushed.After(last) {
			// One flush per flushAfter of sending, give or take a slow machine.
			if most := int(last.Sub(start)/flushAfter) + 2; flushes > most {
				t.Errorf("%d flushes for %d datagrams in %v, want at most %d", flushes, n, last.Sub(start), most)
			}
			if d := flushed.Sub(last); d > flushAfter+time.Second {
				t.Errorf("last datagrams flushed %v after the last was sent", d)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d datagrams not flushed 2 s after the last was sent (%d flushes)", pending, flushes)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
