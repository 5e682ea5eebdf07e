package wallet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

// Issue a card, then redeem its code as a shopper would type it.
func ExampleService_Redeem() {
	ctx := context.Background()
	store := memstore.New()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	now := func() time.Time { return time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC) }
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: now})
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now})

	issued, err := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("25.00", giftkit.EUR)}, "issue-1")
	if err != nil {
		panic(err)
	}
	code := issued.Cards[0].Code // printed on the card; shown once

	got, err := accounts.Redeem(ctx, "alice", code.String(), "redeem-1")
	fmt.Println(got.Amount, got.Balance.Available, err)

	_, err = accounts.Redeem(ctx, "alice", code.String(), "redeem-2")
	fmt.Println(errors.Is(err, giftcard.ErrAlreadyRedeemed))
	// Output:
	// 25.00 EUR 25.00 EUR <nil>
	// true
}

func ExampleService_History() {
	ctx := context.Background()
	store := memstore.New()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	now := func() time.Time { return time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC) }
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now})

	_, _ = accounts.Refund(ctx, "alice", giftkit.MustParseMoney("30.00", giftkit.EUR), "order-7", "refund-1")
	_, _ = accounts.Debit(ctx, "alice", giftkit.MustParseMoney("12.50", giftkit.EUR), "order-8", "debit-1")

	page, _ := accounts.History(ctx, "alice", giftkit.EUR, 0, 10)
	for _, e := range page.Entries {
		fmt.Printf("%d %-8s %10s  balance %s\n", e.Seq, e.Kind, e.Amount, e.BalanceAfter)
	}
	// Output:
	// 1 refund    30.00 EUR  balance 30.00 EUR
	// 2 hold       0.00 EUR  balance 30.00 EUR
	// 3 capture  -12.50 EUR  balance 17.50 EUR
}

func ExampleAccount_PlaceHold() {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	a := wallet.NewAccount("alice", giftkit.EUR)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.MustParseMoney("20", giftkit.EUR),
		Source: "card_1", Reference: "card_1"}, "k1", t0)

	_, _, err := a.PlaceHold(wallet.HoldSpec{ID: "hold_1", Placer: wallet.PlacerWallet,
		Amount: giftkit.MustParseMoney("25", giftkit.EUR), Reference: "order-1"}, "k2", t0)
	fmt.Println(err)
	// Output:
	// wallet: hold for alice of 25.00 EUR: insufficient funds (20.00 EUR available)
}

// Keep attempt counts in the store, shared by every instance, and count
// them per client as well as per owner.
func ExampleNewStoreLimiter() {
	ctx := context.Background()
	store := memstore.New()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	now := func() time.Time { return time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC) }
	limiter, _ := wallet.NewStoreLimiter(store, wallet.LimitRule{Max: 2, Window: time.Hour, Lockout: 30 * time.Minute})
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now, Limiter: limiter})

	ctx = wallet.WithClient(ctx, "203.0.113.9") // the caller's address, as the host knows it
	for i := range 3 {
		guess, _ := codefmt.Generate(bytes.NewReader(bytes.Repeat([]byte{byte(i + 1)}, 64))) // a well-formed code no card has
		_, err := accounts.Redeem(ctx, "mallory", guess.String(), fmt.Sprint("guess-", i))
		fmt.Println(errors.Is(err, giftcard.ErrNotRedeemable), errors.Is(err, wallet.ErrTooManyAttempts))
	}
	// Output:
	// true false
	// true false
	// false true
}
