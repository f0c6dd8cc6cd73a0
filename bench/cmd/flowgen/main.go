// Command flowgen sends synthetic sFlow v5 to a collector on this machine
// with a chosen number of distinct 5-tuples per minute, at a fixed datagram
// rate: the load a busy cloud brings (many VMs, scans, short connections),
// which a looped capture with its handful of conversations does not.
//
// Every datagram holds -samples flow samples from one agent; sample i of
// the run uses key i mod -keys, so each minute the collector sees -keys
// distinct (source, destination, protocol, source port, destination port)
// tuples, each -samples × -rate × 60 / -keys times (at least once: the
// generator refuses more keys than samples per minute). A key maps to the
// tuple one to one: source 10.a.b.c (the key's low 24 bits), destination
// one of 64 servers in 10.200.0.0/24 on port 80, 443 or 53, source port
// from 1024. Sequence numbers run without gaps, so a collector's loss
// counter stays 0 unless datagrams are lost.
//
// -bad sends that fraction of the datagrams malformed (cut short, a wrong
// version, a sample length past the end, in turns) instead: a collector
// should count them by reason and lose none of the good ones. They come
// from agent 127.0.0.3, the good ones from 127.0.0.2.
//
// Loopback only: it refuses any other destination.
//
//	go run ./cmd/flowgen -to 127.0.0.1:6343 -rate 20000 -keys 100000 -duration 60s
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

func main() {
	to := flag.String("to", "127.0.0.1:6343", "collector address (loopback only)")
	rate := flag.Float64("rate", 10000, "datagrams per second")
	keys := flag.Int("keys", 10000, "distinct 5-tuples per minute")
	samples := flag.Int("samples", 5, "flow samples per datagram")
	duration := flag.Duration("duration", 60*time.Second, "how long to send")
	bad := flag.Float64("bad", 0, "fraction of datagrams sent malformed (e.g. 0.01)")
	samplingRate := flag.Uint("sampling-rate", 64, "sampling rate written in the samples")
	flag.Parse()

	dst, err := netip.ParseAddrPort(*to)
	if err != nil {
		fatal(err)
	}
	if !dst.Addr().Unmap().IsLoopback() {
		fatal(fmt.Errorf("refusing to send to %v: load tests stay on this machine's loopback", dst))
	}
	if *samples < 1 || *samples > 32 || *keys < 1 || *rate <= 0 {
		fatal(fmt.Errorf("need 1..32 samples, at least 1 key and a positive rate"))
	}
	perMinute := *rate * 60 * float64(*samples)
	if float64(*keys) > perMinute {
		fatal(fmt.Errorf("%d keys per minute need at least %d samples per minute; -rate %.0f × -samples %d gives %.0f",
			*keys, *keys, *rate, *samples, perMinute))
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		fatal(err)
	}
	_ = c.SetWriteBuffer(4 << 20)

	g := &gen{keys: uint32(*keys), samples: *samples, rate: uint32(*samplingRate)}
	var sent, malformed, errs uint64
	start := time.Now()
	period := time.Duration(float64(time.Second) / *rate)
	badEvery := uint64(0)
	if *bad > 0 {
		badEvery = uint64(1 / *bad)
	}
	buf := make([]byte, 0, 2048)
	for n := uint64(0); ; n++ {
		due := start.Add(time.Duration(n) * period)
		now := time.Now()
		if now.Sub(start) >= *duration {
			break
		}
		if wait := due.Sub(now); wait > 50*time.Microsecond {
			time.Sleep(wait)
		}
		if badEvery > 0 && n%badEvery == badEvery-1 {
			buf = g.malformed(buf[:0], malformed)
			malformed++
		} else {
			buf = g.datagram(buf[:0])
		}
		if _, err := c.Write(buf); err != nil {
			errs++
			continue
		}
		sent++
	}
	el := time.Since(start)
	fmt.Printf("sent %d datagrams (%d malformed, %d good with %d flow samples) in %s: %.0f datagrams/s, %d distinct 5-tuples per minute, %d send errors\n",
		sent, malformed, sent-malformed, (sent-malformed)*uint64(*samples), el.Round(time.Millisecond), float64(sent)/el.Seconds(), *keys, errs)
}

