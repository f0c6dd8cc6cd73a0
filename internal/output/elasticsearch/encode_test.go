package elasticsearch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
)

// The templates map every field the encoders can write, with the type
// docs/fields.md gives it (numbers may be narrower: integer, short).
func TestTemplatesCoverEveryWrittenField(t *testing.T) {
	recs, c := fullRecords()
	check := func(schema string, fields []fieldDef, docs [][]byte) {
		m := mappings(fields, schema)
		written := map[string]bool{}
		for _, d := range docs {
			var v map[string]any
			if err := json.Unmarshal(d, &v); err != nil {
				t.Fatalf("%s: %v: %s", schema, err, d)
			}
			leaves("", v, written)
		}
		var missing []string
		for p := range written {
			if mappedType(m, p) == "" || mappedType(m, p) == "object" {
				missing = append(missing, p)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s: written but not in the template: %v", schema, missing)
		}
		// And nothing in the template is never written.
		for _, f := range fields {
			if !written[f.path] {
				t.Errorf("%s: %s is mapped but never written", schema, f.path)
			}
		}
	}
	var docs, compat [][]byte
	for i := range recs {
		docs = append(docs, ecs.AppendFlow(nil, &recs[i]))
		compat = append(compat, appendCompat(nil, &recs[i], false))
	}
	// An IPv6 next hop.
	v6 := recs[4]
	compat = append(compat, appendCompat(nil, &v6, false))
	check("ecs flows", flowFieldsECS, docs)
	check("ecs counters", counterFieldsECS, [][]byte{ecs.AppendCounter(nil, &c)})
	check("netflow-compat", flowFieldsCompat, compat)
}

func TestTemplateFollowsFieldsDoc(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/fields.md")
	if err != nil {
		t.Fatal(err)
	}
	numeric := map[string]bool{"long": true, "integer": true, "short": true, "byte": true}
	flowsM := mappings(flowFieldsECS, SchemaECS)
	countersM := mappings(counterFieldsECS, SchemaECS)
	section := ""
	n := 0
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "## ") {
			section = line
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(line, "|")
		field, docType := strings.Trim(cols[1], " `"), strings.TrimSpace(cols[2])
		if !strings.Contains(section, "records") {
			continue // the ifIndex format table
		}
		m := flowsM
		if strings.Contains(section, "Counter") {
			m = countersM
		}
		got := mappedType(m, field)
		n++
		if got != docType && !(numeric[docType] && numeric[got]) {
			t.Errorf("%s (%s): documented %s, mapped %q", field, section, docType, got)
		}
	}
	if n < 150 {
		t.Errorf("only %d fields read from docs/fields.md", n)
	}
}

// fields: compact writes the compact ECS document, and its id is still
// the one of what it records.
func TestCompactDocument(t *testing.T) {
	r := genRecord(0)
	cfg := DefaultConfig()
	var full, compact []byte
	for _, fields := range []string{"full", "compact"} {
		cfg.Fields = fields
		b := newEncoder(&cfg).flow(nil, &r)
		lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
		if len(lines) != 2 {
			t.Fatalf("%s: %d lines: %s", fields, len(lines), b)
		}
		var d map[string]any
		if err := json.Unmarshal(lines[1], &d); err != nil {
			t.Fatalf("%s: %v: %s", fields, err, lines[1])
		}
		if fields == "full" {
			full = lines[1]
		} else {
			compact = lines[1]
		}
	}
	if !bytes.Equal(compact, ecs.AppendCompactFlow(nil, &r)) || bytes.Equal(full, compact) {
		t.Errorf("compact document %s, full %s", compact, full)
	}
}

