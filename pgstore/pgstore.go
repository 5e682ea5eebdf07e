// Package pgstore is the PostgreSQL store of giftkit, for services that run
// several instances on several machines against one database.
//
//	store, err := pgstore.Open(ctx, os.Getenv("DATABASE_URL"))
//	if err != nil { ... }
//	defer store.Close()
//	if err := store.Migrate(ctx); err != nil { ... } // idempotent; safe when instances start together
//	accounts, err := wallet.NewService(store, wallet.Config{...})
//
// # Units of work
//
// [Store.Update] runs each unit of work in one READ COMMITTED transaction in
// which every read locks the rows it returns (SELECT ... FOR UPDATE). The
// domain's units of work read in a fixed order (idempotency record, card,
// payment, account), so concurrent units touching the same card, account
// or payment run one after the other, and deadlocks cannot arise between
// them; one that does arise, a serialization failure, or a unique violation
// from two units creating the same row at once makes Update run the unit
// again, a bounded number of times. No transaction is held open across a
// call to the card processor: checkout records each step in its own unit.
//
// # Round trips
//
// A unit of work talks to the server in as few round trips as its
// statements allow: BEGIN travels with its first statement, its writes wait
// for its next read or for COMMIT and travel with it, and the rows a
// service names in a giftkit.ReadAhead (the idempotency record, the card,
// the owner's accounts, the payment) are fetched and locked with the first
// round trip. The writes that travel together go as one statement where
// that keeps their meaning: the parts of a data-modifying WITH, one per
// write (see unit.go), since the server's work for each statement, more
// than for each row, is what a redemption's writes cost. A write of a row
// the unit read, and so locked, is an UPDATE of the columns that changed
// (a card) or of those the service sets (an account), rather than an
// upsert of every column. A redemption and a payment the balance covers
// take two round trips and six statements: BEGIN and the three reads that
// lock (the idempotency record; the card or the payment; the owner's
// accounts), then their writes (their outbox events among them) as one
// statement, and COMMIT. The NOTIFY that tells other processes of the
// events is not the unit's: it follows the commit, on another connection
// (see Outbox). A write's failure (a constraint) is reported by the
// statement it travels with or by the commit, and fails the unit either
// way. [WithTracer] shows them.
//
// The schema's constraints back the invariants: CHECK (balance >= 0),
// CHECK (held <= balance), one card per code hash, one record per
// idempotency key, journal entries keyed by account and sequence number with
// a foreign key to their account, a redeemed or voided card that no
// statement can change but for what a clawback records (clawed_back,
// updated_at and its activity head). Amounts are bigint minor units next to
// their currency; never float or money. Times are timestamptz, with the
// nanoseconds below the microsecond beside them for cards and accounts, so
// that they read back exactly as their activity records' snapshots have
// them. Schema version 7 (migrations/0007_imported_cards_entry_kinds.sql)
// added imported cards and cards' tags, which a final card keeps like every
// other column, and the journal's load, transfer and fee entries; Migrate
// brings an older schema up in place, its cards reading as issued here,
// untagged. Version 8 compresses idempotency outcomes (an issuance's holds
// its cards) with lz4 where the server has it.
//
// # Activity log
//
// Tx implements activity.Tx over giftkit_activity, one row per record: the
// record whole in its binary form, beside the subject, number, time (in
// nanoseconds since the Unix epoch) and actor that queries filter and order
// on, compared byte by byte (COLLATE "C") as Go compares strings. The table
// is append-only: triggers refuse UPDATE, DELETE and TRUNCATE, whoever
// asks. Each subject's chain is numbered without gaps or repeats, which the
// primary key (subject, seq) and a foreign key from each record to the one
// before it enforce (see [Tx.AppendActivity]). A unit's records travel
// with its other writes, so a redemption and a payment still take two
// round trips; an issuance's thousands go by COPY, in PostgreSQL's binary
// format, as its cards do (see [Tx.InsertCards]).
//
// # Outbox
//
// Tx implements outbox.Tx and Store implements outbox.Reader over
// giftkit_outbox, one row per event: its fields in columns, its payload as
// the bytes given (bytea: jsonb would reorder keys and change white
// space). AppendActivity puts each record's event (outbox.FromRecord) in
// the outbox with it. A unit's events travel in the statement that carries
// its activity records and its other writes (a data-modifying WITH), in
// the order of its calls, so a redemption and a payment still take two
// round trips and six statements; an issuance's go by COPY after its
// records.
//
// Each row has an id, drawn from a sequence as it is inserted, and a
// position, NULL until the unit has committed and a positioner (the
// function giftkit_outbox_position, migration 0006) gives it the next one.
// Events runs the positioner first, in a transaction of its own, in the
// same round trip as its read. Positioners take turns on the row lock of a
// one-row counter, and each positions, in order of id, the unpositioned
// rows that a statement begun after the lock was granted sees: committed
// ones only, so positions follow commit order, are given once and without
// gaps, and become visible in order; a consumer that has read up to a
// position never finds an event before it later. Two units of work on one
// card, account or payment take turns on its row lock, so the later
// inserts its events after the earlier committed, with larger ids: each
// aggregate's events keep the order of Seq. Events finds every event
// committed before it was called (up to outbox.MaxLimit positioned per
// call). Consumers read WHERE pos > after ORDER BY pos, through an index.
//
// Cursors are rows of giftkit_outbox_consumers, one per consumer: Events
// and Ack register a consumer; Ack is an upsert that keeps the greater
// position, so processes of one consumer acknowledge in any order, and
// refuses a position beyond the last given. The table of events is
// append-only but for that: triggers refuse to change an event other than
// to position it once, to remove one not positioned, and TRUNCATE.
//
// Wait sleeps until a commit may have brought an event. A unit of work
// that wrote events, once its COMMIT has succeeded (never one that rolled
// back, nor one whose COMMIT failed), signals the Store's notifier:
// goroutines, started by the first such commit and stopped by Close, that
// wake the Store's own waiters at once, without a round trip, and send
// NOTIFY on the channel giftkit_outbox, with the schema's name as payload,
// for the other processes (in a transaction of its own, on a pool
// connection). NOTIFYs are coalesced: at most one is in flight per Store,
// at most one begins every 10 ms, and any number of commits made meanwhile
// send one more after it (a NOTIFY is a transaction and a round trip: sent
// after every commit of a busy Store, they took a fifth of the CPU time of
// the units of work they followed). Each
// Store has one listener for all its waiters: a goroutine with a
// connection of its own, outside the pool (one server connection more
// than the pool's size, made with the pool's settings), LISTENing on the
// channel, started by the first Wait and stopped by Close, or when a
// check, every 30 s, finds that no Wait ran since the last. A notification
// for the store's schema wakes every waiter, which asks the database (on a
// pool connection, for one query) whether an event after its cursor is
// positioned or committed; a waiter also asks every second without a
// notification, so a notification lost costs a second at most: one lost
// while the listener reconnects, or one never sent, by a process that
// ended between a commit and its NOTIFY (its events are committed: the
// other processes find them by that poll). A waiter holds no connection
// while it sleeps.
//
// The NOTIFY is not sent inside the unit of work, where a trigger would
// put it, because of what it costs there: the server makes the commits of
// transactions that notify take turns, from before the commit record to
// the end of the commit, so with synchronous_commit on their WAL flushes
// are no longer shared. On a two-core machine with fsync on, 16 workers
// redeemed about half as many cards per second with a NOTIFY in each unit
// as without (900 against 1,700 a second, medians of three runs; payments,
// 1,060 against 1,800). Sent after the commit, 16 workers redeemed 1,430
// cards a second against 1,040 with the NOTIFY in the unit (payments,
// 1,840 against 1,130; medians of six interleaved runs, on a machine
// shared with other work); with one worker no difference showed.
//
// Prune removes, in statements of bounded size, each its own transaction,
// the positioned events before Retention.EventsBefore up to the least
// cursor of the registered consumers (every positioned event if none is
// registered), 10,000 positions at a time through the index of positions,
// and the idempotency records created before Retention.IdempotencyBefore,
// 1,024 of the table's pages at a time (a scan of ctid ranges: the table
// is read once, and keeps no index on created_at for every call with a key
// to write). An event old enough and acknowledged by every consumer is
// removed even if one before it is kept for its age.
//
// [Store.DeadLetters] keeps the outbox's dead letters (outbox.DeadLetters,
// for a webhook dispatcher) in giftkit_dead_letters, one row per consumer
// and event ID: the event whole, in the outbox's columns, since it is
// acknowledged there and Prune may remove it, beside what went wrong. Each
// method is one statement on a pool connection: Put an upsert, List a read
// of one consumer's in order of position through an index.
//
// # E-gift deliveries
//
// Tx implements egift.Tx over giftkit_deliveries, one row per delivery.
// The sealed code is kept as the bytes egift made (bytea), and never
// logged or put in an error by this package (a tracer given to WithTracer
// sees statements' arguments, those bytes among them). Times keep their
// nanoseconds, as cards' do. Delivery locks the row it returns;
// DueDeliveries reads the scheduled and sending ones through a partial index, without
// a lock: egift locks each again before it sends it.
//
// # Attempt logs
//
// Tx implements wallet.LimiterTx, so wallet.NewStoreLimiter(store, rule)
// shares the counts of redemption attempts among all instances that use
// the database. Each subject's log is a row of giftkit_attempt_logs, locked
// while a unit of work reads and updates it; a log with nothing left in it
// is deleted. A subject that fails a few times and never returns keeps its
// row: now and then, delete the rows whose updated_at is older than the
// limiter's window and lockout.
//
// # Errors
//
// Errors are [*Error] values that unwrap to [ErrConflict] (a constraint or
// uniqueness violation, or contention that outlasted the retries),
// [ErrUnavailable] (the database could not be reached, or a commit's outcome
// is unknown: retry the call with its idempotency key) or [ErrTxDone]. No
// pgx type reaches the caller. A context's error is returned as it is. The
// outbox's methods also return outbox.ErrInvalidConsumer for a consumer
// name outbox.CheckConsumer refuses, and Ack an error wrapping
// giftkit.ErrInvalid for a position that was never given.
//
// Update retries on its own what cannot have committed. A pooled
// connection whose session the server ended (pg_terminate_backend, a
// restart, a proxy's timeout) fails the unit's first round trip before
// anything reaches the server (pgconn says so), unless the pool's ping of a
// connection idle for over a second found it first: Update begins again on
// another, going through broken connections up to the pool's size, and
// tries a connection that could not be opened twice more, a few
// milliseconds apart. A unit of work whose connection is lost before its
// commit is sent runs again, as after a serialization failure, since the
// server rolls back the transaction of a session that ends. ErrUnavailable
// therefore means that the retries did not help, or that a commit failed,
// when the unit of work may or may not have committed.
//
// Cards, accounts and payments may use any currency made by
// giftkit.NewCurrency: each row keeps its currency's minor units.
//
// A Store is safe for concurrent use; a Tx is valid only inside its
// callback. Close it: it stops Wait's listener.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
)

