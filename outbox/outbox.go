package outbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/errcode"
	"github.com/giftkit/giftkit/internal/text"
)

// Version is the schema version of the payloads this package and its
// emitters write. A change that removes or changes the meaning of a field
// makes a new version; adding a field does not.
const Version = 1

// AggregateKind says what an [Aggregate] is.
type AggregateKind uint8

// The kinds of aggregate.
const (
	AggregateCard    AggregateKind = iota + 1 // a gift card
	AggregateAccount                          // an owner's account in one currency
	AggregatePayment                          // a checkout payment
)

var aggregateNames = [...]string{"", "card", "account", "payment"}

// IsValid reports whether k is one of the kinds.
func (k AggregateKind) IsValid() bool { return k > 0 && int(k) < len(aggregateNames) }

// String returns "card", "account" or "payment".
func (k AggregateKind) String() string {
	if k.IsValid() {
		return aggregateNames[k]
	}
	return fmt.Sprintf("AggregateKind(%d)", uint8(k))
}

// MarshalText encodes the kind as its name.
func (k AggregateKind) MarshalText() ([]byte, error) {
	if !k.IsValid() {
		return nil, fmt.Errorf("outbox: marshal invalid %v", k)
	}
	return []byte(aggregateNames[k]), nil
}

// UnmarshalText decodes a kind's name.
func (k *AggregateKind) UnmarshalText(b []byte) error {
	for i, name := range aggregateNames {
		if i > 0 && name == string(b) {
			*k = AggregateKind(i)
			return nil
		}
	}
	return fmt.Errorf("outbox: unknown aggregate kind %q: %w", b, giftkit.ErrInvalid)
}

// An Aggregate is the card, account or payment an event is about. Its
// events are numbered 1, 2, 3, ... (Event.Seq).
type Aggregate struct {
	Kind     AggregateKind    `json:"kind"`              // card, account or payment
	ID       string           `json:"id"`                // the card's ID, the account's owner ("giftcard:<card ID>" for a card's own account), the payment's ID
	Currency giftkit.Currency `json:"currency,omitzero"` // the account's currency; zero for cards and payments
}

// String returns "card/ID", "account/owner/EUR" or "payment/ID".
func (a Aggregate) String() string {
	if a.Kind == AggregateAccount {
		return "account/" + a.ID + "/" + a.Currency.Code()
	}
	return a.Kind.String() + "/" + a.ID
}

// A Type names what happened, as "aggregate.past_tense_verb".
type Type string

// The types of event. The payload of each is documented in the package
// that emits it: card and account events in [FromRecord], payment events in
// package checkout.
const (
	CardIssued     Type = "card.issued"      // a card was created
	CardActivated  Type = "card.activated"   // a pending card was sold
	CardBlocked    Type = "card.blocked"     // a card was held for review
	CardUnblocked  Type = "card.unblocked"   // a blocked card returned to active
	CardVoided     Type = "card.voided"      // a card was cancelled
	CardRedeemed   Type = "card.redeemed"    // a card's value went into an account
	CardAdjusted   Type = "card.adjusted"    // an operator changed a card's value
	CardLoaded     Type = "card.loaded"      // not emitted: cards are reloaded through their accounts (account.loaded)
	CardClawedBack Type = "card.clawed_back" // a refunded card's value was taken back
	CardExpired    Type = "card.expired"     // a card's value expired

	AccountCredited    Type = "account.credited"    // a card's value was credited: redeemed, or moved into its own account
	AccountHeld        Type = "account.held"        // part of the balance was reserved for a payment, or a card was blocked
	AccountCaptured    Type = "account.captured"    // held money was spent: the account was debited
	AccountReleased    Type = "account.released"    // a hold was closed without spending
	AccountRefunded    Type = "account.refunded"    // money was returned to the balance
	AccountExpired     Type = "account.expired"     // expired credit left the balance, or lapsed holds were released
	AccountAdjusted    Type = "account.adjusted"    // an operator changed the balance
	AccountLoaded      Type = "account.loaded"      // value was added by a purchase
	AccountClawedBack  Type = "account.clawed_back" // a refunded card's value was taken back: the account was debited
	AccountTransferred Type = "account.transferred" // value moved in (amount > 0) or out (amount < 0): between cards, or from a card to a shopper's account
	AccountFeeCharged  Type = "account.fee_charged" // a dormancy fee was charged under the programme's rules

	PaymentAuthorized   Type = "payment.authorized"    // every tender of a payment is held or authorised
	PaymentCaptured     Type = "payment.captured"      // a payment was paid
	PaymentFailed       Type = "payment.failed"        // a payment was declined: nothing charged
	PaymentCancelled    Type = "payment.cancelled"     // a payment was cancelled before capture: nothing charged
	PaymentExpired      Type = "payment.expired"       // a payment was not captured in time: nothing charged
	PaymentRefunded     Type = "payment.refunded"      // a refund of a payment was completed
	PaymentRefundFailed Type = "payment.refund_failed" // the processor refused the bank-card part of a refund: nothing was refunded
)

