package decode_test

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/input/udp"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// One source floods malformed datagrams, fifty for each real one another
// agent sends, on the same socket; a source outside allowed_sources sends
// too. The real agent loses nothing and every datagram of the others is
// accounted for: refused before decoding (over the per-source rate, or not
// allowed) or decoded and counted as an error against its sender.
func TestMalformedFloodDoesNotHurtOtherAgents(t *testing.T) {
	out := &memOutput{}
	p := pipeline.New(pipeline.Config{}, quiet(), out)
	const limit = 1000
	ln, err := udp.Listen(udp.Config{Listen: []string{"127.0.0.1:0"}, Sockets: 1, ReceiveBuffer: 16 << 20,
		AllowedSources: []string{"127.0.0.1", "127.0.0.2/32"}, MaxDatagramsPerSource: limit}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ln.Run(ctx, sockets(decode.New(decode.Config{}, p), decode.SFlow)) }()
	dst := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ln.Addrs()[0]))
	dial := func(src string) *net.UDPConn {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(src), 0)), dst)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	good, flood, stranger := dial("127.0.0.1"), dial("127.0.0.2"), dial("127.0.0.3")

	ds := sflowCapture(t)
	rng := rand.New(rand.NewPCG(1, 2))
	junk := make([]byte, 1400)
	var flooded, strangers int
	start := time.Now()
	for i, d := range ds {
		if _, err := good.Write(d.Payload); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 50; j++ {
			// Random bytes, or a real datagram cut short or with one byte
			// changed: what broken or hostile exporters send. The copies
			// carry the flooder's own agent address: a datagram that
			// claims another agent's identity is that agent's (sFlow
			// names its sender in the header).
			var b []byte
			switch j % 3 {
			case 0:
				n := rng.IntN(len(junk))
				for k := range junk[:n] {
					junk[k] = byte(rng.Uint32())
				}
				b = junk[:n]
			case 1:
				b = append(junk[:0], ds[rng.IntN(len(ds))].Payload...)
				b = b[:rng.IntN(len(b))]
			default:
				b = append(junk[:0], ds[rng.IntN(len(ds))].Payload...)
				b[12+rng.IntN(len(b)-12)] ^= 0xff
			}
			if len(b) >= 12 {
				copy(b[8:12], []byte{10, 99, 99, 99}) // IPv4 agent address
			}
			if _, err := flood.Write(b); err != nil {
				t.Fatal(err)
			}
			flooded++
		}
		if i%10 == 0 {
			stranger.Write(ds[0].Payload)
			strangers++
		}
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	// Wait until every datagram sent was read (or dropped by the kernel).
	deadline := time.Now().Add(5 * time.Second)
	total := len(ds) + flooded + strangers
	var st udp.SocketStats
	for {
		st = ln.Stats()[0]
		if int(st.Datagrams+st.KernelDrops) >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d real datagrams, %d malformed (%.0f/s), %d from a stranger in %v: socket read %d, kernel dropped %d, denied %d, rate-limited %d",
		len(ds), flooded, float64(flooded)/elapsed.Seconds(), strangers, elapsed.Round(time.Millisecond), st.Datagrams, st.KernelDrops, st.Denied, st.RateLimited)
	if st.KernelDrops != 0 {
		t.Fatalf("the kernel dropped %d datagrams: the flood was not read fast enough", st.KernelDrops)
	}

	flooder := map[netip.Addr]bool{netip.MustParseAddr("10.99.99.99"): true, netip.MustParseAddr("127.0.0.2"): true}
	var goodSeen, goodLost, goodErrors, floodDecoded uint64
	for _, a := range p.Agents.All() {
		switch {
		case a.Agent == netip.MustParseAddr("127.0.0.3"):
			t.Errorf("a source outside allowed_sources reached the decoder: %+v", a)
		case flooder[a.Agent]:
			floodDecoded += a.Datagrams
		default:
			goodSeen += a.Datagrams
			goodLost += a.Lost
			goodErrors += a.ErrorCount()
		}
	}
	if int(st.Denied) != strangers {
		t.Errorf("denied %d datagrams, want the stranger's %d", st.Denied, strangers)
	}
	if st.RateLimited == 0 || st.RateLimited > uint64(flooded) {
		t.Errorf("rate-limited %d of %d flooded datagrams", st.RateLimited, flooded)
	}
	// At most limit per second (plus the first second's burst) got through.
	if max := uint64(float64(limit)*elapsed.Seconds()) + 2*limit; uint64(flooded)-st.RateLimited > max {
		t.Errorf("%d flooded datagrams got past a limit of %d/s in %v", uint64(flooded)-st.RateLimited, limit, elapsed)
	}
	if floodDecoded+st.RateLimited != uint64(flooded) {
		t.Errorf("flood: %d decoded (and counted against the flooder) + %d rate-limited != %d sent", floodDecoded, st.RateLimited, flooded)
	}
	if goodLost != 0 || goodErrors != 0 || int(goodSeen) != len(ds) {
		t.Errorf("the real agent: %d datagrams seen of %d, %d lost, %d errors", goodSeen, len(ds), goodLost, goodErrors)
	}
	if len(out.flows) == 0 {
		t.Error("no flow records from the real agent")
	}
}
