package wallet

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/giftkit/giftkit"
)

// An Account is one owner's balance in one currency, with the credits that
// make it up (lots) and the amounts reserved for pending payments (holds).
//
//	Balance   = Σ lot.Remaining = Σ entry.Amount over the journal
//	Held      = Σ lot.Reserved  = Σ hold.Amount  = Σ entry.Held
//	Available = Balance − Held ≥ 0
//
// Account is a value: its methods return a new Account and the journal
// entries that record the change, and never modify the receiver (they copy
// the slices they change). The zero Account is not valid; [NewAccount] makes
// an empty one.
type Account struct {
	Owner     string
	Currency  giftkit.Currency
	Balance   giftkit.Money
	Held      giftkit.Money
	Lots      []Lot  // sorted by expiry, soonest first; credits that never expire last
	Holds     []Hold // open holds
	NextSeq   int64  // the sequence number of the next journal entry, from 1
	Version   int64  // incremented by every change
	UpdatedAt time.Time
}

// A Lot is the credit of an account that expires at one instant (or never),
// spent in order of expiry.
type Lot struct {
	ID        string        // unique within the account: "lot-" and the sequence number of its first entry
	Source    string        // what the first credit with this expiry came from: a card ID or a refund's reference
	Remaining giftkit.Money // not yet spent or expired
	Reserved  giftkit.Money // the part of Remaining that holds reserve
	ExpiresAt time.Time     // zero means never
	CreatedAt time.Time
}

func (l Lot) free() (giftkit.Money, error) { return l.Remaining.Sub(l.Reserved) }

func (l Lot) expired(now time.Time) bool { return !l.ExpiresAt.IsZero() && !now.Before(l.ExpiresAt) }

// A Hold reserves part of the balance for a payment until it is captured,
// released or expires.
type Hold struct {
	ID        string
	Amount    giftkit.Money
	Reference string // what the hold is for, such as a payment ID
	// Placer is the party that placed the hold and alone may capture or
	// release it: [PlacerWallet] for [Service.Hold], the checkout package
	// for a payment's balance part.
	Placer    string
	Parts     []HoldPart
	ExpiresAt time.Time // released automatically from then on
	CreatedAt time.Time
}

// A HoldPart is the amount a hold reserves of one lot.
type HoldPart struct {
	LotID  string
	Amount giftkit.Money
}

// EntryKind says what an [Entry] records.
type EntryKind uint8

// The kinds of journal entries.
const (
	EntryCredit  EntryKind = iota + 1 // a redeemed card's value
	EntryHold                         // part of the balance reserved for a payment
	EntryRelease                      // a hold released, in part or whole
	EntryCapture                      // held money spent
	EntryRefund                       // money returned to the balance
	EntryExpiry                       // an expired credit leaves the balance
)

var kindNames = [...]string{"", "credit", "hold", "release", "capture", "refund", "expiry"}

// String returns the kind's lower-case name, such as "credit".
func (k EntryKind) String() string {
	if k != 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("EntryKind(%d)", uint8(k))
}

