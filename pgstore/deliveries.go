package pgstore

import (
	"errors"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit/egift"
)

// E-gift deliveries are the table giftkit_deliveries (migration 0006), one
// row per delivery. The sealed code is kept as the bytes egift made; this
// package never opens, logs or puts it in an error. (A tracer given to
// WithTracer sees statements' arguments, the sealed bytes among them.)

var _ egift.Tx = (*Tx)(nil)

const deliveryColumns = `id, card_id, recipient, sender, message, send_at, send_at_ns, state, sealed, attempts,
	last_error, created_at, created_at_ns, updated_at, updated_at_ns, sent_at, sent_at_ns`

const deliverySQL = "SELECT " + deliveryColumns + " FROM giftkit_deliveries "

// Delivery implements egift.Tx; the row stays locked until the unit ends.
func (t *Tx) Delivery(id string) (egift.Delivery, bool, error) {
	const op = "delivery"
	br, err := t.send(op, func(b *pgx.Batch) { b.Queue(deliverySQL+"WHERE id = $1 FOR UPDATE", id) })
	if err != nil {
		return egift.Delivery{}, false, err
	}
	d, err := scanDelivery(br.QueryRow())
	found := err == nil
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	} else if err != nil {
		err = decodeError(op, err)
	}
	return d, found, closeResults(op, br, err)
}

// decodeError translates a driver's error, and keeps the store's own.
func decodeError(op string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return translate(op, err)
}

func scanDelivery(row pgx.Row) (egift.Delivery, error) {
	var (
		d                                egift.Delivery
		state                            string
		attempts                         int32
		sendAt, created, updated, sentAt *time.Time
		sendNs, createdNs, updNs, sentNs int16
	)
	if err := row.Scan(&d.ID, &d.CardID, &d.Recipient, &d.From, &d.Message, &sendAt, &sendNs, &state, &d.Sealed,
		&attempts, &d.LastError, &created, &createdNs, &updated, &updNs, &sentAt, &sentNs); err != nil {
		return egift.Delivery{}, err
	}
	if err := d.State.UnmarshalText([]byte(state)); err != nil {
		return egift.Delivery{}, &Error{Op: "delivery", Err: ErrConflict, cause: err.Error()}
	}
	if len(d.Sealed) == 0 {
		d.Sealed = nil
	}
	d.Attempts = int(attempts)
	d.SendAt, d.CreatedAt = joinTime(sendAt, sendNs), joinTime(created, createdNs)
	d.UpdatedAt, d.SentAt = joinTime(updated, updNs), joinTime(sentAt, sentNs)
	return d, nil
}

// PutDelivery implements egift.Tx. A delivery whose state is not one of
// egift's, or whose attempts are negative, is refused with ErrConflict.
func (t *Tx) PutDelivery(d egift.Delivery) error {
	const op = "put delivery"
	if err := t.usable(op); err != nil {
		return err
	}
	state, err := d.State.MarshalText()
	if err != nil {
		return &Error{Op: op, Err: ErrConflict, cause: err.Error()}
	}
	if d.Attempts < 0 || d.Attempts > math.MaxInt32 {
		return &Error{Op: op, Err: ErrConflict, cause: "attempts out of range"}
	}
	sendAt, sendNs := splitTime(d.SendAt)
	created, createdNs := splitTime(d.CreatedAt)
	updated, updNs := splitTime(d.UpdatedAt)
	sentAt, sentNs := splitNull(d.SentAt)
	sealed := append([]byte{}, d.Sealed...) // sent later, and the caller may reuse d.Sealed; never NULL
	return t.write(op, rowKey('d', d.ID), nil, `INSERT INTO giftkit_deliveries (`+deliveryColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT (id) DO UPDATE SET card_id = excluded.card_id, recipient = excluded.recipient,
			sender = excluded.sender, message = excluded.message, send_at = excluded.send_at,
			send_at_ns = excluded.send_at_ns, state = excluded.state, sealed = excluded.sealed,
			attempts = excluded.attempts, last_error = excluded.last_error, created_at = excluded.created_at,
			created_at_ns = excluded.created_at_ns, updated_at = excluded.updated_at,
			updated_at_ns = excluded.updated_at_ns, sent_at = excluded.sent_at, sent_at_ns = excluded.sent_at_ns`,
		d.ID, d.CardID, d.Recipient, d.From, d.Message, sendAt, sendNs, string(state), sealed, int32(d.Attempts),
		d.LastError, created, createdNs, updated, updNs, sentAt, sentNs)
}

// DueDeliveries implements egift.Tx through the partial index of
// scheduled and sending deliveries. It takes no lock: a process that sends one locks
// it again (Delivery) and checks it is still due, so several processes
// may look at once.
func (t *Tx) DueDeliveries(now time.Time, limit int) ([]egift.Delivery, error) {
	const op = "due deliveries"
	if err := t.usable(op); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	at, ns := splitTime(now)
	br, err := t.send(op, func(b *pgx.Batch) {
		b.Queue(deliverySQL+`WHERE state IN ('scheduled', 'sending') AND (send_at, send_at_ns) <= ($1, $2)
			ORDER BY send_at, send_at_ns, id LIMIT $3`, at, ns, int64(limit))
	})
	if err != nil {
		return nil, err
	}
	out, err := scanDeliveries(br)
	return out, closeResults(op, br, err)
}

func scanDeliveries(br pgx.BatchResults) ([]egift.Delivery, error) {
	const op = "due deliveries"
	rows, err := br.Query()
	if err != nil {
		return nil, translate(op, err)
	}
	defer rows.Close()
	var out []egift.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, decodeError(op, err)
		}
		out = append(out, d)
	}
	return out, translate(op, rows.Err())
}
