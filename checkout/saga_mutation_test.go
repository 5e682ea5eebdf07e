package checkout_test

// Tests that pin down behaviour the rest of the suite left open, each found
// by a mutant that survived it (scripts/mutation).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  *checkout.Error
		want string
	}{
		{&checkout.Error{Op: "plan", Err: checkout.ErrInvalidOrder},
			"checkout: plan: invalid order"},
		{&checkout.Error{Op: "pay", PaymentID: "o1", Amount: eurs("5.00"), Detail: "total must be positive", Err: checkout.ErrInvalidOrder},
			"checkout: pay o1 of 5.00 EUR: invalid order: total must be positive"},
		{&checkout.Error{Op: "capture", PaymentID: "o1", State: checkout.StateCaptured, Err: checkout.ErrInvalidState},
			"checkout: capture o1: invalid payment state captured"},
		{&checkout.Error{Op: "refund", PaymentID: "o1", State: checkout.StateCaptured, Err: checkout.ErrExceedsCaptured},
			"checkout: refund o1: amount exceeds what is left to refund"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q; want %q", got, tc.want)
		}
	}
}

func TestStateAndModeText(t *testing.T) {
	for s := checkout.StatePending; s <= checkout.StateExpired; s++ {
		text, err := s.MarshalText()
		var back checkout.State
		if err != nil || back.UnmarshalText(text) != nil || back != s || string(text) != s.String() {
			t.Errorf("state %v round trip: %q, %v, back %v", s, text, err, back)
		}
	}
	past := checkout.StateExpired + 1
	if got := past.String(); got != "State(9)" {
		t.Errorf("State(9).String() = %q", got)
	}
	for _, s := range []checkout.State{0, past} {
		if text, err := s.MarshalText(); err == nil {
			t.Errorf("%v.MarshalText() = %q; want an error", s, text)
		}
	}
	var s checkout.State
	if err := s.UnmarshalText(nil); err == nil {
		t.Errorf("UnmarshalText(empty) = %v; want an error", s)
	}
	if now, later := checkout.CaptureNow.String(), checkout.CaptureLater.String(); now != "now" || later != "later" {
		t.Errorf("capture modes read %q and %q; want now and later", now, later)
	}
}

// TestLapseReasons: a payment that lapses says what it was waiting for.
func TestLapseReasons(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("30.00"))
	if p, err := f.pay(t, "later", "10.00", checkout.CaptureLater); err != nil || p.State != checkout.StateAuthorized {
		t.Fatalf("Pay(later) = %v, %v", p.State, err)
	}
	f.proc.Queue(processortest.OpAuthorize, processortest.Fail)
	if p, err := f.pay(t, "unanswered", "50.00", checkout.CaptureNow); !errors.Is(err, checkout.ErrProcessorUnavailable) || p.State != checkout.StatePending {
		t.Fatalf("Pay(unanswered) = %v, %v; want pending, ErrProcessorUnavailable", p.State, err)
	}
	f.Clock.Advance(8 * 24 * time.Hour)
	for id, want := range map[string]checkout.Failure{
		"later":      {Kind: checkout.FailureExpired, Reason: "not captured before the hold lapsed", At: checkout.StateAuthorized},
		"unanswered": {Kind: checkout.FailureExpired, Reason: "not authorised before the hold lapsed", At: checkout.StatePending},
	} {
		p, _ := f.co.Resume(ctx, id)
		if p.State != checkout.StateExpired || p.Failure != want {
			t.Errorf("Resume(%s) = %v with %+v; want expired with %+v", id, p.State, p.Failure, want)
		}
	}
}

// TestCaptureEntryKeys: the journal entry of a balance capture records the
// key of the call that asked for the capture: Pay's for CaptureNow,
// Capture's for CaptureLater.
func TestCaptureEntryKeys(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("30.00"))
	if _, err := f.pay(t, "now", "10.00", checkout.CaptureNow); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pay(t, "later", "5.00", checkout.CaptureLater); err != nil {
		t.Fatal(err)
	}
	if _, err := f.co.Capture(ctx, "later", eurs("5.00"), "ship-later"); err != nil {
		t.Fatal(err)
	}
	page, err := f.Wallet.History(ctx, "alice", eur, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page.Entries {
		if e.Kind == wallet.EntryCapture {
			got = append(got, e.Reference+" "+e.Key)
		}
	}
	if diff := cmp.Diff([]string{"now pay-now", "later ship-later"}, got); diff != "" {
		t.Errorf("capture entries (reference key) mismatch (-want +got):\n%s", diff)
	}
}

