package giftcard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/internal/idem"
	"github.com/giftkit/giftkit/internal/obs"
	"github.com/giftkit/giftkit/internal/unit"
)

// Tx is what this package needs of a unit of work (see giftkit.Store). A
// store's transaction type implements it along with wallet.Tx and
// checkout.Tx. Values go in and come out as copies: changing a Card after
// PutCard or after reading it changes nothing stored.
type Tx interface {
	// The activity log: every change to a card appends its record in the
	// unit of work that makes it.
	activity.Tx
	// CardByID returns the card with the given ID; false if there is none.
	CardByID(id string) (Card, bool, error)
	// CardByHash returns the card whose code has the given hash; false if
	// there is none.
	CardByHash(h Hash) (Card, bool, error)
	// PutCard inserts a new card or replaces the card with the same ID. A new
	// card whose hash another card has fails with an error.
	PutCard(c Card) error
	// Idempotency returns the record of an earlier call; false if none.
	Idempotency(scope, key string) (giftkit.IdempotencyRecord, bool, error)
	// PutIdempotency stores the record of a completed call. It must not
	// keep r.Outcome after it returns (copy it): the caller reuses it.
	PutIdempotency(r giftkit.IdempotencyRecord) error
}

// CardInserter is an optional interface of a Tx that inserts many new
// cards at once, such as a database store's bulk copy. [Service.Issue] uses
// it when the store's Tx has it, and PutCard card by card otherwise.
type CardInserter interface {
	// InsertCards inserts cards, none of which exists yet. If any card's
	// code hash is taken (by a stored card or another of cards), it
	// inserts nothing and reports taken; err is the store's failure.
	InsertCards(cards []Card) (taken bool, err error)
}

// MaxBatch is the largest number of cards one issuance creates.
const MaxBatch = 10000

// Config holds what a [Service] needs from its host.
type Config struct {
	// Hasher hashes codes with the host's secret key. Required.
	Hasher *Hasher
	// Now returns the current time. Required: the library never reads the
	// clock itself, so that tests and replays control time.
	Now func() time.Time
	// Rand is the source of codes and IDs; nil means crypto/rand.
	Rand io.Reader
	// Denylist lists words no generated code may spell (see
	// codefmt.GenerateAvoiding); nil means codefmt.DefaultDenylist.
	Denylist []string
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
	// Programme, if not nil, is the programme's rules (see [Programme]):
	// issuance and import keep card values within its bounds and expiries
	// at the end of a day in its zone, no sooner than its minimum validity;
	// Cancel uses its cancel window. NewService refuses an invalid one.
	Programme *Programme
}

// A Service issues cards and runs their administrative transitions. Every
// method is idempotent under its key and safe for concurrent use.
// Redemption is wallet.Service's, since it credits an account.
type Service struct {
	store    giftkit.Store[Tx]
	cfg      Config
	denylist codefmt.Denylist
	obs      obs.Hooks
}

