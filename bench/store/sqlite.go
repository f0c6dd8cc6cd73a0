package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/flowlens/flowlens/internal/store"
	_ "modernc.org/sqlite"
)

// sqliteEngine is the peer engine: SQLite (modernc.org/sqlite, pure Go) in
// WAL mode, behind the same store.Engine interface as DuckDB.
type sqliteEngine struct {
	path string
	db   *sql.DB
}

func openSQLite(path string) (store.Engine, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=cache_size(-262144)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if err := db.Ping(); err != nil {
		return nil, err
	}
	return &sqliteEngine{path: path, db: db}, nil
}

func (e *sqliteEngine) Name() string    { return "sqlite" }
func (e *sqliteEngine) DB() *sql.DB     { return e.db }
func (e *sqliteEngine) RowStore() bool  { return true }
func (e *sqliteEngine) Files() []string { return []string{e.path, e.path + "-wal", e.path + "-shm"} }
func (e *sqliteEngine) Close() error    { return e.db.Close() }

// Memory: SQLite's page cache is not reported here.
func (e *sqliteEngine) Memory(context.Context) int64 { return -1 }

const rowsPerInsert = 100

// Append inserts with multi-row INSERT statements in one transaction.
func (e *sqliteEngine) Append(ctx context.Context, table string, columns, n int, fill func(i int, row []driver.Value)) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", columns), ",") + ")"
	full := fmt.Sprintf("INSERT INTO %s VALUES %s", table, strings.TrimSuffix(strings.Repeat(one+",", rowsPerInsert), ","))
	stmt, err := tx.PrepareContext(ctx, full)
	if err != nil {
		return err
	}
	defer stmt.Close()
	row := make([]driver.Value, columns)
	args := make([]any, 0, columns*rowsPerInsert)
	for i := 0; i < n; {
		k := min(rowsPerInsert, n-i)
		args = args[:0]
		for j := 0; j < k; j++ {
			fill(i+j, row)
			for _, v := range row {
				args = append(args, v)
			}
		}
		if k == rowsPerInsert {
			_, err = stmt.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s VALUES %s", table, strings.TrimSuffix(strings.Repeat(one+",", k), ",")), args...)
		}
		if err != nil {
			return err
		}
		i += k
	}
	return tx.Commit()
}

func (e *sqliteEngine) Check(ctx context.Context) error {
	var s string
	if err := e.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&s); err != nil {
		return err
	}
	if s != "ok" {
		return fmt.Errorf("integrity_check: %s", s)
	}
	return nil
}

func (e *sqliteEngine) Compact(ctx context.Context) error {
	_, err := e.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}
