package wallet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/unit"
)

// A Limiter counts attempts to use a code (redemptions, balance checks by
// code, codes given at checkout), so that guessing codes is slow. The
// wallet reserves an attempt before it looks a code up and settles it once
// the outcome is known:
//
//	ok, wait, err := limiter.Reserve(ctx, attempt) // refused: ErrTooManyAttempts, retry after wait
//	... look the code up, redeem ...
//	limiter.Settle(ctx, attempt, AttemptFailed)   // or AttemptSucceeded, AttemptVoid
//
// A reserved attempt counts as failed until it is settled otherwise, so
// attempts made at the same moment cannot overtake the count: of any number
// of concurrent guesses, at most the limit reach the lookup. An attempt that
// is never settled (the process died) stays counted until it leaves the
// window, which errs on the side of the shopper's money.
//
// Attempts are counted per subject: the owner of the account, and the
// client (see [WithClient]) when the host names one, so that a host can
// throttle one shopper across addresses and one address across shoppers.
// A guest's attempts are counted per client (see [GuestOr]).
//
// Implementations must be safe for concurrent use. [MemoryLimiter] counts in
// one process; [StoreLimiter] keeps the counts in a store, so that every
// instance sharing a database shares them.
type Limiter interface {
	// Reserve takes one attempt for every subject of a, at a.At. It refuses
	// (ok false) when a subject is locked out or has no attempts left in the
	// window, and says how long until it may try again. An error is the
	// limiter's own failure (its store's); the attempt is then not taken.
	Reserve(ctx context.Context, a Attempt) (ok bool, retryAfter time.Duration, err error)
	// Settle reports how a reserved attempt ended. Its error is the
	// limiter's own failure; the attempt then stays counted as failed.
	Settle(ctx context.Context, a Attempt, result AttemptResult) error
}

// An Attempt is one attempt to use a code as a [Limiter] sees it.
type Attempt struct {
	Owner  string    // the account using the code; for a guest, GuestOr("", client)
	Client string    // the host's name for the caller (an address, an API client); empty if none
	At     time.Time // when the attempt was reserved
}

// Subjects returns the keys a limiter counts a under: one for the owner and,
// if a names a client, one for the client. Each is a kind, a colon and the
// name, so an owner and a client with the same name never share a count.
func (a Attempt) Subjects() []string {
	if a.Client == "" {
		return []string{"owner:" + a.Owner}
	}
	return []string{"owner:" + a.Owner, "client:" + a.Client}
}

// AttemptResult is how a reserved attempt ended.
type AttemptResult uint8

// The results of an attempt.
const (
	// AttemptFailed: the code was refused (unknown, not redeemable,
	// redeemed by another account, expired, in a refused currency, or with
	// no balance). It stays counted.
	AttemptFailed AttemptResult = iota + 1
	// AttemptSucceeded: the card was redeemed. It clears the subjects'
	// counts, unless they are locked out.
	AttemptSucceeded
	// AttemptVoid: the attempt says nothing about guessing (a replay, a
	// repeat by the account that redeemed the card, a store failure). It is
	// no longer counted.
	AttemptVoid
)

type clientKey struct{}

// WithClient returns a context that names the client a redemption comes
// from, such as the caller's network address or API client ID, so that the
// [Limiter] counts attempts per client as well as per owner. Names longer
// than MaxOwnerLen bytes are cut to that length.
func WithClient(ctx context.Context, client string) context.Context {
	if len(client) > MaxOwnerLen {
		client = client[:MaxOwnerLen]
	}
	return context.WithValue(ctx, clientKey{}, client)
}

// ClientFrom returns the client ctx names (see WithClient), or "": for
// other services that count guesses through the same Limiter.
func ClientFrom(ctx context.Context) string { return clientOf(ctx) }

// clientOf returns the client named by WithClient, or "".
func clientOf(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(string)
	return c
}

// A LimitRule says how many attempts a subject may fail: at most Max within
// Window; at the Max-th failure the subject is locked out for Lockout.
type LimitRule struct {
	Max     int           // failed (or unsettled) attempts allowed within Window; 0 means 10
	Window  time.Duration // how long an attempt counts; 0 means an hour
	Lockout time.Duration // how long a subject is refused after the Max-th failure; 0 means an hour
}

// withDefaults fills non-positive fields: 10 attempts, a 1-hour window, a
// 1-hour lockout.
func (r LimitRule) withDefaults() LimitRule {
	if r.Max <= 0 {
		r.Max = 10
	}
	if r.Window <= 0 {
		r.Window = time.Hour
	}
	if r.Lockout <= 0 {
		r.Lockout = time.Hour
	}
	return r
}

