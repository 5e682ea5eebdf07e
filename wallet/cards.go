package wallet

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/bin"
	"github.com/giftkit/giftkit/internal/idem"
)

// Cards spent directly. A card's value lives in an account of its own
// (giftcard.AccountOwner), opened the first time the card is spent as a
// tender, reloaded or has value moved to or from it: the card is then
// redeemed into that account, once, as into a shopper's, and every wallet
// rule (lots, holds, expiry, journal, activity log) applies to its value
// unchanged. A shopper who later redeems such a card gets what is left on
// it, moved into their account.

// CardBalance is what a card holds at one moment.
type CardBalance struct {
	CardID     string           `json:"card_id"`              // the card
	Masked     string           `json:"masked"`               // its code, masked
	Currency   giftkit.Currency `json:"currency"`             // the currency of the amounts below
	Balance    giftkit.Money    `json:"balance"`              // all the value on the card
	Held       giftkit.Money    `json:"held"`                 // reserved for payments in progress
	Available  giftkit.Money    `json:"available"`            // Balance − Held: what can be spent
	ExpiresAt  time.Time        `json:"expires_at,omitzero"`  // the card's expiry; zero means never (value loaded later may expire otherwise)
	Opened     bool             `json:"opened,omitempty"`     // the card's value is in its own account
	NextLapse  time.Time        `json:"next_lapse,omitzero"`  // when the soonest of its available value lapses (Account.NextLapse); zero if never
	Programme  string           `json:"programme,omitempty"`  // the programme's name, if the service has one
	Imported   bool             `json:"imported,omitempty"`   // a card of another programme
	Disclosure string           `json:"disclosure,omitempty"` // the programme's disclosure of validity and fees, if any
}

// Spendable returns nil if card can be spent or checked: active and
// unexpired, or opened (its account's own expiry then applies). Otherwise
// it returns the refusal a shopper who typed the code (masked) sees: the
// same giftcard.ErrNotRedeemable for a pending, blocked or voided card as
// for an unknown code, giftcard.ErrExpired, or giftcard.ErrAlreadyRedeemed
// for a card redeemed into a shopper's account, none naming the card.
func Spendable(card giftcard.Card, masked string, now time.Time) error {
	switch {
	case card.Opened():
		return nil
	case card.State == giftcard.StateRedeemed:
		return &giftcard.Error{Op: "spend", Masked: masked, Err: giftcard.ErrAlreadyRedeemed}
	case card.State != giftcard.StateActive:
		return &giftcard.Error{Op: "spend", Masked: masked, Err: giftcard.ErrNotRedeemable}
	case card.Expired(now):
		return &giftcard.Error{Op: "spend", Masked: masked, Err: giftcard.ErrExpired}
	}
	return nil
}

// OpenCard moves the value of an active, unexpired card into its own
// account (see giftcard.AccountOwner) inside a unit of work, once: the card
// is redeemed into that account and credited as into a shopper's, with an
// activity record for each. A card already opened is returned as it is.
// The credit keeps the card's class, and its expiry moved as p says
// (Programme.FundsExpiry). It fails with the refusals of [Spendable], the
// programme's, and the store's errors.
func OpenCard(tx Tx, card giftcard.Card, masked string, p *giftcard.Programme, cause activity.Cause) (giftcard.Card, error) {
	now := cause.At
	if err := Spendable(card, masked, now); err != nil || card.Opened() {
		return card, err
	}
	owner := giftcard.AccountOwner(card.ID)
	redeemed, red, err := card.Redeem(owner, now)
	if err != nil {
		return card, err
	}
	credit := CreditSpec{Kind: EntryCredit, Class: red.Class, Amount: red.Amount, ExpiresAt: p.FundsExpiry(red.ExpiresAt, now),
		Source: card.ID, Reference: card.ID}
	if _, err := UpdateAccount(tx, Change{Owner: owner, Currency: red.Amount.Currency(), Kind: activity.KindCredit,
		Reference: card.ID, Cause: cause}, func(a Account) (Account, []Entry, error) {
		a, e, err := a.Credit(credit, cause.Key, now)
		return a, []Entry{e}, err
	}); err != nil {
		return card, err
	}
	redeemed, rec := giftcard.RecordChange(activity.KindRedeem, card, redeemed, owner, cause)
	if err := tx.PutCard(redeemed); err != nil {
		return card, err
	}
	return redeemed, tx.AppendActivity([]activity.Record{rec})
}

