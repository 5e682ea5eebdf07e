package ledger_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/ledger"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

// What the business owes, now and at a past instant, from the log alone.
func ExampleService_Liability() {
	store := memstore.New()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	hasher, _ := giftcard.NewHasher([]byte("an example key of at least 32 bytes!"))
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: clock})
	wallets, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: clock})
	led, _ := ledger.NewService(store)

	shop := giftkit.WithActor(context.Background(), giftkit.Client("shop"))
	issued, _ := cards.Issue(shop, giftcard.IssueRequest{Value: giftkit.MustParseMoney("25.00", giftkit.EUR)}, "sale-1")
	promo, _ := cards.Issue(shop, giftcard.IssueRequest{Value: giftkit.MustParseMoney("5.00", giftkit.EUR),
		Class: giftkit.ClassPromotional}, "promo-1")
	sold := now

	now = now.Add(24 * time.Hour)
	alice := giftkit.WithActor(context.Background(), giftkit.Shopper("alice"))
	wallets.Redeem(alice, "alice", issued.Cards[0].Code.String(), "redeem-1")
	wallets.Debit(alice, "alice", giftkit.MustParseMoney("10.00", giftkit.EUR), "order-1", "pay-1")
	_ = promo

	for _, at := range []time.Time{sold, now} {
		l, _ := led.Liability(context.Background(), at)
		fmt.Println("at", at.Format(time.DateOnly))
		l.Write(os.Stdout, ledger.CSV)
	}
	// Output:
	// at 2026-11-27
	// at,currency,class,month,cards,accounts,total,card_count,account_count
	// 2026-11-27T12:00:00Z,EUR,purchased,all,25.00,0.00,25.00,1,0
	// 2026-11-27T12:00:00Z,EUR,promotional,all,5.00,0.00,5.00,1,0
	// 2026-11-27T12:00:00Z,EUR,purchased,2026-11,25.00,0.00,25.00,,
	// 2026-11-27T12:00:00Z,EUR,promotional,2026-11,5.00,0.00,5.00,,
	// at 2026-11-28
	// at,currency,class,month,cards,accounts,total,card_count,account_count
	// 2026-11-28T12:00:00Z,EUR,purchased,all,0.00,15.00,15.00,0,1
	// 2026-11-28T12:00:00Z,EUR,promotional,all,5.00,0.00,5.00,1,0
	// 2026-11-28T12:00:00Z,EUR,purchased,2026-11,0.00,15.00,15.00,,
	// 2026-11-28T12:00:00Z,EUR,promotional,2026-11,5.00,0.00,5.00,,
}
