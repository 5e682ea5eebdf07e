package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/outbox"
)

var (
	_ outbox.Tx     = (*Tx)(nil)
	_ outbox.Reader = (*Store)(nil)
)

// The outbox is the table giftkit_outbox (see migrations/0003_outbox.sql):
// one row per event, its position the rowid, which SQLite assigns in the
// unit of work that inserts it. The consumers' cursors are in
// giftkit_outbox_consumers.

// AppendEvents implements outbox.Tx. The events are kept in the Tx and
// inserted when fn returns nil, just before COMMIT, with those of the
// records that AppendActivity appended, in the order of the calls: one
// INSERT of up to eventsPerInsert rows at a time, so a redemption's two
// events cost one statement. An event whose time is zero or outside the
// years 1678 to 2262 fails with ErrConflict at once; one that the schema
// refuses (an aggregate kind that is not a card, an account or a payment;
// an account without a currency; an empty type; an invalid actor) fails
// Update with ErrConflict, and nothing of the unit of work commits.
func (t *Tx) AppendEvents(events []outbox.Event) error {
	const op = "append events"
	if err := t.usable(op, true); err != nil {
		return err
	}
	for i := range events {
		if err := checkEventTime(op, &events[i]); err != nil {
			return err
		}
	}
	t.events = append(t.events, events...) // their payloads are handed over (see outbox.Tx)
	return nil
}

func checkEventTime(op string, e *outbox.Event) error {
	enc := encoder{op: op}
	if _, ok := enc.nanos(e.At); enc.err != nil {
		return enc.err
	} else if !ok {
		return &Error{Op: op, Err: ErrConflict, cause: fmt.Sprintf("event %d of %s has no time", e.Seq, e.Aggregate)}
	}
	return nil
}

// eventsPerInsert is the most rows one INSERT of events has (12 values a
// row). A unit of work with more, an issuance's, takes one statement for
// each eventsPerInsert; the statements of 1 to eventsPerInsert rows are
// prepared once each, on first use.
const eventsPerInsert = 32

// eventColumns are the columns of an outbox.Event, but its position, in
// giftkit_outbox and giftkit_dead_letters: appendEvent gives their values,
// and an eventRow reads them back (after pos).
const eventColumns = `event_id, type, version, aggregate_kind, aggregate_id, currency, minor_units, seq,
	actor_kind, actor_id, at_ns, payload`

// insertEventsQuery[n] inserts n events.
var insertEventsQuery = func() (q [eventsPerInsert + 1]string) {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	for n := 1; n <= eventsPerInsert; n++ {
		q[n] = `INSERT INTO giftkit_outbox (` + eventColumns + `) VALUES ` + strings.Repeat(row+", ", n-1) + row
	}
	return q
}()

// appendEvent appends the values of e's eventColumns to args. e's time
// must have passed checkEventTime.
func appendEvent(args []any, e *outbox.Event) []any {
	payload := []byte(e.Payload)
	if payload == nil {
		payload = []byte{} // the driver would store nil as NULL; the column is NOT NULL
	}
	cur := e.Aggregate.Currency
	return append(args, e.ID, string(e.Type), e.Version, int64(e.Aggregate.Kind), e.Aggregate.ID, cur.Code(),
		cur.MinorUnits(), e.Seq, e.Actor.Kind.String(), e.Actor.ID, e.At.UnixNano(), payload)
}

// An eventRow is an event as Scan reads it: pos, then eventColumns.
type eventRow struct {
	e                    outbox.Event
	typ, code, actorKind string
	kind, minor, at      int64
	payload              []byte
}

// dest returns the Scan destinations of pos and eventColumns, then more.
func (r *eventRow) dest(more ...any) []any {
	return append([]any{&r.e.Pos, &r.e.ID, &r.typ, &r.e.Version, &r.kind, &r.e.Aggregate.ID, &r.code, &r.minor, &r.e.Seq,
		&r.actorKind, &r.e.Actor.ID, &r.at, &r.payload}, more...)
}

