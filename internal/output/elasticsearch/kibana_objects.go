package elasticsearch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The saved objects are built from one description of each dashboard
// (dashboardSpec), rendered three ways:
//
//   - Lens visualizations and an Elastic Maps map, for Kibana 8.8 and later
//     (the saved object format of Kibana's own exports: lens objects with
//     state.datasourceStates.formBased, coreMigrationVersion 8.8.0);
//   - aggregation-based visualizations and an Elastic Maps map, for Kibana
//     7.10 to 8.7, whose Lens does not read that format;
//   - aggregation-based visualizations and coordinate maps (tile_map), for
//     OpenSearch Dashboards, a fork of Kibana 7.10 without Lens or Maps.

// Data view ids: stable, so that a new import replaces the previous one.
const (
	dataViewFlows    = "flowlens-flows"
	dataViewCounters = "flowlens-counters"
)

// Migration versions declared on the objects: what the objects are already
// in the shape of, so that Kibana runs only the later migrations. Lens
// 8.6.0 is the migration that renamed the indexpattern datasource to
// formBased (and a pie's metric to metrics); coreMigrationVersion 8.8.0 is
// the first that Kibana's exports carry next to typeMigrationVersion.
const (
	lensCoreMigration   = "8.8.0"
	lensTypeMigration   = "8.6.0"
	legacyCoreMigration = "8.0.0"
	// dashboardTypeMigration: the last dashboard migration before 8.8.
	dashboardTypeMigration = "8.7.0"
	// minLensVersion is the first Kibana that imports the Lens objects.
	minLensMajor, minLensMinor = 8, 8
)

type metricSpec struct {
	op    string // sum, max
	field string
	label string
}

type bucketSpec struct {
	field string
	label string
	size  int
}

// chartSpec is one visualization: kind "time" (stacked area of the first
// metric over @timestamp, split by the bucket if any), "table" (one row
// per combination of the buckets, a column per metric) or "pie" (the
// first metric by the bucket).
type chartSpec struct {
	id, title, desc string
	view            string
	kind            string
	metrics         []metricSpec
	buckets         []bucketSpec
	w, h            int
}

// geoLayer is one layer of the map: a geo_point grid of the metric.
type geoLayer struct {
	id, label, field, color string
}

type mapSpec struct {
	id, title, desc string
	view            string
	metric          metricSpec
	layers          []geoLayer
	w, h            int
}

// dashboardSpec is a dashboard: charts in order, the map after the first
// mapAfter charts.
type dashboardSpec struct {
	id, title, desc string
	charts          []chartSpec
	geo             mapSpec
	mapAfter        int
	// countOnce adds the pill filter on flowlens.observation.first.
	countOnce bool
}

// geoCredit is the credit DB-IP's licence (CC BY 4.0) asks for, on the
// maps that may show its data.
const geoCredit = "With flowlens's default databases (flowlens geoip update): IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0."

var sumBytes = metricSpec{"sum", "network.bytes", "Bytes"}
var sumPackets = metricSpec{"sum", "network.packets", "Packets"}

