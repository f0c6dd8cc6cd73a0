package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"github.com/flowlens/flowlens/internal/secret"
	"github.com/flowlens/flowlens/internal/unanswered"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzhttp"
	"golang.org/x/crypto/bcrypt"
)

// Authentication modes.
const (
	AuthNone  = "none"
	AuthToken = "token"
	AuthBasic = "basic"
)

// Secret is a token or password hash; it prints as "[redacted]".
type Secret = secret.Secret

// Auth configures who may use the console.
type Auth struct {
	// Mode is none, token or basic.
	Mode string `yaml:"mode"`
	// Token, for mode token: sent as "Authorization: Bearer TOKEN" (or in
	// the flowlens_token cookie).
	Token     Secret `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Username and PasswordHash (bcrypt, from `flowlens console
	// hash-password` or htpasswd -nbB), for mode basic.
	Username         string `yaml:"username"`
	PasswordHash     Secret `yaml:"password_hash"`
	PasswordHashFile string `yaml:"password_hash_file"`
}

// TLS configures HTTPS.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Config is the console configuration (the console: block).
type Config struct {
	// Enabled serves the console and its API.
	Enabled bool `yaml:"enabled"`
	// Listen is the HTTP address, 127.0.0.1:8080 by default.
	Listen string `yaml:"listen"`
	Auth   Auth   `yaml:"auth"`
	// AllowNoAuthOnNonLoopback lets the console listen on a non-loopback
	// address without authentication (something else must protect it).
	AllowNoAuthOnNonLoopback bool `yaml:"allow_no_auth_on_non_loopback"`
	TLS                      TLS  `yaml:"tls"`
	// QueryTimeout bounds one API query.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// Unanswered: the inference of GET /api/v1/unanswered.
	Unanswered unanswered.Config `yaml:"unanswered"`
	// Assets are the console's static files (package
	// internal/console/assets), served at /; nil serves a placeholder.
	Assets fs.FS `yaml:"-"`
}

// DefaultConfig returns the defaults documented in internal/config/default.yaml
// (a test there keeps the two equal).
func DefaultConfig() Config {
	return Config{Enabled: true, Listen: "127.0.0.1:8080", Auth: Auth{Mode: AuthNone, Username: "admin"}, QueryTimeout: 30 * time.Second,
		Unanswered: unanswered.DefaultConfig()}
}

// IsLoopback reports whether the listen address only accepts local
// connections: a loopback IP or "localhost". An empty host, 0.0.0.0 and
// :: listen everywhere.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func readSecret(inline Secret, file, what string) (string, error) {
	if inline != "" && file != "" {
		return "", fmt.Errorf("console.auth: set %s or %s_file, not both", what, what)
	}
	if file == "" {
		return string(inline), nil
	}
	s, err := secret.ReadFile(file, "console.auth."+what)
	if err != nil {
		return "", fmt.Errorf("console.auth.%s_file: %w", what, err)
	}
	return string(s), nil
}

// Validate checks the configuration, including the rule that the console
// does not listen on a non-loopback address without authentication.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("console.listen %q: write HOST:PORT, e.g. 127.0.0.1:8080", c.Listen)
	}
	switch c.Auth.Mode {
	case AuthNone:
		if !IsLoopback(c.Listen) && !c.AllowNoAuthOnNonLoopback {
			return fmt.Errorf("console.listen is %s, which is not a loopback address, and console.auth.mode is none: "+
				"anyone who can reach it could read your flows. Set console.auth.mode to token (with console.auth.token) "+
				"or basic (with console.auth.username and console.auth.password_hash, see `flowlens console hash-password`), "+
				"listen on 127.0.0.1, or set console.allow_no_auth_on_non_loopback: true if a proxy in front of it authenticates", c.Listen)
		}
	case AuthToken:
		tok, err := readSecret(c.Auth.Token, c.Auth.TokenFile, "token")
		if err != nil {
			return err
		}
		if len(tok) < 16 {
			return errors.New("console.auth.mode is token: set console.auth.token (or token_file) to at least 16 random characters, e.g. from `openssl rand -hex 24`")
		}
	case AuthBasic:
		h, err := readSecret(c.Auth.PasswordHash, c.Auth.PasswordHashFile, "password_hash")
		if err != nil {
			return err
		}
		if c.Auth.Username == "" {
			return errors.New("console.auth.mode is basic: set console.auth.username")
		}
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return errors.New("console.auth.mode is basic: console.auth.password_hash must be a bcrypt hash ($2a$/$2b$/$2y$…); make one with `flowlens console hash-password` or `htpasswd -nbB user password`")
		}
	default:
		return fmt.Errorf("console.auth.mode %q: use none, token or basic", c.Auth.Mode)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("console.tls: set both cert_file and key_file, or neither")
	}
	if c.QueryTimeout < 0 {
		return errors.New("console.query_timeout cannot be negative")
	}
	return nil
}

