package checkout

import (
	"context"
	"errors"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/idem"
	"github.com/giftkit/giftkit/wallet"
)

// The saga. Each payment moves through its states one recorded step at a
// time. A step that needs the processor calls it outside any unit of work,
// then records the answer in a unit of work that first checks the payment is
// still in the state the step started from: if a concurrent caller got there
// first, the step records nothing and the loop carries on from the state it
// finds. Processor calls carry keys derived from the payment, so repeating a
// step repeats the call exactly, and the processor acts once.

// processorKey is the idempotency key of one processor call of p: call is
// "authorize", "capture", "void" or "refund", and refundKey the caller's key
// of a refund (empty for the others). It is
//
//	<p.KeyPrefix>:<call>:<digest>
//
// where digest is the first 32 hex digits of the SHA-256 of the
// length-prefixed fields (p.KeyPrefix, p.ID, call, refundKey): injective in
// the payment ID and the caller's key, whatever bytes they hold, so no two
// calls of different payments share a key; and at most 63 bytes of
// [A-Za-z0-9._:-], within every processor's limit. The prefix is the one
// the payment was created under, so changing Config.ProcessorKeyPrefix
// never changes the keys of a payment in flight.
func processorKey(p Payment, call, refundKey string) string {
	return p.KeyPrefix + ":" + call + ":" + idem.Fingerprint(p.KeyPrefix, p.ID, call, refundKey)[:32]
}

// maxSteps bounds the loop: a payment reaches a waiting or final state in at
// most a handful of steps (pending, authorized, capturing, captured, plus
// refunds), so more means a bug, not progress.
const maxSteps = 64

// drive advances p until it waits for its caller (authorized, to be captured
// later) or for nothing (final, no refund outstanding), or until a processor
// call fails without an answer.
func (s *Service) drive(ctx context.Context, op string, p Payment) (Payment, error) {
	for range maxSteps {
		now := s.cfg.Now()
		var err error
		switch {
		case p.State == StatePending && !now.Before(p.ExpiresAt):
			p, err = s.step(ctx, p, StatePending, func(tx Tx, p *Payment, now time.Time) error {
				return s.expire(tx, p, "not authorised before the hold lapsed", now)
			})

		case p.State == StatePending && !p.Card.Planned.IsPositive():
			p, err = s.step(ctx, p, StatePending, func(_ Tx, p *Payment, _ time.Time) error {
				p.State, p.AuthUnknown = StateAuthorized, false
				return nil
			})

		case p.State == StatePending:
			authID, perr := s.proc.Authorize(ctx, p.Instrument, p.Card.Planned, processorKey(p, "authorize", ""))
			if perr, err = answered(op, p, perr); err != nil {
				return p, err
			}
			p, err = s.step(ctx, p, StatePending, func(tx Tx, p *Payment, now time.Time) error {
				p.AuthUnknown = false
				if perr != nil { // declined: nothing was authorised
					p.State, p.Failure, p.FailedWith, p.FailedAt = StateFailed, declineReason(perr), "declined", StatePending
					return s.releaseHold(tx, p, p.PayKey, now)
				}
				p.State, p.AuthID, p.Card.Authorized = StateAuthorized, authID, p.Card.Planned
				return nil
			})

		case p.State == StateAuthorized && !now.Before(p.ExpiresAt):
			p, err = s.step(ctx, p, StateAuthorized, func(tx Tx, p *Payment, now time.Time) error {
				return s.expire(tx, p, "not captured before the hold lapsed", now)
			})

		case p.State == StateAuthorized && p.CaptureWant.IsValid():
			p, err = s.step(ctx, p, StateAuthorized, s.captureBalance)

		case p.State == StateAuthorized:
			return p, nil // waiting for Capture or Cancel

		case p.State == StateCapturing:
			cardPart, _ := p.CaptureWant.Sub(p.Balance.Captured)
			var perr error
			if cardPart.IsPositive() {
				perr = s.proc.Capture(ctx, p.AuthID, cardPart, processorKey(p, "capture", ""))
			} else { // the balance covered the capture: the authorisation is not needed
				perr = s.proc.Void(ctx, p.AuthID, processorKey(p, "void", ""))
			}
			if perr, err = answered(op, p, perr); err != nil {
				return p, err
			}
			p, err = s.step(ctx, p, StateCapturing, func(tx Tx, p *Payment, now time.Time) error {
				if perr == nil {
					p.State = StateCaptured
					if cardPart.IsPositive() {
						p.Card.Captured = cardPart
					}
					return nil
				}
				// The card capture was refused: give the balance part back and
				// unwind, so the shopper is charged nothing.
				p.State, p.UnwindTo, p.Failure = StateUnwinding, StateFailed, declineReason(perr)
				p.FailedWith, p.FailedAt = "declined", StateCapturing
				return s.creditBalance(tx, p, p.Balance.Captured, "compensation", now)
			})

		case p.State == StateUnwinding && p.AuthUnknown:
			// An authorisation may exist that was never recorded: repeating the
			// call with its key returns it, or its decline.
			authID, perr := s.proc.Authorize(ctx, p.Instrument, p.Card.Planned, processorKey(p, "authorize", ""))
			if perr, err = answered(op, p, perr); err != nil {
				return p, err
			}
			p, err = s.step(ctx, p, StateUnwinding, func(_ Tx, p *Payment, _ time.Time) error {
				p.AuthUnknown = false
				if perr == nil {
					p.AuthID, p.Card.Authorized = authID, p.Card.Planned
				}
				return nil
			})

		case p.State == StateUnwinding:
			if p.AuthID != "" {
				// A refused void means the authorisation is closed already.
				if _, err := answered(op, p, s.proc.Void(ctx, p.AuthID, processorKey(p, "void", ""))); err != nil {
					return p, err
				}
			}
			p, err = s.step(ctx, p, StateUnwinding, func(_ Tx, p *Payment, _ time.Time) error {
				p.State = p.UnwindTo
				return nil
			})

		case p.State == StateCaptured && p.hasPendingRefund():
			r := p.pendingRefund()
			var perr error
			if perr, err = answered(op, p, s.proc.Refund(ctx, p.AuthID, r.Card, processorKey(p, "refund", r.Key))); err != nil {
				return p, err
			}
			p, err = s.step(ctx, p, StateCaptured, func(tx Tx, p *Payment, now time.Time) error {
				i := p.refundIndex(r.Key)
				if p.Refunds[i].Done {
					return nil
				}
				if perr != nil {
					// The card refund was refused: the refund fails whole.
					p.Refunds[i].Done, p.Refunds[i].Failed = true, declineReason(perr)
					return nil
				}
				p.Card.Refunded, _ = p.Card.Refunded.Add(r.Card)
				return s.settleRefund(tx, p, i, now)
			})

		default:
			return p, outcome(op, p)
		}
		if err != nil {
			return p, err
		}
	}
	return p, &Error{Op: op, PaymentID: p.ID, State: p.State, Err: ErrInvalidState, Detail: "saga did not settle"}
}

