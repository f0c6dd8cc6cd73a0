package config

import (
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/console"
	"github.com/flowlens/flowlens/internal/enrich/ovn"
	"github.com/flowlens/flowlens/internal/output/elasticsearch"
	"github.com/flowlens/flowlens/internal/store"
)

func TestDefaults(t *testing.T) {
	c, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Input.SFlow.Listen; len(got) != 1 || got[0] != ":6343" {
		t.Errorf("listen %v", got)
	}
	if c.Output.NDJSON.Path != "" || !c.Output.NDJSON.Flows || c.Log.StatsInterval != time.Minute || !c.Store.Enabled ||
		!c.Console.Enabled || c.Console.Listen != "127.0.0.1:8080" {
		t.Errorf("defaults: %+v", c)
	}
}

// Every setting is documented in default.yaml, so every flag has help.
func TestEverySettingIsDocumented(t *testing.T) {
	docs := Docs()
	var c Config
	for _, f := range c.fields().list {
		if docs[f.path] == "" {
			t.Errorf("%s has no comment in default.yaml", f.path)
		}
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "flowlens.yaml")
	os.WriteFile(file, []byte("log:\n  level: debug\ninput:\n  sflow:\n    listen: [\"127.0.0.1:1\"]\n    sockets: 3\n    receive_buffer: 64MiB\n"), 0o644)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fl := Flags(fs)
	if err := fs.Parse([]string{"--input.sflow.sockets=5", "--output.ndjson.rotate_interval=1h", "--output.elasticsearch.batch_bytes=8MiB"}); err != nil {
		t.Fatal(err)
	}
	env := []string{"FLOWLENS_INPUT_SFLOW_SOCKETS=4", "FLOWLENS_INPUT_SFLOW_LISTEN=127.0.0.1:2,[::1]:2", "FLOWLENS_OUTPUT_NDJSON_ROTATE_SIZE=100MB", "PATH=/bin"}
	c, err := Load(file, env, fl)
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "debug" {
		t.Errorf("file not applied: level %q", c.Log.Level)
	}
	if got := c.Input.SFlow.Listen; len(got) != 2 || got[1] != "[::1]:2" {
		t.Errorf("env not applied over file: %v", got)
	}
	if c.Input.SFlow.Sockets != 5 {
		t.Errorf("flag must win over env and file: %d", c.Input.SFlow.Sockets)
	}
	if c.Output.NDJSON.RotateInterval != time.Hour {
		t.Errorf("duration flag: %v", c.Output.NDJSON.RotateInterval)
	}
	// sizes with units, in the file, in the environment and as flags
	if c.Input.SFlow.ReceiveBuffer != 64<<20 || c.Output.Elasticsearch.BatchBytes != 8<<20 || c.Output.NDJSON.RotateSize != 100_000_000 {
		t.Errorf("sizes: %d %d %d", c.Input.SFlow.ReceiveBuffer, c.Output.Elasticsearch.BatchBytes, c.Output.NDJSON.RotateSize)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ yaml, want string }{
		{"input:\n  sflow:\n    lisen: [\":1\"]\n", "field lisen not found"},
		{"log:\n  level: loud\n", "use debug, info, warn or error"},
		{"input:\n  sflow:\n    listen: []\n", "give at least one address"},
		{"input:\n  sflow:\n    receive_buffer: lots\n", "is not a size"},
	} {
		file := filepath.Join(dir, "c.yaml")
		os.WriteFile(file, []byte(c.yaml), 0o644)
		_, err := Load(file, nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to contain %q", c.yaml, err, c.want)
		}
	}
	if c, err := Load("", []string{"FLOWLENS_INPUT_SFLOW_LISTN=x"}, nil); err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "not a flowlens setting") {
		t.Errorf("a misspelt variable must be warned about: %v", err)
	}
	if c, err := Load("", []string{"FLOWLENS_CPUPROFILE=/tmp/cpu.prof", "FLOWLENS_TRACE=/tmp/trace.out"}, nil); err != nil || len(c.Warnings) != 0 {
		t.Errorf("the profiles' variables are read by flowlens, not ignored: %v %v", err, c.Warnings)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	Flags(fs)
	if err := fs.Parse([]string{"--input.sflow.sockets=many"}); err == nil {
		t.Error("a bad number must be refused when the flag is parsed")
	}
}

func TestNetFlowSamplingRates(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fl := Flags(fs)
	if err := fs.Parse([]string{"--input.netflow.sampling_rates=192.0.2.7=64, 2001:db8::1=1000"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load("", nil, fl)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Input.NetFlow.Rates()
	if err != nil || len(r) != 2 || r[netip.MustParseAddr("192.0.2.7")] != 64 || r[netip.MustParseAddr("2001:db8::1")] != 1000 {
		t.Errorf("%v %v", r, err)
	}
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fl = Flags(fs)
	fs.Parse([]string{"--input.netflow.sampling_rates=192.0.2.7:64"})
	if _, err := Load("", nil, fl); err == nil || !strings.Contains(err.Error(), "ADDRESS=RATE") {
		t.Errorf("bad entry: %v", err)
	}
}

// The components' DefaultConfig (used by their tests and by callers that
// build a component alone) are what default.yaml documents.
func TestComponentDefaultsMatchDefaultYAML(t *testing.T) {
	c, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	es := c.Output.Elasticsearch
	if len(es.URLs) == 0 {
		es.URLs = nil // [] in the file
	}
	for name, pair := range map[string][2]any{
		"store":                {c.Store, store.DefaultConfig()},
		"console":              {c.Console, console.DefaultConfig()},
		"output.elasticsearch": {es, elasticsearch.DefaultConfig()},
		"enrich.openstack.ovn": {c.Enrich.OpenStack.OVN, ovn.DefaultConfig()},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s: default.yaml gives\n%+v\nDefaultConfig() is\n%+v", name, pair[0], pair[1])
		}
	}
}

func TestMetricsListen(t *testing.T) {
	c, err := Load("", nil, nil)
	if err != nil || c.Metrics.Listen != "" {
		t.Fatalf("default: %q %v", c.Metrics.Listen, err)
	}
	c, err = Load("", []string{"FLOWLENS_METRICS_LISTEN=192.0.2.5:9740"}, nil)
	if err != nil || c.Metrics.Listen != "192.0.2.5:9740" {
		t.Errorf("from the environment: %q %v", c.Metrics.Listen, err)
	}
	for listen, want := range map[string]string{
		"9740":           "write HOST:PORT",
		"192.0.2.5:http": "write HOST:PORT",
		"127.0.0.1:8080": "same port", // the console's default
		":8080":          "same port",
	} {
		_, err := Load("", []string{"FLOWLENS_METRICS_LISTEN=" + listen}, nil)
		if err == nil || !strings.Contains(err.Error(), "metrics.listen") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", listen, err, want)
		}
	}
	// With the console off, its port is free.
	if _, err := Load("", []string{"FLOWLENS_METRICS_LISTEN=127.0.0.1:8080", "FLOWLENS_CONSOLE_ENABLED=false"}, nil); err != nil {
		t.Errorf("console off: %v", err)
	}
}
