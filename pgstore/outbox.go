package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/outbox"
)

// The outbox is the table giftkit_outbox (migration 0006): one row per
// event, inserted by the unit of work that emits it, with a position (pos)
// given after the unit commits, in commit order, by the positioner (the
// function giftkit_outbox_position, whose comment says why the order is
// right). The package doc describes it as its consumers see it.

var (
	_ outbox.Tx     = (*Tx)(nil)
	_ outbox.Reader = (*Store)(nil)
)

// eventRow is an event as giftkit_outbox has it. pos is read, never
// written: the positioner gives it (see values).
type eventRow struct {
	id, typ, aggID, code, actor string
	version                     int32
	aggKind, minor, actorKind   int16
	pos, seq, at                int64
	payload                     []byte
}

// eventColumns are the columns that values writes, in its order.
var eventColumns = []string{"event_id", "type", "version", "aggregate_kind", "aggregate_id", "currency", "minor_units",
	"seq", "actor_kind", "actor_id", "at_ns", "payload"}

// eventSelect lists the columns that dest reads, in its order: pos, then
// eventColumns.
var eventSelect = "pos, " + strings.Join(eventColumns, ", ")

// eventRowOf returns e as a row. Its payload is shared, not copied: the
// caller hands it over (see outbox.Tx).
func eventRowOf(op string, e outbox.Event) (eventRow, error) {
	at, err := unixNano(op, e.At)
	if err != nil {
		return eventRow{}, err
	}
	if e.Version < math.MinInt32 || e.Version > math.MaxInt32 {
		return eventRow{}, &Error{Op: op, Err: ErrConflict, cause: fmt.Sprintf("event version %d out of range", e.Version)}
	}
	payload := []byte(e.Payload)
	if payload == nil {
		payload = []byte{} // NULL is not an empty payload
	}
	c := e.Aggregate.Currency
	return eventRow{id: e.ID, typ: string(e.Type), version: int32(e.Version), aggKind: int16(e.Aggregate.Kind),
		aggID: e.Aggregate.ID, code: c.Code(), minor: int16(c.MinorUnits()), pos: e.Pos, seq: e.Seq,
		actorKind: int16(e.Actor.Kind), actor: e.Actor.ID, at: at, payload: payload}, nil
}

// values returns the row's eventColumns.
func (r *eventRow) values() []any {
	return []any{r.id, r.typ, r.version, r.aggKind, r.aggID, r.code, r.minor, r.seq, r.actorKind, r.actor, r.at, r.payload}
}

// dest returns where to scan the columns of eventSelect.
func (r *eventRow) dest() []any {
	return []any{&r.pos, &r.id, &r.typ, &r.version, &r.aggKind, &r.aggID, &r.code, &r.minor, &r.seq, &r.actorKind,
		&r.actor, &r.at, &r.payload}
}

// event returns the event r holds. Its payload is r's, which pgx scans
// into a slice of its own.
func (r *eventRow) event() (outbox.Event, error) {
	e := outbox.Event{ID: r.id, Type: outbox.Type(r.typ), Version: int(r.version), Seq: r.seq, Pos: r.pos,
		Aggregate: outbox.Aggregate{Kind: outbox.AggregateKind(r.aggKind), ID: r.aggID},
		Actor:     giftkit.Actor{Kind: giftkit.ActorKind(r.actorKind), ID: r.actor}, At: time.Unix(0, r.at).UTC()}
	if r.code != "" {
		c, err := currency(r.code, r.minor)
		if err != nil {
			return outbox.Event{}, err
		}
		e.Aggregate.Currency = c
	}
	if len(r.payload) > 0 {
		e.Payload = r.payload
	}
	return e, nil
}

// eventValuesMax is the most events one INSERT ... VALUES takes; more go
// over arrays, as activity records do (see activityValuesMax).
const eventValuesMax = 8

// eventsInsertSQL returns the statement that inserts n events (over arrays
// if n > eventValuesMax) whose parameters are numbered from first. Rows
// are inserted, and their ids drawn, in the order given.
func eventsInsertSQL(n, first int) string {
	const into = `INSERT INTO giftkit_outbox (event_id, type, version, aggregate_kind, aggregate_id, currency, minor_units,
		seq, actor_kind, actor_id, at_ns, payload) `
	if n > eventValuesMax {
		return into + "SELECT * FROM unnest(" + params(first, "::text[]", "::text[]", "::integer[]", "::smallint[]",
			"::text[]", "::text[]", "::smallint[]", "::bigint[]", "::smallint[]", "::text[]", "::bigint[]", "::bytea[]") + ")"
	}
	return into + values(first, n, "", "", "::integer", "::smallint", "", "", "::smallint", "::bigint", "::smallint", "",
		"::bigint", "::bytea")
}

