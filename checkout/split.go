package checkout

import "github.com/giftkit/giftkit"

// This file is the one place that decides "balance first": how an order
// total is split when it is paid, and how a capture is split when it is
// taken.

// Split is how an order total is paid: the balance part from the shopper's
// gift card balance, the card part from their bank card. Balance + Card =
// the total, exactly.
type Split struct {
	// Balance is the part the gift card balance pays: min(available,
	// total), or zero when the shopper skips the balance or has none.
	Balance giftkit.Money `json:"balance"`
	// Card is the part the bank card pays: the rest of the total, zero
	// when the balance covers it.
	Card giftkit.Money `json:"card"`
}

// PlanOptions are the shopper's choices for one order.
type PlanOptions struct {
	// SkipBalance pays the whole order by bank card, keeping the balance.
	SkipBalance bool
}

// Plan splits total between the available balance and the bank card: the
// balance pays min(available, total) unless the shopper opts out, and the
// card pays the rest. A negative available balance counts as zero. It fails
// with [ErrInvalidOrder] for a total that is not positive and
// giftkit.ErrCurrencyMismatch when the two amounts are in different
// currencies.
func Plan(total, available giftkit.Money, opts PlanOptions) (Split, error) {
	if !total.IsValid() || !total.IsPositive() {
		return Split{}, &Error{Op: "plan", Amount: total, Err: ErrInvalidOrder}
	}
	if available.Currency() != total.Currency() {
		return Split{}, &Error{Op: "plan", Amount: total, Detail: "balance in " + available.Currency().String(), Err: giftkit.ErrCurrencyMismatch}
	}
	balance := int64(0)
	if !opts.SkipBalance {
		balance = max(0, min(available.Minor(), total.Minor()))
	}
	c := total.Currency()
	return Split{Balance: giftkit.FromMinor(balance, c), Card: giftkit.FromMinor(total.Minor()-balance, c)}, nil
}

// captureSplit splits a capture of want (at most the payment's total, in its
// currency) the same way: the balance pays first, up to what its hold
// reserved, and the card the rest.
func captureSplit(want, heldOnBalance giftkit.Money) (fromBalance, fromCard giftkit.Money) {
	b := min(want.Minor(), heldOnBalance.Minor())
	return giftkit.FromMinor(b, want.Currency()), giftkit.FromMinor(want.Minor()-b, want.Currency())
}
