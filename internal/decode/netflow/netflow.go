// Package netflow decodes NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX
// (RFC 7011, information elements from RFC 7012 and the IANA registry) into
// flow records.
//
// Version 9 and IPFIX data can only be read with the template the exporter
// sent earlier, so templates live in a Templates cache that every Decoder of
// a process shares (one Decoder per reading goroutine). The cache also keeps
// what options data says about sampling, holds data sets whose template has
// not arrived yet (bounded, see Options), and can be saved and loaded so that
// a restarted collector decodes at once.
//
// Every length in a datagram is checked against the bytes that are really
// there, everything a datagram can make the cache hold is bounded, and
// decoding allocates nothing per datagram in steady state (templates already
// known, Result reused).
//
// # Sampling
//
// Record.Bytes and Record.Packets estimate the real traffic. The sampling
// rate of a record is, in this order of precedence:
//
//  1. a rate in the record itself: samplingInterval (IE 34, also NetFlow v9
//     field 34), samplerRandomInterval (IE 50), samplingPacketInterval and
//     samplingPacketSpace (IE 305/306: rate = (interval+space)/interval),
//     samplingSize and samplingPopulation (IE 309/310) or
//     samplingProbability (IE 311); for NetFlow v5 the header's
//     sampling_interval (its low 14 bits; 0 means "not said");
//  2. options data from the same exporter and observation domain / source
//     id: the rate of the sampler the record names (samplerId IE 48 /
//     NetFlow v9 FLOW_SAMPLER_ID, or selectorId IE 302) when it names one
//     that options data described, else a rate the options data gave
//     without a sampler id, else the rate of the only sampler described;
//  3. Options.SamplingRates[exporter], else Options.DefaultSamplingRate;
//  4. none: Record.SamplingRate is 0 and the counts are taken as they are.
//
// The exported counts are multiplied by that rate, except for records whose
// template is Open vSwitch's (see IsOpenVSwitch): Open vSwitch multiplies
// its IPFIX packet and octet counts by its sampling rate itself
// (packetDeltaCount is 64 for one packet sampled at 1:64) and says nothing
// about sampling, so for those records the rate found above is only
// reported in Record.SamplingRate and the counts are kept as exported. A
// record is never dropped for want of a rate.
package netflow

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// Reason says why (part of) a datagram could not be decoded. Reasons are
// small integers so they can be counted per exporter without allocating.
type Reason uint8

const (
	ReasonNone           Reason = iota
	ReasonTruncated             // the datagram ended inside a header, a set or a v5 record
	ReasonVersion               // not NetFlow 5, NetFlow 9 or IPFIX (10)
	ReasonHeaderLength          // IPFIX message length shorter than its header
	ReasonSetLength             // a set (v9: flowset) shorter than its own header
	ReasonTemplate              // malformed template: fields past the set, bad scope, reserved id, empty record
	ReasonTemplateFields        // a template with more than MaxTemplateFields fields
	ReasonTemplateLimit         // template or options data not kept: exporter, template or memory limit reached
	ReasonRecord                // a data record runs past its set (variable-length field)
	ReasonTooManyRecords        // more than MaxRecordsPerDatagram (options: MaxOptionsRecordsPerDatagram) records in one datagram
	// The two below skip nothing: the record is kept, without what the
	// reason names.
	ReasonSection // a packet section (IE 313-315) of zero length, or longer than the dataLinkFrameSize (312) it comes with
	ReasonBiflow  // an RFC 5103 biflow record without a reverse packet or octet count: no reverse record
	NumReasons
)

var reasonNames = [NumReasons]string{
	"none", "truncated", "version", "header_length", "set_length", "template",
	"template_fields", "template_limit", "record", "too_many_records",
	"section", "biflow",
}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Error is a datagram-level decoding failure. It is comparable, so callers
// can count by Reason without allocating.
type Error struct{ Reason Reason }

func (e Error) Error() string { return "netflow: " + e.Reason.String() }

// Limits that are not options: they bound what one datagram can make a
// decoder produce. No real exporter comes near them.
const (
	// MaxTemplateFields bounds the fields of one template. Open vSwitch's
	// largest template has 56, Cisco's a few dozen.
	MaxTemplateFields = 1024
	// MaxRecordsPerDatagram bounds the records one Decode call returns
	// (a flow.Record is about 800 bytes). A 1500-byte datagram holds at
	// most a few dozen real records.
	MaxRecordsPerDatagram = 4096
	// MaxOptionsRecordsPerDatagram bounds the options data records one
	// datagram may apply (real exporters send a handful).
	MaxOptionsRecordsPerDatagram = 256
)

