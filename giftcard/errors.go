package giftcard

import (
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/errcode"
)

// Errors that card transitions and the [Service] return, wrapped in an
// [*Error]. Each wraps one of giftkit's kinds of failure. A card in a currency
// the wallet does not hold (see wallet.Config.Currencies) is refused with
// giftkit.ErrCurrencyMismatch.
var (
	// ErrNotRedeemable: the code is unknown, or its card is pending, blocked
	// or voided. These are deliberately one error so that guessing codes
	// reveals nothing about which codes exist. Kind giftkit.ErrNotFound.
	ErrNotRedeemable = errcode.New(giftkit.ErrNotFound, "card cannot be redeemed")
	// ErrAlreadyRedeemed: the card was redeemed before; [Error.SameAccount]
	// tells whether by the same account. Kind giftkit.ErrConflict.
	ErrAlreadyRedeemed = errcode.New(giftkit.ErrConflict, "card already redeemed")
	// ErrExpired: the card's expiry has passed. Kind giftkit.ErrExpired.
	ErrExpired = errcode.New(giftkit.ErrExpired, "card expired")
	// ErrInvalidTransition: the card's state does not allow the operation,
	// such as activating a redeemed card. Kind giftkit.ErrConflict.
	ErrInvalidTransition = errcode.New(giftkit.ErrConflict, "invalid card state transition")
	// ErrNotFound: no card has the given ID (administrative operations only;
	// redemption says ErrNotRedeemable). Kind giftkit.ErrNotFound.
	ErrNotFound = errcode.New(giftkit.ErrNotFound, "card not found")
	// ErrInvalidRequest: an issuance request is malformed (non-positive
	// value, count out of range, expiry before issuance). Kind
	// giftkit.ErrInvalid.
	ErrInvalidRequest = errcode.New(giftkit.ErrInvalid, "invalid card request")
	// ErrCancelWindow: the card was issued longer ago than the programme's
	// cancel window (see [Card.Cancel]). Kind giftkit.ErrConflict.
	ErrCancelWindow = errcode.New(giftkit.ErrConflict, "cancel window closed")
	// ErrNoBalance: a card spent as a tender, or moved from, holds nothing
	// available: its value was redeemed into a shopper's account, spent,
	// moved or expired. Kind giftkit.ErrInsufficientFunds.
	ErrNoBalance = errcode.New(giftkit.ErrInsufficientFunds, "card has no balance")
)

// An Error describes a failed card operation. It unwraps to one of the
// sentinel errors above, giftkit.ErrCurrencyMismatch,
// giftkit.ErrIdempotencyConflict or giftkit.ErrKeyRequired. Its message
// names the operation and the card by ID and masked code, never by its full
// code.
type Error struct {
	Op          string    `json:"op"`                     // "redeem", "activate", "issue", ...
	CardID      string    `json:"card_id,omitempty"`      // empty when the card is unknown
	Masked      string    `json:"masked,omitempty"`       // the masked code, when known
	SameAccount bool      `json:"same_account,omitempty"` // for ErrAlreadyRedeemed: redeemed by the account asking
	RedeemedAt  time.Time `json:"redeemed_at,omitzero"`   // for ErrAlreadyRedeemed
	State       State     `json:"state,omitempty"`        // the card's state, for ErrInvalidTransition
	Detail      string    `json:"detail,omitempty"`       // what was wrong with a request
	Err         error     `json:"-"`                      // the sentinel error it unwraps to; JSON carries it as Code()
}

// Error returns the message of the Error.
func (e *Error) Error() string {
	msg := "giftcard: " + e.Op
	if e.CardID != "" {
		msg += " " + e.CardID
	}
	if e.Masked != "" {
		msg += " (" + e.Masked + ")"
	}
	msg += ": " + e.Err.Error()
	switch {
	case e.Err == ErrAlreadyRedeemed && e.SameAccount:
		msg += " by this account"
	case e.Err == ErrAlreadyRedeemed:
		msg += " by another account"
	case e.Err == ErrInvalidTransition:
		msg += " from " + e.State.String()
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the error the Error wraps.
func (e *Error) Unwrap() error { return e.Err }

// errorCodes names every error an [Error] may wrap, for its JSON form.
var errorCodes = errcode.Table{
	"not_redeemable":       ErrNotRedeemable,
	"already_redeemed":     ErrAlreadyRedeemed,
	"expired":              ErrExpired,
	"currency_mismatch":    giftkit.ErrCurrencyMismatch,
	"invalid_transition":   ErrInvalidTransition,
	"not_found":            ErrNotFound,
	"invalid_request":      ErrInvalidRequest,
	"cancel_window":        ErrCancelWindow,
	"no_balance":           ErrNoBalance,
	"programme_limit":      ErrProgrammeLimit,
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
