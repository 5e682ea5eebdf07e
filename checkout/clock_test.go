package checkout_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// TestSkewedClocks: two instances share one store, one's clock a second
// behind a hold's expiry, the other's a second past it. Each unit of work
// decides with the clock of the instance that runs it (there is no other
// clock), so the slow instance may capture while the fast one would expire:
// whichever commits first decides, and the other finds the payment settled.
// Either way the payment is captured once or not at all, the balance is
// charged accordingly, and the processor agrees.
func TestSkewedClocks(t *testing.T) {
	for _, tc := range []struct {
		name       string
		sweepFirst bool
		concurrent bool
	}{{"sweep first", true, false}, {"capture first", false, false}, {"at once", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			store, proc := memstore.New(), processortest.New()
			env := storetest.NewEnv(t, store, 1)
			env.Fund(t, "alice", eurs("30.00"))
			t0 := env.Clock.Now()
			slow, fast := storetest.NewClock(t0), storetest.NewClock(t0)
			cfg := func(c *storetest.Clock) checkout.Config { return checkout.Config{Now: c.Now, HoldFor: time.Hour} }
			a, _ := checkout.NewService(store, proc, cfg(slow))
			b, _ := checkout.NewService(store, proc, cfg(fast))
			ctx := context.Background()
			if _, err := a.Pay(ctx, checkout.PayRequest{PaymentID: "o1", Owner: "alice", Total: eurs("50.00"),
				Instrument: "tok_visa", Mode: checkout.CaptureLater}, "pay"); err != nil {
				t.Fatal(err)
			}
			slow.Advance(time.Hour - time.Second)
			fast.Advance(time.Hour + time.Second)
			capture := func() error { _, err := a.Capture(ctx, "o1", eurs("50.00"), "capture"); return err }
			sweep := func() error { _, _, err := b.Sweep(ctx, 0); return err }
			var captureErr, sweepErr error
			switch {
			case tc.concurrent:
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); captureErr = capture() }()
				go func() { defer wg.Done(); sweepErr = sweep() }()
				wg.Wait()
			case tc.sweepFirst:
				sweepErr, captureErr = sweep(), capture()
			default:
				captureErr, sweepErr = capture(), sweep()
			}
			if sweepErr != nil {
				t.Fatalf("Sweep: %v", sweepErr)
			}
			p, err := a.Payment(ctx, "o1")
			if err != nil {
				t.Fatal(err)
			}
			bal, _ := env.Wallet.Balance(ctx, "alice", eur)
			auth, _ := proc.Auth(p.AuthID)
			switch p.State {
			case checkout.StateCaptured:
				if captureErr != nil || bal.Balance != eurs("0.00") || auth.Captured != eurs("20.00") {
					t.Errorf("captured, but Capture = %v, balance %v, card captured %v", captureErr, bal.Balance, auth.Captured)
				}
			case checkout.StateExpired:
				if !errors.Is(captureErr, checkout.ErrInvalidState) && !errors.Is(captureErr, checkout.ErrExpired) {
					t.Errorf("expired, but Capture = %v", captureErr)
				}
				if bal.Balance != eurs("30.00") || bal.Held != eurs("0.00") || !auth.Voided || !auth.Captured.IsZero() {
					t.Errorf("expired, but balance %+v, authorisation %+v", bal, auth)
				}
			default:
				t.Errorf("payment is %v; want captured or expired", p.State)
			}
			if tc.sweepFirst && p.State != checkout.StateExpired || !tc.sweepFirst && !tc.concurrent && p.State != checkout.StateCaptured {
				t.Errorf("payment is %v: the first to commit decides", p.State)
			}
		})
	}
}
