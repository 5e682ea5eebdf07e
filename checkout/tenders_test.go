package checkout_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

// tenderEnv is a checkout that takes gift cards by code, over memstore.
type tenderEnv struct {
	cards  *giftcard.Service
	wallet *wallet.Service
	pay    *checkout.Service
	proc   *processortest.Processor
	clock  *storetest.Clock
}

func newTenderEnv(t testing.TB, p *giftcard.Programme) tenderEnv {
	t.Helper()
	store := memstore.New()
	hasher, err := giftcard.NewHasher(storetest.TestHashKey)
	if err != nil {
		t.Fatal(err)
	}
	clock := storetest.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	limiter := wallet.NewMemoryLimiter(3, time.Hour, time.Hour)
	if _, bench := t.(*testing.B); bench {
		limiter = wallet.NewMemoryLimiter(1<<30, time.Hour, time.Second)
	}
	cards, err := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: clock.Now, Programme: p})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: clock.Now, Limiter: limiter, Programme: p})
	if err != nil {
		t.Fatal(err)
	}
	proc := processortest.New()
	pay, err := checkout.NewService(store, proc, checkout.Config{Now: clock.Now, Hasher: hasher, Limiter: limiter, Programme: p})
	if err != nil {
		t.Fatal(err)
	}
	return tenderEnv{cards: cards, wallet: w, pay: pay, proc: proc, clock: clock}
}

func (e tenderEnv) issue(t *testing.T, value string, expires time.Time, key string) (giftcard.Card, codefmt.Code) {
	t.Helper()
	out, err := e.cards.Issue(context.Background(), giftcard.IssueRequest{Value: eurs(value), ExpiresAt: expires}, key)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return out.Cards[0].Card, out.Cards[0].Code
}

func (e tenderEnv) available(t *testing.T, code codefmt.Code) giftkit.Money {
	t.Helper()
	b, err := e.wallet.CheckBalance(context.Background(), "", code.String())
	if err != nil {
		t.Fatalf("CheckBalance: %v", err)
	}
	return b.Available
}

func giftcardIssue(value string) giftcard.IssueRequest {
	return giftcard.IssueRequest{Value: eurs(value)}
}

// A guest pays with two cards and a bank card: the card that expires first
// is spent first, whatever order the codes were typed in; refunds go back
// to the bank card first, then to the cards, last spent first.
func TestGuestPaysWithTwoCardsAndABankCard(t *testing.T) {
	ctx := context.Background()
	e := newTenderEnv(t, nil)
	soon := e.clock.Now().Add(30 * 24 * time.Hour)
	later, laterCode := e.issue(t, "20.00", time.Time{}, "i1")
	sooner, soonerCode := e.issue(t, "15.00", soon, "i2")
	p, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "order-1", Total: eurs("50.00"), Instrument: "tok_visa",
		Codes: []string{laterCode.String(), soonerCode.String()}}, "pay-1")
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	if p.State != checkout.StateCaptured || len(p.Cards) != 2 {
		t.Fatalf("payment %v with %d cards; want captured with 2", p.State, len(p.Cards))
	}
	if p.Cards[0].CardID != sooner.ID || p.Cards[1].CardID != later.ID {
		t.Errorf("spending order %s, %s; want the soonest-expiring card first", p.Cards[0].CardID, p.Cards[1].CardID)
	}
	if p.Cards[0].Captured != eurs("15.00") || p.Cards[1].Captured != eurs("20.00") || p.Card.Captured != eurs("15.00") {
		t.Errorf("parts %v + %v + bank %v; want 15 + 20 + 15", p.Cards[0].Captured, p.Cards[1].Captured, p.Card.Captured)
	}
	if p.Cards[0].Masked != soonerCode.Masked() {
		t.Errorf("masked %q; want %q", p.Cards[0].Masked, soonerCode.Masked())
	}
	if got := e.available(t, laterCode); !got.IsZero() {
		t.Errorf("later card keeps %v; want 0", got)
	}
	// 25.00 back: 15 to the bank card, then 10 to the card spent last.
	p, err = e.pay.Refund(ctx, "order-1", eurs("25.00"), "refund-1")
	if err != nil {
		t.Fatalf("Refund: %v", err)
	}
	r := p.Refunds[0]
	if r.Card != eurs("15.00") || len(r.Cards) != 2 || !r.Cards[0].IsZero() || r.Cards[1] != eurs("10.00") {
		t.Errorf("refund split bank %v, cards %v; want 15, [0 10]", r.Card, r.Cards)
	}
	if got := e.available(t, laterCode); got != eurs("10.00") {
		t.Errorf("later card has %v after the refund; want 10.00", got)
	}
	// The rest goes back to the first card.
	if _, err := e.pay.Refund(ctx, "order-1", eurs("25.00"), "refund-2"); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	if got := e.available(t, soonerCode); got != eurs("15.00") {
		t.Errorf("sooner card has %v after the refunds; want 15.00", got)
	}
	if _, err := e.pay.Refund(ctx, "order-1", eurs("0.01"), "refund-3"); !errors.Is(err, checkout.ErrExceedsCaptured) {
		t.Errorf("refund past the total: %v; want ErrExceedsCaptured", err)
	}
}

