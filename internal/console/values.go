package console

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/flowlens/flowlens/internal/store"
)

// Limits of GET /api/v1/values.
const (
	// maxValuesPrefix bounds q: longer is no prefix anyone types.
	maxValuesPrefix = 200
	// valuesScan is how many of a dimension's busiest values are read to
	// find those starting with a prefix (the store's top-N query has no
	// prefix condition): the most a top-N query answers.
	valuesScan = 10000
)

// valueJSON is one answer of GET /api/v1/values.
type valueJSON struct {
	Value string `json:"value"`
	// Bytes in the range, every observation counted (both ends for an
	// either-side dimension).
	Bytes int64 `json:"bytes"`
}

// valuesHandler serves GET /api/v1/values?dim=NAME&q=PREFIX&limit=N: the
// values of one dimension (or either-side one) in from–to that start
// with q, case-insensitively, the busiest first. The console completes
// values with it in its filter expression field.
func (a *api) valuesHandler(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkParams(q, []string{"dim", "q", "limit", "from", "to"}); err != nil {
		a.fail(w, err)
		return
	}
	if a.st == nil {
		writeError(w, http.StatusServiceUnavailable, "the flow store is disabled: set store.enabled: true")
		return
	}
	from, to, err := a.timeRange(q)
	if err != nil {
		a.fail(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.info.QueryTimeout)
	defer cancel()
	v, err := a.values(ctx, q, store.Query{From: from, To: to, AllObservations: true})
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// filterDimensionNames lists what dim may name, for its error message.
func filterDimensionNames() string {
	names := make([]string, 0, len(store.Dimensions)+len(store.EitherSides))
	for _, d := range store.Dimensions {
		names = append(names, d.Name)
	}
	for _, e := range store.EitherSides {
		names = append(names, e.Name)
	}
	return strings.Join(names, ", ")
}

func (a *api) values(ctx context.Context, q url.Values, base store.Query) (any, error) {
	dim := strings.ToLower(strings.TrimSpace(q.Get("dim")))
	if dim == "" {
		return nil, bad("dim is required: the dimension whose values to list (GET /api/v1/dimensions lists them; either side: vm, project, network, host, ip, mac, interface)")
	}
	prefix := q.Get("q")
	if n := len(prefix); n > maxValuesPrefix {
		return nil, bad("q is %d characters long: at most %d", n, maxValuesPrefix)
	}
	limit, err := intParam(q, "limit", 10, 1, 100)
	if err != nil {
		return nil, err
	}
	var cols []string
	either := false
	if d, ok := store.LookupDimension(dim); ok {
		cols = []string{d.Name}
	} else if e, ok := store.LookupEitherSide(dim); ok {
		cols, either = e.Of[:], true
	} else {
		return nil, bad("dim %q: unknown dimension: use one of %s", q.Get("dim"), filterDimensionNames())
	}
	lp := strings.ToLower(prefix)
	bytes := map[string]int64{}
	add := func(v string, b int64) {
		if v != "" && strings.HasPrefix(strings.ToLower(v), lp) {
			bytes[v] += b
		}
	}
	searchable := false
	for _, k := range store.SearchKinds {
		searchable = searchable || (k.Kind == dim && slices.Equal(k.Of[:], cols))
	}
	if either && lp != "" && searchable {
		// The store's search reads every stored value containing the
		// prefix, in both columns, values starting with it first: not
		// only among the busiest.
		hits, err := a.st.Search(ctx, store.SearchRequest{From: base.From, To: base.To, Q: lp, Limit: 100, Kinds: []string{dim}})
		if err != nil {
			return nil, err
		}
		for _, h := range hits {
			if h.Kind == dim {
				add(h.Value, h.Bytes)
			}
		}
	} else {
		// The busiest values of each column (one more than asked: the
		// empty value is not offered), or with a prefix as many as a
		// top-N query answers, those starting with it kept.
		n := limit + 1
		if lp != "" {
			n = valuesScan
		}
		for _, c := range cols {
			top, err := a.st.Top(ctx, store.TopRequest{Query: base, By: []string{c}, Limit: n})
			if err != nil {
				return nil, err
			}
			for _, row := range top.Rows {
				add(row.Key[c], row.Bytes)
			}
		}
	}
	list := make([]valueJSON, 0, len(bytes))
	for v, b := range bytes {
		list = append(list, valueJSON{Value: v, Bytes: b})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Bytes != list[j].Bytes {
			return list[i].Bytes > list[j].Bytes
		}
		return list[i].Value < list[j].Value
	})
	if len(list) > limit {
		list = list[:limit]
	}
	return map[string]any{"dim": dim, "q": prefix, "from": base.From.UTC(), "to": base.To.UTC(), "values": list}, nil
}
