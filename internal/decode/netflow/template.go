package netflow

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// varLen is the field length that announces an IPFIX variable-length field.
const varLen = 0xffff

// Enterprise numbers the decoder knows.
const (
	penVMware = 6876
	// penReverse marks RFC 5103 reverse information elements: the
	// element of the same number, for the reverse direction of a biflow.
	penReverse = 29305
)

// field is one field specifier of a template.
type field struct {
	kind   uint16 // IANA element id, a kindVMware* value, or kindSkip
	length uint16 // bytes, or varLen
}

// kindSkip marks fields whose value is stepped over: enterprise-specific
// elements other than VMware's tunnel elements, and the scope fields of
// NetFlow v9 options templates (whose ids are not information elements).
const kindSkip = 0xffff

// VMware (PEN 6876) elements that Open vSwitch exports for tunnels, from
// ofproto/ipfix-enterprise-entities.def. They get kinds above the 15-bit
// IANA range.
const (
	kindVMware                     = 0x8000
	kindTunnelType                 = kindVMware | 891 // unsigned8: 1 VXLAN, 2 GRE, 3 LISP, 4 STT, 5 IPsec-GRE, 7 Geneve
	kindTunnelKey                  = kindVMware | 892 // octetArray, variable: VNI / GRE key / STT key
	kindTunnelSourceIPv4Address    = kindVMware | 893
	kindTunnelDestinationIPv4Addr  = kindVMware | 894
	kindTunnelProtocolIdentifier   = kindVMware | 895
	kindTunnelSourceTransportPort  = kindVMware | 896
	kindTunnelDestinationTransport = kindVMware | 897
)

// kindReverse | id is the RFC 5103 reverse element of IANA element id.
// Forward ids are below 0x8000 and VMware kinds below 0xC000, so the
// ranges never meet; only the ids of reversible reports flowlens uses
// (reverseKind) get such a kind, the others are skipped.
const kindReverse = 0xC000

// reverseKind returns the kind of the reverse element of IANA element ie,
// or kindSkip for the reverse elements flowlens does not read. Flow key
// elements (addresses, ports, protocol) are not among them: RFC 5103
// section 5 gives the reverse direction the forward key swapped.
func reverseKind(ie uint16) uint16 {
	switch ie {
	case 1, 2, 23, 24, 352, // counts
		5, 195, 6, 192, 52, // TOS, DSCP, TCP flags, TTL
		10, 14, 252, 253, 58, 59, // interfaces and their VLANs
		21, 22, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159, 161, 162, // times
		136: // flowEndReason
		return kindReverse | ie
	}
	return kindSkip
}

// template is one (options) template. It is immutable once stored, except
// for seen, so decoders use it without holding the cache lock.
type template struct {
	id      uint16
	version uint16 // 9 or 10
	options bool
	fields  []field
	minLen  int  // bytes of the shortest possible record
	fixed   bool // no variable-length field: every record is minLen bytes
	// prescaled: the template is Open vSwitch's, whose counts are already
	// multiplied by the sampling rate.
	prescaled bool
	// biflow: the template has RFC 5103 reverse elements (enterprise
	// 29305); revCounts: among them a reverse packet or octet count.
	biflow, revCounts bool
	raw               []byte       // the template record as sent, for refresh checks and Save
	seen              atomic.Int64 // unix nanoseconds of the last definition or refresh
	cost              int          // bytes accounted against MaxTemplateBytes
}

