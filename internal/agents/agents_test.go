package agents

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

func TestSequenceAccounting(t *testing.T) {
	r := NewRegistry()
	s := r.Get(Key{Agent: netip.MustParseAddr("192.0.2.1")})
	now := time.Now()
	feed := func(seq, uptime uint32) uint64 {
		lost, _ := s.Observe(now, &Observation{Size: 100, HeaderOK: true, Sequence: seq, Step: 1, Uptime: uptime})
		return lost
	}
	steps := []struct {
		seq, uptime uint32
		lost        uint64
	}{
		{100, 1000, 0}, // first datagram: nothing to compare with
		{101, 2000, 0},
		{105, 3000, 3}, // 102..104 missing
		{104, 3000, 0}, // late: out of order, and one of the 3 is not lost after all
		{1, 10, 0},     // agent restarted: uptime and sequence went back
		{2, 20, 0},
		{5000000, 30, 0}, // absurd jump: treated as a restart, not 5 million lost
	}
	for _, st := range steps {
		if got := feed(st.seq, st.uptime); got != st.lost {
			t.Errorf("seq %d: lost %d, want %d", st.seq, got, st.lost)
		}
	}
	snap := s.Read()
	if snap.Lost != 2 || snap.OutOfOrder != 1 || snap.Resets != 2 || snap.Datagrams != uint64(len(steps)) {
		t.Errorf("snapshot %+v", snap)
	}
}

func TestDecodeErrorsAreRateLimitedInTheLog(t *testing.T) {
	s := NewRegistry().Get(Key{Agent: netip.MustParseAddr("192.0.2.1"), SubAgent: NoSubAgent})
	t0 := time.Now()
	logged := 0
	for i := 0; i < 100; i++ {
		if _, l := s.Observe(t0.Add(time.Duration(i)*time.Second), &Observation{Size: 10, Error: "version"}); l {
			logged++
		}
	}
	if logged != 10 {
		t.Errorf("logged %d times over 100 s, want 10", logged)
	}
	if s.Read().Errors["version"] != 100 {
		t.Errorf("counted %d", s.Read().Errors["version"])
	}
}

func TestRegistryIsBounded(t *testing.T) {
	r := NewRegistry()
	for i := 0; i < maxAgents+100; i++ {
		r.Get(Key{Agent: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})})
	}
	if n := len(r.All()); n != maxAgents+1 {
		t.Errorf("%d entries, want %d plus the overflow entry", n, maxAgents)
	}
}

// NetFlow v5 and IPFIX count records, not datagrams; held IPFIX data makes
// the next sequence number unknowable.
func TestRecordSequences(t *testing.T) {
	s := NewRegistry().Get(Key{Agent: netip.MustParseAddr("192.0.2.1"), Input: 3})
	now := time.Now()
	obs := func(seq, step uint32, resync bool) uint64 {
		lost, _ := s.Observe(now, &Observation{HeaderOK: true, Sequence: seq, Step: step, Resync: resync})
		return lost
	}
	if obs(1000, 30, false) != 0 || obs(1030, 30, false) != 0 || obs(1070, 5, false) != 10 {
		t.Error("30 records after 1000 means 1030 next; 1070 means 10 lost")
	}
	if obs(1075, 0, true) != 0 || obs(1090, 3, false) != 0 {
		t.Error("after a datagram with held data the next sequence is not checked")
	}
	if obs(1093, 1, false) != 0 || s.Read().Lost != 10 {
		t.Errorf("lost %d", s.Read().Lost)
	}
	if obs(10, 1, false) != 0 || s.Read().Resets != 1 {
		t.Errorf("a big jump back without uptime is a restart: %+v", s.Read())
	}
}

