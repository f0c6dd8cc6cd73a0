//go:build e2e

package e2e

// TestMain, and the helper modes of the test binary. The binary re-runs itself inside a VM's
// network namespace (`ip netns exec NS <test binary>` with FLOWLENS_E2E_HELPER set):
//
//	raw   send raw Ethernet frames from eth0 (ARP requests, IPv6 neighbour solicitations, or
//	      frames of an unassigned ethertype): ARP/ND volume that ping alone cannot produce
//	sink  a minimal sFlow "collector" that only reads datagram headers, writes one NDJSON
//	      line per datagram and logs "agent summary" like flowlens. Used instead of flowlens
//	      with FLOWLENS_E2E_COLLECTOR=sink to debug the lab itself (is OVS exporting at all?).
//	get   an HTTP GET of FLOWLENS_E2E_URL from inside a namespace (the collector's API in
//	      the two-hypervisor lab); the body on stdout, exit 0 for 200, 3 for 404, else 1.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	helperEnv    = "FLOWLENS_E2E_HELPER"
	collectorEnv = "FLOWLENS_E2E_COLLECTOR"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
	case "raw":
		os.Exit(helperRaw())
	case "sink":
		os.Exit(helperSink(os.Args[1:]))
	case "get":
		os.Exit(helperGet(os.Getenv("FLOWLENS_E2E_URL")))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
	// ^C / kill: tear the lab down before exiting (t.Cleanup does not run then).
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "e2e: got %v, tearing the lab down\n", s)
		if l := activeLedger.Load(); l != nil {
			l.teardown(func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) })
			fmt.Fprintf(os.Stderr, "e2e: lab removed; work dir kept: %s\n", l.dir)
		}
		os.Exit(1)
	}()
	os.Exit(m.Run())
}

// --- raw frames ---------------------------------------------------------------------------

func helperRaw() int {
	// FLOWLENS_E2E_RAW=kind,count,srcIP,dstIP,dstMAC
	f := strings.Split(os.Getenv("FLOWLENS_E2E_RAW"), ",")
	if len(f) != 5 {
		fmt.Fprintln(os.Stderr, "FLOWLENS_E2E_RAW=kind,count,src,dst,dstmac")
		return 2
	}
	count, _ := strconv.Atoi(f[1])
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	dstMAC, err3 := net.ParseMAC(f[4])
	ifName := "eth0"
	if v := os.Getenv("FLOWLENS_E2E_RAW_IF"); v != "" {
		ifName = v // the "flush" frames are sent on a VM's host-side veth (netflow_test.go)
	}
	ifc, err4 := net.InterfaceByName(ifName)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	var frame []byte
	var etype uint16
	switch f[0] {
	case "arp":
		frame, etype = arpRequest(ifc.HardwareAddr, src, dst), 0x0806
	case "ns":
		frame, etype = neighborSolicit(ifc.HardwareAddr, src, dst), 0x86dd
	case "ether":
		frame, etype = etherFrame(ifc.HardwareAddr, dstMAC), rawEtherType
	case "flush":
		// full-size frames of the raw ethertype, sent back to back (see stopSoftflowd)
		frame, etype = append(etherFrame(ifc.HardwareAddr, dstMAC), make([]byte, 1500-46)...), rawEtherType
	default:
		fmt.Fprintln(os.Stderr, "unknown kind", f[0])
		return 2
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0) // send only: protocol 0 receives nothing
	if err != nil {
		fmt.Fprintln(os.Stderr, "AF_PACKET:", err)
		return 1
	}
	defer syscall.Close(fd)
	sa := &syscall.SockaddrLinklayer{Ifindex: ifc.Index, Protocol: htons(etype)}
	sent := 0
	for range count {
		if err := syscall.Sendto(fd, frame, 0, sa); err != nil {
			fmt.Fprintln(os.Stderr, "sendto:", err)
			break
		}
		sent++
		if f[0] == "flush" {
			continue
		}
		// ~4000 frames/s: spread out so OVS's AF_PACKET socket buffer never overflows.
		time.Sleep(250 * time.Microsecond)
	}
	fmt.Println(sent)
	return 0
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func ethHeader(dst, src net.HardwareAddr, etype uint16) []byte {
	b := make([]byte, 0, 128)
	b = append(b, dst...)
	b = append(b, src...)
	return binary.BigEndian.AppendUint16(b, etype)
}

func arpRequest(src net.HardwareAddr, spa, tpa netip.Addr) []byte {
	b := ethHeader(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, src, 0x0806)
	b = append(b, 0, 1, 8, 0, 6, 4, 0, 1) // Ethernet, IPv4, hlen 6, plen 4, request
	b = append(b, src...)
	b = append(b, spa.AsSlice()...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	return append(b, tpa.AsSlice()...)
}

// neighborSolicit builds a multicast NS for target from src (with source link-layer option).
func neighborSolicit(srcMAC net.HardwareAddr, src, target netip.Addr) []byte {
	t := target.As16()
	snm := netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
	dstMAC := net.HardwareAddr{0x33, 0x33, 0xff, t[13], t[14], t[15]}
	icmp := []byte{135, 0, 0, 0, 0, 0, 0, 0}
	icmp = append(icmp, t[:]...)
	icmp = append(icmp, 1, 1)
	icmp = append(icmp, srcMAC...)
	s, d := src.As16(), snm.As16()
	// checksum over the IPv6 pseudo-header + ICMPv6 message
	ps := append(append(append([]byte{}, s[:]...), d[:]...), 0, 0, 0, byte(len(icmp)), 0, 0, 0, 58)
	binary.BigEndian.PutUint16(icmp[2:], checksum(append(ps, icmp...)))
	b := ethHeader(dstMAC, srcMAC, 0x86dd)
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(icmp)))
	b = append(b, 58, 255) // next header ICMPv6, hop limit 255 (required for ND)
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	return append(b, icmp...)
}

