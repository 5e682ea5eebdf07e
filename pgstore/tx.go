package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	pending   []pendingWrite  // the writes not yet sent (see unit.go)
	ahead     *ahead          // rows read ahead, if the unit asked
	appendLog *queuedLog      // the queued write that appends activity records and events, if not sent yet
	logs      map[string]bool // subjects whose attempt log the unit read: true if it found (and locked) one
	// cards are the cards the unit read, and so locked, as stored: their
	// rows as read, or as the unit's writes since left them.
	cards map[string]giftcard.Card
	// accounts are the accounts the unit read, and so locked, by rowKey.
	accounts map[string]bool

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
	c, found, err := scanCard(op, br)
	if err = closeResults(op, br, err); err != nil {
		return giftcard.Card{}, false, err
	}
	if found {
		t.locked(c)
	}
	return c, found, nil
}

// locked notes that the unit read c, and holds its row's lock: PutCard
// then updates what changed.
func (t *Tx) locked(c giftcard.Card) {
	if t.cards == nil {
		t.cards = make(map[string]giftcard.Card, 1)
	}
	t.cards[c.ID] = c
}

// closeResults closes a batch's results, keeping the first error.
func closeResults(op string, br pgx.BatchResults, err error) error {
	if cerr := br.Close(); err == nil && cerr != nil {
		err = translate(op, cerr)
	}
	return err
}

// scanCard reads a card, if the statement (cardSQL) found one.
func scanCard(op string, br pgx.BatchResults) (c giftcard.Card, found bool, err error) {
	found, err = queryRow(br, func(rows pgx.Rows) error {
		c, err = cardFromRow(op, rows)
		return err
	})
	if err != nil {
		return giftcard.Card{}, false, decodeError(op, err)
	}
	return c, found, nil
}

