package wallet

import (
	"slices"
	"time"

	"github.com/giftkit/giftkit"
)

// This file is the one place value moves between accounts (a card's to
// another card, or to a shopper's account) and the place a load pushes the
// validity of value out.

// A Parcel is value taken out of one account by [Account.TransferOut], as
// the lots it came from: each keeps its class and expiry, so the account it
// goes to spends and expires it as the first one would have.
type Parcel struct {
	Class     giftkit.ValueClass // the value class of the lot it came from
	Amount    giftkit.Money      // positive
	ExpiresAt time.Time          // the lot's expiry; zero means never
}

// TransferOut takes amount of the available balance out in spending order
// (see [Account.Take]: never what holds reserve, never expired credit), for
// another account, whose owner ref names (the entry's Reference: a
// clawback follows it), and returns the account, its EntryTransfer entry (−) and
// the parcels taken, one per lot touched, in spending order. With partial
// it takes what is available up to amount, and nothing (no entry, no
// parcel) when nothing is. It fails with [ErrInsufficientFunds] (without
// partial), [ErrInvalidAmount] or giftkit.ErrCurrencyMismatch.
func (a Account) TransferOut(amount giftkit.Money, partial bool, ref, key string, now time.Time) (Account, []Entry, []Parcel, error) {
	var parcels []Parcel
	before := a
	a, entries, took, err := a.Take(TakeSpec{Kind: EntryTransfer, Amount: amount, Partial: partial, Reference: ref}, key, now)
	if err != nil || len(entries) == 0 {
		return a, entries, nil, err
	}
	// What each lot lost is the parcel it gives: Take keeps the others.
	left := took.Minor()
	for _, l := range before.lots {
		if left == 0 {
			break
		}
		after := int64(0)
		if i := a.lot(l.id); i >= 0 {
			after = a.lots[i].remaining
		}
		if n := l.remaining - after; n > 0 {
			parcels = append(parcels, Parcel{Class: l.class, Amount: a.money(n), ExpiresAt: l.expiresAt})
			left -= n
		}
	}
	return a, entries, parcels, nil
}

// TransferIn credits parcels taken from another account (see
// [Account.TransferOut]), each with its class and with its expiry moved by
// expiry (nil keeps it), with one EntryTransfer entry (+) for each.
func (a Account) TransferIn(parcels []Parcel, expiry func(time.Time) time.Time, source, ref, key string, now time.Time) (Account, []Entry, error) {
	entries := make([]Entry, 0, len(parcels))
	for _, p := range parcels {
		exp := p.ExpiresAt
		if expiry != nil {
			exp = expiry(exp)
		}
		var e Entry
		var err error
		if a, e, err = a.Credit(CreditSpec{Kind: EntryTransfer, Class: p.Class, Amount: p.Amount, ExpiresAt: exp,
			Source: source, Reference: ref}, key, now); err != nil {
			return a, nil, err
		}
		entries = append(entries, e)
	}
	return a, entries, nil
}

// Extend moves the expiry of every credit that expires before until out to
// until, as a load does under a programme whose validity counts from the
// last load. Credits that never expire, or expire later, keep their
// expiry; lots that come to share a class and an expiry are merged, and
// holds keep what they reserve. It writes no entry (the balance does not
// change): the load that causes it does.
func (a Account) Extend(until time.Time) Account {
	if until.IsZero() {
		return a
	}
	moved := false
	for _, l := range a.lots {
		if !l.expiresAt.IsZero() && l.expiresAt.Before(until) {
			moved = true
			break
		}
	}
	if !moved {
		return a
	}
	a = a.clone()
	for i := range a.lots {
		if l := &a.lots[i]; !l.expiresAt.IsZero() && l.expiresAt.Before(until) {
			l.expiresAt = until
		}
	}
	// Keep spending order (see lotBefore), then merge the lots that now
	// share a class and an expiry.
	slices.SortStableFunc(a.lots, func(x, y lot) int {
		switch {
		case lotBefore(x.expiresAt, x.class, y.expiresAt, y.class):
			return -1
		case lotBefore(y.expiresAt, y.class, x.expiresAt, x.class):
			return 1
		}
		return 0
	})
	rename := map[string]string{}
	lots := a.lots[:0]
	for _, l := range a.lots {
		if n := len(lots); n > 0 && lots[n-1].expiresAt.Equal(l.expiresAt) && lots[n-1].class == l.class {
			lots[n-1].remaining += l.remaining
			lots[n-1].reserved += l.reserved
			rename[l.id] = lots[n-1].id
			continue
		}
		lots = append(lots, l)
	}
	a.lots = lots
	if len(rename) > 0 {
		for i, h := range a.holds {
			parts := make([]part, 0, len(h.parts))
			for _, p := range h.parts {
				if to, ok := rename[p.lot]; ok {
					p.lot = to
				}
				if n := len(parts); n > 0 && parts[n-1].lot == p.lot {
					parts[n-1].amount += p.amount
					continue
				}
				parts = append(parts, p)
			}
			a.holds[i].parts = parts
		}
	}
	return a
}
