package wallet

import (
	"context"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/bin"
	"github.com/giftkit/giftkit/internal/idem"
)

// A Clawback is the outcome of taking back the value of a card whose
// purchase was refunded or charged back (see [Service.Clawback]).
type Clawback struct {
	CardID string        `json:"card_id"` // the card
	Asked  giftkit.Money `json:"asked"`   // what was to be taken back: the refunded part of the card's purchase
	// Voided: the card was not redeemed and all its value was asked back,
	// so it is voided. A card not redeemed that loses part of its value
	// stays usable with the rest.
	Voided bool `json:"voided"`
	// Owner is the account the value was taken from when the card had been
	// redeemed; empty otherwise.
	Owner string `json:"owner,omitempty"`
	// Recovered is what was taken back: from the card's value, or from the
	// account's available balance (credit of the card's class first).
	Recovered giftkit.Money `json:"recovered"`
	// Shortfall is Asked − Recovered: what the account had already spent or
	// holds reserve. It is never dropped silently: the business recovers it
	// some other way or writes it off.
	Shortfall giftkit.Money `json:"shortfall"`
	Card      giftcard.Card `json:"card"` // the card after the clawback
}

var clawbackOutcomes = idem.Outcomes[Clawback]{Append: appendClawback, Read: readClawback, Errors: replayable}

func appendClawback(b []byte, c Clawback) []byte {
	b = bin.String(b, c.CardID)
	b = bin.Money(b, c.Asked)
	b = bin.Bool(b, c.Voided)
	b = bin.String(b, c.Owner)
	b = bin.Money(b, c.Recovered)
	b = bin.Money(b, c.Shortfall)
	card, _ := c.Card.MarshalBinary()
	return bin.Blob(b, card)
}

func readClawback(r *bin.Reader) Clawback {
	c := Clawback{CardID: r.String(), Asked: r.Money(), Voided: r.Bool(), Owner: r.String(), Recovered: r.Money(), Shortfall: r.Money()}
	if err := c.Card.UnmarshalBinary(r.Blob()); err != nil {
		r.Fail()
	}
	return c
}

// Clawback takes back amount of the value of a card whose purchase was
// refunded or charged back; a zero amount (giftkit.Money{}) means all that
// is left of it. A card not yet redeemed loses the amount from its value,
// and is voided when that is all of it. A redeemed card's value is taken
// from the available balance of the account that redeemed it, credit of
// the card's value class first (so that a sold card's clawback takes back
// purchased value), up to what is available: money already spent or held
// for a payment is not taken, and the difference is reported as the
// Shortfall. Over its life a card gives back at most its value.
//
// Partial refunds are the host's to decide: pass the refunded part of the
// card's price as amount (or nothing, for a full refund); giftkit never
// guesses it from an order.
//
// The call's context must carry an operator (giftkit.WithActor) and a
// reason (giftkit.WithReason). The card's activity log, and the account's
// when money is taken from it, record the clawback. It fails with
// activity.ErrInvalidActor, giftcard.ErrNotFound, giftcard.ErrInvalidTransition
// (a voided card), giftcard.ErrInvalidRequest (more than is left),
// giftkit.ErrCurrencyMismatch, or a key error. A retry with the same key
// returns the first outcome.
func (s *Service) Clawback(ctx context.Context, cardID string, amount giftkit.Money, key string) (_ Clawback, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.clawback")
	defer span.End(&err)
	if err := giftcard.OperatorCall(ctx); err != nil {
		return Clawback{}, err
	}
	if err := idem.CheckKey(key); err != nil {
		return Clawback{}, &giftcard.Error{Op: "clawback", CardID: cardID, Detail: err.Error(), Err: giftkit.ErrKeyRequired}
	}
	now := s.cfg.Now()
	cause, err := activity.CauseFrom(ctx, key, now)
	if err != nil {
		return Clawback{}, err
	}
	call := idem.NewCall("giftcard", key, now, "clawback", cardID, amount.String())
	res, err := idem.Do(ctx, s.store, call, clawbackOutcomes, func(tx Tx) (Clawback, error) {
		return clawback(tx, cardID, amount, cause)
	})
	if err == giftkit.ErrIdempotencyConflict {
		err = &giftcard.Error{Op: "clawback", CardID: cardID, Err: err}
	}
	return res.Value, err
}

// clawback is the unit of work of a clawback.
func clawback(tx Tx, cardID string, amount giftkit.Money, cause activity.Cause) (Clawback, error) {
	var card giftcard.Card
	found := false
	var err error
	if idem.ValidText(cardID, 128) {
		card, found, err = tx.CardByID(cardID)
	}
	if err != nil {
		return Clawback{}, err
	}
	if !found {
		return Clawback{}, &giftcard.Error{Op: "clawback", CardID: cardID, Err: giftcard.ErrNotFound}
	}
	after, fromAccount, err := card.Clawback(amount, cause.At)
	if err != nil {
		return Clawback{}, err
	}
	asked := fromAccount
	if card.State != giftcard.StateRedeemed {
		asked, _ = card.Value.Sub(after.Outstanding())
	}
	out := Clawback{CardID: card.ID, Asked: asked, Voided: after.State == giftcard.StateVoided,
		Recovered: asked, Shortfall: giftkit.Zero(asked.Currency())}
	if fromAccount.IsPositive() {
		out.Owner = card.RedeemedBy
		_, err := UpdateAccount(tx, Change{Owner: card.RedeemedBy, Currency: fromAccount.Currency(), Kind: activity.KindClawback,
			Reference: card.ID, Cause: cause}, func(a Account) (Account, []Entry, error) {
			var entries []Entry
			var err error
			a, entries, out.Recovered, err = a.Take(TakeSpec{Kind: EntryClawback, Amount: fromAccount, Partial: true,
				Class: card.Class, Reference: card.ID}, cause.Key, cause.At)
			return a, entries, err
		})
		if err != nil {
			return Clawback{}, err
		}
		out.Shortfall, _ = asked.Sub(out.Recovered)
	}
	after, rec := giftcard.RecordChange(activity.KindClawback, card, after, out.Owner, cause)
	if err := tx.PutCard(after); err != nil {
		return Clawback{}, err
	}
	out.Card = after
	return out, tx.AppendActivity([]activity.Record{rec})
}
