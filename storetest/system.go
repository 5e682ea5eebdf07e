package storetest

import (
	"context"
	"errors"
	"time"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/wallet"
)

// SystemOptions tune [System].
type SystemOptions struct {
	// Faults injects failures: units of work that fail before they commit
	// or report an error after committing, processor declines, transport
	// failures, timeouts and lost replies. A call hit by a fault is retried
	// later with its key, as a crashed caller would be.
	Faults bool
}

var (
	sysCurrencies = []giftkit.Currency{giftkit.EUR, giftkit.JPY, giftkit.KWD}
	holdFor       = 48 * time.Hour
)

// System is the whole-system property test: a rapid state machine that drives
// the public API of giftcard, wallet and checkout over store, compares
// everything with a plain model, and checks after every step that
//
//  1. money is conserved per currency: issued + loaded = unredeemed +
//     balances + spent − refunded + expired + voided + clawed back −
//     adjusted + fees, from the system's own journals, where balances are
//     every account's (shoppers' and cards' own), loaded is the value
//     bought onto accounts and cards (wallet.EntryLoad: new money in,
//     beside issuance), fees are dormancy fees charged (none without a
//     programme), and transfers between accounts (wallet.EntryTransfer) sum
//     to zero;
//  2. no account, a shopper's or a card's own, is ever below zero, and
//     every balance equals the sum of its journal;
//  3. every card is redeemed at most once, and its value credited once
//     (into a shopper's account, or its own when it is first spent as a
//     tender, reloaded or moved), even when several shoppers redeem it at
//     the same moment;
//  4. every payment's parts (each gift card's given by code, the
//     balance's, the bank card's) sum to its total, captured ≤ authorised
//     and refunded ≤ captured per tender, each gift card's included, each
//     refund's parts sum to it and the refunds done to what each tender
//     records, and the processor holds exactly what the payment records;
//  5. a retried call returns the whole outcome of the first completed one
//     (the error's type, message and JSON form), refusals included;
//  6. once every interrupted call has been retried and open payments swept,
//     nothing is half-done: no orphan hold on any account, a shopper's or a
//     card's own (a blocked card's block hold is none), and no
//     authorisation without a payment;
//  7. no two processor calls are given one idempotency key, and no error
//     holds a whole activation code or names a card that is not the
//     caller's;
//  8. every card's and account's chain of activity records (cards' own
//     accounts included) verifies and replays to it, and the liability
//     report equals what the live services owe at the current instant and
//     owed at an earlier step's, and what the model's accounts hold at an
//     instant ahead;
//  9. the outbox, read as a consumer reads it (and pruned now and then),
//     holds one event per activity record and per payment move, each
//     aggregate's numbered 1, 2, 3, ..., and replaying it gives every live
//     balance, held amount and card value and each payment's final state;
//     its account.loaded events sum to the journals' loads and its
//     account.transferred events to zero.
//
// The actions issue, administer, adjust (through giftcard, or the wallet
// for either kind: an opened card's account is credited or taken from),
// block and unblock (through the wallet, either kind: an opened card's
// account gets the block hold, and a blocked card is refused as an unknown
// code by payments, balance checks, redemptions, reloads and transfers),
// cancel (within 24 hours of issue) and claw back cards (a blocked one
// too); redeem them (alone, racing, mistyped); pay from the balance and a
// bank card, or with one or two gift cards given by code (PayWithCards: by
// a shopper or a guest, with the balance and a bank card for the rest,
// codes of cards in any state or of no card, which are refused with
// giftcard's uniform kinds and count as guesses); capture, cancel, refund
// (to the cards the money came from) and sweep payments; reload a card,
// load a shopper's account, transfer part of a card's value to another
// card or merge all of it, redeem a card spent as a tender (RedeemOpened:
// the shopper gets what is left), and check a card's balance by its code;
// retry any call with its key; advance the clock; and prune the outbox.
//
// It plays the careless and the hostile caller too. Owners, payment IDs and
// keys are drawn from hostile text (separators, the library's own key
// prefixes and call names, Unicode, maximum lengths, IDs that extend earlier
// ones). Actions race the limiter with concurrent guesses (at most the
// limit reach the lookup, per owner and per client; a StoreLimiter when the
// store's Tx implements wallet.LimiterTx), race captures against cancels,
// aim the wallet's Release and Capture at checkout's holds, capture within
// nanoseconds of a hold's expiry on a clock that ticks at every reading,
// make calls that must be refused on payments in any state, refund in a
// currency the wallet does not hold, name a card's own account as an owner,
// and move a card's value to itself.
//
// Run it from a test with rapid.Check:
//
//	rapid.Check(t, func(t *rapid.T) { storetest.System(t, newStore(t), storetest.SystemOptions{}) })
func System[T checkout.Tx](t *rapid.T, store giftkit.Store[T], opts SystemOptions) {
	faulty := &faultStore[T]{inner: store}
	proc := processortest.New()
	env := NewEnv(t, giftkit.Store[T](faulty), 7)
	co, err := checkout.NewService(giftkit.Store[T](faulty), proc, checkout.Config{Now: env.Clock.Now, HoldFor: holdFor,
		Hasher: env.Hasher, Limiter: env.Limiter})
	if err != nil {
		t.Fatalf("checkout.NewService: %v", err)
	}
	hasher, _ := giftcard.NewHasher(TestHashKey)
	strict, err := wallet.NewService(giftkit.Store[T](faulty), wallet.Config{Hasher: hasher, Now: env.Clock.Now, Currencies: sysCurrencies})
	if err != nil {
		t.Fatalf("wallet.NewService: %v", err)
	}
	m := &system[T]{
		opts: opts, env: env, co: co, proc: proc, faults: faulty,
		accounts: map[sysKey]*mAccount{}, payments: map[string]*mPayment{}, issued: map[giftkit.Currency]int64{},
		loaded: map[giftkit.Currency]int64{}, limiter: env.Limiter.(*countingLimiter),
		uncertainAccounts: map[sysKey]bool{},
		moves:             map[sysKey][]mMove{},
		owners:            rapid.SliceOfNDistinct(hostileText(wallet.MaxOwnerLen), 3, 3, rapid.ID[string]).Draw(t, "owners"),
		guesser:           newGuesser(t, giftkit.Store[T](faulty), env.Clock),
		strict:            strict,
		usedIDs:           map[string]bool{}, usedKeys: map[string]bool{}, lookups: map[string]int{},
		outbox: outboxFold{reader: reader(t, store), seq: map[outbox.Aggregate]int64{}, value: map[outbox.Aggregate]int64{},
			held: map[outbox.Aggregate]int64{}, payments: map[string][]outbox.Type{}, ids: map[string]outbox.Aggregate{},
			loaded: map[giftkit.Currency]int64{}, moved: map[giftkit.Currency]int64{}},
	}
	t.Repeat(rapid.StateMachineActions(m))
	m.settle(t)
}

