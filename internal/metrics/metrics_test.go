package metrics_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flowlens/flowlens/internal/accuracy"
	"github.com/flowlens/flowlens/internal/aggregate"
	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/enrich/geoip"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/input/udp"
	"github.com/flowlens/flowlens/internal/metrics"
	"github.com/flowlens/flowlens/internal/output/elasticsearch"
	"github.com/flowlens/flowlens/internal/pipeline"
	"github.com/flowlens/flowlens/internal/store"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// memOutput keeps what it is given.
type memOutput struct {
	name     string
	mu       sync.Mutex
	flows    []flow.Record
	counters int
}

func (m *memOutput) Name() string { return m.name }
func (m *memOutput) Write(b *pipeline.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flows = append(m.flows, b.Flows...)
	m.counters += len(b.Counters)
	return nil
}
func (m *memOutput) Close() error { return nil }

// scrape GETs /metrics from h and parses the text exposition.
func scrape(t *testing.T, h http.Handler) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + metrics.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s\n%s", resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing the exposition: %v\n%s", err, body)
	}
	return fams, string(body)
}

// value returns the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Errorf("no metric %s", name)
		return -1
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	t.Errorf("no sample of %s with %v", name, want)
	return -1
}

func capture(t *testing.T, name string) []pcapfile.Datagram {
	t.Helper()
	ds, err := pcapfile.ReadAll("../../testdata/ovs/"+name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

type exporter struct {
	agent, sub, input string
}

type expected struct{ datagrams, flows, counters uint64 }

// fakeES answers bulk requests that carry the right credentials: the first
// document ever is rejected for good (a mapping error), the others created.
type fakeES struct {
	auth     string
	mu       sync.Mutex
	rejected bool
	docs     int
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != f.auth {
		w.WriteHeader(401)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/_bulk") {
		w.WriteHeader(404)
		return
	}
	var items []string
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 16<<20)
	f.mu.Lock()
	defer f.mu.Unlock()
	for line := 0; sc.Scan(); line++ {
		if line%2 == 1 {
			continue // the document; the action line came before it
		}
		if !f.rejected {
			f.rejected = true
			items = append(items, `{"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"test"}}}`)
			continue
		}
		f.docs++
		items = append(items, `{"create":{"status":201}}`)
	}
	fmt.Fprintf(w, `{"errors":true,"items":[%s]}`, strings.Join(items, ","))
}

func writeCityDB(t *testing.T, path string) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("81.2.69.0/24")
	if err := tree.Insert(n, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")}}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
}

// TestScrapeCountsWhatWasFed runs real captures, a malformed datagram and
// real UDP traffic through a real pipeline with real outputs, then checks
// that a scrape of /metrics reports what was fed, counted independently.
func TestScrapeCountsWhatWasFed(t *testing.T) {
	const password = "pa55word-that-must-not-leak"
	es := &fakeES{auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("flowlens:"+password))}
	esSrv := httptest.NewServer(es)
	defer esSrv.Close()
	ecfg := elasticsearch.DefaultConfig()
	ecfg.URLs = []string{esSrv.URL}
	ecfg.Username, ecfg.Password = "flowlens", password
	ecfg.SetupTemplates, ecfg.Compression, ecfg.Spool.Dir, ecfg.DeadLetter.Path = false, 0, "", ""
	ecfg.FlushInterval = 50 * time.Millisecond
	esOut, err := elasticsearch.New(ecfg, quiet())
	if err != nil {
		t.Fatal(err)
	}

	plain := &memOutput{name: "ndjson"}
	aggNext := &memOutput{name: "store"}
	agg, err := aggregate.New(aggregate.Config{Interval: time.Hour, MaxKeys: 5}, aggNext)
	if err != nil {
		t.Fatal(err)
	}

	// One port named by MAC: the first flow's source.
	sflowDs := capture(t, "ovs-sflow.pcap")
	ipfixDs := capture(t, "ovs-ipfix.pcap")
	var mac flow.MAC
	{
		dec, res := sflow.NewDecoder(sflow.Options{}), &sflow.Result{}
		for _, d := range sflowDs {
			if dec.Decode(d.Payload, d.Time, res) == nil && len(res.Flows) > 0 {
				mac = res.Flows[0].SrcMAC
				break
			}
		}
	}
	inv := openstack.NewInventory()
	inv.Set("static", []openstack.Port{{ID: "port-1", MAC: net.HardwareAddr(mac[:]).String(), InstanceID: "vm-1"}})

	templates := netflow.NewTemplates(netflow.Options{})
	p := pipeline.New(pipeline.Config{
		Wait:      true,
		Enrichers: []func() pipeline.Enricher{func() pipeline.Enricher { return inv.NewEnricher() }},
	}, quiet(), plain, agg, esOut)

	// Expected counts, from decoders of our own.
	want := map[exporter]*expected{}
	count := func(e exporter, flows, counters int) {
		if want[e] == nil {
			want[e] = &expected{}
		}
		want[e].datagrams++
		want[e].flows += uint64(flows)
		want[e].counters += uint64(counters)
	}
	dh := decode.New(decode.Config{Templates: templates}, p)
	sh := dh.Handler(decode.SFlow)
	dec, res := sflow.NewDecoder(sflow.Options{}), &sflow.Result{}
	for _, d := range sflowDs {
		if err := dec.Decode(d.Payload, d.Time, res); err != nil || !res.HeaderOK {
			t.Fatalf("the capture has a bad datagram: %v", err)
		}
		count(exporter{res.Header.Agent.String(), strconv.Itoa(int(res.Header.SubAgent)), "sflow"}, len(res.Flows), len(res.Counters))
		sh.Datagram(d.Payload, d.Src, d.Time)
	}
	// A datagram of a version sFlow does not have: dropped, counted
	// against its UDP source.
	junkFrom := netip.MustParseAddrPort("192.0.2.99:5000")
	sh.Datagram([]byte{0, 0, 0, 9, 1, 2, 3, 4}, junkFrom, time.Now())
	sh.Flush()

	nh := dh.Handler(decode.NetFlow)
	ndec, nres := netflow.NewDecoder(netflow.NewTemplates(netflow.Options{}), netflow.Options{}), &netflow.Result{}
	for _, d := range ipfixDs {
		if err := ndec.Decode(d.Payload, d.Src, d.Time, nres); err != nil || !nres.HeaderOK || nres.Version != 10 {
			t.Fatalf("the capture has a bad datagram: %v", err)
		}
		count(exporter{d.Src.Addr().String(), strconv.Itoa(int(nres.Domain)), "ipfix"}, len(nres.Flows), 0)
		nh.Datagram(d.Payload, d.Src, d.Time)
	}
	nh.Flush()

	// Real UDP: two sockets on one address (port 0 would give each its own
	// port, so a free one is picked first).
	probe, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.LocalAddr().String()
	probe.Close()
	ln, err := udp.Listen(udp.Config{Listen: []string{addr}, Sockets: 2, ReceiveBuffer: 1 << 20}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ln.Run(ctx, func(int) udp.Handler { return dh.Handler(decode.SFlow) }) }()
	conn, err := net.Dial("udp", ln.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	const udpSent = 20
	for i := 0; i < udpSent; i++ {
		// Version 9 again, from 127.0.0.1.
		if _, err := conn.Write([]byte{0, 0, 0, 9, 0, 0, 0, byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var n uint64
		for _, s := range ln.Stats() {
			n += s.Datagrams
		}
		if n == udpSent {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A socket nobody reads, with the smallest buffer: the kernel drops.
	idle, err := udp.Listen(udp.Config{Listen: []string{"127.0.0.1:0"}, Sockets: 1, ReceiveBuffer: 4096}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	idleAddr := idle.Addrs()[0]
	if conn, err = net.Dial("udp", idleAddr); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		conn.Write(make([]byte, 1000))
	}
	conn.Close()
	idle.Close() // its counters stay readable

	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	writeCityDB(t, city)
	geo, err := geoip.Open(geoip.Config{CityDatabases: []string{city}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer geo.Close()
	geo.Lookup(netip.MustParseAddr("81.2.69.160")) // found
	geo.Lookup(netip.MustParseAddr("8.8.8.8"))     // not

	// Close drains the queues and flushes the aggregator and the
	// Elasticsearch output, so every count below is final.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	m := metrics.New("v1.2.3", "abcdef", nil)
	err = m.Register(p.Metrics(), p.Agents.Metrics(), p.Inventory.Metrics(), templates.Metrics(), aggregate.Metrics(agg),
		udp.Metrics(map[string]*udp.Listener{"sflow": ln, "netflow": idle}),
		geo.Metrics(), inv.Metrics(), esOut.Metrics(),
		store.UsageMetrics(func() store.Usage { return store.Usage{Bytes: 4096, Written: 7, WriteErrors: 1, Memory: -1} }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Registry.Gather(); err != nil {
		t.Fatalf("gathering: %v", err)
	}
	fams, body := scrape(t, m.Mux())

	// Per exporter.
	var allFlows, allCounters uint64
	for e, w := range want {
		lv := []string{"agent", e.agent, "sub_agent", e.sub, "input", e.input}
		if got := value(t, fams, "flowlens_agent_datagrams_total", lv...); got != float64(w.datagrams) {
			t.Errorf("%v: %v datagrams, fed %d", e, got, w.datagrams)
		}
		if got := value(t, fams, "flowlens_agent_flow_samples_total", lv...); got != float64(w.flows) {
			t.Errorf("%v: %v flow samples, fed %d", e, got, w.flows)
		}
		if got := value(t, fams, "flowlens_agent_counter_samples_total", lv...); got != float64(w.counters) {
			t.Errorf("%v: %v counter samples, fed %d", e, got, w.counters)
		}
		if got := value(t, fams, "flowlens_agent_sequence_lost_total", lv...); got != 0 {
			t.Errorf("%v: %v lost in a whole capture", e, got)
		}
		if got := value(t, fams, "flowlens_agent_last_seen_timestamp_seconds", lv...); got < 1e9 {
			t.Errorf("%v: last seen %v", e, got)
		}
		allFlows += w.flows
		allCounters += w.counters
	}
	if len(want) < 2 || allFlows == 0 || allCounters == 0 {
		t.Fatalf("the captures should have flows and counters from several exporters: %v", want)
	}
	if got := len(fams["flowlens_agent_datagrams_total"].GetMetric()); got != len(want)+2 {
		t.Errorf("%d exporters, want %d and the two junk senders", got, len(want))
	}
	junk := []string{"agent", "192.0.2.99", "sub_agent", "none", "input", "sflow"}
	if got := value(t, fams, "flowlens_agent_decode_errors_total", append(junk, "reason", "version")...); got != 1 {
		t.Errorf("junk datagram: %v decode errors with reason version", got)
	}
	local := []string{"agent", "127.0.0.1", "sub_agent", "none", "input", "sflow"}
	if got := value(t, fams, "flowlens_agent_decode_errors_total", append(local, "reason", "version")...); got != udpSent {
		t.Errorf("UDP junk: %v decode errors, sent %d", got, udpSent)
	}

	// Sockets: two on one address, numbered, their datagrams adding up.
	var sockets float64
	for _, s := range []string{"0", "1"} {
		sockets += value(t, fams, "flowlens_socket_datagrams_total", "input", "sflow", "address", addr, "socket", s)
		if b := value(t, fams, "flowlens_socket_receive_buffer_bytes", "address", addr, "socket", s); b <= 0 {
			t.Errorf("socket %s: receive buffer %v", s, b)
		}
		value(t, fams, "flowlens_socket_kernel_drops_total", "address", addr, "socket", s)
	}
	if sockets != udpSent {
		t.Errorf("sockets read %v datagrams, sent %d", sockets, udpSent)
	}
	idleLabels := []string{"input", "netflow", "address", idleAddr, "socket", "0"}
	if got := value(t, fams, "flowlens_socket_kernel_drops_total", idleLabels...); got <= 0 || got > 200 {
		t.Errorf("a full socket: %v kernel drops", got)
	}
	if got := value(t, fams, "flowlens_socket_datagrams_total", idleLabels...); got != 0 {
		t.Errorf("a socket nobody reads: %v datagrams", got)
	}

	// Outputs.
	records := float64(allFlows + allCounters)
	for _, o := range []string{"ndjson", "store", "elasticsearch"} {
		if got := value(t, fams, "flowlens_output_records_written_total", "output", o); got != records {
			t.Errorf("output %s: %v records written, fed %v", o, got, records)
		}
		if got := value(t, fams, "flowlens_output_records_dropped_total", "output", o); got != 0 {
			t.Errorf("output %s: %v dropped", o, got)
		}
		if got := value(t, fams, "flowlens_output_queue_limit_records", "output", o); got != 65536 {
			t.Errorf("output %s: queue limit %v", o, got)
		}
	}
	if got := value(t, fams, "flowlens_aggregate_records_total", "output", "store"); got != float64(allFlows) {
		t.Errorf("aggregated %v flow records, fed %d", got, allFlows)
	}
	if got := value(t, fams, "flowlens_aggregate_aggregates_total", "output", "store"); got != float64(len(aggNext.flows)) || got == 0 {
		t.Errorf("aggregates %v, the next output got %d", got, len(aggNext.flows))
	}
	if got := value(t, fams, "flowlens_aggregate_overflowed_records_total", "output", "store"); got == 0 {
		t.Error("max_keys 5 must overflow")
	}

	// Elasticsearch: every document accepted, one rejected, the rest indexed.
	if got := value(t, fams, "flowlens_elasticsearch_documents_accepted_total"); got != records {
		t.Errorf("elasticsearch accepted %v, fed %v", got, records)
	}
	if got := value(t, fams, "flowlens_elasticsearch_documents_rejected_total"); got != 1 {
		t.Errorf("elasticsearch rejected %v, want 1", got)
	}
	if got := value(t, fams, "flowlens_elasticsearch_documents_indexed_total"); got != float64(es.docs) || got != records-1 {
		t.Errorf("elasticsearch indexed %v, the cluster created %d, want %v", got, es.docs, records-1)
	}
	if got := value(t, fams, "flowlens_elasticsearch_sent_bytes_total"); got <= 0 {
		t.Errorf("sent bytes %v", got)
	}
	if got := value(t, fams, "flowlens_elasticsearch_ready"); got != 1 {
		t.Errorf("ready %v", got)
	}

	// NetFlow templates, GeoIP, OpenStack, interfaces, store.
	if got := value(t, fams, "flowlens_netflow_templates"); got <= 0 {
		t.Errorf("%v templates after an IPFIX capture", got)
	}
	if a, b := value(t, fams, "flowlens_geoip_lookups_total"), value(t, fams, "flowlens_geoip_found_total"); a != 2 || b != 1 {
		t.Errorf("geoip lookups %v found %v, want 2 and 1", a, b)
	}
	var attributed int
	for _, f := range plain.flows {
		if f.SrcID.OrEmpty().PortID == "port-1" {
			attributed++
		}
	}
	if got := value(t, fams, "flowlens_openstack_flows_total"); got != float64(allFlows) {
		t.Errorf("openstack looked at %v flows, fed %d", got, allFlows)
	}
	if got := value(t, fams, "flowlens_openstack_attributed_total", "end", "source"); got != float64(attributed) || got == 0 {
		t.Errorf("openstack attributed %v sources, the output got %d", got, attributed)
	}
	if got := value(t, fams, "flowlens_openstack_source_ports", "source", "static"); got != 1 {
		t.Errorf("static source ports %v", got)
	}
	if got := value(t, fams, "flowlens_interfaces"); got <= 0 {
		t.Errorf("%v interfaces known after counter samples", got)
	}
	if got := value(t, fams, "flowlens_store_size_bytes"); got != 4096 {
		t.Errorf("store size %v", got)
	}
	if got := value(t, fams, "flowlens_build_info", "version", "v1.2.3", "revision", "abcdef"); got != 1 {
		t.Errorf("build info %v", got)
	}
	for _, std := range []string{"go_goroutines", "process_start_time_seconds"} {
		if fams[std] == nil {
			t.Errorf("no %s", std)
		}
	}
	if strings.Contains(body, password) || strings.Contains(body, base64.StdEncoding.EncodeToString([]byte("flowlens:"+password))) {
		t.Error("the Elasticsearch password is in the metrics")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	m := metrics.New("dev", "", nil)
	srv := httptest.NewServer(m.Mux())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "starting") {
		t.Errorf("/readyz before start: %d %q", code, body)
	}
	m.Ready.SetReady()
	if code, body := get("/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz when ready: %d %q", code, body)
	}
	m.Ready.NotReady("shutting down")
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz in shutdown: %d %q", code, body)
	}
	if code, _ := get("/api/v1/status"); code != 404 {
		t.Errorf("the metrics listener serves more than its three paths: %d", code)
	}
	// Components that are off have no metrics, and nothing fails.
	fams, _ := scrape(t, m.Mux())
	for name := range fams {
		if strings.HasPrefix(name, "flowlens_") && name != "flowlens_build_info" {
			t.Errorf("%s without its component", name)
		}
	}
}

// The accuracy comparison of a real Open vSwitch capture is scraped per
// port and direction, with the σ only where there is a number.
func TestAccuracyMetrics(t *testing.T) {
	tr := accuracy.New(accuracy.Config{})
	p := pipeline.New(pipeline.Config{Wait: true}, quiet(), tr)
	h := decode.New(decode.Config{}, p).Handler(decode.SFlow)
	for _, d := range capture(t, "ovs-sflow.pcap") {
		h.Datagram(d.Payload, netip.MustParseAddrPort("127.0.0.1:40000"), d.Time)
	}
	h.Flush()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	m := metrics.New("test", "", nil)
	if err := m.Register(tr.Metrics()); err != nil {
		t.Fatal(err)
	}
	fams, body := scrape(t, m.Handler())
	rep := tr.Report(accuracy.Query{})
	ok := 0
	for _, r := range rep.Ports {
		lv := []string{"agent", "127.0.0.1", "sub_agent", "0", "port", strconv.Itoa(int(r.Index)), "direction", r.Direction}
		if r.Status == accuracy.StatusOK {
			ok++
			if got := value(t, fams, "flowlens_accuracy_counter_bytes", lv...); got != float64(r.CounterBytes) || got < 1e5 {
				t.Errorf("%s %s counter bytes %v, report %d", r.Name, r.Direction, got, r.CounterBytes)
			}
			if got := value(t, fams, "flowlens_accuracy_diff_sigma", lv...); got != *r.DiffSigma {
				t.Errorf("%s %s diff_sigma %v, report %v", r.Name, r.Direction, got, *r.DiffSigma)
			}
		}
	}
	if ok < 4 || value(t, fams, "flowlens_accuracy_ports", "status", "ok") != float64(ok) {
		t.Errorf("%d ok rows; scraped %v", ok, value(t, fams, "flowlens_accuracy_ports", "status", "ok"))
	}
	// br-int had no flow samples: a status, no σ.
	if strings.Contains(body, `flowlens_accuracy_diff_sigma{agent="127.0.0.1",direction="in",name="br-int"`) {
		t.Errorf("a σ for a port without data:\n%s", body)
	}
}
