package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// Tx is a unit of work on a [Store]. It implements giftcard.Tx, wallet.Tx,
// wallet.LimiterTx, checkout.Tx, activity.Tx, outbox.Tx and egift.Tx;
// every read of a card, an account, a payment, an idempotency record, an
// attempt log or a delivery locks the rows it returns until the unit ends
// (journal entries and activity records, which never change, and the
// deliveries due, are read without a lock).
type Tx struct {
	ctx       context.Context
	conn      *pgx.Conn
	begun     bool            // BEGIN was sent
	unsent    bool            // the unit\'s first round trip failed before reaching the server
	done      bool            // the unit ended
	writes    pgx.Batch       // writes not yet sent (see unit.go)
	pending   []pendingWrite  // one per queued write
	ahead     *ahead          // rows read ahead, if the unit asked
	appendLog *queuedLog      // the queued write that appends activity records and events, if not sent yet
	logs      map[string]bool // subjects whose attempt log the unit read: true if it found (and locked) one

	wroteEvents bool // the unit appended outbox events: its commit wakes the outbox's waiters
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

// Cards and accounts keep their times in timestamptz columns, which hold
// microseconds, and the nanoseconds below the microsecond in a smallint
// column beside each (named *_ns, 0 to 999): a card or an account reads
// back exactly as it was written, and so as its activity records'
// snapshots have it.

// splitTime returns t floored to the microsecond, as timestamptz keeps it,
// and the nanoseconds below.
func splitTime(t time.Time) (time.Time, int16) {
	us := t.Truncate(time.Microsecond) // down: the zero time is on a microsecond
	return us, int16(t.Sub(us))
}

// splitNull is splitTime for a column where NULL is the zero time.
func splitNull(t time.Time) (*time.Time, int16) {
	if t.IsZero() {
		return nil, 0
	}
	us, ns := splitTime(t)
	return &us, ns
}

// joinTime is the inverse of splitTime.
func joinTime(us *time.Time, ns int16) time.Time {
	if us == nil {
		return time.Time{}
	}
	return us.Add(time.Duration(ns)).UTC()
}

const cardColumns = `id, hash, suffix, currency, minor_units, value, state, batch_id, issued_at,
	activated_at, expires_at, redeemed_by, redeemed_at, updated_at, class, clawed_back, head_seq, head_digest,
	issued_at_ns, activated_at_ns, expires_at_ns, redeemed_at_ns, updated_at_ns, imported, tags`

const cardSQL = "SELECT " + cardColumns + " FROM giftkit_cards WHERE "

func (t *Tx) card(op, where string, arg any) (giftcard.Card, bool, error) {
	br, err := t.send(op, func(b *pgx.Batch) { b.Queue(cardSQL+where+" FOR UPDATE", arg) })
	if err != nil {
		return giftcard.Card{}, false, err
	}
	c, found, err := scanCard(op, br.QueryRow())
	return c, found, closeResults(op, br, err)
}

// closeResults closes a batch's results, keeping the first error.
func closeResults(op string, br pgx.BatchResults, err error) error {
	if cerr := br.Close(); err == nil && cerr != nil {
		err = translate(op, cerr)
	}
	return err
}

func scanCard(op string, row pgx.Row) (giftcard.Card, bool, error) {
	var (
		c           giftcard.Card
		hash        []byte
		code, state string
		minor       int16
		value       int64
		redeemedBy  *string
		class       int16
		clawedBack  *int64
		headDigest  []byte
		times       [5]*time.Time // issued, activated, expires, redeemed, updated
		ns          [5]int16
	)
	err := row.Scan(&c.ID, &hash, &c.Suffix, &code, &minor, &value, &state, &c.BatchID, &times[0],
		&times[1], &times[2], &redeemedBy, &times[3], &times[4], &class, &clawedBack, &c.Head.Seq, &headDigest,
		&ns[0], &ns[1], &ns[2], &ns[3], &ns[4], &c.Imported, &c.Tags)
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
	c.IssuedAt, c.ActivatedAt, c.ExpiresAt = joinTime(times[0], ns[0]), joinTime(times[1], ns[1]), joinTime(times[2], ns[2])
	c.RedeemedAt, c.UpdatedAt = joinTime(times[3], ns[3]), joinTime(times[4], ns[4])
	if redeemedBy != nil {
		c.RedeemedBy = *redeemedBy
	}
	c.Class = giftkit.ValueClass(class)
	if clawedBack != nil { // NULL: no clawback yet, giftkit.Money{}
		c.ClawedBack = giftkit.FromMinor(*clawedBack, cur)
	}
	copy(c.Head.Digest[:], headDigest)
	return c, true, nil
}

// CardByID implements giftcard.Tx.
func (t *Tx) CardByID(id string) (giftcard.Card, bool, error) {
	return t.card("card by ID", "id = $1", id)
}

// CardByHash implements giftcard.Tx.
func (t *Tx) CardByHash(h giftcard.Hash) (giftcard.Card, bool, error) {
	if a := t.ahead; a != nil && a.want.HasCard && a.want.CardHash == h {
		if err := t.fetchAhead("card by hash"); err != nil {
			return giftcard.Card{}, false, err
		}
		if a.hasCard {
			a.hasCard = false // served once
			if a.card == nil {
				return giftcard.Card{}, false, nil
			}
			return *a.card, true, nil
		}
	}
	return t.card("card by hash", "hash = $1", h[:])
}

// PutCard implements giftcard.Tx. A new card whose hash another card has
// fails with ErrConflict; so does changing a card's hash, and changing a
// redeemed or voided card in any way but what a clawback records (its
// ClawedBack, UpdatedAt and Head).
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
	if a := t.ahead; a != nil && a.card != nil && a.card.ID == c.ID {
		a.hasCard = false // a later read must see this write
	}
	// A change of hash is refused by a trigger (migration 0004), and so is
	// any change of a redeemed or voided card but its clawed_back,
	// updated_at and head (0001, 0005: every other column, imported and
	// tags of 0007 among them), as errors that fail the unit whole.
	return t.write("put card", nil, `INSERT INTO giftkit_cards (`+cardColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
			$24, $25)
		ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, value = excluded.value, state = excluded.state,
			activated_at = excluded.activated_at, expires_at = excluded.expires_at, redeemed_by = excluded.redeemed_by,
			redeemed_at = excluded.redeemed_at, updated_at = excluded.updated_at, class = excluded.class,
			clawed_back = excluded.clawed_back, head_seq = excluded.head_seq, head_digest = excluded.head_digest,
			activated_at_ns = excluded.activated_at_ns, expires_at_ns = excluded.expires_at_ns,
			redeemed_at_ns = excluded.redeemed_at_ns, updated_at_ns = excluded.updated_at_ns, imported = excluded.imported,
			tags = excluded.tags`,
		cardValues(&c, string(state), redeemedBy)...)
}

// cardValues returns the values of cardColumns for c, whose state and
// redeemer are encoded.
func cardValues(c *giftcard.Card, state string, redeemedBy *string) []any {
	var clawedBack *int64 // NULL: giftkit.Money{}, no clawback yet
	if c.ClawedBack != (giftkit.Money{}) {
		n := c.ClawedBack.Minor()
		clawedBack = &n
	}
	issued, issuedNs := splitTime(c.IssuedAt)
	activated, activatedNs := splitNull(c.ActivatedAt)
	expires, expiresNs := splitNull(c.ExpiresAt)
	redeemed, redeemedNs := splitNull(c.RedeemedAt)
	updated, updatedNs := splitTime(c.UpdatedAt)
	return []any{c.ID, c.Hash[:], c.Suffix, c.Value.Currency().Code(), int16(c.Value.Currency().MinorUnits()), c.Value.Minor(),
		state, c.BatchID, issued, activated, expires, redeemedBy, redeemed, updated,
		int16(c.Class), clawedBack, c.Head.Seq, c.Head.Digest[:], issuedNs, activatedNs, expiresNs, redeemedNs, updatedNs,
		c.Imported, c.Tags}
}

// The accounts' lots and holds are kept as JSON of plain integers: the
// account row has the currency. A lot's class is the giftkit.ValueClass's
// number; lots written before schema version 5 have none, and were
// purchased value.
type lotRow struct {
	ID        string    `json:"id"`
	Source    string    `json:"source"`
	Class     uint8     `json:"class,omitempty"`
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

const accountSQL = `SELECT currency, minor_units, next_seq, lots, holds, updated_at, updated_at_ns, head_seq, head_digest
	FROM giftkit_accounts WHERE owner = $1`

const ownerAccountsSQL = accountSQL + " FOR UPDATE"

// Account implements wallet.Tx. A row that breaks an account's rules
// (see wallet.RestoreAccount) fails with ErrConflict.
func (t *Tx) Account(owner string, c giftkit.Currency) (wallet.Account, bool, error) {
	if a := t.ahead; a != nil && a.want.Owner == owner {
		if err := t.fetchAhead("account"); err != nil {
			return wallet.Account{}, false, err
		}
		if !a.served(c) {
			a.serve(c)
			acct, ok := a.accounts[c]
			return acct, ok, nil
		}
	}
	br, err := t.send("account", func(b *pgx.Batch) {
		b.Queue(accountSQL+" AND currency = $2 FOR UPDATE", owner, c.Code())
	})
	if err != nil {
		return wallet.Account{}, false, err
	}
	accounts, err := scanAccounts(br, owner)
	if err = closeResults("account", br, err); err != nil {
		return wallet.Account{}, false, err
	}
	acct, ok := accounts[c]
	return acct, ok, nil
}

// scanAccounts reads the rows of ownerAccountsSQL.
func scanAccounts(br pgx.BatchResults, owner string) (map[giftkit.Currency]wallet.Account, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, translate("account", err)
	}
	defer rows.Close()
	out := map[giftkit.Currency]wallet.Account{}
	for rows.Next() {
		var (
			code                string
			minor               int16
			st                  = wallet.AccountState{Owner: owner}
			lotsJSON, holdsJSON []byte
			updated             *time.Time
			updatedNs           int16
			headDigest          []byte
		)
		if err := rows.Scan(&code, &minor, &st.NextSeq, &lotsJSON, &holdsJSON, &updated, &updatedNs, &st.Head.Seq, &headDigest); err != nil {
			return nil, translate("account", err)
		}
		c, err := currency(code, minor)
		if err != nil {
			return nil, err
		}
		st.Currency, st.UpdatedAt = c, joinTime(updated, updatedNs)
		copy(st.Head.Digest[:], headDigest)
		a, err := restoreAccount(st, lotsJSON, holdsJSON)
		if err != nil {
			return nil, err
		}
		out[c] = a
	}
	return out, translate("account", rows.Err())
}

// restoreAccount rebuilds an account from its row.
func restoreAccount(st wallet.AccountState, lotsJSON, holdsJSON []byte) (wallet.Account, error) {
	c := st.Currency
	var lots []lotRow
	var holds []holdRow
	if err := json.Unmarshal(lotsJSON, &lots); err != nil {
		return wallet.Account{}, &Error{Op: "account", Err: ErrConflict, cause: "lots: " + err.Error()}
	}
	if err := json.Unmarshal(holdsJSON, &holds); err != nil {
		return wallet.Account{}, &Error{Op: "account", Err: ErrConflict, cause: "holds: " + err.Error()}
	}
	for _, l := range lots {
		class := giftkit.ValueClass(l.Class)
		if class == 0 {
			class = giftkit.ClassPurchased // a lot written before classes
		}
		st.Lots = append(st.Lots, wallet.Lot{ID: l.ID, Source: l.Source, Class: class, Remaining: giftkit.FromMinor(l.Remaining, c),
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
		return wallet.Account{}, &Error{Op: "account", Err: ErrConflict, inner: err}
	}
	return a, nil
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
		lots[i] = lotRow{l.ID, l.Source, uint8(l.Class), l.Remaining.Minor(), l.Reserved.Minor(), l.ExpiresAt, l.CreatedAt}
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
	if a := t.ahead; a != nil && a.accounts != nil && a.want.Owner == st.Owner {
		a.serve(st.Currency) // a later read must see this write
	}
	updated, updatedNs := splitNull(st.UpdatedAt)
	for _, e := range entries { // checked before anything is queued
		if _, err := e.Kind.MarshalText(); err != nil {
			return &Error{Op: "save account", Err: ErrConflict, cause: err.Error()}
		}
	}
	if err := t.write("save account", nil, `INSERT INTO giftkit_accounts
		(owner, currency, minor_units, balance, held, next_seq, lots, holds, updated_at, updated_at_ns, head_seq, head_digest)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (owner, currency) DO UPDATE SET balance = excluded.balance, held = excluded.held,
			next_seq = excluded.next_seq, lots = excluded.lots, holds = excluded.holds, updated_at = excluded.updated_at,
			updated_at_ns = excluded.updated_at_ns, head_seq = excluded.head_seq, head_digest = excluded.head_digest`,
		st.Owner, st.Currency.Code(), int16(st.Currency.MinorUnits()), a.Balance().Minor(), a.Held().Minor(),
		st.NextSeq, lotsJSON, holdsJSON, updated, updatedNs, st.Head.Seq, st.Head.Digest[:]); err != nil {
		return err
	}
	for len(entries) > 0 {
		n := min(len(entries), entriesValuesMax)
		args := make([]any, 0, 11*n)
		for _, e := range entries[:n] {
			kind, _ := e.Kind.MarshalText()
			args = append(args, e.Owner, e.Currency.Code(), e.Seq, string(kind), e.Amount.Minor(), e.Held.Minor(),
				e.BalanceAfter.Minor(), e.AvailableAfter.Minor(), e.Reference, e.Key, e.At)
		}
		if err := t.write("save account", nil, insertEntriesSQL[n], args...); err != nil {
			return err
		}
		entries = entries[n:]
	}
	return nil
}

// entriesValuesMax is how many journal entries one statement inserts:
// SaveAccount sends an account's new entries (a payment's two) in one
// statement, or in statements of this many.
const entriesValuesMax = 8

// insertEntriesSQL[n] inserts n journal entries, given column by column,
// entry after entry.
var insertEntriesSQL = func() (sql [entriesValuesMax + 1]string) {
	for n := 1; n <= entriesValuesMax; n++ {
		var b strings.Builder
		b.WriteString(`INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after,
			available_after, reference, key, at) VALUES `)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(")
			for j := range 11 {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString("$" + strconv.Itoa(11*i+j+1))
			}
			b.WriteString(")")
		}
		sql[n] = b.String()
	}
	return sql
}()

// Entries implements wallet.Tx. It takes no lock: entries never change.
func (t *Tx) Entries(owner string, c giftkit.Currency, afterSeq int64, limit int) ([]wallet.Entry, error) {
	if err := t.usable("entries"); err != nil {
		return nil, err
	}
	br, err := t.send("entries", func(b *pgx.Batch) {
		b.Queue(`SELECT seq, kind, amount, held, balance_after, available_after, reference, key, at
			FROM giftkit_entries WHERE owner = $1 AND currency = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
			owner, c.Code(), afterSeq, limit)
	})
	if err != nil {
		return nil, err
	}
	defer br.Close()
	rows, err := br.Query()
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

