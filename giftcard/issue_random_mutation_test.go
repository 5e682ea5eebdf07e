package giftcard_test

// Found by a mutant that survived the rest of the suite (scripts/mutation):
// reading less ahead draws the same cards, so only the reads show it.

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// countingReader counts the reads made of a seeded random source.
type countingReader struct {
	r     *rand.ChaCha8
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// TestIssueReadsRandomnessOnce: a batch reads the randomness of all its codes
// and IDs in one read of Config.Rand (crypto/rand costs a system call per
// read), and the cards are those drawn card by card from the same stream.
func TestIssueReadsRandomnessOnce(t *testing.T) {
	const n = 20
	source := &countingReader{r: rand.NewChaCha8([32]byte{7})}
	hasher, err := giftcard.NewHasher(storetest.TestHashKey)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := giftcard.NewService(memstore.New(), giftcard.Config{
		Hasher: hasher, Now: storetest.NewClock(t0).Now, Rand: source, Denylist: []string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.Issue(context.Background(), giftcard.IssueRequest{Value: giftkit.MustParseMoney("10", eur), Count: n, BatchID: "b"}, "k")
	if err != nil {
		t.Fatal(err)
	}
	if source.reads != 1 {
		t.Errorf("Issue of %d cards read its random source %d times; want 1", n, source.reads)
	}
	same := rand.NewChaCha8([32]byte{7})
	for i, ic := range out.Cards {
		code, err := codefmt.Generate(same)
		if err != nil {
			t.Fatal(err)
		}
		id := make([]byte, 10)
		_, _ = same.Read(id)
		if ic.Code != code || ic.Card.ID != "card_"+hex.EncodeToString(id) {
			t.Errorf("card %d = %s %s; want %s card_%x, drawn card by card", i, ic.Card.ID, ic.Code.Masked(), code.Masked(), id)
		}
	}
}

// TestIssueDeniedCodeKeepsStreamOrder: a code the denylist refuses in the
// middle of a batch is drawn again from the bytes that follow it, and the
// rest of the batch reads on in order, so the cards are those drawn card by
// card from the same stream, before and after the refusal (found by a
// review: drawing again past the bytes read ahead changed every card
// after a refusal).
func TestIssueDeniedCodeKeepsStreamOrder(t *testing.T) {
	const n, denied = 6, 2
	seed := [32]byte{9}
	// The third code drawn card by card: deny the word its first group spells.
	plain := rand.NewChaCha8(seed)
	var third codefmt.Code
	for i := 0; i <= denied; i++ {
		c, err := codefmt.Generate(plain)
		if err != nil {
			t.Fatal(err)
		}
		third = c
		_, _ = plain.Read(make([]byte, 10)) // its ID
	}
	text, _ := third.MarshalText()
	word := string(text[:4])
	deny := codefmt.NewDenylist([]string{word})
	hasher, err := giftcard.NewHasher(storetest.TestHashKey)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := giftcard.NewService(memstore.New(), giftcard.Config{
		Hasher: hasher, Now: storetest.NewClock(t0).Now, Rand: rand.NewChaCha8(seed), Denylist: []string{word},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.Issue(context.Background(), giftcard.IssueRequest{Value: giftkit.MustParseMoney("10", eur), Count: n, BatchID: "b"}, "k")
	if err != nil {
		t.Fatal(err)
	}
	same := rand.NewChaCha8(seed)
	for i, ic := range out.Cards {
		code, err := deny.Generate(same)
		if err != nil {
			t.Fatal(err)
		}
		id := make([]byte, 10)
		_, _ = same.Read(id)
		if ic.Code != code || ic.Card.ID != "card_"+hex.EncodeToString(id) {
			t.Errorf("card %d = %s %s; want %s card_%x, drawn card by card", i, ic.Card.ID, ic.Code, code, id)
		}
		if i == denied && ic.Code == third {
			t.Errorf("card %d has the denied code %s", i, ic.Code)
		}
	}
}
