// Package storetest is the conformance suite for giftkit stores, in the
// manner of testing/fstest.TestFS: a store implementation proves itself with
// one call from its tests,
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) giftkit.Store[*mystore.Tx] { return mystore.New(...) })
//	}
//
// [Run] checks round trips of every stored type, copy semantics, rollback
// when the callback fails, constraints, isolation of concurrent units of
// work, and, through the real services, that 64 goroutines redeeming one card
// produce exactly one credit, that concurrent debits and concurrent
// checkouts never overdraw an account, that idempotent replays agree under
// concurrency, that history pages stay stable while entries are
// appended, and that the activity log round-trips, answers every query
// shape with stable cursors, refuses a record out of its chain, and holds
// together after every kind of change the services make ([CheckActivity]);
// that the outbox holds every committed change's events and none of a
// rolled-back unit's, in commit order, with cursors that never move back
// under concurrent consumers, pruning, Forget and Wait ([CheckOutbox]); and
// that e-gift deliveries and the outbox's dead letters round-trip, with
// egift.Service run over the store; and that cards spent directly work:
// imported cards and card tags, entries of the load and transfer kinds and
// payments' gift-card tenders round-trip, and a payment with two gift
// cards and a bank card, its refunds to the cards, and reloads and
// transfers between the cards' own accounts leave journals, activity and
// an outbox that hold together.
// Every subtest gets a fresh store from newStore.
//
// [System] is the whole-system property test: a rapid state machine over
// cards, wallets, checkout (gift cards given by code among the tenders),
// loads, reloads and transfers, and the operator's adjustments and clawbacks,
// with injected store and processor faults, compared with a plain model
// after every step, including the activity log, the liability report and the
// outbox.
//
// [Env], [Clock] and [NewEnv] are the helpers both use, exported for stores'
// own tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// Workers is how many goroutines the concurrency tests run at once.
const Workers = 64

// Run runs the conformance suite against stores made by newStore.
func Run[T checkout.Tx](t *testing.T, newStore func(t *testing.T) giftkit.Store[T]) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("Copies", func(t *testing.T) { testCopies(t, newStore(t)) })
	t.Run("Rollback", func(t *testing.T) { testRollback(t, newStore(t)) })
	t.Run("Constraints", func(t *testing.T) { testConstraints(t, newStore(t)) })
	t.Run("Isolation", func(t *testing.T) { testIsolation(t, newStore(t)) })
	t.Run("RedeemRace", func(t *testing.T) { testRedeemRace(t, newStore(t)) })
	t.Run("DebitRace", func(t *testing.T) { testDebitRace(t, newStore(t)) })
	t.Run("ReplayRace", func(t *testing.T) { testReplayRace(t, newStore(t)) })
	t.Run("HistoryPaging", func(t *testing.T) { testHistoryPaging(t, newStore(t)) })
	t.Run("Payments", func(t *testing.T) { testPayments(t, newStore(t)) })
	t.Run("PaymentFields", func(t *testing.T) { testPaymentFields(t, newStore(t)) })
	t.Run("CheckoutRace", func(t *testing.T) { testCheckoutRace(t, newStore(t)) })
	t.Run("Limiter", func(t *testing.T) { testLimiter(t, newStore(t)) })
	t.Run("InsertCards", func(t *testing.T) { testInsertCards(t, newStore(t)) })
	t.Run("Activity", func(t *testing.T) { testActivity(t, newStore(t)) })
	t.Run("ActivityOfServices", func(t *testing.T) { testActivityOfServices(t, newStore(t)) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, newStore(t)) })
	t.Run("OutboxConcurrency", func(t *testing.T) { testOutboxConcurrency(t, newStore(t)) })
	t.Run("OutboxOfServices", func(t *testing.T) { testOutboxOfServices(t, newStore(t)) })
	t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, newStore(t)) })
	t.Run("DeliveriesOfServices", func(t *testing.T) { testDeliveriesOfServices(t, newStore(t)) })
	t.Run("DeadLetters", func(t *testing.T) { testDeadLetters(t, newStore(t)) })
	t.Run("CardTenders", func(t *testing.T) { testCardTenders(t, newStore(t)) })
}

var (
	eur   = giftkit.EUR
	epoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
)

// Env bundles services over one store with a fixed clock and a seeded
// random source, for this suite and for the property tests of the stores.
type Env struct {
	// Cards issues and administers cards in the store, drawing their codes
	// and IDs from the seeded random source.
	Cards *giftcard.Service
	// Wallet redeems, holds and spends in the same store, with the same
	// Hasher (keyed with TestHashKey) as Cards.
	Wallet *wallet.Service
	// Clock is the time both services read: stopped at 2026-11-27 12:00
	// UTC until the test advances it.
	Clock *Clock
	// Hasher is the services' Hasher: pass it as checkout.Config.Hasher
	// for a checkout that takes gift cards by code.
	Hasher *giftcard.Hasher
	// Limiter is the Wallet's, which never locks anyone out: pass it as
	// checkout.Config.Limiter, so that codes given as tenders count as
	// guesses with redemptions and balance checks.
	Limiter wallet.Limiter
}

