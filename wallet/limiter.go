package wallet

import (
	"sync"
	"time"
)

// A Limiter counts failed redemption attempts per owner, so that guessing
// codes is slow. The wallet asks Allow before it looks a code up, and reports
// each attempt's result. Implementations must be safe for concurrent use; a
// service on many machines uses one backed by shared storage.
type Limiter interface {
	// Allow reports whether owner may attempt a redemption at now, and if
	// not, how long until they may.
	Allow(owner string, now time.Time) (ok bool, retryAfter time.Duration)
	// Failed records a failed attempt.
	Failed(owner string, now time.Time)
	// Succeeded records a successful redemption, which clears the count.
	Succeeded(owner string, now time.Time)
}

// MemoryLimiter is the default [Limiter]: at most Max failures per owner
// within Window; at the Max-th the owner is locked out for Lockout. It keeps
// its counts in memory, so each process counts alone. It is safe for
// concurrent use.
type MemoryLimiter struct {
	max             int
	window, lockout time.Duration

	mu     sync.Mutex
	owners map[string]*attempts
	calls  int
}

type attempts struct {
	failures    []time.Time // within the window, oldest first
	lockedUntil time.Time
}

// NewMemoryLimiter returns a MemoryLimiter. Non-positive arguments take the
// defaults: 10 failures, a 1-hour window, a 1-hour lockout.
func NewMemoryLimiter(max int, window, lockout time.Duration) *MemoryLimiter {
	if max <= 0 {
		max = 10
	}
	if window <= 0 {
		window = time.Hour
	}
	if lockout <= 0 {
		lockout = time.Hour
	}
	return &MemoryLimiter{max: max, window: window, lockout: lockout, owners: make(map[string]*attempts)}
}

// Allow implements [Limiter].
func (l *MemoryLimiter) Allow(owner string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.owners[owner]
	if a == nil || !now.Before(a.lockedUntil) {
		return true, 0
	}
	return false, a.lockedUntil.Sub(now)
}

// Failed implements [Limiter].
func (l *MemoryLimiter) Failed(owner string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	a := l.owners[owner]
	if a == nil {
		a = &attempts{}
		l.owners[owner] = a
	}
	a.failures = append(trim(a.failures, now.Add(-l.window)), now)
	if len(a.failures) >= l.max {
		a.lockedUntil = now.Add(l.lockout)
		a.failures = nil
	}
}

// Succeeded implements [Limiter].
func (l *MemoryLimiter) Succeeded(owner string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.owners[owner]; a != nil && !now.Before(a.lockedUntil) {
		delete(l.owners, owner)
	}
}

// prune forgets idle owners now and then, so memory stays bounded by the
// owners that failed recently.
func (l *MemoryLimiter) prune(now time.Time) {
	l.calls++
	if l.calls%1024 != 0 {
		return
	}
	for owner, a := range l.owners {
		a.failures = trim(a.failures, now.Add(-l.window))
		if len(a.failures) == 0 && !now.Before(a.lockedUntil) {
			delete(l.owners, owner)
		}
	}
}

func trim(ts []time.Time, since time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(since) {
		i++
	}
	return ts[i:]
}
