package wallet

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/idem"
	"github.com/giftkit/giftkit/internal/obs"
	"github.com/giftkit/giftkit/internal/unit"
)

// Tx is what this package needs of a unit of work (see giftkit.Store), on top
// of giftcard.Tx. Values go in and come out as copies.
type Tx interface {
	giftcard.Tx
	// Account returns the account of owner in currency c; false if none.
	Account(owner string, c giftkit.Currency) (Account, bool, error)
	// SaveAccount inserts or replaces the account with a.Owner() and
	// a.Currency(), and appends entries, the account's new journal entries
	// (at least one, in order, the last numbered a.NextSeq()−1), to its
	// journal. An entry whose sequence number is not the next in its
	// journal is an error, which keeps two units of work from both
	// extending one journal.
	SaveAccount(a Account, entries []Entry) error
	// Entries returns up to limit entries of an account's journal with
	// sequence numbers above afterSeq, in order.
	Entries(owner string, c giftkit.Currency, afterSeq int64, limit int) ([]Entry, error)
}

// MaxOwnerLen is the longest owner ID the wallet accepts, in bytes. An
// owner ID is 1 to MaxOwnerLen bytes of UTF-8 without control characters.
const MaxOwnerLen = 128

// validOwner reports whether owner may name a shopper's account: 1 to
// MaxOwnerLen bytes of UTF-8 without control characters, not beginning
// with giftcard.AccountPrefix, which names the accounts of cards (reached
// only through a card's code or ID).
func validOwner(owner string) bool {
	return owner != "" && idem.ValidText(owner, MaxOwnerLen) && !giftcard.IsCardAccount(owner)
}

// MaxReferenceLen is the longest reference or hold ID the wallet accepts,
// in bytes: UTF-8 without control characters, as owners.
const MaxReferenceLen = 255

// Config holds what a [Service] needs from its host.
type Config struct {
	// Hasher hashes codes with the host's secret key; the same key the
	// cards were issued with. Required.
	Hasher *giftcard.Hasher
	// Now returns the current time. Required: the library never reads the
	// clock itself.
	Now func() time.Time
	// Limiter counts redemption attempts per owner (and per client, see
	// WithClient); nil means NewMemoryLimiter(0, 0, 0). Use a StoreLimiter
	// when several instances share one database.
	Limiter Limiter
	// Currencies, if not empty, are the only currencies accounts may hold:
	// redeeming a card in another fails with giftkit.ErrCurrencyMismatch
	// and leaves the card active, and every other call that changes an
	// account in another currency (Refund, Hold, Debit, ...) fails with
	// giftkit.ErrCurrencyMismatch, so no account is ever opened in one.
	Currencies []giftkit.Currency
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
	// Programme, if not nil, is the programme's rules (see
	// giftcard.Programme): reloads, transfers and account balances keep
	// within its maxima, and the value of a card keeps its minimum
	// validity. NewService refuses an invalid one.
	Programme *giftcard.Programme
	// ExternalCodes accepts the codes of imported cards (see
	// giftcard.Service.Import) wherever a code is typed: an input that does
	// not have the native shape is then looked up as an external code, and
	// a miss counts as a guess (see giftcard.ReadCode). Off, such an input
	// is a *codefmt.ParseError, as it always was.
	ExternalCodes bool
}

// A Service runs the wallet's use cases: redeeming codes into accounts,
// balances and history, and spending through holds. Every method that
// changes state takes an idempotency key and runs in one unit of work; every
// method touches an account only after applying its expired holds and
// credits (see [Account.Sweep]). It is safe for concurrent use.
type Service struct {
	store giftkit.Store[Tx]
	cfg   Config
	obs   obs.Hooks
}

// NewService returns a Service over store.
func NewService[T Tx](store giftkit.Store[T], cfg Config) (*Service, error) {
	if store == nil || cfg.Hasher == nil || cfg.Now == nil {
		return nil, errors.New("wallet: NewService needs a store, a Hasher and a clock")
	}
	if err := cfg.Programme.Validate(); err != nil {
		return nil, err
	}
	if cfg.Limiter == nil {
		cfg.Limiter = NewMemoryLimiter(0, 0, 0)
	}
	return &Service{store: unit.Erase(store, func(tx T) Tx { return tx }), cfg: cfg, obs: obs.Hooks{Log: cfg.Logger, Obs: cfg.Observer, Now: cfg.Now}}, nil
}

