package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/config"
)

// The demo fills its store with the synthetic cloud and its inventory with
// the cloud's ports, and the console shows both: VMs by name, ports
// attributed.
func TestDemo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	consoleAddr := l.Addr().String()
	l.Close()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	settings := config.Flags(fs)
	if err := fs.Parse([]string{"--console.listen=" + consoleAddr, "--input.sflow.listen=127.0.0.1:0", "--input.sflow.sockets=1",
		"--input.netflow.listen=", "--log.stats_interval=0s", "--aggregate.interval=10s"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", nil, settings)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	dir := t.TempDir()
	go func() { done <- runDemo(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), dir, 1, 20, true) }()
	getJSON := func(path string, v any) bool {
		resp, err := http.Get("http://" + consoleAddr + path)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(v) == nil
	}
	var top struct {
		Rows []struct {
			Key map[string]string `json:"key"`
		} `json:"rows"`
	}
	for deadline := time.Now().Add(time.Minute); !getJSON("/api/v1/top?by=src_vm&from=-2h&to=now&limit=50", &top); time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("the demo stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo's console never answered")
		}
	}
	vms := 0
	for _, r := range top.Rows {
		if strings.Contains(r.Key["src_vm"], "-") {
			vms++
		}
	}
	if vms < 10 {
		t.Errorf("%d source VMs by name in the last 2 h: %+v", vms, top.Rows)
	}
	var status struct {
		Newest     time.Time `json:"newest"`
		Enrichment struct {
			OpenStack struct {
				Ports int `json:"ports"`
			} `json:"openstack"`
		} `json:"enrichment"`
	}
	if !getJSON("/api/v1/status", &status) || status.Enrichment.OpenStack.Ports != 20 {
		t.Errorf("inventory: %d ports, want the cloud's 20", status.Enrichment.OpenStack.Ports)
	}
	// The cloud goes on sending: a new interval (10 s here) arrives.
	filled := status.Newest
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		if getJSON("/api/v1/status", &status) && status.Newest.After(filled) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new interval after the fill (newest still %v)", filled)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("stopped with %v", err)
	}
	// A directory that holds anything is refused: synthetic flows never
	// mix with real ones.
	if err := runDemo(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), dir, 1, 20, true); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a used directory: %v", err)
	}
}
