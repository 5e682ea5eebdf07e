package ledger_test

import (
	"context"
	"fmt"
	"iter"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/ledger"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// benchCards is how many cards the report benchmarks hold: 10⁶, or
// GIFTKIT_BENCH_CARDS.
func benchCards() int {
	if n, err := strconv.Atoi(os.Getenv("GIFTKIT_BENCH_CARDS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var (
	bigOnce  sync.Once
	bigStore *memstore.Store
	bigAt    time.Time
)

// bigProgramme is a memstore with benchCards() cards of three values,
// issued in batches of giftcard.MaxBatch, of which one in ten is redeemed
// into one of a thousand accounts.
func bigProgramme(b *testing.B) (*memstore.Store, time.Time) {
	bigOnce.Do(func() {
		store := memstore.New()
		env := storetest.NewEnv(b, store, 1)
		n := benchCards()
		var codes []string
		for i := 0; i < n; i += giftcard.MaxBatch {
			out, err := env.Cards.Issue(context.Background(), giftcard.IssueRequest{
				Value: giftkit.FromMinor(int64(1000*(1+i%3)), eur), Count: min(giftcard.MaxBatch, n-i)}, fmt.Sprint("batch-", i))
			if err != nil {
				b.Fatal(err)
			}
			for j := 0; j < len(out.Cards); j += 10 {
				codes = append(codes, out.Cards[j].Code.String())
			}
			env.Clock.Advance(time.Hour)
		}
		for i, code := range codes {
			if _, err := env.Wallet.Redeem(context.Background(), fmt.Sprint("owner-", i%1000), code, fmt.Sprint("r", i)); err != nil {
				b.Fatal(err)
			}
		}
		bigStore, bigAt = store, env.Clock.Now()
	})
	return bigStore, bigAt
}

// BenchmarkLiability is the liability report over a programme of 10⁶
// cards (GIFTKIT_BENCH_CARDS) on memstore: every card's and account's
// records read a page at a time and replayed. pgstore's is in its own
// module.
func BenchmarkLiability(b *testing.B) {
	store, at := bigProgramme(b)
	led, _ := ledger.NewService(store)
	b.ResetTimer()
	for b.Loop() {
		l, err := led.Liability(context.Background(), at)
		if err != nil || len(l.Lines) == 0 {
			b.Fatal(l, err)
		}
	}
	b.ReportMetric(float64(benchCards()), "cards")
}

// cardRecords yields n cards' issue records in activity.BySubject order,
// made on the fly, without a store.
func cardRecords(n int) iter.Seq2[activity.Record, error] {
	return func(yield func(activity.Record, error) bool) {
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range n {
			c := giftcard.Card{ID: fmt.Sprintf("card_%012d", i), Suffix: "AB12", Value: giftkit.FromMinor(2500, eur),
				State: giftcard.StateActive, BatchID: "b", IssuedAt: at, ActivatedAt: at, UpdatedAt: at, Class: giftkit.ClassPurchased}
			_, r := giftcard.RecordChange(activity.KindIssue, giftcard.Card{}, c, "b", activity.Cause{At: at})
			if !yield(r, nil) {
				return
			}
		}
	}
}

// TestLiabilityStreams checks that the report's memory does not grow with
// the number of cards: the live heap, sampled as 200,000 cards' records
// go by, stays within a few megabytes of what it was after the first
// thousand.
func TestLiabilityStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 200,000 records")
	}
	const n = 200_000
	var first, peak uint64
	var ms runtime.MemStats
	records := cardRecords(n)
	i := 0
	sampled := func(yield func(activity.Record, error) bool) {
		for r, err := range records {
			if i%20_000 == 1000 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				if first == 0 {
					first = ms.HeapAlloc
				}
				peak = max(peak, ms.HeapAlloc)
			}
			i++
			if !yield(r, err) {
				return
			}
		}
	}
	l, err := ledger.LiabilityOf(sampled, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || l.Lines[0].CardCount != n {
		t.Fatalf("LiabilityOf = %+v, %v", l.Lines, err)
	}
	if growth := int64(peak) - int64(first); growth > 4<<20 {
		t.Errorf("the heap grew by %d bytes over %d cards; the report holds what it has read", growth, n)
	}
}
