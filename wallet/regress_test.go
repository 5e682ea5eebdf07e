package wallet_test

// Regression tests from the adversarial review of issue 17's change.

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

// Under the CARD Act preset a card issued with a one-year expiry keeps its
// funds for five years.
func TestCardActFundsOutliveThePlastic(t *testing.T) {
	ctx := context.Background()
	p := giftcard.USCardAct()
	cards, w, clock := cardServices(t, &p, nil)
	out, err := cards.Issue(ctx, giftcard.IssueRequest{Value: euros("50.00"), ExpiresAt: clock.Now().AddDate(1, 0, 0)}, "i")
	if err != nil {
		t.Fatal(err)
	}
	code := out.Cards[0].Code.String()
	clock.Advance(400 * 24 * time.Hour)
	if _, err := w.CheckBalance(ctx, "alice", code); err != nil {
		t.Errorf("check 13 months after issue: %v", err)
	}
	if _, err := w.Redeem(ctx, "alice", code, "r"); err != nil {
		t.Errorf("redeem 13 months after issue: %v", err)
	}
}

// The month's loads are added with overflow checks.
func TestMonthlyLoadOverflow(t *testing.T) {
	ctx := context.Background()
	p := giftcard.Programme{Name: "capped loads", Reloadable: true, MaxLoadPerMonth: euros("150.00")}
	cards, w, _ := cardServices(t, &p, nil)
	out, _ := cards.Issue(ctx, giftcard.IssueRequest{Value: euros("1.00"), Count: 2}, "i")
	b, c := out.Cards[0].Card.ID, out.Cards[1].Card.ID
	if _, err := w.Reload(ctx, b, euros("100.00"), "till", "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Merge(ctx, b, c, "m"); err != nil {
		t.Fatal(err)
	}
	big := giftkit.FromMinor(math.MaxInt64-5000, giftkit.EUR)
	if _, err := w.Reload(ctx, b, big, "till", "r2"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("a reload of %v under a 150.00 monthly maximum: %v; want ErrProgrammeLimit", big, err)
	}
	if _, err := w.Reload(ctx, b, euros("50.01"), "till", "r3"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("100 + 50.01 in a month: %v; want ErrProgrammeLimit", err)
	}
}

// With ExternalCodes on, a native code typed with a character dropped or
// doubled is still a ParseError, never a counted guess.
func TestNearNativeTypoIsNotAGuess(t *testing.T) {
	ctx := wallet.WithClient(context.Background(), "203.0.113.7")
	cards, w, _ := cardServices(t, nil, wallet.NewMemoryLimiter(2, time.Hour, time.Hour))
	out, _ := cards.Issue(ctx, giftcard.IssueRequest{Value: euros("20.00")}, "i")
	code := out.Cards[0].Code.String()
	var pe *codefmt.ParseError
	for _, typo := range []string{code[:len(code)-1], code[:len(code)-2], code + "7", code + "77", code[1:]} {
		if _, err := w.CheckBalance(ctx, "alice", typo); !errors.As(err, &pe) {
			t.Errorf("typo %q: %v; want a ParseError", typo, err)
		}
	}
	if _, err := w.CheckBalance(ctx, "alice", code); err != nil {
		t.Errorf("the right code after typos: %v", err)
	}
	if _, err := giftcard.NormalizeExternal("ABCD-EFGH-JKMN-P"); !errors.Is(err, giftcard.ErrExternalCode) {
		t.Errorf("importing a near-native code: %v; want ErrExternalCode", err)
	}
	if _, err := giftcard.NormalizeExternal("6006 4912 3456 78"); err != nil {
		t.Errorf("a 14-digit external code: %v", err)
	}
}

