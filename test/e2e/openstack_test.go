//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// Record fields of OpenStack attribution (docs/fields.md).
const (
	fSrcPortID     = "flowlens.src.port.id"
	fSrcInstanceID = "flowlens.src.instance.id"
	fSrcNetworkID  = "flowlens.src.network.id"
	fDstPortID     = "flowlens.dst.port.id"
	fRelation      = "flowlens.relation"
)

// checkOpenStack: every sampled byte sent by a VM port is attributed to that
// VM's Neutron port, instance and network, as os-vif and the ML2/OVS agent
// labelled them in OVSDB; VM-to-VM flows on this one hypervisor are
// same-host.
func checkOpenStack(t *testing.T, l *Lab, out *Output) {
	var p Problems
	byMAC := map[string]*VM{}
	for _, v := range l.VMs {
		byMAC[strings.ToUpper(strings.ReplaceAll(v.MAC.String(), ":", "-"))] = v
	}
	var vmBytes, attributed int64
	sameHost := 0
	for _, f := range out.Flows {
		v := byMAC[f.SrcMAC]
		if v == nil {
			continue
		}
		vmBytes += f.Bytes
		port, _ := f.Raw.Str(fSrcPortID, &p)
		inst, _ := f.Raw.Str(fSrcInstanceID, &p)
		netID, _ := f.Raw.Str(fSrcNetworkID, &p)
		if port != v.PortID || inst != v.InstanceID || netID != v.Net.ID {
			p.Add("flow from "+v.Name+" not attributed to its port/instance/network", f)
			continue
		}
		attributed += f.Bytes
		if d := byMAC[f.DstMAC]; d != nil {
			dport, _ := f.Raw.Str(fDstPortID, &p)
			rel, _ := f.Raw.Str(fRelation, &p)
			if dport != d.PortID || rel != "same-host" {
				p.Add("VM-to-VM flow without destination port or same-host relation", f)
			} else {
				sameHost++
			}
		}
	}
	if vmBytes == 0 {
		t.Fatal("no flow from a VM port")
	}
	t.Logf("attributed %d of %d sampled bytes from VM ports (%.2f%%); %d VM-to-VM flows same-host",
		attributed, vmBytes, 100*float64(attributed)/float64(vmBytes), sameHost)
	if attributed != vmBytes {
		t.Errorf("%.2f%% of VM bytes attributed, want 100%%", 100*float64(attributed)/float64(vmBytes))
	}
	p.Report(t.Errorf)
}