// Balance is an account's position at one moment.
type Balance struct {
	Owner     string           `json:"owner"`     // the account's owner
	Currency  giftkit.Currency `json:"currency"`  // the account's currency, that of the amounts below
	Balance   giftkit.Money    `json:"balance"`   // all the money in the account
	Held      giftkit.Money    `json:"held"`      // reserved for pending payments
	Available giftkit.Money    `json:"available"` // Balance − Held: what can be spent
}

func balanceOf(a Account) Balance {
	return Balance{Owner: a.Owner(), Currency: a.Currency(), Balance: a.Balance(), Held: a.Held(), Available: a.Available()}
}

// Redeemed is the result of a redemption.
type Redeemed struct {
	CardID   string        `json:"card_id"` // the ID of the card redeemed
	Amount   giftkit.Money `json:"amount"`  // the card's value, credited in its currency; for an opened card, what was available on it
	Balance  Balance       `json:"balance"` // the account just after the credit; a replay returns it as recorded then
	Entry    Entry         `json:"entry"`   // the journal entry of the credit (EntryCredit); for an opened card, the last of its EntryTransfer entries
	Replayed bool          `json:"-"`       // the outcome of an earlier call with the same key
}

// Redeem reads the activation code as the shopper typed it, and credits the
// card's value to owner's account in the card's currency: the card moves to
// redeemed, once, the account gains a credit that keeps the card's expiry,
// and the journal gains an entry, all in one unit of work. An opened card
// (one spent directly, with an account of its own) stays as it is: what is
// available on it is transferred to owner's account with its class and
// expiry (EntryTransfer entries), and what payments in progress hold stays
// on the card. Under Config.Programme the credit keeps the programme's
// minimum validity and the account's maximum balance holds. A retry with
// the same key returns the first outcome, success or failure.
//
// It fails with
//   - a *codefmt.ParseError for a code that does not read (nothing is looked
//     up, and the attempt does not count against the limiter);
//   - [ErrTooManyAttempts] when the limiter has locked owner out;
//   - giftcard.ErrNotRedeemable for a code that is unknown, pending, blocked
//     or voided, alike, giftcard.ErrAlreadyRedeemed (with SameAccount),
//     giftcard.ErrExpired, giftkit.ErrCurrencyMismatch (a currency
//     outside Config.Currencies), or giftcard.ErrNoBalance (an opened card
//     with nothing available), each in a *giftcard.Error; each counts as a
//     failed attempt, except a repeat by the account that redeemed the card;
//   - giftcard.ErrProgrammeLimit when the credit would break the
//     programme's maximum balance per account;
//   - [ErrInvalidOwner], giftkit.ErrKeyRequired, giftkit.ErrIdempotencyConflict;
//   - the store's error, after which the call may be retried with the same key.
func (s *Service) Redeem(ctx context.Context, owner, code, key string) (_ Redeemed, err error) {
	ctx, span := s.obs.BeginWith(ctx, "wallet.redeem", maskedCode(&s.obs, code))
	defer span.End(&err)
	if err := s.check("redeem", owner, key); err != nil {
		return Redeemed{}, err
	}
	ref, err := giftcard.ReadCode(s.cfg.Hasher, code, s.cfg.ExternalCodes)
	if err != nil {
		return Redeemed{}, err
	}
	now := s.cfg.Now()
	cause, err := activity.CauseFrom(ctx, key, now)
	if err != nil {
		return Redeemed{}, err
	}
	hash := ref.Hash // sliced here, so that ref is captured below by value
	call := idem.NewCall("wallet/"+owner, key, now, "redeem", string(hash[:]))
	call.Reads = giftkit.ReadAhead{CardHash: ref.Hash, HasCard: true, Owner: owner}
	attempt := Attempt{Owner: owner, Client: clientOf(ctx), At: now}
	ok, wait, err := s.cfg.Limiter.Reserve(ctx, attempt)
	if err != nil {
		return Redeemed{}, err
	}
	if !ok {
		return s.lockedOut(ctx, call, owner, wait)
	}
	res, err := idem.DoWith(ctx, s.store, call, redeemOutcomes, redeemCall{s: s, owner: owner, ref: ref, cause: cause}, runRedeem)
	s.settle(ctx, attempt, res.Replayed, err)
	if err != nil {
		return Redeemed{}, wrapConflict("redeem", owner, err)
	}
	out := res.Value
	out.Replayed = res.Replayed
	return out, nil
}

