package ifaces

import (
	"net/netip"
	"testing"

	"github.com/flowlens/flowlens/internal/flow"
)

func TestLearnAndEnrich(t *testing.T) {
	inv := New()
	agent := netip.MustParseAddr("127.0.0.1")
	inv.Update(&flow.Counter{Agent: agent, SourceIndex: 29, HasInterface: true, Interface: flow.InterfaceCounters{Index: 29, Speed: 1e10, Status: 3},
		HasPortName: true, PortName: "tap1", HasOFPort: true, OFPort: 5, DatapathID: 0xabc})
	inv.Update(&flow.Counter{Agent: agent, SourceIDType: 2, SourceIndex: 1000, HasDatapath: true}) // bridge stats: not an interface
	r := flow.Record{Agent: agent, In: flow.Port{Format: flow.PortSingle, Index: 29}, Out: flow.Port{Format: flow.PortMultiple, Count: 1}}
	inv.Enrich(&r)
	if r.In.Name != "tap1" || r.In.OFPort != 5 || !r.In.HasOFPort || r.In.Speed != 1e10 || r.In.DatapathID != 0xabc {
		t.Errorf("ingress: %+v", r.In)
	}
	if r.Out.Name != "" {
		t.Errorf("a multiple-port egress got a name: %+v", r.Out)
	}
	other := flow.Record{Agent: netip.MustParseAddr("127.0.0.2"), In: flow.Port{Format: flow.PortSingle, Index: 29}}
	inv.Enrich(&other)
	if other.In.Name != "" {
		t.Error("ifIndex 29 of another agent got this agent's name")
	}
	// A rename is picked up; a sample without the name keeps it.
	inv.Update(&flow.Counter{Agent: agent, SourceIndex: 29, HasPortName: true, PortName: "tap2"})
	inv.Update(&flow.Counter{Agent: agent, SourceIndex: 29, HasInterface: true, Interface: flow.InterfaceCounters{Index: 29, Speed: 1e9}})
	r.In.Name = ""
	inv.Enrich(&r)
	if r.In.Name != "tap2" || r.In.Speed != 1e9 {
		t.Errorf("after rename: %+v", r.In)
	}
	if l := inv.List(); len(l) != 1 || l[0].Name != "tap2" {
		t.Errorf("list: %+v", l)
	}
}

func TestEnrichDoesNotAllocate(t *testing.T) {
	inv := New()
	agent := netip.MustParseAddr("127.0.0.1")
	inv.Update(&flow.Counter{Agent: agent, SourceIndex: 29, HasPortName: true, PortName: "tap1"})
	r := flow.Record{Agent: agent, In: flow.Port{Format: flow.PortSingle, Index: 29}}
	if a := testing.AllocsPerRun(100, func() { inv.Enrich(&r) }); a != 0 {
		t.Errorf("%.1f allocations per flow", a)
	}
}
