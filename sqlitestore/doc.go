// Package sqlitestore is the SQLite store of giftkit: a durable embedded
// store, for a shop that runs as one process on one machine and must keep
// its shoppers' balances across restarts. The database is one file that the
// host names; no server runs.
//
//	store, err := sqlitestore.Open(ctx, "/var/lib/shop/giftkit.db")
//	if err != nil { ... }
//	defer store.Close()
//	accounts, err := wallet.NewService(store, wallet.Config{...})
//
// It is built on modernc.org/sqlite, SQLite translated to Go: no cgo, so
// go build stays plain and cross-compiles.
//
// # Which store
//
//   - memstore keeps everything in memory: tests, examples, demos. A restart
//     forgets every balance.
//   - sqlitestore keeps one file on one machine, used by one process (or a
//     few processes on that machine, which take turns to write). Commits
//     cost a disk sync each, and only one runs at a time.
//   - pgstore keeps the data in PostgreSQL, for several instances of a
//     service on several machines, and for backups, replicas and failover
//     that a database server gives.
//
// The services are the same over every store; only the wiring changes.
//
// # Units of work
//
// [Store.Update] runs each unit of work in a BEGIN IMMEDIATE transaction on
// the store's one write connection. Units of work of one Store take turns
// for it in Go (waiting as long as their contexts allow), so they run one
// after the other and never conflict: fn runs once, and what it reads stays
// as read until it commits. A unit of work waits up to the busy timeout
// ([WithBusyTimeout], 5 seconds by default) for the write lock of another
// process using the file, then fails with ErrUnavailable without running.
//
// The database is in write-ahead-log (WAL) mode: readers do not wait for
// the writer, nor it for them. [Store.View] runs read-only units of work on
// a small pool of reader connections, each seeing the database as of its
// first read; [Store.Backup] reads on a connection of its own.
//
// The schema is created and brought up to date by Open, under the write
// lock, from versioned migrations embedded in the package. Its constraints
// back the invariants, as pgstore's do: CHECK (balance >= 0), CHECK (held <=
// balance), one card per code hash (UNIQUE), one record per idempotency
// scope and key, journal entries keyed by account and sequence number, with
// a foreign key to their account and never changed or removed, activity
// records that are never changed or removed either (see below), and a
// trigger that refuses to change a redeemed or voided card, but for a
// clawback of a redeemed card, which may only add to its clawed_back (and
// move its updated_at and the head of its activity chain). Tables are
// STRICT. Amounts are INTEGER minor units next to their currency's code
// and minor units, so any currency giftkit accepts round-trips; times are
// INTEGER nanoseconds since the Unix epoch, so they round-trip exactly, and
// must lie within the years 1678 to 2262 (others fail with ErrConflict);
// the zero time is NULL. Values go in and come out as copies.
//
// Schema version 2 added the activity log, value classes and clawbacks.
// Open migrates a database of version 1 in place: its cards and credits
// read as of the purchased class, with nothing clawed back and no activity
// record yet; their chains start with their next change. Version 3 added
// the outbox, its consumers, their dead letters and e-gift deliveries, in
// tables of their own: a database of version 2 gains them empty (the
// outbox holds no event of what was done before). Version 4 added
// imported cards and cards' tags, which a final card keeps as the trigger
// keeps the rest of it (a database of version 3 reads its cards as issued
// here, without tags), and the journal's load, transfer and fee entries
// (its table is copied into one that allows them, with every entry and the
// append-only triggers as they were).
//
// Tx implements giftcard.CardInserter, so an issuance inserts its cards
// with one prepared statement in one transaction. It does not implement
// giftkit.ReadAheader: reads are calls into SQLite in the same process,
// with no round trip to save.
//
// # Activity log
//
// Tx implements activity.Tx: the services append the activity records of
// every change in the unit of work that makes it, and reports read them
// (package ledger), in a [Store.View] as well. Records are kept in the table
// giftkit_activity, one row per record, keyed by subject (kind, card ID or
// owner, currency code) and sequence number, with the whole record in its
// binary form (activity.Record.AppendBinary) beside copies of the fields
// that queries select and sort by: the time in nanoseconds and the actor.
// Indexes serve activity.ByTime and one actor's records; text is compared
// as bytes, as Go compares strings. AppendActivity appends a record only as
// the next of its subject (ErrConflict otherwise), and a batch, such as an
// issuance's 10,000 records, all or none with one prepared statement.
//
// The log is append-only: triggers refuse to UPDATE or DELETE its rows,
// or to INSERT OR REPLACE one, whoever connects to the file (so do the
// journal's). They keep out mistakes, not someone who can write the file:
// the records' chained digests (activity.Verify) show what such a person
// changed, against heads published elsewhere.
//
// # Outbox
//
// Tx implements outbox.Tx, and Store implements outbox.Reader. A unit of
// work's events (those it appends, and one per activity record, by
// outbox.FromRecord) are kept in the Tx and inserted when fn returns nil,
// just before COMMIT, in the order of the calls, with one multi-row INSERT
// per 32 events: a redemption's two events cost one statement. They commit
// with the unit of work or not at all. They are kept in the table
// giftkit_outbox, one row per event, its fields in columns and its payload
// as given.
//
// An event's position (Event.Pos) is its rowid, which SQLite assigns at the
// insert. SQLite runs one write transaction at a time on a database file,
// whichever process or connection begins it, and every unit of work of
// this package begins with BEGIN IMMEDIATE, which takes the write lock
// before its first read: a unit of work runs entirely after every unit that
// committed before it began, and the positions it takes are larger than
// theirs and smaller than those of any unit that begins after it. So
// positions increase in commit order, and a reader that has read up to a
// position never finds a smaller one committed later (which a server
// database's sequences do not promise). The table is AUTOINCREMENT: the
// largest position ever given is kept, in the file and in its backups, and
// no position is given twice, even once its event is pruned. Triggers
// refuse to change or replace an event, and to delete one that a
// registered consumer has not acknowledged, whoever connects to the file.
//
// [Store.Events] and [Store.Cursor] read on the reader connections;
// [Store.Ack] and the registration of a consumer (its first Events or Ack)
// are units of work of their own. Cursors are kept in
// giftkit_outbox_consumers, and are shared by every process that uses the
// file. A consumer that stops for good keeps every event after its cursor
// from being pruned until it is forgotten ([Store.Forget]).
//
// [Store.Wait] returns at once when a unit of work of the same Store
// commits events (a channel closed at the commit), and looks at the table
// every 250 milliseconds otherwise: SQLite tells a process nothing of
// another's commits, so a consumer in one process learns of events that
// another process commits within a quarter of a second.
//
// [Store.DeadLetters] keeps the dead letters of the outbox's consumers
// (outbox.DeadLetters: the events a webhook dispatcher gave up on) in the
// table giftkit_dead_letters, one row per consumer and event ID, the event
// in the columns the outbox keeps it in: in the file and its backups, so
// they outlive a restart and the pruning of their events. Put, which
// replaces the dead letter of its consumer and event ID, and Delete are
// units of work of their own; Get and List read on the reader connections,
// List along an index of each consumer's dead letters by position.
//
// [Store.Prune] removes the oldest events, from the first position up to
// the first that a registered consumer has not acknowledged or whose time
// is not before the retention's, and the idempotency records created
// before its other limit. It works in units of work of its own, each
// removing at most 5,000 events or looking at 5,000 idempotency records, so
// units of work of the services run in between. Idempotency records are
// looked at in key order: the table has no index of their times, which
// every unit of work that stores a record would pay for.
//
// # E-gift deliveries
//
// Tx implements egift.Tx. Deliveries are kept in giftkit_deliveries, one
// row each: the sealed code a BLOB (NULL once erased, and a sent or
// cancelled delivery that keeps one is refused; the store never reads
// inside it), times in nanoseconds like every other, and a partial index
// of the scheduled and sending deliveries by SendAt, then ID, which
// DueDeliveries reads in order. A delivery with the zero SendAt is due at
// once, before every other.
//
// # Durability
//
// A unit of work for which Update returned nil is in the database file and
// its write-ahead log, and survives the process being killed at any moment.
// What survives a power loss or an operating-system crash depends on the
// synchronous setting ([WithSync]):
//
//   - [SyncFull], the default: every commit waits until the write-ahead log
//     is on the disk (an fsync), so a unit of work that returned nil
//     survives a power loss too. This is what a store of money owed needs.
//   - [SyncNormal]: commits do not wait for the disk; the log is synced at
//     checkpoints. The database is never corrupted, and a killed process
//     loses nothing, but a power loss may undo the last units of work that
//     returned nil: a shopper may have been told of a credit or a payment
//     the store no longer has. It commits about twice as fast on an SSD,
//     and many times faster on a disk whose sync is slow (see
//     BENCHMARKS.md). Choose it only where the host can lose the last
//     seconds of commits (a replica, a cache, data it can rebuild).
//
// Either way, an idempotency key makes a retried call safe: the outcome of
// a call that was lost is computed again, once.
//
// # Backup
//
// [Store.Backup] writes a consistent copy of the database while the store
// is in use, synced and renamed into place; [Open] the copy to read it, or
// move it in place of the database (with the store closed) to restore it.
// Copying the file with cp while a store has it open may copy a torn
// database: use Backup, or SQLite's own tools.
//
// # Attempt logs
//
// Tx implements wallet.LimiterTx, so wallet.NewStoreLimiter(store, rule)
// keeps the counts of redemption attempts in the database, shared by every
// process that uses the file. A log with nothing left in it is deleted; a
// subject that fails a few times and never returns keeps its row: now and
// then, delete the rows of giftkit_attempt_logs whose updated_at
// (nanoseconds) is older than the limiter's window and lockout.
//
// # Errors
//
// Errors are [*Error] values that unwrap to [ErrConflict] (a constraint or
// uniqueness violation, or a value that cannot be stored or read back),
// [ErrUnavailable] (the file could not be opened, read or written, the
// write lock was busy past the timeout, the store is closed, or a commit's
// outcome is unknown: retry the call with its idempotency key), [ErrTxDone],
// [ErrReadOnly], or giftkit.ErrInvalid ([Store.Ack] of a position that no
// event has had). The outbox's methods, and the dead letters', return
// outbox.ErrInvalidConsumer as outbox.CheckConsumer does; Get of a dead
// letter that is not there returns an error wrapping
// outbox.ErrDeadLetterNotFound. No driver type reaches the caller. A
// context's error is returned as it is, or wrapped with the operation it
// stopped.
//
// A Store is safe for concurrent use; its zero value is not usable: call
// [Open]. A Tx is valid only inside its callback.
package sqlitestore
