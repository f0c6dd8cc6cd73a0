package netflow_test

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

// warmDecoder returns a decoder that has seen all of Open vSwitch's IPFIX
// templates, so truncated data messages reach the record decoder.
func warmDecoder(t testing.TB, ds []pcapfile.Datagram) *netflow.Decoder {
	dec, _ := newDecoder(netflow.Options{})
	var res netflow.Result
	for _, d := range ds {
		if err := dec.Decode(d.Payload, d.Src, d.Time, &res); err != nil {
			t.Fatal(err)
		}
	}
	return dec
}

// setBoundaries returns the offsets at which a set ends in an IPFIX
// message (or v9 datagram, with header length 20).
func setBoundaries(b []byte, hdr int) map[int]bool {
	ends := map[int]bool{hdr: true}
	for p := hdr; p+4 <= len(b); {
		l := int(binary.BigEndian.Uint16(b[p+2:]))
		if l < 4 {
			break
		}
		p += l
		ends[p] = true
	}
	return ends
}

func TestTruncatedDatagrams(t *testing.T) {
	ipfixDs := capture(t, "ovs-ipfix.pcap", 4739)
	v5Ds := capture(t, "ovs-netflow.pcap", 2055)
	dec := warmDecoder(t, ipfixDs)
	var res netflow.Result
	// Template messages, the options template, options data, data of
	// each kind, and every NetFlow v5 datagram.
	var samples []pcapfile.Datagram
	samples = append(samples, ipfixDs[0], ipfixDs[18], ipfixDs[19], ipfixDs[20], ipfixDs[24], ipfixDs[100], ipfixDs[500], ipfixDs[900])
	samples = append(samples, v5Ds...)
	for _, d := range samples {
		b := d.Payload
		for n := 0; n < len(b); n++ {
			if err := dec.Decode(b[:n], d.Src, d.Time, &res); err == nil {
				t.Fatalf("version %d datagram of %d bytes truncated to %d: no error", binary.BigEndian.Uint16(b), len(b), n)
			}
		}
		if binary.BigEndian.Uint16(b) != 10 {
			continue
		}
		// The same truncations with the message length made to agree:
		// now the set lengths lie. Only a cut between sets is valid.
		ends := setBoundaries(b, 16)
		for n := 16; n < len(b); n++ {
			c := append([]byte(nil), b[:n]...)
			binary.BigEndian.PutUint16(c[2:], uint16(n))
			err := dec.Decode(c, d.Src, d.Time, &res)
			if ends[n] != (err == nil) {
				t.Fatalf("message cut to %d bytes with a matching length: error %v, set boundary %v", n, err, ends[n])
			}
		}
	}
	// A v9 datagram cut inside a flowset.
	rec := v4Record("10.0.0.1", "10.0.0.2", 6, 1, 2, 2, 1, 2, 1, 60)
	b := v9(1000, uint32(t0.Unix()), 1, 1, set(1, v9OptTmpl(300, specs(1, 4), specs(34, 4))), set(300, wire{}.u32(0, 10)), set(0, tmpl(256, v4Fields)), set(256, rec, rec))
	ends := setBoundaries(b, 20)
	for n := 0; n < len(b); n++ {
		err := dec.Decode(b[:n], exporter, t0, &res)
		if (n >= 20 && ends[n]) != (err == nil) {
			t.Fatalf("v9 datagram cut to %d bytes: error %v", n, err)
		}
	}
}

