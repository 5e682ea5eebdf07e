//go:build !race

package giftcard

// An allocation budget for newBatch, which is unexported: through Issue, the
// store's and the idempotency record's allocations would hide it. Allocation
// counts differ under -race, hence the build tag.

import (
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
)

// batchAllocs is newBatch's budget, the same for any number of cards (a
// batch of one makes its few short strings without allocating, so it takes
// fewer): the randomness is read at once, each code is made of its bytes
// (codefmt.FromRandom, no io.Reader), and the IDs, suffixes and codes of a
// batch are built in buffers sized once. Lower it when a change saves an
// allocation; never raise it without saying why.
const batchAllocs = 7

func TestNewBatchAllocations(t *testing.T) {
	hasher, err := NewHasher(make([]byte, MinKeyLen))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	s := &Service{
		cfg:      Config{Hasher: hasher, Now: func() time.Time { return now }, Rand: zeros{}},
		denylist: codefmt.NewDenylist(codefmt.DefaultDenylist()),
	}
	for _, n := range []int{1, 1000} {
		req := IssueRequest{Value: giftkit.MustParseMoney("1", giftkit.EUR), Count: n, BatchID: "b"}
		allocs := testing.AllocsPerRun(20, func() {
			if out, err := s.newBatch(req, now); err != nil || len(out.Cards) != n {
				t.Fatalf("newBatch(%d cards) = %d cards, %v", n, len(out.Cards), err)
			}
		})
		if allocs > batchAllocs {
			t.Errorf("newBatch of %d cards allocates %v times; the budget is %v, whatever the count", n, allocs, batchAllocs)
		}
	}
}

// zeros is a random source of zero bytes: every code it yields is
// 0000-000000-00000, which no denylist word spells, so no code is drawn
// twice and the count is the same on every run.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