// Clock is a manual clock, safe for concurrent use.
type Clock struct {
	mu   sync.Mutex
	now  time.Time
	tick time.Duration // added after each reading, while the harness has it set
}

// NewClock returns a Clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now
	c.now = c.now.Add(c.tick)
	return now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// set moves the clock to t and makes every reading from then on advance it
// by tick: time passing between two readings of one call.
func (c *Clock) set(t time.Time, tick time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now, c.tick = t, tick
}

// lockedReader makes a ChaCha8 source safe for concurrent use.
type lockedReader struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// TB is the part of testing.TB the helpers use; *testing.T and *rapid.T
// both have it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// TestHashKey is the HMAC key the suite's services use.
var TestHashKey = []byte("storetest-hash-key-0123456789abcdef")

// NewEnv returns services over store with a clock at a fixed instant, a
// deterministic random source, and a limiter that never locks anyone out.
func NewEnv[T wallet.Tx](t TB, store giftkit.Store[T], seed byte) Env {
	t.Helper()
	hasher, err := giftcard.NewHasher(TestHashKey)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	clock := NewClock(epoch)
	cards, err := giftcard.NewService(store, giftcard.Config{
		Hasher: hasher, Now: clock.Now, Rand: &lockedReader{r: rand.NewChaCha8([32]byte{seed})},
	})
	if err != nil {
		t.Fatalf("giftcard.NewService: %v", err)
	}
	limiter := &countingLimiter{inner: wallet.NewMemoryLimiter(1<<30, time.Hour, time.Second)}
	w, err := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: clock.Now, Limiter: limiter})
	if err != nil {
		t.Fatalf("wallet.NewService: %v", err)
	}
	return Env{Cards: cards, Wallet: w, Clock: clock, Hasher: hasher, Limiter: limiter}
}

// countingLimiter is a wallet.Limiter that counts the attempts settled as
// failed guesses, so that the harness can tell which calls counted as
// guesses.
type countingLimiter struct {
	inner  wallet.Limiter
	failed atomic.Int64
}

func (c *countingLimiter) Reserve(ctx context.Context, a wallet.Attempt) (bool, time.Duration, error) {
	return c.inner.Reserve(ctx, a)
}

func (c *countingLimiter) Settle(ctx context.Context, a wallet.Attempt, result wallet.AttemptResult) error {
	if result == wallet.AttemptFailed {
		c.failed.Add(1)
	}
	return c.inner.Settle(ctx, a, result)
}

// guesses returns how many attempts were settled as failed guesses.
func (c *countingLimiter) guesses() int { return int(c.failed.Load()) }

// Issue issues one active card of value and returns its code.
func (e Env) Issue(t TB, value giftkit.Money, key string) (giftcard.Card, codefmt.Code) {
	t.Helper()
	out, err := e.Cards.Issue(context.Background(), giftcard.IssueRequest{Value: value}, key)
	if err != nil {
		t.Fatalf("Issue(%v): %v", value, err)
	}
	return out.Cards[0].Card, out.Cards[0].Code
}

// Fund gives owner a balance of amount by issuing and redeeming a card.
func (e Env) Fund(t TB, owner string, amount giftkit.Money) {
	t.Helper()
	_, code := e.Issue(t, amount, "fund-issue-"+owner+amount.String())
	if _, err := e.Wallet.Redeem(context.Background(), owner, code.String(), "fund-redeem-"+owner+amount.String()); err != nil {
		t.Fatalf("Redeem for %s: %v", owner, err)
	}
}

func money(s string) giftkit.Money { return giftkit.MustParseMoney(s, eur) }

// update runs fn in a unit of work and fails the test if it fails.
func update[T any](t *testing.T, s giftkit.Store[T], fn func(tx T) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func sampleCard(id string, b byte) giftcard.Card {
	var h giftcard.Hash
	h[0], h[1] = b, 0x5a
	return giftcard.Card{
		ID: id, Hash: h, Suffix: "AB12", Value: money("25.00"), State: giftcard.StateActive,
		BatchID: "batch-1", IssuedAt: epoch, ActivatedAt: epoch, ExpiresAt: epoch.Add(365 * 24 * time.Hour), UpdatedAt: epoch,
		Class: giftkit.ClassPromotional, ClawedBack: money("1.50"), Head: activity.Head{Seq: 3, Digest: activity.Digest{b, 7}},
	}
}

func sampleAccount(owner string) (wallet.Account, []wallet.Entry) {
	a := wallet.NewAccount(owner, eur)
	a, e1, _ := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: money("30.00"), ExpiresAt: epoch.Add(time.Hour),
		Source: "card-1", Reference: "card-1"}, "k1", epoch)
	a, e2, _ := a.Credit(wallet.CreditSpec{Kind: wallet.EntryRefund, Amount: money("5.00"), Source: "order-9", Reference: "order-9"}, "k2", epoch)
	a, e3, _ := a.PlaceHold(wallet.HoldSpec{ID: "hold-1", Placer: wallet.PlacerWallet, Amount: money("12.00"), Reference: "order-10",
		ExpiresAt: epoch.Add(time.Minute)}, "k3", epoch)
	a, e4, _ := a.Credit(wallet.CreditSpec{Kind: wallet.EntryAdjustment, Class: giftkit.ClassPromotional, Amount: money("2.00"),
		Source: "goodwill", Reference: "ticket-1"}, "k4", epoch)
	state := a.State()
	state.Head = activity.Head{Seq: 4, Digest: activity.Digest{4, 2}}
	a, err := wallet.RestoreAccount(state)
	if err != nil {
		panic(err)
	}
	return a, []wallet.Entry{e1, e2, e3, e4}
}

