package pgstore

import (
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit/activity"
)

// The activity log is the table giftkit_activity (migration 0005): one row
// per record, the record whole in its binary form beside copies of the
// fields that queries filter and order on. The table is append-only: the
// database refuses UPDATE, DELETE and TRUNCATE.

var _ activity.Tx = (*Tx)(nil)

// appendActivitySQL inserts any number of records in one statement, from
// one array per column.
const appendActivitySQL = `INSERT INTO giftkit_activity
	(subject_kind, subject_id, currency, seq, at_ns, actor_kind, actor_id, record)
	SELECT * FROM unnest($1::smallint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[],
		$6::smallint[], $7::text[], $8::bytea[])`

var activityColumns = []string{"subject_kind", "subject_id", "currency", "seq", "at_ns", "actor_kind", "actor_id", "record"}

// copyActivityMin is the number of records from which AppendActivity
// sends them by COPY: a round trip of their own, which such a batch (an
// issuance's) repays many times over (for 10,000 records, COPY takes about
// 10% less time than the statement over arrays, and half the memory).
const copyActivityMin = 1000

// AppendActivity implements activity.Tx. The records are queued with the
// unit's other writes, and sent with its next read or its COMMIT (see
// unit.go), in one statement whatever their number: a redemption's and a
// payment's records take no round trip of their own. From copyActivityMin
// records on (an issuance's), they are sent at once by COPY, after the
// unit's pending writes.
//
// That a record is the next of its subject is the database's to check,
// where it holds under concurrency: the primary key (subject, seq) refuses
// a second record with a number, and a foreign key from each record after
// the first to the record before it, (subject, seq - 1), refuses a gap.
// The foreign key is checked at the end of the statement, so records of
// one subject appended together (an account's expiry and the change after
// it) find each other, in any order. Either refusal fails the unit whole,
// with ErrConflict. Two units that extend one chain at once, each having
// read its head before the other committed (the services never do: they
// hold the card's or account's row lock from reading the head to the
// commit), collide on the primary key; the second waits for the first and
// then fails with a unique violation, which makes Update run it again from
// the new head, as for any other row two units create at once. A unit
// cannot build on another's uncommitted record either: the foreign key
// finds only committed predecessors (and the unit's own).
//
// A record's time is kept to the nanosecond for ordering and filtering, as
// an int64 since the Unix epoch: a record dated outside the years 1678 to
// 2262 is refused with ErrConflict.
func (t *Tx) AppendActivity(records []activity.Record) error {
	if err := t.usable("append activity"); err != nil {
		return err
	}
	if len(records) == 0 {
		return nil
	}
	n := len(records)
	var (
		kinds, actorKinds  = make([]int16, n), make([]int16, n)
		ids, codes, actors = make([]string, n), make([]string, n), make([]string, n)
		seqs, ats          = make([]int64, n), make([]int64, n)
		blobs              = make([][]byte, n)
	)
	for i := range records {
		r := &records[i]
		at, err := unixNano("append activity", r.At)
		if err != nil {
			return err
		}
		blob, err := r.AppendBinary(nil) // a copy: the caller may reuse the Snapshot
		if err != nil {
			return &Error{Op: "append activity", Err: ErrConflict, cause: err.Error()}
		}
		kinds[i], ids[i], codes[i], seqs[i] = int16(r.Subject.Kind), r.Subject.ID, r.Subject.Currency.Code(), r.Seq
		ats[i], actorKinds[i], actors[i], blobs[i] = at, int16(r.Actor.Kind), r.Actor.ID, blob
	}
	if n < copyActivityMin {
		return t.write("append activity", nil, appendActivitySQL, kinds, ids, codes, seqs, ats, actorKinds, actors, blobs)
	}
	if len(t.pending) > 0 || !t.begun { // BEGIN, and the writes the records may follow
		br, err := t.send("append activity", nil)
		if err != nil {
			return err
		}
		if err := br.Close(); err != nil {
			return translate("append activity", err)
		}
	}
	_, err := t.conn.CopyFrom(t.ctx, pgx.Identifier{"giftkit_activity"}, activityColumns,
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return []any{kinds[i], ids[i], codes[i], seqs[i], ats[i], actorKinds[i], actors[i], blobs[i]}, nil
		}))
	return translate("append activity", err)
}