// NewService returns a Service that keeps cards in store.
func NewService[T Tx](store giftkit.Store[T], cfg Config) (*Service, error) {
	if store == nil || cfg.Hasher == nil || cfg.Now == nil {
		return nil, errors.New("giftcard: NewService needs a store, a Hasher and a clock")
	}
	if err := cfg.Programme.Validate(); err != nil {
		return nil, err
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	deny := cfg.Denylist
	if deny == nil {
		deny = codefmt.DefaultDenylist()
	}
	erased := unit.Erase(store, func(tx T) Tx { return tx })
	return &Service{store: erased, cfg: cfg, denylist: codefmt.NewDenylist(deny), obs: obs.Hooks{Log: cfg.Logger, Obs: cfg.Observer, Now: cfg.Now}}, nil
}

// IssueRequest describes cards to issue.
type IssueRequest struct {
	Value     giftkit.Money // each card's value; positive
	Count     int           // how many cards, 1 to MaxBatch; 0 means 1
	BatchID   string        // optional; generated when empty
	ExpiresAt time.Time     // optional; must be after the issue time
	Pending   bool          // physical cards that need activation before use
	// Class is where the cards' value comes from; zero means
	// giftkit.ClassPurchased (sold cards). Promotional cards give their
	// class to the credit they make, which is spent before purchased value.
	Class giftkit.ValueClass
	// Tags label every card of the batch (a campaign, a retailer), for
	// reports: at most MaxTags, each 1 to MaxTagLen bytes of UTF-8 without
	// control characters or commas.
	Tags []string
}

// MaxTags and MaxTagLen bound a card's tags.
const (
	MaxTags   = 8
	MaxTagLen = 64
)

// checkTags returns what is wrong with tags, or "".
func checkTags(tags []string) string {
	if len(tags) > MaxTags {
		return fmt.Sprintf("at most %d tags, got %d", MaxTags, len(tags))
	}
	for _, t := range tags {
		if t == "" || !idem.ValidText(t, MaxTagLen) || strings.ContainsRune(t, ',') {
			return fmt.Sprintf("a tag is not 1 to %d bytes of UTF-8 without control characters or commas", MaxTagLen)
		}
	}
	return ""
}

// An IssuedCard is a new card and its code. The code exists only here:
// stores keep its hash. Print it, send it, and forget it.
type IssuedCard struct {
	Card Card         `json:"card"` // the card as stored, with the hash of Code but never Code itself
	Code codefmt.Code `json:"-"`    // zero when the issuance is replayed
}

// Issued is the result of an issuance.
type Issued struct {
	BatchID  string       `json:"batch_id"` // IssueRequest.BatchID, or "batch_" and 20 hex digits when it was empty
	Cards    []IssuedCard `json:"cards"`    // the IssueRequest.Count cards, in order of issue, each with its code
	Replayed bool         `json:"-"`        // a retry: the cards are those first issued, without their codes
}

var replayable = idem.Errors{idem.ErrorKind[Error]("giftcard")}

// Issue creates req.Count cards, each with a new random code, in one unit of
// work. With the key of an earlier issuance it creates nothing and returns
// that issuance's cards, without codes (codes are never stored): a caller
// that lost the codes of a batch voids it and issues another.
//
// It fails with [ErrInvalidRequest], [ErrProgrammeLimit] (a value or an
// expiry the programme refuses), giftkit.ErrKeyRequired or
// giftkit.ErrIdempotencyConflict, each in an [*Error], or with the store's
// error. A retry of a completed issuance keeps its outcome even when the
// time has made its request one that would now be refused (an expiry since
// passed).
func (s *Service) Issue(ctx context.Context, req IssueRequest, key string) (Issued, error) {
	return s.IssueWith(ctx, req, key, Addition{})
}

// An Addition is work of the caller's that joins an issuance's unit of
// work (see [Service.IssueWith]): how package egift keeps an e-gift card's
// delivery, with its code, atomically with the card.
type Addition struct {
	// Name names the addition in the call's fingerprint, such as "egift".
	Name string
	// Args is the rest of the caller's request: a retry under the same key
	// with other Args is an idempotency conflict, as for the issuance's
	// own fields.
	Args []string
	// Do runs in the issuance's unit of work after the cards are stored,
	// with the new cards and their codes. If it fails, nothing is issued.
	// It does not run when the issuance is replayed, and it may run more
	// than once (see giftkit.Store): it must have no effect outside tx.
	Do func(tx Tx, issued Issued) error
}

// IssueWith is [Service.Issue] with an Addition: add.Do runs in the same
// unit of work, and add's Name and Args are part of the call's fingerprint.
// The zero Addition adds nothing.
func (s *Service) IssueWith(ctx context.Context, req IssueRequest, key string, add Addition) (_ Issued, err error) {
	ctx, span := s.obs.Begin(ctx, "giftcard.issue")
	defer span.End(&err)
	if req.Count == 0 {
		req.Count = 1
	}
	if req.Class == 0 {
		req.Class = giftkit.ClassPurchased
	}
	now := s.cfg.Now()
	args := []string{req.Value.String(), strconv.Itoa(req.Count), req.BatchID,
		req.ExpiresAt.UTC().String(), strconv.FormatBool(req.Pending), req.Class.String()}
	if len(req.Tags) > 0 {
		args = append(args, "tags:"+strings.Join(req.Tags, ","))
	}
	if add.Name != "" || len(add.Args) > 0 {
		args = append(append(args, add.Name), add.Args...)
	}
	call := idem.NewCall("giftcard", key, now, "issue", args...)
	if err := s.checkIssue(req, now, key); err != nil {
		return s.refusedNow(ctx, call, err)
	}
	if err := s.cfg.Programme.CheckCardValue(req.Value); err != nil {
		return Issued{}, refusal("issue", "", err)
	}
	if req.ExpiresAt, err = s.cfg.Programme.Expiry(req.ExpiresAt, now); err != nil {
		return s.refusedNow(ctx, call, refusal("issue", "", err))
	}
	cause, err := activity.CauseFrom(ctx, key, now)
	if err != nil {
		return Issued{}, err
	}
	for attempt := 0; ; attempt++ {
		batch, err := s.newBatch(req, now)
		if err != nil {
			return Issued{}, err
		}
		records := make([]activity.Record, len(batch.Cards))
		room := make([]byte, len(batch.Cards)*snapshotSize) // the batch's snapshots, one after another
		for i := range batch.Cards {
			card := &batch.Cards[i].Card
			*card, records[i] = RecordChangeIn(room, activity.KindIssue, Card{}, *card, card.BatchID, cause)
			if n := len(records[i].Snapshot); n <= cap(room) {
				room = room[n:]
			}
		}
		res, err := idem.Do(ctx, s.store, call, issueOutcomes, func(tx Tx) (Issued, error) {
			if err := insertCards(tx, batch.Cards); err != nil {
				return Issued{}, err
			}
			if err := tx.AppendActivity(records); err != nil {
				return Issued{}, err
			}
			if add.Do != nil {
				return batch, add.Do(tx, batch)
			}
			return batch, nil
		})
		if errors.Is(err, errCollision) && attempt < 3 {
			continue // a 65-bit collision: draw new codes
		}
		if err != nil {
			return Issued{}, wrapConflict("issue", "", err)
		}
		if res.Replayed {
			out := res.Value
			out.Replayed = true
			return out, nil
		}
		return batch, nil
	}
}

var errCollision = errors.New("giftcard: generated code collides with an existing card")

// refusedNow answers a request that a check depending on the time refused
// (an expiry no longer in the future, or too soon for the programme's
// minimum validity): a retry of a call that completed keeps its outcome,
// however long after; any other call is refused. A refusal of the key
// itself is returned as it is.
func (s *Service) refusedNow(ctx context.Context, call idem.Call, refusal error) (Issued, error) {
	var e *Error
	if errors.As(refusal, &e) && e.Err == giftkit.ErrKeyRequired {
		return Issued{}, refusal
	}
	res, recorded, found, err := idem.Replay(ctx, s.store, call, issueOutcomes)
	switch {
	case err != nil:
		return Issued{}, err
	case !found:
		return Issued{}, refusal
	case recorded != nil:
		return Issued{}, wrapConflict(call.Op, "", recorded)
	}
	out := res.Value
	out.Replayed = true
	return out, nil
}

// insertCards stores new cards, or returns errCollision if a code's hash is
// taken.
func insertCards(tx Tx, cards []IssuedCard) error {
	if ins, ok := tx.(CardInserter); ok {
		plain := make([]Card, len(cards))
		for i, ic := range cards {
			plain[i] = ic.Card
		}
		taken, err := ins.InsertCards(plain)
		if err == nil && taken {
			err = errCollision
		}
		return err
	}
	for _, ic := range cards {
		if _, taken, err := tx.CardByHash(ic.Card.Hash); err != nil {
			return err
		} else if taken {
			return errCollision
		}
		if err := tx.PutCard(ic.Card); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) checkIssue(req IssueRequest, now time.Time, key string) error {
	detail := ""
	switch {
	case !req.Value.IsValid() || !req.Value.IsPositive():
		detail = "value must be positive, got " + req.Value.String()
	case req.Count < 0 || req.Count > MaxBatch:
		detail = fmt.Sprintf("count %d is not between 1 and %d", req.Count, MaxBatch)
	case !req.ExpiresAt.IsZero() && !req.ExpiresAt.After(now):
		detail = "expiry " + req.ExpiresAt.String() + " is not after now"
	case !idem.ValidText(req.BatchID, 128):
		detail = "batch ID is not at most 128 bytes of UTF-8 without control characters"
	case !req.Class.IsValid():
		detail = "unknown value class " + req.Class.String()
	default:
		detail = checkTags(req.Tags)
	}
	if detail != "" {
		return &Error{Op: "issue", Detail: detail, Err: ErrInvalidRequest}
	}
	if err := idem.CheckKey(key); err != nil {
		return &Error{Op: "issue", Detail: err.Error(), Err: giftkit.ErrKeyRequired}
	}
	return nil
}

// newBatch draws the codes and IDs of a batch. It runs outside the unit of
// work, which must not draw randomness since it may run more than once.
//
// It reads the randomness a batch needs in one read, and builds the cards'
// IDs and suffixes as parts of two strings, so that a batch of any size
// costs a handful of allocations. The random stream is consumed in the
// same order as card by card: the same source gives the same cards.
func (s *Service) newBatch(req IssueRequest, now time.Time) (Issued, error) {
	const perCard = codefmt.RandomLen + idBytes // a code's random bytes, then its ID's
	batchID := req.BatchID
	if batchID == "" {
		id, err := s.newID("batch_")
		if err != nil {
			return Issued{}, err
		}
		batchID = id
	}
	state, activated := StateActive, now
	if req.Pending {
		state, activated = StatePending, time.Time{}
	}
	random := make([]byte, req.Count*perCard)
	if _, err := io.ReadFull(s.cfg.Rand, random); err != nil {
		return Issued{}, fmt.Errorf("giftcard: issue: read random source: %w", err)
	}
	ids := make([]byte, 0, req.Count*len("card_")+req.Count*2*idBytes)
	suffixes := make([]byte, 0, req.Count*4)
	codes := make([]codefmt.Code, req.Count)
	var text [codefmt.Len + 2]byte
	// Each card takes its code's bytes, then its ID's, from the bytes read
	// ahead, in turn. A code the denylist refuses (about one in 700 with
	// the default list) draws again from the bytes that follow, and so on
	// past the bytes read ahead: the stream is consumed as drawing card by
	// card would, so the same source gives the same cards.
	pos := 0 // the next unread byte of random
	take := func(n int) ([]byte, error) {
		if pos+n > len(random) { // past the bytes read ahead: read on
			more := make([]byte, pos+n-len(random))
			if _, err := io.ReadFull(s.cfg.Rand, more); err != nil {
				return nil, fmt.Errorf("giftcard: issue: read random source: %w", err)
			}
			random, pos = append(random[pos:len(random):len(random)], more...), 0
		}
		pos += n
		return random[pos-n : pos], nil
	}
	for i := range codes {
		var code codefmt.Code
		for attempt := 0; ; attempt++ {
			drawn, err := take(codefmt.RandomLen)
			if err != nil {
				return Issued{}, err
			}
			if code = codefmt.FromRandom([codefmt.RandomLen]byte(drawn)); !s.denylist.Denies(code) {
				break
			}
			if attempt == maxDenied {
				return Issued{}, fmt.Errorf("giftcard: issue: %w", codefmt.ErrDenylist)
			}
		}
		idRandom, err := take(idBytes)
		if err != nil {
			return Issued{}, err
		}
		codes[i] = code
		ids = hex.AppendEncode(append(ids, "card_"...), idRandom)
		canonical, _ := code.AppendText(text[:0])
		suffixes = append(suffixes, canonical[len(canonical)-4:]...) // code.Suffix, without a string each
	}
	idText, suffixText := string(ids), string(suffixes)
	idLen := len("card_") + 2*idBytes
	out := Issued{BatchID: batchID, Cards: make([]IssuedCard, req.Count)}
	tags := strings.Join(req.Tags, ",")
	for i, code := range codes {
		out.Cards[i] = IssuedCard{Code: code, Card: Card{
			ID: idText[i*idLen : (i+1)*idLen], Hash: s.cfg.Hasher.Hash(code), Suffix: suffixText[i*4 : (i+1)*4],
			Value: req.Value, State: state, BatchID: batchID, IssuedAt: now, ActivatedAt: activated,
			ExpiresAt: req.ExpiresAt, UpdatedAt: now, Class: req.Class, Tags: tags,
		}}
	}
	return out, nil
}

// maxDenied is how many codes in a row the denylist may refuse before
// issuance blames the list, as codefmt's Denylist.Generate does.
const maxDenied = 63

// idBytes is the randomness in a card or batch ID: 80 bits.
const idBytes = 10

func (s *Service) newID(prefix string) (string, error) {
	var b [idBytes]byte
	if _, err := io.ReadFull(s.cfg.Rand, b[:]); err != nil {
		return "", fmt.Errorf("giftcard: new ID: %w", err)
	}
	return prefix + hex.EncodeToString(b[:]), nil
}

// Card returns the card with the given ID, or [ErrNotFound].
func (s *Service) Card(ctx context.Context, id string) (_ Card, err error) {
	ctx, span := s.obs.Begin(ctx, "giftcard.card")
	defer span.End(&err)
	var card Card
	err = s.store.Update(ctx, func(tx Tx) error {
		c, ok, err := cardByID(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return &Error{Op: "get", CardID: id, Err: ErrNotFound}
		}
		card = c
		return nil
	})
	return card, err
}

// Activate moves a pending card to active. See [Card.Activate].
func (s *Service) Activate(ctx context.Context, cardID, key string) (_ Card, err error) {
	ctx, span := s.obs.Begin(ctx, "giftcard.activate")
	defer span.End(&err)
	return s.transition(ctx, "activate", cardID, key, activity.KindActivate, Card.Activate)
}

// Block moves an active card to blocked. See [Card.Block]. A card spent
// directly, whose value is in its own account (see [Card.Opened]), is
// blocked with wallet.Service.BlockCard, which blocks either kind.
func (s *Service) Block(ctx context.Context, cardID, key string) (_ Card, err error) {
	ctx, span := s.obs.Begin(ctx, "giftcard.block")
	defer span.End(&err)
	return s.transition(ctx, "block", cardID, key, activity.KindBlock, Card.Block)
}

// Unblock returns a blocked card to active. See [Card.Unblock].
func (s *Service) Unblock(ctx context.Context, cardID, key string) (_ Card, err error) {
	ctx, span := s.obs.Begin(ctx, "giftcard.unblock")
	defer span.End(&err)
	return s.transition(ctx, "unblock", cardID, key, activity.KindUnblock, Card.Unblock)
}

// Void cancels a card that was not redeemed. See [Card.Void].
func (s *Service) Void(ctx context.Context, cardID, key string) (_ Card, err error) {
	ctx, span := s.obs.Begin(ctx, "giftcard.void")
	defer span.End(&err)
	return s.transition(ctx, "void", cardID, key, activity.KindVoid, Card.Void)
}

// Cancel voids a card its issuer takes back before anyone claimed it,
// within the programme's cancel window of its issue (24 hours by default;
// see [Card.Cancel] and [Programme.CancelWindow]). It fails with
// [ErrCancelWindow] after the window, [ErrInvalidTransition] for a card
// that was redeemed, spent, blocked or voided, [ErrNotFound], or a key
// error. A retry with the same key returns the first outcome.
func (s *Service) Cancel(ctx context.Context, cardID, key string) (_ Card, err error) {
	ctx, span := s.obs.Begin(ctx, "giftcard.cancel")
	defer span.End(&err)
	window, ok := s.cfg.Programme.CancelWindowOrDefault()
	if !ok {
		return Card{}, &Error{Op: "cancel", CardID: cardID, Err: ErrCancelWindow, Detail: "the programme does not allow cancellation"}
	}
	return s.transition(ctx, "cancel", cardID, key, activity.KindVoid, func(c Card, now time.Time) (Card, error) {
		return c.Cancel(window, now)
	})
}

// Adjust changes the value of a card that is not redeemed or voided by
// delta, up or down (see [Card.Adjust]), as an operator's correction. The
// call's context must carry an operator (giftkit.WithActor) and a reason
// (giftkit.WithReason), which the card's activity record keeps; it fails
// with activity.ErrInvalidActor otherwise. A retry with the same key
// returns the first outcome. A card spent directly, whose value is in its
// own account, is adjusted with wallet.Service.AdjustCard.
func (s *Service) Adjust(ctx context.Context, cardID string, delta giftkit.Money, key string) (_ Card, err error) {
	ctx, span := s.obs.Begin(ctx, "giftcard.adjust")
	defer span.End(&err)
	if err := OperatorCall(ctx); err != nil {
		return Card{}, err
	}
	return s.transition(ctx, "adjust", cardID, key, activity.KindAdjust, func(c Card, now time.Time) (Card, error) {
		return c.Adjust(delta, now)
	}, delta.String())
}

// OperatorCall returns activity.ErrInvalidActor unless ctx carries an
// operator (giftkit.ActorOperator) and a non-empty reason: what an
// adjustment or a clawback needs.
func OperatorCall(ctx context.Context) error {
	if a := giftkit.ActorFrom(ctx); a.Kind != giftkit.ActorOperator || !a.Valid() {
		return fmt.Errorf("%w: only an operator may do this (giftkit.WithActor)", activity.ErrInvalidActor)
	}
	if r := giftkit.ReasonFrom(ctx); r == "" || !giftkit.ValidReason(r) {
		return fmt.Errorf("%w: a reason of 1 to %d bytes is required (giftkit.WithReason)", activity.ErrInvalidActor, giftkit.MaxReasonLen)
	}
	return nil
}

// transition runs one administrative transition idempotently. It fails with
// ErrNotFound, ErrInvalidTransition, or a key error, each in an *Error.
func (s *Service) transition(ctx context.Context, op, cardID, key string, kind activity.Kind, step func(Card, time.Time) (Card, error), args ...string) (Card, error) {
	if err := idem.CheckKey(key); err != nil {
		return Card{}, &Error{Op: op, CardID: cardID, Detail: err.Error(), Err: giftkit.ErrKeyRequired}
	}
	now := s.cfg.Now()
	cause, err := activity.CauseFrom(ctx, key, now)
	if err != nil {
		return Card{}, err
	}
	call := idem.NewCall("giftcard", key, now, op, append([]string{cardID}, args...)...)
	res, err := idem.Do(ctx, s.store, call, cardOutcomes, func(tx Tx) (Card, error) {
		c, ok, err := cardByID(tx, cardID)
		if err != nil {
			return Card{}, err
		}
		if !ok {
			return Card{}, &Error{Op: op, CardID: cardID, Err: ErrNotFound}
		}
		next, err := step(c, now)
		if err != nil {
			return Card{}, err
		}
		next, rec := RecordChange(kind, c, next, "", cause)
		if err := tx.PutCard(next); err != nil {
			return Card{}, err
		}
		return next, tx.AppendActivity([]activity.Record{rec})
	})
	if err != nil {
		return Card{}, wrapConflict(op, cardID, err)
	}
	return res.Value, nil
}

// cardByID reads a card; an ID that no card can have (not at most 128 bytes
// of UTF-8 without control characters) is not looked up.
func cardByID(tx Tx, id string) (Card, bool, error) {
	if !idem.ValidText(id, 128) {
		return Card{}, false, nil
	}
	return tx.CardByID(id)
}

// wrapConflict puts an idempotency conflict, which idem reports bare, into
// an *Error like every other failure of this package; other errors pass
// through.
func wrapConflict(op, cardID string, err error) error {
	if err == giftkit.ErrIdempotencyConflict {
		return &Error{Op: op, CardID: cardID, Err: err}
	}
	return err
}
