package checkout

import (
	"encoding/json"
	"errors"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/bin"
	"github.com/giftkit/giftkit/internal/errcode"
	"github.com/giftkit/giftkit/wallet"
)

// Errors that checkout returns, wrapped in an [*Error], besides
// giftkit.ErrCurrencyMismatch and the shared giftkit and wallet errors. Each
// wraps one of giftkit's kinds of failure.
var (
	// ErrInvalidOrder: a total that is not positive, or a malformed request.
	// Kind giftkit.ErrInvalid.
	ErrInvalidOrder = errcode.New(giftkit.ErrInvalid, "invalid order")
	// ErrInstrumentRequired: the card part is not zero but no bank card was
	// given. Kind giftkit.ErrInvalid.
	ErrInstrumentRequired = errcode.New(giftkit.ErrInvalid, "bank card required")
	// ErrDeclined: the processor declined the bank card. The payment failed
	// and nothing was charged: the balance hold was released. Kind
	// giftkit.ErrDeclined.
	ErrDeclined = errcode.New(giftkit.ErrDeclined, "card declined")
	// ErrProcessorUnavailable: the processor did not answer, so a step's
	// outcome is unknown. The payment stays open; retry the call with the
	// same key (or call Resume) to complete or unwind it. Kind
	// giftkit.ErrUnavailable.
	ErrProcessorUnavailable = errcode.New(giftkit.ErrUnavailable, "card processor unavailable")
	// ErrPaymentNotFound: no payment has the given ID. Kind
	// giftkit.ErrNotFound.
	ErrPaymentNotFound = errcode.New(giftkit.ErrNotFound, "payment not found")
	// ErrInvalidState: the payment's state does not allow the operation,
	// such as capturing a failed payment. Kind giftkit.ErrConflict.
	ErrInvalidState = errcode.New(giftkit.ErrConflict, "invalid payment state")
	// ErrExceedsAuthorized: a capture of more than the payment's total.
	// Kind giftkit.ErrInvalid.
	ErrExceedsAuthorized = errcode.New(giftkit.ErrInvalid, "amount exceeds the authorised total")
	// ErrExceedsCaptured: a refund of more than is left to refund. Kind
	// giftkit.ErrInvalid.
	ErrExceedsCaptured = errcode.New(giftkit.ErrInvalid, "amount exceeds what is left to refund")
	// ErrExpired: the payment was not captured before its hold lapsed; it
	// has been unwound. Kind giftkit.ErrExpired.
	ErrExpired = errcode.New(giftkit.ErrExpired, "payment expired")
)

// An Error describes a failed checkout operation. It unwraps to one of the
// sentinel errors above or a shared giftkit error, and, when a wallet or
// processor error caused it, to that error too.
//
// A declined call's Error has Cause a [*DeclineError] with the processor's
// reason, so errors.As finds it. Its JSON form (see [Error.MarshalJSON])
// keeps every field but Cause, whose message it keeps as "cause".
type Error struct {
	Op        string        `json:"op"`                   // "pay", "capture", "refund", "cancel", "resume", "plan"
	PaymentID string        `json:"payment_id,omitempty"` // empty for plan
	Amount    giftkit.Money `json:"amount"`               // the amount asked for, if any (null if none; an amount of zero is kept)
	State     State         `json:"state,omitempty"`      // the payment's state, for ErrInvalidState
	Detail    string        `json:"detail,omitempty"`     // the processor's decline reason, or what was wrong
	Err       error         `json:"-"`                    // a sentinel error
	Cause     error         `json:"-"`                    // the underlying error, if any (a processor's or the store's)
}