// lockedOut answers a redemption the limiter refused: a call that completed
// keeps its outcome, locked out or not; any other is ErrTooManyAttempts.
func (s *Service) lockedOut(ctx context.Context, call idem.Call, owner string, wait time.Duration) (Redeemed, error) {
	res, recorded, found, err := idem.Replay(ctx, s.store, call, redeemOutcomes)
	switch {
	case err != nil:
		return Redeemed{}, err
	case !found:
		if s.obs.On() {
			s.obs.Notice(ctx, "wallet.lockout", slog.String("owner", owner), slog.Duration("retry_after", wait))
		}
		return Redeemed{}, &Error{Op: "redeem", Owner: owner, RetryAfter: wait, Err: ErrTooManyAttempts}
	case recorded != nil:
		return Redeemed{}, wrapConflict("redeem", owner, recorded)
	}
	out := res.Value
	out.Replayed = true
	return out, nil
}

// redeemCall is the state of one redemption, allocated once, with the
// idempotency layer's (idem.DoWith): the request, and room for what its
// unit of work hands the store (the card's activity record, and the
// account's records and journal entry), which would otherwise be
// allocated one by one.
type redeemCall struct {
	s        *Service
	owner    string
	ref      giftcard.CodeRef
	cause    activity.Cause
	card     [1]activity.Record
	cardSnap [160]byte // the card's snapshot (146 bytes with IDs of the usual lengths)
	acct     changeRoom
	entries  [1]Entry
}

// runRedeem is a redemption's unit of work, for idem.DoWith.
func runRedeem(tx Tx, c *redeemCall) (Redeemed, error) { return c.s.redeem(tx, c) }

// redeem is the unit of work of a redemption: the card moves to redeemed
// and its value is credited to owner's account, or nothing happens.
func (s *Service) redeem(tx Tx, c *redeemCall) (Redeemed, error) {
	owner, ref, cause := c.owner, c.ref, c.cause
	now := cause.At
	card, found, err := tx.CardByHash(ref.Hash)
	if err != nil {
		return Redeemed{}, err
	}
	if !found {
		return Redeemed{}, &giftcard.Error{Op: "redeem", Masked: ref.Masked(), Err: giftcard.ErrNotRedeemable}
	}
	if card.Opened() {
		return s.redeemOpened(tx, owner, ref.Masked(), card, cause)
	}
	// The card's state before its currency: a card that cannot be redeemed
	// reads as an unknown code, whatever currency it holds.
	redeemed, red, err := card.Redeem(owner, now)
	if err != nil {
		return Redeemed{}, refusal(err, ref.Masked())
	}
	if !s.accepts(card.Value.Currency()) {
		return Redeemed{}, s.currencyRefusal(ref.Masked(), card)
	}
	var entry Entry
	credit := CreditSpec{Kind: EntryCredit, Class: red.Class, Amount: red.Amount, ExpiresAt: s.cfg.Programme.FundsExpiry(red.ExpiresAt, now),
		Source: card.ID, Reference: card.ID}
	acct, err := UpdateAccount(tx, Change{Owner: owner, Currency: red.Amount.Currency(), Kind: activity.KindCredit,
		Reference: card.ID, Cause: cause, room: &c.acct}, func(a Account) (Account, []Entry, error) {
		a, entry, err = a.Credit(credit, cause.Key, now)
		if err == nil {
			err = s.ruleError("redeem", owner, s.cfg.Programme.CheckAccountBalance(a.Balance()))
		}
		c.entries[0] = entry
		return a, c.entries[:], err
	})
	if err != nil {
		return Redeemed{}, err
	}
	card, c.card[0] = giftcard.RecordChangeIn(c.cardSnap[:], activity.KindRedeem, card, redeemed, owner, cause)
	if err := tx.PutCard(card); err != nil {
		return Redeemed{}, err
	}
	if err := tx.AppendActivity(c.card[:]); err != nil {
		return Redeemed{}, err
	}
	return Redeemed{CardID: card.ID, Amount: red.Amount, Balance: balanceOf(acct), Entry: entry}, nil
}

// guessed reports whether a redemption's refusal counts as a guess: a
// card's refusal, except a repeat by the account that redeemed it.
func guessed(err error) bool {
	var ce *giftcard.Error
	return errors.As(err, &ce) && !ce.SameAccount
}

// settle tells the limiter how a reserved attempt ended: a guess that
// failed counts; a replay, the store's error and a repeat by the account
// that redeemed the card do not. It is settled at its best: a limiter that
// cannot record the result leaves the attempt counted as failed, which
// costs the shopper at most one attempt and never the outcome, already
// committed.
func (s *Service) settle(ctx context.Context, attempt Attempt, replayed bool, err error) {
	switch {
	case replayed || (err != nil && !guessed(err)):
		_ = s.cfg.Limiter.Settle(ctx, attempt, AttemptVoid)
	case err != nil:
		_ = s.cfg.Limiter.Settle(ctx, attempt, AttemptFailed)
	default:
		_ = s.cfg.Limiter.Settle(ctx, attempt, AttemptSucceeded)
	}
}

