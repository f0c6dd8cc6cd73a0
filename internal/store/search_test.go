package store

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// sameSet: the rows of one limit are in no particular order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Search finds stored values by any part, case-insensitively; the value
// typed in full comes first even when busier ones contain it, so that a
// limit never drops it.
func TestSearch(t *testing.T) {
	s := openTest(t, testConfig(t.TempDir()))
	c := tinyCloud()
	from := day
	to := from.Add(20 * time.Minute)
	fill(t, s, c, from, to, 1000)
	ctx := context.Background()
	checked := 0
	for _, vm := range c.VMs {
		hits, err := s.Search(ctx, SearchRequest{From: from, To: to, Q: strings.ToUpper(vm.Name), Limit: 1, Kinds: []string{"vm"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 {
			continue // a VM that sent and received nothing in 20 minutes
		}
		if len(hits) != 1 || hits[0].Kind != "vm" || hits[0].Value != vm.Name || hits[0].Bytes <= 0 {
			t.Errorf("q=%s limit=1: %+v", vm.Name, hits)
		}
		checked++
	}
	if checked < 10 {
		t.Errorf("only %d VMs found", checked)
	}
	// web-1 is inside the names of two busier VMs: typed in full, it still
	// comes first, and a prefix ranks before a mere substring.
	var rs []flow.Record
	for i, n := range []string{"web-1", "web-10", "web-11", "old-web-1x"} {
		r := obsRecord(to.Add(time.Minute), flow.ObservationPort, uint64(100+1000*i))
		r.SrcAddr, r.DstAddr = netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
		r.SrcID = &flow.Identity{InstanceName: n}
		rs = append(rs, r)
	}
	if err := s.Append(rs, nil); err != nil {
		t.Fatal(err)
	}
	for limit, want := range map[int][]string{1: {"web-1"}, 3: {"web-1", "web-11", "web-10"}, 4: {"web-1", "web-11", "web-10", "old-web-1x"}} {
		hits, err := s.Search(ctx, SearchRequest{From: to, To: to.Add(2 * time.Minute), Q: "WEB-1", Limit: limit, Kinds: []string{"vm"}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.Value)
		}
		if !sameSet(got, want) {
			t.Errorf("limit %d: %v, want %v", limit, got, want)
		}
	}
	// Every kind, a few of each: part of a project name is in its VMs' and
	// networks' names too.
	hits, err := s.Search(ctx, SearchRequest{From: from, To: to, Q: c.Projects[1].Name, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, h := range hits {
		kinds[h.Kind]++
		if !strings.Contains(h.Value, c.Projects[1].Name) {
			t.Errorf("%+v does not contain %q", h, c.Projects[1].Name)
		}
	}
	if kinds["project"] != 1 || kinds["vm"] != 3 || kinds["network"] == 0 || kinds["ip"] != 0 {
		t.Errorf("kinds: %v in %+v", kinds, hits)
	}
	// The hypervisor and the port name columns.
	hits, _ = s.Search(ctx, SearchRequest{From: from, To: to, Q: c.VMs[0].Port, Limit: 5})
	if len(hits) != 1 || hits[0].Kind != "interface" {
		t.Errorf("port name: %+v", hits)
	}
	if _, err := s.Search(ctx, SearchRequest{From: from, To: to, Q: " "}); err == nil {
		t.Error("empty q accepted")
	}
	if _, err := s.Search(ctx, SearchRequest{From: from, To: to, Q: "x", Limit: 101}); err == nil {
		t.Error("limit 101 accepted")
	}
}

// Search looks in every either-side dimension of the schema, once each,
// names before addresses.
func TestSearchKindsFollowTheSchema(t *testing.T) {
	var got []string
	for _, k := range SearchKinds {
		e, ok := LookupEitherSide(k.Kind)
		if !ok || e.Of != k.Of {
			t.Errorf("%s %v: not the schema's either-side dimension %v", k.Kind, k.Of, e.Of)
		}
		got = append(got, k.Kind)
	}
	want := []string{"vm", "project", "network", "host", "interface", "ip", "mac"}
	if len(EitherSides) != len(want) || !slices.Equal(got, want) {
		t.Errorf("search kinds %v, want %v (schema has %d)", got, want, len(EitherSides))
	}
}
