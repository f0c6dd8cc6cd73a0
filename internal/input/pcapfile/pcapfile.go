// Package pcapfile reads UDP datagrams out of pcap and pcapng capture files.
//
// Flow exports are usually debugged and benchmarked from captures, so
// `flowlens decode`, the replay tool, tests and benchmarks all need the same
// thing: the UDP payloads, their endpoints and capture times, and nothing
// else. A full packet-dissection library would be a large dependency for that,
// so this package understands just enough of the capture formats and of the
// link, IP and UDP headers to find those payloads, and counts what it skips so
// that a capture yielding fewer datagrams than expected can be explained.
//
// The reader treats its input as untrusted: every length field is checked
// against the bytes that are really there, memory grows only as data actually
// arrives, and a damaged file ends in an error rather than a panic.
package pcapfile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"os"
	"time"
)

// Datagram is one UDP payload found in a capture.
type Datagram struct {
	Time time.Time // capture time in UTC; zero for pcapng simple packet blocks, which carry none
	Src  netip.AddrPort
	Dst  netip.AddrPort
	// Payload aliases the reader's buffer so that reading a large capture
	// costs no allocation per packet; it is valid until the next call to Next.
	// Copy it (or use ReadAll) to keep it.
	Payload []byte
}

// Skips counts the packets Next stepped over, by reason. A struct rather than
// a map keeps counting free of allocation and lets callers name the reasons.
type Skips struct {
	NotUDP          uint64 // not IP (ARP, LLDP, …) or IP carrying another protocol
	Fragment        uint64 // IPv4 or IPv6 fragment, first or later: no reassembly is done
	UnsupportedLink uint64 // link type this package does not decode
	Truncated       uint64 // the capture holds less than the headers or the UDP length need (snaplen)
	Malformed       uint64 // headers that contradict themselves (bad IHL, UDP length < 8, …)
}

// Total is the number of packets skipped for any reason.
func (s Skips) Total() uint64 {
	return s.NotUDP + s.Fragment + s.UnsupportedLink + s.Truncated + s.Malformed
}

// String lists the non-zero counts, for log lines and CLI summaries.
func (s Skips) String() string {
	var b bytes.Buffer
	add := func(name string, n uint64) {
		if n == 0 {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", name, n)
	}
	add("not_udp", s.NotUDP)
	add("fragment", s.Fragment)
	add("unsupported_link", s.UnsupportedLink)
	add("truncated", s.Truncated)
	add("malformed", s.Malformed)
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// Limits on what a file may ask us to hold. Real captures stay far below
// them; a length field above them means a corrupt or hostile file.
const (
	maxBlockLen  = 64 << 20 // pcapng block, or pcap record
	maxInterface = 1 << 16  // pcapng interface descriptions per section
	initialBuf   = 64 << 10 // covers a jumbo frame without growing
	growStep     = 64 << 10 // first step when growing past initialBuf
)

// Link types (www.tcpdump.org/linktypes.html).
const (
	linkNull     = 0
	linkEthernet = 1
	linkLoopOBSD = 12 // DLT_LOOP on OpenBSD, DLT_RAW elsewhere: told apart per packet
	linkRawOBSD  = 14 // DLT_RAW on OpenBSD
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
)

const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
	pcapMagicKuz   = 0xa1b2cd34 // Alexey Kuznetzov's patched libpcap: 8 more bytes per record header

	ngSHB        = 0x0a0d0d0a
	ngIDB        = 0x00000001
	ngPacketOld  = 0x00000002
	ngSPB        = 0x00000003
	ngEPB        = 0x00000006
	ngByteMagic  = 0x1a2b3c4d
	ngOptEnd     = 0
	ngOptTsresol = 9
	ngOptTsoff   = 14
)

type format int

const (
	formatPcap format = iota
	formatPcapng
)

// iface is what a pcapng interface description block tells about the packets
// that refer to it.
type iface struct {
	link     uint16
	snaplen  uint32
	units    uint64 // timestamp units per second
	offset   int64  // if_tsoffset, seconds
	badUnits bool   // if_tsresol we cannot represent: packets get a zero time
}

// Reader yields the UDP datagrams of one capture, in file order.
//
// A Reader is not safe for concurrent use. Errors are sticky: once Next has
// returned an error it returns the same error from then on.
type Reader struct {
	br     *bufio.Reader
	closer io.Closer
	buf    []byte
	skips  Skips
	err    error
	nrec   uint64 // records or blocks read, for error messages

	format format
	order  binary.ByteOrder

	// pcap
	link    uint16
	nano    bool
	extraHd int // bytes after the 16-byte record header (Kuznetzov format)

	// pcapng
	ifaces []iface
}

// NewReader detects the capture format from the first bytes of r. The Reader
// buffers r itself, so passing an *os.File directly is efficient.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{
		br:  bufio.NewReaderSize(r, 64<<10),
		buf: make([]byte, 0, initialBuf),
	}
	hdr, err := rd.br.Peek(4)
	if err != nil {
		if err == io.EOF && len(hdr) == 0 {
			return nil, errors.New("pcapfile: empty input")
		}
		return nil, fmt.Errorf("pcapfile: reading file header: %w", noEOF(err))
	}
	switch {
	case binary.BigEndian.Uint32(hdr) == ngSHB:
		rd.format = formatPcapng
		// The section header is parsed by the first call to nextNG, like any
		// later section, but read it now so that a broken file fails here.
		if err := rd.readSHB(); err != nil {
			return nil, err
		}
	default:
		if err := rd.readPcapHeader(); err != nil {
			return nil, err
		}
	}
	return rd, nil
}

