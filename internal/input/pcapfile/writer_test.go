package pcapfile

// Small capture writers for the tests. They are written from the format
// descriptions, independently of the reader, so that a misreading of the
// format in the reader shows up as a test failure instead of cancelling out.

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
)

type rawRecord struct {
	sec, frac uint32 // frac in µs or ns as the file says
	data      []byte
	origLen   uint32 // 0: len(data)
}

// readRawPcap returns the records of a classic little-endian µs pcap file
// without decoding them.
func readRawPcap(t testing.TB, path string) (link uint32, recs []rawRecord) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		t.Fatalf("%s: expected a little-endian µs pcap", path)
	}
	link = binary.LittleEndian.Uint32(b[20:])
	for off := 24; off < len(b); {
		h := b[off : off+16]
		n := int(binary.LittleEndian.Uint32(h[8:]))
		recs = append(recs, rawRecord{
			sec:  binary.LittleEndian.Uint32(h),
			frac: binary.LittleEndian.Uint32(h[4:]),
			data: b[off+16 : off+16+n],
		})
		off += 16 + n
	}
	return link, recs
}

// pcapBytes writes a classic pcap file.
func pcapBytes(order binary.ByteOrder, magic uint32, link uint32, snaplen uint32, recs []rawRecord) []byte {
	var b bytes.Buffer
	h := make([]byte, 24)
	order.PutUint32(h, magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], snaplen)
	order.PutUint32(h[20:], link)
	b.Write(h)
	for _, r := range recs {
		rh := make([]byte, 16)
		order.PutUint32(rh, r.sec)
		order.PutUint32(rh[4:], r.frac)
		order.PutUint32(rh[8:], uint32(len(r.data)))
		ol := r.origLen
		if ol == 0 {
			ol = uint32(len(r.data))
		}
		order.PutUint32(rh[12:], ol)
		b.Write(rh)
		b.Write(r.data)
	}
	return b.Bytes()
}

// ngWriter builds a pcapng file block by block.
type ngWriter struct {
	b     bytes.Buffer
	order byteOrder
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type ngOpt struct {
	code uint16
	val  []byte
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (w *ngWriter) opts(opts []ngOpt) []byte {
	if len(opts) == 0 {
		return nil
	}
	var out []byte
	for _, o := range opts {
		out = w.order.AppendUint16(out, o.code)
		out = w.order.AppendUint16(out, uint16(len(o.val)))
		out = pad4(append(out, o.val...))
	}
	return append(out, 0, 0, 0, 0) // opt_endofopt
}

func (w *ngWriter) block(typ uint32, body []byte) {
	body = pad4(body)
	n := uint32(12 + len(body))
	var h []byte
	h = w.order.AppendUint32(h, typ)
	h = w.order.AppendUint32(h, n)
	w.b.Write(h)
	w.b.Write(body)
	w.b.Write(w.order.AppendUint32(nil, n))
}

// section starts a new section in the given byte order.
func (w *ngWriter) section(order byteOrder) {
	w.order = order
	var body []byte
	body = order.AppendUint32(body, 0x1a2b3c4d)
	body = order.AppendUint16(body, 1)
	body = order.AppendUint16(body, 0)
	body = order.AppendUint64(body, ^uint64(0)) // section length unknown
	body = append(body, w.opts([]ngOpt{{4, []byte("flowlens test writer")}})...)
	w.block(0x0a0d0d0a, body)
}

func (w *ngWriter) idb(link uint16, snaplen uint32, opts ...ngOpt) {
	var body []byte
	body = w.order.AppendUint16(body, link)
	body = w.order.AppendUint16(body, 0)
	body = w.order.AppendUint32(body, snaplen)
	w.block(1, append(body, w.opts(opts)...))
}

func (w *ngWriter) epb(ifID uint32, stamp uint64, data []byte, opts ...ngOpt) {
	var body []byte
	body = w.order.AppendUint32(body, ifID)
	body = w.order.AppendUint32(body, uint32(stamp>>32))
	body = w.order.AppendUint32(body, uint32(stamp))
	body = w.order.AppendUint32(body, uint32(len(data)))
	body = w.order.AppendUint32(body, uint32(len(data)))
	body = pad4(append(body, data...))
	w.block(6, append(body, w.opts(opts)...))
}

func (w *ngWriter) spb(data []byte) {
	w.block(3, append(w.order.AppendUint32(nil, uint32(len(data))), data...))
}

// Blocks the reader has to step over.
func (w *ngWriter) nrb() {
	var body []byte
	body = w.order.AppendUint16(body, 1) // nrb_record_ipv4
	body = w.order.AppendUint16(body, 14)
	body = append(body, 127, 0, 0, 1)
	body = pad4(append(body, "localhost\x00"...))
	body = append(body, 0, 0, 0, 0) // nrb_record_end
	w.block(4, body)
}

func (w *ngWriter) isb(ifID uint32) {
	var body []byte
	body = w.order.AppendUint32(body, ifID)
	body = w.order.AppendUint64(body, 0)
	w.block(5, body)
}

func (w *ngWriter) custom() {
	var body []byte
	body = w.order.AppendUint32(body, 32473) // private enterprise number for examples
	w.block(0x40000bad, append(body, "opaque"...))
}
