package checkout

import (
	"fmt"
	"slices"
	"time"

	"github.com/giftkit/giftkit"
)

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
	Captured   giftkit.Money `json:"captured"`   // taken from the hold, or by the processor; zero until captured
	Refunded   giftkit.Money `json:"refunded"`   // returned by refunds done (for the balance, also by a declined card capture); at most Captured
}

// CaptureMode says when a payment is captured.
type CaptureMode uint8

// Capture modes.
const (
	CaptureNow   CaptureMode = iota // capture as part of Pay
	CaptureLater                    // authorise now; capture with Service.Capture, at shipment
)

// String returns the mode's name, "now" or "later", as the Pay request's
// fingerprint records it.
func (m CaptureMode) String() string {
	if m == CaptureLater {
		return "later"
	}
	return "now"
}

// FailureKind says why a payment ended unpaid.
type FailureKind uint8

// The kinds of failure.
const (
	FailureDeclined  FailureKind = iota + 1 // the processor declined the card
	FailureExpired                          // not authorised or captured before the hold lapsed
	FailureCancelled                        // cancelled by Service.Cancel
)

var failureNames = [...]string{"", "declined", "expired", "cancelled"}

// String returns the kind's name, such as "declined".
func (k FailureKind) String() string {
	if int(k) < len(failureNames) {
		return failureNames[k]
	}
	return fmt.Sprintf("FailureKind(%d)", uint8(k))
}

// MarshalText encodes the kind as its name.
func (k FailureKind) MarshalText() ([]byte, error) {
	if k == 0 || int(k) >= len(failureNames) {
		return nil, fmt.Errorf("checkout: marshal invalid %v", k)
	}
	return []byte(failureNames[k]), nil
}

// UnmarshalText decodes a kind's name.
func (k *FailureKind) UnmarshalText(text []byte) error {
	for i, name := range failureNames {
		if i > 0 && name == string(text) {
			*k = FailureKind(i)
			return nil
		}
	}
	return fmt.Errorf("checkout: unknown failure kind %q", text)
}

// A Failure says why a payment was unwound. Its zero value means it was not.
type Failure struct {
	Kind   FailureKind `json:"kind"`             // declined, expired or cancelled; zero if the payment was not unwound
	Reason string      `json:"reason,omitempty"` // the processor's decline reason, or what lapsed
	// At is the state the payment failed from, which says whose outcome the
	// failure is: Pay's (pending, or any state of a CaptureNow payment) or
	// Capture's.
	At State `json:"at"`
}

// Keys are the idempotency keys a payment answers to.
type Keys struct {
	// Prefix is Config.ProcessorKeyPrefix when the payment was created: the
	// namespace of its processor keys, which a later change of the setting
	// does not move.
	Prefix      string `json:"prefix"`
	Pay         string `json:"pay"`               // the key of the Pay call
	Fingerprint string `json:"fingerprint"`       // the digest of the Pay request
	Capture     string `json:"capture,omitempty"` // the key of the Capture call, once captured
	Cancel      string `json:"cancel,omitempty"`  // the key of the Cancel call, once cancelled
}