// Errors that a [*Error] unwraps to.
var (
	// ErrConflict: a write broke a uniqueness or check constraint, or
	// contention outlasted the retries.
	ErrConflict = errors.New("pgstore: conflicting write")
	// ErrUnavailable: the database could not be reached or did not answer;
	// after a failed commit, whether the unit of work committed is unknown.
	ErrUnavailable = errors.New("pgstore: database unavailable")
	// ErrTxDone: a Tx was used after its callback returned.
	ErrTxDone = errors.New("pgstore: transaction used after its unit of work ended")
	// ErrInvalidConfig: Open was given a DSN or a schema name it cannot
	// use. Retrying does not help: the configuration must change.
	ErrInvalidConfig = errors.New("pgstore: invalid configuration")
)

// An Error is a failed database operation. It unwraps to one of the errors
// above; its message includes the database's, but no driver type is exposed.
type Error struct {
	Op    string // the operation, such as "put card" or "commit"
	Err   error  // ErrConflict, ErrUnavailable or ErrTxDone
	cause string // the database's message
	retry bool   // running the unit of work again may succeed
	inner error  // a library error about the data read, such as wallet.ErrCorrupt

	constraint string // the constraint the database named, if any
}

// Error returns the message of the Error.
func (e *Error) Error() string {
	msg := "pgstore: " + e.Op + ": " + e.Err.Error()
	if e.cause != "" {
		msg += ": " + e.cause
	}
	if e.inner != nil {
		msg += ": " + e.inner.Error()
	}
	return msg
}

