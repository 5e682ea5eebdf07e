// Package lincheck drives giftkit from many concurrent clients, under
// faults, and checks that what the clients saw is linearizable: that every
// call took effect at one instant between its call and its return, in an
// order a plain sequential model of the system accepts. The checker is
// github.com/anishathalye/porcupine; this package is a module of its own
// so that porcupine never becomes a dependency of giftkit.
//
// A store's tests call it with their store:
//
//	func TestLinearizable(t *testing.T) {
//		lincheck.Repeat(t, lincheck.Budget(10*time.Second),
//			func(testing.TB) giftkit.Store[*memstore.Tx] { return memstore.New() },
//			lincheck.Options{Faults: true})
//	}
//
// # The run
//
// [Setup] issues cards; [Drive] runs Options.Clients goroutines, each
// making Options.Ops calls chosen at random: redemptions (several clients
// racing for each card, typed in several forms), codes with a typo,
// bursts of concurrent guesses through wallets with a strict limiter (a
// MemoryLimiter, and a StoreLimiter where the store keeps attempt logs),
// balances, whole journals, payments (balance only, split, declined, or
// refused for want of a bank card; captured at once or later), captures,
// cancels and refunds of payments other clients made, payment reads, and
// sweeps. Each attempt records its call and return time and its outcome,
// with the typed error's code ([Outcome]).
//
// With Options.Faults, an attempt may meet a store error before or after
// its unit of work commits, or a processor call that fails, times out or
// loses its reply. Each attempt carries its own faults in its context, so
// that one client's fault never lands on another's call. An attempt whose
// outcome is unknown is retried with the same key, at once or later
// (parked, while the client goes on); at the end every parked call is
// retried without faults until its outcome is known. Clients also repeat
// calls that completed, as a client whose answer was lost would. [Finish]
// sweeps, then reads every account and payment once more.
//
// # The models
//
// The history is checked per object, each with its own model (see
// models.go): an account (balance, holds, and the digest of its journal,
// entry by entry), a card (who redeemed it), a payment (its stage, what it
// captured, what is left to refund per tender), an idempotency key (the
// first known outcome, which every later attempt must repeat, the
// limiter's unrecorded refusal aside), and a limiter subject (how many
// guesses reached the lookup). A call that touches several objects is
// projected onto each, its output carrying what the others decided: a
// redemption credits the account with the card's value and must report
// the balance right after its credit; a payment's split must be the
// balance available at some instant of its Pay. Projection is sound (a
// linearizable history projects onto linearizable partitions) and keeps
// each check small.
//
// Checkout's steps are not one instant: Pay holds, authorises and captures
// in separate units of work, and a capture decides, then records the
// card's capture later. Each step that changes an account is an operation
// of its own in the account's partition (hold, release, capture, credit),
// all within the interval of the call that caused it, ordered by the
// model (a hold must exist before it is captured); a capture's card step
// is an operation of the payment's partition, between which and the
// decision a refund is refused.
//
// An unknown outcome spans from the first attempt's call to the return of
// the first attempt that told what happened, since the effect happened in
// one of them. A call whose outcome stays unknown (a retry that never got
// through) spans to after the end of the run, and its step is
// nondeterministic: it may or may not have happened. Reads that meet a
// fault observed nothing and are left out.
//
// The clock stands still at [Epoch] for the whole run (shifted by
// Options.Skew per process), so nothing lapses: holds last 48 hours and
// cards expire in months. Expiry is left to storetest.System.
//
// # Failures
//
// [Check] fails the test for each partition that is not linearizable,
// naming the saved history (JSON, see [ReadHistory]) and porcupine's HTML
// visualisation of the partition, written to Options.Dir,
// $GIFTKIT_LINCHECK_DIR, or a new directory under the system's temporary
// directory. A run's choices replay with GIFTKIT_LINCHECK_SEED=n (the
// interleaving does not).
//
// # Running
//
//	go test -race ./...                                   # memstore and SQLite, 10 s each
//	GIFTKIT_LINCHECK_TIME=10m go test -run TestMemstore . # a soak
//	scripts/postgres-test bash -c 'cd lincheck && go test -race ./...'
//
// With GIFTKIT_PG_DSN set (scripts/postgres-test sets it), the PostgreSQL
// test runs 4 processes of the test binary against one database, through
// a loopback proxy that delays every packet, with their sessions
// terminated every 400 ms and their clocks skewed, for 20 s or
// GIFTKIT_LINCHECK_TIME.
//
// # What it catches
//
// Bugs planted one at a time in the library, on memstore (runs of a few
// hundred operations; the catch rate is per run, so CI's 10 s of runs
// catches each almost always):
//
//	a redemption returns a balance read in a second unit of work      30/30 runs
//	a refund decides on a payment read before its unit of work         9/30
//	Balance reads the balance and the held amount in two units         19/30
//	a replayed redemption rebuilds its balance from the current account 30/30
//	MemoryLimiter checks and records an attempt under two locks         14/30
//	no bug                                                              0/300
//
// On PostgreSQL the replay, the limiter and the two-unit balance were each
// caught in the first run (about 9 s).
//
// TestPgstoreServerRestart kills the server (pg_ctl -m immediate) twice
// while the processes run, on a durable server (GIFTKIT_PG_FSYNC=on
// scripts/postgres-test). Run on a server with asynchronous commit, as the
// throwaway test server is by default, it finds acknowledged payments
// missing after the restart: the server lost commits it had acknowledged,
// and the history shows it.
//
// Not yet modelled: instances whose clocks disagree about a hold's expiry
// (the clocks are skewed by less than a hold lasts), and cancellation's
// last step (unwinding to cancelled), which a read may see either side of.
//
// Everything here is safe for concurrent use only as documented: a
// History is written by one run and read after it.
package lincheck
