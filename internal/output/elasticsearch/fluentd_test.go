package elasticsearch

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/decode/sflow"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

// The netflow-compat schema against the Fluentd chain it replaces, field
// by field, for one NetFlow v5 datagram. The expected documents are what
// that chain indexes, worked out by hand from its sources (the files
// cited are fluent-plugin-netflow's, repository repeatedly/
// fluent-plugin-netflow, and fluent-plugin-geoip's, y-ken/
// fluent-plugin-geoip):
//
//   - lib/fluent/plugin/parser_netflow.rb, forV5: one event per record,
//     each with the whole header (version, uptime, flow_records,
//     flow_seq_num, engine_type, engine_id, and the 16-bit sampling field
//     split into sampling_algorithm, its top two bits, and
//     sampling_interval, its low 14) and every record field under the v5
//     names. Numbers are Ruby integers (JSON numbers), the counts exactly
//     as exported (nothing multiplies them by the sampling interval);
//     addresses are dotted-quad strings built from the 32-bit words,
//     ipv4_next_hop included when it is 0.0.0.0; l4_src_port and
//     l4_dst_port are the record's port fields whatever the protocol
//     (NetFlow v5 puts an ICMP type and code in the destination port);
//     tcp_flags, protocol, src_tos, src_as, dst_as, src_mask, dst_mask
//     are the record's bytes and words as they are. The header's
//     unix_sec and unix_nsec are not fields of the record: they make the
//     Fluentd event time (unix_sec) and the switched times.
//   - parser_netflow.rb, msec_from_boot_to_time and format_for_switched:
//     first_switched/last_switched become wall-clock times, unix_sec and
//     unix_nsec (to the microsecond) minus (uptime - switched)
//     milliseconds, borrowing a second when the microseconds go negative,
//     written in UTC as %Y-%m-%dT%H:%M:%S.%3NZ (milliseconds, truncated).
//     With the default switched_times_from_uptime false.
//   - lib/fluent/plugin/in_netflow.rb, receive_data: record['host'] is the
//     exporter's address as a string.
//   - lib/fluent/plugin/geoip.rb (fluent-plugin-geoip), add_geoip_field:
//     with geoip_lookup_key ipv4_dst_addr, a record directive
//     geoip_pin '${latitude["ipv4_dst_addr"]},${longitude["ipv4_dst_addr"]}'
//     and skip_adding_null_record, an address the database locates gets
//     geoip_pin, the two Ruby floats (Float#to_s: "52.0", not "52")
//     joined by a comma; an address it does not locate (a private one)
//     gets no geoip_pin at all.
//
// @timestamp is fluent-plugin-elasticsearch's (the Fluentd event time,
// the export second); flowlens writes the arrival time, to the
// millisecond: a difference of type-compatible values, checked apart.