// cmpOpts compares domain values: Money and Currency by ==, times by Equal
// (a store may drop the monotonic reading or change the location).
var cmpOpts = cmp.Options{
	cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b giftkit.Money) bool { return a == b }),
	cmp.Comparer(func(a, b giftkit.Currency) bool { return a == b }),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

func testRoundTrip[T wallet.Tx](t *testing.T, s giftkit.Store[T]) {
	card := sampleCard("card-1", 1)
	acct, entries := sampleAccount("alice")
	rec := giftkit.IdempotencyRecord{Scope: "wallet/alice", Key: "k1", Fingerprint: "f", Outcome: []byte(`{"x":1}`), CreatedAt: epoch}
	update(t, s, func(tx T) error {
		if err := tx.PutCard(card); err != nil {
			return err
		}
		if err := tx.SaveAccount(acct, entries); err != nil {
			return err
		}
		// A unit of work reads its own writes.
		if got, ok, err := tx.CardByHash(card.Hash); err != nil || !ok || got.ID != card.ID {
			return fmt.Errorf("CardByHash in the writing unit = %v, %v, %v", got.ID, ok, err)
		}
		return tx.PutIdempotency(rec)
	})
	update(t, s, func(tx T) error {
		for name, get := range map[string]func() (giftcard.Card, bool, error){
			"CardByID":   func() (giftcard.Card, bool, error) { return tx.CardByID(card.ID) },
			"CardByHash": func() (giftcard.Card, bool, error) { return tx.CardByHash(card.Hash) },
		} {
			got, ok, err := get()
			if err != nil || !ok {
				t.Errorf("%s = %v, %v", name, ok, err)
			}
			if diff := cmp.Diff(card, got, cmpOpts); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
			}
		}
		gotAcct, ok, err := tx.Account("alice", eur)
		if err != nil || !ok {
			t.Errorf("Account = %v, %v", ok, err)
		}
		if diff := cmp.Diff(acct.State(), gotAcct.State(), cmpOpts); diff != "" {
			t.Errorf("Account mismatch (-want +got):\n%s", diff)
		}
		gotEntries, err := tx.Entries("alice", eur, 0, 10)
		if err != nil {
			t.Errorf("Entries: %v", err)
		}
		if diff := cmp.Diff(entries, gotEntries, cmpOpts); diff != "" {
			t.Errorf("Entries mismatch (-want +got):\n%s", diff)
		}
		if tail, _ := tx.Entries("alice", eur, 1, 1); len(tail) != 1 || tail[0].Seq != 2 {
			t.Errorf("Entries(after 1, limit 1) = %v; want entry 2", tail)
		}
		gotRec, ok, err := tx.Idempotency(rec.Scope, rec.Key)
		if err != nil || !ok {
			t.Errorf("Idempotency = %v, %v", ok, err)
		}
		if diff := cmp.Diff(rec, gotRec, cmpOpts); diff != "" {
			t.Errorf("Idempotency mismatch (-want +got):\n%s", diff)
		}
		for name, found := range map[string]func() (bool, error){
			"CardByID(unknown)":    func() (bool, error) { _, ok, err := tx.CardByID("nope"); return ok, err },
			"CardByHash(unknown)":  func() (bool, error) { _, ok, err := tx.CardByHash(giftcard.Hash{9}); return ok, err },
			"Account(unknown)":     func() (bool, error) { _, ok, err := tx.Account("bob", eur); return ok, err },
			"Account(other cur)":   func() (bool, error) { _, ok, err := tx.Account("alice", giftkit.USD); return ok, err },
			"Idempotency(unknown)": func() (bool, error) { _, ok, err := tx.Idempotency(rec.Scope, "other"); return ok, err },
		} {
			if ok, err := found(); ok || err != nil {
				t.Errorf("%s = %v, %v; want not found", name, ok, err)
			}
		}
		return nil
	})
}

