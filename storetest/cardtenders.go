package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/wallet"
)

// testCardTenders checks what a store keeps of cards spent directly: an
// imported card's mark and a card's tags, entries of the load and
// transfer kinds, a payment's gift-card tenders and its refunds' parts,
// each round-tripping; and, through the services, a payment with two gift
// cards given by code, the balance and a bank card, refunded to the bank
// card, the balance and the cards, with the cards' own accounts then
// reloaded, moved between and loaded, their journals, activity and outbox
// holding together.
func testCardTenders[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	t.Run("Fields", func(t *testing.T) { testCardTenderFields(t, s) })
	t.Run("Services", func(t *testing.T) { testCardTenderServices(t, s) })
}

func testCardTenderFields[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	imported := sampleCard("card-imp", 7)
	imported.Imported, imported.Tags, imported.Suffix = true, "spring-2026,retailer:Café", "Z9é1"
	tagged := sampleCard("card-tag", 8)
	tagged.Tags = "b2b"
	owner := giftcard.AccountOwner("card-imp")
	a := wallet.NewAccount(owner, eur)
	var entries []wallet.Entry
	step := func(acct wallet.Account, es []wallet.Entry, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		a, entries = acct, append(entries, es...)
	}
	one := func(acct wallet.Account, e wallet.Entry, err error) (wallet.Account, []wallet.Entry, error) {
		return acct, []wallet.Entry{e}, err
	}
	step(one(a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Class: giftkit.ClassPromotional, Amount: money("25.00"),
		ExpiresAt: epoch.Add(24 * time.Hour), Source: "card-imp", Reference: "card-imp"}, "open", epoch)))
	step(one(a.Credit(wallet.CreditSpec{Kind: wallet.EntryLoad, Class: giftkit.ClassPurchased, Amount: money("10.00"),
		Source: "reload-1", Reference: "reload-1"}, "reload", epoch)))
	step(a.TransferIn([]wallet.Parcel{{Class: giftkit.ClassRefund, Amount: money("2.50")},
		{Class: giftkit.ClassPurchased, Amount: money("1.25"), ExpiresAt: epoch.Add(48 * time.Hour)}},
		nil, "card-tag", "card-tag", "merge", epoch.Add(time.Minute)))
	out, es, parcels, err := a.TransferOut(money("30.00"), false, "card-tag", "transfer", epoch.Add(2*time.Minute))
	if len(parcels) == 0 {
		t.Fatalf("TransferOut moved nothing: %v", err)
	}
	step(out, es, err)
	kinds := map[wallet.EntryKind]int{}
	for _, e := range entries {
		kinds[e.Kind]++
	}
	if kinds[wallet.EntryLoad] != 1 || kinds[wallet.EntryTransfer] != 3 {
		t.Fatalf("sample entries of kinds %v; want one load and three transfers", kinds)
	}
	pay := samplePayment("p-cards", checkout.StateCaptured)
	zero := money("0")
	pay.Owner = "" // a guest
	pay.Cards = []checkout.CardTender{
		{CardID: "card-imp", Masked: "****Z9é1", Tender: checkout.Tender{Planned: money("10.00"), Authorized: money("10.00"), Captured: money("10.00"), Refunded: money("4.00")}},
		{CardID: "card-tag", Masked: "****-******-*AB12", Tender: checkout.Tender{Planned: money("5.00"), Authorized: money("5.00"), Captured: money("5.00"), Refunded: zero}},
	}
	pay.Total = money("55.00")
	pay.Refunds = append(pay.Refunds, checkout.Refund{Key: "r2", Amount: money("4.00"), Balance: zero, Card: zero,
		Cards: []giftkit.Money{money("4.00"), zero}, Done: true, At: epoch.Add(time.Hour)})
	update(t, s, func(tx T) error {
		for _, c := range []giftcard.Card{imported, tagged} {
			if err := tx.PutCard(c); err != nil {
				return err
			}
		}
		if err := tx.SaveAccount(a, entries); err != nil {
			return err
		}
		return tx.PutPayment(pay)
	})
	update(t, s, func(tx T) error {
		for _, want := range []giftcard.Card{imported, tagged} {
			for name, get := range map[string]func() (giftcard.Card, bool, error){
				"CardByID":   func() (giftcard.Card, bool, error) { return tx.CardByID(want.ID) },
				"CardByHash": func() (giftcard.Card, bool, error) { return tx.CardByHash(want.Hash) },
			} {
				got, ok, err := get()
				if err != nil || !ok {
					t.Errorf("%s(%s) = %v, %v", name, want.ID, ok, err)
				}
				if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
					t.Errorf("%s(%s) mismatch (-want +got):\n%s", name, want.ID, diff)
				}
			}
		}
		got, ok, err := tx.Account(owner, eur)
		if err != nil || !ok {
			t.Errorf("Account(%s) = %v, %v", owner, ok, err)
		}
		if diff := cmp.Diff(a.State(), got.State(), cmpOpts); diff != "" {
			t.Errorf("card account mismatch (-want +got):\n%s", diff)
		}
		gotEntries, err := tx.Entries(owner, eur, 0, 100)
		if err != nil {
			t.Errorf("Entries: %v", err)
		}
		if diff := cmp.Diff(entries, gotEntries, cmpOpts); diff != "" {
			t.Errorf("entries of the load and transfer kinds mismatch (-want +got):\n%s", diff)
		}
		gotPay, ok, err := tx.Payment(pay.ID)
		if err != nil || !ok {
			t.Errorf("Payment(%s) = %v, %v", pay.ID, ok, err)
		}
		if diff := cmp.Diff(pay, gotPay, cmpOpts); diff != "" {
			t.Errorf("payment with gift-card tenders mismatch (-want +got):\n%s", diff)
		}
		return nil
	})
	pay.Cards[0].CardID, pay.Refunds[1].Cards[0] = "changed", zero // must not reach the store
	update(t, s, func(tx T) error {
		got, _, err := tx.Payment("p-cards")
		if err == nil && (got.Cards[0].CardID != "card-imp" || got.Refunds[1].Cards[0] != money("4.00")) {
			t.Errorf("the stored payment aliases the caller's: %+v", got.Cards)
		}
		return err
	})
}