func TestNetflowCompatDocument(t *testing.T) {
	r := genRecord(0)
	r.NextHop, r.SrcAS, r.DstAS, r.SrcMask, r.DstMask, r.TOS = netip.MustParseAddr("10.0.0.254"), 64512, 64513, 24, 16, 0x10
	r.VLAN, r.VLANCount = 100, 1
	r.FrameLength = 106 // the 84-byte IP packet in a tagged frame, with its FCS
	b := appendCompat(nil, &r, false)
	var d map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	want := map[string]string{
		"@timestamp": "2026-11-26T23:59:59.5Z", "host": "192.0.2.10", "ipv4_src_addr": "10.0.0.5", "ipv4_dst_addr": "10.0.0.6",
		"ipv4_next_hop": "10.0.0.254", "input_snmp": "3", "output_snmp": "4", "in_pkts": "64", "in_bytes": "5376",
		"first_switched": "2026-11-26T23:59:59.500Z", "last_switched": "2026-11-26T23:59:59.500Z",
		"l4_src_port": "40000", "l4_dst_port": "443", "tcp_flags": "24", "protocol": "6", "src_tos": "16",
		"src_as": "64512", "dst_as": "64513", "src_mask": "24", "dst_mask": "16", "flow_seq_num": "0",
		"in_src_mac": "fa:16:3e:00:00:01", "in_dst_mac": "fa:16:3e:00:00:02",
		"src_vlan": "100", "ip_protocol_version": "4",
		// sFlow is written as sflowtool -c converted it to NetFlow v5:
		// the counts already scaled, of IP bytes (84 × 64: the frame less
		// FCS, Ethernet header and tag), the sampling field 0, the agent
		// "started at midnight" (23:59:59.5 is 86399500 ms after).
		"version": "5", "uptime": "86399500", "flow_records": "1", "engine_type": "0", "engine_id": "0",
		"sampling_algorithm": "0", "sampling_interval": "0",
	}
	for k, v := range want {
		if got := fmt.Sprint(d[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	if _, ok := d["geoip_pin"]; ok {
		t.Error("geoip_pin for private addresses")
	}
	if len(d) != len(want) {
		t.Errorf("fields %d, want %d: %s", len(d), len(want), b)
	}
	// IPv6, NetFlow v9 with flow times, the destination located (the
	// source is private), AS from the ASN database.
	r = genRecord(1)
	r.DstAddr = netip.MustParseAddr("2001:4860::8888")
	r.Input, r.Start, r.End, r.TemplateID, r.HasEngine, r.EngineID = flow.InputNetFlowV9, t0.Add(-time.Second), t0, 260, true, 3
	r.HasPorts = false
	r.DstGeo = &flow.Geo{Lat: 37.751, Lon: -97.822, HasLocation: true, ASN: 15169}
	b = appendCompat(nil, &r, false)
	for _, s := range []string{`"ipv6_src_addr":"2001:db8::5"`, `"ipv6_dst_addr":"2001:4860::8888"`, `"dst_as":15169`, `"version":9`,
		`"first_switched":"2026-11-26T23:59:58.500Z"`, `"last_switched":"2026-11-26T23:59:59.500Z"`, `"flowset_id":260`,
		`"engine_id":3`, `"l4_src_port":0`, `"geoip_pin":"37.751,-97.822"`, `"ip_protocol_version":6`} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("missing %s in %s", s, b)
		}
	}
	if bytes.Contains(b, []byte("ipv4_src_addr")) {
		t.Errorf("IPv4 names for an IPv6 flow: %s", b)
	}
	// ICMP from sFlow: type and code in the port fields, as sflowtool
	// -c wrote them.
	r = genRecord(0)
	r.Proto, r.HasPorts, r.HasICMP, r.ICMPType, r.ICMPCode = 1, false, true, 3, 13
	if b = appendCompat(nil, &r, false); !bytes.Contains(b, []byte(`"l4_src_port":3,"l4_dst_port":13`)) {
		t.Errorf("sFlow ICMP: %s", b)
	}
	// IPFIX is version 10; a packet of Neutron's log has no version.
	r.Input = flow.InputIPFIX
	if b = appendCompat(nil, &r, false); !bytes.Contains(b, []byte(`"version":10`)) {
		t.Errorf("IPFIX: %s", b)
	}
	r.Input = flow.InputNeutronLog
	if b = appendCompat(nil, &r, false); bytes.Contains(b, []byte(`"version"`)) {
		t.Errorf("Neutron log: %s", b)
	}
}

// Encoding allocates nothing.
func TestEncodeDoesNotAllocate(t *testing.T) {
	cfg := DefaultConfig()
	r, c := genRecord(3), genCounter(3)
	for _, schema := range []string{SchemaECS, SchemaNetFlowCompat} {
		cfg.Schema = schema
		enc := newEncoder(&cfg)
		r.SrcGeo = &flow.Geo{Lat: 1, Lon: 2, HasLocation: true}
		buf := make([]byte, 0, 64<<10)
		if n := testing.AllocsPerRun(100, func() {
			buf = enc.flow(buf[:0], &r)
			buf = enc.counter(buf, &c)
		}); n != 0 {
			t.Errorf("%s: %.1f allocations per record", schema, n)
		}
	}
}

func TestDocumentIDs(t *testing.T) {
	r := genRecord(7)
	id := flowID(&r, nil)
	if len(id) != 22 || strings.ContainsAny(string(id[:]), "+/=") {
		t.Errorf("id %q", id)
	}
	r2 := r
	if flowID(&r2, nil) != id {
		t.Error("id not stable")
	}
	// Every identifying field changes the id.
	for name, mod := range map[string]func(*flow.Record){
		"agent":      func(r *flow.Record) { r.Agent = netip.MustParseAddr("192.0.2.11") },
		"sub-agent":  func(r *flow.Record) { r.SubAgent++ },
		"sequence":   func(r *flow.Record) { r.Sequence++ },
		"sample seq": func(r *flow.Record) { r.SampleSeq++ },
		"input":      func(r *flow.Record) { r.Input = flow.InputNetFlowV5 },
		"time":       func(r *flow.Record) { r.Time = r.Time.Add(time.Nanosecond) }, // an agent restart repeats sequences
		"source":     func(r *flow.Record) { r.SourceIndex++ },
		"port":       func(r *flow.Record) { r.SrcPort++ },
	} {
		m := r
		mod(&m)
		if flowID(&m, nil) == id {
			t.Errorf("%s does not change the id", name)
		}
	}
	c := genCounter(7)
	if cid := counterID(&c); cid == id {
		t.Error("counter id equals flow id")
	}
	seen := map[[idLen]byte]bool{}
	for i := 0; i < 200000; i++ {
		r := genRecord(i)
		r.Time = t0 // same time: only the sequence numbers tell them apart
		id := flowID(&r, nil)
		if seen[id] {
			t.Fatalf("collision at %d", i)
		}
		seen[id] = true
	}
}

// Aggregates that differ only in what a compact or netflow-compat
// document leaves out (here the ICMP type) still get two ids, whatever the
// document written: the same id would make the second a refused duplicate.
func TestIDsTellApartWhatTheDocumentLeavesOut(t *testing.T) {
	echo := genRecord(1)
	echo.Proto, echo.HasProto, echo.HasPorts, echo.SrcPort, echo.DstPort = 1, true, false, 0, 0
	echo.HasICMP, echo.ICMPType, echo.Samples = true, 8, 3
	reply := echo
	reply.ICMPType = 0
	for _, c := range []struct{ schema, fields string }{{SchemaECS, "full"}, {SchemaECS, "compact"}, {SchemaNetFlowCompat, "full"}} {
		cfg := DefaultConfig()
		cfg.Schema, cfg.Fields = c.schema, c.fields
		e := newEncoder(&cfg)
		a, b := e.flow(nil, &echo), e.flow(nil, &reply)
		idOf := func(item []byte) string {
			var action struct {
				Create struct {
					ID string `json:"_id"`
				} `json:"create"`
			}
			if err := json.Unmarshal(bytes.SplitN(item, []byte("\n"), 2)[0], &action); err != nil {
				t.Fatal(err)
			}
			return action.Create.ID
		}
		if idOf(a) == idOf(b) {
			t.Errorf("%s %s: echo request and reply share id %s", c.schema, c.fields, idOf(a))
		}
	}
}

func TestDailyIndexNames(t *testing.T) {
	cfg := DefaultConfig()
	enc := newEncoder(&cfg)
	for _, tc := range []struct {
		k    kind
		t    time.Time
		want string
	}{
		{kindFlows, time.Date(2026, 1, 2, 23, 59, 59, 0, time.UTC), "flow-2026.01.02"},
		{kindFlows, time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), "flow-2026.01.03"},
		{kindFlows, time.Date(2026, 1, 3, 1, 0, 0, 0, time.FixedZone("CET", 3600)), "flow-2026.01.03"},
		{kindFlows, time.Date(2026, 1, 3, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "flow-2026.01.02"},
		{kindCounters, time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), "flow-counters-2026.01.03"},
	} {
		if got := string(enc.index(tc.k, tc.t)); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.t, got, tc.want)
		}
	}
	cfg.DataStream, cfg.Index = true, "nf"
	enc = newEncoder(&cfg)
	if got := string(enc.index(kindCounters, time.Now())); got != "nf-counters" {
		t.Errorf("data stream %s", got)
	}
}

