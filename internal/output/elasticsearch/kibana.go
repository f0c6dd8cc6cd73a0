package elasticsearch

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Saved objects shipped in the binary, Kibana 8 format: the two data views
// (flow-* without the counters, flow-counters*), aggregation-based
// visualizations, an Elastic Maps map and the dashboard that shows them.
//
//go:embed kibana/flowlens.ndjson
var kibanaObjects []byte

// osdMapObject replaces the map for OpenSearch Dashboards, which has no
// Elastic Maps: a coordinate map visualization with the same id.
//
//go:embed kibana/osd-map.ndjson
var osdMapObject []byte

// Flavors of Kibana.
const (
	FlavorKibana = "kibana"
	FlavorOSD    = "opensearch-dashboards"
)

// SavedObjects returns the NDJSON SetupKibana imports, for an index prefix,
// a schema and a flavor. With the netflow-compat schema only the data
// views are included: the visualizations use ECS field names.
func SavedObjects(prefix, schema, flavor string) ([]byte, error) {
	return savedObjects(prefix, schema, flavor, false)
}

// savedObjects: kibana7 drops the Kibana 8 migration marker, which Kibana 7
// refuses as a newer version.
func savedObjects(prefix, schema, flavor string, kibana7 bool) ([]byte, error) {
	var osdMap map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(osdMapObject), &osdMap); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, line := range bytes.Split(bytes.TrimSpace(kibanaObjects), []byte("\n")) {
		var o map[string]any
		if err := json.Unmarshal(line, &o); err != nil {
			return nil, fmt.Errorf("embedded saved objects: %w", err)
		}
		typ, _ := o["type"].(string)
		if schema == SchemaNetFlowCompat && typ != "index-pattern" {
			continue
		}
		if typ == "index-pattern" && prefix != "flow" {
			attrs := o["attributes"].(map[string]any)
			title := attrs["title"].(string)
			attrs["title"] = strings.ReplaceAll(title, "flow-", prefix+"-")
		}
		if kibana7 {
			delete(o, "coreMigrationVersion")
		}
		if flavor == FlavorOSD {
			// OpenSearch Dashboards is a fork of Kibana 7.10: no core
			// migration version, no Elastic Maps.
			delete(o, "coreMigrationVersion")
			delete(o, "typeMigrationVersion")
			if typ == "map" {
				o = osdMap
			}
			if typ == "dashboard" {
				for _, r := range o["references"].([]any) {
					ref := r.(map[string]any)
					if ref["type"] == "map" {
						ref["type"] = "visualization"
					}
				}
				attrs := o["attributes"].(map[string]any)
				var panels []map[string]any
				if err := json.Unmarshal([]byte(attrs["panelsJSON"].(string)), &panels); err != nil {
					return nil, err
				}
				for _, p := range panels {
					p["version"] = "7.10.2"
				}
				b, _ := json.Marshal(panels)
				attrs["panelsJSON"] = string(b)
			}
		}
		b, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes(), nil
}

// KibanaResult is the answer of a saved objects import.
type KibanaResult struct {
	Flavor       string
	Version      string
	SuccessCount int
	Objects      int
}