func (s *Service) accepts(c giftkit.Currency) bool {
	if len(s.cfg.Currencies) == 0 {
		return true
	}
	for _, ok := range s.cfg.Currencies {
		if ok == c {
			return true
		}
	}
	return false
}

// refusal rewrites a card's refusal of a redemption so that it says only
// what the shopper who typed the code needs, and nothing of a card that is
// not theirs: a pending, blocked or voided card reads exactly like an unknown
// code (no card ID, no state); a card redeemed by another account, an
// expired card and a card in a refused currency are named by the masked code
// the shopper typed, without the card's ID, redemption time or state. A card
// this account redeemed is its own: that refusal keeps the card ID and when.
func refusal(err error, masked string) error {
	var ce *giftcard.Error
	if !errors.As(err, &ce) {
		return err
	}
	if ce.Err == giftcard.ErrAlreadyRedeemed && ce.SameAccount {
		return &giftcard.Error{Op: "redeem", CardID: ce.CardID, Masked: masked, SameAccount: true, RedeemedAt: ce.RedeemedAt, Err: ce.Err}
	}
	return &giftcard.Error{Op: "redeem", Masked: masked, Err: ce.Err}
}

// currencyRefusal refuses a card in a currency outside Config.Currencies,
// named by the masked code only.
func (s *Service) currencyRefusal(masked string, card giftcard.Card) error {
	return &giftcard.Error{Op: "redeem", Masked: masked, Err: giftkit.ErrCurrencyMismatch,
		Detail: "this wallet does not hold " + card.Value.Currency().Code()}
}

// redeemOpened redeems a card whose value is in its own account (it was
// spent as a tender, reloaded or moved): what is available on it moves to
// owner's account, keeping its class and expiry, and the card's account is
// left with what payments in progress hold. The card itself stays as it
// is. It fails with giftcard.ErrNoBalance when nothing is available.
func (s *Service) redeemOpened(tx Tx, owner, masked string, card giftcard.Card, cause activity.Cause) (Redeemed, error) {
	cur := card.Value.Currency()
	var parcels []Parcel
	if _, err := UpdateAccount(tx, Change{Owner: giftcard.AccountOwner(card.ID), Currency: cur, Kind: activity.KindTransfer,
		Reference: owner, Cause: cause}, func(a Account) (Account, []Entry, error) {
		if Blocked(a) {
			return a, nil, blockedRefusal("redeem", masked)
		}
		if !s.accepts(cur) {
			return a, nil, s.currencyRefusal(masked, card)
		}
		a, entries, ps, err := a.TransferOut(giftkit.FromMinor(math.MaxInt64, cur), true, owner, cause.Key, cause.At)
		parcels = ps
		return a, entries, err
	}); err != nil {
		return Redeemed{}, err
	}
	if len(parcels) == 0 {
		return Redeemed{}, &giftcard.Error{Op: "redeem", Masked: masked, Err: giftcard.ErrNoBalance}
	}
	var entries []Entry
	acct, err := UpdateAccount(tx, Change{Owner: owner, Currency: cur, Kind: activity.KindTransfer, Reference: card.ID, Cause: cause},
		func(a Account) (Account, []Entry, error) {
			var err error
			a, entries, err = a.TransferIn(parcels, func(t time.Time) time.Time { return s.cfg.Programme.FundsExpiry(t, cause.At) },
				card.ID, card.ID, cause.Key, cause.At)
			if err == nil {
				err = s.ruleError("redeem", owner, s.cfg.Programme.CheckAccountBalance(a.Balance()))
			}
			return a, entries, err
		})
	if err != nil {
		return Redeemed{}, err
	}
	var amount int64
	for _, e := range entries {
		amount += e.Amount.Minor()
	}
	last := entries[len(entries)-1]
	return Redeemed{CardID: card.ID, Amount: giftkit.FromMinor(amount, cur), Balance: balanceOf(acct), Entry: last}, nil
}

func (s *Service) check(op, owner, key string) error {
	if !validOwner(owner) {
		return &Error{Op: op, Owner: owner, Err: ErrInvalidOwner}
	}
	if err := idem.CheckKey(key); err != nil {
		return &Error{Op: op, Owner: owner, Detail: err.Error(), Err: giftkit.ErrKeyRequired}
	}
	return nil
}

