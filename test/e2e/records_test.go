//go:build e2e

package e2e

// The ONE place that knows flowlens's NDJSON record contract. Assertions use the typed views
// FlowRec / CounterRec; if a field is renamed, edit the constants (or the parse functions).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Field names (dotted ECS-style paths; records may nest them or use flat dotted keys).
const (
	fTimestamp   = "@timestamp"
	fDataset     = "event.dataset"
	fInput       = "flowlens.input"
	fAgentIP     = "observer.ip"
	fSubID       = "flowlens.agent.sub_id"
	fSequence    = "flowlens.sflow.sequence"
	fSampling    = "flowlens.sampling_rate"
	fSrcIP       = "source.ip"
	fDstIP       = "destination.ip"
	fSrcPort     = "source.port"
	fDstPort     = "destination.port"
	fSrcMAC      = "source.mac"
	fDstMAC      = "destination.mac"
	fNetType     = "network.type"
	fTransport   = "network.transport"
	fIANA        = "network.iana_number"
	fBytes       = "network.bytes"
	fPackets     = "network.packets"
	fICMPType    = "flowlens.icmp.type"
	fICMPCode    = "flowlens.icmp.code"
	fInID        = "observer.ingress.interface.id"
	fOutID       = "observer.egress.interface.id"
	fInName      = "observer.ingress.interface.name"
	fOutName     = "observer.egress.interface.name"
	fInFormat    = "flowlens.ingress.format"
	fOutFormat   = "flowlens.egress.format"
	fIfIndex     = "flowlens.interface.index"
	fIfName      = "flowlens.interface.name"
	fIfOFPort    = "flowlens.interface.openflow_port"
	fIfInOctets  = "flowlens.interface.in_octets"
	fIfOutOctets = "flowlens.interface.out_octets"
	fDPHits      = "flowlens.datapath.hits"
	fDPMisses    = "flowlens.datapath.misses"
	fDPLost      = "flowlens.datapath.lost"
	fDPFlows     = "flowlens.datapath.flows"

	// Tunnels (a sampled VXLAN header; OVS's tunnel structures 1023/1024 of a sample)
	fTunType      = "flowlens.tunnel.type"
	fTunVNI       = "flowlens.tunnel.vni"
	fInnerSrcIP   = "flowlens.inner.source.ip"
	fInnerDstIP   = "flowlens.inner.destination.ip"
	fInnerSrcMAC  = "flowlens.inner.source.mac"
	fInnerDstMAC  = "flowlens.inner.destination.mac"
	fInnerType    = "flowlens.inner.network.type"
	fTunEgSrcIP   = "flowlens.tunnel_egress.source.ip"
	fTunEgDstIP   = "flowlens.tunnel_egress.destination.ip"
	fTunEgDstPort = "flowlens.tunnel_egress.destination.port"
	fTunEgVNI     = "flowlens.tunnel_egress.vni"
	fTunInSrcIP   = "flowlens.tunnel_ingress.source.ip"
	fTunInDstIP   = "flowlens.tunnel_ingress.destination.ip"
	fTunInDstPort = "flowlens.tunnel_ingress.destination.port"
	fTunInVNI     = "flowlens.tunnel_ingress.vni"
	// Count once (issue 12): whether this sample is the packet's first observation in the
	// cloud, and where it was observed (port, uplink, forwarded, tunnel, patch).
	fObsFirst = "flowlens.observation.first"
	fObsPoint = "flowlens.observation.point"

	datasetFlow     = "flowlens.flow"
	datasetCounters = "flowlens.counters"
	datasetDatagram = "flowlens.datagram" // only the sink helper writes these

	inputSFlow = "sflow"
)

// Record is one NDJSON object (numbers kept as json.Number).
type Record map[string]any

// Lookup finds a dotted path, through nested objects and/or flat dotted keys.
func (r Record) Lookup(path string) (any, bool) {
	return lookup(r, strings.Split(path, "."))
}

