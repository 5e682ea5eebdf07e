package checkout

import (
	"context"
	"errors"
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
}

// Placer is the wallet.Hold.Placer of the holds checkout places: only
// checkout captures or releases them (wallet.Service refuses them with
// wallet.ErrForeignHold).
const Placer = "checkout"

// MaxIDLen is the longest payment ID accepted, in bytes.
const MaxIDLen = 128

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
// [ErrCurrencyMismatch], [ErrInstrumentRequired], [ErrDeclined],
// [ErrExpired], [ErrProcessorUnavailable] (the payment stays open: retry),
// wallet.ErrInvalidOwner, giftkit.ErrKeyRequired, each in an [*Error], or
// with the store's error.
func (s *Service) Pay(ctx context.Context, req PayRequest, key string) (Payment, error) {
	fail := func(err error, detail string) (Payment, error) {
		return Payment{}, &Error{Op: "pay", PaymentID: req.PaymentID, Amount: req.Total, Detail: detail, Err: err}
	}
	switch {
	case req.PaymentID == "" || len(req.PaymentID) > MaxIDLen:
		return fail(ErrInvalidOrder, "payment ID must have 1 to 128 bytes")
	case req.Owner == "" || len(req.Owner) > wallet.MaxOwnerLen:
		return fail(wallet.ErrInvalidOwner, "")
	case !req.Total.IsValid() || !req.Total.IsPositive():
		return fail(ErrInvalidOrder, "total must be positive")
	case req.Mode != CaptureNow && req.Mode != CaptureLater:
		return fail(ErrInvalidOrder, "unknown capture mode")
	}
	if err := idem.CheckKey(key); err != nil {
		return fail(giftkit.ErrKeyRequired, err.Error())
	}
	fp := req.fingerprint()
	var p Payment
	err := s.store.Update(ctx, func(tx Tx) error {
		existing, found, err := tx.Payment(req.PaymentID)
		if err != nil {
			return err
		}
		if found {
			if existing.PayKey != key || existing.Fingerprint != fp {
				return &Error{Op: "pay", PaymentID: req.PaymentID, Err: giftkit.ErrIdempotencyConflict}
			}
			p = existing
			return nil
		}
		now := s.cfg.Now()
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
			State:   StatePending,
			Balance: Tender{Planned: split.Balance, Authorized: zero, Captured: zero, Refunded: zero},
			Card:    Tender{Planned: split.Card, Authorized: zero, Captured: zero, Refunded: zero},
			PayKey:  key, Fingerprint: fp, AuthUnknown: split.Card.IsPositive(),
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
	})
	if err != nil {
		return Payment{}, err
	}
	return s.drive(ctx, "pay", p)
}

// Capture captures amount (up to the total) of a payment made with
// CaptureLater, as at shipment: the balance part first, then the card, and
// what is not captured is released. A retry with the same key returns the
// payment. It fails with [ErrPaymentNotFound], [ErrInvalidState] (not
// authorized, or already captured under another key), [ErrExceedsAuthorized],
// [ErrInvalidOrder] (a non-positive amount), [ErrExpired],
// [ErrProcessorUnavailable], or giftkit.ErrKeyRequired.
func (s *Service) Capture(ctx context.Context, paymentID string, amount giftkit.Money, key string) (Payment, error) {
	return s.command(ctx, "capture", paymentID, amount, key, func(p Payment, now time.Time) (Payment, bool, error) {
		if p.CaptureKey == key {
			if p.CaptureWant != amount {
				return p, false, giftkit.ErrIdempotencyConflict
			}
			return p, false, nil
		}
		if p.State != StateAuthorized || p.Mode != CaptureLater || p.CaptureKey != "" {
			return p, false, ErrInvalidState
		}
		if amount.Currency() != p.Total.Currency() {
			return p, false, ErrCurrencyMismatch
		}
		if !amount.IsPositive() {
			return p, false, ErrInvalidOrder
		}
		if c, _ := amount.Cmp(p.Total); c > 0 {
			return p, false, ErrExceedsAuthorized
		}
		p.CaptureWant, p.CaptureKey = amount, key
		return p, true, nil
	})
}

