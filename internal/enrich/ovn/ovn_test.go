package ovn

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/decode/netflow"
	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/pcapfile"
	"github.com/flowlens/flowlens/internal/ovstest"
)

// Debian's ovn-central installs the schemas of OVN 23.03.
const (
	nbSchema = "/usr/share/ovn/ovn-nb.ovsschema"
	sbSchema = "/usr/share/ovn/ovn-sb.ovsschema"
)

// startDB runs a private ovsdb-server with schema on a unix socket,
// stopped when the test ends.
func startDB(t *testing.T, schema string) string { return startDBOn(t, schema, false) }

// startDBOn with tcp listens on a port of 127.0.0.1, as OVN's databases
// are usually reached.
func startDBOn(t *testing.T, schema string, tcp bool) string {
	t.Helper()
	return ovstest.Server(t, schema, tcp, "ovn-central: it ships the schemas")
}

// transact runs one OVSDB transaction with ovsdb-client.
func transact(t *testing.T, endpoint, db string, ops ...any) {
	t.Helper()
	b, _ := json.Marshal(append([]any{db}, ops...))
	out, err := exec.Command("ovsdb-client", "transact", endpoint, string(b)).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte(`"error"`)) {
		t.Fatalf("ovsdb-client transact %s: %v %s", b, err, out)
	}
}

func omap(kv ...string) []any {
	pairs := []any{}
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, []any{kv[i], kv[i+1]})
	}
	return []any{"map", pairs}
}

func oset(uuids ...string) []any {
	s := []any{}
	for _, u := range uuids {
		if strings.Contains(u, "-") {
			s = append(s, []any{"uuid", u})
		} else {
			s = append(s, []any{"named-uuid", u})
		}
	}
	return []any{"set", s}
}

func insert(table, uuid string, row map[string]any) map[string]any {
	return map[string]any{"op": "insert", "table": table, "uuid": uuid, "row": row}
}

// The lab's security groups (shared/lab/openstack/evidence/ovn): group
// web-ssh-ovn (53d28899…) allows ICMP and TCP 22 in; both VMs' ports are
// in it and in neutron_pg_drop; the project's default group has no ports.
const (
	sgWeb      = "53d28899-3b1f-489c-81f8-6edd94637fae"
	sgDefault  = "8d1e4400-eb83-4745-904c-e9782e85c41b"
	lspVM1     = "c39b3274-95e2-41e3-96bf-ba4fcd150b69"
	lspVM2     = "f5d73588-b28b-4639-b125-5bc83fee5cac"
	portVM1    = "0ba7adaf-25d0-4b8e-9d61-3c2f4a7e1b11" // tap0ba7adaf-25 in the capture
	portVM2    = "7f3e9c1d-4b2a-4e8f-a6d5-2c1b0a9f8e12"
	aclDropIn  = "c3eb29eb-adff-4828-b128-3bc2b1f12f20" // from-lport: inport == @neutron_pg_drop && ip
	aclDropOut = "c0fddb45-fb97-400f-b1bb-b18108b22882" // to-lport: outport == @neutron_pg_drop && ip
	aclSSH     = "cb4b358a-9046-4a1e-9993-c2e78e99cddb"
	aclDeny    = "d0d0beef-1111-4222-8333-444455556666" // a group's own drop rule (not made by Neutron today)
	ruleSSH    = "9a1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e"
	ruleDeny   = "aa11bb22-cc33-4d44-8e55-ff6600112233"
	// Logical flows: e755ed2a… is the one the capture's SYNs name.
	lfDropOut = "e755ed2a-6b3c-4d5e-9f01-23456789abcd"
	lfDropIn  = "1b2c3d4e-5f60-4718-92a3-b4c5d6e7f809"
	lfSSH     = "2c3d4e5f-6071-4829-a3b4-c5d6e7f8091a"
	lfPortSec = "3d4e5f60-7182-493a-b4c5-d6e7f8091a2b"
	lfDeny    = "4e5f6071-8293-4a4b-85d6-e7f8091a2b3c"
)