// Open opens a capture file. The Reader owns the file: call Close when done.
// Returning only the Reader keeps callers from juggling two values whose
// lifetimes must match.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.closer = f
	return r, nil
}

// Close closes the file opened by Open; for a Reader made by NewReader it
// does nothing, since the caller owns that io.Reader.
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	c := r.closer
	r.closer = nil
	return c.Close()
}

// Skipped returns the packets skipped so far, by reason.
func (r *Reader) Skipped() Skips { return r.skips }

// Next returns the next UDP datagram. It returns io.EOF after the last one
// and another error if the file is damaged; datagrams returned before the
// error are good. Packets that are not complete UDP datagrams are skipped and
// counted in Skipped.
func (r *Reader) Next() (Datagram, error) {
	for r.err == nil {
		var (
			pkt  []byte
			link uint16
			ts   time.Time
			err  error
		)
		if r.format == formatPcap {
			pkt, ts, err = r.nextPcap()
			link = r.link
		} else {
			pkt, link, ts, err = r.nextNG()
		}
		if err != nil {
			r.err = err
			break
		}
		if pkt == nil {
			continue // a pcapng block that holds no packet
		}
		d, why := parseLink(link, pkt)
		if why == skipNone {
			d.Time = ts
			return d, nil
		}
		r.count(why)
	}
	return Datagram{}, r.err
}

func (r *Reader) count(why skipReason) {
	switch why {
	case skipNotUDP:
		r.skips.NotUDP++
	case skipFragment:
		r.skips.Fragment++
	case skipLink:
		r.skips.UnsupportedLink++
	case skipTruncated:
		r.skips.Truncated++
	case skipMalformed:
		r.skips.Malformed++
	}
}

// ReadAll reads every datagram of the capture at path for which filter
// returns true (all of them if filter is nil), copying each payload so that
// the result outlives the Reader. It is meant for tests and benchmarks that
// want a whole capture in memory. On a damaged file it returns the datagrams
// read before the damage together with the error.
func ReadAll(path string, filter func(Datagram) bool) ([]Datagram, error) {
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var (
		out   []Datagram
		arena []byte // one allocation for many payloads instead of one each
	)
	for {
		d, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
		if filter != nil && !filter(d) {
			continue
		}
		if cap(arena)-len(arena) < len(d.Payload) {
			arena = make([]byte, 0, max(256<<10, len(d.Payload)))
		}
		n := len(arena)
		arena = append(arena, d.Payload...)
		d.Payload = arena[n:len(arena):len(arena)]
		out = append(out, d)
	}
}

// noEOF turns an EOF in the middle of a structure into ErrUnexpectedEOF so
// that callers can tell a cut-off file from a clean end.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// read returns the next n bytes of the file in r.buf. When n exceeds the
// buffer it grows by doubling as data really arrives, so a length field that
// lies about a short file costs at most about twice the file's size.
func (r *Reader) read(n int) ([]byte, error) {
	if n <= cap(r.buf) {
		b := r.buf[:n]
		_, err := io.ReadFull(r.br, b)
		return b, err
	}
	b := r.buf[:0]
	for len(b) < n {
		step := min(n-len(b), max(len(b), growStep))
		if cap(b)-len(b) < step {
			nb := make([]byte, len(b), len(b)+step)
			copy(nb, b)
			b = nb
		}
		m, err := io.ReadFull(r.br, b[len(b):len(b)+step])
		b = b[:len(b)+m]
		if err != nil {
			r.buf = b[:0]
			if len(b) > 0 {
				err = noEOF(err)
			}
			return nil, err
		}
	}
	r.buf = b[:0]
	return b, nil
}

// ---- classic pcap ----