type gen struct {
	keys    uint32
	samples int
	rate    uint32
	seq     uint32 // datagram sequence
	sample  uint64 // samples sent, across datagrams
	pool    uint32
}

var be = binary.BigEndian

// datagram appends one sFlow v5 datagram of g.samples flow samples.
func (g *gen) datagram(b []byte) []byte {
	g.seq++
	b = be.AppendUint32(b, 5)                 // version
	b = be.AppendUint32(b, 1)                 // agent address: IPv4
	b = append(b, 127, 0, 0, 2)               // agent
	b = be.AppendUint32(b, 0)                 // sub-agent
	b = be.AppendUint32(b, g.seq)             // sequence
	b = be.AppendUint32(b, uint32(g.seq))     // uptime, ms
	b = be.AppendUint32(b, uint32(g.samples)) // samples
	for range g.samples {
		k := uint32(g.sample % uint64(g.keys))
		g.sample++
		g.pool += g.rate
		hdr := header(k)
		rec := 16 + (len(hdr)+3)&^3 // raw packet header record body
		body := 32 + 8 + rec        // flow sample body
		b = be.AppendUint32(b, 1)   // flow sample
		b = be.AppendUint32(b, uint32(body))
		b = be.AppendUint32(b, uint32(g.sample)) // sample sequence
		b = be.AppendUint32(b, 2<<24|1000)       // source: entity 1000 (a bridge, as Open vSwitch)
		b = be.AppendUint32(b, g.rate)
		b = be.AppendUint32(b, g.pool)
		b = be.AppendUint32(b, 0)                      // drops
		b = be.AppendUint32(b, 1+k%64)                 // input ifIndex
		b = be.AppendUint32(b, 100+k%64/8)             // output ifIndex
		b = be.AppendUint32(b, 1)                      // records
		b = be.AppendUint32(b, 1)                      // raw packet header
		b = be.AppendUint32(b, uint32(rec))            // its length
		b = be.AppendUint32(b, 1)                      // Ethernet
		b = be.AppendUint32(b, uint32(len(hdr)+4+400)) // frame length with FCS
		b = be.AppendUint32(b, 4)                      // stripped: the FCS
		b = be.AppendUint32(b, uint32(len(hdr)))
		b = append(b, hdr...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return b
}

// header is the sampled Ethernet + IPv4 + TCP/UDP header of key k.
func header(k uint32) []byte {
	var h [54]byte
	copy(h[0:6], []byte{0x02, 0, 0, 0, 0, byte(k % 64)})                                // destination MAC: a server port
	copy(h[6:12], []byte{0x02, 1, byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}) // source MAC: one per source
	be.PutUint16(h[12:], 0x0800)
	ip := h[14:34]
	proto := byte(6)
	dport := uint16(80)
	switch k % 3 {
	case 1:
		dport = 443
	case 2:
		proto, dport = 17, 53
	}
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	copy(ip[12:16], []byte{10, byte(k >> 16), byte(k >> 8), byte(k)})
	copy(ip[16:20], []byte{10, 200, 0, byte(1 + k%64)})
	l4 := h[34:]
	sport := uint16(1024 + k%50000)
	be.PutUint16(l4[0:], sport)
	be.PutUint16(l4[2:], dport)
	if proto == 17 {
		be.PutUint16(ip[2:], 20+8+400)
		be.PutUint16(l4[4:], 8+400)
		return h[:14+20+8]
	}
	be.PutUint16(ip[2:], 20+20+400)
	l4[12], l4[13] = 5<<4, 0x18 // header length, PSH+ACK
	be.PutUint16(l4[14:], 65535)
	return h[:]
}

// malformed appends a bad datagram, one kind after the other.
func (g *gen) malformed(b []byte, n uint64) []byte {
	good := g.datagram(nil)
	// From an agent of its own (127.0.0.3), so that the good agent's
	// sequence has neither a gap nor a repeat.
	g.seq--
	good[11] = 3
	switch n % 3 {
	case 0: // cut short inside the first sample
		return append(b, good[:40]...)
	case 1: // an unknown version
		b = append(b, good...)
		be.PutUint32(b, 9)
		return b
	default: // a sample whose length runs past the end
		b = append(b, good...)
		be.PutUint32(b[32:], 1<<20)
		return b
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "flowgen:", err)
	os.Exit(1)
}
