package wallet

import (
	"context"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
)

// This file is the one place a dormancy fee is charged. A fee exists only
// when the Programme names one (giftcard.DormancyFee), and Validate has
// already refused one on any value class the rules exempt.

// ChargeDormancyFee charges the programme's dormancy fee to the card with
// the given ID (its account is opened first if it has none), if the card
// has seen no activity of its holder for the fee's After, and no fee for
// its Every. The fee is taken only from value of the fee's classes, never
// below zero and never from what holds reserve: it takes what there is, up
// to the fee. It returns the card's balance after.
//
// Holder activity is any journal entry made by a call (one with a key),
// except a fee and the move of the card's value into its account; before
// any, the card's sale. The system's sweeps do not count. It fails with
// giftcard.ErrProgrammeLimit (no fee in the programme; the card is not
// dormant yet; a fee charged too recently), giftcard.ErrNoBalance (nothing
// of the fee's classes is available), giftcard.ErrNotFound, or a key
// error. A retry with the same key returns the first outcome. Run it from
// the host's periodic job; it charges what the rules allow and nothing
// else.
func (s *Service) ChargeDormancyFee(ctx context.Context, cardID, key string) (_ CardBalance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.charge_dormancy_fee")
	defer span.End(&err)
	p := s.cfg.Programme
	if p == nil || p.Fee == nil {
		return CardBalance{}, &Error{Op: "fee", Err: giftcard.ErrProgrammeLimit, Detail: "the programme charges no dormancy fee"}
	}
	fee := p.Fee
	return s.cardChange(ctx, "fee", key, []string{cardID}, fee.Amount, func(tx Tx, cause activity.Cause) (CardBalance, error) {
		card, err := s.openByID(tx, "fee", cardID, cause)
		if err != nil {
			return CardBalance{}, err
		}
		owner := giftcard.AccountOwner(card.ID)
		if fee.Amount.Currency() != card.Value.Currency() {
			return CardBalance{}, &Error{Op: "fee", Currency: card.Value.Currency(), Err: giftkit.ErrCurrencyMismatch, Detail: "the fee is in " + fee.Amount.Currency().Code()}
		}
		lastActive, lastFee, err := activityOf(tx, owner, card.ID, card.Value.Currency())
		if err != nil {
			return CardBalance{}, err
		}
		if lastActive.IsZero() { // nothing but the card's sale
			lastActive = card.IssuedAt
			if card.ActivatedAt.After(lastActive) {
				lastActive = card.ActivatedAt
			}
		}
		now := cause.At
		if due := fee.After.After(lastActive, p.Zone); now.Before(due) {
			return CardBalance{}, &Error{Op: "fee", Err: giftcard.ErrProgrammeLimit,
				Detail: "the card is not dormant until " + due.UTC().Format(time.RFC3339)}
		}
		if !lastFee.IsZero() && lastFee.After(lastActive) {
			if fee.Every.IsZero() {
				return CardBalance{}, &Error{Op: "fee", Err: giftcard.ErrProgrammeLimit, Detail: "the fee is charged once per dormancy, and was"}
			}
			if due := fee.Every.After(lastFee, p.Zone); now.Before(due) {
				return CardBalance{}, &Error{Op: "fee", Err: giftcard.ErrProgrammeLimit,
					Detail: "the next fee is due at " + due.UTC().Format(time.RFC3339)}
			}
		}
		acct, err := UpdateAccount(tx, Change{Owner: owner, Currency: fee.Amount.Currency(), Kind: activity.KindFee, Reference: "dormancy-fee", Cause: cause},
			func(a Account) (Account, []Entry, error) {
				a, entries, took, err := a.Take(TakeSpec{Kind: EntryFee, Amount: fee.Amount, Partial: true, Reference: "dormancy-fee", Only: fee.Classes}, cause.Key, now)
				if err == nil && !took.IsPositive() {
					err = &giftcard.Error{Op: "fee", CardID: card.ID, Masked: card.Masked(), Err: giftcard.ErrNoBalance,
						Detail: "no value of the classes the fee may be taken from"}
				}
				return a, entries, err
			})
		if err != nil {
			return CardBalance{}, err
		}
		return s.balanceOfCard(card, acct, now), nil
	})
}

// activityOf returns when the holder of card cardID, whose account is
// owner's, last acted (the last entry a call made, fees and the credit that
// opened the account aside: that move is the library's, not the holder's)
// and when a fee was last charged.
func activityOf(tx Tx, owner, cardID string, c giftkit.Currency) (lastActive, lastFee time.Time, err error) {
	err = eachEntry(tx, owner, c, func(e Entry) error {
		switch {
		case e.Kind == EntryFee:
			lastFee = e.At
		case e.Kind == EntryCredit && e.Reference == cardID: // the opening
		case e.Key != "":
			lastActive = e.At
		}
		return nil
	})
	return lastActive, lastFee, err
}
