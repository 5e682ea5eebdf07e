package checkout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/idem"
	"github.com/giftkit/giftkit/wallet"
)

// Tx is what this package needs of a unit of work (see giftkit.Store), on top
// of wallet.Tx. Values go in and come out as copies.
type Tx interface {
	wallet.Tx
	// Payment returns the payment with the given ID; false if none.
	Payment(id string) (Payment, bool, error)
	// PutPayment inserts or replaces the payment with p.ID.
	PutPayment(p Payment) error
	// OpenPayments returns up to limit payments, in order of ID after
	// afterID, whose state is open or that have a refund not done: the
	// payments with a step outstanding.
	OpenPayments(afterID string, limit int) ([]Payment, error)
}

// RefundPolicy decides which tender a refund goes back to first.
type RefundPolicy uint8

// Refund policies.
const (
	RefundCardFirst    RefundPolicy = iota // to the bank card first, then the balance (the default)
	RefundBalanceFirst                     // to the balance first, then the bank card
	RefundProportional                     // in proportion to what each tender has left to refund, exact to the cent
)

// Config holds what a [Service] needs from its host.
type Config struct {
	// Now returns the current time. Required.
	Now func() time.Time
	// RefundPolicy decides the order between tenders; the zero value is
	// RefundCardFirst.
	RefundPolicy RefundPolicy
	// HoldFor is how long an uncaptured payment holds the balance and the
	// card authorisation before it expires and is unwound; 0 means 7 days.
	HoldFor time.Duration
	// ProcessorKeyPrefix names this deployment's idempotency keys at the
	// processor (see [Processor]): services whose stores share one processor
	// account (production and staging, two shops) must use different
	// prefixes, so that neither can ever adopt the other's authorisations.
	// 1 to 20 bytes of ASCII letters, digits, '.', '_' and '-'; empty means
	// "giftkit". A payment keeps the prefix it was created under.
	ProcessorKeyPrefix string
}

// MaxKeyPrefixLen is the longest Config.ProcessorKeyPrefix, in bytes.
const MaxKeyPrefixLen = 20

