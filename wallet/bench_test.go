package wallet_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// issueCodes issues n active cards of 1.00 EUR and returns their codes.
func issueCodes(b *testing.B, env storetest.Env, n int) []string {
	b.Helper()
	codes := make([]string, 0, n)
	for len(codes) < n {
		count := min(n-len(codes), giftcard.MaxBatch)
		out, err := env.Cards.Issue(context.Background(), giftcard.IssueRequest{Value: eurs("1.00"), Count: count}, fmt.Sprint("bench-", len(codes)))
		if err != nil {
			b.Fatal(err)
		}
		for _, ic := range out.Cards {
			codes = append(codes, ic.Code.String())
		}
	}
	return codes
}

// BenchmarkRedeem measures a whole redemption on memstore: parse, hash,
// idempotency check, card transition, credit, journal append, record.
// "uncontended" gives each goroutine its own account; "hot" puts every
// goroutine on one account.
func BenchmarkRedeem(b *testing.B) {
	for _, hot := range []bool{false, true} {
		name := map[bool]string{false: "uncontended", true: "hot"}[hot]
		b.Run(name, func(b *testing.B) {
			env := storetest.NewEnv(b, memstore.New(), 1)
			codes := issueCodes(b, env, b.N)
			var next, worker atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				owner := fmt.Sprint("shopper-", worker.Add(1))
				if hot {
					owner = "hot"
				}
				for pb.Next() {
					i := next.Add(1) - 1
					if _, err := env.Wallet.Redeem(context.Background(), owner, codes[i], codes[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkBalance measures a balance read of an account with one credit.
func BenchmarkBalance(b *testing.B) {
	for _, hot := range []bool{false, true} {
		name := map[bool]string{false: "uncontended", true: "hot"}[hot]
		b.Run(name, func(b *testing.B) {
			env := storetest.NewEnv(b, memstore.New(), 2)
			for i := 0; i < 64; i++ {
				env.Fund(b, fmt.Sprint("shopper-", i), eurs("10.00"))
			}
			env.Fund(b, "hot", eurs("10.00"))
			var worker atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				owner := fmt.Sprint("shopper-", worker.Add(1)%64)
				if hot {
					owner = "hot"
				}
				for pb.Next() {
					if _, err := env.Wallet.Balance(context.Background(), owner, eur); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkParseOnly is the floor under Redeem: reading the code alone.
func BenchmarkParseOnly(b *testing.B) {
	code, _ := codefmt.Generate(nil)
	s := code.String()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, _ = codefmt.Parse(s)
	}
}