// An Event is one thing that happened to one aggregate.
type Event struct {
	// ID is the event's stable identity: the same each time it is read,
	// derived from the aggregate and Seq alone (see [ID]), so a consumer
	// dedupes by it. It is also the webhook-id of its webhook.
	ID        string        `json:"id"`
	Type      Type          `json:"type"`      // what happened
	Version   int           `json:"version"`   // the schema version of Payload (see [Version])
	Aggregate Aggregate     `json:"aggregate"` // the card, account or payment it is about
	Seq       int64         `json:"seq"`       // 1, 2, 3, ... within the aggregate; for cards and accounts, the activity record's Seq
	Actor     giftkit.Actor `json:"actor"`     // who made the change; zero when the host did not say
	At        time.Time     `json:"at"`        // when, by the clock of the call
	// Pos is the event's position in the outbox, set by the store when the
	// unit of work commits: increasing in commit order, so events of one
	// aggregate come in the order of Seq. Zero in an event not yet stored.
	Pos int64 `json:"pos"`
	// Payload is the event's data, a JSON object documented per Type.
	Payload json.RawMessage `json:"data"`
}

// ID returns the ID of an aggregate's event number seq: "evt_" and 32
// hexadecimal digits of a SHA-256 of both. It carries no owner or payment
// ID in the clear, so it can go in a header or a URL.
func ID(a Aggregate, seq int64) string {
	var buf [200]byte
	b := append(buf[:0], a.Kind.String()...)
	b = append(b, 0)
	b = append(b, a.ID...)
	b = append(b, 0)
	b = append(b, a.Currency.Code()...)
	b = append(b, 0)
	b = strconv.AppendInt(b, seq, 10)
	sum := sha256.Sum256(b)
	var out [4 + 32]byte
	copy(out[:], "evt_")
	hex.Encode(out[4:], sum[:16])
	return string(out[:])
}

// New returns the event number seq of aggregate a, with its ID and
// version set.
func New(a Aggregate, seq int64, t Type, actor giftkit.Actor, at time.Time, payload []byte) Event {
	return Event{ID: ID(a, seq), Type: t, Version: Version, Aggregate: a, Seq: seq, Actor: actor, At: at.UTC(), Payload: payload}
}

// Clone returns a copy of e that shares no memory with it.
func (e Event) Clone() Event {
	e.Payload = append(json.RawMessage(nil), e.Payload...)
	return e
}

// Tx is what the outbox needs of a unit of work. A store's transaction
// implements it (checkout.Tx embeds it), and also puts the event of every
// record it is given by activity.Tx.AppendActivity (see [FromRecord]).
type Tx interface {
	// AppendEvents puts events in the outbox, in order, when the unit of
	// work commits. It may keep the events' Payload slices: callers hand
	// them over and never change them after.
	AppendEvents(events []Event) error
}