func etherFrame(src, dst net.HardwareAddr) []byte {
	b := ethHeader(dst, src, rawEtherType)
	p := make([]byte, 46)
	copy(p, "flowlens e2e raw frame")
	return append(b, p...)
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// --- get: one HTTP request ---------------------------------------------------------------

func helperGet(url string) int {
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(os.Stdout, resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return 0
	case http.StatusNotFound:
		return 3
	}
	fmt.Fprintln(os.Stderr, "HTTP", resp.Status)
	return 1
}

// --- sink: sFlow datagram headers only ----------------------------------------------------

func helperSink(args []string) int {
	var listen, outPath string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--input.sflow.listen="); ok {
			listen = v
		}
		if v, ok := strings.CutPrefix(a, "--output.ndjson.path="); ok {
			outPath = v
		}
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	addr, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		log.Error("listen address", "err", err)
		return 2
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}
	out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		log.Error("output", "err", err)
		return 1
	}
	enc := json.NewEncoder(out)
	log.Info("listening", "addr", listen)
	type key struct {
		agent string
		sub   uint32
	}
	type stat struct{ datagrams, samples, lost, next uint64 }
	stats := map[key]*stat{}
	var order []key
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	buf := make([]byte, 65536)
	for {
		select {
		case <-stop:
			for _, k := range order {
				s := stats[k]
				log.Info("agent summary", "agent", k.agent, "sub_agent", k.sub, "datagrams", s.datagrams,
					"samples", s.samples, "lost", s.lost, "decode_errors", 0)
			}
			out.Close()
			return 0
		default:
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		d := buf[:n]
		if len(d) < 28 || binary.BigEndian.Uint32(d) != 5 {
			continue
		}
		var agent netip.Addr
		off := 8
		switch binary.BigEndian.Uint32(d[4:]) {
		case 1:
			agent = netip.AddrFrom4([4]byte(d[8:12]))
			off = 12
		case 2:
			if len(d) < 40 {
				continue
			}
			agent = netip.AddrFrom16([16]byte(d[8:24]))
			off = 24
		}
		sub := binary.BigEndian.Uint32(d[off:])
		seq := uint64(binary.BigEndian.Uint32(d[off+4:]))
		nsamp := uint64(binary.BigEndian.Uint32(d[off+12:]))
		k := key{agent.String(), sub}
		s := stats[k]
		if s == nil {
			s = &stat{next: seq}
			stats[k] = s
			order = append(order, k)
		}
		if seq > s.next {
			s.lost += seq - s.next
		}
		s.next = seq + 1
		s.datagrams++
		s.samples += nsamp
		_ = enc.Encode(map[string]any{
			"@timestamp": time.Now().UTC().Format(time.RFC3339Nano),
			"event":      map[string]any{"dataset": "flowlens.datagram"},
			"observer":   map[string]any{"ip": k.agent},
			"flowlens": map[string]any{
				"agent": map[string]any{"sub_id": sub},
				"sflow": map[string]any{"sequence": seq, "samples": nsamp},
			},
		})
	}
}
