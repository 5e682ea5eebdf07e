package giftkit_test

import (
	"context"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

// The README's snippets, as code that compiles and runs: TestReadme checks
// that every Go snippet of README.md appears, line for line, here, in
// examples/quickstart or in pgstore's examples.

// Redeeming a card, as the README shows it.
func Example_readmeRedeem() {
	ctx := context.Background()
	secretKey := []byte("a secret of at least 32 bytes!!!")

	store := memstore.New()
	hasher, _ := giftcard.NewHasher(secretKey) // 32+ bytes, kept outside the database
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: time.Now})
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: time.Now})

	batch, _ := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("25", giftkit.EUR)}, "issue-42")
	code := batch.Cards[0].Code // print or send it; it is never stored

	// The shopper types it however they like: " abcd efghjk mnpqr " reads as ABCD-EFGHJK-MNPQR.
	got, err := accounts.Redeem(ctx, "alice", code.String(), "redeem-7")
	// got.Balance.Available == 25.00 EUR; redeeming again: giftcard.ErrAlreadyRedeemed

	fmt.Println(got.Balance.Available, err)
	// Output: 25.00 EUR <nil>
}

// Paying an order, as the README shows it.
func Example_readmePay() {
	ctx := context.Background()
	store := memstore.New()
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: mustHasher(), Now: time.Now})
	_, _ = accounts.Refund(ctx, "alice", giftkit.MustParseMoney("30.00", giftkit.EUR), "goodwill", "fund")
	processor, cardToken := processortest.New(), "tok_visa"

	pay, _ := checkout.NewService(store, processor, checkout.Config{Now: time.Now})
	p, err := pay.Pay(ctx, checkout.PayRequest{
		PaymentID: "order-1001", Owner: "alice", Total: giftkit.MustParseMoney("45.00", giftkit.EUR),
		Instrument: cardToken, // the processor's token for the shopper's bank card
	}, "pay-order-1001")
	// With 30.00 EUR on the balance: p.Balance.Captured 30.00, p.Card.Captured 15.00.
	// Declined card: checkout.ErrDeclined, and the balance is whole again.
	// Processor down: checkout.ErrProcessorUnavailable; call Pay again with the
	// same key (or Resume, or let a periodic Sweep) to complete or unwind it.

	fmt.Println(p.Balance.Captured, p.Card.Captured, err)
	// Output: 30.00 EUR 15.00 EUR <nil>
}

func mustHasher() *giftcard.Hasher {
	h, err := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	if err != nil {
		panic(err)
	}
	return h
}
