package checkout

import (
	"context"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// The saga. Each payment moves through its states one recorded step at a
// time. This file only decides which I/O the payment's state needs, makes
// the call, and applies the transition (payment.go, refund.go) that records
// the answer. A step that needs the processor calls it outside any unit of
// work, then records the answer in a unit of work that first checks the
// payment is still in the state the step started from: if a concurrent
// caller got there first, the step records nothing and the loop carries on
// from the state it finds. Processor calls carry keys derived from the
// payment (processorKey), so repeating a step repeats the call exactly,
// and the processor acts once.
//
// A payment the balance covers whole takes one unit of work (Pay holds,
// authorises and, with CaptureNow, captures at once). A split payment with
// CaptureNow takes three: one before the first processor call (the hold
// and the payment must exist for a crash after the call to be resumed),
// one to record the authorisation and take the balance part of the
// capture (a processor answer is recorded before the next call), and one
// to record the card capture. Fewer would leave a processor answer
// unrecorded when the next call is made.

// maxSteps bounds the loop: a payment reaches a waiting or final state in at
// most a handful of steps (pending, authorized, capturing, captured, plus
// refunds), so more means a bug, not progress.
const maxSteps = 64

// drive advances p until it waits for its caller (authorized, to be captured
// later) or for nothing (final, no refund outstanding), or until a processor
// call fails without an answer.
func (s *Service) drive(ctx context.Context, op string, p Payment) (Payment, error) {
	for range maxSteps {
		next, settled, err := s.advance(ctx, op, p)
		if err != nil || settled {
			return next, err
		}
		p = next
	}
	return p, &Error{Op: op, PaymentID: p.ID, State: p.State, Err: ErrInvalidState, Detail: "saga did not settle"}
}

// transition is a step's change to a payment, given the payment as stored.
type transition func(Payment, time.Time) (Payment, []effect)

// advance takes the one step p's state needs; settled reports that there is
// none, and err is then the outcome of op for the payment as it stands.
func (s *Service) advance(ctx context.Context, op string, p Payment) (next Payment, settled bool, err error) {
	now := s.cfg.Now()
	switch {
	case (p.State == StatePending || p.State == StateAuthorized) && p.lapsed(now):
		next, err = s.step(ctx, p, Payment.lapse)
	case p.State == StatePending && !p.Card.Planned.IsPositive():
		next, err = s.step(ctx, p, func(p Payment, now time.Time) (Payment, []effect) { return p.authorizedWithoutCard(now), nil })
	case p.State == StatePending:
		next, err = s.authorize(ctx, op, p)
	case p.State == StateAuthorized && p.CaptureWant.IsValid():
		next, err = s.step(ctx, p, Payment.captureBalance)
	case p.State == StateCapturing:
		next, err = s.captureCard(ctx, op, p)
	case p.State == StateUnwinding:
		next, err = s.unwindCard(ctx, op, p)
	case p.State == StateCaptured && p.hasPendingRefund():
		next, err = s.refundCard(ctx, op, p)
	default: // authorized, waiting for Capture or Cancel; or final
		return p, true, outcome(op, p)
	}
	return next, false, err
}

// authorize asks the processor to authorise the card part of a pending
// payment, and records the authorisation or the decline.
func (s *Service) authorize(ctx context.Context, op string, p Payment) (Payment, error) {
	authID, perr := s.proc.Authorize(ctx, p.Instrument, p.Card.Planned, processorKey(p, "authorize", ""))
	declined, reason, err := answered(op, p, perr)
	if err != nil {
		return p, err
	}
	return s.step(ctx, p, func(p Payment, now time.Time) (Payment, []effect) {
		if declined {
			return p.declined(reason, now)
		}
		// A capture already asked for (CaptureNow) takes the balance part
		// in this unit of work: there is no processor call in between.
		return p.authorized(authID, now).captureIfAsked(now)
	})
}

// captureCard asks the processor to capture the card part of a capture
// whose balance part is taken (or to void the authorisation when the
// balance covered it all), and records the answer.
func (s *Service) captureCard(ctx context.Context, op string, p Payment) (Payment, error) {
	var perr error
	if _, _, cardPart := p.captureSplit(p.CaptureWant); cardPart.IsPositive() {
		perr = s.proc.Capture(ctx, p.AuthID, cardPart, processorKey(p, "capture", ""))
	} else {
		perr = s.proc.Void(ctx, p.AuthID, processorKey(p, "void", ""))
	}
	declined, reason, err := answered(op, p, perr)
	if err != nil {
		return p, err
	}
	return s.step(ctx, p, func(p Payment, now time.Time) (Payment, []effect) {
		if declined {
			return p.cardCaptureDeclined(reason, now)
		}
		return p.cardCaptured(now), nil
	})
}

// unwindCard finishes undoing a payment on the card's side: it first learns
// whether an authorisation whose answer was lost exists (repeating the call
// with its key returns it, or its decline), then voids it.
func (s *Service) unwindCard(ctx context.Context, op string, p Payment) (Payment, error) {
	if p.AuthUnknown {
		authID, perr := s.proc.Authorize(ctx, p.Instrument, p.Card.Planned, processorKey(p, "authorize", ""))
		declined, _, err := answered(op, p, perr)
		if err != nil {
			return p, err
		}
		return s.step(ctx, p, func(p Payment, now time.Time) (Payment, []effect) {
			return p.authorizationFound(authID, !declined, now), nil
		})
	}
	if p.AuthID != "" {
		// A refused void means the authorisation is closed already.
		if _, _, err := answered(op, p, s.proc.Void(ctx, p.AuthID, processorKey(p, "void", ""))); err != nil {
			return p, err
		}
	}
	return s.step(ctx, p, func(p Payment, now time.Time) (Payment, []effect) { return p.unwound(now), nil })
}

// refundCard asks the processor to refund the card part of the first
// outstanding refund, and records the answer.
func (s *Service) refundCard(ctx context.Context, op string, p Payment) (Payment, error) {
	r, _ := p.pendingRefund()
	declined, reason, err := answered(op, p, s.proc.Refund(ctx, p.AuthID, r.Card, processorKey(p, "refund", r.Key)))
	if err != nil {
		return p, err
	}
	return s.step(ctx, p, func(p Payment, now time.Time) (Payment, []effect) {
		if declined {
			return p.cardRefundDeclined(r.Key, reason, now), nil
		}
		return p.cardRefunded(r.Key, now)
	})
}

// step applies t to the stored payment in one unit of work if the payment
// is still in p's state, with its effects on the balance, and returns the
// payment as stored afterwards.
func (s *Service) step(ctx context.Context, p Payment, t transition) (Payment, error) {
	var out Payment
	err := s.store.Update(ctx, func(tx Tx) error {
		cur, err := loadPayment(tx, "step", p.ID)
		if err != nil {
			return err
		}
		out = cur
		if cur.State != p.State {
			return nil // a concurrent caller took this step
		}
		now := s.cfg.Now()
		next, effects := t(cur, now)
		cause := causeOf(ctx, now)
		if err := s.apply(tx, next, effects, cause); err != nil {
			return err
		}
		next.UpdatedAt = now
		out, err = save(tx, cur, next, cause)
		return err
	})
	return out, err
}

// apply carries out a transition's effects on the accounts of the
// payment's gift tenders, in the unit of work that records the transition,
// for cause (whose key is each account's first effect's): one change per
// run of effects on one account. Transitions emit them grouped by tender
// (each gift card's, then the balance's), so that is one change per
// account touched.
func (s *Service) apply(tx Tx, p Payment, effects []effect, cause activity.Cause) error {
	for len(effects) > 0 {
		n := 1
		for n < len(effects) && effects[n].tender == effects[0].tender {
			n++
		}
		if err := s.applyOn(tx, p, effects[0].tender, effects[:n], cause); err != nil {
			return err
		}
		effects = effects[n:]
	}
	return nil
}

// owner returns the owner of the account of tender (see effect.tender).
func (p Payment) owner(tender int) string {
	if tender == 0 {
		return p.Owner
	}
	return giftcard.AccountOwner(p.Cards[tender-1].CardID)
}

// holdID returns the ID of the payment's hold on tender's account.
func (p Payment) holdID(tender int) string {
	if tender == 0 {
		return p.HoldID
	}
	return p.CardHoldID()
}

func (s *Service) applyOn(tx Tx, p Payment, tender int, effects []effect, cause activity.Cause) error {
	now := cause.At
	cause.Key = effects[0].key
	_, err := wallet.UpdateAccount(tx, wallet.Change{Owner: p.owner(tender), Currency: p.Total.Currency(), Reference: p.ID, Cause: cause},
		func(a wallet.Account) (wallet.Account, []wallet.Entry, error) {
			var all []wallet.Entry
			for _, e := range effects {
				var entries []wallet.Entry
				var err error
				if a, entries, err = e.on(a, p, now); err != nil {
					return a, nil, err
				}
				all = append(all, entries...)
			}
			return a, all, nil
		})
	return err
}

// causeOf is the cause of the changes a call made with ctx makes at now:
// the actor and reason ctx carries (checked when the call began, see
// checkCause). The key is the effect's.
func causeOf(ctx context.Context, now time.Time) activity.Cause {
	return activity.Cause{Actor: giftkit.ActorFrom(ctx), Reason: giftkit.ReasonFrom(ctx), At: now}
}

// checkCause refuses a call whose context carries an invalid actor or
// reason, before it changes anything.
func checkCause(ctx context.Context) error {
	_, err := activity.CauseFrom(ctx, "", time.Time{})
	return err
}

// on applies the effect to the account of its tender in payment p.
func (e effect) on(a wallet.Account, p Payment, now time.Time) (wallet.Account, []wallet.Entry, error) {
	var entry wallet.Entry
	var err error
	holdID := p.holdID(e.tender)
	switch {
	case e.op == releaseHold:
		if _, open := a.Hold(holdID); !open { // it lapsed and the wallet swept it
			return a, nil, nil
		}
		a, entry, err = a.Release(holdID, Placer, e.key, now)
	case e.op == captureHold && e.amount.IsPositive():
		return a.Capture(holdID, Placer, e.amount, e.key, now)
	case e.op == captureHold: // the capture takes nothing of this tender
		a, entry, err = a.Release(holdID, Placer, e.key, now)
	default:
		a, entry, err = a.Credit(wallet.CreditSpec{Kind: wallet.EntryRefund, Amount: e.amount, Source: p.ID, Reference: p.ID}, e.key, now)
	}
	return a, []wallet.Entry{entry}, err
}

// outcome is the error, if any, that a call reports for a payment that has
// settled. A failure is the outcome of the call during which it happened:
// Pay's if the payment failed before it was authorised (or at any step of a
// CaptureNow payment), Capture's if it failed afterwards. A payment that
// was paid and lapsed later does not make its Pay fail on retry; a
// cancelled payment is no call's failure.
func outcome(op string, p Payment) error {
	f := p.Failure
	if f.Kind != FailureDeclined && f.Kind != FailureExpired {
		return nil
	}
	inPay := f.At == StatePending || p.Mode == CaptureNow
	if !(op == "pay" && inPay) && !(op == "capture" && !inPay) {
		return nil
	}
	if f.Kind == FailureExpired {
		return &Error{Op: op, PaymentID: p.ID, Err: ErrExpired}
	}
	return &Error{Op: op, PaymentID: p.ID, Amount: p.Card.Planned, Detail: f.Reason, Err: ErrDeclined,
		Cause: &DeclineError{Reason: f.Reason}}
}
