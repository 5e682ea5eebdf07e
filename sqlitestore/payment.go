package sqlitestore

import (
	"encoding/json"
	"errors"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
)

// paymentRow is how sqlitestore keeps a payment in giftkit_payments.data:
// its own form, independent of checkout.Payment's JSON, with amounts as
// minor units of the currency the row names, so that any currency giftkit
// accepts round-trips, and times as nanoseconds.
type paymentRow struct {
	Owner       string      `json:"owner"`
	Currency    string      `json:"currency"`
	MinorUnits  int         `json:"minor_units"`
	Total       int64       `json:"total"`
	Mode        uint8       `json:"mode"`
	Instrument  string      `json:"instrument,omitempty"`
	State       string      `json:"state"`
	Balance     tenderRow   `json:"balance"`
	Card        tenderRow   `json:"card"`
	HoldID      string      `json:"hold_id,omitempty"`
	AuthID      string      `json:"auth_id,omitempty"`
	AuthUnknown bool        `json:"auth_unknown,omitempty"`
	CaptureWant *int64      `json:"capture_want,omitempty"` // nil until capture is asked for
	Refunds     []refundRow `json:"refunds,omitempty"`
	Failure     failureRow  `json:"failure"`
	UnwindTo    string      `json:"unwind_to,omitempty"`
	Keys        keysRow     `json:"keys"`
	ExpiresAt   *int64      `json:"expires_at,omitempty"`
	CreatedAt   *int64      `json:"created_at,omitempty"`
	UpdatedAt   *int64      `json:"updated_at,omitempty"`
	EventSeq    int64       `json:"event_seq,omitempty"` // the Seq of the payment's last outbox event
	// Cards are the gift cards spent by code (checkout.Payment.Cards), in
	// order; absent when there are none, and in rows written before
	// schema version 4.
	Cards []cardTenderRow `json:"cards,omitempty"`
}

type tenderRow struct {
	Planned    int64 `json:"planned"`
	Authorized int64 `json:"authorized"`
	Captured   int64 `json:"captured"`
	Refunded   int64 `json:"refunded"`
}

type refundRow struct {
	Key     string `json:"key"`
	Amount  int64  `json:"amount"`
	Balance int64  `json:"balance"`
	Card    int64  `json:"card"`
	Done    bool   `json:"done,omitempty"`
	Failed  string `json:"failed,omitempty"`
	At      *int64 `json:"at,omitempty"`
	// Cards is what goes back to each gift card, in the order of
	// paymentRow.Cards; absent for none (checkout.Refund.Cards nil).
	Cards []int64 `json:"cards,omitempty"`
}

// cardTenderRow is a checkout.CardTender: the card, its masked code, and
// its tender's amounts in minor units, beside them.
type cardTenderRow struct {
	CardID string `json:"card_id"`
	Masked string `json:"masked"`
	tenderRow
}

type failureRow struct {
	Kind   string `json:"kind,omitempty"`
	Reason string `json:"reason,omitempty"`
	At     string `json:"at,omitempty"`
}

type keysRow struct {
	Prefix      string `json:"prefix"`
	Pay         string `json:"pay"`
	Fingerprint string `json:"fingerprint"`
	Capture     string `json:"capture,omitempty"`
	Cancel      string `json:"cancel,omitempty"`
}

// stateText encodes a state that may be zero (none) as "".
func stateText(s checkout.State) string {
	if s == 0 {
		return ""
	}
	return s.String()
}

func parseState(text string, s *checkout.State) error {
	if text == "" {
		*s = 0
		return nil
	}
	return s.UnmarshalText([]byte(text))
}

func tenderOf(t checkout.Tender) tenderRow {
	return tenderRow{t.Planned.Minor(), t.Authorized.Minor(), t.Captured.Minor(), t.Refunded.Minor()}
}

func (t tenderRow) tender(c giftkit.Currency) checkout.Tender {
	return checkout.Tender{Planned: giftkit.FromMinor(t.Planned, c), Authorized: giftkit.FromMinor(t.Authorized, c),
		Captured: giftkit.FromMinor(t.Captured, c), Refunded: giftkit.FromMinor(t.Refunded, c)}
}

// minorsOf returns amounts in minor units; nil for none, so that the row
// omits them.
func minorsOf(amounts []giftkit.Money) []int64 {
	if len(amounts) == 0 {
		return nil
	}
	out := make([]int64, len(amounts))
	for i, m := range amounts {
		out[i] = m.Minor()
	}
	return out
}

// moneysOf is the inverse of minorsOf: nil for none.
func moneysOf(minors []int64, c giftkit.Currency) []giftkit.Money {
	if len(minors) == 0 {
		return nil
	}
	out := make([]giftkit.Money, len(minors))
	for i, n := range minors {
		out[i] = giftkit.FromMinor(n, c)
	}
	return out
}

