package pcapfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

const ovsDir = "../../../testdata/ovs"

func ovs(name string) string { return filepath.Join(ovsDir, name) }

func TestOVSCaptures(t *testing.T) {
	for _, tc := range []struct {
		file string
		port uint16
		n    int
	}{
		{"ovs-sflow.pcap", 6343, 144},
		{"ovs-ipfix.pcap", 4739, 1406},
		{"ovs-netflow.pcap", 2055, 6},
		{"ovs-sflow-vlan.pcap", 6343, 82},
		{"ovs-sflow-internal-port.pcap", 6343, 14},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r, err := Open(ovs(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			n := 0
			var prev time.Time
			for {
				d, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
				if d.Dst.Port() != tc.port || d.Dst.Addr() != netip.MustParseAddr("127.0.0.1") {
					t.Errorf("datagram %d: dst %v, want 127.0.0.1:%d", n, d.Dst, tc.port)
				}
				if d.Time.Before(prev) || d.Time.Year() < 2020 {
					t.Errorf("datagram %d: time %v after %v", n, d.Time, prev)
				}
				prev = d.Time
			}
			if n != tc.n {
				t.Errorf("got %d datagrams, want %d", n, tc.n)
			}
			if s := r.Skipped(); s.Total() != 0 {
				t.Errorf("skipped %v, want none", s)
			}
			// Further calls keep reporting the end.
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next after EOF: %v", err)
			}
		})
	}
}

func TestFirstSFlowDatagram(t *testing.T) {
	ds, err := ReadAll(ovs("ovs-sflow.pcap"), func(d Datagram) bool { return d.Dst.Port() == 6343 })
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 144 {
		t.Fatalf("got %d datagrams, want 144", len(ds))
	}
	d := ds[0]
	if len(d.Payload) != 404 {
		t.Errorf("first payload is %d bytes, want 404", len(d.Payload))
	}
	if d.Src != netip.MustParseAddrPort("127.0.0.1:49787") || d.Dst != netip.MustParseAddrPort("127.0.0.1:6343") {
		t.Errorf("first datagram %v -> %v", d.Src, d.Dst)
	}
	if want := time.Date(2026, 11, 26, 2, 50, 11, 558966000, time.UTC); !d.Time.Equal(want) {
		t.Errorf("first datagram at %v, want %v", d.Time, want)
	}
	// sFlow version 5, agent address type 1 (IPv4), agent 127.0.0.1.
	if want := []byte{0, 0, 0, 5, 0, 0, 0, 1, 127, 0, 0, 1}; !bytes.HasPrefix(d.Payload, want) {
		t.Errorf("payload starts % x", d.Payload[:12])
	}
	// ReadAll copies: payloads are distinct and survive the reader.
	if &ds[0].Payload[0] == &ds[1].Payload[0] || !bytes.HasPrefix(ds[1].Payload, []byte{0, 0, 0, 5}) {
		t.Error("ReadAll payloads alias each other")
	}
	none, err := ReadAll(ovs("ovs-sflow.pcap"), func(d Datagram) bool { return d.Dst.Port() == 2055 })
	if err != nil || len(none) != 0 {
		t.Errorf("filter: got %d, %v", len(none), err)
	}
}