func testCopies[T wallet.Tx](t *testing.T, s giftkit.Store[T]) {
	acct, entries := sampleAccount("alice")
	rec := giftkit.IdempotencyRecord{Scope: "s", Key: "k", Fingerprint: "f", Outcome: []byte("abc"), CreatedAt: epoch}
	update(t, s, func(tx T) error {
		if err := tx.SaveAccount(acct, entries); err != nil {
			return err
		}
		return tx.PutIdempotency(rec)
	})
	// Changing what was put, or what was read, must not reach the store.
	// Accounts are immutable; what callers can change is what they take
	// out of one.
	acct.State().Lots[0].Remaining = money("999.00")
	acct.Holds()[0].Parts[0].Amount = money("999.00")
	rec.Outcome[0] = 'X'
	update(t, s, func(tx T) error {
		got, _, _ := tx.Account("alice", eur)
		got.Lots()[0].Source = "changed"
		got.State().Holds[0].Parts[0].Amount = money("999.00")
		r, _, _ := tx.Idempotency("s", "k")
		r.Outcome[1] = 'Y'
		return nil
	})
	update(t, s, func(tx T) error {
		got, _, _ := tx.Account("alice", eur)
		st := got.State()
		if st.Lots[0].Remaining == money("999.00") || st.Holds[0].Parts[0].Amount == money("999.00") || st.Lots[0].Source == "changed" {
			t.Errorf("stored account aliases caller memory: %+v", st)
		}
		r, _, _ := tx.Idempotency("s", "k")
		if string(r.Outcome) != "abc" {
			t.Errorf("stored outcome = %q; want %q (aliased)", r.Outcome, "abc")
		}
		return nil
	})
}

func testRollback[T wallet.Tx](t *testing.T, s giftkit.Store[T]) {
	acct, entries := sampleAccount("alice")
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx T) error {
		_ = tx.PutCard(sampleCard("card-1", 1))
		_ = tx.SaveAccount(acct, entries)
		_ = tx.PutIdempotency(giftkit.IdempotencyRecord{Scope: "s", Key: "k", Fingerprint: "f", CreatedAt: epoch})
		return boom
	})
	if err != boom {
		t.Fatalf("Update returned %v; want the callback's error unchanged", err)
	}
	update(t, s, func(tx T) error {
		if _, ok, _ := tx.CardByID("card-1"); ok {
			t.Error("card written by a failed unit of work is visible")
		}
		if _, ok, _ := tx.CardByHash(sampleCard("card-1", 1).Hash); ok {
			t.Error("card hash written by a failed unit of work is visible")
		}
		if _, ok, _ := tx.Account("alice", eur); ok {
			t.Error("account written by a failed unit of work is visible")
		}
		if es, _ := tx.Entries("alice", eur, 0, 10); len(es) != 0 {
			t.Errorf("entries written by a failed unit of work are visible: %v", es)
		}
		if _, ok, _ := tx.Idempotency("s", "k"); ok {
			t.Error("idempotency record written by a failed unit of work is visible")
		}
		return nil
	})
	// A cancelled context runs nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := s.Update(ctx, func(T) error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Errorf("Update(cancelled) = %v, ran=%v; want context.Canceled without running", err, ran)
	}
}

func testConstraints[T wallet.Tx](t *testing.T, s giftkit.Store[T]) {
	update(t, s, func(tx T) error { return tx.PutCard(sampleCard("card-1", 1)) })
	rec := giftkit.IdempotencyRecord{Scope: "s", Key: "k", Fingerprint: "f", CreatedAt: epoch}
	update(t, s, func(tx T) error { return tx.PutIdempotency(rec) })
	acct, entries := sampleAccount("alice")
	update(t, s, func(tx T) error {
		return tx.SaveAccount(acct, entries)
	})
	for name, fn := range map[string]func(tx wallet.Tx) error{
		"second card with the same hash": func(tx wallet.Tx) error { return tx.PutCard(sampleCard("card-2", 1)) },
		"second record under one key":    func(tx wallet.Tx) error { return tx.PutIdempotency(rec) },
		"entry out of sequence":          func(tx wallet.Tx) error { return tx.SaveAccount(acct, entries[:1]) },
		"account ahead of its entries": func(tx wallet.Tx) error {
			more, _, _ := acct.Credit(wallet.CreditSpec{Kind: wallet.EntryRefund, Amount: money("1.00")}, "k4", epoch)
			return tx.SaveAccount(more, nil)
		},
	} {
		err := s.Update(context.Background(), func(tx T) error { return fn(tx) })
		if err == nil {
			t.Errorf("%s: Update succeeded; want an error", name)
		}
	}
}

// testIsolation runs read-modify-write units of work concurrently on one
// account; a store that loses an update fails.
func testIsolation[T wallet.Tx](t *testing.T, s giftkit.Store[T]) {
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(context.Background(), func(tx T) error {
				a, found, err := tx.Account("alice", eur)
				if err != nil {
					return err
				}
				if !found {
					a = wallet.NewAccount("alice", eur)
				}
				a, e, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(1, eur)}, "k", epoch)
				if err != nil {
					return err
				}
				return tx.SaveAccount(a, []wallet.Entry{e})
			})
			if err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	update(t, s, func(tx T) error {
		a, _, _ := tx.Account("alice", eur)
		if a.Balance().Minor() != Workers-failed.Load() {
			t.Errorf("after %d credits of 1 cent (%d failed), balance = %v: an update was lost", Workers, failed.Load(), a.Balance())
		}
		return nil
	})
}

