package elasticsearch

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/flowlens/flowlens/internal/secret"
	"io"
	stdlog "log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/flow"
)

func TestSetupDetectsProductAndInstallsTemplates(t *testing.T) {
	for _, tc := range []struct {
		flavor, product, version string
		major                    int
	}{
		{"es7", "elasticsearch", "7.17.22", 7},
		{"es8", "elasticsearch", "8.15.3", 8},
		{"os2", "opensearch", "2.17.1", 2},
	} {
		t.Run(tc.flavor, func(t *testing.T) {
			f, srv := newFakeES(t, tc.flavor)
			cfg := testConfig(t, srv.URL)
			cfg.RetentionDays = 30
			info, err := Setup(ctxT(t), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if info.Product != tc.product || info.Version != tc.version || info.Major != tc.major {
				t.Errorf("detected %+v", info)
			}
			if len(f.templates) != 2 || f.templates["flowlens-flow"] == nil || f.templates["flowlens-flow-counters"] == nil {
				t.Fatalf("templates %v", keys(f.templates))
			}
			var tpl struct {
				IndexPatterns []string `json:"index_patterns"`
				Priority      int      `json:"priority"`
				DataStream    any      `json:"data_stream"`
				Template      struct {
					Settings map[string]any `json:"settings"`
					Mappings map[string]any `json:"mappings"`
				} `json:"template"`
			}
			json.Unmarshal(f.templates["flowlens-flow"], &tpl)
			if strings.Join(tpl.IndexPatterns, ",") != "flow-*" || tpl.DataStream != nil {
				t.Errorf("flows template %+v", tpl)
			}
			for path, want := range map[string]string{
				"@timestamp": "date", "event.start": "date", "event.end": "date", "source.ip": "ip", "destination.ip": "ip",
				"observer.ip": "ip", "source.geo.location": "geo_point", "destination.geo.location": "geo_point",
				"source.port": "integer", "network.bytes": "long", "network.transport": "keyword", "observer.ingress.interface.name": "keyword",
			} {
				if got := mappedType(tpl.Template.Mappings, path); got != want {
					t.Errorf("%s mapped as %q, want %q", path, got, want)
				}
			}
			var ctpl struct {
				IndexPatterns []string `json:"index_patterns"`
				Priority      int      `json:"priority"`
			}
			json.Unmarshal(f.templates["flowlens-flow-counters"], &ctpl)
			if strings.Join(ctpl.IndexPatterns, ",") != "flow-counters-*" || ctpl.Priority <= tpl.Priority {
				t.Errorf("counters template %+v must win over the flows one (priority %d)", ctpl, tpl.Priority)
			}
			if tc.product == "opensearch" {
				if len(f.ilm) != 0 || f.ism["flowlens-flow"] == nil {
					t.Fatalf("OpenSearch: ILM %v, ISM %v", keys(f.ilm), f.ism)
				}
				if _, ok := tpl.Template.Settings["index.lifecycle.name"]; ok {
					t.Error("index.lifecycle.name set for OpenSearch")
				}
				var p struct {
					Policy struct {
						States []struct {
							Name        string
							Transitions []struct {
								Conditions map[string]string
							}
						}
						ISMTemplate []struct {
							IndexPatterns []string `json:"index_patterns"`
						} `json:"ism_template"`
					}
				}
				json.Unmarshal(f.ism["flowlens-flow"].body, &p)
				if p.Policy.States[0].Transitions[0].Conditions["min_index_age"] != "30d" || p.Policy.ISMTemplate[0].IndexPatterns[0] != "flow-*" {
					t.Errorf("ISM policy %s", f.ism["flowlens-flow"].body)
				}
				// Running the set-up again updates the policy, with the
				// sequence number and primary term OpenSearch asks for.
				if _, err := Setup(ctxT(t), cfg, nil); err != nil {
					t.Fatal(err)
				}
				if f.ism["flowlens-flow"].updatedSeq != 1 {
					t.Error("ISM policy not updated")
				}
			} else {
				if f.ilm["flowlens-flow"] == nil || len(f.ism) != 0 {
					t.Fatalf("Elasticsearch: ILM %v, ISM %v", keys(f.ilm), f.ism)
				}
				if !strings.Contains(string(f.ilm["flowlens-flow"]), `"min_age":"30d"`) {
					t.Errorf("ILM policy %s", f.ilm["flowlens-flow"])
				}
				if tpl.Template.Settings["index.lifecycle.name"] != "flowlens-flow" {
					t.Errorf("settings %v", tpl.Template.Settings)
				}
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSetupDataStreamAndCompatSchema(t *testing.T) {
	f, srv := newFakeES(t, "es8")
	cfg := testConfig(t, srv.URL)
	cfg.DataStream, cfg.Schema, cfg.RetentionDays, cfg.Index = true, SchemaNetFlowCompat, 7, "netflow"
	if _, err := Setup(ctxT(t), cfg, nil); err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		IndexPatterns []string       `json:"index_patterns"`
		DataStream    map[string]any `json:"data_stream"`
		Template      struct {
			Mappings map[string]any `json:"mappings"`
		} `json:"template"`
	}
	json.Unmarshal(f.templates["flowlens-netflow"], &tpl)
	if tpl.DataStream == nil || tpl.IndexPatterns[0] != "netflow-flows*" {
		t.Errorf("data stream template %s", f.templates["flowlens-netflow"])
	}
	for path, want := range map[string]string{"geoip_pin": "geo_point", "ipv4_src_addr": "ip", "ipv6_dst_addr": "ip",
		"in_bytes": "long", "first_switched": "date", "l4_dst_port": "integer", "host": "keyword",
		// The .keyword sub-fields the chain's dynamic mapping made.
		"ipv4_src_addr.keyword": "keyword", "ipv4_dst_addr.keyword": "keyword", "host.keyword": "keyword",
		"ipv4_next_hop.keyword": "keyword", "in_src_mac.keyword": "keyword", "uptime": "long",
		"flow_records": "integer", "sampling_algorithm": "short", "in_bytes.keyword": "", "geoip_pin.keyword": ""} {
		if got := mappedType(tpl.Template.Mappings, path); got != want {
			t.Errorf("%s mapped as %q, want %q", path, got, want)
		}
	}
	if !strings.Contains(string(f.ilm["flowlens-netflow"]), `"rollover"`) {
		t.Errorf("data streams need a rollover in the ILM policy: %s", f.ilm["flowlens-netflow"])
	}
	// Documents go to the data streams, with "create" (the only action
	// data streams take) and are checked against the compat mapping.
	cfg.SetupTemplates = false
	o, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := batchOf(0, 30, 3)
	for i := range b.Flows {
		// geoip_pin is the destination's (the source's is not written).
		b.Flows[i].DstGeo = &flow.Geo{Lat: 48.8566, Lon: 2.3522, HasLocation: true, CountryISO: "FR"}
		b.Flows[i].SrcGeo = &flow.Geo{Lat: 1, Lon: 2, HasLocation: true}
	}
	o.Write(b)
	waitFor(t, "delivery", 10*time.Second, func() bool { return f.count() == 33 })
	o.Close()
	for k, src := range f.stored() {
		if !strings.HasPrefix(k, "netflow-flows/") && !strings.HasPrefix(k, "netflow-counters/") {
			t.Errorf("document in %s", k)
		}
		if strings.HasPrefix(k, "netflow-flows/") && !strings.Contains(string(src), `"geoip_pin":"48.8566,2.3522"`) {
			t.Errorf("no geoip_pin: %s", src)
		}
	}
	if s := o.Stats(); s.DeadLettered != 0 {
		t.Errorf("mapping errors: %+v", s)
	}
}

func TestSetupRefusesOldElasticsearch(t *testing.T) {
	f, srv := newFakeES(t, "es8")
	_ = f
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"version": map[string]any{"number": "6.8.23"}, "tagline": "You Know, for Search"})
	})
	if _, err := Setup(ctxT(t), testConfig(t, srv.URL), nil); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("Elasticsearch 6: %v", err)
	}
}