// scanTemplate validates the template record at the start of b and returns
// its length. id is the template id; withdraw is set for an IPFIX
// withdrawal (field count 0). stop is set when what follows is padding.
func scanTemplate(version uint16, options bool, b []byte) (id uint16, n int, withdraw, stop bool, reason Reason) {
	if version == 9 {
		return scanTemplateV9(options, b)
	}
	if len(b) < 4 {
		return 0, 0, false, true, ReasonNone // padding
	}
	id = binary.BigEndian.Uint16(b)
	count := int(binary.BigEndian.Uint16(b[2:]))
	if count == 0 {
		// Withdrawal. Set id 2 in a template set (3 in an options
		// template set) withdraws all templates of that kind. Id 0 is
		// what zero padding looks like.
		switch {
		case id == 0:
			return 0, 0, false, true, ReasonNone
		case id >= 256, id == 2 && !options, id == 3 && options:
			return id, 4, true, false, ReasonNone
		}
		return 0, 0, false, false, ReasonTemplate
	}
	if id < 256 {
		return 0, 0, false, false, ReasonTemplate
	}
	if count > MaxTemplateFields {
		return 0, 0, false, false, ReasonTemplateFields
	}
	n = 4
	if options {
		if len(b) < 6 {
			return 0, 0, false, false, ReasonTemplate
		}
		scope := int(binary.BigEndian.Uint16(b[4:]))
		if scope == 0 || scope > count {
			return 0, 0, false, false, ReasonTemplate
		}
		n = 6
	}
	minLen := 0
	for i := 0; i < count; i++ {
		if len(b) < n+4 {
			return 0, 0, false, false, ReasonTemplate
		}
		ie := binary.BigEndian.Uint16(b[n:])
		l := binary.BigEndian.Uint16(b[n+2:])
		n += 4
		if ie&0x8000 != 0 {
			if len(b) < n+4 {
				return 0, 0, false, false, ReasonTemplate
			}
			n += 4
		}
		if l == varLen {
			minLen++
		} else {
			minLen += int(l)
		}
	}
	if minLen == 0 {
		return 0, 0, false, false, ReasonTemplate // records of no bytes: nothing to decode, endless loops
	}
	return id, n, false, false, ReasonNone
}

// scanTemplateV9 is scanTemplate for NetFlow v9 template and options
// template flowsets (RFC 3954 sections 5.2 and 6.1).
func scanTemplateV9(options bool, b []byte) (id uint16, n int, withdraw, stop bool, reason Reason) {
	var count int
	if options {
		if len(b) < 6 {
			return 0, 0, false, true, ReasonNone
		}
		id = binary.BigEndian.Uint16(b)
		scopeLen := int(binary.BigEndian.Uint16(b[2:]))
		optLen := int(binary.BigEndian.Uint16(b[4:]))
		if id == 0 && scopeLen == 0 && optLen == 0 {
			return 0, 0, false, true, ReasonNone
		}
		if scopeLen%4 != 0 || optLen%4 != 0 || optLen == 0 {
			return 0, 0, false, false, ReasonTemplate
		}
		count = (scopeLen + optLen) / 4
		n = 6
	} else {
		if len(b) < 4 {
			return 0, 0, false, true, ReasonNone
		}
		id = binary.BigEndian.Uint16(b)
		count = int(binary.BigEndian.Uint16(b[2:]))
		if id == 0 && count == 0 {
			return 0, 0, false, true, ReasonNone
		}
		if count == 0 {
			return 0, 0, false, false, ReasonTemplate
		}
		n = 4
	}
	if id < 256 {
		return 0, 0, false, false, ReasonTemplate
	}
	if count > MaxTemplateFields {
		return 0, 0, false, false, ReasonTemplateFields
	}
	if len(b) < n+4*count {
		return 0, 0, false, false, ReasonTemplate
	}
	minLen := 0
	for i := 0; i < count; i++ {
		l := binary.BigEndian.Uint16(b[n+4*i+2:])
		if l == varLen {
			minLen++
		} else {
			minLen += int(l)
		}
	}
	if minLen == 0 {
		return 0, 0, false, false, ReasonTemplate
	}
	return id, n + 4*count, false, false, ReasonNone
}