// A Payment is one order's payment: its split between the balance and the
// bank card, and how far its saga has come. It is a value; the Service
// keeps it in the store. Its transitions are the unexported methods in this
// file: each takes the time, returns the new value and the effects on the
// shopper's balance, and changes nothing else.
type Payment struct {
	ID          string        `json:"id"`                     // the caller's PayRequest.PaymentID, such as the order ID: 1 to MaxIDLen bytes
	Owner       string        `json:"owner"`                  // the shopper whose wallet account the balance part is held on
	Total       giftkit.Money `json:"total"`                  // the order total, positive: Balance.Planned + Card.Planned
	Mode        CaptureMode   `json:"mode"`                   // CaptureNow or CaptureLater, as asked by Pay
	Instrument  string        `json:"instrument,omitempty"`   // the processor's token for the shopper's bank card
	State       State         `json:"state"`                  // where the saga is; never zero in a stored payment
	Balance     Tender        `json:"balance"`                // the gift card balance's part, held under HoldID; all zero when the shopper skips the balance or has none
	Card        Tender        `json:"card"`                   // the bank card's part, authorised under AuthID; all zero when the balance pays the whole
	HoldID      string        `json:"hold_id,omitempty"`      // the wallet hold of the balance part
	AuthID      string        `json:"auth_id,omitempty"`      // the processor's authorisation
	AuthUnknown bool          `json:"auth_unknown,omitempty"` // an authorisation may exist without its ID being known
	CaptureWant giftkit.Money `json:"capture_want,omitzero"`  // the total to capture, once capture is asked for
	Refunds     []Refund      `json:"refunds,omitempty"`      // in order
	Failure     Failure       `json:"failure,omitzero"`       // why the payment was unwound, if it was
	UnwindTo    State         `json:"unwind_to,omitempty"`    // for StateUnwinding: failed, cancelled or expired
	Keys        Keys          `json:"keys"`                   // the idempotency keys of the calls that made and moved the payment
	ExpiresAt   time.Time     `json:"expires_at"`             // the hold and authorisation lapse then unless captured
	CreatedAt   time.Time     `json:"created_at"`             // when Pay created the payment, by Config.Now
	UpdatedAt   time.Time     `json:"updated_at"`             // the last transition or refund; CreatedAt until then
	EventSeq    int64         `json:"event_seq,omitempty"`    // the Seq of the payment's last event in the outbox; 0 before its first (see PaymentEvents)
	// Cards are the gift cards spent as tenders, by code, in the order they
	// are spent (see PlanTenders): each card's part is held on the card's
	// own account (giftcard.AccountOwner) under HoldID.
	Cards []CardTender `json:"cards,omitempty"`
}

// A CardTender is what one gift card, spent by its code, contributes to a
// payment.
type CardTender struct {
	CardID string `json:"card_id"` // the card
	Masked string `json:"masked"`  // its code, masked, for receipts
	Tender        // held on the card's account, captured, refunded
}

// Clone returns a deep copy of p, sharing no memory with it.
func (p Payment) Clone() Payment {
	p.Refunds = append([]Refund(nil), p.Refunds...)
	for i := range p.Refunds {
		p.Refunds[i].Cards = append([]giftkit.Money(nil), p.Refunds[i].Cards...)
	}
	p.Cards = append([]CardTender(nil), p.Cards...)
	return p
}

// NeedsWork reports whether a step of the payment is outstanding: it is open,
// or a refund is not done. Stores index it for [Tx.OpenPayments].
func (p Payment) NeedsWork() bool { return p.State.Open() || p.hasPendingRefund() }

// lapsed reports whether the payment's hold has lapsed at now.
func (p Payment) lapsed(now time.Time) bool { return !now.Before(p.ExpiresAt) }

// The effects of transitions on the shopper's balance, which the saga
// applies to the account in the unit of work that records the transition
// (see Service.apply).
type effect struct {
	op     effectOp
	amount giftkit.Money // capture: the tender's part (zero releases the hold); credit: the amount
	key    string        // the idempotency key the journal entries record
	tender int           // whose account: 0 the shopper's balance, i+1 the account of gift card Cards[i]
}

type effectOp uint8

const (
	releaseHold   effectOp = iota + 1 // release the payment's hold if it is still open (a lapsed one the wallet swept is gone)
	captureHold                       // capture amount of the open hold and release the rest
	creditBalance                     // return amount to the balance as a refund entry
)

// The transitions. Each is the one place its rule lives.

// unwind starts undoing an unpaid payment: its hold is released and its
// authorisation, if any, voided; it ends in state to.
func (p Payment) unwind(to State, f Failure, key string, now time.Time) (Payment, []effect) {
	p.State, p.UnwindTo, p.Failure, p.UpdatedAt = StateUnwinding, to, f, now
	var effects []effect
	for i, t := range p.Cards {
		if t.Authorized.IsPositive() {
			effects = append(effects, effect{op: releaseHold, key: key, tender: i + 1})
		}
	}
	if p.HoldID != "" && p.Balance.Authorized.IsPositive() {
		effects = append(effects, effect{op: releaseHold, key: key})
	}
	return p, effects
}

// CardHoldID is the ID of the hold a payment places on the account of each
// gift card it spends (see Payment.Cards).
func (p Payment) CardHoldID() string { return "pay/" + p.ID }

// lapse unwinds a pending or authorised payment whose hold has lapsed: it
// was not authorised, or not captured, in time.
func (p Payment) lapse(now time.Time) (Payment, []effect) {
	why := "not captured before the hold lapsed"
	if p.State == StatePending {
		why = "not authorised before the hold lapsed"
	}
	return p.unwind(StateExpired, Failure{Kind: FailureExpired, Reason: why, At: p.State}, "", now)
}