// A fee of negative periods cannot be configured, so it can never be
// charged on an active card.
func TestNegativeFeeRefused(t *testing.T) {
	p := giftcard.Programme{Name: "x", Fee: &giftcard.DormancyFee{Amount: euros("1.00"),
		After: giftcard.Period{Months: -1}, Every: giftcard.Period{Days: -1}, Classes: []giftkit.ValueClass{giftkit.ClassPurchased}}}
	h, _ := giftcard.NewHasher(make([]byte, 32))
	if _, err := wallet.NewService(memstore.New(), wallet.Config{Hasher: h, Now: time.Now, Programme: &p}); !errors.Is(err, giftcard.ErrInvalidProgramme) {
		t.Errorf("a service took a fee of negative periods: %v", err)
	}
}

// A clawback follows the value of a card spent directly to where it moved:
// spending a cent by code, then redeeming the rest, shelters nothing.
func TestClawbackFollowsMovedValue(t *testing.T) {
	ctx := context.Background()
	p := giftcard.Programme{Name: "r", Reloadable: true}
	cards, w, _ := cardServices(t, &p, nil)
	out, err := cards.Issue(ctx, giftcard.IssueRequest{Value: euros("20.00"), Count: 3}, "i")
	if err != nil {
		t.Fatal(err)
	}
	opened, third := out.Cards[0], out.Cards[2]
	if _, err := w.Transfer(ctx, opened.Card.ID, third.Card.ID, euros("5.00"), "t"); err != nil { // opens both
		t.Fatal(err)
	}
	if _, err := w.Redeem(ctx, "mallory", opened.Code.String(), "r1"); err != nil { // moves the other 15.00
		t.Fatal(err)
	}
	ops := giftkit.WithReason(giftkit.WithActor(ctx, giftkit.Operator("ops")), "chargeback")
	c, err := w.Clawback(ops, opened.Card.ID, giftkit.Money{}, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Recovered != euros("20.00") || !c.Shortfall.IsZero() || len(c.From) != 2 {
		t.Errorf("clawback recovered %v, short %v, from %+v; want all 20.00 from two accounts", c.Recovered, c.Shortfall, c.From)
	}
	if b, _ := w.Balance(ctx, "mallory", giftkit.EUR); !b.Balance.IsZero() {
		t.Errorf("mallory keeps %v", b.Balance)
	}
	if got, _ := w.CardFunds(ctx, third.Card.ID); got.Balance != euros("20.00") {
		t.Errorf("the third card has %v; want its own 20.00 back", got.Balance)
	}
	if again, err := w.Clawback(ops, opened.Card.ID, giftkit.Money{}, "c1"); err != nil || len(again.From) != 2 {
		t.Errorf("replayed clawback %+v, %v", again.From, err)
	}
}

// A clawback of a blocked card whose value expired under the block lifts
// it, takes what it may, and blocks what is left without asking a hold of
// the expired value.
func TestClawbackBlockedExpired(t *testing.T) {
	ctx := context.Background()
	ops := giftkit.WithReason(giftkit.WithActor(ctx, giftkit.Operator("ops")), "chargeback")
	p := giftcard.Programme{Name: "r", Reloadable: true}
	cards, w, clock := cardServices(t, &p, nil)
	out, err := cards.Issue(ctx, giftcard.IssueRequest{Value: euros("10.00"), ExpiresAt: clock.Now().Add(time.Hour)}, "i")
	if err != nil {
		t.Fatal(err)
	}
	id := out.Cards[0].Card.ID
	if _, err := w.Reload(ctx, id, euros("5.00"), "till", "r"); err != nil { // opens it; all of it expires in an hour
		t.Fatal(err)
	}
	if _, err := w.BlockCard(ops, id, "b"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	c, err := w.Clawback(ops, id, giftkit.Money{}, "c")
	if err != nil || !c.Recovered.IsZero() || c.Shortfall != euros("10.00") {
		t.Fatalf("clawback of an expired blocked card: %+v, %v; want nothing recovered, 10.00 short", c, err)
	}
	if _, err := w.UnblockCard(ops, id, "u"); err != nil {
		t.Errorf("the card lost its block: %v", err)
	}
}