// Every kind of credentials is sent as documented, including from files.
func TestAuthHeaders(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("s3cret-from-file\n"), 0o600)
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="), 0o600)
	for _, tc := range []struct {
		name string
		auth Auth
		want string
	}{
		{"basic", Auth{Username: "elastic", Password: "changeme"}, "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:changeme"))},
		{"basic from file", Auth{Username: "flowlens", PasswordFile: pwFile}, "Basic " + base64.StdEncoding.EncodeToString([]byte("flowlens:s3cret-from-file"))},
		{"api key", Auth{APIKey: "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="}, "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="},
		{"api key id:key", Auth{APIKey: "VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"}, "ApiKey " + base64.StdEncoding.EncodeToString([]byte("VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"))},
		{"api key from file", Auth{APIKeyFile: keyFile}, "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="},
		{"bearer", Auth{BearerToken: "AAEAAWVsYXN0aWMvZmxlZXQtc2VydmVy"}, "Bearer AAEAAWVsYXN0aWMvZmxlZXQtc2VydmVy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeES(t, "es8")
			f.wantAuth = tc.want
			cfg := testConfig(t, srv.URL)
			cfg.Auth = tc.auth
			o, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			o.Write(batchOf(0, 10, 0))
			waitFor(t, "delivery", 5*time.Second, func() bool { return f.count() == 10 })
			o.Close()
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.auth) != 1 || f.auth[tc.want] == 0 {
				t.Errorf("Authorization headers seen: %v", f.auth)
			}
		})
	}
	cfg := DefaultConfig()
	cfg.URLs = []string{"http://localhost:9200"}
	cfg.Auth = Auth{Username: "u", Password: "p", APIKey: "k"}
	if err := cfg.Validate(); err == nil {
		t.Error("two kinds of credentials accepted")
	}
	cfg.Auth = Auth{PasswordFile: "/nonexistent"}
	if err := cfg.Validate(); err == nil {
		t.Error("a password without a user name accepted")
	}
}

