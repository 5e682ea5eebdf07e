package giftkit

import (
	"context"
	"fmt"

	"github.com/giftkit/giftkit/internal/text"
)

// ActorKind says what kind of party made a change.
type ActorKind uint8

// The kinds of actor. The zero ActorKind is an unattributed change: the
// host gave no actor (see [WithActor]); the library never guesses one.
const (
	ActorShopper  ActorKind = iota + 1 // the holder of a card or an account, acting for themselves
	ActorOperator                      // a member of the business's staff: support, finance, fraud review
	ActorClient                        // an API client of the host: a storefront, a point of sale, a batch job
	ActorSystem                        // the library or the host acting on its own: sweeps, expiry, lapses
)

var actorKindNames = [...]string{"", "shopper", "operator", "client", "system"}

// String returns the kind's lower-case name; "unattributed" for zero.
func (k ActorKind) String() string {
	if k == 0 {
		return "unattributed"
	}
	if int(k) < len(actorKindNames) {
		return actorKindNames[k]
	}
	return fmt.Sprintf("ActorKind(%d)", uint8(k))
}

// MarshalText encodes the kind as its name ("unattributed" for zero).
func (k ActorKind) MarshalText() ([]byte, error) {
	if int(k) >= len(actorKindNames) {
		return nil, fmt.Errorf("giftkit: marshal invalid %v", k)
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes a kind's name.
func (k *ActorKind) UnmarshalText(text []byte) error {
	if string(text) == "unattributed" {
		*k = 0
		return nil
	}
	for i, name := range actorKindNames {
		if i > 0 && name == string(text) {
			*k = ActorKind(i)
			return nil
		}
	}
	return fmt.Errorf("giftkit: unknown actor kind %q: %w", text, ErrInvalid)
}

// MaxActorIDLen is the longest actor ID, in bytes.
const MaxActorIDLen = 128

// MaxReasonLen is the longest reason a change may carry, in bytes.
const MaxReasonLen = 500

// An Actor is who made a change: recorded with every activity record (see
// package activity). The zero Actor is unattributed.
type Actor struct {
	Kind ActorKind `json:"kind"`         // what kind of party; zero for unattributed
	ID   string    `json:"id,omitempty"` // the party's ID in the host: a shopper's account owner, an operator's staff ID, a client's name; 1 to MaxActorIDLen bytes of UTF-8 text
}

// Shopper returns the actor for a card or account holder.
func Shopper(id string) Actor { return Actor{Kind: ActorShopper, ID: id} }

// Operator returns the actor for a member of staff.
func Operator(id string) Actor { return Actor{Kind: ActorOperator, ID: id} }

// Client returns the actor for an API client of the host.
func Client(id string) Actor { return Actor{Kind: ActorClient, ID: id} }

// System returns the actor for the library or the host acting on its own,
// such as System("sweep").
func System(id string) Actor { return Actor{Kind: ActorSystem, ID: id} }

// IsZero reports whether a is the zero, unattributed Actor.
func (a Actor) IsZero() bool { return a == Actor{} }

// Valid reports whether a is unattributed, or of a known kind with an ID of
// 1 to MaxActorIDLen bytes of UTF-8 without control characters.
func (a Actor) Valid() bool {
	if a.IsZero() {
		return true
	}
	return a.Kind > 0 && int(a.Kind) < len(actorKindNames) && a.ID != "" && text.Valid(a.ID, MaxActorIDLen)
}

// String returns "kind:id", such as "operator:ana"; "unattributed" for the
// zero Actor.
func (a Actor) String() string {
	if a.IsZero() {
		return "unattributed"
	}
	return a.Kind.String() + ":" + a.ID
}

// ValidReason reports whether reason is at most MaxReasonLen bytes of UTF-8
// without control characters (one line, as every log can show it).
func ValidReason(reason string) bool { return text.Valid(reason, MaxReasonLen) }

type ctxKey uint8

const (
	actorKey ctxKey = iota + 1
	reasonKey
)

// WithActor returns a context that says a carries out the calls made with
// it: every change they make is recorded as a's. Hosts set it where they
// authenticate a request. Services refuse an invalid actor with ErrInvalid.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

// ActorFrom returns the actor ctx carries (see [WithActor]); the zero,
// unattributed Actor if none.
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey).(Actor)
	return a
}

// WithReason returns a context whose calls record reason with their
// changes, such as "card reported stolen, ticket 4411". Services refuse a
// reason longer than MaxReasonLen or with control characters with
// ErrInvalid.
func WithReason(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, reasonKey, reason)
}

// ReasonFrom returns the reason ctx carries (see [WithReason]); empty if
// none.
func ReasonFrom(ctx context.Context) string {
	r, _ := ctx.Value(reasonKey).(string)
	return r
}
