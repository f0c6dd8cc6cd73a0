package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// GET /api/v1/expr checks an expression and says where a mistake is; the
// flow endpoints take expr too and refuse a bad one with the same message.
func TestExprAPI(t *testing.T) {
	h := NewAPI(nil, nil, nil, StatusInfo{})
	get := func(path string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var v map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &v)
		return rec.Code, v
	}
	if code, v := get("/api/v1/expr?expr=" + url.QueryEscape("vm = web-1 and dst_port = 80-443")); code != 200 || v["valid"] != true {
		t.Errorf("valid expression: %d %v", code, v)
	}
	code, v := get("/api/v1/expr?expr=" + url.QueryEscape("vm = web-1 and dst_prot = 80"))
	if code != 400 || v["position"] != float64(15) || v["message"] == nil {
		t.Errorf("bad dimension: %d %v", code, v)
	}
	if code, _ := get("/api/v1/expr?expr=x&from=-1h"); code != 400 {
		t.Errorf("unknown parameter: %d", code)
	}
	// The flow endpoints take expr (here they get as far as the missing
	// store; the store's tests run expressions).
	for _, ep := range []string{"top?by=proto", "timeseries", "matrix", "geo", "blocked"} {
		if code, v := get("/api/v1/" + ep + sep(ep) + "expr=vm%3Dx"); code != http.StatusServiceUnavailable {
			t.Errorf("%s with expr: %d %v", ep, code, v)
		}
	}
}

func sep(path string) string {
	for _, c := range path {
		if c == '?' {
			return "&"
		}
	}
	return "?"
}
