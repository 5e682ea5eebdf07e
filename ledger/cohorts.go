package ledger

import (
	"context"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
)

// A Cohort is what became of the cards of one currency and value class
// issued in one month, as of an instant: the inputs of breakage (the value
// expected never to be redeemed, recognised under ASC 606 / IFRS 15 in
// proportion to redemptions) and the cohort's redemption curve. Only sold
// cards count: a pending card that was never activated is not in any
// cohort. A card clawed back after its redemption stays redeemed here: the
// value was taken back from the account it went to (see the account's
// activity), not from the card.
//
//	Sold = Redeemed + Removed + Expired + Outstanding
type Cohort struct {
	Month    string             `json:"month"` // the issue month, "2006-01", UTC
	Currency giftkit.Currency   `json:"currency"`
	Class    giftkit.ValueClass `json:"class"`
	Cards    int                `json:"cards"` // cards sold
	// Sold is the value of the cards when they were sold, plus any
	// operator's upward adjustment after.
	Sold giftkit.Money `json:"sold"`
	// Redeemed is the value credited to accounts by redemption.
	Redeemed giftkit.Money `json:"redeemed"`
	// Removed is value taken off cards before redemption: voided,
	// adjusted down, clawed back.
	Removed giftkit.Money `json:"removed"`
	// Expired is the value of cards that expired unredeemed.
	Expired giftkit.Money `json:"expired"`
	// Outstanding is the value still on sold, unexpired cards.
	Outstanding giftkit.Money `json:"outstanding"`
	// Curve is the redemption curve: for each whole month since the issue
	// month, from 0 to the month of the instant, the value redeemed by
	// then, and its share of Sold.
	Curve []CurvePoint `json:"curve"`
}

// A CurvePoint is a point of a redemption curve.
type CurvePoint struct {
	Months   int           `json:"months"`   // whole calendar months since the issue month: 0 is the issue month itself
	Redeemed giftkit.Money `json:"redeemed"` // redeemed by the end of that month, cumulative
	// Share is Redeemed / Sold as a decimal with four places, such as
	// "0.4375": exact decimal arithmetic, never a float.
	Share string `json:"share"`
}

// Cohorts returns the cohorts as of at (see [CohortsOf]), reading the
// store's cards' records.
func (s *Service) Cohorts(ctx context.Context, at time.Time) ([]Cohort, error) {
	return CohortsOf(s.Records(ctx, activity.Query{Kind: activity.SubjectCard, To: at.Add(time.Nanosecond)}), at)
}

type cohortSums struct {
	cur                                           giftkit.Currency
	cards                                         int
	sold, redeemed, removed, expired, outstanding int64
	byMonth                                       map[int]int64 // redeemed in each month since issue
}

// CohortsOf computes the cohorts as of at from records in
// activity.BySubject order; records of accounts, and records after at, are
// ignored. It holds one card's records at a time.
func CohortsOf(records iter.Seq2[activity.Record, error], at time.Time) ([]Cohort, error) {
	type cohortKey struct {
		month string
		key
	}
	sums := map[cohortKey]*cohortSums{}
	for chain, err := range groups(records) {
		if err != nil {
			return nil, err
		}
		if chain[0].Subject.Kind != activity.SubjectCard {
			continue
		}
		var first giftcard.Card
		var c *cohortSums
		for i, r := range chain {
			if r.At.After(at) {
				continue
			}
			card, err := giftcard.CardFromSnapshot(r.Snapshot)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				first = card
			}
			if c == nil { // not sold yet: count from the record that sells it
				if card.ActivatedAt.IsZero() {
					continue
				}
				cur := card.Value.Currency()
				k := cohortKey{month(first.IssuedAt), key{cur.Code(), card.Class}}
				if c = sums[k]; c == nil {
					c = &cohortSums{cur: cur, byMonth: map[int]int64{}}
					sums[k] = c
				}
				c.cards++
				if c.sold, err = sum(c.sold, card.Value.Minor()); err != nil {
					return nil, err
				}
				continue
			}
			n := r.Amount.Minor()
			switch {
			case r.Kind == activity.KindRedeem:
				c.redeemed, err = sum(c.redeemed, -n)
				c.byMonth[monthsBetween(first.IssuedAt, r.At)] -= n
			case n > 0:
				c.sold, err = sum(c.sold, n)
			case n < 0:
				c.removed, err = sum(c.removed, -n)
			}
			if err != nil {
				return nil, err
			}
		}
		if c == nil {
			continue
		}
		last, _, err := cardAt(chain, at)
		if err != nil {
			return nil, err
		}
		if v := last.Outstanding().Minor(); v > 0 && last.Expired(at) {
			c.expired, err = sum(c.expired, v)
		} else if v > 0 {
			c.outstanding, err = sum(c.outstanding, v)
		}
		if err != nil {
			return nil, err
		}
	}
	keys := make([]cohortKey, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b cohortKey) int {
		if c := strings.Compare(a.code, b.code); c != 0 {
			return c
		}
		if c := strings.Compare(a.month, b.month); c != 0 {
			return c
		}
		return int(a.class) - int(b.class)
	})
	out := make([]Cohort, 0, len(keys))
	for _, k := range keys {
		c := sums[k]
		m := func(n int64) giftkit.Money { return giftkit.FromMinor(n, c.cur) }
		co := Cohort{Month: k.month, Currency: c.cur, Class: k.class, Cards: c.cards, Sold: m(c.sold), Redeemed: m(c.redeemed),
			Removed: m(c.removed), Expired: m(c.expired), Outstanding: m(c.outstanding)}
		issued, _ := time.Parse("2006-01", k.month)
		var cumulative int64
		for months := 0; months <= monthsBetween(issued, at); months++ {
			cumulative += c.byMonth[months] // at most c.redeemed, which did not overflow
			co.Curve = append(co.Curve, CurvePoint{Months: months, Redeemed: m(cumulative), Share: share(cumulative, c.sold)})
		}
		out = append(out, co)
	}
	return out, nil
}

// share returns part / whole with four decimal places, rounded half up;
// "0.0000" when whole is zero.
func share(part, whole int64) string {
	if whole == 0 {
		return "0.0000"
	}
	return decimal.NewFromInt(part).DivRound(decimal.NewFromInt(whole), 4).StringFixed(4)
}
