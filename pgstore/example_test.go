package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/wallet"
)

// Open the store, migrate it, and give it to the services: the same code as
// with the in-memory store.
func Example() {
	ctx := context.Background()
	store, err := pgstore.Open(ctx, os.Getenv("GIFTKIT_PG_DSN"))
	if err != nil {
		fmt.Println("no database:", err != nil)
		return
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil { // idempotent; safe from many instances at once
		panic(err)
	}
	hasher, _ := giftcard.NewHasher([]byte(os.Getenv("GIFTKIT_HASH_KEY")))
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: time.Now})
	b, _ := accounts.Balance(ctx, "alice", giftkit.EUR)
	fmt.Println(b.Available)
}

// A consumer of the outbox resumes from its cursor, reads a page, handles
// each event (deduplicating by ID: delivery is at least once, and a
// consumer that stops before Ack reads the page again), acknowledges the
// page and waits for more. Several processes may run it under one name.
func ExampleStore_Events() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := pgstore.Open(ctx, os.Getenv("GIFTKIT_PG_DSN"))
	if err != nil {
		fmt.Println("no database:", err != nil)
		return
	}
	defer store.Close()
	const consumer = "webhooks"
	after, err := store.Cursor(ctx, consumer)
	for err == nil {
		var events []outbox.Event
		if events, err = store.Events(ctx, consumer, after, 100); err != nil {
			break
		}
		for _, e := range events {
			fmt.Println(e.Pos, e.ID, e.Type) // handle the event
			after = e.Pos
		}
		if len(events) > 0 {
			err = store.Ack(ctx, consumer, after)
			continue
		}
		err = store.Wait(ctx, after) // a notification, a second, or ctx's end
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		fmt.Println(err)
	}
}

// A database that cannot be reached is ErrUnavailable, with no driver type
// in the chain.
func ExampleOpen_unavailable() {
	_, err := pgstore.Open(context.Background(), "postgres://nobody@127.0.0.1:1/giftkit?sslmode=disable&connect_timeout=2")
	fmt.Println(errors.Is(err, pgstore.ErrUnavailable))
	// Output:
	// true
}

// readmeSnippet is the README's PostgreSQL snippet, compiled and run by
// TestReadmeSnippet; the root's TestReadme checks the README still says it.
func readmeSnippet(ctx context.Context, hasher *giftcard.Hasher) (*wallet.Service, error) {
	store, err := pgstore.Open(ctx, os.Getenv("GIFTKIT_PG_DSN")) // or pgstore.New(pool) over your own pgx pool
	if err != nil {
		return nil, err // pgstore.ErrUnavailable: unreachable; pgstore.ErrInvalidConfig: a bad DSN or schema
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil { // embedded, versioned; idempotent; instances may start together
		return nil, err
	}
	accounts, err := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: time.Now})
	return accounts, err
}
