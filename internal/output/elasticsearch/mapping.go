package elasticsearch

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Field types of every field flowlens writes. The lists follow
// docs/fields.md (a test keeps them in step with it and with what the
// encoders write); numbers get the smallest Elasticsearch type that holds
// every value the record field can take, so `long` in the field reference
// may be `integer` or `short` here.

// ecsFlowFields are the fields of flow documents in the ecs schema.
const ecsFlowFields = `
@timestamp date
event.kind keyword
event.dataset keyword
event.start date
event.end date
event.duration long
observer.ip ip
observer.ingress.interface.id keyword
observer.ingress.interface.name keyword
observer.ingress.vlan.id keyword
observer.egress.interface.id keyword
observer.egress.interface.name keyword
observer.egress.vlan.id keyword
source.ip ip
source.port integer
source.mac keyword
source.nat.ip ip
source.nat.port integer
source.as.number long
source.as.organization.name keyword
source.geo.country_iso_code keyword
source.geo.country_name keyword
source.geo.city_name keyword
source.geo.location geo_point
destination.ip ip
destination.port integer
destination.mac keyword
destination.nat.ip ip
destination.nat.port integer
destination.as.number long
destination.as.organization.name keyword
destination.geo.country_iso_code keyword
destination.geo.country_name keyword
destination.geo.city_name keyword
destination.geo.location geo_point
network.type keyword
network.transport keyword
network.iana_number keyword
network.bytes long
network.packets long
network.direction keyword
network.vlan.id keyword
network.inner.vlan.id keyword
flowlens.input keyword
flowlens.src.port.id keyword
flowlens.src.instance.id keyword
flowlens.src.instance.name keyword
flowlens.src.network.id keyword
flowlens.src.network.name keyword
flowlens.src.network.segmentation_id long
flowlens.src.project.id keyword
flowlens.src.project.name keyword
flowlens.src.host keyword
flowlens.src.source keyword
flowlens.dst.port.id keyword
flowlens.dst.instance.id keyword
flowlens.dst.instance.name keyword
flowlens.dst.network.id keyword
flowlens.dst.network.name keyword
flowlens.dst.network.segmentation_id long
flowlens.dst.project.id keyword
flowlens.dst.project.name keyword
flowlens.dst.host keyword
flowlens.dst.source keyword
flowlens.relation keyword
flowlens.observation.first boolean
flowlens.observation.point keyword
flowlens.agent.sub_id long
flowlens.sampling_rate long
flowlens.aggregate.samples long
flowlens.aggregate.overflow boolean
flowlens.netflow.sequence long
flowlens.netflow.biflow keyword
flowlens.netflow.engine_type short
flowlens.netflow.engine_id short
flowlens.netflow.template_id integer
flowlens.netflow.end_reason short
flowlens.netflow.observation_point_id long
flowlens.netflow.flow_direction keyword
flowlens.blocked.dropped boolean
flowlens.blocked.source keyword
flowlens.blocked.reason keyword
flowlens.blocked.logical_flow.id keyword
flowlens.blocked.logical_flow.stage keyword
flowlens.blocked.acl.id keyword
flowlens.blocked.acl.direction keyword
flowlens.blocked.default boolean
flowlens.blocked.security_group.id keyword
flowlens.blocked.security_group.rule_id keyword
flowlens.blocked.port.id keyword
flowlens.sflow.sequence long
flowlens.sflow.sample_sequence long
flowlens.sflow.source_id_type short
flowlens.sflow.source_id_index long
flowlens.sflow.sample_pool long
flowlens.sflow.drops long
flowlens.sflow.frame_length long
flowlens.sflow.stripped long
flowlens.sflow.header_length long
flowlens.sflow.header_protocol long
flowlens.ingress.format keyword
flowlens.ingress.index long
flowlens.ingress.count long
flowlens.ingress.reason long
flowlens.ingress.openflow_port long
flowlens.ingress.speed long
flowlens.egress.format keyword
flowlens.egress.index long
flowlens.egress.count long
flowlens.egress.reason long
flowlens.egress.openflow_port long
flowlens.egress.speed long
flowlens.header.parsed keyword
flowlens.header.truncated boolean
flowlens.ethertype keyword
flowlens.ip.tos short
flowlens.ip.ttl short
flowlens.ip.length integer
flowlens.ip.flow_label integer
flowlens.ip.fragment boolean
flowlens.ip.fragment_offset integer
flowlens.tcp.flags integer
flowlens.tcp.flag_names keyword
flowlens.icmp.type short
flowlens.icmp.code short
flowlens.arp.op integer
flowlens.mpls.labels integer
flowlens.tunnel.type keyword
flowlens.tunnel.vni long
flowlens.inner.source.ip ip
flowlens.inner.source.port integer
flowlens.inner.source.mac keyword
flowlens.inner.destination.ip ip
flowlens.inner.destination.port integer
flowlens.inner.destination.mac keyword
flowlens.inner.network.type keyword
flowlens.inner.network.transport keyword
flowlens.inner.network.iana_number keyword
flowlens.inner.network.vlan.id keyword
flowlens.inner.ip.tos short
flowlens.inner.ip.ttl short
flowlens.inner.ip.length integer
flowlens.inner.ip.flow_label integer
flowlens.inner.ip.fragment boolean
flowlens.inner.ip.fragment_offset integer
flowlens.inner.tcp.flags integer
flowlens.inner.tcp.flag_names keyword
flowlens.inner.icmp.type short
flowlens.inner.icmp.code short
flowlens.inner.arp.op integer
flowlens.inner.mpls.labels integer
flowlens.tunnel_egress.source.ip ip
flowlens.tunnel_egress.source.port integer
flowlens.tunnel_egress.destination.ip ip
flowlens.tunnel_egress.destination.port integer
flowlens.tunnel_egress.transport keyword
flowlens.tunnel_egress.vni long
flowlens.tunnel_ingress.source.ip ip
flowlens.tunnel_ingress.source.port integer
flowlens.tunnel_ingress.destination.ip ip
flowlens.tunnel_ingress.destination.port integer
flowlens.tunnel_ingress.transport keyword
flowlens.tunnel_ingress.vni long
flowlens.router.next_hop ip
flowlens.router.bgp_next_hop ip
flowlens.router.source_mask short
flowlens.router.destination_mask short
flowlens.bgp.peer_as long
flowlens.bgp.local_pref long
flowlens.bgp.as_path long
`