// buildTemplate turns a template record that scanTemplate accepted into a
// template. raw is kept (the caller passes a copy).
func buildTemplate(version uint16, options bool, raw []byte) *template {
	t := &template{version: version, options: options, raw: raw, fixed: true}
	t.id = binary.BigEndian.Uint16(raw)
	var count, scopeFields, n int
	switch {
	case version == 9 && options:
		scopeFields = int(binary.BigEndian.Uint16(raw[2:])) / 4
		count = scopeFields + int(binary.BigEndian.Uint16(raw[4:]))/4
		n = 6
	case version == 9:
		count = int(binary.BigEndian.Uint16(raw[2:]))
		n = 4
	case options:
		count = int(binary.BigEndian.Uint16(raw[2:]))
		n = 6
	default:
		count = int(binary.BigEndian.Uint16(raw[2:]))
		n = 4
	}
	t.fields = make([]field, count)
	for i := range t.fields {
		ie := binary.BigEndian.Uint16(raw[n:])
		l := binary.BigEndian.Uint16(raw[n+2:])
		n += 4
		kind := ie
		if version == 10 && ie&0x8000 != 0 {
			pen := binary.BigEndian.Uint32(raw[n:])
			n += 4
			kind = kindSkip
			if pen == penVMware && ie&0x7fff >= 891 && ie&0x7fff <= 897 {
				kind = kindVMware | ie&0x7fff
			}
			if pen == penReverse && !options {
				t.biflow = true
				kind = reverseKind(ie & 0x7fff)
				switch ie & 0x7fff {
				case 1, 2, 23, 24, 352:
					t.revCounts = true
				}
			}
		}
		if version == 9 && (i < scopeFields || ie >= 0x8000) {
			// v9 scope types (1 system, 2 interface, ...) are not
			// elements; v9 has no enterprise bit, ids above 32767 are
			// vendor-specific.
			kind = kindSkip
		}
		t.fields[i] = field{kind: kind, length: l}
		if l == varLen {
			t.minLen++
			t.fixed = false
		} else {
			t.minLen += int(l)
		}
	}
	t.prescaled = version == 10 && !options && IsOpenVSwitch(t.fieldIDs())
	t.cost = len(raw) + 4*len(t.fields) + 128
	return t
}

// fieldIDs returns the element ids of t (enterprise ones as kindSkip).
func (t *template) fieldIDs() []uint16 {
	ids := make([]uint16, len(t.fields))
	for i, f := range t.fields {
		ids[i] = f.kind
	}
	return ids
}

// IsOpenVSwitch reports whether a data template with these IANA element ids
// (in order) is one of Open vSwitch's IPFIX templates. Every Open vSwitch
// template (ofproto/ofproto-dpif-ipfix.c, 2.x and 3.x) starts with the flow
// key block sourceMacAddress (56), destinationMacAddress (80),
// ethernetType (256), ethernetHeaderLength (240) — since 2.8 preceded by
// observationPointId (138) and flowDirection (61) — and carries
// packetDeltaCount (2) and layer2OctetDeltaCount (352). The
// ethernetHeaderLength right after the Ethernet key is Open vSwitch's
// signature; no other exporter we know of sends it there. Its 88 data
// templates (IDs 256-375 with gaps) all match; its options template (462:
// scope exportingProcessId (144), notSentPacketTotalCount (167), the
// exporting process reliability statistics of RFC 7011 section 4.3) says
// nothing about sampling and is not needed for the match.
func IsOpenVSwitch(ids []uint16) bool {
	i := 0
	if i < len(ids) && ids[i] == 138 {
		i++
	}
	if i < len(ids) && ids[i] == 61 {
		i++
	}
	if len(ids) < i+4 || ids[i] != 56 || ids[i+1] != 80 || ids[i+2] != 256 || ids[i+3] != 240 {
		return false
	}
	var delta, l2 bool
	for _, id := range ids[i+4:] {
		switch id {
		case 2:
			delta = true
		case 352:
			l2 = true
		}
	}
	return delta && l2
}

// Cache keys. Templates belong to an exporter address, a protocol version
// (v9 and IPFIX template ids are separate spaces), an observation domain
// (v9 source id) and an id.
type tkey struct {
	version uint16
	id      uint16
	domain  uint32
}

type dkey struct {
	version uint16
	domain  uint32
}

// sampling is what options data said about one domain's sampling. It is
// immutable; updates replace it.
type sampling struct {
	rate       uint32            // given without a sampler id
	samplers   map[uint32]uint32 // sampler/selector id -> rate
	sysInitMs  uint64            // systemInitTimeMilliseconds (IE 160)
	hasSysInit bool
}