// Open vSwitch's NetFlow v5 sequence counts the datagram's own records.
func TestNetFlowV5BothConventions(t *testing.T) {
	s := NewRegistry().Get(Key{Agent: netip.MustParseAddr("192.0.2.1"), Input: 1})
	now := time.Now()
	// The real Open vSwitch capture: sequence 1, 3, 7, 10, 14, 15 with 2, 2, 4, 3, 4, 1 records.
	for i, c := range [][2]uint32{{1, 2}, {3, 2}, {7, 4}, {10, 3}, {14, 4}, {15, 1}} {
		if lost, _ := s.Observe(now, &Observation{HeaderOK: true, Sequence: c[0], Step: c[1], StepIncluded: true}); lost != 0 {
			t.Errorf("datagram %d: %d lost", i, lost)
		}
	}
	// Cisco's convention: flows before this datagram.
	c := NewRegistry().Get(Key{Agent: netip.MustParseAddr("192.0.2.2"), Input: 1})
	for i, x := range [][2]uint32{{0, 30}, {30, 30}, {60, 10}, {90, 5}} {
		lost, _ := c.Observe(now, &Observation{HeaderOK: true, Sequence: x[0], Step: x[1], StepIncluded: true})
		if want := map[int]uint64{3: 20}[i]; lost != want {
			t.Errorf("datagram %d: %d lost, want %d", i, lost, want)
		}
	}
}

// Two exporters claiming one agent address are told apart by their UDP
// source: counted, and reported at most every minute.
func TestSourceConflict(t *testing.T) {
	r := NewRegistry()
	s := r.Get(Key{Agent: netip.MustParseAddr("127.0.0.1"), SubAgent: 0})
	a, b := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")
	t0 := time.Unix(1000, 0)
	var logged int
	for i, src := range []netip.Addr{a, a, b, a, b, b} {
		o := &Observation{HeaderOK: true, Sequence: uint32(i + 1), Step: 1, Source: src}
		s.Observe(t0.Add(time.Duration(i)*time.Second), o)
		if o.LogConflict {
			logged++
		}
	}
	snap := r.All()[0]
	if snap.Source != a || snap.OtherSources != 3 || logged != 1 || s.FirstSource() != a {
		t.Errorf("source %v, other %d, logged %d", snap.Source, snap.OtherSources, logged)
	}
}

// The rate is the last minute's, not an average since first seen: it
// follows a slowdown and falls to 0 when the exporter stops.
func TestRecentRate(t *testing.T) {
	r := NewRegistry()
	s := r.Get(Key{Agent: netip.MustParseAddr("192.0.2.1")})
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	send := func(perSecond int, d time.Duration) {
		for end := now.Add(d); now.Before(end); now = now.Add(time.Second) {
			for range perSecond {
				s.Observe(now, &Observation{Size: 100})
			}
		}
	}
	send(26, 5*time.Minute)
	if got := s.Rate(now); got < 24 || got > 28 {
		t.Errorf("26/s for 5 min: rate %.1f", got)
	}
	send(8, 2*time.Minute)
	if got := s.Rate(now); got < 7 || got > 9.5 {
		t.Errorf("then 8/s for 2 min: rate %.1f, want about 8 (an average since first seen would say %.0f)",
			got, float64(s.Read().Datagrams)/now.Sub(t0).Seconds())
	}
	if got := s.Rate(now.Add(2 * time.Minute)); got != 0 {
		t.Errorf("silent for 2 min: rate %.1f, want 0", got)
	}
}

// Exporters known from before a restart are listed as restored until
// they send again.
func TestRestore(t *testing.T) {
	r := NewRegistry()
	k1 := Key{Agent: netip.MustParseAddr("192.0.2.1"), Input: flow.InputSFlow}
	k2 := Key{Agent: netip.MustParseAddr("192.0.2.1"), Input: flow.InputIPFIX}
	last := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r.Get(k2).Observe(last.Add(time.Hour), &Observation{Size: 10})
	r.Restore(map[Key]time.Time{k1: last, k2: last})
	snaps := r.All()
	if len(snaps) != 2 || !snaps[0].Restored || !snaps[0].LastSeen.Equal(last) || snaps[1].Restored {
		t.Fatalf("after restore: %+v", snaps)
	}
	r.Get(k1).Observe(last.Add(2*time.Hour), &Observation{Size: 10})
	if s := r.Get(k1).Read(); s.Restored || !s.FirstSeen.Equal(last.Add(2*time.Hour)) || s.Datagrams != 1 {
		t.Errorf("heard again: %+v", s)
	}
}
