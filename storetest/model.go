package storetest

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// The model. It follows the rules of the domain in the plainest way: lots
// with expiries, holds that reserve from lots, payments with their gift
// cards, balance and bank card. A card spent directly has an account of its
// own in the model as in the system (giftcard.AccountOwner), keyed like a
// shopper's. The actions move it alongside the system; Check compares the
// two.

// sysKey names an account of the model: an owner's wallet in one
// currency, or a card's own account (owner giftcard.AccountOwner(id)).
type sysKey struct {
	owner string
	cur   giftkit.Currency
}

// mLot is money credited to an account with one expiry; reserved is the
// part that holds have taken.
type mLot struct {
	free, reserved int64
	expires        time.Time // zero: never
	class          giftkit.ValueClass
}

// mPart is what a hold took from one lot.
type mPart struct {
	lot    *mLot
	amount int64
}

// mHold is money reserved for a payment, from the lots that expire first.
type mHold struct {
	parts   []mPart
	amount  int64
	expires time.Time
}

// mAccount is an owner's wallet in one currency: lots ordered by expiry
// (never-expiring last), then by their class's spending rank, and the
// holds on them by hold ID.
type mAccount struct {
	lots  []*mLot
	holds map[string]*mHold
}

// mCard is a card the run issued, as the model expects it to be.
type mCard struct {
	id       string
	code     codefmt.Code
	value    giftkit.Money
	state    giftcard.State
	expires  time.Time
	redeemer string // the account it was redeemed into: a shopper's, or its own once opened
	class    giftkit.ValueClass
	clawed   int64 // asked back by clawbacks after redemption
	issuedAt time.Time
	// blocked: an opened card blocked by wallet.Service.BlockCard, whose
	// account holds the block hold (blockHold) until UnblockCard. A card
	// not yet opened is blocked by its state (giftcard.StateBlocked).
	blocked bool
	// unsure: an interrupted call (a payment given its code) may have
	// opened the card; Check learns which from the system once no such
	// call is open (resync), and until then the card is left alone.
	unsure bool
}

// opened reports whether the model has the card's value in its own
// account (see giftcard.Card.Opened).
func (c *mCard) opened() bool {
	return c.state == giftcard.StateRedeemed && c.redeemer == giftcard.AccountOwner(c.id)
}

// key names the card's own account.
func (c *mCard) key() sysKey { return sysKey{giftcard.AccountOwner(c.id), c.value.Currency()} }

// mTender is a gift card's part of a payment, as checkout.CardTender.
type mTender struct {
	card                        *mCard
	planned, captured, refunded int64
}

// mParcel is value moved between accounts, with the class and expiry of
// the lot it left (see wallet.Parcel).
type mParcel struct {
	amount  int64
	expires time.Time
	class   giftkit.ValueClass
}

// mPayment is a payment the run made, as the model expects it to be.
type mPayment struct {
	id, owner       string
	total           giftkit.Money
	mode            checkout.CaptureMode
	state           checkout.State
	balance, card   int64 // planned parts
	capturedBalance int64
	capturedCard    int64
	refundedBalance int64
	refundedCard    int64
	expires         time.Time
	declined        bool // the processor declines its authorisation
	uncertain       bool // a call on it was interrupted: its state is the system's to tell
	holdID          string
	cards           []*mTender // the gift cards given by code, in spending order: those with a part
}

// sysCall is an interrupted or completed call that the Retry action repeats.
type sysCall struct {
	name    string
	payment *mPayment              // the payment the call drives, if any
	run     func() (string, error) // returns a digest of the outcome
	digest  string
	err     error
	done    bool     // completed without a fault: its outcome is final
	cards   []*mCard // cards the call may open until it completes (see mCard.unsure)
}

// key returns a new idempotency key with prefix, unique within the run.
func (m *system[T]) key(prefix string) string {
	m.n++
	return fmt.Sprintf("%s-%d", prefix, m.n)
}