type importResponse struct {
	Success      bool `json:"success"`
	SuccessCount int  `json:"successCount"`
	Errors       []struct {
		ID    string `json:"id"`
		Type  string `json:"type"`
		Title string `json:"title"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"errors"`
}

// SetupKibana imports the data views, visualizations and dashboard into
// Kibana or OpenSearch Dashboards (cfg.Kibana), overwriting earlier
// versions. It is what `flowlens setup kibana` runs.
func SetupKibana(ctx context.Context, cfg Config, log *slog.Logger) (KibanaResult, error) {
	var res KibanaResult
	if cfg.Kibana.URL == "" {
		return res, errors.New("output.elasticsearch.kibana.url is empty: give the Kibana (or OpenSearch Dashboards) URL, e.g. https://kibana:5601")
	}
	if err := cfg.Kibana.Auth.check("output.elasticsearch.kibana"); err != nil {
		return res, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultConfig().Timeout
	}
	if cfg.Index == "" {
		cfg.Index = "flow"
	}
	c, err := newClient([]string{cfg.Kibana.URL}, cfg.Kibana.Auth, cfg.Kibana.TLS, cfg.Timeout, 2)
	if err != nil {
		return res, fmt.Errorf("output.elasticsearch.kibana: %w", err)
	}
	space := ""
	if cfg.Kibana.Space != "" {
		space = "/s/" + url.PathEscape(cfg.Kibana.Space)
	}
	res.Flavor, res.Version, err = kibanaFlavor(ctx, c, space, cfg.Kibana.Flavor)
	if err != nil {
		return res, err
	}
	if res.Flavor == FlavorOSD {
		c.extra = http.Header{"Osd-Xsrf": {"true"}}
	} else {
		c.extra = http.Header{"Kbn-Xsrf": {"true"}}
	}
	major, _ := strconv.Atoi(strings.SplitN(res.Version, ".", 2)[0])
	ndjson, err := savedObjects(cfg.Index, cfg.Schema, res.Flavor, res.Flavor == FlavorKibana && major > 0 && major < 8)
	if err != nil {
		return res, err
	}
	res.Objects = bytes.Count(ndjson, []byte("\n"))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "flowlens.ndjson")
	if err != nil {
		return res, err
	}
	fw.Write(ndjson)
	mw.Close()
	_, data, err := c.do(ctx, http.MethodPost, space+"/api/saved_objects/_import?overwrite=true", mw.FormDataContentType(), body.Bytes())
	if err != nil {
		return res, fmt.Errorf("importing the saved objects: %w", err)
	}
	var ir importResponse
	if err := json.Unmarshal(data, &ir); err != nil {
		return res, c.errorf("importing the saved objects: unreadable answer: %v", err)
	}
	res.SuccessCount = ir.SuccessCount
	if !ir.Success || len(ir.Errors) > 0 {
		var parts []string
		for _, e := range ir.Errors {
			parts = append(parts, fmt.Sprintf("%s %s (%s): %s %s", e.Type, e.ID, e.Title, e.Error.Type, e.Error.Message))
		}
		return res, c.errorf("importing the saved objects: %d of %d imported; failed: %s", ir.SuccessCount, res.Objects, strings.Join(parts, "; "))
	}
	if log != nil {
		log.Info("kibana saved objects imported", "flavor", res.Flavor, "version", res.Version, "objects", ir.SuccessCount,
			"dashboard", "flowlens: traffic overview")
	}
	return res, nil
}

// kibanaFlavor tells Kibana from OpenSearch Dashboards: OpenSearch
// Dashboards names itself in an osd-name header (Kibana: kbn-name), and
// its versions are 1.x to 3.x.
func kibanaFlavor(ctx context.Context, c *client, space, configured string) (flavor, version string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base()+space+"/api/status", nil)
	if err != nil {
		return "", "", c.errorf("%v", err)
	}
	c.prepare(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", "", c.errorf("GET %s/api/status: %v", c.urls[0], err)
	}
	defer resp.Body.Close()
	var st struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode/100 != 2 {
		return "", "", c.errorf("GET %s/api/status: HTTP %d: %s (check output.elasticsearch.kibana.url and credentials)",
			c.urls[0], resp.StatusCode, errorSummary(buf.Bytes()))
	}
	json.Unmarshal(buf.Bytes(), &st)
	version = st.Version.Number
	switch configured {
	case FlavorKibana, FlavorOSD:
		return configured, version, nil
	}
	if resp.Header.Get("Osd-Name") != "" {
		return FlavorOSD, version, nil
	}
	if resp.Header.Get("Kbn-Name") != "" {
		return FlavorKibana, version, nil
	}
	if major, err := strconv.Atoi(strings.SplitN(version, ".", 2)[0]); err == nil && major < 5 {
		return FlavorOSD, version, nil
	}
	return FlavorKibana, version, nil
}
