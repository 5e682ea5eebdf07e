package checkout

import (
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
// [giftkit.ErrCurrencyMismatch] when the two amounts are in different currencies.
func Plan(total, available giftkit.Money, opts PlanOptions) (Split, error) {
	if !total.IsValid() || !total.IsPositive() {
		return Split{}, &Error{Op: "plan", Amount: total, Err: ErrInvalidOrder}
	}
	if available.Currency() != total.Currency() {
		return Split{}, &Error{Op: "plan", Amount: total, Detail: "balance in " + available.Currency().String(), Err: giftkit.ErrCurrencyMismatch}
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
