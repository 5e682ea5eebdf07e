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
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

// Payment IDs and keys are the caller's: no two of them may give two
// processor calls one key. "x/refund" authorising and "x" refunding under
// the key "authorize" once shared "giftkit/x/refund/authorize".
func TestProcessorKeysInjective(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	ctx := context.Background()
	req := func(id string) checkout.PayRequest {
		return checkout.PayRequest{PaymentID: id, Owner: "alice", Total: eurs("20"), Instrument: "tok_visa"}
	}
	x, err := f.co.Pay(ctx, req("x"), "pay-x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.co.Refund(ctx, "x", eurs("5"), "authorize"); err != nil {
		t.Fatal(err)
	}
	y, err := f.co.Pay(ctx, req("x/refund"), "pay-y")
	if err != nil {
		t.Fatalf("Pay(x/refund): %v", err)
	}
	if reuses := f.proc.KeyReuses(); len(reuses) > 0 {
		t.Fatalf("processor keys reused: %v", reuses)
	}
	if x.AuthID == y.AuthID {
		t.Fatalf("two payments share authorisation %s", x.AuthID)
	}
	for _, p := range []string{"x", "x/refund"} {
		got, err := f.co.Payment(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		f.checkProcessor(t, got)
	}
}

// Two deployments sharing one processor account with different
// ProcessorKeyPrefix never adopt each other's authorisations, even for the
// same payment ID and key.
func TestProcessorKeyPrefix(t *testing.T) {
	proc := processortest.New()
	ctx := context.Background()
	var auths []string
	for _, prefix := range []string{"prod", "staging"} {
		store := memstore.New()
		env := storetest.NewEnv(t, store, 3)
		co, err := checkout.NewService(store, proc, checkout.Config{Now: env.Clock.Now, ProcessorKeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		p, err := co.Pay(ctx, checkout.PayRequest{PaymentID: "order-1", Owner: "alice", Total: eurs("20"), Instrument: "tok_visa"}, "k")
		if err != nil || p.Keys.Prefix != prefix {
			t.Fatalf("%s: Pay = %+v, %v", prefix, p, err)
		}
		auths = append(auths, p.AuthID)
	}
	if auths[0] == auths[1] || len(proc.Auths()) != 2 {
		t.Errorf("two deployments' payments share an authorisation: %v, %+v", auths, proc.Auths())
	}
	for _, bad := range []string{"has space", "a:b", strings.Repeat("p", checkout.MaxKeyPrefixLen+1), "é"} {
		if _, err := checkout.NewService(memstore.New(), proc, checkout.Config{Now: time.Now, ProcessorKeyPrefix: bad}); err == nil {
			t.Errorf("ProcessorKeyPrefix %q accepted", bad)
		}
	}
}

// A refused call keeps its refusal under its key, whatever the payment does
// afterwards: a capture refused while the payment was pending does not
// succeed later, and a cancel refused while capturing keeps that state.
func TestRefusalsReplayed(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("10"))
	f.proc.Queue(processortest.OpAuthorize, processortest.Timeout)
	req := checkout.PayRequest{PaymentID: "o1", Owner: "alice", Total: eurs("30"), Instrument: "tok_visa", Mode: checkout.CaptureLater}
	if _, err := f.co.Pay(ctx, req, "pay"); !errors.Is(err, checkout.ErrProcessorUnavailable) {
		t.Fatalf("Pay with the processor down: %v", err)
	}
	_, first := f.co.Capture(ctx, "o1", eurs("30"), "cap")
	if !errors.Is(first, checkout.ErrInvalidState) {
		t.Fatalf("capture of a pending payment: %v; want ErrInvalidState", first)
	}
	if p, err := f.co.Resume(ctx, "o1"); err != nil || p.State != checkout.StateAuthorized {
		t.Fatalf("Resume = %v, %v", p.State, err)
	}
	if _, again := f.co.Capture(ctx, "o1", eurs("30"), "cap"); again == nil || again.Error() != first.Error() {
		t.Errorf("capture retried once authorised: %v; want its first outcome, %v", again, first)
	}
	if _, err := f.co.Cancel(ctx, "o1", "cap"); !errors.Is(err, giftkit.ErrIdempotencyConflict) {
		t.Errorf("the capture's key for a cancel: %v; want ErrIdempotencyConflict", err)
	}

	f.proc.Queue(processortest.OpCapture, processortest.Fail)
	if _, err := f.co.Capture(ctx, "o1", eurs("30"), "cap-2"); !errors.Is(err, checkout.ErrProcessorUnavailable) {
		t.Fatalf("capture with the processor down: %v", err)
	}
	_, first = f.co.Cancel(ctx, "o1", "cancel")
	var ce *checkout.Error
	if !errors.As(first, &ce) || ce.State != checkout.StateCapturing {
		t.Fatalf("cancel while capturing: %v; want ErrInvalidState from capturing", first)
	}
	if p, err := f.co.Resume(ctx, "o1"); err != nil || p.State != checkout.StateCaptured {
		t.Fatalf("Resume = %v, %v", p.State, err)
	}
	if _, again := f.co.Cancel(ctx, "o1", "cancel"); again == nil || again.Error() != first.Error() {
		t.Errorf("cancel retried once captured: %v; want its first outcome, %v", again, first)
	}

	// A Pay refused for want of a bank card stays refused once the balance
	// would cover the order.
	short := checkout.PayRequest{PaymentID: "o2", Owner: "alice", Total: eurs("5")}
	_, first = f.co.Pay(ctx, short, "pay-2")
	if !errors.Is(first, checkout.ErrInstrumentRequired) {
		t.Fatalf("Pay without a card beyond the balance: %v", first)
	}
	f.Fund(t, "alice", eurs("10.01"))
	if _, again := f.co.Pay(ctx, short, "pay-2"); again == nil || again.Error() != first.Error() {
		t.Errorf("Pay retried once the balance covers it: %v; want %v", again, first)
	}
}

// ticking is a clock that moves on by a nanosecond at every reading: time
// passing between the readings of one call.
type ticking struct{ now time.Time }

func (c *ticking) Now() time.Time {
	now := c.now
	c.now = c.now.Add(time.Nanosecond)
	return now
}

// A capture decided while the hold is live succeeds, however late in the
// hold's life and however many times the call reads the clock; one decided
// at the expiry fails with ErrExpired and the payment is unwound.
func TestCaptureAtTheDeadline(t *testing.T) {
	for before := time.Duration(0); before <= 4; before++ {
		store := memstore.New()
		env := storetest.NewEnv(t, store, 3)
		clock := &ticking{now: env.Clock.Now()}
		proc := processortest.New()
		co, err := checkout.NewService(store, proc, checkout.Config{Now: clock.Now, HoldFor: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		env.Fund(t, "alice", eurs("10"))
		ctx := context.Background()
		p, err := co.Pay(ctx, checkout.PayRequest{PaymentID: "o1", Owner: "alice", Total: eurs("30"), Instrument: "tok_visa", Mode: checkout.CaptureLater}, "pay")
		if err != nil {
			t.Fatal(err)
		}
		clock.now = p.ExpiresAt.Add(-before)
		p, err = co.Capture(ctx, "o1", eurs("30"), "cap")
		switch {
		case before == 0 && !errors.Is(err, checkout.ErrExpired):
			t.Errorf("capture at the expiry: %v; want ErrExpired", err)
		case before > 0 && (err != nil || p.State != checkout.StateCaptured || p.Balance.Captured != eurs("10")):
			t.Errorf("capture %v before the expiry = %v, %v; want captured, 10.00 EUR from the balance", before, p.State, err)
		}
	}
}

// A declined payment's error carries the processor's reason as a
// *DeclineError.
func TestDeclineErrorAs(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	_, err := f.co.Pay(context.Background(), checkout.PayRequest{PaymentID: "o1", Owner: "alice", Total: eurs("30"),
		Instrument: processortest.DeclinedInstrument}, "pay")
	var d *checkout.DeclineError
	if !errors.Is(err, checkout.ErrDeclined) || !errors.As(err, &d) || d.Reason != "card_declined" {
		t.Fatalf("declined Pay: %v; want a *DeclineError with the reason", err)
	}
	if strings.Count(err.Error(), "declined") != 2 { // "card declined: card_declined", once
		t.Errorf("message repeats itself: %q", err)
	}
}

// Identifiers that no store can keep as text are refused at the boundary.
func TestBadIdentifiers(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  checkout.PayRequest
		key  string
		want error
	}{
		{"payment ID with NUL", checkout.PayRequest{PaymentID: "o\x00", Owner: "alice", Total: eurs("1"), Instrument: "tok"}, "k1", checkout.ErrInvalidOrder},
		{"payment ID not UTF-8", checkout.PayRequest{PaymentID: "o\xff", Owner: "alice", Total: eurs("1"), Instrument: "tok"}, "k2", checkout.ErrInvalidOrder},
		{"owner with a newline", checkout.PayRequest{PaymentID: "o", Owner: "al\nice", Total: eurs("1"), Instrument: "tok"}, "k3", wallet.ErrInvalidOwner},
		{"key with NUL", checkout.PayRequest{PaymentID: "o", Owner: "alice", Total: eurs("1"), Instrument: "tok"}, "k\x00", giftkit.ErrKeyRequired},
	} {
		if _, err := f.co.Pay(ctx, tc.req, tc.key); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.want)
		}
	}
	if _, err := f.co.Capture(ctx, "o\x00", eurs("1"), "k"); !errors.Is(err, checkout.ErrInvalidOrder) {
		t.Errorf("capture of a payment ID with NUL: %v", err)
	}
	if _, err := f.co.Payment(ctx, "o\x00"); !errors.Is(err, checkout.ErrPaymentNotFound) {
		t.Errorf("Payment of an ID with NUL: %v", err)
	}
}

// Regression (once a committed rapid fail file, which later harness changes
// silently invalidated): capturing a payment whose hold lapsed fails with
// ErrExpired.
func TestCaptureOfLapsedPayment(t *testing.T) {
	f := newFixture(t, checkout.Config{HoldFor: 48 * time.Hour})
	if _, err := f.pay(t, "o1", "0.01", checkout.CaptureLater); err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(48 * time.Hour)
	if _, err := f.co.Capture(context.Background(), "o1", eurs("0.01"), "cap"); !errors.Is(err, checkout.ErrExpired) {
		t.Errorf("capture of a lapsed payment: %v; want ErrExpired", err)
	}
}
