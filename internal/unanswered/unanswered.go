// Package unanswered infers connection attempts nobody answered: TCP SYNs
// for which no packet ever came back. It is the fallback for "what did
// security groups block" where no drop source exists (neither OVN's drop
// sampling nor Neutron's packet log): an inference from samples, never a
// drop. A silent host, a filtered port and a blocking security group all
// look the same, and with sampling a reply can go unsampled, so only what
// the samples make likely is reported (Tracker.add).
package unanswered

import (
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// Config sets the tracker's limits.
type Config struct {
	// Window: an attempt with no reply this long after its last SYN is
	// unanswered (0: 10 s; a reply takes a round trip, a SYN retry 1, 3,
	// 7 s).
	Window time.Duration `yaml:"window"`
	// Keep: how long unanswered attempts are listed (0: 1 h).
	Keep time.Duration `yaml:"keep"`
	// MaxTracked bounds the connections followed at once (0: 100 000);
	// beyond it new SYNs are counted, not followed.
	MaxTracked int `yaml:"max_tracked"`
}

// DefaultConfig returns the defaults (internal/config/default.yaml).
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = 10 * time.Second
	}
	if c.Keep <= 0 {
		c.Keep = time.Hour
	}
	if c.MaxTracked <= 0 {
		c.MaxTracked = 100_000
	}
	return c
}

// tuple is one TCP connection, from the side that sent the SYN.
type tuple struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
}

type attempt struct {
	first, last time.Time // of its SYN samples
	syns        int       // SYN samples
	rate        uint32    // sampling rate of the last one
	src, dst    *flow.Identity
	agent       netip.Addr
}

