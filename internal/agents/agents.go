// Package agents keeps per-exporter health: datagrams, samples, decode
// errors by reason, and datagrams lost according to sequence numbers. An
// exporter is an sFlow agent and sub-agent (one per Open vSwitch bridge).
package agents

import (
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/flowlens/flowlens/internal/decode/sflow"
)

// NoSubAgent marks the entry for datagrams whose header could not be read:
// they are counted against their UDP source address.
const NoSubAgent = ^uint32(0)

// Key names one exporter.
type Key struct {
	Agent    netip.Addr
	SubAgent uint32
}

// maxAgents bounds the registry: spoofed sources must not grow memory
// without limit. Past it, new exporters share the overflow entry.
const maxAgents = 16384

// overflowKey collects exporters beyond maxAgents.
var overflowKey = Key{Agent: netip.IPv4Unspecified(), SubAgent: NoSubAgent}

// Stats is one exporter's health. Update it through the Registry's
// methods; read it through Read.
type Stats struct {
	mu sync.Mutex
	Snapshot
	lastSeq    uint32
	lastUptime uint32
	seen       bool
	lastLog    time.Time
}

// Snapshot is a copy of an exporter's counters.
type Snapshot struct {
	Key
	Datagrams      uint64
	Bytes          uint64
	FlowSamples    uint64
	CounterSamples uint64
	UnknownRecords uint64
	UnknownSamples uint64
	// Lost is the number of datagrams missing according to sequence
	// numbers; Resets counts agent restarts (sequence and uptime going
	// back), OutOfOrder datagrams older than one already seen.
	Lost         uint64
	Resets       uint64
	OutOfOrder   uint64
	DecodeErrors [sflow.NumReasons]uint64
	FirstSeen    time.Time
	LastSeen     time.Time
	LastSequence uint32
}

// ErrorCount is the sum of DecodeErrors.
func (s *Snapshot) ErrorCount() uint64 {
	var n uint64
	for _, v := range s.DecodeErrors {
		n += v
	}
	return n
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
	r.m[k] = s
	return s
}

// Datagram records one datagram. h is nil when not even the header could
// be read; reason is the decoding error, if any (samples decoded before an
// error still count). It returns the datagrams the sequence number says
// were lost before this one, and whether the caller should log the error:
// at most one line per exporter every 10 seconds, so a flood of bad
// datagrams cannot flood the log.
func (s *Stats) Datagram(now time.Time, size int, h *sflow.Header, res *sflow.Result, reason sflow.Reason) (lost uint64, logIt bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.FirstSeen.IsZero() {
		s.FirstSeen = now
	}
	s.LastSeen = now
	s.Datagrams++
	s.Bytes += uint64(size)
	if res != nil {
		s.FlowSamples += uint64(len(res.Flows))
		s.CounterSamples += uint64(len(res.Counters))
		s.UnknownRecords += uint64(res.UnknownRecords)
		s.UnknownSamples += uint64(res.UnknownSamples)
		for i, n := range res.SampleErrors {
			s.DecodeErrors[i] += uint64(n)
		}
	}
	if h != nil {
		lost = s.sequence(h.Sequence, h.Uptime)
	}
	if reason != sflow.ReasonNone {
		s.DecodeErrors[reason]++
		if now.Sub(s.lastLog) >= 10*time.Second {
			s.lastLog, logIt = now, true
		}
	}
	return lost, logIt
}

// resetWindow: a sequence number this far below the last one is an agent
// restart, not a late datagram.
const resetWindow = 1000

// maxGap: a jump this large forward is treated as a restart of an agent
// we missed, not as millions of lost datagrams.
const maxGap = 1 << 20

func (s *Stats) sequence(seq, uptime uint32) uint64 {
	if !s.seen {
		s.seen, s.lastSeq, s.lastUptime, s.LastSequence = true, seq, uptime, seq
		return 0
	}
	var lost uint64
	switch {
	case seq == s.lastSeq+1:
	case uptime < s.lastUptime && seq < s.lastSeq:
		// The agent restarted (Open vSwitch does this whenever its sFlow
		// row changes): sequence and uptime start again.
		s.Resets++
	case seq > s.lastSeq && seq-s.lastSeq <= maxGap:
		lost = uint64(seq - s.lastSeq - 1)
		s.Lost += lost
	case seq <= s.lastSeq && s.lastSeq-seq < resetWindow:
		s.OutOfOrder++
		return 0
	default:
		s.Resets++
	}
	s.lastSeq, s.lastUptime, s.LastSequence = seq, uptime, seq
	return lost
}

// Read returns a copy of the counters.
func (s *Stats) Read() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Snapshot
}

// All returns a snapshot of every exporter, sorted by agent and sub-agent.
func (r *Registry) All() []Snapshot {
	r.mu.RLock()
	list := make([]*Stats, 0, len(r.m))
	for _, s := range r.m {
		list = append(list, s)
	}
	r.mu.RUnlock()
	out := make([]Snapshot, len(list))
	for i, s := range list {
		out[i] = s.Read()
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Agent.Compare(out[j].Agent); c != 0 {
			return c < 0
		}
		return out[i].SubAgent < out[j].SubAgent
	})
	return out
}