// account returns the model account k, opening it if need be.
func (m *system[T]) account(k sysKey) *mAccount {
	a := m.accounts[k]
	if a == nil {
		a = &mAccount{holds: map[string]*mHold{}}
		m.accounts[k] = a
	}
	return a
}

// touch sweeps the model account k at the current time, as every service
// call that loads the account does.
func (m *system[T]) touch(k sysKey) *mAccount {
	a := m.account(k)
	a.sweep(m.env.Clock.Now())
	return a
}

// unsure marks an account whose state the model can no longer predict,
// because a call on it was interrupted. Its balance is compared again only
// through the invariants, which hold whatever happened.
func (m *system[T]) unsure(k sysKey) {
	m.account(k) // so that the reports ahead know it may hold money
	m.uncertainAccounts[k] = true
}

// record keeps a call for the Retry action, after checking that its error
// is safe to log.
func (m *system[T]) record(t *rapid.T, name string, run func() (string, error), digest string, err error) *sysCall {
	m.noLeak(t, name, err)
	c := &sysCall{name: name, run: run, digest: digest, err: err, done: !interrupted(err)}
	m.calls = append(m.calls, c)
	return c
}

// openRedeem reports whether a redemption of the card other than except
// was interrupted and not yet retried to completion.
func (m *system[T]) openRedeem(cardID string, except *sysCall) bool {
	for _, c := range m.calls {
		if !c.done && c != except && c.name == "redeem "+cardID {
			return true
		}
	}
	return false
}

// sweep applies time to the model account as Account.Sweep does: lapsed
// holds released, then the free part of expired lots removed.
func (a *mAccount) sweep(now time.Time) {
	for id, h := range a.holds {
		if !h.expires.IsZero() && !now.Before(h.expires) {
			a.release(id)
		}
	}
	kept := a.lots[:0]
	for _, l := range a.lots {
		if !l.expires.IsZero() && !now.Before(l.expires) {
			l.free = 0
		}
		if l.free+l.reserved > 0 {
			kept = append(kept, l)
		}
	}
	a.lots = kept
}

// clone returns a copy of a that shares nothing with it.
func (a *mAccount) clone() *mAccount {
	out := &mAccount{holds: map[string]*mHold{}}
	copies := map[*mLot]*mLot{}
	for _, l := range a.lots {
		c := *l
		copies[l] = &c
		out.lots = append(out.lots, &c)
	}
	for id, h := range a.holds {
		c := &mHold{amount: h.amount, expires: h.expires}
		for _, p := range h.parts {
			c.parts = append(c.parts, mPart{copies[p.lot], p.amount})
		}
		out.holds[id] = c
	}
	return out
}

// balance returns the account's total and the part of it that holds reserve.
func (a *mAccount) balance() (total, held int64) {
	for _, l := range a.lots {
		total += l.free + l.reserved
		held += l.reserved
	}
	return total, held
}

// credit adds amount to the lot of class that expires at expires (zero:
// never), opening one in spending order if there is none.
func (a *mAccount) credit(amount int64, expires time.Time, class giftkit.ValueClass) {
	for _, l := range a.lots {
		if l.expires.Equal(expires) && l.class == class {
			l.free += amount
			return
		}
	}
	a.lots = append(a.lots, &mLot{free: amount, expires: expires, class: class})
	sort.SliceStable(a.lots, func(i, j int) bool {
		x, y := a.lots[i].expires, a.lots[j].expires
		if x.IsZero() != y.IsZero() {
			return !x.IsZero()
		}
		if !x.Equal(y) {
			return x.Before(y)
		}
		return a.lots[i].class.SpendRank() < a.lots[j].class.SpendRank()
	})
}

// take removes up to amount of the free, unexpired balance, from the lots
// of class first (none if zero), then from the others, each in order, and
// returns what it took.
func (a *mAccount) take(amount int64, class giftkit.ValueClass, now time.Time) int64 {
	taken := int64(0)
	for pass := 0; pass < 2; pass++ {
		for _, l := range a.lots {
			if (!l.expires.IsZero() && !now.Before(l.expires)) || (pass == 0 && l.class != class) {
				continue
			}
			n := min(l.free, amount-taken)
			l.free -= n
			taken += n
		}
	}
	kept := a.lots[:0]
	for _, l := range a.lots {
		if l.free+l.reserved > 0 {
			kept = append(kept, l)
		}
	}
	a.lots = kept
	return taken
}