// TestPcapng rewrites a real capture as pcapng, spread over two sections of
// opposite byte order, interfaces of different link types and timestamp
// resolutions, and all packet block kinds, then expects the same datagrams.
func TestPcapng(t *testing.T) {
	link, recs := readRawPcap(t, ovs("ovs-sflow.pcap"))
	if link != linkEthernet {
		t.Fatalf("link type %d", link)
	}
	want, err := ReadAll(ovs("ovs-sflow.pcap"), nil)
	if err != nil {
		t.Fatal(err)
	}
	const tsOffset = 1_700_000_000
	w := &ngWriter{}
	w.section(binary.LittleEndian)
	w.idb(linkEthernet, 262144)                                         // 0: µs by default
	w.idb(linkEthernet, 0, ngOpt{9, []byte{9}}, ngOpt{2, []byte("lo")}) // 1: ns
	w.nrb()
	half := len(recs) / 2
	for i, r := range recs[:half] {
		if i%2 == 0 {
			w.epb(0, uint64(r.sec)*1e6+uint64(r.frac), r.data)
		} else {
			w.epb(1, uint64(r.sec)*1e9+uint64(r.frac)*1e3, r.data, ngOpt{2, []byte{0, 0, 0, 1}})
		}
		if i == 3 {
			w.isb(0)
			w.custom()
		}
	}
	w.section(binary.BigEndian) // forgets the interfaces of the first section
	w.idb(linkRaw, 0, ngOpt{9, []byte{9}}, ngOpt{14, binary.BigEndian.AppendUint64(nil, tsOffset)})
	w.idb(linkSLL2, 0, ngOpt{9, []byte{0x80 | 20}}) // 2^-20 s
	rest := recs[half:]
	for i, r := range rest[:len(rest)-1] {
		ip := r.data[14:]
		if i%2 == 0 {
			w.epb(0, (uint64(r.sec)-tsOffset)*1e9+uint64(r.frac)*1e3, ip)
		} else {
			sll2 := make([]byte, 20, 20+len(ip))
			binary.BigEndian.PutUint16(sll2, etherIPv4)
			binary.BigEndian.PutUint16(sll2[8:], 772) // ARPHRD_LOOPBACK
			w.epb(1, uint64(r.sec)<<20+uint64(r.frac)<<20/1e6, append(sll2, ip...))
		}
	}
	w.spb(rest[len(rest)-1].data[14:]) // simple packet blocks use interface 0: raw IP

	r, err := NewReader(bytes.NewReader(w.b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for i, wd := range want {
		d, err := r.Next()
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if d.Src != wd.Src || d.Dst != wd.Dst || !bytes.Equal(d.Payload, wd.Payload) {
			t.Fatalf("datagram %d: %v -> %v %d bytes, want %v -> %v %d bytes", i, d.Src, d.Dst, len(d.Payload), wd.Src, wd.Dst, len(wd.Payload))
		}
		wantTime := wd.Time
		tolerance := time.Duration(0)
		switch {
		case i == len(want)-1:
			wantTime = time.Time{} // simple packet blocks carry no time
		case i >= half && (i-half)%2 == 1:
			tolerance = time.Microsecond // 2^-20 s units round µs down
		}
		if diff := wantTime.Sub(d.Time); diff < 0 || diff > tolerance {
			t.Errorf("datagram %d: time %v, want %v", i, d.Time, wantTime)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last datagram: %v", err)
	}
	if s := r.Skipped(); s.Total() != 0 {
		t.Errorf("skipped %v", s)
	}
}

// Synthetic packets.

func ipv4UDP(src, dst string, sport, dport uint16, payload []byte, options int) []byte {
	ihl := 20 + options
	b := make([]byte, ihl+8+len(payload))
	b[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[6:], 0x4000) // DF
	b[8] = 64
	b[9] = 17
	copy(b[12:], netip.MustParseAddr(src).AsSlice())
	copy(b[16:], netip.MustParseAddr(dst).AsSlice())
	for i := 20; i < ihl; i++ {
		b[i] = 1 // NOP options
	}
	u := b[ihl:]
	binary.BigEndian.PutUint16(u, sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	return b
}

// ipv6UDP builds an IPv6 packet whose UDP header follows the given
// extension headers, each given as (type, total length in bytes).
func ipv6UDP(src, dst string, sport, dport uint16, payload []byte, ext ...[2]int) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	b[7] = 64
	copy(b[8:], netip.MustParseAddr(src).AsSlice())
	copy(b[24:], netip.MustParseAddr(dst).AsSlice())
	nextAt := 6
	for _, e := range ext {
		b[nextAt] = byte(e[0])
		h := make([]byte, e[1])
		switch e[0] {
		case 44: // fragment: fixed 8 bytes, offset 0 and M=0 (atomic)
		case 51:
			h[1] = byte(e[1]/4 - 2)
		default:
			h[1] = byte(e[1]/8 - 1)
		}
		nextAt = len(b)
		b = append(b, h...)
	}
	b[nextAt] = 17
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u, sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	b = append(b, append(u, payload...)...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	return b
}

func ether(et uint16, tags []uint16, ip []byte) []byte {
	b := make([]byte, 12, 14+4*len(tags)+len(ip))
	for _, tag := range tags {
		b = binary.BigEndian.AppendUint16(b, tag)
		b = binary.BigEndian.AppendUint16(b, 101) // VLAN id
	}
	b = binary.BigEndian.AppendUint16(b, et)
	return append(b, ip...)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestLinkTypes(t *testing.T) {
	payload := []byte("flow export payload")
	v4 := ipv4UDP("192.0.2.1", "127.0.0.1", 5000, 6343, payload, 0)
	v4opt := ipv4UDP("192.0.2.1", "127.0.0.1", 5000, 6343, payload, 8)
	v6 := ipv6UDP("2001:db8::1", "::1", 5000, 6343, payload)
	v6ext := ipv6UDP("2001:db8::1", "::1", 5000, 6343, payload, [2]int{0, 8}, [2]int{60, 16}, [2]int{43, 24}, [2]int{51, 12}, [2]int{44, 8})
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	sll := func(et uint16, ip []byte) []byte {
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], et)
		return append(h, ip...)
	}
	sll2 := func(et uint16, ip []byte) []byte {
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h, et)
		binary.BigEndian.PutUint32(h[4:], 3) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
		return append(h, ip...)
	}
	for _, tc := range []struct {
		name string
		link uint32
		pkt  []byte
		v6   bool
	}{
		{"ethernet", linkEthernet, ether(etherIPv4, nil, v4), false},
		{"ethernet padded", linkEthernet, append(ether(etherIPv4, nil, v4), make([]byte, 30)...), false},
		{"ethernet 802.1Q", linkEthernet, ether(etherIPv4, []uint16{etherVLAN}, v4), false},
		{"ethernet QinQ", linkEthernet, ether(etherIPv6, []uint16{etherQinQ, etherVLAN}, v6), true},
		{"ethernet ipv4 options", linkEthernet, ether(etherIPv4, nil, v4opt), false},
		{"ethernet ipv6 ext headers", linkEthernet, ether(etherIPv6, nil, v6ext), true},
		{"null le inet", linkNull, concat(le32(2), v4), false},
		{"null be inet6 darwin", linkNull, concat(be32(30), v6), true},
		{"null le inet6 freebsd", linkNull, concat(le32(28), v6), true},
		{"loop inet6", linkLoop, concat(be32(24), v6), true},
		{"12 as openbsd loop", linkLoopOBSD, concat(be32(2), v4), false},
		{"12 as raw", linkLoopOBSD, v4, false},
		{"raw v4", linkRaw, v4, false},
		{"raw v6", linkRaw, v6ext, true},
		{"ipv4", linkIPv4, v4opt, false},
		{"ipv6", linkIPv6, v6, true},
		{"sll", linkSLL, sll(etherIPv4, v4), false},
		{"sll vlan", linkSLL, sll(etherVLAN, concat([]byte{0, 101, 0x86, 0xdd}, v6)), true},
		{"sll2", linkSLL2, sll2(etherIPv6, v6ext), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := pcapBytes(binary.LittleEndian, pcapMagicMicro, tc.link, 65535, []rawRecord{{sec: 1, frac: 2, data: tc.pkt}})
			r, err := NewReader(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			d, err := r.Next()
			if err != nil {
				t.Fatalf("%v (skipped %v)", err, r.Skipped())
			}
			src, dst := "192.0.2.1:5000", "127.0.0.1:6343"
			if tc.v6 {
				src, dst = "[2001:db8::1]:5000", "[::1]:6343"
			}
			if d.Src.String() != src || d.Dst.String() != dst || !bytes.Equal(d.Payload, payload) {
				t.Errorf("got %v -> %v %q", d.Src, d.Dst, d.Payload)
			}
			if want := time.Unix(1, 2000).UTC(); !d.Time.Equal(want) {
				t.Errorf("time %v, want %v", d.Time, want)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("second Next: %v", err)
			}
		})
	}
}

func TestPcapVariants(t *testing.T) {
	pkt := ether(etherIPv4, nil, ipv4UDP("10.0.0.1", "10.0.0.2", 1, 2, []byte("x"), 0))
	for _, tc := range []struct {
		name  string
		order binary.ByteOrder
		magic uint32
		want  time.Time
	}{
		{"le micro", binary.LittleEndian, pcapMagicMicro, time.Unix(100, 5000)},
		{"be micro", binary.BigEndian, pcapMagicMicro, time.Unix(100, 5000)},
		{"le nano", binary.LittleEndian, pcapMagicNano, time.Unix(100, 5)},
		{"be nano", binary.BigEndian, pcapMagicNano, time.Unix(100, 5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The FCS bits above the link type must be ignored.
			file := pcapBytes(tc.order, tc.magic, 1|0x1<<29|0x4<<26, 65535, []rawRecord{{sec: 100, frac: 5, data: pkt}})
			r, err := NewReader(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			d, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !d.Time.Equal(tc.want) || string(d.Payload) != "x" {
				t.Errorf("got %v %q", d.Time, d.Payload)
			}
		})
	}
}

// Kuznetzov's patched libpcap adds ifindex, protocol and packet type to each
// record header.
func TestPcapKuznetzov(t *testing.T) {
	pkt := ether(etherIPv4, nil, ipv4UDP("10.0.0.1", "10.0.0.2", 1, 2, []byte("kuz"), 0))
	std := pcapBytes(binary.LittleEndian, pcapMagicKuz, linkEthernet, 65535, []rawRecord{{sec: 7, data: pkt}, {sec: 8, data: pkt}})
	var file []byte
	file = append(file, std[:24]...)
	for off := 24; off < len(std); off += 16 + len(pkt) {
		file = append(file, std[off:off+16]...)
		file = append(file, 2, 0, 0, 0, 0x08, 0, 0, 0) // ifindex, protocol, type, pad
		file = append(file, std[off+16:off+16+len(pkt)]...)
	}
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []int64{7, 8} {
		d, err := r.Next()
		if err != nil || string(d.Payload) != "kuz" || d.Time.Unix() != sec {
			t.Fatalf("got %q at %v, %v", d.Payload, d.Time, err)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}

func TestSkips(t *testing.T) {
	payload := []byte("0123456789")
	v4 := ipv4UDP("10.0.0.1", "10.0.0.2", 1, 2, payload, 0)
	frag := func(flags uint16) []byte {
		b := bytes.Clone(v4)
		binary.BigEndian.PutUint16(b[6:], flags)
		return ether(etherIPv4, nil, b)
	}
	tcp := bytes.Clone(v4)
	tcp[9] = 6
	shortUDP := bytes.Clone(v4)
	binary.BigEndian.PutUint16(shortUDP[20+4:], 4)
	longUDP := bytes.Clone(v4)
	binary.BigEndian.PutUint16(longUDP[20+4:], 200)
	badIHL := bytes.Clone(v4)
	badIHL[0] = 0x43
	v6frag := ipv6UDP("2001:db8::1", "::1", 1, 2, payload, [2]int{44, 8})
	binary.BigEndian.PutUint16(v6frag[42:], 8<<3) // offset 8
	v6esp := ipv6UDP("2001:db8::1", "::1", 1, 2, payload)
	v6esp[6] = 50
	full := ether(etherIPv4, nil, v4)

	recs := []rawRecord{
		{data: full}, // ok
		{data: ether(0x0806, nil, make([]byte, 28))},           // ARP
		{data: ether(etherIPv4, nil, tcp)},                     // TCP
		{data: frag(0x2000)},                                   // first fragment (MF)
		{data: frag(0x0010)},                                   // later fragment
		{data: ether(etherIPv6, nil, v6frag)},                  // IPv6 later fragment
		{data: ether(etherIPv6, nil, v6esp)},                   // ESP
		{data: full[:len(full)-3], origLen: uint32(len(full))}, // snaplen cut the payload
		{data: full[:20]},                                      // cut inside the IP header
		{data: ether(etherIPv4, nil, shortUDP)},                // UDP length < 8
		{data: ether(etherIPv4, nil, longUDP)},                 // UDP length beyond the IP packet
		{data: ether(etherIPv4, nil, badIHL)},                  // IHL 3
		{data: ether(etherIPv4, []uint16{etherVLAN, etherVLAN, etherVLAN, etherVLAN, etherVLAN, etherVLAN, etherVLAN, etherVLAN, etherVLAN}, v4)}, // too many tags
		{data: full}, // ok
	}
	r, err := NewReader(bytes.NewReader(pcapBytes(binary.LittleEndian, pcapMagicMicro, linkEthernet, 65535, recs)))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		d, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.Payload, payload) {
			t.Errorf("payload %q", d.Payload)
		}
		n++
	}
	want := Skips{NotUDP: 4, Fragment: 3, Truncated: 3, Malformed: 2}
	if n != 2 || r.Skipped() != want {
		t.Errorf("got %d datagrams, skips %+v; want 2, %+v", n, r.Skipped(), want)
	}
	if s := want.String(); s != "not_udp=4 fragment=3 truncated=3 malformed=2" {
		t.Errorf("String: %q", s)
	}

	// A link type we do not decode: every packet is counted, none returned.
	r, err = NewReader(bytes.NewReader(pcapBytes(binary.LittleEndian, pcapMagicMicro, 147, 65535, recs[:3])))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatal(err)
	}
	if s := r.Skipped(); s != (Skips{UnsupportedLink: 3}) {
		t.Errorf("skips %+v", s)
	}
}

func TestDamagedFiles(t *testing.T) {
	good := pcapBytes(binary.LittleEndian, pcapMagicMicro, linkEthernet, 65535, []rawRecord{
		{data: ether(etherIPv4, nil, ipv4UDP("10.0.0.1", "10.0.0.2", 1, 2, []byte("a"), 0))},
		{data: ether(etherIPv4, nil, ipv4UDP("10.0.0.1", "10.0.0.2", 1, 2, []byte("b"), 0))},
	})
	hugeRecord := bytes.Clone(good[:24+16])
	binary.LittleEndian.PutUint32(hugeRecord[24+8:], 0xffffffff)

	ngHeader := func(order byteOrder) *ngWriter {
		w := &ngWriter{}
		w.section(order)
		w.idb(linkEthernet, 0)
		return w
	}
	w := ngHeader(binary.LittleEndian)
	w.b.Write([]byte{6, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0}) // 256 MiB block
	ngHuge := w.b.Bytes()
	w = ngHeader(binary.BigEndian)
	w.b.Write([]byte{0, 0, 0, 6, 0, 0, 0, 13})
	ngOdd := w.b.Bytes()
	w = ngHeader(binary.LittleEndian)
	w.epb(3, 0, []byte{1, 2, 3})
	ngNoIface := w.b.Bytes()
	w = ngHeader(binary.LittleEndian)
	w.epb(0, 0, make([]byte, 40))
	ngOverrun := bytes.Clone(w.b.Bytes())
	binary.LittleEndian.PutUint32(ngOverrun[len(ngOverrun)-72+20:], 4000) // caplen past the block
	ngTrailer := bytes.Clone(w.b.Bytes())
	ngTrailer[len(ngTrailer)-4]++

	for _, tc := range []struct {
		name    string
		data    []byte
		good    int    // datagrams before the error
		openErr bool   // NewReader fails
		errText string // in the error
	}{
		{"empty", nil, 0, true, "empty"},
		{"short header", good[:10], 0, true, "unexpected EOF"},
		{"three bytes", good[:3], 0, true, "unexpected EOF"},
		{"bad magic", []byte("GIF89a not a capture at all"), 0, true, "not a pcap"},
		{"cut in record header", good[:24+len(good[24:])/2+8], 1, false, "unexpected EOF"},
		{"cut in record data", good[:len(good)-5], 1, false, "unexpected EOF"},
		{"huge record", hugeRecord, 0, false, "corrupt"},
		{"pcapng huge block", ngHuge, 0, false, "bad length"},
		{"pcapng odd block length", ngOdd, 0, false, "bad length"},
		{"pcapng undeclared interface", ngNoIface, 0, false, "undeclared interface"},
		{"pcapng caplen overrun", ngOverrun, 0, false, "overruns"},
		{"pcapng trailer mismatch", ngTrailer, 0, false, "trailing length"},
		{"pcapng cut", ngNoIface[:len(ngNoIface)-6], 0, false, "unexpected EOF"},
		{"pcapng bad byte order", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4}, 0, true, "byte-order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.data))
			if tc.openErr {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("NewReader error %v, want one containing %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				_, err = r.Next()
				if err != nil {
					break
				}
				n++
			}
			if n != tc.good || err == io.EOF || !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("%d datagrams then %v; want %d then an error containing %q", n, err, tc.good, tc.errText)
			}
			if strings.Contains(tc.errText, "EOF") && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%v is not io.ErrUnexpectedEOF", err)
			}
			if _, err2 := r.Next(); err2 != err {
				t.Errorf("error is not sticky: %v then %v", err, err2)
			}
		})
	}
}

