package sqlitestore

import (
	"database/sql"
	"encoding/json"
	"time"

	"github.com/giftkit/giftkit/wallet"
)

// AttemptLog implements wallet.LimiterTx. The unit of work holds the
// database's write lock, so the log stays as read until it ends.
func (t *Tx) AttemptLog(subject string) (wallet.AttemptLog, bool, error) {
	const op = "attempt log"
	if err := t.usable(op, false); err != nil {
		return wallet.AttemptLog{}, false, err
	}
	var (
		attemptsJS string
		locked     sql.NullInt64
	)
	found, err := t.c.row(t.ctx, `SELECT attempts, locked_until FROM giftkit_attempt_logs WHERE subject = ?`,
		[]any{[]byte(subject)}, &attemptsJS, &locked)
	if err != nil || !found {
		return wallet.AttemptLog{}, false, translate(t.ctx, op, err)
	}
	var attempts []int64
	if err := json.Unmarshal([]byte(attemptsJS), &attempts); err != nil {
		return wallet.AttemptLog{}, false, corrupt(op, "attempts: %v", err)
	}
	l := wallet.AttemptLog{Subject: subject, Attempts: make([]time.Time, len(attempts)), LockedUntil: fromNull(locked)}
	for i, ns := range attempts {
		l.Attempts[i] = time.Unix(0, ns).UTC()
	}
	return l, true, nil
}

// PutAttemptLog implements wallet.LimiterTx. A log with no attempts and no
// lockout is deleted. Times must lie within the years 1678 to 2262 (they
// are kept to the nanosecond: the limiter finds an attempt again by its
// exact time); others fail with ErrConflict.
func (t *Tx) PutAttemptLog(l wallet.AttemptLog) error {
	const op = "put attempt log"
	if err := t.usable(op, true); err != nil {
		return err
	}
	subject := []byte(l.Subject)
	if len(l.Attempts) == 0 && l.LockedUntil.IsZero() {
		_, err := t.c.exec(t.ctx, `DELETE FROM giftkit_attempt_logs WHERE subject = ?`, subject)
		return translate(t.ctx, op, err)
	}
	e := encoder{op: op}
	attempts := make([]int64, len(l.Attempts))
	for i, at := range l.Attempts {
		if at.IsZero() {
			return &Error{Op: op, Err: ErrConflict, cause: "an attempt at the zero time"}
		}
		if ns := e.time(at); ns != nil {
			attempts[i] = *ns
		}
	}
	js, locked := e.json(attempts), e.arg(l.LockedUntil)
	if e.err != nil {
		return e.err
	}
	_, err := t.c.exec(t.ctx, `INSERT INTO giftkit_attempt_logs (subject, attempts, locked_until) VALUES (?, ?, ?)
		ON CONFLICT (subject) DO UPDATE SET attempts = excluded.attempts, locked_until = excluded.locked_until,
			updated_at = excluded.updated_at`, subject, js, locked)
	return translate(t.ctx, op, err)
}