// cardBalance returns what card holds at cause.At, sweeping its account if
// it has one.
func (s *Service) cardBalance(tx Tx, card giftcard.Card, masked string, cause activity.Cause) (CardBalance, error) {
	if err := Spendable(card, masked, cause.At); err != nil {
		return CardBalance{}, err
	}
	out := s.cardHeader(card)
	if !card.Opened() {
		return onCard(out, card.Value), nil
	}
	acct, err := UpdateAccount(tx, Change{Owner: giftcard.AccountOwner(card.ID), Currency: out.Currency, Cause: activity.Sweep(cause.At)}, nil)
	if err != nil {
		return CardBalance{}, err
	}
	if Blocked(acct) {
		return CardBalance{}, blockedRefusal("check_balance", masked)
	}
	return fillCardBalance(out, acct, cause.At), nil
}

// cardHeader is what a CardBalance says of card itself, before its amounts.
func (s *Service) cardHeader(card giftcard.Card) CardBalance {
	out := CardBalance{CardID: card.ID, Masked: card.Masked(), Currency: card.Value.Currency(), ExpiresAt: card.ExpiresAt,
		Opened: card.Opened(), Imported: card.Imported}
	if p := s.cfg.Programme; p != nil {
		out.Programme, out.Disclosure = p.Name, p.Disclosure
	}
	return out
}

// onCard fills out with value, the value of a card not yet opened.
func onCard(out CardBalance, value giftkit.Money) CardBalance {
	out.Balance, out.Available, out.Held = value, value, giftkit.Zero(value.Currency())
	out.NextLapse = out.ExpiresAt
	return out
}

// fillCardBalance fills out with the amounts of a card's account a at
// now, and when its available value next lapses (Account.NextLapse, the
// rule checkout's spending order uses).
func fillCardBalance(out CardBalance, a Account, now time.Time) CardBalance {
	out.Balance, out.Held, out.Available = a.Balance(), a.Held(), a.Available()
	out.NextLapse = a.NextLapse(now)
	return out
}

// CheckBalance returns what the card with code holds, without redeeming
// or spending anything: for a shopper at a till or on a "check your gift
// card" page. It is rate limited through Config.Limiter as redemption is,
// per owner and per client; a guest (owner empty) is counted per client
// (pass the guest's address with WithClient: guests without one share a
// single count, which fails closed; see [GuestOr]). Every check that finds
// no usable card counts as a failed guess, and a lockout refuses checks
// and redemptions alike. A check that finds a card does not clear earlier
// failures (a valid card could otherwise be checked between guesses).
//
// A typo in a native code never counts: the code's check characters catch
// it (*codefmt.ParseError, naming the wrong character) before anything is
// looked up, so a shopper who mistypes is told so and a guesser learns
// nothing. An imported code has no check characters, so with
// Config.ExternalCodes set a mistyped imported code is a miss, and counts. The refusals are the redemption's, alike for unknown, pending,
// blocked and voided cards (giftcard.ErrNotRedeemable), plus
// giftcard.ErrExpired and giftcard.ErrAlreadyRedeemed (redeemed into an
// account), none naming the card.
func (s *Service) CheckBalance(ctx context.Context, owner, code string) (_ CardBalance, err error) {
	ctx, span := s.obs.BeginWith(ctx, "wallet.check_balance", maskedCode(&s.obs, code))
	defer span.End(&err)
	if owner != "" && !validOwner(owner) {
		return CardBalance{}, &Error{Op: "check_balance", Owner: owner, Err: ErrInvalidOwner}
	}
	ref, err := giftcard.ReadCode(s.cfg.Hasher, code, s.cfg.ExternalCodes)
	if err != nil {
		return CardBalance{}, err
	}
	now := s.cfg.Now()
	attempt := Attempt{Owner: GuestOr(owner, clientOf(ctx)), Client: clientOf(ctx), At: now}
	ok, wait, err := s.cfg.Limiter.Reserve(ctx, attempt)
	if err != nil {
		return CardBalance{}, err
	}
	if !ok {
		return CardBalance{}, &Error{Op: "check_balance", Owner: owner, RetryAfter: wait, Err: ErrTooManyAttempts}
	}
	var out CardBalance
	err = s.store.Update(ctx, func(tx Tx) error {
		card, found, err := tx.CardByHash(ref.Hash)
		if err != nil {
			return err
		}
		if !found {
			return &giftcard.Error{Op: "check_balance", Masked: ref.Masked(), Err: giftcard.ErrNotRedeemable}
		}
		out, err = s.cardBalance(tx, card, ref.Masked(), activity.Sweep(now))
		return err
	})
	result := AttemptVoid // a card found clears nothing: see above
	if guessed(err) {
		result = AttemptFailed
	}
	_ = s.cfg.Limiter.Settle(ctx, attempt, result)
	var ce *giftcard.Error
	if errors.As(err, &ce) {
		ce.Op = "check_balance"
	}
	return out, err
}

