// Package bytesize is the type of every size in flowlens's configuration:
// a number of bytes written as a plain number or with a unit — 32MiB,
// 5MB, 1GiB — so that every size key reads the same way.
package bytesize

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Size is a number of bytes.
type Size int64

// units: the binary ones first (String uses them, largest first), then
// the decimal ones, then the one-letter forms, which are binary as DuckDB
// and Linux read them.
var units = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"TB", 1000 * 1000 * 1000 * 1000},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// Parse reads "1048576", "1MiB", "1MB" (10^6), "1M" (2^20), "512 KiB".
func Parse(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			mult, t = u.mult, strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size: write a whole number of bytes, or one with a unit (e.g. 32MiB, 5MB, 1GiB)", s)
	}
	if mult > 1 && n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Size(n * mult), nil
}

// String writes the size with the largest binary unit that divides it.
func (s Size) String() string {
	for i := 3; i >= 0; i-- { // units[0:4]: KiB … TiB
		if u := units[i]; s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// UnmarshalYAML takes a number or a string with a unit.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := Parse(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = v
	return nil
}

// MarshalYAML writes the readable form.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }
