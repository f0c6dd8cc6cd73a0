package geoip

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// DownloadConfig configures `flowlens geoip update` and the collector's
// monthly refresh of free databases.
type DownloadConfig struct {
	// Enabled: the collector downloads the databases when they are missing
	// and refreshes them when a new month's are due.
	Enabled bool `yaml:"enabled"`
	// Dir is where the databases are kept; "" is geoip/ in the store's
	// directory (see store.path).
	Dir string `yaml:"dir"`
	// CityURL and ASNURL are the URLs, with {year} and {month} replaced by
	// the month's (2026 and 12); a .gz file is decompressed.
	CityURL string `yaml:"city_url"`
	ASNURL  string `yaml:"asn_url"`
	// CheckInterval is how often the collector checks whether a newer
	// month's databases are due (and retries after a failure).
	CheckInterval time.Duration `yaml:"check_interval"`
	// Timeout bounds one download.
	Timeout time.Duration `yaml:"timeout"`
}

// Files of the downloaded databases in DownloadConfig.Dir.
const (
	CityFile = "dbip-city-lite.mmdb"
	ASNFile  = "dbip-asn-lite.mmdb"
)

// maxDownload bounds a database (DB-IP Lite city is about 130 MB
// decompressed in 2026): a wrong URL must not fill the disk.
const maxDownload = 2 << 30

// Kind is the kind of a database: city or asn.
type Kind string

// Kinds of databases.
const (
	KindCity Kind = "city"
	KindASN  Kind = "asn"
)

// fits reports whether a database type (metadata database_type) is of the
// kind: DBIP-City-Lite, GeoLite2-City, GeoIP2-City; DBIP-ASN-Lite
// (compat=GeoLite2-ASN), GeoLite2-ASN.
func (k Kind) fits(dbType string) bool {
	t := strings.ToLower(dbType)
	if k == KindASN {
		return strings.Contains(t, "asn")
	}
	return strings.Contains(t, "city") || strings.Contains(t, "country") || strings.Contains(t, "location")
}

// Paths returns the downloaded databases' paths.
func (c DownloadConfig) Paths() (city, asn string) {
	return filepath.Join(c.Dir, CityFile), filepath.Join(c.Dir, ASNFile)
}

// URL returns a template's URL for the month of t.
func URL(template string, t time.Time) string {
	return strings.NewReplacer("{year}", strconv.Itoa(t.Year()), "{month}", fmt.Sprintf("%02d", int(t.Month()))).Replace(template)
}

// Downloaded describes one database installed by Update.
type Downloaded struct {
	Kind    Kind
	Path    string
	URL     string
	Type    string    // metadata database_type
	Built   time.Time // metadata build_epoch
	Size    int64
	Current bool // nothing downloaded: the installed one is this month's
}

// Installed reads the metadata of an installed database; ok is false when
// there is none (or it does not open).
func Installed(path string) (dbType string, built time.Time, ok bool) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return "", time.Time{}, false
	}
	defer r.Close()
	return r.Metadata.DatabaseType, r.Metadata.BuildTime(), true
}

// due reports whether the database at path is missing or older than the
// month of now.
func due(path string, now time.Time) bool {
	_, built, ok := Installed(path)
	if !ok {
		return true
	}
	y, m, _ := now.UTC().Date()
	by, bm, _ := built.UTC().Date()
	return by < y || by == y && bm < m
}

// Update downloads the city and ASN databases into c.Dir, checks them and
// replaces the installed ones atomically. Unless force is set, a database
// built this month is kept without downloading. A database that fails is
// reported and the installed one kept; the other is still updated.
func Update(ctx context.Context, c DownloadConfig, client *http.Client, now time.Time, force bool) ([]Downloaded, error) {
	if c.Dir == "" {
		return nil, errors.New("enrich.geoip.download.dir is empty")
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("GeoIP databases directory (enrich.geoip.download.dir): %w", err)
	}
	if client == nil {
		client = &http.Client{}
	}
	city, asn := c.Paths()
	var out []Downloaded
	var errs []error
	for _, d := range []struct {
		kind     Kind
		template string
		path     string
		setting  string
	}{
		{KindCity, c.CityURL, city, "enrich.geoip.download.city_url"},
		{KindASN, c.ASNURL, asn, "enrich.geoip.download.asn_url"},
	} {
		if d.template == "" {
			continue
		}
		if !force && !due(d.path, now) {
			typ, built, _ := Installed(d.path)
			out = append(out, Downloaded{Kind: d.kind, Path: d.path, Type: typ, Built: built, Current: true})
			continue
		}
		res, err := fetchMonth(ctx, c, client, d.kind, d.template, d.path, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s database: %w (the installed one, if any, is kept; set %s to a mirror, or download the file by hand and list it in enrich.geoip.%s_databases)",
				d.kind, err, d.setting, d.kind))
			continue
		}
		out = append(out, res)
	}
	return out, errors.Join(errs...)
}

