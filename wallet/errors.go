package wallet

import (
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/errcode"
)

// Errors that wallet operations return, wrapped in an [*Error], besides
// giftkit.ErrCurrencyMismatch. Each wraps one of giftkit's kinds of failure.
// Redemption also returns the errors of package giftcard (in a
// *giftcard.Error) and of package codefmt (in a *codefmt.ParseError).
var (
	// ErrInsufficientFunds: the available balance is lower than the amount.
	// Kind giftkit.ErrInsufficientFunds.
	ErrInsufficientFunds = errcode.New(giftkit.ErrInsufficientFunds, "insufficient funds")
	// ErrTooManyAttempts: too many failed redemptions; retry after
	// [Error.RetryAfter]. Kind giftkit.ErrRateLimited.
	ErrTooManyAttempts = errcode.New(giftkit.ErrRateLimited, "too many failed redemption attempts")
	// ErrHoldNotFound: no open hold has the given ID (it may have been
	// captured, released or expired). Kind giftkit.ErrNotFound.
	ErrHoldNotFound = errcode.New(giftkit.ErrNotFound, "hold not found")
	// ErrForeignHold: the hold was placed by another party (such as a
	// checkout payment), which alone may capture or release it. Kind
	// giftkit.ErrConflict.
	ErrForeignHold = errcode.New(giftkit.ErrConflict, "hold placed by another party")
	// ErrInvalidExpiry: a hold's expiry is not after the time it is placed.
	// Kind giftkit.ErrInvalid.
	ErrInvalidExpiry = errcode.New(giftkit.ErrInvalid, "expiry is not in the future")
	// ErrDuplicateHold: a hold with the given ID is already open. Kind
	// giftkit.ErrConflict.
	ErrDuplicateHold = errcode.New(giftkit.ErrConflict, "hold already exists")
	// ErrExceedsHold: a capture of more than the hold. Kind
	// giftkit.ErrInvalid.
	ErrExceedsHold = errcode.New(giftkit.ErrInvalid, "amount exceeds the hold")
	// ErrInvalidReference: a reference or hold ID is longer than
	// MaxReferenceLen bytes, not UTF-8, or holds control characters. Kind
	// giftkit.ErrInvalid.
	ErrInvalidReference = errcode.New(giftkit.ErrInvalid, "invalid reference")
	// ErrInvalidAmount: the amount is zero, negative, or too large. Kind
	// giftkit.ErrInvalid.
	ErrInvalidAmount = errcode.New(giftkit.ErrInvalid, "invalid amount")
	// ErrInvalidOwner: the owner is empty, longer than MaxOwnerLen bytes,
	// not UTF-8, or holds control characters. Kind giftkit.ErrInvalid.
	ErrInvalidOwner = errcode.New(giftkit.ErrInvalid, "invalid owner")
)

// An Error describes a failed wallet operation. It unwraps to one of the
// sentinel errors above, or to giftkit.ErrIdempotencyConflict or
// giftkit.ErrKeyRequired.
type Error struct {
	Op         string           `json:"op"`                    // "redeem", "hold", "capture", ...
	Owner      string           `json:"owner,omitempty"`       // the owner the call named; for ErrInvalidOwner the one refused
	Currency   giftkit.Currency `json:"currency,omitzero"`     // the account's currency, or the one Config.Currencies refused; zero if unknown
	Amount     giftkit.Money    `json:"amount"`                // the amount asked for; null if none
	Available  giftkit.Money    `json:"available"`             // null, or for ErrInsufficientFunds and ErrExceedsHold: what there was
	HoldID     string           `json:"hold_id,omitempty"`     // for hold errors
	RetryAfter time.Duration    `json:"retry_after,omitempty"` // for ErrTooManyAttempts
	Detail     string           `json:"detail,omitempty"`      // what was wrong, in words; empty when Err says it all
	Err        error            `json:"-"`                     // the sentinel error it unwraps to; JSON carries it as Code()
}

// Error returns the message of the Error.
func (e *Error) Error() string {
	msg := "wallet: " + e.Op
	if e.Owner != "" {
		msg += " for " + e.Owner
	}
	if e.Amount.IsValid() {
		msg += " of " + e.Amount.String()
	}
	if e.HoldID != "" {
		msg += " on hold " + e.HoldID
	}
	msg += ": " + e.Err.Error()
	switch {
	case e.Available.IsValid():
		msg += fmt.Sprintf(" (%s available)", e.Available)
	case e.RetryAfter > 0:
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the error the Error wraps.
func (e *Error) Unwrap() error { return e.Err }

var errorCodes = errcode.Table{
	"insufficient_funds":   ErrInsufficientFunds,
	"too_many_attempts":    ErrTooManyAttempts,
	"hold_not_found":       ErrHoldNotFound,
	"duplicate_hold":       ErrDuplicateHold,
	"foreign_hold":         ErrForeignHold,
	"invalid_expiry":       ErrInvalidExpiry,
	"exceeds_hold":         ErrExceedsHold,
	"invalid_amount":       ErrInvalidAmount,
	"currency_mismatch":    giftkit.ErrCurrencyMismatch,
	"invalid_owner":        ErrInvalidOwner,
	"invalid_reference":    ErrInvalidReference,
	"idempotency_conflict": giftkit.ErrIdempotencyConflict,
	"key_required":         giftkit.ErrKeyRequired,
	"programme_limit":      giftcard.ErrProgrammeLimit,
}

// Code returns a stable snake_case name for the error e wraps, such as
// "insufficient_funds"; "" if it wraps none of this package's errors.
func (e *Error) Code() string { return errorCodes.Code(e.Err) }

// errorJSON has Error's fields without its methods, for encoding.
type errorJSON Error

// MarshalJSON encodes the error with its fields and its code, so that a
// recorded failure can be replayed and an HTTP layer can transmit it.
func (e *Error) MarshalJSON() ([]byte, error) { return errcode.Marshal((*errorJSON)(e), e.Code()) }

// UnmarshalJSON decodes the form written by MarshalJSON.
func (e *Error) UnmarshalJSON(data []byte) error {
	sentinel, err := errorCodes.Unmarshal("wallet", data, (*errorJSON)(e))
	e.Err = sentinel
	return err
}
