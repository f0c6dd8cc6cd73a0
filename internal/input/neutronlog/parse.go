// Package neutronlog reads what ML2/OVS security groups dropped from
// Neutron's packet logging: with service_plugins = log and the agent's log
// extension, the openvswitch firewall sends the first packet of each
// logged connection to the agent, which writes one line per packet
// (neutron/services/logapi/drivers/openvswitch/ovs_firewall_log.py) to
// [network_log] local_output_log_base:
//
//	2026-12-06 17:05:07.123 4242 INFO neutron.services.logapi.drivers.openvswitch.ovs_firewall_log [-] action=DROP
//	project_id=736672c7… log_resource_ids=['4522efdf-…'] vm_port=e0259ade-… pkt=ethernet(dst='fa:16:3e:ec:36:32',
//	ethertype=2048,src='fa:16:3e:50:aa:b5'), ipv4(…,dst='10.0.0.4',…,proto=6,src='172.24.4.10',…), tcp(…,dst_port=80,…,src_port=47825,…)
//
// (one line; the packet is os-ken's representation of its headers). Each
// DROP line becomes a flow record marked blocked, attributed like any
// other record.
package neutronlog

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

// Source is flowlens.blocked.source of records from these logs.
const Source = "neutron-packet-log"

// Entry is one logged packet.
type Entry struct {
	Time    time.Time
	Action  string // ACCEPT or DROP
	Project string
	// LogIDs are the Neutron network log objects that asked for the
	// line (not security groups: a log names a group or a port).
	LogIDs []string
	Port   string // the Neutron port (vm_port) whose security groups decided
	Packet flow.Packet
	Parsed flow.Layer
}

// Errors of ParseLine; the line is skipped and counted by reason.
var (
	ErrNotPacketLog = errors.New("not a packet log line (no action=)")
	ErrMalformed    = errors.New("malformed packet log line")
)

// timeLayouts: oslo.log's default log_date_format with milliseconds, the
// same without, and syslog's (no year).
var timeLayouts = []string{"2006-01-02 15:04:05.000", "2006-01-02 15:04:05", "Jan _2 15:04:05"}

// ParseLine reads one line. loc is the zone of the log's times (they carry
// none); now dates syslog times, which have no year.
func ParseLine(line string, loc *time.Location, now time.Time) (Entry, error) {
	var e Entry
	i := strings.Index(line, "action=")
	if i < 0 {
		return e, ErrNotPacketLog
	}
	e.Time = parseTime(line[:i], loc, now)
	rest := line[i:]
	for _, key := range []string{"action", "project_id", "log_resource_ids", "vm_port"} {
		rest = strings.TrimLeft(rest, " ,")
		r, ok := strings.CutPrefix(rest, key+"=")
		if !ok && key == "vm_port" {
			// iptables' driver writes "port=" (and commas).
			r, ok = strings.CutPrefix(rest, "port=")
		}
		if !ok {
			return e, fmt.Errorf("%w: no %s=", ErrMalformed, key)
		}
		var val string
		if key == "log_resource_ids" {
			end := strings.IndexByte(r, ']')
			if !strings.HasPrefix(r, "[") || end < 0 {
				return e, fmt.Errorf("%w: log_resource_ids is not a list", ErrMalformed)
			}
			for _, id := range strings.Split(r[1:end], ",") {
				if id = strings.Trim(strings.TrimSpace(id), `'"`); id != "" {
					e.LogIDs = append(e.LogIDs, id)
				}
			}
			rest = r[end+1:]
			continue
		}
		val, rest, _ = strings.Cut(r, " ")
		val = strings.TrimSuffix(val, ",")
		switch key {
		case "action":
			e.Action = val
		case "project_id":
			e.Project = val
		case "vm_port":
			e.Port = val
		}
	}
	rest = strings.TrimSpace(rest)
	rest = strings.TrimPrefix(rest, "pkt=")
	if err := parsePacket(rest, &e); err != nil {
		return e, err
	}
	return e, nil
}

func parseTime(prefix string, loc *time.Location, now time.Time) time.Time {
	prefix = strings.TrimSpace(prefix)
	for _, l := range timeLayouts {
		if len(prefix) < len(l) {
			continue
		}
		t, err := time.ParseInLocation(l, prefix[:len(l)], loc)
		if err != nil {
			continue
		}
		if t.Year() == 0 { // syslog: this year, or last year's December
			t = t.AddDate(now.In(loc).Year(), 0, 0)
			if t.After(now.Add(24 * time.Hour)) {
				t = t.AddDate(-1, 0, 0)
			}
		}
		return t
	}
	return now // no time we know: when it was read
}

