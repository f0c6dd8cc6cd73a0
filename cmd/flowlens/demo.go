package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flowlens/flowlens/internal/collector"
	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/store"
	"github.com/flowlens/flowlens/internal/synth"
)

// cmdDemo fills a store of its own with the traffic of a synthetic cloud
// (projects, networks, VMs on hypervisors, clients and servers on the
// internet), writes that cloud's ports as a static inventory, then runs
// the collector on them, writing the cloud's traffic on as each interval
// ends: the console shows a cloud before any Open vSwitch exports to it.
// Real exporters may still send; their flows join the synthetic ones.
func cmdDemo(args []string, stderr io.Writer) error {
	fs := newFlagSet("flowlens demo", stderr)
	dir := fs.String("dir", "", "directory for the demo's store and inventory (default: a new temporary directory, removed at exit); must be new or empty")
	hours := fs.Int("hours", 6, "hours of synthetic traffic written before the collector starts (1–168)")
	vms := fs.Int("vms", 100, "VMs of the synthetic cloud (10–5000)")
	live := fs.Bool("live", true, "go on writing the cloud's traffic an interval at a time while running (false: only the hours written first)")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if *hours < 1 || *hours > 168 {
		return fmt.Errorf("--hours %d: write 1 to 168", *hours)
	}
	if *vms < 10 || *vms > 5000 {
		return fmt.Errorf("--vms %d: write 10 to 5000", *vms)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return runDemo(ctx, cfg, newLogger(cfg.Log, stderr), *dir, *hours, *vms, *live)
}

// runDemo writes the synthetic cloud into dir, then runs the collector on
// it until ctx ends.
func runDemo(ctx context.Context, cfg *config.Config, log *slog.Logger, dir string, hours, vms int, live bool) error {
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "flowlens-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("--dir %s is not empty: the demo writes synthetic flows, and must not mix them into a store of real ones; give a new directory", dir)
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	cfg.Store.Enabled, cfg.Store.Path = true, filepath.Join(dir, "store")
	cfg.Enrich.OpenStack.StaticFile = filepath.Join(dir, "inventory.yaml")

	sc := demoCloud(vms)
	// The cloud's intervals are the aggregator's, so that its traffic
	// goes on arriving as a collector's would.
	sc.Interval = cfg.Aggregate.Interval
	cloud := synth.New(sc)
	if err := writeDemoInventory(cfg.Enrich.OpenStack.StaticFile, cloud); err != nil {
		return err
	}
	st, err := store.Open(cfg.Store, log)
	if err != nil {
		return err
	}
	end := time.Now().Truncate(sc.Interval)
	from := end.Add(-time.Duration(hours) * time.Hour)
	log.Info("demo: writing the synthetic cloud's traffic", "vms", len(cloud.VMs), "projects", len(cloud.Projects),
		"hypervisors", len(cloud.Hypervisors), "hours", hours, "dir", dir)
	records, lastLog := 0, time.Now()
	err = cloud.Range(from, end, func(flows []flow.Record, counters []flow.Counter) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		records += len(flows)
		if time.Since(lastLog) > 5*time.Second && len(flows) > 0 {
			lastLog = time.Now()
			log.Info("demo: writing", "at", flows[0].Start.UTC().Format(time.RFC3339), "until", end.UTC().Format(time.RFC3339), "records", records)
		}
		return st.Append(flows, counters)
	})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("demo: writing the synthetic traffic: %w", err)
	}
	log.Info("demo: written; the collector starts on it (synthetic data: do not point exporters of a production cloud here)",
		"records", records, "store", cfg.Store.Path, "inventory", cfg.Enrich.OpenStack.StaticFile)
	v, rev := buildVersion()
	opt := collector.Options{Version: v, Revision: rev, Build: versionString()}
	if live {
		opt.Feed = func(ctx context.Context, st *store.Store) { feedDemo(ctx, st, cloud, end, log) }
	}
	return collector.New(cfg, log, opt).Run(ctx)
}

// feedDemo goes on writing the cloud's traffic, an interval at a time as
// each ends, from next on: the console's live views move as with real
// exporters.
func feedDemo(ctx context.Context, st *store.Store, cloud *synth.Cloud, next time.Time, log *slog.Logger) {
	iv := cloud.Config().Interval
	for {
		t := time.NewTimer(time.Until(next.Add(iv)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := cloud.Range(next, next.Add(iv), st.Append); err != nil {
			log.Warn("demo: writing the synthetic cloud's latest interval", "error", err)
		}
		next = next.Add(iv)
	}
}

// demoCloud sizes a synthetic cloud of n VMs as the 500-VM one is sized.
func demoCloud(n int) synth.Config {
	c := synth.DefaultConfig()
	scale := float64(n) / float64(c.VMs)
	c.VMs = n
	c.Hypervisors = max(2, int(float64(c.Hypervisors)*scale))
	c.Projects = max(2, int(float64(c.Projects)*scale))
	c.Peers = max(20, int(float64(c.Peers)*scale))
	c.Conversations = max(4*n, int(float64(c.Conversations)*scale))
	c.Noise = max(20, int(float64(c.Noise)*scale))
	c.PeakBps *= scale
	return c
}

// writeDemoInventory writes the cloud's ports in the static inventory's
// format (docs/openstack.md).
func writeDemoInventory(path string, c *synth.Cloud) error {
	var f struct {
		Ports []openstack.Port `yaml:"ports"`
	}
	for _, vm := range c.VMs {
		nw, pr, hv := c.Networks[vm.Network], c.Projects[vm.Project], c.Hypervisors[vm.Hypervisor]
		f.Ports = append(f.Ports, openstack.Port{ID: vm.PortID, MAC: net.HardwareAddr(vm.MAC[:]).String(),
			InstanceID: vm.ID, InstanceName: vm.Name, NetworkID: nw.ID, NetworkName: nw.Name, SegmentationID: nw.VNI,
			ProjectID: pr.ID, ProjectName: pr.Name, Host: hv.Name, FixedIPs: []string{vm.Addr.String()},
			Attachments: []openstack.Attached{{Agent: hv.Addr.String(), IfIndex: vm.IfIndex, Interface: vm.Port}}})
	}
	b, err := yaml.Marshal(&f)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o640)
}