// ecsDashboard is the dashboard of the ecs schema.
var ecsDashboard = dashboardSpec{
	id: "flowlens-overview", title: "flowlens: traffic overview",
	desc:      "Flows and port counters collected by flowlens from Open vSwitch (ecs schema).",
	countOnce: true,
	charts: []chartSpec{
		{id: "flowlens-traffic", title: "flowlens: traffic over time", view: dataViewFlows, kind: "time",
			desc:    "Estimated bytes (sampled size x sampling rate) by transport protocol.",
			metrics: []metricSpec{sumBytes}, buckets: []bucketSpec{{"network.transport", "Transport", 6}}, w: 48, h: 14},
		{id: "flowlens-top-talkers", title: "flowlens: top talkers", view: dataViewFlows, kind: "table",
			desc:    "Source addresses sending the most bytes.",
			metrics: []metricSpec{sumBytes, sumPackets}, buckets: []bucketSpec{{"source.ip", "Source", 20}}, w: 24, h: 16},
		{id: "flowlens-protocols", title: "flowlens: protocol mix", view: dataViewFlows, kind: "pie",
			desc:    "Bytes by transport protocol.",
			metrics: []metricSpec{sumBytes}, buckets: []bucketSpec{{"network.transport", "Transport", 10}}, w: 24, h: 16},
		{id: "flowlens-vm-to-vm", title: "flowlens: VM-to-VM traffic", view: dataViewFlows, kind: "table",
			desc:    "Conversations between ports: Open vSwitch input port (the VM's tap/qvo/vhu port), source and destination addresses.",
			metrics: []metricSpec{sumBytes, sumPackets},
			buckets: []bucketSpec{{"observer.ingress.interface.name", "Input port", 20}, {"source.ip", "Source", 10},
				{"destination.ip", "Destination", 10}, {"observer.egress.interface.name", "Output port", 5}}, w: 48, h: 18},
		{id: "flowlens-port-counters", title: "flowlens: port counters", view: dataViewCounters, kind: "table",
			desc: "Interface counters per port (running totals from counter samples: the latest, and the largest error and discard counts).",
			metrics: []metricSpec{{"max", "flowlens.interface.in_octets", "In bytes"}, {"max", "flowlens.interface.out_octets", "Out bytes"},
				{"max", "flowlens.interface.in_discards", "In discards"}, {"max", "flowlens.interface.out_discards", "Out discards"},
				{"max", "flowlens.interface.in_errors", "In errors"}, {"max", "flowlens.interface.out_errors", "Out errors"}},
			buckets: []bucketSpec{{"observer.ip", "Agent", 20}, {"flowlens.interface.name", "Port", 100}}, w: 48, h: 18},
	},
	mapAfter: 4,
	geo: mapSpec{id: "flowlens-map", title: "flowlens: where traffic comes from and goes to", view: dataViewFlows,
		desc:   "Bytes by source and destination location (source.geo.location, destination.geo.location, set by GeoIP enrichment). " + geoCredit,
		metric: sumBytes, w: 48, h: 20,
		layers: []geoLayer{
			{"flowlens-sources", "Sources (bytes)", "source.geo.location", "#6092C0"},
			{"flowlens-destinations", "Destinations (bytes)", "destination.geo.location", "#D36086"},
		}},
}

var compatBytes = metricSpec{"sum", "in_bytes", "Bytes"}
var compatPackets = metricSpec{"sum", "in_pkts", "Packets"}