// GuestOr returns owner, or for a guest (owner empty) the name the limiter
// counts a guest's attempts under: one per client (see WithClient), so that
// no guest's failures lock out another's, and one for every guest without
// a client, which fails closed. The names begin with a NUL byte, which no
// owner can hold, so no shopper shares a guest's count.
func GuestOr(owner, client string) string {
	if owner != "" {
		return owner
	}
	return "\x00guest:" + client
}

// CardFunds returns what the card with the given ID holds, for operators
// and the host's own pages (no limiter: the caller knows the card). It
// fails with giftcard.ErrNotFound for an unknown card and the refusals of
// [Spendable]; a blocked card (see [Service.BlockCard]) is refused as by
// CheckBalance, giftcard.ErrNotRedeemable.
func (s *Service) CardFunds(ctx context.Context, cardID string) (_ CardBalance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.card_funds")
	defer span.End(&err)
	var out CardBalance
	err = s.store.Update(ctx, func(tx Tx) error {
		card, err := cardByID(tx, "card_funds", cardID)
		if err != nil {
			return err
		}
		out, err = s.cardBalance(tx, card, card.Masked(), activity.Sweep(s.cfg.Now()))
		return err
	})
	return out, err
}

func cardByID(tx Tx, op, id string) (giftcard.Card, error) {
	if !idem.ValidText(id, 128) || id == "" {
		return giftcard.Card{}, &giftcard.Error{Op: op, CardID: id, Err: giftcard.ErrNotFound}
	}
	card, found, err := tx.CardByID(id)
	if err != nil {
		return giftcard.Card{}, err
	}
	if !found {
		return giftcard.Card{}, &giftcard.Error{Op: op, CardID: id, Err: giftcard.ErrNotFound}
	}
	return card, nil
}

// Load adds amount, bought by the shopper, to owner's account: a credit of
// purchased value that never expires, with an EntryLoad entry. It fails with giftcard.ErrProgrammeLimit (the
// account would hold more than Programme.MaxAccountBalance),
// [ErrInvalidAmount], giftkit.ErrCurrencyMismatch, or a key, owner or
// reference error. A retry with the same key returns the first outcome.
func (s *Service) Load(ctx context.Context, owner string, amount giftkit.Money, reference, key string) (_ Balance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.load")
	defer span.End(&err)
	return change(ctx, s, balanceOutcomes, op{"load", activity.KindLoad, reference}, owner, amount.Currency(), key,
		[]string{amount.String(), reference},
		func(a Account, now time.Time) (Account, []Entry, Balance, error) {
			a, entries, err := s.load(a, amount, time.Time{}, reference, key, now)
			if err == nil {
				err = s.ruleError("load", owner, s.cfg.Programme.CheckAccountBalance(a.Balance()))
			}
			return a, entries, balanceOf(a), err
		})
}

