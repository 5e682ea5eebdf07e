package outbox_test

import (
	"context"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

// A consumer reads the outbox from its cursor, handles each event, and
// acknowledges what it handled: after a crash it resumes where it
// acknowledged, so it may see an event twice (dedupe by ID), never miss
// one.
func Example_consumer() {
	ctx := context.Background()
	store := memstore.New()
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: now})
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now})
	batch, _ := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("25.00", giftkit.EUR)}, "issue-1")
	_, _ = accounts.Redeem(ctx, "alice", batch.Cards[0].Code.String(), "redeem-1")

	const me = "order-system"
	after, _ := store.Cursor(ctx, me) // 0 the first time
	for {
		events, err := store.Events(ctx, me, after, 100)
		if err != nil || len(events) == 0 {
			break // a long-running consumer calls store.Wait(ctx, after) here
		}
		for _, e := range events {
			fmt.Println(e.Pos, e.Type, e.Aggregate.Kind, e.Seq)
			after = e.Pos
		}
		_ = store.Ack(ctx, me, after)
	}
	// Output:
	// 1 card.issued card 1
	// 2 account.credited account 1
	// 3 card.redeemed card 2
}
