package console

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/aggregate"
	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/pipeline"
	"github.com/flowlens/flowlens/internal/store"
)

// keepOpen lets the pipeline close the aggregator without closing the
// store, which the test queries afterwards.
type keepOpen struct{ *store.Store }

func (keepOpen) Close() error { return nil }

type capture struct {
	api     http.Handler
	st      *store.Store
	p       *pipeline.Pipeline
	started time.Time
	// first and last datagram of the capture: counter samples have
	// the capture's times, aggregated flows the aggregator's clock.
	first, last time.Time
}

// loadCapture runs the real OVS capture through the pipeline, the
// aggregator and the store, as `flowlens run` does, and returns the API.
func loadCapture(t *testing.T) *capture {
	t.Helper()
	cfg := store.DefaultConfig()
	cfg.Path, cfg.MaintenanceInterval, cfg.MemoryLimit, cfg.Threads = t.TempDir(), 0, "256MB", 2
	// One resolution only: a minute of capture must not be answered from a
	// rollup tier (rollups have their own tests on synthetic data).
	cfg.Rollups = nil
	st, err := store.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	agg, err := aggregate.New(aggregate.Config{Interval: time.Hour, MaxKeys: 10000}, keepOpen{st})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := pipeline.New(pipeline.Config{Wait: true}, log, agg)
	ds, err := pcapfile.ReadAll("../../testdata/ovs/ovs-sflow.pcap", nil)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	// Replay the capture as if it had just arrived: counter samples carry
	// the datagram's time and aggregated flows the aggregator's clock; in
	// a real run both are arrival times, and the store's tiers rely on it.
	shift := started.Sub(ds[len(ds)-1].Time)
	for i := range ds {
		ds[i].Time = ds[i].Time.Add(shift)
	}
	h := decode.New(decode.Config{}, p).Handler(decode.SFlow)
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	for _, d := range ds {
		h.Datagram(d.Payload, src, d.Time)
	}
	h.Flush()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	api := NewAPI(st, p.Agents, p.Inventory, StatusInfo{Version: "test", Started: started,
		Listen: map[string][]string{"sflow": {":6343"}}, SetupHint: "ovs-vsctl -- --id=@s create sflow ..."})
	return &capture{api: api, st: st, p: p, started: started, first: ds[0].Time, last: ds[len(ds)-1].Time}
}

