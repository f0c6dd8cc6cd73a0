package collector

import (
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/internal/metrics"
)

// Every metric of every component is documented in docs/operations.md
// (this package links them all).
func TestMetricsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	names := metrics.Names()
	sort.Strings(names)
	for _, n := range names {
		if !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("docs/operations.md does not document %s", n)
		}
	}
	if len(names) < 40 {
		t.Errorf("only %d metrics listed", len(names))
	}
}
