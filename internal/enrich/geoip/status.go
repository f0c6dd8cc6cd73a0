package geoip

// Status is the geoip part of /api/v1/status: what is loaded, the
// credit its licence asks for, the downloads, and what to set when there
// is nothing.
func Status(c Config, geo *DB, ref *Refresher) map[string]any {
	g := map[string]any{"enabled": geo != nil, "city_databases": c.CityDatabases, "asn_databases": c.ASNDatabases}
	if geo != nil {
		st := geo.Stats()
		g["lookups"], g["found"] = st.Lookups, st.Found
		loaded, missing := geo.Databases()
		if loaded == nil {
			loaded = []DatabaseInfo{}
		}
		g["databases"] = loaded
		if len(missing) > 0 {
			g["missing"] = missing
		}
		if a := geo.Attribution(); a != "" {
			g["attribution"] = map[string]any{"text": "IP geolocation by DB-IP", "url": "https://db-ip.com",
				"license": "CC BY 4.0", "license_url": "https://creativecommons.org/licenses/by/4.0/"}
		}
		switch {
		case len(loaded) > 0:
		case c.Download.Enabled:
			g["hint"] = "no GeoIP database loaded yet: the collector downloads them (download.last_error says what failed; set enrich.geoip.download.city_url and asn_url to a mirror, or run `flowlens geoip update` where there is network and copy " +
				c.Download.Dir + " here) (docs/operations.md#geography-geoip-databases)"
		default:
			g["hint"] = "no GeoIP database loaded yet: run `flowlens geoip update`, or set enrich.geoip.download.enabled: true (DB-IP Lite, CC BY 4.0) or enrich.geoip.city_databases (docs/operations.md#geography-geoip-databases)"
		}
	} else {
		g["hint"] = "no GeoIP database: run `flowlens geoip update` (DB-IP Lite, CC BY 4.0), or set enrich.geoip.download.enabled: true, or enrich.geoip.city_databases and asn_databases to MaxMind-format files (docs/operations.md#geography-geoip-databases)"
	}
	if ref != nil {
		g["download"] = ref.Status()
	} else {
		g["download"] = map[string]any{"enabled": false, "dir": c.Download.Dir}
	}
	return g
}