// available is what a new hold could take now: the free part of the lots
// that have not expired.
func (a *mAccount) available(now time.Time) int64 {
	var sum int64
	for _, l := range a.lots {
		if l.expires.IsZero() || now.Before(l.expires) {
			sum += l.free
		}
	}
	return sum
}

// hold reserves amount for hold id from the live lots, soonest expiry first.
func (a *mAccount) hold(id string, amount int64, expires, now time.Time) {
	h := &mHold{amount: amount, expires: expires}
	for _, l := range a.lots {
		if amount == 0 {
			break
		}
		if !l.expires.IsZero() && !now.Before(l.expires) {
			continue
		}
		take := min(l.free, amount)
		if take == 0 {
			continue
		}
		l.free, l.reserved = l.free-take, l.reserved+take
		amount -= take
		h.parts = append(h.parts, mPart{l, take})
	}
	a.holds[id] = h
}

// release returns what hold id reserved to its lots, if the hold exists.
func (a *mAccount) release(id string) {
	h := a.holds[id]
	if h == nil {
		return
	}
	for _, p := range h.parts {
		p.lot.reserved -= p.amount
		p.lot.free += p.amount
	}
	delete(a.holds, id)
}

// capture spends amount of hold id, the soonest-expiring parts first, and
// returns the rest of the hold to its lots.
func (a *mAccount) capture(id string, amount int64) {
	h := a.holds[id]
	for _, p := range h.parts {
		take := min(p.amount, amount)
		p.lot.reserved -= p.amount
		p.lot.free += p.amount - take
		amount -= take
	}
	delete(a.holds, id)
}

// takeParcels removes up to amount of the free, unexpired balance in
// spending order, as Account.TransferOut does, and returns it as parcels,
// one per lot touched, in that order.
func (a *mAccount) takeParcels(amount int64, now time.Time) []mParcel {
	var out []mParcel
	for _, l := range a.lots {
		if amount == 0 {
			break
		}
		if !l.expires.IsZero() && !now.Before(l.expires) {
			continue
		}
		if n := min(l.free, amount); n > 0 {
			l.free -= n
			amount -= n
			out = append(out, mParcel{amount: n, expires: l.expires, class: l.class})
		}
	}
	kept := a.lots[:0]
	for _, l := range a.lots {
		if l.free+l.reserved > 0 {
			kept = append(kept, l)
		}
	}
	a.lots = kept
	return out
}

// nextLapse is when the soonest of the available value lapses, as the
// planner of a payment sees a card: the expiry of the first lot with free,
// unexpired value; zero if that lot never expires, or there is none.
func (a *mAccount) nextLapse(now time.Time) time.Time {
	for _, l := range a.lots {
		if l.free > 0 && (l.expires.IsZero() || now.Before(l.expires)) {
			return l.expires
		}
	}
	return time.Time{}
}

// blockHold is the model's ID of the hold that blocks an opened card
// (wallet.BlockHoldID): it never lapses, and nothing but an unblock (or a
// clawback, which puts it back on what is left) releases it.
const blockHold = "block/" + wallet.BlockHoldID

// spendable is what the model expects of spending or checking card c now
// (see wallet.Spendable): nil for an opened card, whatever its own expiry,
// unless it is blocked, which is refused as an unknown code is.
func (m *system[T]) spendable(c *mCard) error {
	switch {
	case c.opened() && c.blocked:
		return giftcard.ErrNotRedeemable
	case c.opened():
		return nil
	case c.state == giftcard.StateRedeemed:
		return giftcard.ErrAlreadyRedeemed
	case c.state != giftcard.StateActive:
		return giftcard.ErrNotRedeemable
	case m.expired(c):
		return giftcard.ErrExpired
	}
	return nil
}

