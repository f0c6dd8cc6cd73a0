package config

import (
	"os"
	"strings"
	"testing"
)

// docs/configuration.md carries a copy of default.yaml; it must not drift.
func TestConfigurationDocIsCurrent(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```yaml\n"+string(Default)+"```") {
		t.Error("docs/configuration.md does not contain internal/config/default.yaml verbatim: copy it over")
	}
}