func lookup(m map[string]any, parts []string) (any, bool) {
	for i := len(parts); i >= 1; i-- {
		v, ok := m[strings.Join(parts[:i], ".")]
		if !ok {
			continue
		}
		if i == len(parts) {
			return v, true
		}
		if sub, ok := v.(map[string]any); ok {
			if got, ok := lookup(sub, parts[i:]); ok {
				return got, true
			}
		}
	}
	return nil, false
}

// Str returns a string field; present reports whether the field exists at all, and a contract
// problem is noted if it has another type.
func (r Record) Str(path string, p *Problems) (string, bool) {
	v, ok := r.Lookup(path)
	if !ok {
		return "", false
	}
	s, isStr := v.(string)
	if !isStr {
		p.Add(fmt.Sprintf("field %s is %T, want string", path, v), r)
		return fmt.Sprint(v), true
	}
	return s, true
}

// Int returns an integer field (JSON number without fraction).
func (r Record) Int(path string, p *Problems) (int64, bool) {
	v, ok := r.Lookup(path)
	if !ok {
		return 0, false
	}
	n, isNum := v.(json.Number)
	if !isNum {
		p.Add(fmt.Sprintf("field %s is %T, want integer", path, v), r)
		if s, ok := v.(string); ok {
			i, err := strconv.ParseInt(s, 10, 64)
			return i, err == nil
		}
		return 0, false
	}
	i, err := n.Int64()
	if err != nil {
		p.Add(fmt.Sprintf("field %s = %s, want integer", path, n), r)
		f, _ := n.Float64()
		return int64(f), true
	}
	return i, true
}

// Bool returns a boolean field.
func (r Record) Bool(path string, p *Problems) (bool, bool) {
	v, ok := r.Lookup(path)
	if !ok {
		return false, false
	}
	b, isBool := v.(bool)
	if !isBool {
		p.Add(fmt.Sprintf("field %s is %T, want boolean", path, v), r)
	}
	return b, true
}

func (r Record) String() string {
	b, _ := json.Marshal(map[string]any(r))
	return string(b)
}

// Problems collects contract violations grouped by message (one t.Error per kind, with a count
// and an example, instead of thousands of lines).
type Problems struct {
	mu    sync.Mutex
	by    map[string]*problem
	order []string
}

type problem struct {
	n       int
	example string
}

func (p *Problems) Add(msg string, example fmt.Stringer) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.by == nil {
		p.by = map[string]*problem{}
	}
	pr := p.by[msg]
	if pr == nil {
		ex := ""
		if example != nil {
			ex = example.String()
			if len(ex) > 1500 {
				ex = ex[:1500] + "..."
			}
		}
		pr = &problem{example: ex}
		p.by[msg] = pr
		p.order = append(p.order, msg)
	}
	pr.n++
}

// Report calls errorf once per kind of problem.
func (p *Problems) Report(errorf func(string, ...any)) {
	for _, msg := range p.order {
		pr := p.by[msg]
		errorf("%s (%d records), e.g. %s", msg, pr.n, pr.example)
	}
}

func (p *Problems) Empty() bool { return len(p.order) == 0 }

// Output is a parsed NDJSON file.
type Output struct {
	Flows     []*FlowRec // sFlow flow records only (flowlens.input "sflow" or absent)
	NetFlows  []*FlowRec // NetFlow / IPFIX flow records (any other flowlens.input)
	Counters  []*CounterRec
	Datagrams []*DatagramRec // sink helper only
	Other     map[string]int // dataset -> count of records of other datasets
	BadLines  int
	Lines     int
}

// Interface is the sFlow interface field of a flow sample after decoding.
type Interface struct {
	ID     string // ifIndex as string; "" when absent
	Name   string // "" when absent
	Format string // single / discard / multiple / unknown
}

// FlowRec is event.dataset = flowlens.flow.
type FlowRec struct {
	Time               time.Time
	Input              string // flowlens.input: sflow, netflow_v5, netflow_v9, ipfix
	Agent              string
	SubID              int64
	Seq                int64
	HasSeq             bool
	Rate               int64
	SrcIP, DstIP       netip.Addr // invalid when absent
	SrcPort, DstPort   int64      // -1 when absent
	SrcMAC, DstMAC     string
	Type               string
	Transport          string
	IANA               string
	Bytes, Packets     int64
	ICMPType, ICMPCode int64 // -1 when absent
	In, Out            Interface
	Raw                Record
}

