package checkout_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

var eur = giftkit.EUR

func eurs(s string) giftkit.Money { return giftkit.MustParseMoney(s, eur) }

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name             string
		total, available string
		skip             bool
		balance, card    string
	}{
		{"no balance", "40.00", "0", false, "0", "40.00"},
		{"balance below total", "40.00", "25.00", false, "25.00", "15.00"},
		{"balance equals total", "40.00", "40.00", false, "40.00", "0"},
		{"balance above total", "40.00", "100.00", false, "40.00", "0"},
		{"opt out", "40.00", "100.00", true, "0", "40.00"},
		{"negative available counts as zero", "40.00", "-5.00", false, "0", "40.00"},
		{"one cent", "0.01", "0.01", false, "0.01", "0"},
	} {
		got, err := checkout.Plan(eurs(tc.total), eurs(tc.available), checkout.PlanOptions{SkipBalance: tc.skip})
		want := checkout.Split{Balance: eurs(tc.balance), Card: eurs(tc.card)}
		if err != nil || got.Balance != want.Balance || got.Card != want.Card || got.Cards != nil {
			t.Errorf("%s: Plan(%s, %s) = %+v, %v; want %+v", tc.name, tc.total, tc.available, got, err, want)
		}
		if sum, _ := got.Balance.Add(got.Card); sum != eurs(tc.total) {
			t.Errorf("%s: parts sum to %v", tc.name, sum)
		}
	}
	for _, tc := range []struct {
		name             string
		total, available giftkit.Money
		want             error
	}{
		{"zero total", eurs("0"), eurs("10"), checkout.ErrInvalidOrder},
		{"negative total", eurs("-1"), eurs("10"), checkout.ErrInvalidOrder},
		{"no currency", giftkit.Money{}, eurs("10"), checkout.ErrInvalidOrder},
		{"currencies differ", eurs("10"), giftkit.FromMinor(10, giftkit.USD), giftkit.ErrCurrencyMismatch},
	} {
		if _, err := checkout.Plan(tc.total, tc.available, checkout.PlanOptions{}); !errors.Is(err, tc.want) {
			t.Errorf("%s: Plan error = %v; want %v", tc.name, err, tc.want)
		}
	}
}

// fixture is a store, the services over it, and the fake processor.
type fixture struct {
	storetest.Env
	store *memstore.Store
	proc  *processortest.Processor
	co    *checkout.Service
}