// A Change is one change to one account inside a unit of work: what
// [UpdateAccount] applies and records.
type Change struct {
	Owner     string           // the account's owner
	Currency  giftkit.Currency // the account's currency
	Kind      activity.Kind    // what the change's activity record calls it; zero: told by its entries (see KindOf)
	Reference string           // what the change is about: the activity record's Reference
	// Cause is who makes the change, why, under which key, and when:
	// Cause.At is the instant the change happens, and the passage of time
	// is applied up to it.
	Cause activity.Cause

	// room, if set, is where UpdateAccount puts the change's activity
	// records and their snapshots instead of allocating room for them: a
	// hot path's per-call state has room for them.
	room *changeRoom
}

// changeRoom is room for what UpdateAccount hands the store: the activity
// records of a sweep and a change, and the change's snapshot when it fits
// (an account with one lot and a short owner takes about 70 bytes; a sweep,
// rarer, has its snapshot allocated).
type changeRoom struct {
	records  [2]activity.Record
	snapshot [128]byte
}

// changeSnapshot returns the room for the change's snapshot; none without
// a changeRoom.
func (r *changeRoom) changeSnapshot() []byte {
	if r == nil {
		return nil
	}
	return r.snapshot[:0]
}

// UpdateAccount is the one way every use case, this package's and
// checkout's, changes an account inside a unit of work: it loads the
// account of ch.Owner in ch.Currency (a new one if there is none), applies
// the passage of time to it ([Account.Sweep]), runs apply on the result,
// and saves the account with the sweep's entries and the change's, and an
// activity record for each: the sweep's as the system's, the change's as
// ch.Cause's. apply returns the changed account and the journal entries
// that record the change; a nil apply only applies the passage of time. If
// apply fails, nothing is saved and its error is returned. It returns the
// account as saved.
func UpdateAccount(tx Tx, ch Change, apply func(Account) (Account, []Entry, error)) (Account, error) {
	acct, found, err := tx.Account(ch.Owner, ch.Currency)
	if err != nil {
		return Account{}, err
	}
	if !found {
		acct = NewAccount(ch.Owner, ch.Currency)
	}
	now := ch.Cause.At
	var records *[2]activity.Record
	if ch.room != nil {
		records = &ch.room.records
	} else {
		records = new([2]activity.Record)
	}
	n := 0
	before := acct
	acct, entries := acct.Sweep(now)
	if len(entries) > 0 {
		acct, records[n] = recordChange(nil, activity.KindExpiry, before, acct, entries, "", activity.Sweep(now))
		n++
	}
	if apply != nil {
		before := acct
		var more []Entry
		if acct, more, err = apply(acct); err != nil {
			return Account{}, err
		}
		if len(more) > 0 {
			acct, records[n] = recordChange(ch.room.changeSnapshot(), ch.Kind, before, acct, more, ch.Reference, ch.Cause)
			n++
		}
		if len(entries) == 0 {
			entries = more // the usual case: nothing was due
		} else {
			entries = append(entries, more...)
		}
	}
	if len(entries) == 0 {
		return acct, nil
	}
	if err := tx.SaveAccount(acct, entries); err != nil {
		return Account{}, err
	}
	return acct, tx.AppendActivity(records[:n])
}

// KindOf returns the kind of activity that journal entries of one change
// record: a capture if they capture, otherwise that of the last entry.
func KindOf(entries []Entry) activity.Kind {
	kinds := [...]activity.Kind{EntryCredit: activity.KindCredit, EntryHold: activity.KindHold,
		EntryRelease: activity.KindRelease, EntryCapture: activity.KindCapture, EntryRefund: activity.KindRefund,
		EntryExpiry: activity.KindExpiry, EntryAdjustment: activity.KindAdjust, EntryClawback: activity.KindClawback,
		EntryLoad: activity.KindLoad, EntryTransfer: activity.KindTransfer, EntryFee: activity.KindFee}
	var k activity.Kind
	for _, e := range entries {
		if int(e.Kind) < len(kinds) && k != activity.KindCapture {
			k = kinds[e.Kind]
		}
	}
	return k
}

