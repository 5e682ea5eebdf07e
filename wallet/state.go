package wallet

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
)

// AccountState is everything an [Account] is made of, in the form a store
// keeps: [Account.State] takes it apart and [RestoreAccount] puts it back
// together. Balance and Held are not part of it: they are the sums of the
// lots, which RestoreAccount recomputes.
type AccountState struct {
	Owner     string           // the account's owner
	Currency  giftkit.Currency // the account's currency, that of every amount in Lots and Holds; never zero
	Lots      []Lot            // soonest expiry first, credits that never expire last
	Holds     []Hold           // oldest first
	NextSeq   int64            // the sequence number of the next journal entry, from 1
	UpdatedAt time.Time        // the time of the last journal entry; zero for an account never changed
	Head      activity.Head    // the end of the account's chain of activity records; zero for an account never changed
}

// State returns the account's state, sharing no memory with it.
func (a Account) State() AccountState {
	return AccountState{Owner: a.owner, Currency: a.currency, Lots: a.Lots(), Holds: a.Holds(),
		NextSeq: a.nextSeq, UpdatedAt: a.updatedAt, Head: a.head}
}

// ErrCorrupt: an [AccountState] breaks the rules every account keeps, so it
// cannot have come from [Account.State]. A store that returns it has lost
// or changed data.
var ErrCorrupt = errors.New("wallet: corrupt account state")

// RestoreAccount returns the account whose state s is (see
// [Account.State]). It checks every rule an account keeps (amounts in its
// currency; 0 ≤ reserved ≤ remaining for each lot; lots of known
// classes in spending order; each hold the sum of its parts, each part on an existing lot, each
// lot's reserved the sum of the parts on it; sums within range; NextSeq ≥
// 1) and fails with an error wrapping [ErrCorrupt] if one is broken, so a
// damaged row never becomes a balance.
func RestoreAccount(s AccountState) (Account, error) {
	a := Account{owner: s.Owner, currency: s.Currency, nextSeq: s.NextSeq, updatedAt: s.UpdatedAt, head: s.Head}
	fail := func(format string, args ...any) (Account, error) {
		return Account{}, fmt.Errorf("%w: %s/%s: %s", ErrCorrupt, s.Owner, s.Currency, fmt.Sprintf(format, args...))
	}
	if !s.Currency.IsValid() || s.NextSeq < 1 {
		return fail("no currency, or next sequence number %d", s.NextSeq)
	}
	minor := func(m giftkit.Money) (int64, bool) { return m.Minor(), m.Currency() == s.Currency && !m.IsNegative() }
	reserved := make(map[string]int64, len(s.Lots))
	for i, l := range s.Lots {
		rem, ok1 := minor(l.Remaining)
		res, ok2 := minor(l.Reserved)
		switch {
		case !ok1 || !ok2 || rem == 0 || res > rem:
			return fail("lot %q holds %v of which %v reserved", l.ID, l.Remaining, l.Reserved)
		case rem > math.MaxInt64-a.balance:
			return fail("the lots sum to more than the largest amount")
		case !l.Class.IsValid():
			return fail("lot %q has no value class", l.ID)
		case i > 0 && !lotBefore(s.Lots[i-1].ExpiresAt, s.Lots[i-1].Class, l.ExpiresAt, l.Class):
			return fail("lot %q is out of order of expiry and class", l.ID)
		}
		if _, dup := reserved[l.ID]; dup {
			return fail("two lots are named %q", l.ID)
		}
		reserved[l.ID] = res
		a.balance += rem
		a.lots = append(a.lots, lot{id: l.ID, source: l.Source, class: l.Class, remaining: rem, reserved: res,
			expiresAt: l.ExpiresAt, createdAt: l.CreatedAt})
	}
	for _, h := range s.Holds {
		amount, ok := minor(h.Amount)
		mark := h.ID == BlockHoldID && h.Placer == PlacerBlock && len(h.Parts) == 0 // a block on an empty card
		if !ok || (amount == 0 && !mark) || a.hold(h.ID) >= 0 {
			return fail("hold %q of %v", h.ID, h.Amount)
		}
		held := hold{id: h.ID, reference: h.Reference, placer: h.Placer, amount: amount,
			expiresAt: h.ExpiresAt, createdAt: h.CreatedAt}
		for _, p := range h.Parts {
			n, ok := minor(p.Amount)
			left, exists := reserved[p.LotID]
			if !ok || n == 0 || !exists || n > left || n > amount {
				return fail("hold %q reserves %v of lot %q", h.ID, p.Amount, p.LotID)
			}
			reserved[p.LotID] -= n
			amount -= n
			held.parts = append(held.parts, part{lot: p.LotID, amount: n})
		}
		if amount != 0 {
			return fail("hold %q is not the sum of its parts", h.ID)
		}
		a.held += held.amount
		a.holds = append(a.holds, held)
	}
	for id, left := range reserved {
		if left != 0 {
			return fail("lot %q reserves %d minor units no hold accounts for", id, left)
		}
	}
	return a, nil
}
