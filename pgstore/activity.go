package pgstore

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/outbox"
)

// The activity log is the table giftkit_activity (migration 0005): one row
// per record, the record whole in its binary form beside copies of the
// fields that queries filter and order on. The table is append-only: the
// database refuses UPDATE, DELETE and TRUNCATE.

var _ activity.Tx = (*Tx)(nil)

// A unit's records, and its outbox events, are appended by one write,
// whatever their number and however many calls of AppendActivity and
// AppendEvents they came in (see queuedLog in outbox.go), which goes as
// part of the statement that carries the unit's other writes (see fold in
// unit.go): a multi-row
// INSERT ... VALUES for up to activityValuesMax records (a redemption's
// two, a payment's one), and above that an INSERT ... SELECT from one array
// per column. Each is prepared once per connection (pgx's statement cache;
// the server then keeps a generic plan). The VALUES statements, one per
// number of rows, cost less than the arrays, which the client encodes
// element by element and the server decodes and unnests: on PostgreSQL 15,
// a transaction that appends a redemption's two records took 167 µs of
// server CPU and 130 allocations as two statements over arrays, 131 µs and
// 51 as one VALUES statement (an empty transaction: 33 µs and 29).
const activityValuesMax = 8

var activityColumns = []string{"subject_kind", "subject_id", "currency", "seq", "at_ns", "actor_kind", "actor_id", "record"}

// activityInsertSQL returns the statement that inserts n records (over
// arrays if n > activityValuesMax) whose parameters are numbered from
// first.
func activityInsertSQL(n, first int) string {
	const into = `INSERT INTO giftkit_activity (subject_kind, subject_id, currency, seq, at_ns, actor_kind, actor_id, record) `
	if n > activityValuesMax {
		return into + "SELECT * FROM unnest(" + params(first,
			"::smallint[]", "::text[]", "::text[]", "::bigint[]", "::bigint[]", "::smallint[]", "::text[]", "::bytea[]") + ")"
	}
	return into + values(first, n, "::smallint", "", "", "::bigint", "::bigint", "::smallint", "", "::bytea")
}

// values returns "VALUES" and n rows of len(casts) parameters, numbered
// from first, each with its cast: "VALUES ($1::smallint, $2), ($3::smallint, $4)".
func values(first, n int, casts ...string) string {
	var b strings.Builder
	b.WriteString("VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + params(first+i*len(casts), casts...) + ")")
	}
	return b.String()
}

// params returns len(casts) parameters numbered from first, each with its
// cast: "$1::smallint, $2".
func params(first int, casts ...string) string {
	var b strings.Builder
	for j, c := range casts {
		if j > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d%s", first+j, c)
	}
	return b.String()
}

// copyActivityMin is the number of records from which AppendActivity
// sends them by COPY: a round trip of their own, which such a batch (an
// issuance's) repays many times over (for 10,000 records, pgx's COPY took
// about 10% less time than the statement over arrays, and half the
// memory; the binary COPY of copyRows takes less still).
const copyActivityMin = 1000

// activityRow is a record as giftkit_activity has it.
type activityRow struct {
	kind, actorKind int16
	id, code, actor string
	seq, at         int64
	record          []byte // the record's binary form
}

// activityArgs appends the parameters of activityInsertSQL for rows.
func activityArgs(args []any, rows []activityRow) []any {
	if len(rows) <= activityValuesMax {
		for i := range rows {
			r := &rows[i]
			args = append(args, r.kind, r.id, r.code, r.seq, r.at, r.actorKind, r.actor, r.record)
		}
		return args
	}
	n := len(rows)
	var (
		kinds, actorKinds  = make([]int16, n), make([]int16, n)
		ids, codes, actors = make([]string, n), make([]string, n), make([]string, n)
		seqs, ats          = make([]int64, n), make([]int64, n)
		records            = make([][]byte, n)
	)
	for i := range rows {
		r := &rows[i]
		kinds[i], ids[i], codes[i], seqs[i] = r.kind, r.id, r.code, r.seq
		ats[i], actorKinds[i], actors[i], records[i] = r.at, r.actorKind, r.actor, r.record
	}
	return append(args, kinds, ids, codes, seqs, ats, actorKinds, actors, records)
}

// AppendActivity implements activity.Tx, and puts the event of each
// record (outbox.FromRecord) in the outbox, in the unit. The records and
// their events are queued with the unit's other writes, and sent with its
// next read or its COMMIT (see unit.go), in one write with the records
// and events of the unit's other calls until then, itself part of the
// statement that carries the unit's other writes: a redemption's two
// records (the card's and the account's) and their events, and a
// payment's one and the payment's events, take no round trip and no
// statement of their own. From copyActivityMin records on (an
// issuance's), the records and their events are sent at once by COPY (see
// copyRows), after the unit's pending writes: the records in the order of
// their subjects, which their indexes share, the events in the records'
// order.
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
	const op = "append activity"
	if err := t.usable(op); err != nil {
		return err
	}
	if len(records) == 0 {
		return nil
	}
	rows := make([]activityRow, len(records))
	events := make([]eventRow, len(records))
	for i := range records {
		r := &records[i]
		at, err := unixNano(op, r.At)
		if err != nil {
			return err
		}
		blob, err := r.AppendBinary(nil) // a copy: the caller may reuse the Snapshot
		if err != nil {
			return &Error{Op: op, Err: ErrConflict, cause: err.Error()}
		}
		rows[i] = activityRow{kind: int16(r.Subject.Kind), id: r.Subject.ID, code: r.Subject.Currency.Code(), seq: r.Seq,
			at: at, actorKind: int16(r.Actor.Kind), actor: r.Actor.ID, record: blob}
		if events[i], err = eventRowOf(op, outbox.FromRecord(*r)); err != nil {
			return err
		}
	}
	if len(rows) < copyActivityMin {
		l, err := t.queuedLog(op)
		if err != nil {
			return err
		}
		l.acts = append(l.acts, rows...)
		l.events = append(l.events, events...)
		t.wroteEvents = true
		return nil
	}
	// The records go in the order of their subjects and numbers, which
	// their three indexes share but for the time and actor that the
	// by-time and by-actor indexes put first (and that an issuance's
	// records have in common): each index then takes them from left to
	// right rather than at random. The events keep the records' order.
	sorted := make([]*activityRow, len(rows))
	for i := range rows {
		sorted[i] = &rows[i]
	}
	slices.SortFunc(sorted, func(a, b *activityRow) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), strings.Compare(a.id, b.id), strings.Compare(a.code, b.code),
			cmp.Compare(a.seq, b.seq))
	})
	if err := t.copyRows(op, "giftkit_activity", activityColumns, len(sorted), func(b []byte, i int) []byte {
		r := sorted[i]
		b = copyInt16(b, r.kind)
		b = copyText(b, r.id)
		b = copyText(b, r.code)
		b = copyInt64(b, r.seq)
		b = copyInt64(b, r.at)
		b = copyInt16(b, r.actorKind)
		b = copyText(b, r.actor)
		return copyText(b, r.record)
	}); err != nil {
		return err
	}
	return t.copyEvents(op, events)
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
