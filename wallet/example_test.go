package wallet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
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

// A card bought with a card payment that was charged back: the shopper
// redeemed it and spent part, so the clawback recovers what is left and
// reports the rest.
func ExampleService_Clawback() {
	store := memstore.New()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	now := func() time.Time { return time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC) }
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: now})
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now})

	alice := giftkit.WithActor(context.Background(), giftkit.Shopper("alice"))
	issued, _ := cards.Issue(alice, giftcard.IssueRequest{Value: giftkit.MustParseMoney("50.00", giftkit.EUR)}, "sale-1")
	_, _ = accounts.Redeem(alice, "alice", issued.Cards[0].Code.String(), "redeem-1")
	_, _ = accounts.Debit(alice, "alice", giftkit.MustParseMoney("35.00", giftkit.EUR), "order-7", "pay-7")

	ops := giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Operator("ana")), "chargeback CB-1")
	back, err := accounts.Clawback(ops, issued.Cards[0].Card.ID, giftkit.Money{}, "clawback-1")
	fmt.Println(back.Asked, back.Recovered, back.Shortfall, err)

	_, err = accounts.Clawback(alice, issued.Cards[0].Card.ID, giftkit.Money{}, "clawback-2")
	fmt.Println(errors.Is(err, giftkit.ErrInvalid))
	// Output:
	// 50.00 EUR 15.00 EUR 35.00 EUR <nil>
	// true
}

// An operator's goodwill credit, and its correction: both need an
// operator and a reason, and neither may go below what is available.
func ExampleService_Adjust() {
	store := memstore.New()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	now := func() time.Time { return time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC) }
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now})

	ops := giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Operator("ana")), "late delivery, ticket 31")
	b, err := accounts.Adjust(ops, "alice", giftkit.MustParseMoney("5.00", giftkit.EUR), "ticket-31", "adjust-1")
	fmt.Println(b.Available, err)
	_, err = accounts.Adjust(ops, "alice", giftkit.MustParseMoney("-7.00", giftkit.EUR), "ticket-31", "adjust-2")
	fmt.Println(errors.Is(err, wallet.ErrInsufficientFunds))
	// Output:
	// 5.00 EUR <nil>
	// true
}

// Check what a card holds by its code, without spending it; reload it and
// move part of it to another card.
func ExampleService_CheckBalance() {
	ctx := wallet.WithClient(context.Background(), "203.0.113.7") // the guest's address, for the limiter
	store := memstore.New()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	now := func() time.Time { return time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC) }
	programme := giftcard.EUAnonymousPrepaid()
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: now, Programme: &programme})
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now, Programme: &programme})

	issued, _ := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("40.00", giftkit.EUR), Count: 2}, "issue-1")
	first, second := issued.Cards[0], issued.Cards[1]

	b, err := accounts.CheckBalance(ctx, "", first.Code.String())
	fmt.Println(b.Available, err)

	typo := []byte(first.Code.String())
	typo[0] = codefmt.Alphabet[(strings.IndexByte(codefmt.Alphabet, typo[0])+1)%len(codefmt.Alphabet)] // one character changed for another of the alphabet: caught by the check characters: no lookup, no guess counted
	_, err = accounts.CheckBalance(ctx, "", string(typo))
	var pe *codefmt.ParseError
	fmt.Println(errors.As(err, &pe))

	reloaded, _ := accounts.Reload(ctx, first.Card.ID, giftkit.MustParseMoney("10.00", giftkit.EUR), "till-4", "reload-1")
	fmt.Println(reloaded.Balance)
	moved, _ := accounts.Transfer(ctx, first.Card.ID, second.Card.ID, giftkit.MustParseMoney("30.00", giftkit.EUR), "transfer-1")
	fmt.Println(moved.From.Available, moved.To.Available)
	// Output:
	// 40.00 EUR <nil>
	// true
	// 50.00 EUR
	// 20.00 EUR 70.00 EUR
}
