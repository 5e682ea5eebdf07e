package checkout_test

// Regression tests from the adversarial review of issue 17's change.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// A voided card given in a payment of another currency is refused as an
// unknown code is, and every such probe counts as a guess.
func TestCurrencyProbeOfVoidedCard(t *testing.T) {
	ctx := context.Background()
	e := newTenderEnv(t, nil)
	voided, vcode := e.issue(t, "10.00", time.Time{}, "i1")
	if _, err := e.cards.Void(ctx, voided.ID, "void"); err != nil {
		t.Fatal(err)
	}
	usd := giftkit.MustParseCurrency("USD")
	for i := range 4 {
		id := "v" + string(rune('0'+i))
		_, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: id, Owner: "mallory", Total: giftkit.FromMinor(500, usd), Instrument: "tok",
			Codes: []string{vcode.String()}}, id)
		want := giftcard.ErrNotRedeemable
		if i == 3 {
			want = wallet.ErrTooManyAttempts // the limiter allows 3
		}
		if !errors.Is(err, want) {
			t.Errorf("probe %d: %v; want %v", i+1, err, want)
		}
	}
	// A live card in another currency says so, and counts too.
	_, live := e.issue(t, "10.00", time.Time{}, "i2")
	_, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "x", Owner: "eve", Total: giftkit.FromMinor(500, usd), Instrument: "tok",
		Codes: []string{live.String()}}, "x")
	if !errors.Is(err, giftkit.ErrCurrencyMismatch) {
		t.Errorf("a live EUR card for a USD order: %v; want ErrCurrencyMismatch", err)
	}
}

// One guest's failed guesses lock out that guest's client, not every guest.
func TestGuestLockoutIsPerClient(t *testing.T) {
	e := newTenderEnv(t, nil)
	attacker := wallet.WithClient(context.Background(), "198.51.100.1")
	victim := wallet.WithClient(context.Background(), "203.0.113.9")
	_, good := e.issue(t, "10.00", time.Time{}, "i1")
	for i := range 4 {
		bad, _ := codefmt.Generate(constReader(byte(10 + i)))
		id := "a" + string(rune('0'+i))
		e.pay.Pay(attacker, checkout.PayRequest{PaymentID: id, Total: eurs("5.00"), Codes: []string{bad.String()}}, id)
	}
	if _, err := e.pay.Pay(attacker, checkout.PayRequest{PaymentID: "a9", Total: eurs("5.00"), Codes: []string{good.String()}}, "a9"); !errors.Is(err, wallet.ErrTooManyAttempts) {
		t.Errorf("the attacker, locked out: %v; want ErrTooManyAttempts", err)
	}
	if _, err := e.pay.Pay(victim, checkout.PayRequest{PaymentID: "victim", Total: eurs("5.00"), Codes: []string{good.String()}}, "victim"); err != nil {
		t.Errorf("another guest, another client, a valid card: %v", err)
	}
	if _, err := e.wallet.CheckBalance(victim, "", good.String()); err != nil {
		t.Errorf("another guest's balance check: %v", err)
	}
}

// A refused payment retried with its key during a lockout replays its
// refusal.
func TestLockedOutRetryReplaysRefusal(t *testing.T) {
	ctx := context.Background()
	e := newTenderEnv(t, nil)
	req := func(id, code string) checkout.PayRequest {
		return checkout.PayRequest{PaymentID: id, Owner: "bob", Total: eurs("5.00"), Codes: []string{code}}
	}
	first, _ := codefmt.Generate(constReader(40))
	_, err1 := e.pay.Pay(ctx, req("p1", first.String()), "k1")
	for i := range 3 {
		bad, _ := codefmt.Generate(constReader(byte(50 + i)))
		e.pay.Pay(ctx, req("p"+string(rune('2'+i)), bad.String()), "k"+string(rune('2'+i)))
	}
	_, again := e.pay.Pay(ctx, req("p1", first.String()), "k1")
	if err1 == nil || again == nil || again.Error() != err1.Error() {
		t.Errorf("retry with the same key: %v; want the recorded %v", again, err1)
	}
}

