package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/idem"
	"github.com/giftkit/giftkit/internal/obs"
	"github.com/giftkit/giftkit/internal/unit"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/wallet"
)

// Tx is what this package needs of a unit of work (see giftkit.Store), on top
// of wallet.Tx. Values go in and come out as copies.
type Tx interface {
	wallet.Tx
	// The outbox: a payment's events go in with the payment.
	outbox.Tx
	// Payment returns the payment with the given ID; false if none.
	Payment(id string) (Payment, bool, error)
	// PutPayment inserts or replaces the payment with p.ID.
	PutPayment(p Payment) error
	// OpenPayments returns up to limit payments, in order of ID after
	// afterID, whose state is open or that have a refund not done: the
	// payments with a step outstanding.
	OpenPayments(afterID string, limit int) ([]Payment, error)
}

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
	// Logger, if not nil, receives one record per call: its operation
	// ("wallet.redeem"), outcome ("ok", or the error's kind: "not_found",
	// "conflict", ...) and duration (by Now); at Debug for a success, Info
	// for a refusal, Warn for the store's or the processor's failure. Codes
	// appear only masked, and no record holds a processor token or an
	// idempotency key.
	Logger *slog.Logger
	// Observer, if not nil, is told of every call and of notable events
	// (see giftkit.Observer): metrics and traces without a dependency.
	Observer giftkit.Observer
	// Hasher hashes the codes of gift cards given as tenders
	// (PayRequest.Codes), with the key the cards were issued with. Required
	// only to accept codes: without it, a request with codes is refused.
	Hasher *giftcard.Hasher
	// Limiter counts the codes given as tenders as guesses, as the wallet
	// counts redemptions (see wallet.Limiter): pass the wallet's, so that a
	// guesser cannot spread guesses between the two. Nil means a limiter of
	// the checkout's own (wallet.NewMemoryLimiter(0, 0, 0)).
	Limiter wallet.Limiter
	// Programme, if not nil, is the programme's rules (see
	// giftcard.Programme): its MaxRemotePayment caps what gift cards given
	// by code pay of one payment. NewService refuses an invalid one.
	Programme *giftcard.Programme
	// ExternalCodes accepts the codes of imported cards as tenders (see
	// wallet.Config.ExternalCodes).
	ExternalCodes bool
}

// Placer is the wallet.Hold.Placer of the holds checkout places: only
// checkout captures or releases them (wallet.Service refuses them with
// wallet.ErrForeignHold).
const Placer = "checkout"

// MaxIDLen is the longest payment ID accepted, in bytes. A payment ID is 1
// to MaxIDLen bytes of UTF-8 without control characters.
const MaxIDLen = 128

func validID(id string) bool { return id != "" && idem.ValidText(id, MaxIDLen) }

// A Service runs split-tender payments: gift cards given by code first
// (soonest lapse first), then the balance, then the bank card for the
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
	obs   obs.Hooks
}

// NewService returns a Service over store that charges bank cards through proc.
func NewService[T Tx](store giftkit.Store[T], proc Processor, cfg Config) (*Service, error) {
	if store == nil || proc == nil || cfg.Now == nil {
		return nil, errors.New("checkout: NewService needs a store, a processor and a clock")
	}
	if cfg.HoldFor <= 0 {
		cfg.HoldFor = 7 * 24 * time.Hour
	}
	if err := cfg.Programme.Validate(); err != nil {
		return nil, err
	}
	if cfg.Limiter == nil {
		cfg.Limiter = wallet.NewMemoryLimiter(0, 0, 0)
	}
	if cfg.ProcessorKeyPrefix == "" {
		cfg.ProcessorKeyPrefix = "giftkit"
	}
	if !validKeyPrefix(cfg.ProcessorKeyPrefix) {
		return nil, fmt.Errorf("checkout: ProcessorKeyPrefix %q is not 1 to %d bytes of letters, digits, '.', '_' and '-'", cfg.ProcessorKeyPrefix, MaxKeyPrefixLen)
	}
	return &Service{store: unit.Erase(store, func(tx T) Tx { return tx }), proc: proc, cfg: cfg, obs: obs.Hooks{Log: cfg.Logger, Obs: cfg.Observer, Now: cfg.Now}}, nil
}

