package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

type valuesResp struct {
	Dim    string `json:"dim"`
	Q      string `json:"q"`
	Values []struct {
		Value string `json:"value"`
		Bytes int64  `json:"bytes"`
	} `json:"values"`
}

func (r valuesResp) names() []string {
	out := make([]string, len(r.Values))
	for i, v := range r.Values {
		out[i] = v.Value
	}
	return out
}

// GET /api/v1/values: a dimension's values in the range starting with a
// prefix, any case, the busiest first; what the top-N query and the
// search answer for the same range.
func TestValues(t *testing.T) {
	c, cloud, start, end := synthAPI(t)
	rng := fmt.Sprintf("from=%d&to=%d", start.Unix(), end.Unix())
	values := func(query string) valuesResp {
		t.Helper()
		var r valuesResp
		c.get(t, "/api/v1/values?"+query+"&"+rng, 200, &r)
		for i := 1; i < len(r.Values); i++ {
			if r.Values[i].Bytes > r.Values[i-1].Bytes {
				t.Errorf("%s: not the busiest first: %v", query, r.Values)
			}
		}
		return r
	}
	// every observation of each value of one column, from the top-N query
	topBytes := func(col string) map[string]int64 {
		t.Helper()
		var top topResp
		c.get(t, "/api/v1/top?observations=all&limit=10000&by="+col+"&"+rng, 200, &top)
		m := map[string]int64{}
		for _, row := range top.Rows {
			m[row.Key[col]] = row.Bytes
		}
		return m
	}

	// No prefix: the busiest values, as the top-N query ranks them, the empty value left out.
	srcVM := topBytes("src_vm")
	r := values("dim=src_vm&limit=5")
	if r.Dim != "src_vm" || len(r.Values) != 5 {
		t.Fatalf("dim=src_vm&limit=5: %+v", r)
	}
	var busiest []string
	for v := range srcVM {
		if v != "" {
			busiest = append(busiest, v)
		}
	}
	sort.Slice(busiest, func(i, j int) bool {
		if srcVM[busiest[i]] != srcVM[busiest[j]] {
			return srcVM[busiest[i]] > srcVM[busiest[j]]
		}
		return busiest[i] < busiest[j]
	})
	if got, want := strings.Join(r.names(), " "), strings.Join(busiest[:5], " "); got != want {
		t.Errorf("dim=src_vm: %s, want %s", got, want)
	}
	for _, v := range r.Values {
		if v.Bytes != srcVM[v.Value] {
			t.Errorf("src_vm %s: %d bytes, top says %d", v.Value, v.Bytes, srcVM[v.Value])
		}
	}

	// A prefix in another case; an either-side dimension: both ends' bytes.
	// The synthetic VMs are named project-NN-ROLE-N.
	dstVM := topBytes("dst_vm")
	prefix := strings.ToUpper(cloud.VMs[0].Name[:len("project-01-")])
	r = values("dim=VM&limit=100&q=" + url.QueryEscape(prefix))
	if r.Dim != "vm" || r.Q != prefix {
		t.Errorf("dim, q: %q %q", r.Dim, r.Q)
	}
	want := map[string]int64{}
	for _, m := range []map[string]int64{srcVM, dstVM} {
		for v, b := range m {
			if strings.HasPrefix(strings.ToLower(v), strings.ToLower(prefix)) {
				want[v] += b
			}
		}
	}
	if len(want) == 0 || len(r.Values) != len(want) {
		t.Fatalf("vm %s: %v, want %v", prefix, r.Values, want)
	}
	for _, v := range r.Values {
		if v.Bytes != want[v.Value] {
			t.Errorf("vm %s: %d bytes, want %d (source and destination)", v.Value, v.Bytes, want[v.Value])
		}
	}

	// Names compare without regard to case; numbers by their text; countries.
	for _, q := range []string{"t", "T"} {
		if got := values("dim=proto&q=" + q).names(); strings.Join(got, " ") != "tcp" {
			t.Errorf("proto %s: %v", q, got)
		}
	}
	r = values("dim=dst_port&limit=100&q=44")
	if len(r.Values) == 0 {
		t.Error("dst_port 44…: none")
	}
	for _, v := range r.Values {
		if !strings.HasPrefix(v.Value, "44") {
			t.Errorf("dst_port 44…: %s", v.Value)
		}
	}
	countries := topBytes("dst_country")
	var country string
	for v := range countries {
		if v != "" {
			country = v
			break
		}
	}
	if country == "" {
		t.Fatal("the synthetic cloud has no country")
	}
	found := false
	for _, v := range values("dim=dst_country&limit=100&q=" + strings.ToLower(country[:1])).Values {
		if !strings.HasPrefix(v.Value, country[:1]) {
			t.Errorf("dst_country %s…: %s", country[:1], v.Value)
		}
		found = found || v.Value == country && v.Bytes == countries[country]
	}
	if !found {
		t.Errorf("dst_country %s…: %s (%d bytes) missing", country[:1], country, countries[country])
	}

	// Nothing matches, or nothing in the range: an empty list, not null.
	if body := c.get(t, "/api/v1/values?dim=vm&q=zz-no-such&"+rng, 200, nil); !strings.Contains(body, `"values":[]`) {
		t.Errorf("no match: %s", body)
	}
	old := fmt.Sprintf("from=%d&to=%d", start.Add(-48*time.Hour).Unix(), start.Add(-47*time.Hour).Unix())
	if body := c.get(t, "/api/v1/values?dim=src_vm&"+old, 200, nil); !strings.Contains(body, `"values":[]`) {
		t.Errorf("range without flows: %s", body)
	}
}

func TestValuesBadRequests(t *testing.T) {
	c, _, _, _ := synthAPI(t)
	for _, tc := range []struct{ path, want string }{
		{"/api/v1/values", "dim is required"},
		{"/api/v1/values?dim=colour", `dim "colour": unknown dimension: use one of src_ip,`},
		{"/api/v1/values?dim=src_vmm&q=a", "unknown dimension"},
		{"/api/v1/values?dim=vm&q=" + strings.Repeat("a", 201), "q is 201 characters long: at most 200"},
		{"/api/v1/values?dim=vm&limit=0", "limit"},
		{"/api/v1/values?dim=vm&limit=101", "limit"},
		{"/api/v1/values?dim=vm&from=yesterday", "from"},
		{"/api/v1/values?dim=vm&from=now&to=-1h", "must be before"},
		{"/api/v1/values?dim=vm&filter=proto%3Dtcp", "unknown parameter"},
	} {
		var e struct{ Error string }
		c.get(t, tc.path, 400, &e)
		if !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: error %q, want it to mention %q", tc.path, e.Error, tc.want)
		}
	}
	// The longest prefix allowed is fine.
	c.get(t, "/api/v1/values?dim=vm&q="+strings.Repeat("a", 200), 200, nil)

	api := NewAPI(nil, nil, nil, StatusInfo{Version: "x"})
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/values?dim=vm", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "store.enabled") {
		t.Errorf("store disabled: %d %s", rec.Code, rec.Body)
	}
}