// step runs fn on the stored payment in one unit of work if the payment is
// still in state from, and returns the payment as stored afterwards.
func (s *Service) step(ctx context.Context, p Payment, from State, fn func(Tx, *Payment, time.Time) error) (Payment, error) {
	var out Payment
	err := s.store.Update(ctx, func(tx Tx) error {
		cur, err := loadPayment(tx, "step", p.ID)
		if err != nil {
			return err
		}
		out = cur
		if cur.State != from {
			return nil // a concurrent caller took this step
		}
		now := s.cfg.Now()
		if err := fn(tx, &out, now); err != nil {
			return err
		}
		out.UpdatedAt = now
		return tx.PutPayment(out)
	})
	return out, err
}

// expire unwinds an uncaptured payment whose hold has lapsed at now.
func (s *Service) expire(tx Tx, p *Payment, why string, now time.Time) error {
	p.FailedWith, p.FailedAt = "expired", p.State
	p.State, p.UnwindTo, p.Failure = StateUnwinding, StateExpired, why
	return s.releaseHold(tx, p, "", now)
}

// captureBalance is the capture step: the balance part of the capture is
// taken from the hold (the rest of the hold released), and the card part
// is left to the processor. Capturing the balance first, in the same unit of
// work that records the decision, means the hold can no longer lapse under a
// capture in progress. The decision and the capture are one instant, now: a
// payment whose hold has lapsed at now is expired instead, so a capture
// decided while the hold is live always finds it.
func (s *Service) captureBalance(tx Tx, p *Payment, now time.Time) error {
	if !now.Before(p.ExpiresAt) {
		return s.expire(tx, p, "not captured before the hold lapsed", now)
	}
	key := p.CaptureKey
	if key == "" {
		key = p.PayKey
	}
	fromBalance, _ := p.CaptureWant.Min(p.Balance.Authorized)
	if p.Balance.Authorized.IsPositive() {
		acct, entries, err := wallet.LoadAccount(tx, p.Owner, p.Total.Currency(), now)
		if err != nil {
			return err
		}
		var more []wallet.Entry
		if fromBalance.IsPositive() {
			acct, more, err = acct.Capture(p.HoldID, Placer, fromBalance, key, now)
		} else {
			var e wallet.Entry
			acct, e, err = acct.Release(p.HoldID, Placer, key, now)
			more = []wallet.Entry{e}
		}
		if err != nil {
			return err
		}
		if err := wallet.SaveAccount(tx, acct, append(entries, more...)); err != nil {
			return err
		}
	}
	p.Balance.Captured = fromBalance
	if p.AuthID == "" {
		p.State = StateCaptured
	} else {
		p.State = StateCapturing
	}
	return nil
}

