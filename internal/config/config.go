// Package config holds flowlens's configuration: one struct, whose defaults
// and documentation live together in default.yaml, loaded from a file and
// overridden by environment variables and flags derived from the same
// field names.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"github.com/flowlens/flowlens/internal/bytesize"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/flowlens/flowlens/internal/aggregate"
	"github.com/flowlens/flowlens/internal/console"
	"github.com/flowlens/flowlens/internal/enrich/geoip"
	"github.com/flowlens/flowlens/internal/enrich/openstack"
	"github.com/flowlens/flowlens/internal/enrich/ovn"
	"github.com/flowlens/flowlens/internal/input/neutronlog"
	"github.com/flowlens/flowlens/internal/input/udp"
	"github.com/flowlens/flowlens/internal/output/elasticsearch"
	"github.com/flowlens/flowlens/internal/output/ndjson"
	"github.com/flowlens/flowlens/internal/store"
)

// Default is the documented default configuration.
//
//go:embed default.yaml
var Default []byte

// Config is the whole configuration.
type Config struct {
	Log       Log              `yaml:"log"`
	Input     Input            `yaml:"input"`
	Enrich    Enrich           `yaml:"enrich"`
	Aggregate aggregate.Config `yaml:"aggregate"`
	Store     store.Config     `yaml:"store"`
	Console   console.Config   `yaml:"console"`
	Metrics   Metrics          `yaml:"metrics"`
	Pipeline  Pipeline         `yaml:"pipeline"`
	Output    Output           `yaml:"output"`

	// Warnings are problems that did not stop loading, for the caller to log.
	Warnings []string `yaml:"-"`
}

// Log configures logging.
type Log struct {
	Level         string        `yaml:"level"`
	Format        string        `yaml:"format"`
	StatsInterval time.Duration `yaml:"stats_interval"`
}

// Input configures the listeners.
type Input struct {
	SFlow   SFlow   `yaml:"sflow"`
	NetFlow NetFlow `yaml:"netflow"`
	// NeutronLog: what ML2/OVS security groups dropped, from Neutron's
	// packet log.
	NeutronLog NeutronLog `yaml:"neutron_log"`
}

// NeutronLog configures the Neutron packet log input.
type NeutronLog struct {
	Files []string `yaml:"files"` // AGENT=PATH
}

// NetFlow configures the NetFlow v5/v9 and IPFIX listener and decoder.
type NetFlow struct {
	udp.Config          `yaml:",inline"`
	DefaultSamplingRate uint32        `yaml:"default_sampling_rate"`
	SamplingRates       []string      `yaml:"sampling_rates"`
	TemplateTTL         time.Duration `yaml:"template_ttl"`
	TemplateFile        string        `yaml:"template_file"`
}

// SFlow configures the sFlow listener and decoder.
type SFlow struct {
	udp.Config `yaml:",inline"`
	IncludeFCS bool `yaml:"include_fcs"`
}

// Enrich configures enrichment.
type Enrich struct {
	GeoIP     geoip.Config `yaml:"geoip"`
	OpenStack OpenStack    `yaml:"openstack"`
}

// OpenStack configures OpenStack attribution and, with ML2/OVN, what
// security groups dropped.
type OpenStack struct {
	openstack.Config `yaml:",inline"`
	// OVN traces what security groups dropped (OVN's drop sampling).
	OVN ovn.Config `yaml:"ovn"`
}

// Metrics configures the listener for Prometheus and health probes.
type Metrics struct {
	// Listen is HOST:PORT; empty: no listener of its own (the console
	// serves the endpoints).
	Listen string `yaml:"listen"`
}

// Validate checks the listen address, against the console's too: both on
// one address would fail at start with a less helpful error.
func (m Metrics) Validate(c console.Config) error {
	if m.Listen == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(m.Listen)
	if _, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil {
		return fmt.Errorf("metrics.listen %q: write HOST:PORT, e.g. 192.0.2.5:9740 (an address on the management network), "+
			"or leave it empty to serve /metrics, /healthz and /readyz on the console only", m.Listen)
	}
	if c.Enabled && port != "0" {
		if chost, cport, err := net.SplitHostPort(c.Listen); err == nil && cport == port && (chost == host || chost == "" || host == "") {
			return fmt.Errorf("metrics.listen %s and console.listen %s use the same port: pick another port for metrics.listen, "+
				"or leave it empty and scrape /metrics from the console", m.Listen, c.Listen)
		}
	}
	return nil
}

