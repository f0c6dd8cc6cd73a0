package openstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// staticFile is the format of the static inventory: for clouds where
// neither OVSDB nor the APIs can be reached from the collector.
type staticFile struct {
	Ports []Port `yaml:"ports"`
}

// LoadStatic reads a static inventory file.
func LoadStatic(path string) ([]Port, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("static inventory: %w", err)
	}
	ports, err := parseStatic(data)
	if err != nil {
		return nil, fmt.Errorf("static inventory %s: %w (see docs/openstack.md for the format)", path, err)
	}
	return ports, nil
}

func parseStatic(data []byte) ([]Port, error) {
	var f staticFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	for i, p := range f.Ports {
		if p.ID == "" && p.MAC == "" {
			return nil, fmt.Errorf("port %d has neither id nor mac", i+1)
		}
		if p.MAC != "" {
			if _, err := parseMAC(p.MAC); err != nil {
				return nil, fmt.Errorf("port %d: %w", i+1, err)
			}
		}
	}
	return f.Ports, nil
}

// WatchStatic loads the static inventory into inv, then reloads it when the
// file changes, until ctx is done. A broken edit keeps the last good
// version and logs why.
func WatchStatic(ctx context.Context, path string, inv *Inventory, log *slog.Logger) error {
	ports, err := LoadStatic(path)
	if err != nil {
		return err
	}
	inv.Set("static", ports)
	st, _ := os.Stat(path)
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now, err := os.Stat(path)
			if err != nil || st != nil && now.ModTime().Equal(st.ModTime()) && now.Size() == st.Size() {
				continue
			}
			st = now
			ports, err := LoadStatic(path)
			if err != nil {
				log.Warn("static inventory not reloaded; keeping the previous one", "error", err)
				continue
			}
			inv.Set("static", ports)
			log.Info("static inventory reloaded", "path", path, "ports", len(ports))
		}
	}()
	return nil
}
