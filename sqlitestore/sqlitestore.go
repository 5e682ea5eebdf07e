package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/wallet"
)

var (
	_ giftkit.Store[*Tx] = (*Store)(nil)
	_ checkout.Tx        = (*Tx)(nil)
	_ wallet.LimiterTx   = (*Tx)(nil)
)

// Errors that an [*Error] unwraps to.
var (
	// ErrConflict: a write broke a uniqueness or check constraint (two
	// cards with one code hash, a second record under one key, a journal
	// entry or an activity record out of sequence, a negative balance, a
	// change to a redeemed or voided card other than a clawback, an event
	// or a delivery the schema refuses), or a value cannot be stored (a
	// time outside the years 1678 to 2262, an event without a time), or a
	// stored row cannot be read back.
	ErrConflict = errors.New("sqlitestore: conflicting write")
	// ErrUnavailable: the database could not be opened, read or written
	// (another process held the write lock past the busy timeout, the disk
	// is full, an I/O error), or the store is closed. After a failed
	// commit, whether the unit of work committed is unknown: retry the call
	// with its idempotency key.
	ErrUnavailable = errors.New("sqlitestore: database unavailable")
	// ErrTxDone: a Tx was used after its callback returned.
	ErrTxDone = errors.New("sqlitestore: transaction used after its unit of work ended")
	// ErrReadOnly: a write through the Tx of [Store.View].
	ErrReadOnly = errors.New("sqlitestore: write in a read-only unit of work")
)

// An Error is a failed database operation. It unwraps to one of the errors
// above; its message includes SQLite's, but no driver type is exposed.
type Error struct {
	Op    string // the operation, such as "put card" or "commit"
	Err   error  // ErrConflict, ErrUnavailable, ErrTxDone, ErrReadOnly, or giftkit.ErrInvalid (see Store.Ack)
	cause string // SQLite's message, or what was wrong
}

// Error returns the message of the Error.
func (e *Error) Error() string {
	if e.cause == "" {
		return "sqlitestore: " + e.Op + ": " + e.Err.Error()
	}
	return "sqlitestore: " + e.Op + ": " + e.Err.Error() + ": " + e.cause
}

// Unwrap returns the error the Error wraps.
func (e *Error) Unwrap() error { return e.Err }

// translate turns a driver error into the store's own. A statement stopped
// because ctx is done is ctx's error, wrapped with the operation.
func translate(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	isSQLite := errors.As(err, &se)
	if cerr := ctx.Err(); cerr != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		isSQLite && se.Code()&0xff == sqlite3.SQLITE_INTERRUPT) {
		return fmt.Errorf("sqlitestore: %s: %w", op, cerr)
	}
	if !isSQLite {
		return &Error{Op: op, Err: ErrUnavailable, cause: err.Error()}
	}
	e := &Error{Op: op, Err: ErrUnavailable, cause: se.Error()}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_RANGE:
		e.Err = ErrConflict
	}
	return e
}

// uniqueViolation reports whether err is a UNIQUE constraint's (not a
// primary key's).
func uniqueViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// Sync is how hard a commit waits for the disk: the value of SQLite's
// synchronous setting. See the package documentation.
type Sync uint8

// The synchronous settings.
const (
	// SyncFull: every commit waits until the write-ahead log is on the
	// disk. A commit that returned survives a power loss. The default.
	SyncFull Sync = iota
	// SyncNormal: commits append to the write-ahead log without waiting
	// for the disk, which is synced at checkpoints. The database is never
	// corrupted, and survives the process crashing, but a power loss or an
	// operating-system crash may undo the last commits.
	SyncNormal
)

func (s Sync) pragma() string {
	if s == SyncNormal {
		return "NORMAL"
	}
	return "FULL"
}

// An Option configures [Open].
type Option func(*config)

type config struct {
	sync        Sync
	busyTimeout time.Duration
	readers     int
}

// WithSync sets the synchronous setting; the default is [SyncFull].
func WithSync(s Sync) Option { return func(c *config) { c.sync = s } }

// WithBusyTimeout sets how long a unit of work waits for another process
// holding the database's write lock before it fails with ErrUnavailable;
// the default is 5 seconds. Units of work of one Store wait for each other
// without a limit, in Go, as long as their contexts allow.
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busyTimeout = d } }

// WithReaders sets how many connections [Store.View] may use at once; the
// default is 4.
func WithReaders(n int) Option { return func(c *config) { c.readers = n } }

// Store is the SQLite store. Create it with [Open].
type Store struct {
	path   string
	cfg    config
	wdb    *sql.DB       // one connection: the writer
	writer *conn         // wdb's connection, held from Open to Close
	wlock  chan struct{} // holds a token while a unit of work has the writer
	rdb    *sql.DB       // the readers, query_only

	closeOnce sync.Once
	closed    atomic.Bool // set under wlock

	outboxMu   sync.Mutex
	outboxWake chan struct{} // closed, and replaced, when a unit of work commits events; nil while no one waits
}