func (c *capture) get(t *testing.T, path string, want int, v any) string {
	t.Helper()
	rec := httptest.NewRecorder()
	c.api.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body := rec.Body.String()
	if rec.Code != want {
		t.Fatalf("GET %s: %d %s, want %d", path, rec.Code, body, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return body
}

type topResp struct {
	By   []string `json:"by"`
	Rows []struct {
		Key     map[string]string `json:"key"`
		Bytes   int64             `json:"bytes"`
		Packets int64             `json:"packets"`
		Bps     float64           `json:"bps"`
	} `json:"rows"`
	Other, Total struct{ Bytes, Packets int64 }
}

func TestCaptureAPI(t *testing.T) {
	c := loadCapture(t)

	// Top talkers: the iperf3 TCP sender (VM 172.31.0.11, port 5201 on
	// the other end) sends most of the bytes.
	var top topResp
	c.get(t, "/api/v1/top?by=src_ip&limit=5", 200, &top)
	if len(top.Rows) == 0 || top.Rows[0].Key["src_ip"] != "172.31.0.11" {
		t.Fatalf("top src_ip: %+v", top.Rows)
	}
	if top.Total.Bytes <= 0 || top.Rows[0].Bytes*2 < top.Total.Bytes {
		t.Errorf("the iperf3 sender has %d of %d bytes", top.Rows[0].Bytes, top.Total.Bytes)
	}
	var sum int64
	for _, r := range top.Rows {
		sum += r.Bytes
	}
	if sum+top.Other.Bytes != top.Total.Bytes {
		t.Errorf("rows %d + other %d != total %d", sum, top.Other.Bytes, top.Total.Bytes)
	}
	var conv topResp
	c.get(t, "/api/v1/top?by=src_ip,dst_ip,proto,dst_port&limit=1", 200, &conv)
	if k := conv.Rows[0].Key; k["proto"] != "tcp" || k["dst_port"] != "5201" {
		t.Errorf("top conversation %v, want TCP to iperf3's port 5201", k)
	}

	// Protocols.
	var protos topResp
	c.get(t, "/api/v1/top?by=proto&limit=20", 200, &protos)
	seen := map[string]bool{}
	for _, r := range protos.Rows {
		seen[r.Key["proto"]] = true
	}
	for _, p := range []string{"tcp", "udp", "icmp", "ipv6-icmp"} {
		if !seen[p] {
			t.Errorf("protocol %s missing from %v", p, seen)
		}
	}
	if protos.Rows[0].Key["proto"] != "tcp" {
		t.Errorf("top protocol %v, want tcp", protos.Rows[0].Key)
	}

	// Filters: only UDP, then everything but TCP, then two values ORed.
	var udp topResp
	c.get(t, "/api/v1/top?by=proto&filter=proto=udp", 200, &udp)
	if len(udp.Rows) != 1 || udp.Rows[0].Key["proto"] != "udp" || udp.Total.Bytes != udp.Rows[0].Bytes {
		t.Errorf("filter proto=udp: %+v", udp)
	}
	var notTCP topResp
	c.get(t, "/api/v1/top?by=proto&limit=20&filter=proto!%3Dtcp", 200, &notTCP)
	for _, r := range notTCP.Rows {
		if r.Key["proto"] == "tcp" {
			t.Error("filter proto!=tcp kept tcp")
		}
	}
	tcpBytes := protos.Rows[0].Bytes
	if notTCP.Total.Bytes != protos.Total.Bytes-tcpBytes {
		t.Errorf("proto!=tcp total %d, want %d", notTCP.Total.Bytes, protos.Total.Bytes-tcpBytes)
	}
	var two topResp
	c.get(t, "/api/v1/top?by=proto&limit=20&filter=proto=udp&filter=proto=icmp", 200, &two)
	if len(two.Rows) != 2 {
		t.Errorf("proto=udp OR proto=icmp: %+v", two.Rows)
	}
	var v6 topResp
	c.get(t, "/api/v1/top?by=src_ip&limit=50&filter=network_type=ipv6", 200, &v6)
	for _, r := range v6.Rows {
		if !strings.Contains(r.Key["src_ip"], ":") {
			t.Errorf("network_type=ipv6 gave %s", r.Key["src_ip"])
		}
	}
	if len(v6.Rows) == 0 {
		t.Error("no IPv6 sources")
	}
	// Ports carry the names learnt from counter samples.
	var ports topResp
	c.get(t, "/api/v1/top?by=in_port&limit=50", 200, &ports)
	named := false
	for _, r := range ports.Rows {
		if r.Key["in_port"] != "" && (r.Key["in_port"][0] < '0' || r.Key["in_port"][0] > '9') {
			named = true
		}
	}
	if !named {
		t.Errorf("no named input port: %+v", ports.Rows)
	}

	// Time range: the records are in the current interval; a range an
	// hour in the past is empty.
	var past topResp
	c.get(t, "/api/v1/top?by=src_ip&from=-3h&to=-2h", 200, &past)
	if len(past.Rows) != 0 || past.Total.Bytes != 0 {
		t.Errorf("range in the past: %+v", past)
	}
	from := url.QueryEscape(c.started.Add(-time.Hour).UTC().Format(time.RFC3339))
	var abs topResp
	c.get(t, "/api/v1/top?by=src_ip&from="+from+"&to=now", 200, &abs)
	if abs.Total.Bytes != top.Total.Bytes {
		t.Errorf("RFC 3339 from: total %d, want %d", abs.Total.Bytes, top.Total.Bytes)
	}

	// Time series: the total of each series equals what top says.
	var ts struct {
		Step       int64   `json:"step"`
		Metric     string  `json:"metric"`
		By         string  `json:"by"`
		Timestamps []int64 `json:"timestamps"`
		Series     []struct {
			Key    string    `json:"key"`
			Values []float64 `json:"values"`
		} `json:"series"`
	}
	c.get(t, "/api/v1/timeseries?by=proto&top=2&metric=bps", 200, &ts)
	if ts.By != "proto" || ts.Metric != "bps" || len(ts.Series) != 3 || ts.Series[0].Key != "tcp" || ts.Series[2].Key != "other" {
		t.Fatalf("timeseries: %+v", ts)
	}
	var total float64
	for _, s := range ts.Series {
		if len(s.Values) != len(ts.Timestamps) {
			t.Fatalf("series %s: %d values for %d timestamps", s.Key, len(s.Values), len(ts.Timestamps))
		}
		for _, v := range s.Values {
			total += v * float64(ts.Step) / 8
		}
	}
	if int64(total+0.5) != top.Total.Bytes {
		t.Errorf("time series sum to %.0f bytes, top says %d", total, top.Total.Bytes)
	}
	c.get(t, "/api/v1/timeseries", 200, &ts)
	if len(ts.Series) != 1 || ts.Series[0].Key != "total" {
		t.Errorf("timeseries without by: %+v", ts.Series)
	}

	// Matrix.
	var m struct {
		Level string `json:"level"`
		Nodes []struct{ ID, Label string }
		Links []struct {
			Source, Target string
			Bytes          int64
		}
	}
	c.get(t, "/api/v1/matrix?level=ip&limit=5", 200, &m)
	if len(m.Links) == 0 || m.Links[0].Source != "172.31.0.11" || len(m.Nodes) < 2 {
		t.Errorf("matrix: %+v", m)
	}
	c.get(t, "/api/v1/matrix?level=vm", 200, &m)
	if len(m.Links) != 0 || m.Nodes == nil {
		t.Errorf("matrix level=vm without OpenStack enrichment: %+v", m)
	}
	var geo struct{ Points []any }
	if body := c.get(t, "/api/v1/geo", 200, &geo); len(geo.Points) != 0 || !strings.Contains(body, `"points":[]`) {
		t.Errorf("geo without GeoIP: %s", body)
	}

	// Ports: rates from the capture's counter samples.
	var ps struct {
		Ports []struct {
			Agent      string
			Index      int64
			Name       string
			Timestamps []int64
			InBps      []*float64 `json:"in_bps"`
		}
	}
	span := fmt.Sprintf("from=%d&to=%d", c.first.Unix()-60, c.last.Unix()+60)
	c.get(t, "/api/v1/ports?agent=127.0.0.1&step=10&"+span, 200, &ps)
	if len(ps.Ports) == 0 {
		t.Fatal("no ports")
	}
	rates := 0
	for _, p := range ps.Ports {
		if p.Agent != "127.0.0.1" || p.Name == "" {
			t.Errorf("port %+v", p)
		}
		for _, v := range p.InBps {
			if v != nil {
				rates++
			}
		}
	}
	if rates == 0 {
		t.Errorf("no port rate computed: %+v", ps.Ports)
	}
	one := ps.Ports[0]
	c.get(t, "/api/v1/ports?agent=127.0.0.1&port="+one.Name+"&"+span, 200, &ps)
	if len(ps.Ports) != 1 || ps.Ports[0].Index != one.Index {
		t.Errorf("ports by name: %+v", ps.Ports)
	}

	// Agents and status.
	var ag struct {
		Agents []struct {
			Agent          string
			Datagrams      int
			FlowSamples    int `json:"flow_samples"`
			CounterSamples int `json:"counter_samples"`
			Lost           int
		}
	}
	c.get(t, "/api/v1/agents", 200, &ag)
	if len(ag.Agents) != 1 || ag.Agents[0].Agent != "127.0.0.1" || ag.Agents[0].Datagrams != 144 ||
		ag.Agents[0].FlowSamples != 697 || ag.Agents[0].CounterSamples != 24 || ag.Agents[0].Lost != 0 {
		t.Errorf("agents: %+v", ag)
	}
	var st map[string]any
	c.get(t, "/api/v1/status", 200, &st)
	if st["version"] != "test" || st["flows_stored"].(float64) <= 0 || st["store_bytes"].(float64) <= 0 ||
		st["retention"] != "168h0m0s" || st["oldest"] == nil || st["setup_hint"] == "" {
		t.Errorf("status: %v", st)
	}
	var dims struct {
		Dimensions []struct{ Name, Label string }
	}
	c.get(t, "/api/v1/dimensions", 200, &dims)
	if len(dims.Dimensions) < 18 || dims.Dimensions[0].Name != "src_ip" || dims.Dimensions[0].Label == "" {
		t.Errorf("dimensions: %+v", dims)
	}
	var ifs struct{ Interfaces []struct{ Name string } }
	c.get(t, "/api/v1/interfaces", 200, &ifs)
	if len(ifs.Interfaces) == 0 {
		t.Error("no interfaces")
	}
}

func TestBadRequests(t *testing.T) {
	c := loadCapture(t)
	for _, tc := range []struct{ path, want string }{
		{"/api/v1/top?by=src_ipp", "unknown dimension"},
		{"/api/v1/top", "by is required"},
		{"/api/v1/top?by=src_ip&metric=bits", "metric"},
		{"/api/v1/top?by=src_ip&limit=x", "limit"},
		{"/api/v1/top?by=src_ip&filter=nonsense", "dimension=value"},
		{"/api/v1/top?by=src_ip&filter=colour=red", "unknown dimension"},
		{"/api/v1/top?by=src_ip&filter=src_port=http", "not a whole number"},
		{"/api/v1/top?by=src_ip&filter=src_ip=10.0.0", "not an IP address"},
		{"/api/v1/top?by=src_ip&from=yesterday", "from"},
		{"/api/v1/top?by=src_ip&from=now&to=-1h", "must be before"},
		{"/api/v1/top?by=src_ip&form=-1h", "unknown parameter"},
		{"/api/v1/timeseries?by=src_ip,dst_ip", "one dimension"},
		{"/api/v1/timeseries?step=0", "step"},
		{"/api/v1/timeseries?top=1000", "top"},
		{"/api/v1/timeseries?metric=bytes", "metric"},
		{"/api/v1/matrix?level=planet", "level"},
		{"/api/v1/ports?agent=host", "not an IP address"},
		{"/api/v1/status?x=1", "unknown parameter"},
		{"/api/v1/top?by=src_ip&observations=once", "observations"},
		{"/api/v1/ports?observations=all", "unknown parameter"},
	} {
		var e struct{ Error string }
		c.get(t, tc.path, 400, &e)
		if !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: error %q, want it to mention %q", tc.path, e.Error, tc.want)
		}
	}
	for _, o := range []string{"first", "all"} {
		var top struct{ Observations string }
		c.get(t, "/api/v1/top?by=src_ip&observations="+o, 200, &top)
		var geo struct{ Observations string }
		c.get(t, "/api/v1/geo?observations="+o, 200, &geo)
		if top.Observations != o || geo.Observations != o {
			t.Errorf("observations=%s answered as %q / %q", o, top.Observations, geo.Observations)
		}
	}
	c.get(t, "/api/v1/nothing", 404, nil)
	rec := httptest.NewRecorder()
	c.api.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/top", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestStoreDisabled(t *testing.T) {
	api := NewAPI(nil, nil, nil, StatusInfo{Version: "x"})
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/top?by=src_ip", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "store.enabled") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/status", nil))
	if rec.Code != 200 {
		t.Errorf("status: %d %s", rec.Code, rec.Body)
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now": now, "-15m": now.Add(-15 * time.Minute), "-6h": now.Add(-6 * time.Hour), "-7d": now.Add(-7 * 24 * time.Hour),
		"now-1h": now.Add(-time.Hour), "1763640000": time.Unix(1763640000, 0), "2026-11-20T11:00:00Z": now.Add(-time.Hour),
	} {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