// PayRequest describes an order to pay.
type PayRequest struct {
	PaymentID   string        // the caller's ID for the payment, such as the order ID; unique
	Owner       string        // the shopper whose balance pays after the gift cards; empty for a guest paying with Codes (no balance)
	Total       giftkit.Money // positive
	Instrument  string        // the processor's token for the bank card; required when the card pays a part
	Mode        CaptureMode   // CaptureNow (default) or CaptureLater
	SkipBalance bool          // the shopper opts out of using the balance
	// Codes are gift cards given as tenders, as the shopper typed them:
	// at most MaxCodes, each spent in the spending order (see PlanTenders)
	// from the card's own account (giftcard.AccountOwner), whose value the
	// first use moves there. They count as guesses (see Config.Limiter).
	Codes []string
}

// MaxCodes is the most gift cards one payment spends by code.
const MaxCodes = 5

// fingerprint digests the request; codes are in it as their keyed hashes,
// so that no stored fingerprint derives from a code without the key.
func (r PayRequest) fingerprint(refs []giftcard.CodeRef) string {
	skip := map[bool]string{true: "skip", false: "use"}[r.SkipBalance]
	if len(refs) == 0 { // the fields as they always were, without a slice to build
		return idem.Fingerprint(r.PaymentID, r.Owner, r.Total.String(), r.Instrument, r.Mode.String(), skip)
	}
	fields := []string{r.PaymentID, r.Owner, r.Total.String(), r.Instrument, r.Mode.String(), skip}
	for _, ref := range refs {
		fields = append(fields, "code:"+ref.Hash.String())
	}
	return idem.Fingerprint(fields...)
}

// check returns the refusal of a malformed request, if it is one.
func (r PayRequest) check(key string) error {
	fail := func(err error, detail string) error {
		return &Error{Op: "pay", PaymentID: r.PaymentID, Amount: r.Total, Detail: detail, Err: err}
	}
	switch {
	case !validID(r.PaymentID):
		return fail(ErrInvalidOrder, "payment ID must be 1 to 128 bytes of UTF-8 without control characters")
	case (r.Owner == "" && len(r.Codes) == 0) || !idem.ValidText(r.Owner, wallet.MaxOwnerLen) || giftcard.IsCardAccount(r.Owner):
		return fail(wallet.ErrInvalidOwner, "")
	case len(r.Codes) > MaxCodes:
		return fail(ErrInvalidOrder, fmt.Sprintf("at most %d gift cards per payment", MaxCodes))
	case !idem.ValidText(r.Instrument, MaxIDLen*2):
		return fail(ErrInvalidOrder, "instrument must be at most 256 bytes of UTF-8 without control characters")
	case !r.Total.IsValid() || !r.Total.IsPositive():
		return fail(ErrInvalidOrder, "total must be positive")
	case r.Mode != CaptureNow && r.Mode != CaptureLater:
		return fail(ErrInvalidOrder, "unknown capture mode")
	}
	if err := idem.CheckKey(key); err != nil {
		return fail(giftkit.ErrKeyRequired, err.Error())
	}
	return nil
}

// Pay pays an order: it holds the gift cards' parts given by code on their
// accounts and the balance part on the shopper's (see [PlanTenders]),
// authorises the bank card part (skipped when zero), and with CaptureNow
// captures them all. If the bank card is declined, the holds are released
// and nothing is charged. It returns the payment as it stands.
//
// A code that does not read is a *codefmt.ParseError before anything is
// looked up (a typo never counts as a guess); a code that reads but names
// no usable card is refused as redemption refuses it (giftcard's
// ErrNotRedeemable, ErrExpired, ErrAlreadyRedeemed, ErrNoBalance, in an
// [*Error] naming the code masked), counts as a failed guess, and is
// recorded under the key; a locked-out shopper or client gets
// wallet.ErrTooManyAttempts, unless the call completed before.
//
// A retry with the same key returns the payment, completing any step left
// outstanding; a different request or key for the same PaymentID is
// giftkit.ErrIdempotencyConflict. It fails with [ErrInvalidOrder],
// giftkit.ErrCurrencyMismatch, [ErrInstrumentRequired], [ErrDeclined],
// [ErrExpired], [ErrProcessorUnavailable] (the payment stays open: retry),
// wallet.ErrInvalidOwner, giftkit.ErrKeyRequired, each in an [*Error], or
// with the store's error.
func (s *Service) Pay(ctx context.Context, req PayRequest, key string) (_ Payment, err error) {
	ctx, span := s.obs.Begin(ctx, "checkout.pay")
	defer span.End(&err)
	if err := req.check(key); err != nil {
		return Payment{}, err
	}
	if err := checkCause(ctx); err != nil {
		return Payment{}, err
	}
	refs, err := s.readCodes(req)
	if err != nil {
		return Payment{}, err
	}
	keys := Keys{Prefix: s.cfg.ProcessorKeyPrefix, Pay: key, Fingerprint: req.fingerprint(refs)}
	call := idem.NewCall(paymentScope(req.PaymentID), key, time.Time{}, "pay", keys.Fingerprint)
	call.Reads = giftkit.ReadAhead{Owner: req.Owner, Payment: req.PaymentID}
	attempt, err := s.reserve(ctx, req, keys, call)
	if err != nil {
		return Payment{}, err
	}
	var p Payment
	refused, replayed, err := s.record(ctx, req.PaymentID, call, func(tx Tx, now time.Time) (err error) {
		cause := causeOf(ctx, now)
		cause.Key = key
		p, err = s.open(tx, req, refs, keys, cause)
		return err
	}, func(tx Tx) (err error) {
		p, err = loadPayment(tx, "pay", req.PaymentID)
		return err
	})
	s.settle(ctx, attempt, refused, replayed, err)
	if err != nil {
		return Payment{}, err
	}
	if refused != nil {
		return Payment{}, refused
	}
	return s.drive(ctx, "pay", p)
}