// system is the state machine: the services under test over a faultStore,
// the processor they call, and the model they are compared with. Its
// exported methods of the form func(*rapid.T) are the actions (actions.go,
// adversary.go); Check (invariants.go) runs after each of them.
type system[T checkout.Tx] struct {
	opts     SystemOptions
	env      Env
	co       *checkout.Service
	proc     *processortest.Processor
	faults   *faultStore[T]
	cards    []*mCard
	accounts map[sysKey]*mAccount
	payments map[string]*mPayment
	order    []string                   // payment IDs in creation order
	issued   map[giftkit.Currency]int64 // the value of the cards issued, as adjustments and clawbacks left it
	loaded   map[giftkit.Currency]int64 // bought onto accounts and cards (Load, Reload): new money in
	limiter  *countingLimiter           // the Wallet's and the checkout's: which calls counted as guesses
	calls    []*sysCall
	n        int

	uncertainAccounts map[sysKey]bool
	// moves lists, per opened card's account, where value moved off it
	// went (each destination once, in order): what a clawback follows.
	moves map[sysKey][]mMove

	owners   []string        // three, drawn from hostile text
	guesser  *wallet.Service // with a limiter of guessLimit attempts
	strict   *wallet.Service // holding sysCurrencies only
	usedIDs  map[string]bool // payment IDs drawn
	usedKeys map[string]bool // keys drawn by callKey
	lookups  map[string]int  // guesses that reached the lookup, per limiter subject
	past     []pastLiability // what the live services owed at each step's instant
	outbox   outboxFold      // the events read so far, replayed
	live     live            // what the last check read of the system
}

// settle ends a run: it retries every interrupted call and sweeps until
// nothing is open, then checks that nothing is half-done.
func (m *system[T]) settle(t *rapid.T) {
	m.disarm()
	for _, c := range m.calls {
		if !c.done {
			d, err := c.run()
			if interrupted(err) {
				t.Fatalf("%s still interrupted with no fault armed: %v", c.name, err)
			}
			c.done, c.digest, c.err = true, d, err
		}
	}
	if _, open, err := m.co.Sweep(context.Background(), 1000); err != nil || open != 0 {
		if err != nil || !m.openOnlyAwaitingCaller(t) {
			t.Fatalf("final sweep: %d open, %v", open, err)
		}
	}
	m.applySweep()
	m.check(t, true)
}

// openOnlyAwaitingCaller reports whether every open payment merely waits
// for its capture (authorised, capture later, hold not lapsed).
func (m *system[T]) openOnlyAwaitingCaller(t *rapid.T) bool {
	for _, id := range m.order {
		p, err := m.co.Payment(context.Background(), id)
		if errors.Is(err, checkout.ErrPaymentNotFound) && m.payments[id].uncertain {
			continue // refused, in an account whose balance the model could not tell
		}
		if err != nil {
			t.Fatalf("Payment(%q): %v", id, err)
		}
		if p.NeedsWork() && p.State != checkout.StateAuthorized {
			return false
		}
	}
	return true
}