// extendOnLoad pushes the validity of the value already on a out, as a
// load at now does under a programme whose validity counts from the last
// load; otherwise it returns a as it is.
func (s *Service) extendOnLoad(a Account, now time.Time) Account {
	if p := s.cfg.Programme; p.LoadsExtendValidity() {
		return a.Extend(p.LoadExpiry(now))
	}
	return a
}

// load credits amount as loaded value expiring at exp (zero: never),
// pushing the validity of what is already there out when the programme
// counts validity from the last load.
func (s *Service) load(a Account, amount giftkit.Money, exp time.Time, reference, key string, now time.Time) (Account, []Entry, error) {
	a = s.extendOnLoad(a, now)
	a, e, err := a.Credit(CreditSpec{Kind: EntryLoad, Class: giftkit.ClassPurchased, Amount: amount, ExpiresAt: exp,
		Source: reference, Reference: reference}, key, now)
	return a, []Entry{e}, err
}

// ruleError puts a programme's refusal into an *Error, which a retry
// replays; nil stays nil.
func (s *Service) ruleError(op, owner string, err error) error {
	if err == nil {
		return nil
	}
	var re *giftcard.RuleError
	if !errors.As(err, &re) {
		return err
	}
	return &Error{Op: op, Owner: owner, Amount: re.Would, Err: re.Err, Detail: re.Error()}
}

// Reload adds amount, bought by the card's holder, to the card with the
// given ID, opening its account first if it has none (see [OpenCard]). The
// programme must allow reloads (Programme.Reloadable), and the card's
// balance and its loads this calendar month stay within the programme's
// maxima. It fails with giftcard.ErrProgrammeLimit, giftcard.ErrNotFound,
// the refusals of [Spendable], giftcard.ErrExpired (a card past its own
// expiry takes no more value), [ErrInvalidAmount],
// giftkit.ErrCurrencyMismatch, or a key or reference error. A retry with
// the same key returns the first outcome.
func (s *Service) Reload(ctx context.Context, cardID string, amount giftkit.Money, reference, key string) (_ CardBalance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.reload")
	defer span.End(&err)
	if err := s.ruleError("reload", "", s.cfg.Programme.CheckReloadable()); err != nil {
		return CardBalance{}, err
	}
	return s.cardChange(ctx, "reload", key, []string{cardID, amount.String(), reference}, amount,
		func(tx Tx, cause activity.Cause) (CardBalance, error) {
			card, err := s.openByID(tx, "reload", cardID, cause)
			if err != nil {
				return CardBalance{}, err
			}
			if err := receives("reload", card, cause.At); err != nil {
				return CardBalance{}, err
			}
			if err := checkCurrency("reload", card, amount); err != nil {
				return CardBalance{}, err
			}
			owner := giftcard.AccountOwner(card.ID)
			if err := s.checkMonthlyLoad(tx, "reload", owner, amount, cause.At); err != nil {
				return CardBalance{}, err
			}
			exp := s.cfg.Programme.FundsExpiry(card.ExpiresAt, cause.At)
			acct, err := UpdateAccount(tx, Change{Owner: owner, Currency: amount.Currency(), Kind: activity.KindLoad,
				Reference: reference, Cause: cause}, func(a Account) (Account, []Entry, error) {
				a, entries, err := s.load(a, amount, exp, reference, cause.Key, cause.At)
				if err == nil {
					err = s.ruleError("reload", "", s.cfg.Programme.CheckCardBalance(a.Balance()))
				}
				return a, entries, err
			})
			if err != nil {
				return CardBalance{}, err
			}
			return s.balanceOfCard(card, acct, cause.At), nil
		})
}

// balanceOfCard is what an opened card holds: its account a.
func (s *Service) balanceOfCard(card giftcard.Card, a Account, now time.Time) CardBalance {
	return fillCardBalance(s.cardHeader(card), a, now)
}

func checkCurrency(op string, card giftcard.Card, amount giftkit.Money) error {
	if !amount.IsValid() || !amount.IsPositive() {
		return &Error{Op: op, Amount: amount, Err: ErrInvalidAmount, Detail: "the amount must be positive"}
	}
	if amount.Currency() != card.Value.Currency() {
		return &Error{Op: op, Amount: amount, Currency: card.Value.Currency(), Err: giftkit.ErrCurrencyMismatch,
			Detail: "the card holds " + card.Value.Currency().Code()}
	}
	return nil
}

