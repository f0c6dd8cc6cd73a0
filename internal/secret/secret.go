// Package secret holds the type of every password, token and API key in
// flowlens's configuration: it prints as "[redacted]", so that it cannot
// end up in a log line, an error or `flowlens config`.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// Secret is a password, token, password hash or API key.
type Secret string

// Redacted is what a secret prints as.
const Redacted = "[redacted]"

// String implements fmt.Stringer.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalYAML keeps secrets out of dumped configurations.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON keeps secrets out of JSON dumps.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// ReadFile returns the first line of file, trimmed: the form of the
// *_file settings (a secret kept out of the configuration file). Errors
// name the file, never its content.
func ReadFile(file, what string) (Secret, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("cannot read the %s file: %w", what, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", fmt.Errorf("the %s file %s is empty", what, file)
	}
	return Secret(line), nil
}
