package netflow_test

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
)

// OVN's drop sampling (a real capture, testdata/openstack): every record
// carries the dropping logical flow in observationPointId (IE 138) and
// the direction in flowDirection (IE 61); without them a drop sample
// cannot be traced back to its ACL and security group.
func TestOVNDropSamplingKeepsObservationPoint(t *testing.T) {
	ds, err := pcapfile.ReadAll("../../../testdata/openstack/ovn-ipfix-drops.pcap", func(d pcapfile.Datagram) bool { return d.Dst.Port() == 46055 })
	if err != nil {
		t.Fatal(err)
	}
	opt := netflow.Options{}
	dec := netflow.NewDecoder(netflow.NewTemplates(opt), opt)
	var recs []flow.Record
	for _, d := range ds {
		var res netflow.Result
		if err := dec.Decode(d.Payload, d.Src, d.Time, &res); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, res.Flows...)
	}
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	for i, r := range recs {
		if r.SubAgent != 1<<24|1 || !r.HasObservationPoint || !r.HasFlowDirection || r.FlowDirection != 0 {
			t.Errorf("record %d: domain %d observation point %v/%#x direction %v/%d", i, r.SubAgent,
				r.HasObservationPoint, r.ObservationPointID, r.HasFlowDirection, r.FlowDirection)
		}
		want := uint64(0xe755ed2a) // the blocked TCP 8080 SYNs
		if i == 4 {
			want = 0xfa0ab1e1 // the IPv6 router solicitation
		}
		if r.ObservationPointID != want {
			t.Errorf("record %d: observation point %#x, want %#x", i, r.ObservationPointID, want)
		}
		if i < 4 && (r.DstPort != 8080 || r.TCPFlags != 0 && r.TCPFlags != 2 || r.TemplateID != 280) {
			t.Errorf("record %d: port %d template %d", i, r.DstPort, r.TemplateID)
		}
	}
	b := string(ecs.AppendFlow(nil, &recs[0]))
	for _, s := range []string{`"observation_point_id":3881168170`, `"flow_direction":"ingress"`} {
		if !strings.Contains(b, s) {
			t.Errorf("%s not in %s", s, b)
		}
	}
}

// Open vSwitch sends its templates for one observation domain at a time
// (every 10 minutes), and OVN's drop sampling uses a domain per datapath:
// the real capture's data moved to a second domain must still decode,
// with the first domain's template, whether it comes after the template
// or was held before it. Another exporter's templates are not borrowed.
func TestOVSTemplatesServeEveryDomain(t *testing.T) {
	ds, err := pcapfile.ReadAll("../../../testdata/openstack/ovn-ipfix-drops.pcap", func(d pcapfile.Datagram) bool { return d.Dst.Port() == 46055 })
	if err != nil {
		t.Fatal(err)
	}
	const other = 1<<24 | 2
	var tmpls, data []pcapfile.Datagram
	for _, d := range ds {
		d.Payload = append([]byte(nil), d.Payload...)
		if len(d.Payload) > 17 && binary.BigEndian.Uint16(d.Payload[16:]) >= 256 {
			binary.BigEndian.PutUint32(d.Payload[12:], other)
			data = append(data, d)
		} else {
			tmpls = append(tmpls, d)
		}
	}
	if len(tmpls) == 0 || len(data) == 0 {
		t.Fatalf("%d template and %d data datagrams", len(tmpls), len(data))
	}
	for _, order := range []struct {
		name string
		ds   []pcapfile.Datagram
	}{{"template first", append(append([]pcapfile.Datagram{}, tmpls...), data...)},
		{"data first (held)", append(append([]pcapfile.Datagram{}, data...), tmpls...)}} {
		opt := netflow.Options{}
		dec := netflow.NewDecoder(netflow.NewTemplates(opt), opt)
		var recs []flow.Record
		borrowed := 0
		for _, d := range order.ds {
			var res netflow.Result
			if err := dec.Decode(d.Payload, d.Src, d.Time, &res); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, res.Flows...)
			borrowed += int(res.BorrowedTemplate)
		}
		if len(recs) != 5 || borrowed == 0 {
			t.Errorf("%s: %d records (want 5), %d data sets borrowed a template", order.name, len(recs), borrowed)
		}
		for _, r := range recs {
			if r.SubAgent != other || r.ObservationPointID == 0 {
				t.Errorf("%s: domain %#x, observation point %#x", order.name, r.SubAgent, r.ObservationPointID)
			}
		}
	}

	// A template that is not Open vSwitch's stays in its domain.
	dec, _ := newDecoder(netflow.Options{})
	now := time.Now()
	decode(t, dec, ipfix(1, 0, 1, set(2, tmpl(300, specs(8, 4, 12, 4)))), now)
	res := decode(t, dec, ipfix(1, 0, 2, set(300, wire{}.ip("10.0.0.1").ip("10.0.0.2"))), now)
	if len(res.Flows) != 0 || res.BorrowedTemplate != 0 || res.PendingHeld != 1 {
		t.Errorf("another exporter's template borrowed: %d records, %d borrowed, %d held", len(res.Flows), res.BorrowedTemplate, res.PendingHeld)
	}
}
