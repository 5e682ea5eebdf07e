package pgstore

import (
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/giftkit/giftkit/wallet"
)

var _ wallet.LimiterTx = (*Tx)(nil)

// AttemptLog implements wallet.LimiterTx. It locks the subject's log until
// the unit of work ends. A subject without a log has no row to lock, so two
// units may both find none; the second to store one then fails with a
// unique violation, and Update runs it again, when it finds the first's.
func (t *Tx) AttemptLog(subject string) (wallet.AttemptLog, bool, error) {
	const op = "attempt log"
	if err := t.usable(op); err != nil {
		return wallet.AttemptLog{}, false, err
	}
	var (
		attempts []int64
		locked   *int64
	)
	br, err := t.send(op, func(b *pgx.Batch) {
		b.Queue(`SELECT attempts_ns, locked_until_ns FROM giftkit_attempt_logs WHERE subject = $1 FOR UPDATE`, []byte(subject))
	})
	if err != nil {
		return wallet.AttemptLog{}, false, err
	}
	err = br.QueryRow().Scan(&attempts, &locked)
	found := err == nil
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	if err := closeResults(op, br, translate(op, err)); err != nil {
		return wallet.AttemptLog{}, false, err
	}
	t.readLog(subject, found)
	if !found {
		return wallet.AttemptLog{}, false, nil
	}
	l := wallet.AttemptLog{Subject: subject, Attempts: make([]time.Time, len(attempts))}
	for i, ns := range attempts {
		l.Attempts[i] = time.Unix(0, ns).UTC()
	}
	if locked != nil {
		l.LockedUntil = time.Unix(0, *locked).UTC()
	}
	return l, true, nil
}

// readLog records what the unit knows of subject's log: that it exists and
// is locked, or that it did not exist when last looked at.
func (t *Tx) readLog(subject string, found bool) {
	if t.logs == nil {
		t.logs = make(map[string]bool)
	}
	t.logs[subject] = found
}

// PutAttemptLog implements wallet.LimiterTx. A log with no attempts and no
// lockout is deleted. Times must lie within the years 1678 to 2262 (they are
// kept to the nanosecond); others fail with ErrConflict.
//
// How it writes depends on what the unit read. A log it found (and locked)
// is updated. Where it found none, a plain INSERT adds the log: if a
// concurrent unit added one since, the unique violation makes Update run
// the unit again, so that it builds on that log instead of overwriting it
// (an upsert would drop the other unit's attempts). A log it did not read
// is replaced, whatever is there.
func (t *Tx) PutAttemptLog(l wallet.AttemptLog) error {
	const op = "put attempt log"
	if err := t.usable(op); err != nil {
		return err
	}
	subject := []byte(l.Subject)
	found, read := t.logs[l.Subject]
	if len(l.Attempts) == 0 && l.LockedUntil.IsZero() {
		if read && !found {
			return nil // there was none; one added since is another unit's
		}
		if err := t.write(op, rowKey('l', l.Subject), nil, `DELETE FROM giftkit_attempt_logs WHERE subject = $1`, subject); err != nil {
			return err
		}
		t.readLog(l.Subject, false)
		return nil
	}
	attempts := make([]int64, len(l.Attempts))
	for i, at := range l.Attempts {
		ns, err := unixNano(op, at)
		if err != nil {
			return err
		}
		attempts[i] = ns
	}
	var locked *int64
	if !l.LockedUntil.IsZero() {
		ns, err := unixNano(op, l.LockedUntil)
		if err != nil {
			return err
		}
		locked = &ns
	}
	var sql string
	switch {
	case found:
		sql = `UPDATE giftkit_attempt_logs SET attempts_ns = $2, locked_until_ns = $3, updated_at = now()
			WHERE subject = $1`
	case read:
		sql = `INSERT INTO giftkit_attempt_logs (subject, attempts_ns, locked_until_ns) VALUES ($1, $2, $3)`
	default:
		sql = `INSERT INTO giftkit_attempt_logs (subject, attempts_ns, locked_until_ns) VALUES ($1, $2, $3)
			ON CONFLICT (subject) DO UPDATE SET attempts_ns = excluded.attempts_ns,
				locked_until_ns = excluded.locked_until_ns, updated_at = now()`
	}
	err := t.write(op, rowKey('l', l.Subject), func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != 1 { // cannot happen: the unit holds the row's lock
			return &Error{Op: op, Err: ErrConflict, cause: "the attempt log vanished while locked"}
		}
		return nil
	}, sql, subject, attempts, locked)
	if err != nil {
		return err
	}
	t.readLog(l.Subject, true)
	return nil
}

// The times an int64 of nanoseconds since the Unix epoch can hold.
var (
	minUnixNano = time.Unix(0, math.MinInt64)
	maxUnixNano = time.Unix(0, math.MaxInt64)
)

func unixNano(op string, t time.Time) (int64, error) {
	if t.Before(minUnixNano) || t.After(maxUnixNano) {
		return 0, &Error{Op: op, Err: ErrConflict, cause: "time " + t.UTC().String() + " is outside the years 1678 to 2262"}
	}
	return t.UnixNano(), nil
}
