package giftcard

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/internal/idem"
)

// An ExternalCard is a card of another programme to import: its code as
// that programme printed it, and what it holds.
type ExternalCard struct {
	Code      string        // the other programme's code, up to MaxExternalLen bytes once normalised (see NormalizeExternal)
	Balance   giftkit.Money // what the card holds now: the imported card's value; positive
	ExpiresAt time.Time     // when the card's value expires; zero means never
}

// ImportRequest describes cards of another programme to bring in.
type ImportRequest struct {
	Cards   []ExternalCard     // 1 to MaxBatch cards
	BatchID string             // optional; generated when empty
	Class   giftkit.ValueClass // where the cards' value came from; zero means giftkit.ClassPurchased
	Tags    []string           // labels kept on every card, as IssueRequest.Tags
}

// Import brings cards of another programme in, in one unit of work: each
// becomes an active card marked Imported, with the external card's balance
// as its value, its expiry at the end of its day in the programme's zone and
// no sooner than the programme's minimum validity counted from the import
// (see [Programme.ImportExpiry]), and its code stored only as a keyed hash (see
// [Hasher.HashExternal]; the code itself is never kept). Shoppers then
// redeem, spend and check them with the codes they have, as native cards,
// through services configured to accept external codes
// (wallet.Config.ExternalCodes, checkout.Config.ExternalCodes).
//
// It fails with [ErrInvalidRequest] (an empty or oversized request, a
// balance that is not positive, an expiry in the past, a code imported
// twice or already taken; a code that is not one, with the error wrapping
// [ErrExternalCode]), [ErrProgrammeLimit] (a balance outside the
// programme's card bounds; giftkit.ErrCurrencyMismatch for a balance in
// another currency than the programme's), or a key error. A retry with
// the same key returns the first outcome, without codes.
func (s *Service) Import(ctx context.Context, req ImportRequest, key string) (_ Issued, err error) {
	ctx, span := s.obs.Begin(ctx, "giftcard.import")
	defer span.End(&err)
	if req.Class == 0 {
		req.Class = giftkit.ClassPurchased
	}
	now := s.cfg.Now()
	fail := func(detail string) error { return &Error{Op: "import", Detail: detail, Err: ErrInvalidRequest} }
	switch {
	case len(req.Cards) == 0 || len(req.Cards) > MaxBatch:
		return Issued{}, fail(fmt.Sprintf("between 1 and %d cards, got %d", MaxBatch, len(req.Cards)))
	case !idem.ValidText(req.BatchID, 128):
		return Issued{}, fail("batch ID is not at most 128 bytes of UTF-8 without control characters")
	case !req.Class.IsValid():
		return Issued{}, fail("unknown value class " + req.Class.String())
	}
	if d := checkTags(req.Tags); d != "" {
		return Issued{}, fail(d)
	}
	if err := idem.CheckKey(key); err != nil {
		return Issued{}, &Error{Op: "import", Detail: err.Error(), Err: giftkit.ErrKeyRequired}
	}
	cause, err := activity.CauseFrom(ctx, key, now)
	if err != nil {
		return Issued{}, err
	}
	batchID := req.BatchID
	if batchID == "" {
		if batchID, err = s.newID("batch_"); err != nil {
			return Issued{}, err
		}
	}
	out := Issued{BatchID: batchID, Cards: make([]IssuedCard, len(req.Cards))}
	seen := make(map[Hash]bool, len(req.Cards))
	norms := make([]string, len(req.Cards))
	hashes := make([]Hash, len(req.Cards))
	args := []string{req.BatchID, req.Class.String(), strings.Join(req.Tags, ",")} // as asked: a generated batch ID differs on every call
	for i, ext := range req.Cards {
		norm, err := NormalizeExternal(ext.Code)
		if err != nil {
			return Issued{}, &Error{Op: "import", Detail: fmt.Sprintf("card %d: %v", i+1, err), Err: ErrInvalidRequest}
		}
		norms[i] = norm
		h := s.cfg.Hasher.HashExternal(norm)
		hashes[i] = h
		args = append(args, h.String(), ext.Balance.String(), ext.ExpiresAt.UTC().String())
	}
	call := idem.NewCall("giftcard", key, now, "import", idem.Fingerprint(args...))
	tags := strings.Join(req.Tags, ",")
	for i, ext := range req.Cards {
		norm := norms[i]
		if !ext.Balance.IsValid() || !ext.Balance.IsPositive() {
			return Issued{}, fail(fmt.Sprintf("card %d: balance must be positive", i+1))
		}
		if err := s.cfg.Programme.CheckCardValue(ext.Balance); err != nil {
			return Issued{}, refusal("import", fmt.Sprintf("card %d: ", i+1), err)
		}
		exp := ext.ExpiresAt
		if !exp.IsZero() && !exp.After(now) {
			return s.refusedNow(ctx, call, fail(fmt.Sprintf("card %d: expiry is not after now", i+1)))
		}
		exp = s.cfg.Programme.ImportExpiry(exp, now)
		h := hashes[i]
		if seen[h] {
			return Issued{}, fail(fmt.Sprintf("card %d: the same code appears twice", i+1))
		}
		seen[h] = true
		id, err := s.newID("card_")
		if err != nil {
			return Issued{}, err
		}
		out.Cards[i].Card = Card{ID: id, Hash: h, Suffix: suffix(norm), Value: ext.Balance, State: StateActive,
			BatchID: batchID, IssuedAt: now, ActivatedAt: now, ExpiresAt: exp, UpdatedAt: now, Class: req.Class,
			Imported: true, Tags: tags}
	}
	records := make([]activity.Record, len(out.Cards))
	for i := range out.Cards {
		card := &out.Cards[i].Card
		*card, records[i] = RecordChange(activity.KindIssue, Card{}, *card, "import:"+batchID, cause)
	}
	res, err := idem.Do(ctx, s.store, call, issueOutcomes, func(tx Tx) (Issued, error) {
		if err := insertCards(tx, out.Cards); err != nil {
			if errors.Is(err, errCollision) {
				return Issued{}, fail("a code is already in use by another card")
			}
			return Issued{}, err
		}
		return out, tx.AppendActivity(records)
	})
	if err != nil {
		return Issued{}, wrapConflict("import", "", err)
	}
	if res.Replayed {
		res.Value.Replayed = true
	}
	return res.Value, nil
}