// Cancel undoes a payment that is not captured: the balance hold is released
// and the card authorisation voided, so nothing is charged. A retry with the
// same key returns the payment. It fails with [ErrPaymentNotFound],
// [ErrInvalidState] (captured, capturing, or already final), or a key error.
func (s *Service) Cancel(ctx context.Context, paymentID, key string) (Payment, error) {
	return s.command(ctx, "cancel", paymentID, giftkit.Money{}, key, func(p Payment, now time.Time) (Payment, bool, error) {
		if p.CancelKey == key {
			return p, false, nil
		}
		if p.State != StatePending && p.State != StateAuthorized {
			return p, false, ErrInvalidState
		}
		p.CancelKey = key
		p.State, p.UnwindTo, p.Failure = StateUnwinding, StateCancelled, "cancelled"
		return p, true, nil
	})
}

// Refund returns amount of a captured payment to the shopper, split between
// the tenders by Config.RefundPolicy and never more to a tender than it
// paid: the balance part is credited to the account (a refund entry), the
// card part goes back through the processor. A payment may be refunded
// several times, each with its own key; a retry with the same key returns the
// payment. It fails with [ErrPaymentNotFound], [ErrInvalidState] (not
// captured), [ErrExceedsCaptured], [ErrInvalidOrder], [ErrCurrencyMismatch],
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
		return p, &Error{Op: "refund", PaymentID: paymentID, Amount: amount, Detail: p.Refunds[i].Failed, Err: ErrDeclined}
	}
	return p, nil
}

func (s *Service) refund(ctx context.Context, paymentID string, amount giftkit.Money, key string) (Payment, error) {
	return s.command(ctx, "refund", paymentID, amount, key, func(p Payment, now time.Time) (Payment, bool, error) {
		for _, r := range p.Refunds {
			if r.Key == key {
				if r.Amount != amount {
					return p, false, giftkit.ErrIdempotencyConflict
				}
				return p, false, nil
			}
		}
		if p.State != StateCaptured {
			return p, false, ErrInvalidState
		}
		if amount.Currency() != p.Total.Currency() {
			return p, false, ErrCurrencyMismatch
		}
		if !amount.IsPositive() {
			return p, false, ErrInvalidOrder
		}
		card, bal := p.refundable()
		left, _ := card.Add(bal)
		if c, _ := amount.Cmp(left); c > 0 {
			return p, false, ErrExceedsCaptured
		}
		toCard, toBalance, err := s.cfg.RefundPolicy.split(amount, card, bal)
		if err != nil {
			return p, false, err
		}
		p.Refunds = append(p.Refunds, Refund{Key: key, Amount: amount, Balance: toBalance, Card: toCard, At: now})
		return p, true, nil
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
	p, found, err := tx.Payment(id)
	if err != nil {
		return Payment{}, err
	}
	if !found {
		return Payment{}, &Error{Op: op, PaymentID: id, Err: ErrPaymentNotFound}
	}
	return p, nil
}

// command records a caller's request on a payment in one unit of work, then
// drives the payment. decide returns the payment to store, whether it
// changed, or a sentinel error.
func (s *Service) command(ctx context.Context, op, id string, amount giftkit.Money, key string,
	decide func(Payment, time.Time) (Payment, bool, error)) (Payment, error) {
	if err := idem.CheckKey(key); err != nil {
		return Payment{}, &Error{Op: op, PaymentID: id, Amount: amount, Detail: err.Error(), Err: giftkit.ErrKeyRequired}
	}
	var p Payment
	err := s.store.Update(ctx, func(tx Tx) error {
		got, err := loadPayment(tx, op, id)
		if err != nil {
			return err
		}
		now := s.cfg.Now()
		next, changed, err := decide(got, now)
		if err != nil {
			return &Error{Op: op, PaymentID: id, Amount: amount, State: got.State, Err: err}
		}
		p = next
		if !changed {
			return nil
		}
		p.UpdatedAt = now
		switch op {
		case "cancel":
			err = s.releaseHold(tx, &p, key, now)
		case "refund":
			err = s.settleBalanceRefunds(tx, &p, now)
		}
		if err != nil {
			return err
		}
		return tx.PutPayment(p)
	})
	if err != nil {
		return Payment{}, err
	}
	return s.drive(ctx, op, p)
}