// recordChange returns the activity record of the change from before to
// after that entries journal, and after with its Head moved past it. The
// record's snapshot is written in room when it fits.
func recordChange(room []byte, kind activity.Kind, before, after Account, entries []Entry, ref string, cause activity.Cause) (Account, activity.Record) {
	if kind == 0 {
		kind = KindOf(entries)
	}
	var amount, held int64
	for _, e := range entries {
		amount, held = amount+e.Amount.Minor(), held+e.Held.Minor()
	}
	r := activity.Record{Subject: activity.Account(after.owner, after.currency), Kind: kind, Reference: ref,
		Amount: after.money(amount), Held: after.money(held), Before: before.Balance(), After: after.Balance(),
	}
	if room == nil {
		room = make([]byte, 0, after.snapshotSize())
	}
	snap := after.AppendSnapshot(room[:0]) // into room while it fits
	r.Snapshot = snap[:len(snap):len(snap)]
	r, after.head = cause.Seal(before.head, r)
	return after, r
}

// Balance returns owner's balance in currency c; zero for an account that
// does not exist yet. It applies expired holds and credits first.
func (s *Service) Balance(ctx context.Context, owner string, c giftkit.Currency) (_ Balance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.balance")
	defer span.End(&err)
	if !validOwner(owner) {
		return Balance{}, &Error{Op: "balance", Owner: owner, Err: ErrInvalidOwner}
	}
	if !c.IsValid() {
		return Balance{}, &Error{Op: "balance", Owner: owner, Err: giftkit.ErrCurrencyMismatch, Detail: "no currency"}
	}
	var out Balance
	err = s.store.Update(ctx, func(tx Tx) error {
		acct, err := UpdateAccount(tx, Change{Owner: owner, Currency: c, Cause: activity.Sweep(s.cfg.Now())}, nil)
		out = balanceOf(acct)
		return err
	})
	return out, err
}

// DefaultPageSize and MaxPageSize bound [Service.History] pages.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// HistoryPage is one page of an account's journal, oldest entry first.
type HistoryPage struct {
	// Entries are up to History's limit of journal entries, in order of
	// Seq; empty when none follow the cursor.
	Entries []Entry `json:"entries"`
	// Next is the cursor for the following page (pass it as after); 0 when
	// this page is the last. Cursors are sequence numbers, so a page never
	// changes once written: new entries only ever appear on later pages.
	Next int64 `json:"next,omitempty"`
}

// History returns up to limit journal entries of owner's account in c with
// sequence numbers above after (0 for the first page), oldest first. A
// limit of 0 means DefaultPageSize; more than MaxPageSize is capped.
func (s *Service) History(ctx context.Context, owner string, c giftkit.Currency, after int64, limit int) (_ HistoryPage, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.history")
	defer span.End(&err)
	if !validOwner(owner) {
		return HistoryPage{}, &Error{Op: "history", Owner: owner, Err: ErrInvalidOwner}
	}
	if !c.IsValid() || after < 0 || limit < 0 {
		return HistoryPage{}, &Error{Op: "history", Owner: owner, Err: ErrInvalidAmount, Detail: "invalid currency, cursor or limit"}
	}
	if limit == 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	var page HistoryPage
	err = s.store.Update(ctx, func(tx Tx) error {
		if _, err := UpdateAccount(tx, Change{Owner: owner, Currency: c, Cause: activity.Sweep(s.cfg.Now())}, nil); err != nil {
			return err
		}
		entries, err := tx.Entries(owner, c, after, limit+1)
		if err != nil {
			return err
		}
		page = HistoryPage{Entries: entries}
		if len(entries) > limit {
			page.Entries = entries[:limit]
			page.Next = entries[limit-1].Seq
		}
		return nil
	})
	return page, err
}

// HoldRequest describes a hold to place.
type HoldRequest struct {
	Amount    giftkit.Money // what to reserve of the available balance: positive; its currency picks the account
	Reference string        // what the hold is for, such as an order ID
	ExpiresAt time.Time     // when the hold lapses if neither captured nor released; zero means never
}

// HoldID returns the ID of the hold that a call with owner and key places,
// derived from them (length-prefixed, so that no two pairs share an ID) so
// that a retry finds the same hold.
func HoldID(owner, key string) string {
	return "hold_" + idem.Fingerprint(owner, key)[:20]
}