func testRedeemRace[T wallet.Tx](t *testing.T, s giftkit.Store[T]) {
	env := NewEnv(t, s, 1)
	card, code := env.Issue(t, money("50.00"), "issue")
	var wg sync.WaitGroup
	results := make([]error, Workers)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, results[i] = env.Wallet.Redeem(context.Background(), fmt.Sprintf("shopper-%d", i), code.String(), "redeem")
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("shoppers %d and %d both redeemed the card", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, giftcard.ErrAlreadyRedeemed):
			t.Errorf("shopper %d: %v; want ErrAlreadyRedeemed", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("nobody redeemed the card")
	}
	total := giftkit.Zero(eur)
	for i := range results {
		b, err := env.Wallet.Balance(context.Background(), fmt.Sprintf("shopper-%d", i), eur)
		if err != nil {
			t.Fatal(err)
		}
		total, _ = total.Add(b.Balance)
	}
	if total != card.Value {
		t.Errorf("balances sum to %v; want the card's %v credited exactly once", total, card.Value)
	}
	got, err := env.Cards.Card(context.Background(), card.ID)
	if err != nil || got.State != giftcard.StateRedeemed || got.RedeemedBy != fmt.Sprintf("shopper-%d", winner) {
		t.Errorf("card after the race: %v by %q, %v; want redeemed by shopper-%d", got.State, got.RedeemedBy, err, winner)
	}
}

func testDebitRace[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	env := NewEnv(t, s, 2)
	env.Fund(t, "alice", money("100.00"))
	var wg sync.WaitGroup
	var spent atomic.Int64
	var mu sync.Mutex
	smallestRefused := int64(1 << 62)
	for i := 0; i < Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			amount := giftkit.FromMinor(int64(300+i*17), eur) // 3.00 to 13.71
			_, err := env.Wallet.Debit(context.Background(), "alice", amount, "order", fmt.Sprintf("debit-%d", i))
			switch {
			case err == nil:
				spent.Add(amount.Minor())
			case errors.Is(err, wallet.ErrInsufficientFunds):
				mu.Lock()
				smallestRefused = min(smallestRefused, amount.Minor())
				mu.Unlock()
			default:
				t.Errorf("debit %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	b, err := env.Wallet.Balance(context.Background(), "alice", eur)
	if err != nil {
		t.Fatal(err)
	}
	if b.Balance.IsNegative() || b.Available.IsNegative() {
		t.Fatalf("overdrawn: %+v", b)
	}
	if got := 10000 - spent.Load(); b.Balance.Minor() != got {
		t.Errorf("balance %v; want 100.00 − successful debits = %v", b.Balance, giftkit.FromMinor(got, eur))
	}
	// The balance only falls during the race, so a debit refused for want
	// of funds proves that less than its amount is left.
	if b.Available.Minor() >= smallestRefused {
		t.Errorf("%v left although a debit of %v was refused", b.Available, giftkit.FromMinor(smallestRefused, eur))
	}
	checkJournal(t, s, "alice", b.Balance)
}

// checkJournal checks that the account's journal sums to balance and that
// its sequence numbers run 1, 2, 3, ...
func checkJournal[T wallet.Tx](t *testing.T, s giftkit.Store[T], owner string, balance giftkit.Money) {
	t.Helper()
	update(t, s, func(tx T) error {
		entries, err := tx.Entries(owner, balance.Currency(), 0, 1<<20)
		if err != nil {
			return err
		}
		sum := giftkit.Zero(balance.Currency())
		for i, e := range entries {
			if e.Seq != int64(i+1) {
				t.Errorf("entry %d has seq %d", i, e.Seq)
			}
			sum, _ = sum.Add(e.Amount)
		}
		if sum != balance {
			t.Errorf("journal of %s sums to %v; balance is %v", owner, sum, balance)
		}
		return nil
	})
}

func testReplayRace[T wallet.Tx](t *testing.T, s giftkit.Store[T]) {
	env := NewEnv(t, s, 3)
	_, code := env.Issue(t, money("20.00"), "issue")
	var wg sync.WaitGroup
	out := make([]wallet.Redeemed, Workers)
	errs := make([]error, Workers)
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = env.Wallet.Redeem(context.Background(), "alice", code.String(), "same-key")
		}()
	}
	wg.Wait()
	first := 0
	for i := range out {
		if errs[i] != nil {
			t.Fatalf("retry %d: %v", i, errs[i])
		}
		if !out[i].Replayed {
			first++
		}
		if out[i].Entry.Seq != out[0].Entry.Seq || out[i].Balance != out[0].Balance {
			t.Errorf("retry %d returned %+v; want the same outcome as %+v", i, out[i], out[0])
		}
	}
	if first != 1 {
		t.Errorf("%d calls ran the redemption; want exactly 1", first)
	}
	b, _ := env.Wallet.Balance(context.Background(), "alice", eur)
	if b.Balance != money("20.00") {
		t.Errorf("balance %v after %d retries; want 20.00 EUR", b.Balance, Workers)
	}
	// The same key with another request is a conflict, even concurrently.
	_, other := env.Issue(t, money("5.00"), "issue-2")
	if _, err := env.Wallet.Redeem(context.Background(), "alice", other.String(), "same-key"); !errors.Is(err, giftkit.ErrIdempotencyConflict) {
		t.Errorf("same key, other code: %v; want ErrIdempotencyConflict", err)
	}
}

