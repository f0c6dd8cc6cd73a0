// Package decode turns the datagrams of every flow protocol flowlens reads
// into records for the pipeline. One Handler per input socket tells sFlow
// v5 from NetFlow v5/v9 and IPFIX by the version in the first bytes,
// decodes with that protocol's decoder (decode/sflow, decode/netflow),
// counts per exporter (sequence loss, errors, unknown structures) and hands
// the records to its pipeline.Handler for enrichment and the outputs.
package decode

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/flowlens/flowlens/internal/agents"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// Config holds the decoders' options.
type Config struct {
	SFlow sflow.Options
	// NetFlow/IPFIX options and the template cache every socket shares.
	// Without one, a cache with NetFlow's options is made, so that a
	// NetFlow datagram sent to the sFlow port still decodes.
	NetFlow   netflow.Options
	Templates *netflow.Templates
}

// Decoders is what the handlers of one pipeline share.
type Decoders struct {
	cfg Config
	p   *pipeline.Pipeline
	log *slog.Logger
	// ovsSeq: the sequence of each Open vSwitch IPFIX exporter address
	// (*agents.Stats), across its observation domains; as bounded as the
	// template cache's exporters.
	ovsSeq sync.Map
}

// New returns the decoders feeding p.
func New(cfg Config, p *pipeline.Pipeline) *Decoders {
	if cfg.Templates == nil {
		cfg.Templates = netflow.NewTemplates(cfg.NetFlow)
	}
	return &Decoders{cfg: cfg, p: p, log: p.Log()}
}

// Templates is the NetFlow/IPFIX template cache the handlers share.
func (d *Decoders) Templates() *netflow.Templates { return d.cfg.Templates }

// Protocol is what a datagram's first bytes say it is.
type Protocol uint8

// The protocols a Handler tells apart.
const (
	Unknown Protocol = iota
	SFlow            // sFlow version 5
	NetFlow          // NetFlow v5, v9 or IPFIX
)

// Sniff tells sFlow v5 (a 32-bit version 5) from NetFlow v5, v9 and IPFIX
// (a 16-bit version 5, 9 or 10). The two never collide: sFlow's first two
// bytes are zero.
func Sniff(b []byte) Protocol {
	if len(b) >= 4 && binary.BigEndian.Uint32(b) == 5 {
		return SFlow
	}
	if len(b) < 2 {
		return Unknown
	}
	switch binary.BigEndian.Uint16(b) {
	case 5, 9, 10:
		return NetFlow
	}
	return Unknown
}

// Handler decodes, accounts for and enriches the datagrams of one socket.
// It is not safe for concurrent use.
type Handler struct {
	*pipeline.Handler
	d        *Decoders
	fallback Protocol // the socket's protocol: decodes what Sniff cannot tell
	sf       *sflow.Decoder
	sres     sflow.Result
	nf       *netflow.Decoder
	nres     netflow.Result
}

// Handler returns a handler for one socket whose datagrams are expected
// to be of protocol p: an unrecognised datagram goes to p's decoder,
// which counts why it is bad.
func (d *Decoders) Handler(p Protocol) *Handler {
	if p != NetFlow {
		p = SFlow
	}
	return &Handler{Handler: d.p.NewHandler(), d: d, fallback: p}
}

// Datagram handles one datagram.
func (h *Handler) Datagram(b []byte, src netip.AddrPort, now time.Time) {
	p := Sniff(b)
	if p == Unknown {
		p = h.fallback
	}
	if p == NetFlow {
		h.netflow(b, src, now)
	} else {
		h.sflow(b, src, now)
	}
}