func encodePayment(e *encoder, p checkout.Payment) string {
	c := p.Total.Currency()
	row := paymentRow{
		Owner: p.Owner, Currency: c.Code(), MinorUnits: c.MinorUnits(), Total: p.Total.Minor(), Mode: uint8(p.Mode),
		Instrument: p.Instrument, State: stateText(p.State), Balance: tenderOf(p.Balance), Card: tenderOf(p.Card),
		HoldID: p.HoldID, AuthID: p.AuthID, AuthUnknown: p.AuthUnknown, UnwindTo: stateText(p.UnwindTo),
		Failure:   failureRow{Reason: p.Failure.Reason, At: stateText(p.Failure.At)},
		Keys:      keysRow(p.Keys),
		ExpiresAt: e.time(p.ExpiresAt), CreatedAt: e.time(p.CreatedAt), UpdatedAt: e.time(p.UpdatedAt),
		EventSeq: p.EventSeq,
	}
	if p.Failure.Kind != 0 {
		row.Failure.Kind = p.Failure.Kind.String()
	}
	if p.CaptureWant.IsValid() {
		want := p.CaptureWant.Minor()
		row.CaptureWant = &want
	}
	for _, r := range p.Refunds {
		row.Refunds = append(row.Refunds, refundRow{r.Key, r.Amount.Minor(), r.Balance.Minor(), r.Card.Minor(), r.Done, r.Failed, e.time(r.At),
			minorsOf(r.Cards)})
	}
	for _, ct := range p.Cards {
		row.Cards = append(row.Cards, cardTenderRow{ct.CardID, ct.Masked, tenderOf(ct.Tender)})
	}
	return e.json(row)
}

func decodePayment(op, id, data string) (checkout.Payment, error) {
	fail := func(err error) (checkout.Payment, error) {
		return checkout.Payment{}, corrupt(op, "payment %s: %v", id, err)
	}
	var row paymentRow
	if err := json.Unmarshal([]byte(data), &row); err != nil {
		return fail(err)
	}
	c, err := giftkit.NewCurrency(row.Currency, row.MinorUnits)
	if err != nil {
		return fail(err)
	}
	p := checkout.Payment{
		ID: id, Owner: row.Owner, Total: giftkit.FromMinor(row.Total, c), Mode: checkout.CaptureMode(row.Mode),
		Instrument: row.Instrument, Balance: row.Balance.tender(c), Card: row.Card.tender(c),
		HoldID: row.HoldID, AuthID: row.AuthID, AuthUnknown: row.AuthUnknown,
		Failure:   checkout.Failure{Reason: row.Failure.Reason},
		Keys:      checkout.Keys(row.Keys),
		ExpiresAt: fromNanos(row.ExpiresAt), CreatedAt: fromNanos(row.CreatedAt), UpdatedAt: fromNanos(row.UpdatedAt),
		EventSeq: row.EventSeq,
	}
	if row.CaptureWant != nil {
		p.CaptureWant = giftkit.FromMinor(*row.CaptureWant, c)
	}
	for _, r := range row.Refunds {
		p.Refunds = append(p.Refunds, checkout.Refund{Key: r.Key, Amount: giftkit.FromMinor(r.Amount, c),
			Balance: giftkit.FromMinor(r.Balance, c), Cards: moneysOf(r.Cards, c), Card: giftkit.FromMinor(r.Card, c),
			Done: r.Done, Failed: r.Failed, At: fromNanos(r.At)})
	}
	for _, ct := range row.Cards { // none: p.Cards stays nil
		p.Cards = append(p.Cards, checkout.CardTender{CardID: ct.CardID, Masked: ct.Masked, Tender: ct.tender(c)})
	}
	if row.Failure.Kind != "" {
		if err := p.Failure.Kind.UnmarshalText([]byte(row.Failure.Kind)); err != nil {
			return fail(err)
		}
	}
	if err := errors.Join(parseState(row.State, &p.State), parseState(row.UnwindTo, &p.UnwindTo),
		parseState(row.Failure.At, &p.Failure.At)); err != nil {
		return fail(err)
	}
	return p, nil
}

// Payment implements checkout.Tx.
func (t *Tx) Payment(id string) (checkout.Payment, bool, error) {
	const op = "payment"
	if err := t.usable(op, false); err != nil {
		return checkout.Payment{}, false, err
	}
	var data string
	found, err := t.c.row(t.ctx, `SELECT data FROM giftkit_payments WHERE id = ?`, []any{id}, &data)
	if err != nil || !found {
		return checkout.Payment{}, false, translate(t.ctx, op, err)
	}
	p, err := decodePayment(op, id, data)
	return p, err == nil, err
}

// PutPayment implements checkout.Tx.
func (t *Tx) PutPayment(p checkout.Payment) error {
	const op = "put payment"
	if err := t.usable(op, true); err != nil {
		return err
	}
	e := encoder{op: op}
	data := encodePayment(&e, p)
	updated := e.arg(p.UpdatedAt)
	if e.err != nil {
		return e.err
	}
	_, err := t.c.exec(t.ctx, `INSERT INTO giftkit_payments (id, owner, currency, total, state, needs_work, data, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, currency = excluded.currency, total = excluded.total,
			state = excluded.state, needs_work = excluded.needs_work, data = excluded.data, updated_at = excluded.updated_at`,
		p.ID, p.Owner, p.Total.Currency().Code(), p.Total.Minor(), p.State.String(), p.NeedsWork(), data, updated)
	return translate(t.ctx, op, err)
}

// OpenPayments implements checkout.Tx, from an index of the payments with a
// step outstanding.
func (t *Tx) OpenPayments(afterID string, limit int) ([]checkout.Payment, error) {
	const op = "open payments"
	if err := t.usable(op, false); err != nil {
		return nil, err
	}
	rows, err := t.c.query(t.ctx, `SELECT id, data FROM giftkit_payments WHERE needs_work = 1 AND id > ? ORDER BY id LIMIT ?`,
		afterID, limit)
	if err != nil {
		return nil, translate(t.ctx, op, err)
	}
	defer rows.Close()
	var out []checkout.Payment
	for rows.Next() {
		var id, data string
		if err := rows.Scan(&id, &data); err != nil {
			return nil, translate(t.ctx, op, err)
		}
		p, err := decodePayment(op, id, data)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, translate(t.ctx, op, rows.Err())
}
