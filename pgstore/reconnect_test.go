package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/pgstore"
)

// terminate ends the sessions of the store whose connections carry
// application name app, as a server restart, a failover or an operator's
// pg_terminate_backend would, and waits until they are gone. It returns how
// many it ended.
func terminate(t *testing.T, app string) int {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var ended int
	// MATERIALIZED: the victims are chosen before any is ended, so that
	// pg_terminate_backend never runs on another session.
	if err := admin.QueryRow(ctx, `WITH victims AS MATERIALIZED (SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid())
		SELECT count(*) FROM victims WHERE pg_terminate_backend(pid)`, app).Scan(&ended); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		var left int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return ended
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions of %s outlived pg_terminate_backend", left, app)
		}
	}
}

// Connections that the server ended while they sat idle in the pool are
// replaced: no unit of work fails for them. pgxpool pings a connection idle
// for more than a second before handing it out, so the units run at once
// after the sessions end, as they would after a restart under load.
func TestKilledIdleConnectionsAreReplaced(t *testing.T) {
	dsn(t)
	const poolSize = 4
	s, schema, drop := openSchema(t, "", pgstore.WithMaxConns(poolSize))
	defer drop()
	ctx := context.Background()
	cards, accounts := services(t, s)
	batch, err := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.FromMinor(500, giftkit.EUR), Count: 8}, "batch")
	if err != nil {
		t.Fatal(err)
	}

	// Fill the pool: poolSize units at once, each on a connection of its own.
	var inside atomic.Int32
	all := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < poolSize; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(ctx, func(tx *pgstore.Tx) error {
				if _, _, err := tx.CardByID("warm-up"); err != nil {
					return err
				}
				if inside.Add(1) == poolSize {
					close(all)
				}
				select {
				case <-all:
					return nil
				case <-time.After(10 * time.Second):
					return errors.New("the pool did not fill")
				}
			})
			if err != nil {
				t.Errorf("warm-up: %v", err)
			}
		}()
	}
	wg.Wait()
	if ended := terminate(t, schema); ended != poolSize {
		t.Fatalf("ended %d pooled sessions; want %d", ended, poolSize)
	}

	// Units of work at once, then one after another, through the services.
	calls := []func(i int) error{
		func(i int) error {
			_, err := accounts.Redeem(ctx, fmt.Sprintf("shopper-%d", i), batch.Cards[i].Code.String(), fmt.Sprintf("redeem-%d", i))
			return err
		},
		func(i int) error { _, err := accounts.Balance(ctx, "nobody", giftkit.EUR); return err },
		func(i int) error {
			return s.Update(ctx, func(tx *pgstore.Tx) error { _, _, err := tx.CardByID(batch.Cards[i].Card.ID); return err })
		},
	}
	errs := make([]error, 2*poolSize)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = calls[i%len(calls)](i)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("unit %d after the pool's sessions ended: %v", i, err)
		}
	}
	terminate(t, schema)
	for i := range calls {
		if err := calls[i](i); err != nil {
			t.Errorf("call %d after the pool's sessions ended again: %v", i, err)
		}
	}
	if _, err := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.FromMinor(500, giftkit.EUR), Count: 1}, "batch-2"); err != nil {
		t.Errorf("Issue: %v", err)
	}
}

// A unit of work whose connection is lost before its commit cannot have
// committed, so Update runs it again on another connection; a commit that
// fails is ambiguous and is not retried.
func TestLostConnectionInUnitOfWork(t *testing.T) {
	dsn(t)
	s, schema, drop := openSchema(t, "", pgstore.WithMaxConns(2))
	defer drop()
	ctx := context.Background()

	calls := 0
	err := s.Update(ctx, func(tx *pgstore.Tx) error {
		calls++
		if _, _, err := tx.CardByID("a"); err != nil {
			return err
		}
		if calls == 1 {
			terminate(t, schema)
		}
		_, _, err := tx.CardByID("b")
		return err
	})
	if err != nil || calls != 2 {
		t.Errorf("Update with its connection lost before a statement = %v after %d calls; want nil after 2", err, calls)
	}

	calls = 0
	err = s.Update(ctx, func(tx *pgstore.Tx) error {
		calls++
		if _, _, err := tx.CardByID("a"); err != nil {
			return err
		}
		terminate(t, schema)
		return nil
	})
	if !errors.Is(err, pgstore.ErrUnavailable) || calls != 1 {
		t.Errorf("Update with its connection lost before the commit = %v after %d calls; want ErrUnavailable after 1", err, calls)
	}
}
