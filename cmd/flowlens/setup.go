package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/flowlens/flowlens/internal/output/elasticsearch"
)

const setupUsage = `Usage:
  flowlens setup elasticsearch [--config FILE] [--SETTING=VALUE ...]
      install the index templates (and the ILM/ISM retention policy) in the
      cluster of output.elasticsearch.urls; safe to run again
  flowlens setup kibana [--config FILE] [--SETTING=VALUE ...]
      import the data views and the flowlens dashboard into
      output.elasticsearch.kibana.url (Kibana 8, OpenSearch Dashboards 2)
`

func cmdSetup(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "elasticsearch" && args[0] != "kibana") {
		fmt.Fprint(stderr, setupUsage)
		return errUsage
	}
	what := args[0]
	fs := newFlagSet("flowlens setup "+what, stderr)
	cfg, err := loadConfig(fs, args[1:])
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	ecfg := cfg.Output.Elasticsearch
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
	res, err := elasticsearch.SetupKibana(ctx, ecfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s: %d of %d saved objects imported\n", res.Flavor, res.Version, res.SuccessCount, res.Objects)
	return nil
}