// Open opens the database file at path, creating it if it does not exist
// (readable and writable by its owner alone), switches it to write-ahead
// logging, and brings its schema up to date, all
// under the database's write lock, so that processes opening one file at
// once take turns. It fails with ErrUnavailable if the file cannot be
// opened as a SQLite database in WAL mode, or if its schema is newer than
// this package.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{busyTimeout: 5 * time.Second, readers: 4}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.readers < 1 {
		cfg.readers = 1
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &Error{Op: "open", Err: ErrUnavailable, cause: err.Error()}
	}
	// A new database is readable by its owner alone, and so are its -wal
	// and -shm files, which SQLite makes with the database's permissions.
	if f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		_ = f.Close()
	}
	wdb, err := sql.Open("sqlite", dsn(abs, cfg, false))
	if err != nil {
		return nil, translate(ctx, "open", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	s := &Store{path: abs, cfg: cfg, wdb: wdb, wlock: make(chan struct{}, 1)}
	fail := func(err error) (*Store, error) {
		if s.writer != nil {
			s.writer.close()
		}
		_ = wdb.Close()
		return nil, err
	}
	c, err := wdb.Conn(ctx)
	if err != nil {
		return fail(translate(ctx, "open", err))
	}
	s.writer = &conn{c: c, stmts: map[string]*sql.Stmt{}}
	if err := walMode(ctx, c, cfg.busyTimeout); err != nil {
		return fail(err)
	}
	if err := s.migrate(ctx); err != nil {
		return fail(err)
	}
	s.rdb, err = sql.Open("sqlite", dsn(abs, cfg, true))
	if err != nil {
		return fail(translate(ctx, "open", err))
	}
	s.rdb.SetMaxOpenConns(cfg.readers)
	s.rdb.SetMaxIdleConns(cfg.readers)
	return s, nil
}

// walMode switches the database to write-ahead logging, which lasts: done
// once, by the first Open. The switch needs the database to itself, and
// SQLite answers SQLITE_BUSY at once, without its busy handler, while
// another connection (another process opening the file at the same moment)
// reads it: walMode tries again until the busy timeout has passed.
func walMode(ctx context.Context, c *sql.Conn, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for try := 1; ; try++ {
		var mode string
		err := c.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return &Error{Op: "open", Err: ErrUnavailable, cause: "the database cannot use write-ahead logging (journal mode " + mode + ")"}
		case !busy(err) || time.Now().After(deadline):
			return translate(ctx, "open: journal mode", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(min(try, 20)) * time.Millisecond):
		}
	}
}

// busy reports whether err is SQLite's "database is locked".
func busy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

// dsn returns the URI that opens path with the store's settings: a file:
// URI, so that any path can be named (a plain name loses what follows a
// '?'). Every connection gets the busy timeout, foreign keys and the
// synchronous setting; readers are query_only.
func dsn(path string, cfg config, reader bool) string {
	q := url.Values{}
	q.Add("_busy_timeout", strconv.FormatInt(cfg.busyTimeout.Milliseconds(), 10))
	q.Add("_foreign_keys", "1")
	q.Add("_synchronous", cfg.sync.pragma())
	if reader {
		q.Add("_query_only", "1")
	}
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") { // a Windows path: file:///C:/...
		p = "/" + p
	}
	return (&url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}).String()
}

// Close waits for the unit of work in progress, if any, and closes the
// database. Every unit of work that returned nil is already in the file, so
// Close has nothing to report: it checkpoints the write-ahead log into the
// database file if it can, and otherwise leaves it for the next Open. Units
// of work started after Close fail with ErrUnavailable.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		s.wlock <- struct{}{}
		s.closed.Store(true)
		<-s.wlock
		_ = s.rdb.Close()
		s.writer.close()
		_ = s.wdb.Close()
	})
}

//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies, in one transaction under the write lock, each embedded
// migration not yet applied. A database whose schema is newer than the
// newest migration is refused: this version of the package does not know
// its tables.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	return s.Update(ctx, func(tx *Tx) error {
		c := tx.c.c
		if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS giftkit_schema_migrations (
			version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
			return translate(ctx, "migrate", err)
		}
		var applied int
		if err := c.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM giftkit_schema_migrations").Scan(&applied); err != nil {
			return translate(ctx, "migrate", err)
		}
		latest := 0
		for _, name := range names {
			version, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
			if err != nil {
				return fmt.Errorf("sqlitestore: migration %s: name must start with a version number", name)
			}
			latest = version
			if version <= applied {
				continue
			}
			text, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := c.ExecContext(ctx, string(text)); err != nil {
				return translate(ctx, "migrate "+name, err)
			}
			if _, err := c.ExecContext(ctx, `INSERT INTO giftkit_schema_migrations (version, applied_at)
				VALUES (?, CAST(unixepoch('subsec') * 1000000000 AS INTEGER))`, version); err != nil {
				return translate(ctx, "migrate "+name, err)
			}
		}
		if applied > latest {
			return &Error{Op: "open", Err: ErrUnavailable, cause: fmt.Sprintf(
				"the database's schema is version %d, newer than this sqlitestore's %d: open it with a newer release", applied, latest)}
		}
		return nil
	})
}