// ecsCounterFields are the fields of counter documents.
const ecsCounterFields = `
@timestamp date
event.kind keyword
event.dataset keyword
observer.ip ip
host.hostname keyword
flowlens.agent.sub_id long
flowlens.sflow.sequence long
flowlens.sflow.sample_sequence long
flowlens.sflow.source_id_type short
flowlens.sflow.source_id_index long
flowlens.interface.index long
flowlens.interface.name keyword
flowlens.interface.openflow_port long
flowlens.interface.datapath_id keyword
flowlens.interface.type long
flowlens.interface.speed long
flowlens.interface.direction long
flowlens.interface.admin_up boolean
flowlens.interface.oper_up boolean
flowlens.interface.in_octets long
flowlens.interface.in_ucast_pkts long
flowlens.interface.in_multicast_pkts long
flowlens.interface.in_broadcast_pkts long
flowlens.interface.in_discards long
flowlens.interface.in_errors long
flowlens.interface.in_unknown_protos long
flowlens.interface.out_octets long
flowlens.interface.out_ucast_pkts long
flowlens.interface.out_multicast_pkts long
flowlens.interface.out_broadcast_pkts long
flowlens.interface.out_discards long
flowlens.interface.out_errors long
flowlens.interface.promiscuous long
flowlens.interface.ethernet.alignment_errors long
flowlens.interface.ethernet.fcs_errors long
flowlens.interface.ethernet.single_collision_frames long
flowlens.interface.ethernet.multiple_collision_frames long
flowlens.interface.ethernet.sqe_test_errors long
flowlens.interface.ethernet.deferred_transmissions long
flowlens.interface.ethernet.late_collisions long
flowlens.interface.ethernet.excessive_collisions long
flowlens.interface.ethernet.internal_mac_transmit_errors long
flowlens.interface.ethernet.carrier_sense_errors long
flowlens.interface.ethernet.frame_too_longs long
flowlens.interface.ethernet.internal_mac_receive_errors long
flowlens.interface.ethernet.symbol_errors long
flowlens.vlan.id long
flowlens.vlan.octets long
flowlens.vlan.ucast_pkts long
flowlens.vlan.multicast_pkts long
flowlens.vlan.broadcast_pkts long
flowlens.vlan.discards long
flowlens.processor.cpu_5s_pct100 long
flowlens.processor.cpu_1m_pct100 long
flowlens.processor.cpu_5m_pct100 long
flowlens.processor.memory_total long
flowlens.processor.memory_free long
flowlens.datapath.hits long
flowlens.datapath.misses long
flowlens.datapath.lost long
flowlens.datapath.mask_hits long
flowlens.datapath.flows long
flowlens.datapath.masks long
flowlens.app.user_time_ms long
flowlens.app.system_time_ms long
flowlens.app.memory_used long
flowlens.app.memory_max long
flowlens.app.fd_open long
flowlens.app.fd_max long
flowlens.app.conn_open long
flowlens.app.conn_max long
flowlens.host.cpu.load_1m float
flowlens.host.cpu.load_5m float
flowlens.host.cpu.load_15m float
flowlens.host.cpu.processes_running long
flowlens.host.cpu.processes long
flowlens.host.cpu.count long
flowlens.host.cpu.speed_mhz long
flowlens.host.cpu.uptime_s long
flowlens.host.cpu.user_ms long
flowlens.host.cpu.nice_ms long
flowlens.host.cpu.system_ms long
flowlens.host.cpu.idle_ms long
flowlens.host.cpu.iowait_ms long
flowlens.host.cpu.irq_ms long
flowlens.host.cpu.softirq_ms long
flowlens.host.cpu.interrupts long
flowlens.host.cpu.context_switches long
flowlens.host.memory.total long
flowlens.host.memory.free long
flowlens.host.memory.shared long
flowlens.host.memory.buffers long
flowlens.host.memory.cached long
flowlens.host.memory.swap_total long
flowlens.host.memory.swap_free long
flowlens.host.memory.page_in long
flowlens.host.memory.page_out long
flowlens.host.memory.swap_in long
flowlens.host.memory.swap_out long
flowlens.host.disk.total long
flowlens.host.disk.free long
flowlens.host.disk.part_max_used_pct100 long
flowlens.host.disk.reads long
flowlens.host.disk.read_bytes long
flowlens.host.disk.read_time_ms long
flowlens.host.disk.writes long
flowlens.host.disk.write_bytes long
flowlens.host.disk.write_time_ms long
flowlens.host.net.in_bytes long
flowlens.host.net.in_pkts long
flowlens.host.net.in_errors long
flowlens.host.net.in_drops long
flowlens.host.net.out_bytes long
flowlens.host.net.out_pkts long
flowlens.host.net.out_errors long
flowlens.host.net.out_drops long
`

