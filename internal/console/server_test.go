package console

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/flowlens/flowlens/internal/metrics"
)

var okAPI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]string{"path": r.URL.Path})
})

func TestNonLoopbackNeedsAuth(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:8080", ":8080", "[::]:8080", "192.0.2.10:8080", "flowlens.example:8080"} {
		cfg := DefaultConfig()
		cfg.Listen = listen
		_, err := NewServer(cfg, okAPI, nil)
		if err == nil {
			t.Errorf("%s without auth: accepted", listen)
			continue
		}
		for _, hint := range []string{"console.auth.mode", "allow_no_auth_on_non_loopback", "127.0.0.1"} {
			if !strings.Contains(err.Error(), hint) {
				t.Errorf("%s: error %q does not mention %s", listen, err, hint)
			}
		}
		cfg.AllowNoAuthOnNonLoopback = true
		if _, err := NewServer(cfg, okAPI, nil); err != nil {
			t.Errorf("%s with allow_no_auth_on_non_loopback: %v", listen, err)
		}
		cfg.AllowNoAuthOnNonLoopback = false
		cfg.Auth.Mode, cfg.Auth.Token = AuthToken, "0123456789abcdef0123"
		if _, err := NewServer(cfg, okAPI, nil); err != nil {
			t.Errorf("%s with a token: %v", listen, err)
		}
	}
	for _, listen := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080", "127.0.0.2:0"} {
		cfg := DefaultConfig()
		cfg.Listen = listen
		if _, err := NewServer(cfg, okAPI, nil); err != nil {
			t.Errorf("%s: %v", listen, err)
		}
	}
}

func TestAuthConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		auth Auth
		want string
	}{
		{Auth{Mode: "password"}, "none, token or basic"},
		{Auth{Mode: AuthToken, Token: "short"}, "at least 16"},
		{Auth{Mode: AuthBasic, Username: "admin", PasswordHash: "secret"}, "bcrypt"},
		{Auth{Mode: AuthBasic, PasswordHash: "$2a$04$abcdefghijklmnopqrstuu5Ny4zV0hJW2jfOzb0zGnHm1D0nIcyE6"}, "username"},
		{Auth{Mode: AuthToken, Token: "0123456789abcdef0123", TokenFile: "/x"}, "not both"},
	} {
		cfg := DefaultConfig()
		cfg.Auth = tc.auth
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.auth, err, tc.want)
		}
	}
}

func do(t *testing.T, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestTokenAuth(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "0.0.0.0:0"
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, []byte("0123456789abcdef0123\n"), 0o600)
	cfg.Auth = Auth{Mode: AuthToken, TokenFile: tokFile}
	s, err := NewServer(cfg, okAPI, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	rec := do(t, h, httptest.NewRequest("GET", "/api/v1/status", nil))
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), "authentication required") || rec.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %s", rec.Code, rec.Body)
	}
	req := httptest.NewRequest("GET", "/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer wrong-token-wrong-token")
	if rec := do(t, h, req); rec.Code != 401 {
		t.Errorf("wrong token: %d", rec.Code)
	}
	req = httptest.NewRequest("GET", "/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer 0123456789abcdef0123")
	if rec := do(t, h, req); rec.Code != 200 {
		t.Errorf("right token: %d %s", rec.Code, rec.Body)
	}
	req = httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "flowlens_token", Value: "0123456789abcdef0123"})
	if rec := do(t, h, req); rec.Code != 200 {
		t.Errorf("token cookie: %d", rec.Code)
	}
	// The page loads without the token (it asks for it; it holds no
	// data); the API does not.
	if rec := do(t, h, httptest.NewRequest("GET", "/", nil)); rec.Code != 200 {
		t.Errorf("/ without token: %d", rec.Code)
	}
	if rec := do(t, h, httptest.NewRequest("GET", "/api/v1/agents", nil)); rec.Code != 401 {
		t.Errorf("/api/v1/agents without token: %d", rec.Code)
	}
}

func TestBasicAuth(t *testing.T) {
	hash, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("short password hashed")
	}
	cfg := DefaultConfig()
	cfg.Listen = "[::]:0"
	cfg.Auth = Auth{Mode: AuthBasic, Username: "admin", PasswordHash: Secret(hash)}
	s, err := NewServer(cfg, okAPI, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	rec := do(t, h, httptest.NewRequest("GET", "/api/v1/top", nil))
	if rec.Code != 401 || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic") {
		t.Errorf("no credentials: %d %v", rec.Code, rec.Header())
	}
	for _, tc := range []struct {
		user, pass string
		code       int
	}{{"admin", "wrong password", 401}, {"root", "correct horse", 401}, {"admin", "correct horse", 200}, {"admin", "correct horse", 200}} {
		req := httptest.NewRequest("GET", "/api/v1/top", nil)
		req.SetBasicAuth(tc.user, tc.pass)
		if rec := do(t, h, req); rec.Code != tc.code {
			t.Errorf("%s/%s: %d, want %d", tc.user, tc.pass, rec.Code, tc.code)
		}
	}
	if got := Secret(hash).String(); strings.Contains(got, "$2") {
		t.Errorf("secret prints as %s", got)
	}
}

