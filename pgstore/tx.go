package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// Tx is a unit of work on a [Store]. It implements giftcard.Tx, wallet.Tx,
// wallet.LimiterTx and checkout.Tx; every read locks the rows it returns
// until the unit ends.
type Tx struct {
	ctx  context.Context
	tx   pgx.Tx
	done bool
	logs map[string]bool // subjects whose attempt log the unit read: true if it found (and locked) one
}

func (t *Tx) usable(op string) error {
	if t.done {
		return &Error{Op: op, Err: ErrTxDone}
	}
	return nil
}

func currency(code string, minor int16) (giftkit.Currency, error) {
	c, err := giftkit.NewCurrency(code, int(minor))
	if err != nil {
		return c, &Error{Op: "decode", Err: ErrConflict, cause: err.Error()}
	}
	return c, nil
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

const cardColumns = `id, hash, suffix, currency, minor_units, value, state, batch_id, issued_at,
	activated_at, expires_at, redeemed_by, redeemed_at, updated_at`

func (t *Tx) card(op, where string, arg any) (giftcard.Card, bool, error) {
	if err := t.usable(op); err != nil {
		return giftcard.Card{}, false, err
	}
	var (
		c                              giftcard.Card
		hash                           []byte
		code, state                    string
		minor                          int16
		value                          int64
		activated, expires, redeemedAt *time.Time
		redeemedBy                     *string
		issued, updated                time.Time
	)
	err := t.tx.QueryRow(t.ctx, "SELECT "+cardColumns+" FROM giftkit_cards WHERE "+where+" FOR UPDATE", arg).Scan(
		&c.ID, &hash, &c.Suffix, &code, &minor, &value, &state, &c.BatchID, &issued,
		&activated, &expires, &redeemedBy, &redeemedAt, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return giftcard.Card{}, false, nil
	}
	if err != nil {
		return giftcard.Card{}, false, translate(op, err)
	}
	cur, err := currency(code, minor)
	if err != nil {
		return giftcard.Card{}, false, err
	}
	copy(c.Hash[:], hash)
	c.Value = giftkit.FromMinor(value, cur)
	if err := c.State.UnmarshalText([]byte(state)); err != nil {
		return giftcard.Card{}, false, &Error{Op: op, Err: ErrConflict, cause: err.Error()}
	}
	c.IssuedAt, c.UpdatedAt = issued.UTC(), updated.UTC()
	c.ActivatedAt, c.ExpiresAt, c.RedeemedAt = fromNull(activated), fromNull(expires), fromNull(redeemedAt)
	if redeemedBy != nil {
		c.RedeemedBy = *redeemedBy
	}
	return c, true, nil
}

// CardByID implements giftcard.Tx.
func (t *Tx) CardByID(id string) (giftcard.Card, bool, error) {
	return t.card("card by ID", "id = $1", id)
}

// CardByHash implements giftcard.Tx.
func (t *Tx) CardByHash(h giftcard.Hash) (giftcard.Card, bool, error) {
	return t.card("card by hash", "hash = $1", h[:])
}

// PutCard implements giftcard.Tx. A new card whose hash another card has
// fails with ErrConflict; so does changing a card's hash.
func (t *Tx) PutCard(c giftcard.Card) error {
	if err := t.usable("put card"); err != nil {
		return err
	}
	var redeemedBy *string
	if c.RedeemedBy != "" {
		redeemedBy = &c.RedeemedBy
	}
	state, err := c.State.MarshalText()
	if err != nil {
		return &Error{Op: "put card", Err: ErrConflict, cause: err.Error()}
	}
	tag, err := t.tx.Exec(t.ctx, `INSERT INTO giftkit_cards (`+cardColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, activated_at = excluded.activated_at,
			expires_at = excluded.expires_at, redeemed_by = excluded.redeemed_by,
			redeemed_at = excluded.redeemed_at, updated_at = excluded.updated_at
		WHERE giftkit_cards.hash = excluded.hash`,
		c.ID, c.Hash[:], c.Suffix, c.Value.Currency().Code(), int16(c.Value.Currency().MinorUnits()), c.Value.Minor(),
		string(state), c.BatchID, c.IssuedAt, nullTime(c.ActivatedAt), nullTime(c.ExpiresAt), redeemedBy,
		nullTime(c.RedeemedAt), c.UpdatedAt)
	if err != nil {
		return translate("put card", err)
	}
	if tag.RowsAffected() != 1 {
		return &Error{Op: "put card", Err: ErrConflict, cause: "card " + c.ID + ": a card's code hash cannot change"}
	}
	return nil
}

// The accounts' lots and holds are kept as JSON of plain integers: the
// account row has the currency.
type lotRow struct {
	ID        string    `json:"id"`
	Source    string    `json:"source"`
	Remaining int64     `json:"remaining"`
	Reserved  int64     `json:"reserved"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
}

type holdRow struct {
	ID        string    `json:"id"`
	Amount    int64     `json:"amount"`
	Reference string    `json:"reference"`
	Placer    string    `json:"placer"`
	Parts     []partRow `json:"parts"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
}

type partRow struct {
	LotID  string `json:"lot_id"`
	Amount int64  `json:"amount"`
}

// Account implements wallet.Tx. A row that breaks an account's rules
// (see wallet.RestoreAccount) fails with ErrConflict.
func (t *Tx) Account(owner string, c giftkit.Currency) (wallet.Account, bool, error) {
	if err := t.usable("account"); err != nil {
		return wallet.Account{}, false, err
	}
	var (
		st                  = wallet.AccountState{Owner: owner, Currency: c}
		lotsJSON, holdsJSON []byte
		updated             *time.Time
	)
	err := t.tx.QueryRow(t.ctx, `SELECT next_seq, lots, holds, updated_at
		FROM giftkit_accounts WHERE owner = $1 AND currency = $2 FOR UPDATE`, owner, c.Code()).Scan(
		&st.NextSeq, &lotsJSON, &holdsJSON, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.Account{}, false, nil
	}
	if err != nil {
		return wallet.Account{}, false, translate("account", err)
	}
	var lots []lotRow
	var holds []holdRow
	if err := json.Unmarshal(lotsJSON, &lots); err != nil {
		return wallet.Account{}, false, &Error{Op: "account", Err: ErrConflict, cause: "lots: " + err.Error()}
	}
	if err := json.Unmarshal(holdsJSON, &holds); err != nil {
		return wallet.Account{}, false, &Error{Op: "account", Err: ErrConflict, cause: "holds: " + err.Error()}
	}
	st.UpdatedAt = fromNull(updated)
	for _, l := range lots {
		st.Lots = append(st.Lots, wallet.Lot{ID: l.ID, Source: l.Source, Remaining: giftkit.FromMinor(l.Remaining, c),
			Reserved: giftkit.FromMinor(l.Reserved, c), ExpiresAt: l.ExpiresAt.UTC(), CreatedAt: l.CreatedAt.UTC()})
	}
	for _, h := range holds {
		hold := wallet.Hold{ID: h.ID, Amount: giftkit.FromMinor(h.Amount, c), Reference: h.Reference, Placer: h.Placer,
			ExpiresAt: h.ExpiresAt.UTC(), CreatedAt: h.CreatedAt.UTC()}
		for _, p := range h.Parts {
			hold.Parts = append(hold.Parts, wallet.HoldPart{LotID: p.LotID, Amount: giftkit.FromMinor(p.Amount, c)})
		}
		st.Holds = append(st.Holds, hold)
	}
	a, err := wallet.RestoreAccount(st)
	if err != nil {
		return wallet.Account{}, false, &Error{Op: "account", Err: ErrConflict, inner: err}
	}
	return a, true, nil
}

// SaveAccount implements wallet.Tx, in one round trip: the account row and
// its new entries. The schema refuses a negative balance, more held than
// the balance, and an entry whose (owner, currency, seq) exists, with
// ErrConflict.
func (t *Tx) SaveAccount(a wallet.Account, entries []wallet.Entry) error {
	if err := t.usable("save account"); err != nil {
		return err
	}
	st := a.State()
	for i, e := range entries {
		if e.Owner != st.Owner || e.Currency != st.Currency || e.Seq != st.NextSeq-int64(len(entries)-i) {
			return &Error{Op: "save account", Err: ErrConflict, cause: "the entries are not the account's latest, in order"}
		}
	}
	if len(entries) == 0 {
		return &Error{Op: "save account", Err: ErrConflict, cause: "an account is saved with the entries that changed it"}
	}
	lots := make([]lotRow, len(st.Lots))
	for i, l := range st.Lots {
		lots[i] = lotRow{l.ID, l.Source, l.Remaining.Minor(), l.Reserved.Minor(), l.ExpiresAt, l.CreatedAt}
	}
	holds := make([]holdRow, len(st.Holds))
	for i, h := range st.Holds {
		parts := make([]partRow, len(h.Parts))
		for j, p := range h.Parts {
			parts[j] = partRow{p.LotID, p.Amount.Minor()}
		}
		holds[i] = holdRow{h.ID, h.Amount.Minor(), h.Reference, h.Placer, parts, h.ExpiresAt, h.CreatedAt}
	}
	lotsJSON, err := json.Marshal(lots)
	if err != nil {
		return err
	}
	holdsJSON, err := json.Marshal(holds)
	if err != nil {
		return err
	}
	var b pgx.Batch
	b.Queue(`INSERT INTO giftkit_accounts
		(owner, currency, minor_units, balance, held, next_seq, lots, holds, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (owner, currency) DO UPDATE SET balance = excluded.balance, held = excluded.held,
			next_seq = excluded.next_seq, lots = excluded.lots, holds = excluded.holds, updated_at = excluded.updated_at`,
		st.Owner, st.Currency.Code(), int16(st.Currency.MinorUnits()), a.Balance().Minor(), a.Held().Minor(),
		st.NextSeq, lotsJSON, holdsJSON, nullTime(st.UpdatedAt))
	if err := queueEntries(&b, entries); err != nil {
		return err
	}
	return translate("save account", t.tx.SendBatch(t.ctx, &b).Close())
}

// queueEntries adds the inserts of entries to b.
func queueEntries(b *pgx.Batch, entries []wallet.Entry) error {
	for _, e := range entries {
		kind, err := e.Kind.MarshalText()
		if err != nil {
			return &Error{Op: "save account", Err: ErrConflict, cause: err.Error()}
		}
		b.Queue(`INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after,
			available_after, reference, key, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			e.Owner, e.Currency.Code(), e.Seq, string(kind), e.Amount.Minor(), e.Held.Minor(),
			e.BalanceAfter.Minor(), e.AvailableAfter.Minor(), e.Reference, e.Key, e.At)
	}
	return nil
}

// Entries implements wallet.Tx. It takes no lock: entries never change.
func (t *Tx) Entries(owner string, c giftkit.Currency, afterSeq int64, limit int) ([]wallet.Entry, error) {
	if err := t.usable("entries"); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(t.ctx, `SELECT seq, kind, amount, held, balance_after, available_after, reference, key, at
		FROM giftkit_entries WHERE owner = $1 AND currency = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
		owner, c.Code(), afterSeq, limit)
	if err != nil {
		return nil, translate("entries", err)
	}
	defer rows.Close()
	var out []wallet.Entry
	for rows.Next() {
		e := wallet.Entry{Owner: owner, Currency: c}
		var kind string
		var amount, held, balance, available int64
		if err := rows.Scan(&e.Seq, &kind, &amount, &held, &balance, &available, &e.Reference, &e.Key, &e.At); err != nil {
			return nil, translate("entries", err)
		}
		if err := e.Kind.UnmarshalText([]byte(kind)); err != nil {
			return nil, &Error{Op: "entries", Err: ErrConflict, cause: err.Error()}
		}
		e.Amount, e.Held = giftkit.FromMinor(amount, c), giftkit.FromMinor(held, c)
		e.BalanceAfter, e.AvailableAfter, e.At = giftkit.FromMinor(balance, c), giftkit.FromMinor(available, c), e.At.UTC()
		out = append(out, e)
	}
	return out, translate("entries", rows.Err())
}

// Idempotency implements giftcard.Tx.
func (t *Tx) Idempotency(scope, key string) (giftkit.IdempotencyRecord, bool, error) {
	if err := t.usable("idempotency"); err != nil {
		return giftkit.IdempotencyRecord{}, false, err
	}
	r := giftkit.IdempotencyRecord{Scope: scope, Key: key}
	err := t.tx.QueryRow(t.ctx, `SELECT fingerprint, outcome, created_at FROM giftkit_idempotency
		WHERE scope = $1 AND key = $2 FOR UPDATE`, scope, key).Scan(&r.Fingerprint, &r.Outcome, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return giftkit.IdempotencyRecord{}, false, nil
	}
	if err != nil {
		return giftkit.IdempotencyRecord{}, false, translate("idempotency", err)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return r, true, nil
}

// PutIdempotency implements giftcard.Tx. A second record under one key is a
// unique violation, which makes Update run the unit of work again: it then
// finds the record and replays it.
func (t *Tx) PutIdempotency(r giftkit.IdempotencyRecord) error {
	if err := t.usable("put idempotency"); err != nil {
		return err
	}
	outcome := r.Outcome
	if outcome == nil {
		outcome = []byte{}
	}
	_, err := t.tx.Exec(t.ctx, `INSERT INTO giftkit_idempotency (scope, key, fingerprint, outcome, created_at)
		VALUES ($1, $2, $3, $4, $5)`, r.Scope, r.Key, r.Fingerprint, outcome, r.CreatedAt)
	return translate("put idempotency", err)
}

var _ giftcard.CardInserter = (*Tx)(nil)

// InsertCards implements giftcard.CardInserter in two round trips whatever
// the number of cards: one query for taken hashes, one COPY.
func (t *Tx) InsertCards(cards []giftcard.Card) (bool, error) {
	if err := t.usable("insert cards"); err != nil {
		return false, err
	}
	hashes := make([][]byte, len(cards))
	seen := make(map[giftcard.Hash]struct{}, len(cards))
	for i := range cards {
		if _, dup := seen[cards[i].Hash]; dup {
			return true, nil
		}
		seen[cards[i].Hash] = struct{}{}
		hashes[i] = cards[i].Hash[:]
	}
	var taken bool
	if err := t.tx.QueryRow(t.ctx, `SELECT EXISTS (SELECT 1 FROM giftkit_cards WHERE hash = ANY($1))`, hashes).Scan(&taken); err != nil || taken {
		return taken, translate("insert cards", err)
	}
	columns := strings.Split(strings.Join(strings.Fields(cardColumns), ""), ",")
	rows := pgx.CopyFromSlice(len(cards), func(i int) ([]any, error) {
		c := &cards[i]
		state, err := c.State.MarshalText()
		if err != nil {
			return nil, &Error{Op: "insert cards", Err: ErrConflict, cause: err.Error()}
		}
		var redeemedBy *string
		if c.RedeemedBy != "" {
			redeemedBy = &c.RedeemedBy
		}
		return []any{c.ID, c.Hash[:], c.Suffix, c.Value.Currency().Code(), int16(c.Value.Currency().MinorUnits()), c.Value.Minor(),
			string(state), c.BatchID, c.IssuedAt, nullTime(c.ActivatedAt), nullTime(c.ExpiresAt), redeemedBy,
			nullTime(c.RedeemedAt), c.UpdatedAt}, nil
	})
	_, err := t.tx.CopyFrom(t.ctx, pgx.Identifier{"giftkit_cards"}, columns, rows)
	return false, translate("insert cards", err)
}
