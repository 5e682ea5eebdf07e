// Package memstore is giftkit's embedded, in-memory store: the default for
// tests, examples and single-process applications.
//
// A [Store] runs one unit of work at a time under a mutex, so units of work
// are serializable by construction. Writes are buffered in the [Tx] and
// applied only when the callback returns nil; values are copied in and out
// (accounts are immutable and shared), so callers can never alias stored
// state. Nothing is persisted: the data lives as long as the Store.
//
// A Store is also an outbox.Reader: events are numbered when their unit of
// work commits, under the same mutex, so positions are commit order and
// contiguous; Wait wakes at the commit; Prune drops what every registered
// consumer acknowledged (the outbox otherwise grows with every change).
// Its Tx keeps e-gift deliveries (egift.Tx).
//
// The zero Store is not usable; call [New]. A Store is safe for concurrent
// use; a Tx is valid only inside its callback.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/egift"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/wallet"
)

// Errors a Tx returns.
var (
	// ErrConflict: a write violates a uniqueness or ordering rule (two
	// cards with one code hash, a journal entry out of sequence, a second
	// idempotency record under one key).
	ErrConflict = errors.New("memstore: conflicting write")
	// ErrTxDone: the Tx was used after its callback returned.
	ErrTxDone = errors.New("memstore: transaction used after its unit of work ended")
)

type accountKey struct {
	owner    string
	currency giftkit.Currency
}

type idemKey struct{ scope, key string }

type accountSlot struct {
	account wallet.Account
	journal journal
}

// journal is an account's entries, entry i with Seq i+1. A long journal is
// kept in chunks of journalChunk entries, so that it grows without copying
// (and making the collector scan again) what it holds; a short one is one
// slice that grows as slices do.
type journal struct {
	chunks [][]wallet.Entry // every chunk but the last holds journalChunk entries
	n      int
}

const journalChunk = 256

func (j journal) len() int { return j.n }

func (j *journal) append(e wallet.Entry) {
	last := len(j.chunks) - 1
	switch {
	case last < 0:
		j.chunks = append(j.chunks, make([]wallet.Entry, 0, 4))
		last = 0
	case len(j.chunks[last]) == journalChunk:
		j.chunks = append(j.chunks, make([]wallet.Entry, 0, journalChunk))
		last++
	}
	j.chunks[last] = append(j.chunks[last], e)
	j.n++
}

// appendRange appends entries from (inclusive) to to (exclusive) to out.
func (j journal) appendRange(out []wallet.Entry, from, to int) []wallet.Entry {
	for from < to {
		c := j.chunks[from/journalChunk]
		end := min(len(c), from%journalChunk+(to-from))
		out = append(out, c[from%journalChunk:end]...)
		from += end - from%journalChunk
	}
	return out
}

// The cards and accounts are kept in slots that both of their maps (by ID
// and by code hash) point to, so that a lookup is one map access and a
// commit changes the slot in place.
type state struct {
	cards    map[string]*giftcard.Card
	byHash   map[giftcard.Hash]*giftcard.Card
	accounts map[accountKey]*accountSlot
	idem     map[idemKey]giftkit.IdempotencyRecord
	payments map[string]checkout.Payment
	attempts map[string]wallet.AttemptLog
	activity activityLog
	outbox   outboxLog
	// deliveries holds the e-gift deliveries, by ID.
	deliveries map[string]egift.Delivery
}

// Store is the in-memory store.
type Store struct {
	mu sync.Mutex
	state
	gen    uint64    // the current unit of work's number
	writes *writeSet // the current unit's writes, reused from unit to unit
	arena  []byte    // where idempotency outcomes are kept (see keep)

	dead *outbox.MemoryDeadLetters // the outbox's dead letters (see DeadLetters)
}