// compatFlowFields are the fields of flow documents in the netflow-compat
// schema: fluent-plugin-netflow's names and value types. "+keyword" gives
// a field a .keyword sub-field (keyword, ignore_above 256), as
// Elasticsearch's dynamic mapping gave every string of the Fluentd chain
// (text with a .keyword): saved searches and visualizations built on
// ipv4_src_addr.keyword or host.keyword keep working, while the field
// itself is an ip (or keyword) for range queries and CIDR filters.
// Dates were detected as dates, numbers as long, and geoip_pin had to be
// a geo_point for the chain's map: none of those had a .keyword.
const compatFlowFields = `
@timestamp date
host keyword +keyword
version short
uptime long
flow_records integer
flow_seq_num long
engine_type short
engine_id short
sampling_algorithm short
sampling_interval long
flowset_id integer
ipv4_src_addr ip +keyword
ipv4_dst_addr ip +keyword
ipv4_next_hop ip +keyword
ipv6_src_addr ip +keyword
ipv6_dst_addr ip +keyword
ipv6_next_hop ip +keyword
input_snmp long
output_snmp long
in_pkts long
in_bytes long
first_switched date
last_switched date
l4_src_port integer
l4_dst_port integer
tcp_flags integer
protocol short
src_tos short
src_as long
dst_as long
src_mask short
dst_mask short
in_src_mac keyword +keyword
in_dst_mac keyword +keyword
src_vlan integer
ip_protocol_version short
geoip_pin geo_point
`