// v5Datagram builds a NetFlow v5 datagram: the header values of
// fluent-plugin-netflow's own tests (uptime 1048383625, 2016-02-29
// 19:14:00 UTC), nanoseconds that make the microsecond borrow happen,
// sampling mode 1 and interval 100, and three records.
func v5Datagram() []byte {
	const uptime = 1048383625
	b := binary.BigEndian.AppendUint16(nil, 5)
	b = binary.BigEndian.AppendUint16(b, 3)
	b = binary.BigEndian.AppendUint32(b, uptime)
	b = binary.BigEndian.AppendUint32(b, 1456773240)
	b = binary.BigEndian.AppendUint32(b, 123456789)
	b = binary.BigEndian.AppendUint32(b, 4242)
	b = append(b, 1, 2)                             // engine type, id
	b = binary.BigEndian.AppendUint16(b, 1<<14|100) // sampling: mode 1, 1 in 100
	rec := func(src, dst, nh string, in, out uint16, pkts, octets, first, last uint32,
		sport, dport uint16, flags, proto, tos uint8, srcAS, dstAS uint16, srcMask, dstMask uint8) {
		for _, a := range []string{src, dst, nh} {
			b = append(b, netip.MustParseAddr(a).AsSlice()...)
		}
		b = binary.BigEndian.AppendUint16(b, in)
		b = binary.BigEndian.AppendUint16(b, out)
		for _, v := range []uint32{pkts, octets, first, last} {
			b = binary.BigEndian.AppendUint32(b, v)
		}
		b = binary.BigEndian.AppendUint16(b, sport)
		b = binary.BigEndian.AppendUint16(b, dport)
		b = append(b, 0, flags, proto, tos)
		b = binary.BigEndian.AppendUint16(b, srcAS)
		b = binary.BigEndian.AppendUint16(b, dstAS)
		b = append(b, srcMask, dstMask, 0, 0)
	}
	// The plugin's test record: TCP, 13 s and 12.95 s before the export.
	rec("10.0.1.122", "192.168.0.3", "10.0.0.3", 1, 2, 156, 1024, uptime-13000, uptime-12950,
		1048, 80, 27, 6, 0, 101, 201, 24, 24)
	// UDP to a public address, no next hop, a TOS, AS 0.
	rec("10.0.1.123", "203.0.113.7", "0.0.0.0", 3, 4, 2, 152, uptime-999, uptime,
		5353, 53, 0, 17, 0x28, 0, 0, 25, 0)
	// ICMP echo request (type 8 code 0 in the destination port), the
	// router's clock half a second ahead of its header.
	rec("10.0.1.124", "198.51.100.9", "10.0.0.1", 65535, 0, 1, 84, uptime+500, uptime+500,
		0, 8<<8, 0, 1, 0, 65535, 7, 32, 8)
	return b
}

// chainDocuments are the documents the Fluentd chain indexed for
// v5Datagram from 192.0.2.10, worked out from the sources above.
func chainDocuments() []map[string]any {
	header := func(doc map[string]any) map[string]any {
		for k, v := range map[string]any{
			"host": "192.0.2.10", "version": 5, "uptime": 1048383625, "flow_records": 3, "flow_seq_num": 4242,
			"engine_type": 1, "engine_id": 2, "sampling_algorithm": 1, "sampling_interval": 100,
		} {
			doc[k] = v
		}
		return doc
	}
	return []map[string]any{
		header(map[string]any{
			"ipv4_src_addr": "10.0.1.122", "ipv4_dst_addr": "192.168.0.3", "ipv4_next_hop": "10.0.0.3",
			"input_snmp": 1, "output_snmp": 2, "in_pkts": 156, "in_bytes": 1024,
			// 19:14:00.123456 - 13 s; - 12.95 s: 48.123456 - 0.95, a borrow.
			"first_switched": "2016-02-29T19:13:47.123Z", "last_switched": "2016-02-29T19:13:47.173Z",
			"l4_src_port": 1048, "l4_dst_port": 80, "tcp_flags": 27, "protocol": 6, "src_tos": 0,
			"src_as": 101, "dst_as": 201, "src_mask": 24, "dst_mask": 24,
			// 192.168.0.3 is not in the database: no geoip_pin.
		}),
		header(map[string]any{
			"ipv4_src_addr": "10.0.1.123", "ipv4_dst_addr": "203.0.113.7", "ipv4_next_hop": "0.0.0.0",
			"input_snmp": 3, "output_snmp": 4, "in_pkts": 2, "in_bytes": 152,
			// 0.123456 - 0.999: borrow a second.
			"first_switched": "2016-02-29T19:13:59.124Z", "last_switched": "2016-02-29T19:14:00.123Z",
			"l4_src_port": 5353, "l4_dst_port": 53, "tcp_flags": 0, "protocol": 17, "src_tos": 40,
			"src_as": 0, "dst_as": 0, "src_mask": 25, "dst_mask": 0,
			"geoip_pin": "35.685,139.7514",
		}),
		header(map[string]any{
			"ipv4_src_addr": "10.0.1.124", "ipv4_dst_addr": "198.51.100.9", "ipv4_next_hop": "10.0.0.1",
			"input_snmp": 65535, "output_snmp": 0, "in_pkts": 1, "in_bytes": 84,
			// uptime - switched = -500: Ruby's floored division and
			// modulo give 19:14:01 - 0.376544 s, i.e. 00.623456.
			"first_switched": "2016-02-29T19:14:00.623Z", "last_switched": "2016-02-29T19:14:00.623Z",
			"l4_src_port": 0, "l4_dst_port": 2048, "tcp_flags": 0, "protocol": 1, "src_tos": 0,
			"src_as": 65535, "dst_as": 7, "src_mask": 32, "dst_mask": 8,
			"geoip_pin": "52.0,13.0",
		}),
	}
}

