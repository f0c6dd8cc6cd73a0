package elasticsearch

import (
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.URLs = []string{"https://es:9200"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"no url":  func(c *Config) { c.URLs = nil },
		"bad url": func(c *Config) { c.URLs = []string{"es:9200"} },
		"schema":  func(c *Config) { c.Schema = "netflow" },
		"fields":  func(c *Config) { c.Fields = "small" },
		"compact compat": func(c *Config) {
			c.Schema, c.Fields = SchemaNetFlowCompat, "compact"
		},
		"overflow":     func(c *Config) { c.Spool.Overflow = "block" },
		"index":        func(c *Config) { c.Index = "Flow" },
		"index comma":  func(c *Config) { c.Index = "a,b" },
		"compression":  func(c *Config) { c.Compression = 10 },
		"workers":      func(c *Config) { c.Workers = 0 },
		"batch":        func(c *Config) { c.BatchBytes = 200 << 20 },
		"spool size":   func(c *Config) { c.Spool.MaxBytes = 1000 },
		"backoff":      func(c *Config) { c.BackoffMax = time.Millisecond },
		"retention":    func(c *Config) { c.RetentionDays = -1 },
		"flavor":       func(c *Config) { c.Kibana.Flavor = "grafana" },
		"two auths":    func(c *Config) { c.APIKey, c.BearerToken = "a", "b" },
		"kibana auths": func(c *Config) { c.Kibana.APIKey, c.Kibana.Username = "a", "b" },
	} {
		c := ok
		c.URLs = append([]string(nil), ok.URLs...)
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
