package giftcard

import (
	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/errcode"
)

// errorCodes names every error an [Error] may wrap, for its JSON form.
var errorCodes = errcode.Table{
	"not_redeemable":       ErrNotRedeemable,
	"already_redeemed":     ErrAlreadyRedeemed,
	"expired":              ErrExpired,
	"currency_mismatch":    ErrCurrencyMismatch,
	"invalid_transition":   ErrInvalidTransition,
	"not_found":            ErrNotFound,
	"invalid_request":      ErrInvalidRequest,
	"idempotency_conflict": giftkit.ErrIdempotencyConflict,
	"key_required":         giftkit.ErrKeyRequired,
}

// Code returns a stable snake_case name for the error e wraps, such as
// "already_redeemed", for APIs and logs; "" if it wraps none of this
// package's errors.
func (e *Error) Code() string { return errorCodes.Code(e.Err) }

// errorJSON has Error's fields without its methods, for encoding.
type errorJSON Error

// MarshalJSON encodes the error with its fields and its code, so that a
// recorded failure can be replayed and an HTTP layer can transmit it.
func (e *Error) MarshalJSON() ([]byte, error) { return errcode.Marshal((*errorJSON)(e), e.Code()) }

// UnmarshalJSON decodes the form written by MarshalJSON.
func (e *Error) UnmarshalJSON(data []byte) error {
	sentinel, err := errorCodes.Unmarshal("giftcard", data, (*errorJSON)(e))
	e.Err = sentinel
	return err
}
