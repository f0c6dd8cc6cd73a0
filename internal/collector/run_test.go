package collector

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

// syncBuffer collects the log of a run that is still writing it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sum adds up the samples of one metric in a text exposition.
func sum(t *testing.T, body, name string) float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	var v float64
	for _, m := range fams[name].GetMetric() {
		v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return v
}

// TestRunServesMetrics runs `flowlens run` with a metrics listener and a
// token-protected console, sends it a real capture, and reads the counts
// back from both, until a signal stops it.
func TestRunServesMetrics(t *testing.T) {
	ds, err := pcapfile.ReadAll("../../testdata/ovs/ovs-sflow.pcap", nil)
	if err != nil {
		t.Fatal(err)
	}
	const token = "metrics-test-token-0123456789"
	sflowAddr, metricsAddr, consoleAddr := freePort(t, "udp"), freePort(t, "tcp"), freePort(t, "tcp")
	log := &syncBuffer{}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		done <- runArgs(ctx, log, "--input.sflow.listen="+sflowAddr, "--input.sflow.sockets=1",
			"--input.sflow.receive_buffer=4194304", "--input.netflow.listen=", "--log.stats_interval=0s",
			"--store.path="+filepath.Join(t.TempDir(), "store"), "--metrics.listen="+metricsAddr,
			"--console.listen="+consoleAddr, "--console.auth.mode=token", "--console.auth.token="+token,
		)
	}()
	metricsURL, consoleURL := "http://"+metricsAddr, "http://"+consoleAddr

	// Ready once the inputs read; DuckDB's first open can take a while.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, _ := get(t, metricsURL+"/readyz", "")
		if code == 200 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the collector stopped: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never answered 200 (last %d):\n%s", code, log)
		}
		time.Sleep(50 * time.Millisecond)
	}

	send(t, sflowAddr, ds)

	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var code int
		code, body = get(t, metricsURL+"/metrics", "")
		if code != 200 {
			t.Fatalf("/metrics on metrics.listen: %d %s", code, body)
		}
		// Datagrams are counted as they are decoded; their records reach
		// the aggregator when the socket's batch is flushed, after a lull.
		if sum(t, body, "flowlens_agent_datagrams_total") == float64(len(ds)) && sum(t, body, "flowlens_aggregate_records_total") > 0 ||
			time.Now().After(deadline) {
			break
		}
	}
	if got := sum(t, body, "flowlens_agent_datagrams_total"); got != float64(len(ds)) {
		t.Errorf("%v datagrams counted, sent %d", got, len(ds))
	}
	if got := sum(t, body, "flowlens_socket_datagrams_total"); got != float64(len(ds)) {
		t.Errorf("%v datagrams read by the socket, sent %d", got, len(ds))
	}
	if !strings.Contains(body, `flowlens_socket_kernel_drops_total{address="`+sflowAddr+`",input="sflow",socket="0"}`) {
		t.Error("no kernel drop counter for the sFlow socket")
	}
	// The store's aggregator sums in the input goroutines: it has the
	// aggregate series, not an output queue's.
	for _, name := range []string{"flowlens_store_size_bytes", "flowlens_aggregate_records_total", "flowlens_build_info"} {
		if sum(t, body, name) <= 0 {
			t.Errorf("%s missing or zero", name)
		}
	}

	// The console: health checks open, metrics behind its token.
	if code, b := get(t, consoleURL+"/healthz", ""); code != 200 {
		t.Errorf("console /healthz: %d %s", code, b)
	}
	if code, b := get(t, consoleURL+"/readyz", ""); code != 200 {
		t.Errorf("console /readyz: %d %s", code, b)
	}
	if code, _ := get(t, consoleURL+"/metrics", ""); code != 401 {
		t.Errorf("console /metrics without the token: %d", code)
	}
	code, cbody := get(t, consoleURL+"/metrics", token)
	if code != 200 || sum(t, cbody, "flowlens_agent_datagrams_total") != float64(len(ds)) {
		t.Errorf("console /metrics with the token: %d", code)
	}
	if strings.Contains(body+cbody+log.String(), token) {
		t.Error("the console token is in the metrics or the log")
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stopped with %v:\n%s", err, log)
		}
	case <-time.After(time.Minute):
		t.Fatalf("flowlens run did not stop:\n%s", log)
	}
	if code, _ := get(t, metricsURL+"/healthz", ""); code != 0 {
		t.Errorf("the metrics listener still answers after the run: %d", code)
	}
	if !strings.Contains(log.String(), "metrics listening") {
		t.Errorf("the log does not say where metrics are:\n%s", log)
	}
}

// A busy metrics.listen stops the start with the setting's name.
func TestRunMetricsListenBusy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var log bytes.Buffer
	err = runArgs(context.Background(), &log, "--metrics.listen="+l.Addr().String(), "--store.enabled=false", "--console.enabled=false")
	if err == nil || !strings.Contains(err.Error(), "metrics.listen "+l.Addr().String()) {
		t.Errorf("started, or an error without the setting: %v", err)
	}
}

// runArgs runs a collector configured by flags, as `flowlens run` would,
// until ctx ends.
func runArgs(ctx context.Context, w io.Writer, args ...string) error {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	settings := config.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load("", nil, settings)
	if err != nil {
		return err
	}
	return New(cfg, slog.New(slog.NewTextHandler(w, nil)), Options{Version: "test", Build: "flowlens test"}).Run(ctx)
}

