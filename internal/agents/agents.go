// Package agents keeps per-exporter health: datagrams, samples, decode
// errors by reason, and data lost according to sequence numbers. An
// exporter is an sFlow agent and sub-agent (one per Open vSwitch bridge), or
// a NetFlow/IPFIX exporter and observation domain, for one protocol.
package agents

import (
	"github.com/flowlens/flowlens/internal/lograte"
	"maps"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// NoSubAgent marks the entry for datagrams whose header could not be read:
// they are counted against their UDP source address.
const NoSubAgent = ^uint32(0)

// Key names one exporter. The protocol is part of it: Open vSwitch exports
// sFlow and IPFIX from the same address, both with sub-agent/domain 0.
type Key struct {
	Agent    netip.Addr
	SubAgent uint32
	Input    flow.Input
}

// maxAgents bounds the registry: spoofed sources must not grow memory
// without limit. Past it, new exporters share the overflow entry.
const maxAgents = 16384

// overflowKey collects exporters beyond maxAgents.
var overflowKey = Key{Agent: netip.IPv4Unspecified(), SubAgent: NoSubAgent}

// Stats is one exporter's health. Update it through Observe; read it
// through Read.
type Stats struct {
	mu sync.Mutex
	Snapshot
	next   uint32 // expected next sequence number
	prev   uint32 // last sequence number
	uptime uint32
	seen   bool
	resync bool
	// included: this exporter has shown that it counts a datagram's own
	// Step in its sequence number; gaps are measured that way from then on.
	included bool
	errLog   lograte.Limiter
	// conflictLog: a second source is reported at most once a minute.
	conflictLog lograte.Limiter
	// marks: the datagram count every markEvery, for the recent rate.
	marks [rateMarks]mark
	nmark int
}

type mark struct {
	t time.Time
	n uint64
}

// The recent rate is measured over RateWindow from marks taken every
// markEvery: an average since the exporter was first seen hides that it
// slowed down or stopped.
const (
	RateWindow = time.Minute
	markEvery  = 10 * time.Second
	rateMarks  = 8 // RateWindow / markEvery + 2
)

// Snapshot is a copy of an exporter's counters.
type Snapshot struct {
	Key
	Datagrams      uint64
	Bytes          uint64
	FlowSamples    uint64 // sFlow flow samples, NetFlow/IPFIX flow records
	CounterSamples uint64
	UnknownRecords uint64
	UnknownSamples uint64
	// Lost is what sequence numbers say went missing: datagrams for
	// sFlow and NetFlow v9, flow records for NetFlow v5 and IPFIX. Resets
	// counts exporter restarts (sequence and uptime going back),
	// OutOfOrder data older than some already seen.
	Lost       uint64
	Resets     uint64
	OutOfOrder uint64
	// NetFlow v9/IPFIX data that arrived before its template:
	// PendingHeld data sets were held, PendingDecoded of them were decoded
	// when the template came. Those dropped are in Errors
	// (no_template_expired, no_template_overflow).
	PendingHeld    uint64
	PendingDecoded uint64
	// Errors counts decode errors by reason (datagrams dropped, and
	// samples or sets skipped inside good datagrams).
	Errors       map[string]uint64
	FirstSeen    time.Time
	LastSeen     time.Time
	LastSequence uint32
	// Restored: known from before a restart (the store's flows), not
	// heard from since; its counters start at 0.
	Restored bool
	// Rate is the datagrams per second over the last RateWindow when
	// the snapshot was taken by Registry.All (Rate); 0 from Read.
	Rate float64
	// Source is the UDP source address of the first datagram;
	// OtherSources counts datagrams from any other source address.
	Source       netip.Addr
	OtherSources uint64
}

// ErrorCount is the sum of Errors.
func (s *Snapshot) ErrorCount() uint64 {
	var n uint64
	for _, v := range s.Errors {
		n += v
	}
	return n
}

// Observation is what one datagram tells about its exporter.
type Observation struct {
	Size     int
	HeaderOK bool // Sequence, Uptime and Step are meaningful
	Sequence uint32
	// Step is how much the sequence number should grow with this
	// datagram: 1 for sFlow and NetFlow v9, its flow records for NetFlow
	// v5 and IPFIX.
	Step uint32
	// Uptime is the exporter's uptime in ms when the protocol has one (0
	// otherwise): going back with the sequence means a restart.
	Uptime uint32
	// StepIncluded: the exporter may count this datagram's own Step in its
	// sequence number (Open vSwitch's NetFlow v5 and softflowd's IPFIX do),
	// so a sequence equal to the previous one plus this Step is in order
	// too.
	StepIncluded bool
	// Resync: this datagram's Step is unknown (IPFIX data held for its
	// template), so the next sequence number is not checked.
	Resync          bool
	Flows, Counters int
	Unknown         uint32 // unknown records or sets skipped
	UnknownSamples  uint32
	Error           string // the datagram-level decode error's reason, "" if none
	// Source is the datagram's UDP source address. An sFlow agent names
	// itself in the header; two exporters that claim the same name (two
	// hypervisors with agent=lo, for instance) mix their sequence numbers.
	Source netip.Addr
	// LogConflict is set by Observe when this datagram came from another
	// source than the agent's first, and it is time to say so again.
	LogConflict bool
}

// Registry holds every exporter's Stats.
type Registry struct {
	mu sync.RWMutex
	m  map[Key]*Stats
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{m: make(map[Key]*Stats)}
}

// Get returns the Stats of k, creating them on first use.
func (r *Registry) Get(k Key) *Stats {
	r.mu.RLock()
	s := r.m[k]
	r.mu.RUnlock()
	if s != nil {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s = r.m[k]; s != nil {
		return s
	}
	if len(r.m) >= maxAgents {
		k = overflowKey
		if s = r.m[k]; s != nil {
			return s
		}
	}
	s = &Stats{}
	s.Key = k
	s.Errors = map[string]uint64{}
	r.m[k] = s
	return s
}

// NewSequence returns Stats outside any registry, to follow one sequence
// that several rows share (Open vSwitch's IPFIX domains); only Observe's
// loss is of use.
func NewSequence() *Stats {
	s := &Stats{}
	s.Errors = map[string]uint64{}
	return s
}

// AddLost counts loss measured elsewhere (a shared sequence) on s.
func (s *Stats) AddLost(n uint64) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.Lost += n
	s.mu.Unlock()
}

// Observe records one datagram. It returns how much the sequence number
// says was lost before it, and whether the caller should log o.Error: at
// most once per exporter every 10 seconds, so a flood of bad datagrams
// cannot flood the log.
func (s *Stats) Observe(now time.Time, o *Observation) (lost uint64, logIt bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.FirstSeen.IsZero() || s.Restored {
		s.FirstSeen, s.Restored = now, false
	}
	s.LastSeen = now
	s.Datagrams++
	if last := s.marks[(s.nmark+rateMarks-1)%rateMarks]; s.nmark == 0 || now.Sub(last.t) >= markEvery {
		s.marks[s.nmark%rateMarks] = mark{now, s.Datagrams - 1}
		s.nmark++
	}
	s.Bytes += uint64(o.Size)
	s.FlowSamples += uint64(o.Flows)
	s.CounterSamples += uint64(o.Counters)
	s.UnknownRecords += uint64(o.Unknown)
	s.UnknownSamples += uint64(o.UnknownSamples)
	if o.Source.IsValid() {
		switch {
		case !s.Source.IsValid():
			s.Source = o.Source
		case o.Source != s.Source:
			s.OtherSources++
			if ok, _ := s.conflictLog.Allow(now, time.Minute); ok {
				o.LogConflict = true
			}
		}
	}
	if o.HeaderOK {
		lost = s.sequence(o)
	}
	if o.Error != "" {
		s.Errors[o.Error]++
		if ok, _ := s.errLog.Allow(now, 10*time.Second); ok {
			logIt = true
		}
	}
	return lost, logIt
}

// FirstSource is the address the exporter's first datagram came from.
func (s *Stats) FirstSource() netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Snapshot.Source
}

