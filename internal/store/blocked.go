package store

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/flowlens/flowlens/internal/console/apiv1"
	"net/url"
	"strings"
	"time"
)

// BlockedRequest asks what was dropped.
type BlockedRequest struct {
	Query
	Limit int // rows (default 100)
}

var blockedCols = []string{"blocked", "src_ip", "dst_ip", "proto", "dst_port", "src_vm", "dst_vm", "src_project", "dst_project"}

// Blocked returns the drop samples of the range, grouped by cause,
// protected port and connection (source port left out: every attempt has
// its own), most dropped first. First and last seen are to the resolution
// of the rows read (the aggregation interval, or a rolled-up tier's).
func (s *Store) Blocked(ctx context.Context, r BlockedRequest) (*apiv1.Blocked, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if r.Limit <= 0 {
		r.Limit = 100
	}
	if r.Limit > 10000 {
		return nil, badRequest("limit %d: at most 10000 rows", r.Limit)
	}
	// Drop samples are never first observations: filter on them alone.
	cond, cargs, err := filters(r.Query)
	if err != nil {
		return nil, err
	}
	cond = " AND blocked <> ''" + cond
	s.refreshLive(ctx, r.To)
	from, to := r.From.Unix(), r.To.Unix()
	segs, from := s.cover(from, to)
	cols := strings.Join(blockedCols, ", ")
	q, args := s.base(segs, cols+", ts, dur, packets, bytes, samples", cond, cargs)
	q = fmt.Sprintf("SELECT %s, sum(packets) AS p, sum(bytes), sum(samples), min(ts), max(ts + dur), sum(sum(packets)) OVER () FROM (%s) x GROUP BY %s ORDER BY p DESC, %s LIMIT %d",
		cols, q, cols, cols, r.Limit)
	out := &apiv1.Blocked{From: time.Unix(from, 0).UTC(), To: r.To.UTC(), Rows: []apiv1.BlockedRow{}, Notes: notes(r.Query, segs, s.tiers)}
	err = scanRows(ctx, s.eng.DB(), q, args, func(rows *sql.Rows) error {
		vals := make([]any, len(blockedCols)+6)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		k := func(i int) string { return dimKey(blockedCols[i], vals[i]) }
		row := apiv1.BlockedRow{SrcIP: k(1), DstIP: k(2), Proto: k(3), DstPort: k(4), SrcVM: k(5), DstVM: k(6), SrcProject: k(7), DstProject: k(8)}
		v, _ := url.ParseQuery(k(0))
		row.Source, row.Port, row.Rule, row.ACL = v.Get("source"), v.Get("port"), v.Get("rule"), v.Get("acl")
		row.Direction, row.LogicalFlow, row.Stage, row.Reason = v.Get("dir"), v.Get("lflow"), v.Get("stage"), v.Get("reason")
		row.Default = v.Get("default") == "1"
		row.SecurityGroups = []string{}
		if sg := v.Get("sg"); sg != "" {
			row.SecurityGroups = strings.Split(sg, ",")
		}
		row.VM, row.Project = row.DstVM, row.DstProject
		if row.Direction == "from-lport" {
			row.VM, row.Project = row.SrcVM, row.SrcProject
		}
		n := len(blockedCols)
		row.Packets, row.Bytes, row.Samples = toInt(vals[n]), toInt(vals[n+1]), toInt(vals[n+2])
		row.FirstSeen, row.LastSeen = time.Unix(toInt(vals[n+3]), 0).UTC(), time.Unix(toInt(vals[n+4]), 0).UTC()
		out.Total = toInt(vals[n+5])
		out.Rows = append(out.Rows, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