// A refund gives a card no more than the programme lets it hold; the rest
// goes to the other tenders, or the refund is refused.
func TestRefundKeepsMaxCardBalance(t *testing.T) {
	ctx := context.Background()
	p := giftcard.EUAnonymousPrepaid()
	e := newTenderEnv(t, &p)
	card, code := e.issue(t, "150.00", time.Time{}, "i1")
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o", Total: eurs("70.00"), Instrument: "tok_visa",
		Codes: []string{code.String()}}, "k"); err != nil {
		t.Fatal(err)
	}
	// The card paid 50 (the remote cap), the bank card 20; now 100 is on the card.
	if _, err := e.wallet.Reload(ctx, card.ID, eurs("40.00"), "till", "r1"); err != nil {
		t.Fatal(err)
	}
	// 140 on the card: room for 10. Card first: 20 to the bank card, 10 to the gift card.
	pay, err := e.pay.Refund(ctx, "o", eurs("30.00"), "refund")
	if err != nil {
		t.Fatal(err)
	}
	if r := pay.Refunds[0]; r.Card != eurs("20.00") || r.Cards[0] != eurs("10.00") {
		t.Errorf("refund split bank %v, card %v; want 20 and 10", r.Card, r.Cards)
	}
	if _, err := e.pay.Refund(ctx, "o", eurs("1.00"), "refund-2"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("a refund the card cannot take: %v; want ErrProgrammeLimit", err)
	}
	b, err := e.wallet.CardFunds(ctx, card.ID)
	if err != nil || b.Balance.Minor() > p.MaxCardBalance.Minor() {
		t.Errorf("card holds %v, %v; at most %v", b.Balance, err, p.MaxCardBalance)
	}
}

// A card the plan leaves out, or a payment declined, leaves a card as it
// was when it was not spent: an unspent card is not opened.
func TestUnspentCardIsNotOpened(t *testing.T) {
	ctx := context.Background()
	e := newTenderEnv(t, nil)
	a, acode := e.issue(t, "10.00", time.Time{}, "i1")
	b, bcode := e.issue(t, "50.00", time.Time{}, "i2")
	p, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o", Total: eurs("5.00"), Codes: []string{bcode.String(), acode.String()}}, "k")
	if err != nil || len(p.Cards) != 1 || p.Cards[0].CardID != a.ID {
		t.Fatalf("Pay: %v, %+v; want only the smaller card spent", err, p.Cards)
	}
	if got, _ := e.cards.Card(ctx, b.ID); got.Opened() || got.State != giftcard.StateActive {
		t.Errorf("the card the plan left out is %v, opened %v", got.State, got.Opened())
	}
	if _, err := e.cards.Cancel(ctx, b.ID, "cancel"); err != nil {
		t.Errorf("the issuer cancels the card left out: %v", err)
	}
	_, err = e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o2", Total: eurs("30.00"), Instrument: processortest.DeclinedInstrument,
		Codes: []string{acode.String()}}, "k2")
	if !errors.Is(err, checkout.ErrDeclined) {
		t.Fatalf("Pay: %v; want ErrDeclined", err)
	}
}

// An opened card can be blocked: its value is then refused everywhere, and
// unblocking gives it back.
func TestBlockOpenedCard(t *testing.T) {
	ctx := context.Background()
	e := newTenderEnv(t, &giftcard.Programme{Name: "r", Reloadable: true})
	card, code := e.issue(t, "100.00", time.Time{}, "i1")
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o", Total: eurs("1.00"), Codes: []string{code.String()}}, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.wallet.BlockCard(ctx, card.ID, "block"); err != nil {
		t.Fatalf("BlockCard: %v", err)
	}
	if _, err := e.wallet.BlockCard(ctx, card.ID, "block-2"); !errors.Is(err, giftcard.ErrInvalidTransition) {
		t.Errorf("block twice: %v; want ErrInvalidTransition", err)
	}
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o2", Total: eurs("99.00"), Codes: []string{code.String()}}, "k2"); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("pay with a blocked card: %v; want ErrNotRedeemable", err)
	}
	if _, err := e.wallet.CheckBalance(ctx, "", code.String()); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("check a blocked card: %v; want ErrNotRedeemable", err)
	}
	if _, err := e.wallet.Redeem(ctx, "thief", code.String(), "r"); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("redeem a blocked card: %v; want ErrNotRedeemable", err)
	}
	if _, err := e.wallet.Reload(ctx, card.ID, eurs("1.00"), "till", "rl"); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("reload a blocked card: %v; want ErrNotRedeemable", err)
	}
	if _, err := e.wallet.UnblockCard(ctx, card.ID, "unblock"); err != nil {
		t.Fatalf("UnblockCard: %v", err)
	}
	if got := e.available(t, code); got != eurs("99.00") {
		t.Errorf("after unblocking %v; want 99.00", got)
	}
	// A card not yet opened is blocked by its state.
	other, ocode := e.issue(t, "5.00", time.Time{}, "i2")
	if c, err := e.wallet.BlockCard(ctx, other.ID, "block-o"); err != nil || c.State != giftcard.StateBlocked {
		t.Errorf("BlockCard of an unopened card: %v, %v", c.State, err)
	}
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o3", Total: eurs("1.00"), Codes: []string{ocode.String()}}, "k3"); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("pay with a blocked card: %v; want ErrNotRedeemable", err)
	}
}

