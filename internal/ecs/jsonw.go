package ecs

import (
	"github.com/flowlens/flowlens/internal/flow"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonw appends one JSON object to a byte slice without reflection or
// allocation. Objects open lazily: an object whose fields are all absent is
// never written, so outputs carry no empty {} noise.
//
// Keys are passed as they are written, separator first: `,"kind":` for a
// field, `,"event":{` for an object. The comma is skipped for the first
// field of an object, so that writing a key is one append, not four (key
// writing was a third of the encoding's instructions).
type jsonw struct {
	b       []byte
	depth   int
	pending int // objects opened but not yet written
	keys    [16]string
	comma   [16]bool // at depth i, a field was written already
}

func (w *jsonw) begin() {
	w.b = append(w.b, '{')
	w.depth, w.pending = 1, 0
	w.comma[1] = false
}

func (w *jsonw) end() []byte {
	for w.depth > 1 {
		w.close()
	}
	return append(w.b, '}')
}

// open opens an object: key is `,"name":{`.
func (w *jsonw) open(key string) {
	w.keys[w.depth+w.pending] = key
	w.pending++
}

func (w *jsonw) close() {
	if w.pending > 0 {
		w.pending--
		return
	}
	w.b = append(w.b, '}')
	w.depth--
}

// key writes the pending opens and then k, which is `,"name":`.
func (w *jsonw) key(k string) {
	if w.pending > 0 {
		w.openPending()
	}
	if !w.comma[w.depth] {
		w.comma[w.depth] = true
		k = k[1:]
	}
	w.b = append(w.b, k...)
}

// openPending writes the objects opened but not yet written.
func (w *jsonw) openPending() {
	for w.pending > 0 {
		k := w.keys[w.depth]
		if !w.comma[w.depth] {
			w.comma[w.depth] = true
			k = k[1:]
		}
		w.b = append(w.b, k...)
		w.pending--
		w.depth++
		w.comma[w.depth] = false
	}
}

// fields writes constant fields, `,"a":1,"b":"x"`, in one append.
func (w *jsonw) fields(f string) { w.key(f) }

// word writes a string of this package's own (an enum's name, a
// number), which needs no escaping.
func (w *jsonw) word(k, v string) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = append(w.b, v...)
	w.b = append(w.b, '"')
}

func (w *jsonw) str(k, v string) {
	w.key(k)
	w.b = appendString(w.b, v)
}

func (w *jsonw) uint(k string, v uint64) {
	w.key(k)
	w.b = strconv.AppendUint(w.b, v, 10)
}

// u32 writes v unless it is the "unknown" value agents send.
func (w *jsonw) u32(k string, v uint32) {
	if v != flow.Unknown32 {
		w.uint(k, uint64(v))
	}
}

func (w *jsonw) u64(k string, v uint64) {
	if v != flow.Unknown64 {
		w.uint(k, v)
	}
}

// uintStr writes a number as a JSON string (ECS keyword fields such as
// interface ids and IANA numbers).
func (w *jsonw) uintStr(k string, v uint64) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = strconv.AppendUint(w.b, v, 10)
	w.b = append(w.b, '"')
}

func (w *jsonw) float(k string, v float64) {
	w.key(k)
	w.b = strconv.AppendFloat(w.b, v, 'f', -1, 64)
}

func (w *jsonw) boolean(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

func (w *jsonw) addr(k string, a netip.Addr) {
	if !a.IsValid() {
		return
	}
	w.key(k)
	w.b = append(w.b, '"')
	w.b = a.Unmap().AppendTo(w.b)
	w.b = append(w.b, '"')
}

func (w *jsonw) mac(k string, m flow.MAC) {
	w.key(k)
	w.b = AppendMAC(append(w.b, '"'), m)
	w.b = append(w.b, '"')
}

func (w *jsonw) time(k string, t time.Time) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = appendRFC3339Nano(w.b, t)
	w.b = append(w.b, '"')
}

// appendRFC3339Nano appends t in UTC as time.RFC3339Nano formats it
// (fraction without trailing zeros, none when zero, "Z"), by hand for
// years 0-9999: AppendFormat was a tenth of the encoding.
func appendRFC3339Nano(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	hour, min, sec := t.Clock()
	b = append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+min/10), byte('0'+min%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	if ns := t.Nanosecond(); ns != 0 {
		var f [10]byte
		f[0] = '.'
		for i := 9; i >= 1; i-- {
			f[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for f[n-1] == '0' {
			n--
		}
		b = append(b, f[:n]...)
	}
	return append(b, 'Z')
}

func (w *jsonw) hex(k string, v uint64, digits int) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = appendHex(w.b, v, digits)
	w.b = append(w.b, '"')
}

// AppendMAC appends m in the ECS form: upper-case, hyphen-separated.
func AppendMAC(b []byte, m flow.MAC) []byte {
	const hexd = "0123456789ABCDEF"
	for i, c := range m {
		if i > 0 {
			b = append(b, '-')
		}
		b = append(b, hexd[c>>4], hexd[c&15])
	}
	return b
}

func appendHex(b []byte, v uint64, digits int) []byte {
	const hexd = "0123456789abcdef"
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hexd[(v>>(4*uint(i)))&15])
	}
	return b
}

// appendString appends s as a JSON string. Names come from the network, so
// control characters and invalid UTF-8 are escaped rather than trusted.
func appendString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
