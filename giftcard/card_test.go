package giftcard_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

var (
	t0  = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	eur = giftkit.EUR
)

func card(state giftcard.State) giftcard.Card {
	return giftcard.Card{ID: "card_1", Suffix: "H567", Value: giftkit.MustParseMoney("20", eur), State: state,
		IssuedAt: t0, ExpiresAt: t0.Add(48 * time.Hour)}
}

func TestTransitions(t *testing.T) {
	type step func(giftcard.Card, time.Time) (giftcard.Card, error)
	steps := map[string]step{
		"activate": giftcard.Card.Activate, "block": giftcard.Card.Block,
		"unblock": giftcard.Card.Unblock, "void": giftcard.Card.Void,
	}
	all := []giftcard.State{giftcard.StatePending, giftcard.StateActive, giftcard.StateRedeemed, giftcard.StateBlocked, giftcard.StateVoided}
	allowed := map[string]map[giftcard.State]giftcard.State{
		"activate": {giftcard.StatePending: giftcard.StateActive},
		"block":    {giftcard.StateActive: giftcard.StateBlocked},
		"unblock":  {giftcard.StateBlocked: giftcard.StateActive},
		"void":     {giftcard.StatePending: giftcard.StateVoided, giftcard.StateActive: giftcard.StateVoided, giftcard.StateBlocked: giftcard.StateVoided},
	}
	for name, fn := range steps {
		for _, from := range all {
			before := card(from)
			got, err := fn(before, t0)
			want, ok := allowed[name][from]
			if before.State != from {
				t.Fatalf("%s changed its receiver", name)
			}
			if !ok {
				var ce *giftcard.Error
				if !errors.Is(err, giftcard.ErrInvalidTransition) || !errors.As(err, &ce) || ce.State != from || got.State != from {
					t.Errorf("%s from %v = %v, %v; want ErrInvalidTransition and no change", name, from, got.State, err)
				}
				continue
			}
			if err != nil || got.State != want || !got.UpdatedAt.Equal(t0) {
				t.Errorf("%s from %v = %v, %v; want %v", name, from, got.State, err, want)
			}
		}
	}
}

func TestRedeem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		card  giftcard.Card
		owner string
		now   time.Time
		want  error
		same  bool
	}{
		{"active", card(giftcard.StateActive), "alice", t0, nil, false},
		{"pending", card(giftcard.StatePending), "alice", t0, giftcard.ErrNotRedeemable, false},
		{"blocked", card(giftcard.StateBlocked), "alice", t0, giftcard.ErrNotRedeemable, false},
		{"voided", card(giftcard.StateVoided), "alice", t0, giftcard.ErrNotRedeemable, false},
		{"expired", card(giftcard.StateActive), "alice", t0.Add(48 * time.Hour), giftcard.ErrExpired, false},
		{"redeemed by me", func() giftcard.Card { c := card(giftcard.StateRedeemed); c.RedeemedBy = "alice"; return c }(), "alice", t0, giftcard.ErrAlreadyRedeemed, true},
		{"redeemed by another", func() giftcard.Card { c := card(giftcard.StateRedeemed); c.RedeemedBy = "bob"; return c }(), "alice", t0, giftcard.ErrAlreadyRedeemed, false},
	} {
		got, red, err := tc.card.Redeem(tc.owner, tc.now)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Redeem error = %v; want %v", tc.name, err, tc.want)
			continue
		}
		if err != nil {
			var ce *giftcard.Error
			errors.As(err, &ce)
			if ce.SameAccount != tc.same || got != tc.card {
				t.Errorf("%s: SameAccount = %v, card changed = %v", tc.name, ce.SameAccount, got != tc.card)
			}
			if strings.Contains(err.Error(), "H567") && !strings.Contains(err.Error(), "****-******-*H567") {
				t.Errorf("%s: message %q shows the code unmasked", tc.name, err)
			}
			continue
		}
		want := giftcard.Redemption{CardID: "card_1", Owner: "alice", Amount: tc.card.Value, At: t0, ExpiresAt: tc.card.ExpiresAt}
		if red != want || got.State != giftcard.StateRedeemed || got.RedeemedBy != "alice" || !got.RedeemedAt.Equal(t0) {
			t.Errorf("%s: Redeem = %+v, %+v", tc.name, got, red)
		}
	}
}

