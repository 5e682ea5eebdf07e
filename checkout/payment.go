package checkout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
)

// Split is how an order total is paid: the balance part from the shopper's
// gift card balance, the card part from their bank card. Balance + Card =
// the total, exactly.
type Split struct {
	Balance giftkit.Money `json:"balance"`
	Card    giftkit.Money `json:"card"`
}

// PlanOptions are the shopper's choices for one order.
type PlanOptions struct {
	// SkipBalance pays the whole order by bank card, keeping the balance.
	SkipBalance bool
}

// Plan splits total between the available balance and the bank card: the
// balance pays min(available, total) unless the shopper opts out, and the
// card pays the rest. A negative available balance counts as zero. It fails
// with [ErrInvalidOrder] for a total that is not positive and
// [ErrCurrencyMismatch] when the two amounts are in different currencies.
func Plan(total, available giftkit.Money, opts PlanOptions) (Split, error) {
	if !total.IsValid() || !total.IsPositive() {
		return Split{}, &Error{Op: "plan", Amount: total, Err: ErrInvalidOrder}
	}
	if available.Currency() != total.Currency() {
		return Split{}, &Error{Op: "plan", Amount: total, Detail: "balance in " + available.Currency().String(), Err: ErrCurrencyMismatch}
	}
	fromBalance := giftkit.Zero(total.Currency())
	if !opts.SkipBalance && available.IsPositive() {
		fromBalance, _ = available.Min(total) // same currency: cannot fail
	}
	card, _ := total.Sub(fromBalance) // 0 ≤ fromBalance ≤ total: cannot overflow
	return Split{Balance: fromBalance, Card: card}, nil
}

// State is where a payment is in its saga.
//
//	pending ──authorised──▶ authorized ──capture──▶ capturing ──card captured──▶ captured
//	   │                        │                      │
//	   └─declined/expired/─────▶┴──cancel/expire──▶ unwinding ──void──▶ failed | cancelled | expired
//	     cancelled
//
// Pending, authorized, capturing and unwinding are open: a step is
// outstanding, and re-running the call, [Service.Resume] or [Service.Sweep]
// completes it. The others are final, except that a captured payment takes
// refunds.
type State uint8

// The states of a payment.
const (
	StatePending    State = iota + 1 // balance held; card authorisation outstanding
	StateAuthorized                  // balance held and card authorised; waiting for capture
	StateCapturing                   // balance captured; card capture outstanding
	StateCaptured                    // paid
	StateUnwinding                   // being undone: balance released; card void outstanding
	StateFailed                      // declined or refused; nothing charged
	StateCancelled                   // cancelled before capture; nothing charged
	StateExpired                     // not captured in time; nothing charged
)

var stateNames = [...]string{"", "pending", "authorized", "capturing", "captured", "unwinding", "failed", "cancelled", "expired"}