var (
	_ giftkit.Store[*Tx] = (*Store)(nil)
	_ checkout.Tx        = (*Tx)(nil)
	_ wallet.LimiterTx   = (*Tx)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{state: state{
		cards:      make(map[string]*giftcard.Card),
		byHash:     make(map[giftcard.Hash]*giftcard.Card),
		accounts:   make(map[accountKey]*accountSlot),
		idem:       make(map[idemKey]giftkit.IdempotencyRecord),
		payments:   make(map[string]checkout.Payment),
		attempts:   make(map[string]wallet.AttemptLog),
		deliveries: make(map[string]egift.Delivery),
	}, writes: new(writeSet), dead: outbox.NewMemoryDeadLetters()}
}

// Update runs fn as one unit of work. It returns ctx's error without running
// fn if ctx is done, fn's error unchanged after discarding fn's writes, or
// nil after applying them. It runs fn exactly once.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.writes.reset()
	tx := &Tx{s: s, w: s.writes, gen: s.gen}
	defer func() { s.gen++ }() // ends the unit even if fn panics: tx is done
	if err := fn(tx); err != nil {
		return err
	}
	s.commit()
	return nil
}

// Tx is a unit of work on a [Store]. It implements giftcard.Tx, wallet.Tx
// and checkout.Tx. Reads see the unit's own writes.
type Tx struct {
	s   *Store
	w   *writeSet
	gen uint64
}

// writeSet is what one unit of work wrote, applied to the store at commit.
type writeSet struct {
	cards        writes[string, giftcard.Card]
	byHash       writes[giftcard.Hash, string]
	accounts     writes[accountKey, accountWrite]
	idem         writes[idemKey, giftkit.IdempotencyRecord]
	payments     writes[string, checkout.Payment]
	attempts     writes[string, *wallet.AttemptLog] // nil: deleted
	journal      []journalWrite                     // every account's new entries, in order
	activity     []activity.Record                  // the unit's activity records, in order
	activityPrev []int32                            // for each, its subject's last committed record's position (-1: none), or prevInUnit
	events       []pendingEvent                     // the unit's events, in order
	deliveries   writes[string, egift.Delivery]
	lastSeq      writes[activity.Subject, int64] // the number of each subject's last record in the unit

	// inserted holds copies of InsertCards' batches: at commit they become
	// the cards' slots, so that a batch of thousands of cards is copied
	// once, not put in the write set's maps and copied again at commit.
	// insertedID and insertedHash index them, built only if the unit looks
	// a card up after inserting some (an issuance does not).
	inserted     [][]giftcard.Card
	insertedID   map[string]*giftcard.Card
	insertedHash map[giftcard.Hash]*giftcard.Card

	// What the unit found in the store's maps, kept so that the writes that
	// follow (a redemption reads a card, an account and a record, then
	// writes them) do not look the same keys up again: the store's maps are
	// large, and a lookup in them is most of a unit's cost.
	card     *giftcard.Card // the slot of the card last read from the store
	acct     accountKey     // the account last read, if readAcct
	acctSlot *accountSlot   // its slot; nil if it had none
	readAcct bool
	missed   idemKey // a record the unit looked for and found nowhere, if didMiss
	didMiss  bool
}

type accountWrite struct {
	account wallet.Account
	entries int // how many of the unit's journal entries are this account's
}

type journalWrite struct {
	account accountKey
	entry   wallet.Entry
}

func (w *writeSet) reset() {
	w.cards.reset()
	w.byHash.reset()
	w.accounts.reset()
	w.idem.reset()
	w.payments.reset()
	w.attempts.reset()
	clear(w.journal)
	w.journal = w.journal[:0]
	clear(w.activity)
	w.activity, w.activityPrev = w.activity[:0], w.activityPrev[:0]
	clear(w.events)
	w.events = w.events[:0]
	w.deliveries.reset()
	w.lastSeq.reset()
	w.inserted, w.insertedID, w.insertedHash = nil, nil, nil // the store keeps the batches: never reused
	w.card, w.acctSlot, w.readAcct, w.didMiss = nil, nil, false, false
}

