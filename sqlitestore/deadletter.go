package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/giftkit/giftkit/outbox"
)

var _ outbox.DeadLetters = deadLetters{}

// Dead letters are the table giftkit_dead_letters (see
// migrations/0003_outbox.sql): one row per consumer and event ID, the
// event in the columns giftkit_outbox keeps it in, beside the attempts,
// status, error and time of the last failure.

// deadLetterColumns are the columns of an outbox.DeadLetter, but its
// consumer: an eventRow's, then the failures'.
const deadLetterColumns = `pos, ` + eventColumns + `, attempts, status, error, failed_at`

// upsertDeadLetter inserts a dead letter, or replaces every column of the
// one of its consumer and event ID.
var upsertDeadLetter = func() string {
	cols := strings.Split(deadLetterColumns, ",")
	var set []string
	for _, c := range cols {
		if c = strings.TrimSpace(c); c != "event_id" {
			set = append(set, c+" = excluded."+c)
		}
	}
	return `INSERT INTO giftkit_dead_letters (consumer, ` + deadLetterColumns + `) VALUES (?` + strings.Repeat(", ?", len(cols)) + `)
	ON CONFLICT (consumer, event_id) DO UPDATE SET ` + strings.Join(set, ", ")
}()

// The queries of the dead letters, each reading an index (TestOutboxQueryPlans):
// the primary key, and giftkit_dead_letters_by_pos in order.
const (
	selectDeadLetter  = `SELECT ` + deadLetterColumns + ` FROM giftkit_dead_letters WHERE consumer = ? AND event_id = ?`
	selectDeadLetters = `SELECT ` + deadLetterColumns + ` FROM giftkit_dead_letters WHERE consumer = ? AND pos > ?
	ORDER BY pos, event_id LIMIT ?`
)

// DeadLetters returns the outbox's dead letters, kept in the database file
// beside the outbox (and in its backups), so that a webhook dispatcher
// given them (webhook.Config.DeadLetters) can replay the events it gave up
// on after a restart, even once the outbox has pruned them. Its Put and
// Delete are units of work of their own; Get and List read on the reader
// connections. Every method first checks the consumer's name with
// outbox.CheckConsumer, and returns its error. Put fails with ErrConflict
// for a dead letter the schema refuses: an event without a time, or with
// one (or an At) outside the years 1678 to 2262, or that the outbox would
// refuse, or negative Attempts. Get of a dead letter that is not there
// fails with an error that wraps outbox.ErrDeadLetterNotFound. Each may
// fail with ctx's error or ErrUnavailable, and Get and List with
// ErrConflict for a row that cannot be read back.
func (s *Store) DeadLetters() outbox.DeadLetters {
	return deadLetters{s}
}

// deadLetters is the Store's outbox.DeadLetters.
type deadLetters struct{ s *Store }

// Put implements outbox.DeadLetters.
func (d deadLetters) Put(ctx context.Context, l outbox.DeadLetter) error {
	const op = "put dead letter"
	if err := outbox.CheckConsumer(l.Consumer); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkEventTime(op, &l.Event); err != nil {
		return err
	}
	enc := encoder{op: op}
	failedAt := enc.arg(l.At)
	if enc.err != nil {
		return enc.err
	}
	args := appendEvent([]any{l.Consumer, l.Event.Pos}, &l.Event)
	args = append(args, l.Attempts, l.Status, l.Error, failedAt)
	return d.s.Update(ctx, func(tx *Tx) error {
		_, err := tx.c.exec(ctx, upsertDeadLetter, args...)
		return translate(ctx, op, err)
	})
}

// Get implements outbox.DeadLetters.
func (d deadLetters) Get(ctx context.Context, consumer, eventID string) (outbox.DeadLetter, error) {
	const op = "get dead letter"
	if err := outbox.CheckConsumer(consumer); err != nil {
		return outbox.DeadLetter{}, err
	}
	if err := ctx.Err(); err != nil {
		return outbox.DeadLetter{}, err
	}
	rows, err := d.s.rdb.QueryContext(ctx, selectDeadLetter, consumer, eventID)
	if err != nil {
		return outbox.DeadLetter{}, translate(ctx, op, err)
	}
	ls, err := scanDeadLetters(ctx, op, consumer, rows)
	if err != nil {
		return outbox.DeadLetter{}, err
	}
	if len(ls) == 0 {
		return outbox.DeadLetter{}, fmt.Errorf("sqlitestore: %w: %q for consumer %q", outbox.ErrDeadLetterNotFound, eventID, consumer)
	}
	return ls[0], nil
}

// List implements outbox.DeadLetters, along the index of each consumer's
// dead letters by position.
func (d deadLetters) List(ctx context.Context, consumer string, after int64, limit int) ([]outbox.DeadLetter, error) {
	const op = "list dead letters"
	if err := outbox.CheckConsumer(consumer); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := d.s.rdb.QueryContext(ctx, selectDeadLetters, consumer, after, max(limit, 1))
	if err != nil {
		return nil, translate(ctx, op, err)
	}
	return scanDeadLetters(ctx, op, consumer, rows)
}

// Delete implements outbox.DeadLetters.
func (d deadLetters) Delete(ctx context.Context, consumer, eventID string) error {
	const op = "delete dead letter"
	if err := outbox.CheckConsumer(consumer); err != nil {
		return err
	}
	return d.s.Update(ctx, func(tx *Tx) error {
		_, err := tx.c.exec(ctx, `DELETE FROM giftkit_dead_letters WHERE consumer = ? AND event_id = ?`, consumer, eventID)
		return translate(ctx, op, err)
	})
}

// scanDeadLetters reads the rows of a SELECT of deadLetterColumns of
// consumer's dead letters, and closes them.
func scanDeadLetters(ctx context.Context, op, consumer string, rows *sql.Rows) ([]outbox.DeadLetter, error) {
	defer rows.Close()
	var out []outbox.DeadLetter
	for rows.Next() {
		var (
			r        eventRow
			l        = outbox.DeadLetter{Consumer: consumer}
			failedAt sql.NullInt64
		)
		if err := rows.Scan(r.dest(&l.Attempts, &l.Status, &l.Error, &failedAt)...); err != nil {
			return nil, translate(ctx, op, err)
		}
		var err error
		if l.Event, err = r.event(op); err != nil {
			return nil, err
		}
		l.At = fromNull(failedAt)
		out = append(out, l)
	}
	return out, translate(ctx, op, rows.Err())
}