// geo is what the GeoIP enrichment gives the datagram's addresses: the
// destinations of records 2 and 3 are located, and so is every source,
// which the chain's geoip_pin never showed.
func geo(r *flow.Record) {
	switch r.DstAddr.String() {
	case "203.0.113.7":
		r.DstGeo = &flow.Geo{Lat: 35.685, Lon: 139.7514, HasLocation: true, CountryISO: "JP"}
	case "198.51.100.9":
		r.DstGeo = &flow.Geo{Lat: 52, Lon: 13, HasLocation: true, CountryISO: "DE"}
	}
	r.SrcGeo = &flow.Geo{Lat: 48.8582, Lon: 2.3387, HasLocation: true, CountryISO: "FR"}
}

// compatDocs decodes the datagram and encodes its records as the output
// would, returning the documents (numbers as json.Number).
func compatDocs(t *testing.T, b []byte, arrival time.Time, pin string) []map[string]any {
	t.Helper()
	opt := netflow.Options{}
	dec := netflow.NewDecoder(netflow.NewTemplates(opt), opt)
	var res netflow.Result
	if err := dec.Decode(b, netip.MustParseAddrPort("192.0.2.10:40000"), arrival, &res); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Schema, cfg.GeoIPPin = SchemaNetFlowCompat, pin
	enc := newEncoder(&cfg)
	var docs []map[string]any
	for i := range res.Flows {
		r := res.Flows[i]
		geo(&r)
		item := enc.flow(nil, &r)
		_, src, _ := bytes.Cut(item, []byte("\n"))
		d := json.NewDecoder(bytes.NewReader(src))
		d.UseNumber()
		var doc map[string]any
		if err := d.Decode(&doc); err != nil {
			t.Fatalf("%v: %s", err, src)
		}
		docs = append(docs, doc)
	}
	return docs
}

