package giftcard_test

// Tests that pin down behaviour the rest of the suite left open, each found
// by a mutant that survived it (scripts/mutation).

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// codeBytes returns the 9 random bytes from which codefmt.Generate draws a
// code whose first three characters have the values a, b and c (and whose
// other data characters are 0).
func codeBytes(a, b, c byte) []byte {
	bits := uint64(a) | uint64(b)<<5 | uint64(c)<<10
	out := make([]byte, 9)
	for i := range 8 {
		out[i] = byte(bits >> (8 * i))
	}
	return out
}

// perCard is what Issue reads of its random source for one card (with the
// batch ID given): the code's 9 bytes, then the ID's 10.
const perCard = 9 + 10

// issueFrom issues one card of the batch "b" in a fresh store, drawing
// codes and IDs from random.
func issueFrom(t *testing.T, denylist []string, random ...[]byte) (giftcard.IssuedCard, error) {
	t.Helper()
	hasher, err := giftcard.NewHasher(storetest.TestHashKey)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := giftcard.NewService(memstore.New(), giftcard.Config{
		Hasher: hasher, Now: storetest.NewClock(t0).Now, Rand: bytes.NewReader(bytes.Join(random, nil)), Denylist: denylist,
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.Issue(context.Background(), giftcard.IssueRequest{Value: giftkit.MustParseMoney("10", eur), BatchID: "b"}, "k")
	if err != nil {
		return giftcard.IssuedCard{}, err
	}
	return out.Cards[0], nil
}

// TestIssueDenylist: a nil Config.Denylist means codefmt.DefaultDenylist, so
// a code spelling ASS is drawn again; an empty, non-nil one denies nothing.
func TestIssueDenylist(t *testing.T) {
	const a, s = 10, 25 // the values of A and S in codefmt.Alphabet
	rude := append(codeBytes(a, s, s), make([]byte, 10)...)
	fine := make([]byte, perCard)
	zero := codefmt.MustParse("0000-000000-00000")
	rudeCode, err := codefmt.Generate(bytes.NewReader(rude))
	if err != nil || !strings.HasPrefix(rudeCode.String(), "ASS") {
		t.Fatalf("Generate(rude bytes) = %v, %v; want a code starting ASS", rudeCode, err)
	}

	ic, err := issueFrom(t, nil, rude, fine)
	if err != nil || ic.Code != zero {
		t.Errorf("Issue with the default denylist = %v, %v; want %v, drawn again past ASS…", ic.Code, err, zero)
	}
	ic, err = issueFrom(t, []string{}, rude, fine)
	if err != nil || ic.Code != rudeCode {
		t.Errorf("Issue with an empty denylist = %v, %v; want %v", ic.Code, err, rudeCode)
	}
}

// TestIssueCollisionRetries: a code whose hash another card has is drawn
// again, four draws in all; then Issue fails and creates nothing.
func TestIssueCollisionRetries(t *testing.T) {
	taken := make([]byte, perCard) // the code 0000-000000-00000
	fresh := make([]byte, perCard)
	for i := range fresh {
		fresh[i] = byte(i + 1)
	}
	for _, tc := range []struct {
		collisions int
		wantErr    bool
	}{{0, false}, {3, false}, {4, true}} {
		hasher, err := giftcard.NewHasher(storetest.TestHashKey)
		if err != nil {
			t.Fatal(err)
		}
		random := [][]byte{taken}
		for range tc.collisions {
			random = append(random, taken)
		}
		random = append(random, fresh)
		svc, err := giftcard.NewService(memstore.New(), giftcard.Config{
			Hasher: hasher, Now: storetest.NewClock(t0).Now, Rand: bytes.NewReader(bytes.Join(random, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		req := giftcard.IssueRequest{Value: giftkit.MustParseMoney("10", eur), BatchID: "b"}
		first, err := svc.Issue(ctx, req, "first")
		if err != nil {
			t.Fatal(err)
		}
		second, err := svc.Issue(ctx, req, "second")
		switch {
		case tc.wantErr && err == nil:
			t.Errorf("%d collisions: Issue = %v; want an error", tc.collisions, second.Cards[0].Code.Masked())
		case !tc.wantErr && err != nil:
			t.Errorf("%d collisions: Issue error = %v; want a card", tc.collisions, err)
		case !tc.wantErr && second.Cards[0].Code == first.Cards[0].Code:
			t.Errorf("%d collisions: Issue returned the taken code", tc.collisions)
		}
	}
}

// TestIssueCardIDs: every card of a batch has an ID of its own, "card_" and
// 20 hex digits, by which it is found.
func TestIssueCardIDs(t *testing.T) {
	env := storetest.NewEnv(t, memstore.New(), 1)
	ctx := context.Background()
	out, err := env.Cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("10", eur), Count: 30}, "k")
	if err != nil {
		t.Fatal(err)
	}
	idForm := regexp.MustCompile(`^card_[0-9a-f]{20}$`)
	seen := map[string]bool{}
	for i, ic := range out.Cards {
		if id := ic.Card.ID; !idForm.MatchString(id) || seen[id] {
			t.Errorf("card %d has ID %q; want card_ and 20 hex digits, unique", i, id)
		}
		seen[ic.Card.ID] = true
		if c, err := env.Cards.Card(ctx, ic.Card.ID); err != nil || c.Hash != ic.Card.Hash {
			t.Errorf("Card(%q) = %v, %v; want card %d", ic.Card.ID, c.ID, err, i)
		}
	}
}

// TestIssueLargestBatchReplays: a retry of an issuance of MaxBatch cards
// replays all of them.
func TestIssueLargestBatchReplays(t *testing.T) {
	env := storetest.NewEnv(t, memstore.New(), 1)
	ctx := context.Background()
	req := giftcard.IssueRequest{Value: giftkit.MustParseMoney("1", eur), Count: giftcard.MaxBatch, BatchID: "big"}
	first, err := env.Cards.Issue(ctx, req, "big")
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.Cards.Issue(ctx, req, "big")
	if err != nil || !again.Replayed || len(again.Cards) != giftcard.MaxBatch {
		t.Fatalf("retry of a batch of %d = %d cards, replayed %v, %v", giftcard.MaxBatch, len(again.Cards), again.Replayed, err)
	}
	if again.Cards[giftcard.MaxBatch-1].Card.ID != first.Cards[giftcard.MaxBatch-1].Card.ID {
		t.Errorf("retry's last card %s; want %s", again.Cards[giftcard.MaxBatch-1].Card.ID, first.Cards[giftcard.MaxBatch-1].Card.ID)
	}
}

// TestConflictIsAnError: a key reused for another request fails with an
// *Error that unwraps to giftkit.ErrIdempotencyConflict, like every other
// failure of the package.
func TestConflictIsAnError(t *testing.T) {
	env := storetest.NewEnv(t, memstore.New(), 1)
	ctx := context.Background()
	c, _ := env.Issue(t, giftkit.MustParseMoney("10", eur), "issue")
	if _, err := env.Cards.Block(ctx, c.ID, "k"); err != nil {
		t.Fatal(err)
	}
	_, issueErr := env.Cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("20", eur)}, "issue")
	_, voidErr := env.Cards.Void(ctx, c.ID, "k")
	for op, err := range map[string]error{"Issue": issueErr, "Void": voidErr} {
		var ce *giftcard.Error
		if !errors.As(err, &ce) || !errors.Is(err, giftkit.ErrIdempotencyConflict) {
			t.Errorf("%s under a used key = %v; want ErrIdempotencyConflict in a *giftcard.Error", op, err)
		}
	}
}

// TestStateTextOutOfRange: a State past the last is no state.
func TestStateTextOutOfRange(t *testing.T) {
	past := giftcard.StateVoided + 1
	if got := past.String(); got != "State(6)" {
		t.Errorf("State(6).String() = %q; want State(6)", got)
	}
	if text, err := past.MarshalText(); err == nil {
		t.Errorf("State(6).MarshalText() = %q; want an error", text)
	}
	var s giftcard.State
	if err := s.UnmarshalText(nil); err == nil {
		t.Errorf("UnmarshalText(empty) = %v; want an error", s)
	}
	if err := s.UnmarshalText([]byte("State(6)")); err == nil || !strings.Contains(err.Error(), "unknown state") {
		t.Errorf("UnmarshalText(State(6)) error = %v; want unknown state", err)
	}
}

func TestErrorMessages(t *testing.T) {
	masked := "****-******-*H567"
	for _, tc := range []struct {
		err  *giftcard.Error
		want string
	}{
		{&giftcard.Error{Op: "redeem", Masked: masked, SameAccount: true, Err: giftcard.ErrAlreadyRedeemed},
			"giftcard: redeem (****-******-*H567): card already redeemed by this account"},
		{&giftcard.Error{Op: "redeem", Masked: masked, Err: giftcard.ErrAlreadyRedeemed},
			"giftcard: redeem (****-******-*H567): card already redeemed by another account"},
		{&giftcard.Error{Op: "activate", CardID: "card_1", State: giftcard.StateRedeemed, Err: giftcard.ErrInvalidTransition},
			"giftcard: activate card_1: invalid card state transition from redeemed"},
		{&giftcard.Error{Op: "get", CardID: "card_1", Err: giftcard.ErrNotFound},
			"giftcard: get card_1: card not found"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q; want %q", got, tc.want)
		}
	}
}

// inserterTx is a memstore transaction with a bulk insert, as a database
// store has, that reports the first batches it is given as taken.
type inserterTx struct {
	*memstore.Tx
	calls *int
	taken int
}

func (tx inserterTx) InsertCards(cards []giftcard.Card) (bool, error) {
	*tx.calls++
	if *tx.calls <= tx.taken {
		return true, nil
	}
	for _, c := range cards {
		if err := tx.PutCard(c); err != nil {
			return false, err
		}
	}
	return false, nil
}

type inserterStore struct {
	*memstore.Store
	calls int
	taken int
}

func (s *inserterStore) Update(ctx context.Context, fn func(inserterTx) error) error {
	return s.Store.Update(ctx, func(tx *memstore.Tx) error { return fn(inserterTx{tx, &s.calls, s.taken}) })
}

// TestIssueUsesCardInserter: Issue inserts a batch with the store's bulk
// insert when it has one, and draws new codes when the insert finds one
// taken.
func TestIssueUsesCardInserter(t *testing.T) {
	store := &inserterStore{Store: memstore.New(), taken: 1}
	hasher, err := giftcard.NewHasher(storetest.TestHashKey)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: storetest.NewClock(t0).Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out, err := svc.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("10", eur), Count: 3}, "k")
	if err != nil || store.calls != 2 {
		t.Fatalf("Issue = %v after %d bulk inserts; want cards after 2 (the first reported taken)", err, store.calls)
	}
	for _, ic := range out.Cards {
		if c, err := svc.Card(ctx, ic.Card.ID); err != nil || c.Hash != ic.Card.Hash {
			t.Errorf("Card(%s) = %v, %v", ic.Card.ID, c.ID, err)
		}
	}
}