func (f *FlowRec) String() string { return f.Raw.String() }

// CounterRec is event.dataset = flowlens.counters (interface or datapath counters).
type CounterRec struct {
	Time      time.Time
	Agent     string
	SubID     int64
	Seq       int64
	HasSeq    bool
	IfIndex   int64 // -1 when absent (datapath record)
	IfName    string
	OFPort    int64 // -1 when absent
	InOctets  int64 // -1 when absent
	OutOctets int64
	Datapath  bool
	DPHits    int64
	DPMisses  int64
	DPLost    int64
	DPFlows   int64
	Raw       Record
}

func (c *CounterRec) String() string { return c.Raw.String() }

// DatagramRec is one datagram header (sink helper).
type DatagramRec struct {
	Time  time.Time
	Agent string
	SubID int64
	Seq   int64
}

// ParseOutput reads an NDJSON file. Contract problems go to p.
func ParseOutput(path string, p *Problems) (*Output, error) {
	o := &Output{Other: map[string]int{}}
	err := readLines(path, func(line []byte) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			return
		}
		o.Lines++
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var r Record
		if err := dec.Decode(&r); err != nil {
			o.BadLines++
			p.Add("line is not a JSON object: "+err.Error(), stringer(string(line)))
			return
		}
		ds, _ := r.Str(fDataset, p)
		switch ds {
		case datasetFlow:
			// The sFlow-only checks (sequence numbers, sampling, coverage, bytes) see only
			// o.Flows; NetFlow / IPFIX records (softflowd, netflow_test.go) go to o.NetFlows.
			if in, _ := r.Str(fInput, p); in != "" && in != inputSFlow {
				o.NetFlows = append(o.NetFlows, parseNetFlow(r, in, p))
			} else {
				o.Flows = append(o.Flows, parseFlow(r, p))
			}
		case datasetCounters:
			o.Counters = append(o.Counters, parseCounter(r, p))
		case datasetDatagram:
			d := &DatagramRec{Time: parseTime(r, p)}
			d.Agent, _ = r.Str(fAgentIP, p)
			d.SubID, _ = r.Int(fSubID, p)
			d.Seq, _ = r.Int(fSequence, p)
			o.Datagrams = append(o.Datagrams, d)
		default:
			o.Other[ds]++
		}
	})
	return o, err
}

type stringer string

func (s stringer) String() string { return string(s) }

func parseTime(r Record, p *Problems) time.Time {
	s, ok := r.Str(fTimestamp, p)
	if !ok {
		p.Add("missing "+fTimestamp, r)
		return time.Time{}
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		p.Add(fTimestamp+" is not RFC3339Nano", r)
	}
	return ts
}

// parseNetFlow reads a NetFlow / IPFIX flow record: the fields every input has (no sFlow
// sequence numbers, no sampled header).
func parseNetFlow(r Record, input string, p *Problems) *FlowRec {
	f := &FlowRec{Raw: r, Input: input, SrcPort: -1, DstPort: -1, ICMPType: -1, ICMPCode: -1}
	f.Time = parseTime(r, p)
	var ok bool
	if f.Agent, ok = r.Str(fAgentIP, p); !ok {
		p.Add("netflow: missing "+fAgentIP, r)
	}
	f.SubID, _ = r.Int(fSubID, p)
	f.Rate, _ = r.Int(fSampling, p)
	f.SrcIP = addrField(r, fSrcIP, p)
	f.DstIP = addrField(r, fDstIP, p)
	if v, ok := r.Int(fSrcPort, p); ok {
		f.SrcPort = v
	}
	if v, ok := r.Int(fDstPort, p); ok {
		f.DstPort = v
	}
	f.Type, _ = r.Str(fNetType, p)
	f.Transport, _ = r.Str(fTransport, p)
	f.IANA, _ = r.Str(fIANA, p)
	if f.Bytes, ok = r.Int(fBytes, p); !ok {
		p.Add("netflow: missing "+fBytes, r)
	}
	if f.Packets, ok = r.Int(fPackets, p); !ok {
		p.Add("netflow: missing "+fPackets, r)
	}
	return f
}

