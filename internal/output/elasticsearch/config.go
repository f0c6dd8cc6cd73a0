package elasticsearch

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/flowlens/flowlens/internal/bytesize"
	"github.com/flowlens/flowlens/internal/ecs"
	"github.com/flowlens/flowlens/internal/secret"
	"net/url"
	"os"
	"strings"
	"time"
)

// Schemas a flow document can be written in.
const (
	// SchemaECS writes ecs.AppendFlow documents (docs/fields.md).
	SchemaECS = "ecs"
	// SchemaNetFlowCompat writes the field names of the Fluentd chain
	// (fluent-plugin-netflow) flowlens replaces, so that existing Kibana
	// visualisations keep working.
	SchemaNetFlowCompat = "netflow-compat"
)

// Which end geoip_pin (netflow-compat) locates.
const (
	// GeoIPPinDestination: the destination address, as the chain's
	// fluent-plugin-geoip looked up ipv4_dst_addr.
	GeoIPPinDestination = "destination"
	// GeoIPPinSource: the source address.
	GeoIPPinSource = "source"
)

// Spool overflow policies.
const (
	DropOldest = "drop_oldest"
	DropNewest = "drop_newest"
)

// Secret is a password, API key or token. It prints as "[redacted]" so
// that it cannot end up in a log line, an error or `flowlens config`.
type Secret = secret.Secret