func newFixture(t *testing.T, cfg checkout.Config) fixture {
	store := memstore.New()
	env := storetest.NewEnv(t, store, 3)
	proc := processortest.New()
	cfg.Now = env.Clock.Now
	co, err := checkout.NewService(store, proc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{Env: env, store: store, proc: proc, co: co}
}

func (f fixture) pay(t *testing.T, id, total string, mode checkout.CaptureMode) (checkout.Payment, error) {
	t.Helper()
	return f.co.Pay(context.Background(), checkout.PayRequest{
		PaymentID: id, Owner: "alice", Total: eurs(total), Instrument: "tok_visa", Mode: mode,
	}, "pay-"+id)
}

func (f fixture) balance(t *testing.T) wallet.Balance {
	t.Helper()
	b, err := f.Wallet.Balance(context.Background(), "alice", eur)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkProcessor compares the processor's ledger with the payment.
func (f fixture) checkProcessor(t *testing.T, p checkout.Payment) {
	t.Helper()
	if p.AuthID == "" {
		if p.Card.Captured.IsPositive() {
			t.Errorf("payment %s records a card capture without an authorisation", p.ID)
		}
		return
	}
	a, ok := f.proc.Auth(p.AuthID)
	if !ok {
		t.Fatalf("payment %s records authorisation %s, which the processor does not know", p.ID, p.AuthID)
	}
	net, _ := a.Captured.Sub(a.Refunded)
	want, _ := p.Card.Captured.Sub(p.Card.Refunded)
	if net != want {
		t.Errorf("payment %s: processor holds %v net, payment records %v", p.ID, net, want)
	}
	if !p.State.Open() && !a.Closed {
		t.Errorf("payment %s is %v but its authorisation is still open", p.ID, p.State)
	}
}

func TestPayCaptureNow(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	f.Fund(t, "alice", eurs("30.00"))
	for _, tc := range []struct {
		id, total, balance, card, left string
	}{
		{"covered", "10.00", "10.00", "0.00", "20.00"},
		{"exceeds", "45.00", "20.00", "25.00", "0.00"},
		{"card only", "5.00", "0.00", "5.00", "0.00"},
	} {
		p, err := f.pay(t, tc.id, tc.total, checkout.CaptureNow)
		if err != nil || p.State != checkout.StateCaptured || p.Balance.Captured != eurs(tc.balance) || p.Card.Captured != eurs(tc.card) {
			t.Fatalf("%s: Pay = %v balance %v card %v, %v", tc.id, p.State, p.Balance.Captured, p.Card.Captured, err)
		}
		if b := f.balance(t); b.Balance != eurs(tc.left) || b.Held != eurs("0") {
			t.Errorf("%s: balance after = %+v; want %s", tc.id, b, tc.left)
		}
		f.checkProcessor(t, p)
	}
	if got := f.proc.Calls(processortest.OpAuthorize); got != 2 {
		t.Errorf("processor authorisations = %d; want 2 (a zero card part never calls it)", got)
	}
}

func TestPayDeclinedChargesNothing(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	f.Fund(t, "alice", eurs("30.00"))
	f.proc.Queue(processortest.OpAuthorize, processortest.Decline)
	p, err := f.pay(t, "o1", "50.00", checkout.CaptureNow)
	var ce *checkout.Error
	if !errors.Is(err, checkout.ErrDeclined) || !errors.As(err, &ce) || ce.Detail != "do_not_honor" {
		t.Fatalf("Pay = %v; want ErrDeclined with the reason", err)
	}
	if p.State != checkout.StateFailed || !p.Balance.Captured.IsZero() {
		t.Errorf("payment after decline: %+v", p)
	}
	if b := f.balance(t); b.Available != eurs("30.00") || b.Held != eurs("0") {
		t.Errorf("balance after decline = %+v; want it whole", b)
	}
	// The retry returns the same failure and does not call the processor.
	calls := f.proc.Calls(processortest.OpAuthorize)
	if _, err := f.pay(t, "o1", "50.00", checkout.CaptureNow); !errors.Is(err, checkout.ErrDeclined) {
		t.Errorf("retry: %v; want the recorded decline", err)
	}
	if f.proc.Calls(processortest.OpAuthorize) != calls {
		t.Error("the retry of a declined payment called the processor again")
	}
}

func TestCaptureLaterPartial(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("30.00"))
	p, err := f.pay(t, "o1", "80.00", checkout.CaptureLater)
	if err != nil || p.State != checkout.StateAuthorized || p.Balance.Authorized != eurs("30.00") || p.Card.Authorized != eurs("50.00") {
		t.Fatalf("Pay later = %+v, %v", p, err)
	}
	if b := f.balance(t); b.Available != eurs("0") || b.Held != eurs("30.00") {
		t.Errorf("while authorised: %+v", b)
	}
	if _, err := f.co.Capture(ctx, "o1", eurs("80.01"), "cap-over"); !errors.Is(err, checkout.ErrExceedsAuthorized) {
		t.Errorf("capture over the total: %v", err)
	}
	// Only 60.00 of the order ships: the balance part first, then the card.
	p, err = f.co.Capture(ctx, "o1", eurs("60.00"), "cap")
	if err != nil || p.State != checkout.StateCaptured || p.Balance.Captured != eurs("30.00") || p.Card.Captured != eurs("30.00") {
		t.Fatalf("Capture = %+v, %v", p, err)
	}
	if again, err := f.co.Capture(ctx, "o1", eurs("60.00"), "cap"); err != nil || again.State != checkout.StateCaptured {
		t.Errorf("capture retried: %v, %v", again.State, err)
	}
	if _, err := f.co.Capture(ctx, "o1", eurs("10.00"), "cap-2"); !errors.Is(err, checkout.ErrInvalidState) {
		t.Errorf("second capture: %v; want ErrInvalidState", err)
	}
	f.checkProcessor(t, p)
	if a, _ := f.proc.Auth(p.AuthID); a.Captured != eurs("30.00") || !a.Closed {
		t.Errorf("processor: %+v; want 30.00 captured and the rest released", a)
	}
}

func TestCaptureSmallerThanBalancePartVoidsCard(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	f.Fund(t, "alice", eurs("30.00"))
	p, err := f.pay(t, "o1", "80.00", checkout.CaptureLater)
	if err != nil {
		t.Fatal(err)
	}
	p, err = f.co.Capture(context.Background(), "o1", eurs("10.00"), "cap")
	if err != nil || p.State != checkout.StateCaptured || p.Balance.Captured != eurs("10.00") || !p.Card.Captured.IsZero() {
		t.Fatalf("Capture = %+v, %v", p, err)
	}
	if a, _ := f.proc.Auth(p.AuthID); !a.Voided {
		t.Errorf("card authorisation %+v; want voided", a)
	}
	if b := f.balance(t); b.Balance != eurs("20.00") || b.Held != eurs("0") {
		t.Errorf("balance %+v; want 20.00 and nothing held", b)
	}
}

func TestUncapturedPaymentExpires(t *testing.T) {
	f := newFixture(t, checkout.Config{HoldFor: time.Hour})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("30.00"))
	p, err := f.pay(t, "o1", "50.00", checkout.CaptureLater)
	if err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(time.Hour)
	// The account's next touch releases the hold...
	if b := f.balance(t); b.Available != eurs("30.00") {
		t.Errorf("after the hold lapsed: %+v", b)
	}
	// ...and a sweep unwinds the payment and voids the card.
	resumed, open, err := f.co.Sweep(ctx, 100)
	if err != nil || resumed != 1 || open != 0 {
		t.Fatalf("Sweep = %d, %d, %v", resumed, open, err)
	}
	p, _ = f.co.Payment(ctx, "o1")
	if p.State != checkout.StateExpired {
		t.Errorf("payment is %v; want expired", p.State)
	}
	if a, _ := f.proc.Auth(p.AuthID); !a.Voided {
		t.Errorf("authorisation %+v; want voided", a)
	}
	if _, err := f.co.Capture(ctx, "o1", eurs("50.00"), "late"); !errors.Is(err, checkout.ErrInvalidState) {
		t.Errorf("capture after expiry: %v", err)
	}
	if b := f.balance(t); b.Balance != eurs("30.00") || b.Held != eurs("0") {
		t.Errorf("balance %+v; want whole", b)
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("30.00"))
	p, _ := f.pay(t, "o1", "50.00", checkout.CaptureLater)
	p, err := f.co.Cancel(ctx, "o1", "cancel")
	if err != nil || p.State != checkout.StateCancelled {
		t.Fatalf("Cancel = %v, %v", p.State, err)
	}
	if a, _ := f.proc.Auth(p.AuthID); !a.Voided {
		t.Error("the authorisation was not voided")
	}
	if b := f.balance(t); b.Available != eurs("30.00") {
		t.Errorf("balance after cancel: %+v", b)
	}
	if _, err := f.co.Cancel(ctx, "o1", "cancel"); err != nil {
		t.Errorf("cancel retried: %v", err)
	}
	if _, err := f.co.Cancel(ctx, "o1", "cancel-2"); !errors.Is(err, checkout.ErrInvalidState) {
		t.Errorf("cancel a cancelled payment: %v", err)
	}
	captured, _ := f.pay(t, "o2", "5.00", checkout.CaptureNow)
	if _, err := f.co.Cancel(ctx, captured.ID, "cancel-3"); !errors.Is(err, checkout.ErrInvalidState) {
		t.Errorf("cancel a captured payment: %v", err)
	}
}

func TestRefundPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy        checkout.RefundPolicy
		amount        string
		card, balance string
	}{
		{checkout.RefundCardFirst, "25.00", "20.00", "5.00"},
		{checkout.RefundCardFirst, "15.00", "15.00", "0.00"},
		{checkout.RefundBalanceFirst, "25.00", "5.00", "20.00"},
		{checkout.RefundProportional, "10.00", "5.00", "5.00"},
		{checkout.RefundProportional, "0.01", "0.01", "0.00"},
		{checkout.RefundProportional, "40.00", "20.00", "20.00"},
	} {
		f := newFixture(t, checkout.Config{RefundPolicy: tc.policy})
		f.Fund(t, "alice", eurs("20.00"))
		if _, err := f.pay(t, "o1", "40.00", checkout.CaptureNow); err != nil {
			t.Fatal(err)
		}
		p, err := f.co.Refund(context.Background(), "o1", eurs(tc.amount), "r1")
		if err != nil || len(p.Refunds) != 1 {
			t.Fatalf("policy %d: Refund = %+v, %v", tc.policy, p, err)
		}
		r := p.Refunds[0]
		if r.Card != eurs(tc.card) || r.Balance != eurs(tc.balance) || !r.Done {
			t.Errorf("policy %d, refund %s: card %v balance %v done %v; want %s and %s", tc.policy, tc.amount, r.Card, r.Balance, r.Done, tc.card, tc.balance)
		}
		if b := f.balance(t); b.Balance != eurs(tc.balance) {
			t.Errorf("policy %d: balance after refund %v; want %s", tc.policy, b.Balance, tc.balance)
		}
		f.checkProcessor(t, p)
	}
}