// parsePacket reads os-ken's "proto(k=v,…), proto(…), …".
func parsePacket(s string, e *Entry) error {
	p := &e.Packet
	for s != "" {
		open := strings.IndexByte(s, '(')
		if open < 0 {
			break // trailing payload (bytearray(…) has a paren; anything else ends it)
		}
		name := strings.TrimSpace(s[:open])
		end, ok := closing(s, open)
		if !ok {
			return fmt.Errorf("%w: unbalanced %s(", ErrMalformed, name)
		}
		kv := fields(s[open+1 : end])
		s = strings.TrimLeft(s[end+1:], ", ")
		switch name {
		case "ethernet":
			p.SrcMAC, _ = mac(kv["src"])
			p.DstMAC, _ = mac(kv["dst"])
			p.EtherType = uint16(num(kv["ethertype"]))
			e.Parsed = flow.LayerL2
		case "vlan":
			p.VLAN, p.VLANCount = uint16(num(kv["vid"])), p.VLANCount+1
			p.EtherType = uint16(num(kv["ethertype"]))
		case "ipv4", "ipv6":
			var err1, err2 error
			p.SrcAddr, err1 = netip.ParseAddr(kv["src"])
			p.DstAddr, err2 = netip.ParseAddr(kv["dst"])
			if err1 != nil || err2 != nil {
				return fmt.Errorf("%w: %s addresses %q %q", ErrMalformed, name, kv["src"], kv["dst"])
			}
			if name == "ipv4" {
				p.Proto, p.TTL, p.TOS, p.IPLength = uint8(num(kv["proto"])), uint8(num(kv["ttl"])), uint8(num(kv["tos"])), uint16(num(kv["total_length"]))
			} else {
				p.Proto, p.TTL, p.TOS = uint8(num(kv["nxt"])), uint8(num(kv["hop_limit"])), uint8(num(kv["traffic_class"]))
				p.IPLength = uint16(num(kv["payload_length"]) + 40)
			}
			p.HasProto = true
			e.Parsed = flow.LayerL3
		case "tcp", "udp", "sctp":
			p.SrcPort, p.DstPort, p.HasPorts = uint16(num(kv["src_port"])), uint16(num(kv["dst_port"])), true
			if name == "tcp" {
				p.TCPFlags = uint16(num(kv["bits"]))
			}
			e.Parsed = flow.LayerL4
		case "icmp", "icmpv6":
			t := kv["type"]
			if t == "" {
				t = kv["type_"]
			}
			p.ICMPType, p.ICMPCode, p.HasICMP = uint8(num(t)), uint8(num(kv["code"])), true
			e.Parsed = flow.LayerL4
		case "arp":
			p.ARPOp = uint16(num(kv["opcode"]))
			p.SrcAddr, _ = netip.ParseAddr(kv["src_ip"])
			p.DstAddr, _ = netip.ParseAddr(kv["dst_ip"])
		}
	}
	if e.Parsed == flow.LayerNone {
		return fmt.Errorf("%w: no ethernet(…) packet", ErrMalformed)
	}
	return nil
}

// closing returns the index of the parenthesis closing the one at open,
// skipping quoted strings.
func closing(s string, open int) (int, bool) {
	depth := 0
	var quote byte
	for i := open; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
			if depth == 0 {
				return i, true
			}
		}
	}
	return 0, false
}

// fields splits "k=v,k=v" at top-level commas; values lose their quotes.
func fields(s string) map[string]string {
	m := map[string]string{}
	depth := 0
	var quote byte
	start := 0
	add := func(part string) {
		if k, v, ok := strings.Cut(part, "="); ok {
			m[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `'"`)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == ',' && depth == 0:
			add(s[start:i])
			start = i + 1
		}
	}
	add(s[start:])
	return m
}

func num(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

func mac(s string) (flow.MAC, bool) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return flow.MAC{}, false
	}
	return flow.MAC(hw), true
}

// Record returns the flow record of a DROP entry: one packet, marked
// blocked by the port's security groups (the openvswitch firewall logs a
// drop when no rule of them allowed the packet). agent names the
// hypervisor the log is from.
func (e *Entry) Record(agent netip.Addr) flow.Record {
	r := flow.Record{Time: e.Time, Start: e.Time, End: e.Time, Input: flow.InputNeutronLog, Agent: agent,
		Packet: e.Packet, Parsed: e.Parsed, Packets: 1, Bytes: uint64(e.Packet.IPLength), SamplingRate: 1}
	if e.Action == "DROP" {
		r.Blocked = &flow.Blocked{Source: Source, Port: e.Port, Default: true}
	}
	return r
}

// Enricher says which end of a logged drop is the logged port (vm_port):
// the receiver (its ingress rules, "to-lport" as OVN calls it) or the
// sender ("from-lport"), and which security groups the port is in. It
// runs after the OpenStack enrichment, which names both ends.
type Enricher struct {
	// Groups returns a Neutron port's security groups (nil: unknown).
	Groups func(port string) []string
}

// Enrich sets the direction and security groups of neutron-packet-log
// drops.
func (e Enricher) Enrich(r *flow.Record) {
	b := r.Blocked
	if b == nil || b.Source != Source || b.Port == "" {
		return
	}
	dir := b.ACLDirection
	if dir == "" {
		switch b.Port {
		case r.DstID.OrEmpty().PortID:
			dir = "to-lport"
		case r.SrcID.OrEmpty().PortID:
			dir = "from-lport"
		}
	}
	var groups []string
	if len(b.SecurityGroups) == 0 && e.Groups != nil {
		groups = e.Groups(b.Port)
	}
	if dir == b.ACLDirection && len(groups) == 0 {
		return
	}
	nb := *b // shared by the record's copies: replace, never write through
	nb.ACLDirection = dir
	if len(groups) > 0 {
		nb.SecurityGroups = groups
	}
	r.Blocked = &nb
}