func fillNB(t *testing.T, nb string) {
	acl := func(uuid, dir, match, action string, ext []any) map[string]any {
		return insert("ACL", uuid, map[string]any{"direction": dir, "priority": 1002, "match": match, "action": action, "external_ids": ext})
	}
	pgWeb := "pg_" + strings.ReplaceAll(sgWeb, "-", "_")
	pgDef := "pg_" + strings.ReplaceAll(sgDefault, "-", "_")
	transact(t, nb, "OVN_Northbound",
		insert("Logical_Switch_Port", lspVM1, map[string]any{"name": portVM1, "addresses": oset2("fa:16:3e:d6:38:3c 10.30.0.11")}),
		insert("Logical_Switch_Port", lspVM2, map[string]any{"name": portVM2, "addresses": oset2("fa:16:3e:4c:c9:d4 10.30.0.12")}),
		map[string]any{"op": "insert", "table": "Logical_Switch", "row": map[string]any{
			"name": "neutron-af789514-c461-4240-820f-93909aba11db", "ports": oset(lspVM1, lspVM2)}},
		acl("798145fe-6fe1-4160-80a1-be9628851176", "from-lport", "inport == @"+pgWeb+" && ip4", "allow-related",
			omap("neutron:security_group_rule_id", "0b8d3c2a-1e4f-4a5b-9c6d-7e8f9a0b1c2d")),
		acl("7b3cf061-28c8-42fe-a19a-2ebd4e88239d", "from-lport", "inport == @"+pgWeb+" && ip6", "allow-related",
			omap("neutron:security_group_rule_id", "1c9e4d3b-2f5a-4b6c-8d7e-9f0a1b2c3d4e")),
		acl("7d9d9c1e-18cc-42cd-a672-36481c684257", "to-lport", "outport == @"+pgWeb+" && ip4 && ip4.src == 0.0.0.0/0 && icmp4", "allow-related",
			omap("neutron:security_group_rule_id", "2daf5e4c-3a6b-4c7d-8e9f-0a1b2c3d4e5f")),
		acl(aclSSH, "to-lport", "outport == @"+pgWeb+" && ip4 && ip4.src == 0.0.0.0/0 && tcp && tcp.dst == 22", "allow-related",
			omap("neutron:security_group_rule_id", ruleSSH)),
		acl(aclDeny, "to-lport", "outport == @"+pgWeb+" && ip4 && udp && udp.dst == 53", "drop",
			omap("neutron:security_group_rule_id", ruleDeny)),
		acl(aclDropIn, "from-lport", "inport == @neutron_pg_drop && ip", "drop", omap()),
		acl(aclDropOut, "to-lport", "outport == @neutron_pg_drop && ip", "drop", omap()),
		insert("Port_Group", "26d7a700-9309-404d-86b6-f43f5f15c7e2", map[string]any{"name": pgWeb,
			"external_ids": omap("neutron:security_group_id", sgWeb), "ports": oset(lspVM1, lspVM2),
			"acls": oset("798145fe-6fe1-4160-80a1-be9628851176", "7b3cf061-28c8-42fe-a19a-2ebd4e88239d", "7d9d9c1e-18cc-42cd-a672-36481c684257", aclSSH, aclDeny)}),
		insert("Port_Group", "ccef720f-ae9b-49ec-bbdc-de292a1f336c", map[string]any{"name": DropGroup,
			"external_ids": omap(), "ports": oset(lspVM1, lspVM2), "acls": oset(aclDropIn, aclDropOut)}),
		insert("Port_Group", "574e5443-3af7-4dfa-8de3-4f1bd90eb460", map[string]any{"name": pgDef,
			"external_ids": omap("neutron:security_group_id", sgDefault), "ports": oset()}),
	)
}