func TestRefundLimits(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("20.00"))
	if _, err := f.pay(t, "o1", "40.00", checkout.CaptureNow); err != nil {
		t.Fatal(err)
	}
	for i, amount := range []string{"15.00", "15.00", "10.00"} {
		if _, err := f.co.Refund(ctx, "o1", eurs(amount), fmt.Sprint("r", i)); err != nil {
			t.Fatalf("refund %d of %s: %v", i, amount, err)
		}
	}
	if _, err := f.co.Refund(ctx, "o1", eurs("0.01"), "r9"); !errors.Is(err, checkout.ErrExceedsCaptured) {
		t.Errorf("refund beyond the capture: %v", err)
	}
	if _, err := f.co.Refund(ctx, "o1", eurs("20.00"), "r0"); !errors.Is(err, giftkit.ErrIdempotencyConflict) {
		t.Errorf("refund key reused with another amount: %v", err)
	}
	p, _ := f.co.Payment(ctx, "o1")
	if p.Card.Refunded != eurs("20.00") || p.Balance.Refunded != eurs("20.00") {
		t.Errorf("after refunding everything: card %v balance %v", p.Card.Refunded, p.Balance.Refunded)
	}
	f.checkProcessor(t, p)
	pending, _ := f.pay(t, "o2", "5.00", checkout.CaptureLater)
	if _, err := f.co.Refund(ctx, pending.ID, eurs("1.00"), "r10"); !errors.Is(err, checkout.ErrInvalidState) {
		t.Errorf("refund of an uncaptured payment: %v", err)
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("10.00"))
	good := checkout.PayRequest{PaymentID: "o1", Owner: "alice", Total: eurs("5.00"), Instrument: "tok_visa"}
	with := func(change func(*checkout.PayRequest)) checkout.PayRequest { r := good; change(&r); return r }
	for _, tc := range []struct {
		name string
		req  checkout.PayRequest
		key  string
		want error
	}{
		{"no ID", with(func(r *checkout.PayRequest) { r.PaymentID = "" }), "k", checkout.ErrInvalidOrder},
		{"no owner", with(func(r *checkout.PayRequest) { r.Owner = "" }), "k", wallet.ErrInvalidOwner},
		{"zero total", with(func(r *checkout.PayRequest) { r.Total = eurs("0") }), "k", checkout.ErrInvalidOrder},
		{"negative total", with(func(r *checkout.PayRequest) { r.Total = eurs("-5") }), "k", checkout.ErrInvalidOrder},
		{"bad mode", with(func(r *checkout.PayRequest) { r.Mode = 9 }), "k", checkout.ErrInvalidOrder},
		{"no key", good, "", giftkit.ErrKeyRequired},
		{"card part without card", with(func(r *checkout.PayRequest) { r.Total = eurs("15.00"); r.Instrument = "" }), "k-no-card", checkout.ErrInstrumentRequired},
	} {
		_, err := f.co.Pay(ctx, tc.req, tc.key)
		var ce *checkout.Error
		if !errors.Is(err, tc.want) || !errors.As(err, &ce) {
			t.Errorf("%s: Pay = %v; want %v in a *checkout.Error", tc.name, err, tc.want)
		}
	}
	if b := f.balance(t); b.Available != eurs("10.00") || b.Held != eurs("0") {
		t.Errorf("bad requests changed the balance: %+v", b)
	}
	if _, err := f.co.Pay(ctx, good, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.co.Pay(ctx, with(func(r *checkout.PayRequest) { r.Total = eurs("6.00") }), "k"); !errors.Is(err, giftkit.ErrIdempotencyConflict) {
		t.Errorf("same payment, other request: %v", err)
	}
	if _, err := f.co.Pay(ctx, good, "other-key"); !errors.Is(err, giftkit.ErrIdempotencyConflict) {
		t.Errorf("same payment, other key: %v", err)
	}
	for name, err := range map[string]error{
		"capture unknown": func() error { _, err := f.co.Capture(ctx, "nope", eurs("1"), "c"); return err }(),
		"refund unknown":  func() error { _, err := f.co.Refund(ctx, "nope", eurs("1"), "r"); return err }(),
		"cancel unknown":  func() error { _, err := f.co.Cancel(ctx, "nope", "x"); return err }(),
		"resume unknown":  func() error { _, err := f.co.Resume(ctx, "nope"); return err }(),
	} {
		if !errors.Is(err, checkout.ErrPaymentNotFound) {
			t.Errorf("%s: %v; want ErrPaymentNotFound", name, err)
		}
	}
}

