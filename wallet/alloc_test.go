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

// redeemAllocs was 10 before the activity log; a redemption now also
// writes two activity records (the card's and the account's), each with a
// snapshot of its subject: two snapshots and the two slices that carry the
// records to the store through the Tx interface. The outbox adds none on
// memstore, which keeps a record's event as the record's position and
// builds it when a consumer reads it (a store that writes the events, as
// the database stores do, pays a payload and an ID per event).
const redeemAllocs = 14

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
	if got := allocs - 1; got > redeemAllocs {
		t.Errorf("Redeem allocates %v times; the budget is %d", got, redeemAllocs)
	}
}
