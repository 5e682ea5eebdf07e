package lincheck_test

import (
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/lincheck"
	"github.com/giftkit/giftkit/memstore"
)

// TestMemstore checks histories of the embedded store, with faults, for
// 10 s (see Budget for a soak).
func TestMemstore(t *testing.T) {
	lincheck.Repeat(t, lincheck.Budget(10*time.Second), func(testing.TB) giftkit.Store[*memstore.Tx] { return memstore.New() },
		lincheck.Options{Faults: true, Ops: 200})
}