// TestProcessorFailuresRecover: whatever the processor does, re-running the
// call with the same key ends in the same place as if nothing had failed,
// with the processor charged once.
func TestProcessorFailuresRecover(t *testing.T) {
	for _, tc := range []struct {
		op      string
		outcome processortest.Outcome
	}{
		{processortest.OpAuthorize, processortest.Fail},
		{processortest.OpAuthorize, processortest.Timeout},
		{processortest.OpAuthorize, processortest.LoseReply},
		{processortest.OpCapture, processortest.Fail},
		{processortest.OpCapture, processortest.LoseReply},
	} {
		t.Run(tc.op+"-"+tc.outcome.String(), func(t *testing.T) {
			f := newFixture(t, checkout.Config{})
			f.Fund(t, "alice", eurs("30.00"))
			f.proc.Queue(tc.op, tc.outcome)
			p, err := f.pay(t, "o1", "50.00", checkout.CaptureNow)
			if !errors.Is(err, checkout.ErrProcessorUnavailable) || !p.State.Open() {
				t.Fatalf("Pay = %v, %v; want ErrProcessorUnavailable and the payment open", p.State, err)
			}
			p, err = f.pay(t, "o1", "50.00", checkout.CaptureNow)
			if err != nil || p.State != checkout.StateCaptured || p.Card.Captured != eurs("20.00") {
				t.Fatalf("retry = %+v, %v", p, err)
			}
			if auths := f.proc.Auths(); len(auths) != 1 {
				t.Errorf("processor has %d authorisations; want 1", len(auths))
			}
			f.checkProcessor(t, p)
			if b := f.balance(t); b.Balance != eurs("0") || b.Held != eurs("0") {
				t.Errorf("balance %+v", b)
			}
		})
	}
}

func TestCaptureDeclineCompensates(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	f.Fund(t, "alice", eurs("30.00"))
	f.proc.Queue(processortest.OpCapture, processortest.Decline)
	p, err := f.pay(t, "o1", "50.00", checkout.CaptureNow)
	if !errors.Is(err, checkout.ErrDeclined) || p.State != checkout.StateFailed {
		t.Fatalf("Pay = %v, %v; want failed with ErrDeclined", p.State, err)
	}
	if b := f.balance(t); b.Balance != eurs("30.00") || b.Held != eurs("0") {
		t.Errorf("balance after the refused capture = %+v; want 30.00 back", b)
	}
	if a, _ := f.proc.Auth(p.AuthID); !a.Voided || a.Captured.IsPositive() {
		t.Errorf("authorisation %+v; want voided, nothing captured", a)
	}
}