// compatDashboard is the dashboard of the netflow-compat schema: the
// charts the Fluentd chain's users built on fluent-plugin-netflow's
// fields (traffic over time, top sources, destinations, ports and
// conversations, protocols, exporters and their interfaces), and the map
// on geoip_pin.
var compatDashboard = dashboardSpec{
	id: "flowlens-compat-overview", title: "flowlens: NetFlow overview (netflow-compat)",
	desc: "Flows in fluent-plugin-netflow's fields (netflow-compat schema), with the map on geoip_pin.",
	charts: []chartSpec{
		{id: "flowlens-compat-traffic", title: "flowlens compat: traffic over time", view: dataViewFlows, kind: "time",
			desc:    "in_bytes by IP protocol number.",
			metrics: []metricSpec{compatBytes}, buckets: []bucketSpec{{"protocol", "Protocol", 6}}, w: 48, h: 14},
		{id: "flowlens-compat-sources", title: "flowlens compat: top sources", view: dataViewFlows, kind: "table",
			desc:    "ipv4_src_addr sending the most bytes.",
			metrics: []metricSpec{compatBytes, compatPackets}, buckets: []bucketSpec{{"ipv4_src_addr", "Source", 20}}, w: 24, h: 16},
		{id: "flowlens-compat-destinations", title: "flowlens compat: top destinations", view: dataViewFlows, kind: "table",
			desc:    "ipv4_dst_addr receiving the most bytes.",
			metrics: []metricSpec{compatBytes, compatPackets}, buckets: []bucketSpec{{"ipv4_dst_addr", "Destination", 20}}, w: 24, h: 16},
		{id: "flowlens-compat-protocols", title: "flowlens compat: protocol mix", view: dataViewFlows, kind: "pie",
			desc:    "Bytes by IP protocol number (6 TCP, 17 UDP, 1 ICMP).",
			metrics: []metricSpec{compatBytes}, buckets: []bucketSpec{{"protocol", "Protocol", 10}}, w: 16, h: 16},
		{id: "flowlens-compat-ports", title: "flowlens compat: top destination ports", view: dataViewFlows, kind: "table",
			desc:    "l4_dst_port receiving the most bytes.",
			metrics: []metricSpec{compatBytes, compatPackets}, buckets: []bucketSpec{{"l4_dst_port", "Port", 20}}, w: 16, h: 16},
		{id: "flowlens-compat-exporters", title: "flowlens compat: exporters", view: dataViewFlows, kind: "table",
			desc:    "Bytes per exporter (host).",
			metrics: []metricSpec{compatBytes, compatPackets}, buckets: []bucketSpec{{"host", "Exporter", 20}}, w: 16, h: 16},
		{id: "flowlens-compat-conversations", title: "flowlens compat: top conversations", view: dataViewFlows, kind: "table",
			desc:    "ipv4_src_addr to ipv4_dst_addr and l4_dst_port, by bytes.",
			metrics: []metricSpec{compatBytes, compatPackets},
			buckets: []bucketSpec{{"ipv4_src_addr", "Source", 10}, {"ipv4_dst_addr", "Destination", 10}, {"l4_dst_port", "Port", 5}}, w: 48, h: 18},
		{id: "flowlens-compat-interfaces", title: "flowlens compat: interfaces", view: dataViewFlows, kind: "table",
			desc:    "Bytes per exporter (host) and SNMP interface index (input_snmp, output_snmp).",
			metrics: []metricSpec{compatBytes, compatPackets},
			buckets: []bucketSpec{{"host", "Exporter", 10}, {"input_snmp", "Input", 10}, {"output_snmp", "Output", 10}}, w: 48, h: 16},
	},
	mapAfter: 3,
	geo: mapSpec{id: "flowlens-compat-map", title: "flowlens compat: geoip_pin", view: dataViewFlows,
		desc:   "Bytes by geoip_pin: the destination's location, as the Fluentd chain's fluent-plugin-geoip set it (the source's with output.elasticsearch.geoip_pin: source). " + geoCredit,
		metric: compatBytes, w: 48, h: 20,
		layers: []geoLayer{{"flowlens-compat-pins", "geoip_pin (bytes)", "geoip_pin", "#6092C0"}}},
}

// kibanaTarget says which rendering to produce.
type kibanaTarget struct {
	flavor string
	// lens: Kibana 8.8 or later.
	lens bool
	// kibana7: no Kibana 8 migration marker either.
	kibana7 bool
}

// targetFor picks the rendering for a flavor and version ("" or
// unparsable: the latest).
func targetFor(flavor, version string) kibanaTarget {
	if flavor == FlavorOSD {
		return kibanaTarget{flavor: FlavorOSD}
	}
	t := kibanaTarget{flavor: FlavorKibana, lens: true}
	parts := strings.SplitN(version, ".", 3)
	major, err := strconv.Atoi(parts[0])
	if err != nil || major == 0 {
		return t
	}
	minor := 0
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	t.lens = major > minLensMajor || major == minLensMajor && minor >= minLensMinor
	t.kibana7 = major < 8
	return t
}

type obj = map[string]any

func ref(name, typ, id string) obj { return obj{"name": name, "type": typ, "id": id} }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings and numbers only
	}
	return string(b)
}

// fieldTypes maps each field of a data view to its mapped type.
func fieldTypes(schema, view string) map[string]string {
	fields := flowFieldsECS
	switch {
	case view == dataViewCounters:
		fields = counterFieldsECS
	case schema == SchemaNetFlowCompat:
		fields = flowFieldsCompat
	}
	m := make(map[string]string, len(fields))
	for _, f := range fields {
		m[f.path] = f.typ
	}
	return m
}

// lensDataType is a Lens column's dataType for a mapped type.
func lensDataType(typ string) string {
	switch typ {
	case "keyword", "text":
		return "string"
	case "ip", "date", "boolean":
		return typ
	}
	return "number"
}

