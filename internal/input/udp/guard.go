package udp

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// The guard runs before any decoding, because decoding is what a flood
// costs: datagrams from outside the allowed sources are dropped unread,
// and one source over its rate cannot crowd out the other exporters.

// Prefixes parses AllowedSources; an error names the bad entry.
func (c Config) Prefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.AllowedSources {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("allowed_sources: %q is not an address or CIDR prefix (e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.7)", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Validate checks the settings a listener cannot start with; name is the
// section ("input.sflow") for the message.
func (c Config) Validate(name string) error {
	if c.ReceiveBuffer < 0 || c.Batch < 0 || c.Sockets < 0 {
		return fmt.Errorf("%s: receive_buffer, batch and sockets cannot be negative", name)
	}
	if c.MaxDatagramsPerSource < 0 {
		return fmt.Errorf("%s.max_datagrams_per_source cannot be negative (0 is no limit)", name)
	}
	if _, err := c.Prefixes(); err != nil {
		return fmt.Errorf("%s.%w", name, err)
	}
	return nil
}

// guard is one socket's admission control; only its goroutine uses it.
type guard struct {
	allow []netip.Prefix
	rate  float64 // datagrams per second per source; 0: no limit
	// buckets are token buckets per source address. Bounded: a flood of
	// spoofed addresses only resets them (each source then starts with a
	// full bucket again, which the allowlist is the answer to).
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the guard's memory.
const maxBuckets = 16384

type verdict uint8

const (
	admitted verdict = iota
	denied
	rateLimited
)

func newGuard(c Config) *guard {
	allow, _ := c.Prefixes() // checked by Validate
	if len(allow) == 0 && c.MaxDatagramsPerSource == 0 {
		return nil
	}
	return &guard{allow: allow, rate: float64(c.MaxDatagramsPerSource), buckets: make(map[netip.Addr]*bucket)}
}

func (g *guard) admit(src netip.Addr, now time.Time) verdict {
	src = src.Unmap()
	if len(g.allow) > 0 {
		ok := false
		for _, p := range g.allow {
			if p.Contains(src) {
				ok = true
				break
			}
		}
		if !ok {
			return denied
		}
	}
	if g.rate == 0 {
		return admitted
	}
	b := g.buckets[src]
	if b == nil {
		if len(g.buckets) >= maxBuckets {
			clear(g.buckets)
		}
		// A burst of one second's worth: exporters send in bursts (OVS
		// flushes a datagram when it is full or every second).
		b = &bucket{tokens: g.rate, last: now}
		g.buckets[src] = b
	}
	b.tokens = min(g.rate, b.tokens+now.Sub(b.last).Seconds()*g.rate)
	b.last = now
	if b.tokens < 1 {
		return rateLimited
	}
	b.tokens--
	return admitted
}