// event returns the event scanned, or ErrConflict if it cannot be read
// back. Scan has copied the payload.
func (r *eventRow) event(op string) (outbox.Event, error) {
	e := r.e
	e.Type, e.Aggregate.Kind, e.At = outbox.Type(r.typ), outbox.AggregateKind(r.kind), time.Unix(0, r.at).UTC()
	if !e.Aggregate.Kind.IsValid() {
		return outbox.Event{}, corrupt(op, "event at %d: aggregate kind %d", e.Pos, r.kind)
	}
	if r.code != "" {
		var err error
		if e.Aggregate.Currency, err = currency(op, r.code, r.minor); err != nil {
			return outbox.Event{}, err
		}
	}
	if err := e.Actor.Kind.UnmarshalText([]byte(r.actorKind)); err != nil {
		return outbox.Event{}, corrupt(op, "event at %d: %v", e.Pos, err)
	}
	e.Payload = r.payload
	return e, nil
}

// insertEvents inserts the unit of work's events, in order, so that
// SQLite gives them increasing positions.
func (t *Tx) insertEvents() error {
	const op = "append events"
	events := t.events
	args := make([]any, 0, 12*min(len(events), eventsPerInsert))
	for len(events) > 0 {
		n := min(len(events), eventsPerInsert)
		args = args[:0]
		for i := range events[:n] {
			args = appendEvent(args, &events[i])
		}
		if _, err := t.c.exec(t.ctx, insertEventsQuery[n], args...); err != nil {
			return translate(t.ctx, op, err)
		}
		events = events[n:]
	}
	return nil
}

// The queries of the outbox (and of pruning), each reading an index in
// order (TestOutboxQueryPlans): after a position, along the rowid; the
// key of the idempotency record pruneChunk records on; the records from
// one key to another.
const (
	selectEvents   = `SELECT pos, ` + eventColumns + ` FROM giftkit_outbox WHERE pos > ? ORDER BY pos LIMIT ?`
	selectPrunable = `SELECT pos, at_ns FROM giftkit_outbox WHERE pos <= ? ORDER BY pos LIMIT ?`
	selectNextKey  = `SELECT scope, key FROM giftkit_idempotency WHERE (scope, key) >= (?, ?) ORDER BY scope, key LIMIT 1 OFFSET ?`
	deleteOldKeys  = `DELETE FROM giftkit_idempotency WHERE (scope, key) >= (?1, ?2) AND (scope, key) < (?3, ?4)
	AND (?5 OR created_at IS NULL OR created_at < ?6)`
	deleteOldKeysToEnd = `DELETE FROM giftkit_idempotency WHERE (scope, key) >= (?1, ?2)
	AND (?3 OR created_at IS NULL OR created_at < ?4)`
)

// Events implements outbox.Reader: one SELECT on a reader connection, in
// order of position, after registering consumer if this Store has not seen
// it yet (a write, once per consumer and process). It fails with
// outbox.ErrInvalidConsumer, ctx's error, ErrUnavailable, or ErrConflict
// for a row that cannot be read back.
func (s *Store) Events(ctx context.Context, consumer string, after int64, limit int) ([]outbox.Event, error) {
	const op = "outbox events"
	if err := outbox.CheckConsumer(consumer); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.register(ctx, consumer); err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), outbox.MaxLimit)
	rows, err := s.rdb.QueryContext(ctx, selectEvents, after, limit)
	if err != nil {
		return nil, translate(ctx, op, err)
	}
	defer rows.Close()
	var out []outbox.Event
	for rows.Next() {
		var r eventRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, translate(ctx, op, err)
		}
		e, err := r.event(op)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, translate(ctx, op, rows.Err())
}

