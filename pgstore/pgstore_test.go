package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/storetest"
)

// dsn returns the test database, or skips: the tests need a real
// PostgreSQL, which scripts/postgres-test starts.
func dsn(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("GIFTKIT_PG_DSN")
	if dsn == "" {
		t.Skip("GIFTKIT_PG_DSN is not set: run these tests with scripts/postgres-test go test ./...")
	}
	return dsn
}

// newStore opens a store in a schema of its own, migrated, and drops the
// schema when the test ends.
func newStore(t testing.TB) *pgstore.Store {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	s, err := pgstore.Open(ctx, dsn(t), pgstore.WithSchema(schema), pgstore.WithMaxConns(32))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		conn, err := pgx.Connect(ctx, dsn(t))
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) giftkit.Store[*pgstore.Tx] { return newStore(t) })
}