// eventArgs appends the parameters of eventsInsertSQL for rows.
func eventArgs(args []any, rows []eventRow) []any {
	if len(rows) <= eventValuesMax {
		for i := range rows {
			args = append(args, rows[i].values()...)
		}
		return args
	}
	n := len(rows)
	var (
		ids, types, aggIDs, codes, actors = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		versions                          = make([]int32, n)
		aggKinds, minors, actorKinds      = make([]int16, n), make([]int16, n), make([]int16, n)
		seqs, ats                         = make([]int64, n), make([]int64, n)
		payloads                          = make([][]byte, n)
	)
	for i := range rows {
		r := &rows[i]
		ids[i], types[i], versions[i], aggKinds[i], aggIDs[i], codes[i] = r.id, r.typ, r.version, r.aggKind, r.aggID, r.code
		minors[i], seqs[i], actorKinds[i], actors[i], ats[i], payloads[i] = r.minor, r.seq, r.actorKind, r.actor, r.at, r.payload
	}
	return append(args, ids, types, versions, aggKinds, aggIDs, codes, minors, seqs, actorKinds, actors, ats, payloads)
}

// logSQL[a][e] appends a activity records and e events: the records'
// INSERT, then the events' (whose parameters follow the records'), each
// if there are any; a == activityValuesMax+1 and e == eventValuesMax+1
// stand for any number above the maximum, sent over arrays. With both,
// the write's two statements go as parts of one (see fold).
var logSQL = func() (sql [activityValuesMax + 2][eventValuesMax + 2][2]string) {
	for a := range activityValuesMax + 2 {
		activityParams := 8 * a
		if a > activityValuesMax {
			activityParams = 8 // one array per column
		}
		for e := range eventValuesMax + 2 {
			switch {
			case a == 0 && e == 0:
			case e == 0:
				sql[a][e][0] = activityInsertSQL(a, 1)
			case a == 0:
				sql[a][e][0] = eventsInsertSQL(e, 1)
			default:
				sql[a][e] = [2]string{activityInsertSQL(a, 1), eventsInsertSQL(e, 1+activityParams)}
			}
		}
	}
	return sql
}()

// queuedLog is the unit's write that appends activity records and outbox
// events, queued with its writes and not sent yet: records and events
// appended until it is sent join it, the events in the order of the calls.
// Its statements and arguments are set when it is sent (see Tx.send).
type queuedLog struct {
	at     int // its index in the unit's pending writes
	acts   []activityRow
	events []eventRow
}

// queuedLog returns the unit's queued write that appends records and
// events, queueing it if there is none.
func (t *Tx) queuedLog(op string) (*queuedLog, error) {
	if t.appendLog == nil {
		if err := t.write(op, "", nil, ""); err != nil { // its statements are set when sent
			return nil, err
		}
		t.appendLog = &queuedLog{at: len(t.pending) - 1}
	}
	return t.appendLog, nil
}

// seal sets the write's statements and arguments for its rows: the
// records' INSERT, then the events', each if there are any.
func (l *queuedLog) seal(t *Tx) {
	a, e := min(len(l.acts), activityValuesMax+1), min(len(l.events), eventValuesMax+1)
	args := make([]any, 0, 8*min(len(l.acts), activityValuesMax+1)+12*min(len(l.events), eventValuesMax+1))
	args = activityArgs(args, l.acts)
	w := &t.pending[l.at]
	w.sql, w.more, w.args = logSQL[a][e][0], logSQL[a][e][1], eventArgs(args, l.events)
}

// AppendEvents implements outbox.Tx. The events are queued with the
// unit's other writes and sent with its next read or its COMMIT, in one
// statement with the unit's activity records and their events (see
// AppendActivity): they take no round trip. An event dated outside the
// years 1678 to 2262 is refused with ErrConflict.
func (t *Tx) AppendEvents(events []outbox.Event) error {
	const op = "append events"
	if err := t.usable(op); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	rows := make([]eventRow, len(events))
	for i := range events {
		var err error
		if rows[i], err = eventRowOf(op, events[i]); err != nil {
			return err
		}
	}
	l, err := t.queuedLog(op)
	if err != nil {
		return err
	}
	l.events = append(l.events, rows...)
	t.wroteEvents = true
	return nil
}

// copyEvents sends events by COPY, after every write the unit queued (an
// issuance's, with the records sent by COPY before them), in their order.
func (t *Tx) copyEvents(op string, events []eventRow) error {
	t.wroteEvents = true
	return t.copyRows(op, "giftkit_outbox", eventColumns, len(events), func(b []byte, i int) []byte {
		r := &events[i]
		b = copyText(b, r.id)
		b = copyText(b, r.typ)
		b = copyInt32(b, r.version)
		b = copyInt16(b, r.aggKind)
		b = copyText(b, r.aggID)
		b = copyText(b, r.code)
		b = copyInt16(b, r.minor)
		b = copyInt64(b, r.seq)
		b = copyInt16(b, r.actorKind)
		b = copyText(b, r.actor)
		b = copyInt64(b, r.at)
		return copyText(b, r.payload)
	})
}