// A length field that promises far more than the file holds must not make
// the reader allocate what it promises.
func TestLyingLengthAllocatesLittle(t *testing.T) {
	file := pcapBytes(binary.LittleEndian, pcapMagicMicro, linkEthernet, 65535, []rawRecord{{data: make([]byte, 200<<10)}})
	binary.LittleEndian.PutUint32(file[24+8:], 60<<20) // claims 60 MiB, holds 200 KiB
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v", err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("allocated %d bytes for a 200 KiB record", got)
	}
}

func TestTimestampUnits(t *testing.T) {
	for _, tc := range []struct {
		units, stamp uint64
		want         time.Time
	}{
		{1e6, 1_500_000, time.Unix(1, 500_000_000)},
		{1e9, 1_000_000_007, time.Unix(1, 7)},
		{1 << 20, 3<<20 + 1<<19, time.Unix(3, 500_000_000)},
		{1e19, 1e19 - 1, time.Unix(0, 999_999_999)},
		{1, 42, time.Unix(42, 0)},
	} {
		ifc := iface{units: tc.units}
		if got := ifc.time(tc.stamp); !got.Equal(tc.want) {
			t.Errorf("units %d stamp %d: %v, want %v", tc.units, tc.stamp, got, tc.want)
		}
	}
}

// Steady-state reading must not allocate per packet.
func TestNoAllocationPerPacket(t *testing.T) {
	file := readFile(t, ovs("ovs-ipfix.pcap"))
	r, err := NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(500, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet", allocs)
	}
}

func BenchmarkReader(b *testing.B) {
	file := readFile(b, ovs("ovs-ipfix.pcap"))
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(file))
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
