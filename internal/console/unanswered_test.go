package console

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/pipeline"
	"github.com/flowlens/flowlens/internal/unanswered"
)

// GET /api/v1/unanswered answers from the tracker with the store off,
// labelled an inference; a bad parameter is refused with a reason.
func TestUnansweredAPI(t *testing.T) {
	tr := unanswered.New(unanswered.Config{Window: time.Second})
	t0 := time.Now().Add(-time.Minute)
	var b pipeline.Batch
	for i := range 3 {
		r := flow.Record{Time: t0.Add(time.Duration(i) * time.Second), SamplingRate: 1, SrcID: &flow.Identity{PortID: "p1", InstanceName: "vm1"}}
		r.SrcAddr, r.DstAddr, r.SrcPort, r.DstPort = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 40000, 8080
		r.Proto, r.HasProto, r.TCPFlags = 6, true, 0x02
		b.Flows = append(b.Flows, r)
	}
	tr.Observe(b.Flows, nil)
	h := WithUnanswered(NewAPI(nil, nil, nil, StatusInfo{}), tr, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/unanswered?from=-1h", nil))
	var rep struct {
		Inference string `json:"inference"`
		Rows      []struct {
			DstPort int `json:"dst_port"`
			SYNs    int `json:"syn_samples"`
			Src     struct {
				InstanceName string `json:"instance_name"`
			} `json:"src"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rec.Code != 200 {
		t.Fatalf("%d %v: %s", rec.Code, err, rec.Body)
	}
	if rep.Inference == "" || len(rep.Rows) != 1 || rep.Rows[0].DstPort != 8080 || rep.Rows[0].SYNs != 3 || rep.Rows[0].Src.InstanceName != "vm1" {
		t.Errorf("%s", rec.Body)
	}
	for _, url := range []string{"/api/v1/unanswered?from=yesterday", "/api/v1/unanswered?to=now"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", url, rec.Code, rec.Body)
		}
	}
}