func TestStaticAssets(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Assets = fstest.MapFS{
		"index.html":       {Data: []byte("<html>console</html>")},
		"assets/app-1.js":  {Data: []byte("console.log(1)")},
		"assets/app-1.css": {Data: []byte("body{}")},
	}
	s, err := NewServer(cfg, okAPI, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for path, want := range map[string]string{
		"/": "<html>console</html>", "/assets/app-1.js": "console.log(1)", "/flows/top": "<html>console</html>",
		"/api/v1/status": `{"path":"/api/v1/status"}`,
	} {
		rec := do(t, h, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != want {
			t.Errorf("%s: %d %q, want %q", path, rec.Code, rec.Body, want)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no security headers", path)
		}
	}
	// Without assets: a placeholder page pointing at the API.
	s, _ = NewServer(DefaultConfig(), okAPI, nil)
	if rec := do(t, s.Handler(), httptest.NewRequest("GET", "/", nil)); rec.Code != 200 || !strings.Contains(rec.Body.String(), "/api/v1/status") {
		t.Errorf("placeholder: %d %s", rec.Code, rec.Body)
	}
}

func TestServerStartStop(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	s, err := NewServer(cfg, okAPI, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.Addr().String() + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "/api/v1/status") {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The address is taken: Start says which setting to change.
	s2, _ := NewServer(Config{Enabled: true, Listen: s.Addr().String(), Auth: Auth{Mode: AuthNone}}, okAPI, nil)
	ln, _ := NewServer(cfg, okAPI, nil)
	ln.Start()
	defer ln.Shutdown(context.Background())
	s2.cfg.Listen = ln.Addr().String()
	if err := s2.Start(); err == nil || !strings.Contains(err.Error(), "console.listen") {
		t.Errorf("busy address: %v", err)
	}
}

// Health checks are open; the metrics need the console's credentials when
// it has some, and never show them.
func TestMetricsAndHealthEndpoints(t *testing.T) {
	const token = "0123456789abcdef0123"
	hash, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []Auth{
		{Mode: AuthNone},
		{Mode: AuthToken, Token: token},
		{Mode: AuthBasic, Username: "admin", PasswordHash: Secret(hash)},
	} {
		cfg := DefaultConfig()
		cfg.Auth = auth
		s, err := NewServer(cfg, okAPI, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := metrics.New("dev", "", nil)
		s.Handle(metrics.MetricsPath, m.Handler())
		s.HandlePublic(metrics.HealthPath, metrics.Healthz())
		s.HandlePublic(metrics.ReadyPath, metrics.Readyz(m.Ready))
		h := s.Handler()

		if rec := do(t, h, httptest.NewRequest("GET", "/healthz", nil)); rec.Code != 200 || rec.Body.String() != "ok\n" {
			t.Errorf("%s: /healthz without credentials: %d %q", auth.Mode, rec.Code, rec.Body)
		}
		if rec := do(t, h, httptest.NewRequest("GET", "/readyz", nil)); rec.Code != 503 || !strings.Contains(rec.Body.String(), "starting") {
			t.Errorf("%s: /readyz while starting: %d %q", auth.Mode, rec.Code, rec.Body)
		}
		m.Ready.SetReady()
		if rec := do(t, h, httptest.NewRequest("GET", "/readyz", nil)); rec.Code != 200 {
			t.Errorf("%s: /readyz when ready: %d %q", auth.Mode, rec.Code, rec.Body)
		}

		rec := do(t, h, httptest.NewRequest("GET", "/metrics", nil))
		if auth.Mode == AuthNone {
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), "flowlens_build_info") {
				t.Errorf("none: /metrics: %d", rec.Code)
			}
			continue
		}
		if rec.Code != 401 {
			t.Errorf("%s: /metrics without credentials: %d", auth.Mode, rec.Code)
		}
		req := httptest.NewRequest("GET", "/metrics", nil)
		if auth.Mode == AuthToken {
			req.Header.Set("Authorization", "Bearer "+token)
		} else {
			req.SetBasicAuth("admin", "correct horse")
		}
		rec = do(t, h, req)
		body := rec.Body.String()
		if rec.Code != 200 || !strings.Contains(body, "flowlens_build_info") {
			t.Errorf("%s: /metrics with credentials: %d", auth.Mode, rec.Code)
		}
		if strings.Contains(body, token) || strings.Contains(body, "correct horse") || strings.Contains(body, hash) {
			t.Errorf("%s: a credential is in the metrics", auth.Mode)
		}
	}
}

// Large answers go compressed to clients that accept gzip, and every
// answer carries a policy that only allows the console's own resources.
func TestCompressionAndContentSecurityPolicy(t *testing.T) {
	cfg := DefaultConfig()
	js := strings.Repeat("function chart(){return 1}\n", 2000)
	cfg.Assets = fstest.MapFS{"index.html": {Data: []byte("<html>console</html>")}, "assets/app-1.js": {Data: []byte(js)}}
	s, err := NewServer(cfg, okAPI, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/assets/app-1.js", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := do(t, s.Handler(), req)
	if rec.Header().Get("Content-Encoding") != "gzip" || rec.Body.Len() >= len(js)/10 {
		t.Fatalf("asset: encoding %q, %d bytes for %d", rec.Header().Get("Content-Encoding"), rec.Body.Len(), len(js))
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != js {
		t.Error("the compressed asset does not decompress to the file")
	}
	if !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
		t.Error("no Vary: Accept-Encoding")
	}
	// Clients that do not ask for gzip get the file as it is.
	rec = do(t, s.Handler(), httptest.NewRequest("GET", "/assets/app-1.js", nil))
	if rec.Header().Get("Content-Encoding") != "" || rec.Body.String() != js {
		t.Error("uncompressed answer differs")
	}
	csp := rec.Header().Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Errorf("Content-Security-Policy allows inline or eval'd scripts: %q", csp)
	}
}
