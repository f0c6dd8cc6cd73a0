package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// Info describes the cluster, from its root endpoint (GET /).
type Info struct {
	// Product is "elasticsearch" or "opensearch".
	Product string
	// Version is version.number, e.g. "8.15.0" or "2.17.1".
	Version      string
	Major, Minor int
}

// OpenSearch reports whether the cluster is OpenSearch.
func (i Info) OpenSearch() bool { return i.Product == "opensearch" }

func (i Info) atLeast(major, minor int) bool {
	return i.Major > major || i.Major == major && i.Minor >= minor
}

// composable reports whether the cluster has composable index templates
// (Elasticsearch 7.8, every OpenSearch).
func (i Info) composable() bool { return i.OpenSearch() || i.atLeast(7, 8) }

func (i Info) String() string {
	if i.OpenSearch() {
		return "OpenSearch " + i.Version
	}
	return "Elasticsearch " + i.Version
}

// detect reads the product and version from GET /.
func detect(ctx context.Context, c *client) (Info, error) {
	_, body, err := c.do(ctx, http.MethodGet, "/", "", nil)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && (ae.Status == 401 || ae.Status == 403) {
			return Info{}, fmt.Errorf("%w (check the output.elasticsearch credentials)", err)
		}
		return Info{}, err
	}
	var root struct {
		Version struct {
			Number       string `json:"number"`
			Distribution string `json:"distribution"`
		} `json:"version"`
		Tagline string `json:"tagline"`
	}
	if err := json.Unmarshal(body, &root); err != nil || root.Version.Number == "" {
		return Info{}, c.errorf("GET %s/: not an Elasticsearch or OpenSearch answer (no version.number)", c.urls[0])
	}
	info := Info{Product: "elasticsearch", Version: root.Version.Number}
	if root.Version.Distribution == "opensearch" {
		info.Product = "opensearch"
	}
	parts := strings.SplitN(root.Version.Number, ".", 3)
	info.Major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		info.Minor, _ = strconv.Atoi(parts[1])
	}
	if !info.OpenSearch() && info.Major < 7 {
		return info, fmt.Errorf("%s is not supported: use Elasticsearch 7.x or later, or OpenSearch", info)
	}
	return info, nil
}

// Setup detects the cluster and installs the retention policy (when
// retention_days is set) and the index templates for cfg. It is what
// `flowlens setup elasticsearch` runs, and what the output runs at start-up
// when setup_templates is true. Installing again is harmless: templates
// and policies are overwritten with the same content.
func Setup(ctx context.Context, cfg Config, log *slog.Logger) (Info, error) {
	if err := cfg.Validate(); err != nil {
		return Info{}, err
	}
	c, err := newClient(cfg.URLs, cfg.Auth, cfg.TLS, cfg.Timeout, 2)
	if err != nil {
		return Info{}, fmt.Errorf("output.elasticsearch: %w", err)
	}
	return setup(ctx, c, &cfg, log)
}

func setup(ctx context.Context, c *client, cfg *Config, log *slog.Logger) (Info, error) {
	info, err := detect(ctx, c)
	if err != nil {
		return info, err
	}
	if cfg.DataStream && !info.OpenSearch() && !info.atLeast(7, 9) {
		return info, fmt.Errorf("data streams need Elasticsearch 7.9 or later (the cluster runs %s)", info.Version)
	}
	n := names{cfg.Index, cfg.DataStream}
	if cfg.RetentionDays > 0 {
		if info.OpenSearch() {
			if err := putISM(ctx, c, n.policy(), ismPolicy(cfg)); err != nil {
				return info, err
			}
		} else {
			if _, _, err := c.do(ctx, http.MethodPut, "/_ilm/policy/"+n.policy(), "", ilmPolicy(cfg, info)); err != nil {
				return info, fmt.Errorf("installing the ILM policy: %w", err)
			}
		}
	}
	for _, k := range []kind{kindCounters, kindFlows} {
		body, err := templateBody(cfg, info, k)
		if err != nil {
			return info, err
		}
		path := "/_index_template/" + n.template(k)
		if !info.composable() {
			path = "/_template/" + n.template(k)
		}
		if _, _, err := c.do(ctx, http.MethodPut, path, "", body); err != nil {
			return info, fmt.Errorf("installing the index template: %w", err)
		}
	}
	if log != nil {
		log.Info("elasticsearch output: templates installed", "cluster", info.String(),
			"flows", n.target(kindFlows)+suffixHint(cfg), "counters", n.target(kindCounters)+suffixHint(cfg),
			"schema", cfg.Schema, "retention_days", cfg.RetentionDays)
	}
	return info, nil
}

func suffixHint(cfg *Config) string {
	if cfg.DataStream {
		return ""
	}
	return "YYYY.MM.DD"
}

// putISM creates or updates an ISM policy. OpenSearch refuses to replace
// a policy without the sequence number and primary term of the current one.
func putISM(ctx context.Context, c *client, id string, body []byte) error {
	path := "/_plugins/_ism/policies/" + id
	status, cur, err := c.do(ctx, http.MethodGet, path, "", nil, 404)
	if err != nil {
		return fmt.Errorf("reading the ISM policy: %w", err)
	}
	if status == 200 {
		var meta struct {
			SeqNo       *int64 `json:"_seq_no"`
			PrimaryTerm *int64 `json:"_primary_term"`
		}
		if err := json.Unmarshal(cur, &meta); err != nil || meta.SeqNo == nil || meta.PrimaryTerm == nil {
			return c.errorf("reading the ISM policy %s: no _seq_no and _primary_term in the answer", id)
		}
		path += fmt.Sprintf("?if_seq_no=%d&if_primary_term=%d", *meta.SeqNo, *meta.PrimaryTerm)
	}
	if _, _, err := c.do(ctx, http.MethodPut, path, "", body); err != nil {
		return fmt.Errorf("installing the ISM policy: %w", err)
	}
	return nil
}
