// Package ifaces keeps the interface inventory that counter samples teach
// us (ifIndex → port name, OpenFlow port, datapath, speed, status) and
// attaches it to flow records, which carry only ifIndex numbers.
package ifaces

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// Key names an interface. ifIndex values are unique per agent (per
// hypervisor for Open vSwitch: they are Linux ifindexes), so the sub-agent
// (bridge) is not part of the key; it is kept as information.
type Key struct {
	Agent netip.Addr
	Index uint32
}

// Interface is what is known about one port.
type Interface struct {
	Key
	SubAgent   uint32
	Name       string
	OFPort     uint32
	HasOFPort  bool
	DatapathID uint64
	Speed      uint64
	Type       uint32
	AdminUp    bool
	OperUp     bool
}

// maxInterfaces bounds the inventory against agents inventing ifIndexes.
const maxInterfaces = 1 << 16

// Inventory is safe for concurrent use. Lookups, done for every flow, read
// an immutable map through an atomic pointer and never lock; the rare
// changes (a new port, a renamed one) copy the map.
type Inventory struct {
	cur atomic.Pointer[map[Key]Interface]
	// by4 indexes the IPv4 agents' interfaces by agent<<32|ifIndex, for
	// the runtime's fast 64-bit map path: looked up twice per record.
	by4 atomic.Pointer[map[uint64]*Interface]

	mu       sync.Mutex
	lastSeen map[Key]time.Time
}

// New returns an empty inventory.
func New() *Inventory {
	inv := &Inventory{lastSeen: make(map[Key]time.Time)}
	inv.publish(make(map[Key]Interface))
	return inv
}

// publish makes m the inventory lookups see.
func (inv *Inventory) publish(m map[Key]Interface) {
	by4 := make(map[uint64]*Interface, len(m))
	for k, v := range m {
		if k.Agent.Is4() {
			by4[key4(k.Agent, k.Index)] = &v
		}
	}
	inv.by4.Store(&by4)
	inv.cur.Store(&m)
}

func key4(agent netip.Addr, index uint32) uint64 {
	a := agent.As4()
	return uint64(a[0])<<56 | uint64(a[1])<<48 | uint64(a[2])<<40 | uint64(a[3])<<32 | uint64(index)
}

// Update learns from a counter sample. Samples that are not about an
// interface (bridge-wide datapath stats) are ignored.
func (inv *Inventory) Update(c *flow.Counter) {
	if !c.HasInterface && !c.HasPortName && !c.HasOFPort {
		return
	}
	idx := c.SourceIndex
	if c.HasInterface {
		idx = c.Interface.Index
	} else if c.SourceIDType != 0 {
		return
	}
	if idx == 0 {
		return
	}
	k := Key{Agent: c.Agent, Index: idx}
	next := Interface{Key: k, SubAgent: c.SubAgent}
	old, known := (*inv.cur.Load())[k]
	if known {
		next = old // keep what this sample does not carry
		next.SubAgent = c.SubAgent
	}
	if c.HasPortName {
		next.Name = c.PortName
	}
	if c.HasOFPort {
		next.OFPort, next.HasOFPort, next.DatapathID = c.OFPort, true, c.DatapathID
	}
	if c.HasInterface {
		g := &c.Interface
		if g.Speed != flow.Unknown64 {
			next.Speed = g.Speed
		}
		next.Type = g.Type
		next.AdminUp, next.OperUp = g.Status&1 != 0, g.Status&2 != 0
	}

	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.lastSeen[k] = c.Time
	cur := *inv.cur.Load()
	if old, ok := cur[k]; ok && old == next {
		return
	}
	if !known && len(cur) >= maxInterfaces {
		return
	}
	m := make(map[Key]Interface, len(cur)+1)
	for k, v := range cur {
		m[k] = v
	}
	m[k] = next
	inv.publish(m)
}

// Learn records an interface name an exporter sent outside counter
// samples (NetFlow v9/IPFIX interface tables).
func (inv *Inventory) Learn(agent netip.Addr, index uint32, name string, now time.Time) {
	if index == 0 || name == "" {
		return
	}
	inv.Update(&flow.Counter{Time: now, Agent: agent, SourceIndex: index, HasPortName: true, PortName: name})
}

// Enrich attaches what is known about r's ingress and egress ports.
func (inv *Inventory) Enrich(r *flow.Record) {
	m := *inv.cur.Load()
	if len(m) == 0 {
		return
	}
	if r.Agent.Is4() {
		by4 := *inv.by4.Load()
		enrichPort(lookup4(by4, r.Agent, &r.In), &r.In)
		enrichPort(lookup4(by4, r.Agent, &r.Out), &r.Out)
		return
	}
	for _, p := range []*flow.Port{&r.In, &r.Out} {
		if p.Format != flow.PortSingle {
			continue
		}
		if i, ok := m[Key{Agent: r.Agent, Index: p.Index}]; ok {
			enrichPort(&i, p)
		}
	}
}

func lookup4(by4 map[uint64]*Interface, agent netip.Addr, p *flow.Port) *Interface {
	if p.Format != flow.PortSingle {
		return nil
	}
	return by4[key4(agent, p.Index)]
}

func enrichPort(i *Interface, p *flow.Port) {
	if i == nil {
		return
	}
	// Keep what the record already says (IPFIX carries interface names).
	if i.Name != "" {
		p.Name = i.Name
	}
	if i.HasOFPort {
		p.OFPort, p.HasOFPort, p.DatapathID = i.OFPort, true, i.DatapathID
	}
	if i.Speed != 0 {
		p.Speed = i.Speed
	}
}

// Entry is an Interface with the time it was last reported.
type Entry struct {
	Interface
	LastSeen time.Time
}

// Len is the number of known interfaces.
func (inv *Inventory) Len() int { return len(*inv.cur.Load()) }

// List returns every known interface, sorted by agent and ifIndex.
func (inv *Inventory) List() []Entry {
	m := *inv.cur.Load()
	inv.mu.Lock()
	out := make([]Entry, 0, len(m))
	for k, v := range m {
		out = append(out, Entry{Interface: v, LastSeen: inv.lastSeen[k]})
	}
	inv.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Agent.Compare(out[j].Agent); c != 0 {
			return c < 0
		}
		return out[i].Index < out[j].Index
	})
	return out
}
