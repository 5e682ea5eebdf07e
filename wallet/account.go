package wallet

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
)

// An Account is one owner's balance in one currency, with the credits that
// make it up (lots) and the amounts reserved for pending payments (holds).
//
//	Balance   = Σ lot.Remaining = Σ entry.Amount over the journal
//	Held      = Σ lot.Reserved  = Σ hold.Amount  = Σ entry.Held
//	Available = Balance − Held ≥ 0
//
// Account is an immutable value: its methods return a new Account and the
// journal entries that record the change, and never modify the receiver.
// Inside, amounts are int64 counts of the currency's minor units, which
// every transition keeps within the invariants above; they become
// [giftkit.Money] at the API. The zero Account is not valid; [NewAccount]
// makes an empty one and [RestoreAccount] one a store kept.
type Account struct {
	owner     string
	currency  giftkit.Currency
	balance   int64 // Σ lots' remaining
	held      int64 // Σ holds' amount = Σ lots' reserved
	lots      []lot // sorted by expiry, soonest first; credits that never expire last
	holds     []hold
	nextSeq   int64
	updatedAt time.Time
	head      activity.Head // the end of the account's chain of activity records
}

type lot struct {
	id, source          string
	remaining, reserved int64 // 0 ≤ reserved ≤ remaining
	class               giftkit.ValueClass
	expiresAt           time.Time
	createdAt           time.Time
}

// lotBefore orders lots for spending: soonest expiry first, never-expiring
// last, and among equal expiries by the class's spending rank.
func lotBefore(xExp time.Time, xClass giftkit.ValueClass, yExp time.Time, yClass giftkit.ValueClass) bool {
	if !xExp.Equal(yExp) {
		return expiresBefore(xExp, yExp)
	}
	return xClass.SpendRank() < yClass.SpendRank()
}

func (l lot) expired(now time.Time) bool { return !l.expiresAt.IsZero() && !now.Before(l.expiresAt) }

type hold struct {
	id, reference, placer string
	amount                int64 // Σ parts' amount
	parts                 []part
	expiresAt, createdAt  time.Time
}

type part struct {
	lot    string
	amount int64
}

// NewAccount returns an empty account.
func NewAccount(owner string, c giftkit.Currency) Account {
	return Account{owner: owner, currency: c, nextSeq: 1}
}

// Owner returns the account's owner.
func (a Account) Owner() string { return a.owner }

// Currency returns the account's currency.
func (a Account) Currency() giftkit.Currency { return a.currency }

// Balance returns all the money in the account.
func (a Account) Balance() giftkit.Money { return a.money(a.balance) }

// Held returns the part of the balance that open holds reserve.
func (a Account) Held() giftkit.Money { return a.money(a.held) }

// Available returns the balance minus open holds: what can be spent now.
func (a Account) Available() giftkit.Money { return a.money(a.balance - a.held) }

// NextSeq returns the sequence number of the account's next journal entry,
// from 1.
func (a Account) NextSeq() int64 { return a.nextSeq }

// UpdatedAt returns the time of the account's last change; zero for a new
// account.
func (a Account) UpdatedAt() time.Time { return a.updatedAt }

// Head returns the end of the account's chain of activity records (see
// package activity); zero for an account never changed.
func (a Account) Head() activity.Head { return a.head }

func (a Account) money(minor int64) giftkit.Money { return giftkit.FromMinor(minor, a.currency) }

// A Lot is the credit of one value class in an account that expires at one
// instant (or never). Lots are spent soonest expiry first, and among lots
// that expire together in the order of their class (see
// giftkit.ValueClass): promotional value before purchased value.
type Lot struct {
	ID        string             // unique within the account: "lot-" and the sequence number of its first entry
	Source    string             // what the first credit of this class and expiry came from: a card ID or a refund's reference
	Class     giftkit.ValueClass // where the money came from; credits of different classes never share a lot
	Remaining giftkit.Money      // not yet spent or expired
	Reserved  giftkit.Money      // the part of Remaining that holds reserve
	ExpiresAt time.Time          // zero means never
	CreatedAt time.Time          // when its first credit was made; later credits with the same expiry do not move it
}

