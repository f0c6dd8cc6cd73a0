package store

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// The mixed level puts cloud↔internet in one picture: a VM by name where
// the cloud knows it, an external end by country where GeoIP places it,
// else its address. The country level keeps the cloud side as one node
// instead of dropping every VM's traffic.
func TestMatrixMixedAndCountry(t *testing.T) {
	s := openTest(t, testConfig(t.TempDir()))
	web := &flow.Identity{PortID: "p1", InstanceName: "web-1", ProjectName: "shop"}
	db := &flow.Identity{PortID: "p2", InstanceName: "db-1", ProjectName: "shop"}
	fr := &flow.Geo{CountryISO: "FR"}
	rec := func(src, dst string, sid, did *flow.Identity, sg, dg *flow.Geo, bytes uint64) flow.Record {
		r := flow.Record{Start: day, End: day.Add(time.Minute), Time: day.Add(time.Minute), Agent: netip.MustParseAddr("192.0.2.1"),
			Bytes: bytes, Packets: 1, Samples: 1, SrcID: sid, DstID: did, SrcGeo: sg, DstGeo: dg}
		r.SrcAddr, r.DstAddr = netip.MustParseAddr(src), netip.MustParseAddr(dst)
		return r
	}
	flows := []flow.Record{
		rec("10.0.0.5", "10.0.0.6", web, db, nil, nil, 5000),
		rec("81.2.69.1", "10.0.0.5", nil, web, fr, nil, 3000),
		rec("10.0.0.5", "81.2.69.1", web, nil, nil, fr, 2000),
		rec("10.0.0.6", "192.168.9.9", db, nil, nil, nil, 1000), // internal, no country
	}
	if err := s.Append(flows, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q := Query{From: day, To: day.Add(time.Hour)}
	m, err := s.Matrix(ctx, MatrixRequest{Query: q, Level: "mixed"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, l := range m.Links {
		got[l.Source+" > "+l.Target] = l.Bytes
	}
	want := map[string]int64{"vm:web-1 > vm:db-1": 5000, "country:FR > vm:web-1": 3000, "vm:web-1 > country:FR": 2000, "vm:db-1 > ip:192.168.9.9": 1000}
	if len(got) != len(want) {
		t.Errorf("mixed: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("mixed %s: %d bytes, want %d (%v)", k, got[k], v, got)
		}
	}
	for _, n := range m.Nodes {
		if n.ID == "vm:web-1" && (n.Kind != "vm" || n.Value != "web-1" || n.Label != "web-1") {
			t.Errorf("node %+v", n)
		}
	}
	m, err = s.Matrix(ctx, MatrixRequest{Query: q, Level: "country"})
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]int64{}
	for _, l := range m.Links {
		got[l.Source+" > "+l.Target] = l.Bytes
	}
	if len(got) != 2 || got["country:FR > cloud:"] != 3000 || got["cloud: > country:FR"] != 2000 {
		t.Errorf("country: %v, want FR <-> this cloud only (cloud-to-cloud left out)", got)
	}
	for _, n := range m.Nodes {
		if n.Kind == "cloud" && n.Label != "this cloud" {
			t.Errorf("cloud node %+v", n)
		}
	}
	if _, err := s.Matrix(ctx, MatrixRequest{Query: q, Level: "planet"}); err == nil {
		t.Error("level planet accepted")
	}
}

// The map's peers carry their AS organisation where the ASN database has
// it (kept in the store beside the number).
func TestGeoASOrganisation(t *testing.T) {
	s := openTest(t, testConfig(t.TempDir()))
	peer := &flow.Geo{CountryISO: "FR", Lat: 48.86, Lon: 2.35, HasLocation: true, ASN: 64496, ASOrg: "Example Transit FR"}
	r := flow.Record{Start: day, End: day.Add(time.Minute), Time: day.Add(time.Minute), Agent: netip.MustParseAddr("192.0.2.1"),
		Bytes: 500, Packets: 1, Samples: 1, SrcGeo: peer}
	r.SrcAddr, r.DstAddr = netip.MustParseAddr("81.2.69.1"), netip.MustParseAddr("10.0.0.5")
	if err := s.Append([]flow.Record{r}, nil); err != nil {
		t.Fatal(err)
	}
	pts, err := s.Geo(context.Background(), GeoRequest{Query: Query{From: day, To: day.Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 1 || pts[0].ASN != 64496 || pts[0].ASOrg != "Example Transit FR" || pts[0].Direction != "inbound" {
		t.Errorf("points %+v", pts)
	}
	top, err := s.Top(context.Background(), TopRequest{Query: Query{From: day, To: day.Add(time.Hour), AllObservations: true}, By: []string{"src_as_org"}})
	if err != nil || len(top.Rows) != 1 || top.Rows[0].Key["src_as_org"] != "Example Transit FR" {
		t.Errorf("top by src_as_org: %+v %v", top, err)
	}
}
