package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/wallet"
)

// Tx is a unit of work on a [Store]. It implements giftcard.Tx (and so
// activity.Tx), wallet.Tx, wallet.LimiterTx, checkout.Tx (and so
// outbox.Tx) and egift.Tx. A Tx of [Store.Update] holds the database's
// write lock, so what it reads stays as read until it ends, and it reads
// its own writes. It is valid only inside its callback, and not safe for
// concurrent use.
type Tx struct {
	ctx      context.Context
	c        *conn
	done     bool
	readOnly bool
	events   []outbox.Event // the outbox's, inserted when fn returns nil (see AppendEvents)
}

// usable reports whether the Tx may still be used, and for a write,
// whether it may write.
func (t *Tx) usable(op string, write bool) error {
	switch {
	case t.done:
		return &Error{Op: op, Err: ErrTxDone}
	case write && t.readOnly:
		return &Error{Op: op, Err: ErrReadOnly}
	}
	return nil
}

// Times are kept as nanoseconds since the Unix epoch: exact, and ordered
// as integers. The zero time is NULL in a column and absent in JSON.
var (
	minUnixNano = time.Unix(0, math.MinInt64)
	maxUnixNano = time.Unix(0, math.MaxInt64)
)

// encoder turns values into column values, keeping the first error.
type encoder struct {
	op  string
	err error
}

// nanos returns t in nanoseconds; false for the zero time. A time that an
// int64 of nanoseconds cannot hold is an error.
func (e *encoder) nanos(t time.Time) (int64, bool) {
	if t.IsZero() {
		return 0, false
	}
	if t.Before(minUnixNano) || t.After(maxUnixNano) {
		if e.err == nil {
			e.err = &Error{Op: e.op, Err: ErrConflict, cause: "time " + t.UTC().String() + " is outside the years 1678 to 2262"}
		}
		return 0, false
	}
	return t.UnixNano(), true
}

// time returns t in nanoseconds for JSON, or nil for the zero time.
func (e *encoder) time(t time.Time) *int64 {
	if ns, ok := e.nanos(t); ok {
		return &ns
	}
	return nil
}

// arg returns t as a column value: nil or an int64.
func (e *encoder) arg(t time.Time) any {
	if ns, ok := e.nanos(t); ok {
		return ns
	}
	return nil
}

func (e *encoder) json(v any) string {
	b, err := json.Marshal(v)
	if err != nil && e.err == nil {
		e.err = &Error{Op: e.op, Err: ErrConflict, cause: err.Error()}
	}
	return string(b)
}

// fromNanos is the time kept as ns; the zero time for nil.
func fromNanos(ns *int64) time.Time {
	if ns == nil {
		return time.Time{}
	}
	return time.Unix(0, *ns).UTC()
}

func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func currency(op, code string, minor int64) (giftkit.Currency, error) {
	c, err := giftkit.NewCurrency(code, int(minor))
	if err != nil {
		return c, &Error{Op: op, Err: ErrConflict, cause: err.Error()}
	}
	return c, nil
}

func corrupt(op string, format string, args ...any) error {
	return &Error{Op: op, Err: ErrConflict, cause: fmt.Sprintf(format, args...)}
}

const cardColumns = `id, hash, suffix, currency, minor_units, value, state, batch_id, issued_at,
	activated_at, expires_at, redeemed_by, redeemed_at, updated_at, class, clawed_back, head_seq, head_digest, imported, tags`