// cardFromRow decodes the current row of cardSQL.
func cardFromRow(op string, rows pgx.Rows) (giftcard.Card, error) {
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
	r := newRowValues(rows)
	c.ID, hash, c.Suffix, code, minor, value = r.text(0), r.bytes(1), r.text(2), r.text(3), r.int16(4), r.int64(5)
	state, c.BatchID, times[0], times[1], times[2] = r.text(6), r.text(7), r.time(8), r.time(9), r.time(10)
	redeemedBy, times[3], times[4], class, clawedBack = r.nullText(11), r.time(12), r.time(13), r.int16(14), r.nullInt64(15)
	c.Head.Seq, headDigest, ns[0], ns[1], ns[2] = r.int64(16), r.bytes(17), r.int16(18), r.int16(19), r.int16(20)
	ns[3], ns[4], c.Imported, c.Tags = r.int16(21), r.int16(22), r.bool(23), r.text(24)
	if !r.ok {
		c = giftcard.Card{}
		if err := rows.Scan(&c.ID, &hash, &c.Suffix, &code, &minor, &value, &state, &c.BatchID, &times[0],
			&times[1], &times[2], &redeemedBy, &times[3], &times[4], &class, &clawedBack, &c.Head.Seq, &headDigest,
			&ns[0], &ns[1], &ns[2], &ns[3], &ns[4], &c.Imported, &c.Tags); err != nil {
			return giftcard.Card{}, err
		}
	}
	cur, err := currency(code, minor)
	if err != nil {
		return giftcard.Card{}, err
	}
	copy(c.Hash[:], hash)
	c.Value = giftkit.FromMinor(value, cur)
	if err := c.State.UnmarshalText([]byte(state)); err != nil {
		return giftcard.Card{}, &Error{Op: op, Err: ErrConflict, cause: err.Error()}
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
	return c, nil
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
// ClawedBack, UpdatedAt and Head). A card the unit read (and so locked) is
// written by an UPDATE of the columns that changed, and not at all if none
// did; any other by an upsert. Either way a stored card keeps its suffix,
// currency, batch and issue time.
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
	row := rowKey('c', c.ID)
	if prev, ok := t.cards[c.ID]; ok {
		// The unit read the card, and holds its lock since: the row is
		// prev, and an UPDATE of what changed (among the columns the
		// upsert below would set) does what the upsert would.
		t.cards[c.ID] = c
		fields := changedCardFields(&prev, &c)
		if fields == 0 {
			return nil
		}
		return t.write("put card", row, nil, cardUpdateSQL(fields), cardUpdateArgs(fields, &c, string(state), redeemedBy)...)
	}
	return t.write("put card", row, nil, `INSERT INTO giftkit_cards (`+cardColumns+`)
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

// The columns of a card that PutCard sets on a stored card, in groups
// that change together: cardUpdateSQL(fields) updates those of the groups
// whose bits fields has.
const (
	cardHash = 1 << iota
	cardValue
	cardState
	cardActivated
	cardExpires
	cardRedeemedBy
	cardRedeemed
	cardUpdated
	cardClass
	cardClawedBack
	cardHead
	cardImported
	cardTags
	cardFieldCount = iota
)

var cardFieldColumns = [cardFieldCount][]string{{"hash"}, {"value"}, {"state"}, {"activated_at", "activated_at_ns"},
	{"expires_at", "expires_at_ns"}, {"redeemed_by"}, {"redeemed_at", "redeemed_at_ns"}, {"updated_at", "updated_at_ns"},
	{"class"}, {"clawed_back"}, {"head_seq", "head_digest"}, {"imported"}, {"tags"}}

// changedCardFields returns the groups of columns in which c differs from
// prev, as stored.
func changedCardFields(prev, c *giftcard.Card) int {
	var f int
	set := func(bit int, changed bool) {
		if changed {
			f |= bit
		}
	}
	set(cardHash, c.Hash != prev.Hash)
	set(cardValue, c.Value.Minor() != prev.Value.Minor())
	set(cardState, c.State != prev.State)
	set(cardActivated, !c.ActivatedAt.Equal(prev.ActivatedAt))
	set(cardExpires, !c.ExpiresAt.Equal(prev.ExpiresAt))
	set(cardRedeemedBy, c.RedeemedBy != prev.RedeemedBy)
	set(cardRedeemed, !c.RedeemedAt.Equal(prev.RedeemedAt))
	set(cardUpdated, !c.UpdatedAt.Equal(prev.UpdatedAt))
	set(cardClass, c.Class != prev.Class)
	set(cardClawedBack, c.ClawedBack != prev.ClawedBack)
	set(cardHead, c.Head != prev.Head)
	set(cardImported, c.Imported != prev.Imported)
	set(cardTags, c.Tags != prev.Tags)
	return f
}

// cardUpdates keeps the statements of cardUpdateSQL, by fields.
var cardUpdates sync.Map

// cardUpdateSQL returns the UPDATE of a card's columns in fields, by its
// ID ($1), their values following in cardFieldColumns' order.
func cardUpdateSQL(fields int) string {
	if sql, ok := cardUpdates.Load(fields); ok {
		return sql.(string)
	}
	var b strings.Builder
	b.WriteString("UPDATE giftkit_cards SET ")
	n := 1
	for i, columns := range cardFieldColumns {
		if fields&(1<<i) == 0 {
			continue
		}
		for _, col := range columns {
			if n > 1 {
				b.WriteString(", ")
			}
			n++
			b.WriteString(col + " = $" + strconv.Itoa(n))
		}
	}
	b.WriteString(" WHERE id = $1")
	sql, _ := cardUpdates.LoadOrStore(fields, b.String())
	return sql.(string)
}

// cardUpdateArgs returns the parameters of cardUpdateSQL(fields) for c.
func cardUpdateArgs(fields int, c *giftcard.Card, state string, redeemedBy *string) []any {
	args := make([]any, 1, 16)
	args[0] = c.ID
	for i := range cardFieldCount {
		bit := 1 << i
		if fields&bit == 0 {
			continue
		}
		switch bit {
		case cardHash:
			args = append(args, c.Hash[:])
		case cardValue:
			args = append(args, c.Value.Minor())
		case cardState:
			args = append(args, state)
		case cardActivated:
			at, ns := splitNull(c.ActivatedAt)
			args = append(args, at, ns)
		case cardExpires:
			at, ns := splitNull(c.ExpiresAt)
			args = append(args, at, ns)
		case cardRedeemedBy:
			args = append(args, redeemedBy)
		case cardRedeemed:
			at, ns := splitNull(c.RedeemedAt)
			args = append(args, at, ns)
		case cardUpdated:
			at, ns := splitTime(c.UpdatedAt)
			args = append(args, at, ns)
		case cardClass:
			args = append(args, int16(c.Class))
		case cardClawedBack:
			args = append(args, clawedBack(c))
		case cardHead:
			args = append(args, c.Head.Seq, c.Head.Digest[:])
		case cardImported:
			args = append(args, c.Imported)
		case cardTags:
			args = append(args, c.Tags)
		}
	}
	return args
}

// clawedBack returns what clawbacks took of c as its column has it: NULL
// for giftkit.Money{}, no clawback yet.
func clawedBack(c *giftcard.Card) *int64 {
	if c.ClawedBack == (giftkit.Money{}) {
		return nil
	}
	n := c.ClawedBack.Minor()
	return &n
}

// cardValues returns the values of cardColumns for c, whose state and
// redeemer are encoded.
func cardValues(c *giftcard.Card, state string, redeemedBy *string) []any {
	issued, issuedNs := splitTime(c.IssuedAt)
	activated, activatedNs := splitNull(c.ActivatedAt)
	expires, expiresNs := splitNull(c.ExpiresAt)
	redeemed, redeemedNs := splitNull(c.RedeemedAt)
	updated, updatedNs := splitTime(c.UpdatedAt)
	return []any{c.ID, c.Hash[:], c.Suffix, c.Value.Currency().Code(), int16(c.Value.Currency().MinorUnits()), c.Value.Minor(),
		state, c.BatchID, issued, activated, expires, redeemedBy, redeemed, updated,
		int16(c.Class), clawedBack(c), c.Head.Seq, c.Head.Digest[:], issuedNs, activatedNs, expiresNs, redeemedNs, updatedNs,
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
	if ok {
		t.lockedAccount(owner, c)
	}
	return acct, ok, nil
}

// lockedAccount notes that the unit read the owner's account in c, and
// holds its row's lock: SaveAccount then updates it.
func (t *Tx) lockedAccount(owner string, c giftkit.Currency) {
	if t.accounts == nil {
		t.accounts = make(map[string]bool, 1)
	}
	t.accounts[rowKey('a', owner, c.Code())] = true
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
		r := newRowValues(rows)
		code, minor, st.NextSeq, lotsJSON, holdsJSON = r.text(0), r.int16(1), r.int64(2), r.json(3), r.json(4)
		updated, updatedNs, st.Head.Seq, headDigest = r.time(5), r.int16(6), r.int64(7), r.bytes(8)
		if !r.ok {
			st = wallet.AccountState{Owner: owner}
			if err := rows.Scan(&code, &minor, &st.NextSeq, &lotsJSON, &holdsJSON, &updated, &updatedNs, &st.Head.Seq, &headDigest); err != nil {
				return nil, translate("account", err)
			}
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
	lots, err := decodeLots(lotsJSON)
	if err != nil {
		return wallet.Account{}, &Error{Op: "account", Err: ErrConflict, cause: "lots: " + err.Error()}
	}
	holds, err := decodeHolds(holdsJSON)
	if err != nil {
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

// SaveAccount implements wallet.Tx: the account row (an UPDATE if the unit
// read it, and so locked it; an upsert otherwise) and its new entries,
// queued with the unit's other writes. The schema refuses a negative
// balance, more held than the balance, and an entry whose (owner,
// currency, seq) exists, with ErrConflict.
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
	lotsJSON, holdsJSON, err := accountJSON(st)
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
	row := rowKey('a', st.Owner, st.Currency.Code())
	sql := `INSERT INTO giftkit_accounts
		(owner, currency, minor_units, balance, held, next_seq, lots, holds, updated_at, updated_at_ns, head_seq, head_digest)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (owner, currency) DO UPDATE SET balance = excluded.balance, held = excluded.held,
			next_seq = excluded.next_seq, lots = excluded.lots, holds = excluded.holds, updated_at = excluded.updated_at,
			updated_at_ns = excluded.updated_at_ns, head_seq = excluded.head_seq, head_digest = excluded.head_digest`
	args := []any{st.Owner, st.Currency.Code(), int16(st.Currency.MinorUnits()), a.Balance().Minor(), a.Held().Minor(),
		st.NextSeq, lotsJSON, holdsJSON, updated, updatedNs, st.Head.Seq, st.Head.Digest[:]}
	if t.accounts[row] {
		// The unit read the account, and holds its lock since: an UPDATE of
		// the columns the upsert would set does what it would.
		sql = `UPDATE giftkit_accounts SET balance = $3, held = $4, next_seq = $5, lots = $6, holds = $7, updated_at = $8,
			updated_at_ns = $9, head_seq = $10, head_digest = $11 WHERE owner = $1 AND currency = $2`
		args = append(args[:2], args[3:]...)
	}
	if err := t.write("save account", row, nil, sql, args...); err != nil {
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
		if err := t.write("save account", "", nil, insertEntriesSQL[n], args...); err != nil {
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

// accountJSON returns the JSON of the account's lots and holds, and
// encoding/json's error if a time cannot be written.
func accountJSON(st wallet.AccountState) (lotsJSON, holdsJSON []byte, err error) {
	lotsJSON, okLots := appendLotsJSON(make([]byte, 0, 192*len(st.Lots)+2), st.Lots)
	holdsJSON, okHolds := appendHoldsJSON(make([]byte, 0, 256*len(st.Holds)+2), st.Holds)
	if okLots && okHolds {
		return lotsJSON, holdsJSON, nil
	}
	// A time encoding/json cannot write: its error.
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
	if lotsJSON, err = json.Marshal(lots); err != nil {
		return nil, nil, err
	}
	holdsJSON, err = json.Marshal(holds)
	return lotsJSON, holdsJSON, err
}

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
	return t.write("put idempotency", "", nil, `INSERT INTO giftkit_idempotency (scope, key, fingerprint, outcome, created_at)
		VALUES ($1, $2, $3, $4, $5)`, r.Scope, r.Key, r.Fingerprint, outcome, r.CreatedAt)
}

var _ giftcard.CardInserter = (*Tx)(nil)

// InsertCards implements giftcard.CardInserter in two round trips whatever
// the number of cards: a savepoint (with the unit's pending writes), then
// one COPY in PostgreSQL's binary format (see copyRows). A card whose hash
// a stored card has is found by the COPY itself, which the unique index on
// hashes refuses, rather than by a query before it: the unit then rolls
// back to the savepoint (with its next statement), so that nothing of the
// batch stays and the unit may go on; otherwise the savepoint is released
// (likewise).
func (t *Tx) InsertCards(cards []giftcard.Card) (bool, error) {
	const op = "insert cards"
	if err := t.usable(op); err != nil {
		return false, err
	}
	// The cards go in the order of their IDs: the primary key's index then
	// takes them from left to right, page after page, rather than at
	// random.
	order := make([]int, len(cards))
	states := make([]string, len(cards))
	seen := make(map[giftcard.Hash]struct{}, len(cards))
	for i := range cards {
		if _, dup := seen[cards[i].Hash]; dup {
			return true, nil
		}
		seen[cards[i].Hash] = struct{}{}
		state, err := cards[i].State.MarshalText()
		if err != nil {
			return false, &Error{Op: op, Err: ErrConflict, cause: err.Error()}
		}
		order[i], states[i] = i, string(state)
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(cards[a].ID, cards[b].ID) })
	if err := t.statement(op, "SAVEPOINT giftkit_insert_cards"); err != nil {
		return false, err
	}
	err := t.copyRows(op, "giftkit_cards", cardColumnList, len(order), func(b []byte, i int) []byte {
		return appendCardRow(b, &cards[order[i]], states[order[i]])
	})
	var e *Error
	switch {
	case err == nil:
		return false, t.statement(op, "RELEASE SAVEPOINT giftkit_insert_cards")
	case errors.As(err, &e) && e.constraint == "giftkit_cards_hash_key":
		return true, t.statement(op, "ROLLBACK TO SAVEPOINT giftkit_insert_cards")
	}
	return false, err
}

// cardColumnList is cardColumns, one name each.
var cardColumnList = strings.Split(strings.Join(strings.Fields(cardColumns), ""), ",")

// appendCardRow appends c's fields in the order of cardColumns, in COPY's
// binary format (see copyRows), as cardValues gives them to a statement.
func appendCardRow(b []byte, c *giftcard.Card, state string) []byte {
	issued, issuedNs := splitTime(c.IssuedAt)
	activated, activatedNs := splitNull(c.ActivatedAt)
	expires, expiresNs := splitNull(c.ExpiresAt)
	redeemed, redeemedNs := splitNull(c.RedeemedAt)
	updated, updatedNs := splitTime(c.UpdatedAt)
	cur := c.Value.Currency()
	b = copyText(b, c.ID)
	b = copyText(b, c.Hash[:])
	b = copyText(b, c.Suffix)
	b = copyText(b, cur.Code())
	b = copyInt16(b, int16(cur.MinorUnits()))
	b = copyInt64(b, c.Value.Minor())
	b = copyText(b, state)
	b = copyText(b, c.BatchID)
	b = copyTime(b, issued)
	b = copyNullTime(b, activated)
	b = copyNullTime(b, expires)
	if c.RedeemedBy != "" {
		b = copyText(b, c.RedeemedBy)
	} else {
		b = copyNull(b)
	}
	b = copyNullTime(b, redeemed)
	b = copyTime(b, updated)
	b = copyInt16(b, int16(c.Class))
	if c.ClawedBack != (giftkit.Money{}) {
		b = copyInt64(b, c.ClawedBack.Minor())
	} else {
		b = copyNull(b)
	}
	b = copyInt64(b, c.Head.Seq)
	b = copyText(b, c.Head.Digest[:])
	b = copyInt16(b, issuedNs)
	b = copyInt16(b, activatedNs)
	b = copyInt16(b, expiresNs)
	b = copyInt16(b, redeemedNs)
	b = copyInt16(b, updatedNs)
	b = copyBool(b, c.Imported)
	return copyText(b, c.Tags)
}