// Pipeline configures the path between inputs and outputs.
type Pipeline struct {
	QueueRecords int `yaml:"queue_records"`
}

// Output configures the outputs.
type Output struct {
	NDJSON        ndjson.Config        `yaml:"ndjson"`
	Elasticsearch elasticsearch.Config `yaml:"elasticsearch"`
}

// EnvPrefix starts every environment variable flowlens reads.
const EnvPrefix = "FLOWLENS_"

// notSettings are the variables with the prefix that flowlens reads but
// that are not settings: the configuration file, and the profiles of
// cmd/flowlens/profile.go.
var notSettings = map[string]bool{"CONFIG": true, "CPUPROFILE": true, "MEMPROFILE": true, "HEAPPROFILE_AT": true, "TRACE": true}

// Parse decodes YAML into c, refusing unknown keys so that a typo is an
// error rather than a silently ignored setting.
func (c *Config) Parse(data []byte, source string) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // an empty file is fine
		return fmt.Errorf("%s: %w (see `flowlens config` for every option and its default)", source, err)
	}
	return nil
}

// Load builds the configuration: defaults, then the file (if path is not
// empty), then environment variables, then the flags already parsed into
// fl (see Flags).
func Load(path string, env []string, fl *FlagSet) (*Config, error) {
	c := &Config{}
	if err := c.Parse(Default, "built-in defaults"); err != nil {
		return nil, err
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read the configuration file: %w", err)
		}
		if err := c.Parse(data, path); err != nil {
			return nil, err
		}
	}
	fields := c.fields()
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) || notSettings[strings.TrimPrefix(k, EnvPrefix)] {
			continue
		}
		name := strings.ToLower(strings.TrimPrefix(k, EnvPrefix))
		f, ok := fields.byEnv[name]
		if !ok {
			// Not an error: wrappers and test harnesses use the prefix too.
			c.Warnings = append(c.Warnings, fmt.Sprintf("environment variable %s is not a flowlens setting and is ignored (see `flowlens config`)", k))
			continue
		}
		if err := set(f.v, v); err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", k, err)
		}
	}
	if fl != nil {
		for _, s := range fl.set {
			if err := set(fields.byPath[s.path].v, s.value); err != nil {
				return nil, fmt.Errorf("flag --%s: %w", s.path, err)
			}
		}
	}
	// Downloaded GeoIP databases live next to the store's files.
	if c.Enrich.GeoIP.Download.Dir == "" {
		c.Enrich.GeoIP.Download.Dir = filepath.Join(c.Store.Dir(), "geoip")
	}
	return c, c.Validate()
}

// Validate checks values that YAML types alone do not.
func (c *Config) Validate() error {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level %q: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format %q: use text or json", c.Log.Format)
	}
	if len(c.Input.SFlow.Listen) == 0 {
		return errors.New("input.sflow.listen is empty: give at least one address, e.g. :6343")
	}
	if err := c.Input.SFlow.Config.Validate("input.sflow"); err != nil {
		return err
	}
	if err := c.Input.NetFlow.Config.Validate("input.netflow"); err != nil {
		return err
	}
	for _, o := range c.Enrich.OpenStack.OVSDB {
		if _, _, err := openstack.ParseOVSDB(o); err != nil {
			return err
		}
	}
	if err := c.Enrich.OpenStack.API.Validate(); err != nil {
		return err
	}
	if _, err := c.Enrich.OpenStack.Options(); err != nil {
		return err
	}
	if err := c.Enrich.OpenStack.OVN.Validate(); err != nil {
		return err
	}
	for _, f := range c.Input.NeutronLog.Files {
		if _, _, err := neutronlog.ParseFile(f); err != nil {
			return err
		}
	}
	if c.Store.Enabled {
		if err := c.Store.Validate(); err != nil {
			return err
		}
	}
	if c.Console.Enabled {
		if err := c.Console.Validate(); err != nil {
			return err
		}
	}
	if err := c.Metrics.Validate(c.Console); err != nil {
		return err
	}
	if c.Output.NDJSON.Path != "" {
		if err := c.Output.NDJSON.Validate(); err != nil {
			return err
		}
	}
	if len(c.Output.Elasticsearch.URLs) > 0 {
		if err := c.Output.Elasticsearch.Validate(); err != nil {
			return err
		}
	}
	if _, err := c.Input.NetFlow.Rates(); err != nil {
		return err
	}
	if err := c.Aggregate.Validate(); err != nil {
		return err
	}
	if m := c.Input.SFlow.MaxDatagram; m != 0 && (m < 1500 || m > 65535) {
		return fmt.Errorf("input.sflow.max_datagram %d: use a value between 1500 and 65535", m)
	}
	return nil
}