// maxSamplers bounds the sampler table of one domain.
const maxSamplers = 256

type samplingEntry struct {
	seen atomic.Int64
	s    *sampling
}

// pendingSet is a data set held until its template arrives.
type pendingSet struct {
	key       tkey
	data      []byte
	arrived   time.Time
	exportSec uint32
	uptime    uint32
	seq       uint32
}

type exporterState struct {
	templates    map[tkey]*template
	sampling     map[dkey]*samplingEntry
	pending      []*pendingSet
	pendingBytes int
}

func (e *exporterState) entries() int { return len(e.templates) + len(e.sampling) }

func (e *exporterState) empty() bool {
	return len(e.templates) == 0 && len(e.sampling) == 0 && len(e.pending) == 0
}

// Templates is the template cache shared by the Decoders of a process. It
// is safe for concurrent use.
type Templates struct {
	opt Options

	mu            sync.RWMutex
	exporters     map[netip.Addr]*exporterState
	templateBytes int
	pendingBytes  int
	pendingSets   int

	// Cumulative counters (Stats).
	pendingExpired  atomic.Uint64
	pendingOverflow atomic.Uint64
	rejected        atomic.Uint64
}

// NewTemplates returns an empty cache with opt's limits.
func NewTemplates(opt Options) *Templates {
	return &Templates{opt: opt.withDefaults(), exporters: make(map[netip.Addr]*exporterState)}
}

// Stats describes the cache.
type Stats struct {
	Exporters     int
	Templates     int // data and options templates
	TemplateBytes int
	PendingSets   int
	PendingBytes  int
	// Since the cache was made:
	PendingExpired  uint64 // held data sets dropped: no template within PendingTTL
	PendingOverflow uint64 // held data sets dropped or refused: pending limits
	Rejected        uint64 // templates and options entries refused: cache limits
}

// Stats returns the cache's current size and counters.
func (t *Templates) Stats() Stats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s := Stats{
		Exporters:       len(t.exporters),
		TemplateBytes:   t.templateBytes,
		PendingSets:     t.pendingSets,
		PendingBytes:    t.pendingBytes,
		PendingExpired:  t.pendingExpired.Load(),
		PendingOverflow: t.pendingOverflow.Load(),
		Rejected:        t.rejected.Load(),
	}
	for _, e := range t.exporters {
		s.Templates += len(e.templates)
	}
	return s
}

func (t *Templates) live(seen int64, now time.Time) bool {
	return now.UnixNano()-seen <= int64(t.opt.TemplateTTL)
}

// lookup returns the live template for key, or nil.
func (t *Templates) lookup(addr netip.Addr, key tkey, now time.Time) *template {
	t.mu.RLock()
	var tpl *template
	if e := t.exporters[addr]; e != nil {
		tpl = e.templates[key]
	}
	t.mu.RUnlock()
	if tpl == nil || !t.live(tpl.seen.Load(), now) {
		return nil
	}
	return tpl
}

// borrow returns, for data of a domain that has no template key.id, the
// same id's template of another observation domain of the exporter, when
// it is Open vSwitch's and every domain that has the id agrees. Open
// vSwitch's template ids name the flow key's shape, the same in every
// domain, but it sends templates for one domain at a time, every 10
// minutes: OVN's drop sampling uses one domain per datapath, and without
// this the drops of every datapath but the first were lost for ten
// minutes after each start.
func (t *Templates) borrow(addr netip.Addr, key tkey, now time.Time) *template {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e := t.exporters[addr]
	if e == nil {
		return nil
	}
	var found *template
	for k, tpl := range e.templates {
		if k.version != key.version || k.id != key.id || k.domain == key.domain || !t.live(tpl.seen.Load(), now) {
			continue
		}
		if !tpl.prescaled || found != nil && !bytes.Equal(found.raw, tpl.raw) {
			return nil
		}
		found = tpl
	}
	return found
}

