package bench

// NetFlow/IPFIX decode benchmarks: flowlens next to goflow2 on the real
// Open vSwitch IPFIX capture (1406 messages: 89 templates and 1 options
// template at the start, then one data record per message). One op decodes
// every message once; templates are learned again each op, by both.
//
// Run: cd bench && go test -run '^$' -bench IPFIX -benchmem -count 6 -cpu 1

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"

	gfnetflow "github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/producer"
)

const ipfixRecords = 1386

func loadIPFIX(tb testing.TB) [][]byte {
	tb.Helper()
	ds, err := pcapfile.ReadAll(filepath.Join("..", "testdata", "ovs", "ovs-ipfix.pcap"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([][]byte, len(ds))
	for i, d := range ds {
		out[i] = d.Payload
	}
	return out
}

func BenchmarkFlowlensIPFIX(b *testing.B) {
	data := loadIPFIX(b)
	src := netip.MustParseAddrPort("127.0.0.1:50000")
	now := time.Now()
	tm := netflow.NewTemplates(netflow.Options{})
	dec := netflow.NewDecoder(tm, netflow.Options{})
	var res netflow.Result
	for _, d := range data { // warm-up: buffers grow once
		dec.Decode(d, src, now, &res)
	}
	m := startMeter(b)
	ops, records := 0, 0
	for b.Loop() {
		for _, d := range data {
			if err := dec.Decode(d, src, now, &res); err != nil {
				b.Fatal(err)
			}
			records += len(res.Flows)
		}
		ops++
	}
	if records != ops*ipfixRecords {
		b.Fatalf("%d records in %d ops", records, ops)
	}
	m.stop(ops, len(data), ipfixRecords)
}

func goflow2IPFIX(d []byte, ts gfnetflow.NetFlowTemplateSystem, pkt *gfnetflow.IPFIXPacket) error {
	var v9 gfnetflow.NFv9Packet
	return gfnetflow.DecodeMessageVersion(bytes.NewBuffer(d), ts, &v9, pkt)
}

func BenchmarkGoflow2IPFIX(b *testing.B) {
	data := loadIPFIX(b)
	ts := gfnetflow.CreateTemplateSystem()
	m := startMeter(b)
	ops := 0
	for b.Loop() {
		for _, d := range data {
			var pkt gfnetflow.IPFIXPacket
			if err := goflow2IPFIX(d, ts, &pkt); err != nil {
				b.Fatal(err)
			}
		}
		ops++
	}
	m.stop(ops, len(data), ipfixRecords)
}

// BenchmarkGoflow2IPFIXProducer adds goflow2's default producer, which turns
// data records into flow messages: the apples-to-apples comparison.
func BenchmarkGoflow2IPFIXProducer(b *testing.B) {
	data := loadIPFIX(b)
	ts := gfnetflow.CreateTemplateSystem()
	prod := newGoflow2Producer(b)
	src := netip.MustParseAddrPort("127.0.0.1:50000")
	dst := netip.MustParseAddrPort("127.0.0.1:4739")
	now := time.Now()
	m := startMeter(b)
	ops, records := 0, 0
	for b.Loop() {
		for _, d := range data {
			var pkt gfnetflow.IPFIXPacket
			if err := goflow2IPFIX(d, ts, &pkt); err != nil {
				b.Fatal(err)
			}
			args := producer.ProduceArgs{Src: src, Dst: dst, TimeReceived: now, SamplerAddress: src.Addr()}
			msgs, err := prod.Produce(&pkt, &args)
			if err != nil {
				b.Fatal(err)
			}
			records += len(msgs)
			prod.Commit(msgs)
		}
		ops++
	}
	if records != ops*ipfixRecords {
		b.Fatalf("goflow2 produced %d flows in %d ops, want %d per op", records, ops, ipfixRecords)
	}
	m.stop(ops, len(data), ipfixRecords)
}