// expired reports whether card c is past its own expiry now.
func (m *system[T]) expired(c *mCard) bool {
	return !c.expires.IsZero() && !m.env.Clock.Now().Before(c.expires)
}

// busy reports whether an interrupted call may still change card c behind
// the model's back: a redemption, or a payment that may open it.
func (m *system[T]) busy(c *mCard) bool { return c.unsure || m.openRedeem(c.id, nil) }

// opening reports whether a call that may open card c is still open.
func (m *system[T]) opening(c *mCard) bool {
	for _, call := range m.calls {
		if !call.done && slices.Contains(call.cards, c) {
			return true
		}
	}
	return false
}

// openCard moves the model as opening card c does: the card is redeemed
// into its own account, credited with its value, class and expiry.
func (m *system[T]) openCard(c *mCard) {
	if c.opened() {
		return
	}
	m.applyRedeem(c, giftcard.AccountOwner(c.id))
}

// redeemOutcome is what the model expects of redeeming c for owner now:
// an opened card gives what it has available, or giftcard.ErrNoBalance.
func (m *system[T]) redeemOutcome(c *mCard, owner string) error {
	if c.opened() && c.blocked {
		return giftcard.ErrNotRedeemable
	}
	if c.opened() {
		if m.touch(c.key()).available(m.env.Clock.Now()) == 0 {
			return giftcard.ErrNoBalance
		}
		return nil
	}
	return m.spendable(c)
}

// applyRedeem moves the model as a successful redemption of c by owner
// does: the card is redeemed and its value credited with its expiry.
func (m *system[T]) applyRedeem(c *mCard, owner string) {
	c.state, c.redeemer = giftcard.StateRedeemed, owner
	m.touch(sysKey{owner, c.value.Currency()}).credit(c.value.Minor(), c.expires, c.class)
}

// move moves the model as a transfer of amount (all that is available if
// negative) from the account from to the account to does, and returns
// what moved.
func (m *system[T]) move(from, to sysKey, amount int64) int64 {
	now := m.env.Clock.Now()
	src := m.touch(from)
	if amount < 0 {
		amount = src.available(now)
	}
	var moved int64
	dst := m.touch(to)
	for _, p := range src.takeParcels(amount, now) {
		dst.credit(p.amount, p.expires, p.class)
		moved += p.amount
	}
	if moved > 0 {
		m.recordMove(from, to, moved)
	}
	return moved
}

// takeBlocked removes up to amount from the account k as take does (the
// lots of class first), and returns what it took; on an account blocked
// by the block hold, the hold is lifted first and put back on what is
// available after, as a clawback does (wallet.Service.Clawback).
func (m *system[T]) takeBlocked(k sysKey, amount int64, class giftkit.ValueClass, now time.Time) int64 {
	a := m.touch(k)
	if a.holds[blockHold] == nil {
		return a.take(amount, class, now)
	}
	a.release(blockHold)
	took := a.take(amount, class, now)
	a.hold(blockHold, a.available(now), time.Time{}, now)
	return took
}

// An mMove is value moved off a card's account to another account.
type mMove struct {
	to     sysKey
	amount int64
}

func (m *system[T]) recordMove(from, to sysKey, amount int64) {
	list := m.moves[from]
	for i := range list {
		if list[i].to == to {
			list[i].amount += amount
			return
		}
	}
	m.moves[from] = append(list, mMove{to, amount})
}

// tenderKeys returns the accounts payment p holds on or spends from: each
// gift card's, then the shopper's (none for a guest).
func (p *mPayment) tenderKeys() []sysKey {
	keys := make([]sysKey, 0, len(p.cards)+1)
	for _, tn := range p.cards {
		keys = append(keys, tn.card.key())
	}
	if p.owner != "" {
		keys = append(keys, sysKey{p.owner, p.total.Currency()})
	}
	return keys
}

// touchAll sweeps every account of payment p at the current time.
func (m *system[T]) touchAll(p *mPayment) {
	for _, k := range p.tenderKeys() {
		m.touch(k)
	}
}

