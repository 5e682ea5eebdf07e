package wallet_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// Allocation budgets of the hot paths, exact (testing.AllocsPerRun does not
// flake). BENCHMARKS.md says where each allocation goes; lower a budget
// when a change saves one, and never raise one without saying why.

// redeemAllocs is under the issue's budget (at most 10). What remains:
// the idempotency scope ("wallet/"+owner) and the call's fingerprint,
// which the record keeps; the call's state (idem.DoWith: the request and
// room for the unit's activity records, their snapshots and the journal
// entry, which were six allocations of their own); the unit of work's
// closure, once in the service's erased store and once in the concrete
// one; memstore's Tx; the account's lots, copied on write; and the
// limiter's attempt. The outbox adds none on memstore, which keeps a
// record's event as the record's position and builds it when a consumer
// reads it.
const redeemAllocs = 8

func TestRedeemAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	env := storetest.NewEnv(t, memstore.New(), 1)
	const runs = 200
	codes := issueCodes(t, env, runs+1)
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		if _, err := env.Wallet.Redeem(context.Background(), "alice", codes[i], fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		i++
	})
	// fmt.Sprint above allocates once per run (the key); it is not the library's.
	if got := allocs - 1; got != redeemAllocs {
		t.Errorf("Redeem allocates %v times; the budget is %d (lower it if a change saved one)", got, redeemAllocs)
	}
}
