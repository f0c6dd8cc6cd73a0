package openstack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"
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
	var f staticFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("static inventory %s: %w (see docs/openstack.md for the format)", path, err)
	}
	for i, p := range f.Ports {
		if p.ID == "" && p.MAC == "" {
			return nil, fmt.Errorf("static inventory %s: port %d has neither id nor mac", path, i+1)
		}
		if p.MAC != "" {
			if _, err := parseMAC(p.MAC); err != nil {
				return nil, fmt.Errorf("static inventory %s: port %d: %w", path, i+1, err)
			}
		}
	}
	return f.Ports, nil
}