// buildObjects renders the data views and the dashboard of a schema.
func buildObjects(prefix, schema string, t kibanaTarget) []obj {
	dv := func(id, title string) obj {
		o := obj{"id": id, "type": "index-pattern", "attributes": obj{"title": title, "timeFieldName": "@timestamp"}, "references": []any{}}
		if t.flavor == FlavorKibana && !t.kibana7 {
			o["coreMigrationVersion"] = legacyCoreMigration
		}
		return o
	}
	out := []obj{
		dv(dataViewFlows, prefix+"-*,-"+prefix+"-counters*"),
		dv(dataViewCounters, prefix+"-counters*"),
	}
	d := ecsDashboard
	if schema == SchemaNetFlowCompat {
		d = compatDashboard
	}
	types := map[string]map[string]string{
		dataViewFlows:    fieldTypes(schema, dataViewFlows),
		dataViewCounters: fieldTypes(schema, dataViewCounters),
	}
	type panel struct {
		typ, id string
		w, h    int
	}
	var panels []panel
	addChart := func(c chartSpec) {
		if t.lens {
			out = append(out, lensChart(c, types[c.view]))
			panels = append(panels, panel{"lens", c.id, c.w, c.h})
		} else {
			out = append(out, legacyChart(c, t))
			panels = append(panels, panel{"visualization", c.id, c.w, c.h})
		}
	}
	for i, c := range d.charts {
		if i == d.mapAfter {
			if t.flavor == FlavorOSD {
				// One coordinate map per layer, side by side.
				w := d.geo.w / len(d.geo.layers)
				for _, l := range d.geo.layers {
					out = append(out, coordinateMap(d.geo, l, t))
					panels = append(panels, panel{"visualization", l.id, w, d.geo.h})
				}
			} else {
				out = append(out, elasticMap(d.geo, t))
				panels = append(panels, panel{"map", d.geo.id, d.geo.w, d.geo.h})
			}
		}
		addChart(c)
	}
	// The dashboard: panels flow left to right, top to bottom, on Kibana's
	// 48-column grid.
	var pj []obj
	var refs []any
	x, y, rowH := 0, 0, 0
	for i, p := range panels {
		if x+p.w > 48 {
			x, y, rowH = 0, y+rowH, 0
		}
		idx := strconv.Itoa(i + 1)
		pp := obj{"gridData": obj{"x": x, "y": y, "w": p.w, "h": p.h, "i": idx}, "panelIndex": idx,
			"embeddableConfig": obj{"enhancements": obj{}}}
		if t.lens {
			// Kibana 8's own format: the reference named after the panel.
			pp["version"], pp["type"], pp["panelRefName"] = lensCoreMigration, p.typ, "panel_"+idx
			refs = append(refs, ref(idx+":panel_"+idx, p.typ, p.id))
		} else {
			version := "8.0.0"
			if t.flavor == FlavorOSD {
				version = "7.10.2"
				pp["embeddableConfig"] = obj{}
			} else if t.kibana7 {
				version = "7.10.0"
			}
			pp["version"], pp["panelRefName"] = version, fmt.Sprintf("panel_%d", i)
			refs = append(refs, ref(fmt.Sprintf("panel_%d", i), p.typ, p.id))
		}
		pj = append(pj, pp)
		x += p.w
		rowH = max(rowH, p.h)
	}
	var filters []any
	if d.countOnce {
		q := obj{"bool": obj{"must_not": obj{"term": obj{"flowlens.observation.first": false}}}}
		filters = append(filters, obj{
			"meta": obj{"alias": "Each packet once (where it entered the cloud) — disable to count every observation",
				"negate": false, "disabled": false, "type": "custom", "key": "query", "value": mustJSON(q),
				"indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.filter[0].meta.index"},
			"query": q, "$state": obj{"store": "appState"},
		})
		refs = append(refs, ref("kibanaSavedObjectMeta.searchSourceJSON.filter[0].meta.index", "index-pattern", dataViewFlows))
	}
	if filters == nil {
		filters = []any{}
	}
	dash := obj{"id": d.id, "type": "dashboard", "attributes": obj{
		"title": d.title, "description": d.desc, "panelsJSON": mustJSON(pj),
		"optionsJSON": `{"useMargins":true,"syncColors":false,"hidePanelTitles":false}`,
		"timeRestore": true, "timeFrom": "now-24h", "timeTo": "now",
		"refreshInterval": obj{"pause": false, "value": 60000}, "version": 1,
		"kibanaSavedObjectMeta": obj{"searchSourceJSON": mustJSON(obj{"query": obj{"query": "", "language": "kuery"}, "filter": filters})},
	}, "references": refs}
	if t.flavor == FlavorKibana && !t.kibana7 {
		dash["coreMigrationVersion"] = legacyCoreMigration
		if t.lens {
			// In Kibana 8.8's own export format; the panels' references
			// are already extracted, so the older migrations need not run.
			dash["coreMigrationVersion"], dash["typeMigrationVersion"] = lensCoreMigration, dashboardTypeMigration
		}
	}
	return append(out, dash)
}