const idempotencySQL = `SELECT fingerprint, outcome, created_at FROM giftkit_idempotency
	WHERE scope = $1 AND key = $2 FOR UPDATE`

// Idempotency implements giftcard.Tx.
func (t *Tx) Idempotency(scope, key string) (giftkit.IdempotencyRecord, bool, error) {
	if a := t.ahead; a != nil && a.want.Key != "" && a.want.Scope == scope && a.want.Key == key {
		if err := t.fetchAhead("idempotency"); err != nil {
			return giftkit.IdempotencyRecord{}, false, err
		}
		if a.hasRecord {
			a.hasRecord = false // served once
			if a.record == nil {
				return giftkit.IdempotencyRecord{}, false, nil
			}
			return *a.record, true, nil
		}
	}
	br, err := t.send("idempotency", func(b *pgx.Batch) { b.Queue(idempotencySQL, scope, key) })
	if err != nil {
		return giftkit.IdempotencyRecord{}, false, err
	}
	r, found, err := scanIdempotency(br.QueryRow(), scope, key)
	return r, found, closeResults("idempotency", br, err)
}

func scanIdempotency(row pgx.Row, scope, key string) (giftkit.IdempotencyRecord, bool, error) {
	r := giftkit.IdempotencyRecord{Scope: scope, Key: key}
	err := row.Scan(&r.Fingerprint, &r.Outcome, &r.CreatedAt)
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
	if a := t.ahead; a != nil && a.want.Scope == r.Scope && a.want.Key == r.Key {
		a.hasRecord = false // a later read must see this write
	}
	outcome := append([]byte{}, r.Outcome...) // sent later; the caller reuses r.Outcome
	return t.write("put idempotency", nil, `INSERT INTO giftkit_idempotency (scope, key, fingerprint, outcome, created_at)
		VALUES ($1, $2, $3, $4, $5)`, r.Scope, r.Key, r.Fingerprint, outcome, r.CreatedAt)
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
	br, err := t.send("insert cards", func(b *pgx.Batch) {
		b.Queue(`SELECT EXISTS (SELECT 1 FROM giftkit_cards WHERE hash = ANY($1))`, hashes)
	})
	if err != nil {
		return false, err
	}
	var taken bool
	if err := closeResults("insert cards", br, translate("insert cards", br.QueryRow().Scan(&taken))); err != nil || taken {
		return taken, err
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
		return cardValues(c, string(state), redeemedBy), nil
	})
	_, err = t.conn.CopyFrom(t.ctx, pgx.Identifier{"giftkit_cards"}, columns, rows)
	return false, translate("insert cards", err)
}