// authorized records the processor's authorisation authID of the card part.
func (p Payment) authorized(authID string, now time.Time) Payment {
	p.State, p.AuthUnknown, p.UpdatedAt = StateAuthorized, false, now
	p.AuthID, p.Card.Authorized = authID, p.Card.Planned
	return p
}

// authorizedWithoutCard moves a payment the balance pays whole to
// authorized: nothing is asked of the processor.
func (p Payment) authorizedWithoutCard(now time.Time) Payment {
	p.State, p.AuthUnknown, p.UpdatedAt = StateAuthorized, false, now
	return p
}

// declined records the processor's refusal to authorise the card: nothing
// was authorised, so the payment fails and its hold is released.
func (p Payment) declined(reason string, now time.Time) (Payment, []effect) {
	f := Failure{Kind: FailureDeclined, Reason: reason, At: p.State}
	p, effects := p.unwind(StateFailed, f, p.Keys.Pay, now)
	// Nothing was authorised, so there is nothing to void: the payment
	// fails at once rather than unwinding.
	p.State, p.UnwindTo, p.AuthUnknown = StateFailed, 0, false
	return p, effects
}

// cancel undoes a payment that is not captured.
func (p Payment) cancel(key string, now time.Time) (Payment, []effect, error) {
	if p.State != StatePending && p.State != StateAuthorized {
		return p, nil, ErrInvalidState
	}
	p.Keys.Cancel = key
	p, effects := p.unwind(StateCancelled, Failure{Kind: FailureCancelled, Reason: "cancelled", At: p.State}, key, now)
	return p, effects, nil
}

// requestCapture records the caller's decision to capture amount of an
// authorised CaptureLater payment, and captures the balance part at once.
func (p Payment) requestCapture(amount giftkit.Money, key string, now time.Time) (Payment, []effect, error) {
	switch {
	case p.State != StateAuthorized || p.Mode != CaptureLater || p.Keys.Capture != "":
		return p, nil, ErrInvalidState
	case amount.Currency() != p.Total.Currency():
		return p, nil, giftkit.ErrCurrencyMismatch
	case !amount.IsPositive():
		return p, nil, ErrInvalidOrder
	case amount.Minor() > p.Total.Minor():
		return p, nil, ErrExceedsAuthorized
	}
	p.CaptureWant, p.Keys.Capture = amount, key
	p, effects := p.captureBalance(now)
	return p, effects, nil
}

// captureIfAsked takes the balance part of the capture at once if one was
// asked for (CaptureNow), as the saga's next step would: an authorised
// payment with CaptureWant set has no other step.
func (p Payment) captureIfAsked(now time.Time) (Payment, []effect) {
	if p.State != StateAuthorized || !p.CaptureWant.IsValid() {
		return p, nil
	}
	return p.captureBalance(now)
}

// captureKey is the key of the call that asked for the capture: Capture's,
// or Pay's for a CaptureNow payment.
func (p Payment) captureKey() string {
	if p.Keys.Capture != "" {
		return p.Keys.Capture
	}
	return p.Keys.Pay
}

// captureBalance takes the balance part of the capture (see captureSplit)
// from the hold and releases the rest of it, leaving the card part to the
// processor. Capturing the balance in the unit of work that records the
// decision means the hold can no longer lapse under a capture in progress.
// The decision and the capture are one instant, now: a payment whose hold
// has lapsed at now is expired instead, so a capture decided while the hold
// is live always finds it.
func (p Payment) captureBalance(now time.Time) (Payment, []effect) {
	if p.lapsed(now) {
		return p.lapse(now)
	}
	cards, fromBalance, _ := p.captureSplit(p.CaptureWant)
	var effects []effect
	if len(p.Cards) > 0 {
		p.Cards = slices.Clone(p.Cards)
	}
	for i := range p.Cards {
		t := &p.Cards[i]
		if t.Authorized.IsPositive() {
			effects = append(effects, effect{op: captureHold, amount: giftkit.FromMinor(cards[i], t.Authorized.Currency()), key: p.captureKey(), tender: i + 1})
		}
		t.Captured = giftkit.FromMinor(cards[i], t.Authorized.Currency())
	}
	if p.Balance.Authorized.IsPositive() {
		effects = append(effects, effect{op: captureHold, amount: fromBalance, key: p.captureKey()})
	}
	p.Balance.Captured, p.UpdatedAt = fromBalance, now
	if p.AuthID == "" {
		p.State = StateCaptured
	} else {
		p.State = StateCapturing
	}
	return p, effects
}