func oset2(s ...string) []any {
	var out []any
	for _, v := range s {
		out = append(out, v)
	}
	return []any{"set", out}
}

func lflowRow(uuid, pipeline, stage, hint, actions string) map[string]any {
	ext := omap("stage-name", stage, "source", "northd.c:6647")
	if hint != "" {
		ext = omap("stage-name", stage, "stage-hint", hint, "source", "northd.c:6647")
	}
	return insert("Logical_Flow", uuid, map[string]any{"pipeline": pipeline, "table_id": 4, "priority": 2001,
		"match": "1", "actions": actions, "external_ids": ext})
}

func fillSB(t *testing.T, sb string) {
	drop := "sample(probability=65535,collector_set=1,obs_domain=1,obs_point=$cookie); /* drop */"
	transact(t, sb, "OVN_Southbound",
		lflowRow(lfDropOut, "egress", "ls_out_acl", aclDropOut[:8], drop),
		lflowRow(lfDropIn, "ingress", "ls_in_acl", aclDropIn[:8], drop),
		lflowRow(lfSSH, "egress", "ls_out_acl", aclSSH[:8], "reg0[1] = 1; next;"),
		lflowRow(lfDeny, "egress", "ls_out_acl", aclDeny[:8], drop),
		lflowRow(lfPortSec, "ingress", "ls_in_port_sec_l2", "", drop),
	)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// decodeCapture returns the records of the real OVN drop-sampling capture.
func decodeCapture(t *testing.T) []flow.Record {
	t.Helper()
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
		t.Fatalf("%d records in the capture, want 5", len(recs))
	}
	return recs
}

func waitFor(t *testing.T, what string, cond func() bool) { t.Helper(); ovstest.WaitFor(t, what, cond) }