// TestProcessorKeyPrefixCharacters: a prefix is 1 to 20 of the characters every
// processor accepts in a key, the ends of each range included.
func TestProcessorKeyPrefixCharacters(t *testing.T) {
	for prefix, ok := range map[string]bool{
		"a": true, "z": true, "A": true, "Z": true, "0": true, "9": true, "._-": true,
		strings.Repeat("p", checkout.MaxKeyPrefixLen):   true,
		strings.Repeat("p", checkout.MaxKeyPrefixLen+1): false,
		"a b": false, "a/b": false, "é": false, "a:b": false,
	} {
		_, err := checkout.NewService(memstore.New(), processortest.New(), checkout.Config{Now: time.Now, ProcessorKeyPrefix: prefix})
		if (err == nil) != ok {
			t.Errorf("NewService(ProcessorKeyPrefix %q) error = %v; want accepted %v", prefix, err, ok)
		}
	}
}

// TestPayConflictIsAnError: the same key for another request of the same
// payment fails with an *Error that unwraps to the conflict.
func TestPayConflictIsAnError(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	if _, err := f.pay(t, "o1", "10.00", checkout.CaptureNow); err != nil {
		t.Fatal(err)
	}
	_, err := f.pay(t, "o1", "20.00", checkout.CaptureNow)
	var ce *checkout.Error
	if !errors.As(err, &ce) || !errors.Is(err, giftkit.ErrIdempotencyConflict) || ce.PaymentID != "o1" {
		t.Errorf("Pay(o1) again with another total under its key = %v; want ErrIdempotencyConflict in a *checkout.Error", err)
	}
}

// pagingTx records the page sizes Sweep asks for.
type pagingTx struct {
	*memstore.Tx
	limits *[]int
}

func (tx pagingTx) OpenPayments(afterID string, limit int) ([]checkout.Payment, error) {
	*tx.limits = append(*tx.limits, limit)
	if limit <= 0 {
		return nil, errors.New("pagingTx: page size must be positive")
	}
	return tx.Tx.OpenPayments(afterID, limit)
}

type pagingStore struct {
	*memstore.Store
	limits []int // written inside units of work, which memstore runs one at a time
}

func (s *pagingStore) Update(ctx context.Context, fn func(pagingTx) error) error {
	return s.Store.Update(ctx, func(tx *memstore.Tx) error { return fn(pagingTx{tx, &s.limits}) })
}