func (s *Store) commit() {
	w := s.writes
	for _, batch := range w.inserted { // first, so that a card the unit inserted, then changed, ends changed
		for i := range batch {
			slot := &batch[i]
			s.cards[slot.ID], s.byHash[slot.Hash] = slot, slot
		}
	}
	var slab []giftcard.Card // the new cards' slots, allocated together
	for i, id := range w.cards.keys {
		if w.card != nil && w.card.ID == id { // the card the unit read: its slot is known
			*w.card = w.cards.vals[i]
			continue
		}
		if slot, ok := s.cards[id]; ok {
			*slot = w.cards.vals[i] // PutCard refuses a change of hash
			continue
		}
		if slab == nil {
			slab = make([]giftcard.Card, 0, len(w.cards.keys)-i)
		}
		slab = append(slab, w.cards.vals[i])
		slot := &slab[len(slab)-1]
		s.cards[id], s.byHash[slot.Hash] = slot, slot
	}
	var last accountKey
	var slot *accountSlot
	find := func(k accountKey) *accountSlot { // the slot of k, looked up once per run of entries
		switch {
		case slot != nil && k == last:
		case w.readAcct && k == w.acct && w.acctSlot != nil:
			slot = w.acctSlot
		default:
			slot = s.account(k)
		}
		last = k
		return slot
	}
	for i, k := range w.accounts.keys {
		find(k).account = w.accounts.vals[i].account
	}
	for _, j := range w.journal {
		a := find(j.account)
		a.journal.append(j.entry)
	}
	for i, k := range w.idem.keys {
		s.idem[k] = w.idem.vals[i]
	}
	base := int32(s.activity.n)
	s.commitActivity(w.activity, w.activityPrev)
	s.commitEvents(w.events, base)
	for i, id := range w.deliveries.keys {
		s.deliveries[id] = w.deliveries.vals[i]
	}
	for i, id := range w.payments.keys {
		s.payments[id] = w.payments.vals[i]
	}
	for i, subject := range w.attempts.keys {
		if l := w.attempts.vals[i]; l == nil {
			delete(s.attempts, subject)
		} else {
			s.attempts[subject] = *l
		}
	}
}

// keep copies an idempotency record's outcome into the store's arena:
// records are kept for good, so their bytes are carved from large chunks
// rather than allocated one by one. The copy's capacity is its length, so
// no append can reach a neighbour. A rolled-back unit's copy is wasted.
func (s *Store) keep(b []byte) []byte {
	const chunk = 64 << 10
	if len(b) > chunk/4 {
		return append([]byte(nil), b...)
	}
	if cap(s.arena)-len(s.arena) < len(b) {
		s.arena = make([]byte, 0, chunk)
	}
	start := len(s.arena)
	s.arena = append(s.arena, b...)
	return s.arena[start:len(s.arena):len(s.arena)]
}

// account returns the slot of account k, adding an empty one.
func (s *Store) account(k accountKey) *accountSlot {
	slot, ok := s.accounts[k]
	if !ok {
		slot = new(accountSlot)
		s.accounts[k] = slot
	}
	return slot
}

// journal returns the committed journal of account k.
func (s *Store) journal(k accountKey) journal {
	if slot, ok := s.accounts[k]; ok {
		return slot.journal
	}
	return journal{}
}

func (tx *Tx) usable() error {
	if tx.gen != tx.s.gen {
		return ErrTxDone
	}
	return nil
}

// CardByID implements giftcard.Tx.
func (tx *Tx) CardByID(id string) (giftcard.Card, bool, error) {
	if err := tx.usable(); err != nil {
		return giftcard.Card{}, false, err
	}
	if c, ok := tx.w.cards.get(id); ok {
		return c, true, nil
	}
	if c := tx.w.insertedByID(id); c != nil {
		return *c, true, nil
	}
	if c, ok := tx.s.cards[id]; ok {
		tx.w.card = c
		return *c, true, nil
	}
	return giftcard.Card{}, false, nil
}

