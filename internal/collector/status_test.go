package collector

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
)

// /api/v1/status says which enrichment is on and, when it is off, which
// setting turns it on.
func TestEnrichmentStatus(t *testing.T) {
	var cfg config.Config
	cfg.Enrich.OpenStack.BaseMAC = openstack.DefaultBaseMAC
	c := New(&cfg, nil, Options{})
	c.inventory = openstack.NewInventory()
	c.inventory.Set("ovsdb:192.0.2.1", []openstack.Port{{ID: "p1", MAC: "fa:16:3e:00:00:01"}})
	b, err := json.Marshal(c.enrichmentStatus())
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"geoip":{`, `"enabled":false`, "enrich.geoip.city_databases", `"ports":1`, `"name":"ovsdb:192.0.2.1"`,
		"no OpenStack source", `"base_mac":"fa:16:3e:00:00:00"`} {
		if !strings.Contains(s, want) {
			t.Errorf("status %s lacks %s", s, want)
		}
	}
}
