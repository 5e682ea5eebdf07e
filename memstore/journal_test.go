package memstore

import (
	"testing"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/wallet"
)

// TestJournalChunks checks that a journal read in any range across its
// chunks gives its entries in order.
func TestJournalChunks(t *testing.T) {
	var j journal
	const n = 3*journalChunk + 17
	for i := range n {
		j.append(wallet.Entry{Seq: int64(i + 1)})
	}
	if j.len() != n {
		t.Fatalf("len = %d, want %d", j.len(), n)
	}
	for _, r := range [][2]int{{0, n}, {0, 0}, {5, 6}, {journalChunk - 1, journalChunk + 1}, {journalChunk, 2 * journalChunk}, {10, n - 3}, {n - 1, n}} {
		got := j.appendRange(nil, r[0], r[1])
		if len(got) != r[1]-r[0] {
			t.Fatalf("range %v: %d entries", r, len(got))
		}
		for i, e := range got {
			if e.Seq != int64(r[0]+i+1) {
				t.Fatalf("range %v: entry %d has Seq %d", r, i, e.Seq)
			}
		}
	}
}

// TestLastIndexSubjects: a card's subject is keyed by its ID alone, and a
// subject of the card kind with a currency (which no service makes) is
// another subject, not the card's (found by a review).
func TestLastIndexSubjects(t *testing.T) {
	var x lastIndex
	odd := activity.Subject{Kind: activity.SubjectCard, ID: "x", Currency: giftkit.EUR}
	x.set(odd, 1)
	if _, ok := x.get(activity.Card("x")); ok {
		t.Error("card x found under a subject with a currency")
	}
	x.set(activity.Card("x"), 2)
	if p, ok := x.get(odd); !ok || p != 1 {
		t.Errorf("get(%v) = %d, %v; want 1", odd, p, ok)
	}
	if p, ok := x.get(activity.Card("x")); !ok || p != 2 {
		t.Errorf("get(card x) = %d, %v; want 2", p, ok)
	}
}
