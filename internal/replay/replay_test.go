package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

// sink is a UDP listener on loopback that keeps what it receives.
type sink struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  [][]byte
	done chan struct{}
}

func listen(t *testing.T) *sink {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	s := &sink{conn: c, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, bytes.Clone(buf[:n]))
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-s.done })
	return s
}

func (s *sink) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// wait returns what was received once n datagrams are in, or after a while.
func (s *sink) wait(n int) [][]byte {
	deadline := time.Now().Add(3 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.got)
		s.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let extra datagrams, if any, arrive
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

func makeDatagrams(n, size int) [][]byte {
	ds := make([][]byte, n)
	for i := range ds {
		ds[i] = make([]byte, size)
		copy(ds[i][1:], fmt.Sprintf("datagram %04d", i))
	}
	return ds
}

// bothSenders runs a test with batched sends (sendmmsg, where there is one)
// and with one write per datagram.
func bothSenders(t *testing.T, test func(t *testing.T)) {
	saved := useSendmmsg
	defer func() { useSendmmsg = saved }()
	for _, batched := range []bool{true, false} {
		useSendmmsg = batched
		t.Run(fmt.Sprintf("sendmmsg=%v", batched), test)
	}
}

func TestLoopsAndRewrite(t *testing.T) { bothSenders(t, testLoopsAndRewrite) }

func TestSocketRewrite(t *testing.T) {
	s := listen(t)
	ds := makeDatagrams(10, 100)
	var mu sync.Mutex
	calls := map[int]int{}
	st, err := Run(context.Background(), ds, Options{
		To:      s.addr(),
		Loops:   2,
		Sockets: 2,
		Rewrite: func(int, []byte) { t.Error("Rewrite called although SocketRewrite is set") },
		SocketRewrite: func(socket int) func(int, []byte) {
			n := 0 // the socket's own state, unlocked
			return func(loop int, d []byte) {
				n++
				mu.Lock()
				calls[socket] = n
				mu.Unlock()
				d[0] = byte('a' + socket)
			}
		},
	})
	if err != nil || st.Sent != 20 {
		t.Fatalf("sent %d, %v", st.Sent, err)
	}
	if calls[0] != 10 || calls[1] != 10 {
		t.Errorf("calls per socket %v, want 10 each", calls)
	}
	per := map[byte]int{}
	for _, g := range s.wait(20) {
		per[g[0]]++
	}
	if per['a'] != 10 || per['b'] != 10 {
		t.Errorf("datagrams per socket mark %v", per)
	}
}

func testLoopsAndRewrite(t *testing.T) {
	s := listen(t)
	ds := makeDatagrams(10, 100)
	orig := make([][]byte, len(ds))
	for i, d := range ds {
		orig[i] = bytes.Clone(d)
	}
	var (
		mu    sync.Mutex
		calls int
	)
	st, err := Run(context.Background(), ds, Options{
		To:      s.addr(),
		Loops:   3,
		Sockets: 2,
		Rewrite: func(loop int, d []byte) {
			mu.Lock()
			calls++
			mu.Unlock()
			d[0] = byte('A' + loop)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent != 30 || st.Bytes != 3000 || st.Errors != 0 || st.Elapsed <= 0 {
		t.Errorf("stats %+v", st)
	}
	if calls != 30 {
		t.Errorf("Rewrite called %d times, want 30", calls)
	}
	for i := range ds {
		if !bytes.Equal(ds[i], orig[i]) {
			t.Fatalf("datagram %d was changed in place", i)
		}
	}
	seen := map[string]int{}
	for _, g := range s.wait(30) {
		seen[string(g[:14])]++
	}
	for loop := range 3 {
		for i := range ds {
			key := fmt.Sprintf("%cdatagram %04d", 'A'+loop, i)
			if seen[key] != 1 {
				t.Errorf("%q received %d times", key, seen[key])
			}
		}
	}
	if len(seen) != 30 {
		t.Errorf("received %d distinct datagrams, want 30", len(seen))
	}
}

func TestOnce(t *testing.T) {
	s := listen(t)
	ds := makeDatagrams(7, 50)
	for _, loops := range []int{0, 1} {
		st, err := Run(context.Background(), ds, Options{To: s.addr(), Loops: loops, Sockets: 16})
		if err != nil || st.Sent != 7 {
			t.Errorf("Loops %d: %+v, %v", loops, st, err)
		}
	}
	if got := len(s.wait(14)); got != 14 {
		t.Errorf("received %d, want 14", got)
	}
}

// A sanity check that pacing holds the rate, not a benchmark: the bounds are
// loose because the machine may be busy.
func TestRate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		rate    float64
		sockets int
	}{
		{"1000/s over 2 sockets", 2000, 1000, 2},
		{"40000/s", 20000, 40000, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := listen(t)
			ds := makeDatagrams(tc.n/10, 64)
			st, err := Run(context.Background(), ds, Options{To: s.addr(), Rate: tc.rate, Loops: 10, Sockets: tc.sockets})
			if err != nil {
				t.Fatal(err)
			}
			want := time.Duration(float64(tc.n) / tc.rate * float64(time.Second))
			if st.Sent != uint64(tc.n) || st.Elapsed < want*3/4 || st.Elapsed > want*3/2+time.Second {
				t.Errorf("sent %d in %v; want %d in about %v", st.Sent, st.Elapsed, tc.n, want)
			}
			if got := len(s.wait(tc.n)); got != tc.n {
				t.Errorf("received %d of %d", got, tc.n)
			}
		})
	}
}

// KeepTiming follows the capture's gaps: the real NetFlow capture spans 42 s,
// replayed 200 times faster.
func TestKeepTiming(t *testing.T) {
	caps, err := pcapfile.ReadAll("../../testdata/ovs/ovs-netflow.pcap", nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, times := Payloads(caps)
	span := times[len(times)-1].Sub(times[0])
	if len(ds) != 6 || span < 40*time.Second || span > 45*time.Second {
		t.Fatalf("capture: %d datagrams over %v", len(ds), span)
	}
	s := listen(t)
	st, err := Run(context.Background(), ds, Options{To: s.addr(), KeepTiming: true, Times: times, Speed: 200, Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Two loops of 42 s / 200 = 210 ms, plus one mean gap between them.
	if st.Sent != 12 || st.Elapsed < 400*time.Millisecond || st.Elapsed > 1500*time.Millisecond {
		t.Errorf("sent %d in %v, want 12 in about 460ms", st.Sent, st.Elapsed)
	}
	got := s.wait(12)
	if len(got) != 12 || !bytes.Equal(got[0], ds[0]) || !bytes.Equal(got[11], ds[5]) {
		t.Errorf("received %d datagrams, or not the captured ones", len(got))
	}
}

func TestCancelAndDuration(t *testing.T) {
	s := listen(t)
	ds := makeDatagrams(10, 32)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	st, err := Run(ctx, ds, Options{To: s.addr(), Rate: 2000, Loops: -1})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled replay returned %v", err)
	}
	if st.Elapsed > time.Second || st.Sent < 100 || st.Sent > 1000 {
		t.Errorf("cancelled after 200ms at 2000/s: %+v", st)
	}

	st, err = Run(context.Background(), ds, Options{To: s.addr(), Rate: 2000, Loops: -1, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Errorf("replay with a duration returned %v", err)
	}
	if st.Elapsed < 300*time.Millisecond || st.Elapsed > 1300*time.Millisecond || st.Sent < 300 || st.Sent > 1000 {
		t.Errorf("300ms at 2000/s: %+v", st)
	}

	// A context that is already done sends nothing.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	st, err = Run(ctx, ds, Options{To: s.addr()})
	if !errors.Is(err, context.Canceled) || st.Sent != 0 {
		t.Errorf("done context: %+v, %v", st, err)
	}
}

// Nobody listening: the kernel reports ECONNREFUSED on later sends; those
// count as errors and the replay goes on to the end.
func TestConnectionRefused(t *testing.T) { bothSenders(t, testConnectionRefused) }

func testConnectionRefused(t *testing.T) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	to := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	st, err := Run(context.Background(), makeDatagrams(50, 20), Options{To: to, Rate: 5000})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	if st.Sent+st.Errors != 50 || st.Errors == 0 {
		t.Errorf("stats %+v: want errors counted and 50 attempts", st)
	}
}

func TestRefusals(t *testing.T) {
	ds := makeDatagrams(3, 10)
	for _, tc := range []struct {
		name string
		opt  Options
		want string
	}{
		{"public v4", Options{To: netip.MustParseAddrPort("192.0.2.1:6343")}, "not a loopback"},
		{"private v4", Options{To: netip.MustParseAddrPort("10.1.2.3:6343")}, "not a loopback"},
		{"v6", Options{To: netip.MustParseAddrPort("[2001:db8::1]:6343")}, "not a loopback"},
		{"unspecified", Options{To: netip.MustParseAddrPort("0.0.0.0:6343")}, "not a loopback"},
		{"no destination", Options{}, "needs an address"},
		{"no port", Options{To: netip.MustParseAddrPort("127.0.0.1:0")}, "needs an address"},
		{"bad loops", Options{To: netip.MustParseAddrPort("127.0.0.1:9"), Loops: -2}, "loop count"},
		{"bad rate", Options{To: netip.MustParseAddrPort("127.0.0.1:9"), Rate: -1}, "rate"},
		{"timing and rate", Options{To: netip.MustParseAddrPort("127.0.0.1:9"), Rate: 10, KeepTiming: true, Times: make([]time.Time, 3)}, "exclude"},
		{"timing without times", Options{To: netip.MustParseAddrPort("127.0.0.1:9"), KeepTiming: true}, "needs a time"},
		{"sockets", Options{To: netip.MustParseAddrPort("127.0.0.1:9"), Sockets: -1}, "socket count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Run(context.Background(), ds, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			if st != (Stats{}) {
				t.Errorf("stats %+v after a refusal", st)
			}
		})
	}
	if _, err := Run(context.Background(), nil, Options{To: netip.MustParseAddrPort("127.0.0.1:9")}); err == nil {
		t.Error("no datagrams: no error")
	}
	// The IPv4-mapped form of a loopback address is loopback too.
	s := listen(t)
	mapped := netip.AddrPortFrom(netip.AddrFrom16(s.addr().Addr().As16()), s.addr().Port())
	if err := (&Options{To: mapped}).check(1); err != nil {
		t.Errorf("%v: %v", mapped, err)
	}
}

// BenchmarkRun measures the unpaced send rate to a loopback listener that
// drains its socket (datagrams it cannot keep up with are dropped by the
// kernel, not counted as errors).
func BenchmarkRun(b *testing.B) {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	go func() {
		buf := make([]byte, 65536)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	ds := makeDatagrams(100, 1000)
	b.SetBytes(1000)
	b.ResetTimer()
	st, err := Run(context.Background(), ds, Options{To: c.LocalAddr().(*net.UDPAddr).AddrPort(), Loops: b.N/len(ds) + 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Sent)/st.Elapsed.Seconds(), "datagrams/s")
}
