// Command store-bench compares embedded engines for the flow store on a
// synthetic 500-VM cloud: ingest rate of aggregated records, rollups, the
// console's queries over 24 h (p50/p95), disk use. See docs/store.md.
//
//	cd bench/store && go run . -engine duckdb -hours 24
//	cd bench/store && go run . -engine sqlite -hours 24
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/store"
	"github.com/flowlens/flowlens/internal/synth"
)

func main() {
	engine := flag.String("engine", "duckdb", "duckdb or sqlite")
	hours := flag.Int("hours", 24, "hours of traffic to ingest")
	vms := flag.Int("vms", 500, "VMs of the synthetic cloud")
	runs := flag.Int("runs", 20, "runs of each query")
	dir := flag.String("dir", "", "database directory (default: a temporary one, removed at the end)")
	flag.Parse()

	d := *dir
	if d == "" {
		var err error
		if d, err = os.MkdirTemp("", "store-bench-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
	}
	cfg := store.DefaultConfig()
	cfg.Path, cfg.MaintenanceInterval, cfg.Threads = d, 0, 2
	var eng store.Engine
	var err error
	switch *engine {
	case "duckdb":
		eng, err = store.OpenDuckDB(filepath.Join(d, "flows.duckdb"), store.DuckDBOptions{MemoryLimit: cfg.MemoryLimit, Threads: 2, CheckpointThreshold: "128MB"})
	case "sqlite":
		eng, err = openSQLite(filepath.Join(d, "flows.sqlite"))
	default:
		log.Fatalf("unknown engine %q", *engine)
	}
	if err != nil {
		log.Fatal(err)
	}
	s, err := store.OpenEngine(cfg, nil, eng)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	sc := synth.DefaultConfig()
	sc.VMs = *vms
	cloud := synth.New(sc)
	end := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	start := end.Add(-time.Duration(*hours) * time.Hour)

	var nflows, ncounters int
	var appendTime, maintTime, maxAppend time.Duration
	err = cloud.Range(start, end, func(f []flow.Record, c []flow.Counter) error {
		t0 := time.Now()
		if err := s.Append(f, c); err != nil {
			return err
		}
		dt := time.Since(t0)
		appendTime += dt
		maxAppend = max(maxAppend, dt)
		nflows += len(f)
		ncounters += len(c)
		if f[0].Start.Minute()%5 == 0 {
			t1 := time.Now()
			if err := s.Maintain(f[0].End); err != nil {
				return err
			}
			maintTime += time.Since(t1)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("engine %s, %d VMs, %d h: %d flow records, %d counter samples\n", *engine, *vms, *hours, nflows, ncounters)
	fmt.Printf("ingest: %.0f records/s (flows+counters: %.0f/s) in Append, %s total, slowest batch %s; maintenance (rollups+retention every 5 min) %s total\n",
		float64(nflows)/appendTime.Seconds(), float64(nflows+ncounters)/appendTime.Seconds(), appendTime.Round(time.Millisecond),
		maxAppend.Round(time.Millisecond), maintTime.Round(time.Millisecond))
	ctx := context.Background()
	st, err := s.Stats(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stored: %d flow rows, %d counter rows, %.1f MiB on disk, Go heap %.0f MiB\n", st.Rows, st.Counters, float64(st.Bytes)/(1<<20), float64(ms.HeapInuse)/(1<<20))
	for _, t := range st.Tiers {
		fmt.Printf("  tier %5ds: %9d rows, %s .. %s\n", t.Step, t.Rows, t.Oldest.Format(time.RFC3339), t.Newest.Format(time.RFC3339))
	}

	day := store.Query{From: end.Add(-24 * time.Hour), To: end}
	hour := store.Query{From: end.Add(-time.Hour), To: end}
	six := store.Query{From: end.Add(-6 * time.Hour), To: end, Filters: []store.Filter{{Dim: "proto", Value: "tcp"}}}
	agent := cloud.Hypervisors[0].Addr.String()
	port := cloud.VMs[0].Port
	tcp443 := day
	tcp443.Filters = []store.Filter{{Dim: "dst_port", Value: "443"}}
	proj := day
	proj.Filters = []store.Filter{{Dim: "src_project", Value: cloud.Projects[0].Name}}
	// The VM page's subject: a VM of the cloud, on its hypervisor.
	vm := cloud.VMs[len(cloud.VMs)/3]
	vmAgent := cloud.Hypervisors[vm.Hypervisor].Addr.String()
	vmq := func(dim string) store.Query {
		q := day
		q.Filters = []store.Filter{{Dim: dim, Value: vm.Name}}
		return q
	}
	queries := []struct {
		name string
		fn   func() error
	}{
		{"timeseries by=src_ip top=10, 24h", func() error {
			_, err := s.Timeseries(ctx, store.TimeseriesRequest{Query: day, By: "src_ip", Top: 10})
			return err
		}},
		{"timeseries by=proto, 1h", func() error {
			_, err := s.Timeseries(ctx, store.TimeseriesRequest{Query: hour, By: "proto", Top: 10})
			return err
		}},
		{"timeseries by=dst_port filter src_project, 24h", func() error {
			_, err := s.Timeseries(ctx, store.TimeseriesRequest{Query: proj, By: "dst_port", Top: 10, Metric: "pps"})
			return err
		}},
		{"timeseries total filter dst_port=443, 24h", func() error {
			_, err := s.Timeseries(ctx, store.TimeseriesRequest{Query: tcp443})
			return err
		}},
		{"top by=src_ip,dst_ip limit=20, 24h", func() error {
			_, err := s.Top(ctx, store.TopRequest{Query: day, By: []string{"src_ip", "dst_ip"}, Limit: 20})
			return err
		}},
		{"top by=src_ip,dst_ip limit=20, 1h (the console's default view)", func() error {
			_, err := s.Top(ctx, store.TopRequest{Query: hour, By: []string{"src_ip", "dst_ip"}, Limit: 20})
			return err
		}},
		{"matrix level=vm limit=100, 6h (1-minute rows only)", func() error {
			_, err := s.Matrix(ctx, store.MatrixRequest{Query: store.Query{From: six.From, To: six.To}, Level: "vm", Limit: 100})
			return err
		}},
		{"top by=src_ip,dst_ip every observation, 24h", func() error {
			q := day
			q.AllObservations = true
			_, err := s.Top(ctx, store.TopRequest{Query: q, By: []string{"src_ip", "dst_ip"}, Limit: 20})
			return err
		}},
		{"top by=dst_port filter proto=tcp, 6h", func() error {
			_, err := s.Top(ctx, store.TopRequest{Query: six, By: []string{"dst_port"}, Limit: 20})
			return err
		}},
		{"top by=src_vm,dst_vm,proto,dst_port, 24h", func() error {
			_, err := s.Top(ctx, store.TopRequest{Query: day, By: []string{"src_vm", "dst_vm", "proto", "dst_port"}, Limit: 50})
			return err
		}},
		{"matrix level=ip limit=100, 24h", func() error {
			_, err := s.Matrix(ctx, store.MatrixRequest{Query: day, Level: "ip", Limit: 100})
			return err
		}},
		{"matrix level=project, 24h", func() error {
			_, err := s.Matrix(ctx, store.MatrixRequest{Query: day, Level: "project"})
			return err
		}},
		{"geo limit=100, 24h", func() error {
			_, err := s.Geo(ctx, store.GeoRequest{Query: day, Limit: 100})
			return err
		}},
		{"ports agent=A (top 20 ports), 24h", func() error {
			_, err := s.Ports(ctx, store.PortsRequest{From: day.From, To: day.To, Agent: agent, Limit: 20})
			return err
		}},
		{"ports agent=A port=tap…, 24h", func() error {
			_, err := s.Ports(ctx, store.PortsRequest{From: day.From, To: day.To, Agent: agent, Port: port})
			return err
		}},
		// The console's VM page over 24 h: every query it makes.
		{"VM page: timeseries out (src_vm=X), 24h", func() error {
			_, err := s.Timeseries(ctx, store.TimeseriesRequest{Query: vmq("src_vm")})
			return err
		}},
		{"VM page: timeseries in (dst_vm=X), 24h", func() error {
			_, err := s.Timeseries(ctx, store.TimeseriesRequest{Query: vmq("dst_vm")})
			return err
		}},
		{"VM page: peers out by=dst_vm,dst_ip,country,asn, 24h", func() error {
			_, err := s.Top(ctx, store.TopRequest{Query: vmq("src_vm"), By: []string{"dst_vm", "dst_ip", "dst_country", "dst_asn"}, Limit: 100})
			return err
		}},
		{"VM page: peers in by=src_vm,src_ip,country,asn, 24h", func() error {
			_, err := s.Top(ctx, store.TopRequest{Query: vmq("dst_vm"), By: []string{"src_vm", "src_ip", "src_country", "src_asn"}, Limit: 100})
			return err
		}},
		{"VM page: top by=proto,dst_port filter vm=X (either side), 24h", func() error {
			_, err := s.Top(ctx, store.TopRequest{Query: vmq("vm"), By: []string{"proto", "dst_port"}, Limit: 15})
			return err
		}},
		{"VM page: where (agent,in_port,host,…), every observation, 24h", func() error {
			q := vmq("src_vm")
			q.AllObservations = true
			_, err := s.Top(ctx, store.TopRequest{Query: q, By: []string{"agent", "in_port", "src_host", "src_project", "src_network", "observation"}, Limit: 5})
			return err
		}},
		{"VM page: blocked filter vm=X, 24h", func() error {
			_, err := s.Blocked(ctx, store.BlockedRequest{Query: vmq("vm"), Limit: 100})
			return err
		}},
		{"VM page: its port's counters, 24h", func() error {
			_, err := s.Ports(ctx, store.PortsRequest{From: day.From, To: day.To, Agent: vmAgent, Port: vm.Port})
			return err
		}},
		{"search q=<part of a VM name>, 24h", func() error {
			_, err := s.Search(ctx, store.SearchRequest{From: day.From, To: day.To, Q: vm.Name[:len(vm.Name)-1], Limit: 20})
			return err
		}},
		{"search q=<an IP prefix>, 1h", func() error {
			_, err := s.Search(ctx, store.SearchRequest{From: hour.From, To: hour.To, Q: "10.", Limit: 20})
			return err
		}},
	}
	var all []time.Duration
	fmt.Printf("queries (%d runs each): p50 / p95 / max\n", *runs)
	for _, q := range queries {
		var ds []time.Duration
		for range *runs {
			t0 := time.Now()
			if err := q.fn(); err != nil {
				log.Fatalf("%s: %v", q.name, err)
			}
			ds = append(ds, time.Since(t0))
		}
		all = append(all, ds...)
		p50, p95, mx := pct(ds)
		fmt.Printf("  %-62s %8s %8s %8s\n", q.name, p50, p95, mx)
	}
	p50, p95, mx := pct(all)
	fmt.Printf("  %-62s %8s %8s %8s\n", "ALL", p50, p95, mx)
	t0 := time.Now()
	if err := s.Check(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("integrity check: %s\n", time.Since(t0).Round(time.Millisecond))
}

func pct(ds []time.Duration) (p50, p95, mx time.Duration) {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return r(s[len(s)/2]), r(s[(len(s)*95+99)/100-1]), r(s[len(s)-1])
}
