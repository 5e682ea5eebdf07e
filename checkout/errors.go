package checkout

import (
	"encoding/json"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/errcode"
)

// errorCodes names every error an [Error] may wrap, for its JSON form.
var errorCodes = errcode.Table{
	"invalid_order":         ErrInvalidOrder,
	"currency_mismatch":     ErrCurrencyMismatch,
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