// open creates the payment req asks for, pending, with its balance part
// held on the shopper's account; or returns the payment a completed call
// with the same key and request created.
func (s *Service) open(tx Tx, req PayRequest, refs []giftcard.CodeRef, keys Keys, cause activity.Cause) (Payment, error) {
	now := cause.At
	existing, found, err := tx.Payment(req.PaymentID)
	switch {
	case err != nil:
		return Payment{}, err
	case found && (existing.Keys.Pay != keys.Pay || existing.Keys.Fingerprint != keys.Fingerprint):
		return Payment{}, &Error{Op: "pay", PaymentID: req.PaymentID, Err: giftkit.ErrIdempotencyConflict, Detail: "the payment ID is taken"}
	case found:
		return existing, nil // paid before this call's record existed
	}
	if len(refs) > 0 {
		return s.openWithCards(tx, req, refs, keys, cause)
	}
	var p Payment
	_, err = wallet.UpdateAccount(tx, wallet.Change{Owner: req.Owner, Currency: req.Total.Currency(), Reference: req.PaymentID, Cause: cause},
		func(a wallet.Account) (wallet.Account, []wallet.Entry, error) {
			split, err := Plan(req.Total, a.Available(), PlanOptions{SkipBalance: req.SkipBalance})
			if err != nil {
				return a, nil, err
			}
			if split.Card.IsPositive() && req.Instrument == "" {
				return a, nil, &Error{Op: "pay", PaymentID: req.PaymentID, Amount: split.Card, Err: ErrInstrumentRequired}
			}
			p = newPayment(req, split, nil, keys, now, now.Add(s.cfg.HoldFor))
			if p.HoldID == "" {
				return a, nil, nil
			}
			a, hold, err := a.PlaceHold(wallet.HoldSpec{ID: p.HoldID, Placer: Placer, Amount: split.Balance, Reference: p.ID,
				ExpiresAt: p.ExpiresAt}, keys.Pay, now)
			if err != nil || split.Card.IsPositive() {
				return a, []wallet.Entry{hold}, err
			}
			// Nothing waits on the card: the payment is authorised, and with
			// CaptureNow captured, in this same unit of work.
			var effects []effect
			if p, effects = p.authorizedWithoutCard(now).captureIfAsked(now); len(effects) == 0 {
				return a, []wallet.Entry{hold}, nil
			}
			a, captured, err := effects[0].on(a, p, now)
			return a, append([]wallet.Entry{hold}, captured...), err
		})
	if err != nil {
		return Payment{}, err
	}
	return save(tx, Payment{}, p, cause)
}

// Capture captures amount (up to the total) of a payment made with
// CaptureLater, as at shipment: the balance part first, then the card, and
// what is not captured is released. The decision and the balance capture are
// one instant: a capture decided while the payment's hold is live takes the
// balance; one decided at or after its expiry unwinds the payment and fails
// with [ErrExpired]. A retry with the same key returns the same outcome. It
// fails with [ErrPaymentNotFound], [ErrInvalidState] (not authorized, or
// already captured under another key), [ErrExceedsAuthorized],
// [ErrInvalidOrder] (a non-positive amount), giftkit.ErrCurrencyMismatch,
// [ErrExpired], [ErrDeclined], [ErrProcessorUnavailable], or
// giftkit.ErrKeyRequired / giftkit.ErrIdempotencyConflict.
func (s *Service) Capture(ctx context.Context, paymentID string, amount giftkit.Money, key string) (_ Payment, err error) {
	ctx, span := s.obs.Begin(ctx, "checkout.capture")
	defer span.End(&err)
	return s.command(ctx, "capture", paymentID, amount, key, func(_ Tx, p Payment, now time.Time) (Payment, []effect, error) {
		return p.requestCapture(amount, key, now)
	})
}