func validKeyPrefix(p string) bool {
	if p == "" || len(p) > MaxKeyPrefixLen {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// Placer is the wallet.Hold.Placer of the holds checkout places: only
// checkout captures or releases them (wallet.Service refuses them with
// wallet.ErrForeignHold).
const Placer = "checkout"

// MaxIDLen is the longest payment ID accepted, in bytes. A payment ID is 1
// to MaxIDLen bytes of UTF-8 without control characters.
const MaxIDLen = 128

func validID(id string) bool { return id != "" && idem.ValidText(id, MaxIDLen) }

// A Service runs split-tender payments: balance first, bank card for the
// rest. It is safe for concurrent use; its zero value is not usable.
//
// Each payment is a saga whose every step is recorded before the next runs,
// and whose processor calls carry keys derived from the payment ID. A call
// that fails half-way (the processor did not answer, the process crashed)
// leaves the payment open; calling it again with the same key, or
// [Service.Resume], or [Service.Sweep], completes or unwinds it. No
// transaction is held open across a processor call.
type Service struct {
	store giftkit.Store[Tx]
	proc  Processor
	cfg   Config
}

// NewService returns a Service over store that charges bank cards through proc.
func NewService[T Tx](store giftkit.Store[T], proc Processor, cfg Config) (*Service, error) {
	if store == nil || proc == nil || cfg.Now == nil {
		return nil, errors.New("checkout: NewService needs a store, a processor and a clock")
	}
	if cfg.HoldFor <= 0 {
		cfg.HoldFor = 7 * 24 * time.Hour
	}
	if cfg.ProcessorKeyPrefix == "" {
		cfg.ProcessorKeyPrefix = "giftkit"
	}
	if !validKeyPrefix(cfg.ProcessorKeyPrefix) {
		return nil, fmt.Errorf("checkout: ProcessorKeyPrefix %q is not 1 to %d bytes of letters, digits, '.', '_' and '-'", cfg.ProcessorKeyPrefix, MaxKeyPrefixLen)
	}
	return &Service{store: idem.Erase(store, func(tx T) Tx { return tx }), proc: proc, cfg: cfg}, nil
}

// PayRequest describes an order to pay.
type PayRequest struct {
	PaymentID   string        // the caller's ID for the payment, such as the order ID; unique
	Owner       string        // the shopper whose balance pays first
	Total       giftkit.Money // positive
	Instrument  string        // the processor's token for the bank card; required when the card pays a part
	Mode        CaptureMode   // CaptureNow (default) or CaptureLater
	SkipBalance bool          // the shopper opts out of using the balance
}

func (r PayRequest) fingerprint() string {
	return idem.Fingerprint(r.PaymentID, r.Owner, r.Total.String(), r.Instrument,
		r.Mode.string(), map[bool]string{true: "skip", false: "use"}[r.SkipBalance])
}

func (m CaptureMode) string() string {
	return map[CaptureMode]string{CaptureNow: "now", CaptureLater: "later"}[m]
}

// Pay pays an order: it holds the balance part (see [Plan]) on the shopper's
// account, authorises the card part (skipped when zero), and with
// CaptureNow captures both. If the card is declined, the hold is released
// and nothing is charged. It returns the payment as it stands.
//
// A retry with the same key returns the payment, completing any step left
// outstanding; a different request or key for the same PaymentID is
// giftkit.ErrIdempotencyConflict. It fails with [ErrInvalidOrder],
// [giftkit.ErrCurrencyMismatch], [ErrInstrumentRequired], [ErrDeclined],
// [ErrExpired], [ErrProcessorUnavailable] (the payment stays open: retry),
// wallet.ErrInvalidOwner, giftkit.ErrKeyRequired, each in an [*Error], or
// with the store's error.
func (s *Service) Pay(ctx context.Context, req PayRequest, key string) (Payment, error) {
	fail := func(err error, detail string) (Payment, error) {
		return Payment{}, &Error{Op: "pay", PaymentID: req.PaymentID, Amount: req.Total, Detail: detail, Err: err}
	}
	switch {
	case !validID(req.PaymentID):
		return fail(ErrInvalidOrder, "payment ID must be 1 to 128 bytes of UTF-8 without control characters")
	case req.Owner == "" || !idem.ValidText(req.Owner, wallet.MaxOwnerLen):
		return fail(wallet.ErrInvalidOwner, "")
	case !idem.ValidText(req.Instrument, MaxIDLen*2):
		return fail(ErrInvalidOrder, "instrument must be at most 256 bytes of UTF-8 without control characters")
	case !req.Total.IsValid() || !req.Total.IsPositive():
		return fail(ErrInvalidOrder, "total must be positive")
	case req.Mode != CaptureNow && req.Mode != CaptureLater:
		return fail(ErrInvalidOrder, "unknown capture mode")
	}
	if err := idem.CheckKey(key); err != nil {
		return fail(giftkit.ErrKeyRequired, err.Error())
	}
	call := idem.Call{Scope: paymentScope(req.PaymentID), Key: key, Request: []string{"pay", req.fingerprint()}}
	var p Payment
	refused, err := s.record(ctx, req.PaymentID, call, func(tx Tx, now time.Time) error {
		existing, found, err := tx.Payment(req.PaymentID)
		if err != nil {
			return err
		}
		if found {
			if existing.PayKey != key || existing.Fingerprint != call.Request[1] {
				return &Error{Op: "pay", PaymentID: req.PaymentID, Err: giftkit.ErrIdempotencyConflict, Detail: "the payment ID is taken"}
			}
			p = existing // paid before this call's record existed
			return nil
		}
		acct, swept, err := wallet.LoadAccount(tx, req.Owner, req.Total.Currency(), now)
		if err != nil {
			return err
		}
		split, err := Plan(req.Total, acct.Available(), PlanOptions{SkipBalance: req.SkipBalance})
		if err != nil {
			return err
		}
		if split.Card.IsPositive() && req.Instrument == "" {
			return &Error{Op: "pay", PaymentID: req.PaymentID, Amount: split.Card, Err: ErrInstrumentRequired}
		}
		zero := giftkit.Zero(req.Total.Currency())
		p = Payment{
			ID: req.PaymentID, Owner: req.Owner, Total: req.Total, Mode: req.Mode, Instrument: req.Instrument,
			State:     StatePending,
			Balance:   Tender{Planned: split.Balance, Authorized: zero, Captured: zero, Refunded: zero},
			Card:      Tender{Planned: split.Card, Authorized: zero, Captured: zero, Refunded: zero},
			KeyPrefix: s.cfg.ProcessorKeyPrefix, PayKey: key, Fingerprint: call.Request[1], AuthUnknown: split.Card.IsPositive(),
			ExpiresAt: now.Add(s.cfg.HoldFor), CreatedAt: now, UpdatedAt: now,
		}
		if req.Mode == CaptureNow {
			p.CaptureWant = req.Total
		}
		entries := swept
		if split.Balance.IsPositive() {
			p.HoldID = "pay/" + p.ID
			var hold wallet.Entry
			acct, hold, err = acct.PlaceHold(p.HoldID, Placer, split.Balance, p.ID, p.ExpiresAt, key, now)
			if err != nil {
				return err
			}
			entries = append(entries, hold)
			p.Balance.Authorized = split.Balance
		}
		if err := wallet.SaveAccount(tx, acct, entries); err != nil {
			return err
		}
		return tx.PutPayment(p)
	}, func(tx Tx) (err error) {
		p, err = loadPayment(tx, "pay", req.PaymentID)
		return err
	})
	if err != nil {
		return Payment{}, err
	}
	if refused != nil {
		return Payment{}, refused
	}
	return s.drive(ctx, "pay", p)
}

// Capture captures amount (up to the total) of a payment made with
// CaptureLater, as at shipment: the balance part first, then the card, and
// what is not captured is released. The decision and the balance capture are
// one instant: a capture decided while the payment's hold is live takes the
// balance; one decided at or after its expiry unwinds the payment and fails
// with [ErrExpired]. A retry with the same key returns the same outcome. It
// fails with [ErrPaymentNotFound], [ErrInvalidState] (not authorized, or
// already captured under another key), [ErrExceedsAuthorized],
// [ErrInvalidOrder] (a non-positive amount), [giftkit.ErrCurrencyMismatch],
// [ErrExpired], [ErrDeclined], [ErrProcessorUnavailable], or
// giftkit.ErrKeyRequired / giftkit.ErrIdempotencyConflict.
func (s *Service) Capture(ctx context.Context, paymentID string, amount giftkit.Money, key string) (Payment, error) {
	return s.command(ctx, "capture", paymentID, amount, key, func(tx Tx, p *Payment, now time.Time) error {
		switch {
		case p.State != StateAuthorized || p.Mode != CaptureLater || p.CaptureKey != "":
			return ErrInvalidState
		case amount.Currency() != p.Total.Currency():
			return giftkit.ErrCurrencyMismatch
		case !amount.IsPositive():
			return ErrInvalidOrder
		}
		if c, _ := amount.Cmp(p.Total); c > 0 {
			return ErrExceedsAuthorized
		}
		p.CaptureWant, p.CaptureKey = amount, key
		return s.captureBalance(tx, p, now)
	})
}

// Cancel undoes a payment that is not captured: the balance hold is released
// and the card authorisation voided, so nothing is charged. A retry with the
// same key returns the same outcome. It fails with [ErrPaymentNotFound],
// [ErrInvalidState] (captured, capturing, or already final), or a key error.
func (s *Service) Cancel(ctx context.Context, paymentID, key string) (Payment, error) {
	return s.command(ctx, "cancel", paymentID, giftkit.Money{}, key, func(tx Tx, p *Payment, now time.Time) error {
		if p.State != StatePending && p.State != StateAuthorized {
			return ErrInvalidState
		}
		p.CancelKey = key
		p.State, p.UnwindTo, p.Failure = StateUnwinding, StateCancelled, "cancelled"
		return s.releaseHold(tx, p, key, now)
	})
}

// Refund returns amount of a captured payment to the shopper, split between
// the tenders by Config.RefundPolicy and never more to a tender than it
// paid: the balance part is credited to the account (a refund entry), the
// card part goes back through the processor. A payment may be refunded
// several times, each with its own key; a retry with the same key returns the
// payment. It fails with [ErrPaymentNotFound], [ErrInvalidState] (not
// captured), [ErrExceedsCaptured], [ErrInvalidOrder], [giftkit.ErrCurrencyMismatch],
// [ErrDeclined] (the processor refused the card part: nothing was refunded,
// and the refund is recorded as failed), [ErrProcessorUnavailable] (the
// refund stays outstanding: retry), or giftkit.ErrKeyRequired /
// giftkit.ErrIdempotencyConflict.
func (s *Service) Refund(ctx context.Context, paymentID string, amount giftkit.Money, key string) (Payment, error) {
	p, err := s.refund(ctx, paymentID, amount, key)
	if err != nil {
		return p, err
	}
	if i := p.refundIndex(key); i >= 0 && p.Refunds[i].Failed != "" {
		// The processor refused the card part: nothing was refunded, and the
		// amount may be refunded again under a new key.
		return p, &Error{Op: "refund", PaymentID: paymentID, Amount: amount, Detail: p.Refunds[i].Failed, Err: ErrDeclined,
			Cause: &DeclineError{Reason: p.Refunds[i].Failed}}
	}
	return p, nil
}

func (s *Service) refund(ctx context.Context, paymentID string, amount giftkit.Money, key string) (Payment, error) {
	return s.command(ctx, "refund", paymentID, amount, key, func(tx Tx, p *Payment, now time.Time) error {
		switch {
		case p.State != StateCaptured:
			return ErrInvalidState
		case amount.Currency() != p.Total.Currency():
			return giftkit.ErrCurrencyMismatch
		case !amount.IsPositive():
			return ErrInvalidOrder
		}
		card, bal := p.refundable()
		left, _ := card.Add(bal)
		if c, _ := amount.Cmp(left); c > 0 {
			return ErrExceedsCaptured
		}
		toCard, toBalance, err := s.cfg.RefundPolicy.split(amount, card, bal)
		if err != nil {
			return err
		}
		p.Refunds = append(p.Refunds, Refund{Key: key, Amount: amount, Balance: toBalance, Card: toCard, At: now})
		return s.settleBalanceRefunds(tx, p, now)
	})
}

// refundable returns what each tender has left to refund, counting refunds
// still outstanding.
func (p Payment) refundable() (card, balance giftkit.Money) {
	card, balance = p.Card.Captured, p.Balance.Captured
	for _, r := range p.Refunds {
		if r.Failed != "" {
			continue
		}
		card, _ = card.Sub(r.Card)
		balance, _ = balance.Sub(r.Balance)
	}
	return card, balance
}

// split divides a refund between the tenders, never giving one more than
// it has left.
func (policy RefundPolicy) split(amount, card, balance giftkit.Money) (toCard, toBalance giftkit.Money, err error) {
	switch policy {
	case RefundBalanceFirst:
		toBalance, _ = amount.Min(balance)
		toCard, _ = amount.Sub(toBalance)
	case RefundProportional:
		parts, err := amount.Allocate(card.Minor(), balance.Minor())
		if err != nil {
			return toCard, toBalance, err
		}
		toCard, toBalance = parts[0], parts[1]
	default:
		toCard, _ = amount.Min(card)
		toBalance, _ = amount.Sub(toCard)
	}
	return toCard, toBalance, nil
}

// Resume completes or unwinds whatever step of a payment is outstanding,
// after a crash or a processor outage, and returns the payment.
func (s *Service) Resume(ctx context.Context, paymentID string) (Payment, error) {
	p, err := s.Payment(ctx, paymentID)
	if err != nil {
		return Payment{}, err
	}
	return s.drive(ctx, "resume", p)
}

// Sweep resumes up to limit open payments (see [Service.Resume]): those
// waiting for a processor call that did not complete, and those whose hold
// has lapsed, which it unwinds. Run it periodically. It returns how many
// payments it resumed and how many are still open after it, and stops at
// the first error that is not ErrProcessorUnavailable.
func (s *Service) Sweep(ctx context.Context, limit int) (resumed, stillOpen int, err error) {
	var open []Payment
	if err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		open, err = tx.OpenPayments("", limit)
		return err
	}); err != nil {
		return 0, 0, err
	}
	for _, p := range open {
		p, err := s.drive(ctx, "sweep", p)
		resumed++
		// A sweep reports no payment's failure (see outcome): only an
		// unanswered processor, which leaves the payment for the next sweep,
		// and the store's errors come back.
		if err != nil && !errors.Is(err, ErrProcessorUnavailable) {
			return resumed, stillOpen, err
		}
		if p.NeedsWork() {
			stillOpen++
		}
	}
	return resumed, stillOpen, nil
}