// A Hold reserves part of the balance for a payment until it is captured,
// released or expires.
type Hold struct {
	ID        string        // unique among the account's open holds; [HoldID](owner, key) for Service.Hold
	Amount    giftkit.Money // reserved of the balance: positive, the sum of Parts
	Reference string        // what the hold is for, such as a payment ID
	// Placer is the party that placed the hold and alone may capture or
	// release it: [PlacerWallet] for [Service.Hold], the checkout package
	// for a payment's balance part.
	Placer    string
	Parts     []HoldPart // the lots it reserves from, soonest expiry first; never empty
	ExpiresAt time.Time  // released automatically from then on
	CreatedAt time.Time  // when the hold was placed
}

// A HoldPart is the amount a hold reserves of one lot.
type HoldPart struct {
	// LotID is the [Lot.ID] of the lot reserved from.
	LotID string
	// Amount is what the hold reserves of that lot: positive, and part of
	// the lot's Reserved.
	Amount giftkit.Money
}

// NextLapse returns when the soonest-expiring of the value available at
// now lapses: the expiry of the first lot, in spending order, with value
// neither held nor expired; zero if that value never expires or there is
// none. It is what the spending order of cards compares.
func (a Account) NextLapse(now time.Time) time.Time {
	for _, l := range a.lots {
		if l.remaining > l.reserved && !l.expired(now) {
			return l.expiresAt
		}
	}
	return time.Time{}
}

// Lots returns the account's credits, soonest expiry first.
func (a Account) Lots() []Lot {
	out := make([]Lot, len(a.lots))
	for i, l := range a.lots {
		out[i] = Lot{ID: l.id, Source: l.source, Class: l.class, Remaining: a.money(l.remaining), Reserved: a.money(l.reserved),
			ExpiresAt: l.expiresAt, CreatedAt: l.createdAt}
	}
	return out
}

// Holds returns the account's open holds, oldest first.
func (a Account) Holds() []Hold {
	out := make([]Hold, len(a.holds))
	for i, h := range a.holds {
		out[i] = a.export(h)
	}
	return out
}

// Hold returns the open hold with the given ID.
func (a Account) Hold(id string) (Hold, bool) {
	i := a.hold(id)
	if i < 0 {
		return Hold{}, false
	}
	return a.export(a.holds[i]), true
}

func (a Account) export(h hold) Hold {
	parts := make([]HoldPart, len(h.parts))
	for i, p := range h.parts {
		parts[i] = HoldPart{LotID: p.lot, Amount: a.money(p.amount)}
	}
	return Hold{ID: h.id, Amount: a.money(h.amount), Reference: h.reference, Placer: h.placer, Parts: parts,
		ExpiresAt: h.expiresAt, CreatedAt: h.createdAt}
}

func (a Account) hold(id string) int {
	for i, h := range a.holds {
		if h.id == id {
			return i
		}
	}
	return -1
}

func (a Account) lot(id string) int {
	for i, l := range a.lots {
		if l.id == id {
			return i
		}
	}
	return -1
}

// clone copies the slices so that the result can be changed freely. A
// hold's parts are never changed in place (a hold is placed whole and
// removed whole), so the copies share them.
func (a Account) clone() Account {
	a.lots = slices.Clone(a.lots)
	a.holds = slices.Clone(a.holds)
	return a
}

// journal records a change already applied to a as its next entry; amount
// and held are the changes to the balance and to the held amount.
func (a *Account) journal(kind EntryKind, amount, held int64, ref, key string, now time.Time) Entry {
	e := Entry{
		Owner: a.owner, Currency: a.currency, Seq: a.nextSeq, Kind: kind,
		Amount: a.money(amount), Held: a.money(held), BalanceAfter: a.Balance(), AvailableAfter: a.Available(),
		Reference: ref, Key: key, At: now,
	}
	a.nextSeq++
	a.updatedAt = now
	return e
}

func (a Account) fail(op string, err error) *Error {
	return &Error{Op: op, Owner: a.owner, Currency: a.currency, Err: err}
}

// checkAmount returns amount in minor units if it is positive and in the
// account's currency.
func (a Account) checkAmount(op string, amount giftkit.Money) (int64, *Error) {
	if amount.Currency() != a.currency {
		e := a.fail(op, giftkit.ErrCurrencyMismatch)
		e.Amount = amount
		return 0, e
	}
	if !amount.IsPositive() {
		e := a.fail(op, ErrInvalidAmount)
		e.Amount = amount
		return 0, e
	}
	return amount.Minor(), nil
}