// releaseAll releases the payment's hold on each of its accounts.
func (m *system[T]) releaseAll(p *mPayment) {
	for _, k := range p.tenderKeys() {
		m.touch(k).release(p.holdID)
	}
}

// unsurePayment marks every account of payment p unknown.
func (m *system[T]) unsurePayment(p *mPayment) {
	for _, k := range p.tenderKeys() {
		m.unsure(k)
	}
}

// applyCapture moves the model as a capture of amount does, split in the
// spending order (each gift card up to its part, then the balance, then the
// bank card); sweep applies the time first, which a capture decided at an
// earlier instant than now must not.
func (m *system[T]) applyCapture(p *mPayment, amount int64, sweep bool) {
	acct := func(k sysKey) *mAccount {
		if sweep {
			return m.touch(k)
		}
		return m.account(k)
	}
	left := amount
	for _, tn := range p.cards {
		n := min(left, tn.planned)
		acct(tn.card.key()).capture(p.holdID, n)
		tn.captured, left = n, left-n
	}
	fromBalance := min(left, p.balance)
	if p.balance > 0 {
		acct(sysKey{p.owner, p.total.Currency()}).capture(p.holdID, fromBalance)
	}
	p.capturedBalance, p.capturedCard = fromBalance, left-fromBalance
	p.state = checkout.StateCaptured
}

// applyCaptureDeclined moves the model as a capture of amount whose bank
// card part the processor declines does: the gift tenders' parts are
// captured, then given back to each account as refund credit that never
// expires, and the payment fails.
func (m *system[T]) applyCaptureDeclined(p *mPayment, amount int64) {
	m.applyCapture(p, amount, true)
	for _, tn := range p.cards {
		if tn.captured > 0 {
			m.touch(tn.card.key()).credit(tn.captured, time.Time{}, giftkit.ClassRefund)
		}
		tn.refunded = tn.captured
	}
	if p.capturedBalance > 0 {
		m.touch(sysKey{p.owner, p.total.Currency()}).credit(p.capturedBalance, time.Time{}, giftkit.ClassRefund)
	}
	p.refundedBalance, p.capturedCard = p.capturedBalance, 0
	p.state = checkout.StateFailed
}

// applyRefund moves the model as a refund of amount done under the default
// policy does: the bank card first, then the balance, then the gift cards
// from the last spent to the first, each never more than it has left; what
// goes back to a balance or a card is refund credit that never expires.
func (m *system[T]) applyRefund(p *mPayment, amount int64) {
	toCard := min(amount, p.capturedCard-p.refundedCard)
	p.refundedCard += toCard
	left := amount - toCard
	toBalance := min(left, p.capturedBalance-p.refundedBalance)
	if toBalance > 0 {
		p.refundedBalance += toBalance
		m.touch(sysKey{p.owner, p.total.Currency()}).credit(toBalance, time.Time{}, giftkit.ClassRefund)
	}
	left -= toBalance
	for i := len(p.cards) - 1; i >= 0 && left > 0; i-- {
		tn := p.cards[i]
		if n := min(left, tn.captured-tn.refunded); n > 0 {
			tn.refunded += n
			left -= n
			m.touch(tn.card.key()).credit(n, time.Time{}, giftkit.ClassRefund)
		}
	}
}

// refundable is what payment p has left to refund, over every tender.
func (p *mPayment) refundable() int64 {
	left := p.capturedBalance + p.capturedCard - p.refundedBalance - p.refundedCard
	for _, tn := range p.cards {
		left += tn.captured - tn.refunded
	}
	return left
}

// applySweep moves the model's lapsed payments to expired, as Sweep does for
// payments that nothing interrupted.
func (m *system[T]) applySweep() {
	for _, p := range m.payments {
		m.lapse(p)
	}
}

// lapse expires an authorised payment whose hold has lapsed, as the saga
// does whenever the payment is driven.
func (m *system[T]) lapse(p *mPayment) {
	if p.state == checkout.StateAuthorized && !p.uncertain && !m.env.Clock.Now().Before(p.expires) {
		m.touchAll(p)
		p.state = checkout.StateExpired
	}
}
