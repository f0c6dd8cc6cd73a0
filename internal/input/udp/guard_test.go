package udp

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestGuard(t *testing.T) {
	if newGuard(Config{}) != nil {
		t.Error("no allowlist and no limit should mean no guard")
	}
	g := newGuard(Config{AllowedSources: []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"}, MaxDatagramsPerSource: 100})
	now := time.Unix(1000, 0)
	for addr, want := range map[string]verdict{
		"10.1.2.3": admitted, "::ffff:10.1.2.3": admitted, "2001:db8::1": admitted, "192.0.2.7": admitted,
		"192.0.2.8": denied, "11.0.0.1": denied, "2001:db9::1": denied,
	} {
		if got := g.admit(netip.MustParseAddr(addr), now); got != want {
			t.Errorf("%s: %v, want %v", addr, got, want)
		}
	}
	// A burst of one second's worth, then the rate.
	src := netip.MustParseAddr("10.9.9.9")
	n := 0
	for g.admit(src, now) == admitted {
		n++
	}
	if n != 100 {
		t.Errorf("burst of %d, want 100", n)
	}
	if g.admit(src, now.Add(5*time.Millisecond)) != rateLimited {
		t.Error("half a token should not admit a datagram")
	}
	if g.admit(src, now.Add(20*time.Millisecond)) != admitted {
		t.Error("after 20 ms at 100/s a datagram should pass")
	}
	// Another source has its own bucket.
	if g.admit(netip.MustParseAddr("10.9.9.10"), now) != admitted {
		t.Error("buckets are per source")
	}
}

func TestGuardConfig(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "host.example", ""} {
		err := Config{AllowedSources: []string{bad}}.Validate("input.sflow")
		if err == nil || !strings.Contains(err.Error(), "input.sflow.allowed_sources") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if err := (Config{MaxDatagramsPerSource: -1}).Validate("input.netflow"); err == nil {
		t.Error("negative limit accepted")
	}
	p, err := Config{AllowedSources: []string{"10.1.2.3/8", " 192.0.2.1 "}}.Prefixes()
	if err != nil || p[0].String() != "10.0.0.0/8" || p[1].String() != "192.0.2.1/32" {
		t.Errorf("%v %v", p, err)
	}
}