// NeedsWork reports whether a step of the payment is outstanding: it is open,
// or a refund is not done. Stores index it for [Tx.OpenPayments].
func (p Payment) NeedsWork() bool { return p.State.Open() || p.hasPendingRefund() }

func (p Payment) hasPendingRefund() bool {
	for _, r := range p.Refunds {
		if !r.Done {
			return true
		}
	}
	return false
}

// Payment returns the payment with the given ID, or [ErrPaymentNotFound].
func (s *Service) Payment(ctx context.Context, id string) (Payment, error) {
	var p Payment
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		p, err = loadPayment(tx, "get", id)
		return err
	})
	return p, err
}

// loadPayment reads a payment inside a unit of work, or fails with
// ErrPaymentNotFound.
func loadPayment(tx Tx, op, id string) (Payment, error) {
	if !validID(id) { // no such payment can exist: spare the store a malformed key
		return Payment{}, &Error{Op: op, PaymentID: id, Err: ErrPaymentNotFound}
	}
	p, found, err := tx.Payment(id)
	if err != nil {
		return Payment{}, err
	}
	if !found {
		return Payment{}, &Error{Op: op, PaymentID: id, Err: ErrPaymentNotFound}
	}
	return p, nil
}

// paymentScope is the idempotency scope of the calls on one payment: the
// keys of Pay, Capture, Cancel and Refund on a payment share it, so a key
// names one call whatever the operation.
func paymentScope(id string) string { return "checkout/" + id }