// receives refuses value loaded or moved onto a card past its own expiry:
// what is on it may still be spendable (its account's lots keep their own
// expiries), but the card takes no more.
func receives(op string, card giftcard.Card, now time.Time) error {
	if card.Expired(now) {
		return &giftcard.Error{Op: op, CardID: card.ID, Masked: card.Masked(), Err: giftcard.ErrExpired,
			Detail: "the card takes no more value after its expiry"}
	}
	return nil
}

// openByID reads a card and opens its account (see OpenCard).
func (s *Service) openByID(tx Tx, op, id string, cause activity.Cause) (giftcard.Card, error) {
	card, err := cardByID(tx, op, id)
	if err != nil {
		return card, err
	}
	if !s.accepts(card.Value.Currency()) {
		return card, &giftcard.Error{Op: op, CardID: id, Err: giftkit.ErrCurrencyMismatch, Detail: "this wallet does not hold " + card.Value.Currency().Code()}
	}
	wasOpened := card.Opened()
	card, err = OpenCard(tx, card, card.Masked(), s.cfg.Programme, cause)
	if err == nil && wasOpened {
		// Only an account opened before can carry a block; the caller's own
		// change sweeps it. A block never lapses, so reading is enough.
		acct, found, rerr := tx.Account(giftcard.AccountOwner(card.ID), card.Value.Currency())
		if err = rerr; err == nil && found && Blocked(acct) {
			err = blockedRefusal(op, card.Masked())
		}
	}
	var ce *giftcard.Error
	if errors.As(err, &ce) && ce.CardID == "" {
		ce.Op, ce.CardID = op, id // an operator's call names the card it was given
	}
	return card, err
}