// ErrInvalidConsumer: a consumer name that is not 1 to MaxConsumerLen
// bytes of UTF-8 without control characters. It wraps giftkit.ErrInvalid.
var ErrInvalidConsumer = errcode.New(giftkit.ErrInvalid, "invalid outbox consumer")

// MaxConsumerLen is the longest consumer name, in bytes.
const MaxConsumerLen = 128

// CheckConsumer returns [ErrInvalidConsumer] unless name is a valid
// consumer name. Stores call it first in every method that takes one.
func CheckConsumer(name string) error {
	if name == "" || !text.Valid(name, MaxConsumerLen) {
		return fmt.Errorf("%w: %q", ErrInvalidConsumer, name)
	}
	return nil
}

// MaxLimit is the most events one call to [Reader.Events] returns.
const MaxLimit = 10000

// A Reader is a store's outbox, as its consumers see it. Many consumers,
// in many processes, may read one outbox; each has its own cursor.
type Reader interface {
	// Events returns up to limit events (1 to MaxLimit; more is
	// MaxLimit) whose Pos is after after, in order of Pos, for consumer,
	// which the store registers if it is new: from then on, Prune keeps
	// what consumer has not acknowledged. An after behind what was pruned
	// reads from the oldest event kept. It fails with ErrInvalidConsumer.
	Events(ctx context.Context, consumer string, after int64, limit int) ([]Event, error)
	// Ack records that consumer has handled every event up to and
	// including pos, registering consumer if it is new. A cursor never
	// moves back: acknowledging a position at or before the consumer's
	// cursor changes nothing, so two processes of one consumer can
	// acknowledge in any order. It fails with ErrInvalidConsumer, or with
	// giftkit.ErrInvalid for a pos beyond the last event Events could
	// have returned.
	Ack(ctx context.Context, consumer string, pos int64) error
	// Cursor returns consumer's cursor: the position it acknowledged
	// last, 0 if none (where a consumer starts or resumes reading).
	Cursor(ctx context.Context, consumer string) (int64, error)
	// Forget unregisters consumer and drops its cursor: Prune no longer
	// keeps events for it (for an endpoint gone for good, or a name read
	// once by mistake). A later Events or Ack registers it anew, from 0.
	// Forgetting a consumer the store does not know changes nothing. It
	// fails with ErrInvalidConsumer.
	Forget(ctx context.Context, consumer string) error
	// Wait returns when an event after after may be in the outbox, or
	// ctx's error when ctx is done first. It may return early (callers
	// read, then wait again); it never returns nil while it knows of no
	// such event and has had no sign of one.
	Wait(ctx context.Context, after int64) error
	// Prune removes what r says may go, and reports how much it removed.
	Prune(ctx context.Context, r Retention) (Pruned, error)
}

// Retention says what [Reader.Prune] removes.
type Retention struct {
	// Events before this time that every registered consumer has
	// acknowledged are removed; zero removes no event. An event no
	// consumer has registered for yet is removed too, if it is old
	// enough, so register consumers (read once) before pruning. A store
	// may keep some such events longer (memstore prunes from the oldest
	// and stops at the first it must keep; events are dated by the clock
	// of their call, which need not rise with their position).
	EventsBefore time.Time
	// Idempotency records of calls completed before this time are
	// removed; zero removes none. A retry with such a record's key runs as
	// a new call: choose a horizon longer than any client retries (a day
	// is common; Stripe keeps keys for 24 hours). A redemption retried
	// after its record is gone is refused as already redeemed instead of
	// replaying its success; a Pay retried returns the payment as it
	// stands (its ID and request identify it), but a refusal recorded for
	// a key is forgotten, and the call runs again.
	IdempotencyBefore time.Time
}

// Pruned reports what [Reader.Prune] removed.
type Pruned struct {
	Events      int // events removed
	Idempotency int // idempotency records removed
}