func (t *Tx) card(op, where string, arg any) (giftcard.Card, bool, error) {
	if err := t.usable(op, false); err != nil {
		return giftcard.Card{}, false, err
	}
	var (
		c                                          giftcard.Card
		hash, digest                               []byte
		code, state, class                         string
		minor, value, issued, updated              int64
		activated, expires, redeemedAt, clawedBack sql.NullInt64
		redeemedBy                                 sql.NullString
	)
	found, err := t.c.row(t.ctx, "SELECT "+cardColumns+" FROM giftkit_cards WHERE "+where, []any{arg},
		&c.ID, &hash, &c.Suffix, &code, &minor, &value, &state, &c.BatchID, &issued,
		&activated, &expires, &redeemedBy, &redeemedAt, &updated, &class, &clawedBack, &c.Head.Seq, &digest, &c.Imported, &c.Tags)
	if err != nil || !found {
		return giftcard.Card{}, false, translate(t.ctx, op, err)
	}
	cur, err := currency(op, code, minor)
	if err != nil {
		return giftcard.Card{}, false, err
	}
	if len(hash) != len(c.Hash) {
		return giftcard.Card{}, false, corrupt(op, "card %s: hash of %d bytes", c.ID, len(hash))
	}
	copy(c.Hash[:], hash)
	c.Value = giftkit.FromMinor(value, cur)
	if err := c.State.UnmarshalText([]byte(state)); err != nil {
		return giftcard.Card{}, false, corrupt(op, "card %s: %v", c.ID, err)
	}
	if err := c.Class.UnmarshalText([]byte(class)); err != nil {
		return giftcard.Card{}, false, corrupt(op, "card %s: %v", c.ID, err)
	}
	if clawedBack.Valid {
		c.ClawedBack = giftkit.FromMinor(clawedBack.Int64, cur)
	}
	if len(digest) != len(c.Head.Digest) {
		return giftcard.Card{}, false, corrupt(op, "card %s: head digest of %d bytes", c.ID, len(digest))
	}
	copy(c.Head.Digest[:], digest)
	c.IssuedAt, c.UpdatedAt = time.Unix(0, issued).UTC(), time.Unix(0, updated).UTC()
	c.ActivatedAt, c.ExpiresAt, c.RedeemedAt = fromNull(activated), fromNull(expires), fromNull(redeemedAt)
	c.RedeemedBy = redeemedBy.String
	return c, true, nil
}

// CardByID implements giftcard.Tx.
func (t *Tx) CardByID(id string) (giftcard.Card, bool, error) {
	return t.card("card by ID", "id = ?", id)
}

// CardByHash implements giftcard.Tx.
func (t *Tx) CardByHash(h giftcard.Hash) (giftcard.Card, bool, error) {
	return t.card("card by hash", "hash = ?", h[:])
}

