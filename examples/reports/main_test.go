package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/internal/golden"
)

// TestOutput runs the program and compares its output with the golden file,
// so the example prints what it promises. go test -update rewrites it.
func TestOutput(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "output.txt", out.Bytes())
}

// TestMidYearLiability cross-checks the ledger against the services: the
// liability the ledger rebuilds at year end, from the activity log alone,
// for the last second of June equals what the script read live at that
// second, card by card and account by account, through giftcard.Service.Card
// and wallet.Service.Balance: per currency and class for the cards, per
// currency for the accounts.
func TestMidYearLiability(t *testing.T) {
	p, err := simulate()
	if err != nil {
		t.Fatal(err)
	}
	if !p.live.At.Equal(midYear) {
		t.Fatalf("the live figures were read at %v; want %v", p.live.At, midYear)
	}
	l, err := p.ledger.Liability(context.Background(), midYear)
	if err != nil {
		t.Fatal(err)
	}
	cards := map[giftkit.Currency]map[giftkit.ValueClass]int64{}
	accounts := map[giftkit.Currency]int64{}
	for _, line := range l.Lines {
		if line.Cards.Minor() != 0 {
			if cards[line.Currency] == nil {
				cards[line.Currency] = map[giftkit.ValueClass]int64{}
			}
			cards[line.Currency][line.Class] = line.Cards.Minor()
		}
		accounts[line.Currency] += line.Accounts.Minor()
	}
	for cur, byClass := range p.live.Cards {
		for class, live := range byClass {
			if got := cards[cur][class]; got != live {
				t.Errorf("cards of %s %s at mid-year: the ledger says %s, the services said %s",
					cur.Code(), class, giftkit.FromMinor(got, cur), giftkit.FromMinor(live, cur))
			}
			delete(cards[cur], class)
		}
	}
	for cur, byClass := range cards {
		for class, got := range byClass {
			t.Errorf("cards of %s %s at mid-year: the ledger says %s, the services showed none", cur.Code(), class, giftkit.FromMinor(got, cur))
		}
	}
	for _, cur := range []giftkit.Currency{giftkit.EUR, giftkit.GBP} {
		if got, live := accounts[cur], p.live.Accounts[cur]; got != live {
			t.Errorf("accounts in %s at mid-year: the ledger says %s, the balances said %s", cur.Code(), giftkit.FromMinor(got, cur), giftkit.FromMinor(live, cur))
		}
		total, err := l.Total(cur)
		if err != nil {
			t.Fatal(err)
		}
		if live := p.live.Total(cur); total != live {
			t.Errorf("liability in %s at mid-year: the ledger says %s, the services said %s", cur.Code(), total, live)
		}
	}

	// The check means something only if there was something to check: in
	// euros, value on sold cards of both classes and on accounts.
	if p.live.Cards[giftkit.EUR][giftkit.ClassPurchased] == 0 || p.live.Cards[giftkit.EUR][giftkit.ClassPromotional] == 0 || p.live.Accounts[giftkit.EUR] == 0 {
		t.Errorf("the live figures at mid-year are too thin to check against: %+v", p.live)
	}
	// And the ledger's instant matters: at year end the figure differs.
	end, err := p.ledger.Liability(context.Background(), yearEnd)
	if err != nil {
		t.Fatal(err)
	}
	a, err := end.Total(giftkit.EUR)
	if err != nil {
		t.Fatal(err)
	}
	if a == p.live.Total(giftkit.EUR) {
		t.Errorf("the liability at year end equals mid-year's, %s: the script changed nothing in between?", a)
	}
}

// TestEveryChangeAttributed: every record of the year's log names who made
// the change, as the script promises; the reasons are staff's alone.
func TestEveryChangeAttributed(t *testing.T) {
	p, err := simulate()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[giftkit.ActorKind]int{}
	for r, err := range p.ledger.Records(context.Background(), activity.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		kinds[r.Actor.Kind]++
		if r.Actor.IsZero() {
			t.Errorf("%s record %d (%s) is unattributed", r.Subject, r.Seq, r.Kind)
		}
		if r.Reason != "" && r.Actor.Kind != giftkit.ActorOperator {
			t.Errorf("%s record %d (%s) by %s gives a reason, %q", r.Subject, r.Seq, r.Kind, r.Actor, r.Reason)
		}
	}
	for _, k := range []giftkit.ActorKind{giftkit.ActorShopper, giftkit.ActorOperator, giftkit.ActorClient, giftkit.ActorSystem} {
		if kinds[k] == 0 {
			t.Errorf("no record by a %s; want the script to exercise every kind of actor", k)
		}
	}
}
