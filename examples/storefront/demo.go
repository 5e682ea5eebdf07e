package main

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
)

// A demoShopper is someone a visitor can sign in as, without a password:
// this is a demo. A real shop authenticates its shoppers and uses their
// account ID as the wallet's owner.
type demoShopper struct {
	ID   string // the wallet's owner
	Name string
}

// shoppers are the demo's shoppers. Both start without a balance: the
// gift-card page has cards to redeem.
var shoppers = []demoShopper{{"ana", "Ana"}, {"ben", "Ben"}}

// shopperName is the name of the shopper whose ID is id.
func shopperName(id string) string {
	for _, s := range shoppers {
		if s.ID == id {
			return s.Name
		}
	}
	return id
}

// A product is something the shop sells, named in both languages.
type product struct {
	ID    string
	Name  [2]string // French, English
	Price giftkit.Money
}

// Title is the product's name in the locale's language.
func (p product) Title(l locale) string {
	if l.Lang == langEN {
		return p.Name[1]
	}
	return p.Name[0]
}

func eur(s string) giftkit.Money { return giftkit.MustParseMoney(s, giftkit.EUR) }

// catalogue is what the shop sells. The prices make the seed's checkout
// cases with the demo cards: a 25.00 EUR card covers the notebook and keeps
// the rest; the lamp costs more than the balance, and the bank card pays
// the difference.
var catalogue = []product{
	{"notebook", [2]string{"Carnet de notes ligné", "Lined notebook"}, eur("12.50")},
	{"mug", [2]string{"Tasse en grès", "Stoneware mug"}, eur("18.00")},
	{"lamp", [2]string{"Lampe de bureau", "Desk lamp"}, eur("64.90")},
	{"headphones", [2]string{"Casque audio", "Headphones"}, eur("89.00")},
}

// productByID returns the product whose ID is id.
func productByID(id string) (product, bool) {
	i := slices.IndexFunc(catalogue, func(p product) bool { return p.ID == id })
	if i < 0 {
		return product{}, false
	}
	return catalogue[i], true
}

// demoValues are the values of the demo cards issued at start, in turn.
var demoValues = []giftkit.Money{eur("25.00"), eur("40.00"), eur("10.00")}

// A demoCard is a card the demo shows by its code, as if it were in the
// visitor's hand.
type demoCard struct {
	ID    string
	Code  codefmt.Code
	Value giftkit.Money
}

// maxDemoCards is the most demo cards waiting to be redeemed: a visitor
// who asks for more is told to redeem one first, so that a script that
// keeps asking cannot fill the store with cards.
const maxDemoCards = 10

// errEnoughDemoCards is the refusal to issue a demo card when maxDemoCards
// are waiting to be redeemed.
var errEnoughDemoCards = errors.New("storefront: enough demo cards are waiting to be redeemed")

// demoCards are the cards issued for this run, shown on the gift-card page
// until they are redeemed. Codes are never stored (the store keeps a keyed
// hash), so they exist only here, in memory, and a restart issues new ones.
// It is safe for concurrent use.
type demoCards struct {
	mu      sync.Mutex
	cards   []demoCard
	issuing int // cards being issued, not in cards yet
	next    int // the index in demoValues of the next card's value
}

// issue issues one demo card, of the next value in turn, and shows it, or
// fails with errEnoughDemoCards if maxDemoCards are shown or being issued.
// Its idempotency key is random: this run's cards are new cards, whatever
// an earlier run issued.
func (d *demoCards) issue(ctx context.Context, cards *giftcard.Service) error {
	d.mu.Lock()
	if len(d.cards)+d.issuing >= maxDemoCards {
		d.mu.Unlock()
		return errEnoughDemoCards
	}
	d.issuing++
	value := demoValues[d.next%len(demoValues)]
	d.next++
	d.mu.Unlock()
	ctx = giftkit.WithActor(ctx, giftkit.System("storefront-demo"))
	batch, err := cards.Issue(ctx, giftcard.IssueRequest{Value: value, Tags: []string{"demo"}}, "demo-"+rand.Text())
	d.mu.Lock()
	defer d.mu.Unlock()
	d.issuing--
	if err != nil {
		return err
	}
	c := batch.Cards[0]
	d.cards = append(d.cards, demoCard{ID: c.Card.ID, Code: c.Code, Value: c.Card.Value})
	return nil
}

// list returns the demo cards not redeemed yet.
func (d *demoCards) list() []demoCard {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.cards)
}

// redeemed forgets the card whose ID is id: a page never shows the code of
// a redeemed card.
func (d *demoCards) redeemed(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cards = slices.DeleteFunc(d.cards, func(c demoCard) bool { return c.ID == id })
}