// TestAbandonedPaymentIsUnwound: a payment whose caller vanished after the
// processor authorised (reply lost) is found by Sweep once its hold lapses,
// and the unrecorded authorisation is voided.
func TestAbandonedPaymentIsUnwound(t *testing.T) {
	f := newFixture(t, checkout.Config{HoldFor: time.Hour})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("30.00"))
	f.proc.Queue(processortest.OpAuthorize, processortest.LoseReply)
	if _, err := f.pay(t, "o1", "50.00", checkout.CaptureNow); !errors.Is(err, checkout.ErrProcessorUnavailable) {
		t.Fatalf("Pay: %v", err)
	}
	f.Clock.Advance(2 * time.Hour)
	if _, open, err := f.co.Sweep(ctx, 10); err != nil || open != 0 {
		t.Fatalf("Sweep: %d open, %v", open, err)
	}
	p, _ := f.co.Payment(ctx, "o1")
	if p.State != checkout.StateExpired {
		t.Errorf("payment %v; want expired", p.State)
	}
	auths := f.proc.Auths()
	if len(auths) != 1 || !auths[0].Voided {
		t.Errorf("processor authorisations %+v; want the one voided", auths)
	}
	if b := f.balance(t); b.Balance != eurs("30.00") || b.Held != eurs("0") {
		t.Errorf("balance %+v; want whole", b)
	}
}

func TestRefundProcessorFailureRecovers(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("20.00"))
	if _, err := f.pay(t, "o1", "40.00", checkout.CaptureNow); err != nil {
		t.Fatal(err)
	}
	f.proc.Queue(processortest.OpRefund, processortest.LoseReply)
	if _, err := f.co.Refund(ctx, "o1", eurs("25.00"), "r1"); !errors.Is(err, checkout.ErrProcessorUnavailable) {
		t.Fatalf("Refund: %v", err)
	}
	if b := f.balance(t); !b.Balance.IsZero() {
		t.Errorf("balance part credited before the card part settled: %+v", b)
	}
	if _, open, err := f.co.Sweep(ctx, 10); err != nil || open != 0 {
		t.Fatalf("Sweep: %d open, %v", open, err)
	}
	p, _ := f.co.Payment(ctx, "o1")
	if !p.Refunds[0].Done || p.Card.Refunded != eurs("20.00") || p.Balance.Refunded != eurs("5.00") {
		t.Errorf("refund after sweep: %+v", p)
	}
	f.checkProcessor(t, p)
	if b := f.balance(t); b.Balance != eurs("5.00") {
		t.Errorf("balance %v; want 5.00", b.Balance)
	}
}

func TestConcurrentCheckoutsNeverOverdraw(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	f.Fund(t, "alice", eurs("100.00"))
	errs := make(chan error, storetest.Workers)
	for i := 0; i < storetest.Workers; i++ {
		go func() {
			_, err := f.co.Pay(context.Background(), checkout.PayRequest{
				PaymentID: fmt.Sprint("o", i), Owner: "alice", Total: giftkit.FromMinor(int64(700+i*13), eur), Instrument: "tok_visa",
			}, fmt.Sprint("k", i))
			errs <- err
		}()
	}
	for i := 0; i < storetest.Workers; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	b := f.balance(t)
	if !b.Balance.IsZero() || !b.Held.IsZero() {
		t.Errorf("balance after %d checkouts = %+v; want all of it spent, none held", storetest.Workers, b)
	}
	var total, fromBalance int64
	for i := 0; i < storetest.Workers; i++ {
		p, err := f.co.Payment(context.Background(), fmt.Sprint("o", i))
		if err != nil {
			t.Fatal(err)
		}
		sum, _ := p.Balance.Captured.Add(p.Card.Captured)
		if sum != p.Total {
			t.Errorf("payment %s: %v + %v != %v", p.ID, p.Balance.Captured, p.Card.Captured, p.Total)
		}
		total += p.Total.Minor()
		fromBalance += p.Balance.Captured.Minor()
		f.checkProcessor(t, p)
	}
	if fromBalance != 10000 {
		t.Errorf("the balance paid %d cents in all; want exactly 10000", fromBalance)
	}
}