// samplingFor returns what options data said about a domain, or nil.
func (t *Templates) samplingFor(addr netip.Addr, key dkey, now time.Time) *sampling {
	t.mu.RLock()
	var se *samplingEntry
	if e := t.exporters[addr]; e != nil {
		se = e.sampling[key]
	}
	var s *sampling
	if se != nil && t.live(se.seen.Load(), now) {
		s = se.s
	}
	t.mu.RUnlock()
	return s
}

// exporterLocked returns addr's state, creating it if the limits allow.
func (t *Templates) exporterLocked(addr netip.Addr) *exporterState {
	if e := t.exporters[addr]; e != nil {
		return e
	}
	if len(t.exporters) >= t.opt.MaxExporters {
		return nil
	}
	e := &exporterState{templates: make(map[tkey]*template), sampling: make(map[dkey]*samplingEntry)}
	t.exporters[addr] = e
	return e
}

// define stores or refreshes the template record raw (validated by
// scanTemplate; raw aliases the datagram). It reports whether held data
// now waits for this template, and whether the template was kept.
func (t *Templates) define(addr netip.Addr, version uint16, domain uint32, options bool, raw []byte, now time.Time) (released, ok bool) {
	key := tkey{version: version, id: binary.BigEndian.Uint16(raw), domain: domain}
	ns := now.UnixNano()
	// Refresh: the same definition again (exporters resend templates
	// periodically) costs a compare and an atomic store.
	t.mu.RLock()
	if e := t.exporters[addr]; e != nil {
		if old := e.templates[key]; old != nil && old.options == options && bytes.Equal(old.raw, raw) {
			old.seen.Store(ns)
			released = t.hasPendingLocked(e, key, old.prescaled)
			t.mu.RUnlock()
			return released, true
		}
	}
	t.mu.RUnlock()

	tpl := buildTemplate(version, options, append([]byte(nil), raw...))
	tpl.seen.Store(ns)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.storeLocked(addr, key, tpl)
}

func (t *Templates) storeLocked(addr netip.Addr, key tkey, tpl *template) (released, ok bool) {
	e := t.exporterLocked(addr)
	if e == nil {
		t.rejected.Add(1)
		return false, false
	}
	old := e.templates[key]
	oldCost := 0
	if old != nil {
		oldCost = old.cost
	} else if e.entries() >= t.opt.MaxTemplatesPerExporter {
		t.rejected.Add(1)
		return false, false
	}
	if t.templateBytes-oldCost+tpl.cost > t.opt.MaxTemplateBytes {
		t.rejected.Add(1)
		if e.empty() {
			delete(t.exporters, addr)
		}
		return false, false
	}
	t.templateBytes += tpl.cost - oldCost
	e.templates[key] = tpl
	return t.hasPendingLocked(e, key, tpl.prescaled), true
}

func (t *Templates) hasPendingLocked(e *exporterState, key tkey, anyDomain bool) bool {
	for _, p := range e.pending {
		if p.key == key || anyDomain && p.key.id == key.id && p.key.version == key.version {
			return true
		}
	}
	return false
}

// withdraw removes a template (IPFIX withdrawal). id 2 removes all data
// templates of the domain, id 3 all options templates.
func (t *Templates) withdraw(addr netip.Addr, version uint16, domain uint32, id uint16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.exporters[addr]
	if e == nil {
		return
	}
	if id >= 256 {
		key := tkey{version: version, id: id, domain: domain}
		if old := e.templates[key]; old != nil {
			t.templateBytes -= old.cost
			delete(e.templates, key)
		}
	} else {
		for k, old := range e.templates {
			if k.version == version && k.domain == domain && old.options == (id == 3) {
				t.templateBytes -= old.cost
				delete(e.templates, k)
			}
		}
	}
	if e.empty() {
		delete(t.exporters, addr)
	}
}