func testCardTenderServices[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	ctx := context.Background()
	env := NewEnv(t, s, 11)
	co, err := checkout.NewService(s, processortest.New(), checkout.Config{Now: env.Clock.Now, Hasher: env.Hasher, Limiter: env.Limiter})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(value string, expires time.Time, key string) (giftcard.Card, string) {
		t.Helper()
		out, err := env.Cards.Issue(ctx, giftcard.IssueRequest{Value: money(value), ExpiresAt: expires}, key)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		return out.Cards[0].Card, out.Cards[0].Code.String()
	}
	later, laterCode := issue("20.00", time.Time{}, "issue-later")
	sooner, soonerCode := issue("15.00", epoch.Add(30*24*time.Hour), "issue-sooner")
	env.Fund(t, "alice", money("5.00"))
	funds := func(card giftcard.Card, want string) {
		t.Helper()
		b, err := env.Wallet.CardFunds(ctx, card.ID)
		if err != nil || !b.Opened || b.Available != money(want) || b.Balance != money(want) {
			t.Fatalf("CardFunds(%s) = %+v, %v; want %s available, opened", card.ID, b, err, want)
		}
	}

	// 50.00: the card that expires first pays first, then the other card,
	// then the balance, and the bank card the rest.
	p, err := co.Pay(ctx, checkout.PayRequest{PaymentID: "order-cards", Owner: "alice", Total: money("50.00"), Instrument: "tok_visa",
		Codes: []string{laterCode, soonerCode}}, "pay-cards")
	if err != nil {
		t.Fatalf("Pay with two cards: %v", err)
	}
	if p.State != checkout.StateCaptured || len(p.Cards) != 2 || p.Cards[0].CardID != sooner.ID || p.Cards[1].CardID != later.ID {
		t.Fatalf("payment %v with cards %+v; want captured, %s then %s", p.State, p.Cards, sooner.ID, later.ID)
	}
	if p.Cards[0].Captured != money("15.00") || p.Cards[1].Captured != money("20.00") || p.Balance.Captured != money("5.00") || p.Card.Captured != money("10.00") {
		t.Fatalf("captured %v + %v + balance %v + bank %v; want 15 + 20 + 5 + 10", p.Cards[0].Captured, p.Cards[1].Captured, p.Balance.Captured, p.Card.Captured)
	}
	funds(sooner, "0.00")
	funds(later, "0.00")
	for _, id := range []string{sooner.ID, later.ID} {
		c, err := env.Cards.Card(ctx, id)
		if err != nil || !c.Opened() || c.RedeemedBy != giftcard.AccountOwner(id) {
			t.Fatalf("card %s after the payment: %+v, %v; want opened", id, c, err)
		}
	}

	// 30.00 back: 10 to the bank card, 5 to the balance, then the card
	// spent last; then 20.00: the rest of that card, then the first.
	p, err = co.Refund(ctx, "order-cards", money("30.00"), "refund-1")
	if err != nil {
		t.Fatalf("Refund: %v", err)
	}
	if r := p.Refunds[0]; r.Card != money("10.00") || r.Balance != money("5.00") || len(r.Cards) != 2 || !r.Cards[0].IsZero() || r.Cards[1] != money("15.00") {
		t.Fatalf("first refund: bank %v, balance %v, cards %v; want 10, 5, [0 15]", r.Card, r.Balance, r.Cards)
	}
	if p, err = co.Refund(ctx, "order-cards", money("20.00"), "refund-2"); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	if r := p.Refunds[1]; !r.Card.IsZero() || !r.Balance.IsZero() || len(r.Cards) != 2 || r.Cards[0] != money("15.00") || r.Cards[1] != money("5.00") {
		t.Fatalf("second refund: bank %v, balance %v, cards %v; want 0, 0, [15 5]", r.Card, r.Balance, r.Cards)
	}
	if p.Cards[0].Refunded != money("15.00") || p.Cards[1].Refunded != money("20.00") {
		t.Fatalf("cards refunded %v and %v; want all of them", p.Cards[0].Refunded, p.Cards[1].Refunded)
	}
	funds(sooner, "15.00")
	funds(later, "20.00")
	if b, err := env.Wallet.CheckBalance(ctx, "", laterCode); err != nil || b.Available != money("20.00") || b.CardID != later.ID {
		t.Fatalf("CheckBalance of the later card = %+v, %v; want 20.00", b, err)
	}

	// The cards' own accounts take loads and transfers like any account.
	if _, err := env.Wallet.Reload(ctx, later.ID, money("10.00"), "top-up", "reload-1"); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if tr, err := env.Wallet.Transfer(ctx, later.ID, sooner.ID, money("5.00"), "transfer-1"); err != nil || tr.Amount != money("5.00") {
		t.Fatalf("Transfer = %+v, %v", tr, err)
	}
	if _, err := env.Wallet.Load(ctx, "alice", money("7.00"), "top-up", "load-1"); err != nil {
		t.Fatalf("Load: %v", err)
	}
	funds(sooner, "20.00")
	funds(later, "25.00")
	if b, err := env.Wallet.Balance(ctx, "alice", eur); err != nil || b.Balance != money("12.00") {
		t.Fatalf("alice's balance = %+v, %v; want 12.00", b, err)
	}
	// Each card's journal sums to its balance, with an entry of each kind
	// the payment, the refunds, the reload and the transfer made.
	for _, tc := range []struct {
		card  giftcard.Card
		want  string
		kinds []wallet.EntryKind
	}{
		{sooner, "20.00", []wallet.EntryKind{wallet.EntryCredit, wallet.EntryHold, wallet.EntryCapture, wallet.EntryRefund, wallet.EntryTransfer}},
		{later, "25.00", []wallet.EntryKind{wallet.EntryCredit, wallet.EntryHold, wallet.EntryCapture, wallet.EntryRefund, wallet.EntryLoad, wallet.EntryTransfer}},
	} {
		var entries []wallet.Entry
		update(t, s, func(tx T) (err error) {
			entries, err = tx.Entries(giftcard.AccountOwner(tc.card.ID), eur, 0, 100)
			return err
		})
		sum := giftkit.Zero(eur)
		seen := map[wallet.EntryKind]bool{}
		for i, e := range entries {
			if e.Seq != int64(i+1) {
				t.Errorf("%s: entry %d has seq %d", tc.card.ID, i, e.Seq)
			}
			sum, _ = sum.Add(e.Amount)
			seen[e.Kind] = true
		}
		if sum != money(tc.want) {
			t.Errorf("the journal of %s sums to %v; want %s", tc.card.ID, sum, tc.want)
		}
		for _, k := range tc.kinds {
			if !seen[k] {
				t.Errorf("the journal of %s has no %v entry", tc.card.ID, k)
			}
		}
	}
	// A card spent whole and then blocked keeps an empty block hold, which
	// the store must keep and give back (the one hold of nothing).
	empty, emptyCode := issue("3.00", time.Time{}, "issue-empty")
	if _, err := co.Pay(ctx, checkout.PayRequest{PaymentID: "order-empty", Total: money("3.00"), Codes: []string{emptyCode}}, "pay-empty"); err != nil {
		t.Fatalf("Pay with the whole card: %v", err)
	}
	if _, err := env.Wallet.BlockCard(ctx, empty.ID, "block-empty"); err != nil {
		t.Fatalf("BlockCard of an empty card: %v", err)
	}
	if _, err := env.Wallet.CheckBalance(ctx, "", emptyCode); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Fatalf("CheckBalance of a blocked card: %v; want ErrNotRedeemable", err)
	}
	if _, err := env.Wallet.UnblockCard(ctx, empty.ID, "unblock-empty"); err != nil {
		t.Fatalf("UnblockCard of an empty card: %v", err)
	}
	CheckActivity(t, s)
	CheckOutbox(t, s)
	seen := map[string]bool{}
	for _, e := range readEvents(t, reader(t, s), "card-tenders", 0, 100) {
		if e.Type == outbox.AccountLoaded || e.Type == outbox.AccountTransferred {
			seen[fmt.Sprintf("%s %s", e.Type, e.Aggregate.ID)] = true
		}
	}
	for _, want := range []string{
		"account.loaded " + giftcard.AccountOwner(later.ID), "account.loaded alice",
		"account.transferred " + giftcard.AccountOwner(later.ID), "account.transferred " + giftcard.AccountOwner(sooner.ID),
	} {
		if !seen[want] {
			t.Errorf("no %s event in the outbox: %v", want, seen)
		}
	}
}
