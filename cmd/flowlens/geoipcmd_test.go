package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/enrich/geoip"
)

// gzDB is a gzipped database in the shape of DB-IP Lite's.
func gzDB(t *testing.T, dbType string, entries map[string]mmdbtype.Map) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, v := range entries {
		_, n, _ := net.ParseCIDR(cidr)
		if err := tree.Insert(n, v); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := tree.WriteTo(zw); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return b.Bytes()
}

// `flowlens geoip update` against a local mirror: the databases land in
// the data directory, the status shows the attribution; again the same
// month, nothing is downloaded; without network, a clear error.
func TestGeoIPUpdateCommand(t *testing.T) {
	city := gzDB(t, "DBIP-City-Lite", map[string]mmdbtype.Map{"81.2.69.0/24": {
		"country":  mmdbtype.Map{"iso_code": mmdbtype.String("GB"), "names": mmdbtype.Map{"en": mmdbtype.String("United Kingdom")}},
		"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("London")}},
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(51.5), "longitude": mmdbtype.Float64(-0.09)},
	}})
	asn := gzDB(t, "DBIP-ASN-Lite (compat=GeoLite2-ASN)", map[string]mmdbtype.Map{"81.2.69.0/24": {
		"autonomous_system_number": mmdbtype.Uint32(20712), "autonomous_system_organization": mmdbtype.String("Andrews & Arnold Ltd")}})
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		switch {
		case strings.HasPrefix(r.URL.Path, "/dbip-city-lite-"):
			w.Write(city)
		case strings.HasPrefix(r.URL.Path, "/dbip-asn-lite-"):
			w.Write(asn)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"geoip", "update", "--store.path=" + dir,
		"--enrich.geoip.download.city_url=" + srv.URL + "/dbip-city-lite-{year}-{month}.mmdb.gz",
		"--enrich.geoip.download.asn_url=" + srv.URL + "/dbip-asn-lite-{year}-{month}.mmdb.gz"}
	var stdout, stderr bytes.Buffer
	if rc := run(args, &stdout, &stderr); rc != 0 {
		t.Fatalf("exit %d: %s %s", rc, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"city: " + filepath.Join(dir, "geoip", geoip.CityFile), "DBIP-City-Lite", "asn: ", "IP geolocation by DB-IP", "CC BY 4.0", "the collector uses them"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	stdout.Reset()
	if rc := run(args, &stdout, &stderr); rc != 0 || requests != 2 || !strings.Contains(stdout.String(), "kept") {
		t.Errorf("second run: exit %d, %d requests: %s", rc, requests, stdout.String())
	}

	// The collector's configuration finds them with nothing else set, and
	// the status shows what is loaded and the credit.
	cfg, err := config.Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Enrich.GeoIP.Download.Dir = filepath.Join(dir, "geoip")
	if !cfg.Enrich.GeoIP.Enabled() {
		t.Fatal("downloaded databases present, GeoIP not enabled")
	}
	db, err := geoip.Open(cfg.Enrich.GeoIP, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b, _ := json.Marshal(geoip.Status(cfg.Enrich.GeoIP, db, nil))
	for _, want := range []string{`"attribution":{"license":"CC BY 4.0"`, `"text":"IP geolocation by DB-IP"`, `"type":"DBIP-ASN-Lite (compat=GeoLite2-ASN)"`, `"kind":"city"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("status %s lacks %s", b, want)
		}
	}

	// No network: says what failed and what to set, exit status 1.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	stdout.Reset()
	stderr.Reset()
	rc := run([]string{"geoip", "update", "--force", "--store.path=" + dir,
		"--enrich.geoip.download.city_url=http://" + addr + "/c-{year}-{month}.mmdb.gz", "--enrich.geoip.download.asn_url="}, &stdout, &stderr)
	if rc != 1 || !strings.Contains(stderr.String(), "http://"+addr+"/c-") || !strings.Contains(stderr.String(), "enrich.geoip.download.city_url") {
		t.Errorf("no network: exit %d: %s", rc, stderr.String())
	}
	// The installed databases are still there.
	if _, err := os.Stat(filepath.Join(dir, "geoip", geoip.CityFile)); err != nil {
		t.Error(err)
	}
}

// Without any database, the status says what to run and set.
func TestGeoIPStatusHint(t *testing.T) {
	var c config.Enrich
	c.GeoIP.Download.Dir = t.TempDir()
	b, _ := json.Marshal(geoip.Status(c.GeoIP, nil, nil))
	for _, want := range []string{"flowlens geoip update", "enrich.geoip.download.enabled", "enrich.geoip.city_databases", `"download":{"dir"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("status %s lacks %s", b, want)
		}
	}
}
