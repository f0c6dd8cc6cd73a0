package netflow_test

import (
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/decode/netflow"
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
	b := string(recs[0].AppendJSON(nil))
	for _, s := range []string{`"observation_point_id":3881168170`, `"flow_direction":"ingress"`} {
		if !strings.Contains(b, s) {
			t.Errorf("%s not in %s", s, b)
		}
	}
}
