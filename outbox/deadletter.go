package outbox

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/errcode"
)

// A DeadLetter is an event a consumer gave up on, such as a webhook
// dispatcher (package webhook) after its endpoint failed every attempt,
// answered 410 Gone, or the event could not be encoded. The consumer
// acknowledged it in the outbox and went on; the dead letter keeps the
// whole event, since the outbox may prune it, so that it can be sent later
// (webhook.Dispatcher.Replay).
type DeadLetter struct {
	Consumer string `json:"consumer"` // the dispatcher's outbox consumer: one per endpoint
	Event    Event  `json:"event"`    // the event, payload included
	Attempts int    `json:"attempts"` // failed attempts, Replay's included; 0 for an event that could not be encoded
	// Status is the last attempt's status (an HTTP status, for a webhook);
	// 0 when it got none (a timeout, a refused connection) or made none.
	Status int `json:"status,omitempty"`
	// Error says what went wrong last, as text: "status 500", "timed out
	// after 30s", ... It never holds the body or the URL.
	Error string    `json:"error"`
	At    time.Time `json:"at"` // when the last attempt failed, by Config.Now
}

// DeadLetters keeps the dead letters of one or more consumers, each under
// its consumer name. [NewMemoryDeadLetters] keeps them in memory, so a
// process that stops loses them (their events are acknowledged in the
// outbox, and so may be pruned from it); every store keeps them durably
// beside its outbox (its DeadLetters method). Methods may be called
// concurrently.
type DeadLetters interface {
	// Put stores l under l.Consumer and l.Event.ID, replacing the dead
	// letter stored there, if any.
	Put(ctx context.Context, l DeadLetter) error
	// Get returns the dead letter of consumer with event ID eventID, or
	// ErrDeadLetterNotFound.
	Get(ctx context.Context, consumer, eventID string) (DeadLetter, error)
	// List returns up to limit (1 or more) of consumer's dead letters
	// whose Event.Pos is after after, in order of Event.Pos.
	List(ctx context.Context, consumer string, after int64, limit int) ([]DeadLetter, error)
	// Delete removes the dead letter of consumer with event ID eventID.
	// Deleting one that is not there is not an error.
	Delete(ctx context.Context, consumer, eventID string) error
}

// MemoryDeadLetters is the in-memory [DeadLetters]: what it holds is lost
// when the process stops. It is safe for concurrent use; use
// [NewMemoryDeadLetters] to make one.
type MemoryDeadLetters struct {
	mu      sync.Mutex
	letters map[deadLetterKey]DeadLetter
}

var _ DeadLetters = (*MemoryDeadLetters)(nil)

// ErrDeadLetterNotFound: no dead letter of the consumer has that event
// ID. It wraps giftkit.ErrNotFound.
var ErrDeadLetterNotFound = errcode.New(giftkit.ErrNotFound, "dead letter not found")

// deadLetterKey is a struct, not the two names joined, so no consumer and
// event ID can collide with another pair.
type deadLetterKey struct{ consumer, eventID string }

// NewMemoryDeadLetters returns an empty MemoryDeadLetters.
func NewMemoryDeadLetters() *MemoryDeadLetters {
	return &MemoryDeadLetters{letters: make(map[deadLetterKey]DeadLetter)}
}

func cloneLetter(l DeadLetter) DeadLetter {
	l.Event = l.Event.Clone()
	return l
}

// Put implements DeadLetters. It keeps a copy of l.
func (m *MemoryDeadLetters) Put(ctx context.Context, l DeadLetter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.letters[deadLetterKey{l.Consumer, l.Event.ID}] = cloneLetter(l)
	return nil
}

// Get implements DeadLetters. It returns a copy.
func (m *MemoryDeadLetters) Get(ctx context.Context, consumer, eventID string) (DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return DeadLetter{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.letters[deadLetterKey{consumer, eventID}]
	if !ok {
		return DeadLetter{}, fmt.Errorf("outbox: %w: %q for consumer %q", ErrDeadLetterNotFound, eventID, consumer)
	}
	return cloneLetter(l), nil
}

// List implements DeadLetters. It returns copies.
func (m *MemoryDeadLetters) List(ctx context.Context, consumer string, after int64, limit int) ([]DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	var out []DeadLetter
	for k, l := range m.letters {
		if k.consumer == consumer && l.Event.Pos > after {
			out = append(out, l)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b DeadLetter) int {
		return cmp.Or(cmp.Compare(a.Event.Pos, b.Event.Pos), cmp.Compare(a.Event.ID, b.Event.ID))
	})
	out = out[:min(len(out), max(limit, 1))]
	for i := range out {
		out[i] = cloneLetter(out[i])
	}
	return out, nil
}

// Delete implements DeadLetters.
func (m *MemoryDeadLetters) Delete(ctx context.Context, consumer, eventID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.letters, deadLetterKey{consumer, eventID})
	return nil
}