// The capture's blocked TCP 8080 SYNs, traced through a real OVN
// Southbound and Northbound (ovsdb-server with OVN 23.03's schemas, rows
// shaped like the lab's): logical flow → ACL → port group → the
// receiver's security group. A drop whose logical flow is gone is kept,
// marked, with the observation point only and a reason.
func TestTraceDropsThroughRealOVNDatabases(t *testing.T) {
	nb, sb := startDB(t, nbSchema), startDBOn(t, sbSchema, true)
	fillNB(t, nb)
	fillSB(t, sb)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := New(Config{NB: nb, SB: sb, DropDomainID: 1}, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		// libovsdb must not complain about the columns left out.
		if strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("errors logged:\n%s", logs.String())
		}
	}()
	select {
	case <-m.Synced():
	case <-time.After(10 * time.Second):
		t.Fatalf("databases not read:\n%s", logs.String())
	}

	recs := decodeCapture(t)
	e := m.NewEnricher()
	for i := range recs {
		e.Enrich(&recs[i])
	}
	for i, r := range recs[:4] {
		b := r.Blocked
		if b == nil {
			t.Fatalf("SYN %d not marked blocked", i)
		}
		want := flow.Blocked{Source: flow.BlockedOVNDropSampling, LogicalFlow: lfDropOut, Stage: "ls_out_acl", ACL: aclDropOut,
			ACLDirection: "to-lport", Default: true, SecurityGroups: []string{sgWeb}, Port: portVM2}
		if !equal(*b, want) {
			t.Errorf("SYN %d:\n got %+v\nwant %+v", i, *b, want)
		}
	}
	// The router solicitation's logical flow is not in this Southbound.
	if b := recs[4].Blocked; b == nil || b.LogicalFlow != "fa0ab1e1" || b.Reason != ReasonFlowUnknown || b.ACL != "" {
		t.Errorf("unknown flow: %+v", b)
	}
	if !strings.Contains(logs.String(), "observation_point=fa0ab1e1") {
		t.Errorf("the untraceable drop is not logged:\n%s", logs.String())
	}
	js := string(ecs.AppendFlow(nil, &recs[0]))
	for _, s := range []string{`"blocked":{"dropped":true,"source":"ovn-drop-sampling"`, `"security_group":{"id":["` + sgWeb + `"]}`,
		`"port":{"id":"` + portVM2 + `"}`, `"observation":{"first":false`, `"acl":{"id":"` + aclDropOut + `","direction":"to-lport"}`} {
		if !strings.Contains(js, s) {
			t.Errorf("%s not in %s", s, js)
		}
	}

	// The same packet leaving the sender (from-lport), another stage,
	// a group's own drop rule: built from the first SYN.
	syn := recs[0]
	syn.Blocked = nil
	check := func(lf string, want flow.Blocked) {
		t.Helper()
		r := syn
		p, _ := pointOf(lf)
		r.ObservationPointID = uint64(p)
		e.Enrich(&r)
		if r.Blocked == nil || !equal(*r.Blocked, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", lf, r.Blocked, want)
		}
	}
	check(lfDropIn, flow.Blocked{Source: flow.BlockedOVNDropSampling, LogicalFlow: lfDropIn, Stage: "ls_in_acl", ACL: aclDropIn,
		ACLDirection: "from-lport", Default: true, SecurityGroups: []string{sgWeb}, Port: portVM1})
	check(lfPortSec, flow.Blocked{Source: flow.BlockedOVNDropSampling, LogicalFlow: lfPortSec, Stage: "ls_in_port_sec_l2", Reason: ReasonNotACL})
	check(lfDeny, flow.Blocked{Source: flow.BlockedOVNDropSampling, LogicalFlow: lfDeny, Stage: "ls_out_acl", ACL: aclDeny,
		ACLDirection: "to-lport", SecurityGroups: []string{sgWeb}, SecurityGroupRule: ruleDeny, Port: portVM2})

	// Records that are not drop samples stay as they are: another
	// observation domain (Open vSwitch's per-bridge IPFIX), sFlow.
	other := syn
	other.SubAgent = 0
	e.Enrich(&other)
	sfl := syn
	sfl.Input = flow.InputSFlow
	e.Enrich(&sfl)
	if other.Blocked != nil || sfl.Blocked != nil {
		t.Error("a record outside the drop domain was marked")
	}

	// The logical flow goes (the security group changed): the next SYN
	// keeps the id only, with the reason; the change is followed.
	transact(t, sb, "OVN_Southbound", map[string]any{"op": "delete", "table": "Logical_Flow",
		"where": []any{[]any{"_uuid", "==", []any{"uuid", lfDropOut}}}})
	waitFor(t, "the deleted logical flow", func() bool {
		r := syn
		e.Enrich(&r)
		return r.Blocked.Reason == ReasonFlowUnknown && r.Blocked.LogicalFlow == "e755ed2a"
	})
	st := m.Stats()
	if st.Records < 8 || st.Traced < 6 || st.NotACL != 1 || st.FlowUnknown < 2 {
		t.Errorf("stats %+v", st)
	}
}

func equal(a, b flow.Blocked) bool {
	return reflect.DeepEqual(a, b)
}