// setSampling records what an options data record said. samplerID is used
// when hasSampler is set; rate 0 leaves rates alone.
func (t *Templates) setSampling(addr netip.Addr, key dkey, samplerID uint32, hasSampler bool, rate uint32, sysInitMs uint64, hasSysInit bool, now time.Time) bool {
	ns := now.UnixNano()
	same := func(s *sampling) bool {
		if hasSysInit && (!s.hasSysInit || s.sysInitMs != sysInitMs) {
			return false
		}
		if rate == 0 {
			return true
		}
		if hasSampler {
			r, ok := s.samplers[samplerID]
			return ok && r == rate
		}
		return s.rate == rate
	}
	t.mu.RLock()
	if e := t.exporters[addr]; e != nil {
		if se := e.sampling[key]; se != nil && same(se.s) {
			se.seen.Store(ns)
			t.mu.RUnlock()
			return true
		}
	}
	t.mu.RUnlock()

	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.exporterLocked(addr)
	if e == nil {
		t.rejected.Add(1)
		return false
	}
	se := e.sampling[key]
	if se == nil {
		if e.entries() >= t.opt.MaxTemplatesPerExporter {
			t.rejected.Add(1)
			return false
		}
		se = &samplingEntry{s: &sampling{}}
		e.sampling[key] = se
	}
	n := *se.s
	if hasSysInit {
		n.sysInitMs, n.hasSysInit = sysInitMs, true
	}
	if rate != 0 {
		if hasSampler {
			if _, ok := n.samplers[samplerID]; !ok && len(n.samplers) >= maxSamplers {
				t.rejected.Add(1)
				return false
			}
			m := make(map[uint32]uint32, len(n.samplers)+1)
			for k, v := range n.samplers {
				m[k] = v
			}
			m[samplerID] = rate
			n.samplers = m
		} else {
			n.rate = rate
		}
	}
	se.s = &n
	se.seen.Store(ns)
	return true
}

// hold keeps a data set until its template arrives. It reports how many
// older sets were dropped to make room, and whether p was kept. If the
// template arrived (from another decoder) since the caller looked, hold
// returns it instead and keeps nothing: a template stored after the check
// sees p as pending, one stored before is returned here, so no set waits
// for a template that is already there.
func (t *Templates) hold(addr netip.Addr, p *pendingSet) (tpl *template, evicted int, ok bool) {
	size := len(p.data) + 64
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.exporters[addr]; e != nil {
		if tpl := e.templates[p.key]; tpl != nil && t.live(tpl.seen.Load(), p.arrived) {
			return tpl, 0, false
		}
	}
	if size > t.opt.PendingMaxBytes {
		t.pendingOverflow.Add(1)
		return nil, 0, false
	}
	e := t.exporterLocked(addr)
	if e == nil {
		t.pendingOverflow.Add(1)
		return nil, 0, false
	}
	for len(e.pending) > 0 && (len(e.pending) >= t.opt.PendingMaxSets || e.pendingBytes+size > t.opt.PendingMaxBytes) {
		t.dropPendingLocked(e, 1)
		evicted++
	}
	if t.pendingBytes+size > t.opt.MaxPendingBytes {
		t.pendingOverflow.Add(uint64(evicted) + 1)
		if e.empty() {
			delete(t.exporters, addr)
		}
		return nil, evicted, false
	}
	t.pendingOverflow.Add(uint64(evicted))
	e.pending = append(e.pending, p)
	e.pendingBytes += size
	t.pendingBytes += size
	t.pendingSets++
	return nil, evicted, true
}

// PendingInfo describes the data sets held for one template that has not
// arrived (yet).
type PendingInfo struct {
	Exporter   netip.Addr
	Version    uint16 // 9 or 10
	Domain     uint32 // observation domain / source id
	TemplateID uint16
	Sets       int
	Bytes      int
	Oldest     time.Time // arrival of the oldest held set
}

