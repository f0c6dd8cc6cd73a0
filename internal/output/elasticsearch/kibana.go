package elasticsearch

import (
	"bytes"
	"context"
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

// Flavors of Kibana.
const (
	FlavorKibana = "kibana"
	FlavorOSD    = "opensearch-dashboards"
)

// SavedObjects returns the NDJSON (the saved objects import and export
// format: one object a line) that SetupKibana imports, for an index
// prefix, a schema, a flavor and the version of Kibana or OpenSearch
// Dashboards ("": the latest, i.e. Lens for Kibana). `flowlens setup kibana
// --output FILE` writes it.
func SavedObjects(prefix, schema, flavor, version string) ([]byte, error) {
	if prefix == "" {
		prefix = "flow"
	}
	switch flavor {
	case FlavorKibana, FlavorOSD:
	case "", "auto":
		flavor = FlavorKibana
	default:
		return nil, fmt.Errorf("unknown flavor %q: use kibana or opensearch-dashboards", flavor)
	}
	var out bytes.Buffer
	for _, o := range buildObjects(prefix, schema, targetFor(flavor, version)) {
		b, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	return out.Bytes(), nil
}

// DashboardTitle is the title of the dashboard imported for a schema.
func DashboardTitle(schema string) string {
	if schema == SchemaNetFlowCompat {
		return compatDashboard.title
	}
	return ecsDashboard.title
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
	ndjson, err := SavedObjects(cfg.Index, cfg.Schema, res.Flavor, res.Version)
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
			"dashboard", DashboardTitle(cfg.Schema))
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