func TestCompatMatchesFluentPluginNetflowV5(t *testing.T) {
	arrival := time.Date(2016, 2, 29, 19, 14, 0, 250e6, time.UTC)
	got := compatDocs(t, v5Datagram(), arrival, GeoIPPinDestination)
	want := chainDocuments()
	if len(got) != len(want) {
		t.Fatalf("%d documents, want %d", len(got), len(want))
	}
	m := mappings(flowFieldsCompat, SchemaNetFlowCompat)
	for i := range want {
		g, w := got[i], want[i]
		// @timestamp: a date, the arrival (the chain's was the export
		// second); the rest must be the chain's, field for field.
		if ts, _ := g["@timestamp"].(string); ts != "2016-02-29T19:14:00.25Z" {
			t.Errorf("record %d: @timestamp %v", i, g["@timestamp"])
		}
		delete(g, "@timestamp")
		var names []string
		for k := range g {
			names = append(names, k)
		}
		for k := range w {
			if _, ok := g[k]; !ok {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		for _, k := range names {
			gv, gok := g[k]
			wv, wok := w[k]
			switch {
			case !wok:
				t.Errorf("record %d: %s = %v: the chain has no such field", i, k, gv)
			case !gok:
				t.Errorf("record %d: %s missing (the chain has %v)", i, k, wv)
			default:
				switch wv := wv.(type) {
				case int:
					n, ok := gv.(json.Number)
					if !ok || n.String() != strconv.Itoa(wv) {
						t.Errorf("record %d: %s = %#v, want the number %d", i, k, gv, wv)
					}
				case string:
					if s, ok := gv.(string); !ok || s != wv {
						t.Errorf("record %d: %s = %#v, want the string %q", i, k, gv, wv)
					}
				}
			}
			// And the index template maps it as the chain's saved
			// objects need: numbers as numbers, the chain's date strings
			// as dates, other strings with their .keyword.
			typ := mappedType(m, k)
			switch wv := w[k].(type) {
			case int:
				if !numericType[typ] {
					t.Errorf("%s is a number, mapped %q", k, typ)
				}
			case string:
				switch k {
				case "first_switched", "last_switched":
					if typ != "date" {
						t.Errorf("%s mapped %q, want date (the chain's dynamic mapping detected %q as one)", k, typ, wv)
					}
				case "geoip_pin":
					if typ != "geo_point" {
						t.Errorf("geoip_pin mapped %q", typ)
					}
				default:
					if kw := mappedType(m, k+".keyword"); kw != "keyword" {
						t.Errorf("%s.keyword mapped %q, want keyword (saved objects of the chain use it)", k, kw)
					}
				}
			}
		}
	}
}

var numericType = map[string]bool{"long": true, "integer": true, "short": true, "byte": true}

// geoip_pin: the destination by default, as the chain's geoip filter was
// set up; output.elasticsearch.geoip_pin: source locates the source.
func TestCompatGeoIPPinEnd(t *testing.T) {
	arrival := time.Date(2016, 2, 29, 19, 14, 0, 0, time.UTC)
	dst := compatDocs(t, v5Datagram(), arrival, GeoIPPinDestination)
	src := compatDocs(t, v5Datagram(), arrival, GeoIPPinSource)
	for i, want := range []any{nil, "35.685,139.7514", "52.0,13.0"} {
		if got := dst[i]["geoip_pin"]; got != want {
			t.Errorf("record %d: destination geoip_pin %v, want %v", i, got, want)
		}
		if got := src[i]["geoip_pin"]; got != "48.8582,2.3387" {
			t.Errorf("record %d: source geoip_pin %v", i, got)
		}
	}
	cfg := DefaultConfig()
	cfg.URLs = []string{"http://localhost:9200"}
	if cfg.GeoIPPin != GeoIPPinDestination || cfg.Validate() != nil {
		t.Errorf("default geoip_pin %q", cfg.GeoIPPin)
	}
	cfg.GeoIPPin = "both"
	if err := cfg.Validate(); err == nil {
		t.Error("geoip_pin both accepted")
	}
}

// Ruby's Float#to_s, as fluent-plugin-geoip wrote the coordinates.
func TestRubyFloat(t *testing.T) {
	for f, want := range map[float64]string{
		52: "52.0", -0.5: "-0.5", 35.685: "35.685", 0: "0.0", -122.4194: "-122.4194",
		0.00001: "1.0e-05", -0.000015: "-1.5e-05", 0.0001: "0.0001", 1e16: "1.0e+16",
	} {
		if got := string(appendRubyFloat(nil, f)); got != want {
			t.Errorf("%v: %s, want %s", f, got, want)
		}
	}
}

// The one deliberate difference in a v5 record's fields: a router whose
// sysUptime wrapped (2^32 ms, 49.7 days) after the flow started. The
// plugin subtracts without the wrap (msec_from_boot_to_time: uptime -
// switched is negative and huge) and dates the flow 49.7 days after its
// export; flowlens takes the difference modulo 2^32: 2 s before it.
func TestCompatUptimeWrap(t *testing.T) {
	b := v5Datagram()[:24+48]
	binary.BigEndian.PutUint16(b[2:], 1)
	binary.BigEndian.PutUint32(b[4:], 1000)           // uptime, just after the wrap
	binary.BigEndian.PutUint32(b[24+24:], 1<<32-1000) // first: 2 s before the export
	binary.BigEndian.PutUint32(b[24+28:], 500)        // last: 0.5 s before it, after the wrap
	docs := compatDocs(t, b, time.Date(2016, 2, 29, 19, 14, 0, 0, time.UTC), GeoIPPinDestination)
	if got := docs[0]["first_switched"]; got != "2016-02-29T19:13:58.123Z" {
		t.Errorf("first_switched %v (the plugin: 2016-04-19T…, 49.7 days later)", got)
	}
	if got := docs[0]["last_switched"]; got != "2016-02-29T19:13:59.623Z" {
		t.Errorf("last_switched %v", got)
	}
}

// Real exporters' NetFlow v5 (testdata/exporters): pmacct's nfprobe, with
// the rate in its header and ICMP type·256+code in the destination port,
// and fprobe, unsampled, with the ICMP type in the source port. Every
// header field on every document as the datagram carries it, and every
// record field as the exporter wrote it (the plugin copies the port
// fields and never multiplies the counts), read here straight from the
// datagrams' bytes.
func TestCompatRealV5(t *testing.T) {
	for _, c := range []struct {
		file          string
		mode, rate    uint16
		engine        [2]byte
		records, icmp int
	}{
		{"pmacct-netflow-v5.pcap", 1, 10, [2]byte{3, 4}, 5, 2},
		{"fprobe-netflow-v5.pcap", 0, 0, [2]byte{0, 0}, 5, 2},
	} {
		ds, err := pcapfile.ReadAll("../../../testdata/exporters/"+c.file, nil)
		if err != nil || len(ds) == 0 {
			t.Fatalf("%s: %v, %d datagrams", c.file, err, len(ds))
		}
		opt := netflow.Options{}
		dec := netflow.NewDecoder(netflow.NewTemplates(opt), opt)
		cfg := DefaultConfig()
		cfg.Schema = SchemaNetFlowCompat
		enc := newEncoder(&cfg)
		n, icmp := 0, 0
		for _, d := range ds {
			b := d.Payload
			var res netflow.Result
			if err := dec.Decode(b, d.Src, d.Time, &res); err != nil {
				t.Fatal(err)
			}
			be := binary.BigEndian
			if s := be.Uint16(b[22:]); s>>14 != c.mode || s&0x3fff != c.rate || b[20] != c.engine[0] || b[21] != c.engine[1] {
				t.Fatalf("%s: the capture's sampling field is %#x, engine %d/%d", c.file, s, b[20], b[21])
			}
			for i := range res.Flows {
				rec := b[24+48*i:]
				item := enc.flow(nil, &res.Flows[i])
				_, src, _ := bytes.Cut(item, []byte("\n"))
				var doc map[string]any
				if err := json.Unmarshal(src, &doc); err != nil {
					t.Fatal(err)
				}
				addr := func(p []byte) string { return netip.AddrFrom4([4]byte(p[:4])).String() }
				for k, want := range map[string]any{
					"version": 5.0, "uptime": float64(be.Uint32(b[4:])), "flow_records": float64(be.Uint16(b[2:])),
					"flow_seq_num": float64(be.Uint32(b[16:])), "engine_type": float64(b[20]), "engine_id": float64(b[21]),
					"sampling_algorithm": float64(c.mode), "sampling_interval": float64(c.rate),
					"ipv4_src_addr": addr(rec), "ipv4_dst_addr": addr(rec[4:]), "ipv4_next_hop": addr(rec[8:]),
					"input_snmp": float64(be.Uint16(rec[12:])), "output_snmp": float64(be.Uint16(rec[14:])),
					"in_pkts": float64(be.Uint32(rec[16:])), "in_bytes": float64(be.Uint32(rec[20:])),
					"l4_src_port": float64(be.Uint16(rec[32:])), "l4_dst_port": float64(be.Uint16(rec[34:])),
					"tcp_flags": float64(rec[37]), "protocol": float64(rec[38]), "src_tos": float64(rec[39]),
					"src_as": float64(be.Uint16(rec[40:])), "dst_as": float64(be.Uint16(rec[42:])),
					"src_mask": float64(rec[44]), "dst_mask": float64(rec[45]),
				} {
					if doc[k] != want {
						t.Errorf("%s record %d: %s = %v, the datagram says %v", c.file, n, k, doc[k], want)
					}
				}
				if rec[38] == 1 {
					icmp++
				}
				if est := res.Flows[i].Packets; est != uint64(max(c.rate, 1))*uint64(be.Uint32(rec[16:])) {
					t.Errorf("%s record %d: flowlens's estimate %d packets", c.file, n, est)
				}
				n++
			}
		}
		if n != c.records || icmp != c.icmp {
			t.Errorf("%s: %d records (%d ICMP), want %d (%d)", c.file, n, icmp, c.records, c.icmp)
		}
	}
}

// sFlow written as the seed's sflowtool -c turned it into NetFlow v5 for
// the plugin, checked against sflowtool's own reading of the same capture
// (testdata/ovs: sflowtool -l, one line a flow sample with the fields -c
// exports: ports, or ICMP type and code, protocol, TOS, TCP flags, the IP
// size it multiplies by the rate, and the rate it exports as the packet
// count). sflowtool -c exports IPv4 samples only; flowlens writes the
// IPv6 ones with the plugin's v9 names.
func TestCompatSFlowAsSflowtool(t *testing.T) {
	dgs, err := pcapfile.ReadAll("../../../testdata/ovs/ovs-sflow.pcap", nil)
	if err != nil {
		t.Fatal(err)
	}
	csv, err := os.ReadFile("../../../testdata/ovs/decoded/sflowtool-lines.csv")
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]string
	for _, l := range strings.Split(strings.TrimSpace(string(csv)), "\n") {
		if f := strings.Split(l, ","); f[0] == "FLOW" {
			lines = append(lines, f)
		}
	}
	dec := sflow.NewDecoder(sflow.Options{})
	cfg := DefaultConfig()
	cfg.Schema = SchemaNetFlowCompat
	enc := newEncoder(&cfg)
	var res sflow.Result
	n, v4 := 0, 0
	num := func(s string) float64 {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			t.Fatalf("sflowtool -l field %q", s)
		}
		return float64(v)
	}
	for _, dg := range dgs {
		if err := dec.Decode(dg.Payload, dg.Time, &res); err != nil {
			t.Fatal(err)
		}
		for i := range res.Flows {
			if n >= len(lines) {
				t.Fatalf("more flow samples than sflowtool printed (%d)", len(lines))
			}
			f := lines[n]
			n++
			_, src, _ := bytes.Cut(enc.flow(nil, &res.Flows[i]), []byte("\n"))
			var doc map[string]any
			if err := json.Unmarshal(src, &doc); err != nil {
				t.Fatal(err)
			}
			if f[6] != "0x0800" {
				if a, _ := doc["ipv6_src_addr"].(string); netip.MustParseAddr(a) != netip.MustParseAddr(f[9]) || doc["protocol"] != num(f[11]) {
					t.Errorf("sample %d (IPv6): %s", n, src)
				}
				continue
			}
			v4++
			rate := num(f[19])
			for k, want := range map[string]any{
				"version": 5.0, "flow_records": 1.0, "engine_type": 0.0, "engine_id": 0.0,
				"sampling_algorithm": 0.0, "sampling_interval": 0.0,
				"ipv4_src_addr": f[9], "ipv4_dst_addr": f[10], "ipv4_next_hop": "0.0.0.0",
				"input_snmp": num(f[2]), "output_snmp": num(f[3]),
				"in_pkts": rate, "in_bytes": num(f[18]) * rate,
				"protocol": num(f[11]), "src_tos": num(f[12]), "tcp_flags": num(f[16]),
				"l4_src_port": num(f[14]), "l4_dst_port": num(f[15]),
			} {
				if doc[k] != want {
					t.Errorf("sample %d: %s = %v, sflowtool %v (%s)", n, k, doc[k], want, strings.Join(f, ","))
				}
			}
		}
	}
	if n != len(lines) || v4 < 500 {
		t.Errorf("%d flow samples (%d IPv4), sflowtool printed %d", n, v4, len(lines))
	}
}
