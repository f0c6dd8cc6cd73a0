package store

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// Every panel of one view reads the same data: over the console's default
// hour, a filter on a client's ephemeral port finds the same bytes in the
// time series and in the tables, and no table shows folded ports. Over a
// range that needs rolled-up rows, a folded port reads "ephemeral", never
// 0, and a filter on one says what it cannot match.
func TestTiersAgreeAndPortsAreNeverZero(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Retention, cfg.Rollups = 12*time.Hour, []string{"1h after 6h", "5m after 2h"}
	s := openTest(t, cfg)
	end := day.Add(8 * time.Hour)
	fill(t, s, tinyCloud(), day, end, 15)
	if err := s.Maintain(end.Add(10 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hour := Query{From: end.Add(-time.Hour), To: end}
	top, err := s.Top(ctx, TopRequest{Query: hour, By: []string{"proto", "dst_port"}, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	eph := ""
	for _, r := range top.Rows {
		if r.Key["dst_port"] == EphemeralPort || r.Key["dst_port"] == "0" && r.Key["proto"] == "tcp" {
			t.Errorf("last hour: row %v: ports are folded in a range the raw tier holds", r.Key)
		}
		if n, _ := strconv.Atoi(r.Key["dst_port"]); n >= ephemeralPort && eph == "" {
			eph = r.Key["dst_port"]
		}
	}
	if eph == "" {
		t.Fatal("no ephemeral destination port in the last hour's traffic")
	}
	if len(top.Notes) != 0 {
		t.Errorf("notes on a raw-only answer: %v", top.Notes)
	}
	// The same filter in the time series and the tables.
	q := hour
	q.Filters = []Filter{{Dim: "dst_port", Value: eph}}
	ft, err := s.Top(ctx, TopRequest{Query: q, By: []string{"src_ip"}})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := s.Timeseries(ctx, TimeseriesRequest{Query: q, Metric: "bps"})
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for i, v := range ts.Series[0].Values {
		if ts.Timestamps[i] >= hour.From.Unix() {
			sum += v * float64(ts.Step) / 8
		}
	}
	if ft.Total.Bytes == 0 || int64(sum+0.5) != ft.Total.Bytes {
		t.Errorf("filter dst_port=%s: tables %d bytes, time series %.0f", eph, ft.Total.Bytes, sum)
	}
	// Eight hours need rolled-up rows: folded ports read "ephemeral", also
	// in the raw rows at the range's end, and nothing reads 0 for TCP.
	long := Query{From: end.Add(-8 * time.Hour), To: end}
	lt, err := s.Top(ctx, TopRequest{Query: long, By: []string{"proto", "dst_port"}, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, r := range lt.Rows {
		seen = seen || r.Key["dst_port"] == EphemeralPort
		if r.Key["proto"] == "tcp" && r.Key["dst_port"] == "0" {
			t.Errorf("8 h: TCP to port 0: %v", r)
		}
		if n, _ := strconv.Atoi(r.Key["dst_port"]); n >= ephemeralPort {
			t.Errorf("8 h: unfolded ephemeral port %v next to folded ones", r.Key)
		}
	}
	if !seen {
		t.Error("8 h: no folded port shown as ephemeral")
	}
	lt2, err := s.Top(ctx, TopRequest{Query: Query{From: long.From, To: long.To, Filters: []Filter{{Dim: "dst_port", Value: EphemeralPort}}}, By: []string{"proto"}})
	if err != nil {
		t.Fatal(err)
	}
	if lt2.Total.Bytes == 0 {
		t.Error("filter dst_port=ephemeral matched nothing")
	}
	q = long
	q.Filters = []Filter{{Dim: "dst_port", Value: eph}}
	lt3, err := s.Top(ctx, TopRequest{Query: q, By: []string{"proto"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(lt3.Notes) != 1 {
		t.Errorf("filter on an ephemeral port over 8 h: notes %v, want one", lt3.Notes)
	}
}

// Rows an older flowlens folded to port 0 read "ephemeral" after an
// upgrade; ICMP's 0 stays 0.
func TestFoldedPortsOfOlderStores(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	s, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := s.eng.DB()
	names := "ts, dur, " + joinCols(flowKeyColumns) + ", bytes, packets, samples"
	for _, row := range []struct {
		proto            string
		src, dst, nbytes int64
	}{{"tcp", 443, 0, 100}, {"udp", 0, 53, 10}, {"icmp", 0, 0, 1}} {
		vals := []any{day.Unix(), 300}
		for _, k := range flowKeyColumns {
			switch k {
			case "proto":
				vals = append(vals, row.proto)
			case "src_port":
				vals = append(vals, row.src)
			case "dst_port":
				vals = append(vals, row.dst)
			default:
				if c := colType(k); c == "VARCHAR" {
					vals = append(vals, "")
				} else {
					vals = append(vals, 0)
				}
			}
		}
		vals = append(vals, row.nbytes, 1, 1)
		if _, err := db.Exec("INSERT INTO flows_300 ("+names+") VALUES ("+placeholders(len(vals))+")", vals...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("DELETE FROM meta WHERE k = 'folded_port'"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, cfg)
	got := map[string]int64{}
	rows, err := s.eng.DB().Query("SELECT proto, src_port, dst_port FROM flows_300")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		var a, b int64
		rows.Scan(&p, &a, &b)
		got[p] = a*100000 + b
	}
	rows.Close()
	if got["tcp"] != 443*100000+foldedPort || got["udp"] != foldedPort*100000+53 || got["icmp"] != 0 {
		t.Errorf("after the upgrade: %v", got)
	}
}

func joinCols(cols []string) string {
	out := ""
	for i, c := range cols {
		if i > 0 {
			out += ", "
		}
		out += c
	}
	return out
}

func colType(name string) string {
	for _, c := range flowColumns {
		if c.name == name {
			return c.typ
		}
	}
	return ""
}
