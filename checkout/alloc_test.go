package checkout_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// payAllocs is the allocation budget of a payment the balance covers,
// exact (see wallet's TestRedeemAllocations).
//
// It was 22 before the activity log: the account's activity record adds
// its snapshot and the slice that carries it to the store. The outbox adds
// five: the payment's two events (authorised and captured), each a payload
// and an ID, and their slice (the account's event costs nothing on
// memstore, which builds it from the record when it is read).
const payAllocs = 29

func TestPayAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	store := memstore.New()
	env := storetest.NewEnv(t, store, 1)
	env.Fund(t, "alice", eurs("1000.00"))
	co, err := checkout.NewService(store, processortest.New(), checkout.Config{Now: env.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	const runs = 100
	ids := make([]string, runs+1)
	for i := range ids {
		ids[i] = fmt.Sprint("order-", i)
	}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		p, err := co.Pay(context.Background(), checkout.PayRequest{PaymentID: ids[i], Owner: "alice", Total: eurs("2.00")}, ids[i])
		if err != nil || p.State != checkout.StateCaptured {
			t.Fatal(p.State, err)
		}
		i++
	})
	if allocs > payAllocs {
		t.Errorf("a balance-only Pay allocates %v times; the budget is %d", allocs, payAllocs)
	}
}