// checkMonthlyLoad refuses a load of amount onto the card account owner
// that would take its loads (and transfers in) this calendar month above
// the programme's maximum. It reads the month's journal.
func (s *Service) checkMonthlyLoad(tx Tx, op, owner string, amount giftkit.Money, now time.Time) error {
	p := s.cfg.Programme
	if p == nil || p.MaxLoadPerMonth == (giftkit.Money{}) {
		return nil
	}
	since := p.MonthOf(now)
	total := amount
	if err := p.CheckMonthlyLoad(total); err != nil { // alone above the limit: nothing to add up
		return s.ruleError(op, "", err)
	}
	err := eachEntry(tx, owner, amount.Currency(), func(e Entry) error {
		if (e.Kind == EntryLoad || (e.Kind == EntryTransfer && e.Amount.IsPositive())) && !e.At.Before(since) {
			var err error
			if total, err = total.Add(e.Amount); err != nil { // an overflow is far above any limit
				return &Error{Op: op, Amount: amount, Err: giftcard.ErrProgrammeLimit, Detail: "the month's loads overflow"}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.ruleError(op, "", p.CheckMonthlyLoad(total))
}

// eachEntry calls fn with every entry of an account's journal, in order,
// a page at a time, and stops at fn's first error.
func eachEntry(tx Tx, owner string, c giftkit.Currency, fn func(Entry) error) error {
	for after := int64(0); ; {
		entries, err := tx.Entries(owner, c, after, MaxPageSize)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(entries) < MaxPageSize {
			return nil
		}
		after = entries[len(entries)-1].Seq
	}
}

// Transferred is the outcome of a transfer between cards.
type Transferred struct {
	Amount giftkit.Money `json:"amount"` // what moved
	From   CardBalance   `json:"from"`   // the card it left, after
	To     CardBalance   `json:"to"`     // the card it reached, after
}

// Transfer moves amount of one card's available balance to another card
// (Square's TRANSFER_BALANCE_FROM/TO), opening either's account if it has
// none, in one unit of work. The value keeps its class and its expiry
// (pushed out as a load's when the programme counts validity from the last
// load). The receiving card counts it as a load: the programme must allow
// reloads, and its maxima hold. It fails with giftcard.ErrNoBalance or
// [ErrInsufficientFunds] (less available than amount), giftcard.ErrNotFound,
// the refusals of [Spendable], giftcard.ErrProgrammeLimit,
// giftkit.ErrCurrencyMismatch (cards in two currencies), [ErrInvalidAmount]
// (also for a card moved to itself), or a key error. A retry with the same
// key returns the first outcome. The host authorises the caller: whoever
// may move value between two cards.
func (s *Service) Transfer(ctx context.Context, fromCardID, toCardID string, amount giftkit.Money, key string) (_ Transferred, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.transfer")
	defer span.End(&err)
	return s.transfer(ctx, "transfer", fromCardID, toCardID, amount, key)
}

// Merge moves everything available on one card to another (Adyen's
// mergeBalance): [Service.Transfer] of the whole available balance. What
// holds reserve on the first card stays with it until its payment settles.
func (s *Service) Merge(ctx context.Context, fromCardID, toCardID, key string) (_ Transferred, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.merge")
	defer span.End(&err)
	return s.transfer(ctx, "merge", fromCardID, toCardID, giftkit.Money{}, key)
}

func (s *Service) transfer(ctx context.Context, op, fromID, toID string, amount giftkit.Money, key string) (Transferred, error) {
	all := amount == (giftkit.Money{})
	if fromID == toID {
		return Transferred{}, &Error{Op: op, Amount: amount, Err: ErrInvalidAmount, Detail: "a card cannot receive its own value"}
	}
	if err := s.ruleError(op, "", s.cfg.Programme.CheckReloadable()); err != nil {
		return Transferred{}, err
	}
	if !all && (!amount.IsValid() || !amount.IsPositive()) {
		return Transferred{}, &Error{Op: op, Amount: amount, Err: ErrInvalidAmount, Detail: "the amount must be positive"}
	}
	return s.cardTransfer(ctx, op, key, []string{fromID, toID, amount.String()}, amount,
		func(tx Tx, cause activity.Cause) (Transferred, error) {
			from, err := s.openByID(tx, op, fromID, cause)
			if err != nil {
				return Transferred{}, err
			}
			to, err := s.openByID(tx, op, toID, cause)
			if err != nil {
				return Transferred{}, err
			}
			if err := receives(op, to, cause.At); err != nil {
				return Transferred{}, err
			}
			cur := from.Value.Currency()
			if to.Value.Currency() != cur {
				return Transferred{}, &Error{Op: op, Currency: cur, Err: giftkit.ErrCurrencyMismatch,
					Detail: "the cards hold " + cur.Code() + " and " + to.Value.Currency().Code()}
			}
			want := amount
			if all {
				want = giftkit.FromMinor(math.MaxInt64, cur) // everything available, taken partially
			} else if err := checkCurrency(op, from, amount); err != nil {
				return Transferred{}, err
			}
			var parcels []Parcel
			var moved giftkit.Money
			fromAcct, err := UpdateAccount(tx, Change{Owner: giftcard.AccountOwner(from.ID), Currency: cur, Kind: activity.KindTransfer,
				Reference: to.ID, Cause: cause}, func(a Account) (Account, []Entry, error) {
				a, entries, ps, err := a.TransferOut(want, all, giftcard.AccountOwner(to.ID), cause.Key, cause.At)
				parcels = ps
				for _, p := range ps {
					moved = giftkit.FromMinor(moved.Minor()+p.Amount.Minor(), cur)
				}
				return a, entries, err
			})
			if err != nil {
				return Transferred{}, err
			}
			if len(parcels) == 0 {
				return Transferred{}, &giftcard.Error{Op: op, CardID: from.ID, Masked: from.Masked(), Err: giftcard.ErrNoBalance}
			}
			toOwner := giftcard.AccountOwner(to.ID)
			if err := s.checkMonthlyLoad(tx, op, toOwner, moved, cause.At); err != nil {
				return Transferred{}, err
			}
			toAcct, err := UpdateAccount(tx, Change{Owner: toOwner, Currency: cur, Kind: activity.KindTransfer,
				Reference: from.ID, Cause: cause}, func(a Account) (Account, []Entry, error) {
				a = s.extendOnLoad(a, cause.At)
				a, entries, err := a.TransferIn(parcels, func(t time.Time) time.Time { return s.cfg.Programme.FundsExpiry(t, cause.At) },
					from.ID, from.ID, cause.Key, cause.At)
				if err == nil {
					err = s.ruleError(op, "", s.cfg.Programme.CheckCardBalance(a.Balance()))
				}
				return a, entries, err
			})
			if err != nil {
				return Transferred{}, err
			}
			return Transferred{Amount: moved, From: s.balanceOfCard(from, fromAcct, cause.At), To: s.balanceOfCard(to, toAcct, cause.At)}, nil
		})
}

// cardChange runs an idempotent change to one card's account under key in
// the scope of card operations.
func (s *Service) cardChange(ctx context.Context, op, key string, request []string, amount giftkit.Money,
	do func(Tx, activity.Cause) (CardBalance, error)) (CardBalance, error) {
	return cardCall(ctx, s, cardBalanceOutcomes, op, key, request, amount, do)
}

func (s *Service) cardTransfer(ctx context.Context, op, key string, request []string, amount giftkit.Money,
	do func(Tx, activity.Cause) (Transferred, error)) (Transferred, error) {
	return cardCall(ctx, s, transferredOutcomes, op, key, request, amount, do)
}

func cardCall[R any](ctx context.Context, s *Service, o idem.Outcomes[R], op, key string, request []string, amount giftkit.Money,
	do func(Tx, activity.Cause) (R, error)) (R, error) {
	var zero R
	if err := idem.CheckKey(key); err != nil {
		return zero, &Error{Op: op, Amount: amount, Detail: err.Error(), Err: giftkit.ErrKeyRequired}
	}
	for _, field := range request {
		if !idem.ValidText(field, MaxReferenceLen) {
			return zero, &Error{Op: op, Err: ErrInvalidReference, Detail: "a card ID or reference is not 1 to 255 bytes of UTF-8 without control characters"}
		}
	}
	if amount.IsValid() && !s.accepts(amount.Currency()) {
		return zero, &Error{Op: op, Currency: amount.Currency(), Err: giftkit.ErrCurrencyMismatch, Detail: "this wallet does not hold " + amount.Currency().Code()}
	}
	now := s.cfg.Now()
	cause, err := activity.CauseFrom(ctx, key, now)
	if err != nil {
		return zero, err
	}
	call := idem.NewCall("wallet/cards", key, now, op, request...)
	res, err := idem.Do(ctx, s.store, call, o, func(tx Tx) (R, error) { return do(tx, cause) })
	return res.Value, wrapConflict(op, "", err)
}

var (
	cardBalanceOutcomes = idem.Outcomes[CardBalance]{Append: appendCardBalance, Read: readCardBalance, Errors: replayable}
	transferredOutcomes = idem.Outcomes[Transferred]{Append: appendTransferred, Read: readTransferred, Errors: replayable}
)

func appendCardBalance(b []byte, c CardBalance) []byte {
	b = bin.String(b, c.CardID)
	b = bin.String(b, c.Masked)
	b = bin.Currency(b, c.Currency)
	b = bin.Money(b, c.Balance)
	b = bin.Money(b, c.Held)
	b = bin.Money(b, c.Available)
	b = bin.Time(b, c.ExpiresAt)
	b = bin.Bool(b, c.Opened)
	b = bin.Time(b, c.NextLapse)
	b = bin.String(b, c.Programme)
	b = bin.Bool(b, c.Imported)
	return bin.String(b, c.Disclosure)
}

func readCardBalance(r *bin.Reader) CardBalance {
	c := CardBalance{CardID: r.String(), Masked: r.String(), Currency: r.Currency()}
	c.Balance, c.Held, c.Available = r.Money(), r.Money(), r.Money()
	c.ExpiresAt, c.Opened, c.NextLapse = r.Time(), r.Bool(), r.Time()
	c.Programme, c.Imported, c.Disclosure = r.String(), r.Bool(), r.String()
	return c
}

func appendTransferred(b []byte, t Transferred) []byte {
	b = bin.Money(b, t.Amount)
	b = appendCardBalance(b, t.From)
	return appendCardBalance(b, t.To)
}

func readTransferred(r *bin.Reader) Transferred {
	return Transferred{Amount: r.Money(), From: readCardBalance(r), To: readCardBalance(r)}
}

// AdjustCard changes what a card holds by delta, up or down, as an
// operator's correction, whichever kind of card it is: a card whose value is
// still on it has its value changed (giftcard.Card.Adjust; a card can also
// be adjusted so by giftcard.Service.Adjust); a card spent directly has its
// account adjusted as [Service.Adjust] adjusts a shopper's (up: a credit of
// class adjustment that never expires; down: taken from the available
// value, never below zero or from what holds reserve). The programme's
// MaxCardBalance holds. The call's context must carry an operator and a
// reason, which the activity record keeps. It fails with
// activity.ErrInvalidActor, giftcard.ErrNotFound,
// giftcard.ErrInvalidTransition (a card redeemed into a shopper's account,
// or voided), giftcard.ErrInvalidRequest (a card's value would not stay
// positive), [ErrInsufficientFunds], [ErrInvalidAmount] (a zero delta),
// giftcard.ErrProgrammeLimit, giftkit.ErrCurrencyMismatch, or a key error.
// A retry with the same key returns the first outcome.
func (s *Service) AdjustCard(ctx context.Context, cardID string, delta giftkit.Money, reference, key string) (_ CardBalance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.adjust_card")
	defer span.End(&err)
	if err := giftcard.OperatorCall(ctx); err != nil {
		return CardBalance{}, err
	}
	if !delta.IsValid() || delta.IsZero() {
		return CardBalance{}, &Error{Op: "adjust_card", Amount: delta, Err: ErrInvalidAmount, Detail: "the adjustment must be non-zero"}
	}
	return s.cardChange(ctx, "adjust_card", key, []string{cardID, delta.String(), reference}, delta,
		func(tx Tx, cause activity.Cause) (CardBalance, error) {
			card, err := cardByID(tx, "adjust_card", cardID)
			if err != nil {
				return CardBalance{}, err
			}
			if card.Value.Currency() != delta.Currency() {
				return CardBalance{}, &Error{Op: "adjust_card", Amount: delta, Currency: card.Value.Currency(), Err: giftkit.ErrCurrencyMismatch,
					Detail: "the card holds " + card.Value.Currency().Code()}
			}
			out := s.cardHeader(card)
			if !card.Opened() {
				next, err := card.Adjust(delta, cause.At)
				if err != nil {
					return CardBalance{}, err
				}
				if err := s.ruleError("adjust_card", "", s.cfg.Programme.CheckCardBalance(next.Value)); err != nil {
					return CardBalance{}, err
				}
				next, rec := giftcard.RecordChange(activity.KindAdjust, card, next, reference, cause)
				if err := tx.PutCard(next); err != nil {
					return CardBalance{}, err
				}
				return onCard(out, next.Value), tx.AppendActivity([]activity.Record{rec})
			}
			acct, err := UpdateAccount(tx, Change{Owner: giftcard.AccountOwner(card.ID), Currency: delta.Currency(), Kind: activity.KindAdjust,
				Reference: reference, Cause: cause}, func(a Account) (Account, []Entry, error) {
				if !delta.IsNegative() {
					a, e, err := a.Credit(CreditSpec{Kind: EntryAdjustment, Amount: delta, Source: reference, Reference: reference}, cause.Key, cause.At)
					if err == nil {
						err = s.ruleError("adjust_card", "", s.cfg.Programme.CheckCardBalance(a.Balance()))
					}
					return a, []Entry{e}, err
				}
				down, _ := delta.Neg()
				a, entries, _, err := a.Take(TakeSpec{Kind: EntryAdjustment, Amount: down, Reference: reference}, cause.Key, cause.At)
				return a, entries, err
			})
			if err != nil {
				return CardBalance{}, err
			}
			return fillCardBalance(out, acct, cause.At), nil
		})
}
