package memstore

import (
	"testing"

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