// Unwrap returns the error the Error wraps and, when the data read broke a
// rule of the library, the library's error (such as wallet.ErrCorrupt).
func (e *Error) Unwrap() []error {
	if e.inner != nil {
		return []error{e.Err, e.inner}
	}
	return []error{e.Err}
}

// translate turns a driver error into the store's own.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("pgstore: %s: %w", op, contextError(err))
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		e := &Error{Op: op, Err: ErrConflict, cause: pg.Message + " (SQLSTATE " + pg.Code + ")", constraint: pg.ConstraintName}
		switch pg.Code {
		case "40001", "40P01": // serialization failure, deadlock
			e.retry = true
		case "23505": // unique violation: a concurrent unit created the row first
			e.retry = true
		case "23514", "23503", "23502": // check, foreign key, not null
		default:
			e.Err = ErrUnavailable
		}
		return e
	}
	return &Error{Op: op, Err: ErrUnavailable, cause: err.Error()}
}

func contextError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return context.Canceled
}

// Store is the PostgreSQL store. Create it with [Open].
type Store struct {
	pool     *pgxpool.Pool
	schema   string
	retries  int
	maxConns int  // the pool's size: how many broken connections it may hold
	ownPool  bool // Open made the pool: Close closes it
	listener *listener
	notifier *notifier
}

