package ecs

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The hand-written timestamp is what time.RFC3339Nano gives, whatever the
// fraction, zone and year.
func TestAppendRFC3339Nano(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	zones := []*time.Location{time.UTC, time.FixedZone("x", -7*3600), time.FixedZone("y", 5*3600+1800)}
	times := []time.Time{{}, time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(2026, 11, 26, 2, 50, 11, 558966000, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 100, time.UTC)}
	for range 100000 {
		ns := r.Int64N(1 << 62)
		switch r.IntN(4) {
		case 0:
			ns -= ns % 1e9 // whole seconds
		case 1:
			ns -= ns % 1e3 // microseconds
		}
		times = append(times, time.Unix(0, ns).In(zones[r.IntN(len(zones))]))
	}
	for _, tm := range times {
		want := tm.UTC().Format(time.RFC3339Nano)
		if got := string(appendRFC3339Nano(nil, tm)); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
}
