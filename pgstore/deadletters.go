package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit/outbox"
)

// Dead letters are the table giftkit_dead_letters (migration 0006), one
// row per consumer and event ID: the event in the columns giftkit_outbox
// has it in (eventRow), since Prune may remove it from the outbox, beside
// the consumer and what went wrong.

var _ outbox.DeadLetters = deadLetters{}

// deadLetters is the Store's outbox.DeadLetters: each method is one
// statement on a pool connection.
type deadLetters struct{ s *Store }

// DeadLetters returns the outbox's dead letters, kept durably in the
// table giftkit_dead_letters beside the outbox: give it to a webhook
// dispatcher (webhook.Config.DeadLetters), whose events are acknowledged
// in the outbox once they are dead letters. Its methods are safe for
// concurrent use, and each runs one statement on a pool connection,
// outside any unit of work: Put is an upsert keyed by consumer and event
// ID, and List reads one consumer's in order of position (then of event
// ID, byte by byte) through an index.
//
// Its methods fail with outbox.ErrInvalidConsumer for a consumer name
// outbox.CheckConsumer refuses, and with the store's errors; Get fails
// with an error wrapping outbox.ErrDeadLetterNotFound when there is no
// such dead letter, and Put with ErrConflict for an event the outbox
// could not hold either (dated outside the years 1678 to 2262, or of a
// version beyond 32 bits).
func (s *Store) DeadLetters() outbox.DeadLetters { return deadLetters{s: s} }

// deadLetterFields lists the columns that scanDeadLetter reads, in its
// order: eventSelect, then the rest of the letter. Its consumer is not
// read: Get and List are given it.
var deadLetterFields = eventSelect + ", attempts, status, error, failed_at, failed_at_ns"

// deadLetterColumns lists a row's columns, in the order of Put's
// parameters.
var deadLetterColumns = "consumer, " + deadLetterFields

const deadLetterFrom = " FROM giftkit_dead_letters "

// putDeadLetterSQL inserts a dead letter, or replaces every column of the
// one stored under its consumer and event ID.
var putDeadLetterSQL = func() string {
	columns := strings.Split(deadLetterColumns, ", ")
	var set []string
	for _, c := range columns {
		if c != "consumer" && c != "event_id" {
			set = append(set, c+" = excluded."+c)
		}
	}
	return "INSERT INTO giftkit_dead_letters (" + deadLetterColumns + ") VALUES (" +
		params(1, make([]string, len(columns))...) + ") ON CONFLICT (consumer, event_id) DO UPDATE SET " +
		strings.Join(set, ", ")
}()

// Put implements outbox.DeadLetters.
func (d deadLetters) Put(ctx context.Context, l outbox.DeadLetter) error {
	const op = "put dead letter"
	if err := outbox.CheckConsumer(l.Consumer); err != nil {
		return err
	}
	r, err := eventRowOf(op, l.Event) // shares the payload, sent before Put returns
	if err != nil {
		return err
	}
	failedAt, failedNs := splitTime(l.At)
	args := append([]any{l.Consumer, r.pos}, r.values()...)
	args = append(args, int64(l.Attempts), int64(l.Status), l.Error, failedAt, failedNs)
	return d.s.withConn(ctx, op, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, putDeadLetterSQL, args...)
		return err
	})
}

// Get implements outbox.DeadLetters.
func (d deadLetters) Get(ctx context.Context, consumer, eventID string) (outbox.DeadLetter, error) {
	if err := outbox.CheckConsumer(consumer); err != nil {
		return outbox.DeadLetter{}, err
	}
	var (
		l     outbox.DeadLetter
		found bool
	)
	err := d.s.withConn(ctx, "dead letter", func(conn *pgx.Conn) error {
		var err error
		l, err = scanDeadLetter(conn.QueryRow(ctx, "SELECT "+deadLetterFields+deadLetterFrom+"WHERE consumer = $1 AND event_id = $2",
			consumer, eventID), consumer)
		found = err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	switch {
	case err != nil:
		return outbox.DeadLetter{}, err
	case !found:
		return outbox.DeadLetter{}, fmt.Errorf("pgstore: %w: %q for consumer %q", outbox.ErrDeadLetterNotFound, eventID, consumer)
	}
	return l, nil
}

// List implements outbox.DeadLetters; a limit below 1 is taken as 1.
func (d deadLetters) List(ctx context.Context, consumer string, after int64, limit int) ([]outbox.DeadLetter, error) {
	if err := outbox.CheckConsumer(consumer); err != nil {
		return nil, err
	}
	var out []outbox.DeadLetter
	err := d.s.withConn(ctx, "dead letters", func(conn *pgx.Conn) error {
		out = nil // from an attempt on a broken connection
		rows, err := conn.Query(ctx, "SELECT "+deadLetterFields+deadLetterFrom+"WHERE consumer = $1 AND pos > $2 ORDER BY pos, event_id LIMIT $3",
			consumer, after, int64(max(limit, 1)))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			l, err := scanDeadLetter(rows, consumer)
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete implements outbox.DeadLetters.
func (d deadLetters) Delete(ctx context.Context, consumer, eventID string) error {
	if err := outbox.CheckConsumer(consumer); err != nil {
		return err
	}
	return d.s.withConn(ctx, "delete dead letter", func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, "DELETE FROM giftkit_dead_letters WHERE consumer = $1 AND event_id = $2", consumer, eventID)
		return err
	})
}

// scanDeadLetter reads a row of deadLetterFields, consumer's.
func scanDeadLetter(row pgx.Row, consumer string) (outbox.DeadLetter, error) {
	var (
		r                eventRow
		attempts, status int64
		failedAt         time.Time
		failedNs         int16
		l                = outbox.DeadLetter{Consumer: consumer}
	)
	if err := row.Scan(append(r.dest(), &attempts, &status, &l.Error, &failedAt, &failedNs)...); err != nil {
		return outbox.DeadLetter{}, err
	}
	e, err := r.event()
	if err != nil {
		return outbox.DeadLetter{}, err
	}
	l.Event, l.Attempts, l.Status, l.At = e, int(attempts), int(status), joinTime(&failedAt, failedNs)
	return l, nil
}
