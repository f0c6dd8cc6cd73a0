package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/accuracy"
	"github.com/flowlens/flowlens/internal/flow"
)

// The accuracy endpoint answers from the tracker, with the store off, in
// the contract's shape, and leaves the other endpoints to the API.
func TestAccuracyAPI(t *testing.T) {
	tr := accuracy.New(accuracy.Config{})
	agent := netip.MustParseAddr("192.0.2.7")
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	ctr := func(seq uint32, at time.Duration, pk uint32) flow.Counter {
		return flow.Counter{Time: t0.Add(at), Agent: agent, Sequence: seq, HasInterface: true, HasOFPort: true,
			HasPortName: true, PortName: "tap1", Interface: flow.InterfaceCounters{Index: 29, InUcast: pk, InOctets: 1000 * uint64(pk)}}
	}
	var flows []flow.Record
	for i := 0; i < 100; i++ {
		flows = append(flows, flow.Record{Time: t0, Input: flow.InputSFlow, Agent: agent, Sequence: 2, SamplingRate: 64,
			In: flow.Port{Format: flow.PortSingle, Index: 29}, HeaderProto: 1, FrameLength: 1004, Stripped: 4})
	}
	tr.Observe(nil, []flow.Counter{ctr(1, 0, 0)})
	tr.Observe(flows, []flow.Counter{ctr(3, 10*time.Second, 6400)})

	h := WithAccuracy(NewAPI(nil, nil, nil, StatusInfo{}), tr, func() time.Time { return t0.Add(time.Minute) })
	get := func(url string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v: %s", url, err, rec.Body)
		}
		return rec.Code, v
	}
	code, v := get("/api/v1/accuracy?agent=192.0.2.7&port=tap1")
	if code != 200 {
		t.Fatalf("%d %v", code, v)
	}
	ports := v["ports"].([]any)
	if len(ports) != 2 {
		t.Fatalf("ports %v", ports)
	}
	in := ports[0].(map[string]any)
	for _, k := range []string{"agent", "sub_agent", "index", "name", "direction", "estimate_bytes", "counter_bytes",
		"estimate_packets", "counter_packets", "samples", "diff_ratio", "sigma_ratio", "diff_sigma", "status", "window_from", "window_to"} {
		if _, ok := in[k]; !ok {
			t.Errorf("row lacks %q: %v", k, in)
		}
	}
	if in["direction"] != "in" || in["name"] != "tap1" || in["status"] != "ok" || in["counter_bytes"] != 6.4e6 ||
		in["estimate_bytes"] != 6.4e6 || in["diff_sigma"] != 0.0 || in["window_to"] != "2026-12-06T12:00:10Z" {
		t.Errorf("in: %v", in)
	}
	if out := ports[1].(map[string]any); out["direction"] != "out" || out["status"] != "not enough data" || out["diff_sigma"] != nil {
		t.Errorf("out: %v", out)
	}
	// A range after the only window selects nothing: no number.
	if _, v := get("/api/v1/accuracy?from=-30s"); v["ports"].([]any)[0].(map[string]any)["status"] != "not enough data" {
		t.Errorf("range: %v", v)
	}
	if code, v := get("/api/v1/accuracy?agent=192.0.2.8"); code != 200 || len(v["ports"].([]any)) != 0 {
		t.Errorf("other agent: %d %v", code, v)
	}
	if code, v := get("/api/v1/accuracy?window=5"); code != 400 || !strings.Contains(v["error"].(string), "window") {
		t.Errorf("unknown parameter: %d %v", code, v)
	}
	if code, _ := get("/api/v1/accuracy?from=-1m&to=-2m"); code != 400 {
		t.Errorf("from after to: %d", code)
	}
	// The rest is the API's.
	if code, _ := get("/api/v1/agents"); code != 200 {
		t.Errorf("agents: %d", code)
	}
}