// lensChart renders a chart as a Lens visualization.
func lensChart(c chartSpec, types map[string]string) obj {
	const layer = "layer1"
	cols := obj{}
	var order []string
	metricID := func(i int) string { return fmt.Sprintf("metric%d", i) }
	bucketID := func(i int) string { return fmt.Sprintf("bucket%d", i) }
	if c.kind == "time" {
		cols["time"] = obj{"label": "@timestamp", "dataType": "date", "operationType": "date_histogram",
			"sourceField": "@timestamp", "isBucketed": true, "scale": "interval",
			"params": obj{"interval": "auto", "includeEmptyRows": true, "dropPartials": false}}
		order = append(order, "time")
	}
	for i, b := range c.buckets {
		cols[bucketID(i)] = obj{"label": b.label, "customLabel": true, "dataType": lensDataType(types[b.field]),
			"operationType": "terms", "sourceField": b.field, "isBucketed": true, "scale": "ordinal",
			"params": obj{"size": b.size, "orderBy": obj{"type": "column", "columnId": metricID(0)}, "orderDirection": "desc",
				"otherBucket": c.kind == "pie", "missingBucket": false, "parentFormat": obj{"id": "terms"}}}
		order = append(order, bucketID(i))
	}
	for i, m := range c.metrics {
		cols[metricID(i)] = obj{"label": m.label, "customLabel": true, "dataType": "number", "operationType": m.op,
			"sourceField": m.field, "isBucketed": false, "scale": "ratio", "params": obj{"emptyAsNull": true}}
		order = append(order, metricID(i))
	}
	var vis obj
	var visType string
	switch c.kind {
	case "time":
		visType = "lnsXY"
		l := obj{"layerId": layer, "layerType": "data", "seriesType": "area_stacked", "xAccessor": "time",
			"accessors": []string{metricID(0)}, "position": "top", "showGridlines": false}
		if len(c.buckets) > 0 {
			l["splitAccessor"] = bucketID(0)
		}
		vis = obj{"legend": obj{"isVisible": true, "position": "right"}, "valueLabels": "hide",
			"preferredSeriesType": "area_stacked", "fittingFunction": "None", "layers": []any{l}}
	case "pie":
		visType = "lnsPie"
		vis = obj{"shape": "donut", "layers": []any{obj{"layerId": layer, "layerType": "data",
			"primaryGroups": []string{bucketID(0)}, "metrics": []string{metricID(0)},
			"numberDisplay": "percent", "categoryDisplay": "default", "legendDisplay": "default", "nestedLegend": false}}}
	default:
		visType = "lnsDatatable"
		var vc []any
		for _, id := range order {
			vc = append(vc, obj{"columnId": id, "isTransposed": false})
		}
		vis = obj{"layerId": layer, "layerType": "data", "columns": vc,
			"sorting": obj{"columnId": metricID(0), "direction": "desc"}}
	}
	return obj{
		"id": c.id, "type": "lens",
		"coreMigrationVersion": lensCoreMigration, "typeMigrationVersion": lensTypeMigration,
		"attributes": obj{
			"title": c.title, "description": c.desc, "visualizationType": visType,
			"state": obj{
				"datasourceStates": obj{"formBased": obj{"layers": obj{layer: obj{
					"columns": cols, "columnOrder": order, "incompleteColumns": obj{}}}}},
				"visualization":      vis,
				"query":              obj{"query": "", "language": "kuery"},
				"filters":            []any{},
				"internalReferences": []any{},
				"adHocDataViews":     obj{},
			},
		},
		"references": []any{ref("indexpattern-datasource-layer-"+layer, "index-pattern", c.view)},
	}
}