// MarshalText encodes the kind as its name.
func (k EntryKind) MarshalText() ([]byte, error) {
	if k == 0 || int(k) >= len(kindNames) {
		return nil, fmt.Errorf("wallet: marshal invalid %v", k)
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText decodes a kind's name.
func (k *EntryKind) UnmarshalText(text []byte) error {
	for i, name := range kindNames {
		if i > 0 && name == string(text) {
			*k = EntryKind(i)
			return nil
		}
	}
	return fmt.Errorf("wallet: unknown entry kind %q", text)
}

// An Entry is one line of an account's append-only journal.
type Entry struct {
	Owner          string
	Currency       giftkit.Currency
	Seq            int64 // 1, 2, 3, ... within the account
	Kind           EntryKind
	Amount         giftkit.Money // the change to the balance: + credit, refund; − capture, expiry; 0 hold, release
	Held           giftkit.Money // the change to the held amount: + hold; − release, capture
	BalanceAfter   giftkit.Money
	AvailableAfter giftkit.Money
	Reference      string // the card, hold, payment or order the entry is about
	Key            string // the idempotency key of the call that wrote it; empty for sweeps
	At             time.Time
}

// NewAccount returns an empty account.
func NewAccount(owner string, c giftkit.Currency) Account {
	zero := giftkit.Zero(c)
	return Account{Owner: owner, Currency: c, Balance: zero, Held: zero, NextSeq: 1}
}

// Available returns the balance minus open holds: what can be spent now.
func (a Account) Available() giftkit.Money {
	av, err := a.Balance.Sub(a.Held)
	if err != nil { // impossible while Held ≤ Balance, which every transition keeps
		return giftkit.Zero(a.Currency)
	}
	return av
}

// clone copies the slices so that the result can be changed freely.
func (a Account) clone() Account {
	a.Lots = append([]Lot(nil), a.Lots...)
	holds := make([]Hold, len(a.Holds))
	for i, h := range a.Holds {
		h.Parts = append([]HoldPart(nil), h.Parts...)
		holds[i] = h
	}
	a.Holds = holds
	return a
}

// Clone returns a deep copy of a, sharing no memory with it. Stores use it
// to copy accounts in and out.
func (a Account) Clone() Account { return a.clone() }

// journal appends an entry for a change already applied to a.
func (a *Account) journal(kind EntryKind, amount, held giftkit.Money, ref, key string, now time.Time) Entry {
	e := Entry{
		Owner: a.Owner, Currency: a.Currency, Seq: a.NextSeq, Kind: kind,
		Amount: amount, Held: held, BalanceAfter: a.Balance, AvailableAfter: a.Available(),
		Reference: ref, Key: key, At: now,
	}
	a.NextSeq++
	a.Version++
	a.UpdatedAt = now
	return e
}

// mathError turns an arithmetic failure (overflow) into an account error.
func (a Account) mathError(op string, err error) *Error {
	return &Error{Op: op, Owner: a.Owner, Currency: a.Currency, Detail: err.Error(), Err: ErrInvalidAmount}
}

func (a Account) checkAmount(op string, amount giftkit.Money) *Error {
	switch {
	case amount.Currency() != a.Currency:
		return &Error{Op: op, Owner: a.Owner, Currency: a.Currency, Amount: amount, Err: giftkit.ErrCurrencyMismatch}
	case !amount.IsPositive():
		return &Error{Op: op, Owner: a.Owner, Currency: a.Currency, Amount: amount, Err: ErrInvalidAmount}
	}
	return nil
}

// Credit adds amount to the balance as a new lot that expires at expiresAt
// (zero: never), recording source (the card ID, or the refund's reference)
// as its origin. kind is [EntryCredit] for a redeemed card or [EntryRefund]
// for money returned. It fails with [ErrInvalidAmount] for
// a non-positive amount or one the balance cannot hold, and with
// [giftkit.ErrCurrencyMismatch].
func (a Account) Credit(kind EntryKind, source string, amount giftkit.Money, expiresAt time.Time, ref, key string, now time.Time) (Account, Entry, error) {
	if err := a.checkAmount(kind.String(), amount); err != nil {
		return a, Entry{}, err
	}
	bal, err := a.Balance.Add(amount)
	if err != nil {
		return a, Entry{}, a.mathError(kind.String(), err)
	}
	a = a.clone()
	a.Balance = bal
	// Keep lots sorted, soonest expiry first and never-expiring last. Credits
	// with the same expiry share a lot: the order in which they are spent
	// makes no difference, and it bounds an account's lots by its distinct
	// expiries rather than by its credits.
	i := sort.Search(len(a.Lots), func(i int) bool { return !expiresBefore(a.Lots[i].ExpiresAt, expiresAt) })
	if i < len(a.Lots) && a.Lots[i].ExpiresAt.Equal(expiresAt) {
		if a.Lots[i].Remaining, err = a.Lots[i].Remaining.Add(amount); err != nil {
			return a, Entry{}, a.mathError(kind.String(), err)
		}
	} else {
		lot := Lot{ID: "lot-" + strconv.FormatInt(a.NextSeq, 10), Source: source, Remaining: amount,
			Reserved: giftkit.Zero(a.Currency), ExpiresAt: expiresAt, CreatedAt: now}
		a.Lots = append(a.Lots, Lot{})
		copy(a.Lots[i+1:], a.Lots[i:])
		a.Lots[i] = lot
	}
	return a, a.journal(kind, amount, giftkit.Zero(a.Currency), ref, key, now), nil
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

// PlaceHold reserves amount of the available balance for placer (see
// [Hold.Placer]), from the credits that expire soonest, until expiresAt
// (zero: until captured or released). It fails with [ErrInsufficientFunds]
// if the unexpired available balance is lower, with [ErrDuplicateHold] if a
// hold with that ID is open, with [ErrInvalidExpiry] if expiresAt is not
// after now, and with [ErrInvalidAmount] or [giftkit.ErrCurrencyMismatch].
func (a Account) PlaceHold(holdID, placer string, amount giftkit.Money, ref string, expiresAt time.Time, key string, now time.Time) (Account, Entry, error) {
	if err := a.checkAmount("hold", amount); err != nil {
		return a, Entry{}, err
	}
	if !expiresAt.IsZero() && !expiresAt.After(now) {
		return a, Entry{}, &Error{Op: "hold", Owner: a.Owner, Currency: a.Currency, Amount: amount, HoldID: holdID,
			Detail: "expiry " + expiresAt.UTC().Format(time.RFC3339Nano) + " is not after " + now.UTC().Format(time.RFC3339Nano), Err: ErrInvalidExpiry}
	}
	if _, ok := a.hold(holdID); ok {
		return a, Entry{}, &Error{Op: "hold", Owner: a.Owner, Currency: a.Currency, HoldID: holdID, Err: ErrDuplicateHold}
	}
	a = a.clone()
	need := amount
	var parts []HoldPart
	for i := range a.Lots {
		if !need.IsPositive() {
			break
		}
		l := &a.Lots[i]
		if l.expired(now) {
			continue
		}
		free, err := l.free()
		if err != nil || !free.IsPositive() {
			continue
		}
		take, _ := free.Min(need)
		l.Reserved, _ = l.Reserved.Add(take)
		need, _ = need.Sub(take)
		parts = append(parts, HoldPart{LotID: l.ID, Amount: take})
	}
	if need.IsPositive() {
		var avail giftkit.Money
		avail, _ = amount.Sub(need)
		return a, Entry{}, &Error{Op: "hold", Owner: a.Owner, Currency: a.Currency, Amount: amount, Available: avail, Err: ErrInsufficientFunds}
	}
	held, err := a.Held.Add(amount)
	if err != nil {
		return a, Entry{}, a.mathError("hold", err)
	}
	a.Held = held
	a.Holds = append(a.Holds, Hold{ID: holdID, Amount: amount, Reference: ref, Placer: placer, Parts: parts, ExpiresAt: expiresAt, CreatedAt: now})
	return a, a.journal(EntryHold, giftkit.Zero(a.Currency), amount, ref, key, now), nil
}

func (a Account) hold(id string) (int, bool) {
	for i, h := range a.Holds {
		if h.ID == id {
			return i, true
		}
	}
	return -1, false
}

// Hold returns the open hold with the given ID.
func (a Account) Hold(id string) (Hold, bool) {
	i, ok := a.hold(id)
	if !ok {
		return Hold{}, false
	}
	return a.Holds[i], true
}

func (a Account) lot(id string) int {
	for i, l := range a.Lots {
		if l.ID == id {
			return i
		}
	}
	return -1
}

// openHold returns the index of the open hold holdID if placer placed it.
// It fails with [ErrHoldNotFound] or [ErrForeignHold].
func (a Account) openHold(op, holdID, placer string) (int, error) {
	i, ok := a.hold(holdID)
	if !ok {
		return -1, &Error{Op: op, Owner: a.Owner, Currency: a.Currency, HoldID: holdID, Err: ErrHoldNotFound}
	}
	if a.Holds[i].Placer != placer {
		return -1, &Error{Op: op, Owner: a.Owner, Currency: a.Currency, HoldID: holdID, Err: ErrForeignHold}
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
	return a.release(i, key, now)
}

// release closes hold i without spending it.
func (a Account) release(i int, key string, now time.Time) (Account, Entry, error) {
	a = a.clone()
	h := a.Holds[i]
	a.unreserve(h.Parts)
	a.Holds = append(a.Holds[:i], a.Holds[i+1:]...)
	a.Held, _ = a.Held.Sub(h.Amount)
	neg, _ := h.Amount.Neg()
	return a, a.journal(EntryRelease, giftkit.Zero(a.Currency), neg, h.Reference, key, now), nil
}

// unreserve returns the parts' amounts to their lots' free balance.
func (a *Account) unreserve(parts []HoldPart) {
	for _, p := range parts {
		if j := a.lot(p.LotID); j >= 0 {
			a.Lots[j].Reserved, _ = a.Lots[j].Reserved.Sub(p.Amount)
		}
	}
}

// Capture spends amount of an open hold that placer placed, from the hold's soonest-expiring
// credits first, and releases the rest of the hold: a capture of less than
// the hold is a partial capture, and the hold is closed either way. It
// returns a capture entry and, after a partial capture, a release entry. It
// fails with [ErrHoldNotFound], [ErrForeignHold], with [ErrExceedsHold] if
// amount is more than the hold, and with [ErrInvalidAmount] or
// [giftkit.ErrCurrencyMismatch].
func (a Account) Capture(holdID, placer string, amount giftkit.Money, key string, now time.Time) (Account, []Entry, error) {
	if err := a.checkAmount("capture", amount); err != nil {
		return a, nil, err
	}
	i, err := a.openHold("capture", holdID, placer)
	if err != nil {
		return a, nil, err
	}
	if c, _ := amount.Cmp(a.Holds[i].Amount); c > 0 {
		return a, nil, &Error{Op: "capture", Owner: a.Owner, Currency: a.Currency, HoldID: holdID, Amount: amount, Available: a.Holds[i].Amount, Err: ErrExceedsHold}
	}
	a = a.clone()
	h := a.Holds[i]
	a.unreserve(h.Parts)
	left := amount
	for _, p := range h.Parts {
		j := a.lot(p.LotID)
		if j < 0 || !left.IsPositive() {
			continue
		}
		take, _ := p.Amount.Min(left)
		a.Lots[j].Remaining, _ = a.Lots[j].Remaining.Sub(take)
		left, _ = left.Sub(take)
	}
	a.dropEmptyLots()
	a.Holds = append(a.Holds[:i], a.Holds[i+1:]...)
	a.Balance, _ = a.Balance.Sub(amount)
	a.Held, _ = a.Held.Sub(amount)
	spent, _ := amount.Neg()
	entries := []Entry{a.journal(EntryCapture, spent, spent, h.Reference, key, now)}
	if rest, _ := h.Amount.Sub(amount); rest.IsPositive() {
		a.Held, _ = a.Held.Sub(rest)
		negRest, _ := rest.Neg()
		entries = append(entries, a.journal(EntryRelease, giftkit.Zero(a.Currency), negRest, h.Reference, key, now))
	}
	return a, entries, nil
}

func (a *Account) dropEmptyLots() {
	kept := a.Lots[:0]
	for _, l := range a.Lots {
		if !l.Remaining.IsZero() {
			kept = append(kept, l)
		}
	}
	a.Lots = kept
}

// Sweep applies the passage of time: it releases every hold whose expiry has
// passed and removes the unreserved part of every expired credit, with a
// release or expiry entry for each. It changes nothing if nothing is due.
// Services sweep an account every time they touch it.
func (a Account) Sweep(now time.Time) (Account, []Entry) {
	var entries []Entry
	for i := 0; i < len(a.Holds); {
		if h := a.Holds[i]; h.ExpiresAt.IsZero() || now.Before(h.ExpiresAt) {
			i++
			continue
		}
		var e Entry
		a, e, _ = a.release(i, "", now) // cannot fail: the hold is open
		entries = append(entries, e)
	}
	for _, l := range a.Lots {
		if !l.expired(now) {
			continue
		}
		free, _ := l.free()
		if !free.IsPositive() {
			continue
		}
		if len(entries) == 0 {
			a = a.clone()
		}
		j := a.lot(l.ID)
		a.Lots[j].Remaining, _ = a.Lots[j].Remaining.Sub(free)
		a.Balance, _ = a.Balance.Sub(free)
		neg, _ := free.Neg()
		entries = append(entries, a.journal(EntryExpiry, neg, giftkit.Zero(a.Currency), l.Source, "", now))
	}
	if len(entries) > 0 {
		a.dropEmptyLots()
	}
	return a, entries
}
