// Package activity is the operator's record of every change to a card or
// an account: what changed, by how much, the balances before and after, who
// did it (a giftkit.Actor) and why, under which idempotency key, and when.
//
// Each card and each account has its own chain of records, numbered 1, 2,
// 3, ... and linked by digests: a record's Digest is the SHA-256 of its
// contents and of the Digest of the record before it (Prev), and the card or
// account keeps the [Head] of its chain. Changing, removing or reordering a
// record breaks the chain where it happened, and [Verify] reports the first
// break. (Whoever can rewrite the whole database can also recompute every
// digest; publish the heads elsewhere, say daily, to close that gap.)
//
// Records are written by the services, in the same unit of work as the
// change they describe, and never changed: stores keep them append-only.
// Each record also carries the subject's whole state after the change
// (Snapshot), so a report can tell what any card or account held at any
// past instant from the log alone (see package ledger).
package activity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
)

// Kind says what change a [Record] records.
type Kind uint8

// The kinds of change.
const (
	KindIssue    Kind = iota + 1 // a card created
	KindActivate                 // a pending card sold
	KindBlock                    // a card held for review
	KindUnblock                  // a blocked card returned to active
	KindVoid                     // a card cancelled
	KindRedeem                   // a card redeemed into an account (the card's record)
	KindCredit                   // an account credited with a redeemed card's value
	KindHold                     // part of a balance reserved for a payment
	KindCapture                  // held money spent
	KindRelease                  // a hold closed without spending
	KindRefund                   // money returned to a balance
	KindExpiry                   // expired credit left a balance, or lapsed holds were released
	KindAdjust                   // an operator changed a card's value or an account's balance
	KindLoad                     // value added to a card or an account by a purchase
	KindClawback                 // the value of a card whose purchase was refunded taken back
	KindTransfer                 // value moved between accounts: a card's to another card or to a shopper's account
	KindFee                      // a dormancy fee charged under the programme's rules
)

var kindNames = [...]string{"", "issue", "activate", "block", "unblock", "void", "redeem", "credit", "hold",
	"capture", "release", "refund", "expiry", "adjust", "load", "clawback", "transfer", "fee"}

// IsValid reports whether k is one of the kinds.
func (k Kind) IsValid() bool { return k > 0 && int(k) < len(kindNames) }