// An AttemptLog is what a limiter keeps of one subject: the attempts counted
// within the window and the end of a lockout. [StoreLimiter] keeps one per
// subject in its store. The zero AttemptLog (with a Subject) is a subject
// with nothing counted. Its methods are pure: they return a new log.
type AttemptLog struct {
	Subject     string      // see [Attempt.Subjects]
	Attempts    []time.Time // reserved or failed attempts within the window, oldest first
	LockedUntil time.Time   // zero, or the end of a lockout
}

// Idle reports whether the log holds nothing worth keeping at now: a store
// may delete it.
func (l AttemptLog) Idle(now time.Time, rule LimitRule) bool {
	rule = rule.withDefaults()
	return !now.Before(l.LockedUntil) && len(l.trim(now, rule).Attempts) == 0
}

// compact returns an empty log (which a store deletes) if l is idle at now.
func (l AttemptLog) compact(now time.Time, rule LimitRule) AttemptLog {
	if l.Idle(now, rule) {
		return AttemptLog{Subject: l.Subject}
	}
	return l
}

// trim drops the attempts that left the window.
func (l AttemptLog) trim(now time.Time, rule LimitRule) AttemptLog {
	since := now.Add(-rule.Window)
	i := 0
	for i < len(l.Attempts) && l.Attempts[i].Before(since) {
		i++
	}
	// Clipped, so that appending to the result copies rather than writing
	// into the array the receiver shares.
	l.Attempts = l.Attempts[i:len(l.Attempts):len(l.Attempts)]
	return l
}

// Reserve takes one attempt at now, or says how long until one may be
// taken: until the lockout ends, or until the oldest counted attempt leaves
// the window.
func (l AttemptLog) Reserve(now time.Time, rule LimitRule) (AttemptLog, bool, time.Duration) {
	rule = rule.withDefaults()
	if now.Before(l.LockedUntil) {
		return l, false, l.LockedUntil.Sub(now)
	}
	l = l.trim(now, rule)
	if len(l.Attempts) >= rule.Max {
		return l, false, max(l.Attempts[0].Add(rule.Window).Sub(now), time.Nanosecond)
	}
	l.Attempts = append(l.Attempts, now)
	return l, true, 0
}

// Settle records how the attempt reserved at at ended.
func (l AttemptLog) Settle(at time.Time, result AttemptResult, rule LimitRule) AttemptLog {
	rule = rule.withDefaults()
	l = l.trim(at, rule)
	switch result {
	case AttemptFailed:
		if len(l.Attempts) >= rule.Max && !at.Before(l.LockedUntil) {
			l.Attempts, l.LockedUntil = nil, at.Add(rule.Lockout)
		}
	case AttemptSucceeded:
		if !at.Before(l.LockedUntil) {
			l.Attempts = nil
		}
	default:
		for i := len(l.Attempts) - 1; i >= 0; i-- {
			if l.Attempts[i].Equal(at) {
				l.Attempts = slices.Concat(l.Attempts[:i], l.Attempts[i+1:]) // a copy: the receiver keeps its own
				break
			}
		}
	}
	return l
}

// reserveAll reserves a on every log, all or none, and returns the longest
// wait of a refusal.
func reserveAll(logs []AttemptLog, a Attempt, rule LimitRule) ([]AttemptLog, bool, time.Duration) {
	out := make([]AttemptLog, len(logs))
	var wait time.Duration
	for i, l := range logs {
		next, ok, w := l.Reserve(a.At, rule)
		if !ok {
			wait = max(wait, w)
		}
		out[i] = next
	}
	return out, wait == 0, wait
}

// MemoryLimiter is the default [Limiter]. It keeps its counts in memory, so
// each process counts alone. It is safe for concurrent use.
type MemoryLimiter struct {
	rule LimitRule

	mu    sync.Mutex
	logs  map[subject]AttemptLog
	calls int
}

// subject is a key of MemoryLimiter's counts: an owner or a client, kept
// apart without building the strings of Attempt.Subjects.
type subject struct {
	client bool
	name   string
}

// subjects returns a's subjects (see Attempt.Subjects) in an array.
func (a Attempt) subjects() (out [2]subject, n int) {
	out[0] = subject{name: a.Owner}
	if a.Client == "" {
		return out, 1
	}
	out[1] = subject{client: true, name: a.Client}
	return out, 2
}

