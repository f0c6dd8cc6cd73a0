package geoip

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// The integer ranges give the same answer as the definition, for every
// range edge and for random addresses.
func TestInternalFastPathMatchesDefinition(t *testing.T) {
	own := []netip.Prefix{netip.MustParsePrefix("203.0.114.0/23"), netip.MustParsePrefix("2001:db9::/32"), netip.MustParsePrefix("8.8.8.8/32")}
	d := &DB{internal: own, internal4: internalSpans(own)}
	var addrs []netip.Addr
	for _, r := range d.internal4 {
		for _, x := range []uint32{r.lo - 1, r.lo, r.lo + 1, r.hi - 1, r.hi, r.hi + 1} {
			addrs = append(addrs, netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}))
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 200000 {
		x := rng.Uint32()
		addrs = append(addrs, netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}))
	}
	for _, a := range addrs {
		if got, want := d.Internal(a), internalSlow(a, own); got != want {
			t.Fatalf("%s: fast %v, definition %v", a, got, want)
		}
		// IPv4-mapped IPv6 is the same address.
		if got := d.Internal(netip.AddrFrom16(a.As16())); got != internalSlow(a, own) {
			t.Fatalf("%s mapped: %v", a, got)
		}
	}
	// IPv6 shortcuts agree with the definition too.
	d6 := &DB{internal4: internalSpans(nil)}
	for range 200000 {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		b[0] = []byte{0xff, 0xfe, 0xfd, 0xfc, 0x20, 0x00}[rng.IntN(6)]
		a := netip.AddrFrom16(b)
		if a.Is4In6() {
			continue
		}
		if got, want := d6.Internal(a), internalSlow(a, nil); got != want {
			t.Fatalf("%s: fast %v, definition %v", a, got, want)
		}
	}
	for s, want := range map[string]bool{"8.8.8.8": true, "8.8.8.9": false, "203.0.115.255": true, "1.1.1.1": false,
		"100.64.0.1": true, "fd00::1": true, "2001:db9::1": true, "2a00::1": false} {
		if got := d.Internal(netip.MustParseAddr(s)); got != want {
			t.Errorf("%s: %v, want %v", s, got, want)
		}
	}
}