// CardByHash implements giftcard.Tx.
func (tx *Tx) CardByHash(h giftcard.Hash) (giftcard.Card, bool, error) {
	if err := tx.usable(); err != nil {
		return giftcard.Card{}, false, err
	}
	if id, ok := tx.w.byHash.get(h); ok {
		c, _ := tx.w.cards.get(id)
		return c, true, nil
	}
	if c := tx.w.insertedByHash(h); c != nil {
		return *c, true, nil
	}
	if c, ok := tx.s.byHash[h]; ok { // a card this unit rewrote is in tx.w.byHash: its hash cannot change
		tx.w.card = c
		return *c, true, nil
	}
	return giftcard.Card{}, false, nil
}

// PutCard implements giftcard.Tx. It fails with [ErrConflict] if another
// card has the same hash.
func (tx *Tx) PutCard(c giftcard.Card) error {
	if err := tx.usable(); err != nil {
		return err
	}
	// The card the unit read, written back with its hash: nothing to check
	// (hashes are unique, and its ID is its own).
	if known := tx.w.card; known == nil || known.ID != c.ID || known.Hash != c.Hash {
		if other, ok, _ := tx.CardByHash(c.Hash); ok && other.ID != c.ID {
			return fmt.Errorf("%w: card %s has the same code hash as %s", ErrConflict, c.ID, other.ID)
		}
		if old, ok, _ := tx.CardByID(c.ID); ok && old.Hash != c.Hash {
			return fmt.Errorf("%w: card %s: a card's code hash cannot change", ErrConflict, c.ID)
		}
	}
	tx.w.cards.put(c.ID, c)
	tx.w.byHash.put(c.Hash, c.ID)
	return nil
}

// Account implements wallet.Tx. Accounts are immutable values, so the
// store shares them with its callers without copying.
func (tx *Tx) Account(owner string, c giftkit.Currency) (wallet.Account, bool, error) {
	if err := tx.usable(); err != nil {
		return wallet.Account{}, false, err
	}
	k := accountKey{owner, c}
	if aw, ok := tx.w.accounts.get(k); ok {
		return aw.account, true, nil
	}
	slot, ok := tx.s.accounts[k]
	tx.w.acct, tx.w.acctSlot, tx.w.readAcct = k, slot, true
	if ok {
		return slot.account, true, nil
	}
	return wallet.Account{}, false, nil
}

// SaveAccount implements wallet.Tx. It fails with [ErrConflict] unless
// entries are the account's, at least one, numbered on from the last entry
// of its journal up to a.NextSeq()−1.
func (tx *Tx) SaveAccount(a wallet.Account, entries []wallet.Entry) error {
	if err := tx.usable(); err != nil {
		return err
	}
	k := accountKey{a.Owner(), a.Currency()}
	aw, _ := tx.w.accounts.get(k)
	var committed int
	if tx.w.readAcct && tx.w.acct == k { // read in this unit: its slot is known
		if tx.w.acctSlot != nil {
			committed = tx.w.acctSlot.journal.len()
		}
	} else {
		committed = tx.s.journal(k).len()
	}
	next := int64(committed+aw.entries) + 1
	for i, e := range entries {
		if e.Owner != a.Owner() || e.Currency != a.Currency() || e.Seq != next+int64(i) {
			return fmt.Errorf("%w: entry %d of %s/%s out of sequence (next is %d)", ErrConflict, e.Seq, e.Owner, e.Currency, next+int64(i))
		}
	}
	if len(entries) == 0 {
		return fmt.Errorf("%w: account %s/%s saved without the entries that changed it", ErrConflict, k.owner, k.currency)
	}
	if last := next + int64(len(entries)) - 1; last != a.NextSeq()-1 {
		return fmt.Errorf("%w: account %s/%s is at entry %d, its journal at %d", ErrConflict, k.owner, k.currency, a.NextSeq()-1, last)
	}
	slot := tx.w.accounts.slot(k)
	slot.account, slot.entries = a, slot.entries+len(entries)
	for _, e := range entries {
		tx.w.journal = append(tx.w.journal, journalWrite{k, e})
	}
	return nil
}

