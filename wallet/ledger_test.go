package wallet_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

var staff = giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Operator("ana")), "chargeback 77")

// Credits of different classes never share a lot, and at one expiry the
// promotional value is spent first and the purchased value last.
func TestLotsKeepTheirClass(t *testing.T) {
	a := wallet.NewAccount("alice", eur)
	var err error
	for _, c := range []wallet.CreditSpec{
		{Kind: wallet.EntryCredit, Amount: eurs("10.00"), Source: "card-1"},
		{Kind: wallet.EntryRefund, Amount: eurs("2.00"), Source: "order-1"},
		{Kind: wallet.EntryCredit, Class: giftkit.ClassPromotional, Amount: eurs("3.00"), Source: "promo-1"},
		{Kind: wallet.EntryCredit, Amount: eurs("5.00"), Source: "card-2"},
		{Kind: wallet.EntryAdjustment, Amount: eurs("1.00"), Source: "ticket"},
	} {
		if a, _, err = a.Credit(c, "k", t0); err != nil {
			t.Fatal(err)
		}
	}
	var classes []giftkit.ValueClass
	for _, l := range a.Lots() {
		classes = append(classes, l.Class)
	}
	want := []giftkit.ValueClass{giftkit.ClassPromotional, giftkit.ClassAdjustment, giftkit.ClassRefund, giftkit.ClassPurchased}
	if len(classes) != len(want) || a.Lots()[3].Remaining != eurs("15.00") {
		t.Fatalf("lots %+v; want one per class, in spending order %v", a.Lots(), want)
	}
	for i := range want {
		if classes[i] != want[i] {
			t.Fatalf("lots in order %v; want %v", classes, want)
		}
	}
	a, _, err = a.PlaceHold(wallet.HoldSpec{ID: "h", Placer: "p", Amount: eurs("4.50")}, "k", t0)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := a.Hold("h")
	if len(h.Parts) != 3 || h.Parts[0].Amount != eurs("3.00") || h.Parts[1].Amount != eurs("1.00") || h.Parts[2].Amount != eurs("0.50") {
		t.Errorf("hold parts %+v; want promotional 3.00, adjustment 1.00, refund 0.50", h.Parts)
	}
}

// Take never takes what a hold reserves, nor expired credit, and takes the
// class it is asked for first.
func TestTake(t *testing.T) {
	a := wallet.NewAccount("alice", eur)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("10.00"), ExpiresAt: t0.Add(time.Hour)}, "k", t0)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Class: giftkit.ClassPromotional, Amount: eurs("4.00"), ExpiresAt: t0.Add(time.Minute)}, "k", t0)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("5.00")}, "k", t0)
	a, _, err := a.PlaceHold(wallet.HoldSpec{ID: "h", Placer: "p", Amount: eurs("12.00")}, "k", t0) // promo 4, then 8 of the 10
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := a.Take(wallet.TakeSpec{Kind: wallet.EntryAdjustment, Amount: eurs("7.01")}, "k", t0); !errors.Is(err, wallet.ErrInsufficientFunds) {
		t.Errorf("taking 7.01 of 7.00 available: %v; want ErrInsufficientFunds", err)
	}
	b, entries, took, err := a.Take(wallet.TakeSpec{Kind: wallet.EntryClawback, Amount: eurs("9.00"), Partial: true, Class: giftkit.ClassPurchased}, "k", t0)
	if err != nil || took != eurs("7.00") || len(entries) != 1 || entries[0].Amount != eurs("-7.00") {
		t.Fatalf("partial take = %v, %+v, %v; want 7.00", took, entries, err)
	}
	if _, err := wallet.RestoreAccount(b.State()); err != nil || b.Held() != eurs("12.00") || b.Available().Minor() != 0 {
		t.Errorf("after the take: %v, held %v, available %v", err, b.Held(), b.Available())
	}
	// An hour later the 10.00 credit has expired: only the 5.00 that
	// never expires is there to take, though 2.00 of the expired credit
	// is still free until a sweep.
	later := t0.Add(2 * time.Hour)
	if _, _, took, _ := a.Take(wallet.TakeSpec{Kind: wallet.EntryClawback, Amount: eurs("9.00"), Partial: true}, "k", later); took != eurs("5.00") {
		t.Errorf("take after expiry = %v; want 5.00", took)
	}
}