// CreditSpec describes a credit to an account.
type CreditSpec struct {
	Kind   EntryKind     // EntryCredit for a redeemed card, EntryRefund for money returned, EntryAdjustment for an operator's credit
	Amount giftkit.Money // positive, in the account's currency
	// Class is the value class of the credit; zero means the kind's:
	// purchased for EntryCredit, refund for EntryRefund, adjustment for
	// EntryAdjustment.
	Class     giftkit.ValueClass
	ExpiresAt time.Time // when the credit lapses; zero means never
	Source    string    // what the money came from: a card ID, or a refund's reference (the new lot's Source)
	Reference string    // what the entry is about (the entry's Reference)
}

// Credit adds c.Amount to the balance as a lot that expires at c.ExpiresAt,
// recording the call's idempotency key in the entry. It fails with
// [ErrInvalidAmount] for a non-positive amount or one the balance cannot
// hold, and with giftkit.ErrCurrencyMismatch.
func (a Account) Credit(c CreditSpec, key string, now time.Time) (Account, Entry, error) {
	op := c.Kind.String()
	amount, err := a.checkAmount(op, c.Amount)
	if err != nil {
		return a, Entry{}, err
	}
	if amount > math.MaxInt64-a.balance {
		e := a.fail(op, ErrInvalidAmount)
		e.Amount, e.Detail = c.Amount, "the balance would exceed the largest amount"
		return a, Entry{}, e
	}
	class := c.Class
	if class == 0 {
		class = c.Kind.class()
	}
	if !class.IsValid() {
		e := a.fail(op, ErrInvalidAmount)
		e.Amount, e.Detail = c.Amount, "unknown value class "+class.String()
		return a, Entry{}, e
	}
	a = a.clone()
	a.balance += amount
	// Keep lots in spending order (see lotBefore). Credits of one class
	// with the same expiry share a lot: the order in which they are spent
	// makes no difference, and it bounds an account's lots by its distinct
	// expiries and classes rather than by its credits. A lot's remaining is
	// at most the balance, so it cannot overflow either.
	i := sort.Search(len(a.lots), func(i int) bool {
		return !lotBefore(a.lots[i].expiresAt, a.lots[i].class, c.ExpiresAt, class)
	})
	if i < len(a.lots) && a.lots[i].expiresAt.Equal(c.ExpiresAt) && a.lots[i].class == class {
		a.lots[i].remaining += amount
	} else {
		a.lots = append(a.lots, lot{})
		copy(a.lots[i+1:], a.lots[i:])
		a.lots[i] = lot{id: "lot-" + strconv.FormatInt(a.nextSeq, 10), source: c.Source, remaining: amount,
			class: class, expiresAt: c.ExpiresAt, createdAt: now}
	}
	return a, a.journal(c.Kind, amount, 0, c.Reference, key, now), nil
}

// expiresBefore orders expiries, with zero (never) after every instant.
func expiresBefore(x, y time.Time) bool {
	if x.IsZero() || y.IsZero() {
		return !x.IsZero() && y.IsZero()
	}
	return x.Before(y)
}

// PlacerWallet is the [Hold.Placer] of holds placed through [Service.Hold]
// and [Service.Debit].
const PlacerWallet = "wallet"

// HoldSpec describes a hold to place on an account.
type HoldSpec struct {
	ID        string        // unique among the account's open holds
	Placer    string        // the party that alone may capture or release it (see [Hold.Placer])
	Amount    giftkit.Money // positive, in the account's currency
	Reference string        // what the hold is for, such as a payment ID
	ExpiresAt time.Time     // when it lapses if neither captured nor released; zero means never
}