// NetFlow records of one datagram share its sequence number, and
// aggregates have none: their ids come from the whole document, so records
// that differ in anything get different ids, and the same record the same.
func TestDocumentIDsWithoutSampleSequence(t *testing.T) {
	cfg := DefaultConfig()
	enc := newEncoder(&cfg)
	idIn := func(item []byte) string {
		var a map[string]struct {
			ID string `json:"_id"`
		}
		line, _, _ := bytes.Cut(item, []byte("\n"))
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("%v: %s", err, item)
		}
		return a["create"].ID
	}
	base := genRecord(0)
	base.Input, base.Sequence, base.SampleSeq = flow.InputNetFlowV5, 1000, 0
	seen := map[string]string{}
	for name, mod := range map[string]func(*flow.Record){
		"base":    func(*flow.Record) {},
		"tos":     func(r *flow.Record) { r.TOS = 0x10 },
		"tcp":     func(r *flow.Record) { r.TCPFlags = 0x02 },
		"vni":     func(r *flow.Record) { r.Tunnel, r.VNI, r.HasVNI = flow.TunnelVXLAN, 9, true },
		"src mac": func(r *flow.Record) { r.SrcMAC[5] = 9 },
		"samples": func(r *flow.Record) { r.Input, r.Samples = flow.InputSFlow, 4 },
		"agg mac": func(r *flow.Record) { r.Input, r.Samples, r.DstMAC[5] = flow.InputSFlow, 4, 7 },
	} {
		r := base
		mod(&r)
		id := idIn(enc.flow(nil, &r))
		if other, ok := seen[id]; ok {
			t.Errorf("%s and %s have the same id", name, other)
		}
		seen[id] = name
		if again := idIn(enc.flow(nil, &r)); again != id {
			t.Errorf("%s: id not stable", name)
		}
	}
}

func TestAppendMillis(t *testing.T) {
	for _, tm := range []time.Time{t0, time.Date(1999, 1, 2, 3, 4, 5, 6_789_999, time.FixedZone("X", -7200)),
		time.Date(2026, 12, 31, 23, 59, 59, 999_999_999, time.UTC), time.Unix(0, 0)} {
		if got, want := string(appendMillis(nil, tm)), tm.UTC().Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
}