// register registers consumer, at cursor 0, unless it is registered: a
// read on a reader connection, and a write only for a new consumer. (It
// does not remember the names it has seen: another process may Forget one.)
func (s *Store) register(ctx context.Context, consumer string) error {
	const op = "register outbox consumer"
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM giftkit_outbox_consumers WHERE name = ?`, consumer).Scan(&n); err != nil {
		return translate(ctx, op, err)
	}
	if n == 0 {
		if err := s.Update(ctx, func(tx *Tx) error {
			_, err := tx.c.exec(ctx, `INSERT INTO giftkit_outbox_consumers (name, cursor) VALUES (?, 0) ON CONFLICT (name) DO NOTHING`,
				consumer)
			return translate(ctx, op, err)
		}); err != nil {
			return err
		}
	}
	return nil
}

// Forget implements outbox.Reader, in a unit of work of its own. It fails
// with outbox.ErrInvalidConsumer, ctx's error, or ErrUnavailable.
func (s *Store) Forget(ctx context.Context, consumer string) error {
	const op = "outbox forget"
	if err := outbox.CheckConsumer(consumer); err != nil {
		return err
	}
	return s.Update(ctx, func(tx *Tx) error {
		_, err := tx.c.exec(ctx, `DELETE FROM giftkit_outbox_consumers WHERE name = ?`, consumer)
		return translate(ctx, op, err)
	})
}

// Ack implements outbox.Reader, in a unit of work of its own: it moves
// consumer's cursor forward to pos, registering consumer if it is new. A pos
// after the largest position ever given (pruned events included) or below
// zero fails with an *Error that unwraps to giftkit.ErrInvalid. It fails
// with outbox.ErrInvalidConsumer, ctx's error, or ErrUnavailable.
func (s *Store) Ack(ctx context.Context, consumer string, pos int64) error {
	const op = "outbox ack"
	if err := outbox.CheckConsumer(consumer); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if pos < 0 {
		return &Error{Op: op, Err: giftkit.ErrInvalid, cause: fmt.Sprintf("no event at position %d", pos)}
	}
	err := s.Update(ctx, func(tx *Tx) error {
		var last int64
		if _, err := tx.c.row(ctx, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'giftkit_outbox'), 0)`,
			nil, &last); err != nil {
			return translate(ctx, op, err)
		}
		if pos > last {
			return &Error{Op: op, Err: giftkit.ErrInvalid, cause: fmt.Sprintf("no event at position %d: the last is at %d", pos, last)}
		}
		_, err := tx.c.exec(ctx, `INSERT INTO giftkit_outbox_consumers (name, cursor) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at
			WHERE excluded.cursor > giftkit_outbox_consumers.cursor`, consumer, pos)
		return translate(ctx, op, err)
	})
	return err
}

// Cursor implements outbox.Reader, on a reader connection. It fails with
// outbox.ErrInvalidConsumer, ctx's error, or ErrUnavailable.
func (s *Store) Cursor(ctx context.Context, consumer string) (int64, error) {
	const op = "outbox cursor"
	if err := outbox.CheckConsumer(consumer); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var cursor int64
	err := s.rdb.QueryRowContext(ctx, `SELECT cursor FROM giftkit_outbox_consumers WHERE name = ?`, consumer).Scan(&cursor)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return cursor, translate(ctx, op, err)
}

// waitPoll is how often [Store.Wait] looks for events that another process
// committed to the database.
const waitPoll = 250 * time.Millisecond