func (r *Reader) readPcapHeader() error {
	h, err := r.read(24)
	if err != nil {
		return fmt.Errorf("pcapfile: reading pcap header: %w", noEOF(err))
	}
	magicLE := binary.LittleEndian.Uint32(h)
	magicBE := binary.BigEndian.Uint32(h)
	var magic uint32
	switch {
	case magicLE == pcapMagicMicro || magicLE == pcapMagicNano || magicLE == pcapMagicKuz:
		r.order, magic = binary.LittleEndian, magicLE
	case magicBE == pcapMagicMicro || magicBE == pcapMagicNano || magicBE == pcapMagicKuz:
		r.order, magic = binary.BigEndian, magicBE
	default:
		return fmt.Errorf("pcapfile: not a pcap or pcapng file (magic %08x)", magicBE)
	}
	r.format = formatPcap
	r.nano = magic == pcapMagicNano
	if magic == pcapMagicKuz {
		r.extraHd = 8
	}
	// The link-type word also carries FCS-length bits above bit 15.
	r.link = uint16(r.order.Uint32(h[20:]))
	return nil
}

func (r *Reader) nextPcap() ([]byte, time.Time, error) {
	r.nrec++
	h, err := r.read(16 + r.extraHd)
	if err != nil {
		if err == io.EOF {
			return nil, time.Time{}, io.EOF
		}
		return nil, time.Time{}, fmt.Errorf("pcapfile: record %d header: %w", r.nrec, noEOF(err))
	}
	sec := r.order.Uint32(h[0:])
	frac := r.order.Uint32(h[4:])
	incl := r.order.Uint32(h[8:])
	if incl > maxBlockLen {
		return nil, time.Time{}, fmt.Errorf("pcapfile: record %d: captured length %d is over %d: corrupt file", r.nrec, incl, maxBlockLen)
	}
	pkt, err := r.read(int(incl))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("pcapfile: record %d: %w", r.nrec, noEOF(err))
	}
	ns := int64(frac)
	if !r.nano {
		ns *= 1000
	}
	return pkt, time.Unix(int64(sec), ns).UTC(), nil
}

// ---- pcapng ----

// readSHB reads a section header block. Each section may have its own byte
// order and starts with no interfaces.
func (r *Reader) readSHB() error {
	r.nrec++
	h, err := r.read(12)
	if err != nil {
		return fmt.Errorf("pcapfile: block %d: section header: %w", r.nrec, noEOF(err))
	}
	switch {
	case binary.LittleEndian.Uint32(h[8:]) == ngByteMagic:
		r.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h[8:]) == ngByteMagic:
		r.order = binary.BigEndian
	default:
		return fmt.Errorf("pcapfile: block %d: bad pcapng byte-order magic %x", r.nrec, h[8:12])
	}
	n := r.order.Uint32(h[4:])
	if n < 28 || n%4 != 0 || n > maxBlockLen {
		return fmt.Errorf("pcapfile: block %d: bad section header length %d", r.nrec, n)
	}
	body, err := r.read(int(n) - 12)
	if err != nil {
		return fmt.Errorf("pcapfile: block %d: section header: %w", r.nrec, noEOF(err))
	}
	if major := r.order.Uint16(body); major != 1 {
		return fmt.Errorf("pcapfile: block %d: pcapng version %d.%d not supported", r.nrec, major, r.order.Uint16(body[2:]))
	}
	if t := r.order.Uint32(body[len(body)-4:]); t != n {
		return fmt.Errorf("pcapfile: block %d: trailing length %d does not match %d", r.nrec, t, n)
	}
	r.ifaces = r.ifaces[:0]
	return nil
}

