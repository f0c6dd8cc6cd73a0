package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/flowlens/flowlens/internal/output/elasticsearch"
)

const setupUsage = `Usage:
  flowlens setup elasticsearch [--config FILE] [--SETTING=VALUE ...]
      install the index templates (and the ILM/ISM retention policy) in the
      cluster of output.elasticsearch.urls; safe to run again
  flowlens setup kibana [--config FILE] [--SETTING=VALUE ...]
      import the data views and the flowlens dashboard into
      output.elasticsearch.kibana.url (Kibana 7.10 to 9, OpenSearch Dashboards)
  flowlens setup kibana --output FILE [--flavor F] [--version V] [--config FILE]
      write the same saved objects to FILE ("-": standard output) as NDJSON,
      the saved objects import format, without contacting Kibana: for review,
      or to import by hand (Stack Management > Saved objects > Import) where
      flowlens cannot reach Kibana
`

func cmdSetup(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "elasticsearch" && args[0] != "kibana") {
		fmt.Fprint(stderr, setupUsage)
		return errUsage
	}
	what := args[0]
	fs := newFlagSet("flowlens setup "+what, stderr)
	var output, flavor, version *string
	if what == "kibana" {
		output = fs.String("output", "", `write the saved objects to this file ("-": standard output) instead of importing them`)
		flavor = fs.String("flavor", "", "with --output: kibana or opensearch-dashboards (default: output.elasticsearch.kibana.flavor, auto meaning kibana)")
		version = fs.String("version", "", "with --output: the version of Kibana or OpenSearch Dashboards to write for, e.g. 8.7.1 (default: the latest; Kibana 8.8 and later get Lens visualizations)")
	}
	cfg, err := loadConfig(fs, args[1:])
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	ecfg := cfg.Output.Elasticsearch
	if what == "kibana" && *output != "" {
		return writeSavedObjects(ecfg, *output, *flavor, *version, stdout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if what == "elasticsearch" {
		if len(ecfg.URLs) == 0 {
			return fmt.Errorf("output.elasticsearch.urls is empty: give the cluster, e.g. --output.elasticsearch.urls=https://es:9200")
		}
		info, err := elasticsearch.Setup(ctx, ecfg, log)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: templates for %s-* installed\n", info, ecfg.Index)
		return nil
	}
	if ecfg.Kibana.URL == "" {
		return fmt.Errorf("output.elasticsearch.kibana.url is empty: give the Kibana (or OpenSearch Dashboards) URL, e.g. --output.elasticsearch.kibana.url=https://kibana:5601, or write the objects to a file with --output FILE")
	}
	res, err := elasticsearch.SetupKibana(ctx, ecfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s: %d of %d saved objects imported; dashboard %q\n", res.Flavor, res.Version, res.SuccessCount, res.Objects,
		elasticsearch.DashboardTitle(ecfg.Schema))
	return nil
}

// writeSavedObjects writes the NDJSON for the configured index prefix and
// schema; a file is replaced whole (written aside, then renamed).
func writeSavedObjects(ecfg elasticsearch.Config, path, flavor, version string, stdout io.Writer) error {
	if flavor == "" {
		flavor = ecfg.Kibana.Flavor
	}
	nd, err := elasticsearch.SavedObjects(ecfg.Index, ecfg.Schema, flavor, version)
	if err != nil {
		return fmt.Errorf("--flavor: %w", err)
	}
	if path == "-" {
		_, err := stdout.Write(nd)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(nd); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if flavor == "" || flavor == "auto" {
		flavor = elasticsearch.FlavorKibana
	}
	target := "the latest " + flavor
	if version != "" {
		target = flavor + " " + version
	}
	fmt.Fprintf(stdout, "%s: %d saved objects for %s (index %s-*, schema %s); import them in Stack Management > Saved objects, or with\n"+
		"  curl -H 'kbn-xsrf: true' -F file=@%s 'KIBANA/api/saved_objects/_import?overwrite=true'\n",
		path, bytes.Count(nd, []byte("\n")), target, ecfg.Index, ecfg.Schema, path)
	return nil
}