// releaseHold releases the balance hold of an uncaptured payment. A hold the
// wallet already released (it lapsed and the account was swept) is fine.
func (s *Service) releaseHold(tx Tx, p *Payment, key string, now time.Time) error {
	if p.HoldID == "" || !p.Balance.Authorized.IsPositive() {
		return nil
	}
	acct, entries, err := wallet.LoadAccount(tx, p.Owner, p.Total.Currency(), now)
	if err != nil {
		return err
	}
	if _, held := acct.Hold(p.HoldID); held {
		var e wallet.Entry
		if acct, e, err = acct.Release(p.HoldID, Placer, key, now); err != nil {
			return err
		}
		entries = append(entries, e)
	}
	return wallet.SaveAccount(tx, acct, entries)
}

// creditBalance returns amount to the payment's owner as a refund entry.
func (s *Service) creditBalance(tx Tx, p *Payment, amount giftkit.Money, why string, now time.Time) error {
	if !amount.IsPositive() {
		return nil
	}
	acct, entries, err := wallet.LoadAccount(tx, p.Owner, amount.Currency(), now)
	if err != nil {
		return err
	}
	acct, e, err := acct.Credit(wallet.EntryRefund, p.ID, amount, time.Time{}, p.ID, why, now)
	if err != nil {
		return err
	}
	p.Balance.Refunded, _ = p.Balance.Refunded.Add(amount)
	return wallet.SaveAccount(tx, acct, append(entries, e))
}

// settleRefund credits the balance part of refund i and marks it done.
func (s *Service) settleRefund(tx Tx, p *Payment, i int, now time.Time) error {
	r := &p.Refunds[i]
	if err := s.creditBalance(tx, p, r.Balance, r.Key, now); err != nil {
		return err
	}
	r.Done = true
	return nil
}

// settleBalanceRefunds settles, in the unit of work that records them, the
// refunds that need no processor call.
func (s *Service) settleBalanceRefunds(tx Tx, p *Payment, now time.Time) error {
	for i, r := range p.Refunds {
		if !r.Done && !r.Card.IsPositive() {
			if err := s.settleRefund(tx, p, i, now); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p Payment) pendingRefund() Refund {
	for _, r := range p.Refunds {
		if !r.Done {
			return r
		}
	}
	return Refund{}
}

func (p Payment) refundIndex(key string) int {
	for i, r := range p.Refunds {
		if r.Key == key {
			return i
		}
	}
	return -1
}

func declineReason(err error) string {
	var d *DeclineError
	if errors.As(err, &d) {
		return d.Reason
	}
	return "declined"
}

func unavailable(op string, p Payment, cause error) error {
	return &Error{Op: op, PaymentID: p.ID, State: p.State, Err: ErrProcessorUnavailable, Cause: cause}
}

// answered sorts a processor call's result: nil or a decline is an answer,
// which the next step records; anything else leaves the outcome unknown,
// and drive stops with ErrProcessorUnavailable.
func answered(op string, p Payment, perr error) (declined error, stop error) {
	if perr != nil && !errors.Is(perr, ErrDeclined) {
		return nil, unavailable(op, p, perr)
	}
	return perr, nil
}

// outcome is the error, if any, that a call reports for a payment that has
// settled. A failure is the outcome of the call during which it happened:
// Pay's if the payment failed before it was authorised (or at any step of a
// CaptureNow payment), Capture's if it failed afterwards. A payment that
// was paid and lapsed later does not make its Pay fail on retry.
func outcome(op string, p Payment) error {
	if p.FailedWith == "" {
		return nil
	}
	inPay := p.FailedAt == StatePending || p.Mode == CaptureNow
	if !(op == "pay" && inPay) && !(op == "capture" && !inPay) {
		return nil
	}
	if p.FailedWith == "expired" {
		return &Error{Op: op, PaymentID: p.ID, Err: ErrExpired}
	}
	return &Error{Op: op, PaymentID: p.ID, Amount: p.Card.Planned, Detail: p.Failure, Err: ErrDeclined,
		Cause: &DeclineError{Reason: p.Failure}}
}