// Options configure a Templates cache and the Decoders that use it. The
// limits are read from the Options given to NewTemplates, the sampling
// settings from the Options given to NewDecoder. Zero values mean the
// defaults documented on each field.
type Options struct {
	// DefaultSamplingRate is used for records of exporters that say
	// nothing about sampling, neither in the record nor in options data
	// (0 = none: counts are taken as they are). It is never applied to
	// Open vSwitch IPFIX counts, which are already scaled. Open vSwitch
	// NetFlow v5 is not sampled at all, and sflowtool's NetFlow v5 output
	// is already scaled: do not set a default for those exporters (use
	// SamplingRates to set one per exporter instead).
	DefaultSamplingRate uint32
	// SamplingRates overrides DefaultSamplingRate per exporter address.
	// It is only read, never written, so it may be shared.
	SamplingRates map[netip.Addr]uint32

	// TemplateTTL: templates and options data expire when they were not
	// refreshed for this long (default 30 min). Open vSwitch resends its
	// templates every 10 minutes, Cisco every 30 minutes by default.
	TemplateTTL time.Duration

	// Data sets that arrive before their template are held for at most
	// PendingTTL (default 10 s), at most PendingMaxSets sets (default 256)
	// and PendingMaxBytes bytes (default 256 KiB) per exporter, and at
	// most MaxPendingBytes bytes in total (default 16 MiB). When the
	// template arrives they are decoded; otherwise they are dropped and
	// counted (Result.PendingExpired, Result.PendingOverflow, Stats).
	PendingTTL      time.Duration
	PendingMaxSets  int
	PendingMaxBytes int
	MaxPendingBytes int

	// MaxExporters bounds the exporters the cache keeps state for
	// (default 4096); MaxTemplatesPerExporter the templates and options
	// entries of one exporter over all its domains (default 1024);
	// MaxTemplateBytes the memory of all templates (default 64 MiB).
	// Templates beyond the limits are not kept and are counted
	// (ReasonTemplateLimit).
	MaxExporters            int
	MaxTemplatesPerExporter int
	MaxTemplateBytes        int
}

// PendingTTLOrDefault is PendingTTL, or its default when not set.
func (o Options) PendingTTLOrDefault() time.Duration { return o.withDefaults().PendingTTL }

func (o Options) withDefaults() Options {
	if o.TemplateTTL <= 0 {
		o.TemplateTTL = 30 * time.Minute
	}
	if o.PendingTTL <= 0 {
		o.PendingTTL = 10 * time.Second
	}
	if o.PendingMaxSets <= 0 {
		o.PendingMaxSets = 256
	}
	if o.PendingMaxBytes <= 0 {
		o.PendingMaxBytes = 256 << 10
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 16 << 20
	}
	if o.MaxExporters <= 0 {
		o.MaxExporters = 4096
	}
	if o.MaxTemplatesPerExporter <= 0 {
		o.MaxTemplatesPerExporter = 1024
	}
	if o.MaxTemplateBytes <= 0 {
		o.MaxTemplateBytes = 64 << 20
	}
	return o
}