// Error returns the message of the Error.
func (e *Error) Error() string {
	msg := "checkout: " + e.Op
	if e.PaymentID != "" {
		msg += " " + e.PaymentID
	}
	if e.Amount.IsValid() {
		msg += " of " + e.Amount.String()
	}
	if e.Cause != nil && errors.Is(e.Cause, e.Err) { // a decline says it all
		return msg + ": " + e.Cause.Error()
	}
	msg += ": " + e.Err.Error()
	if e.Err == ErrInvalidState {
		msg += " " + e.State.String()
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns the sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// errorCodes names every error an [Error] may wrap, for its JSON form.
var errorCodes = errcode.Table{
	"invalid_order":         ErrInvalidOrder,
	"currency_mismatch":     giftkit.ErrCurrencyMismatch,
	"instrument_required":   ErrInstrumentRequired,
	"declined":              ErrDeclined,
	"processor_unavailable": ErrProcessorUnavailable,
	"payment_not_found":     ErrPaymentNotFound,
	"invalid_state":         ErrInvalidState,
	"exceeds_authorized":    ErrExceedsAuthorized,
	"exceeds_captured":      ErrExceedsCaptured,
	"expired":               ErrExpired,
	"idempotency_conflict":  giftkit.ErrIdempotencyConflict,
	"key_required":          giftkit.ErrKeyRequired,
	"invalid_owner":         wallet.ErrInvalidOwner,
	"not_redeemable":        giftcard.ErrNotRedeemable,
	"already_redeemed":      giftcard.ErrAlreadyRedeemed,
	"card_expired":          giftcard.ErrExpired,
	"no_balance":            giftcard.ErrNoBalance,
	"programme_limit":       giftcard.ErrProgrammeLimit,
}

// Code returns a stable snake_case name for the error e wraps, such as
// "declined", for APIs and logs; "" if it wraps none of this package's
// errors.
func (e *Error) Code() string { return errorCodes.Code(e.Err) }

// errorJSON has Error's fields without its methods, for encoding.
type errorJSON struct {
	*jsonFields
	Cause  string `json:"cause,omitempty"`
	Reason string `json:"decline_reason,omitempty"`
}

type jsonFields Error

// MarshalJSON encodes the error with its fields and its code, so that a
// recorded refusal can be replayed and an HTTP layer can transmit it. A
// decline's reason is kept as "decline_reason", any other cause as its
// message.
func (e *Error) MarshalJSON() ([]byte, error) {
	out := errorJSON{jsonFields: (*jsonFields)(e)}
	if d, ok := e.Cause.(*DeclineError); ok {
		out.Reason = d.Reason
	} else if e.Cause != nil {
		out.Cause = e.Cause.Error()
	}
	return errcode.Marshal(out, e.Code())
}

// UnmarshalJSON decodes the form written by MarshalJSON. A decline's cause
// comes back as a *DeclineError; any other cause is not restored.
func (e *Error) UnmarshalJSON(data []byte) error {
	in := errorJSON{jsonFields: (*jsonFields)(e)}
	sentinel, err := errorCodes.Unmarshal("checkout", data, &in)
	e.Err = sentinel
	if in.Reason != "" {
		e.Cause = &DeclineError{Reason: in.Reason}
	}
	return err
}

var _ json.Marshaler = (*Error)(nil)

// AppendBinary appends the error's binary form to b, so that a recorded
// refusal replays exactly (encoding.BinaryAppender). A decline's reason is
// kept; any other cause is not (as in the JSON form).
func (e *Error) AppendBinary(b []byte) ([]byte, error) {
	b = bin.String(b, e.Code())
	b = bin.String(b, e.Op)
	b = bin.String(b, e.PaymentID)
	b = bin.Money(b, e.Amount)
	b = bin.Int(b, int64(e.State))
	b = bin.String(b, e.Detail)
	reason := ""
	if d, ok := e.Cause.(*DeclineError); ok {
		reason = d.Reason
	}
	return bin.String(b, reason), nil
}

// MarshalBinary returns the error's binary form (see [Error.AppendBinary]).
func (e *Error) MarshalBinary() ([]byte, error) { return e.AppendBinary(nil) }

// UnmarshalBinary decodes the form AppendBinary writes. A decline's cause
// comes back as a *DeclineError.
func (e *Error) UnmarshalBinary(data []byte) error {
	r := bin.NewReader(data)
	code := r.String()
	e.Op, e.PaymentID, e.Amount = r.String(), r.String(), r.Money()
	e.State, e.Detail = State(r.Int()), r.String()
	if reason := r.String(); reason != "" {
		e.Cause = &DeclineError{Reason: reason}
	}
	if err := r.Err(); err != nil {
		return err
	}
	sentinel, err := errorCodes.Sentinel("checkout", code)
	e.Err = sentinel
	return err
}
