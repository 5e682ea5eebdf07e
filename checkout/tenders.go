package checkout

import (
	"context"
	"errors"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/idem"
	"github.com/giftkit/giftkit/wallet"
)

// Gift cards given by code as tenders: reading the codes, counting them as
// guesses, and opening the payment with a hold on each card's account.

// readCodes reads the request's codes. A code that does not read is its
// *codefmt.ParseError (or an external code's error), before anything is
// looked up or counted.
func (s *Service) readCodes(req PayRequest) ([]giftcard.CodeRef, error) {
	if len(req.Codes) == 0 {
		return nil, nil
	}
	if s.cfg.Hasher == nil {
		return nil, &Error{Op: "pay", PaymentID: req.PaymentID, Err: ErrInvalidOrder, Detail: "this checkout takes no gift cards by code (Config.Hasher)"}
	}
	refs := make([]giftcard.CodeRef, len(req.Codes))
	for i, code := range req.Codes {
		ref, err := giftcard.ReadCode(s.cfg.Hasher, code, s.cfg.ExternalCodes)
		if err != nil {
			return nil, err
		}
		for _, prev := range refs[:i] {
			if prev.Hash == ref.Hash {
				return nil, &Error{Op: "pay", PaymentID: req.PaymentID, Err: ErrInvalidOrder, Detail: "gift card " + ref.Masked() + " is given twice"}
			}
		}
		refs[i] = ref
	}
	return refs, nil
}

// reserve counts a request with codes as an attempt with the limiter. A
// locked-out caller is refused with wallet.ErrTooManyAttempts, unless the
// call completed before (its outcome, a refusal too, is recorded under the
// key, or its payment exists): then it is replayed, uncounted.
func (s *Service) reserve(ctx context.Context, req PayRequest, keys Keys, call idem.Call) (wallet.Attempt, error) {
	if len(req.Codes) == 0 {
		return wallet.Attempt{}, nil
	}
	client := wallet.ClientFrom(ctx)
	attempt := wallet.Attempt{Owner: wallet.GuestOr(req.Owner, client), Client: client, At: s.cfg.Now()}
	ok, wait, err := s.cfg.Limiter.Reserve(ctx, attempt)
	if err != nil || ok {
		return attempt, err
	}
	if _, _, found, err := idem.Replay(ctx, s.store, call, outcomes); err != nil {
		return wallet.Attempt{}, err
	} else if found {
		return wallet.Attempt{}, nil // the call completed: replay it
	}
	if p, err := s.Payment(ctx, req.PaymentID); err == nil && p.Keys.Pay == keys.Pay && p.Keys.Fingerprint == keys.Fingerprint {
		return wallet.Attempt{}, nil
	}
	return wallet.Attempt{}, &wallet.Error{Op: "pay", Owner: req.Owner, RetryAfter: wait, Err: wallet.ErrTooManyAttempts}
}

// settle tells the limiter how the attempt ended: a card refused is a
// failed guess (not when replayed); anything else says nothing about guessing (a payment made
// with a valid card does not clear earlier failures, since the card could
// be used again between guesses).
func (s *Service) settle(ctx context.Context, attempt wallet.Attempt, refused error, replayed bool, err error) {
	if attempt.At.IsZero() {
		return
	}
	result := wallet.AttemptVoid
	if err == nil && !replayed && cardRefused(refused) {
		result = wallet.AttemptFailed
	}
	_ = s.cfg.Limiter.Settle(ctx, attempt, result)
}