// Hold reserves req.Amount of owner's available balance, soonest-expiring
// credits first, and returns the hold, whose ID is [HoldID](owner, key) and
// whose placer is [PlacerWallet]. It fails with [ErrInsufficientFunds],
// [ErrInvalidAmount], [ErrInvalidExpiry] (an expiry not after now),
// [giftkit.ErrCurrencyMismatch] (also for a currency outside Config.Currencies), or a
// key or owner error.
func (s *Service) Hold(ctx context.Context, owner string, req HoldRequest, key string) (_ Hold, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.hold")
	defer span.End(&err)
	return change(ctx, s, holdOutcomes, op{"hold", activity.KindHold, req.Reference}, owner, req.Amount.Currency(), key,
		[]string{req.Amount.String(), req.Reference, req.ExpiresAt.UTC().String()},
		func(a Account, now time.Time) (Account, []Entry, Hold, error) {
			id := HoldID(owner, key)
			a, e, err := a.PlaceHold(HoldSpec{ID: id, Placer: PlacerWallet, Amount: req.Amount, Reference: req.Reference,
				ExpiresAt: req.ExpiresAt}, key, now)
			h, _ := a.Hold(id)
			return a, []Entry{e}, h, err
		})
}

// Release closes an open hold placed through this service without spending
// it. It fails with [ErrHoldNotFound] if the hold is not open (captured,
// released, expired), and with [ErrForeignHold] for a hold another party
// placed (a checkout payment's, which only checkout may release).
func (s *Service) Release(ctx context.Context, owner string, c giftkit.Currency, holdID, key string) (_ Balance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.release")
	defer span.End(&err)
	return change(ctx, s, balanceOutcomes, op{"release", activity.KindRelease, holdID}, owner, c, key, []string{holdID},
		func(a Account, now time.Time) (Account, []Entry, Balance, error) {
			a, e, err := a.Release(holdID, PlacerWallet, key, now)
			return a, []Entry{e}, balanceOf(a), err
		})
}

// Capture spends amount of an open hold placed through this service and
// releases the rest of it. It fails with [ErrHoldNotFound],
// [ErrForeignHold], [ErrExceedsHold], [ErrInvalidAmount] or
// [giftkit.ErrCurrencyMismatch].
func (s *Service) Capture(ctx context.Context, owner, holdID string, amount giftkit.Money, key string) (_ Balance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.capture")
	defer span.End(&err)
	return change(ctx, s, balanceOutcomes, op{"capture", activity.KindCapture, holdID}, owner, amount.Currency(), key, []string{holdID, amount.String()},
		func(a Account, now time.Time) (Account, []Entry, Balance, error) {
			a, entries, err := a.Capture(holdID, PlacerWallet, amount, key, now)
			return a, entries, balanceOf(a), err
		})
}

// Debit spends amount of the available balance at once (a hold and its
// capture, journaled as both). It fails with [ErrInsufficientFunds],
// [ErrInvalidAmount] or [giftkit.ErrCurrencyMismatch].
func (s *Service) Debit(ctx context.Context, owner string, amount giftkit.Money, reference, key string) (_ Balance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.debit")
	defer span.End(&err)
	return change(ctx, s, balanceOutcomes, op{"debit", activity.KindCapture, reference}, owner, amount.Currency(), key, []string{amount.String(), reference},
		func(a Account, now time.Time) (Account, []Entry, Balance, error) {
			id := HoldID(owner, key)
			a, hold, err := a.PlaceHold(HoldSpec{ID: id, Placer: PlacerWallet, Amount: amount, Reference: reference}, key, now)
			if err != nil {
				return a, nil, Balance{}, err
			}
			a, captured, err := a.Capture(id, PlacerWallet, amount, key, now)
			return a, append([]Entry{hold}, captured...), balanceOf(a), err
		})
}

// Refund returns amount to owner's balance as a new credit that never
// expires. It fails with [ErrInvalidAmount] or [giftkit.ErrCurrencyMismatch] (also
// for a currency outside Config.Currencies, in which no account is opened).
func (s *Service) Refund(ctx context.Context, owner string, amount giftkit.Money, reference, key string) (_ Balance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.refund")
	defer span.End(&err)
	return change(ctx, s, balanceOutcomes, op{"refund", activity.KindRefund, reference}, owner, amount.Currency(), key, []string{amount.String(), reference},
		func(a Account, now time.Time) (Account, []Entry, Balance, error) {
			a, e, err := a.Credit(CreditSpec{Kind: EntryRefund, Amount: amount, Source: reference, Reference: reference}, key, now)
			return a, []Entry{e}, balanceOf(a), err
		})
}

