package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/flowlens/flowlens/internal/collector"
	"github.com/flowlens/flowlens/internal/config"
)

// loadConfig parses the common flags (--config and every setting) and
// builds the configuration.
func loadConfig(fs *flag.FlagSet, args []string) (*config.Config, error) {
	path := fs.String("config", os.Getenv(config.EnvPrefix+"CONFIG"), "YAML configuration file (default: built-in defaults; env FLOWLENS_CONFIG)")
	settings := config.Flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (settings are flags: --name=value)", fs.Arg(0))
	}
	return config.Load(*path, os.Environ(), settings)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func cmdRun(args []string, stderr io.Writer) error {
	fs := newFlagSet("flowlens run", stderr)
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	v, rev := buildVersion()
	c := collector.New(cfg, log, collector.Options{Version: v, Revision: rev, Build: versionString(),
		Notify: func(state string) { notifySystemd(log, state) }})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return c.Run(ctx)
}
