package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

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
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"run", "--input.sflow.listen=" + sflowAddr, "--input.sflow.sockets=1",
			"--input.sflow.receive_buffer=4194304", "--input.netflow.listen=", "--log.stats_interval=0s",
			"--store.path=" + filepath.Join(t.TempDir(), "store"), "--metrics.listen=" + metricsAddr,
			"--console.listen=" + consoleAddr, "--console.auth.mode=token", "--console.auth.token=" + token,
		}, io.Discard, log)
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
		case rc := <-done:
			t.Fatalf("flowlens run exited with %d:\n%s", rc, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never answered 200 (last %d):\n%s", code, log)
		}
		time.Sleep(50 * time.Millisecond)
	}

	conn, err := net.Dial("udp", sflowAddr)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if _, err := conn.Write(d.Payload); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	conn.Close()

	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var code int
		code, body = get(t, metricsURL+"/metrics", "")
		if code != 200 {
			t.Fatalf("/metrics on metrics.listen: %d %s", code, body)
		}
		if sum(t, body, "flowlens_agent_datagrams_total") == float64(len(ds)) || time.Now().After(deadline) {
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

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case rc := <-done:
		if rc != 0 {
			t.Errorf("exit %d:\n%s", rc, log)
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
	var stderr bytes.Buffer
	rc := run([]string{"run", "--metrics.listen=" + l.Addr().String(), "--store.enabled=false", "--console.enabled=false"}, io.Discard, &stderr)
	if rc != 1 || !strings.Contains(stderr.String(), "metrics.listen "+l.Addr().String()) {
		t.Errorf("exit %d: %s", rc, stderr.String())
	}
}
