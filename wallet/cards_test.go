package wallet_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

func cardServices(t *testing.T, p *giftcard.Programme, limiter wallet.Limiter) (*giftcard.Service, *wallet.Service, *storetest.Clock) {
	t.Helper()
	store := memstore.New()
	h, err := giftcard.NewHasher(storetest.TestHashKey)
	if err != nil {
		t.Fatal(err)
	}
	clock := storetest.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	cards, err := giftcard.NewService(store, giftcard.Config{Hasher: h, Now: clock.Now, Programme: p})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wallet.NewService(store, wallet.Config{Hasher: h, Now: clock.Now, Programme: p, Limiter: limiter, ExternalCodes: true})
	if err != nil {
		t.Fatal(err)
	}
	return cards, w, clock
}

// A balance check never counts a typo, counts every miss, and a card found
// clears nothing; a lockout refuses checks and redemptions alike.
func TestCheckBalanceLimiter(t *testing.T) {
	ctx := wallet.WithClient(context.Background(), "203.0.113.7")
	cards, w, _ := cardServices(t, nil, wallet.NewMemoryLimiter(2, time.Hour, time.Hour))
	out, err := cards.Issue(ctx, giftcard.IssueRequest{Value: euros("20.00")}, "i")
	if err != nil {
		t.Fatal(err)
	}
	code := out.Cards[0].Code
	typo := []byte(code.String())
	typo[3] = codefmt.Alphabet[(strings.IndexByte(codefmt.Alphabet, typo[3])+1)%len(codefmt.Alphabet)]
	var pe *codefmt.ParseError
	for range 5 {
		if _, err := w.CheckBalance(ctx, "", string(typo)); !errors.As(err, &pe) {
			t.Fatalf("typo: %v; want a ParseError", err)
		}
	}
	b, err := w.CheckBalance(ctx, "", code.String())
	if err != nil || b.Available != euros("20.00") || b.Opened || b.Masked != code.Masked() {
		t.Fatalf("CheckBalance = %+v, %v", b, err)
	}
	unknown, _ := codefmt.Generate(zeroReader{})
	if _, err := w.CheckBalance(ctx, "", unknown.String()); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := w.CheckBalance(ctx, "", code.String()); err != nil { // a card found between guesses clears nothing
		t.Fatal(err)
	}
	if _, err := w.CheckBalance(ctx, "", unknown.String()); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Fatalf("second miss: %v", err)
	}
	if _, err := w.CheckBalance(ctx, "", code.String()); !errors.Is(err, wallet.ErrTooManyAttempts) {
		t.Errorf("after two misses: %v; want ErrTooManyAttempts", err)
	}
	if _, err := w.Redeem(ctx, "guest", code.String(), "r"); !errors.Is(err, wallet.ErrTooManyAttempts) {
		t.Errorf("redeem by the locked-out guest: %v; want ErrTooManyAttempts", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// An imported card is redeemed and checked by its own code, read by the
// documented rule; a native-shaped typo is still a ParseError.
func TestExternalCodes(t *testing.T) {
	ctx := context.Background()
	cards, w, _ := cardServices(t, nil, nil)
	if _, err := cards.Import(ctx, giftcard.ImportRequest{Cards: []giftcard.ExternalCard{{Code: "6006 4912 3456 7890 12", Balance: euros("7.50")}}}, "imp"); err != nil {
		t.Fatal(err)
	}
	b, err := w.CheckBalance(ctx, "alice", "6006-4912-3456-7890-12")
	if err != nil || b.Available != euros("7.50") || !b.Imported || b.Masked != "****9012" {
		t.Fatalf("CheckBalance = %+v, %v", b, err)
	}
	red, err := w.Redeem(ctx, "alice", "600649123456789012", "r")
	if err != nil || red.Balance.Balance != euros("7.50") {
		t.Fatalf("Redeem = %+v, %v", red, err)
	}
	var pe *codefmt.ParseError
	if _, err := w.Redeem(ctx, "alice", "7K3M-9PQ2R4-XW8N6", "r2"); !errors.As(err, &pe) {
		t.Errorf("a native-shaped code: %v; want a ParseError", err)
	}
}

// Accounts are loaded; a shopper's owner can never name a card's account.
func TestLoadAndReservedOwners(t *testing.T) {
	ctx := context.Background()
	p := giftcard.Programme{Name: "capped", MaxAccountBalance: euros("100.00")}
	_, w, _ := cardServices(t, &p, nil)
	if b, err := w.Load(ctx, "alice", euros("60.00"), "order-9", "l1"); err != nil || b.Balance != euros("60.00") {
		t.Fatalf("Load = %+v, %v", b, err)
	}
	if _, err := w.Load(ctx, "alice", euros("40.01"), "order-10", "l2"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("load past the account maximum: %v; want ErrProgrammeLimit", err)
	}
	page, err := w.History(ctx, "alice", giftkit.EUR, 0, 0)
	if err != nil || len(page.Entries) != 1 || page.Entries[0].Kind != wallet.EntryLoad {
		t.Errorf("history %+v, %v; want one load", page.Entries, err)
	}
	if _, err := w.Balance(ctx, giftcard.AccountOwner("card_00"), giftkit.EUR); !errors.Is(err, wallet.ErrInvalidOwner) {
		t.Errorf("a card's account by owner: %v; want ErrInvalidOwner", err)
	}
}

// Under a programme whose validity counts from the last load, a reload
// pushes the expiry of what is on the card out.
func TestReloadExtendsValidity(t *testing.T) {
	ctx := context.Background()
	p := giftcard.USCardAct()
	cards, w, clock := cardServices(t, &p, nil)
	exp := clock.Now().AddDate(5, 0, 1)
	out, err := cards.Issue(ctx, giftcard.IssueRequest{Value: euros("10.00"), ExpiresAt: exp}, "i")
	if err != nil {
		t.Fatal(err)
	}
	id := out.Cards[0].Card.ID
	clock.Advance(3 * 365 * 24 * time.Hour)
	b, err := w.Reload(ctx, id, euros("5.00"), "till", "r")
	if err != nil {
		t.Fatal(err)
	}
	if want := clock.Now().AddDate(5, 0, 0); b.NextLapse.Before(want) {
		t.Errorf("after a reload the value lapses at %v; want no sooner than %v", b.NextLapse, want)
	}
	if b.Balance != euros("15.00") {
		t.Errorf("balance %v; want 15.00", b.Balance)
	}
}
func euros(s string) giftkit.Money { return giftkit.MustParseMoney(s, giftkit.EUR) }

// A card past its expiry takes no more value, even when what is on it is
// still spendable.
func TestReloadExpiredCard(t *testing.T) {
	ctx := context.Background()
	p := giftcard.Programme{Name: "reloadable", Reloadable: true}
	cards, w, clock := cardServices(t, &p, nil)
	out, err := cards.Issue(ctx, giftcard.IssueRequest{Value: euros("10.00"), ExpiresAt: clock.Now().Add(48 * time.Hour)}, "i")
	if err != nil {
		t.Fatal(err)
	}
	id := out.Cards[0].Card.ID
	if _, err := w.Reload(ctx, id, euros("1.00"), "till", "r1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(72 * time.Hour)
	if _, err := w.Reload(ctx, id, euros("1.00"), "till", "r2"); !errors.Is(err, giftcard.ErrExpired) {
		t.Errorf("reload after expiry: %v; want ErrExpired", err)
	}
}

// A dormancy fee is charged only as the programme allows: after the
// inactivity, once per period, only from the classes it names.
func TestDormancyFee(t *testing.T) {
	ctx := context.Background()
	usd := giftkit.MustParseCurrency("USD")
	dollars := func(s string) giftkit.Money { return giftkit.MustParseMoney(s, usd) }
	p := giftcard.USCardAct()
	p.Fee = &giftcard.DormancyFee{Amount: dollars("2.50"), After: giftcard.Period{Months: 12}, Every: giftcard.Period{Months: 1},
		Classes: []giftkit.ValueClass{giftkit.ClassPurchased}}
	cards, w, clock := cardServices(t, &p, nil)
	bought, err := cards.Issue(ctx, giftcard.IssueRequest{Value: dollars("10.00")}, "i1")
	if err != nil {
		t.Fatal(err)
	}
	promo, err := cards.Issue(ctx, giftcard.IssueRequest{Value: dollars("10.00"), Class: giftkit.ClassPromotional}, "i2")
	if err != nil {
		t.Fatal(err)
	}
	id := bought.Cards[0].Card.ID
	if _, err := w.ChargeDormancyFee(ctx, id, "f0"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("fee on an active card: %v; want ErrProgrammeLimit", err)
	}
	clock.Advance(366 * 24 * time.Hour)
	b, err := w.ChargeDormancyFee(ctx, id, "f1")
	if err != nil || b.Balance != dollars("7.50") {
		t.Fatalf("first fee: %+v, %v", b, err)
	}
	if _, err := w.ChargeDormancyFee(ctx, id, "f2"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("a second fee within the month: %v; want ErrProgrammeLimit", err)
	}
	clock.Advance(31 * 24 * time.Hour)
	if b, err := w.ChargeDormancyFee(ctx, id, "f3"); err != nil || b.Balance != dollars("5.00") {
		t.Errorf("next month's fee: %+v, %v", b, err)
	}
	if _, err := w.ChargeDormancyFee(ctx, promo.Cards[0].Card.ID, "f4"); !errors.Is(err, giftcard.ErrNoBalance) {
		t.Errorf("fee on promotional value: %v; want ErrNoBalance (never taken)", err)
	}
	if _, err := w.Reload(ctx, id, dollars("1.00"), "till", "r"); err != nil { // activity: dormant no more
		t.Fatal(err)
	}
	if _, err := w.ChargeDormancyFee(ctx, id, "f5"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("fee after the holder acted: %v; want ErrProgrammeLimit", err)
	}
	_, plain, _ := cardServices(t, nil, nil)
	if _, err := plain.ChargeDormancyFee(ctx, id, "f6"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("fee without a programme: %v; want ErrProgrammeLimit", err)
	}
}

// An operator adjusts either kind of card; an opened card's account takes
// the correction.
func TestAdjustCard(t *testing.T) {
	ctx := context.Background()
	ops := giftkit.WithReason(giftkit.WithActor(ctx, giftkit.Operator("ops-1")), "goodwill")
	p := giftcard.Programme{Name: "r", Reloadable: true, MaxCardBalance: euros("50.00")}
	cards, w, _ := cardServices(t, &p, nil)
	out, err := cards.Issue(ctx, giftcard.IssueRequest{Value: euros("10.00"), Count: 2}, "i")
	if err != nil {
		t.Fatal(err)
	}
	plain, opened := out.Cards[0].Card.ID, out.Cards[1].Card.ID
	if _, err := w.AdjustCard(ctx, plain, euros("1.00"), "ticket-1", "a0"); err == nil {
		t.Error("an adjustment without an operator was accepted")
	}
	if b, err := w.AdjustCard(ops, plain, euros("2.50"), "ticket-1", "a1"); err != nil || b.Balance != euros("12.50") || b.Opened {
		t.Errorf("adjust a card: %+v, %v", b, err)
	}
	if _, err := w.Reload(ctx, opened, euros("5.00"), "till", "r"); err != nil { // opens it
		t.Fatal(err)
	}
	if b, err := w.AdjustCard(ops, opened, euros("-3.00"), "ticket-2", "a2"); err != nil || b.Balance != euros("12.00") || !b.Opened {
		t.Errorf("adjust an opened card down: %+v, %v", b, err)
	}
	if _, err := w.AdjustCard(ops, opened, euros("38.01"), "ticket-3", "a3"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("adjust past the card maximum: %v; want ErrProgrammeLimit", err)
	}
	if _, err := w.AdjustCard(ops, opened, euros("-12.01"), "ticket-4", "a4"); !errors.Is(err, wallet.ErrInsufficientFunds) {
		t.Errorf("adjust below zero: %v; want ErrInsufficientFunds", err)
	}
	if again, err := w.AdjustCard(ops, opened, euros("-3.00"), "ticket-2", "a2"); err != nil || again.Balance != euros("12.00") {
		t.Errorf("retried adjustment: %+v, %v", again, err)
	}
}
