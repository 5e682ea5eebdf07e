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
	// From lists what was taken from each account, in order: the account
	// the card was redeemed into, then, for a card spent directly whose
	// value moved on (redeemed by a shopper, transferred or merged to
	// another card), the accounts it moved to. Empty when the card was not
	// redeemed.
	From []Taken       `json:"from,omitempty"`
	Card giftcard.Card `json:"card"` // the card after the clawback
}

// Taken is what a clawback took from one account.
type Taken struct {
	Owner  string        `json:"owner"`  // the account's owner (giftcard.AccountOwner for a card's)
	Amount giftkit.Money `json:"amount"` // what was taken; positive
}

var clawbackOutcomes = idem.Outcomes[Clawback]{Append: appendClawback, Read: readClawback, Errors: replayable}

func appendClawback(b []byte, c Clawback) []byte {
	b = bin.String(b, c.CardID)
	b = bin.Money(b, c.Asked)
	b = bin.Bool(b, c.Voided)
	b = bin.String(b, c.Owner)
	b = bin.Money(b, c.Recovered)
	b = bin.Money(b, c.Shortfall)
	b = appendCardBlob(b, c.Card)
	b = bin.Int(b, int64(len(c.From)))
	for _, t := range c.From {
		b = bin.String(b, t.Owner)
		b = bin.Money(b, t.Amount)
	}
	return b
}

func readClawback(r *bin.Reader) Clawback {
	c := Clawback{CardID: r.String(), Asked: r.Money(), Voided: r.Bool(), Owner: r.String(), Recovered: r.Money(), Shortfall: r.Money()}
	c.Card = readCardBlob(r)
	n := r.Int()
	if n < 0 || n > 1<<16 {
		r.Fail()
		return Clawback{}
	}
	for range n {
		c.From = append(c.From, Taken{Owner: r.String(), Amount: r.Money()})
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
// Shortfall. A card spent directly (see giftcard.Card.Opened) gives back
// from its own account first, then from where its value moved, one step:
// the shopper's account it was redeemed into, the cards it was transferred
// or merged to (so spending a cent by code before redeeming the rest does
// not shelter the rest). Over its life a card gives back at most its value.
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

// movedOut returns where value moved off an opened card went, in order,
// from the transfers out of its account (whose entries reference the
// account they went to), each destination once with what it received.
func movedOut(tx Tx, card giftcard.Card) ([]Taken, error) {
	var out []Taken
	index := map[string]int{}
	err := eachEntry(tx, giftcard.AccountOwner(card.ID), card.Value.Currency(), func(e Entry) error {
		if e.Kind != EntryTransfer || !e.Amount.IsNegative() || e.Reference == "" {
			return nil
		}
		moved, _ := e.Amount.Neg()
		if i, ok := index[e.Reference]; ok {
			out[i].Amount = giftkit.FromMinor(out[i].Amount.Minor()+moved.Minor(), moved.Currency())
			return nil
		}
		index[e.Reference] = len(out)
		out = append(out, Taken{Owner: e.Reference, Amount: moved})
		return nil
	})
	return out, err
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
		left := fromAccount
		take := func(owner string, amount giftkit.Money) error {
			var took giftkit.Money
			_, err := UpdateAccount(tx, Change{Owner: owner, Currency: amount.Currency(), Kind: activity.KindClawback,
				Reference: card.ID, Cause: cause}, func(a Account) (Account, []Entry, error) {
				var entries []Entry
				var err error
				blocked := Blocked(a)
				if blocked { // a block shelters nothing from a clawback: lift it, take, put it back
					var e Entry
					if a, e, err = a.Release(BlockHoldID, PlacerBlock, cause.Key, cause.At); err != nil {
						return a, nil, err
					}
					entries = append(entries, e)
				}
				var taken []Entry
				if a, taken, took, err = a.Take(TakeSpec{Kind: EntryClawback, Amount: amount, Partial: true,
					Class: card.Class, Reference: card.ID}, cause.Key, cause.At); err != nil {
					return a, nil, err
				}
				entries = append(entries, taken...)
				if blocked { // on what is left, or as the mark of an empty card
					var e Entry
					if a, e, err = a.block(cause.Key, cause.At); err != nil {
						return a, nil, err
					}
					entries = append(entries, e)
				}
				return a, entries, nil
			})
			if err == nil && took.IsPositive() {
				out.From = append(out.From, Taken{Owner: owner, Amount: took})
				left, _ = left.Sub(took)
			}
			return err
		}
		if err := take(card.RedeemedBy, left); err != nil {
			return Clawback{}, err
		}
		if card.Opened() && left.IsPositive() {
			// The card was spent directly and its value may have moved on:
			// follow it one step, to where its transfers out went.
			moves, err := movedOut(tx, card)
			if err != nil {
				return Clawback{}, err
			}
			for _, m := range moves {
				if !left.IsPositive() {
					break
				}
				if err := take(m.Owner, giftkit.FromMinor(min(left.Minor(), m.Amount.Minor()), left.Currency())); err != nil {
					return Clawback{}, err
				}
			}
		}
		out.Recovered, _ = fromAccount.Sub(left)
		out.Shortfall, _ = asked.Sub(out.Recovered)
	}
	after, rec := giftcard.RecordChange(activity.KindClawback, card, after, out.Owner, cause)
	if err := tx.PutCard(after); err != nil {
		return Clawback{}, err
	}
	out.Card = after
	return out, tx.AppendActivity([]activity.Record{rec})
}
