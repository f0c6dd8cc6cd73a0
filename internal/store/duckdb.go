package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"github.com/flowlens/flowlens/internal/statefile"
	"log/slog"
	"net/url"
	"os"
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

// damaged tells whether a DuckDB open error says that the write-ahead log
// or the database file is damaged. Other errors (the file locked by
// another process, permissions, a file from a newer DuckDB) are not
// damage: the files are left alone and the error stops the start.
func damaged(err error) (wal, db bool) {
	if err == nil {
		return false, false
	}
	// DuckDB checksums the log's entries and the file's blocks; its
	// messages are all there is to tell damage from other errors.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Corrupt WAL file"):
		return true, false
	case strings.Contains(msg, "Could not read enough bytes from file"):
		wal := strings.Contains(msg, `.wal"`)
		return wal, !wal
	case strings.Contains(msg, "Corrupt database file"), strings.Contains(msg, "is not a valid DuckDB database file"):
		return false, true
	}
	return false, false
}

// setAsideDamaged moves a damaged write-ahead log aside, or a damaged
// database file and its log, so that flowlens starts and goes on
// collecting: with the database as of its last checkpoint, or with an
// empty one. What was moved stays for recovery.
func setAsideDamaged(path string, db bool, cause error, log *slog.Logger) error {
	files := []string{path + ".wal"}
	if db {
		files = []string{path, path + ".wal"}
	}
	now := time.Now()
	var moved []string
	for _, f := range files {
		if _, err := os.Lstat(f); err != nil {
			continue
		}
		aside, err := statefile.SetAside(f, now)
		if err != nil {
			return fmt.Errorf("%w; moving it aside failed too: %v (move %s away by hand to start with an empty store)", cause, err, f)
		}
		moved = append(moved, aside)
	}
	if log == nil {
		return nil
	}
	if db {
		log.Error("store: the database file is damaged: moved aside with its write-ahead log, starting with an empty store; "+
			"the history is in the moved files (the duckdb command-line tool may read part of it)", "error", cause.Error(), "moved_to", moved)
	} else {
		log.Error("store: the write-ahead log is damaged: moved aside, the store opens as it was at its last checkpoint "+
			"(the flows written since, up to an hour, are in the moved file)", "error", cause.Error(), "moved_to", moved)
	}
	return nil
}

// Memory is what DuckDB's buffer pool holds (duckdb_memory()).
func (e *duckEngine) Memory(ctx context.Context) int64 {
	var n int64
	if e.DB().QueryRowContext(ctx, "SELECT coalesce(sum(memory_usage_bytes), 0)::BIGINT FROM duckdb_memory()").Scan(&n) != nil {
		return -1
	}
	return n
}