func parseFlow(r Record, p *Problems) *FlowRec {
	f := &FlowRec{Raw: r, Input: inputSFlow, SrcPort: -1, DstPort: -1, ICMPType: -1, ICMPCode: -1}
	f.Time = parseTime(r, p)
	var ok bool
	if f.Agent, ok = r.Str(fAgentIP, p); !ok {
		p.Add("flow: missing "+fAgentIP, r)
	}
	if f.SubID, ok = r.Int(fSubID, p); !ok {
		p.Add("flow: missing "+fSubID, r)
	}
	f.Seq, f.HasSeq = r.Int(fSequence, p)
	if !f.HasSeq {
		p.Add("flow: missing "+fSequence, r)
	}
	if f.Rate, ok = r.Int(fSampling, p); !ok {
		p.Add("flow: missing "+fSampling, r)
	}
	f.SrcIP = addrField(r, fSrcIP, p)
	f.DstIP = addrField(r, fDstIP, p)
	if v, ok := r.Int(fSrcPort, p); ok {
		f.SrcPort = v
	}
	if v, ok := r.Int(fDstPort, p); ok {
		f.DstPort = v
	}
	f.SrcMAC, _ = r.Str(fSrcMAC, p)
	f.DstMAC, _ = r.Str(fDstMAC, p)
	if f.Type, ok = r.Str(fNetType, p); !ok {
		p.Add("flow: missing "+fNetType, r)
	}
	f.Transport, _ = r.Str(fTransport, p)
	f.IANA, _ = r.Str(fIANA, p)
	if f.Bytes, ok = r.Int(fBytes, p); !ok {
		p.Add("flow: missing "+fBytes, r)
	}
	if f.Packets, ok = r.Int(fPackets, p); !ok {
		p.Add("flow: missing "+fPackets, r)
	}
	if v, ok := r.Int(fICMPType, p); ok {
		f.ICMPType = v
	}
	if v, ok := r.Int(fICMPCode, p); ok {
		f.ICMPCode = v
	}
	f.In.ID, _ = r.Str(fInID, p)
	f.Out.ID, _ = r.Str(fOutID, p)
	f.In.Name, _ = r.Str(fInName, p)
	f.Out.Name, _ = r.Str(fOutName, p)
	f.In.Format, _ = r.Str(fInFormat, p)
	f.Out.Format, _ = r.Str(fOutFormat, p)
	return f
}

func addrField(r Record, path string, p *Problems) netip.Addr {
	s, ok := r.Str(path, p)
	if !ok {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		p.Add(fmt.Sprintf("field %s = %q is not an IP address", path, s), r)
	}
	return a
}

func parseCounter(r Record, p *Problems) *CounterRec {
	c := &CounterRec{Raw: r, IfIndex: -1, OFPort: -1, InOctets: -1, OutOctets: -1}
	c.Time = parseTime(r, p)
	var ok bool
	if c.Agent, ok = r.Str(fAgentIP, p); !ok {
		p.Add("counters: missing "+fAgentIP, r)
	}
	if c.SubID, ok = r.Int(fSubID, p); !ok {
		p.Add("counters: missing "+fSubID, r)
	}
	c.Seq, c.HasSeq = r.Int(fSequence, p)
	if v, ok := r.Int(fIfIndex, p); ok {
		c.IfIndex = v
	}
	c.IfName, _ = r.Str(fIfName, p)
	if v, ok := r.Int(fIfOFPort, p); ok {
		c.OFPort = v
	}
	if v, ok := r.Int(fIfInOctets, p); ok {
		c.InOctets = v
	}
	if v, ok := r.Int(fIfOutOctets, p); ok {
		c.OutOctets = v
	}
	if v, ok := r.Int(fDPHits, p); ok {
		c.Datapath = true
		c.DPHits = v
		c.DPMisses, _ = r.Int(fDPMisses, p)
		c.DPLost, _ = r.Int(fDPLost, p)
		c.DPFlows, _ = r.Int(fDPFlows, p)
	}
	if c.IfIndex < 0 && !c.Datapath {
		p.Add("counters: neither "+fIfIndex+" nor "+fDPHits, r)
	}
	return c
}