// Adjust changes owner's balance by delta, up or down, as an operator's
// correction or goodwill credit. Up, it is a credit of class
// giftkit.ClassAdjustment that never expires; down, it takes from the
// available balance in spending order, never below zero and never from
// what holds reserve. The call's context must carry an operator
// (giftkit.WithActor) and a reason (giftkit.WithReason), which the
// account's activity record keeps, and the journal shows an
// EntryAdjustment. It fails with activity.ErrInvalidActor,
// [ErrInsufficientFunds] (less available than a downward delta),
// [ErrInvalidAmount] (a zero delta), giftkit.ErrCurrencyMismatch, or a
// key, owner or reference error. A retry with the same key returns the
// first outcome.
func (s *Service) Adjust(ctx context.Context, owner string, delta giftkit.Money, reference, key string) (_ Balance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.adjust")
	defer span.End(&err)
	if err := giftcard.OperatorCall(ctx); err != nil {
		return Balance{}, err
	}
	return change(ctx, s, balanceOutcomes, op{"adjust", activity.KindAdjust, reference}, owner, delta.Currency(), key,
		[]string{delta.String(), reference},
		func(a Account, now time.Time) (Account, []Entry, Balance, error) {
			if !delta.IsNegative() {
				a, e, err := a.Credit(CreditSpec{Kind: EntryAdjustment, Amount: delta, Source: reference, Reference: reference}, key, now)
				return a, []Entry{e}, balanceOf(a), err
			}
			down, err := delta.Neg()
			if err != nil {
				e := a.fail("adjust", ErrInvalidAmount)
				e.Amount = delta
				return a, nil, Balance{}, e
			}
			a, entries, _, err := a.Take(TakeSpec{Kind: EntryAdjustment, Amount: down, Reference: reference}, key, now)
			return a, entries, balanceOf(a), err
		})
}

// Sweep applies expired holds and credits to owner's account in c now,
// rather than the next time the account is touched. Sweeping is idempotent
// by nature, so it takes no key.
func (s *Service) Sweep(ctx context.Context, owner string, c giftkit.Currency) (_ Balance, err error) {
	ctx, span := s.obs.Begin(ctx, "wallet.sweep")
	defer span.End(&err)
	return s.Balance(ctx, owner, c)
}

// op names an account operation: its name (in errors and fingerprints),
// the kind of its activity record, and what the record is about.
type op struct {
	name      string
	kind      activity.Kind
	reference string
}

// change runs an idempotent account operation: load and sweep the account,
// apply step, save. step's error leaves nothing written.
func change[R any](ctx context.Context, s *Service, o idem.Outcomes[R], what op, owner string, c giftkit.Currency, key string, request []string,
	step func(Account, time.Time) (Account, []Entry, R, error)) (R, error) {
	var zero R
	op := what.name
	if err := s.check(op, owner, key); err != nil {
		return zero, err
	}
	if !c.IsValid() {
		return zero, &Error{Op: op, Owner: owner, Err: ErrInvalidAmount, Detail: "amount has no currency"}
	}
	if !s.accepts(c) {
		return zero, &Error{Op: op, Owner: owner, Currency: c, Err: giftkit.ErrCurrencyMismatch, Detail: "this wallet does not hold " + c.Code()}
	}
	for _, field := range request { // references and hold IDs; amounts and times are text too
		if !idem.ValidText(field, MaxReferenceLen) {
			return zero, &Error{Op: op, Owner: owner, Err: ErrInvalidReference, Detail: "a reference or hold ID is not 1 to 255 bytes of UTF-8 without control characters"}
		}
	}
	now := s.cfg.Now()
	cause, err := activity.CauseFrom(ctx, key, now)
	if err != nil {
		return zero, err
	}
	call := idem.NewCall("wallet/"+owner, key, now, op, append([]string{c.Code()}, request...)...)
	res, err := idem.Do(ctx, s.store, call, o, func(tx Tx) (out R, err error) {
		_, err = UpdateAccount(tx, Change{Owner: owner, Currency: c, Kind: what.kind, Reference: what.reference, Cause: cause},
			func(a Account) (Account, []Entry, error) {
				a, entries, r, err := step(a, now)
				out = r
				return a, entries, err
			})
		return out, err
	})
	return res.Value, wrapConflict(op, owner, err)
}

// wrapConflict puts an idempotency conflict into an *Error like every other
// failure of this package; other errors pass through.
func wrapConflict(op, owner string, err error) error {
	if err == giftkit.ErrIdempotencyConflict { // idem reports it bare
		return &Error{Op: op, Owner: owner, Err: err}
	}
	return err
}

// maskedCode returns the attribute that names a redeemed code in logs and
// traces, masked (codefmt.Code.Masked), or the zero Attr when no one
// observes: parsing costs nothing then.
func maskedCode(h *obs.Hooks, code string) slog.Attr {
	if !h.On() {
		return slog.Attr{}
	}
	if c, err := codefmt.Parse(code); err == nil {
		return slog.String("code", c.Masked())
	}
	return slog.String("code", "unreadable")
}