// AddErrors counts problems inside a datagram (skipped samples or sets).
func (s *Stats) AddErrors(reason string, n uint64) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.Errors[reason] += n
	s.mu.Unlock()
}

// AddPending counts data sets held for a missing template, and held sets
// decoded once it came.
func (s *Stats) AddPending(held, decoded uint64) {
	if held == 0 && decoded == 0 {
		return
	}
	s.mu.Lock()
	s.PendingHeld += held
	s.PendingDecoded += decoded
	s.mu.Unlock()
}

// resetWindow: a sequence number this far below the expected one is a
// restart, not late data.
const resetWindow = 1000

// maxGap: a jump this large forward is treated as a restart we missed, not
// as millions lost.
const maxGap = 1 << 20

func (s *Stats) sequence(o *Observation) uint64 {
	seq := o.Sequence
	defer func() {
		s.LastSequence, s.prev = seq, seq
	}()
	if !s.seen || s.resync {
		s.seen, s.resync = true, o.Resync
		s.next, s.uptime = seq+o.Step, o.Uptime
		return 0
	}
	var lost uint64
	gap := seq - s.next // wraps: a small negative is a huge uint32
	if o.StepIncluded {
		// Which convention an exporter follows shows only when two
		// successive datagrams differ in Step; until then the two agree.
		// The last datagram that fits only one of them decides, so a loss
		// that happens to fit the other convention is corrected by the
		// next datagram.
		incl := seq - (s.prev + o.Step)
		switch {
		case gap != 0 && incl == 0:
			s.included = true
		case gap == 0 && incl != 0:
			s.included = false
		}
		if s.included {
			gap = incl
		}
	}
	switch {
	case gap == 0:
	case o.Uptime != 0 && o.Uptime < s.uptime && gap > maxGap:
		// The exporter restarted (Open vSwitch does this whenever its
		// sFlow row changes): sequence and uptime start again.
		s.Resets++
	case gap <= maxGap:
		lost = uint64(gap)
		s.Lost += lost
	case s.next-seq <= resetWindow:
		// A late datagram: it fills a gap counted as loss when it opened.
		s.OutOfOrder++
		if s.Lost > 0 {
			s.Lost--
		}
		return 0
	default:
		s.Resets++
	}
	s.next, s.uptime, s.resync = seq+o.Step, o.Uptime, o.Resync
	return lost
}