var _ giftkit.Store[*Tx] = (*Store)(nil)
var _ checkout.Tx = (*Tx)(nil)

// An Option configures [Open].
type Option func(*config)

type config struct {
	schema   string
	retries  int
	maxConns int32
	tracer   pgx.QueryTracer
}

// WithSchema keeps giftkit's tables in the named schema (created by
// Migrate) instead of the connection's default.
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// WithRetries sets how many times Update runs a unit of work again after a
// serialization failure, deadlock, unique violation or lost connection; the
// default is 20.
func WithRetries(n int) Option { return func(c *config) { c.retries = n } }

// WithMaxConns sets the size of the connection pool; the default is
// pgxpool's (the greater of 4 and the number of CPUs).
func WithMaxConns(n int32) Option { return func(c *config) { c.maxConns = n } }

// WithTracer traces the store's statements with the host's pgx tracer
// (OpenTelemetry's, a logger): it may also implement pgx.BatchTracer and
// pgx.CopyFromTracer, as most do. A unit of work sends its statements in
// batches (see the package doc), so batches are most of what it sees; the
// NOTIFY sent after units that wrote outbox events commit, outside them,
// is a query of its own.
func WithTracer(t pgx.QueryTracer) Option { return func(c *config) { c.tracer = t } }

// Open connects to the database at dsn (a PostgreSQL URL or key=value
// string). It fails with ErrUnavailable if the database cannot be reached.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg := config{retries: 20}
	for _, o := range opts {
		o(&cfg)
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &Error{Op: "open", Err: ErrInvalidConfig, cause: "invalid DSN"}
	}
	if cfg.schema != "" {
		if !validIdent(cfg.schema) {
			return nil, &Error{Op: "open", Err: ErrInvalidConfig, cause: "invalid schema name " + strconv.Quote(cfg.schema)}
		}
		pc.ConnConfig.RuntimeParams["search_path"] = cfg.schema
	}
	if cfg.maxConns > 0 {
		pc.MaxConns = cfg.maxConns
	}
	if cfg.tracer != nil {
		pc.ConnConfig.Tracer = cfg.tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, translate("open", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, translate("open", err)
	}
	return &Store{pool: pool, schema: cfg.schema, retries: cfg.retries, maxConns: int(pc.MaxConns), ownPool: true,
		listener: &listener{}, notifier: newNotifier()}, nil
}

func validIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Close stops Wait's listener and the notifier of commits (see the package
// doc), and closes the connection pool, if Open made it. Units of work
// committed after Close wake no one: Wait's poll finds their events.
func (s *Store) Close() {
	s.notifier.stop()
	s.listener.stop()
	if s.ownPool {
		s.pool.Close()
	}
}

// New returns a Store over a pool the host made and configured (its size,
// its tracer, its TLS), and keeps: Close leaves it open. WithRetries
// applies; WithSchema names the schema Migrate creates, which the pool's
// connections must have on their search_path (RuntimeParams
// "search_path"); WithMaxConns and WithTracer are the pool's to set, and
// fail with ErrInvalidConfig here.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	cfg := config{retries: 20}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case pool == nil:
		return nil, &Error{Op: "new", Err: ErrInvalidConfig, cause: "no pool"}
	case cfg.maxConns != 0 || cfg.tracer != nil:
		return nil, &Error{Op: "new", Err: ErrInvalidConfig, cause: "the pool's size and tracer are set on the pool"}
	case cfg.schema != "" && !validIdent(cfg.schema):
		return nil, &Error{Op: "new", Err: ErrInvalidConfig, cause: "invalid schema name " + strconv.Quote(cfg.schema)}
	}
	return &Store{pool: pool, schema: cfg.schema, retries: cfg.retries, maxConns: int(pool.Config().MaxConns),
		listener: &listener{}, notifier: newNotifier()}, nil
}

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key that serializes Migrate across
// instances: "giftkit" in ASCII.
const migrationLock = 0x67696674_6b6974

// Migrate brings the schema up to date, applying each embedded migration
// not yet applied, in order, in one transaction. It is idempotent, and safe
// when several instances run it at once: an advisory lock makes them take
// turns, and each sees what the others applied.
func (s *Store) Migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	conn, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release() // after the rollback below
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return translate("migrate: begin", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
		return translate("migrate: lock", err)
	}
	setup := `CREATE TABLE IF NOT EXISTS giftkit_schema_migrations (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`
	if s.schema != "" {
		setup = "CREATE SCHEMA IF NOT EXISTS " + s.schema + "; " + setup
	}
	if err := simpleExec(ctx, tx, setup); err != nil {
		return translate("migrate: setup", err)
	}
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("pgstore: migration %s: name must start with a version number", name)
		}
		var applied bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM giftkit_schema_migrations WHERE version = $1)", version).Scan(&applied); err != nil {
			return translate("migrate", err)
		}
		if applied {
			continue
		}
		sql, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if err := simpleExec(ctx, tx, string(sql)); err != nil {
			return translate("migrate "+name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO giftkit_schema_migrations (version) VALUES ($1)", version); err != nil {
			return translate("migrate", err)
		}
	}
	return translate("migrate: commit", tx.Commit(ctx))
}

// simpleExec runs several statements at once, which only the simple query
// protocol allows.
func simpleExec(ctx context.Context, tx pgx.Tx, sql string) error {
	_, err := tx.Conn().PgConn().Exec(ctx, sql).ReadAll()
	return err
}