type field struct {
	path string
	v    reflect.Value
}

type fieldIndex struct {
	list   []field
	byPath map[string]field
	byEnv  map[string]field
}

// fields lists every setting of c by its dotted YAML path.
func (c *Config) fields() fieldIndex {
	idx := fieldIndex{byPath: map[string]field{}, byEnv: map[string]field{}}
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			fv := v.Field(i)
			if opts == "inline" {
				walk(fv, prefix)
				continue
			}
			if name == "" || name == "-" {
				continue
			}
			path := prefix + name
			if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Duration(0)) {
				walk(fv, path+".")
				continue
			}
			f := field{path: path, v: fv}
			idx.list = append(idx.list, f)
			idx.byPath[path] = f
			idx.byEnv[strings.ReplaceAll(path, ".", "_")] = f
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return idx
}

// set parses s into v according to v's type.
func set(v reflect.Value, s string) error {
	if v.Type() == reflect.TypeOf(bytesize.Size(0)) {
		n, err := bytesize.Parse(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(n))
		return nil
	}
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 30s, 5m, 1h)", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Uint16:
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a whole number from 0 to %d", s, uint64(1)<<v.Type().Bits()-1)
		}
		v.SetUint(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %s", v.Type())
		}
		var list []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// FlagSet records setting flags in command-line order, to be applied after
// the file and environment.
type FlagSet struct {
	set []struct{ path, value string }
}

// Flags registers a flag for every setting on fs, with the comment from
// default.yaml as its usage text.
func Flags(fs *flag.FlagSet) *FlagSet {
	out := &FlagSet{}
	docs := Docs()
	var c Config
	for _, f := range c.fields().list {
		path := f.path
		usage := docs[path]
		if usage == "" {
			usage = "see `flowlens config`"
		}
		fs.Func(path, usage, func(s string) error {
			var probe Config
			if err := set(probe.fields().byPath[path].v, s); err != nil {
				return err
			}
			out.set = append(out.set, struct{ path, value string }{path, s})
			return nil
		})
	}
	return out
}

// Docs returns each setting's comment in default.yaml, by dotted path.
func Docs() map[string]string {
	var root yaml.Node
	if err := yaml.Unmarshal(Default, &root); err != nil {
		panic("default.yaml: " + err.Error())
	}
	docs := map[string]string{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.DocumentNode {
			for _, c := range n.Content {
				walk(c, prefix)
			}
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := prefix + k.Value
			if c := strings.TrimSpace(k.HeadComment); c != "" {
				var lines []string
				for _, l := range strings.Split(c, "\n") {
					lines = append(lines, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#")))
				}
				docs[path] = strings.Join(lines, " ")
			}
			walk(v, path+".")
		}
	}
	walk(&root, "")
	return docs
}

// Settings lists every setting's path, environment variable and current
// value, for `flowlens config --effective`.
func (c *Config) Settings() [][3]string {
	var out [][3]string
	for _, f := range c.fields().list {
		out = append(out, [3]string{f.path, EnvPrefix + strings.ToUpper(strings.ReplaceAll(f.path, ".", "_")), fmt.Sprint(f.v.Interface())})
	}
	return out
}

// Rates parses SamplingRates.
func (n NetFlow) Rates() (map[netip.Addr]uint32, error) {
	if len(n.SamplingRates) == 0 {
		return nil, nil
	}
	out := make(map[netip.Addr]uint32, len(n.SamplingRates))
	for _, e := range n.SamplingRates {
		a, r, ok := strings.Cut(e, "=")
		addr, err := netip.ParseAddr(strings.TrimSpace(a))
		rate, rerr := strconv.ParseUint(strings.TrimSpace(r), 10, 32)
		if !ok || err != nil || rerr != nil || rate == 0 {
			return nil, fmt.Errorf("input.netflow.sampling_rates %q: write ADDRESS=RATE, e.g. 192.0.2.7=64", e)
		}
		out[addr.Unmap()] = uint32(rate)
	}
	return out, nil
}
