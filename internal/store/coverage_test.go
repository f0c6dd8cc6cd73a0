package store

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// A time series shows a gap, not a zero, where flowlens was not
// collecting, and a zero where it was but nothing flowed: after a
// restart too.
func TestTimeseriesGaps(t *testing.T) {
	cfg := testConfig(t.TempDir())
	s, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var flows []flow.Record
	for _, h := range []int{0, 2} {
		for m := range 60 {
			flows = append(flows, obsRecord(day.Add(time.Duration(h)*time.Hour+time.Duration(m)*time.Minute), flow.ObservationPort, 1000))
		}
	}
	if err := s.Append(flows, nil); err != nil {
		t.Fatal(err)
	}
	// Running, but quiet, from 03:00 to 03:30.
	for m := 0; m < 30; m++ {
		a := day.Add(3*time.Hour + time.Duration(m)*time.Minute)
		if err := s.WriteQuiet(a, a.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openTest(t, cfg)
	ts, err := s.Timeseries(context.Background(), TimeseriesRequest{Query: Query{From: day, To: day.Add(4 * time.Hour)}, Step: 600})
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range ts.Timestamps {
		v := ts.Series[0].Values[i]
		at := time.Unix(b, 0).UTC().Sub(day)
		switch {
		case at < time.Hour || at >= 2*time.Hour && at < 3*time.Hour:
			if math.IsNaN(v) || v == 0 {
				t.Errorf("%s: %v, want traffic", at, v)
			}
		case at < 2*time.Hour, at >= 3*time.Hour+30*time.Minute:
			if !math.IsNaN(v) {
				t.Errorf("%s: %v, want a gap (not collecting)", at, v)
			}
		default:
			if v != 0 {
				t.Errorf("%s: %v, want 0 (collecting, quiet)", at, v)
			}
		}
	}
	b, err := json.Marshal(ts)
	if err != nil || !strings.Contains(string(b), "null") {
		t.Errorf("JSON %s, %v: gaps must be null", b, err)
	}
}

func TestCoverageSpans(t *testing.T) {
	c := coverage{since: 0, opened: 1 << 40}
	for _, sp := range [][2]int64{{10, 20}, {30, 40}, {20, 30}, {50, 60}, {55, 58}} {
		c.add(sp[0], sp[1])
	}
	if len(c.spans) != 2 || c.spans[0] != (span{10, 40}) || c.spans[1] != (span{50, 60}) {
		t.Fatalf("spans %v", c.spans)
	}
	for _, tc := range []struct {
		from, to int64
		want     bool
	}{{0, 10, false}, {0, 11, true}, {40, 50, false}, {39, 41, true}, {59, 70, true}, {60, 70, false}} {
		if got := c.covered(tc.from, tc.to); got != tc.want {
			t.Errorf("covered(%d, %d) = %v", tc.from, tc.to, got)
		}
	}
	c.trim(45)
	if len(c.spans) != 1 {
		t.Errorf("after trim: %v", c.spans)
	}
}

func TestExporters(t *testing.T) {
	s := openTest(t, testConfig(t.TempDir()))
	a := obsRecord(day, flow.ObservationPort, 10)
	b := obsRecord(day.Add(5*time.Minute), flow.ObservationPort, 10)
	b.Input = flow.InputIPFIX
	c := flow.Counter{Time: day.Add(9 * time.Minute), Agent: a.Agent, SubAgent: 1, HasInterface: true}
	if err := s.Append([]flow.Record{a, b}, []flow.Counter{c}); err != nil {
		t.Fatal(err)
	}
	ex, err := s.Exporters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, e := range ex {
		got[e.Agent.String()+"/"+e.Input+"/"+string(rune('0'+e.SubAgent))] = e.LastSeen
	}
	want := map[string]time.Time{"192.0.2.1/sflow/0": day.Add(time.Minute), "192.0.2.1/ipfix/0": day.Add(6 * time.Minute),
		"192.0.2.1/sflow/1": day.Add(9 * time.Minute)}
	if len(got) != len(want) {
		t.Fatalf("exporters %v, want %v", got, want)
	}
	for k, v := range want {
		if !got[k].Equal(v) {
			t.Errorf("%s: last seen %s, want %s", k, got[k], v)
		}
	}
}