// HashPassword returns the bcrypt hash to put in console.auth.password_hash.
func HashPassword(password string) (string, error) {
	if len(password) < 8 {
		return "", errors.New("use a password of at least 8 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), 12)
	return string(h), err
}

// Server is the console's HTTP server: the API, the static files, and
// authentication in front of both.
type Server struct {
	cfg     Config
	log     *slog.Logger
	auth    *authenticator
	mux     *http.ServeMux
	handler http.Handler
	srv     *http.Server
	ln      net.Listener
	done    chan error
}

// NewServer checks cfg and builds the server around api (from NewAPI).
// It refuses a non-loopback address without authentication unless
// cfg.AllowNoAuthOnNonLoopback is set.
func NewServer(cfg Config, api http.Handler, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	auth, err := newAuthenticator(cfg.Auth)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	// Compressed: the console's bundle is ~700 KB and API answers are
	// repetitive JSON, often read over an SSH tunnel or a WAN.
	mux.Handle("/api/", gzhttp.GzipHandler(auth.wrap(api)))
	// With token authentication the page itself must load without the
	// token, to show the form that asks for it; it holds no data. Basic
	// authentication keeps everything behind the browser's prompt.
	static := staticHandler(cfg.Assets)
	if cfg.Auth.Mode != AuthToken {
		static = auth.wrap(static)
	}
	mux.Handle("/", gzhttp.GzipHandler(static))
	s := &Server{cfg: cfg, log: log, auth: auth, mux: mux, handler: securityHeaders(mux)}
	return s, nil
}

// Handle serves h at pattern behind the console's authentication, like the
// API (Prometheus can send the token, or the user name and password).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, s.auth.wrap(h)) }

// HandlePublic serves h at pattern without authentication, for endpoints
// that reveal nothing, such as health checks: probes rarely carry
// credentials.
func (s *Server) HandlePublic(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the server's whole handler (authentication included).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on cfg.Listen and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("console.listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.done = make(chan error, 1)
	go func() {
		var err error
		if s.cfg.TLS.CertFile != "" {
			err = s.srv.ServeTLS(ln, s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		} else {
			err = s.srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	scheme := "http"
	if s.cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	s.log.Info("web console listening", "url", scheme+"://"+ln.Addr().String()+"/", "auth", s.cfg.Auth.Mode)
	return nil
}

// Addr is the address listened on (after Start).
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops the server, waiting for requests in progress until ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, <-s.done)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		// Everything the console needs comes from here: no CDN, no inline
		// script, so an injected script or a framing page gets nowhere.
		// Styles may be inline (the charts set element styles).
		hd.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
			"img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "+
			"base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		h.ServeHTTP(w, r)
	})
}

type authenticator struct {
	mode  string
	token []byte
	user  string
	hash  []byte
	mu    sync.Mutex
	ok    map[[32]byte]time.Time // credentials verified recently
}

func newAuthenticator(a Auth) (*authenticator, error) {
	au := &authenticator{mode: a.Mode, user: a.Username, ok: map[[32]byte]time.Time{}}
	switch a.Mode {
	case AuthToken:
		t, err := readSecret(a.Token, a.TokenFile, "token")
		if err != nil {
			return nil, err
		}
		au.token = []byte(t)
	case AuthBasic:
		h, err := readSecret(a.PasswordHash, a.PasswordHashFile, "password_hash")
		if err != nil {
			return nil, err
		}
		au.hash = []byte(h)
	}
	return au, nil
}

// verifiedFor is how long a verified password is remembered, so that
// bcrypt (deliberately slow) does not run for every request.
const verifiedFor = 5 * time.Minute

func (a *authenticator) check(r *http.Request) bool {
	switch a.mode {
	case AuthToken:
		tok := ""
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			tok = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
		} else if c, err := r.Cookie("flowlens_token"); err == nil {
			tok = c.Value
		}
		return tok != "" && subtle.ConstantTimeCompare([]byte(tok), a.token) == 1
	case AuthBasic:
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(a.user)) != 1 {
			return false
		}
		k := sha256.Sum256([]byte(u + "\x00" + p))
		a.mu.Lock()
		t, seen := a.ok[k]
		a.mu.Unlock()
		if seen && time.Since(t) < verifiedFor {
			return true
		}
		if bcrypt.CompareHashAndPassword(a.hash, []byte(p)) != nil {
			return false
		}
		a.mu.Lock()
		if len(a.ok) > 1000 {
			clear(a.ok)
		}
		a.ok[k] = time.Now()
		a.mu.Unlock()
		return true
	}
	return true
}

func (a *authenticator) wrap(h http.Handler) http.Handler {
	if a.mode == AuthNone {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.check(r) {
			h.ServeHTTP(w, r)
			return
		}
		msg := "authentication required: send Authorization: Bearer TOKEN (console.auth.token)"
		if a.mode == AuthBasic {
			w.Header().Set("WWW-Authenticate", `Basic realm="flowlens", charset="UTF-8"`)
			msg = "authentication required: user name and password (console.auth.username)"
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="flowlens"`)
		}
		writeError(w, http.StatusUnauthorized, msg)
	})
}

const placeholder = `<!doctype html><meta charset="utf-8"><title>flowlens</title>
<p>flowlens is running. The web console's files are not part of this build; the API is at <a href="/api/v1/status">/api/v1/status</a> (see docs/api.md).</p>`

// staticHandler serves the console's files; paths that are not files get
// index.html, so that the console's client-side routes work on reload.
func staticHandler(assets fs.FS) http.Handler {
	if assets == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(placeholder))
		})
	}
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusMethodNotAllowed, "use GET")
			return
		}
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if p != "" {
			if fi, err := fs.Stat(assets, p); err != nil || fi.IsDir() {
				if _, err := fs.Stat(assets, "index.html"); err == nil {
					r2 := r.Clone(r.Context())
					r2.URL.Path = "/"
					files.ServeHTTP(w, r2)
					return
				}
			}
		}
		if strings.HasPrefix(p, "assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
}
