package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/outbox"
)

var _ activity.Tx = (*Tx)(nil)

// The activity log is the table giftkit_activity (see
// migrations/0002_activity.sql): one row per record, keyed by subject and
// sequence number, the whole record in its binary form beside copies of
// the fields that queries select and sort by.

const insertActivity = `INSERT INTO giftkit_activity
	(subject_kind, subject_id, currency, seq, at_ns, actor_kind, actor_id, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// AppendActivity implements activity.Tx. Each record must be the next of
// its subject, counting the records before it in records (1 for a
// subject's first): otherwise it fails with ErrConflict, as it does for a
// record whose time is zero or outside the years 1678 to 2262, or whose
// subject or actor the schema refuses. The records are appended all or
// none, and with them their events (outbox.FromRecord), which go in the
// outbox with the unit of work's other events, in the order of the calls
// (see AppendEvents). The unit of work holds the write lock, so the
// subject's last record stays as read, and the primary key (and a
// trigger, against INSERT OR REPLACE) refuses a second record of one
// number whatever happens.
func (t *Tx) AppendActivity(records []activity.Record) (err error) {
	const op = "append activity"
	if err := t.usable(op, true); err != nil {
		return err
	}
	if len(records) == 0 {
		return nil
	}
	// The events once every record is in (this runs after the savepoint's
	// release below): a unit of work that goes on after a refused batch
	// commits neither the records nor their events.
	defer func() {
		if err == nil {
			t.events = slices.Grow(t.events, len(records))
			for i := range records {
				t.events = append(t.events, outbox.FromRecord(records[i]))
			}
		}
	}()
	if len(records) > 1 { // a single statement fails whole without a savepoint
		if _, err := t.c.exec(t.ctx, "SAVEPOINT giftkit_append_activity"); err != nil {
			return translate(t.ctx, op, err)
		}
		defer func() {
			if err != nil {
				_, _ = t.c.exec(context.WithoutCancel(t.ctx), "ROLLBACK TO giftkit_append_activity")
			}
			if _, rerr := t.c.exec(context.WithoutCancel(t.ctx), "RELEASE giftkit_append_activity"); rerr != nil && err == nil {
				err = translate(t.ctx, op, rerr)
			}
		}()
	}
	var (
		last map[activity.Subject]int64 // the number of each subject's last record appended by this call
		buf  = make([]byte, 0, 512)
	)
	if len(records) > 1 {
		last = make(map[activity.Subject]int64, min(len(records), 1024))
	}
	for i := range records {
		r := &records[i]
		next, seen := last[r.Subject]
		next++
		if !seen && r.Seq != 1 {
			// The subject's last record, by the primary key. A record 1 is
			// not looked up: the key refuses it if the subject has one.
			n, err := t.lastSeq(r.Subject)
			if err != nil {
				return translate(t.ctx, op, err)
			}
			next = n + 1
		}
		if r.Seq != next {
			return outOfSequence(op, *r, next)
		}
		e := encoder{op: op}
		at, ok := e.nanos(r.At)
		switch {
		case e.err != nil:
			return e.err
		case !ok:
			return &Error{Op: op, Err: ErrConflict, cause: fmt.Sprintf("activity record %d of %s has no time", r.Seq, r.Subject)}
		}
		buf, _ = r.AppendBinary(buf[:0]) // the driver copies it
		_, err := t.c.exec(t.ctx, insertActivity, int64(r.Subject.Kind), r.Subject.ID, r.Subject.Currency.Code(), r.Seq,
			at, r.Actor.Kind.String(), r.Actor.ID, buf)
		if err != nil {
			var se *sqlite.Error
			if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
				// The record's number is taken (a record 1 of a subject
				// that has one), or a CHECK refused it.
				if n, lerr := t.lastSeq(r.Subject); lerr == nil && n >= r.Seq {
					return outOfSequence(op, *r, n+1)
				}
			}
			return translate(t.ctx, op, err)
		}
		if last != nil {
			last[r.Subject] = r.Seq
		}
	}
	return nil
}

// lastSeq returns the number of subject's last record; 0 for none.
func (t *Tx) lastSeq(s activity.Subject) (int64, error) {
	var n int64
	_, err := t.c.row(t.ctx, `SELECT seq FROM giftkit_activity WHERE subject_kind = ? AND subject_id = ? AND currency = ?
		ORDER BY seq DESC LIMIT 1`, []any{int64(s.Kind), s.ID, s.Currency.Code()}, &n)
	return n, err
}

func outOfSequence(op string, r activity.Record, next int64) error {
	return &Error{Op: op, Err: ErrConflict, cause: fmt.Sprintf("activity record %d of %s out of sequence (next is %d)", r.Seq, r.Subject, next)}
}

// The columns of each order, as the primary key and the index by time
// hold them.
const (
	bySubjectColumns = "subject_kind, subject_id, currency, seq"
	byTimeColumns    = "at_ns, subject_kind, subject_id, currency, seq"
)

// Activity implements activity.Tx: one SELECT, with a condition for each
// field of q that is set, the cursor as a comparison of rows in the
// order's columns, ORDER BY those columns and LIMIT. The records are
// decoded from their binary form, as they were appended, with times in
// UTC. A record that cannot be decoded fails with ErrConflict.
func (t *Tx) Activity(q activity.Query, limit int) ([]activity.Record, error) {
	const op = "activity"
	if err := t.usable(op, false); err != nil {
		return nil, err
	}
	query, args, none := activityQuery(q)
	if none || limit <= 0 {
		return nil, nil
	}
	rows, err := t.c.query(t.ctx, query, append(args, limit)...)
	if err != nil {
		return nil, translate(t.ctx, op, err)
	}
	defer rows.Close()
	var out []activity.Record
	for rows.Next() {
		var raw sql.RawBytes
		if err := rows.Scan(&raw); err != nil {
			return nil, translate(t.ctx, op, err)
		}
		var r activity.Record
		if err := r.UnmarshalBinary(raw); err != nil { // copies what it keeps
			return nil, corrupt(op, "%v", err)
		}
		out = append(out, r)
	}
	return out, translate(t.ctx, op, rows.Err())
}

// activityQuery returns the SELECT of the records q selects after q.After,
// in q.Order, with its arguments but for the LIMIT's, the last; none if no
// record can match. The text depends only on which fields of q are set, so
// the writer prepares a few statements once.
func activityQuery(q activity.Query) (query string, args []any, none bool) {
	var where []string
	cond := func(c string, a ...any) {
		where = append(where, c)
		args = append(args, a...)
	}
	if !q.Subject.IsZero() {
		cond("subject_kind = ? AND subject_id = ? AND currency = ?", int64(q.Subject.Kind), q.Subject.ID, q.Subject.Currency.Code())
	}
	if q.Kind != 0 {
		if q.Order == activity.ByTime {
			// Not by the primary key, which would have SQLite sort all of
			// one kind's records for each page: along the index by time,
			// skipping the other kind's.
			cond("+subject_kind = ?", int64(q.Kind))
		} else {
			cond("subject_kind = ?", int64(q.Kind))
		}
	}
	if !q.Actor.IsZero() {
		cond("actor_kind = ? AND actor_id = ?", q.Actor.Kind.String(), q.Actor.ID)
	}
	// Stored times lie within what an int64 of nanoseconds holds; a bound
	// beyond that range selects every record or none. By subject, records
	// are read along the primary key and filtered by time: SQLite would
	// otherwise read a range of the index by time and sort all of it for
	// each page. (Reports read whole chains up to an instant; a narrow
	// range of time is for ByTime.)
	at := "+at_ns"
	if q.Order == activity.ByTime {
		at = "at_ns"
	}
	if !q.From.IsZero() {
		switch {
		case q.From.Before(minUnixNano):
		case q.From.After(maxUnixNano):
			return "", nil, true
		default:
			cond(at+" >= ?", q.From.UnixNano())
		}
	}
	if !q.To.IsZero() {
		switch {
		case q.To.After(maxUnixNano):
		case !q.To.After(minUnixNano):
			return "", nil, true
		default:
			cond(at+" < ?", q.To.UnixNano())
		}
	}
	columns := bySubjectColumns
	after := []any{int64(q.After.Subject.Kind), q.After.Subject.ID, q.After.Subject.Currency.Code(), q.After.Seq}
	if q.Order == activity.ByTime {
		columns = byTimeColumns
		switch {
		case q.After.IsZero():
		case q.After.At.IsZero() || q.After.At.Before(minUnixNano):
			after = nil // every record's time is after the cursor's
		case q.After.At.After(maxUnixNano):
			return "", nil, true
		default:
			after = append([]any{q.After.At.UnixNano()}, after...)
		}
	}
	if !q.After.IsZero() && after != nil {
		cond("("+columns+") > ("+strings.Repeat("?, ", len(after)-1)+"?)", after...)
	}
	query = "SELECT record FROM giftkit_activity"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	return query + " ORDER BY " + columns + " LIMIT ?", args, false
}
