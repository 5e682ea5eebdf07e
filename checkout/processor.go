package checkout

import (
	"context"
	"errors"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/idem"
)

// Processor is the bank-card processor, as checkout needs it. Every method
// takes an idempotency key: a call repeated with the same key must not act
// twice, and must return the first call's result (Authorize: the same
// authorisation). checkout derives the keys from the payment, so that a
// retried or resumed payment repeats its calls exactly.
//
// A decline is an error wrapping [ErrDeclined] or giftkit.ErrDeclined (a
// [*DeclineError] carries the reason). Any other error means the outcome is unknown: the call may or may
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

// processorKey is the idempotency key of one processor call of p: call is
// "authorize", "capture", "void" or "refund", and refundKey the caller's key
// of a refund (empty for the others). It is
//
//	<p.Keys.Prefix>:<call>:<digest>
//
// where digest is the first 32 hex digits of the SHA-256 of the
// length-prefixed fields (p.Keys.Prefix, p.ID, call, refundKey): injective
// in the payment ID and the caller's key, whatever bytes they hold, so no
// two calls of different payments share a key; and at most 63 bytes of
// [A-Za-z0-9._:-], within every processor's limit. The prefix is the one
// the payment was created under, so changing Config.ProcessorKeyPrefix
// never changes the keys of a payment in flight.
func processorKey(p Payment, call, refundKey string) string {
	return p.Keys.Prefix + ":" + call + ":" + idem.Fingerprint(p.Keys.Prefix, p.ID, call, refundKey)[:32]
}

// MaxKeyPrefixLen is the longest Config.ProcessorKeyPrefix, in bytes.
const MaxKeyPrefixLen = 20

func validKeyPrefix(p string) bool {
	if p == "" || len(p) > MaxKeyPrefixLen {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// answered sorts a processor call's result: nil or a decline is an answer,
// which the saga records, with the decline's reason; anything else leaves
// the outcome unknown, and the saga stops with ErrProcessorUnavailable.
func answered(op string, p Payment, perr error) (declined bool, reason string, stop error) {
	if perr == nil {
		return false, "", nil
	}
	if !errors.Is(perr, giftkit.ErrDeclined) {
		return false, "", &Error{Op: op, PaymentID: p.ID, State: p.State, Err: ErrProcessorUnavailable, Cause: perr}
	}
	var d *DeclineError
	if errors.As(perr, &d) {
		return true, d.Reason, nil
	}
	return true, "declined", nil
}
