package esbulk

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, url, body string, gz bool) (int, string) {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(body))
		zw.Close()
		rd = &b
	}
	req, _ := http.NewRequest(http.MethodPost, url, rd)
	req.Header.Set("Content-Type", "application/x-ndjson")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Error("no X-Elastic-Product header")
	}
	return resp.StatusCode, string(out)
}

func TestBulkCreateSemantics(t *testing.T) {
	s := New(Options{Validate: true, TrackSources: true})
	srv := httptest.NewServer(s)
	defer srv.Close()
	body := `{"create":{"_index":"i","_id":"a"}}` + "\n" + `{"x":1}` + "\n" +
		`{"create":{"_id":"b","_index":"i"}}` + "\n" + `{"x":2}` + "\n" +
		`{"create":{"_index":"i","_id":"a"}}` + "\n" + `{"x":1}` + "\n" +
		`{"create":{"_index":"i","_id":"c"}}` + "\n" + `{"x":` + "\n" +
		`{"create":{"_index":"i","_id":"d"}}` + "\n" + `{"x":2}` + "\n"
	code, out := post(t, srv.URL+"/_bulk", body, true)
	if code != 200 {
		t.Fatalf("%d %s", code, out)
	}
	var r struct {
		Errors bool
		Items  []map[string]struct {
			ID     string `json:"_id"`
			Status int
			Result string
			Error  *struct{ Type string }
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err, out)
	}
	want := []int{201, 201, 409, 400, 201}
	if !r.Errors || len(r.Items) != len(want) {
		t.Fatalf("%s", out)
	}
	for i, it := range r.Items {
		c := it["create"]
		if c.Status != want[i] || (c.Status == 201) != (c.Error == nil) {
			t.Errorf("item %d: %+v", i, c)
		}
	}
	if r.Items[2]["create"].Error.Type != "version_conflict_engine_exception" {
		t.Errorf("409 type: %s", out)
	}
	st := s.Stats()
	if st.Created != 3 || st.Conflicts != 1 || st.Rejected != 1 || st.SameSource != 1 || st.Docs != 3 || st.Gzipped != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestBulkFilterPathAndErrors(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	body := `{"create":{"_index":"i","_id":"a"}}` + "\n" + `{"x":1}` + "\n"
	_, out := post(t, srv.URL+"/_bulk?filter_path=errors,items.*.status,items.*.error", body, false)
	if out != `{"errors":false,"items":[{"create":{"status":201}}]}` {
		t.Errorf("filtered: %s", out)
	}
	_, out = post(t, srv.URL+"/_bulk?filter_path=errors,items.*.status,items.*.error", body, false)
	if !strings.HasPrefix(out, `{"errors":true,"items":[{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":`) {
		t.Errorf("filtered 409: %s", out)
	}
	_, out = post(t, srv.URL+"/i/_bulk", `{"create":{"_id":"b"}}`+"\n"+`{"x":1}`+"\n", false)
	if !strings.Contains(out, `"_index":"i","_id":"b","_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":1,"_primary_term":1,"status":201`) {
		t.Errorf("full: %s", out)
	}
	if code, _ := post(t, srv.URL+"/_bulk", `{"create":{"_index":"i","_id":"c"}}`+"\n"+`{"x":1}`, false); code != 400 {
		t.Errorf("no final newline: %d", code)
	}
	if code, _ := post(t, srv.URL+"/_bulk", `{"upsert":{"_index":"i"}}`+"\n{}\n", false); code != 400 {
		t.Errorf("unknown action: %d", code)
	}
	resp, err := http.Get(srv.URL + "/i*/_count")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(b), `{"count":2,`) {
		t.Errorf("count: %s", b)
	}
}