// PutCard implements giftcard.Tx. A new card whose hash another card has
// fails with ErrConflict; so do changing a card's hash, a card without a
// valid value class, a ClawedBack in another currency than the card's
// value or more than it, and changing a redeemed or voided card, which the
// schema refuses: a redeemed card changes only by a clawback, which adds
// to its ClawedBack (and moves its UpdatedAt and Head).
func (t *Tx) PutCard(c giftcard.Card) error {
	const op = "put card"
	if err := t.usable(op, true); err != nil {
		return err
	}
	e := encoder{op: op}
	args := e.card(&c)
	if e.err != nil {
		return e.err
	}
	res, err := t.c.exec(t.ctx, insertCard+`
		ON CONFLICT (id) DO UPDATE SET suffix = excluded.suffix, currency = excluded.currency,
			minor_units = excluded.minor_units, value = excluded.value, state = excluded.state,
			batch_id = excluded.batch_id, issued_at = excluded.issued_at, activated_at = excluded.activated_at,
			expires_at = excluded.expires_at, redeemed_by = excluded.redeemed_by,
			redeemed_at = excluded.redeemed_at, updated_at = excluded.updated_at, class = excluded.class,
			clawed_back = excluded.clawed_back, head_seq = excluded.head_seq, head_digest = excluded.head_digest,
			imported = excluded.imported, tags = excluded.tags
		WHERE giftkit_cards.hash = excluded.hash`, args...)
	if err != nil {
		return translate(t.ctx, op, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return &Error{Op: op, Err: ErrConflict, cause: "card " + c.ID + ": a card's code hash cannot change"}
	}
	return nil
}

const insertCard = `INSERT INTO giftkit_cards (` + cardColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// card returns c's columns, in the order of cardColumns. The class is kept
// by name (an invalid class's name is refused by the schema's CHECK),
// ClawedBack as minor units of the card's currency, NULL for the zero
// giftkit.Money{}, and Imported as 0 or 1.
func (e *encoder) card(c *giftcard.Card) []any {
	var redeemedBy, clawedBack any
	if c.RedeemedBy != "" {
		redeemedBy = c.RedeemedBy
	}
	cur := c.Value.Currency()
	if c.ClawedBack != (giftkit.Money{}) {
		if c.ClawedBack.Currency() != cur && e.err == nil {
			e.err = &Error{Op: e.op, Err: ErrConflict, cause: "card " + c.ID + ": clawed back " + c.ClawedBack.String() +
				" of a card in " + cur.Code()}
		}
		clawedBack = c.ClawedBack.Minor()
	}
	return []any{c.ID, c.Hash[:], c.Suffix, cur.Code(), cur.MinorUnits(), c.Value.Minor(),
		c.State.String(), c.BatchID, e.arg(c.IssuedAt), e.arg(c.ActivatedAt), e.arg(c.ExpiresAt), redeemedBy,
		e.arg(c.RedeemedAt), e.arg(c.UpdatedAt), c.Class.String(), clawedBack, c.Head.Seq, c.Head.Digest[:], c.Imported, c.Tags}
}

var _ giftcard.CardInserter = (*Tx)(nil)

// InsertCards implements giftcard.CardInserter: one prepared INSERT per
// card, under a savepoint that a taken hash rolls back, so that a batch is
// inserted whole or not at all. A card whose ID exists fails with
// ErrConflict.
func (t *Tx) InsertCards(cards []giftcard.Card) (taken bool, err error) {
	const op = "insert cards"
	if err := t.usable(op, true); err != nil {
		return false, err
	}
	seen := make(map[giftcard.Hash]struct{}, len(cards))
	for i := range cards {
		if _, dup := seen[cards[i].Hash]; dup {
			return true, nil
		}
		seen[cards[i].Hash] = struct{}{}
	}
	if _, err := t.c.exec(t.ctx, "SAVEPOINT giftkit_insert_cards"); err != nil {
		return false, translate(t.ctx, op, err)
	}
	defer func() {
		if taken || err != nil {
			_, _ = t.c.exec(context.WithoutCancel(t.ctx), "ROLLBACK TO giftkit_insert_cards")
		}
		if _, rerr := t.c.exec(context.WithoutCancel(t.ctx), "RELEASE giftkit_insert_cards"); rerr != nil && err == nil {
			err = translate(t.ctx, op, rerr)
		}
	}()
	for i := range cards {
		e := encoder{op: op}
		args := e.card(&cards[i])
		if e.err != nil {
			return false, e.err
		}
		if _, err := t.c.exec(t.ctx, insertCard, args...); err != nil {
			if uniqueViolation(err) { // the only UNIQUE index is the hash's
				return true, nil
			}
			return false, translate(t.ctx, op, err)
		}
	}
	return false, nil
}

// The accounts' lots and holds are kept as JSON of plain integers: the
// account row has the currency.
type lotRow struct {
	ID        string `json:"id"`
	Source    string `json:"source"`
	Remaining int64  `json:"remaining"`
	Reserved  int64  `json:"reserved"`
	ExpiresAt *int64 `json:"expires_at,omitempty"`
	CreatedAt *int64 `json:"created_at,omitempty"`
	// Class is the lot's value class by name, such as "promotional"; a lot
	// written before schema version 2 has none and is of the purchased
	// class.
	Class giftkit.ValueClass `json:"class,omitempty"`
}

type holdRow struct {
	ID        string    `json:"id"`
	Amount    int64     `json:"amount"`
	Reference string    `json:"reference"`
	Placer    string    `json:"placer"`
	Parts     []partRow `json:"parts"`
	ExpiresAt *int64    `json:"expires_at,omitempty"`
	CreatedAt *int64    `json:"created_at,omitempty"`
}

type partRow struct {
	LotID  string `json:"lot_id"`
	Amount int64  `json:"amount"`
}

// Account implements wallet.Tx. A row that breaks an account's rules (see
// wallet.RestoreAccount), or an account whose currency has other minor
// units than c, fails with ErrConflict.
func (t *Tx) Account(owner string, c giftkit.Currency) (wallet.Account, bool, error) {
	const op = "account"
	if err := t.usable(op, false); err != nil {
		return wallet.Account{}, false, err
	}
	var (
		st              = wallet.AccountState{Owner: owner, Currency: c}
		minor           int64
		lotsJS, holdsJS string
		updated         sql.NullInt64
		digest          []byte
	)
	found, err := t.c.row(t.ctx, `SELECT minor_units, next_seq, lots, holds, updated_at, head_seq, head_digest
		FROM giftkit_accounts WHERE owner = ? AND currency = ?`, []any{owner, c.Code()},
		&minor, &st.NextSeq, &lotsJS, &holdsJS, &updated, &st.Head.Seq, &digest)
	if err != nil || !found {
		return wallet.Account{}, false, translate(t.ctx, op, err)
	}
	if minor != int64(c.MinorUnits()) {
		return wallet.Account{}, false, corrupt(op, "the account of %q in %s has %d minor units, not %d", owner, c.Code(), minor, c.MinorUnits())
	}
	var lots []lotRow
	var holds []holdRow
	if err := json.Unmarshal([]byte(lotsJS), &lots); err != nil {
		return wallet.Account{}, false, corrupt(op, "lots: %v", err)
	}
	if err := json.Unmarshal([]byte(holdsJS), &holds); err != nil {
		return wallet.Account{}, false, corrupt(op, "holds: %v", err)
	}
	if len(digest) != len(st.Head.Digest) {
		return wallet.Account{}, false, corrupt(op, "the account of %q in %s: head digest of %d bytes", owner, c.Code(), len(digest))
	}
	copy(st.Head.Digest[:], digest)
	st.UpdatedAt = fromNull(updated)
	st.Lots = make([]wallet.Lot, len(lots))
	for i, l := range lots {
		if l.Class == 0 {
			l.Class = giftkit.ClassPurchased
		}
		st.Lots[i] = wallet.Lot{ID: l.ID, Source: l.Source, Class: l.Class, Remaining: giftkit.FromMinor(l.Remaining, c),
			Reserved: giftkit.FromMinor(l.Reserved, c), ExpiresAt: fromNanos(l.ExpiresAt), CreatedAt: fromNanos(l.CreatedAt)}
	}
	st.Holds = make([]wallet.Hold, len(holds))
	for i, h := range holds {
		hold := wallet.Hold{ID: h.ID, Amount: giftkit.FromMinor(h.Amount, c), Reference: h.Reference, Placer: h.Placer,
			ExpiresAt: fromNanos(h.ExpiresAt), CreatedAt: fromNanos(h.CreatedAt), Parts: make([]wallet.HoldPart, len(h.Parts))}
		for j, p := range h.Parts {
			hold.Parts[j] = wallet.HoldPart{LotID: p.LotID, Amount: giftkit.FromMinor(p.Amount, c)}
		}
		st.Holds[i] = hold
	}
	a, err := wallet.RestoreAccount(st)
	if err != nil {
		return wallet.Account{}, false, corrupt(op, "%v", err)
	}
	return a, true, nil
}

// SaveAccount implements wallet.Tx. entries must be the account's latest,
// at least one, in order, the last numbered a.NextSeq()−1, and the first
// must be the next of the account's journal (1 for a new account):
// otherwise, and if the schema refuses the account (a negative balance,
// more held than the balance), it fails with ErrConflict.
func (t *Tx) SaveAccount(a wallet.Account, entries []wallet.Entry) error {
	const op = "save account"
	if err := t.usable(op, true); err != nil {
		return err
	}
	st := a.State()
	if len(entries) == 0 {
		return &Error{Op: op, Err: ErrConflict, cause: "an account is saved with the entries that changed it"}
	}
	for i, e := range entries {
		if e.Owner != st.Owner || e.Currency != st.Currency || e.Seq != st.NextSeq-int64(len(entries)-i) {
			return &Error{Op: op, Err: ErrConflict, cause: "the entries are not the account's latest, in order"}
		}
	}
	e := encoder{op: op}
	lots := make([]lotRow, len(st.Lots))
	for i, l := range st.Lots {
		lots[i] = lotRow{l.ID, l.Source, l.Remaining.Minor(), l.Reserved.Minor(), e.time(l.ExpiresAt), e.time(l.CreatedAt), l.Class}
	}
	holds := make([]holdRow, len(st.Holds))
	for i, h := range st.Holds {
		parts := make([]partRow, len(h.Parts))
		for j, p := range h.Parts {
			parts[j] = partRow{p.LotID, p.Amount.Minor()}
		}
		holds[i] = holdRow{h.ID, h.Amount.Minor(), h.Reference, h.Placer, parts, e.time(h.ExpiresAt), e.time(h.CreatedAt)}
	}
	code, minor, first := st.Currency.Code(), st.Currency.MinorUnits(), entries[0].Seq
	args := []any{a.Balance().Minor(), a.Held().Minor(), st.NextSeq, e.json(lots), e.json(holds), e.arg(st.UpdatedAt),
		st.Head.Seq, st.Head.Digest[:], st.Owner, code, minor, first}
	if e.err != nil {
		return e.err
	}
	// The account's row moves on from the entry its journal expects next,
	// or, for a new account, is created with its first entries.
	res, err := t.c.exec(t.ctx, `UPDATE giftkit_accounts SET balance = ?1, held = ?2, next_seq = ?3, lots = ?4,
		holds = ?5, updated_at = ?6, head_seq = ?7, head_digest = ?8
		WHERE owner = ?9 AND currency = ?10 AND minor_units = ?11 AND next_seq = ?12`, args...)
	if err != nil {
		return translate(t.ctx, op, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		if first != 1 {
			return &Error{Op: op, Err: ErrConflict, cause: fmt.Sprintf(
				"entry %d of %q in %s is not the next of its journal", first, st.Owner, code)}
		}
		// A new account; the key refuses it if one exists, whose journal
		// already has entry 1, or whose currency has other minor units.
		if _, err := t.c.exec(t.ctx, `INSERT INTO giftkit_accounts
			(balance, held, next_seq, lots, holds, updated_at, head_seq, head_digest, owner, currency, minor_units)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args[:11]...); err != nil {
			return translate(t.ctx, op, err)
		}
	}
	for _, en := range entries {
		args := []any{en.Owner, code, en.Seq, en.Kind.String(), en.Amount.Minor(), en.Held.Minor(),
			en.BalanceAfter.Minor(), en.AvailableAfter.Minor(), en.Reference, en.Key, e.arg(en.At)}
		if e.err != nil {
			return e.err
		}
		if _, err := t.c.exec(t.ctx, `INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held,
			balance_after, available_after, reference, key, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
			return translate(t.ctx, op, err)
		}
	}
	return nil
}

// Entries implements wallet.Tx.
func (t *Tx) Entries(owner string, c giftkit.Currency, afterSeq int64, limit int) ([]wallet.Entry, error) {
	const op = "entries"
	if err := t.usable(op, false); err != nil {
		return nil, err
	}
	rows, err := t.c.query(t.ctx, `SELECT seq, kind, amount, held, balance_after, available_after, reference, key, at
		FROM giftkit_entries WHERE owner = ? AND currency = ? AND seq > ? ORDER BY seq LIMIT ?`,
		owner, c.Code(), afterSeq, limit)
	if err != nil {
		return nil, translate(t.ctx, op, err)
	}
	defer rows.Close()
	var out []wallet.Entry
	for rows.Next() {
		e := wallet.Entry{Owner: owner, Currency: c}
		var kind string
		var amount, held, balance, available, at int64
		if err := rows.Scan(&e.Seq, &kind, &amount, &held, &balance, &available, &e.Reference, &e.Key, &at); err != nil {
			return nil, translate(t.ctx, op, err)
		}
		if err := e.Kind.UnmarshalText([]byte(kind)); err != nil {
			return nil, corrupt(op, "entry %d of %q: %v", e.Seq, owner, err)
		}
		e.Amount, e.Held = giftkit.FromMinor(amount, c), giftkit.FromMinor(held, c)
		e.BalanceAfter, e.AvailableAfter = giftkit.FromMinor(balance, c), giftkit.FromMinor(available, c)
		e.At = time.Unix(0, at).UTC()
		out = append(out, e)
	}
	return out, translate(t.ctx, op, rows.Err())
}

// Idempotency implements giftcard.Tx.
func (t *Tx) Idempotency(scope, key string) (giftkit.IdempotencyRecord, bool, error) {
	const op = "idempotency"
	if err := t.usable(op, false); err != nil {
		return giftkit.IdempotencyRecord{}, false, err
	}
	r := giftkit.IdempotencyRecord{Scope: scope, Key: key}
	var created sql.NullInt64
	found, err := t.c.row(t.ctx, `SELECT fingerprint, outcome, created_at FROM giftkit_idempotency
		WHERE scope = ? AND key = ?`, []any{scope, key}, &r.Fingerprint, &r.Outcome, &created)
	if err != nil || !found {
		return giftkit.IdempotencyRecord{}, false, translate(t.ctx, op, err)
	}
	r.CreatedAt = fromNull(created)
	return r, true, nil
}

// PutIdempotency implements giftcard.Tx. A second record under one scope
// and key fails with ErrConflict.
func (t *Tx) PutIdempotency(r giftkit.IdempotencyRecord) error {
	const op = "put idempotency"
	if err := t.usable(op, true); err != nil {
		return err
	}
	outcome := r.Outcome
	if outcome == nil {
		outcome = []byte{}
	}
	e := encoder{op: op}
	created := e.arg(r.CreatedAt)
	if e.err != nil {
		return e.err
	}
	_, err := t.c.exec(t.ctx, `INSERT INTO giftkit_idempotency (scope, key, fingerprint, outcome, created_at)
		VALUES (?, ?, ?, ?, ?)`, r.Scope, r.Key, r.Fingerprint, outcome, created)
	return translate(t.ctx, op, err)
}