// Update runs fn as one unit of work (see giftkit.Store). fn may run more
// than once: after a serialization failure, a deadlock, a unique violation,
// or the loss of the connection before the commit was sent, the
// transaction is rolled back (or was, by the server) and fn runs again, up
// to the retry limit. A connection found broken by the unit's first
// statement is replaced at once, without counting against the limit (see
// the package doc). If fn returns an error, Update rolls back and returns
// it unchanged; otherwise it returns the commit's error, if any:
// ErrUnavailable if the commit's outcome is unknown.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	for attempt, broken := 0, 0; ; {
		err, brokenConn := s.attempt(ctx, fn)
		var e *Error
		if err == nil || !errors.As(err, &e) || !e.retry {
			return err
		}
		if brokenConn && broken < s.maxConns && ctx.Err() == nil {
			broken++ // a dead connection from the pool: the next one may be alive
			continue
		}
		if attempt >= s.retries {
			return &Error{Op: e.Op, Err: e.Err, cause: fmt.Sprintf("%s; gave up after %d attempts", e.cause, attempt+1)}
		}
		attempt++
		// Back off a little, more each time, so that contenders interleave.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Millisecond):
		}
	}
}

// attempt runs fn once. brokenConn reports a connection that failed the
// unit's first round trip, before the server could have done anything.
func (s *Store) attempt(ctx context.Context, fn func(tx *Tx) error) (err error, brokenConn bool) {
	if err := ctx.Err(); err != nil {
		return err, false
	}
	conn, err := s.acquire(ctx)
	if err != nil {
		return err, false
	}
	// Released after the rollback below; the pool destroys a connection that
	// broke or is still in a transaction.
	defer conn.Release()
	tx := &Tx{ctx: ctx, conn: conn.Conn()}
	committed := false
	defer func() {
		tx.done = true
		if !committed { // fn failed or panicked: give the connection back clean
			tx.rollback()
		}
	}()
	if err := fn(tx); err != nil {
		// A statement failed because the connection was lost (pgx closes it
		// on a network error or a FATAL from the server). The commit was not
		// sent, and the server rolls back the transaction of a session that
		// ends, so nothing of fn committed: it may run again on another
		// connection. A context's error is not an *Error and is not retried.
		var e *Error
		if tx.conn.IsClosed() && errors.As(err, &e) && e.Err == ErrUnavailable {
			e.retry = true
			return err, tx.unsent
		}
		return err, false
	}
	committed = true // whatever the commit answers, the transaction is over
	err = tx.commit()
	tx.done = true
	if err == nil && tx.wroteEvents {
		s.eventsCommitted() // wake the outbox's waiters
	}
	var e *Error
	if err != nil && tx.unsent && errors.As(err, &e) {
		e.retry = true // nothing reached the server: the commit was the unit's first round trip
		return err, true
	}
	return err, false
}

// connectRetries is how many times acquire tries again, a few milliseconds
// apart, to open a connection after the server refused it or could not be
// reached. A server that is restarting takes longer than that to come back:
// the caller then gets ErrUnavailable, as it would without the retries.
const connectRetries = 2

// acquire takes a connection from the pool. A connection that cannot be
// opened is tried connectRetries more times. BEGIN is not sent here: it
// goes with the unit's first statement (see unit.go). A connection that
// the server ended while it sat in the pool fails that first round trip;
// Update then takes another at once, up to the pool's size: pgxpool v5.7
// pings a connection before handing it out only if it has been idle for
// more than a second, so after the server ends every session at once the
// pool hands out each dead connection once, and cannot hold more dead
// connections than its size.
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	for connects := 0; ; {
		conn, err := s.pool.Acquire(ctx)
		if err == nil {
			return conn, nil
		}
		var ce *pgconn.ConnectError
		if !errors.As(err, &ce) || connects >= connectRetries || ctx.Err() != nil {
			return nil, translate("begin", err)
		}
		connects++
		select {
		case <-ctx.Done():
			return nil, translate("begin", ctx.Err())
		case <-time.After(time.Duration(connects) * 10 * time.Millisecond):
		}
	}
}
