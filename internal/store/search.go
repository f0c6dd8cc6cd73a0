package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SearchKinds are what Search looks in: the either-side dimensions
// (schema.EitherSides), each with the two columns that hold it, ranked as
// search results are — names before addresses, so that a VM called
// "web-1" comes before a MAC that happens to contain "1". A dimension
// searchRank does not name comes last.
var SearchKinds = func() []struct {
	Kind string
	Of   [2]string
} {
	searchRank := []string{"vm", "project", "network", "host", "interface", "ip", "mac"}
	kinds := slices.Clone(EitherSides)
	slices.SortStableFunc(kinds, func(a, b EitherSide) int {
		rank := func(e EitherSide) int {
			if i := slices.Index(searchRank, e.Name); i >= 0 {
				return i
			}
			return len(searchRank)
		}
		return rank(a) - rank(b)
	})
	out := make([]struct {
		Kind string
		Of   [2]string
	}, len(kinds))
	for i, e := range kinds {
		out[i].Kind, out[i].Of = e.Name, e.Of
	}
	return out
}()

// SearchRequest asks which stored values contain Q.
type SearchRequest struct {
	From, To time.Time
	// Q is compared case-insensitively, as a substring.
	Q string
	// Limit is the most values of each kind (default 10).
	Limit int
	// Kinds restricts the kinds looked in (nil: all).
	Kinds []string
}

// SearchHit is one stored value that contains the query.
type SearchHit struct {
	Kind  string // vm, project, network, host, interface, ip, mac
	Value string
	// Bytes is the value's traffic in the range, both sides (and every
	// observation) counted: it ranks the hits.
	Bytes int64
}

// Search returns the values of VMs, projects, networks, hypervisors, port
// names, IPs and MACs in the range that contain r.Q (case-insensitive),
// the busiest first within each kind. Every row is read, drop samples and
// repeated observations included: they name VMs too.
func (s *Store) Search(ctx context.Context, r SearchRequest) ([]SearchHit, error) {
	if r.From.IsZero() || r.To.IsZero() || !r.From.Before(r.To) {
		return nil, badRequest("search: from must be before to")
	}
	q := strings.ToLower(strings.TrimSpace(r.Q))
	if q == "" {
		return nil, badRequest("q is required: the text to look for")
	}
	if r.Limit <= 0 {
		r.Limit = 10
	}
	if r.Limit > 100 {
		return nil, badRequest("limit %d: at most 100 matches of each kind", r.Limit)
	}
	s.refreshLive(ctx, r.To)
	segs, _ := s.cover(r.From.Unix(), r.To.Unix())
	var parts []string
	var args []any
	for _, k := range SearchKinds {
		if len(r.Kinds) > 0 && !slices.Contains(r.Kinds, k.Kind) {
			continue
		}
		for _, c := range k.Of {
			p, a := s.base(segs, fmt.Sprintf("'%s' AS k, %s AS v, bytes", k.Kind, c), fmt.Sprintf(" AND contains(lower(%s), ?)", c), []any{q})
			parts = append(parts, p)
			args = append(args, a...)
		}
	}
	sqlq := fmt.Sprintf(`SELECT k, v, b FROM (
		SELECT k, v, sum(bytes) AS b,
			row_number() OVER (PARTITION BY k ORDER BY lower(v) = ? DESC, starts_with(lower(v), ?) DESC, sum(bytes) DESC, v) AS n
		FROM (%s) x GROUP BY k, v) y WHERE n <= %d`, strings.Join(parts, " UNION ALL "), r.Limit)
	// Exact values first, then prefixes, then the busiest, so that the
	// limit never drops the value typed in full.
	args = append([]any{q, q}, args...)
	if len(parts) == 0 {
		return nil, nil
	}
	var out []SearchHit
	err := scanRows(ctx, s.eng.DB(), sqlq, args, func(rows *sql.Rows) error {
		var h SearchHit
		var b any
		if err := rows.Scan(&h.Kind, &h.Value, &b); err != nil {
			return err
		}
		h.Bytes = toInt(b)
		out = append(out, h)
		return nil
	})
	return out, err
}