// No error and no log line may contain a password, API key or token, or
// the base64 of user:password — from a URL, the configuration or a file.
func TestSecretsNeverInErrorsOrLogs(t *testing.T) {
	const pw = "Tr0ub4dor&3-horse"
	basic := base64.StdEncoding.EncodeToString([]byte("elastic:" + pw))
	check := func(what, s string) {
		t.Helper()
		for _, sec := range []string{pw, basic, "VerySecretApiKey", "VerySecretToken"} {
			if strings.Contains(s, sec) {
				t.Errorf("%s contains a secret: %s", what, s)
			}
		}
	}
	// Connection refused, with the password in the URL.
	cfg := DefaultConfig()
	cfg.URLs = []string{"http://elastic:" + strings.ReplaceAll(pw, "&", "%26") + "@127.0.0.1:1"}
	cfg.Timeout = 2 * time.Second
	_, err := Setup(ctxT(t), cfg, nil)
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	check("connection error", err.Error())
	check("validation error", (&Config{URLs: []string{"ftp://elastic:" + pw + "@x"}}).Validate().Error())

	// Refused credentials: the server echoes the Authorization header in
	// its error (worst case).
	f, srv := newFakeES(t, "es8")
	f.wantAuth = "Basic nope"
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		writeJSON(w, 401, esError(401, "security_exception", "unable to authenticate with ["+r.Header.Get("Authorization")+"] user "+user+" password "+pass))
	})
	for _, auth := range []Auth{{Username: "elastic", Password: pw}, {APIKey: "VerySecretApiKey"}, {BearerToken: "VerySecretToken"}} {
		cfg := testConfig(t, srv.URL)
		cfg.Auth = auth
		_, err := Setup(ctxT(t), cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("want a 401 error, got %v", err)
		}
		check("HTTP error", err.Error())
		check("config dump", fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg))
		// The output logs the failures of its set-up and bulk requests.
		log, logs := testLogger(t)
		cfg.SetupTemplates = false
		o, err := New(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		o.Write(batchOf(0, 10, 0))
		waitFor(t, "a failed request", 5*time.Second, func() bool { return o.Stats().RequestErrors > 0 })
		o.Close()
		check("log", logs.String())
		if !strings.Contains(logs.String(), "refuses the credentials") {
			t.Errorf("the 401 was not logged: %s", logs.String())
		}
	}
	// A secret file that cannot be read: the error names the file only.
	cfg = testConfig(t, srv.URL)
	cfg.Auth = Auth{Username: "elastic", PasswordFile: filepath.Join(t.TempDir(), "missing")}
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "password file") {
		t.Errorf("missing password file: %v", err)
	}
	if s := fmt.Sprint(Secret(pw)); s != secret.Redacted {
		t.Errorf("Secret prints as %q", s)
	}
	if b, _ := json.Marshal(Auth{Password: pw}); strings.Contains(string(b), pw) {
		t.Errorf("Secret marshals as %s", b)
	}
}

// TLS: verification is on by default, a CA file makes it pass, insecure
// skips it, and a client certificate is presented when configured.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caPEM := newCA(t)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	serverCert := issue(t, ca, caKey, "127.0.0.1", false)
	clientCertPEM, clientKeyPEM := issuePEM(t, ca, caKey, "flowlens", true)
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	os.WriteFile(certFile, clientCertPEM, 0o600)
	os.WriteFile(keyFile, clientKeyPEM, 0o600)

	f := &fakeES{t: t, flavor: "es8", docs: map[string][]byte{}, templates: map[string][]byte{},
		ilm: map[string][]byte{}, ism: map[string]*ismDoc{}, auth: map[string]int{}, attempts: map[string]int{}}
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // handshake failures are expected
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	defer srv.Close()

	cfg := testConfig(t, srv.URL)
	cfg.Timeout = 3 * time.Second
	if _, err := Setup(ctxT(t), cfg, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an unknown CA must fail verification: %v", err)
	}
	cfg.TLS.Insecure = true
	if _, err := Setup(ctxT(t), cfg, nil); err != nil {
		t.Errorf("insecure: %v", err)
	}
	cfg.TLS = TLS{CAFile: caFile}
	if _, err := Setup(ctxT(t), cfg, nil); err != nil {
		t.Errorf("with the CA file: %v", err)
	}
	// A cluster that requires a client certificate.
	srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	srv.CloseClientConnections()
	if _, err := Setup(ctxT(t), cfg, nil); err == nil {
		t.Error("no client certificate, yet accepted")
	}
	cfg.TLS.CertFile, cfg.TLS.KeyFile = certFile, keyFile
	if _, err := Setup(ctxT(t), cfg, nil); err != nil {
		t.Errorf("with the client certificate: %v", err)
	}
	cfg.TLS.KeyFile = ""
	if _, err := Setup(ctxT(t), cfg, nil); err == nil {
		t.Error("cert_file without key_file accepted")
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowlens test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func issuePEM(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, client bool) (certPEM, keyPEM []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if client {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tpl.IPAddresses = []net.IP{net.ParseIP(name)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, client bool) tls.Certificate {
	c, k := issuePEM(t, ca, caKey, name, client)
	cert, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