var replayable = idem.Errors{idem.KindOf[Error]("checkout")}

// record runs one caller's call on a payment in one unit of work, exactly
// once per key: with no record under call's key, do runs; its refusal (an
// *Error) is recorded instead of its effects, which are rolled back, and
// returned as refused; its success is recorded with its effects. With a
// record, a refusal is returned as it was, and a success runs replay, which
// loads the payment to drive. Any other error is the store's, and records
// nothing.
func (s *Service) record(ctx context.Context, paymentID string, call idem.Call, do func(Tx, time.Time) error, replay func(Tx) error) (refused error, err error) {
	// replayed answers from the record under call's key, if there is one.
	replayed := func(tx Tx) (bool, error) {
		_, recorded, found, err := idem.Lookup[struct{}](tx, call, replayable)
		if err != nil || !found {
			return false, err
		}
		if refused = recorded; refused != nil {
			return true, nil
		}
		return true, replay(tx)
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		refused = nil
		now := s.cfg.Now()
		call.Now = now
		if found, err := replayed(tx); found || err != nil {
			return err
		}
		if err := do(tx, now); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				return err
			}
			refused = err
			return errRefused
		}
		return idem.Record(tx, call, replayable, struct{}{}, nil)
	})
	if errors.Is(err, errRefused) {
		// The refusal's effects are rolled back: record it on its own,
		// unless a concurrent call with the same key finished first.
		first := refused
		err = s.store.Update(ctx, func(tx Tx) error {
			if found, err := replayed(tx); found || err != nil {
				return err
			}
			refused = first
			return idem.Record(tx, call, replayable, struct{}{}, first)
		})
	}
	if err != nil {
		return nil, err
	}
	if errors.Is(refused, giftkit.ErrIdempotencyConflict) && !errors.As(refused, new(*Error)) {
		refused = &Error{Op: call.Request[0], PaymentID: paymentID, Err: refused}
	}
	return refused, nil
}