type fieldDef struct {
	path, typ string
	// keyword: a .keyword sub-field (netflow-compat's strings).
	keyword bool
}

func parseFields(list string) []fieldDef {
	var out []fieldDef
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(line)
		out = append(out, fieldDef{f[0], f[1], len(f) > 2 && f[2] == "+keyword"})
	}
	return out
}

// keywordSubField is the .keyword of Elasticsearch's dynamic mapping of a
// string.
var keywordSubField = map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}}

var (
	flowFieldsECS    = parseFields(ecsFlowFields)
	counterFieldsECS = parseFields(ecsCounterFields)
	flowFieldsCompat = parseFields(compatFlowFields)
)

// mappings returns the "mappings" object of an index template.
func mappings(fields []fieldDef, schema string) map[string]any {
	props := map[string]any{}
	for _, f := range fields {
		parts := strings.Split(f.path, ".")
		m := props
		for _, p := range parts[:len(parts)-1] {
			obj, ok := m[p].(map[string]any)
			if !ok {
				obj = map[string]any{"properties": map[string]any{}}
				m[p] = obj
			}
			m = obj["properties"].(map[string]any)
		}
		leaf := map[string]any{"type": f.typ}
		if f.typ == "keyword" {
			leaf["ignore_above"] = 1024
		}
		if f.keyword {
			leaf["fields"] = keywordSubField
		}
		m[parts[len(parts)-1]] = leaf
	}
	return map[string]any{
		"_meta":   map[string]any{"managed_by": "flowlens", "schema": schema},
		"dynamic": true,
		// Fields added later (enrichment) are keywords, not analysed text.
		"dynamic_templates": []any{map[string]any{"strings_as_keyword": map[string]any{
			"match_mapping_type": "string",
			"mapping":            map[string]any{"type": "keyword", "ignore_above": 1024},
		}}},
		"properties": props,
	}
}

// mappedType returns the type of a dotted path in a mappings object, or "".
func mappedType(m map[string]any, path string) string {
	props, _ := m["properties"].(map[string]any)
	parts := strings.Split(path, ".")
	for i, p := range parts {
		v, ok := props[p].(map[string]any)
		if !ok {
			return ""
		}
		if i == len(parts)-1 {
			t, _ := v["type"].(string)
			if t == "" {
				return "object"
			}
			return t
		}
		if fields, ok := v["fields"].(map[string]any); ok && i == len(parts)-2 {
			// A multi-field: ipv4_src_addr.keyword.
			if sub, ok := fields[parts[i+1]].(map[string]any); ok {
				t, _ := sub["type"].(string)
				return t
			}
			return ""
		}
		props, _ = v["properties"].(map[string]any)
	}
	return ""
}

// templateVersion is bumped whenever the templates change.
const templateVersion = 1

// kind tells flows and counters apart.
type kind int

const (
	kindFlows kind = iota
	kindCounters
)

// names are the indices, data streams, templates and policy of one
// configuration.
type names struct {
	prefix     string
	dataStream bool
}

// target is the index or data stream a document goes to, without the date.
func (n names) target(k kind) string {
	if n.dataStream {
		if k == kindFlows {
			return n.prefix + "-flows"
		}
		return n.prefix + "-counters"
	}
	if k == kindFlows {
		return n.prefix + "-"
	}
	return n.prefix + "-counters-"
}

func (n names) template(k kind) string {
	if k == kindFlows {
		return "flowlens-" + n.prefix
	}
	return "flowlens-" + n.prefix + "-counters"
}

// patterns: flow-* and flow-counters-* (daily), flow-flows* and
// flow-counters* (data streams).
func (n names) patterns(k kind) []string { return []string{n.target(k) + "*"} }

// priority: the counters template must win over the flows one, whose
// pattern (flow-*) also matches counter indices.
func (n names) priority(k kind) int {
	if k == kindFlows {
		return 200
	}
	return 210
}

func (n names) policy() string { return "flowlens-" + n.prefix }