// `flowlens run` with a damaged template file: it starts, says so, takes
// the real IPFIX capture, and writes a good file at shutdown.
func TestRunWithDamagedTemplateFile(t *testing.T) {
	ds, err := pcapfile.ReadAll("../../testdata/ovs/ovs-ipfix.pcap", nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "templates.json")
	damaged := []byte(`{"format":"flowlens-netflow-templates","version":1,"templates":[{"exporter":"127.0.0.1","vers`)
	if err := os.WriteFile(path, damaged, 0o640); err != nil {
		t.Fatal(err)
	}
	sflowAddr, nfAddr := freePort(t, "udp"), freePort(t, "udp")
	log := &syncBuffer{}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		done <- runArgs(ctx, log, "--input.sflow.listen="+sflowAddr, "--input.sflow.sockets=1",
			"--input.netflow.listen="+nfAddr, "--input.netflow.template_file="+path,
			"--log.stats_interval=0s", "--store.enabled=false", "--console.enabled=false", "--output.ndjson.path=",
		)
	}()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(log.String(), "flowlens started"); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("the collector stopped: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("flowlens run did not start:\n%s", log)
		}
	}
	if !strings.Contains(log.String(), "saved NetFlow/IPFIX templates unreadable: moved aside") {
		t.Errorf("the damaged file is not reported:\n%s", log)
	}
	send(t, nfAddr, ds)
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stopped with %v:\n%s", err, log)
		}
	case <-time.After(time.Minute):
		t.Fatalf("flowlens run did not stop:\n%s", log)
	}
	aside, err := filepath.Glob(path + ".corrupt-*")
	if err != nil {
		t.Fatal(err)
	}
	if len(aside) != 1 {
		t.Fatalf("moved aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); !bytes.Equal(b, damaged) {
		t.Error("the moved file does not hold the damaged content")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no template file saved at shutdown: %v", err)
	}
	defer f.Close()
	tm := netflow.NewTemplates(netflow.Options{})
	if err := tm.Load(f); err != nil {
		t.Fatalf("the file saved at shutdown does not load: %v", err)
	}
	want := netflow.NewTemplates(netflow.Options{})
	dec := netflow.NewDecoder(want, netflow.Options{})
	var res netflow.Result
	for _, d := range ds {
		dec.Decode(d.Payload, d.Src, time.Now(), &res)
	}
	if n := tm.Stats().Templates; n != want.Stats().Templates || n < 80 {
		t.Errorf("the file saved at shutdown holds %d templates, want the capture's %d", n, want.Stats().Templates)
	}
}

// A component that fails to start stops everything started before it, in
// reverse order: the ports are free again, the pipeline wrote and closed
// its outputs.
func TestFailedStartStopsWhatStarted(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	sflowAddr, nfAddr, metricsAddr := freePort(t, "udp"), freePort(t, "udp"), freePort(t, "tcp")
	ndjsonPath := filepath.Join(t.TempDir(), "flows.ndjson")
	var log syncBuffer
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	settings := config.Flags(fs)
	if err := fs.Parse([]string{"--input.sflow.listen=" + sflowAddr, "--input.sflow.sockets=1", "--input.netflow.listen=" + nfAddr,
		"--store.path=" + filepath.Join(t.TempDir(), "store"), "--metrics.listen=" + metricsAddr,
		"--output.ndjson.path=" + ndjsonPath, "--console.listen=" + busy.Addr().String(), "--log.level=debug"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", nil, settings)
	if err != nil {
		t.Fatal(err)
	}
	c := New(cfg, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})), Options{})
	err = c.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("started, or an error without the console's address: %v\n%s", err, &log)
	}
	// Every port it had is free again.
	for _, a := range []struct{ network, addr string }{{"udp", sflowAddr}, {"udp", nfAddr}, {"tcp", metricsAddr}} {
		var err error
		if a.network == "udp" {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", a.addr); err == nil {
				c.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp", a.addr); err == nil {
				l.Close()
			}
		}
		if err != nil {
			t.Errorf("%s %s still held after the failed start: %v", a.network, a.addr, err)
		}
	}
	// In reverse order of their start.
	want := []string{"NetFlow/IPFIX sockets", "sFlow sockets", "pipeline", "openstack sources", "outputs", "metrics listener"}
	var got []string
	for _, line := range strings.Split(log.String(), "\n") {
		if _, rest, ok := strings.Cut(line, `msg=stopped component="`); ok {
			got = append(got, rest[:strings.IndexByte(rest, '"')])
		} else if _, rest, ok := strings.Cut(line, "msg=stopped component="); ok {
			got = append(got, strings.Fields(rest)[0])
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("stopped %q, want %q", got, want)
	}
	if !strings.Contains(log.String(), "output summary") {
		t.Errorf("the pipeline did not close its outputs:\n%s", &log)
	}
	if _, err := os.Stat(ndjsonPath); err != nil {
		t.Errorf("the NDJSON output: %v", err)
	}
}

// send sends the capture's datagrams to addr, a little paced so that a
// small socket buffer keeps up.
func send(t *testing.T, addr string, ds []pcapfile.Datagram) {
	t.Helper()
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i, d := range ds {
		if _, err := conn.Write(d.Payload); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}
