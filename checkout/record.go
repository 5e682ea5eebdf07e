package checkout

import (
	"context"
	"errors"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/idem"
)

// paymentScope is the idempotency scope of the calls on one payment: the
// keys of Pay, Capture, Cancel and Refund on a payment share it, so a key
// names one call whatever the operation.
func paymentScope(id string) string { return "checkout/" + id }

// outcomes records a call's refusal; its success is the payment, which the
// call loads as it stands, so nothing more is recorded of it.
var outcomes = idem.Outcomes[struct{}]{Errors: idem.Errors{idem.ErrorKind[Error]("checkout")}}

// record runs one caller's call on a payment in one unit of work, exactly
// once per key: with no record under call's key, do runs; its refusal (an
// *Error) is recorded instead of its effects, which are rolled back, and
// returned as refused; its success is recorded with its effects. With a
// record, a refusal is returned as it was, and a success runs replay, which
// loads the payment to drive. Any other error is the store's, and records
// nothing. replayed reports that a record answered the call.
func (s *Service) record(ctx context.Context, paymentID string, call idem.Call, do func(Tx, time.Time) error, replay func(Tx) error) (refused error, replayed bool, err error) {
	r := &recording{s: s, call: call, do: do, replay: replay} // one allocation for the call's state
	err = s.store.Update(ctx, r.first)
	if err == errRefused || errors.Is(err, errRefused) {
		// The refusal's effects are rolled back: record it on its own,
		// unless a concurrent call with the same key finished first.
		err = s.store.Update(ctx, r.recordRefusal)
	}
	if err != nil {
		return nil, false, err
	}
	if refused = r.refused; refused != nil && errors.Is(refused, giftkit.ErrIdempotencyConflict) && !errors.As(refused, new(*Error)) {
		refused = &Error{Op: call.Op, PaymentID: paymentID, Err: refused}
	}
	return refused, r.found, nil
}

// recording is the state of one record call.
type recording struct {
	s         *Service
	call      idem.Call
	do        func(Tx, time.Time) error
	replay    func(Tx) error
	refused   error
	firstSeen error // the refusal the first unit of work rolled back
	found     bool  // a record answered the call
}

// replayed answers from the record under the call's key, if there is one.
func (r *recording) replayed(tx Tx) (bool, error) {
	_, recorded, found, err := idem.Lookup(tx, r.call, outcomes)
	r.found = found
	if err != nil || !found {
		return false, err
	}
	if r.refused = recorded; r.refused != nil {
		return true, nil
	}
	return true, r.replay(tx)
}

// first is the call's unit of work: replay, or run and record a success.
func (r *recording) first(tx Tx) error {
	r.call.ReadAhead(tx)
	r.refused = nil
	now := r.s.cfg.Now()
	r.call.Now = now
	if found, err := r.replayed(tx); found || err != nil {
		return err
	}
	if err := r.do(tx, now); err != nil {
		if !isRefusal(err) {
			return err
		}
		r.refused, r.firstSeen = err, err
		return errRefused
	}
	return idem.Record(tx, r.call, outcomes, struct{}{}, nil)
}

// recordRefusal records the refusal the first unit rolled back.
func (r *recording) recordRefusal(tx Tx) error {
	if found, err := r.replayed(tx); found || err != nil {
		return err
	}
	r.refused = r.firstSeen
	return idem.Record(tx, r.call, outcomes, struct{}{}, r.firstSeen)
}

// isRefusal reports whether err is this package's refusal (an *Error).
func isRefusal(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

var errRefused = errors.New("checkout: refused")

// command runs a caller's request on a payment (see record), then drives the
// payment. decide is the request's transition: it returns the new payment
// and its effects on the balance, or a sentinel error, the refusal; it may
// read tx (and so sweep the accounts it reads), never change it otherwise.
func (s *Service) command(ctx context.Context, op, id string, amount giftkit.Money, key string,
	decide func(Tx, Payment, time.Time) (Payment, []effect, error)) (Payment, error) {
	if err := idem.CheckKey(key); err != nil {
		return Payment{}, &Error{Op: op, PaymentID: id, Amount: amount, Detail: err.Error(), Err: giftkit.ErrKeyRequired}
	}
	if err := checkCause(ctx); err != nil {
		return Payment{}, err
	}
	if !validID(id) {
		return Payment{}, &Error{Op: op, Amount: amount, Detail: "payment ID must be 1 to 128 bytes of UTF-8 without control characters", Err: ErrInvalidOrder}
	}
	call := idem.NewCall(paymentScope(id), key, time.Time{}, op, amount.String())
	var p Payment
	refused, _, err := s.record(ctx, id, call, func(tx Tx, now time.Time) error {
		got, err := loadPayment(tx, op, id)
		if err != nil {
			return err
		}
		next, effects, err := decide(tx, got, now)
		if err != nil {
			if isSentinel(err) {
				return &Error{Op: op, PaymentID: id, Amount: amount, State: got.State, Err: err}
			}
			return err
		}
		cause := causeOf(ctx, now)
		if err := s.apply(tx, next, effects, cause); err != nil {
			return err
		}
		next.UpdatedAt = now
		p, err = save(tx, got, next, cause)
		return err
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