// Wait implements outbox.Reader. It returns nil as soon as the outbox holds
// an event after after: at once if it does, when a unit of work of this
// Store commits events, and otherwise when it finds one by looking again
// every 250 milliseconds, which is how it learns of the commits of other
// processes using the file (SQLite tells a process nothing of another's
// commits). It fails with ctx's error or ErrUnavailable.
func (s *Store) Wait(ctx context.Context, after int64) error {
	const op = "outbox wait"
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The channel is taken before the look, so that a commit after the
		// look closes a channel this call waits on.
		s.outboxMu.Lock()
		if s.outboxWake == nil {
			s.outboxWake = make(chan struct{})
		}
		wake := s.outboxWake
		s.outboxMu.Unlock()
		var last sql.NullInt64
		if err := s.rdb.QueryRowContext(ctx, `SELECT max(pos) FROM giftkit_outbox`).Scan(&last); err != nil {
			return translate(ctx, op, err)
		}
		if last.Int64 > after {
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(waitPoll)
		} else {
			timer.Reset(waitPoll)
		}
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// committedEvents wakes the calls to Wait of this Store: a unit of work
// committed events.
func (s *Store) committedEvents() {
	s.outboxMu.Lock()
	defer s.outboxMu.Unlock()
	if s.outboxWake != nil {
		close(s.outboxWake)
		s.outboxWake = nil
	}
}

// pruneChunk is how many events one unit of work of Prune removes at
// most, and how many idempotency records it looks at: Prune holds the
// write lock for a moment at a time, and units of work run in between.
const pruneChunk = 5000

// Prune implements outbox.Reader, in units of work of its own, each
// removing up to pruneChunk events or looking at as many idempotency
// records, so that other units of work run in between. The events it
// removes are the oldest: from the first position on, up to the first
// that a registered consumer has not acknowledged or whose time is not
// before r.EventsBefore (times are the callers' clocks and need not
// increase with positions). Idempotency records are looked at in key
// order, without an index of their times, which would cost every unit of
// work that stores one; a record with the zero CreatedAt counts as older
// than any time. What it removed before an error is in the Pruned it
// returns with the error: ctx's, or ErrUnavailable.
func (s *Store) Prune(ctx context.Context, r outbox.Retention) (outbox.Pruned, error) {
	var out outbox.Pruned
	if err := ctx.Err(); err != nil {
		return out, err
	}
	if !r.EventsBefore.IsZero() {
		n, err := s.pruneEvents(ctx, r.EventsBefore)
		out.Events = n
		if err != nil {
			return out, err
		}
	}
	if !r.IdempotencyBefore.IsZero() {
		n, err := s.pruneIdempotency(ctx, r.IdempotencyBefore)
		out.Idempotency = n
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// bound returns t in nanoseconds for "a stored time is before t", and
// whether every stored time is (t is after the years a time is kept in).
func bound(t time.Time) (ns int64, all bool) {
	switch {
	case t.After(maxUnixNano):
		return math.MaxInt64, true
	case t.Before(minUnixNano):
		return math.MinInt64, false
	}
	return t.UnixNano(), false
}

func (s *Store) pruneEvents(ctx context.Context, before time.Time) (int, error) {
	const op = "outbox prune"
	limit, all := bound(before)
	total := 0
	for done := false; !done; {
		var removed int64
		err := s.Update(ctx, func(tx *Tx) error {
			// Every event is acknowledged if no consumer is registered.
			var acked int64
			if _, err := tx.c.row(ctx, `SELECT coalesce((SELECT min(cursor) FROM giftkit_outbox_consumers),
				(SELECT max(pos) FROM giftkit_outbox), 0)`, nil, &acked); err != nil {
				return translate(ctx, op, err)
			}
			rows, err := tx.c.query(ctx, selectPrunable, acked, pruneChunk)
			if err != nil {
				return translate(ctx, op, err)
			}
			var last int64 // the last position to remove
			n := 0
			for rows.Next() {
				var pos, at int64
				if err := rows.Scan(&pos, &at); err != nil {
					_ = rows.Close()
					return translate(ctx, op, err)
				}
				if !all && at >= limit {
					done = true
					break
				}
				last = pos
				n++
			}
			if err := rows.Close(); err != nil {
				return translate(ctx, op, err)
			}
			if err := rows.Err(); err != nil {
				return translate(ctx, op, err)
			}
			if n < pruneChunk {
				done = true
			}
			if n == 0 {
				return nil
			}
			res, err := tx.c.exec(ctx, `DELETE FROM giftkit_outbox WHERE pos <= ?`, last)
			if err != nil {
				return translate(ctx, op, err)
			}
			removed, err = res.RowsAffected()
			return translate(ctx, op, err)
		})
		if err != nil {
			return total, err
		}
		total += int(removed)
	}
	return total, nil
}

// pruneIdempotency removes the idempotency records created before before,
// looking at pruneChunk records in key order in each unit of work.
func (s *Store) pruneIdempotency(ctx context.Context, before time.Time) (int, error) {
	const op = "idempotency prune"
	limit, all := bound(before)
	total := 0
	scope, key := "", "" // the first key of the next chunk; '' sorts before any text
	for done := false; !done; {
		var removed int64
		err := s.Update(ctx, func(tx *Tx) error {
			var nextScope, nextKey string
			more, err := tx.c.row(ctx, selectNextKey, []any{scope, key, pruneChunk}, &nextScope, &nextKey)
			if err != nil {
				return translate(ctx, op, err)
			}
			var res sql.Result
			if more {
				res, err = tx.c.exec(ctx, deleteOldKeys, scope, key, nextScope, nextKey, all, limit)
			} else {
				res, err = tx.c.exec(ctx, deleteOldKeysToEnd, scope, key, all, limit)
			}
			if err != nil {
				return translate(ctx, op, err)
			}
			removed, err = res.RowsAffected()
			scope, key, done = nextScope, nextKey, !more
			return translate(ctx, op, err)
		})
		if err != nil {
			return total, err
		}
		total += int(removed)
	}
	return total, nil
}