// NewMemoryLimiter returns a MemoryLimiter allowing max failed attempts per
// subject within window, then locking the subject out for lockout.
// Non-positive arguments take the defaults: 10 attempts, a 1-hour window, a
// 1-hour lockout.
func NewMemoryLimiter(max int, window, lockout time.Duration) *MemoryLimiter {
	return &MemoryLimiter{rule: LimitRule{max, window, lockout}.withDefaults(), logs: make(map[subject]AttemptLog)}
}

// Reserve implements [Limiter].
func (l *MemoryLimiter) Reserve(_ context.Context, a Attempt) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys, n := a.subjects()
	var next [2]AttemptLog
	var wait time.Duration
	for i, k := range keys[:n] {
		var ok bool
		var w time.Duration
		if next[i], ok, w = l.logs[k].Reserve(a.At, l.rule); !ok {
			wait = max(wait, w)
		}
	}
	if wait > 0 {
		return false, wait, nil
	}
	for i, k := range keys[:n] {
		l.logs[k] = next[i]
	}
	return true, 0, nil
}

// Settle implements [Limiter].
func (l *MemoryLimiter) Settle(_ context.Context, a Attempt, result AttemptResult) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys, n := a.subjects()
	for _, k := range keys[:n] {
		log, ok := l.logs[k]
		if !ok {
			continue
		}
		if log = log.Settle(a.At, result, l.rule); log.Idle(a.At, l.rule) {
			delete(l.logs, k)
		} else {
			l.logs[k] = log
		}
	}
	l.prune(a.At)
	return nil
}

// prune forgets idle subjects now and then, so memory stays bounded by the
// subjects that failed recently.
func (l *MemoryLimiter) prune(now time.Time) {
	l.calls++
	if l.calls%1024 != 0 {
		return
	}
	for s, log := range l.logs {
		if log.Idle(now, l.rule) {
			delete(l.logs, s)
		}
	}
}

// LimiterTx is what a [StoreLimiter] needs of a unit of work. memstore and
// pgstore implement it.
type LimiterTx interface {
	// AttemptLog returns the log of subject, locking it for the unit of
	// work; false if there is none.
	AttemptLog(subject string) (AttemptLog, bool, error)
	// PutAttemptLog inserts or replaces the log of l.Subject. A log with no
	// attempts and no lockout may be deleted instead.
	PutAttemptLog(l AttemptLog) error
}

// StoreLimiter is a [Limiter] that keeps its counts in a store, each
// reservation and settlement in a unit of work of its own: every instance of
// a service sharing the store shares the counts. It is safe for concurrent
// use.
type StoreLimiter struct {
	store giftkit.Store[LimiterTx]
	rule  LimitRule
}

// NewStoreLimiter returns a StoreLimiter over store with the given rule
// (zero fields take [NewMemoryLimiter]'s defaults).
func NewStoreLimiter[T LimiterTx](store giftkit.Store[T], rule LimitRule) (*StoreLimiter, error) {
	if store == nil {
		return nil, errors.New("wallet: NewStoreLimiter needs a store")
	}
	return &StoreLimiter{store: unit.Erase(store, func(tx T) LimiterTx { return tx }), rule: rule.withDefaults()}, nil
}

// readLogs reads the logs of subjects in sorted order, so that units of work
// locking several take their locks in one order.
func readLogs(tx LimiterTx, subjects []string) ([]AttemptLog, error) {
	sort.Strings(subjects)
	logs := make([]AttemptLog, len(subjects))
	for i, s := range subjects {
		log, _, err := tx.AttemptLog(s)
		if err != nil {
			return nil, fmt.Errorf("wallet: limiter: %w", err)
		}
		log.Subject = s
		logs[i] = log
	}
	return logs, nil
}

// Reserve implements [Limiter].
func (l *StoreLimiter) Reserve(ctx context.Context, a Attempt) (ok bool, wait time.Duration, err error) {
	err = l.store.Update(ctx, func(tx LimiterTx) error {
		logs, err := readLogs(tx, a.Subjects())
		if err != nil {
			return err
		}
		var next []AttemptLog
		if next, ok, wait = reserveAll(logs, a, l.rule); !ok {
			return nil
		}
		for _, log := range next {
			if err := tx.PutAttemptLog(log.compact(a.At, l.rule)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, 0, err
	}
	return ok, wait, nil
}

// Settle implements [Limiter].
func (l *StoreLimiter) Settle(ctx context.Context, a Attempt, result AttemptResult) error {
	return l.store.Update(ctx, func(tx LimiterTx) error {
		logs, err := readLogs(tx, a.Subjects())
		if err != nil {
			return err
		}
		for _, log := range logs {
			if err := tx.PutAttemptLog(log.Settle(a.At, result, l.rule).compact(a.At, l.rule)); err != nil {
				return err
			}
		}
		return nil
	})
}
