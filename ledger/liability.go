package ledger

import (
	"context"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
)

// A Liability is what the business owes its card and account holders at
// one instant: a contract liability under ASC 606 / IFRS 15.
//
// It counts the value of every sold card (activated, not redeemed, voided
// or expired; blocked cards included, since a review may return them) and
// every account's balance after its expired credit is removed, each as it
// stood at the instant. Pending cards (printed, not sold) owe nothing. A
// card's value moves to an account when it is redeemed, so no value is
// counted twice.
type Liability struct {
	At      time.Time         `json:"at"`      // the instant
	Lines   []LiabilityLine   `json:"lines"`   // per currency and value class, in order of currency code, then class
	Cohorts []LiabilityCohort `json:"cohorts"` // the same value by the month it entered
}

// A LiabilityLine is the liability in one currency and value class.
type LiabilityLine struct {
	Currency giftkit.Currency   `json:"currency"`
	Class    giftkit.ValueClass `json:"class"`
	Cards    giftkit.Money      `json:"cards"`    // on sold, unredeemed, unexpired cards
	Accounts giftkit.Money      `json:"accounts"` // on accounts
	Total    giftkit.Money      `json:"total"`    // Cards + Accounts
	// CardCount and AccountCount are how many cards and accounts hold
	// value of this class.
	CardCount    int `json:"card_count"`
	AccountCount int `json:"account_count"`
}

// A LiabilityCohort is the part of the liability in one currency and class
// that entered in one month: a card's by its issue month, an account
// credit's by the month the credit was made.
type LiabilityCohort struct {
	Month    string             `json:"month"` // "2006-01", UTC
	Currency giftkit.Currency   `json:"currency"`
	Class    giftkit.ValueClass `json:"class"`
	Cards    giftkit.Money      `json:"cards"`
	Accounts giftkit.Money      `json:"accounts"`
}

// Liability returns the liability at at (see [LiabilityOf]), reading the
// store's log.
func (s *Service) Liability(ctx context.Context, at time.Time) (Liability, error) {
	return LiabilityOf(s.Records(ctx, activity.Query{To: at.Add(time.Nanosecond)}), at)
}

type liabilitySums struct {
	cards, accounts int64
	nCards, nAccts  int
}

// LiabilityOf computes the liability at at from records in
// activity.BySubject order (each subject's records together, in order of
// Seq), such as [Service.Records] yields. Records after at are ignored. It
// holds one subject's records at a time.
func LiabilityOf(records iter.Seq2[activity.Record, error], at time.Time) (Liability, error) {
	lines := map[key]*liabilitySums{}
	cohorts := map[key]map[string]*[2]int64{} // [cards, accounts] by month
	currencies := map[string]giftkit.Currency{}
	addTo := func(k key, m string, card bool, n int64) error {
		l := lines[k]
		if l == nil {
			l = &liabilitySums{}
			lines[k] = l
		}
		byMonth := cohorts[k]
		if byMonth == nil {
			byMonth = map[string]*[2]int64{}
			cohorts[k] = byMonth
		}
		c := byMonth[m]
		if c == nil {
			c = new([2]int64)
			byMonth[m] = c
		}
		i := 1
		if card {
			i = 0
		}
		var err error
		if card {
			l.cards, err = sum(l.cards, n)
			l.nCards++
		} else {
			l.accounts, err = sum(l.accounts, n)
		}
		if err == nil {
			c[i], err = sum(c[i], n)
		}
		return err
	}
	for chain, err := range groups(records) {
		if err != nil {
			return Liability{}, err
		}
		switch chain[0].Subject.Kind {
		case activity.SubjectCard:
			c, ok, err := cardAt(chain, at)
			if err != nil {
				return Liability{}, err
			}
			if !ok || !owed(c, at) {
				continue
			}
			cur := c.Value.Currency()
			currencies[cur.Code()] = cur
			if err := addTo(key{cur.Code(), c.Class}, month(c.IssuedAt), true, c.Value.Minor()); err != nil {
				return Liability{}, err
			}
		case activity.SubjectAccount:
			a, ok, err := accountAt(chain, at)
			if err != nil {
				return Liability{}, err
			}
			if !ok {
				continue
			}
			currencies[a.Currency().Code()] = a.Currency()
			classes := map[giftkit.ValueClass]bool{}
			for _, l := range a.Lots() {
				k := key{a.Currency().Code(), l.Class}
				if err := addTo(k, month(l.CreatedAt), false, l.Remaining.Minor()); err != nil {
					return Liability{}, err
				}
				if !classes[l.Class] {
					classes[l.Class] = true
					lines[k].nAccts++
				}
			}
		}
	}
	out := Liability{At: at, Lines: []LiabilityLine{}, Cohorts: []LiabilityCohort{}}
	keys := make([]key, 0, len(lines))
	for k := range lines {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.code, b.code); c != 0 {
			return c
		}
		return int(a.class) - int(b.class)
	})
	for _, k := range keys {
		l, cur := lines[k], currencies[k.code]
		total, err := sum(l.cards, l.accounts)
		if err != nil {
			return Liability{}, err
		}
		out.Lines = append(out.Lines, LiabilityLine{Currency: cur, Class: k.class,
			Cards: giftkit.FromMinor(l.cards, cur), Accounts: giftkit.FromMinor(l.accounts, cur), Total: giftkit.FromMinor(total, cur),
			CardCount: l.nCards, AccountCount: l.nAccts})
		months := make([]string, 0, len(cohorts[k]))
		for m := range cohorts[k] {
			months = append(months, m)
		}
		slices.Sort(months)
		for _, m := range months {
			c := cohorts[k][m]
			out.Cohorts = append(out.Cohorts, LiabilityCohort{Month: m, Currency: cur, Class: k.class,
				Cards: giftkit.FromMinor(c[0], cur), Accounts: giftkit.FromMinor(c[1], cur)})
		}
	}
	return out, nil
}

// Total returns the liability's total in currency c: zero if it holds
// none. It fails with an error wrapping giftkit.ErrInvalid if the total
// exceeds the largest amount.
func (l Liability) Total(c giftkit.Currency) (giftkit.Money, error) {
	var n int64
	for _, line := range l.Lines {
		if line.Currency == c {
			var err error
			if n, err = sum(n, line.Total.Minor()); err != nil {
				return giftkit.Money{}, err
			}
		}
	}
	return giftkit.FromMinor(n, c), nil
}