// A declined bank card releases the cards' holds: nothing is spent.
func TestDeclineReleasesCardHolds(t *testing.T) {
	ctx := context.Background()
	e := newTenderEnv(t, nil)
	_, code := e.issue(t, "10.00", time.Time{}, "i1")
	_, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o", Total: eurs("30.00"), Instrument: processortest.DeclinedInstrument,
		Codes: []string{code.String()}}, "k")
	if !errors.Is(err, checkout.ErrDeclined) {
		t.Fatalf("Pay: %v; want ErrDeclined", err)
	}
	if got := e.available(t, code); got != eurs("10.00") {
		t.Errorf("card has %v available; want 10.00 again", got)
	}
}

// A CaptureLater payment takes the cards first when captured in part, and
// a cancel releases every hold.
func TestCaptureLaterWithCards(t *testing.T) {
	ctx := context.Background()
	e := newTenderEnv(t, nil)
	_, a := e.issue(t, "10.00", time.Time{}, "i1")
	_, b := e.issue(t, "5.00", time.Time{}, "i2")
	p, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o", Total: eurs("30.00"), Instrument: "tok_visa",
		Mode: checkout.CaptureLater, Codes: []string{a.String(), b.String()}}, "k")
	if err != nil || p.State != checkout.StateAuthorized {
		t.Fatalf("Pay: %v, %v", p.State, err)
	}
	if got := e.available(t, a); !got.IsZero() {
		t.Errorf("held card shows %v available; want 0", got)
	}
	p, err = e.pay.Capture(ctx, "o", eurs("12.00"), "cap")
	if err != nil {
		t.Fatalf("Capture: %v", err)
	}
	// Smallest first at equal expiry: the 5.00 card, then 7.00 of the 10.00.
	if p.Cards[0].Captured != eurs("5.00") || p.Cards[1].Captured != eurs("7.00") || !p.Card.Captured.IsZero() {
		t.Errorf("captured %v, %v, bank %v; want 5, 7, 0", p.Cards[0].Captured, p.Cards[1].Captured, p.Card.Captured)
	}
	if got := e.available(t, a); got != eurs("3.00") {
		t.Errorf("card keeps %v; want 3.00", got)
	}

	_, c := e.issue(t, "8.00", time.Time{}, "i3")
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o2", Total: eurs("8.00"), Mode: checkout.CaptureLater,
		Codes: []string{c.String()}}, "k2"); err != nil {
		t.Fatalf("Pay: %v", err)
	}
	if _, err := e.pay.Cancel(ctx, "o2", "cancel"); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if got := e.available(t, c); got != eurs("8.00") {
		t.Errorf("cancelled payment leaves %v available; want 8.00", got)
	}
}

// Unknown, voided and redeemed cards are refused alike by kind, recorded
// under the key, and counted as guesses; a typo is not.
func TestCodeRefusals(t *testing.T) {
	ctx := context.Background()
	e := newTenderEnv(t, nil)
	voided, vcode := e.issue(t, "10.00", time.Time{}, "i1")
	if _, err := e.cards.Void(ctx, voided.ID, "void"); err != nil {
		t.Fatal(err)
	}
	_, rcode := e.issue(t, "10.00", time.Time{}, "i2")
	if _, err := e.wallet.Redeem(ctx, "alice", rcode.String(), "r"); err != nil {
		t.Fatal(err)
	}
	typo := []byte(rcode.String())
	typo[2] = codefmt.Alphabet[(strings.IndexByte(codefmt.Alphabet, typo[2])+1)%len(codefmt.Alphabet)]
	req := func(id string, code string) checkout.PayRequest {
		return checkout.PayRequest{PaymentID: id, Owner: "bob", Total: eurs("5.00"), Codes: []string{code}}
	}
	var pe *codefmt.ParseError
	for i := range 5 { // typos never count: the limiter allows 3 guesses
		if _, err := e.pay.Pay(ctx, req("typo", string(typo)), "t"+string(rune('0'+i))); !errors.As(err, &pe) {
			t.Fatalf("typo: %v; want a ParseError", err)
		}
	}
	if _, err := e.pay.Pay(ctx, req("v", vcode.String()), "v"); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("voided card: %v; want ErrNotRedeemable", err)
	}
	_, err := e.pay.Pay(ctx, req("r", rcode.String()), "r")
	if !errors.Is(err, giftcard.ErrAlreadyRedeemed) {
		t.Errorf("redeemed card: %v; want ErrAlreadyRedeemed", err)
	}
	again, err2 := e.pay.Pay(ctx, req("r", rcode.String()), "r")
	if err2 == nil || err2.Error() != err.Error() || again.ID != "" {
		t.Errorf("retry: %v; want the recorded refusal %v", err2, err)
	}
	unknown, _ := codefmt.Generate(constReader(7))
	if _, err := e.pay.Pay(ctx, req("u", unknown.String()), "u"); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("unknown card: %v; want ErrNotRedeemable", err)
	}
	if _, err := e.pay.Pay(ctx, req("u2", unknown.String()), "u2"); !errors.Is(err, wallet.ErrTooManyAttempts) {
		t.Errorf("fourth guess: %v; want ErrTooManyAttempts", err)
	}
	for _, err := range []error{err} {
		if msg := err.Error(); containsCode(msg, rcode) {
			t.Errorf("error %q holds the whole code", msg)
		}
	}
}