// TestSweepPages: Sweep reads open payments page pages at a time, and a
// page of 0 means DefaultSweepPage.
func TestSweepPages(t *testing.T) {
	ctx := context.Background()
	store := &pagingStore{Store: memstore.New()}
	clock := storetest.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	proc := processortest.New()
	co, err := checkout.NewService(store, proc, checkout.Config{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	open := func(round string) {
		t.Helper()
		proc.Queue(processortest.OpAuthorize, processortest.Fail, processortest.Fail, processortest.Fail)
		for _, id := range []string{round + "-o1", round + "-o2", round + "-o3"} {
			req := checkout.PayRequest{PaymentID: id, Owner: "alice", Total: eurs("5.00"), Instrument: "tok_visa"}
			if _, err := co.Pay(ctx, req, "pay-"+id); !errors.Is(err, checkout.ErrProcessorUnavailable) {
				t.Fatalf("Pay(%s) = %v; want it left open", id, err)
			}
		}
	}
	for _, tc := range []struct {
		page   int
		limits []int
	}{
		{2, []int{2, 2}},
		{0, []int{checkout.DefaultSweepPage}},
	} {
		store.Store, store.limits = memstore.New(), nil
		open(fmt.Sprint("page", tc.page))
		resumed, stillOpen, err := co.Sweep(ctx, tc.page)
		if err != nil || resumed != 3 || stillOpen != 0 {
			t.Errorf("Sweep(%d) = %d resumed, %d still open, %v; want 3, 0, nil", tc.page, resumed, stillOpen, err)
		}
		if diff := cmp.Diff(tc.limits, store.limits); diff != "" {
			t.Errorf("Sweep(%d) page sizes mismatch (-want +got):\n%s", tc.page, diff)
		}
	}
}

// TestRefundBalanceCreditFailure: when crediting a refund's balance part
// fails (the balance would exceed the largest amount), the refund fails
// with the wallet's error and nothing is recorded: the payment, the balance
// and a retry under the same key all say so.
func TestRefundBalanceCreditFailure(t *testing.T) {
	f := newFixture(t, checkout.Config{RefundPolicy: checkout.RefundBalanceFirst})
	ctx := context.Background()
	f.Fund(t, "alice", eurs("10.00"))
	if _, err := f.pay(t, "o1", "10.00", checkout.CaptureNow); err != nil {
		t.Fatal(err)
	}
	nearlyFull := giftkit.FromMinor(math.MaxInt64-500, eur)
	if _, err := f.Wallet.Refund(ctx, "alice", nearlyFull, "top-up", "top-up"); err != nil {
		t.Fatal(err)
	}
	for _, try := range []string{"first", "retry"} {
		if _, err := f.co.Refund(ctx, "o1", eurs("10.00"), "r1"); !errors.Is(err, wallet.ErrInvalidAmount) {
			t.Errorf("%s: Refund = %v; want wallet.ErrInvalidAmount", try, err)
		}
	}
	p, err := f.co.Payment(ctx, "o1")
	if err != nil || len(p.Refunds) != 0 || !p.Balance.Refunded.IsZero() {
		t.Errorf("payment after the failed refund: refunds %+v, balance refunded %v, %v; want none", p.Refunds, p.Balance.Refunded, err)
	}
	if b := f.balance(t); b.Balance != nearlyFull {
		t.Errorf("balance after the failed refund = %v; want %v", b.Balance, nearlyFull)
	}
}

func TestFailureKindText(t *testing.T) {
	for k := checkout.FailureDeclined; k <= checkout.FailureCancelled; k++ {
		text, err := k.MarshalText()
		var back checkout.FailureKind
		if err != nil || back.UnmarshalText(text) != nil || back != k || string(text) != k.String() {
			t.Errorf("failure kind %v round trip: %q, %v, back %v", k, text, err, back)
		}
	}
	past := checkout.FailureCancelled + 1
	if got := past.String(); got != "FailureKind(4)" {
		t.Errorf("FailureKind(4).String() = %q", got)
	}
	for _, k := range []checkout.FailureKind{0, past} {
		if text, err := k.MarshalText(); err == nil {
			t.Errorf("%v.MarshalText() = %q; want an error", k, text)
		}
	}
	var k checkout.FailureKind
	for _, text := range []string{"", "declined "} {
		if err := k.UnmarshalText([]byte(text)); err == nil {
			t.Errorf("UnmarshalText(%q) = %v; want an error", text, k)
		}
	}
}

// TestErrorJSONDecline: a decline's reason comes back from the JSON form as
// a *DeclineError; an error without one comes back without a cause.
func TestErrorJSONDecline(t *testing.T) {
	declined := &checkout.Error{Op: "pay", PaymentID: "o1", Detail: "do_not_honor", Err: checkout.ErrDeclined,
		Cause: &checkout.DeclineError{Reason: "do_not_honor"}}
	plain := &checkout.Error{Op: "pay", PaymentID: "o1", Err: checkout.ErrInvalidOrder}
	for _, in := range []*checkout.Error{declined, plain} {
		data, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out checkout.Error
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("Unmarshal(%s): %v", data, err)
		}
		var d *checkout.DeclineError
		if out.Error() != in.Error() || errors.As(&out, &d) != (in.Cause != nil) {
			t.Errorf("JSON round trip of %v = %v (cause %v)", in, &out, out.Cause)
		}
	}
}

// TestPayInstrumentLength: an instrument token may be up to 256 bytes.
func TestPayInstrumentLength(t *testing.T) {
	f := newFixture(t, checkout.Config{})
	for n, ok := range map[int]bool{256: true, 257: false} {
		req := checkout.PayRequest{PaymentID: fmt.Sprint("o", n), Owner: "alice", Total: eurs("5.00"), Instrument: strings.Repeat("t", n)}
		if _, err := f.co.Pay(context.Background(), req, fmt.Sprint("pay", n)); (err == nil) != ok {
			t.Errorf("Pay with an instrument of %d bytes: %v; want accepted %v", n, err, ok)
		}
	}
}

// forgetfulTx is a memstore transaction that keeps no idempotency records,
// as a store does once it has pruned them.
type forgetfulTx struct{ *memstore.Tx }

func (forgetfulTx) Idempotency(scope, key string) (giftkit.IdempotencyRecord, bool, error) {
	return giftkit.IdempotencyRecord{}, false, nil
}

func (forgetfulTx) PutIdempotency(giftkit.IdempotencyRecord) error { return nil }

type forgetfulStore struct{ *memstore.Store }

func (s forgetfulStore) Update(ctx context.Context, fn func(forgetfulTx) error) error {
	return s.Store.Update(ctx, func(tx *memstore.Tx) error { return fn(forgetfulTx{tx}) })
}

// TestPayRetryWithoutRecord: a Pay retried after its record is gone finds
// the payment its key made and returns it; another key for that payment ID
// is still a conflict.
func TestPayRetryWithoutRecord(t *testing.T) {
	store := forgetfulStore{memstore.New()}
	clock := storetest.NewClock(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	co, err := checkout.NewService(store, processortest.New(), checkout.Config{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := checkout.PayRequest{PaymentID: "o1", Owner: "alice", Total: eurs("5.00"), Instrument: "tok_visa"}
	first, err := co.Pay(ctx, req, "pay")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := co.Pay(ctx, req, "pay"); err != nil || again.State != first.State || again.AuthID != first.AuthID {
		t.Errorf("Pay retried without its record = %v %s, %v; want %v %s", again.State, again.AuthID, err, first.State, first.AuthID)
	}
	if _, err := co.Pay(ctx, req, "other"); !errors.Is(err, giftkit.ErrIdempotencyConflict) {
		t.Errorf("Pay(o1) under another key = %v; want ErrIdempotencyConflict", err)
	}
}
