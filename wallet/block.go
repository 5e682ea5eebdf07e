package wallet

import (
	"context"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/bin"
	"github.com/giftkit/giftkit/internal/idem"
)

// Blocking a card spent directly. A card whose value is still on it is
// blocked by its state (giftcard.Card.Block). An opened card's row is final
// (it was redeemed into its own account), so its block is a hold on that
// account: the whole available value, placed by PlacerBlock, which nothing
// but UnblockCard releases and which never lapses. On a card with nothing
// available the hold is of nothing: a mark, the one hold that may be empty
// (RestoreAccount allows it), so that a card stays blocked whatever later
// comes back to it (a refund, a released payment hold).

// PlacerBlock is the Hold.Placer of the hold that blocks an opened card.
const PlacerBlock = "giftkit/block"

// BlockHoldID is the ID of that hold.
const BlockHoldID = "block"

// block places the block hold on all that is available and unexpired at
// now (expired value is the next sweep's, and no hold can reserve it), or,
// when nothing is, the empty mark.
func (a Account) block(key string, now time.Time) (Account, Entry, error) {
	var free int64
	for _, l := range a.lots {
		if !l.expired(now) {
			free += l.remaining - l.reserved
		}
	}
	if free > 0 {
		return a.PlaceHold(HoldSpec{ID: BlockHoldID, Placer: PlacerBlock, Amount: a.money(free), Reference: BlockHoldID}, key, now)
	}
	a = a.clone()
	a.holds = append(a.holds, hold{id: BlockHoldID, reference: BlockHoldID, placer: PlacerBlock, createdAt: now})
	return a, a.journal(EntryHold, 0, 0, BlockHoldID, key, now), nil
}

// Blocked reports whether a card's account is blocked (see
// [Service.BlockCard]).
func Blocked(a Account) bool {
	_, ok := a.Hold(BlockHoldID)
	return ok
}

// BlockCard holds a card for review, as at a report of theft: a card not
// yet opened moves to blocked (giftcard.Card.Block); an opened card's
// available value is held under BlockHoldID. Either way the card is then
// refused, as an unknown code is (giftcard.ErrNotRedeemable), by payments,
// balance checks, redemptions, reloads and transfers; payments already in
// progress keep what they hold, and what comes back to the card later
// stays blocked with it. It fails with giftcard.ErrInvalidTransition
// (blocked already, voided, or redeemed into a shopper's account),
// giftcard.ErrNotFound, or a key error. The call's actor and reason are
// recorded; a retry with the same key returns the first outcome.
func (s *Service) BlockCard(ctx context.Context, cardID, key string) (_ giftcard.Card, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.block_card")
	defer span.End(&err)
	return s.blockCall(ctx, "block_card", cardID, key, true)
}

// UnblockCard undoes BlockCard: a blocked card returns to active, an
// opened card's block hold is released. It fails with
// giftcard.ErrInvalidTransition for a card that is not blocked.
func (s *Service) UnblockCard(ctx context.Context, cardID, key string) (_ giftcard.Card, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.unblock_card")
	defer span.End(&err)
	return s.blockCall(ctx, "unblock_card", cardID, key, false)
}

func (s *Service) blockCall(ctx context.Context, op, cardID, key string, block bool) (giftcard.Card, error) {
	return cardCall(ctx, s, blockOutcomes, op, key, []string{cardID}, giftkit.Money{}, func(tx Tx, cause activity.Cause) (giftcard.Card, error) {
		card, err := cardByID(tx, op, cardID)
		if err != nil {
			return card, err
		}
		if !card.Opened() {
			kind, step := activity.KindBlock, card.Block
			if !block {
				kind, step = activity.KindUnblock, card.Unblock
			}
			next, err := step(cause.At)
			if err != nil {
				return card, err
			}
			next, rec := giftcard.RecordChange(kind, card, next, "", cause)
			if err := tx.PutCard(next); err != nil {
				return card, err
			}
			return next, tx.AppendActivity([]activity.Record{rec})
		}
		kind := activity.KindHold
		if !block {
			kind = activity.KindRelease
		}
		_, err = UpdateAccount(tx, Change{Owner: giftcard.AccountOwner(card.ID), Currency: card.Value.Currency(), Kind: kind,
			Reference: BlockHoldID, Cause: cause}, func(a Account) (Account, []Entry, error) {
			switch {
			case Blocked(a) == block:
				return a, nil, &giftcard.Error{Op: op, CardID: card.ID, Masked: card.Masked(), State: card.State, Err: giftcard.ErrInvalidTransition,
					Detail: map[bool]string{true: "the card is blocked already", false: "the card is not blocked"}[block]}
			case !block:
				a, e, err := a.Release(BlockHoldID, PlacerBlock, cause.Key, cause.At)
				return a, []Entry{e}, err
			}
			a, e, err := a.block(cause.Key, cause.At)
			return a, []Entry{e}, err
		})
		return card, err
	})
}

var blockOutcomes = idem.Outcomes[giftcard.Card]{Append: appendCardBlob, Read: readCardBlob, Errors: replayable}

// appendCardBlob appends a card's binary form, head included, as a blob:
// how outcomes that hold a card record it.
func appendCardBlob(b []byte, c giftcard.Card) []byte {
	card, _ := c.MarshalBinary()
	return bin.Blob(b, card)
}

func readCardBlob(r *bin.Reader) giftcard.Card {
	var c giftcard.Card
	if err := c.UnmarshalBinary(r.Blob()); err != nil {
		r.Fail()
	}
	return c
}

// blockedRefusal is how a blocked card is refused: as an unknown code.
func blockedRefusal(op, masked string) error {
	return &giftcard.Error{Op: op, Masked: masked, Err: giftcard.ErrNotRedeemable}
}
