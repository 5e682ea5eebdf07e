package sqlitestore

import (
	"database/sql"
	"math"
	"time"

	"github.com/giftkit/giftkit/egift"
)

var _ egift.Tx = (*Tx)(nil)

// E-gift deliveries are the table giftkit_deliveries (see
// migrations/0003_outbox.sql): one row per delivery, the sealed code a
// BLOB, times in nanoseconds, and a partial index of the scheduled and
// sending ones by SendAt.

const deliveryColumns = `id, card_id, recipient, from_name, message, send_at, state, sealed, attempts, last_error,
	created_at, updated_at, sent_at`

// selectDue reads the index giftkit_deliveries_due in order and stops at
// the limit (TestOutboxQueryPlans): its expression is the index's, written
// the same.
const selectDue = `SELECT ` + deliveryColumns + ` FROM giftkit_deliveries
	WHERE state IN ('scheduled', 'sending') AND ifnull(send_at, -9223372036854775808) <= ?
	ORDER BY ifnull(send_at, -9223372036854775808), id LIMIT ?`

// Delivery implements egift.Tx. A row that cannot be read back (an unknown
// state) fails with ErrConflict.
func (t *Tx) Delivery(id string) (egift.Delivery, bool, error) {
	const op = "delivery"
	if err := t.usable(op, false); err != nil {
		return egift.Delivery{}, false, err
	}
	rows, err := t.c.query(t.ctx, `SELECT `+deliveryColumns+` FROM giftkit_deliveries WHERE id = ?`, id)
	if err != nil {
		return egift.Delivery{}, false, translate(t.ctx, op, err)
	}
	ds, err := scanDeliveries(t, op, rows)
	if err != nil || len(ds) == 0 {
		return egift.Delivery{}, false, err
	}
	return ds[0], true, nil
}

// PutDelivery implements egift.Tx: it inserts the delivery, or replaces the
// one with its ID. A delivery whose state is not one of egift's, a sent or
// cancelled one that keeps its sealed code, one whose Attempts is
// negative, or whose times lie outside the years 1678 to 2262 fails with
// ErrConflict.
func (t *Tx) PutDelivery(d egift.Delivery) error {
	const op = "put delivery"
	if err := t.usable(op, true); err != nil {
		return err
	}
	state, err := d.State.MarshalText()
	if err != nil {
		return &Error{Op: op, Err: ErrConflict, cause: err.Error()}
	}
	var sealed any // NULL for none: sent and cancelled deliveries have erased the code
	if len(d.Sealed) > 0 {
		sealed = d.Sealed // the driver copies it
	}
	e := encoder{op: op}
	args := []any{d.ID, d.CardID, d.Recipient, d.From, d.Message, e.arg(d.SendAt), string(state), sealed, d.Attempts,
		d.LastError, e.arg(d.CreatedAt), e.arg(d.UpdatedAt), e.arg(d.SentAt)}
	if e.err != nil {
		return e.err
	}
	_, err = t.c.exec(t.ctx, `INSERT INTO giftkit_deliveries (`+deliveryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET card_id = excluded.card_id, recipient = excluded.recipient,
			from_name = excluded.from_name, message = excluded.message, send_at = excluded.send_at,
			state = excluded.state, sealed = excluded.sealed, attempts = excluded.attempts,
			last_error = excluded.last_error, created_at = excluded.created_at, updated_at = excluded.updated_at,
			sent_at = excluded.sent_at`, args...)
	return translate(t.ctx, op, err)
}

// DueDeliveries implements egift.Tx, along the index of the scheduled and
// sending deliveries, in which one with the zero SendAt (due at once)
// comes first. A now outside the years 1678 to 2262 counts as their first
// or last nanosecond. The unit of work holds the write lock, so what it
// returns stays as read until the unit ends.
func (t *Tx) DueDeliveries(now time.Time, limit int) ([]egift.Delivery, error) {
	const op = "due deliveries"
	if err := t.usable(op, false); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	until := int64(math.MinInt64) // the zero time, and times before 1678: only the deliveries due at once
	switch {
	case now.After(maxUnixNano):
		until = math.MaxInt64
	case !now.Before(minUnixNano):
		until = now.UnixNano()
	}
	rows, err := t.c.query(t.ctx, selectDue, until, limit)
	if err != nil {
		return nil, translate(t.ctx, op, err)
	}
	return scanDeliveries(t, op, rows)
}

// scanDeliveries reads the rows of a SELECT of deliveryColumns, and closes
// them.
func scanDeliveries(t *Tx, op string, rows *sql.Rows) ([]egift.Delivery, error) {
	defer rows.Close()
	var out []egift.Delivery
	for rows.Next() {
		var (
			d                                egift.Delivery
			state                            string
			sendAt, created, updated, sentAt sql.NullInt64
		)
		if err := rows.Scan(&d.ID, &d.CardID, &d.Recipient, &d.From, &d.Message, &sendAt, &state, &d.Sealed, &d.Attempts,
			&d.LastError, &created, &updated, &sentAt); err != nil { // Scan copies the sealed code
			return nil, translate(t.ctx, op, err)
		}
		if err := d.State.UnmarshalText([]byte(state)); err != nil {
			return nil, corrupt(op, "delivery %s: %v", d.ID, err)
		}
		if len(d.Sealed) == 0 {
			d.Sealed = nil
		}
		d.SendAt, d.CreatedAt, d.UpdatedAt, d.SentAt = fromNull(sendAt), fromNull(created), fromNull(updated), fromNull(sentAt)
		out = append(out, d)
	}
	return out, translate(t.ctx, op, rows.Err())
}