type constReader byte

func (r constReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(r) + byte(i)
	}
	return len(b), nil
}

func containsCode(s string, c codefmt.Code) bool {
	full := c.String()
	for i := 0; i+len(full) <= len(s); i++ {
		if s[i:i+len(full)] == full {
			return true
		}
	}
	return false
}

// The EU anonymous-prepaid preset: cards hold at most 150 EUR, reloads at
// most 150 EUR a month, and cards pay at most 50 EUR of a remote payment.
func TestEUAnonymousPrepaid(t *testing.T) {
	ctx := context.Background()
	p := giftcard.EUAnonymousPrepaid()
	e := newTenderEnv(t, &p)
	if _, err := e.cards.Issue(ctx, giftcard.IssueRequest{Value: eurs("150.01")}, "big"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("issue 150.01: %v; want ErrProgrammeLimit", err)
	}
	card, code := e.issue(t, "100.00", time.Time{}, "i1")
	pay, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o", Total: eurs("80.00"), Instrument: "tok_visa",
		Codes: []string{code.String()}}, "k")
	if err != nil {
		t.Fatal(err)
	}
	if pay.Cards[0].Captured != eurs("50.00") || pay.Card.Captured != eurs("30.00") {
		t.Errorf("card paid %v, bank %v; want 50 and 30", pay.Cards[0].Captured, pay.Card.Captured)
	}
	// 50 left on the card: a reload of 100.01 would hold 150.01.
	if _, err := e.wallet.Reload(ctx, card.ID, eurs("100.01"), "till-1", "r1"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("reload past 150: %v; want ErrProgrammeLimit", err)
	}
	if _, err := e.wallet.Reload(ctx, card.ID, eurs("100.00"), "till-1", "r2"); err != nil {
		t.Fatalf("reload: %v", err)
	}
	// The month's loads: 100 so far; spend some, then 50.01 more is over 150 a month.
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o2", Total: eurs("50.00"), Codes: []string{code.String()}}, "k2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.wallet.Reload(ctx, card.ID, eurs("50.01"), "till-1", "r3"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("reload past 150 a month: %v; want ErrProgrammeLimit", err)
	}
	e.clock.Advance(31 * 24 * time.Hour) // a new month
	if _, err := e.wallet.Reload(ctx, card.ID, eurs("50.00"), "till-1", "r4"); err != nil {
		t.Errorf("reload in a new month: %v", err)
	}
	// A retry of a refused reload replays its refusal.
	if _, err := e.wallet.Reload(ctx, card.ID, eurs("50.01"), "till-1", "r3"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("retried refusal: %v; want ErrProgrammeLimit again", err)
	}
}