func cardRefused(err error) bool {
	for _, e := range []error{giftcard.ErrNotRedeemable, giftcard.ErrAlreadyRedeemed, giftcard.ErrExpired, giftcard.ErrNoBalance,
		giftkit.ErrCurrencyMismatch} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refuseCard turns a card's refusal into the payment's.
func refuseCard(req PayRequest, masked string, err error) error {
	var ce *giftcard.Error
	if !errors.As(err, &ce) {
		return err
	}
	e := &Error{Op: "pay", PaymentID: req.PaymentID, Err: ce.Err, Detail: "gift card " + masked}
	if ce.Err == giftkit.ErrCurrencyMismatch {
		e.Detail += ": " + ce.Detail
	}
	return e
}

// openWithCards creates a payment that spends gift cards given by code:
// each card is opened (its value moved into its own account, once), the
// tenders are planned in the spending order, and each gift tender's part
// is held, all in the unit of work of the Pay call.
func (s *Service) openWithCards(tx Tx, req PayRequest, refs []giftcard.CodeRef, keys Keys, cause activity.Cause) (Payment, error) {
	now := cause.At
	cur := req.Total.Currency()
	if pc, ok := s.cfg.Programme.Currency(); ok && pc != cur {
		return Payment{}, &Error{Op: "pay", PaymentID: req.PaymentID, Amount: req.Total, Err: giftkit.ErrCurrencyMismatch,
			Detail: "the programme's gift cards are spent in " + pc.Code()}
	}
	funds := make([]CardFunds, 0, len(refs))
	found := make(map[string]giftcard.Card, len(refs))
	tenders := make(map[string]CardTender, len(refs))
	for _, ref := range refs {
		masked := ref.Masked()
		card, ok, err := tx.CardByHash(ref.Hash)
		if err != nil {
			return Payment{}, err
		}
		if !ok {
			return Payment{}, refuseCard(req, masked, &giftcard.Error{Err: giftcard.ErrNotRedeemable})
		}
		// Usable first: an unusable card is refused as an unknown code is,
		// whatever its currency.
		if err := wallet.Spendable(card, masked, now); err != nil {
			return Payment{}, refuseCard(req, masked, err)
		}
		f := CardFunds{CardID: card.ID, Available: card.Value, ExpiresAt: s.cfg.Programme.FundsExpiry(card.ExpiresAt, now)}
		if card.Opened() {
			// In the card's own currency, and blocked or not, before the
			// payment's currency is compared: a blocked card reads as an
			// unknown code whatever the order.
			acct, err := wallet.UpdateAccount(tx, wallet.Change{Owner: giftcard.AccountOwner(card.ID), Currency: card.Value.Currency(), Cause: activity.Sweep(now)}, nil)
			if err != nil {
				return Payment{}, err
			}
			if wallet.Blocked(acct) {
				return Payment{}, refuseCard(req, masked, &giftcard.Error{Err: giftcard.ErrNotRedeemable})
			}
			f.Available, f.ExpiresAt = acct.Available(), acct.NextLapse(now)
		}
		if card.Value.Currency() != cur {
			return Payment{}, &Error{Op: "pay", PaymentID: req.PaymentID, Amount: req.Total, Err: giftkit.ErrCurrencyMismatch,
				Detail: "gift card " + masked + " holds " + card.Value.Currency().Code()}
		}
		if !f.Available.IsPositive() {
			return Payment{}, refuseCard(req, masked, &giftcard.Error{Err: giftcard.ErrNoBalance})
		}
		funds = append(funds, f)
		found[card.ID] = card
		tenders[card.ID] = CardTender{CardID: card.ID, Masked: masked}
	}
	available := giftkit.Zero(cur)
	useBalance := req.Owner != "" && !req.SkipBalance
	if useBalance {
		acct, err := wallet.UpdateAccount(tx, wallet.Change{Owner: req.Owner, Currency: cur, Cause: activity.Sweep(now)}, nil)
		if err != nil {
			return Payment{}, err
		}
		available = acct.Available()
	}
	opts := PlanOptions{SkipBalance: !useBalance}
	if limit, ok := s.cfg.Programme.RemoteCap(cur); ok {
		opts.MaxFromCards = limit
	}
	split, ordered, err := PlanTenders(req.Total, available, funds, opts)
	if err != nil {
		return Payment{}, err
	}
	if split.Card.IsPositive() && req.Instrument == "" {
		return Payment{}, &Error{Op: "pay", PaymentID: req.PaymentID, Amount: split.Card, Err: ErrInstrumentRequired}
	}
	cards := make([]CardTender, len(ordered))
	for i, f := range ordered {
		cards[i] = tenders[f.CardID]
		if split.Cards[i].IsPositive() {
			// Only a card the payment spends moves its value into its own
			// account: one left out by the plan stays as it was.
			if _, err := wallet.OpenCard(tx, found[f.CardID], cards[i].Masked, s.cfg.Programme, cause); err != nil {
				return Payment{}, refuseCard(req, cards[i].Masked, err)
			}
		}
	}
	p := newPayment(req, split, cards, keys, now, now.Add(s.cfg.HoldFor))
	held := p
	var effects []effect
	if !split.Card.IsPositive() {
		// Nothing waits on the bank card: the payment is authorised, and
		// with CaptureNow captured, in this same unit of work, each
		// tender's capture in the change that places its hold.
		p, effects = p.authorizedWithoutCard(now).captureIfAsked(now)
	}
	for i, t := range held.Cards {
		if err := s.placeHold(tx, p, i+1, t.Planned, keys.Pay, cause, effects); err != nil {
			return Payment{}, err
		}
	}
	if held.HoldID != "" {
		if err := s.placeHold(tx, p, 0, held.Balance.Planned, keys.Pay, cause, effects); err != nil {
			return Payment{}, err
		}
	}
	return save(tx, Payment{}, p, cause)
}

// placeHold holds amount on tender's account for payment p and, in the
// same change, applies the effects of p's move that fall on that tender
// (its capture, when nothing waits on the bank card).
func (s *Service) placeHold(tx Tx, p Payment, tender int, amount giftkit.Money, key string, cause activity.Cause, effects []effect) error {
	_, err := wallet.UpdateAccount(tx, wallet.Change{Owner: p.owner(tender), Currency: p.Total.Currency(), Reference: p.ID, Cause: cause},
		func(a wallet.Account) (wallet.Account, []wallet.Entry, error) {
			a, hold, err := a.PlaceHold(wallet.HoldSpec{ID: p.holdID(tender), Placer: Placer, Amount: amount, Reference: p.ID,
				ExpiresAt: p.ExpiresAt}, key, cause.At)
			if err != nil {
				return a, nil, err
			}
			entries := []wallet.Entry{hold}
			for _, e := range effects {
				if e.tender != tender {
					continue
				}
				var more []wallet.Entry
				if a, more, err = e.on(a, p, cause.At); err != nil {
					return a, nil, err
				}
				entries = append(entries, more...)
			}
			return a, entries, nil
		})
	return err
}