// String returns the state's name, such as "captured".
func (s State) String() string {
	if s != 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText encodes the state as its name.
func (s State) MarshalText() ([]byte, error) {
	if s == 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("checkout: marshal invalid %v", s)
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a state's name.
func (s *State) UnmarshalText(text []byte) error {
	for i, name := range stateNames {
		if i > 0 && name == string(text) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("checkout: unknown payment state %q", text)
}

// Open reports whether a step of the payment is outstanding.
func (s State) Open() bool {
	return s == StatePending || s == StateAuthorized || s == StateCapturing || s == StateUnwinding
}

// A Tender is what one means of payment contributes to a payment.
type Tender struct {
	Planned    giftkit.Money `json:"planned"`    // the part of the total assigned by the plan
	Authorized giftkit.Money `json:"authorized"` // held on the balance, or authorised on the card
	Captured   giftkit.Money `json:"captured"`
	Refunded   giftkit.Money `json:"refunded"`
}

// Refundable returns Captured − Refunded.
func (t Tender) Refundable() giftkit.Money {
	r, _ := t.Captured.Sub(t.Refunded)
	return r
}

// A Refund is one refund of a captured payment.
type Refund struct {
	Key     string        `json:"key"`              // the caller's idempotency key
	Amount  giftkit.Money `json:"amount"`           // Balance + Card
	Balance giftkit.Money `json:"balance"`          // returned to the shopper's balance
	Card    giftkit.Money `json:"card"`             // returned to the bank card
	Done    bool          `json:"done"`             // false while the card refund is outstanding
	Failed  string        `json:"failed,omitempty"` // the processor's reason, if it refused the card refund: nothing was refunded
	At      time.Time     `json:"at"`
}

// CaptureMode says when a payment is captured.
type CaptureMode uint8

// Capture modes.
const (
	CaptureNow   CaptureMode = iota // capture as part of Pay
	CaptureLater                    // authorise now; capture with Service.Capture, at shipment
)

// A Payment is one order's payment: its split between the balance and the
// bank card, and how far its saga has come. It is a value; the Service
// keeps it in the store.
type Payment struct {
	ID          string        `json:"id"`
	Owner       string        `json:"owner"`
	Total       giftkit.Money `json:"total"`
	Mode        CaptureMode   `json:"mode"`
	Instrument  string        `json:"instrument,omitempty"` // the processor's token for the shopper's bank card
	State       State         `json:"state"`
	Balance     Tender        `json:"balance"`
	Card        Tender        `json:"card"`
	HoldID      string        `json:"hold_id,omitempty"`      // the wallet hold of the balance part
	AuthID      string        `json:"auth_id,omitempty"`      // the processor's authorisation
	CaptureWant giftkit.Money `json:"capture_want,omitzero"`  // the total to capture, once capture is asked for
	Refunds     []Refund      `json:"refunds,omitempty"`      // in order
	Failure     string        `json:"failure,omitempty"`      // why the payment failed or was unwound
	FailedWith  string        `json:"failed_with,omitempty"`  // "declined" or "expired": why the payment ended unpaid
	FailedAt    State         `json:"failed_at,omitempty"`    // the state it failed from: which call's outcome the failure is
	KeyPrefix   string        `json:"key_prefix"`             // Config.ProcessorKeyPrefix when the payment was created: its processor keys' namespace
	PayKey      string        `json:"pay_key"`                // the key of the Pay call
	Fingerprint string        `json:"fingerprint"`            // of the Pay request
	CaptureKey  string        `json:"capture_key,omitempty"`  // the key of the Capture call
	CancelKey   string        `json:"cancel_key,omitempty"`   // the key of the Cancel call
	AuthUnknown bool          `json:"auth_unknown,omitempty"` // an authorisation may exist without its ID being known
	UnwindTo    State         `json:"unwind_to,omitempty"`    // for StateUnwinding: failed, cancelled or expired
	ExpiresAt   time.Time     `json:"expires_at"`             // the hold and authorisation lapse then unless captured
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

// Clone returns a deep copy of p, sharing no memory with it.
func (p Payment) Clone() Payment {
	p.Refunds = append([]Refund(nil), p.Refunds...)
	return p
}

// Errors that checkout returns, wrapped in an [*Error].
var (
	// ErrInvalidOrder: a total that is not positive, or a malformed request.
	ErrInvalidOrder = errors.New("invalid order")
	// ErrCurrencyMismatch: amounts in different currencies.
	ErrCurrencyMismatch = errors.New("currency mismatch")
	// ErrInstrumentRequired: the card part is not zero but no bank card was given.
	ErrInstrumentRequired = errors.New("bank card required")
	// ErrDeclined: the processor declined the bank card. The payment failed
	// and nothing was charged: the balance hold was released.
	ErrDeclined = errors.New("card declined")
	// ErrProcessorUnavailable: the processor did not answer, so a step's
	// outcome is unknown. The payment stays open; retry the call with the
	// same key (or call Resume) to complete or unwind it.
	ErrProcessorUnavailable = errors.New("card processor unavailable")
	// ErrPaymentNotFound: no payment has the given ID.
	ErrPaymentNotFound = errors.New("payment not found")
	// ErrInvalidState: the payment's state does not allow the operation,
	// such as capturing a failed payment.
	ErrInvalidState = errors.New("invalid payment state")
	// ErrExceedsAuthorized: a capture of more than the payment's total.
	ErrExceedsAuthorized = errors.New("amount exceeds the authorised total")
	// ErrExceedsCaptured: a refund of more than is left to refund.
	ErrExceedsCaptured = errors.New("amount exceeds what is left to refund")
	// ErrExpired: the payment was not captured before its hold lapsed; it has
	// been unwound.
	ErrExpired = errors.New("payment expired")
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
