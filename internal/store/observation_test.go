package store

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

func obsRecord(start time.Time, o flow.Observation, bytes uint64) flow.Record {
	r := flow.Record{Start: start, End: start.Add(time.Minute), Time: start.Add(time.Minute),
		Agent: netip.MustParseAddr("192.0.2.1"), Bytes: bytes, Packets: bytes / 100, Samples: 1, Observation: o}
	r.SrcAddr, r.DstAddr = netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.6")
	r.Proto, r.HasProto, r.SrcPort, r.DstPort, r.HasPorts = 6, true, 40000, 443, true
	return r
}

// A packet sampled on both hypervisors is counted once by default, twice
// when asked for every observation, in every query and every tier.
func TestObservationsCountedOnce(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Rollups = []string{"5m after 2h"}
	s := openTest(t, cfg)
	var flows []flow.Record
	for i := range 30 {
		m := day.Add(time.Duration(i) * time.Minute)
		flows = append(flows, obsRecord(m, flow.ObservationPort, 1000), obsRecord(m, flow.ObservationForwarded, 1000),
			obsRecord(m, flow.ObservationUplink, 10), obsRecord(m, flow.ObservationPatch, 10), obsRecord(m, flow.ObservationUnknown, 1))
	}
	if err := s.Append(flows, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Maintain(day.Add(40 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, all := range []bool{false, true} {
		want := int64(30 * (1000 + 10 + 1))
		if all {
			want = 30 * (2000 + 20 + 1)
		}
		for _, r := range [][2]time.Time{{day, day.Add(30 * time.Minute)}, {day.Add(5 * time.Minute), day.Add(25 * time.Minute)}} {
			q := Query{From: r[0], To: r[1], AllObservations: all}
			top, err := s.Top(ctx, TopRequest{Query: q, By: []string{"observation"}, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			w := want * int64(r[1].Sub(r[0])/time.Minute) / 30
			if top.Total.Bytes != w || top.Observations != q.Observations() {
				t.Errorf("all=%v %s: %d bytes (%s), want %d", all, r[0].Format("15:04"), top.Total.Bytes, top.Observations, w)
			}
			ts, err := s.Timeseries(ctx, TimeseriesRequest{Query: q, Metric: "bps", Step: 300})
			if err != nil {
				t.Fatal(err)
			}
			var sum float64
			for _, v := range ts.Series[0].Values {
				sum += v * float64(ts.Step) / 8
			}
			if int64(sum+0.5) != w {
				t.Errorf("all=%v %s: time series sums to %.0f bytes, want %d", all, r[0].Format("15:04"), sum, w)
			}
			m, err := s.Matrix(ctx, MatrixRequest{Query: q})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Links) != 1 || m.Links[0].Bytes != w {
				t.Errorf("all=%v: matrix %+v, want one link of %d bytes", all, m.Links, w)
			}
		}
	}
	// The rolled-up tier keeps the observation apart.
	var n int64
	if err := s.eng.DB().QueryRow("SELECT count(DISTINCT observation) FROM flows_300").Scan(&n); err != nil || n != 5 {
		t.Errorf("flows_300 has %d observation values (%v), want 5", n, err)
	}
}

// A store written before the observation column existed opens, gains the
// column, and its rows count as first observations.
func TestObservationColumnAddedToOldStores(t *testing.T) {
	dir := t.TempDir()
	eng, err := OpenDuckDB(filepath.Join(dir, FileName), DuckDBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A first-release table: none of the columns added since.
	added := map[string]bool{}
	for _, c := range addedColumns {
		added[c.name] = true
	}
	var old []column
	for _, c := range flowColumns {
		if !added[c.name] {
			old = append(old, c)
		}
	}
	if _, err := eng.DB().Exec(createTable("flows_raw", old, true)); err != nil {
		t.Fatal(err)
	}
	cols := make([]string, len(old))
	for i, c := range old {
		cols[i] = c.name
	}
	vals := strings.Repeat("0, ", len(old))
	if _, err := eng.DB().Exec("INSERT INTO flows_raw (" + strings.Join(cols, ", ") + ") VALUES (" + strings.TrimSuffix(vals, ", ") + ")"); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.DB().Exec("UPDATE flows_raw SET ts = ?, dur = 60, bytes = 777, agent = '', input = 'sflow'", day.Unix()); err != nil {
		t.Fatal(err)
	}
	eng.Close()
	s := openTest(t, testConfig(dir))
	if got := total(t, s, day, day.Add(time.Hour)); got != 777 {
		t.Errorf("old row: %d bytes counted, want 777", got)
	}
	if err := s.Append([]flow.Record{obsRecord(day.Add(time.Minute), flow.ObservationForwarded, 5)}, nil); err != nil {
		t.Fatalf("appending after the column was added: %v", err)
	}
	top, err := s.Top(context.Background(), TopRequest{Query: Query{From: day, To: day.Add(time.Hour), AllObservations: true}, By: []string{"observation"}})
	if err != nil || top.Total.Bytes != 782 {
		t.Errorf("every observation: %+v %v, want 782 bytes", top, err)
	}
}