func TestClawback(t *testing.T) {
	env, store := newEnv(t)
	ctx := context.Background()
	alice := giftkit.WithActor(ctx, giftkit.Shopper("alice"))
	unsold, err := env.Cards.Issue(ctx, giftcard.IssueRequest{Value: eurs("30.00"), Count: 2}, "issue")
	if err != nil {
		t.Fatal(err)
	}
	a, b := unsold.Cards[0].Card, unsold.Cards[1].Card
	// Not redeemed: a part reduces the card, all of it voids the card.
	got, err := env.Wallet.Clawback(staff, a.ID, eurs("10.00"), "c1")
	if err != nil || got.Voided || got.Card.Value != eurs("20.00") || got.Recovered != eurs("10.00") || !got.Shortfall.IsZero() {
		t.Fatalf("part of an unredeemed card = %+v, %v", got, err)
	}
	if got, err = env.Wallet.Clawback(staff, a.ID, giftkit.Money{}, "c2"); err != nil || !got.Voided || got.Asked != eurs("20.00") {
		t.Fatalf("the rest of an unredeemed card = %+v, %v", got, err)
	}
	if _, err := env.Wallet.Clawback(staff, a.ID, giftkit.Money{}, "c3"); !errors.Is(err, giftcard.ErrInvalidTransition) {
		t.Errorf("clawback of a voided card: %v; want ErrInvalidTransition", err)
	}
	// Redeemed and partly spent: the account gives back what it has, the
	// rest is reported.
	if _, err := env.Wallet.Redeem(alice, "alice", unsold.Cards[1].Code.String(), "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Wallet.Debit(alice, "alice", eurs("12.00"), "order", "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Wallet.Hold(alice, "alice", wallet.HoldRequest{Amount: eurs("8.00")}, "h"); err != nil {
		t.Fatal(err)
	}
	got, err = env.Wallet.Clawback(staff, b.ID, giftkit.Money{}, "c4")
	if err != nil || got.Owner != "alice" || got.Asked != eurs("30.00") || got.Recovered != eurs("10.00") || got.Shortfall != eurs("20.00") {
		t.Fatalf("clawback of a spent card = %+v, %v; want 10.00 recovered, 20.00 short", got, err)
	}
	// The same key replays the outcome; nothing is left to ask for.
	if again, err := env.Wallet.Clawback(staff, b.ID, giftkit.Money{}, "c4"); err != nil || again.Recovered != got.Recovered {
		t.Errorf("replay = %+v, %v", again, err)
	}
	if _, err := env.Wallet.Clawback(staff, b.ID, eurs("0.01"), "c5"); !errors.Is(err, giftcard.ErrInvalidRequest) {
		t.Errorf("a second clawback beyond the card's value: %v; want ErrInvalidRequest", err)
	}
	bal, _ := env.Wallet.Balance(ctx, "alice", eur)
	if bal.Balance != eurs("8.00") || bal.Held != eurs("8.00") {
		t.Errorf("alice after the clawback: %+v; want the held 8.00 untouched", bal)
	}
	h, _ := env.Wallet.History(ctx, "alice", eur, 0, 0)
	last := h.Entries[len(h.Entries)-1]
	if last.Kind != wallet.EntryClawback || last.Amount != eurs("-10.00") || last.Reference != b.ID {
		t.Errorf("last entry %+v; want the clawback", last)
	}
	// Only an operator with a reason may claw back.
	if _, err := env.Wallet.Clawback(alice, b.ID, giftkit.Money{}, "c6"); !errors.Is(err, activity.ErrInvalidActor) {
		t.Errorf("a shopper's clawback: %v", err)
	}
	noReason := giftkit.WithActor(ctx, giftkit.Operator("ana"))
	if _, err := env.Wallet.Adjust(noReason, "alice", eurs("1.00"), "x", "c7"); !errors.Is(err, giftkit.ErrInvalid) {
		t.Errorf("an adjustment without a reason: %v", err)
	}
	storetest.CheckActivity(t, store)
}

func TestAdjust(t *testing.T) {
	env, store := newEnv(t)
	ctx := context.Background()
	env.Fund(t, "alice", eurs("10.00"))
	if _, err := env.Wallet.Hold(ctx, "alice", wallet.HoldRequest{Amount: eurs("6.00")}, "h"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Wallet.Adjust(staff, "alice", eurs("-4.01"), "ticket", "a1"); !errors.Is(err, wallet.ErrInsufficientFunds) {
		t.Errorf("adjusting below what the hold reserves: %v; want ErrInsufficientFunds", err)
	}
	if _, err := env.Wallet.Adjust(staff, "alice", eurs("0.00"), "ticket", "a2"); !errors.Is(err, wallet.ErrInvalidAmount) {
		t.Errorf("a zero adjustment: %v; want ErrInvalidAmount", err)
	}
	b, err := env.Wallet.Adjust(staff, "alice", eurs("-4.00"), "ticket", "a3")
	if err != nil || b.Balance != eurs("6.00") || b.Available.Minor() != 0 {
		t.Fatalf("adjust down = %+v, %v", b, err)
	}
	if again, err := env.Wallet.Adjust(staff, "alice", eurs("-4.00"), "ticket", "a3"); err != nil || again != b {
		t.Errorf("replay = %+v, %v; want %+v", again, err, b)
	}
	if _, err := env.Wallet.Adjust(staff, "alice", eurs("2.50"), "ticket", "a4"); err != nil {
		t.Fatal(err)
	}
	st, _ := env.Wallet.Balance(ctx, "alice", eur)
	if st.Balance != eurs("8.50") {
		t.Errorf("balance %v; want 8.50", st.Balance)
	}
	storetest.CheckActivity(t, store)
}
