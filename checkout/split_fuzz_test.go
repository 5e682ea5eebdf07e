package checkout_test

import (
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
)

// FuzzPlanTenders: for any total, balance, cards and cap, the plan's parts
// sum to the total exactly; no card pays more than it has, nor the cards
// together more than the cap; the balance pays only when the cards leave
// something and the shopper does not skip it; the cards come in spending
// order; and the plan does not depend on the order the cards were given in.
func FuzzPlanTenders(f *testing.F) {
	f.Add(int64(5000), int64(1000), int64(1500), int64(3000), int64(0), int64(20), int64(0), false)
	f.Add(int64(1), int64(0), int64(1), int64(1), int64(1), int64(0), int64(0), true)
	f.Add(int64(1<<62), int64(1<<62), int64(1<<62), int64(1<<62), int64(1<<62), int64(1), int64(2), false)
	f.Fuzz(func(t *testing.T, total, balance, a, b, capMinor, aDays, bDays int64, skip bool) {
		if total <= 0 || balance < 0 || a <= 0 || b <= 0 || capMinor < 0 || aDays < 0 || bDays < 0 || aDays > 1e5 || bDays > 1e5 {
			return
		}
		eur := giftkit.EUR
		base := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		exp := func(days int64) time.Time {
			if days == 0 {
				return time.Time{}
			}
			return base.AddDate(0, 0, int(days))
		}
		cards := []checkout.CardFunds{
			{CardID: "card_a", Available: giftkit.FromMinor(a, eur), ExpiresAt: exp(aDays)},
			{CardID: "card_b", Available: giftkit.FromMinor(b, eur), ExpiresAt: exp(bDays)},
		}
		opts := checkout.PlanOptions{SkipBalance: skip}
		if capMinor > 0 {
			opts.MaxFromCards = giftkit.FromMinor(capMinor, eur)
		}
		split, order, err := checkout.PlanTenders(giftkit.FromMinor(total, eur), giftkit.FromMinor(balance, eur), cards, opts)
		if err != nil {
			t.Fatalf("PlanTenders: %v", err)
		}
		swapped, order2, _ := checkout.PlanTenders(giftkit.FromMinor(total, eur), giftkit.FromMinor(balance, eur), []checkout.CardFunds{cards[1], cards[0]}, opts)
		sum, fromCards := split.Balance.Minor(), int64(0)
		if split.Card.IsNegative() || split.Balance.IsNegative() {
			t.Fatalf("negative part: %+v", split)
		}
		for i, part := range split.Cards {
			if part.IsNegative() || part.Minor() > order[i].Available.Minor() {
				t.Fatalf("card %s pays %v of %v", order[i].CardID, part, order[i].Available)
			}
			if order[i].CardID != order2[i].CardID || part != swapped.Cards[i] {
				t.Fatalf("the plan depends on the order the cards were given in")
			}
			fromCards += part.Minor()
			sum += part.Minor()
		}
		if sum+split.Card.Minor() != total {
			t.Fatalf("parts %+v do not sum to %d", split, total)
		}
		if capMinor > 0 && fromCards > capMinor {
			t.Fatalf("cards pay %d over the cap %d", fromCards, capMinor)
		}
		if skip && !split.Balance.IsZero() {
			t.Fatalf("the balance pays %v though skipped", split.Balance)
		}
		if split.Balance.Minor() > balance {
			t.Fatalf("the balance pays %v of %d", split.Balance, balance)
		}
		if s := checkout.SpendingOrder(cards); s[0].CardID != order[0].CardID {
			t.Fatalf("the plan's order is not SpendingOrder")
		}
		if !split.Card.IsZero() && !skip && split.Balance.Minor() < balance && fromCards < min(capMinorOr(capMinor, a+b), a+b) {
			t.Fatalf("the bank card pays %v while gift tenders had more to give", split.Card)
		}
	})
}

func capMinorOr(capMinor, otherwise int64) int64 {
	if capMinor > 0 {
		return capMinor
	}
	return otherwise
}