// A block shelters nothing from a clawback, and stays on what is left.
func TestClawbackOfBlockedCard(t *testing.T) {
	ctx := context.Background()
	e := newTenderEnv(t, nil)
	card, code := e.issue(t, "100.00", time.Time{}, "i1")
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o", Total: eurs("10.00"), Codes: []string{code.String()}}, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.wallet.BlockCard(ctx, card.ID, "block"); err != nil {
		t.Fatal(err)
	}
	ops := giftkit.WithReason(giftkit.WithActor(ctx, giftkit.Operator("ops")), "chargeback")
	c, err := e.wallet.Clawback(ops, card.ID, eurs("60.00"), "claw")
	if err != nil || c.Recovered != eurs("60.00") {
		t.Fatalf("clawback of a blocked card: %+v, %v; want 60.00 recovered", c.Recovered, err)
	}
	if _, err := e.wallet.CheckBalance(ctx, "", code.String()); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("after the clawback the card is %v; want it still blocked", err)
	}
	if _, err := e.wallet.UnblockCard(ctx, card.ID, "unblock"); err != nil {
		t.Fatal(err)
	}
	if got := e.available(t, code); got != eurs("30.00") {
		t.Errorf("left %v; want 30.00", got)
	}
}

// A clawback that empties a blocked card leaves it blocked: what comes back
// to it later (a refund) stays out of a thief's reach.
func TestClawbackKeepsEmptyCardBlocked(t *testing.T) {
	ops := giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Operator("ops")), "stolen")
	ctx := context.Background()
	e := newTenderEnv(t, nil)
	card, code := e.issue(t, "50.00", time.Time{}, "i1")
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o1", Total: eurs("10.00"), Codes: []string{code.String()}}, "o1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.wallet.BlockCard(ops, card.ID, "blk"); err != nil {
		t.Fatal(err)
	}
	if c, err := e.wallet.Clawback(ops, card.ID, giftkit.Money{}, "cb"); err != nil || c.Recovered != eurs("40.00") {
		t.Fatalf("clawback: %+v, %v", c.Recovered, err)
	}
	if _, err := e.pay.Refund(ops, "o1", eurs("10.00"), "rf"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "thief", Total: eurs("10.00"), Codes: []string{code.String()}}, "thief"); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("paying with the emptied blocked card after a refund: %v; want ErrNotRedeemable", err)
	}
	if _, err := e.wallet.UnblockCard(ops, card.ID, "ub"); err != nil {
		t.Errorf("UnblockCard: %v", err)
	}
	if got := e.available(t, code); got != eurs("10.00") {
		t.Errorf("after unblocking %v; want the refunded 10.00", got)
	}
	// An empty opened card can be blocked too.
	empty, ecode := e.issue(t, "5.00", time.Time{}, "i2")
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o2", Total: eurs("5.00"), Codes: []string{ecode.String()}}, "o2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.wallet.BlockCard(ops, empty.ID, "blk-2"); err != nil {
		t.Errorf("block an empty card: %v", err)
	}
}

// A blocked opened card in a payment of another currency reads as an
// unknown code.
func TestBlockedCardCurrencyProbe(t *testing.T) {
	ctx := context.Background()
	e := newTenderEnv(t, nil)
	card, code := e.issue(t, "50.00", time.Time{}, "i1")
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o1", Total: eurs("1.00"), Codes: []string{code.String()}}, "o1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.wallet.BlockCard(ctx, card.ID, "blk"); err != nil {
		t.Fatal(err)
	}
	usd := giftkit.MustParseCurrency("USD")
	_, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "p", Total: giftkit.FromMinor(500, usd), Instrument: "tok", Codes: []string{code.String()}}, "p")
	if !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("a blocked card in a USD order: %v; want ErrNotRedeemable", err)
	}
}