// bound places a query's time bound among the records' times, which an
// int64 of nanoseconds since the Unix epoch holds (see AppendActivity):
// before every record, after every record, or at ns.
func bound(t time.Time) (ns int64, before, after bool) {
	switch {
	case t.Before(minUnixNano):
		return 0, true, false
	case t.After(maxUnixNano):
		return 0, false, true
	}
	return t.UnixNano(), false, false
}

// Activity implements activity.Tx in one statement, sent with the unit's
// pending writes, so that it finds the unit's own records. It takes no
// lock: records never change. Each of q's fields that is not zero adds a
// condition; q.After is a row comparison in the columns of q.Order, which
// the table's primary key (BySubject) and its index by time (ByTime)
// serve in order.
func (t *Tx) Activity(q activity.Query, limit int) ([]activity.Record, error) {
	if err := t.usable("activity"); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !q.Subject.IsZero() {
		where = append(where, "subject_kind = "+arg(int16(q.Subject.Kind))+" AND subject_id = "+arg(q.Subject.ID)+
			" AND currency = "+arg(q.Subject.Currency.Code()))
	}
	if q.Kind != 0 {
		where = append(where, "subject_kind = "+arg(int16(q.Kind)))
	}
	if !q.Actor.IsZero() {
		where = append(where, "actor_kind = "+arg(int16(q.Actor.Kind))+" AND actor_id = "+arg(q.Actor.ID))
	}
	// A bound beyond the records' range of times selects all of them or
	// none.
	if !q.From.IsZero() {
		switch ns, before, after := bound(q.From); {
		case after:
			return nil, nil
		case !before:
			where = append(where, "at_ns >= "+arg(ns))
		}
	}
	if !q.To.IsZero() {
		switch ns, before, after := bound(q.To); {
		case before:
			return nil, nil
		case !after:
			where = append(where, "at_ns < "+arg(ns))
		}
	}
	// Text columns are COLLATE "C": compared, and ordered, byte by byte,
	// as activity.Subject.Compare does.
	order := "subject_kind, subject_id, currency, seq"
	if q.Order == activity.ByTime {
		order = "at_ns, " + order
	}
	if c := q.After; !c.IsZero() {
		ns, before, after := bound(c.At)
		switch {
		case q.Order != activity.ByTime:
			where = append(where, "(subject_kind, subject_id, currency, seq) > ("+arg(int16(c.Subject.Kind))+", "+
				arg(c.Subject.ID)+", "+arg(c.Subject.Currency.Code())+", "+arg(c.Seq)+")")
		case after:
			return nil, nil
		case !before: // a cursor before every record's time passes them all
			where = append(where, "(at_ns, subject_kind, subject_id, currency, seq) > ("+arg(ns)+", "+
				arg(int16(c.Subject.Kind))+", "+arg(c.Subject.ID)+", "+arg(c.Subject.Currency.Code())+", "+arg(c.Seq)+")")
		}
	}
	sql := "SELECT record FROM giftkit_activity"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY " + order + " LIMIT " + arg(int64(limit))
	br, err := t.send("activity", func(b *pgx.Batch) { b.Queue(sql, args...) })
	if err != nil {
		return nil, err
	}
	out, err := scanActivity(br)
	return out, closeResults("activity", br, err)
}

func scanActivity(br pgx.BatchResults) ([]activity.Record, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, translate("activity", err)
	}
	defer rows.Close()
	var out []activity.Record
	for rows.Next() {
		var blob []byte
		if err := rows.Scan(&blob); err != nil {
			return nil, translate("activity", err)
		}
		var r activity.Record
		if err := r.UnmarshalBinary(blob); err != nil {
			return nil, &Error{Op: "activity", Err: ErrConflict, inner: err}
		}
		out = append(out, r)
	}
	return out, translate("activity", rows.Err())
}
