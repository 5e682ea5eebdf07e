package checkout

import (
	"context"
	"slices"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// A Refund is one refund of a captured payment.
type Refund struct {
	Key     string        `json:"key"`     // the caller's idempotency key
	Amount  giftkit.Money `json:"amount"`  // Balance + Card
	Balance giftkit.Money `json:"balance"` // returned to the shopper's balance
	// Cards is what goes back to each gift card the payment spent, in the
	// order of Payment.Cards; nil when it spent none.
	Cards  []giftkit.Money `json:"cards,omitempty"`
	Card   giftkit.Money   `json:"card"`             // returned to the bank card
	Done   bool            `json:"done"`             // false while the card refund is outstanding
	Failed string          `json:"failed,omitempty"` // the processor's reason, if it refused the card refund: nothing was refunded
	At     time.Time       `json:"at"`               // when the refund was asked for; the card refund may complete later
}

// RefundPolicy decides which tender a refund goes back to first.
type RefundPolicy uint8

// Refund policies.
const (
	RefundCardFirst    RefundPolicy = iota // to the bank card first, then the gift tenders (the balance, then gift cards, last spent first) (the default)
	RefundBalanceFirst                     // to the gift tenders first (the balance, then gift cards, last spent first), then the bank card
	RefundProportional                     // in proportion to what each tender has left to refund, exact to the cent
)

// split divides a refund of amount between the tenders, which have left
// to refund (amount ≤ their sum), never giving one more than it has left.
// left[0] is the bank card's, and the rest the gift tenders' in the order
// a refund returns to them: the reverse of the spending order (the balance,
// then the cards from the last spent to the first), so that what was spent
// last comes back first.
func (policy RefundPolicy) split(amount giftkit.Money, left []int64) ([]int64, error) {
	out := make([]int64, len(left))
	fill := func(order []int, rest int64) {
		for _, i := range order {
			n := min(rest, left[i])
			out[i], rest = n, rest-n
		}
	}
	order := make([]int, len(left))
	for i := range order {
		order[i] = i
	}
	switch policy {
	case RefundBalanceFirst:
		fill(append(order[1:], 0), amount.Minor())
	case RefundProportional:
		parts, err := amount.Allocate(left...)
		if err != nil {
			return nil, err
		}
		for i, p := range parts {
			out[i] = p.Minor()
		}
	default:
		fill(order, amount.Minor())
	}
	return out, nil
}

// cardRoom returns how much each gift card of p may take back before it
// holds more than the programme's MaxCardBalance (nil when nothing caps
// it): a refund gives a card no more than that, and the rest to the other
// tenders.
func (s *Service) cardRoom(tx Tx, p Payment, now time.Time) ([]int64, error) {
	limit := s.cfg.Programme
	if len(p.Cards) == 0 || limit == nil || !limit.MaxCardBalance.IsValid() || limit.MaxCardBalance.Currency() != p.Total.Currency() {
		return nil, nil
	}
	room := make([]int64, len(p.Cards))
	for i, c := range p.Cards {
		acct, err := wallet.UpdateAccount(tx, wallet.Change{Owner: giftcard.AccountOwner(c.CardID), Currency: p.Total.Currency(),
			Cause: activity.Sweep(now)}, nil)
		if err != nil {
			return nil, err
		}
		room[i] = max(0, limit.MaxCardBalance.Minor()-acct.Balance().Minor())
	}
	return room, nil
}

// refundable returns what each tender has left to refund, in the order of
// RefundPolicy.split (the bank card, the balance, then the gift cards from
// the last spent to the first): what it captured, less every refund that
// did not fail, outstanding ones included. room, if not nil, caps each
// card's share (see cardRoom).
func (p Payment) refundable(room []int64) []int64 {
	n := len(p.Cards)
	left := make([]int64, 2+n)
	left[0], left[1] = p.Card.Captured.Minor(), p.Balance.Captured.Minor()
	for i, t := range p.Cards {
		left[2+n-1-i] = t.Captured.Minor()
	}
	for _, r := range p.Refunds {
		if r.Failed != "" {
			continue
		}
		left[0], left[1] = left[0]-r.Card.Minor(), left[1]-r.Balance.Minor()
		for i, m := range r.Cards {
			left[2+n-1-i] -= m.Minor()
		}
	}
	for i, r := range room {
		left[2+n-1-i] = min(left[2+n-1-i], r)
	}
	return left
}

// requestRefund records a refund of amount under key, split between the
// tenders by policy, and settles it at once if the card has no part in it.
//
// room, if not nil, caps what each gift card may take back (a programme's
// MaxCardBalance): a refund that only those caps stop fails with
// giftcard.ErrProgrammeLimit.
func (p Payment) requestRefund(amount giftkit.Money, key string, policy RefundPolicy, room []int64, now time.Time) (Payment, []effect, error) {
	switch {
	case p.State != StateCaptured:
		return p, nil, ErrInvalidState
	case amount.Currency() != p.Total.Currency():
		return p, nil, giftkit.ErrCurrencyMismatch
	case !amount.IsPositive():
		return p, nil, ErrInvalidOrder
	}
	left := p.refundable(room)
	var sum int64
	for _, n := range left {
		sum += n
	}
	if amount.Minor() > sum {
		var uncapped int64
		for _, n := range p.refundable(nil) {
			uncapped += n
		}
		if amount.Minor() <= uncapped {
			return p, nil, giftcard.ErrProgrammeLimit
		}
		return p, nil, ErrExceedsCaptured
	}
	c := amount.Currency()
	parts, err := policy.split(amount, left)
	if err != nil {
		return p, nil, err
	}
	r := Refund{Key: key, Amount: amount, Balance: giftkit.FromMinor(parts[1], c), Card: giftkit.FromMinor(parts[0], c), At: now}
	if n := len(p.Cards); n > 0 {
		r.Cards = make([]giftkit.Money, n)
		for i := range r.Cards {
			r.Cards[i] = giftkit.FromMinor(parts[2+n-1-i], c)
		}
	}
	toCard := r.Card
	p.Refunds = append(p.Refunds[:len(p.Refunds):len(p.Refunds)], r)
	p.UpdatedAt = now
	if toCard.IsPositive() {
		return p, nil, nil // the card's part goes first; the balance's follows it
	}
	p, effects := p.settleRefund(len(p.Refunds)-1, now)
	return p, effects, nil
}

// settleRefund marks refund i done and returns its gift tenders' parts:
// to each gift card it came from, and to the balance.
func (p Payment) settleRefund(i int, now time.Time) (Payment, []effect) {
	p.Refunds = append([]Refund(nil), p.Refunds...)
	r := &p.Refunds[i]
	r.Done, p.UpdatedAt = true, now
	var effects []effect
	if len(r.Cards) > 0 {
		p.Cards = slices.Clone(p.Cards)
	}
	for j, m := range r.Cards {
		if m.IsPositive() {
			p.Cards[j].Refunded = plus(p.Cards[j].Refunded, m)
			effects = append(effects, effect{op: creditBalance, amount: m, key: r.Key, tender: j + 1})
		}
	}
	if r.Balance.IsPositive() {
		p.Balance.Refunded = plus(p.Balance.Refunded, r.Balance)
		effects = append(effects, effect{op: creditBalance, amount: r.Balance, key: r.Key})
	}
	return p, effects
}

// cardRefunded records the processor's refund of refund key's card part,
// and settles its balance part.
func (p Payment) cardRefunded(key string, now time.Time) (Payment, []effect) {
	i := p.refundIndex(key)
	if i < 0 || p.Refunds[i].Done {
		return p, nil
	}
	p.Card.Refunded = plus(p.Card.Refunded, p.Refunds[i].Card)
	return p.settleRefund(i, now)
}

// cardRefundDeclined records the processor's refusal of refund key's card
// part: the refund fails whole, and nothing was refunded.
func (p Payment) cardRefundDeclined(key, reason string, now time.Time) Payment {
	i := p.refundIndex(key)
	if i < 0 || p.Refunds[i].Done {
		return p
	}
	p.Refunds = append([]Refund(nil), p.Refunds...)
	p.Refunds[i].Done, p.Refunds[i].Failed, p.UpdatedAt = true, reason, now
	return p
}

func (p Payment) hasPendingRefund() bool {
	_, ok := p.pendingRefund()
	return ok
}

func (p Payment) pendingRefund() (Refund, bool) {
	for _, r := range p.Refunds {
		if !r.Done {
			return r, true
		}
	}
	return Refund{}, false
}

func (p Payment) refundIndex(key string) int {
	for i, r := range p.Refunds {
		if r.Key == key {
			return i
		}
	}
	return -1
}

// Refund returns amount of a captured payment to the shopper, split between
// the tenders by Config.RefundPolicy and never more to a tender than it
// paid: the balance part is credited to the account (a refund entry), the
// card part goes back through the processor. A payment may be refunded
// several times, each with its own key; a retry with the same key returns the
// payment. It fails with [ErrPaymentNotFound], [ErrInvalidState] (not
// captured), [ErrExceedsCaptured], [ErrInvalidOrder],
// giftkit.ErrCurrencyMismatch, giftcard.ErrProgrammeLimit (the gift cards
// it would go back to may hold no more under the programme's
// MaxCardBalance, and the other tenders cannot take the rest), [ErrDeclined] (the processor refused the card
// part: nothing was refunded, and the refund is recorded as failed),
// [ErrProcessorUnavailable] (the refund stays outstanding: retry), or
// giftkit.ErrKeyRequired / giftkit.ErrIdempotencyConflict.
func (s *Service) Refund(ctx context.Context, paymentID string, amount giftkit.Money, key string) (_ Payment, err error) {
	ctx, span := s.obs.Begin(ctx, "checkout.refund")
	defer span.End(&err)
	p, err := s.command(ctx, "refund", paymentID, amount, key, func(tx Tx, p Payment, now time.Time) (Payment, []effect, error) {
		room, err := s.cardRoom(tx, p, now)
		if err != nil {
			return p, nil, err
		}
		return p.requestRefund(amount, key, s.cfg.RefundPolicy, room, now)
	})
	if err != nil {
		return p, err
	}
	if i := p.refundIndex(key); i >= 0 && p.Refunds[i].Failed != "" {
		// The processor refused the card part: nothing was refunded, and the
		// amount may be refunded again under a new key.
		return p, &Error{Op: "refund", PaymentID: paymentID, Amount: amount, Detail: p.Refunds[i].Failed, Err: ErrDeclined,
			Cause: &DeclineError{Reason: p.Refunds[i].Failed}}
	}
	return p, nil
}
