package decode_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/enrich/geoip"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// discard is an output that does nothing, so the benchmark measures the
// input side: decode, inventory, enrichment, batching.
type discard struct{}

func (discard) Name() string                { return "discard" }
func (discard) Write(*pipeline.Batch) error { return nil }
func (discard) Close() error                { return nil }

// BenchmarkHandler decodes the real OVS capture through an sFlow handler,
// without enrichment and with GeoIP and OpenStack attribution (every VM
// port of the capture known), to measure what enrichment costs per record.
//
//	go test -run '^$' -bench Handler -benchmem ./internal/pipeline/
//	go test -run '^$' -bench Handler/cost -benchtime 5000x -count 5 ./internal/pipeline/
func BenchmarkHandler(b *testing.B) {
	ds := sflowCaptureB(b)
	dir := b.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	tree, _ := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", RecordSize: 24})
	_, n, _ := net.ParseCIDR("81.2.69.0/24")
	tree.Insert(n, mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String("GB")}})
	f, _ := os.Create(city)
	tree.WriteTo(f)
	f.Close()
	db, err := geoip.Open(geoip.Config{CityDatabases: []string{city}}, quiet())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	inv := openstack.NewInventory()
	var ports []openstack.Port
	for i, m := range []string{"12:93:b5:a9:2d:63", "d2:3b:30:88:a9:3e", "3e:6c:68:17:1e:5e"} {
		ports = append(ports, openstack.Port{ID: "port-" + m, MAC: m, InstanceID: "vm", InstanceName: "vm", NetworkID: "net",
			ProjectName: "p", Host: "h", Attachments: []openstack.Attached{{Agent: "127.0.0.1", IfIndex: uint32(29 + 2*i)}}})
	}
	inv.Set("static", ports)
	plain := []func() pipeline.Enricher(nil)
	enriched := []func() pipeline.Enricher{
		func() pipeline.Enricher { return db.NewEnricher() },
		func() pipeline.Enricher { return inv.NewEnricher() },
	}
	for _, c := range []struct {
		name      string
		enrichers []func() pipeline.Enricher
	}{{"plain", plain}, {"enriched", enriched}} {
		b.Run(c.name, func(b *testing.B) {
			p := pipeline.New(pipeline.Config{Enrichers: c.enrichers}, quiet(), discard{})
			h := sflowHandler(p)
			records := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, d := range ds {
					h.Datagram(d.Payload, d.Src, d.Time)
				}
				h.Flush()
				records += 721
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
			b.StopTimer()
			p.Close()
		})
	}
	// Paired: both handlers take turns on the same capture, so that a
	// change of load on the machine affects both alike; the cost is the
	// enriched time over the plain time.
	b.Run("cost", func(b *testing.B) {
		pp := pipeline.New(pipeline.Config{Enrichers: plain}, quiet(), discard{})
		pe := pipeline.New(pipeline.Config{Enrichers: enriched}, quiet(), discard{})
		hp, he := sflowHandler(pp), sflowHandler(pe)
		var tp, te time.Duration
		run := func(h *decode.Handler) time.Duration {
			t0 := time.Now()
			for _, d := range ds {
				h.Datagram(d.Payload, d.Src, d.Time)
			}
			h.Flush()
			return time.Since(t0)
		}
		for i := 0; i < b.N; i++ {
			if i%2 == 0 {
				tp += run(hp)
				te += run(he)
			} else {
				te += run(he)
				tp += run(hp)
			}
		}
		b.ReportMetric(float64(tp.Nanoseconds())/float64(721*b.N), "ns/record-plain")
		b.ReportMetric(float64(te.Nanoseconds())/float64(721*b.N), "ns/record-enriched")
		b.ReportMetric(100*(float64(te)/float64(tp)-1), "%cost")
		b.StopTimer()
		pp.Close()
		pe.Close()
	})
}

func sflowCaptureB(b *testing.B) []pcapfile.Datagram {
	ds, err := pcapfile.ReadAll("../../testdata/ovs/ovs-sflow.pcap", nil)
	if err != nil {
		b.Fatal(err)
	}
	return ds
}
