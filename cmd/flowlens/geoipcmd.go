package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/flowlens/flowlens/internal/enrich/geoip"
)

const geoipUsage = `Usage:
  flowlens geoip update [--force] [--config FILE] [--SETTING=VALUE ...]
      download the free GeoIP databases (DB-IP Lite city and ASN, CC BY 4.0)
      into enrich.geoip.download.dir, check them and replace the installed ones;
      a running collector picks them up without a restart. Databases already
      built this month are kept unless --force.
`

func cmdGeoIP(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "update" {
		fmt.Fprint(stderr, geoipUsage)
		return errUsage
	}
	fs := newFlagSet("flowlens geoip update", stderr)
	force := fs.Bool("force", false, "download even when the installed databases are this month's")
	cfg, err := loadConfig(fs, args[1:])
	if err != nil {
		return err
	}
	d := cfg.Enrich.GeoIP.Download
	if d.CityURL == "" && d.ASNURL == "" {
		return fmt.Errorf("enrich.geoip.download.city_url and asn_url are empty: nothing to download")
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
	defer cancel()
	res, err := geoip.Update(ctx, d, &http.Client{}, time.Now(), *force)
	for _, r := range res {
		if r.Current {
			fmt.Fprintf(stdout, "%s: %s (%s, built %s) is up to date: kept (--force to download again)\n",
				r.Kind, r.Path, r.Type, r.Built.UTC().Format("2006-01-02"))
			continue
		}
		fmt.Fprintf(stdout, "%s: %s (%s, built %s, %.1f MB) from %s\n",
			r.Kind, r.Path, r.Type, r.Built.UTC().Format("2006-01-02"), float64(r.Size)/1e6, r.URL)
	}
	if len(res) > 0 {
		fmt.Fprintln(stdout, geoip.Attribution)
		fmt.Fprintln(stdout, geoipUseHint(cfg.Enrich.GeoIP))
	}
	return err
}

// geoipUseHint says whether the collector will use what was downloaded.
func geoipUseHint(c geoip.Config) string {
	switch {
	case len(c.CityDatabases) > 0 && len(c.ASNDatabases) > 0:
		return "note: enrich.geoip.city_databases and asn_databases are set, so the collector uses those files, not these; empty them to use these"
	case len(c.CityDatabases) > 0:
		return "note: enrich.geoip.city_databases is set, so the collector uses it for geography and only the ASN database from here"
	case len(c.ASNDatabases) > 0:
		return "note: enrich.geoip.asn_databases is set, so the collector uses it for AS numbers and only the city database from here"
	}
	return fmt.Sprintf("the collector uses them (a running one within enrich.geoip.reload_interval, %s)", c.ReloadInterval)
}
