package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

// One Store serves every service: cards, wallet and checkout share it, and a
// unit of work that touches a card and an account commits both or neither.
func Example() {
	store := memstore.New()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	now := func() time.Time { return time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC) }
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: now})
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now})

	ctx := context.Background()
	batch, _ := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("10", giftkit.EUR)}, "issue-1")
	_, _ = accounts.Redeem(ctx, "alice", batch.Cards[0].Code.String(), "redeem-1")

	// A unit of work of your own, through the same accessors the services use.
	_ = store.Update(ctx, func(tx *memstore.Tx) error {
		card, _, _ := tx.CardByID(batch.Cards[0].Card.ID)
		acct, _, _ := tx.Account("alice", giftkit.EUR)
		fmt.Println(card.State, card.RedeemedBy, acct.Balance())
		return nil
	})
	// Output:
	// redeemed alice 10.00 EUR
}