// Without databases, drop samples are still marked, with the reason.
func TestDropsMarkedWithoutDatabases(t *testing.T) {
	var logs syncBuffer
	m := New(Config{DropDomainID: 1}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := decodeCapture(t)
	e := m.NewEnricher()
	for i := range recs {
		e.Enrich(&recs[i])
		if b := recs[i].Blocked; b == nil || b.Reason != ReasonNoDatabases || b.LogicalFlow == "" {
			t.Errorf("record %d: %+v", i, b)
		}
	}
	// Logged once, not once per sample.
	if n := strings.Count(logs.String(), "cannot be traced"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, logs.String())
	}
	// ovn-controller's physical tables sample their drops with the table
	// as the observation point (40: the sender's local output, for every
	// packet it tunnels to another chassis): counted, not kept.
	phys := recs[0]
	phys.Blocked, phys.ObservationPointID = nil, 40
	e.Enrich(&phys)
	if phys.Blocked == nil || phys.Blocked.Reason != ReasonPhysical || e.Keep(&phys) {
		t.Errorf("physical table's drop: %+v", phys.Blocked)
	}
	if !e.Keep(&recs[0]) {
		t.Error("a logical flow's drop sample not kept")
	}
	if st := m.Stats(); st.Physical != 1 {
		t.Errorf("stats %+v", st)
	}
	off := New(Config{}, slog.New(slog.NewTextHandler(&logs, nil)))
	r := recs[0]
	r.Blocked = nil
	off.NewEnricher().Enrich(&r)
	if r.Blocked != nil {
		t.Error("marked with drop_domain_id 0")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{DropDomainID: 256}, {NB: "127.0.0.1:6641", SB: "tcp:127.0.0.1:6642"}, {NB: "tcp:127.0.0.1:6641"}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if err := (Config{NB: "tcp:10.0.0.1:6641,tcp:10.0.0.2:6641", SB: "ssl:10.0.0.1:6642", DropDomainID: 1}).Validate(); err != nil {
		t.Error(err)
	}
}

// The Southbound's VIF port bindings reach OnPorts with their logical
// switch and its tunnel key (rows as the two-hypervisor lab had them:
// network flos-net-ovn, segmentation id 20423, datapath key 1); routers'
// ports and bindings of other types are left out; changes are followed.
func TestSouthboundPorts(t *testing.T) {
	nb, sb := startDB(t, nbSchema), startDBOn(t, sbSchema, true)
	const net = "faa25289-8520-4328-86f6-699d56c35513"
	insert := func(table, name string, row map[string]any) map[string]any {
		return map[string]any{"op": "insert", "table": table, "uuid-name": name, "row": row}
	}
	transact(t, sb, "OVN_Southbound",
		insert("Datapath_Binding", "dp1", map[string]any{"tunnel_key": 1,
			"external_ids": omap("name", "neutron-"+net, "name2", "flos-net-ovn", "logical-switch", "6f1b2c3d-0000-4000-8000-000000000001")}),
		insert("Port_Binding", "pb1", map[string]any{"logical_port": portVM1, "tunnel_key": 2, "datapath": []any{"named-uuid", "dp1"},
			"mac": []any{"set", []any{"fa:16:3e:08:7a:12 10.20.0.13"}}}),
		insert("Port_Binding", "pb2", map[string]any{"logical_port": "lrp-1", "type": "patch", "tunnel_key": 3, "datapath": []any{"named-uuid", "dp1"}}),
	)
	var logs syncBuffer
	m := New(Config{NB: nb, SB: sb, DropDomainID: 1}, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	var mu sync.Mutex
	var got []PortInfo
	m.OnPorts(func(ps []PortInfo) {
		mu.Lock()
		got = ps
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Run(ctx) }()
	read := func() []PortInfo {
		mu.Lock()
		defer mu.Unlock()
		return got
	}
	waitFor(t, "the Southbound's ports", func() bool { return len(read()) > 0 })
	ps := read()
	want := PortInfo{PortID: portVM1, MAC: "fa:16:3e:08:7a:12", IPs: []string{"10.20.0.13"}, Switch: "neutron-" + net,
		NetworkID: net, NetworkName: "flos-net-ovn", TunnelKey: 1}
	if len(ps) != 1 || !reflect.DeepEqual(ps[0], want) {
		t.Fatalf("ports %+v, want [%+v]", ps, want)
	}
	transact(t, sb, "OVN_Southbound", map[string]any{"op": "update", "table": "Datapath_Binding",
		"where": []any{[]any{"tunnel_key", "==", 1}}, "row": map[string]any{"tunnel_key": 7}})
	waitFor(t, "the new tunnel key", func() bool { ps := read(); return len(ps) == 1 && ps[0].TunnelKey == 7 })
}
