package giftkit

import (
	"context"
	"errors"

	"github.com/giftkit/giftkit/internal/errcode"
)

// The kinds of failure. Every error a giftkit package returns for a request
// it refuses wraps exactly one of these, through the package's own sentinel
// (wallet.ErrHoldNotFound wraps ErrNotFound, checkout.ErrDeclined wraps
// ErrDeclined, ...), so a caller that only needs to know what to do next
// asks errors.Is(err, giftkit.ErrNotFound) or [KindOf], and one that needs
// the detail asks for the package's sentinel or its typed error (with the
// operation and the values involved). An error that wraps no kind is the
// store's or the context's: the outcome of the call is unknown, and a retry
// with the same idempotency key is safe (unless it is wallet.ErrCorrupt,
// which says the store's data is damaged: no retry mends that).
var (
	// ErrInvalid: the request is malformed or asks for something no state
	// could grant (a non-positive amount, an owner or key that is not
	// text, more than was authorised). Do not retry it unchanged.
	ErrInvalid = errcode.ErrInvalid
	// ErrNotFound: what the request names does not exist (a card, a hold,
	// a payment), or may not be told apart from one that does not (an
	// activation code that cannot be redeemed).
	ErrNotFound = errcode.ErrNotFound
	// ErrConflict: the request is well formed but the current state
	// refuses it (a card already redeemed, a payment already captured, an
	// idempotency key used for another request).
	ErrConflict = errcode.ErrConflict
	// ErrCurrencyMismatch: amounts, or an amount and an account, in
	// different currencies, or a currency the service does not hold.
	ErrCurrencyMismatch = errcode.ErrCurrencyMismatch
	// ErrInsufficientFunds: the available balance is lower than the amount.
	ErrInsufficientFunds = errcode.ErrInsufficientFunds
	// ErrExpired: a card, hold or payment lapsed before the request.
	ErrExpired = errcode.ErrExpired
	// ErrDeclined: the bank-card processor declined; nothing was charged.
	ErrDeclined = errcode.ErrDeclined
	// ErrUnavailable: a party the call depends on (the card processor)
	// did not answer, so a step's outcome is unknown; retry with the same
	// key.
	ErrUnavailable = errcode.ErrUnavailable
	// ErrRateLimited: too many attempts; retry later.
	ErrRateLimited = errcode.ErrRateLimited
)

// kinds lists every kind, in the order KindOf tries them.
var kinds = [...]error{
	ErrInvalid, ErrNotFound, ErrConflict, ErrCurrencyMismatch, ErrInsufficientFunds,
	ErrExpired, ErrDeclined, ErrUnavailable, ErrRateLimited,
}

// KindOf returns the kind of failure err wraps (ErrInvalid, ErrNotFound,
// ...), or nil if it wraps none: nil, a store's error or a context's.
func KindOf(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

var outcomeNames = map[error]string{
	ErrInvalid: "invalid", ErrNotFound: "not_found", ErrConflict: "conflict",
	ErrCurrencyMismatch: "currency_mismatch", ErrInsufficientFunds: "insufficient_funds",
	ErrExpired: "expired", ErrDeclined: "declined", ErrUnavailable: "unavailable",
	ErrRateLimited: "rate_limited",
}

// Outcome names the outcome of a call that returned err, for logs and
// metrics: "ok" for nil; the kind of err in snake_case ("invalid",
// "not_found", "conflict", "currency_mismatch", "insufficient_funds",
// "expired", "declined", "unavailable", "rate_limited"); "canceled" for a
// context cancelled or past its deadline; "error" for any other (the
// store's). The services' logs and the Observer adapters use these names.
func Outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	if name, ok := outcomeNames[KindOf(err)]; ok {
		return name
	}
	return "error"
}

// Errors shared by every service.
var (
	// ErrIdempotencyConflict: the idempotency key was used before for a
	// different request. It is of kind ErrConflict.
	ErrIdempotencyConflict = errcode.New(ErrConflict, "idempotency key reused for a different request")
	// ErrKeyRequired: a state-changing call came without an idempotency
	// key, or with one that is not 1 to MaxKeyLen bytes of text. It is of
	// kind ErrInvalid.
	ErrKeyRequired = errcode.New(ErrInvalid, "idempotency key required")
)
