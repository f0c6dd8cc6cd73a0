package neutronlog

import (
	"bufio"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

func readLines(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("../../../testdata/openstack/neutron-sg-log.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestParseLines(t *testing.T) {
	lines := readLines(t)
	now := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	var es []Entry
	for i, l := range lines {
		e, err := ParseLine(l, time.UTC, now)
		switch {
		case i == 5:
			if !errors.Is(err, ErrNotPacketLog) {
				t.Errorf("line %d: %v, want not a packet log line", i+1, err)
			}
			continue
		case i == 6:
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("line %d: %v, want malformed", i+1, err)
			}
			continue
		case err != nil:
			t.Fatalf("line %d: %v", i+1, err)
		}
		es = append(es, e)
	}
	if len(es) != 5 {
		t.Fatalf("%d entries", len(es))
	}
	syn := es[0]
	a := netip.MustParseAddr
	if syn.Action != "DROP" || syn.Project != "736672c700cd43e1bd321aeaf940365c" || syn.Port != "e0259ade-86de-482e-a717-f58258f7173f" ||
		len(syn.LogIDs) != 1 || syn.LogIDs[0] != "4522efdf-8d44-4e19-b237-64cafc49469b" ||
		!syn.Time.Equal(time.Date(2026, 12, 6, 17, 5, 7, 123e6, time.UTC)) ||
		syn.Packet.SrcAddr != a("10.30.0.11") || syn.Packet.DstAddr != a("10.30.0.12") || syn.Packet.Proto != 6 ||
		syn.Packet.SrcPort != 58738 || syn.Packet.DstPort != 8080 || syn.Packet.TCPFlags != 2 || syn.Packet.EtherType != 0x0800 ||
		syn.Packet.SrcMAC != (flow.MAC{0xfa, 0x16, 0x3e, 0xd6, 0x38, 0x3c}) || syn.Parsed != flow.LayerL4 || syn.Packet.IPLength != 40 {
		t.Errorf("SYN: %+v", syn)
	}
	if e := es[1]; e.Action != "ACCEPT" || !e.Packet.HasICMP || e.Packet.ICMPType != 8 || e.Packet.Proto != 1 {
		t.Errorf("echo: %+v", e)
	}
	if e := es[2]; len(e.LogIDs) != 2 || e.Packet.Proto != 58 || e.Packet.ICMPType != 133 || e.Packet.DstAddr != a("ff02::2") || e.Packet.IPLength != 48 {
		t.Errorf("router solicitation: %+v", e)
	}
	if e := es[3]; e.Packet.Proto != 17 || e.Packet.DstPort != 53 || e.Packet.SrcPort != 5353 {
		t.Errorf("udp: %+v", e)
	}
	// Syslog time (no year) and TCP options with nested parentheses.
	if e := es[4]; !e.Time.Equal(time.Date(2026, 5, 5, 9, 5, 7, 0, time.UTC)) || e.Packet.DstPort != 80 || e.Packet.SrcPort != 47825 ||
		e.Packet.SrcAddr != a("172.24.4.10") || e.Packet.TCPFlags != 2 {
		t.Errorf("syslog line: %+v", e)
	}
	// A DROP is a blocked record; an ACCEPT is not.
	r := syn.Record(a("192.0.2.10"))
	if r.Blocked == nil || r.Blocked.Source != Source || r.Blocked.Port != syn.Port || !r.Blocked.Default || r.Input != flow.InputNeutronLog ||
		r.Packets != 1 || r.Bytes != 40 || r.Agent != a("192.0.2.10") {
		t.Errorf("record %+v %+v", r, r.Blocked)
	}
	if r := es[1].Record(a("192.0.2.10")); r.Blocked != nil {
		t.Error("ACCEPT marked blocked")
	}
}

// Syslog times in January read in December are last year's.
func TestSyslogYear(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC)
	e, err := ParseLine("Dec 31 23:59:59 action=DROP project_id=p log_resource_ids=[] vm_port=v ethernet(dst='fa:16:3e:00:00:01',ethertype=2054,src='fa:16:3e:00:00:02')", time.UTC, now)
	if err != nil || e.Time.Year() != 2026 || e.Parsed != flow.LayerL2 {
		t.Errorf("%+v %v", e, err)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, l := range readLines(f) {
		f.Add(l)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, l string) {
		e, err := ParseLine(l, time.UTC, now)
		if err == nil {
			_ = e.Record(netip.Addr{})
		}
	})
}

func TestEnricherDirection(t *testing.T) {
	e, err := ParseLine(readLines(t)[0], time.UTC, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src, dst, want string
	}{{"", e.Port, "to-lport"}, {e.Port, "other", "from-lport"}, {"a", "b", ""}} {
		r := e.Record(netip.Addr{})
		before := r.Blocked
		r.SrcID, r.DstID = &flow.Identity{PortID: c.src}, &flow.Identity{PortID: c.dst}
		Enricher{}.Enrich(&r)
		if r.Blocked.ACLDirection != c.want || before.ACLDirection != "" {
			t.Errorf("%+v: %q", c, r.Blocked.ACLDirection)
		}
	}
}

// A logged drop is attributed to the logged port's security groups, from
// the inventory; a port it does not know keeps none.
func TestEnricherSecurityGroups(t *testing.T) {
	e, err := ParseLine(readLines(t)[0], time.UTC, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	en := Enricher{Groups: func(port string) []string {
		if port == e.Port {
			return []string{"sg-web", "sg-ssh"}
		}
		return nil
	}}
	r := e.Record(netip.Addr{})
	before := r.Blocked
	r.DstID = &flow.Identity{PortID: e.Port}
	en.Enrich(&r)
	if got := r.Blocked.SecurityGroups; len(got) != 2 || got[0] != "sg-web" || r.Blocked.ACLDirection != "to-lport" {
		t.Errorf("groups %v, direction %q", got, r.Blocked.ACLDirection)
	}
	if len(before.SecurityGroups) != 0 {
		t.Error("the shared Blocked was written through")
	}
	other := e
	other.Port = "unknown-port"
	r = other.Record(netip.Addr{})
	en.Enrich(&r)
	if len(r.Blocked.SecurityGroups) != 0 {
		t.Errorf("unknown port: groups %v", r.Blocked.SecurityGroups)
	}
}