// Row is what the attempts from one source to one destination port had
// in common.
type Row struct {
	SrcIP   netip.Addr `json:"src_ip"`
	DstIP   netip.Addr `json:"dst_ip"`
	DstPort uint16     `json:"dst_port"`
	Src     *End       `json:"src,omitempty"`
	Dst     *End       `json:"dst,omitempty"`
	// Attempts: distinct connections (source ports) with no reply;
	// SYNs: their SYN samples.
	Attempts  int       `json:"attempts"`
	SYNs      int       `json:"syn_samples"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	srcPort   uint16    // one connection's, while it is a row of its own
}

// End names one end of a row, from the OpenStack inventory.
type End struct {
	PortID       string `json:"port_id,omitempty"`
	InstanceID   string `json:"instance_id,omitempty"`
	InstanceName string `json:"instance_name,omitempty"`
	NetworkName  string `json:"network_name,omitempty"`
	ProjectID    string `json:"project_id,omitempty"`
	ProjectName  string `json:"project_name,omitempty"`
	Host         string `json:"host,omitempty"`
}

func endOf(id *flow.Identity) *End {
	if !id.Known() {
		return nil
	}
	return &End{PortID: id.PortID, InstanceID: id.InstanceID, InstanceName: id.InstanceName, NetworkName: id.NetworkName,
		ProjectID: id.ProjectID, ProjectName: id.ProjectName, Host: id.Host}
}

// Report is the answer of GET /api/v1/unanswered.
type Report struct {
	Inference string    `json:"inference"`
	Window    string    `json:"window"`
	From      time.Time `json:"from"`
	Rows      []Row     `json:"rows"`
	// Tracking: connections followed now; Untracked: SYNs not followed
	// because MaxTracked was reached.
	Tracking  int    `json:"tracking"`
	Untracked uint64 `json:"untracked"`
}

// Inference is the label every answer carries.
const Inference = "inferred, not a drop: TCP SYNs to which no packet came back within the window, " +
	"sampled exactly (sampling rate 1) or retried (two or more SYN samples of one connection)"

// Tracker follows SYNs and their replies. It is a pipeline observer: it
// sees every record, in the input goroutines, before aggregation.
type Tracker struct {
	cfg Config
	now func() time.Time

	mu        sync.Mutex
	open      map[tuple]*attempt
	done      []Row         // unanswered, by the time they were found
	doneIdx   map[tuple]int // their connections: a later SYN retry joins its row
	untracked uint64
	lastSweep time.Time
}

// New returns a tracker.
func New(cfg Config) *Tracker {
	return &Tracker{cfg: cfg.withDefaults(), now: time.Now, open: make(map[tuple]*attempt), doneIdx: make(map[tuple]int)}
}

// Observe implements pipeline.Observer: flowlens run has the tracker look
// at each batch in the input goroutine, with no queue of its own.
func (t *Tracker) Observe(flows []flow.Record, _ []flow.Counter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range flows {
		t.add(&flows[i])
	}
	if now := t.now(); now.Sub(t.lastSweep) >= time.Second {
		t.sweep(now)
	}
}

const (
	fin = 0x01
	syn = 0x02
	rst = 0x04
	ack = 0x10
)

func (t *Tracker) add(r *flow.Record) {
	if !r.HasProto || r.Proto != 6 || r.Blocked != nil || !r.SrcAddr.IsValid() || !r.DstAddr.IsValid() {
		return
	}
	k := tuple{r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort}
	if r.TCPFlags&(syn|ack|rst|fin) == syn {
		// A retry of a connection already found unanswered (its SYNs
		// came further apart than the window): the same attempt.
		if i, ok := t.doneIdx[k]; ok {
			if r.Observation.First() {
				t.done[i].SYNs++
			}
			if r.Time.After(t.done[i].LastSeen) {
				t.done[i].LastSeen = r.Time
			}
			return
		}
		a := t.open[k]
		if a == nil {
			if len(t.open) >= t.cfg.MaxTracked {
				t.untracked++
				return
			}
			a = &attempt{first: r.Time}
			t.open[k] = a
		}
		a.last, a.rate, a.agent = r.Time, r.SamplingRate, r.Agent
		if r.Observation.First() {
			a.syns++ // a repeat (another bridge) is the same SYN
		}
		if a.src == nil {
			a.src = r.SrcID
		}
		if a.dst == nil {
			a.dst = r.DstID
		}
		return
	}
	// Anything back (a SYN-ACK, a RST) answers the attempt; anything
	// forward but a SYN (an ACK) shows the connection exists. Most TCP
	// samples belong to no attempt: no map work while none is followed.
	if len(t.open) == 0 && len(t.doneIdx) == 0 {
		return
	}
	back := tuple{r.DstAddr, r.SrcAddr, r.DstPort, r.SrcPort}
	delete(t.open, back)
	delete(t.open, k)
	for _, x := range [2]tuple{back, k} {
		if i, ok := t.doneIdx[x]; ok {
			// answered after all, late: not an unanswered attempt
			t.done[i].Attempts = 0
			delete(t.doneIdx, x)
		}
	}
}

// sweep moves the attempts whose window passed to done: those the
// samples make likely unanswered; the rest are forgotten.
func (t *Tracker) sweep(now time.Time) {
	t.lastSweep = now
	for k, a := range t.open {
		if now.Sub(a.last) < t.cfg.Window {
			continue
		}
		delete(t.open, k)
		// With sampling 1 in N, a reply goes unsampled most of the time:
		// only a SYN retried (sampled twice) says much.
		if a.syns == 0 || a.rate > 1 && a.syns < 2 {
			continue
		}
		t.doneIdx[k] = len(t.done)
		t.done = append(t.done, Row{SrcIP: k.src, DstIP: k.dst, DstPort: k.dstPort, Src: endOf(a.src), Dst: endOf(a.dst),
			Attempts: 1, SYNs: a.syns, FirstSeen: a.first, LastSeen: a.last, srcPort: k.srcPort})
	}
	keep := now.Add(-t.cfg.Keep)
	n := 0
	for _, r := range t.done {
		if r.Attempts > 0 && r.LastSeen.After(keep) {
			t.done[n] = r
			n++
		}
	}
	clear(t.done[n:])
	t.done = t.done[:n]
	if max := t.cfg.MaxTracked; len(t.done) > max {
		t.done = append(t.done[:0], t.done[len(t.done)-max:]...)
	}
	clear(t.doneIdx)
	for i, r := range t.done {
		t.doneIdx[tuple{r.SrcIP, r.DstIP, r.srcPort, r.DstPort}] = i
	}
}

// Report lists the unanswered attempts since from (zero: all kept), one
// row per source address, destination address and port, most attempts
// first.
func (t *Tracker) Report(from time.Time) Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.sweep(now)
	type rk struct {
		src, dst netip.Addr
		port     uint16
	}
	rows := map[rk]*Row{}
	for _, d := range t.done {
		if d.Attempts == 0 || d.LastSeen.Before(from) {
			continue
		}
		k := rk{d.SrcIP, d.DstIP, d.DstPort}
		r := rows[k]
		if r == nil {
			c := d
			rows[k] = &c
			continue
		}
		r.Attempts++
		r.SYNs += d.SYNs
		if d.FirstSeen.Before(r.FirstSeen) {
			r.FirstSeen = d.FirstSeen
		}
		if d.LastSeen.After(r.LastSeen) {
			r.LastSeen = d.LastSeen
		}
		if r.Src == nil {
			r.Src = d.Src
		}
		if r.Dst == nil {
			r.Dst = d.Dst
		}
	}
	out := Report{Inference: Inference, Window: t.cfg.Window.String(), From: from, Rows: []Row{}, Tracking: len(t.open),
		Untracked: t.untracked}
	for _, r := range rows {
		out.Rows = append(out.Rows, *r)
	}
	sort.Slice(out.Rows, func(i, j int) bool {
		a, b := out.Rows[i], out.Rows[j]
		if a.Attempts != b.Attempts {
			return a.Attempts > b.Attempts
		}
		if a.SrcIP != b.SrcIP {
			return a.SrcIP.Less(b.SrcIP)
		}
		if a.DstIP != b.DstIP {
			return a.DstIP.Less(b.DstIP)
		}
		return a.DstPort < b.DstPort
	})
	return out
}
