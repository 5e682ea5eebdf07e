package giftcard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/codefmt"
)

// State is where a card is in its life.
//
//	pending ──activate──▶ active ──redeem──▶ redeemed
//	   │                   │  ▲
//	   │                 block unblock
//	   │                   ▼  │
//	   └────void────▶ voided ◀─ blocked
//
// Redeemed and voided are final. The zero State is not a valid state.
type State uint8

// The states of a card.
const (
	StatePending  State = iota + 1 // printed or issued, not yet sold: cannot be redeemed
	StateActive                    // can be redeemed
	StateRedeemed                  // credited to an account; final
	StateBlocked                   // held for review; unblocking returns it to active
	StateVoided                    // cancelled; final
)

var stateNames = [...]string{"", "pending", "active", "redeemed", "blocked", "voided"}

// String returns the state's lower-case name, such as "active".
func (s State) String() string {
	if int(s) < len(stateNames) && s != 0 {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText encodes the state as its name.
func (s State) MarshalText() ([]byte, error) {
	if s == 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("giftcard: marshal invalid %v", s)
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a state's name.
func (s *State) UnmarshalText(text []byte) error {
	for i, name := range stateNames {
		if i > 0 && name == string(text) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("giftcard: unknown state %q", text)
}

// Hash is the keyed hash (HMAC-SHA256) of a card's canonical code. Stores
// keep it instead of the code; without the key it reveals nothing.
type Hash [sha256.Size]byte

// String returns the hash in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText encodes the hash in hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText decodes a hash from hex.
func (h *Hash) UnmarshalText(text []byte) error {
	var out Hash
	if n, err := hex.Decode(out[:], text); err != nil || n != len(out) || len(text) != 2*len(out) {
		return fmt.Errorf("giftcard: invalid hash %q", text)
	}
	*h = out
	return nil
}

// A Hasher computes the keyed hash of codes. It is safe for concurrent use.
// It keeps keyed HMAC states for reuse: keying one costs several times the
// hash of a code.
type Hasher struct {
	key   []byte
	state sync.Pool // of *macState
}

type macState struct {
	mac hash.Hash
	buf [codefmt.Len + 2]byte
	sum Hash
}

// MinKeyLen is the shortest HMAC key NewHasher accepts.
const MinKeyLen = 32

// NewHasher returns a Hasher with a secret key of at least [MinKeyLen] bytes,
// which the host keeps outside the database (a secret manager, an
// environment variable). Losing the key makes every stored card unfindable;
// leaking it lets whoever has a copy of the database test guesses offline.
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("giftcard: hash key of %d bytes is shorter than %d", len(key), MinKeyLen)
	}
	h := &Hasher{key: append([]byte(nil), key...)}
	h.state.New = func() any { return &macState{mac: hmac.New(sha256.New, h.key)} }
	return h, nil
}

// Hash returns the keyed hash of c's canonical form. It does not allocate.
func (h *Hasher) Hash(c codefmt.Code) Hash {
	st := h.state.Get().(*macState)
	text, _ := c.AppendText(st.buf[:0])
	st.mac.Reset()
	st.mac.Write(text)
	st.mac.Sum(st.sum[:0])
	out := st.sum
	h.state.Put(st)
	return out
}

// A Card is a gift card: a value in a currency, and a code that only its
// holder knows. The store keeps the keyed hash of the code and its last four
// characters for display, never the code itself.
//
// Card is a value: its methods return a new Card and never change the
// receiver. The zero Card is not a valid card.
type Card struct {
	ID          string        // assigned by Service.Issue: "card_" and 20 hex digits (80 random bits)
	Hash        Hash          // the keyed hash of the code (see Hasher), by which redemption finds the card
	Suffix      string        // the code's last four characters, for display
	Value       giftkit.Money // positive
	State       State         // where the card is in its life; never zero in a stored card
	BatchID     string        // the issuance that created the card
	IssuedAt    time.Time     // when the card was created
	ActivatedAt time.Time     // zero until activated
	ExpiresAt   time.Time     // after this instant the card cannot be redeemed; zero means never
	RedeemedBy  string        // the owner of the account credited; set when redeemed
	RedeemedAt  time.Time     // set when redeemed
	UpdatedAt   time.Time     // the last transition
	// Class is where the card's value comes from: giftkit.ClassPurchased
	// for a sold card, giftkit.ClassPromotional for one given away. The
	// credit a redemption makes keeps it.
	Class giftkit.ValueClass
	// ClawedBack is what clawbacks asked back of the card's value after it
	// was redeemed (see [Card.Clawback]): recovered from the account or
	// reported short. Zero (without a currency) until the first.
	ClawedBack giftkit.Money
	// Head is the end of the card's chain of activity records (see package
	// activity): the services move it with every change.
	Head activity.Head
	// Imported marks a card of another programme brought in by
	// [Service.Import]: its code is the other programme's, hashed by
	// [Hasher.HashExternal], and its Suffix that code's last characters.
	Imported bool
	// Tags are the labels its issuance gave the card (a campaign, a
	// retailer; see IssueRequest.Tags), joined by commas; empty if none.
	// A string, so that a Card stays comparable with ==.
	Tags string
}

// Masked returns the code as a shopper may see it on a receipt:
// ****-******-*H567, or ****H567 for an imported card, whose code has
// another format.
func (c Card) Masked() string {
	if c.Imported {
		return "****" + c.Suffix
	}
	return "****-******-*" + c.Suffix
}

// AccountPrefix begins the owner of every card's own account (see
// [AccountOwner]). The wallet refuses it in owners given by callers, so
// that no shopper's account can be a card's.
const AccountPrefix = "giftcard:"

// AccountOwner returns the owner of the account that holds card id's value
// once the card is spent as a tender, reloaded or has value moved to or
// from it: a card's value lives in an account of its own, so every rule of
// the wallet (lots, holds, expiry, journal, activity log) applies to it
// unchanged.
func AccountOwner(id string) string { return AccountPrefix + id }

// IsCardAccount reports whether owner is in the namespace of cards'
// accounts (begins with AccountPrefix): an owner no caller may name.
func IsCardAccount(owner string) bool { return strings.HasPrefix(owner, AccountPrefix) }

// CardOfOwner returns the ID of the card whose account owner is, and
// whether owner is a card's account at all.
func CardOfOwner(owner string) (string, bool) {
	if len(owner) > len(AccountPrefix) && owner[:len(AccountPrefix)] == AccountPrefix {
		return owner[len(AccountPrefix):], true
	}
	return "", false
}

// Opened reports whether the card's value has moved into its own account
// (see [AccountOwner]): it was spent as a tender, reloaded, or had value
// moved to or from it. Its balance is then the account's.
func (c Card) Opened() bool {
	id, ok := CardOfOwner(c.RedeemedBy) // no concatenation: this is on the redemption's path
	return ok && c.State == StateRedeemed && id == c.ID
}

func (c Card) fail(op string, err error) *Error {
	return &Error{Op: op, CardID: c.ID, Masked: c.Masked(), State: c.State, Err: err}
}

// Redemption is the result of redeeming a card: the amount to credit and
// until when the credit may be spent.
type Redemption struct {
	CardID    string             // the ID of the card redeemed
	Owner     string             // the owner of the account to credit, as given to Redeem
	Amount    giftkit.Money      // the card's value, in its currency: what the account is credited
	At        time.Time          // when the card was redeemed, as given to Redeem; the card's RedeemedAt
	ExpiresAt time.Time          // the card's expiry, which the credit keeps; zero means never
	Class     giftkit.ValueClass // the card's value class, which the credit keeps
}

// Redeem moves an active card to redeemed for owner at now, and returns the
// credit it yields. It fails with [ErrAlreadyRedeemed], [ErrExpired] or
// [ErrNotRedeemable] (pending, blocked, voided).
func (c Card) Redeem(owner string, now time.Time) (Card, Redemption, error) {
	switch c.State {
	case StateActive:
	case StateRedeemed:
		e := c.fail("redeem", ErrAlreadyRedeemed)
		e.SameAccount, e.RedeemedAt = c.RedeemedBy == owner, c.RedeemedAt
		return c, Redemption{}, e
	default:
		return c, Redemption{}, c.fail("redeem", ErrNotRedeemable)
	}
	if c.Expired(now) {
		return c, Redemption{}, c.fail("redeem", ErrExpired)
	}
	c.State, c.RedeemedBy, c.RedeemedAt, c.UpdatedAt = StateRedeemed, owner, now, now
	return c, Redemption{CardID: c.ID, Owner: owner, Amount: c.Value, At: now, ExpiresAt: c.ExpiresAt, Class: c.Class}, nil
}

// Expired reports whether the card's expiry has passed at now.
func (c Card) Expired(now time.Time) bool { return !c.ExpiresAt.IsZero() && !now.Before(c.ExpiresAt) }

// Activate moves a pending card to active, as when a physical card is sold.
func (c Card) Activate(now time.Time) (Card, error) {
	if c.State != StatePending {
		return c, c.fail("activate", ErrInvalidTransition)
	}
	c.State, c.ActivatedAt, c.UpdatedAt = StateActive, now, now
	return c, nil
}

// Block moves an active card to blocked, for example during a fraud review.
func (c Card) Block(now time.Time) (Card, error) {
	if c.State != StateActive {
		return c, c.fail("block", ErrInvalidTransition)
	}
	c.State, c.UpdatedAt = StateBlocked, now
	return c, nil
}

// Unblock returns a blocked card to active.
func (c Card) Unblock(now time.Time) (Card, error) {
	if c.State != StateBlocked {
		return c, c.fail("unblock", ErrInvalidTransition)
	}
	c.State, c.UpdatedAt = StateActive, now
	return c, nil
}

// Cancel voids a card its issuer takes back before anyone claimed it:
// within window of its issue, while it is pending (never sold) or active
// and neither redeemed nor spent. It is final, like [Card.Void], which an
// operator may use at any time; Cancel is the issuer's undo of an issuance
// made in error (Amazon's CancelGiftCard, Adyen's 24-hour void). It fails
// with [ErrInvalidTransition] for a claimed card and [ErrCancelWindow] after
// the window.
func (c Card) Cancel(window time.Duration, now time.Time) (Card, error) {
	if c.State != StatePending && c.State != StateActive {
		return c, c.fail("cancel", ErrInvalidTransition)
	}
	if !now.Before(c.IssuedAt.Add(window)) {
		e := c.fail("cancel", ErrCancelWindow)
		e.Detail = "issued at " + c.IssuedAt.UTC().Format(time.RFC3339) + ", cancellable for " + window.String()
		return c, e
	}
	c.State, c.UpdatedAt = StateVoided, now
	return c, nil
}

// Void cancels a card that has not been redeemed. It is final.
func (c Card) Void(now time.Time) (Card, error) {
	switch c.State {
	case StatePending, StateActive, StateBlocked:
		c.State, c.UpdatedAt = StateVoided, now
		return c, nil
	}
	return c, c.fail("void", ErrInvalidTransition)
}

// Outstanding returns the value the card holds for its holder: its value
// until it is redeemed or voided, zero after. It is what the card's
// activity records call its value before and after a change.
func (c Card) Outstanding() giftkit.Money {
	if c.State == StateRedeemed || c.State == StateVoided {
		return giftkit.Zero(c.Value.Currency())
	}
	return c.Value
}

// Adjust changes the value of a card that is not redeemed or voided by
// delta, up or down, as an operator's correction. It fails with
// [ErrInvalidTransition] for a redeemed or voided card, with
// giftkit.ErrCurrencyMismatch, and with [ErrInvalidRequest] if the value
// would not stay positive (void the card to take all of it).
func (c Card) Adjust(delta giftkit.Money, now time.Time) (Card, error) {
	switch {
	case c.State == StateRedeemed || c.State == StateVoided:
		return c, c.fail("adjust", ErrInvalidTransition)
	case delta.Currency() != c.Value.Currency():
		e := c.fail("adjust", giftkit.ErrCurrencyMismatch)
		e.Detail = "the card holds " + c.Value.Currency().Code()
		return c, e
	}
	value, err := c.Value.Add(delta)
	if err != nil || !value.IsPositive() || delta.IsZero() {
		e := c.fail("adjust", ErrInvalidRequest)
		e.Detail = "the adjustment must be non-zero and leave a positive value; void the card to take all of it"
		return c, e
	}
	c.Value, c.UpdatedAt = value, now
	return c, nil
}

// snapshotSize is room for a card's snapshot with IDs of the usual
// lengths, so that writing one allocates once.
const snapshotSize = 192

// RecordChange returns the activity record of a change of a card from
// before to after (a zero before for a new card), made for cause, and after
// with its Head moved past the record. It is the one place a card's records
// are made; the caller stores both in the same unit of work.
func RecordChange(kind activity.Kind, before, after Card, reference string, cause activity.Cause) (Card, activity.Record) {
	return RecordChangeIn(make([]byte, 0, snapshotSize), kind, before, after, reference, cause)
}

// RecordChangeIn is [RecordChange] with the record's snapshot written in
// room (room[:0]) when it fits, so that a caller with room to spare, such
// as a batch or a hot path's per-call state, spares an allocation. The
// snapshot is room's own memory then: the caller does not reuse that part
// of room while the record lives.
func RecordChangeIn(room []byte, kind activity.Kind, before, after Card, reference string, cause activity.Cause) (Card, activity.Record) {
	r := activity.Record{Subject: activity.Card(after.ID), Kind: kind, Reference: reference,
		Before: giftkit.Zero(after.Value.Currency()), After: after.Outstanding()}
	if before.State != 0 {
		r.Before = before.Outstanding()
	}
	r.Amount, _ = r.After.Sub(r.Before) // one currency: a card's never changes
	r.Held = giftkit.Zero(after.Value.Currency())
	snap := after.AppendSnapshot(room[:0])
	r.Snapshot = snap[:len(snap):len(snap)]
	r, after.Head = cause.Seal(before.Head, r)
	return after, r
}

// Clawback takes back amount of the card's value because the purchase of
// the card was refunded or charged back; a zero amount (giftkit.Money{})
// means all that is left. A card not yet redeemed loses the amount from its
// value, and is voided when that is all of it. A redeemed card's value is
// in an account: Clawback adds amount to the card's ClawedBack and returns
// it as fromAccount, for the caller to take from the account that redeemed
// it. Over a card's life, clawbacks never take back more than its value.
//
// It fails with [ErrInvalidTransition] for a voided card, with
// giftkit.ErrCurrencyMismatch, and with [ErrInvalidRequest] for an amount
// that is not positive or is more than is left.
func (c Card) Clawback(amount giftkit.Money, now time.Time) (out Card, fromAccount giftkit.Money, err error) {
	cur := c.Value.Currency()
	left := c.Value
	switch c.State {
	case StateVoided:
		return c, giftkit.Money{}, c.fail("clawback", ErrInvalidTransition)
	case StateRedeemed:
		if !c.ClawedBack.IsZero() {
			left, _ = c.Value.Sub(c.ClawedBack) // ClawedBack ≤ Value, in its currency
		}
	}
	if amount == (giftkit.Money{}) {
		amount = left
	}
	switch {
	case amount.Currency() != cur:
		e := c.fail("clawback", giftkit.ErrCurrencyMismatch)
		e.Detail = "the card holds " + cur.Code()
		return c, giftkit.Money{}, e
	case !amount.IsPositive() || amount.Minor() > left.Minor():
		e := c.fail("clawback", ErrInvalidRequest)
		e.Detail = "the amount must be positive and at most the " + left.String() + " left to claw back"
		return c, giftkit.Money{}, e
	}
	c.UpdatedAt = now
	switch {
	case c.State == StateRedeemed:
		c.ClawedBack = giftkit.FromMinor(c.ClawedBack.Minor()+amount.Minor(), cur)
		return c, amount, nil
	case amount == c.Value:
		c.State = StateVoided
	default:
		c.Value = giftkit.FromMinor(c.Value.Minor()-amount.Minor(), cur)
	}
	return c, giftkit.Zero(cur), nil
}
