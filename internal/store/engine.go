package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
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

// flowColumns are the flows tables' columns. Every dimension is NOT NULL
// (0 or "" when absent) so that grouping never meets NULL.
var flowColumns = []column{
	{"ts", "BIGINT"}, {"dur", "BIGINT"},
	{"agent", "VARCHAR"}, {"sub_agent", "BIGINT"}, {"input", "VARCHAR"},
	{"in_port", "VARCHAR"}, {"out_port", "VARCHAR"},
	{"src_mac", "VARCHAR"}, {"dst_mac", "VARCHAR"}, {"vlan", "BIGINT"}, {"vni", "BIGINT"},
	{"src_ip", "VARCHAR"}, {"dst_ip", "VARCHAR"}, {"src_port", "BIGINT"}, {"dst_port", "BIGINT"},
	{"proto", "VARCHAR"}, {"network_type", "VARCHAR"}, {"tunnel", "VARCHAR"},
	{"inner_src_ip", "VARCHAR"}, {"inner_dst_ip", "VARCHAR"},
	{"src_vm", "VARCHAR"}, {"dst_vm", "VARCHAR"}, {"src_project", "VARCHAR"}, {"dst_project", "VARCHAR"},
	{"src_network", "VARCHAR"}, {"dst_network", "VARCHAR"}, {"src_host", "VARCHAR"}, {"dst_host", "VARCHAR"},
	{"src_country", "VARCHAR"}, {"dst_country", "VARCHAR"}, {"src_asn", "BIGINT"}, {"dst_asn", "BIGINT"},
	{"direction", "VARCHAR"}, {"relation", "VARCHAR"},
	{"src_city", "VARCHAR"}, {"dst_city", "VARCHAR"},
	{"src_lat", "DOUBLE"}, {"src_lon", "DOUBLE"}, {"dst_lat", "DOUBLE"}, {"dst_lon", "DOUBLE"},
	{"bytes", "BIGINT"}, {"packets", "BIGINT"}, {"samples", "BIGINT"},
	// Columns added after the first release go last: stores made before
	// get them through addedColumns, and appends fill columns in table
	// order.
	{"observation", "VARCHAR"},
	{"blocked", "VARCHAR"},
	{"src_as_org", "VARCHAR"},
	{"dst_as_org", "VARCHAR"},
}

// addedColumns are added to existing flows tables, with the value old
// rows get.
var addedColumns = []struct {
	column
	def string
}{
	{column{"observation", "VARCHAR"}, "''"}, // not classified: counted
	{column{"blocked", "VARCHAR"}, "''"},     // not a drop sample
	{column{"src_as_org", "VARCHAR"}, "''"},  // AS organisations came later
	{column{"dst_as_org", "VARCHAR"}, "''"},
}

// measureColumns are summed, never grouped by.
var measureColumns = map[string]bool{"bytes": true, "packets": true, "samples": true}

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

// schema returns the statements creating the tables of tiers.
func schema(tiers []Tier, rowStore bool) []string {
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