func testHistoryPaging[T wallet.Tx](t *testing.T, s giftkit.Store[T]) {
	env := NewEnv(t, s, 4)
	env.Fund(t, "alice", money("10.00"))
	const appends = 200
	done := make(chan struct{})
	defer func() { <-done }() // the writer must finish before the store is closed
	go func() {
		defer close(done)
		for i := 0; i < appends; i++ {
			if _, err := env.Wallet.Refund(context.Background(), "alice", money("0.01"), "r", fmt.Sprintf("refund-%d", i)); err != nil {
				t.Errorf("refund %d: %v", i, err)
				return
			}
		}
	}()
	// Page through while entries are appended: pages must join without gaps
	// or repeats, and a page read again must start the same way.
	var seen []wallet.Entry
	after := int64(0)
	for {
		page, err := env.Wallet.History(context.Background(), "alice", eur, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			if e.Seq != int64(len(seen)+1) {
				t.Fatalf("entry seq %d after %d entries: gap or repeat", e.Seq, len(seen))
			}
			seen = append(seen, e)
		}
		again, err := env.Wallet.History(context.Background(), "alice", eur, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Entries) < len(page.Entries) {
			t.Fatalf("page after %d shrank when read again: %d entries, then %d", after, len(page.Entries), len(again.Entries))
		}
		if diff := cmp.Diff(page.Entries, again.Entries[:len(page.Entries)], cmpOpts); diff != "" {
			t.Fatalf("page after %d changed when read again (-first +second):\n%s", after, diff)
		}
		if page.Next == 0 {
			select {
			case <-done:
				if len(seen) < appends+1 {
					after = int64(len(seen))
					continue
				}
				return
			default:
				after = int64(len(seen))
				continue
			}
		}
		after = page.Next
	}
}

func samplePayment(id string, state checkout.State) checkout.Payment {
	zero := money("0")
	return checkout.Payment{
		ID: id, Owner: "alice", Total: money("40.00"), Mode: checkout.CaptureLater, Instrument: "tok",
		State:   state,
		Balance: checkout.Tender{Planned: money("25.00"), Authorized: money("25.00"), Captured: zero, Refunded: zero},
		Card:    checkout.Tender{Planned: money("15.00"), Authorized: money("15.00"), Captured: zero, Refunded: zero},
		HoldID:  "pay/" + id, AuthID: "auth_1", CaptureWant: money("40.00"),
		Keys:      checkout.Keys{Prefix: "giftkit", Pay: "k", Fingerprint: "f", Capture: "c"},
		Refunds:   []checkout.Refund{{Key: "r1", Amount: money("1.00"), Balance: zero, Card: money("1.00"), Done: true, At: epoch}},
		ExpiresAt: epoch.Add(time.Hour), CreatedAt: epoch, UpdatedAt: epoch,
	}
}

// testPaymentFields checks that every field of a payment round-trips, in a
// currency outside ISO 4217 too.
func testPaymentFields[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	pts, _ := giftkit.NewCurrency("PTZ", 3)
	failed := samplePayment("p5", checkout.StateFailed)
	failed.Total, failed.CaptureWant = giftkit.FromMinor(40_125, pts), giftkit.Money{}
	zero := giftkit.Zero(pts)
	failed.Balance = checkout.Tender{Planned: giftkit.FromMinor(125, pts), Authorized: giftkit.FromMinor(125, pts), Captured: zero, Refunded: zero}
	failed.Card = checkout.Tender{Planned: giftkit.FromMinor(40_000, pts), Authorized: zero, Captured: zero, Refunded: zero}
	failed.Refunds, failed.AuthID, failed.AuthUnknown = nil, "", true
	failed.Failure = checkout.Failure{Kind: checkout.FailureDeclined, Reason: "do_not_honor", At: checkout.StatePending}
	failed.UnwindTo, failed.Keys.Cancel = checkout.StateFailed, "cancel-key"
	update(t, s, func(tx T) error { return tx.PutPayment(failed) })
	update(t, s, func(tx T) error {
		got, ok, err := tx.Payment("p5")
		if err != nil || !ok {
			t.Fatalf("Payment(p5) = %v, %v", ok, err)
		}
		if diff := cmp.Diff(failed, got, cmpOpts); diff != "" {
			t.Errorf("Payment mismatch (-want +got):\n%s", diff)
		}
		return nil
	})
}