// Entries implements wallet.Tx.
func (tx *Tx) Entries(owner string, c giftkit.Currency, afterSeq int64, limit int) ([]wallet.Entry, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	k := accountKey{owner, c}
	var out []wallet.Entry
	if committed := tx.s.journal(k); afterSeq < int64(committed.len()) {
		out = committed.appendRange(out, int(afterSeq), int(min(int64(committed.len()), afterSeq+int64(limit))))
	}
	for _, j := range tx.w.journal { // this unit's entries follow the committed ones
		if len(out) == limit {
			break
		}
		if j.account == k && j.entry.Seq > afterSeq {
			out = append(out, j.entry)
		}
	}
	return out, nil
}

// Idempotency implements giftcard.Tx.
func (tx *Tx) Idempotency(scope, key string) (giftkit.IdempotencyRecord, bool, error) {
	if err := tx.usable(); err != nil {
		return giftkit.IdempotencyRecord{}, false, err
	}
	k := idemKey{scope, key}
	r, ok := tx.w.idem.get(k)
	if !ok {
		if r, ok = tx.s.idem[k]; !ok {
			tx.w.missed, tx.w.didMiss = k, true
			return giftkit.IdempotencyRecord{}, false, nil
		}
	}
	r.Outcome = append([]byte(nil), r.Outcome...)
	return r, true, nil
}

// PutIdempotency implements giftcard.Tx. It fails with [ErrConflict] if a
// record exists under the same scope and key.
func (tx *Tx) PutIdempotency(r giftkit.IdempotencyRecord) error {
	if err := tx.usable(); err != nil {
		return err
	}
	k := idemKey{r.Scope, r.Key}
	if _, ok := tx.w.idem.get(k); ok {
		return fmt.Errorf("%w: idempotency record %s/%s exists", ErrConflict, r.Scope, r.Key)
	}
	if tx.w.didMiss && tx.w.missed == k {
		// looked for in this unit and not stored: no other unit runs meanwhile
	} else if _, ok := tx.s.idem[k]; ok {
		return fmt.Errorf("%w: idempotency record %s/%s exists", ErrConflict, r.Scope, r.Key)
	}
	r.Outcome = tx.s.keep(r.Outcome)
	tx.w.idem.put(k, r)
	return nil
}

// Payment implements checkout.Tx.
func (tx *Tx) Payment(id string) (checkout.Payment, bool, error) {
	if err := tx.usable(); err != nil {
		return checkout.Payment{}, false, err
	}
	p, ok := tx.w.payments.get(id)
	if !ok {
		p, ok = tx.s.payments[id]
	}
	return p.Clone(), ok, nil
}

// PutPayment implements checkout.Tx.
func (tx *Tx) PutPayment(p checkout.Payment) error {
	if err := tx.usable(); err != nil {
		return err
	}
	tx.w.payments.put(p.ID, p.Clone())
	return nil
}