// templateBody builds the composable (or, for Elasticsearch before 7.8,
// legacy) index template of one record kind.
func templateBody(cfg *Config, info Info, k kind) ([]byte, error) {
	n := names{cfg.Index, cfg.DataStream}
	fields, schema := flowFieldsECS, SchemaECS
	if k == kindCounters {
		fields = counterFieldsECS
	} else if cfg.Schema == SchemaNetFlowCompat {
		fields, schema = flowFieldsCompat, SchemaNetFlowCompat
	}
	settings := map[string]any{}
	if cfg.Shards > 0 {
		settings["index.number_of_shards"] = cfg.Shards
	}
	if cfg.Replicas >= 0 {
		settings["index.number_of_replicas"] = cfg.Replicas
	}
	if cfg.RefreshInterval > 0 {
		settings["index.refresh_interval"] = fmt.Sprintf("%dms", cfg.RefreshInterval.Milliseconds())
	}
	if cfg.RetentionDays > 0 && !info.OpenSearch() {
		settings["index.lifecycle.name"] = n.policy()
	}
	mp := mappings(fields, schema)
	if !info.composable() {
		if cfg.DataStream {
			return nil, fmt.Errorf("data streams need Elasticsearch 7.9 or later (the cluster runs %s)", info.Version)
		}
		return json.Marshal(map[string]any{
			"index_patterns": n.patterns(k),
			"order":          n.priority(k),
			"version":        templateVersion,
			"settings":       settings,
			"mappings":       mp,
		})
	}
	body := map[string]any{
		"index_patterns": n.patterns(k),
		"priority":       n.priority(k),
		"version":        templateVersion,
		"_meta":          map[string]any{"managed_by": "flowlens", "schema": schema},
		"template":       map[string]any{"settings": settings, "mappings": mp},
	}
	if cfg.DataStream {
		body["data_stream"] = map[string]any{}
	}
	return json.Marshal(body)
}

// ilmPolicy is the Elasticsearch ILM retention policy.
func ilmPolicy(cfg *Config, info Info) []byte {
	hot := map[string]any{}
	if cfg.DataStream {
		ro := map[string]any{"max_age": "1d"}
		if info.atLeast(7, 13) {
			ro["max_primary_shard_size"] = "50gb"
		} else {
			ro["max_size"] = "50gb"
		}
		hot["rollover"] = ro
	}
	b, _ := json.Marshal(map[string]any{"policy": map[string]any{"phases": map[string]any{
		"hot":    map[string]any{"min_age": "0ms", "actions": hot},
		"delete": map[string]any{"min_age": fmt.Sprintf("%dd", cfg.RetentionDays), "actions": map[string]any{"delete": map[string]any{}}},
	}}})
	return b
}

// ismPolicy is the OpenSearch ISM retention policy; ism_template attaches it
// to new indices.
func ismPolicy(cfg *Config) []byte {
	n := names{cfg.Index, cfg.DataStream}
	hotActions := []any{}
	patterns := []string{n.prefix + "-*"}
	if cfg.DataStream {
		hotActions = append(hotActions, map[string]any{"rollover": map[string]any{"min_index_age": "1d"}})
		patterns = []string{".ds-" + n.prefix + "-*"}
	}
	b, _ := json.Marshal(map[string]any{"policy": map[string]any{
		"description":   fmt.Sprintf("flowlens: delete %s indices after %d days", n.prefix, cfg.RetentionDays),
		"default_state": "hot",
		"states": []any{
			map[string]any{"name": "hot", "actions": hotActions, "transitions": []any{
				map[string]any{"state_name": "delete", "conditions": map[string]any{"min_index_age": fmt.Sprintf("%dd", cfg.RetentionDays)}},
			}},
			map[string]any{"name": "delete", "actions": []any{map[string]any{"delete": map[string]any{}}}, "transitions": []any{}},
		},
		"ism_template": []any{map[string]any{"index_patterns": patterns, "priority": 100}},
	}})
	return b
}

// FieldTypes returns the mapped type of every field of a schema's flow
// documents ("ecs" or "netflow-compat") or, with counters set, of counter
// documents, sorted by name. For documentation and tests.
func FieldTypes(schema string, counters bool) [][2]string {
	fields := flowFieldsECS
	switch {
	case counters:
		fields = counterFieldsECS
	case schema == SchemaNetFlowCompat:
		fields = flowFieldsCompat
	}
	out := make([][2]string, len(fields))
	for i, f := range fields {
		out[i] = [2]string{f.path, f.typ}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}