func TestLyingLengths(t *testing.T) {
	export := uint32(t0.Unix())
	rec := v4Record("10.0.0.1", "10.0.0.2", 6, 1, 2, 2, 1, 2, 1, 60)
	good := ipfix(export, 0, 0, set(2, tmpl(256, v4Fields)), set(256, rec))
	withLen := func(b []byte, off int, v uint16) []byte {
		c := append([]byte(nil), b...)
		binary.BigEndian.PutUint16(c[off:], v)
		return c
	}
	for _, c := range []struct {
		name string
		b    []byte
		want netflow.Reason
	}{
		{"empty", nil, netflow.ReasonTruncated},
		{"version 7", wire{}.u16(7, 0), netflow.ReasonVersion},
		{"IPFIX length 15", withLen(good, 2, 15), netflow.ReasonHeaderLength},
		{"IPFIX length beyond datagram", withLen(good, 2, uint16(len(good)+1)), netflow.ReasonTruncated},
		{"set length 3", withLen(good, 18, 3), netflow.ReasonSetLength},
		{"set length 0", withLen(good, 18, 0), netflow.ReasonSetLength},
		{"set length beyond message", withLen(good, 18, 0xffff), netflow.ReasonTruncated},
		{"v5 count beyond datagram", wire{}.u16(5, 31).u32(0, 0, 0, 0, 0).bytes(make([]byte, 30*48)), netflow.ReasonTruncated},
		{"v5 count 65535", wire{}.u16(5, 0xffff).u32(0, 0, 0, 0, 0), netflow.ReasonTruncated},
		{"v9 header only", wire{}.u16(9, 1).u32(0, 0, 0), netflow.ReasonTruncated},
		{"v9 flowset length 2", v9(0, 0, 0, 0, wire{}.u16(256, 2)), netflow.ReasonSetLength},
	} {
		dec, _ := newDecoder(netflow.Options{})
		var res netflow.Result
		if got := reasonOf(dec.Decode(c.b, exporter, t0, &res)); got != c.want {
			t.Errorf("%s: reason %v, want %v", c.name, got, c.want)
		}
	}

	// Set- and record-level lies are counted; the datagram goes on.
	for _, c := range []struct {
		name  string
		b     []byte
		want  netflow.Reason
		flows int
	}{
		{"template claims 65535 fields",
			ipfix(export, 0, 0, set(2, wire{}.u16(300, 0xffff).u16(8, 4)), set(2, tmpl(256, v4Fields)), set(256, rec)),
			netflow.ReasonTemplateFields, 1},
		{"v9 template claims 65535 fields",
			v9(0, export, 0, 0, set(0, wire{}.u16(300, 0xffff).u16(8, 4)), set(0, tmpl(256, v4Fields)), set(256, rec)),
			netflow.ReasonTemplateFields, 1},
		{"template fields run past the set",
			ipfix(export, 0, 0, set(2, wire{}.u16(300, 3).u16(8, 4)), set(2, tmpl(256, v4Fields)), set(256, rec)),
			netflow.ReasonTemplate, 1},
		{"enterprise number cut off",
			ipfix(export, 0, 0, set(2, wire{}.u16(300, 1).u16(0x8001, 4).u16(0))),
			netflow.ReasonTemplate, 0},
		{"all fields of length 0",
			ipfix(export, 0, 0, set(2, tmpl(300, specs(8, 0, 12, 0))), set(300, wire{}.u32(1, 2, 3))),
			netflow.ReasonTemplate, 0},
		{"options template scope 0",
			ipfix(export, 0, 0, set(3, optTmpl(300, 0, specs(34, 4)))),
			netflow.ReasonTemplate, 0},
		{"options template scope > fields",
			ipfix(export, 0, 0, set(3, optTmpl(300, 2, specs(34, 4)))),
			netflow.ReasonTemplate, 0},
		{"template id 255",
			ipfix(export, 0, 0, set(2, tmpl(255, v4Fields))),
			netflow.ReasonTemplate, 0},
		{"v9 options lengths not multiples of 4",
			v9(0, export, 0, 0, set(1, wire{}.u16(300, 3, 4).u16(1, 4, 34, 4))),
			netflow.ReasonTemplate, 0},
		{"variable-length value runs past the set",
			ipfix(export, 0, 0, set(2, tmpl(300, specs(8, 4, 82, 0xffff))), set(300, wire{}.ip("10.0.0.1").u8(255).u16(0xffff).bytes([]byte("abc")))),
			netflow.ReasonRecord, 0},
		{"variable-length prefix cut off",
			ipfix(export, 0, 0, set(2, tmpl(300, specs(8, 4, 82, 0xffff, 83, 0xffff))), set(300, wire{}.ip("10.0.0.1").u8(1, 'a', 255, 0))),
			netflow.ReasonRecord, 0},
	} {
		dec, _ := newDecoder(netflow.Options{})
		var res netflow.Result
		if err := dec.Decode(c.b, exporter, t0, &res); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if res.Errors[c.want] != 1 || len(res.Flows) != c.flows {
			t.Errorf("%s: errors %v, %d flows; want one %v and %d flows", c.name, res.Errors, len(res.Flows), c.want, c.flows)
		}
	}

	// Zero-length fields next to real ones are fine (and skipped).
	dec, _ := newDecoder(netflow.Options{})
	res := decode(t, dec, ipfix(export, 0, 0, set(2, tmpl(300, specs(8, 4, 12, 0, 2, 0, 1, 4))), set(300, wire{}.ip("10.0.0.1").u32(99))), t0)
	if len(res.Flows) != 1 || res.Flows[0].Bytes != 99 || res.Flows[0].DstAddr.IsValid() {
		t.Errorf("zero-length fields: %+v", res.Flows)
	}
	// A template as big as a datagram allows: 1024 fields is the limit.
	var big []spec
	for i := 0; i < netflow.MaxTemplateFields+1; i++ {
		big = append(big, spec{id: 1, length: 1})
	}
	res = decode(t, dec, ipfix(export, 0, 0, set(2, tmpl(301, big[:netflow.MaxTemplateFields])), set(2, tmpl(302, big))), t0)
	if res.Templates != 1 || res.Errors[netflow.ReasonTemplateFields] != 1 {
		t.Errorf("big templates: %d kept, errors %v", res.Templates, res.Errors)
	}
	// Tiny records cannot make a datagram produce unbounded records.
	res = decode(t, dec, ipfix(export, 0, 0, set(2, tmpl(303, specs(4, 1))), set(303, make(wire, 60000))), t0)
	if len(res.Flows) != netflow.MaxRecordsPerDatagram || res.Errors[netflow.ReasonTooManyRecords] != 1 {
		t.Errorf("tiny records: %d flows, errors %v", len(res.Flows), res.Errors)
	}
	// Nor apply unbounded options records (each may rewrite a sampler
	// table): 60000 different sampler rates.
	opts := make(wire, 0, 60000)
	for i := 0; len(opts) < 59990; i++ {
		opts = opts.u8(uint8(i), uint8(i>>8)|1)
	}
	res = decode(t, dec, ipfix(export, 0, 0, set(3, optTmpl(304, 1, specs(48, 1, 34, 1))), set(304, opts)), t0)
	if res.OptionsRecords != netflow.MaxOptionsRecordsPerDatagram || res.Errors[netflow.ReasonTooManyRecords] != 1 {
		t.Errorf("options flood: %d options records, errors %v", res.OptionsRecords, res.Errors)
	}
}

