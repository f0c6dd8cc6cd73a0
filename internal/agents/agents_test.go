package agents

import (
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/sflow"
)

func TestSequenceAccounting(t *testing.T) {
	r := NewRegistry()
	s := r.Get(Key{Agent: netip.MustParseAddr("192.0.2.1")})
	now := time.Now()
	feed := func(seq, uptime uint32) uint64 {
		lost, _ := s.Datagram(now, 100, &sflow.Header{Sequence: seq, Uptime: uptime}, &sflow.Result{}, sflow.ReasonNone)
		return lost
	}
	steps := []struct {
		seq, uptime uint32
		lost        uint64
	}{
		{100, 1000, 0}, // first datagram: nothing to compare with
		{101, 2000, 0},
		{105, 3000, 3}, // 102..104 missing
		{104, 3000, 0}, // late: out of order, not loss
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
	if snap.Lost != 3 || snap.OutOfOrder != 1 || snap.Resets != 2 || snap.Datagrams != uint64(len(steps)) {
		t.Errorf("snapshot %+v", snap)
	}
}

func TestDecodeErrorsAreRateLimitedInTheLog(t *testing.T) {
	s := NewRegistry().Get(Key{Agent: netip.MustParseAddr("192.0.2.1"), SubAgent: NoSubAgent})
	t0 := time.Now()
	logged := 0
	for i := 0; i < 100; i++ {
		if _, l := s.Datagram(t0.Add(time.Duration(i)*time.Second), 10, nil, nil, sflow.ReasonVersion); l {
			logged++
		}
	}
	if logged != 10 {
		t.Errorf("logged %d times over 100 s, want 10", logged)
	}
	if s.Read().DecodeErrors[sflow.ReasonVersion] != 100 {
		t.Errorf("counted %d", s.Read().DecodeErrors[sflow.ReasonVersion])
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
