package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/flowlens/flowlens/internal/schema"
)

// Engine is what the store needs from an embedded SQL database. All
// queries the store runs are plain SQL that DuckDB and SQLite both accept
// (integer timestamps, no engine-specific functions), so that the engine
// can be swapped: DuckDB is the one shipped (docs/store.md says why);
// bench/store implements SQLite behind the same interface to compare.
type Engine interface {
	// Name is the engine's name, for logs and status.
	Name() string
	// DB is the database handle. Queries may run concurrently; the store
	// serialises writes (Append and its own statements).
	DB() *sql.DB
	// Append inserts n rows into table in one transaction: fill writes
	// row i's values into row, one per column in table order (int64,
	// float64, string or nil). The rows must be durable when it returns nil.
	Append(ctx context.Context, table string, columns, n int, fill func(i int, row []driver.Value)) error
	// RowStore says that tables need an index on ts for range scans
	// (column stores skip blocks by their min/max instead).
	RowStore() bool
	// Files lists the files of the database, for disk use.
	Files() []string
	// Check verifies the database's integrity.
	Check(ctx context.Context) error
	// Compact gives back space freed by deletions, if the engine needs
	// to be told.
	Compact(ctx context.Context) error
	// Memory is what the engine holds in memory (its cache), in bytes;
	// -1 when it cannot say.
	Memory(ctx context.Context) int64
	// Close closes the database.
	Close() error
}

// column is one column of a flows or counters table.
type column struct {
	name string
	typ  string // BIGINT, DOUBLE or VARCHAR
}

// flowColumns are the flows tables' columns, from the schema. Every
// dimension is NOT NULL (0 or "" when absent) so that grouping never meets
// NULL. Columns added after the first release come last: stores made
// before get them through addedColumns, and appends fill columns in table
// order.
var flowColumns = func() []column {
	out := make([]column, len(schema.Flows))
	for i, f := range schema.Flows {
		out[i] = column{f.Name, f.Type.SQL()}
	}
	return out
}()

// addedColumns are added to existing flows tables, with the value old
// rows get.
var addedColumns = func() []struct {
	column
	def string
} {
	var out []struct {
		column
		def string
	}
	for _, f := range schema.Flows {
		if f.Added != "" {
			out = append(out, struct {
				column
				def string
			}{column{f.Name, f.Type.SQL()}, f.Added})
		}
	}
	return out
}()

// measureColumns are summed, never grouped by.
var measureColumns = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range schema.Flows {
		if f.Role == schema.Measure {
			m[f.Name] = true
		}
	}
	return m
}()

// flowKeyColumns are the columns rollups group by (all but ts, dur and
// the measures).
var flowKeyColumns = func() []string {
	var out []string
	for _, c := range flowColumns[2:] {
		if !measureColumns[c.name] {
			out = append(out, c.name)
		}
	}
	return out
}()

// counterColumns are the port counter tables' columns. Counters the agent
// does not keep are NULL.
var counterColumns = []column{
	{"ts", "BIGINT"}, {"agent", "VARCHAR"}, {"sub_agent", "BIGINT"}, {"idx", "BIGINT"},
	{"name", "VARCHAR"}, {"speed", "BIGINT"},
	{"in_octets", "BIGINT"}, {"out_octets", "BIGINT"}, {"in_pkts", "BIGINT"}, {"out_pkts", "BIGINT"},
	{"in_errors", "BIGINT"}, {"out_errors", "BIGINT"}, {"in_discards", "BIGINT"}, {"out_discards", "BIGINT"},
}

func createTable(name string, cols []column, notNull bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (", name)
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name + " " + c.typ)
		if notNull || i == 0 {
			b.WriteString(" NOT NULL")
		}
	}
	b.WriteString(")")
	return b.String()
}

// tableStatements returns the statements creating the tables of tiers.
func tableStatements(tiers []Tier, rowStore bool) []string {
	out := []string{"CREATE TABLE IF NOT EXISTS meta (k VARCHAR NOT NULL, v BIGINT NOT NULL)",
		// When the collector was collecting (coverage.go).
		"CREATE TABLE IF NOT EXISTS intervals (ts BIGINT NOT NULL, dur BIGINT NOT NULL)"}
	// The aggregator's current interval, served before it is written
	// (live.go).
	out = append(out, createTable(liveTable, flowColumns, true))
	for _, c := range addedColumns {
		out = append(out, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s DEFAULT %s", liveTable, c.name, c.typ, c.def))
	}
	for _, t := range tiers {
		for _, kind := range []string{"flows", "counters"} {
			name := t.table(kind)
			if kind == "flows" {
				out = append(out, createTable(name, flowColumns, true))
				for _, c := range addedColumns {
					out = append(out, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s DEFAULT %s", name, c.name, c.typ, c.def))
				}
			} else {
				out = append(out, createTable(name, counterColumns, false))
			}
			if rowStore {
				out = append(out, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_ts ON %s (ts)", name, name))
			}
		}
	}
	return out
}
