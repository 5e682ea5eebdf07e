package checkout

import (
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/internal/jsonw"
	"github.com/giftkit/giftkit/outbox"
)

// save stores a payment moved from before (the zero Payment for a new
// one) to after, with the events the move emits (see [PaymentEvents]), in
// the caller's unit of work, and returns it as stored.
func save(tx Tx, before, after Payment, cause activity.Cause) (Payment, error) {
	after, events := PaymentEvents(before, after, cause)
	if err := tx.PutPayment(after); err != nil {
		return Payment{}, err
	}
	if len(events) == 0 {
		return after, nil
	}
	return after, tx.AppendEvents(events)
}

// PaymentEvents returns after with its EventSeq advanced, and the events
// of a payment's move from before (the zero Payment for a new one) to after,
// made by cause:
//
//   - payment.authorized when every tender is first held or authorised;
//   - payment.captured when it is paid;
//   - payment.failed, payment.cancelled or payment.expired when it ends
//     unpaid (declined; cancelled; not captured in time);
//   - payment.refunded for each refund completed, and
//     payment.refund_failed for each the processor refused.
//
// The payload (version 1) of each:
//
//	{"payment_id": "order-1", "owner": "alice", "state": "captured", "mode": "now",
//	 "total": {"amount": "40.00", "currency": "EUR"},
//	 "balance": {"planned": {…}, "authorized": {…}, "captured": {…}, "refunded": {…}},
//	 "card":    {"planned": {…}, "authorized": {…}, "captured": {…}, "refunded": {…}},
//	 "cards":   [{"card_id": "card_…", "masked": "****-******-*H567", "planned": {…}, …}], // gift cards given by code, if any
//	 "failure": {"kind": "declined", "reason": "insufficient_funds"},     // failed, cancelled, expired only
//	 "refund":  {"amount": {…}, "balance": {…}, "card": {…}, "cards": [{…}], "failed": "…"}} // refund events only; "cards" if the payment spent gift cards
//
// Each payload is the payment as the unit of work leaves it: a payment
// authorised and captured in one unit (a payment the balance covers) has
// both events, each showing it captured. The payload never holds the bank
// card's token or any idempotency key.
func PaymentEvents(before, after Payment, cause activity.Cause) (Payment, []outbox.Event) {
	var types [2]outbox.Type // at most authorized, then captured
	n := 0
	was, now := before.State, after.State
	if (was == 0 || was == StatePending) && (now == StateAuthorized || now == StateCapturing || now == StateCaptured) {
		types[n], n = outbox.PaymentAuthorized, n+1
	}
	if now != was {
		switch now {
		case StateCaptured:
			types[n], n = outbox.PaymentCaptured, n+1
		case StateFailed:
			types[n], n = outbox.PaymentFailed, n+1
		case StateCancelled:
			types[n], n = outbox.PaymentCancelled, n+1
		case StateExpired:
			types[n], n = outbox.PaymentExpired, n+1
		}
	}
	refunds := 0
	for i, r := range after.Refunds {
		if newlyDone(before, r, i) {
			refunds++
		}
	}
	if n+refunds == 0 {
		return after, nil
	}
	agg := outbox.Aggregate{Kind: outbox.AggregatePayment, ID: after.ID}
	events := make([]outbox.Event, 0, n+refunds)
	for _, t := range types[:n] {
		after.EventSeq++
		events = append(events, outbox.New(agg, after.EventSeq, t, cause.Actor, cause.At, paymentPayload(after, t, -1)))
	}
	for i, r := range after.Refunds {
		if !newlyDone(before, r, i) {
			continue
		}
		t := outbox.PaymentRefunded
		if r.Failed != "" {
			t = outbox.PaymentRefundFailed
		}
		after.EventSeq++
		events = append(events, outbox.New(agg, after.EventSeq, t, cause.Actor, cause.At, paymentPayload(after, t, i)))
	}
	return after, events
}

// newlyDone reports whether refund r, number i of a payment, is done but
// was not in before.
func newlyDone(before Payment, r Refund, i int) bool {
	return r.Done && (i >= len(before.Refunds) || !before.Refunds[i].Done)
}

func paymentPayload(p Payment, t outbox.Type, refund int) []byte {
	o := jsonw.Begin(make([]byte, 0, 768))
	o.String("payment_id", p.ID)
	o.String("owner", p.Owner)
	o.String("state", p.State.String())
	o.String("mode", p.Mode.String())
	o.Money("total", p.Total)
	for _, part := range [...]struct {
		name string
		t    Tender
	}{{"balance", p.Balance}, {"card", p.Card}} {
		n := o.Object(part.name)
		n.Money("planned", part.t.Planned)
		n.Money("authorized", part.t.Authorized)
		n.Money("captured", part.t.Captured)
		n.Money("refunded", part.t.Refunded)
		o.Close(n)
	}
	if len(p.Cards) > 0 {
		arr := o.Array("cards")
		for _, c := range p.Cards {
			n := arr.Object()
			n.String("card_id", c.CardID)
			n.String("masked", c.Masked)
			n.Money("planned", c.Planned)
			n.Money("authorized", c.Authorized)
			n.Money("captured", c.Captured)
			n.Money("refunded", c.Refunded)
			arr.Close(n)
		}
		o.CloseArray(arr)
	}
	if t == outbox.PaymentFailed || t == outbox.PaymentCancelled || t == outbox.PaymentExpired {
		n := o.Object("failure")
		n.String("kind", p.Failure.Kind.String())
		n.OmitEmpty("reason", p.Failure.Reason)
		o.Close(n)
	}
	if refund >= 0 {
		r := p.Refunds[refund]
		n := o.Object("refund")
		n.Money("amount", r.Amount)
		n.Money("balance", r.Balance)
		n.Money("card", r.Card)
		if len(r.Cards) > 0 {
			arr := n.Array("cards")
			for _, m := range r.Cards {
				arr.Money(m)
			}
			n.CloseArray(arr)
		}
		n.OmitEmpty("failed", r.Failed)
		o.Close(n)
	}
	return o.End()
}
