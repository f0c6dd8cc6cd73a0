package ecs_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

// get walks a decoded JSON document by a dotted path.
func get(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestJSONIsValidECS(t *testing.T) {
	ds, err := pcapfile.ReadAll("../../testdata/ovs/ovs-sflow.pcap", nil)
	if err != nil {
		t.Fatal(err)
	}
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	seen := map[string]int{}
	for _, d := range ds {
		if err := dec.Decode(d.Payload, d.Time, &res); err != nil {
			t.Fatal(err)
		}
		for i := range res.Flows {
			r := &res.Flows[i]
			var doc map[string]any
			b := ecs.AppendFlow(nil, r)
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("invalid JSON %v: %s", err, b)
			}
			for _, p := range []string{"@timestamp", "event.dataset", "observer.ip", "source.mac", "destination.mac",
				"network.bytes", "network.packets", "network.type", "flowlens.sampling_rate", "flowlens.sflow.sequence",
				"flowlens.ingress.format", "flowlens.egress.format"} {
				if _, ok := get(doc, p); !ok {
					t.Fatalf("missing %s in %s", p, b)
				}
			}
			if v, _ := get(doc, "network.bytes"); v.(float64) != float64(r.Bytes) {
				t.Errorf("network.bytes %v, record %d", v, r.Bytes)
			}
			if r.HasPorts {
				if v, _ := get(doc, "destination.port"); v.(float64) != float64(r.DstPort) {
					t.Errorf("destination.port %v, record %d", v, r.DstPort)
				}
			}
			if tr, ok := get(doc, "network.transport"); ok {
				seen[tr.(string)]++
			}
			if ts, _ := get(doc, "@timestamp"); ts.(string) != r.Time.UTC().Format(time.RFC3339Nano) {
				t.Errorf("@timestamp %v", ts)
			}
		}
		for i := range res.Counters {
			var doc map[string]any
			b := ecs.AppendCounter(nil, &res.Counters[i])
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("invalid JSON %v: %s", err, b)
			}
			if v, _ := get(doc, "event.dataset"); v != flow.DatasetCounters {
				t.Errorf("dataset %v", v)
			}
			if res.Counters[i].HasPortName {
				if v, _ := get(doc, "flowlens.interface.name"); v != res.Counters[i].PortName {
					t.Errorf("interface name %v", v)
				}
			}
		}
	}
	for _, tr := range []string{"tcp", "udp", "icmp", "ipv6-icmp"} {
		if seen[tr] == 0 {
			t.Errorf("no %s flow in the capture's JSON (saw %v)", tr, seen)
		}
	}
}

func TestJSONEscapesHostileNames(t *testing.T) {
	c := flow.Counter{HasPortName: true, PortName: "a\"b\\c\x00\xff"}
	var doc map[string]any
	if err := json.Unmarshal(ecs.AppendCounter(nil, &c), &doc); err != nil {
		t.Fatal(err)
	}
	if v, _ := get(doc, "flowlens.interface.name"); v != "a\"b\\c\x00\ufffd" {
		t.Errorf("name %q", v)
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	ds, err := pcapfile.ReadAll("../../testdata/ovs/ovs-sflow.pcap", nil)
	if err != nil {
		b.Fatal(err)
	}
	dec := sflow.NewDecoder(sflow.Options{})
	var res sflow.Result
	var recs []flow.Record
	for _, d := range ds {
		dec.Decode(d.Payload, d.Time, &res)
		recs = append(recs, res.Flows...)
	}
	buf := make([]byte, 0, 4096)
	size := 0
	for j := range recs {
		size += len(ecs.AppendFlow(buf[:0], &recs[j]))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range recs {
			buf = ecs.AppendFlow(buf[:0], &recs[j])
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
	b.ReportMetric(float64(size)/float64(len(recs)), "bytes/record")
}
