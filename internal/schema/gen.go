package schema

import (
	"fmt"
	"strings"
)

// Markdown is the table of docs/fields.md that lists the fields of an
// aggregated flow, between its begin and end markers.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| field | type | console | ECS | netflow-compat | description |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, f := range Flows {
		console := f.Label
		switch f.Role {
		case Measure:
			console = "(measure)"
		case Time:
			console = "(time)"
		case Detail:
			console = "(map)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", f.Name, f.Type, console, code(f.ECS), code(f.Compat), f.Doc)
	}
	b.WriteString("\nEither-side dimensions, for filters only (a flow has two values): ")
	for i, e := range EitherSides {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "`%s` (`%s` or `%s`)", e.Name, e.Of[0], e.Of[1])
	}
	b.WriteString(".\n")
	return b.String()
}

func code(s string) string {
	if s == "" {
		return "—"
	}
	return "`" + s + "`"
}

// TypeScript is web/src/schema.gen.ts: the console's built-in list of
// dimensions (the server's, from GET /api/v1/dimensions, wins).
func TypeScript() string {
	var b strings.Builder
	b.WriteString("// Generated from internal/schema by `go test ./internal/schema -update`: do not edit.\n")
	b.WriteString("import type { Dimension } from './api';\n\n")
	b.WriteString("// Every dimension, in the console's order.\nexport const BUILTIN: Dimension[] = [\n")
	for _, f := range Dimensions() {
		fmt.Fprintf(&b, "  { name: '%s', label: '%s' },\n", f.Name, f.Label)
	}
	b.WriteString("];\n\n// Filter-only dimensions matching either end of a flow (docs/api.md).\nexport const EITHER_SIDE: Dimension[] = [\n")
	for _, e := range EitherSides {
		fmt.Fprintf(&b, "  { name: '%s', label: '%s' },\n", e.Name, e.Label)
	}
	b.WriteString("];\n\n// Short labels of the either-side dimensions, for filter chips.\nexport const EITHER_SHORT: Record<string, string> = {\n")
	for _, e := range EitherSides {
		fmt.Fprintf(&b, "  %s: '%s',\n", e.Name, e.Short)
	}
	b.WriteString("};\n")
	return b.String()
}