func TestRandomBytes(t *testing.T) {
	ds := capture(t, "ovs-ipfix.pcap", 4739)
	dec := warmDecoder(t, ds)
	var res netflow.Result
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 30000; i++ {
		var junk []byte
		if i%3 == 0 {
			// A real message with some bytes flipped.
			junk = append(junk, ds[rng.IntN(len(ds))].Payload...)
			for k := rng.IntN(8); k >= 0; k-- {
				junk[rng.IntN(len(junk))] = byte(rng.Uint32())
			}
		} else {
			junk = make([]byte, rng.IntN(1500))
			for j := range junk {
				junk[j] = byte(rng.Uint32())
			}
			if len(junk) >= 4 {
				junk[0], junk[1] = 0, []byte{5, 9, 10}[i%3]
				binary.BigEndian.PutUint16(junk[2:], uint16(len(junk)))
			}
		}
		ex := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i % 7), 1}), 1)
		_ = dec.Decode(junk, ex, t0.Add(time.Duration(i)*time.Millisecond), &res)
		for j := range res.Flows {
			_ = ecs.AppendFlow(nil, &res.Flows[j])
		}
	}
}

// The hot path must not allocate per datagram once templates are known and
// buffers have grown: not for data, not for template refreshes.
func TestDecodeDoesNotAllocate(t *testing.T) {
	for _, c := range []struct {
		name string
		port uint16
	}{{"ovs-ipfix.pcap", 4739}, {"ovs-netflow.pcap", 2055}} {
		ds := capture(t, c.name, c.port)
		dec, _ := newDecoder(netflow.Options{})
		var res netflow.Result
		pass := func() {
			for _, d := range ds {
				_ = dec.Decode(d.Payload, d.Src, d.Time, &res)
			}
		}
		pass()
		if allocs := testing.AllocsPerRun(20, pass); allocs != 0 {
			t.Errorf("%s: %.1f allocations per pass over %d datagrams, want 0", c.name, allocs, len(ds))
		}
	}
	// v9 with options data (sampling refresh) as well.
	dec, _ := newDecoder(netflow.Options{})
	var res netflow.Result
	rec := v4Record("10.0.0.1", "10.0.0.2", 6, 1, 2, 2, 1, 2, 1, 60)
	b := v9(1000, uint32(t0.Unix()), 1, 1, set(1, v9OptTmpl(300, specs(1, 4), specs(34, 4))), set(300, wire{}.u32(0, 10)), set(0, tmpl(256, v4Fields)), set(256, rec, rec))
	_ = dec.Decode(b, exporter, t0, &res)
	if allocs := testing.AllocsPerRun(100, func() { _ = dec.Decode(b, exporter, t0, &res) }); allocs != 0 {
		t.Errorf("v9: %.1f allocations per datagram", allocs)
	}
}