// String returns the kind's lower-case name, such as "redeem".
func (k Kind) String() string {
	if k.IsValid() {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// MarshalText encodes the kind as its name.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.IsValid() {
		return nil, fmt.Errorf("activity: marshal invalid %v", k)
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText decodes a kind's name.
func (k *Kind) UnmarshalText(text []byte) error {
	for i, name := range kindNames {
		if i > 0 && name == string(text) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("activity: unknown kind %q: %w", text, giftkit.ErrInvalid)
}

// SubjectKind says what a [Subject] is.
type SubjectKind uint8

// The kinds of subject.
const (
	SubjectCard    SubjectKind = iota + 1 // a gift card
	SubjectAccount                        // an owner's account in one currency
)

// String returns "card" or "account".
func (k SubjectKind) String() string {
	switch k {
	case SubjectCard:
		return "card"
	case SubjectAccount:
		return "account"
	}
	return fmt.Sprintf("SubjectKind(%d)", uint8(k))
}

// MarshalText encodes the kind as its name.
func (k SubjectKind) MarshalText() ([]byte, error) {
	if k != SubjectCard && k != SubjectAccount {
		return nil, fmt.Errorf("activity: marshal invalid %v", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes "card" or "account".
func (k *SubjectKind) UnmarshalText(text []byte) error {
	switch string(text) {
	case "card":
		*k = SubjectCard
	case "account":
		*k = SubjectAccount
	default:
		return fmt.Errorf("activity: unknown subject kind %q: %w", text, giftkit.ErrInvalid)
	}
	return nil
}

// A Subject is the card or account a record is about. Subjects are ordered
// by Kind, then ID, then currency code (see [Subject.Compare]).
type Subject struct {
	Kind     SubjectKind      `json:"kind"`              // card or account
	ID       string           `json:"id"`                // the card's ID, or the account's owner
	Currency giftkit.Currency `json:"currency,omitzero"` // the account's currency; zero for a card
}

// Card returns the subject for the card with the given ID.
func Card(id string) Subject { return Subject{Kind: SubjectCard, ID: id} }

// Account returns the subject for owner's account in c.
func Account(owner string, c giftkit.Currency) Subject {
	return Subject{Kind: SubjectAccount, ID: owner, Currency: c}
}

// IsZero reports whether s is the zero Subject.
func (s Subject) IsZero() bool { return s == Subject{} }

// String returns "card/ID" or "account/owner/EUR".
func (s Subject) String() string {
	if s.Kind == SubjectAccount {
		return "account/" + s.ID + "/" + s.Currency.Code()
	}
	return s.Kind.String() + "/" + s.ID
}

// Compare returns -1, 0 or +1 as s sorts before, with or after t.
func (s Subject) Compare(t Subject) int {
	switch {
	case s.Kind != t.Kind:
		return cmpInt(int(s.Kind), int(t.Kind))
	case s.ID != t.ID:
		if s.ID < t.ID {
			return -1
		}
		return 1
	case s.Currency.Code() != t.Currency.Code():
		if s.Currency.Code() < t.Currency.Code() {
			return -1
		}
		return 1
	}
	return 0
}

func cmpInt(x, y int) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// A Digest is the SHA-256 that seals a record (see [Seal]).
type Digest [sha256.Size]byte

// String returns the digest in hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// MarshalText encodes the digest in hex.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes a digest from hex.
func (d *Digest) UnmarshalText(text []byte) error {
	var out Digest
	if n, err := hex.Decode(out[:], text); err != nil || n != len(out) || len(text) != 2*len(out) {
		return fmt.Errorf("activity: invalid digest %q: %w", text, giftkit.ErrInvalid)
	}
	*d = out
	return nil
}

// A Head is where a subject's chain of records ends: the number and digest
// of its last record. The zero Head is a subject with no record yet. Cards
// and accounts keep their Head, so that the next record links to it
// without reading it.
type Head struct {
	Seq    int64  // the number of the last record; 0 for none
	Digest Digest // the last record's Digest; zero for none
}

// A Record is one change to one card or account.
type Record struct {
	Subject   Subject       `json:"subject"`             // the card or account changed
	Seq       int64         `json:"seq"`                 // 1, 2, 3, ... within the subject; set by Seal
	Kind      Kind          `json:"kind"`                // what changed
	Actor     giftkit.Actor `json:"actor"`               // who changed it; zero when the host did not say (never guessed)
	Reason    string        `json:"reason,omitempty"`    // why, as the actor gave it; at most giftkit.MaxReasonLen bytes
	Key       string        `json:"key,omitempty"`       // the idempotency key of the call; empty for the system's sweeps
	Reference string        `json:"reference,omitempty"` // what the change is about: a card ID, a hold, payment or order ID
	At        time.Time     `json:"at"`                  // when, by the clock of the call
	// Amount is the change to the subject's value (a card's value, an
	// account's balance): positive for money in, negative for money out,
	// zero for a change of state or of holds.
	Amount giftkit.Money `json:"amount"`
	// Held is the change to the part of an account's balance that holds
	// reserve; zero for cards.
	Held   giftkit.Money `json:"held"`
	Before giftkit.Money `json:"before"` // the value or balance before the change
	After  giftkit.Money `json:"after"`  // the value or balance after it: Before + Amount
	// Snapshot is the subject's whole state after the change, in the binary
	// form of its package (giftcard.CardFromSnapshot,
	// wallet.StateFromSnapshot read it), without its Head. Reports replay it.
	Snapshot []byte `json:"snapshot"`
	Prev     Digest `json:"prev"`   // the Digest of the subject's record Seq−1; zero for the first
	Digest   Digest `json:"digest"` // the SHA-256 of every field above; set by Seal
}

// Seal numbers r as the record after head, links it to head, puts its time
// in UTC and computes its digest, and returns it with the subject's new
// head.
func Seal(head Head, r Record) (Record, Head) {
	r.Seq, r.Prev, r.At = head.Seq+1, head.Digest, r.At.UTC()
	r.Digest = r.digest()
	return r, Head{Seq: r.Seq, Digest: r.Digest}
}

func (r Record) digest() Digest {
	var buf [512]byte
	return sha256.Sum256(r.appendSealed(buf[:0]))
}