func TestHasher(t *testing.T) {
	if _, err := giftcard.NewHasher(make([]byte, giftcard.MinKeyLen-1)); err == nil {
		t.Error("NewHasher accepted a short key")
	}
	key := bytes.Repeat([]byte{7}, 32)
	h1, _ := giftcard.NewHasher(key)
	h2, _ := giftcard.NewHasher(bytes.Repeat([]byte{8}, 32))
	key[0] = 9 // the Hasher keeps its own copy
	h3, _ := giftcard.NewHasher(bytes.Repeat([]byte{7}, 32))
	c := codefmt.MustParse("1G06-02M06R-1GGZ1")
	if h1.Hash(c) == h2.Hash(c) {
		t.Error("different keys give the same hash")
	}
	if h1.Hash(c) != h3.Hash(c) {
		t.Error("the Hasher's key changed with the caller's slice")
	}
	var back giftcard.Hash
	text, _ := h1.Hash(c).MarshalText()
	if err := back.UnmarshalText(text); err != nil || back != h1.Hash(c) {
		t.Errorf("hash text round trip: %v, %v", back, err)
	}
	if err := back.UnmarshalText([]byte("abc")); err == nil {
		t.Error("UnmarshalText accepted a short hash")
	}
	// The hash is HMAC-SHA256 of the canonical text under the key: the
	// pooled states give what a fresh one does, and allocate nothing.
	mac := hmac.New(sha256.New, bytes.Repeat([]byte{7}, 32))
	mac.Write([]byte(c.String()))
	if got := h1.Hash(c); !bytes.Equal(got[:], mac.Sum(nil)) {
		t.Error("Hash is not HMAC-SHA256 of the canonical code")
	}
	if n := testing.AllocsPerRun(100, func() { h1.Hash(c) }); n != 0 && !raceEnabled {
		t.Errorf("Hash allocates %v times", n)
	}
}

func newEnv(t *testing.T) (storetest.Env, *memstore.Store) {
	store := memstore.New()
	return storetest.NewEnv(t, store, 1), store
}

func TestIssue(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	exp := t0.Add(24 * time.Hour)
	out, err := env.Cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("25", eur), Count: 5, ExpiresAt: exp, BatchID: "spring"}, "batch-1")
	if err != nil {
		t.Fatal(err)
	}
	if out.BatchID != "spring" || len(out.Cards) != 5 || out.Replayed {
		t.Fatalf("Issue = %+v", out)
	}
	seen := map[codefmt.Code]bool{}
	for _, ic := range out.Cards {
		c := ic.Card
		if seen[ic.Code] || !ic.Code.IsValid() || c.State != giftcard.StateActive || c.Suffix != ic.Code.Suffix() || !c.ExpiresAt.Equal(exp) {
			t.Errorf("issued card %+v with code %v", c, ic.Code.Masked())
		}
		seen[ic.Code] = true
		stored, err := env.Cards.Card(ctx, c.ID)
		if err != nil || stored.Hash != c.Hash {
			t.Errorf("Card(%s) = %v, %v", c.ID, stored, err)
		}
	}
	// A retry creates nothing and returns the same cards without codes.
	again, err := env.Cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("25", eur), Count: 5, ExpiresAt: exp, BatchID: "spring"}, "batch-1")
	if err != nil || !again.Replayed || len(again.Cards) != 5 {
		t.Fatalf("retry = %+v, %v", again, err)
	}
	for i, ic := range again.Cards {
		if ic.Code.IsValid() || ic.Card.ID != out.Cards[i].Card.ID {
			t.Errorf("retry card %d = %s with code %v; want %s without code", i, ic.Card.ID, ic.Code.IsValid(), out.Cards[i].Card.ID)
		}
	}
	pending, err := env.Cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("5", eur), Pending: true}, "batch-2")
	if err != nil || pending.Cards[0].Card.State != giftcard.StatePending || !pending.Cards[0].Card.ActivatedAt.IsZero() {
		t.Errorf("pending issue = %+v, %v", pending, err)
	}
}

