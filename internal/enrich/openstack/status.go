package openstack

// Status is the OpenStack part of /api/v1/status: the sources, what each
// reported and when, how much was attributed, and what to set when there
// is no source. inv and api may be nil.
func Status(c Config, inv *Inventory, api *APISource) map[string]any {
	o := map[string]any{"base_mac": c.BaseMAC, "uplink_bridges_export": c.UplinkBridgesExport}
	if inv != nil {
		st := inv.Stats()
		sources := []map[string]any{}
		for _, s := range st.Sources {
			sources = append(sources, map[string]any{"name": s.Name, "ports": s.Ports, "updated": s.Updated.UTC()})
		}
		o["ports"], o["sources"], o["conntrack_bridges"] = st.Ports, sources, inv.ConntrackBridges()
		o["flows"], o["source_attributed"], o["destination_attributed"] = st.Flows, st.Source, st.Destination
	}
	o["ovsdb"] = c.OVSDB
	a := map[string]any{"enabled": c.API.Enabled}
	if api != nil {
		ready := false
		select {
		case <-api.Ready():
			ready = true
		default:
		}
		a["read"], a["missing_services"], a["requests"] = ready, api.Missing(), api.Requests()
	}
	o["api"] = a
	if !c.Configured() {
		o["hint"] = "no OpenStack source: set enrich.openstack.ovsdb, .api.enabled or .static_file (docs/openstack.md)"
	}
	return o
}
