package console

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/aggregate"
	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/enrich/ovn"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/pipeline"
	"github.com/flowlens/flowlens/internal/store"
)

// The real OVN drop-sampling capture, through the pipeline (marked by
// the OVN enricher, here without databases), the aggregator and the
// store, answers GET /api/v1/blocked; the drops are not traffic.
func TestBlockedAPI(t *testing.T) {
	cfg := store.DefaultConfig()
	cfg.Path, cfg.MaintenanceInterval, cfg.MemoryLimit, cfg.Threads = t.TempDir(), 0, "256MB", 2
	cfg.Rollups = nil
	st, err := store.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	agg, err := aggregate.New(aggregate.Config{Interval: time.Hour, MaxKeys: 10000}, keepOpen{st})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := ovn.New(ovn.Config{DropDomainID: 1}, log)
	opt := netflow.Options{}
	p := pipeline.New(pipeline.Config{Wait: true,
		Enrichers: []func() pipeline.Enricher{func() pipeline.Enricher { return m.NewEnricher() }}}, log, agg)
	ds, err := pcapfile.ReadAll("../../testdata/openstack/ovn-ipfix-drops.pcap", func(d pcapfile.Datagram) bool { return d.Dst.Port() == 46055 })
	if err != nil {
		t.Fatal(err)
	}
	h := decode.New(decode.Config{NetFlow: opt}, p).Handler(decode.NetFlow)
	now := time.Now()
	for _, d := range ds {
		h.Datagram(d.Payload, netip.MustParseAddrPort("127.0.0.1:36261"), now)
	}
	h.Flush()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	c := &capture{api: NewAPI(st, p.Agents, p.Inventory, StatusInfo{Version: "test", Started: now})}
	var b struct {
		Rows []struct {
			Source         string   `json:"source"`
			SecurityGroups []string `json:"security_groups"`
			LogicalFlow    string   `json:"logical_flow"`
			Reason         string   `json:"reason"`
			SrcIP          string   `json:"src_ip"`
			DstIP          string   `json:"dst_ip"`
			Proto          string   `json:"proto"`
			DstPort        string   `json:"dst_port"`
			Count          int64    `json:"count"`
			FirstSeen      string   `json:"first_seen"`
			LastSeen       string   `json:"last_seen"`
		} `json:"rows"`
		Total int64 `json:"total"`
	}
	c.get(t, "/api/v1/blocked?from=-2h&to=%2B2h", 200, &b)
	if len(b.Rows) != 2 || b.Total != 5 {
		t.Fatalf("%+v", b)
	}
	r := b.Rows[0]
	if r.Source != "ovn-drop-sampling" || r.LogicalFlow != "e755ed2a" || r.Reason != ovn.ReasonNoDatabases || r.SrcIP != "10.30.0.11" ||
		r.DstIP != "10.30.0.12" || r.Proto != "tcp" || r.DstPort != "8080" || r.Count != 4 || r.FirstSeen == "" || r.LastSeen == "" ||
		r.SecurityGroups == nil {
		t.Errorf("SYNs: %+v", r)
	}
	if b.Rows[1].LogicalFlow != "fa0ab1e1" || b.Rows[1].Proto != "ipv6-icmp" || b.Rows[1].Count != 1 {
		t.Errorf("router solicitation: %+v", b.Rows[1])
	}
	c.get(t, "/api/v1/blocked?from=-2h&to=%2B2h&filter=dst_port=22", 200, &b)
	if len(b.Rows) != 0 || b.Total != 0 {
		t.Errorf("filtered: %+v", b)
	}
	var top topResp
	c.get(t, "/api/v1/top?by=dst_port&from=-2h&to=%2B2h", 200, &top)
	if top.Total.Packets != 0 {
		t.Errorf("drop samples counted as traffic: %+v", top)
	}
	c.get(t, "/api/v1/blocked?limit=0", 400, nil)
	c.get(t, "/api/v1/blocked?observations=all", 400, nil)
}
