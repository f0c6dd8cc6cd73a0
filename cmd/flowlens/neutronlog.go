package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/flowlens/flowlens/internal/config"
	"github.com/flowlens/flowlens/internal/flow"
	"github.com/flowlens/flowlens/internal/input/neutronlog"
	"github.com/flowlens/flowlens/internal/pipeline"
)

// startNeutronLogs follows the configured Neutron packet logs until ctx
// ends; Wait on the result before closing the pipeline (a follower must
// not hand records to a closed one).
func startNeutronLogs(ctx context.Context, c config.NeutronLog, p *pipeline.Pipeline, log *slog.Logger) (*sync.WaitGroup, []*neutronlog.Follower) {
	var wg sync.WaitGroup
	var fs []*neutronlog.Follower
	for _, spec := range c.Files {
		agent, path, err := neutronlog.ParseFile(spec) // checked when the configuration was loaded
		if err != nil {
			continue
		}
		h := p.NewHandler()
		f := neutronlog.NewFollower(path, agent, func(rs []flow.Record) { h.Records(rs) }, log)
		fs = append(fs, f)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.Run(ctx)
		}()
	}
	return &wg, fs
}
