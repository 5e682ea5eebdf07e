package activity

import (
	"context"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/errcode"
)

// ErrInvalidActor: the actor or the reason a call carries is not valid
// (see giftkit.Actor.Valid, giftkit.ValidReason), or an operation that only
// an operator may do was asked by another. It wraps giftkit.ErrInvalid.
var ErrInvalidActor = errcode.New(giftkit.ErrInvalid, "invalid actor or reason")

// A Cause is what every record of one call shares: who made the change,
// why, under which idempotency key, and when.
type Cause struct {
	Actor  giftkit.Actor // who; zero when the host did not say
	Reason string        // why; may be empty
	Key    string        // the call's idempotency key; empty for the system's own changes
	At     time.Time     // the call's time
}

// CauseFrom returns the cause of a call made with ctx (its actor and
// reason, see giftkit.WithActor and giftkit.WithReason), under key at at.
// It fails with [ErrInvalidActor] if either is not valid.
func CauseFrom(ctx context.Context, key string, at time.Time) (Cause, error) {
	c := Cause{Actor: giftkit.ActorFrom(ctx), Reason: giftkit.ReasonFrom(ctx), Key: key, At: at}
	return c, c.Check()
}

// Check returns [ErrInvalidActor] if c's actor or reason is not valid.
func (c Cause) Check() error {
	if !c.Actor.Valid() || !giftkit.ValidReason(c.Reason) {
		return ErrInvalidActor
	}
	return nil
}

// Sweep is the cause of the changes the passage of time makes (expired
// credits, lapsed holds), recorded when a call first notices them: the
// system's, at at, under no key.
func Sweep(at time.Time) Cause { return Cause{Actor: giftkit.System("sweep"), At: at} }

// Seal fills in r's actor, reason, key and time from c and seals it after
// head (see [Seal]).
func (c Cause) Seal(head Head, r Record) (Record, Head) {
	r.Actor, r.Reason, r.Key, r.At = c.Actor, c.Reason, c.Key, c.At
	return Seal(head, r)
}