// Rate returns the datagrams per second over the last RateWindow as of
// now (0 for an exporter not heard from in that window).
func (s *Stats) Rate(now time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nmark == 0 || now.Sub(s.LastSeen) > RateWindow {
		return 0
	}
	from := now.Add(-RateWindow)
	// The newest mark at or before the window's start; else the oldest
	// (an exporter first heard within the window).
	base := s.marks[(s.nmark-min(s.nmark, rateMarks))%rateMarks]
	for i := max(0, s.nmark-rateMarks); i < s.nmark; i++ {
		if m := s.marks[i%rateMarks]; !m.t.After(from) {
			base = m
		}
	}
	d := now.Sub(base.t).Seconds()
	if d < 1 {
		return 0
	}
	return float64(s.Datagrams-base.n) / d
}

// Restore adds exporters known from before a restart, unless heard from
// already: the console lists them, with when they were last heard, while
// they have not sent again.
func (r *Registry) Restore(seen map[Key]time.Time) {
	for k, t := range seen {
		s := r.Get(k)
		s.mu.Lock()
		if s.Datagrams == 0 && !s.Restored {
			s.Restored, s.LastSeen = true, t
		}
		s.mu.Unlock()
	}
}

// Read returns a copy of the counters.
func (s *Stats) Read() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.Snapshot
	c.Errors = maps.Clone(s.Errors)
	return c
}

// All returns a snapshot of every exporter, sorted, with its recent rate.
func (r *Registry) All() []Snapshot {
	r.mu.RLock()
	list := make([]*Stats, 0, len(r.m))
	for _, s := range r.m {
		list = append(list, s)
	}
	r.mu.RUnlock()
	now := time.Now()
	out := make([]Snapshot, len(list))
	for i, s := range list {
		out[i] = s.Read()
		out[i].Rate = s.Rate(now)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if c := a.Agent.Compare(b.Agent); c != 0 {
			return c < 0
		}
		if a.Input != b.Input {
			return a.Input < b.Input
		}
		return a.SubAgent < b.SubAgent
	})
	return out
}
