package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/sqlitestore"
	"github.com/giftkit/giftkit/storetest"
)

// newStore opens a store on a new file in the test's temporary directory,
// closed when the test ends.
func newStore(t testing.TB, opts ...sqlitestore.Option) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "giftkit.db"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) giftkit.Store[*sqlitestore.Tx] { return newStore(t) })
}

// TestConservationUnderFaults runs the whole-system property test with
// faults (see storetest.System) on SQLite, each run on a new file.
func TestConservationUnderFaults(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "giftkit.db"))
		if err != nil {
			rt.Fatalf("Open: %v", err)
		}
		defer s.Close()
		storetest.System(rt, s, storetest.SystemOptions{Faults: true})
	})
}