// Decoders on several goroutines share one cache (run with -race).
func TestConcurrentDecoders(t *testing.T) {
	ds := capture(t, "ovs-ipfix.pcap", 4739)
	tm := netflow.NewTemplates(netflow.Options{})
	var wg sync.WaitGroup
	counts := make([]int, 4)
	for g := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := netflow.NewDecoder(tm, netflow.Options{})
			var res netflow.Result
			for _, d := range ds {
				if err := dec.Decode(d.Payload, d.Src, d.Time, &res); err != nil {
					t.Error(err)
					return
				}
				counts[g] += len(res.Flows)
			}
			tm.Expire(ds[len(ds)-1].Time)
		}()
	}
	wg.Wait()
	// Each goroutine's stream brings its templates before its data, and
	// refreshes of a shared template by the others must not disturb it:
	// every record is decoded, none held or lost.
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != 4*1386 {
		t.Errorf("%d records from 4 passes, want %d", total, 4*1386)
	}
}

// One goroutine gets only the template messages, another only the data:
// whatever the interleaving, every record is decoded exactly once, either
// directly or from held data when its template arrives.
func TestTemplatesFromAnotherDecoder(t *testing.T) {
	ds := capture(t, "ovs-ipfix.pcap", 4739)
	for round := 0; round < 20; round++ {
		tm := netflow.NewTemplates(netflow.Options{PendingMaxSets: 2000, PendingMaxBytes: 1 << 20, PendingTTL: time.Hour})
		var wg sync.WaitGroup
		var direct, released int
		wg.Add(2)
		go func() {
			defer wg.Done()
			dec := netflow.NewDecoder(tm, netflow.Options{})
			var res netflow.Result
			for _, d := range ds[19:] {
				_ = dec.Decode(d.Payload, d.Src, d.Time, &res)
				direct += len(res.Flows)
			}
		}()
		go func() {
			defer wg.Done()
			dec := netflow.NewDecoder(tm, netflow.Options{})
			var res netflow.Result
			for _, d := range ds[:19] {
				_ = dec.Decode(d.Payload, d.Src, d.Time, &res)
				released += len(res.Flows)
			}
		}()
		wg.Wait()
		if direct+released != 1386 || tm.Stats().PendingSets != 0 {
			t.Fatalf("round %d: %d records decoded directly, %d from held data, %d sets still held", round, direct, released, tm.Stats().PendingSets)
		}
	}
}

func benchmark(b *testing.B, name string, port uint16) {
	ds := capture(b, name, port)
	dec, _ := newDecoder(netflow.Options{})
	var res netflow.Result
	records := 0
	for _, d := range ds {
		_ = dec.Decode(d.Payload, d.Src, d.Time, &res)
		records += len(res.Flows)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, d := range ds {
			_ = dec.Decode(d.Payload, d.Src, d.Time, &res)
		}
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(len(ds))*float64(b.N)/b.Elapsed().Seconds(), "datagrams/s")
}

func BenchmarkDecodeIPFIX(b *testing.B)     { benchmark(b, "ovs-ipfix.pcap", 4739) }
func BenchmarkDecodeNetFlowV5(b *testing.B) { benchmark(b, "ovs-netflow.pcap", 2055) }

