package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/replay"
)

func cmdReplay(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("flowlens replay", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: flowlens replay [options] FILE.pcap\n\nSends the UDP datagrams of a capture to a collector, for benchmarks and load\ntests. Only loopback destinations are allowed.\n\nOptions:")
		fs.PrintDefaults()
	}
	to := fs.String("to", "127.0.0.1:6343", "destination address:port (loopback only)")
	port := fs.Int("port", 6343, "only datagrams sent to this UDP port in the capture (0: all)")
	rate := fs.Float64("rate", 0, "datagrams per second (0: as fast as possible)")
	loops := fs.Int("loops", 1, "times to send the capture (-1: until --duration or Ctrl-C)")
	duration := fs.Duration("duration", 0, "stop after this long (0: no limit)")
	sockets := fs.Int("sockets", 1, "sending sockets")
	keepTiming := fs.Bool("keep-timing", false, "follow the capture's own timing (with --speed)")
	speed := fs.Float64("speed", 1, "with --keep-timing: how many times faster than captured")
	renumber := fs.Bool("renumber", true, "rewrite sFlow sequence numbers on each loop so loops look like one continuous stream, not loss")
	split := fs.Bool("split", true, "with --sockets > 1 and --renumber: each socket sends as an sFlow sub-agent of its own (sub-agent id + 1000 × socket) with its own sequence numbers, so that the collector sees in-order streams instead of one agent's stream reordered across sockets")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	dst, err := netip.ParseAddrPort(*to)
	if err != nil {
		return fmt.Errorf("--to %q: %w", *to, err)
	}
	ds, err := pcapfile.ReadAll(fs.Arg(0), func(d pcapfile.Datagram) bool {
		return *port == 0 || int(d.Dst.Port()) == *port
	})
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return fmt.Errorf("%s: no UDP datagrams to port %d", fs.Arg(0), *port)
	}
	data, times := replay.Payloads(ds)
	opt := replay.Options{To: dst, Rate: *rate, Loops: *loops, Duration: *duration, Sockets: *sockets,
		KeepTiming: *keepTiming, Speed: *speed, Times: times}
	if *renumber {
		opt.Rewrite = sflowRenumber(data)
		if *split && *sockets > 1 {
			opt.SocketRewrite = sflowSplit
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := replay.Run(ctx, data, opt)
	secs := st.Elapsed.Seconds()
	if secs == 0 {
		secs = 1e-9
	}
	fmt.Fprintf(stdout, "sent %d datagrams (%d bytes) in %s: %.0f datagrams/s, %d send errors\n",
		st.Sent, st.Bytes, st.Elapsed.Round(time.Millisecond), float64(st.Sent)/secs, st.Errors)
	return err
}

// sflowRenumber returns a Rewrite that adds loop × (datagrams per agent and
// sub-agent in the capture) to each sFlow sequence number, so that a
// looped capture reads as one stream without gaps or resets.
func sflowRenumber(data [][]byte) func(loop int, d []byte) {
	type key struct {
		agent [16]byte
		sub   uint32
	}
	count := map[key]uint32{}
	for _, d := range data {
		if k, _, ok := sflowSeq(d); ok {
			count[key(k)]++
		}
	}
	return func(loop int, d []byte) {
		if loop == 0 {
			return
		}
		k, off, ok := sflowSeq(d)
		if !ok {
			return
		}
		seq := binary.BigEndian.Uint32(d[off:])
		binary.BigEndian.PutUint32(d[off:], seq+uint32(loop)*count[key(k)])
	}
}

// splitStride is what sflowSplit adds to the sub-agent id per socket.
const splitStride = 1000

// sflowSplit returns the Rewrite of one sending socket that makes it an
// exporter of its own: sub-agent id + splitStride × socket, and sequence
// numbers counted from 1 per (agent, sub-agent) over what this socket
// sends, so that every stream the collector sees is in order and without
// gaps, however the sockets interleave.
func sflowSplit(socket int) func(loop int, d []byte) {
	type key struct {
		agent [16]byte
		sub   uint32
	}
	next := map[key]uint32{}
	return func(_ int, d []byte) {
		k, off, ok := sflowSeq(d)
		if !ok {
			return
		}
		next[key(k)]++
		binary.BigEndian.PutUint32(d[off-4:], k.sub+uint32(socket)*splitStride)
		binary.BigEndian.PutUint32(d[off:], next[key(k)])
	}
}

// sflowSeq finds the agent, sub-agent and the offset of the sequence
// number in an sFlow v5 datagram.
func sflowSeq(d []byte) (k struct {
	agent [16]byte
	sub   uint32
}, off int, ok bool) {
	if len(d) < 8 || binary.BigEndian.Uint32(d) != 5 {
		return k, 0, false
	}
	alen := 4
	if binary.BigEndian.Uint32(d[4:]) == 2 {
		alen = 16
	}
	off = 8 + alen + 4
	if len(d) < off+4 {
		return k, 0, false
	}
	copy(k.agent[:], d[8:8+alen])
	k.sub = binary.BigEndian.Uint32(d[8+alen:])
	return k, off, true
}
