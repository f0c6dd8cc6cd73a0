package accuracy

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/flowlens/flowlens/internal/decode"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// replay runs a real capture through the pipeline with the tracker as its
// output, as `flowlens run` does.
func replay(t *testing.T, path string) *Tracker {
	t.Helper()
	tr := New(Config{})
	p := pipeline.New(pipeline.Config{Wait: true}, slog.New(slog.NewTextHandler(io.Discard, nil)), tr)
	ds, err := pcapfile.ReadAll(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := decode.New(decode.Config{}, p).Handler(decode.SFlow)
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	for i, d := range ds {
		h.Datagram(d.Payload, src, d.Time)
		if i%7 == 0 { // batches of several datagrams, as a socket reads them
			h.Flush()
		}
	}
	h.Flush()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return tr
}

// On Open vSwitch 3.1's own export (testdata/ovs: ping, iperf3 TCP and
// UDP between veth "VMs" on br-int at 1:64), the VM ports' estimates agree
// with their counters in both directions, and the internal port, which
// has no counters, says so.
func TestRealOVSCapture(t *testing.T) {
	tr := replay(t, "../../testdata/ovs/ovs-sflow.pcap")
	rep := tr.Report(Query{})
	if b, err := json.MarshalIndent(rep, "", " "); err == nil {
		t.Logf("%s", b)
	}
	compared := 0
	for _, r := range rep.Ports {
		switch r.Name {
		case "lab-v1h", "lab-v2h":
			if r.Status == StatusOff {
				t.Errorf("%s %s is off: %s", r.Name, r.Direction, r.Reason)
			}
			if r.Status == StatusOK {
				compared++
				if *r.DiffRatio < -0.25 || *r.DiffRatio > 0.25 || *r.SigmaRatio <= 0 || *r.SigmaRatio > 0.2 {
					t.Errorf("%s %s: diff %.3f σ %.3f", r.Name, r.Direction, *r.DiffRatio, *r.SigmaRatio)
				}
				if r.CounterBytes < 1e6 || r.Samples < 50 || r.Windows < 3 || r.SamplingRate != 64 {
					t.Errorf("%s %s: %+v", r.Name, r.Direction, r)
				}
			}
		case "br-int":
			if r.Status != StatusNoData {
				t.Errorf("br-int (the bridge's own port, hardly any traffic) %s: %s", r.Direction, r.Status)
			}
		case "":
			// Ports named only by flow samples: the internal port in a
			// namespace (ifIndex without counters).
			if r.Status != StatusNoData || r.Reason == "" {
				t.Errorf("port %d %s: %s %q", r.Index, r.Direction, r.Status, r.Reason)
			}
		}
	}
	if compared != 4 {
		t.Errorf("%d VM port directions compared, want 4 (lab-v1h and lab-v2h, in and out)", compared)
	}
	if len(rep.Sources) != 1 || rep.Sources[0].PoolRate != 64 || rep.Sources[0].Sent != rep.Sources[0].Received {
		t.Errorf("sources: %+v", rep.Sources)
	}
}