// Pending lists the data sets held now, by exporter, domain and template:
// what a capture that ends, or a collector that stops, has not decoded
// for want of a template.
func (t *Templates) Pending() []PendingInfo {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []PendingInfo
	index := map[PendingInfo]int{}
	for addr, e := range t.exporters {
		for _, p := range e.pending {
			k := PendingInfo{Exporter: addr, Version: p.key.version, Domain: p.key.domain, TemplateID: p.key.id}
			i, ok := index[k]
			if !ok {
				i = len(out)
				index[k] = i
				k.Oldest = p.arrived
				out = append(out, k)
			}
			out[i].Sets++
			out[i].Bytes += len(p.data)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if c := a.Exporter.Compare(b.Exporter); c != 0 {
			return c < 0
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		if a.Domain != b.Domain {
			return a.Domain < b.Domain
		}
		return a.TemplateID < b.TemplateID
	})
	return out
}

// dropPendingLocked removes the n oldest held sets of e.
func (t *Templates) dropPendingLocked(e *exporterState, n int) {
	for _, p := range e.pending[:n] {
		size := len(p.data) + 64
		e.pendingBytes -= size
		t.pendingBytes -= size
		t.pendingSets--
	}
	rest := copy(e.pending, e.pending[n:])
	clear(e.pending[rest:])
	e.pending = e.pending[:rest]
}

// take moves the held sets for key into dst, oldest first; with
// anyDomain, those of every observation domain with key's id.
func (t *Templates) take(addr netip.Addr, key tkey, anyDomain bool, dst []*pendingSet) []*pendingSet {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.exporters[addr]
	if e == nil {
		return dst
	}
	kept := e.pending[:0]
	for _, p := range e.pending {
		if p.key == key || anyDomain && p.key.id == key.id && p.key.version == key.version {
			dst = append(dst, p)
			size := len(p.data) + 64
			e.pendingBytes -= size
			t.pendingBytes -= size
			t.pendingSets--
		} else {
			kept = append(kept, p)
		}
	}
	clear(e.pending[len(kept):])
	e.pending = kept
	if e.empty() {
		delete(t.exporters, addr)
	}
	return dst
}

// expirePending drops addr's held sets older than PendingTTL and returns
// how many it dropped. It only takes the write lock when there is work.
func (t *Templates) expirePending(addr netip.Addr, now time.Time) int {
	limit := now.Add(-t.opt.PendingTTL)
	t.mu.RLock()
	e := t.exporters[addr]
	// Held sets are appended in arrival order: the first is the oldest.
	work := e != nil && len(e.pending) > 0 && e.pending[0].arrived.Before(limit)
	t.mu.RUnlock()
	if !work {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e = t.exporters[addr]
	if e == nil {
		return 0
	}
	n := t.expirePendingLocked(e, limit)
	if e.empty() {
		delete(t.exporters, addr)
	}
	return n
}

func (t *Templates) expirePendingLocked(e *exporterState, limit time.Time) int {
	kept := e.pending[:0]
	n := 0
	for _, p := range e.pending {
		if p.arrived.Before(limit) {
			size := len(p.data) + 64
			e.pendingBytes -= size
			t.pendingBytes -= size
			t.pendingSets--
			n++
		} else {
			kept = append(kept, p)
		}
	}
	clear(e.pending[len(kept):])
	e.pending = kept
	t.pendingExpired.Add(uint64(n))
	return n
}

// Expired is what one Expire call removed.
type Expired struct {
	Templates   int // templates and options data entries not refreshed within TemplateTTL
	PendingSets int // held data sets whose template did not come within PendingTTL
}

// Expire removes templates and options data not refreshed within
// TemplateTTL, and held data sets older than PendingTTL (counted as
// dropped). Call it periodically (every few seconds); decoding also drops an
// exporter's stale held data when the exporter sends again, and never uses
// an expired template.
func (t *Templates) Expire(now time.Time) Expired {
	var x Expired
	limit := now.Add(-t.opt.PendingTTL)
	t.mu.Lock()
	defer t.mu.Unlock()
	for addr, e := range t.exporters {
		for k, tpl := range e.templates {
			if !t.live(tpl.seen.Load(), now) {
				t.templateBytes -= tpl.cost
				delete(e.templates, k)
				x.Templates++
			}
		}
		for k, se := range e.sampling {
			if !t.live(se.seen.Load(), now) {
				delete(e.sampling, k)
				x.Templates++
			}
		}
		x.PendingSets += t.expirePendingLocked(e, limit)
		if e.empty() {
			delete(t.exporters, addr)
		}
	}
	return x
}
