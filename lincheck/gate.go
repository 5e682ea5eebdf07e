package lincheck

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/giftkit/giftkit/wallet"
)

// gate wraps a guessing wallet's limiter and holds the Reserve calls of a
// burst of guesses until all of them have arrived, then lets them go at
// once: the work a redemption does before it asks the limiter (parsing,
// hashing) spreads concurrent guesses apart, and a limiter that checks and
// records in two steps is only caught when two meet in between. The
// waiters spin, yielding only now and then so that the rest of the burst
// can arrive, so that when the gate opens the ones running on every
// processor enter Reserve at the same instant: woken goroutines, or ones
// that yield at every turn, enter one at a time. (In a trial of 2000
// bursts of 8 on a limiter so broken, spinning guesses over-admitted in
// half the bursts, with or without -race; blocked or yielding ones in
// under 1 %.)
type gate struct {
	inner wallet.Limiter
	mu    sync.Mutex
	waits map[string]*burst // by the guessing owner
}

// burst is a burst of guesses on its way through the gate.
type burst struct {
	left int // guesses still to arrive
	open atomic.Bool
}

func newGate(inner wallet.Limiter) *gate { return &gate{inner: inner, waits: map[string]*burst{}} }

// expect announces a burst of n guesses by owner.
func (g *gate) expect(owner string, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waits[owner] = &burst{left: n}
}

// Reserve implements wallet.Limiter.
func (g *gate) Reserve(ctx context.Context, a wallet.Attempt) (bool, time.Duration, error) {
	g.mu.Lock()
	b := g.waits[a.Owner]
	if b != nil {
		if b.left--; b.left == 0 {
			b.open.Store(true)
			delete(g.waits, a.Owner)
		}
	}
	g.mu.Unlock()
	// A guess that never reaches the limiter (refused before it) leaves the
	// others to go after a while.
	deadline := time.Now().Add(50 * time.Millisecond)
	for i := 1; b != nil && !b.open.Load(); i++ {
		if i%512 == 0 {
			if time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
	}
	return g.inner.Reserve(ctx, a)
}

// Settle implements wallet.Limiter.
func (g *gate) Settle(ctx context.Context, a wallet.Attempt, result wallet.AttemptResult) error {
	return g.inner.Settle(ctx, a, result)
}
