package pgstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/storetest/crashtest"
)

// openCrash opens the crash test's schema.
func openCrash(ctx context.Context, in crashtest.Instance) (giftkit.Store[*pgstore.Tx], func(), error) {
	s, err := pgstore.Open(ctx, os.Getenv("GIFTKIT_PG_DSN"), pgstore.WithSchema(in.Name), pgstore.WithMaxConns(8))
	if err != nil {
		return nil, nil, err
	}
	return s, s.Close, nil
}

// TestCrash kills processes that redeem and pay on one database with
// SIGKILL, at random moments, many times, and checks that everything they
// acknowledged survived, that money is conserved and that nothing is left
// half-done (see package crashtest). Run it against a durable server:
//
//	GIFTKIT_PG_FSYNC=on scripts/postgres-test bash -c 'cd pgstore && go test -run TestCrash ./'
func TestCrash(t *testing.T) {
	if os.Getenv("GIFTKIT_PG_DSN") == "" || os.Getenv("GIFTKIT_PG_FSYNC") != "on" {
		t.Skip("needs a durable server: GIFTKIT_PG_FSYNC=on scripts/postgres-test bash -c 'cd pgstore && go test -run TestCrash ./'")
	}
	res := crashtest.Run(t, crashtest.Config[*pgstore.Tx]{
		Open: openCrash,
		Setup: func(t crashtest.TB, in crashtest.Instance) {
			ctx := context.Background()
			s, err := pgstore.Open(ctx, os.Getenv("GIFTKIT_PG_DSN"), pgstore.WithSchema(in.Name))
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			t.Cleanup(func() {
				conn, err := pgx.Connect(ctx, os.Getenv("GIFTKIT_PG_DSN"))
				if err != nil {
					return
				}
				defer conn.Close(ctx)
				_, _ = conn.Exec(ctx, "DROP SCHEMA "+in.Name+" CASCADE")
			})
		},
	})
	least := 30
	if testing.Short() {
		least = 5
	}
	if !t.Failed() && res.Kills < least {
		t.Errorf("only %d kills: the run proves little", res.Kills)
	}
}
