package netflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
)

// The saved form is JSON: templates as the exporter sent them (the wire
// record, base64), so Load validates them exactly as if they arrived again.
const (
	saveFormat  = "flowlens-netflow-templates"
	saveVersion = 1
	// maxSaveBytes bounds what Load reads.
	maxSaveBytes = 256 << 20
)

type savedFile struct {
	Format    string          `json:"format"`
	Version   int             `json:"version"`
	Templates []savedTemplate `json:"templates"`
	Sampling  []savedSampling `json:"sampling"`
}

type savedTemplate struct {
	Exporter string `json:"exporter"`
	Version  uint16 `json:"version"` // 9 or 10
	Domain   uint32 `json:"domain"`
	Options  bool   `json:"options,omitempty"`
	Record   []byte `json:"record"`
	Seen     int64  `json:"seen"` // unix nanoseconds of the last refresh
}

type savedSampling struct {
	Exporter  string         `json:"exporter"`
	Version   uint16         `json:"version"`
	Domain    uint32         `json:"domain"`
	Rate      uint32         `json:"rate,omitempty"`
	Samplers  []savedSampler `json:"samplers,omitempty"`
	SysInitMs *uint64        `json:"system_init_ms,omitempty"`
	Seen      int64          `json:"seen"`
}

type savedSampler struct {
	ID   uint32 `json:"id"`
	Rate uint32 `json:"rate"`
}

// Save writes the templates and options data (sampling rates, system init
// times) in the cache to w, so that Load can restore them after a restart.
// Held data sets are not saved.
func (t *Templates) Save(w io.Writer) error {
	f := savedFile{Format: saveFormat, Version: saveVersion, Templates: []savedTemplate{}, Sampling: []savedSampling{}}
	t.mu.RLock()
	for addr, e := range t.exporters {
		a := addr.String()
		for k, tpl := range e.templates {
			f.Templates = append(f.Templates, savedTemplate{
				Exporter: a, Version: k.version, Domain: k.domain, Options: tpl.options,
				Record: tpl.raw, Seen: tpl.seen.Load(),
			})
		}
		for k, se := range e.sampling {
			s := savedSampling{Exporter: a, Version: k.version, Domain: k.domain, Rate: se.s.rate, Seen: se.seen.Load()}
			if se.s.hasSysInit {
				v := se.s.sysInitMs
				s.SysInitMs = &v
			}
			for id, r := range se.s.samplers {
				s.Samplers = append(s.Samplers, savedSampler{ID: id, Rate: r})
			}
			sort.Slice(s.Samplers, func(i, j int) bool { return s.Samplers[i].ID < s.Samplers[j].ID })
			f.Sampling = append(f.Sampling, s)
		}
	}
	t.mu.RUnlock()
	// A stable order makes saved files comparable.
	sort.Slice(f.Templates, func(i, j int) bool {
		a, b := f.Templates[i], f.Templates[j]
		if a.Exporter != b.Exporter {
			return a.Exporter < b.Exporter
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		if a.Domain != b.Domain {
			return a.Domain < b.Domain
		}
		return string(a.Record[:2]) < string(b.Record[:2])
	})
	sort.Slice(f.Sampling, func(i, j int) bool {
		a, b := f.Sampling[i], f.Sampling[j]
		if a.Exporter != b.Exporter {
			return a.Exporter < b.Exporter
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Domain < b.Domain
	})
	enc := json.NewEncoder(w)
	return enc.Encode(&f)
}

// Load adds the templates and options data saved by Save to the cache. It
// checks everything before it changes anything: on a damaged or foreign file
// it returns an error and leaves the cache as it was. Entries the cache
// already has in a fresher version are kept; entries beyond the cache's
// limits are left out.
func (t *Templates) Load(r io.Reader) error {
	dec := json.NewDecoder(io.LimitReader(r, maxSaveBytes))
	dec.DisallowUnknownFields()
	var f savedFile
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("netflow: loading templates: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("netflow: loading templates: data after the end")
	}
	if f.Format != saveFormat || f.Version != saveVersion {
		return fmt.Errorf("netflow: loading templates: format %q version %d, want %q version %d", f.Format, f.Version, saveFormat, saveVersion)
	}
	type loadedTemplate struct {
		addr netip.Addr
		key  tkey
		tpl  *template
	}
	tpls := make([]loadedTemplate, 0, len(f.Templates))
	for i, s := range f.Templates {
		addr, err := netip.ParseAddr(s.Exporter)
		if err != nil {
			return fmt.Errorf("netflow: loading templates: template %d: %w", i, err)
		}
		if s.Version != 9 && s.Version != 10 {
			return fmt.Errorf("netflow: loading templates: template %d: version %d", i, s.Version)
		}
		id, n, withdraw, stop, reason := scanTemplate(s.Version, s.Options, s.Record)
		if stop || withdraw || reason != ReasonNone || n != len(s.Record) {
			return fmt.Errorf("netflow: loading templates: template %d: not a valid template record", i)
		}
		tpl := buildTemplate(s.Version, s.Options, s.Record)
		tpl.seen.Store(s.Seen)
		tpls = append(tpls, loadedTemplate{addr: addr.Unmap(), key: tkey{version: s.Version, id: id, domain: s.Domain}, tpl: tpl})
	}
	for i, s := range f.Sampling {
		if _, err := netip.ParseAddr(s.Exporter); err != nil {
			return fmt.Errorf("netflow: loading templates: sampling %d: %w", i, err)
		}
		if s.Version != 9 && s.Version != 10 {
			return fmt.Errorf("netflow: loading templates: sampling %d: version %d", i, s.Version)
		}
		if len(s.Samplers) > maxSamplers {
			return fmt.Errorf("netflow: loading templates: sampling %d: %d samplers", i, len(s.Samplers))
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range tpls {
		if e := t.exporters[l.addr]; e != nil {
			if old := e.templates[l.key]; old != nil && old.seen.Load() >= l.tpl.seen.Load() {
				continue
			}
		}
		t.storeLocked(l.addr, l.key, l.tpl)
	}
	for _, s := range f.Sampling {
		addr := netip.MustParseAddr(s.Exporter).Unmap()
		key := dkey{version: s.Version, domain: s.Domain}
		e := t.exporterLocked(addr)
		if e == nil {
			continue
		}
		if old := e.sampling[key]; old != nil && old.seen.Load() >= s.Seen {
			continue
		} else if old == nil && e.entries() >= t.opt.MaxTemplatesPerExporter {
			continue
		}
		n := &sampling{rate: s.Rate}
		if s.SysInitMs != nil {
			n.sysInitMs, n.hasSysInit = *s.SysInitMs, true
		}
		if len(s.Samplers) > 0 {
			n.samplers = make(map[uint32]uint32, len(s.Samplers))
			for _, x := range s.Samplers {
				n.samplers[x.ID] = x.Rate
			}
		}
		se := &samplingEntry{s: n}
		se.seen.Store(s.Seen)
		e.sampling[key] = se
	}
	for addr, e := range t.exporters {
		if e.empty() {
			delete(t.exporters, addr)
		}
	}
	return nil
}