// withConn runs fn on a connection from the pool, and again on another at
// once if fn failed before anything reached the server (a connection the
// server ended while it sat in the pool), up to the pool's size. fn
// returns the driver's errors, which withConn translates, or the store's.
func (s *Store) withConn(ctx context.Context, op string, fn func(conn *pgx.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for broken := 0; ; broken++ {
		conn, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		err = fn(conn.Conn())
		conn.Release() // the pool destroys a connection that broke or is still in a transaction
		var e *Error
		switch {
		case err == nil:
			return nil
		case errors.As(err, &e):
			return err
		case pgconn.SafeToRetry(err) && broken < s.maxConns && ctx.Err() == nil:
			continue
		}
		return translate(op, err)
	}
}

// positionBatch is the most events one call of the positioner positions.
const positionBatch = outbox.MaxLimit

// queuePosition queues the positioner in a transaction of its own, which
// commits before the batch's later statements run.
func queuePosition(b *pgx.Batch) {
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue("SELECT giftkit_outbox_position($1)", int32(positionBatch))
	b.Queue("COMMIT")
}

// readPosition reads the results of queuePosition's statements.
func readPosition(br pgx.BatchResults) error {
	if _, err := br.Exec(); err != nil {
		return err
	}
	var n int64
	if err := br.QueryRow().Scan(&n); err != nil {
		return err
	}
	_, err := br.Exec()
	return err
}

var eventsSQL = "SELECT " + eventSelect + " FROM giftkit_outbox WHERE pos > $1 ORDER BY pos LIMIT $2"

const registerSQL = `INSERT INTO giftkit_outbox_consumers (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`

// Events implements outbox.Reader in one round trip: the positioner, in a
// transaction of its own, then consumer's registration and the read. It
// finds every event whose unit of work committed before the call (the
// positioner waits for another process's to finish, and a unit's events
// beyond the positioner's batch of outbox.MaxLimit wait for the next
// call). It fails with outbox.ErrInvalidConsumer, or with the store's
// errors.
func (s *Store) Events(ctx context.Context, consumer string, after int64, limit int) ([]outbox.Event, error) {
	if err := outbox.CheckConsumer(consumer); err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), outbox.MaxLimit)
	var out []outbox.Event
	err := s.withConn(ctx, "events", func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		queuePosition(b)
		b.Queue(registerSQL, consumer)
		b.Queue(eventsSQL, after, int64(limit))
		br := conn.SendBatch(ctx, b)
		err := readPosition(br)
		if err == nil {
			_, err = br.Exec()
		}
		if err == nil {
			out, err = scanEvents(br)
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanEvents reads the rows of eventsSQL.
func scanEvents(br pgx.BatchResults) ([]outbox.Event, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outbox.Event
	for rows.Next() {
		var r eventRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, err
		}
		e, err := r.event()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ackSQL moves a consumer's cursor forward to $2, registering it, if $2 is
// at most the last position given; it returns whether it is.
const ackSQL = `WITH head AS (SELECT $2::bigint <= last_pos AS valid FROM giftkit_outbox_head),
	moved AS (
		INSERT INTO giftkit_outbox_consumers (name, acked) SELECT $1, $2 FROM head WHERE valid
		ON CONFLICT (name) DO UPDATE SET acked = excluded.acked WHERE giftkit_outbox_consumers.acked < excluded.acked
		RETURNING 1)
	SELECT valid FROM head`

// Ack implements outbox.Reader. Processes of one consumer may acknowledge
// in any order: the cursor only moves forward (an upsert that keeps the
// greater position), and a position at or behind it writes nothing. It
// fails with outbox.ErrInvalidConsumer, with an error wrapping
// giftkit.ErrInvalid for a pos below 0 or beyond the last position given,
// or with the store's errors.
func (s *Store) Ack(ctx context.Context, consumer string, pos int64) error {
	if err := outbox.CheckConsumer(consumer); err != nil {
		return err
	}
	if pos < 0 {
		return fmt.Errorf("pgstore: ack %d: %w: no event at that position", pos, giftkit.ErrInvalid)
	}
	var valid bool
	if err := s.withConn(ctx, "ack", func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, ackSQL, consumer, pos).Scan(&valid)
	}); err != nil {
		return err
	}
	if !valid {
		return fmt.Errorf("pgstore: ack %d: %w: no event at that position", pos, giftkit.ErrInvalid)
	}
	return nil
}

// Forget implements outbox.Reader. It fails with outbox.ErrInvalidConsumer,
// or with the store's errors.
func (s *Store) Forget(ctx context.Context, consumer string) error {
	if err := outbox.CheckConsumer(consumer); err != nil {
		return err
	}
	return s.withConn(ctx, "forget", func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `DELETE FROM giftkit_outbox_consumers WHERE name = $1`, consumer)
		return err
	})
}