// nextNG reads one block. It returns a nil packet for blocks that carry none.
func (r *Reader) nextNG() (pkt []byte, link uint16, ts time.Time, err error) {
	hd, err := r.br.Peek(8)
	if err != nil {
		if err == io.EOF && len(hd) == 0 {
			return nil, 0, ts, io.EOF
		}
		return nil, 0, ts, fmt.Errorf("pcapfile: block %d header: %w", r.nrec+1, noEOF(err))
	}
	typ := r.order.Uint32(hd)
	if typ == ngSHB {
		return nil, 0, ts, r.readSHB()
	}
	r.nrec++
	n := r.order.Uint32(hd[4:])
	if n < 12 || n%4 != 0 || n > maxBlockLen {
		return nil, 0, ts, fmt.Errorf("pcapfile: block %d (type %#x): bad length %d", r.nrec, typ, n)
	}
	switch typ {
	case ngIDB, ngEPB, ngSPB, ngPacketOld:
	default:
		// Name resolution, statistics, secrets, custom blocks: not needed.
		if _, err := r.br.Discard(int(n)); err != nil {
			return nil, 0, ts, fmt.Errorf("pcapfile: block %d (type %#x): %w", r.nrec, typ, noEOF(err))
		}
		return nil, 0, ts, nil
	}
	blk, err := r.read(int(n))
	if err != nil {
		return nil, 0, ts, fmt.Errorf("pcapfile: block %d (type %#x): %w", r.nrec, typ, noEOF(err))
	}
	if t := r.order.Uint32(blk[n-4:]); t != n {
		return nil, 0, ts, fmt.Errorf("pcapfile: block %d (type %#x): trailing length %d does not match %d", r.nrec, typ, t, n)
	}
	body := blk[8 : n-4]
	switch typ {
	case ngIDB:
		return nil, 0, ts, r.parseIDB(body)
	case ngEPB, ngPacketOld:
		// Both: interface, timestamp high and low, captured and original
		// length; the obsolete block has a 16-bit interface and drop count.
		if len(body) < 20 {
			return nil, 0, ts, fmt.Errorf("pcapfile: block %d: packet block too short", r.nrec)
		}
		var id uint32
		if typ == ngEPB {
			id = r.order.Uint32(body)
		} else {
			id = uint32(r.order.Uint16(body))
		}
		if int(id) >= len(r.ifaces) {
			return nil, 0, ts, fmt.Errorf("pcapfile: block %d: packet for undeclared interface %d", r.nrec, id)
		}
		ifc := &r.ifaces[id]
		stamp := uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
		capLen := r.order.Uint32(body[12:])
		if uint64(capLen) > uint64(len(body)-20) {
			return nil, 0, ts, fmt.Errorf("pcapfile: block %d: captured length %d overruns the block", r.nrec, capLen)
		}
		return body[20 : 20+capLen], ifc.link, ifc.time(stamp), nil
	case ngSPB:
		if len(r.ifaces) == 0 {
			return nil, 0, ts, fmt.Errorf("pcapfile: block %d: simple packet block before any interface", r.nrec)
		}
		if len(body) < 4 {
			return nil, 0, ts, fmt.Errorf("pcapfile: block %d: simple packet block too short", r.nrec)
		}
		ifc := &r.ifaces[0]
		capLen := uint64(r.order.Uint32(body)) // original length
		if ifc.snaplen > 0 {
			capLen = min(capLen, uint64(ifc.snaplen))
		}
		capLen = min(capLen, uint64(len(body)-4))
		return body[4 : 4+capLen], ifc.link, ts, nil
	}
	return nil, 0, ts, nil
}

func (r *Reader) parseIDB(body []byte) error {
	if len(body) < 8 {
		return fmt.Errorf("pcapfile: block %d: interface description too short", r.nrec)
	}
	if len(r.ifaces) >= maxInterface {
		return fmt.Errorf("pcapfile: block %d: more than %d interfaces in a section", r.nrec, maxInterface)
	}
	ifc := iface{
		link:    r.order.Uint16(body),
		snaplen: r.order.Uint32(body[4:]),
		units:   1e6,
	}
	opts := body[8:]
	for len(opts) >= 4 {
		code := r.order.Uint16(opts)
		l := int(r.order.Uint16(opts[2:]))
		if code == ngOptEnd {
			break
		}
		padded := (l + 3) &^ 3
		if 4+padded > len(opts) {
			return fmt.Errorf("pcapfile: block %d: interface option %d overruns the block", r.nrec, code)
		}
		val := opts[4 : 4+l]
		switch {
		case code == ngOptTsresol && l == 1:
			v := val[0]
			if v&0x80 != 0 {
				if e := v & 0x7f; e < 64 {
					ifc.units = 1 << e
				} else {
					ifc.badUnits = true
				}
			} else {
				if v <= 19 { // 10^19 still fits in a uint64
					ifc.units = 1
					for range v {
						ifc.units *= 10
					}
				} else {
					ifc.badUnits = true
				}
			}
		case code == ngOptTsoff && l == 8:
			ifc.offset = int64(r.order.Uint64(val))
		}
		opts = opts[4+padded:]
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// time converts a pcapng timestamp in the interface's units. The fraction is
// scaled with 128-bit arithmetic because units up to 10^19 would overflow.
func (ifc *iface) time(stamp uint64) time.Time {
	if ifc.badUnits {
		return time.Time{}
	}
	sec := stamp / ifc.units
	frac := stamp % ifc.units
	hi, lo := bits.Mul64(frac, 1e9)
	ns, _ := bits.Div64(hi, lo, ifc.units) // hi < units since frac < units
	return time.Unix(int64(sec)+ifc.offset, int64(ns)).UTC()
}