// PlaceHold reserves h.Amount of the available balance for h.Placer, from
// the credits that expire soonest, recording the call's idempotency key in
// the entry. It fails with [ErrInsufficientFunds] if the unexpired
// available balance is lower, with [ErrDuplicateHold] if a hold with that
// ID is open, with [ErrInvalidExpiry] if h.ExpiresAt is not after now, and
// with [ErrInvalidAmount] or giftkit.ErrCurrencyMismatch.
func (a Account) PlaceHold(h HoldSpec, key string, now time.Time) (Account, Entry, error) {
	amount, err := a.checkAmount("hold", h.Amount)
	if err != nil {
		return a, Entry{}, err
	}
	if !h.ExpiresAt.IsZero() && !h.ExpiresAt.After(now) {
		e := a.fail("hold", ErrInvalidExpiry)
		e.Amount, e.HoldID = h.Amount, h.ID
		e.Detail = "expiry " + h.ExpiresAt.UTC().Format(time.RFC3339Nano) + " is not after " + now.UTC().Format(time.RFC3339Nano)
		return a, Entry{}, e
	}
	if a.hold(h.ID) >= 0 {
		e := a.fail("hold", ErrDuplicateHold)
		e.HoldID = h.ID
		return a, Entry{}, e
	}
	orig := a
	a = a.clone()
	need := amount
	var parts []part
	for i := range a.lots {
		l := &a.lots[i]
		if need == 0 {
			break
		}
		if l.expired(now) || l.remaining == l.reserved {
			continue
		}
		take := min(l.remaining-l.reserved, need)
		l.reserved += take
		need -= take
		parts = append(parts, part{lot: l.id, amount: take})
	}
	if need > 0 {
		e := a.fail("hold", ErrInsufficientFunds)
		e.Amount, e.Available = h.Amount, a.money(amount-need)
		return orig, Entry{}, e
	}
	a.held += amount
	a.holds = append(a.holds, hold{id: h.ID, reference: h.Reference, placer: h.Placer, amount: amount, parts: parts,
		expiresAt: h.ExpiresAt, createdAt: now})
	return a, a.journal(EntryHold, 0, amount, h.Reference, key, now), nil
}

// openHold returns the index of the open hold holdID if placer placed it.
// It fails with [ErrHoldNotFound] or [ErrForeignHold].
func (a Account) openHold(op, holdID, placer string) (int, error) {
	i := a.hold(holdID)
	switch {
	case i < 0:
		e := a.fail(op, ErrHoldNotFound)
		e.HoldID = holdID
		return -1, e
	case a.holds[i].placer != placer:
		e := a.fail(op, ErrForeignHold)
		e.HoldID = holdID
		return -1, e
	}
	return i, nil
}

// Release closes an open hold that placer placed without spending it,
// making its amount available again. It fails with [ErrHoldNotFound] or
// [ErrForeignHold].
func (a Account) Release(holdID, placer, key string, now time.Time) (Account, Entry, error) {
	i, err := a.openHold("release", holdID, placer)
	if err != nil {
		return a, Entry{}, err
	}
	a, e := a.release(i, key, now)
	return a, e, nil
}

// release closes hold i without spending it.
func (a Account) release(i int, key string, now time.Time) (Account, Entry) {
	a = a.clone()
	h := a.holds[i]
	a.unreserve(h.parts)
	a.holds = append(a.holds[:i], a.holds[i+1:]...)
	a.held -= h.amount
	return a, a.journal(EntryRelease, 0, -h.amount, h.reference, key, now)
}

// unreserve returns the parts' amounts to their lots' free balance.
func (a *Account) unreserve(parts []part) {
	for _, p := range parts {
		if j := a.lot(p.lot); j >= 0 {
			a.lots[j].reserved -= p.amount
		}
	}
}

// Capture spends amount of an open hold that placer placed, from the hold's
// soonest-expiring credits first, and releases the rest of the hold: a
// capture of less than the hold is a partial capture, and the hold is closed
// either way. It returns a capture entry and, after a partial capture, a
// release entry. It fails with [ErrHoldNotFound], [ErrForeignHold], with
// [ErrExceedsHold] if amount is more than the hold, and with
// [ErrInvalidAmount] or giftkit.ErrCurrencyMismatch.
func (a Account) Capture(holdID, placer string, amount giftkit.Money, key string, now time.Time) (Account, []Entry, error) {
	spend, err := a.checkAmount("capture", amount)
	if err != nil {
		return a, nil, err
	}
	i, oerr := a.openHold("capture", holdID, placer)
	if oerr != nil {
		return a, nil, oerr
	}
	h := a.holds[i]
	if spend > h.amount {
		e := a.fail("capture", ErrExceedsHold)
		e.HoldID, e.Amount, e.Available = holdID, amount, a.money(h.amount)
		return a, nil, e
	}
	a = a.clone()
	a.unreserve(h.parts)
	left := spend
	for _, p := range h.parts {
		if j := a.lot(p.lot); j >= 0 && left > 0 {
			take := min(p.amount, left)
			a.lots[j].remaining -= take
			left -= take
		}
	}
	a.dropEmptyLots()
	a.holds = append(a.holds[:i], a.holds[i+1:]...)
	a.balance -= spend
	a.held -= spend
	entries := []Entry{a.journal(EntryCapture, -spend, -spend, h.reference, key, now)}
	if rest := h.amount - spend; rest > 0 {
		a.held -= rest
		entries = append(entries, a.journal(EntryRelease, 0, -rest, h.reference, key, now))
	}
	return a, entries, nil
}