// Cursor implements outbox.Reader. It fails with
// outbox.ErrInvalidConsumer, or with the store's errors.
func (s *Store) Cursor(ctx context.Context, consumer string) (int64, error) {
	if err := outbox.CheckConsumer(consumer); err != nil {
		return 0, err
	}
	var acked int64
	err := s.withConn(ctx, "cursor", func(conn *pgx.Conn) error {
		err := conn.QueryRow(ctx, `SELECT acked FROM giftkit_outbox_consumers WHERE name = $1`, consumer).Scan(&acked)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return acked, err
}

// pruneBatch is the most events one statement of Prune removes, and
// pruneBlocks the most pages of idempotency records one statement reads.
const (
	pruneBatch  = 10000
	pruneBlocks = 1024 // 8 MiB
)

// pruneEventsSQL removes the events in the positions ($1, $1 + $2] that
// every registered consumer acknowledged (all positioned ones if no
// consumer is registered) and that are before $3 (or all, if $4), and
// returns up to where consumers acknowledged and how many it removed. It
// reads the consumers' cursors each time, so that a consumer registered
// while Prune runs stops it at the next statement.
const pruneEventsSQL = `WITH bound AS (
		SELECT coalesce((SELECT min(acked) FROM giftkit_outbox_consumers), last_pos) AS acked FROM giftkit_outbox_head),
	gone AS (
		DELETE FROM giftkit_outbox WHERE pos > $1 AND pos <= least($1 + $2, (SELECT acked FROM bound)) AND ($4 OR at_ns < $3)
		RETURNING 1)
	SELECT (SELECT acked FROM bound), (SELECT count(*) FROM gone)`

// Prune implements outbox.Reader, in statements of bounded size, each its
// own transaction: events a pruneBatch of positions at a time, from the
// oldest kept (through the index of positions); idempotency records a
// pruneBlocks of the table's pages at a time, which reads the table once
// and needs no index on created_at (which every call with a key would
// then write). An error stops it, and it reports what it removed until
// then with the error.
func (s *Store) Prune(ctx context.Context, r outbox.Retention) (outbox.Pruned, error) {
	var out outbox.Pruned
	if err := ctx.Err(); err != nil {
		return out, err
	}
	if !r.IdempotencyBefore.IsZero() {
		n, err := s.pruneIdempotency(ctx, r.IdempotencyBefore)
		out.Idempotency = n
		if err != nil {
			return out, err
		}
	}
	if !r.EventsBefore.IsZero() {
		n, err := s.pruneEvents(ctx, r.EventsBefore)
		out.Events = n
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (s *Store) pruneEvents(ctx context.Context, before time.Time) (int, error) {
	ns, beforeAll, afterAll := bound(before)
	if beforeAll {
		return 0, nil // no event is that old
	}
	var lo int64
	if err := s.withConn(ctx, "prune events", func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT coalesce(min(pos), 1) - 1 FROM giftkit_outbox WHERE pos IS NOT NULL`).Scan(&lo)
	}); err != nil {
		return 0, err
	}
	removed := 0
	for {
		var acked, n int64
		if err := s.withConn(ctx, "prune events", func(conn *pgx.Conn) error {
			return conn.QueryRow(ctx, pruneEventsSQL, lo, int64(pruneBatch), ns, afterAll).Scan(&acked, &n)
		}); err != nil {
			return removed, err
		}
		removed += int(n)
		if lo += pruneBatch; lo >= acked {
			return removed, nil
		}
	}
}

func (s *Store) pruneIdempotency(ctx context.Context, before time.Time) (int, error) {
	var pages int64
	if err := s.withConn(ctx, "prune idempotency", func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT pg_relation_size('giftkit_idempotency') / current_setting('block_size')::bigint`).Scan(&pages)
	}); err != nil {
		return 0, err
	}
	removed := 0
	// Pages added while Prune runs hold records made since it began.
	for page := int64(0); page < pages; page += pruneBlocks {
		from := pgtype.TID{BlockNumber: uint32(page), Valid: true}
		to := pgtype.TID{BlockNumber: uint32(min(page+pruneBlocks, math.MaxUint32)), Valid: true}
		if err := s.withConn(ctx, "prune idempotency", func(conn *pgx.Conn) error {
			tag, err := conn.Exec(ctx, `DELETE FROM giftkit_idempotency WHERE ctid >= $1 AND ctid < $2 AND created_at < $3`, from, to, before)
			removed += int(tag.RowsAffected())
			return err
		}); err != nil {
			return removed, err
		}
	}
	return removed, nil
}