func testPayments[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	ctx := context.Background()
	in := []checkout.Payment{
		samplePayment("p3", checkout.StateAuthorized),
		samplePayment("p1", checkout.StateCaptured), // done: not open
		samplePayment("p2", checkout.StatePending),
		samplePayment("p4", checkout.StateCaptured),
	}
	in[3].Refunds = append(in[3].Refunds, checkout.Refund{Key: "r2", Amount: money("2.00"), Balance: money("0"), Card: money("2.00"), At: epoch})
	err := s.Update(ctx, func(tx T) error {
		for _, p := range in {
			if err := tx.PutPayment(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	in[0].Refunds[0].Key = "changed" // must not reach the store
	update(t, s, func(tx T) error {
		got, ok, err := tx.Payment("p3")
		if err != nil || !ok {
			t.Fatalf("Payment(p3) = %v, %v", ok, err)
		}
		if diff := cmp.Diff(samplePayment("p3", checkout.StateAuthorized), got, cmpOpts); diff != "" {
			t.Errorf("Payment mismatch (-want +got):\n%s", diff)
		}
		if _, ok, _ := tx.Payment("nope"); ok {
			t.Error("Payment(unknown) found")
		}
		open, err := tx.OpenPayments("", 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range open {
			ids = append(ids, p.ID)
		}
		if diff := cmp.Diff([]string{"p2", "p3", "p4"}, ids); diff != "" {
			t.Errorf("OpenPayments mismatch (-want +got):\n%s", diff)
		}
		page, _ := tx.OpenPayments("p2", 1)
		if len(page) != 1 || page[0].ID != "p3" {
			t.Errorf("OpenPayments(after p2, 1) = %v; want [p3]", page)
		}
		return nil
	})
	// A payment that settles leaves the open set.
	update(t, s, func(tx T) error {
		p, _, _ := tx.Payment("p2")
		p.State = checkout.StateFailed
		return tx.PutPayment(p)
	})
	update(t, s, func(tx T) error {
		open, _ := tx.OpenPayments("", 10)
		for _, p := range open {
			if p.ID == "p2" {
				t.Error("a failed payment is still open")
			}
		}
		return nil
	})
}

// testCheckoutRace pays many orders from one account at once: the balance
// is never overdrawn, every payment's parts sum to its total, and the
// balance pays exactly what it had.
func testCheckoutRace[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	env := NewEnv(t, s, 5)
	env.Fund(t, "alice", money("100.00"))
	co, err := checkout.NewService(s, processortest.New(), checkout.Config{Now: env.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := co.Pay(context.Background(), checkout.PayRequest{
				PaymentID: fmt.Sprint("order-", i), Owner: "alice", Total: giftkit.FromMinor(int64(500+i*11), eur), Instrument: "tok_visa",
			}, fmt.Sprint("pay-", i))
			if err != nil {
				t.Errorf("Pay %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	b, err := env.Wallet.Balance(context.Background(), "alice", eur)
	if err != nil {
		t.Fatal(err)
	}
	if b.Balance.IsNegative() || b.Available.IsNegative() || !b.Held.IsZero() {
		t.Fatalf("after %d checkouts: %+v", Workers, b)
	}
	var fromBalance int64
	for i := 0; i < Workers; i++ {
		p, err := co.Payment(context.Background(), fmt.Sprint("order-", i))
		if err != nil {
			t.Fatal(err)
		}
		if sum, _ := p.Balance.Captured.Add(p.Card.Captured); sum != p.Total || p.State != checkout.StateCaptured {
			t.Errorf("payment %s: %v, balance %v + card %v != %v", p.ID, p.State, p.Balance.Captured, p.Card.Captured, p.Total)
		}
		fromBalance += p.Balance.Captured.Minor()
	}
	if fromBalance+b.Balance.Minor() != 10000 {
		t.Errorf("the balance paid %d and kept %v of 100.00", fromBalance, b.Balance)
	}
	checkJournal(t, s, "alice", b.Balance)
}

// testLimiter checks a store's wallet.LimiterTx, if it has one: logs round
// trip and vanish when empty, and a StoreLimiter over it lets exactly its
// limit of concurrent guesses through, for one owner, then locks it out.
func testLimiter[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	logs, ok := limiterStore(s)
	if !ok {
		t.Skip("the store's Tx does not implement wallet.LimiterTx")
	}
	ctx := context.Background()
	want := wallet.AttemptLog{Subject: "owner:ünïcode\x00/owner", Attempts: []time.Time{epoch, epoch.Add(time.Second)}, LockedUntil: epoch.Add(time.Hour)}
	if err := logs.Update(ctx, func(tx wallet.LimiterTx) error { return tx.PutAttemptLog(want) }); err != nil {
		t.Fatalf("PutAttemptLog: %v", err)
	}
	var got wallet.AttemptLog
	var found bool
	read := func() {
		t.Helper()
		if err := logs.Update(ctx, func(tx wallet.LimiterTx) (err error) {
			got, found, err = tx.AttemptLog(want.Subject)
			return err
		}); err != nil {
			t.Fatalf("AttemptLog: %v", err)
		}
	}
	if read(); !found || !cmp.Equal(want, got, cmpOpts) {
		t.Fatalf("AttemptLog = %+v, %v; want %+v", got, found, want)
	}
	if err := logs.Update(ctx, func(tx wallet.LimiterTx) error { return tx.PutAttemptLog(wallet.AttemptLog{Subject: want.Subject}) }); err != nil {
		t.Fatalf("PutAttemptLog(empty): %v", err)
	}
	if read(); found && (len(got.Attempts) > 0 || !got.LockedUntil.IsZero()) {
		t.Fatalf("an emptied log reads back as %+v", got)
	}

	const limit = 3
	limiter, err := wallet.NewStoreLimiter(logs, wallet.LimitRule{Max: limit, Window: time.Hour, Lockout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	env := NewEnv(t, s, 9)
	hasher, _ := giftcard.NewHasher(TestHashKey)
	w, err := wallet.NewService(s, wallet.Config{Hasher: hasher, Now: env.Clock.Now, Limiter: limiter})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]error, Workers)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			guess, err := codefmt.Generate(rand.NewChaCha8([32]byte{byte(i), 1}))
			if err != nil {
				panic(err)
			}
			_, results[i] = w.Redeem(wallet.WithClient(ctx, "203.0.113.7"), "mallory", guess.String(), fmt.Sprintf("guess-%d", i))
		}()
	}
	wg.Wait()
	looked := 0
	for i, err := range results {
		switch {
		case errors.Is(err, giftcard.ErrNotRedeemable):
			looked++
		case !errors.Is(err, wallet.ErrTooManyAttempts):
			t.Errorf("guess %d: %v; want ErrNotRedeemable or ErrTooManyAttempts", i, err)
		}
	}
	if looked != limit {
		t.Errorf("%d of %d concurrent guesses reached the lookup; the limit is %d", looked, Workers, limit)
	}
	// The client is locked out too, for another owner.
	guess, _ := codefmt.Generate(rand.NewChaCha8([32]byte{99}))
	if _, err := w.Redeem(wallet.WithClient(ctx, "203.0.113.7"), "trudy", guess.String(), "guess-other"); !errors.Is(err, wallet.ErrTooManyAttempts) {
		t.Errorf("another owner from the locked-out client: %v; want ErrTooManyAttempts", err)
	}
	// A replay of a call that completed keeps its outcome during the lockout.
	for i, first := range results {
		if errors.Is(first, giftcard.ErrNotRedeemable) {
			guess, _ := codefmt.Generate(rand.NewChaCha8([32]byte{byte(i), 1}))
			if _, err := w.Redeem(ctx, "mallory", guess.String(), fmt.Sprintf("guess-%d", i)); !errors.Is(err, giftcard.ErrNotRedeemable) {
				t.Errorf("replay of guess %d during the lockout: %v; want its first outcome, ErrNotRedeemable", i, err)
			}
			break
		}
	}
}

// testInsertCards checks a store's giftcard.CardInserter, if it has one:
// cards inserted in bulk read back as PutCard's do, and a batch with a
// taken hash (stored, or twice in the batch) inserts nothing.
func testInsertCards[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	if _, ok := any(*new(T)).(giftcard.CardInserter); !ok {
		t.Skip("the store's Tx does not implement giftcard.CardInserter")
	}
	insert := func(cards ...giftcard.Card) (taken bool, err error) {
		err = s.Update(context.Background(), func(tx T) error {
			taken, err = any(tx).(giftcard.CardInserter).InsertCards(cards)
			return err
		})
		return taken, err
	}
	a, b := sampleCard("card-a", 1), sampleCard("card-b", 2)
	b.State, b.ActivatedAt = giftcard.StatePending, time.Time{}
	if taken, err := insert(a, b); taken || err != nil {
		t.Fatalf("InsertCards = %v, %v", taken, err)
	}
	update(t, s, func(tx T) error {
		for _, want := range []giftcard.Card{a, b} {
			got, ok, err := tx.CardByHash(want.Hash)
			if err != nil || !ok {
				t.Fatalf("CardByHash(%s) = %v, %v", want.ID, ok, err)
			}
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("inserted card mismatch (-want +got):\n%s", diff)
			}
		}
		return nil
	})
	c := sampleCard("card-c", 3)
	for name, batch := range map[string][]giftcard.Card{
		"a stored hash":         {c, sampleCard("card-d", 1)},
		"one hash in the batch": {c, sampleCard("card-e", 3)},
	} {
		if taken, err := insert(batch...); !taken || err != nil {
			t.Errorf("%s: InsertCards = %v, %v; want taken", name, taken, err)
		}
	}
	update(t, s, func(tx T) error {
		if _, ok, _ := tx.CardByID("card-c"); ok {
			t.Error("a refused batch inserted a card")
		}
		return nil
	})

	// Two cards with one ID: refused, nothing inserted.
	if taken, err := insert(sampleCard("card-f", 6), sampleCard("card-f", 7)); taken || err == nil {
		t.Errorf("InsertCards of one ID twice = %v, %v; want an error", taken, err)
	}
	update(t, s, func(tx T) error {
		if _, ok, _ := tx.CardByHash(sampleCard("card-f", 6).Hash); ok {
			t.Error("a refused batch with one ID twice inserted a card")
		}
		return nil
	})

	// Values go in as copies: the caller may reuse its slice (found by a
	// review: memstore kept the slice as the cards' slots).
	batch := []giftcard.Card{sampleCard("card-g", 8)}
	want := batch[0]
	err := s.Update(context.Background(), func(tx T) error {
		_, err := any(tx).(giftcard.CardInserter).InsertCards(batch)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	batch[0] = sampleCard("card-h", 9)
	batch[0].State = giftcard.StateVoided
	update(t, s, func(tx T) error {
		got, ok, err := tx.CardByID("card-g")
		if err != nil || !ok {
			t.Fatalf("CardByID(card-g) = %v, %v", ok, err)
		}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("a card inserted in bulk changed with the caller's slice (-want +got):\n%s", diff)
		}
		return nil
	})
}