// Auth holds credentials. At most one kind may be set: an API key, a
// bearer token, or a user name and password. Each secret can come from the
// configuration (or its FLOWLENS_… environment variable) or from a file.
type Auth struct {
	Username        string `yaml:"username"`
	Password        Secret `yaml:"password"`
	PasswordFile    string `yaml:"password_file"`
	APIKey          Secret `yaml:"api_key"`
	APIKeyFile      string `yaml:"api_key_file"`
	BearerToken     Secret `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
}

// TLS configures HTTPS. Certificates are verified unless Insecure is set.
type TLS struct {
	// CAFile is a PEM file of the CAs to trust instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key (PEM).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server certificate.
	ServerName string `yaml:"server_name"`
	// Insecure skips certificate verification. For tests only.
	Insecure bool `yaml:"insecure"`
}

// Spool configures the disk buffer used while the cluster is unreachable,
// slow or pushing back.
type Spool struct {
	// Dir holds the spool files; "" keeps everything in memory (records
	// are then dropped, and counted, when the memory queue is full).
	Dir string `yaml:"dir"`
	// MaxBytes bounds the spool's size on disk.
	MaxBytes bytesize.Size `yaml:"max_bytes"`
	// Overflow says what goes when the spool is full: drop_oldest or
	// drop_newest.
	Overflow string `yaml:"overflow"`
}

// DeadLetter configures the file documents rejected by the cluster go to.
type DeadLetter struct {
	// Path of the NDJSON file; "" only counts and logs rejected documents.
	Path string `yaml:"path"`
	// MaxBytes rotates the file (to Path + ".1") when it is this large.
	MaxBytes bytesize.Size `yaml:"max_bytes"`
}

// Kibana configures `flowlens setup kibana` (SetupKibana).
type Kibana struct {
	// URL of Kibana or OpenSearch Dashboards; "" disables the set-up.
	URL string `yaml:"url"`
	// Space is the Kibana space to import into ("" is the default space).
	Space string `yaml:"space"`
	// Flavor is auto, kibana or opensearch-dashboards.
	Flavor string `yaml:"flavor"`
	Auth   `yaml:",inline"`
	TLS    TLS `yaml:"tls"`
}

// Config is the Elasticsearch/OpenSearch output configuration.
type Config struct {
	// URLs of the cluster's HTTP endpoints, e.g. https://es1:9200. Requests
	// rotate over them. An empty list disables the output.
	URLs []string `yaml:"urls"`
	// Index is the prefix of index and data stream names: flow-2026.11.26,
	// flow-counters-2026.11.26 (daily) or flow-flows, flow-counters
	// (data streams).
	Index string `yaml:"index"`
	// Schema of flow documents: ecs or netflow-compat. Counter documents
	// are always ECS.
	Schema string `yaml:"schema"`
	// Fields of ECS flow documents: full or compact (ecs.FieldsFull,
	// ecs.FieldsCompact); netflow-compat documents have their own.
	Fields string `yaml:"fields"`
	// GeoIPPin is the end whose location netflow-compat documents carry
	// in geoip_pin: destination (the chain's fluent-plugin-geoip, set on
	// the destination address) or source.
	GeoIPPin string `yaml:"geoip_pin"`
	// Flows and Counters choose the record kinds written.
	Flows    bool `yaml:"flows"`
	Counters bool `yaml:"counters"`
	// Aggregate asks for an aggregator (internal/aggregate) in front of
	// this output: aggregated flows instead of one document per sample.
	// The output itself does not read it.
	Aggregate bool `yaml:"aggregate"`
	// DataStream writes to two data streams instead of daily indices.
	DataStream bool `yaml:"data_stream"`
	// SetupTemplates installs the index templates (and the retention
	// policy) at start-up, before any document is sent.
	SetupTemplates bool `yaml:"setup_templates"`
	// RetentionDays deletes indices this old through ILM (Elasticsearch)
	// or ISM (OpenSearch); 0 keeps them forever.
	RetentionDays int `yaml:"retention_days"`
	// Shards and Replicas of new indices; -1 leaves the cluster default.
	Shards   int `yaml:"shards"`
	Replicas int `yaml:"replicas"`
	// RefreshInterval of new indices; 0 leaves the cluster default.
	RefreshInterval time.Duration `yaml:"refresh_interval"`

	// BatchBytes and BatchDocs bound one bulk request (uncompressed).
	BatchBytes bytesize.Size `yaml:"batch_bytes"`
	BatchDocs  int           `yaml:"batch_docs"`
	// FlushInterval sends a partial batch when it is this old.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Workers is the number of bulk requests in flight.
	Workers int `yaml:"workers"`
	// QueueSize is the number of full batches held in memory before new
	// ones go to the spool.
	QueueSize int `yaml:"queue_size"`
	// Compression is the gzip level of request bodies, 0 (off) to 9.
	Compression int `yaml:"compression"`
	// Timeout of one HTTP request.
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries of a batch (or of its rejected documents) before it goes
	// to the spool.
	MaxRetries int `yaml:"max_retries"`
	// BackoffInitial and BackoffMax bound the exponential back-off (with
	// jitter) between retries.
	BackoffInitial time.Duration `yaml:"backoff_initial"`
	BackoffMax     time.Duration `yaml:"backoff_max"`
	// CloseTimeout is how long Close tries to send what is queued before
	// spooling it.
	CloseTimeout time.Duration `yaml:"close_timeout"`

	Spool      Spool      `yaml:"spool"`
	DeadLetter DeadLetter `yaml:"dead_letter"`
	Auth       `yaml:",inline"`
	TLS        TLS    `yaml:"tls"`
	Kibana     Kibana `yaml:"kibana"`
}

// DefaultConfig returns the defaults documented in internal/config/default.yaml
// (a test there keeps the two equal).
func DefaultConfig() Config {
	return Config{
		Index:           "flow",
		Schema:          SchemaECS,
		Fields:          ecs.FieldsFull,
		GeoIPPin:        GeoIPPinDestination,
		Flows:           true,
		Counters:        true,
		SetupTemplates:  true,
		Shards:          1,
		Replicas:        -1,
		RefreshInterval: 10 * time.Second,
		BatchBytes:      5 << 20,
		BatchDocs:       10000,
		FlushInterval:   time.Second,
		Workers:         4,
		QueueSize:       4,
		Compression:     1,
		Timeout:         time.Minute,
		MaxRetries:      5,
		BackoffInitial:  500 * time.Millisecond,
		BackoffMax:      30 * time.Second,
		CloseTimeout:    10 * time.Second,
		Spool:           Spool{Dir: "/var/lib/flowlens/spool/elasticsearch", MaxBytes: 1 << 30, Overflow: DropOldest},
		DeadLetter:      DeadLetter{Path: "/var/lib/flowlens/elasticsearch-dead-letter.ndjson", MaxBytes: 100 << 20},
		Kibana:          Kibana{Flavor: "auto"},
	}
}

// Validate checks values that YAML types alone do not. It reads nothing.
func (c *Config) Validate() error {
	if len(c.URLs) == 0 {
		return errors.New("output.elasticsearch.urls is empty: give at least one URL, e.g. https://localhost:9200")
	}
	for _, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("output.elasticsearch.urls: %q is not an http:// or https:// URL", redactURL(u))
		}
	}
	if c.Index == "" || strings.ToLower(c.Index) != c.Index || strings.ContainsAny(c.Index, `\/*?"<>| ,#:`) || strings.HasPrefix(c.Index, "-") || strings.HasPrefix(c.Index, "_") {
		return fmt.Errorf("output.elasticsearch.index %q: use a lower-case name without \\ / * ? \" < > | , # : or spaces", c.Index)
	}
	switch c.Schema {
	case SchemaECS, SchemaNetFlowCompat:
	default:
		return fmt.Errorf("output.elasticsearch.schema %q: use ecs or netflow-compat", c.Schema)
	}
	if _, err := ecs.FlowEncoder("output.elasticsearch.fields", c.Fields); err != nil {
		return err
	}
	if c.Schema == SchemaNetFlowCompat && c.Fields == ecs.FieldsCompact {
		return errors.New("output.elasticsearch.fields: compact applies to the ecs schema; netflow-compat documents always have their own few fields (set fields: full, or schema: ecs)")
	}
	switch c.GeoIPPin {
	case "", GeoIPPinDestination, GeoIPPinSource: // "": the destination
	default:
		return fmt.Errorf("output.elasticsearch.geoip_pin %q: use destination or source", c.GeoIPPin)
	}
	switch c.Spool.Overflow {
	case DropOldest, DropNewest:
	default:
		return fmt.Errorf("output.elasticsearch.spool.overflow %q: use drop_oldest or drop_newest", c.Spool.Overflow)
	}
	switch c.Kibana.Flavor {
	case "", "auto", "kibana", "opensearch-dashboards":
	default:
		return fmt.Errorf("output.elasticsearch.kibana.flavor %q: use auto, kibana or opensearch-dashboards", c.Kibana.Flavor)
	}
	if c.Compression < 0 || c.Compression > 9 {
		return fmt.Errorf("output.elasticsearch.compression %d: use 0 (off) to 9", c.Compression)
	}
	if c.BatchBytes > 100<<20 {
		return errors.New("output.elasticsearch.batch_bytes: at most 100MiB (Elasticsearch refuses larger requests by default)")
	}
	if c.BatchBytes < 1024 || c.BatchDocs < 1 || c.Workers < 1 || c.QueueSize < 1 || c.MaxRetries < 0 {
		return errors.New("output.elasticsearch: batch_bytes must be at least 1024, batch_docs, workers and queue_size at least 1, max_retries not negative")
	}
	if c.FlushInterval <= 0 || c.Timeout <= 0 || c.BackoffInitial <= 0 || c.BackoffMax < c.BackoffInitial {
		return errors.New("output.elasticsearch: flush_interval, timeout and backoff_initial must be positive, backoff_max at least backoff_initial")
	}
	if c.Spool.Dir != "" && c.Spool.MaxBytes < 1<<20 {
		return errors.New("output.elasticsearch.spool.max_bytes: give at least 1048576 (1 MiB)")
	}
	if c.RetentionDays < 0 {
		return errors.New("output.elasticsearch.retention_days cannot be negative")
	}
	if err := c.Auth.check("output.elasticsearch"); err != nil {
		return err
	}
	return c.Kibana.Auth.check("output.elasticsearch.kibana")
}

func (a *Auth) check(where string) error {
	kinds := 0
	if a.APIKey != "" || a.APIKeyFile != "" {
		kinds++
	}
	if a.BearerToken != "" || a.BearerTokenFile != "" {
		kinds++
	}
	if a.Username != "" || a.Password != "" || a.PasswordFile != "" {
		kinds++
		if a.Username == "" {
			return fmt.Errorf("%s: a password is set but no username", where)
		}
	}
	if kinds > 1 {
		return fmt.Errorf("%s: set only one of username/password, api_key, bearer_token", where)
	}
	return nil
}

// readSecret returns s, or the first line of file when s is empty.
func readSecret(s Secret, file, what string) (Secret, error) {
	if s != "" || file == "" {
		return s, nil
	}
	return secret.ReadFile(file, what)
}

// credentials is Auth resolved: the Authorization header value and the
// strings that must never appear in logs or errors.
type credentials struct {
	header  string
	secrets []string
}

func (a *Auth) resolve() (credentials, error) {
	var cr credentials
	pw, err := readSecret(a.Password, a.PasswordFile, "password")
	if err != nil {
		return cr, err
	}
	key, err := readSecret(a.APIKey, a.APIKeyFile, "api_key")
	if err != nil {
		return cr, err
	}
	tok, err := readSecret(a.BearerToken, a.BearerTokenFile, "bearer_token")
	if err != nil {
		return cr, err
	}
	switch {
	case key != "":
		// Accept both the encoded key and "id:api_key".
		v := string(key)
		if strings.Contains(v, ":") {
			v = base64.StdEncoding.EncodeToString([]byte(v))
		}
		cr.header = "ApiKey " + v
		cr.secrets = []string{string(key), v}
	case tok != "":
		cr.header = "Bearer " + string(tok)
		cr.secrets = []string{string(tok)}
	case a.Username != "":
		v := base64.StdEncoding.EncodeToString([]byte(a.Username + ":" + string(pw)))
		cr.header = "Basic " + v
		if pw != "" {
			cr.secrets = []string{string(pw), v}
		}
	}
	return cr, nil
}

// tlsConfig builds the client TLS configuration; nil means Go's defaults.
func (t *TLS) tlsConfig() (*tls.Config, error) {
	if t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" && t.ServerName == "" && !t.Insecure {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.Insecure}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("tls: cert_file and key_file go together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// redactURL removes any user:password@ from a URL for display.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if i := strings.Index(s, "@"); i >= 0 {
			if j := strings.Index(s, "://"); j >= 0 && j < i {
				return s[:j+3] + secret.Redacted + s[i:]
			}
		}
		return s
	}
	u.User = nil
	return u.String()
}
