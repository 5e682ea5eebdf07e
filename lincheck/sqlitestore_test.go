package lincheck_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/lincheck"
	"github.com/giftkit/giftkit/sqlitestore"
)

// TestSQLiteStore checks histories of the SQLite store, with faults, for
// 10 s (see Budget for a soak), each run on a new file.
func TestSQLiteStore(t *testing.T) {
	lincheck.Repeat(t, lincheck.Budget(10*time.Second), func(t testing.TB) giftkit.Store[*sqlitestore.Tx] {
		s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "giftkit.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}, lincheck.Options{Faults: true, Ops: 80})
}
