package giftkit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/egift"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/wallet"
)

// TestKinds checks that every sentinel of every package is of exactly the
// kind its documentation names, through any wrapping.
func TestKinds(t *testing.T) {
	kinds := map[error][]error{
		giftkit.ErrInvalid: {codefmt.ErrEmpty, codefmt.ErrLength, codefmt.ErrInvalidChar, codefmt.ErrChecksum, codefmt.ErrDenylist,
			giftkit.ErrKeyRequired, giftkit.ErrOverflow, giftkit.ErrPrecision, giftkit.ErrSyntax,
			giftkit.ErrUnknownCurrency, giftcard.ErrInvalidRequest, wallet.ErrInvalidExpiry, wallet.ErrExceedsHold,
			wallet.ErrInvalidReference, wallet.ErrInvalidAmount, wallet.ErrInvalidOwner, checkout.ErrInvalidOrder,
			checkout.ErrInstrumentRequired, checkout.ErrExceedsAuthorized, checkout.ErrExceedsCaptured,
			egift.ErrInvalidRequest, outbox.ErrInvalidConsumer},
		giftkit.ErrNotFound: {giftcard.ErrNotRedeemable, giftcard.ErrNotFound, wallet.ErrHoldNotFound,
			checkout.ErrPaymentNotFound, egift.ErrNotFound, outbox.ErrDeadLetterNotFound},
		giftkit.ErrConflict: {giftkit.ErrIdempotencyConflict, giftcard.ErrAlreadyRedeemed,
			giftcard.ErrInvalidTransition, wallet.ErrForeignHold, wallet.ErrDuplicateHold, checkout.ErrInvalidState,
			egift.ErrAlreadySent, egift.ErrCancelled},
		giftkit.ErrCurrencyMismatch:  {giftkit.ErrCurrencyMismatch},
		giftkit.ErrInsufficientFunds: {wallet.ErrInsufficientFunds},
		giftkit.ErrExpired:           {giftcard.ErrExpired, checkout.ErrExpired},
		giftkit.ErrDeclined:          {checkout.ErrDeclined, &checkout.DeclineError{Reason: "do_not_honor"}},
		giftkit.ErrUnavailable:       {checkout.ErrProcessorUnavailable},
		giftkit.ErrRateLimited:       {wallet.ErrTooManyAttempts},
	}
	for kind, sentinels := range kinds {
		for _, s := range sentinels {
			wrapped := fmt.Errorf("op: %w", &wallet.Error{Op: "x", Err: s})
			if got := giftkit.KindOf(wrapped); got != kind {
				t.Errorf("KindOf(%v) = %v, want %v", s, got, kind)
			}
			for other := range kinds {
				if other != kind && errors.Is(s, other) {
					t.Errorf("%v is also of kind %v", s, other)
				}
			}
		}
	}
	for _, err := range []error{nil, errors.New("connection reset"), fmt.Errorf("x: %w", errors.ErrUnsupported)} {
		if k := giftkit.KindOf(err); k != nil {
			t.Errorf("KindOf(%v) = %v, want nil", err, k)
		}
	}
}

func ExampleKindOf() {
	_, err := giftkit.MustParseMoney("10", giftkit.EUR).Add(giftkit.MustParseMoney("10", giftkit.USD))
	fmt.Println(giftkit.KindOf(err) == giftkit.ErrCurrencyMismatch)
	_, err = giftkit.ParseMoney("1.234", giftkit.EUR)
	fmt.Println(giftkit.KindOf(err))
	// Output:
	// true
	// invalid request
}

func TestOutcome(t *testing.T) {
	for err, want := range map[error]string{
		nil: "ok",
		fmt.Errorf("x: %w", giftcard.ErrNotFound):     "not_found",
		wallet.ErrTooManyAttempts:                     "rate_limited",
		checkout.ErrProcessorUnavailable:              "unavailable",
		giftkit.ErrIdempotencyConflict:                "conflict",
		context.Canceled:                              "canceled",
		fmt.Errorf("x: %w", context.DeadlineExceeded): "canceled",
		errors.New("connection reset"):                "error",
	} {
		if got := giftkit.Outcome(err); got != want {
			t.Errorf("Outcome(%v) = %q; want %q", err, got, want)
		}
	}
}