func FuzzDecode(f *testing.F) {
	ipfixDs := capture(f, "ovs-ipfix.pcap", 4739)
	for i, d := range ipfixDs {
		if i < 20 || i%100 == 0 {
			f.Add(d.Payload)
		}
	}
	for _, d := range capture(f, "ovs-netflow.pcap", 2055) {
		f.Add(d.Payload)
	}
	// Real exporters' shapes: fprobe's and pmacct's NetFlow v5, pmacct's NetFlow v9
	// and IPFIX (MAC and IPv6 templates, sampler options).
	for _, c := range []struct {
		file string
		port uint16
	}{{"fprobe-netflow-v5.pcap", 2055}, {"pmacct-netflow-v5.pcap", 2056}, {"pmacct-netflow-v9.pcap", 9995}, {"pmacct-ipfix.pcap", 4739}} {
		for _, d := range exporterDatagrams(f, c.file, c.port) {
			f.Add(d.Payload)
		}
	}
	rec := v4Record("10.0.0.1", "10.0.0.2", 6, 1, 2, 2, 1, 2, 1, 60)
	f.Add(v9(1000, uint32(t0.Unix()), 1, 1, set(1, v9OptTmpl(300, specs(1, 4), specs(34, 4))), set(300, wire{}.u32(0, 10)), set(0, tmpl(256, v4Fields)), set(256, rec, rec)))
	f.Add(ipfix(1, 0, 0, set(2, tmpl(500, ovsTunnelTemplate())), set(500, ovsTunnelRecord(0, []byte{0, 0x13, 0x88}))))
	f.Add(ipfix(1, 0, 0, set(256, rec), set(2, tmpl(256, v4Fields)), set(2, wire{}.u16(256, 0))))
	for _, b := range breadthSeeds() {
		f.Add(b)
	}
	// OVN drop sampling: observationPointId (IE 138) and flowDirection
	// (IE 61) first, in a drop domain (1 << 24 | datapath 1); the real
	// capture's datagrams too.
	ovn := append(specs(138, 4, 61, 1), v4Fields...)
	f.Add(ipfix(1, 1, 1<<24|1, set(2, tmpl(300, ovn)), set(300, wire{}.u32(0xe755ed2a).u8(0).bytes(rec))))
	ovnDs, err := pcapfile.ReadAll("../../../testdata/openstack/ovn-ipfix-drops.pcap", func(d pcapfile.Datagram) bool { return d.Dst.Port() == 46055 })
	if err != nil {
		f.Fatal(err)
	}
	for _, d := range ovnDs {
		f.Add(d.Payload)
	}

	opt := netflow.Options{MaxExporters: 64, MaxTemplateBytes: 4 << 20, MaxPendingBytes: 1 << 20}
	tm := netflow.NewTemplates(opt)
	dec := netflow.NewDecoder(tm, opt)
	var res netflow.Result
	for _, d := range ipfixDs[:20] {
		_ = dec.Decode(d.Payload, d.Src, d.Time, &res)
	}
	now := t0
	f.Fuzz(func(t *testing.T, b []byte) {
		now = now.Add(time.Millisecond)
		// Most mutations change the size and so break the IPFIX message
		// length, which stops decoding early. Mend it for odd sizes so
		// the sets and records behind it get fuzzed as well.
		if len(b) >= 4 && len(b)%2 == 1 && binary.BigEndian.Uint16(b) == 10 {
			b = append([]byte(nil), b...)
			binary.BigEndian.PutUint16(b[2:], uint16(min(len(b), 0xffff)))
		}
		err := dec.Decode(b, exporter, now, &res)
		if err == nil && !res.HeaderOK {
			t.Fatal("no error but no header")
		}
		if len(res.Flows) > netflow.MaxRecordsPerDatagram+int(res.PendingRecords) {
			t.Fatalf("%d records", len(res.Flows))
		}
		// Every record of this datagram takes at least one byte of it.
		// (Reverse records of biflows are made from the same bytes.)
		if n := len(res.Flows) - int(res.PendingRecords) - int(res.ReverseRecords); n > len(b) {
			t.Fatalf("%d records from %d bytes", n, len(b))
		}
		for i := range res.Flows {
			r := &res.Flows[i]
			if r.Agent != exporter.Addr() || (r.Input != flow.InputNetFlowV5 && r.Input != flow.InputNetFlowV9 && r.Input != flow.InputIPFIX) {
				t.Fatalf("record %d: agent %v input %v", i, r.Agent, r.Input)
			}
			_ = ecs.AppendFlow(nil, r)
		}
		s := tm.Stats()
		if s.TemplateBytes > opt.MaxTemplateBytes || s.PendingBytes > opt.MaxPendingBytes || s.Exporters > opt.MaxExporters {
			t.Fatalf("cache over its limits: %+v", s)
		}
	})
}