// Result receives one decoded datagram. Reuse it across calls: Flows keeps
// its capacity.
type Result struct {
	Version uint16 // 5, 9 or 10 (IPFIX)
	// HeaderOK is true when the datagram header was read whole, so the
	// fields below name the exporter's stream even if a later part failed.
	HeaderOK bool
	// Sequence is the header's sequence number: v5 flows seen before this
	// datagram, v9 datagrams, IPFIX data records before this message.
	Sequence uint32
	// Domain is the IPFIX observation domain or the v9 source id; 0 for v5
	// (whose engine type and id are in the records).
	Domain     uint32
	ExportTime time.Time // the header's export time (unix seconds; v5 with nanoseconds)
	SysUptime  uint32    // v5 and v9 header: milliseconds since the exporter booted

	// Flows holds the flow records of this datagram, followed by those of
	// held data sets that the templates in this datagram made decodable.
	Flows []flow.Record

	// Interfaces are interface names from options data (an interface
	// table: ingressInterface with interfaceName).
	Interfaces []InterfaceName

	Templates        uint32 // template records learned or refreshed
	OptionsTemplates uint32 // options template records learned or refreshed
	Withdrawals      uint32 // IPFIX template withdrawals
	OptionsRecords   uint32 // options data records read (sampling, system init time)

	// Data sets without a (live) template.
	PendingHeld     uint32 // held, waiting for their template
	PendingDecoded  uint32 // held earlier (or above in this datagram), decoded now
	PendingRecords  uint32 // flow records in Flows that came from held sets
	PendingExpired  uint32 // held sets of this exporter dropped now: no template within PendingTTL
	PendingOverflow uint32 // held sets dropped (or not held) because a pending limit was reached
	// BorrowedTemplate counts data sets decoded with the same template id
	// of another observation domain of the exporter: Open vSwitch's, which
	// sends templates for one domain at a time (Templates.borrow).
	BorrowedTemplate uint32
	// OpenVSwitch: a data set was decoded with an Open vSwitch template.
	// Open vSwitch numbers the messages of all its observation domains in
	// one sequence, so loss is measured per exporter, not per domain.
	OpenVSwitch bool

	// ReverseRecords counts the records in Flows made from the reverse
	// direction of biflows (RFC 5103) of this datagram's own data sets;
	// those of held sets are in PendingRecords. They are not data records
	// of their own (sequence numbers count each biflow once).
	ReverseRecords uint32

	UnknownSets      uint32 // sets with reserved ids, skipped
	EnterpriseFields uint32 // enterprise-specific values skipped (not VMware tunnel elements)

	// Errors counts set- and record-level problems. The rest of the set is
	// skipped (but for ReasonSection and ReasonBiflow, which lose only what
	// they name), the rest of the datagram is still decoded. Datagram-level
	// problems are returned by Decode instead.
	Errors [NumReasons]uint32
}

func (r *Result) reset() {
	flows, ifs := r.Flows[:0], r.Interfaces[:0]
	*r = Result{Flows: flows, Interfaces: ifs}
}

// InterfaceName is one entry of an exporter's interface table.
type InterfaceName struct {
	Index uint32
	Name  string
}

// maxInterfaceNames bounds the interface names kept from one datagram.
const maxInterfaceNames = 1024

// Decoder decodes datagrams. It is not safe for concurrent use: give each
// reading goroutine its own, all sharing one Templates.
type Decoder struct {
	t     *Templates
	opt   Options
	names map[string]string // interned interface names
	taken []*pendingSet     // scratch: held sets released by a template
	// optRec receives the fields of options data records, which are not
	// flows.
	optRec flow.Record
	// revS and revRec receive the reverse elements of a biflow record;
	// secRec the packet parsed from a packet section.
	revS           scratch
	revRec, secRec flow.Record
}

// NewDecoder returns a Decoder that keeps templates in t.
func NewDecoder(t *Templates, opt Options) *Decoder {
	return &Decoder{t: t, opt: opt, names: make(map[string]string)}
}

// maxNames bounds the intern table: random names from a hostile exporter
// must not grow memory without limit.
const maxNames = 65536

// intern returns a string equal to b, reusing an earlier copy so that names
// repeated in every record do not cost an allocation each.
func (d *Decoder) intern(b []byte) string {
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.names) < maxNames {
		d.names[s] = s
	}
	return s
}

// Decode decodes datagram b, received from exporter at time now, into res.
// On a datagram-level error it returns an Error; what was decoded before the
// error is kept in res. now is also the clock of the template cache: template
// and pending-data ages are measured in arrival times.
func (d *Decoder) Decode(b []byte, exporter netip.AddrPort, now time.Time, res *Result) error {
	res.reset()
	if len(b) < 2 {
		return Error{ReasonTruncated}
	}
	addr := exporter.Addr().Unmap()
	switch binary.BigEndian.Uint16(b) {
	case 5:
		return d.decodeV5(b, addr, now, res)
	case 9:
		return d.decodeV9(b, addr, now, res)
	case 10:
		return d.decodeIPFIX(b, addr, now, res)
	}
	return Error{ReasonVersion}
}

// configuredRate returns the rate configured for an exporter that says
// nothing about sampling.
func (d *Decoder) configuredRate(addr netip.Addr) uint32 {
	if r, ok := d.opt.SamplingRates[addr]; ok {
		return r
	}
	return d.opt.DefaultSamplingRate
}

// scale multiplies a count by a sampling rate, saturating instead of
// wrapping on absurd values.
func scale(n uint64, rate uint32) uint64 {
	if rate <= 1 {
		return n
	}
	r := uint64(rate)
	if n > ^uint64(0)/r {
		return ^uint64(0)
	}
	return n * r
}

func port(v uint32) flow.Port {
	if v == 0 {
		return flow.Port{Format: flow.PortUnknown}
	}
	return flow.Port{Format: flow.PortSingle, Index: v}
}