func TestIssueErrors(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	ok := giftkit.MustParseMoney("10", eur)
	for _, tc := range []struct {
		name string
		req  giftcard.IssueRequest
		key  string
		want error
	}{
		{"zero value", giftcard.IssueRequest{Value: giftkit.Zero(eur)}, "k", giftcard.ErrInvalidRequest},
		{"negative value", giftcard.IssueRequest{Value: giftkit.MustParseMoney("-1", eur)}, "k", giftcard.ErrInvalidRequest},
		{"no currency", giftcard.IssueRequest{}, "k", giftcard.ErrInvalidRequest},
		{"negative count", giftcard.IssueRequest{Value: ok, Count: -1}, "k", giftcard.ErrInvalidRequest},
		{"too many", giftcard.IssueRequest{Value: ok, Count: giftcard.MaxBatch + 1}, "k", giftcard.ErrInvalidRequest},
		{"expired already", giftcard.IssueRequest{Value: ok, ExpiresAt: t0}, "k", giftcard.ErrInvalidRequest},
		{"no key", giftcard.IssueRequest{Value: ok}, "", giftkit.ErrKeyRequired},
		{"long key", giftcard.IssueRequest{Value: ok}, strings.Repeat("k", 300), giftkit.ErrKeyRequired},
	} {
		_, err := env.Cards.Issue(ctx, tc.req, tc.key)
		var ce *giftcard.Error
		if !errors.Is(err, tc.want) || !errors.As(err, &ce) {
			t.Errorf("%s: Issue error = %v; want %v in a *giftcard.Error", tc.name, err, tc.want)
		}
	}
	if _, err := env.Cards.Issue(ctx, giftcard.IssueRequest{Value: ok}, "used"); err != nil {
		t.Fatal(err)
	}
	_, err := env.Cards.Issue(ctx, giftcard.IssueRequest{Value: ok, Count: 2}, "used")
	if !errors.Is(err, giftkit.ErrIdempotencyConflict) {
		t.Errorf("key reused for another request: %v; want ErrIdempotencyConflict", err)
	}
	if _, err := env.Cards.Activate(ctx, "card_missing", "a1"); !errors.Is(err, giftcard.ErrNotFound) {
		t.Errorf("Activate(unknown) = %v; want ErrNotFound", err)
	}
	if _, err := env.Cards.Card(ctx, "card_missing"); !errors.Is(err, giftcard.ErrNotFound) {
		t.Errorf("Card(unknown) = %v; want ErrNotFound", err)
	}
}

func TestAdminReplay(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	c, _ := env.Issue(t, giftkit.MustParseMoney("10", eur), "i")
	blocked, err := env.Cards.Block(ctx, c.ID, "b1")
	if err != nil || blocked.State != giftcard.StateBlocked {
		t.Fatalf("Block = %v, %v", blocked.State, err)
	}
	if again, err := env.Cards.Block(ctx, c.ID, "b1"); err != nil || again.State != giftcard.StateBlocked {
		t.Errorf("Block retried = %v, %v; want the first outcome", again.State, err)
	}
	if _, err := env.Cards.Block(ctx, c.ID, "b2"); !errors.Is(err, giftcard.ErrInvalidTransition) {
		t.Errorf("Block with a new key = %v; want ErrInvalidTransition", err)
	}
	// The failure is recorded: after unblocking, the same key still fails.
	if _, err := env.Cards.Unblock(ctx, c.ID, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Cards.Block(ctx, c.ID, "b2"); !errors.Is(err, giftcard.ErrInvalidTransition) {
		t.Errorf("retry of a failed Block = %v; want the recorded ErrInvalidTransition", err)
	}
	if _, err := env.Cards.Void(ctx, c.ID, "u1"); !errors.Is(err, giftkit.ErrIdempotencyConflict) {
		t.Errorf("Void under Unblock's key: %v; want ErrIdempotencyConflict", err)
	}
}

func TestErrorJSON(t *testing.T) {
	in := &giftcard.Error{Op: "redeem", CardID: "card_1", Masked: "****-******-*H567", SameAccount: true,
		RedeemedAt: t0, State: giftcard.StateRedeemed, Err: giftcard.ErrAlreadyRedeemed}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"error":"already_redeemed"`) {
		t.Errorf("JSON %s lacks the error code", data)
	}
	var out giftcard.Error
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in.Error(), out.Error()); diff != "" || !errors.Is(&out, giftcard.ErrAlreadyRedeemed) {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
	if err := json.Unmarshal([]byte(`{"op":"x","error":"nope"}`), &out); err == nil {
		t.Error("unknown error code accepted")
	}
}

func TestStateText(t *testing.T) {
	for s := giftcard.StatePending; s <= giftcard.StateVoided; s++ {
		text, err := s.MarshalText()
		var back giftcard.State
		if err != nil || back.UnmarshalText(text) != nil || back != s {
			t.Errorf("state %v round trip: %s, %v", s, text, err)
		}
	}
	var zero giftcard.State
	if _, err := zero.MarshalText(); err == nil {
		t.Error("zero State marshalled")
	}
}