func (a *Account) dropEmptyLots() {
	kept := a.lots[:0]
	for _, l := range a.lots {
		if l.remaining != 0 {
			kept = append(kept, l)
		}
	}
	a.lots = kept
}

// Sweep applies the passage of time: it releases every hold whose expiry has
// passed and removes the unreserved part of every expired credit, with a
// release or expiry entry for each. It changes nothing if nothing is due.
// Services sweep an account every time they touch it (see [UpdateAccount]).
func (a Account) Sweep(now time.Time) (Account, []Entry) {
	var entries []Entry
	for i := 0; i < len(a.holds); {
		if h := a.holds[i]; h.expiresAt.IsZero() || now.Before(h.expiresAt) {
			i++
			continue
		}
		var e Entry
		a, e = a.release(i, "", now)
		entries = append(entries, e)
	}
	for _, l := range a.lots {
		free := l.remaining - l.reserved
		if !l.expired(now) || free == 0 {
			continue
		}
		if len(entries) == 0 {
			a = a.clone()
		}
		a.lots[a.lot(l.id)].remaining -= free
		a.balance -= free
		entries = append(entries, a.journal(EntryExpiry, -free, 0, l.source, "", now))
	}
	if len(entries) > 0 {
		a.dropEmptyLots()
	}
	return a, entries
}

// TakeSpec describes money taken out of an account's available balance
// without a payment: an operator's downward adjustment or a clawback.
type TakeSpec struct {
	Kind      EntryKind          // EntryAdjustment or EntryClawback
	Amount    giftkit.Money      // positive, in the account's currency
	Partial   bool               // take what is available, up to Amount, rather than fail when it is less
	Class     giftkit.ValueClass // take first from the lots of this class (a clawed-back card's), then the others; zero: in spending order only
	Reference string             // what the entry is about (the entry's Reference)
	// Only, if not empty, are the only classes taken from: a fee the rules
	// allow on some classes of value never touches the others.
	Only []giftkit.ValueClass
}

func (t TakeSpec) takes(c giftkit.ValueClass) bool {
	return len(t.Only) == 0 || slices.Contains(t.Only, c)
}

// Take removes t.Amount from the available balance, from the lots of
// class t.Class first and then from the others, each in spending order, never from what holds
// reserve or from expired credit, and never below zero. It returns the account, the entry, and
// what it took: t.Amount, or with t.Partial possibly less (zero, with no
// entry, when nothing is available). Without t.Partial it fails with
// [ErrInsufficientFunds] if less is available; it fails with
// [ErrInvalidAmount] or giftkit.ErrCurrencyMismatch.
func (a Account) Take(t TakeSpec, key string, now time.Time) (Account, []Entry, giftkit.Money, error) {
	amount, err := a.checkAmount(t.Kind.String(), t.Amount)
	if err != nil {
		return a, nil, giftkit.Money{}, err
	}
	var free int64 // the unexpired available balance, of the classes that may be taken
	for _, l := range a.lots {
		if !l.expired(now) && t.takes(l.class) {
			free += l.remaining - l.reserved
		}
	}
	if free < amount && !t.Partial {
		e := a.fail(t.Kind.String(), ErrInsufficientFunds)
		e.Amount, e.Available = t.Amount, a.money(free)
		return a, nil, giftkit.Money{}, e
	}
	take := min(free, amount)
	if take == 0 {
		return a, nil, a.money(0), nil
	}
	a = a.clone()
	left := take
	for pass := 0; pass < 2 && left > 0; pass++ { // the preferred class, then all of them
		for i := range a.lots {
			l := &a.lots[i]
			if l.expired(now) || !t.takes(l.class) || (pass == 0 && (t.Class == 0 || l.class != t.Class)) {
				continue
			}
			n := min(l.remaining-l.reserved, left)
			l.remaining -= n
			left -= n
		}
	}
	a.dropEmptyLots()
	a.balance -= take
	return a, []Entry{a.journal(t.Kind, -take, 0, t.Reference, key, now)}, a.money(take), nil
}