func (h *Handler) sflow(b []byte, src netip.AddrPort, now time.Time) {
	if h.sf == nil {
		h.sf = sflow.NewDecoder(h.d.cfg.SFlow)
	}
	r := &h.sres
	err := h.sf.Decode(b, now, r)
	o := agents.Observation{Size: len(b), Flows: len(r.Flows), Counters: len(r.Counters),
		Unknown: r.UnknownRecords, UnknownSamples: r.UnknownSamples}
	// A type assertion, not errors.As: the decoder returns the value
	// itself, and errors.As would allocate its target on every datagram.
	if se, ok := err.(sflow.Error); ok {
		o.Error = se.Reason.String()
	}
	hdr := &r.Header
	key := agents.Key{Agent: hdr.Agent, SubAgent: hdr.SubAgent, Input: flow.InputSFlow}
	if r.HeaderOK {
		o.HeaderOK, o.Sequence, o.Step, o.Uptime = true, hdr.Sequence, 1, hdr.Uptime
		o.Source = src.Addr().Unmap()
	} else {
		// Without a header the datagram belongs to whoever sent it.
		key = agents.Key{Agent: src.Addr().Unmap(), SubAgent: agents.NoSubAgent, Input: flow.InputSFlow}
	}
	st := h.Stats(key)
	_, logIt := st.Observe(now, &o)
	for reason, n := range r.SampleErrors {
		st.AddErrors(sflow.Reason(reason).String(), uint64(n))
	}
	if logIt {
		h.d.log.Warn("bad sFlow datagram dropped (logged at most every 10 s per agent)",
			"from", src.String(), "agent", key.Agent.String(), "reason", o.Error, "size", len(b))
	}
	if o.LogConflict {
		h.d.log.Warn("two exporters send sFlow with the same agent address and sub-agent: their sequence numbers, loss and ports mix (logged at most every minute)",
			"agent", key.Agent.String(), "sub_agent", key.SubAgent, "first_source", st.FirstSource().String(), "other_source", src.Addr().Unmap().String(),
			"fix", "give each exporter an agent address of its own (Open vSwitch: flowlens ovs configure --agent IFACE, an interface with a unique address)")
	}
	if len(r.Flows) == 0 && len(r.Counters) == 0 {
		return
	}
	// Counters first: a port's name may arrive in the same datagram as
	// its first flows.
	for i := range r.Counters {
		h.d.p.Inventory.Update(&r.Counters[i])
	}
	h.Add(r.Flows, r.Counters)
}

func (h *Handler) netflow(b []byte, src netip.AddrPort, now time.Time) {
	if h.nf == nil {
		h.nf = netflow.NewDecoder(h.d.cfg.Templates, h.d.cfg.NetFlow)
	}
	r := &h.nres
	err := h.nf.Decode(b, src, now, r)
	o := agents.Observation{Size: len(b), Flows: len(r.Flows), Unknown: r.UnknownSets}
	if ne, ok := err.(netflow.Error); ok {
		o.Error = ne.Reason.String()
	}
	key := agents.Key{Agent: src.Addr().Unmap(), SubAgent: r.Domain, Input: flow.InputIPFIX}
	switch r.Version {
	case 5:
		key.Input = flow.InputNetFlowV5
	case 9:
		key.Input = flow.InputNetFlowV9
	}
	if r.HeaderOK {
		o.HeaderOK, o.Sequence = true, r.Sequence
		switch r.Version {
		case 5: // flows seen before this datagram (Open vSwitch: up to and including it)
			o.Step, o.StepIncluded = uint32(len(r.Flows)), true
		case 9: // datagrams
			o.Step, o.Uptime = 1, r.SysUptime
		default: // IPFIX: data records, options data included, before this message (softflowd: up to and including it)
			o.Step = uint32(len(r.Flows)) - r.PendingRecords - r.ReverseRecords + r.OptionsRecords
			o.StepIncluded = true
			o.Resync = r.PendingHeld > 0 // held sets have records we cannot count yet
		}
	} else {
		key.SubAgent = agents.NoSubAgent
	}
	// Open vSwitch numbers the IPFIX messages of all its observation
	// domains in one sequence (one counter per exporter): measured per
	// domain, each domain would count the others' messages as lost. The
	// loss goes to the row of the datagram that revealed it.
	var shared uint64
	if r.Version == 10 && r.OpenVSwitch && o.HeaderOK {
		seq, ok := h.d.ovsSeq.Load(key.Agent)
		if !ok { // allocated once per exporter, not per datagram
			seq, _ = h.d.ovsSeq.LoadOrStore(key.Agent, agents.NewSequence())
		}
		shared, _ = seq.(*agents.Stats).Observe(now, &agents.Observation{HeaderOK: true, Sequence: o.Sequence, Step: o.Step,
			StepIncluded: o.StepIncluded, Resync: o.Resync})
		o.HeaderOK = false
	}
	st := h.Stats(key)
	_, logIt := st.Observe(now, &o)
	st.AddLost(shared)
	for reason, n := range r.Errors {
		st.AddErrors(netflow.Reason(reason).String(), uint64(n))
	}
	st.AddErrors("no_template_expired", uint64(r.PendingExpired))
	st.AddErrors("no_template_overflow", uint64(r.PendingOverflow))
	st.AddPending(uint64(r.PendingHeld), uint64(r.PendingDecoded))
	if logIt {
		h.d.log.Warn("bad NetFlow/IPFIX datagram dropped (logged at most every 10 s per exporter)",
			"from", src.String(), "reason", o.Error, "size", len(b))
	}
	for _, i := range r.Interfaces {
		h.d.p.Inventory.Learn(key.Agent, i.Index, i.Name, now)
	}
	h.Add(r.Flows, nil)
}
