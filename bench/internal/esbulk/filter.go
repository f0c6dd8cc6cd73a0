package esbulk

import (
	"path"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// filter is a compiled filter_path: comma-separated dotted paths whose
// segments may hold wildcards (* in a segment, ** for any depth). Leading
// "-" (exclusion) paths are ignored. A value is kept when a path matches
// it or one of its parents; objects left empty are left out.
type filter struct {
	all  bool
	pats [][]string

	mu    sync.Mutex
	masks map[string]*[nLeaves]bool
}

var filters sync.Map // filter_path string → *filter

func compileFilter(fp string) *filter {
	if v, ok := filters.Load(fp); ok {
		return v.(*filter)
	}
	f := &filter{masks: map[string]*[nLeaves]bool{}}
	for _, p := range strings.Split(fp, ",") {
		p = strings.TrimSpace(p)
		if p == "" || p[0] == '-' {
			continue
		}
		f.pats = append(f.pats, strings.Split(p, "."))
	}
	f.all = len(f.pats) == 0
	v, _ := filters.LoadOrStore(fp, f)
	return v.(*filter)
}

// match reports whether the value at p is kept.
func (f *filter) match(p ...string) bool {
	if f.all {
		return true
	}
	for _, pat := range f.pats {
		if matchSegs(pat, p, false) {
			return true
		}
	}
	return false
}

// any reports whether something under p may be kept.
func (f *filter) any(p ...string) bool {
	if f.all {
		return true
	}
	for _, pat := range f.pats {
		if matchSegs(pat, p, true) {
			return true
		}
	}
	return false
}

// matchSegs matches pattern segments against a path. With prefix, a
// pattern longer than the path matches when its first segments do.
func matchSegs(pat, p []string, prefix bool) bool {
	for i, seg := range pat {
		if seg == "**" {
			return true
		}
		if i == len(p) {
			return prefix
		}
		if ok, _ := path.Match(seg, p[i]); !ok {
			return false
		}
	}
	return true
}

// The leaves of a bulk item's result.
const (
	lIndex = iota
	lID
	lVersion
	lResult
	lShTotal
	lShSuccessful
	lShFailed
	lSeqNo
	lPrimaryTerm
	lStatus
	lErrType
	lErrReason
	lErrIndexUUID
	lErrShard
	lErrIndex
	nLeaves
)

var leafPaths = [nLeaves][]string{
	{"_index"}, {"_id"}, {"_version"}, {"result"}, {"_shards", "total"}, {"_shards", "successful"},
	{"_shards", "failed"}, {"_seq_no"}, {"_primary_term"}, {"status"},
	{"error", "type"}, {"error", "reason"}, {"error", "index_uuid"}, {"error", "shard"}, {"error", "index"},
}

func (f *filter) mask(act string) *[nLeaves]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := f.masks[act]; m != nil {
		return m
	}
	m := new([nLeaves]bool)
	for i, lp := range leafPaths {
		m[i] = f.match(append([]string{"items", act}, lp...)...)
	}
	f.masks[act] = m
	return m
}

// objw writes nested JSON objects whose members may all be filtered
// out: an object (and its key) is written with its first member.
type objw struct {
	b     []byte
	stack []level
}

type level struct {
	key     string
	opened  bool
	members int
}

func (w *objw) open(key string) { w.stack = append(w.stack, level{key: key}) }

func (w *objw) member(key string) {
	for i := range w.stack {
		l := &w.stack[i]
		if l.opened {
			continue
		}
		if i > 0 {
			if w.stack[i-1].members > 0 {
				w.b = append(w.b, ',')
			}
			w.stack[i-1].members++
		}
		w.b = appendString(w.b, l.key)
		w.b = append(w.b, ':', '{')
		l.opened = true
	}
	l := &w.stack[len(w.stack)-1]
	if l.members > 0 {
		w.b = append(w.b, ',')
	}
	l.members++
	w.b = appendString(w.b, key)
	w.b = append(w.b, ':')
}

func (w *objw) close() {
	n := len(w.stack) - 1
	if w.stack[n].opened {
		w.b = append(w.b, '}')
	}
	w.stack = w.stack[:n]
}

// item appends one item of the answer: {"ACTION":{...}}.
func (f *filter) item(b []byte, act string, r *result) []byte {
	m := f.mask(act)
	b = append(b, '{')
	var st [3]level
	w := objw{b: b, stack: st[:0]}
	w.open(act)
	if m[lIndex] {
		w.member("_index")
		w.b = appendString(w.b, r.index)
	}
	if m[lID] {
		w.member("_id")
		w.b = appendString(w.b, r.id)
	}
	if r.errType == "" {
		if m[lVersion] {
			w.member("_version")
			w.b = strconv.AppendInt(w.b, int64(r.version), 10)
		}
		if m[lResult] {
			w.member("result")
			w.b = appendString(w.b, r.result)
		}
		w.open("_shards")
		if m[lShTotal] {
			w.member("total")
			w.b = append(w.b, '2')
		}
		if m[lShSuccessful] {
			w.member("successful")
			w.b = append(w.b, '1')
		}
		if m[lShFailed] {
			w.member("failed")
			w.b = append(w.b, '0')
		}
		w.close()
		if m[lSeqNo] {
			w.member("_seq_no")
			w.b = strconv.AppendInt(w.b, r.seq, 10)
		}
		if m[lPrimaryTerm] {
			w.member("_primary_term")
			w.b = append(w.b, '1')
		}
	}
	if m[lStatus] {
		w.member("status")
		w.b = strconv.AppendInt(w.b, int64(r.status), 10)
	}
	if r.errType != "" {
		w.open("error")
		if m[lErrType] {
			w.member("type")
			w.b = appendString(w.b, r.errType)
		}
		if m[lErrReason] {
			w.member("reason")
			w.b = appendString(w.b, r.errReason)
		}
		if m[lErrIndexUUID] {
			w.member("index_uuid")
			w.b = appendString(w.b, "esbulk-"+r.index)
		}
		if m[lErrShard] {
			w.member("shard")
			w.b = appendString(w.b, "0")
		}
		if m[lErrIndex] {
			w.member("index")
			w.b = appendString(w.b, r.index)
		}
		w.close()
	}
	w.close()
	return append(w.b, '}')
}

// appendString appends s as a JSON string.
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
