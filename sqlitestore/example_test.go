package sqlitestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/sqlitestore"
	"github.com/giftkit/giftkit/wallet"
)

// Open a database file, give the store to the services, and find the
// balance again after a restart.
func Example() {
	dir, err := os.MkdirTemp("", "giftkit-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "giftkit.db")
	ctx := context.Background()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	now := func() time.Time { return time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC) }

	store, err := sqlitestore.Open(ctx, path) // one file, created if missing, in WAL mode, migrated
	if err != nil {
		panic(err)
	}
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: now})
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now})
	batch, _ := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("25", giftkit.EUR)}, "issue-1")
	if _, err := accounts.Redeem(ctx, "alice", batch.Cards[0].Code.String(), "redeem-1"); err != nil {
		panic(err)
	}
	store.Close()

	// The process restarts: the balance is in the file.
	store, err = sqlitestore.Open(ctx, path)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	accounts, _ = wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now})
	b, _ := accounts.Balance(ctx, "alice", giftkit.EUR)
	fmt.Println(b.Available)

	// An online backup, while the store is in use.
	if err := store.Backup(ctx, filepath.Join(dir, "backup.db")); err != nil {
		panic(err)
	}
	copied, err := sqlitestore.Open(ctx, filepath.Join(dir, "backup.db"))
	if err != nil {
		panic(err)
	}
	defer copied.Close()
	_ = copied.View(ctx, func(tx *sqlitestore.Tx) error {
		card, _, _ := tx.CardByID(batch.Cards[0].Card.ID)
		fmt.Println(card.State, card.RedeemedBy)
		return nil
	})
	// Output:
	// 25.00 EUR
	// redeemed alice
}

// The durability setting trades the last commits before a power loss for
// faster commits; the default, SyncFull, loses none.
func ExampleWithSync() {
	dir, _ := os.MkdirTemp("", "giftkit-example")
	defer os.RemoveAll(dir)
	store, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "cache.db"),
		sqlitestore.WithSync(sqlitestore.SyncNormal), sqlitestore.WithBusyTimeout(time.Second))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	fmt.Println("open")
	// Output:
	// open
}