// Parameters of the aggregation-based visualizations, as Kibana 7.10
// writes them.
const (
	legacyAreaParams  = `{"type":"area","grid":{"categoryLines":false},"categoryAxes":[{"id":"CategoryAxis-1","type":"category","position":"bottom","show":true,"style":{},"scale":{"type":"linear"},"labels":{"show":true,"filter":true,"truncate":100},"title":{}}],"valueAxes":[{"id":"ValueAxis-1","name":"LeftAxis-1","type":"value","position":"left","show":true,"style":{},"scale":{"type":"linear","mode":"normal"},"labels":{"show":true,"rotate":0,"filter":false,"truncate":100},"title":{"text":"Bytes"}}],"seriesParams":[{"show":true,"type":"area","mode":"stacked","data":{"label":"Bytes","id":"1"},"drawLinesBetweenPoints":true,"lineWidth":2,"showCircles":true,"interpolate":"linear","valueAxis":"ValueAxis-1"}],"addTooltip":true,"addLegend":true,"legendPosition":"right","times":[],"addTimeMarker":false,"thresholdLine":{"show":false,"value":10,"width":1,"style":"full","color":"#E7664C"},"labels":{},"palette":{"type":"palette","name":"default"}}`
	legacyTableParams = `{"perPage":20,"showPartialRows":false,"showMetricsAtAllLevels":false,"showTotal":true,"totalFunc":"sum","percentageCol":"","autoFitRowToContent":false}`
	legacyPieParams   = `{"type":"pie","addTooltip":true,"addLegend":true,"legendDisplay":"show","legendPosition":"right","isDonut":true,"distinctColors":true,"labels":{"show":true,"values":true,"last_level":true,"truncate":100},"palette":{"type":"palette","name":"default"}}`
	legacyMapParams   = `{"colorSchema":"Yellow to Red","mapType":"Scaled Circle Markers","isDesaturated":true,"addTooltip":true,"heatClusterSize":1.5,"legendPosition":"bottomright","mapZoom":2,"mapCenter":[20,0],"wms":{"enabled":false,"options":{"format":"image/png","transparent":true}}}`
)

func legacyVis(id, title, desc, view string, visState obj, t kibanaTarget) obj {
	o := obj{"id": id, "type": "visualization", "attributes": obj{
		"title": title, "description": desc, "version": 1, "uiStateJSON": "{}",
		"visState": mustJSON(visState),
		"kibanaSavedObjectMeta": obj{"searchSourceJSON": mustJSON(obj{"query": obj{"query": "", "language": "kuery"},
			"filter": []any{}, "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"})},
	}, "references": []any{ref("kibanaSavedObjectMeta.searchSourceJSON.index", "index-pattern", view)}}
	if t.flavor == FlavorKibana && !t.kibana7 {
		o["coreMigrationVersion"] = legacyCoreMigration
	}
	return o
}

// legacyChart renders a chart as an aggregation-based visualization.
func legacyChart(c chartSpec, t kibanaTarget) obj {
	var aggs []any
	n := 0
	add := func(typ, schema string, params obj) {
		n++
		aggs = append(aggs, obj{"id": strconv.Itoa(n), "enabled": true, "type": typ, "schema": schema, "params": params})
	}
	for _, m := range c.metrics {
		add(m.op, "metric", obj{"field": m.field, "customLabel": m.label})
	}
	terms := func(b bucketSpec, schema string) {
		add("terms", schema, obj{"field": b.field, "size": b.size, "order": "desc", "orderBy": "1", "otherBucket": false,
			"otherBucketLabel": "Other", "missingBucket": false, "missingBucketLabel": "Missing", "customLabel": b.label})
	}
	var params json.RawMessage
	typ := c.kind
	switch c.kind {
	case "time":
		typ, params = "area", json.RawMessage(strings.Replace(legacyAreaParams, `"Bytes"`, strconv.Quote(c.metrics[0].label), -1))
		add("date_histogram", "segment", obj{"field": "@timestamp", "useNormalizedEsInterval": true, "scaleMetricValues": false,
			"interval": "auto", "drop_partials": false, "min_doc_count": 1, "extended_bounds": obj{}})
		for _, b := range c.buckets {
			terms(b, "group")
		}
	case "pie":
		params = json.RawMessage(legacyPieParams)
		for _, b := range c.buckets {
			terms(b, "segment")
		}
	default:
		params = json.RawMessage(legacyTableParams)
		for _, b := range c.buckets {
			terms(b, "bucket")
		}
	}
	return legacyVis(c.id, c.title, c.desc, c.view, obj{"title": c.title, "type": typ, "aggs": aggs, "params": params}, t)
}

