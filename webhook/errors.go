package webhook

import (
	"fmt"
	"strconv"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/errcode"
)

// Errors of a receiver's [Verifier.Verify], of [ParseSecret] and of a
// [Signer]. Each is of kind giftkit.ErrInvalid: the request (or the secret)
// is not acceptable as it is, and a retry of the same bytes fails the same
// way.
var (
	// ErrInvalidSecret: a secret that is not "whsec_" and the standard
	// base64 of MinSecretLen to MaxSecretLen bytes, or no secret at all
	// where one is needed.
	ErrInvalidSecret = errcode.New(giftkit.ErrInvalid, "invalid webhook secret")
	// ErrMissingHeader: webhook-id, webhook-timestamp or webhook-signature
	// is absent or empty.
	ErrMissingHeader = errcode.New(giftkit.ErrInvalid, "missing webhook header")
	// ErrInvalidHeader: webhook-id or webhook-timestamp is sent more than
	// once, or the webhook-id is not 1 to MaxIDLen bytes of visible ASCII
	// without a full stop.
	ErrInvalidHeader = errcode.New(giftkit.ErrInvalid, "invalid webhook header")
	// ErrInvalidTimestamp: webhook-timestamp is not a decimal number of
	// seconds since the Unix epoch (digits alone, without a leading zero).
	ErrInvalidTimestamp = errcode.New(giftkit.ErrInvalid, "invalid webhook timestamp")
	// ErrTooOld: webhook-timestamp is further in the past than the
	// verifier's tolerance: a replay, or a message that took too long.
	ErrTooOld = errcode.New(giftkit.ErrInvalid, "webhook timestamp too old")
	// ErrTooNew: webhook-timestamp is further in the future than the
	// verifier's tolerance.
	ErrTooNew = errcode.New(giftkit.ErrInvalid, "webhook timestamp too new")
	// ErrNoMatchingSignature: no v1 signature in webhook-signature is the
	// signature of the message by any of the verifier's secrets: the body,
	// the id or the timestamp was changed, or the sender holds another
	// secret.
	ErrNoMatchingSignature = errcode.New(giftkit.ErrInvalid, "no matching webhook signature")
	// ErrInvalidConfig: NewDispatcher was given a Config it cannot run
	// with; the message says which field.
	ErrInvalidConfig = errcode.New(giftkit.ErrInvalid, "invalid webhook dispatcher config")
)

// Errors of a [Dispatcher].
var (
	// ErrDeliveryFailed: the endpoint did not answer with a 2xx status
	// (another status, a timeout, a refused connection). It is of kind
	// giftkit.ErrUnavailable: a later attempt may succeed.
	ErrDeliveryFailed = errcode.New(giftkit.ErrUnavailable, "webhook delivery failed")
	// ErrGone: the endpoint answered 410 Gone, which the Standard Webhooks
	// specification defines as "stop sending". It is of kind
	// giftkit.ErrNotFound.
	ErrGone = errcode.New(giftkit.ErrNotFound, "webhook endpoint gone")
	// ErrRunning: Run was called while the dispatcher's Run was already
	// running. It is of kind giftkit.ErrConflict.
	ErrRunning = errcode.New(giftkit.ErrConflict, "webhook dispatcher already running")
)

// A SecretError says why a secret was refused. It never holds the secret,
// nor any part of it. It unwraps to [ErrInvalidSecret].
type SecretError struct {
	Reason string // "no whsec_ prefix", "not base64", "too short", ...
}

// Error returns the message of the SecretError.
func (e *SecretError) Error() string { return "webhook: " + ErrInvalidSecret.Error() + ": " + e.Reason }

// Unwrap returns [ErrInvalidSecret].
func (e *SecretError) Unwrap() error { return ErrInvalidSecret }

// A VerifyError says why [Verifier.Verify] refused a message. It unwraps
// to one of ErrMissingHeader, ErrInvalidHeader, ErrInvalidTimestamp,
// ErrTooOld, ErrTooNew and ErrNoMatchingSignature. It carries no header
// value that failed its check, since headers are the sender's (perhaps an
// attacker's) text.
type VerifyError struct {
	// ID is the webhook-id, once it is known to be well formed; empty
	// before.
	ID string
	// Header names the header at fault, for ErrMissingHeader,
	// ErrInvalidHeader and ErrInvalidTimestamp.
	Header string
	// Timestamp is the message's webhook-timestamp, for ErrTooOld,
	// ErrTooNew and ErrNoMatchingSignature.
	Timestamp time.Time
	// Err is the sentinel error it unwraps to.
	Err error
}

// Error returns the message of the VerifyError.
func (e *VerifyError) Error() string {
	msg := "webhook: verify"
	if e.ID != "" {
		msg += " " + e.ID
	}
	msg += ": " + e.Err.Error()
	if e.Header != "" {
		msg += " (" + e.Header + ")"
	}
	if !e.Timestamp.IsZero() && (e.Err == ErrTooOld || e.Err == ErrTooNew) {
		msg += " (" + strconv.FormatInt(e.Timestamp.Unix(), 10) + ")"
	}
	return msg
}

// Unwrap returns the sentinel error.
func (e *VerifyError) Unwrap() error { return e.Err }

// A DeliveryError says that an event was not delivered: by the attempts of
// [Dispatcher.Replay], or by Run when the endpoint answered 410 Gone. It
// unwraps to [ErrDeliveryFailed] or [ErrGone], and to Cause when there is
// one.
type DeliveryError struct {
	Consumer string // the dispatcher's outbox consumer
	EventID  string // the event's ID, its webhook-id
	Attempts int    // failed attempts so far, in this process and in its dead letter
	Status   int    // the last HTTP status; 0 when the endpoint gave none
	// Cause is why the last attempt got no answer (a timeout, a refused
	// connection), without the URL; nil when the endpoint answered.
	Cause error
	Err   error // ErrDeliveryFailed or ErrGone
}

// Error returns the message of the DeliveryError.
func (e *DeliveryError) Error() string {
	msg := fmt.Sprintf("webhook: deliver %s to %q: %v", e.EventID, e.Consumer, e.Err)
	switch {
	case e.Status != 0:
		msg += fmt.Sprintf(" (status %d)", e.Status)
	case e.Cause != nil:
		msg += ": " + e.Cause.Error()
	}
	return msg + fmt.Sprintf(" (attempts: %d)", e.Attempts)
}

// Unwrap returns Err, and Cause if it is not nil.
func (e *DeliveryError) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}
