package giftcard_test

import (
	"context"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
)

// Issue a batch of physical cards that must be activated when sold.
func ExampleService_Issue() {
	ctx := context.Background()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	cards, _ := giftcard.NewService(memstore.New(), giftcard.Config{Hasher: hasher, Now: now})

	batch, err := cards.Issue(ctx, giftcard.IssueRequest{
		Value:   giftkit.MustParseMoney("50.00", giftkit.EUR),
		Count:   3,
		BatchID: "store-42-december",
		Pending: true,
	}, "issue-store-42-december")
	if err != nil {
		panic(err)
	}
	for _, ic := range batch.Cards {
		fmt.Println(ic.Card.Value, ic.Card.State, len(ic.Code.String())) // print ic.Code on the card
	}

	sold, err := cards.Activate(ctx, batch.Cards[0].Card.ID, "activate-at-till-7")
	fmt.Println(sold.State, err)
	// Output:
	// 50.00 EUR pending 17
	// 50.00 EUR pending 17
	// 50.00 EUR pending 17
	// active <nil>
}

func ExampleCard_Redeem() {
	now := time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC)
	card := giftcard.Card{ID: "card_1", Suffix: "H567", Value: giftkit.MustParseMoney("25", giftkit.EUR), State: giftcard.StateActive}

	redeemed, credit, err := card.Redeem("alice", now)
	fmt.Println(redeemed.State, credit.Amount, err)

	_, _, err = redeemed.Redeem("bob", now)
	fmt.Println(err)
	// Output:
	// redeemed 25.00 EUR <nil>
	// giftcard: redeem card_1 (****-******-*H567): card already redeemed by another account
}

// A promotional card, and an operator's correction of its value before it
// is redeemed: the card keeps its class, and its activity head moves with
// each change.
func ExampleService_Adjust() {
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	cards, _ := giftcard.NewService(memstore.New(), giftcard.Config{Hasher: hasher, Now: now})

	marketing := giftkit.WithActor(context.Background(), giftkit.Client("campaign-tool"))
	promo, _ := cards.Issue(marketing, giftcard.IssueRequest{Value: giftkit.MustParseMoney("10.00", giftkit.EUR),
		Class: giftkit.ClassPromotional}, "spring-promo-1")

	ops := giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Operator("ana")), "campaign was 15.00, ticket 88")
	card, err := cards.Adjust(ops, promo.Cards[0].Card.ID, giftkit.MustParseMoney("5.00", giftkit.EUR), "fix-promo-1")
	fmt.Println(card.Value, card.Class, card.Head.Seq, err)

	_, err = cards.Adjust(marketing, promo.Cards[0].Card.ID, giftkit.MustParseMoney("1.00", giftkit.EUR), "fix-promo-2")
	fmt.Println(err != nil) // only an operator, with a reason
	// Output:
	// 15.00 EUR promotional 2 <nil>
	// true
}

// A card "valid until 12 March" is spendable through the whole of that day
// in the programme's zone.
func ExampleEndOfDay() {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		fmt.Println(err)
		return
	}
	validUntil := time.Date(2027, 3, 12, 9, 0, 0, 0, paris)
	fmt.Println(giftcard.EndOfDay(validUntil, paris))
	// Output: 2027-03-13 00:00:00 +0100 CET
}

// The EU anti-money-laundering exemption for anonymous prepaid cards, as
// a preset; its rules refuse what would break it.
func ExampleEUAnonymousPrepaid() {
	p := giftcard.EUAnonymousPrepaid()
	fmt.Println(p.Validate())
	fmt.Println(p.CheckCardBalance(giftkit.MustParseMoney("150.01", giftkit.EUR)))
	limit, _ := p.RemoteCap(giftkit.EUR)
	fmt.Println("cards pay at most", limit, "of a remote payment")
	// Output:
	// <nil>
	// giftcard: EU anonymous prepaid: maximum card balance is 150.00 EUR, would be 150.01 EUR
	// cards pay at most 50.00 EUR of a remote payment
}
