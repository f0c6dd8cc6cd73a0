package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// DuckDBOptions tunes the DuckDB engine.
type DuckDBOptions struct {
	MemoryLimit string // e.g. "1GB"; "" is DuckDB's default (80 % of RAM)
	Threads     int    // 0: one per CPU
	// CheckpointThreshold is the WAL size that triggers a checkpoint
	// ("" is DuckDB's 16MB).
	CheckpointThreshold string
}

type duckEngine struct {
	path, dsn string
	db        atomic.Pointer[sql.DB]

	mu      sync.Mutex // Recover
	broken  bool       // invalidated, and not reopened since
	lastTry time.Time
}

// reopenEvery spaces attempts to reopen a database DuckDB gave up on.
var reopenEvery = 5 * time.Second

// OpenDuckDB opens (creating it if needed) the DuckDB database file path.
func OpenDuckDB(path string, o DuckDBOptions) (Engine, error) {
	q := url.Values{}
	if o.MemoryLimit != "" {
		q.Set("memory_limit", o.MemoryLimit)
	}
	if o.Threads > 0 {
		q.Set("threads", strconv.Itoa(o.Threads))
	}
	if o.CheckpointThreshold != "" {
		q.Set("checkpoint_threshold", o.CheckpointThreshold)
	}
	dsn := path
	if len(q) > 0 {
		dsn += "?" + q.Encode()
	}
	db, err := openDuckDB(dsn)
	if err != nil {
		return nil, fmt.Errorf("opening DuckDB database %s: %w", path, err)
	}
	e := &duckEngine{path: path, dsn: dsn}
	e.db.Store(db)
	return e, nil
}

func openDuckDB(dsn string) (*sql.DB, error) {
	conn, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (e *duckEngine) Name() string    { return "duckdb" }
func (e *duckEngine) DB() *sql.DB     { return e.db.Load() }
func (e *duckEngine) RowStore() bool  { return false }
func (e *duckEngine) Files() []string { return []string{e.path, e.path + ".wal"} }
func (e *duckEngine) Close() error    { return e.db.Load().Close() }

// Recover reopens the database after err if DuckDB invalidated it. After
// a fatal error (a checkpoint that finds the disk full is one) DuckDB
// refuses every statement until the database is opened again; reopening
// replays the write-ahead log, so what was committed is kept. A reopen
// that fails is tried again, at most every reopenEvery. It reports
// whether it reopened.
func (e *duckEngine) Recover(err error) (bool, error) {
	if err == nil {
		return false, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.broken && !invalidated(err) {
		return false, nil
	}
	e.broken = true
	if time.Since(e.lastTry) < reopenEvery {
		return false, nil
	}
	e.lastTry = time.Now()
	e.db.Load().Close()
	db, oerr := openDuckDB(e.dsn)
	if oerr != nil {
		return false, oerr // the closed handle stays: statements fail until a reopen works
	}
	e.db.Store(db)
	e.broken = false
	return true, nil
}

func invalidated(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "database has been invalidated") || strings.Contains(msg, "FATAL Error")
}

// Append uses DuckDB's appender: one flush, one commit.
func (e *duckEngine) Append(ctx context.Context, table string, columns, n int, fill func(i int, row []driver.Value)) error {
	conn, err := e.DB().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", table)
		if err != nil {
			return err
		}
		row := make([]driver.Value, columns)
		for i := range n {
			fill(i, row)
			if err := a.AppendRow(row...); err != nil {
				return errors.Join(err, a.Close())
			}
		}
		return a.Close()
	})
}

// Check reads every row of every table: DuckDB verifies each block's
// checksum as it reads it.
func (e *duckEngine) Check(ctx context.Context) error {
	rows, err := e.DB().QueryContext(ctx, "SELECT table_name FROM duckdb_tables()")
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		var n int64
		var h sql.NullString
		if err := e.DB().QueryRowContext(ctx, fmt.Sprintf("SELECT count(*), CAST(bit_xor(hash(x)) AS VARCHAR) FROM %s x", t)).Scan(&n, &h); err != nil {
			return fmt.Errorf("table %s: %w", t, err)
		}
	}
	return nil
}

// Compact checkpoints: the WAL is written into the file and blocks freed
// by deletions become reusable.
func (e *duckEngine) Compact(ctx context.Context) error {
	_, err := e.DB().ExecContext(ctx, "CHECKPOINT")
	return err
}