// Cancel undoes a payment that is not captured: the balance hold is released
// and the card authorisation voided, so nothing is charged. A retry with the
// same key returns the same outcome. It fails with [ErrPaymentNotFound],
// [ErrInvalidState] (captured, capturing, or already final), or a key error.
func (s *Service) Cancel(ctx context.Context, paymentID, key string) (_ Payment, err error) {
	ctx, span := s.obs.Begin(ctx, "checkout.cancel")
	defer span.End(&err)
	return s.command(ctx, "cancel", paymentID, giftkit.Money{}, key, func(_ Tx, p Payment, now time.Time) (Payment, []effect, error) {
		return p.cancel(key, now)
	})
}

// Resume completes or unwinds whatever step of a payment is outstanding,
// after a crash or a processor outage, and returns the payment.
func (s *Service) Resume(ctx context.Context, paymentID string) (_ Payment, err error) {
	ctx, span := s.obs.Begin(ctx, "checkout.resume")
	defer span.End(&err)
	if err := checkCause(ctx); err != nil {
		return Payment{}, err
	}
	p, err := s.Payment(ctx, paymentID)
	if err != nil {
		return Payment{}, err
	}
	from := p.State
	p, err = s.drive(ctx, "resume", p)
	s.recovered(ctx, p, from)
	return p, err
}

// recovered tells the observer that Resume or Sweep moved payment p, left
// open in state from, on.
func (s *Service) recovered(ctx context.Context, p Payment, from State) {
	if p.State != from && p.State != 0 && s.obs.On() {
		s.obs.Notice(ctx, "checkout.recovery", slog.String("payment_id", p.ID),
			slog.String("from", from.String()), slog.String("to", p.State.String()))
	}
}

// DefaultSweepPage is the page size of [Service.Sweep] when it is given none.
const DefaultSweepPage = 100

// Sweep resumes every payment with a step outstanding (see
// [Service.Resume]): those waiting for a processor call that did not
// complete, and those whose hold has lapsed, which it unwinds. It reads them
// page pages at a time (0 means DefaultSweepPage), in order of ID, so a page
// of payments the processor cannot complete never hides the ones after it.
// Run it periodically. Its changes are recorded as the actor ctx carries,
// or as giftkit.System("checkout-sweep") if none. It returns how many
// payments it resumed and how many are still open after it, and stops at
// the first error that is not ErrProcessorUnavailable.
func (s *Service) Sweep(ctx context.Context, page int) (resumed, stillOpen int, err error) {
	ctx, span := s.obs.Begin(ctx, "checkout.sweep")
	defer span.End(&err)
	if err := checkCause(ctx); err != nil {
		return 0, 0, err
	}
	if giftkit.ActorFrom(ctx).IsZero() {
		ctx = giftkit.WithActor(ctx, giftkit.System("checkout-sweep"))
	}
	if page <= 0 {
		page = DefaultSweepPage
	}
	for after := ""; ; {
		var open []Payment
		if err := s.store.Update(ctx, func(tx Tx) (err error) {
			open, err = tx.OpenPayments(after, page)
			return err
		}); err != nil {
			return resumed, stillOpen, err
		}
		for _, p := range open {
			after = p.ID
			from := p.State
			p, err := s.drive(ctx, "sweep", p)
			resumed++
			s.recovered(ctx, p, from)
			// A sweep reports no payment's failure (see outcome): only an
			// unanswered processor, which leaves the payment for the next
			// sweep, and the store's errors come back.
			if err != nil && !errors.Is(err, ErrProcessorUnavailable) {
				return resumed, stillOpen, err
			}
			if p.NeedsWork() {
				stillOpen++
			}
		}
		if len(open) < page {
			return resumed, stillOpen, nil
		}
	}
}

// Payment returns the payment with the given ID, or [ErrPaymentNotFound].
func (s *Service) Payment(ctx context.Context, id string) (_ Payment, err error) {
	ctx, span := s.obs.Begin(ctx, "checkout.payment")
	defer span.End(&err)
	var p Payment
	err = s.store.Update(ctx, func(tx Tx) error {
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