// coordinateMap renders one layer of a map as a coordinate map
// (OpenSearch Dashboards).
func coordinateMap(m mapSpec, l geoLayer, t kibanaTarget) obj {
	title := m.title
	if len(m.layers) > 1 {
		title += ": " + strings.TrimSuffix(l.label, " (bytes)")
	}
	vs := obj{"title": title, "type": "tile_map", "params": json.RawMessage(legacyMapParams), "aggs": []any{
		obj{"id": "1", "enabled": true, "type": m.metric.op, "schema": "metric", "params": obj{"field": m.metric.field, "customLabel": m.metric.label}},
		obj{"id": "2", "enabled": true, "type": "geohash_grid", "schema": "segment", "params": obj{"field": l.field, "autoPrecision": true,
			"isFilteredByCollar": true, "useGeocentroid": true, "mapZoom": 2, "mapCenter": []float64{20, 0}, "precision": 2}},
	}}
	return legacyVis(l.id, title, m.desc+" Coordinate map: "+l.field+".", m.view, vs, t)
}

// elasticMap renders a map as an Elastic Maps map: a base map and a
// geo_point grid layer per location field.
func elasticMap(m mapSpec, t kibanaTarget) obj {
	layers := []any{obj{"id": "basemap", "type": "EMS_VECTOR_TILE", "label": nil, "minZoom": 0, "maxZoom": 24, "alpha": 1,
		"visible": true, "includeInFitToBounds": true,
		"sourceDescriptor": obj{"type": "EMS_TMS", "isAutoSelect": true, "lightModeDefault": "road_map_desaturated"},
		"style":            obj{"type": "EMS_VECTOR_TILE", "color": ""}}}
	var refs []any
	metricName := m.metric.op + "_of_" + m.metric.field
	for i, l := range m.layers {
		refName := fmt.Sprintf("layer_%d_source_index_pattern", i+1)
		refs = append(refs, ref(refName, "index-pattern", m.view))
		layers = append(layers, obj{"id": l.id, "type": "GEOJSON_VECTOR", "label": l.label, "minZoom": 0, "maxZoom": 24,
			"alpha": 0.75, "visible": true, "includeInFitToBounds": true, "joins": []any{},
			"sourceDescriptor": obj{"type": "ES_GEO_GRID", "id": l.id + "-source", "geoField": l.field, "requestType": "point",
				"resolution": "COARSE", "metrics": []any{obj{"type": m.metric.op, "field": m.metric.field}},
				"applyGlobalQuery": true, "applyGlobalTime": true, "applyForceRefresh": true, "indexPatternRefName": refName},
			"style": obj{"type": "VECTOR", "isTimeAware": true, "properties": obj{
				"icon":        obj{"type": "STATIC", "options": obj{"value": "marker"}},
				"fillColor":   obj{"type": "STATIC", "options": obj{"color": l.color}},
				"lineColor":   obj{"type": "STATIC", "options": obj{"color": "#FFFFFF"}},
				"lineWidth":   obj{"type": "STATIC", "options": obj{"size": 1}},
				"iconSize":    obj{"type": "DYNAMIC", "options": obj{"minSize": 4, "maxSize": 32, "field": obj{"name": metricName, "origin": "source"}, "fieldMetaOptions": obj{"isEnabled": true, "sigma": 3}}},
				"symbolizeAs": obj{"options": obj{"value": "circle"}},
			}}})
	}
	o := obj{"id": m.id, "type": "map", "attributes": obj{
		"title": m.title, "description": m.desc, "layerListJSON": mustJSON(layers),
		"mapStateJSON": `{"zoom":1.5,"center":{"lon":0,"lat":20},"timeFilters":{"from":"now-24h","to":"now"},"refreshConfig":{"isPaused":false,"interval":60000},"query":{"query":"","language":"kuery"},"filters":[],"settings":{"autoFitToDataBounds":false}}`,
		"uiStateJSON":  `{"isLayerTOCOpen":true,"openTOCDetails":[]}`,
	}, "references": refs}
	if !t.kibana7 {
		o["coreMigrationVersion"] = legacyCoreMigration
	}
	return o
}