// AgentKey identifies an sFlow (sub-)agent: one sequence number space.
type AgentKey struct {
	Agent string
	SubID int64
}

func (k AgentKey) String() string { return fmt.Sprintf("%s/%d", k.Agent, k.SubID) }

// Sequences returns, per (agent, sub-agent), the sorted distinct datagram sequence numbers
// seen in any record that carries one.
func (o *Output) Sequences() map[AgentKey][]int64 {
	m := map[AgentKey]map[int64]bool{}
	add := func(a string, sub, seq int64) {
		k := AgentKey{a, sub}
		if m[k] == nil {
			m[k] = map[int64]bool{}
		}
		m[k][seq] = true
	}
	for _, f := range o.Flows {
		if f.HasSeq {
			add(f.Agent, f.SubID, f.Seq)
		}
	}
	for _, c := range o.Counters {
		if c.HasSeq {
			add(c.Agent, c.SubID, c.Seq)
		}
	}
	for _, d := range o.Datagrams {
		add(d.Agent, d.SubID, d.Seq)
	}
	out := map[AgentKey][]int64{}
	for k, set := range m {
		s := make([]int64, 0, len(set))
		for q := range set {
			s = append(s, q)
		}
		slices.Sort(s)
		out[k] = s
	}
	return out
}

// Gaps returns the missing numbers count and up to 10 missing ranges of a sorted sequence.
func Gaps(seqs []int64) (missing int64, ranges []string) {
	for i := 1; i < len(seqs); i++ {
		if d := seqs[i] - seqs[i-1] - 1; d > 0 {
			missing += d
			if len(ranges) < 10 {
				ranges = append(ranges, fmt.Sprintf("%d..%d", seqs[i-1]+1, seqs[i]-1))
			}
		}
	}
	return missing, ranges
}

// --- collector log (log/slog JSON on stderr) ------------------------------------------------

// AgentSummary is the "agent summary" line flowlens logs per (agent, sub-agent) at exit.
type AgentSummary struct {
	Agent        string
	Input        string // sflow, netflow_v9, ipfix, ...; "" if the line has no input
	SubAgent     int64
	Datagrams    int64
	Samples      int64
	Lost         int64
	DecodeErrors int64
}

// ParseSummaries reads the collector's JSON log and returns its agent summaries, plus the
// lines at level ERROR (and WARN) for the report.
func ParseSummaries(logPath string, p *Problems) (sums []AgentSummary, errs []string, err error) {
	err = readLines(logPath, func(line []byte) {
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var r Record
		if dec.Decode(&r) != nil {
			if len(bytes.TrimSpace(line)) > 0 {
				p.Add("collector log line is not JSON", stringer(string(line)))
			}
			return
		}
		if lvl, _ := r.Str("level", nil); lvl == "ERROR" || lvl == "WARN" {
			errs = append(errs, string(line))
		}
		if msg, _ := r.Str("msg", nil); msg != "agent summary" {
			return
		}
		var s AgentSummary
		var ok [6]bool
		s.Agent, ok[0] = r.Str("agent", p)
		s.Input, _ = r.Str("input", p)
		s.SubAgent, ok[1] = r.Int("sub_agent", p)
		s.Datagrams, ok[2] = r.Int("datagrams", p)
		s.Samples, ok[3] = r.Int("samples", p)
		s.Lost, ok[4] = r.Int("lost", p)
		s.DecodeErrors, ok[5] = r.Int("decode_errors", p)
		for i, name := range []string{"agent", "sub_agent", "datagrams", "samples", "lost", "decode_errors"} {
			if !ok[i] {
				p.Add("agent summary: missing "+name, r)
			}
		}
		sums = append(sums, s)
	})
	return sums, errs, err
}