// A card spent as a tender and later redeemed gives the shopper what is
// left on it; transfers and merges move value between cards.
func TestRedeemTransferMerge(t *testing.T) {
	ctx := context.Background()
	p := giftcard.Programme{Name: "reloadable", Reloadable: true}
	e := newTenderEnv(t, &p)
	_, a := e.issue(t, "30.00", time.Time{}, "i1")
	bCard, b := e.issue(t, "10.00", time.Time{}, "i2")
	cCard, _ := e.issue(t, "5.00", time.Time{}, "i3")
	if _, err := e.pay.Pay(ctx, checkout.PayRequest{PaymentID: "o", Total: eurs("12.00"), Codes: []string{a.String()}}, "k"); err != nil {
		t.Fatal(err)
	}
	red, err := e.wallet.Redeem(ctx, "alice", a.String(), "redeem")
	if err != nil {
		t.Fatalf("Redeem an opened card: %v", err)
	}
	if red.Amount != eurs("18.00") || red.Balance.Balance != eurs("18.00") {
		t.Errorf("redeemed %v, balance %v; want 18.00 both", red.Amount, red.Balance.Balance)
	}
	if _, err := e.wallet.Redeem(ctx, "bob", a.String(), "redeem-2"); !errors.Is(err, giftcard.ErrNoBalance) {
		t.Errorf("redeem an emptied card: %v; want ErrNoBalance", err)
	}
	tr, err := e.wallet.Transfer(ctx, bCard.ID, cCard.ID, eurs("4.00"), "t1")
	if err != nil {
		t.Fatalf("Transfer: %v", err)
	}
	if tr.From.Available != eurs("6.00") || tr.To.Available != eurs("9.00") {
		t.Errorf("after transfer %v and %v; want 6 and 9", tr.From.Available, tr.To.Available)
	}
	m, err := e.wallet.Merge(ctx, cCard.ID, bCard.ID, "m1")
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	if m.Amount != eurs("9.00") || m.To.Available != eurs("15.00") || !m.From.Available.IsZero() {
		t.Errorf("merge moved %v to %v, left %v; want 9, 15, 0", m.Amount, m.To.Available, m.From.Available)
	}
	if again, err := e.wallet.Merge(ctx, cCard.ID, bCard.ID, "m1"); err != nil || again != m {
		t.Errorf("retried merge %+v, %v; want the first outcome", again, err)
	}
	if _, err := e.wallet.Merge(ctx, cCard.ID, bCard.ID, "m2"); !errors.Is(err, giftcard.ErrNoBalance) {
		t.Errorf("merge an empty card: %v; want ErrNoBalance", err)
	}
	if got := e.available(t, b); got != eurs("15.00") {
		t.Errorf("balance check %v; want 15.00", got)
	}
	// Cards of a programme that is not reloadable refuse reloads and transfers in.
	f := newTenderEnv(t, &giftcard.Programme{Name: "fixed"})
	x, _ := f.issue(t, "5.00", time.Time{}, "x")
	if _, err := f.wallet.Reload(ctx, x.ID, eurs("1.00"), "r", "k"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("reload of a fixed card: %v; want ErrProgrammeLimit", err)
	}
}

// Expiries are whole days in the programme's zone, and a programme with a
// minimum validity refuses a sooner expiry.
func TestExpiryAtEndOfDay(t *testing.T) {
	dublin, err := time.LoadLocation("Europe/Dublin")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	p := giftcard.Ireland()
	p.Zone = dublin
	e := newTenderEnv(t, &p)
	ctx := context.Background()
	soon := e.clock.Now().AddDate(4, 0, 0)
	if _, err := e.cards.Issue(ctx, giftcard.IssueRequest{Value: eurs("10.00"), ExpiresAt: soon}, "a"); !errors.Is(err, giftcard.ErrProgrammeLimit) {
		t.Errorf("4-year card under Irish rules: %v; want ErrProgrammeLimit", err)
	}
	at := time.Date(2031, 3, 12, 9, 30, 0, 0, dublin) // "valid until 12 March 2031"
	card, _ := e.issue(t, "10.00", at, "b")
	if want := time.Date(2031, 3, 13, 0, 0, 0, 0, dublin); !card.ExpiresAt.Equal(want) {
		t.Errorf("expiry %v; want %v, the end of 12 March in Dublin", card.ExpiresAt, want)
	}
}

// Cancel voids an unclaimed card within 24 hours of issue, and not after.
func TestCancelWindow(t *testing.T) {
	ctx := context.Background()
	e := newTenderEnv(t, nil)
	a, _ := e.issue(t, "10.00", time.Time{}, "a")
	b, bcode := e.issue(t, "10.00", time.Time{}, "b")
	c, _ := e.issue(t, "10.00", time.Time{}, "c")
	if got, err := e.cards.Cancel(ctx, a.ID, "ca"); err != nil || got.State != giftcard.StateVoided {
		t.Fatalf("Cancel: %v, %v", got.State, err)
	}
	if _, err := e.wallet.Redeem(ctx, "alice", bcode.String(), "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cards.Cancel(ctx, b.ID, "cb"); !errors.Is(err, giftcard.ErrInvalidTransition) {
		t.Errorf("cancel a redeemed card: %v; want ErrInvalidTransition", err)
	}
	e.clock.Advance(24 * time.Hour)
	if _, err := e.cards.Cancel(ctx, c.ID, "cc"); !errors.Is(err, giftcard.ErrCancelWindow) {
		t.Errorf("cancel after 24 h: %v; want ErrCancelWindow", err)
	}
}
