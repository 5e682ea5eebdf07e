package checkout

import (
	"context"

	"github.com/giftkit/giftkit"
)

// Processor is the bank-card processor, as checkout needs it. Every method
// takes an idempotency key: a call repeated with the same key must not act
// twice, and must return the first call's result (Authorize: the same
// authorisation). checkout derives the keys from the payment, so that a
// retried or resumed payment repeats its calls exactly.
//
// A decline is an error wrapping [ErrDeclined] (a [*DeclineError] carries the
// reason). Any other error means the outcome is unknown: the call may or may
// not have taken effect, and checkout will repeat it with the same key.
type Processor interface {
	// Authorize reserves amount on the bank card behind instrument and
	// returns the authorisation's ID.
	Authorize(ctx context.Context, instrument string, amount giftkit.Money, key string) (authID string, err error)
	// Capture collects amount (up to the authorised amount) of an
	// authorisation and releases the rest of it.
	Capture(ctx context.Context, authID string, amount giftkit.Money, key string) error
	// Void cancels an authorisation that was not captured.
	Void(ctx context.Context, authID string, key string) error
	// Refund returns amount of a capture to the bank card.
	Refund(ctx context.Context, authID string, amount giftkit.Money, key string) error
}

// A DeclineError is a decline by the processor, with its reason. It unwraps
// to [ErrDeclined].
type DeclineError struct {
	Reason string // such as "insufficient_funds" or "do_not_honor"
}

// Error returns the message of the DeclineError.
func (e *DeclineError) Error() string { return "card declined: " + e.Reason }

// Unwrap returns ErrDeclined.
func (e *DeclineError) Unwrap() error { return ErrDeclined }