// cardCaptured records the processor's capture of the card part (or, when
// the balance covered the capture, its void of the authorisation).
func (p Payment) cardCaptured(now time.Time) Payment {
	_, _, cardPart := p.captureSplit(p.CaptureWant)
	p.State, p.UpdatedAt = StateCaptured, now
	if cardPart.IsPositive() {
		p.Card.Captured = cardPart
	}
	return p
}

// cardCaptureDeclined records the processor's refusal to capture the card
// part: the gift cards' and the balance's parts go back where they came
// from and the payment unwinds, so the shopper is charged nothing.
func (p Payment) cardCaptureDeclined(reason string, now time.Time) (Payment, []effect) {
	p.State, p.UnwindTo, p.UpdatedAt = StateUnwinding, StateFailed, now
	p.Failure = Failure{Kind: FailureDeclined, Reason: reason, At: StateCapturing}
	var effects []effect
	if len(p.Cards) > 0 {
		p.Cards = slices.Clone(p.Cards)
	}
	for i := range p.Cards {
		if t := &p.Cards[i]; t.Captured.IsPositive() {
			t.Refunded = plus(t.Refunded, t.Captured)
			effects = append(effects, effect{op: creditBalance, amount: t.Captured, key: p.captureKey(), tender: i + 1})
		}
	}
	if p.Balance.Captured.IsPositive() {
		p.Balance.Refunded = plus(p.Balance.Refunded, p.Balance.Captured)
		effects = append(effects, effect{op: creditBalance, amount: p.Balance.Captured, key: p.captureKey()})
	}
	return p, effects
}

// authorizationFound records the answer to a repeated authorisation of an
// unwinding payment whose authorisation was unknown: found is false if the
// processor declined it, so there is nothing to void.
func (p Payment) authorizationFound(authID string, found bool, now time.Time) Payment {
	p.AuthUnknown, p.UpdatedAt = false, now
	if found {
		p.AuthID, p.Card.Authorized = authID, p.Card.Planned
	}
	return p
}

// unwound records that the authorisation is voided (or never existed): the
// payment ends in the state it was unwinding to.
func (p Payment) unwound(now time.Time) Payment {
	p.State, p.UpdatedAt = p.UnwindTo, now
	return p
}

// plus adds two amounts of one payment. Both are in the payment's currency
// and at most its total, so the sum neither mixes currencies nor overflows.
func plus(a, b giftkit.Money) giftkit.Money {
	return giftkit.FromMinor(a.Minor()+b.Minor(), a.Currency())
}

// newPayment returns the pending payment of req, split by split, whose
// balance part is to be held until expiresAt.
//
// cards are the gift cards given by code, in the order split.Cards
// follows: those with a part join the payment, in that order.
func newPayment(req PayRequest, split Split, cards []CardTender, keys Keys, now, expiresAt time.Time) Payment {
	zero := giftkit.Zero(req.Total.Currency())
	p := Payment{
		ID: req.PaymentID, Owner: req.Owner, Total: req.Total, Mode: req.Mode, Instrument: req.Instrument,
		State:   StatePending,
		Balance: Tender{Planned: split.Balance, Authorized: split.Balance, Captured: zero, Refunded: zero},
		Card:    Tender{Planned: split.Card, Authorized: zero, Captured: zero, Refunded: zero},
		Keys:    keys, AuthUnknown: split.Card.IsPositive(),
		ExpiresAt: expiresAt, CreatedAt: now, UpdatedAt: now,
	}
	if split.Balance.IsPositive() {
		p.HoldID = p.CardHoldID() // the same ID on the shopper's account as on each card's
	}
	for i, part := range split.Cards {
		if part.IsPositive() {
			t := cards[i]
			t.Tender = Tender{Planned: part, Authorized: part, Captured: zero, Refunded: zero}
			p.Cards = append(p.Cards, t)
		}
	}
	if req.Mode == CaptureNow {
		p.CaptureWant = req.Total
	}
	return p
}