// ErrNoCodes: the issuance has no codes to export, because it is a replay
// (codes are never stored). Kind giftkit.ErrConflict.
var ErrNoCodes = fmt.Errorf("giftcard: the issuance holds no codes (a replay): %w", giftkit.ErrConflict)

// WriteCSV writes a batch's cards with their codes as CSV, one row per card
// in order of issue, under the header
//
//	card_id,code,value,currency,expires_at,batch_id,tags
//
// (expires_at in RFC 3339, empty for never; tags joined by commas). It is
// the one export of a batch's codes there can be: call it with the result
// of [Service.Issue] before the codes are dropped, and hand the file over
// encrypted. It fails with [ErrNoCodes] for a replayed issuance, and with
// w's error.
func WriteCSV(w io.Writer, issued Issued) error {
	if issued.Replayed {
		return ErrNoCodes
	}
	out := csv.NewWriter(w)
	if err := out.Write([]string{"card_id", "code", "value", "currency", "expires_at", "batch_id", "tags"}); err != nil {
		return err
	}
	for _, ic := range issued.Cards {
		if !ic.Code.IsValid() {
			return ErrNoCodes
		}
		text, _ := ic.Code.MarshalText()
		exp := ""
		if !ic.Card.ExpiresAt.IsZero() {
			exp = ic.Card.ExpiresAt.UTC().Format(time.RFC3339)
		}
		row := []string{ic.Card.ID, string(text), ic.Card.Value.Amount(), ic.Card.Value.Currency().Code(),
			exp, ic.Card.BatchID, ic.Card.Tags}
		if err := out.Write(row); err != nil {
			return err
		}
	}
	out.Flush()
	return out.Error()
}
