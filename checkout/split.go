package checkout

import (
	"cmp"
	"slices"
	"time"

	"github.com/giftkit/giftkit"
)

// This file is the one place that decides the order tenders are spent in:
// how an order total is split when it is paid, and how a capture is split
// when it is taken.
//
// The spending order: gift cards given by code first, soonest-expiring
// value first (never-expiring last), then the smallest, so that what would
// lapse is used and small remainders are cleared (what Medusa's and
// Saleor's users asked for: medusa #4892, saleor #13640); then the
// shopper's account balance; the bank card pays the rest.

// Split is how an order total is paid: the gift cards' parts, the balance
// part from the shopper's account, the card part from their bank card.
// The parts sum to the total, exactly.
type Split struct {
	// Cards are the parts of the gift cards given by code, in the order of
	// the cards PlanTenders returns; nil when none was given.
	Cards []giftkit.Money `json:"cards,omitempty"`
	// Balance is the part the gift card balance pays: min(available,
	// what the cards leave), or zero when the shopper skips the balance or
	// has none.
	Balance giftkit.Money `json:"balance"`
	// Card is the part the bank card pays: the rest of the total, zero
	// when the gift tenders cover it.
	Card giftkit.Money `json:"card"`
}

// PlanOptions are the shopper's choices for one order, and the
// programme's cap.
type PlanOptions struct {
	// SkipBalance pays the whole order by gift cards and bank card,
	// keeping the balance.
	SkipBalance bool
	// MaxFromCards caps what gift cards given by code pay of the order in
	// total (a programme's maximum per remote payment); the zero Money
	// means no cap.
	MaxFromCards giftkit.Money
}

// CardFunds is what a gift card given by code can pay: what the planner
// needs to know of it.
type CardFunds struct {
	CardID    string        // the card
	Available giftkit.Money // what it can pay now
	ExpiresAt time.Time     // when the soonest of its value lapses; zero means never
}

// SpendingOrder returns cards in the order they are spent: soonest
// ExpiresAt first (zero, never, last), then smallest Available, then by
// CardID, so the order never depends on the order they were given in.
func SpendingOrder(cards []CardFunds) []CardFunds {
	out := slices.Clone(cards)
	slices.SortStableFunc(out, func(x, y CardFunds) int {
		switch {
		case !x.ExpiresAt.Equal(y.ExpiresAt) && (y.ExpiresAt.IsZero() || (!x.ExpiresAt.IsZero() && x.ExpiresAt.Before(y.ExpiresAt))):
			return -1
		case !x.ExpiresAt.Equal(y.ExpiresAt):
			return 1
		}
		if c := cmp.Compare(x.Available.Minor(), y.Available.Minor()); c != 0 {
			return c
		}
		return cmp.Compare(x.CardID, y.CardID)
	})
	return out
}

// PlanTenders splits total between gift cards given by code, the
// available balance and the bank card, in the spending order (see the top
// of this file): each card pays what it can of what is left, in
// SpendingOrder and within opts.MaxFromCards; the balance pays what it can
// of the rest unless the shopper opts out; the bank card pays the rest. It
// returns the split and the cards in the order its Cards follow. A card
// with nothing to pay keeps a zero part. It fails with [ErrInvalidOrder]
// for a total that is not positive, and giftkit.ErrCurrencyMismatch when
// an amount is in another currency than the total.
func PlanTenders(total, available giftkit.Money, cards []CardFunds, opts PlanOptions) (Split, []CardFunds, error) {
	if !total.IsValid() || !total.IsPositive() {
		return Split{}, nil, &Error{Op: "plan", Amount: total, Err: ErrInvalidOrder}
	}
	c := total.Currency()
	mismatch := func(what string, m giftkit.Money) error {
		return &Error{Op: "plan", Amount: total, Detail: what + " in " + m.Currency().String(), Err: giftkit.ErrCurrencyMismatch}
	}
	if available.Currency() != c {
		return Split{}, nil, mismatch("balance", available)
	}
	capLeft := total.Minor()
	if opts.MaxFromCards.IsValid() {
		if opts.MaxFromCards.Currency() != c {
			return Split{}, nil, mismatch("card cap", opts.MaxFromCards)
		}
		capLeft = max(0, min(capLeft, opts.MaxFromCards.Minor()))
	}
	left := total.Minor()
	ordered := SpendingOrder(cards)
	var parts []giftkit.Money
	if len(ordered) > 0 {
		parts = make([]giftkit.Money, len(ordered))
	}
	for i, card := range ordered {
		if card.Available.Currency() != c {
			return Split{}, nil, mismatch("gift card", card.Available)
		}
		n := max(0, min(card.Available.Minor(), left, capLeft))
		parts[i] = giftkit.FromMinor(n, c)
		left, capLeft = left-n, capLeft-n
	}
	balance := int64(0)
	if !opts.SkipBalance {
		balance = max(0, min(available.Minor(), left))
	}
	return Split{Cards: parts, Balance: giftkit.FromMinor(balance, c), Card: giftkit.FromMinor(left-balance, c)}, ordered, nil
}

// Plan splits total between the available balance and the bank card, for a
// payment without gift cards given by code (see [PlanTenders]): the
// balance pays min(available, total) unless the shopper opts out, and the
// card pays the rest. A negative available balance counts as zero. It fails
// with [ErrInvalidOrder] for a total that is not positive and
// giftkit.ErrCurrencyMismatch when the two amounts are in different
// currencies.
func Plan(total, available giftkit.Money, opts PlanOptions) (Split, error) {
	split, _, err := PlanTenders(total, available, nil, opts)
	return split, err
}

// captureSplit splits a capture of want (at most the payment's total, in
// its currency) in the spending order: each gift card up to what its hold
// reserved, in the payment's order, then the balance up to its hold, and
// the bank card the rest.
func (p Payment) captureSplit(want giftkit.Money) (cards []int64, fromBalance, fromCard giftkit.Money) {
	left := want.Minor()
	if len(p.Cards) > 0 {
		cards = make([]int64, len(p.Cards))
	}
	for i, t := range p.Cards {
		cards[i] = min(left, t.Authorized.Minor())
		left -= cards[i]
	}
	b := min(left, p.Balance.Authorized.Minor())
	return cards, giftkit.FromMinor(b, want.Currency()), giftkit.FromMinor(left-b, want.Currency())
}
