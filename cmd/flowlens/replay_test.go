package main

import (
	"encoding/binary"
	"testing"
)

func TestSFlowSplit(t *testing.T) {
	// An sFlow v5 header: version, IPv4 agent 10.0.0.1, sub-agent 7,
	// sequence 500, then the rest.
	d := make([]byte, 28)
	binary.BigEndian.PutUint32(d[0:], 5)
	binary.BigEndian.PutUint32(d[4:], 1)
	copy(d[8:], []byte{10, 0, 0, 1})
	binary.BigEndian.PutUint32(d[12:], 7)
	binary.BigEndian.PutUint32(d[16:], 500)
	for socket, wantSub := range []uint32{7, 1007} {
		rw := sflowSplit(socket)
		for want := uint32(1); want <= 3; want++ {
			c := append([]byte(nil), d...)
			rw(int(want), c)
			if sub, seq := binary.BigEndian.Uint32(c[12:]), binary.BigEndian.Uint32(c[16:]); sub != wantSub || seq != want {
				t.Errorf("socket %d datagram %d: sub-agent %d sequence %d, want %d %d", socket, want, sub, seq, wantSub, want)
			}
		}
	}
	// Not sFlow: untouched.
	junk := []byte{1, 2, 3}
	sflowSplit(1)(0, junk)
	if junk[0] != 1 || junk[2] != 3 {
		t.Error("non-sFlow datagram changed")
	}
}