// OpenPayments implements checkout.Tx. It scans every payment: memstore
// is for data that fits in memory.
func (tx *Tx) OpenPayments(afterID string, limit int) ([]checkout.Payment, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	var ids []string
	for id := range tx.s.payments {
		if _, shadowed := tx.w.payments.get(id); !shadowed && id > afterID {
			ids = append(ids, id)
		}
	}
	for _, id := range tx.w.payments.keys {
		if id > afterID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []checkout.Payment
	for _, id := range ids {
		if len(out) == limit {
			break
		}
		if p, _, _ := tx.Payment(id); p.NeedsWork() {
			out = append(out, p)
		}
	}
	return out, nil
}

// AttemptLog implements wallet.LimiterTx.
func (tx *Tx) AttemptLog(subject string) (wallet.AttemptLog, bool, error) {
	if err := tx.usable(); err != nil {
		return wallet.AttemptLog{}, false, err
	}
	l, ok := tx.s.attempts[subject]
	if p, shadowed := tx.w.attempts.get(subject); shadowed {
		l, ok = wallet.AttemptLog{}, p != nil
		if ok {
			l = *p
		}
	}
	l.Attempts = append([]time.Time(nil), l.Attempts...)
	return l, ok, nil
}

// PutAttemptLog implements wallet.LimiterTx. A log with no attempts and no
// lockout is deleted.
func (tx *Tx) PutAttemptLog(l wallet.AttemptLog) error {
	if err := tx.usable(); err != nil {
		return err
	}
	if len(l.Attempts) == 0 && l.LockedUntil.IsZero() {
		tx.w.attempts.put(l.Subject, nil)
		return nil
	}
	l.Attempts = append([]time.Time(nil), l.Attempts...)
	tx.w.attempts.put(l.Subject, &l)
	return nil
}

var _ giftcard.CardInserter = (*Tx)(nil)

// InsertCards implements giftcard.CardInserter: one lookup per card for a
// taken hash and one for its ID, one copy of the batch, and then nothing
// per card until commit, where the copy becomes the cards' slots. A card
// whose ID exists, or two with one ID, fail with [ErrConflict].
func (tx *Tx) InsertCards(cards []giftcard.Card) (bool, error) {
	if err := tx.usable(); err != nil {
		return false, err
	}
	seen := make(map[giftcard.Hash]struct{}, len(cards))
	ids := make(map[string]struct{}, len(cards))
	for i := range cards {
		h, id := cards[i].Hash, cards[i].ID
		_, stored := tx.s.byHash[h]
		_, written := tx.w.byHash.get(h)
		_, twice := seen[h]
		if stored || written || twice || tx.w.insertedByHash(h) != nil {
			return true, nil
		}
		seen[h] = struct{}{}
		_, stored = tx.s.cards[id]
		_, written = tx.w.cards.get(id)
		_, twice = ids[id]
		if stored || written || twice || tx.w.insertedByID(id) != nil {
			return false, fmt.Errorf("%w: card %s exists", ErrConflict, id)
		}
		ids[id] = struct{}{}
	}
	// A copy, as every value that goes into the store: the caller may
	// reuse its slice. The copy is the cards' slots from commit on.
	tx.w.inserted = append(tx.w.inserted, slices.Clone(cards))
	cards = tx.w.inserted[len(tx.w.inserted)-1]
	if tx.w.insertedID != nil { // indexed already: keep the index whole
		tx.w.index(cards)
	}
	return false, nil
}

// insertedByID returns the card with the given ID among the unit's
// inserted batches, or nil.
func (w *writeSet) insertedByID(id string) *giftcard.Card {
	if len(w.inserted) == 0 {
		return nil
	}
	w.indexInserted()
	return w.insertedID[id]
}

// insertedByHash returns the card with the given code hash among the
// unit's inserted batches, or nil.
func (w *writeSet) insertedByHash(h giftcard.Hash) *giftcard.Card {
	if len(w.inserted) == 0 {
		return nil
	}
	w.indexInserted()
	return w.insertedHash[h]
}

// indexInserted builds the index of the inserted batches, once per unit.
func (w *writeSet) indexInserted() {
	if w.insertedID != nil {
		return
	}
	w.insertedID, w.insertedHash = make(map[string]*giftcard.Card), make(map[giftcard.Hash]*giftcard.Card)
	for _, batch := range w.inserted {
		w.index(batch)
	}
}

func (w *writeSet) index(batch []giftcard.Card) {
	for i := range batch {
		w.insertedID[batch[i].ID], w.insertedHash[batch[i].Hash] = &batch[i], &batch[i]
	}
}
