package store

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// Expressions select exactly the flows they say, over a real store:
// either-side names without regard to case, OR and NOT, CIDR prefixes on
// octet boundaries and inside one, port ranges and comparisons.
func TestExprSelects(t *testing.T) {
	s := openTest(t, testConfig(t.TempDir()))
	web := &flow.Identity{PortID: "p1", InstanceName: "Web-1", ProjectName: "shop"}
	db := &flow.Identity{PortID: "p2", InstanceName: "db-1", ProjectName: "shop"}
	rec := func(src, dst string, sport, dport uint16, sid, did *flow.Identity, bytes uint64) flow.Record {
		r := flow.Record{Start: day, End: day.Add(time.Minute), Time: day.Add(time.Minute), Agent: netip.MustParseAddr("192.0.2.1"),
			Bytes: bytes, Packets: 1, Samples: 1, SrcID: sid, DstID: did}
		r.SrcAddr, r.DstAddr = netip.MustParseAddr(src), netip.MustParseAddr(dst)
		r.Proto, r.HasProto, r.SrcPort, r.DstPort, r.HasPorts = 6, true, sport, dport, true
		return r
	}
	if err := s.Append([]flow.Record{
		rec("10.0.0.5", "10.0.0.6", 40000, 5432, web, db, 1),     // web -> db
		rec("10.0.0.6", "10.0.0.5", 5432, 40000, db, web, 2),     // db -> web
		rec("172.20.1.1", "10.0.0.5", 50000, 443, nil, web, 4),   // 172.16/12
		rec("172.32.1.1", "10.0.0.5", 50001, 443, nil, web, 8),   // not 172.16/12
		rec("2001:db8:1::9", "10.0.0.6", 50002, 22, nil, db, 16), // IPv6
		rec("10.0.0.5", "192.0.2.80", 40001, 8080, web, nil, 32),
	}, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		expr string
		want uint64
	}{
		{"", 63},
		{"vm = web-1", 1 + 2 + 4 + 8 + 32},       // either side, any case
		{"VM = WEB-1 and dst_port = 5432", 1},    // keywords and names any case
		{"vm = web-1 or vm = db-1", 63},          // every flow touches one
		{"not vm = db-1", 4 + 8 + 32},            // neither end db-1
		{"vm != db-1", 4 + 8 + 32},               // the same
		{"src_ip = 172.16.0.0/12", 4},            // inside an octet
		{"src_ip = 10.0.0.0/8", 1 + 2 + 32},      // octet boundary
		{"ip = 10.0.0.6/32", 1 + 2 + 16},         // either side, exact
		{"src_ip = 2001:db8::/32", 16},           // IPv6 groups
		{"src_ip = 0.0.0.0/0", 47},               // every IPv4 source
		{"dst_port = 400-600", 4 + 8},            // a range
		{"dst_port != 400-600", 1 + 2 + 16 + 32}, // outside it
		{"dst_port >= 5432 and dst_port < 40000", 1 + 32},
		{"(dst_port = 443 or dst_port = 22) and not src_ip = 172.16.0.0/12", 8 + 16},
		{"proto = TCP dst_port = 8080", 32}, // side by side: AND; proto in any case
		{`src_vm = "web-1"`, 1 + 32},
	} {
		top, err := s.Top(ctx, TopRequest{Query: Query{From: day, To: day.Add(time.Hour), Expr: c.expr, AllObservations: true}, By: []string{"proto"}})
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		if uint64(top.Total.Bytes) != c.want {
			t.Errorf("%q: %d bytes, want %d", c.expr, top.Total.Bytes, c.want)
		}
	}
}

// Mistakes are refused with what is wrong and where, before any query.
func TestExprErrors(t *testing.T) {
	for _, c := range []struct {
		expr string
		pos  int
		msg  string
	}{
		{"vmm = web-1", 0, "not a dimension"},
		{"vm = web-1 and", 14, "comparison is missing"},
		{"(vm = a", 7, `expected ")"`},
		{"vm = a)", 6, `")" without its "("`},
		{"dst_port = 9000-80", 11, "inverted"},
		{"dst_port = http", 11, "whole number"},
		{"src_ip = 10.0.0.1/8", 9, "host bits"},
		{"src_ip = 10.0.0/8", 9, "not a CIDR"},
		{"src_ip = 2001:db8::/40", 9, "IPv6 prefixes"},
		{"vm > web", 3, "not a number"},
		{"vm web", 3, "expected = != < <= > or >="},
		{`vm = "web`, 5, "not closed"},
		{"vm ! web", 3, `"!" alone`},
		{strings.Repeat("(", 40) + "vm = a" + strings.Repeat(")", 40), 32, "nested"},
		{strings.Repeat("vm = a or ", 201) + "vm = b", 2000, "more than 200 comparisons"},
		{strings.Repeat("x", 5000), 4096, "longer than"},
	} {
		_, _, err := ParseExpr(c.expr)
		var ee *ExprError
		if !errors.As(err, &ee) {
			t.Errorf("%.40q: %v, want an ExprError", c.expr, err)
			continue
		}
		if ee.Pos != c.pos || !strings.Contains(ee.Msg, c.msg) {
			t.Errorf("%.40q: at %d %q, want at %d %q", c.expr, ee.Pos, ee.Msg, c.pos, c.msg)
		}
	}
}

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"vm = web-1 and (dst_port = 80 or dst_port = 8000-8999) and not src_ip = 10.0.0.0/8",
		`src_vm = "a b" or ip = fd00::/16`, "dst_port >= 1024", "((", "not not vm = x", "a = 'b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sql, args, err := ParseExpr(s)
		if err == nil && strings.Count(sql, "?") != len(args) {
			t.Errorf("%q: %d placeholders, %d arguments", s, strings.Count(sql, "?"), len(args))
		}
	})
}
