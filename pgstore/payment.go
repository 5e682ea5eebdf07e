package pgstore

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
)

// paymentRow is how pgstore keeps a payment in giftkit_payments.data: its
// own form, independent of checkout.Payment's JSON, with amounts as minor
// units of the currency the row names, so any currency giftkit accepts
// round-trips.
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
	ExpiresAt   time.Time   `json:"expires_at"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
	EventSeq    int64       `json:"event_seq,omitempty"` // the Seq of the payment's last event; absent before schema version 6
	// Cards are the gift cards spent by code (checkout.Payment.Cards), in
	// order; absent when there are none, and in rows written before
	// schema version 7.
	Cards []cardTenderRow `json:"cards,omitempty"`
}

type tenderRow struct {
	Planned, Authorized, Captured, Refunded int64
}

type refundRow struct {
	Key                   string
	Amount, Balance, Card int64
	Done                  bool
	Failed                string `json:",omitempty"`
	At                    time.Time
	Cards                 []int64 `json:",omitempty"` // what goes back to each gift card, in the order of paymentRow.Cards; absent for none
}

// cardTenderRow is a checkout.CardTender: the card, its masked code, and
// its tender's amounts in minor units, beside them.
type cardTenderRow struct {
	CardID, Masked string
	tenderRow
}

type failureRow struct {
	Kind   string `json:"kind,omitempty"`
	Reason string `json:"reason,omitempty"`
	At     string `json:"at,omitempty"`
}

type keysRow struct {
	Prefix, Pay, Fingerprint, Capture, Cancel string
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

func encodePayment(p checkout.Payment) ([]byte, error) {
	c := p.Total.Currency()
	row := paymentRow{
		Owner: p.Owner, Currency: c.Code(), MinorUnits: c.MinorUnits(), Total: p.Total.Minor(), Mode: uint8(p.Mode),
		Instrument: p.Instrument, State: stateText(p.State), Balance: tenderOf(p.Balance), Card: tenderOf(p.Card),
		HoldID: p.HoldID, AuthID: p.AuthID, AuthUnknown: p.AuthUnknown, UnwindTo: stateText(p.UnwindTo),
		Failure:   failureRow{Reason: p.Failure.Reason, At: stateText(p.Failure.At)},
		Keys:      keysRow(p.Keys),
		ExpiresAt: p.ExpiresAt, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, EventSeq: p.EventSeq,
	}
	if p.Failure.Kind != 0 {
		row.Failure.Kind = p.Failure.Kind.String()
	}
	if p.CaptureWant.IsValid() {
		want := p.CaptureWant.Minor()
		row.CaptureWant = &want
	}
	for _, r := range p.Refunds {
		row.Refunds = append(row.Refunds, refundRow{r.Key, r.Amount.Minor(), r.Balance.Minor(), r.Card.Minor(), r.Done, r.Failed, r.At,
			minorsOf(r.Cards)})
	}
	for _, ct := range p.Cards {
		row.Cards = append(row.Cards, cardTenderRow{ct.CardID, ct.Masked, tenderOf(ct.Tender)})
	}
	return json.Marshal(row)
}

func decodePayment(id string, data []byte) (checkout.Payment, error) {
	fail := func(err error) (checkout.Payment, error) {
		return checkout.Payment{}, &Error{Op: "payment", Err: ErrConflict, cause: "decode payment " + id + ": " + err.Error()}
	}
	var row paymentRow
	if err := json.Unmarshal(data, &row); err != nil {
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
		ExpiresAt: row.ExpiresAt.UTC(), CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC(),
		EventSeq: row.EventSeq,
	}
	if row.CaptureWant != nil {
		p.CaptureWant = giftkit.FromMinor(*row.CaptureWant, c)
	}
	for _, r := range row.Refunds {
		p.Refunds = append(p.Refunds, checkout.Refund{Key: r.Key, Amount: giftkit.FromMinor(r.Amount, c),
			Balance: giftkit.FromMinor(r.Balance, c), Cards: moneysOf(r.Cards, c), Card: giftkit.FromMinor(r.Card, c),
			Done: r.Done, Failed: r.Failed, At: r.At.UTC()})
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

const paymentSQL = `SELECT data FROM giftkit_payments WHERE id = $1 FOR UPDATE`

// Payment implements checkout.Tx.
func (t *Tx) Payment(id string) (checkout.Payment, bool, error) {
	if err := t.usable("payment"); err != nil {
		return checkout.Payment{}, false, err
	}
	var data []byte
	if a := t.ahead; a != nil && a.want.Payment != "" && a.want.Payment == id {
		if err := t.fetchAhead("payment"); err != nil {
			return checkout.Payment{}, false, err
		}
	}
	if a := t.ahead; a != nil && a.hasPay && a.want.Payment == id {
		a.hasPay, data = false, a.payment // served once
	} else {
		br, err := t.send("payment", func(b *pgx.Batch) { b.Queue(paymentSQL, id) })
		if err != nil {
			return checkout.Payment{}, false, err
		}
		err = br.QueryRow().Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
		if err = closeResults("payment", br, translate("payment", err)); err != nil {
			return checkout.Payment{}, false, err
		}
	}
	if data == nil {
		return checkout.Payment{}, false, nil
	}
	p, err := decodePayment(id, data)
	return p, err == nil, err
}

// PutPayment implements checkout.Tx.
func (t *Tx) PutPayment(p checkout.Payment) error {
	if err := t.usable("put payment"); err != nil {
		return err
	}
	data, err := encodePayment(p)
	if err != nil {
		return &Error{Op: "put payment", Err: ErrConflict, cause: err.Error()}
	}
	if a := t.ahead; a != nil && a.want.Payment == p.ID {
		a.hasPay = false // a later read must see this write
	}
	return t.write("put payment", rowKey('p', p.ID), nil, `INSERT INTO giftkit_payments (id, owner, currency, total, state, needs_work, data, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, needs_work = excluded.needs_work,
			data = excluded.data, updated_at = excluded.updated_at`,
		p.ID, p.Owner, p.Total.Currency().Code(), p.Total.Minor(), p.State.String(), p.NeedsWork(), data, p.UpdatedAt)
}

// OpenPayments implements checkout.Tx. It takes no lock: the saga locks
// each payment again before it changes it.
func (t *Tx) OpenPayments(afterID string, limit int) ([]checkout.Payment, error) {
	if err := t.usable("open payments"); err != nil {
		return nil, err
	}
	br, err := t.send("open payments", func(b *pgx.Batch) {
		b.Queue(`SELECT id, data FROM giftkit_payments WHERE needs_work AND id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	})
	if err != nil {
		return nil, err
	}
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, translate("open payments", err)
	}
	defer rows.Close()
	var out []checkout.Payment
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, translate("open payments", err)
		}
		p, err := decodePayment(id, data)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, translate("open payments", rows.Err())
}