// fetchMonth tries this month's URL, then last month's: DB-IP publishes a
// month's files on its first days.
func fetchMonth(ctx context.Context, c DownloadConfig, client *http.Client, kind Kind, template, path string, now time.Time) (Downloaded, error) {
	months := []time.Time{now}
	if strings.Contains(template, "{month}") {
		y, m, _ := now.Date()
		months = append(months, time.Date(y, m-1, 1, 0, 0, 0, 0, time.UTC))
	}
	var err error
	for i, month := range months {
		if i > 0 {
			// This month's is not published yet: last month's is only
			// worth fetching if what is installed is older.
			if typ, built, ok := Installed(path); ok && !built.Before(month) {
				return Downloaded{Kind: kind, Path: path, Type: typ, Built: built, Current: true}, nil
			}
		}
		url := URL(template, month)
		var res Downloaded
		res, err = fetch(ctx, c, client, kind, url, path)
		if err == nil {
			return res, nil
		}
		var nf notFound
		if !errors.As(err, &nf) || i == len(months)-1 {
			return Downloaded{}, err
		}
	}
	return Downloaded{}, err
}

type notFound struct{ url string }

func (e notFound) Error() string { return "GET " + e.url + ": HTTP 404 Not Found" }

// fetch downloads url into a temporary file next to path, checks it and
// renames it over path.
func fetch(ctx context.Context, c DownloadConfig, client *http.Client, kind Kind, url, path string) (Downloaded, error) {
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Downloaded{}, fmt.Errorf("URL %q: %w", url, err)
	}
	req.Header.Set("User-Agent", "flowlens-geoip-update")
	resp, err := client.Do(req)
	if err != nil {
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err // it repeats the method and URL
		}
		return Downloaded{}, fmt.Errorf("GET %s: %w (no network, or the host is not reachable from here)", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return Downloaded{}, notFound{url}
	}
	if resp.StatusCode/100 != 2 {
		return Downloaded{}, fmt.Errorf("GET %s: HTTP %s", url, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".download-*")
	if err != nil {
		return Downloaded{}, err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing to remove
	n, err := copyBody(tmp, resp, url)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Downloaded{}, err
	}
	typ, built, err := check(tmp.Name(), kind)
	if err != nil {
		return Downloaded{}, fmt.Errorf("%s: %w", url, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return Downloaded{}, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return Downloaded{}, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // the rename itself survives a crash
		d.Close()
	}
	return Downloaded{Kind: kind, Path: path, URL: url, Type: typ, Built: built, Size: n}, nil
}

// copyBody writes the response body to w, decompressing gzip (by its magic
// bytes, whatever the name or headers say), and tells a truncated
// transfer or a corrupt archive from a good one.
func copyBody(w io.Writer, resp *http.Response, url string) (int64, error) {
	body := bufio.NewReaderSize(resp.Body, 64<<10)
	var src io.Reader = body
	counted := &countReader{r: body}
	magic, _ := body.Peek(2)
	gz := bytes.Equal(magic, []byte{0x1f, 0x8b})
	if gz {
		zr, err := gzip.NewReader(counted)
		if err != nil {
			return 0, fmt.Errorf("GET %s: corrupt gzip: %w", url, err)
		}
		src = zr
	} else {
		src = counted
	}
	n, err := io.Copy(w, io.LimitReader(src, maxDownload+1))
	switch {
	case n > maxDownload:
		return n, fmt.Errorf("GET %s: larger than %d bytes: not a GeoIP database", url, int64(maxDownload))
	case errors.Is(err, io.ErrUnexpectedEOF) && (counted.err != nil || resp.ContentLength > 0 && counted.n < resp.ContentLength):
		return n, fmt.Errorf("GET %s: truncated download (%d bytes received%s)", url, counted.n, expected(resp))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return n, fmt.Errorf("GET %s: truncated download: the gzip data ends early (%d bytes, all the server sent)", url, counted.n)
	case err != nil && gz && counted.err == nil:
		return n, fmt.Errorf("GET %s: corrupt gzip: %w", url, err)
	case err != nil:
		return n, fmt.Errorf("GET %s: %w after %d bytes%s", url, err, counted.n, expected(resp))
	}
	if resp.ContentLength > 0 && counted.n != resp.ContentLength {
		return n, fmt.Errorf("GET %s: truncated download (%d bytes received of %d)", url, counted.n, resp.ContentLength)
	}
	return n, nil
}

func expected(resp *http.Response) string {
	if resp.ContentLength > 0 {
		return " of " + strconv.FormatInt(resp.ContentLength, 10)
	}
	return ""
}

// countReader counts what the transfer delivered and keeps its error, to
// tell a broken transfer from a corrupt archive.
type countReader struct {
	r   io.Reader
	n   int64
	err error // other than io.EOF
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// check opens a downloaded file as a MaxMind-format database of the kind
// expected and verifies it whole (search tree and data section): a file
// cut short or not a database fails here.
func check(path string, kind Kind) (dbType string, built time.Time, err error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("not a MaxMind-format (mmdb) database: %w", err)
	}
	defer r.Close()
	md := r.Metadata
	if !kind.fits(md.DatabaseType) {
		return "", time.Time{}, fmt.Errorf("database type %q is not a %s database", md.DatabaseType, kind)
	}
	if err := verify(r); err != nil {
		return "", time.Time{}, fmt.Errorf("damaged database (truncated or corrupt): %w", err)
	}
	return md.DatabaseType, md.BuildTime(), nil
}

// verify checks the whole database: the library's verifier, which also
// insists on a description in the metadata; for files without one
// (some mirrors and converters leave it out), every network of the search
// tree and every record is read instead.
func verify(r *maxminddb.Reader) error {
	if len(r.Metadata.Description) > 0 {
		return r.Verify()
	}
	n := 0
	for res := range r.Networks() {
		var v any
		if err := res.Decode(&v); err != nil {
			return fmt.Errorf("network %s: %w", res.Prefix(), err)
		}
		n++
	}
	if n == 0 {
		return errors.New("no network in the database")
	}
	return nil
}

// Refresher runs the collector's downloads: at start when the databases
// are missing, then whenever a new month's are due, checking every
// CheckInterval. It keeps the outcome for the status page.
type Refresher struct {
	cfg    DownloadConfig
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	// loaded is called after a database was replaced (the DB reloads).
	loaded func()

	mu          sync.Mutex
	lastAttempt time.Time
	lastSuccess time.Time
	lastError   string
	databases   []Downloaded
}

// NewRefresher returns a Refresher; loaded runs after each successful
// update.
func NewRefresher(cfg DownloadConfig, log *slog.Logger, loaded func()) *Refresher {
	return &Refresher{cfg: cfg, client: &http.Client{}, log: log, now: time.Now, loaded: loaded}
}

// Run updates when due, until ctx ends.
func (r *Refresher) Run(ctx context.Context) {
	interval := r.cfg.CheckInterval
	if interval <= 0 {
		interval = 24 * time.Hour
	}
	for {
		r.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Check downloads what is due; it never fails the collector, only logs
// and remembers what went wrong.
func (r *Refresher) Check(ctx context.Context) {
	now := r.now()
	city, asn := r.cfg.Paths()
	if !(r.cfg.CityURL != "" && due(city, now) || r.cfg.ASNURL != "" && due(asn, now)) {
		return
	}
	res, err := Update(ctx, r.cfg, r.client, now, false)
	r.mu.Lock()
	r.lastAttempt = now
	if len(res) > 0 {
		r.databases = res
	}
	if err != nil {
		r.lastError = err.Error()
	} else {
		r.lastError, r.lastSuccess = "", now
	}
	r.mu.Unlock()
	updated := false
	for _, d := range res {
		if !d.Current {
			updated = true
			r.log.Info("GeoIP database downloaded", "kind", d.Kind, "url", d.URL, "type", d.Type,
				"built", d.Built.UTC().Format("2006-01-02"), "path", d.Path, "attribution", Attribution)
		}
	}
	if err != nil {
		r.log.Warn("GeoIP database download failed; flowlens runs on without it (or with the previous one)", "error", err)
	}
	if updated && r.loaded != nil {
		r.loaded()
	}
}

// Status is the Refresher's state for /api/v1/status.
func (r *Refresher) Status() map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := map[string]any{"enabled": true, "dir": r.cfg.Dir, "city_url": r.cfg.CityURL, "asn_url": r.cfg.ASNURL,
		"check_interval": r.cfg.CheckInterval.String()}
	if !r.lastAttempt.IsZero() {
		st["last_attempt"] = r.lastAttempt.UTC()
	}
	if !r.lastSuccess.IsZero() {
		st["last_success"] = r.lastSuccess.UTC()
	}
	if r.lastError != "" {
		st["last_error"] = r.lastError
	}
	return st
}

// Attribution is the credit DB-IP's licence (CC BY 4.0) asks for.
const Attribution = "IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0"
