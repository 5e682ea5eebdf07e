package checkout_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/benchcpu"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// BenchmarkCheckout measures a whole payment of 2.00 EUR captured at once on
// memstore with the fake processor. "balance" pays it from the balance (hold
// and capture, in one unit of work); "card" pays it by card (authorise and
// capture through the processor, three units of work). Payment IDs are made
// before the timer starts. "uncontended" gives
// every goroutine its own account; "hot" puts them all on one.
func BenchmarkCheckout(b *testing.B) {
	for _, tc := range []struct {
		name      string
		hot, card bool
	}{{"balance/uncontended", false, false}, {"balance/hot", true, false}, {"card/uncontended", false, true}, {"card/hot", true, true}} {
		hot := tc.hot
		b.Run(tc.name, func(b *testing.B) {
			store := memstore.New()
			env := storetest.NewEnv(b, store, 4)
			co, err := checkout.NewService(store, processortest.New(), checkout.Config{Now: env.Clock.Now})
			if err != nil {
				b.Fatal(err)
			}
			var worker, next atomic.Int64
			fund := func(owner string) {
				_, err := env.Wallet.Refund(context.Background(), owner, giftkit.FromMinor(int64(b.N)*200+200, eur), "fund", "fund-"+owner)
				if err != nil {
					b.Fatal(err)
				}
			}
			fund("hot")
			for i := 1; i <= 64; i++ {
				fund(fmt.Sprint("shopper-", i))
			}
			ids := make([]string, b.N+1)
			for i := range ids {
				ids[i] = fmt.Sprint("order-", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			defer benchcpu.Start(b)()
			b.RunParallel(func(pb *testing.PB) {
				owner := fmt.Sprint("shopper-", worker.Add(1))
				if hot {
					owner = "hot"
				}
				for pb.Next() {
					id := ids[next.Add(1)]
					_, err := co.Pay(context.Background(), checkout.PayRequest{
						PaymentID: id, Owner: owner, Total: eurs("2.00"), Instrument: "tok_visa", SkipBalance: tc.card,
					}, id)
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPayWithCards measures a guest's payment of 2.00 EUR by two gift
// cards given by code (of 1.00 and 1.50: the smaller pays first, 1.00
// each), captured at
// once on memstore: a first use, which opens each card's account. Compare
// it with BenchmarkCheckout/balance, which spends one account. The cards are
// issued before the timer starts.
func BenchmarkPayWithCards(b *testing.B) {
	env := newTenderEnv(b, nil)
	ctx := context.Background()
	issue := func(value string, n int, key string) []string {
		var codes []string
		for len(codes) < n {
			req := giftcardIssue(value)
			req.Count = min(n-len(codes), giftcard.MaxBatch)
			out, err := env.cards.Issue(ctx, req, fmt.Sprint(key, len(codes)))
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range out.Cards {
				codes = append(codes, c.Code.String())
			}
		}
		return codes
	}
	large, small := issue("1.50", b.N, "large-"), issue("1.00", b.N, "small-")
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprint("order-", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p, err := env.pay.Pay(ctx, checkout.PayRequest{PaymentID: ids[i], Total: eurs("2.00"),
			Codes: []string{small[i], large[i]}}, ids[i])
		if err != nil || len(p.Cards) != 2 {
			b.Fatal(err, len(p.Cards))
		}
	}
}