// Update runs fn as one unit of work (see giftkit.Store), in a BEGIN
// IMMEDIATE transaction on the store's one write connection: units of work
// of one Store run one at a time, in Go, and a unit waits up to the busy
// timeout for another process's. fn runs at most once. If ctx is done,
// Update returns its error without running fn. If fn returns an error or
// panics, Update rolls back, and returns the error unchanged or lets the
// panic go on. Otherwise it inserts the unit's outbox events (an error is
// then ErrConflict or ErrUnavailable, and nothing committed) and commits,
// and returns the commit's error, if any: ErrUnavailable, when whether the
// unit committed is unknown. fn must not call Update of the same Store,
// which would wait for fn to end.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.wlock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.wlock }()
	if s.closed.Load() {
		return &Error{Op: "begin", Err: ErrUnavailable, cause: "the store is closed"}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tx := &Tx{ctx: ctx, c: s.writer}
	if err := s.writer.run(ctx, "BEGIN IMMEDIATE", tx, fn); err != nil {
		return err
	}
	if len(tx.events) > 0 {
		s.committedEvents()
	}
	return nil
}

// View runs fn in a read-only unit of work on one of the reader
// connections: it sees the database as of its first read, whatever units
// of work commit meanwhile, and neither waits for them nor makes them wait.
// Writes through its Tx fail with ErrReadOnly. The services change state
// in every call (they apply the passage of time first) and use Update; View
// is for the host's own reports.
func (s *Store) View(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.rdb.Conn(ctx)
	if err != nil {
		return translate(ctx, "begin", err)
	}
	defer c.Close()
	rc := &conn{c: c}
	return rc.run(ctx, "BEGIN", &Tx{ctx: ctx, c: rc, readOnly: true}, fn)
}

// conn is one connection and, for the writer, its prepared statements.
type conn struct {
	c     *sql.Conn
	stmts map[string]*sql.Stmt // nil for a reader: no cache
	trace func(query string)   // if set, called with each statement of a unit of work's Tx (tests count them)
}

// run runs fn in a transaction that begin starts on c.
func (c *conn) run(ctx context.Context, begin string, tx *Tx, fn func(tx *Tx) error) error {
	if err := c.begin(ctx, begin); err != nil {
		return err
	}
	committed := false
	defer func() {
		tx.done = true
		if !committed { // fn failed or panicked
			c.rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if len(tx.events) > 0 {
		if err := tx.insertEvents(); err != nil {
			return err
		}
	}
	tx.done, committed = true, true
	// COMMIT is not interrupted when ctx ends: it is quick, and an
	// interrupted COMMIT would leave its outcome in doubt for nothing.
	if _, err := c.c.ExecContext(context.WithoutCancel(ctx), "COMMIT"); err != nil {
		c.rollback()
		e := translate(ctx, "commit", err)
		var se *Error
		if errors.As(e, &se) {
			se.Err = ErrUnavailable // whether it committed is unknown
		}
		return e
	}
	return nil
}

// begin starts a transaction. A connection found still inside one (a
// ROLLBACK that failed) is rolled back and begun again once.
func (c *conn) begin(ctx context.Context, begin string) error {
	_, err := c.c.ExecContext(ctx, begin)
	if err != nil && strings.Contains(err.Error(), "within a transaction") {
		c.rollback()
		_, err = c.c.ExecContext(ctx, begin)
	}
	return translate(ctx, "begin", err)
}

func (c *conn) rollback() {
	_, _ = c.c.ExecContext(context.Background(), "ROLLBACK")
}

// stmt returns the statement for query: prepared once on the writer, and
// for a reader each time by database/sql.
func (c *conn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if c.trace != nil {
		c.trace(query)
	}
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := c.c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.stmts != nil {
		c.stmts[query] = st
	}
	return st, nil
}

func (c *conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if c.stmts == nil {
		return c.c.ExecContext(ctx, query, args...)
	}
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (c *conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if c.stmts == nil {
		return c.c.QueryContext(ctx, query, args...)
	}
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// row scans the one row query returns into dest; false if it returns none.
func (c *conn) row(ctx context.Context, query string, args []any, dest ...any) (bool, error) {
	var r *sql.Row
	if c.stmts == nil {
		r = c.c.QueryRowContext(ctx, query, args...)
	} else {
		st, err := c.stmt(ctx, query)
		if err != nil {
			return false, err
		}
		r = st.QueryRowContext(ctx, args...)
	}
	err := r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (c *conn) close() {
	for _, st := range c.stmts {
		_ = st.Close()
	}
	_ = c.c.Close()
}