var errRefused = errors.New("checkout: refused")

// command runs a caller's request on a payment (see record), then drives the
// payment. decide changes the payment in place, writing what it must in tx,
// or returns a sentinel error: the refusal.
func (s *Service) command(ctx context.Context, op, id string, amount giftkit.Money, key string,
	decide func(Tx, *Payment, time.Time) error) (Payment, error) {
	if err := idem.CheckKey(key); err != nil {
		return Payment{}, &Error{Op: op, PaymentID: id, Amount: amount, Detail: err.Error(), Err: giftkit.ErrKeyRequired}
	}
	if !validID(id) {
		return Payment{}, &Error{Op: op, Amount: amount, Detail: "payment ID must be 1 to 128 bytes of UTF-8 without control characters", Err: ErrInvalidOrder}
	}
	call := idem.Call{Scope: paymentScope(id), Key: key, Request: []string{op, amount.String()}}
	var p Payment
	refused, err := s.record(ctx, id, call, func(tx Tx, now time.Time) error {
		got, err := loadPayment(tx, op, id)
		if err != nil {
			return err
		}
		p = got
		if err := decide(tx, &p, now); err != nil {
			if isSentinel(err) {
				return &Error{Op: op, PaymentID: id, Amount: amount, State: got.State, Err: err}
			}
			return err
		}
		p.UpdatedAt = now
		return tx.PutPayment(p)
	}, func(tx Tx) (err error) {
		p, err = loadPayment(tx, op, id)
		return err
	})
	if err != nil {
		return Payment{}, err
	}
	if refused != nil {
		return Payment{}, refused
	}
	return s.drive(ctx, op, p)
}

// isSentinel reports whether err is one of the errors errorCodes names.
func isSentinel(err error) bool { return errorCodes.Code(err) != "" }