func TestRefundDeclinedRefundsNothing(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("20.00"))
	if _, err := f.pay(t, "o1", "40.00", checkout.CaptureNow); err != nil {
		t.Fatal(err)
	}
	f.proc.Queue(processortest.OpRefund, processortest.Decline)
	p, err := f.co.Refund(ctx, "o1", eurs("25.00"), "r1")
	if !errors.Is(err, checkout.ErrDeclined) {
		t.Fatalf("Refund with the card refund refused: %v; want ErrDeclined", err)
	}
	if len(p.Refunds) != 1 || p.Refunds[0].Failed == "" || !p.Card.Refunded.IsZero() || !p.Balance.Refunded.IsZero() {
		t.Errorf("payment after the refused refund: %+v", p)
	}
	if b := f.balance(t); !b.Balance.IsZero() {
		t.Errorf("the balance part of a refused refund was credited: %+v", b)
	}
	if _, err := f.co.Refund(ctx, "o1", eurs("25.00"), "r1"); !errors.Is(err, checkout.ErrDeclined) {
		t.Errorf("retry of the refused refund: %v; want the same ErrDeclined", err)
	}
	// The amount is refundable again under a new key.
	p, err = f.co.Refund(ctx, "o1", eurs("40.00"), "r2")
	if err != nil || p.Card.Refunded != eurs("20.00") || p.Balance.Refunded != eurs("20.00") {
		t.Errorf("refund after the refusal: %+v, %v", p, err)
	}
	f.checkProcessor(t, p)
}

// TestSweepReachesEveryPage: payments the processor cannot complete at the
// front of the open set do not hide the payments behind them, whatever the
// page size.
func TestSweepReachesEveryPage(t *testing.T) {
	f := newFixture(t, checkout.Config{HoldFor: time.Hour})
	ctx := context.Background()
	for _, id := range []string{"o1", "o2", "o3", "o4"} {
		if _, err := f.pay(t, id, "10.00", checkout.CaptureLater); err != nil {
			t.Fatal(err)
		}
	}
	f.Clock.Advance(time.Hour)
	f.proc.Queue(processortest.OpVoid, processortest.Fail, processortest.Fail) // o1 and o2 stay open
	resumed, open, err := f.co.Sweep(ctx, 2)
	if err != nil || resumed != 4 || open != 2 {
		t.Fatalf("Sweep(page 2) = %d resumed, %d open, %v; want 4, 2, nil", resumed, open, err)
	}
	for id, want := range map[string]checkout.State{"o1": checkout.StateUnwinding, "o2": checkout.StateUnwinding,
		"o3": checkout.StateExpired, "o4": checkout.StateExpired} {
		if p, _ := f.co.Payment(ctx, id); p.State != want {
			t.Errorf("%s is %v; want %v", id, p.State, want)
		}
	}
}

// countingStore counts units of work.
type countingStore struct {
	*memstore.Store
	units atomic.Int64
}

func (s *countingStore) Update(ctx context.Context, fn func(*memstore.Tx) error) error {
	s.units.Add(1)
	return s.Store.Update(ctx, fn)
}

// TestUnitsOfWork: a payment the balance covers is held, authorised and
// captured in one unit of work; a split payment takes three, one before
// each processor call and one after the last (the fewest that let a crash
// at any point be resumed: see saga.go).
func TestUnitsOfWork(t *testing.T) {
	for _, tc := range []struct {
		name  string
		total string
		mode  checkout.CaptureMode
		units int64
	}{
		{"balance only, capture now", "10.00", checkout.CaptureNow, 1},
		{"balance only, capture later", "10.00", checkout.CaptureLater, 1},
		{"split, capture now", "30.00", checkout.CaptureNow, 3},
		{"split, capture later", "30.00", checkout.CaptureLater, 2},
	} {
		store := &countingStore{Store: memstore.New()}
		env := storetest.NewEnv(t, store, 3)
		env.Fund(t, "alice", eurs("20.00"))
		co, err := checkout.NewService(store, processortest.New(), checkout.Config{Now: env.Clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		before := store.units.Load()
		p, err := co.Pay(context.Background(), checkout.PayRequest{PaymentID: "o1", Owner: "alice", Total: eurs(tc.total),
			Instrument: "tok_visa", Mode: tc.mode}, "k")
		want := checkout.StateCaptured
		if tc.mode == checkout.CaptureLater {
			want = checkout.StateAuthorized
		}
		if err != nil || p.State != want {
			t.Fatalf("%s: Pay = %v, %v", tc.name, p.State, err)
		}
		if got := store.units.Load() - before; got != tc.units {
			t.Errorf("%s: %d units of work; want %d", tc.name, got, tc.units)
		}
	}
}
