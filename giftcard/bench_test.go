package giftcard_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/benchcpu"
	"github.com/giftkit/giftkit/memstore"
)

// BenchmarkIssue measures bulk issuance on memstore: batches of
// giftcard.MaxBatch cards with codes from crypto/rand, one unit of work per
// batch. It reports cards/s.
func BenchmarkIssue(b *testing.B) {
	store := memstore.New()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	cards, err := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: func() time.Time { return time.Unix(1e9, 0) }})
	if err != nil {
		b.Fatal(err)
	}
	value := giftkit.MustParseMoney("25", giftkit.EUR)
	b.ReportAllocs()
	b.ResetTimer()
	stop := benchcpu.Start(b)
	for i := 0; i < b.N; i++ {
		if _, err := cards.Issue(context.Background(), giftcard.IssueRequest{Value: value, Count: giftcard.MaxBatch}, fmt.Sprint("batch-", i)); err != nil {
			b.Fatal(err)
		}
	}
	stop()
	b.ReportMetric(float64(b.N*giftcard.MaxBatch)/b.Elapsed().Seconds(), "cards/s")
}
