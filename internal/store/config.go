package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Config is the store configuration (the store: block).
type Config struct {
	// Enabled turns the embedded store (and so the console's data) on.
	Enabled bool `yaml:"enabled"`
	// Path is the directory holding the database; "" picks
	// /var/lib/flowlens when running as root, ./flowlens-data otherwise.
	Path string `yaml:"path"`
	// Retention is how long flows are kept, at the coarsest resolution.
	Retention time.Duration `yaml:"retention"`
	// Rollups lists "RESOLUTION after AGE" steps, e.g. "5m after 6h":
	// records older than AGE are only kept summed over RESOLUTION.
	Rollups []string `yaml:"rollups"`
	// MaintenanceInterval is how often rollups and retention run.
	MaintenanceInterval time.Duration `yaml:"maintenance_interval"`
	// MemoryLimit bounds the engine's memory, e.g. "1GB" (DuckDB syntax).
	MemoryLimit string `yaml:"memory_limit"`
	// Threads the engine may use for one query; 0 is one per CPU.
	Threads int `yaml:"threads"`
	// CheckpointThreshold is the write-ahead log size at which DuckDB
	// writes it into the database file, e.g. "32MB". DuckDB holds what was
	// appended since the last checkpoint in memory, so this bounds the
	// store's memory under ingest.
	CheckpointThreshold string `yaml:"checkpoint_threshold"`
}

// DefaultConfig returns the defaults documented in internal/config/default.yaml
// (a test there keeps the two equal).
func DefaultConfig() Config {
	return Config{
		Enabled:             true,
		Retention:           7 * 24 * time.Hour,
		Rollups:             []string{"5m after 6h", "1h after 48h"},
		MaintenanceInterval: time.Minute,
		MemoryLimit:         "1GB",
		CheckpointThreshold: "32MB",
	}
}

// Tier is one resolution of the stored flows.
type Tier struct {
	// Step is the resolution in seconds; 0 for the raw tier (whatever
	// interval the aggregator writes).
	Step int64
	// Keep is how long the tier's rows are kept.
	Keep time.Duration
}

// table returns the tier's table name for kind (flows or counters).
func (t Tier) table(kind string) string {
	if t.Step == 0 {
		return kind + "_raw"
	}
	return fmt.Sprintf("%s_%d", kind, t.Step)
}

// Tiers parses Rollups and Retention: the raw tier first, then each rollup
// by increasing resolution.
func (c Config) Tiers() ([]Tier, error) {
	if c.Retention < time.Hour {
		return nil, fmt.Errorf("store.retention %s: keep flows at least 1h (e.g. 168h for 7 days)", c.Retention)
	}
	type rollup struct{ step, after time.Duration }
	var rs []rollup
	for _, s := range c.Rollups {
		f := strings.Fields(s)
		if len(f) != 3 || f[1] != "after" {
			return nil, fmt.Errorf("store.rollups %q: write \"RESOLUTION after AGE\", e.g. \"5m after 6h\"", s)
		}
		step, err1 := time.ParseDuration(f[0])
		after, err2 := time.ParseDuration(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("store.rollups %q: RESOLUTION and AGE are durations, e.g. \"5m after 6h\"", s)
		}
		if step < time.Minute || step%time.Minute != 0 || step > 24*time.Hour {
			return nil, fmt.Errorf("store.rollups %q: the resolution must be whole minutes, from 1m to 24h", s)
		}
		rs = append(rs, rollup{step, after})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].step < rs[j].step })
	tiers := []Tier{{Step: 0}}
	for i, r := range rs {
		if i > 0 {
			p := rs[i-1]
			if r.step == p.step {
				return nil, fmt.Errorf("store.rollups: resolution %s appears twice", r.step)
			}
			if r.step%p.step != 0 {
				return nil, fmt.Errorf("store.rollups: resolution %s is not a multiple of %s", r.step, p.step)
			}
			if r.after <= p.after {
				return nil, fmt.Errorf("store.rollups: the coarser resolution %s must start later than %s (after %s, not %s)", r.step, p.step, p.after, r.after)
			}
		}
		if r.after < 2*r.step {
			return nil, fmt.Errorf("store.rollups %q: AGE must be at least twice RESOLUTION", fmt.Sprintf("%s after %s", r.step, r.after))
		}
		tiers[len(tiers)-1].Keep = r.after
		tiers = append(tiers, Tier{Step: int64(r.step / time.Second)})
	}
	last := &tiers[len(tiers)-1]
	last.Keep = c.Retention
	if len(tiers) > 1 && tiers[len(tiers)-2].Keep >= c.Retention {
		return nil, fmt.Errorf("store.retention %s is shorter than the last rollup's age %s", c.Retention, tiers[len(tiers)-2].Keep)
	}
	return tiers, nil
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	if _, err := c.Tiers(); err != nil {
		return err
	}
	if c.MaintenanceInterval < 0 {
		return errors.New("store.maintenance_interval cannot be negative")
	}
	if c.CheckpointThreshold != "" && !sizeRE.MatchString(c.CheckpointThreshold) {
		return fmt.Errorf("store.checkpoint_threshold %q: write a size such as 32MB or 1GB", c.CheckpointThreshold)
	}
	if c.Threads < 0 {
		return errors.New("store.threads cannot be negative (0 is one per CPU)")
	}
	return nil
}

var sizeRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)? ?([KMGT]i?)?B$`)

// Dir returns the database directory: Path, or the default when Path is
// empty: /var/lib/flowlens as root, ./flowlens-data otherwise.
func (c Config) Dir() string {
	if c.Path != "" {
		return c.Path
	}
	if os.Geteuid() == 0 {
		return "/var/lib/flowlens"
	}
	return filepath.Clean("flowlens-data")
}
