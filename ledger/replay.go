package ledger

import (
	"fmt"
	"math"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// The state of one card or account at an instant, rebuilt from its
// records: the snapshot of its last record at or before the instant, with
// the rules of its package applied up to it.

// cardAt returns the card as its last record at or before at left it;
// false if it did not exist yet.
func cardAt(chain []activity.Record, at time.Time) (giftcard.Card, bool, error) {
	last, ok := lastAt(chain, at)
	if !ok {
		return giftcard.Card{}, false, nil
	}
	c, err := giftcard.CardFromSnapshot(last.Snapshot)
	if err != nil {
		return c, false, fmt.Errorf("ledger: %s record %d: %w", last.Subject, last.Seq, err)
	}
	return c, true, nil
}

// owed reports whether the card's value is owed to a holder at at: it was
// sold (activated), is active or blocked (a blocked card may be unblocked
// and redeemed), and has not expired.
func owed(c giftcard.Card, at time.Time) bool {
	return (c.State == giftcard.StateActive || c.State == giftcard.StateBlocked) && !c.ActivatedAt.IsZero() && !c.Expired(at)
}

// accountAt returns the account as its last record at or before at left
// it, swept at at (expired credit and lapsed holds applied, as the wallet
// would if the account were read then); false if it did not exist yet.
func accountAt(chain []activity.Record, at time.Time) (wallet.Account, bool, error) {
	last, ok := lastAt(chain, at)
	if !ok {
		return wallet.Account{}, false, nil
	}
	state, err := wallet.StateFromSnapshot(last.Snapshot)
	if err == nil {
		var a wallet.Account
		if a, err = wallet.RestoreAccount(state); err == nil {
			a, _ = a.Sweep(at)
			return a, true, nil
		}
	}
	return wallet.Account{}, false, fmt.Errorf("ledger: %s record %d: %w", last.Subject, last.Seq, err)
}

// lastAt returns the last record of chain (in order of Seq) made at or
// before at.
func lastAt(chain []activity.Record, at time.Time) (activity.Record, bool) {
	for i := len(chain) - 1; i >= 0; i-- {
		if !chain[i].At.After(at) {
			return chain[i], true
		}
	}
	return activity.Record{}, false
}

// month is the calendar month of t in UTC, as "2006-01".
func month(t time.Time) string { return t.UTC().Format("2006-01") }

// monthsBetween counts the whole calendar months from from to to (UTC): 0
// within the month of from.
func monthsBetween(from, to time.Time) int {
	f, t := from.UTC(), to.UTC()
	n := (t.Year()-f.Year())*12 + int(t.Month()) - int(f.Month())
	return max(n, 0)
}

// sum adds minor units, failing rather than overflowing.
func sum(a, b int64) (int64, error) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, fmt.Errorf("ledger: a total exceeds the largest amount: %w", giftkit.ErrInvalid)
	}
	return a + b, nil
}

// key names a line of a report: a currency (by code, which orders lines)
// and a value class.
type key struct {
	code  string
	class giftkit.ValueClass
}
