package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
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
//  1. money is conserved per currency: issued = unredeemed + balances +
//     spent − refunded + expired + voided, from the system's own journals;
//  2. no account is ever below zero, and every balance equals the sum of its
//     journal;
//  3. every card is redeemed at most once, and its value credited once, even
//     when several shoppers redeem it at the same moment;
//  4. every payment's balance and card parts sum to its total, captured ≤
//     authorised and refunded ≤ captured per tender, and the processor holds
//     exactly what the payment records;
//  5. a retried call returns the whole outcome of the first completed one
//     (the error's type, message and JSON form), refusals included;
//  6. once every interrupted call has been retried and open payments swept,
//     nothing is half-done: no orphan hold, no authorisation without a
//     payment;
//  7. no two processor calls are given one idempotency key, and no error
//     holds a whole activation code or names a card that is not the
//     caller's.
//
// It plays the careless and the hostile caller too. Owners, payment IDs and
// keys are drawn from hostile text (separators, the library's own key
// prefixes and call names, Unicode, maximum lengths, IDs that extend earlier
// ones). Actions race the limiter with concurrent guesses (at most the
// limit reach the lookup, per owner and per client; a StoreLimiter when the
// store's Tx implements wallet.LimiterTx), race captures against cancels,
// aim the wallet's Release and Capture at checkout's holds, capture within
// nanoseconds of a hold's expiry on a clock that ticks at every reading,
// make calls that must be refused on payments in any state, and refund in
// a currency the wallet does not hold.
//
// Run it from a test with rapid.Check:
//
//	rapid.Check(t, func(t *rapid.T) { storetest.System(t, newStore(t), storetest.SystemOptions{}) })
func System[T checkout.Tx](t *rapid.T, store giftkit.Store[T], opts SystemOptions) {
	faulty := &faultStore[T]{inner: store}
	proc := processortest.New()
	env := NewEnv(t, giftkit.Store[T](faulty), 7)
	co, err := checkout.NewService(giftkit.Store[T](faulty), proc, checkout.Config{Now: env.Clock.Now, HoldFor: holdFor})
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
		uncertainAccounts: map[sysKey]bool{},
		owners:            rapid.SliceOfNDistinct(hostileText(wallet.MaxOwnerLen), 3, 3, rapid.ID[string]).Draw(t, "owners"),
		guesser:           newGuesser(t, giftkit.Store[T](faulty), env.Clock),
		strict:            strict,
		usedIDs:           map[string]bool{}, usedKeys: map[string]bool{}, lookups: map[string]int{},
	}
	t.Repeat(rapid.StateMachineActions(m))
	m.settle(t)
}

// errInjected is the error of an injected store fault.
var errInjected = errors.New("storetest: injected store fault")

// faultStore wraps a store and, when armed, fails the next unit of work:
// either before it commits (fn ran, then the unit is rolled back) or after
// it committed (the ambiguous answer a network gives).
type faultStore[T any] struct {
	inner giftkit.Store[T]
	mu    sync.Mutex // RedeemRace calls Update from several goroutines
	fault fault
}

// arm sets the fault of the next unit of work.
func (f *faultStore[T]) arm(x fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = x
}

type fault uint8

const (
	noFault fault = iota
	failBeforeCommit
	failAfterCommit
)

func (f *faultStore[T]) Update(ctx context.Context, fn func(tx T) error) error {
	f.mu.Lock()
	armed := f.fault
	f.fault = noFault
	f.mu.Unlock()
	switch armed {
	case failBeforeCommit:
		err := f.inner.Update(ctx, func(tx T) error {
			if err := fn(tx); err != nil {
				return err
			}
			return errInjected
		})
		return err
	case failAfterCommit:
		if err := f.inner.Update(ctx, fn); err != nil {
			return err
		}
		return errInjected
	}
	return f.inner.Update(ctx, fn)
}

type sysKey struct {
	owner string
	cur   giftkit.Currency
}

// The model. It follows the rules of the domain in the plainest way: lots
// with expiries, holds that reserve from lots, payments with two tenders.

type mLot struct {
	free, reserved int64
	expires        time.Time // zero: never
}

type mPart struct {
	lot    *mLot
	amount int64
}

type mHold struct {
	parts   []mPart
	amount  int64
	expires time.Time
}

type mAccount struct {
	lots  []*mLot
	holds map[string]*mHold
}

type mCard struct {
	id       string
	code     codefmt.Code
	value    giftkit.Money
	state    giftcard.State
	expires  time.Time
	redeemer string
}

type mPayment struct {
	id, owner       string
	total           giftkit.Money
	mode            checkout.CaptureMode
	state           checkout.State
	balance, card   int64 // planned parts
	capturedBalance int64
	capturedCard    int64
	refundedBalance int64
	refundedCard    int64
	expires         time.Time
	declined        bool // the processor declines its authorisation
	uncertain       bool // a call on it was interrupted: its state is the system's to tell
	holdID          string
}

// sysCall is an interrupted or completed call that the Retry action repeats.
type sysCall struct {
	name    string
	payment *mPayment              // the payment the call drives, if any
	run     func() (string, error) // returns a digest of the outcome
	digest  string
	err     error
	done    bool // completed without a fault: its outcome is final
}

type system[T checkout.Tx] struct {
	opts     SystemOptions
	env      Env
	co       *checkout.Service
	proc     *processortest.Processor
	faults   *faultStore[T]
	cards    []*mCard
	accounts map[sysKey]*mAccount
	payments map[string]*mPayment
	order    []string // payment IDs in creation order
	issued   map[giftkit.Currency]int64
	calls    []*sysCall
	n        int

	uncertainAccounts map[sysKey]bool

	owners   []string        // three, drawn from hostile text
	guesser  *wallet.Service // with a limiter of guessLimit attempts
	strict   *wallet.Service // holding sysCurrencies only
	usedIDs  map[string]bool // payment IDs drawn
	usedKeys map[string]bool // keys drawn by callKey
	lookups  map[string]int  // guesses that reached the lookup, per limiter subject
}

func (m *system[T]) key(prefix string) string {
	m.n++
	return fmt.Sprintf("%s-%d", prefix, m.n)
}

func (m *system[T]) account(k sysKey) *mAccount {
	a := m.accounts[k]
	if a == nil {
		a = &mAccount{holds: map[string]*mHold{}}
		m.accounts[k] = a
	}
	return a
}

// sweep applies time to the model account as Account.Sweep does: lapsed
// holds released, then the free part of expired lots removed.
func (a *mAccount) sweep(now time.Time) {
	for id, h := range a.holds {
		if !h.expires.IsZero() && !now.Before(h.expires) {
			a.release(id)
		}
	}
	kept := a.lots[:0]
	for _, l := range a.lots {
		if !l.expires.IsZero() && !now.Before(l.expires) {
			l.free = 0
		}
		if l.free+l.reserved > 0 {
			kept = append(kept, l)
		}
	}
	a.lots = kept
}

func (a *mAccount) balance() (total, held int64) {
	for _, l := range a.lots {
		total += l.free + l.reserved
		held += l.reserved
	}
	return total, held
}

func (a *mAccount) credit(amount int64, expires time.Time) {
	for _, l := range a.lots {
		if l.expires.Equal(expires) {
			l.free += amount
			return
		}
	}
	a.lots = append(a.lots, &mLot{free: amount, expires: expires})
	sort.SliceStable(a.lots, func(i, j int) bool {
		x, y := a.lots[i].expires, a.lots[j].expires
		if x.IsZero() != y.IsZero() {
			return !x.IsZero()
		}
		return x.Before(y)
	})
}

func (a *mAccount) available(now time.Time) int64 {
	var sum int64
	for _, l := range a.lots {
		if l.expires.IsZero() || now.Before(l.expires) {
			sum += l.free
		}
	}
	return sum
}

func (a *mAccount) hold(id string, amount int64, expires, now time.Time) {
	h := &mHold{amount: amount, expires: expires}
	for _, l := range a.lots {
		if amount == 0 {
			break
		}
		if !l.expires.IsZero() && !now.Before(l.expires) {
			continue
		}
		take := min(l.free, amount)
		if take == 0 {
			continue
		}
		l.free, l.reserved = l.free-take, l.reserved+take
		amount -= take
		h.parts = append(h.parts, mPart{l, take})
	}
	a.holds[id] = h
}

func (a *mAccount) release(id string) {
	h := a.holds[id]
	if h == nil {
		return
	}
	for _, p := range h.parts {
		p.lot.reserved -= p.amount
		p.lot.free += p.amount
	}
	delete(a.holds, id)
}

func (a *mAccount) capture(id string, amount int64) {
	h := a.holds[id]
	for _, p := range h.parts {
		take := min(p.amount, amount)
		p.lot.reserved -= p.amount
		p.lot.free += p.amount - take
		amount -= take
	}
	delete(a.holds, id)
}

// touch sweeps the model account k at the current time, as every service
// call that loads the account does.
func (m *system[T]) touch(k sysKey) *mAccount {
	a := m.account(k)
	a.sweep(m.env.Clock.Now())
	return a
}

// armFaults lets rapid decide whether the next call meets a fault.
func (m *system[T]) armFaults(t *rapid.T) {
	if !m.opts.Faults {
		return
	}
	m.faults.arm(rapid.SampledFrom([]fault{noFault, noFault, noFault, failBeforeCommit, failAfterCommit}).Draw(t, "store fault"))
	if o := rapid.SampledFrom([]processortest.Outcome{processortest.Approve, processortest.Approve, processortest.Fail,
		processortest.Timeout, processortest.LoseReply}).Draw(t, "processor fault"); o != processortest.Approve {
		m.proc.Queue(rapid.SampledFrom([]string{processortest.OpAuthorize, processortest.OpCapture,
			processortest.OpVoid, processortest.OpRefund}).Draw(t, "processor op"), o)
	}
}

// interrupted reports whether err is a fault this harness injected (or its
// consequence), after which the call's effect is unknown until it is retried.
func interrupted(err error) bool {
	return errors.Is(err, errInjected) || errors.Is(err, checkout.ErrProcessorUnavailable)
}

// disarm clears any fault left unused by the last call.
func (m *system[T]) disarm() {
	m.faults.arm(noFault)
	m.proc.Clear()
}

// unsure marks an account whose state the model can no longer predict,
// because a call on it was interrupted. Its balance is compared again only
// through the invariants, which hold whatever happened.
func (m *system[T]) unsure(k sysKey) { m.uncertainAccounts[k] = true }

// record keeps a call for the Retry action, after checking that its error
// is safe to log.
func (m *system[T]) record(t *rapid.T, name string, run func() (string, error), digest string, err error) *sysCall {
	m.noLeak(t, name, err)
	c := &sysCall{name: name, run: run, digest: digest, err: err, done: !interrupted(err)}
	m.calls = append(m.calls, c)
	return c
}

// pickCard draws a card of the model, issuing one if there is none: actions
// never skip, so that any byte string the fuzzer makes is a valid run.
func (m *system[T]) pickCard(t *rapid.T) *mCard {
	if len(m.cards) == 0 {
		m.Issue(t)
	}
	return m.cards[rapid.IntRange(0, len(m.cards)-1).Draw(t, "card")]
}

func (m *system[T]) Issue(t *rapid.T) {
	cur := rapid.SampledFrom(sysCurrencies).Draw(t, "currency")
	value := giftkit.FromMinor(rapid.Int64Range(1, 20000).Draw(t, "value"), cur)
	count := rapid.IntRange(1, 3).Draw(t, "count")
	pending := rapid.IntRange(0, 4).Draw(t, "pending") == 0
	var expires time.Time
	if rapid.Bool().Draw(t, "expires") {
		expires = m.env.Clock.Now().Add(time.Duration(rapid.IntRange(1, 200).Draw(t, "hours")) * time.Hour)
	}
	// Issuance runs without faults: its replay returns no codes, so a
	// caller who lost them voids the batch, which the Admin action covers.
	out, err := m.env.Cards.Issue(context.Background(), giftcard.IssueRequest{Value: value, Count: count, ExpiresAt: expires, Pending: pending}, m.key("issue"))
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	for _, ic := range out.Cards {
		state := giftcard.StateActive
		if pending {
			state = giftcard.StatePending
		}
		m.cards = append(m.cards, &mCard{id: ic.Card.ID, code: ic.Code, value: value, state: state, expires: expires})
		m.issued[cur] += value.Minor()
	}
}

func (m *system[T]) Admin(t *rapid.T) {
	c := m.pickCard(t)
	if m.openRedeem(c.id, nil) {
		return // the card's state is uncertain until the redemption is retried
	}
	op := rapid.SampledFrom([]string{"activate", "block", "unblock", "void"}).Draw(t, "op")
	transitions := map[string]map[giftcard.State]giftcard.State{
		"activate": {giftcard.StatePending: giftcard.StateActive},
		"block":    {giftcard.StateActive: giftcard.StateBlocked},
		"unblock":  {giftcard.StateBlocked: giftcard.StateActive},
		"void":     {giftcard.StatePending: giftcard.StateVoided, giftcard.StateActive: giftcard.StateVoided, giftcard.StateBlocked: giftcard.StateVoided},
	}
	svc := map[string]func(context.Context, string, string) (giftcard.Card, error){
		"activate": m.env.Cards.Activate, "block": m.env.Cards.Block, "unblock": m.env.Cards.Unblock, "void": m.env.Cards.Void,
	}[op]
	key := m.key(op)
	for {
		m.armFaults(t)
		got, err := svc(context.Background(), c.id, key)
		m.disarm()
		if errors.Is(err, errInjected) {
			continue // retried at once: card administration is not what this harness is about
		}
		to, ok := transitions[op][c.state]
		if !ok {
			if !errors.Is(err, giftcard.ErrInvalidTransition) {
				t.Fatalf("%s from %v: %v; want ErrInvalidTransition", op, c.state, err)
			}
			return
		}
		if err != nil || got.State != to {
			t.Fatalf("%s from %v = %v, %v; want %v", op, c.state, got.State, err, to)
		}
		c.state = to
		return
	}
}

// redeemOutcome is what the model expects of redeeming c for owner now.
func (m *system[T]) redeemOutcome(c *mCard, owner string) error {
	now := m.env.Clock.Now()
	switch {
	case c.state == giftcard.StateRedeemed:
		return giftcard.ErrAlreadyRedeemed
	case c.state != giftcard.StateActive:
		return giftcard.ErrNotRedeemable
	case !c.expires.IsZero() && !now.Before(c.expires):
		return giftcard.ErrExpired
	}
	return nil
}

func (m *system[T]) applyRedeem(c *mCard, owner string) {
	c.state, c.redeemer = giftcard.StateRedeemed, owner
	m.touch(sysKey{owner, c.value.Currency()}).credit(c.value.Minor(), c.expires)
}

func (m *system[T]) Redeem(t *rapid.T) {
	c := m.pickCard(t)
	owner := rapid.SampledFrom(m.owners).Draw(t, "owner")
	input := c.code.String()
	switch rapid.IntRange(0, 2).Draw(t, "form") {
	case 1:
		input = " " + strings.ToLower(strings.ReplaceAll(input, "-", " ")) + " "
	case 2:
		input = strings.ReplaceAll(input, "-", "")
	}
	key := m.callKey(t)
	run := func() (string, error) {
		r, err := m.env.Wallet.Redeem(context.Background(), owner, input, key)
		return fmt.Sprintf("%s %v %d %v", r.CardID, r.Amount, r.Entry.Seq, r.Balance), err
	}
	want := m.redeemOutcome(c, owner)
	m.armFaults(t)
	digest, err := run()
	m.disarm()
	call := m.record(t, "redeem "+c.id, run, digest, err)
	if interrupted(err) {
		m.unsure(sysKey{owner, c.value.Currency()})
		call.run = func() (string, error) { // the retry applies the model once it completes
			d, err := run()
			if err == nil && c.state != giftcard.StateRedeemed {
				m.applyRedeem(c, owner)
			}
			return d, err
		}
		return
	}
	if m.openRedeem(c.id, call) {
		// An earlier redemption of this card was interrupted and may have
		// happened: either outcome is right until it is retried.
		if err == nil {
			m.applyRedeem(c, owner)
		} else if !errors.Is(err, giftcard.ErrAlreadyRedeemed) && !errors.Is(err, want) {
			t.Fatalf("redeem %s by %s after an interrupted one: %v", c.id, owner, err)
		}
		return
	}
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("redeem %s by %s: %v; want %v", c.id, owner, err, want)
	}
	if err != nil && !(errors.Is(err, giftcard.ErrAlreadyRedeemed) && c.redeemer == owner) && strings.Contains(describe(err), c.id) {
		// A refusal of a card that is not the shopper's names it by the
		// masked code they typed, and says nothing else of it.
		t.Fatalf("redeem %s by %q: %s names the card", c.id, owner, describe(err))
	}
	if err == nil {
		m.applyRedeem(c, owner)
	}
}

// RedeemRace has several shoppers redeem one card at the same moment: at
// most one may win, and only if the card could be redeemed.
func (m *system[T]) RedeemRace(t *rapid.T) {
	c := m.pickCard(t)
	if m.openRedeem(c.id, nil) {
		return // the card's state is uncertain until the redemption is retried
	}
	racers := rapid.IntRange(2, 4).Draw(t, "racers")
	want := m.redeemOutcome(c, "")
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = m.env.Wallet.Redeem(context.Background(), m.owners[i%len(m.owners)], c.code.String(), m.raceKey(i))
		}()
	}
	wg.Wait()
	m.n += racers
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("card %s redeemed by racers %d and %d", c.id, winner, i)
		case err == nil:
			winner = i
		case want == nil && !errors.Is(err, giftcard.ErrAlreadyRedeemed):
			t.Fatalf("racer %d for %s: %v; want success or ErrAlreadyRedeemed", i, c.id, err)
		case want != nil && want != giftcard.ErrAlreadyRedeemed && !errors.Is(err, want):
			t.Fatalf("racer %d for %s: %v; want %v", i, c.id, err, want)
		}
	}
	if (winner >= 0) != (want == nil) {
		t.Fatalf("card %s: winner %d; the model expected %v", c.id, winner, want)
	}
	if winner >= 0 {
		m.applyRedeem(c, m.owners[winner%len(m.owners)])
	}
}

// raceKey is the key of racer i in the coming RedeemRace.
func (m *system[T]) raceKey(i int) string { return fmt.Sprintf("race-%d-%d", m.n, i) }

func (m *system[T]) RedeemTypo(t *rapid.T) {
	c := m.pickCard(t)
	typo := []byte(c.code.String())
	i := rapid.SampledFrom([]int{0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16}).Draw(t, "position")
	typo[i] = map[bool]byte{true: 'X', false: 'Y'}[typo[i] != 'X']
	_, err := m.env.Wallet.Redeem(context.Background(), rapid.SampledFrom(m.owners).Draw(t, "owner"), string(typo), m.key("typo"))
	m.noLeak(t, "redeem with a typo", err)
	var pe *codefmt.ParseError
	if !errors.As(err, &pe) || len(pe.Suggestions) != 1 || pe.Suggestions[0] != c.code {
		t.Fatalf("redeem with a typo: %v; want ErrChecksum suggesting the code", err)
	}
}

func (m *system[T]) Pay(t *rapid.T) {
	owner := rapid.SampledFrom(m.owners).Draw(t, "owner")
	cur := rapid.SampledFrom(sysCurrencies).Draw(t, "currency")
	k := sysKey{owner, cur}
	a := m.touch(k)
	avail := a.available(m.env.Clock.Now())
	total := rapid.Int64Range(1, avail+3000).Draw(t, "total")
	mode := rapid.SampledFrom([]checkout.CaptureMode{checkout.CaptureNow, checkout.CaptureLater}).Draw(t, "mode")
	skip := rapid.IntRange(0, 4).Draw(t, "skip") == 0
	instrument := rapid.SampledFrom([]string{"tok_visa", "tok_visa", "tok_visa", "tok_visa", processortest.DeclinedInstrument, ""}).Draw(t, "instrument")
	id := m.paymentID(t)
	p := &mPayment{id: id, owner: owner, total: giftkit.FromMinor(total, cur), mode: mode, holdID: "pay/" + id}
	p.balance = min(avail, total)
	if skip {
		p.balance = 0
	}
	p.card = total - p.balance
	p.declined = p.card > 0 && instrument == processortest.DeclinedInstrument
	req := checkout.PayRequest{PaymentID: id, Owner: owner, Total: p.total, Instrument: instrument, Mode: mode, SkipBalance: skip}
	key := m.callKey(t)
	run := func() (string, error) {
		got, err := m.co.Pay(context.Background(), req, key)
		// A replay returns the payment as it stands; its outcome (the split,
		// and success or the error) is what must not change.
		return fmt.Sprintf("%q %v %v", got.ID, got.Balance.Planned, got.Card.Planned), err
	}
	m.armFaults(t)
	digest, err := run()
	m.disarm()
	if p.card > 0 && instrument == "" && !interrupted(err) && !m.uncertainAccounts[k] {
		// No bank card for the card part: refused, and nothing is created.
		if !errors.Is(err, checkout.ErrInstrumentRequired) {
			t.Fatalf("pay %q of %v without a bank card: %v; want ErrInstrumentRequired", id, p.total, err)
		}
		m.record(t, "pay without a card "+id, run, digest, err)
		return
	}
	m.payments[id] = p
	m.order = append(m.order, id)
	m.record(t, "pay "+id, run, digest, err).payment = p
	if interrupted(err) || m.uncertainAccounts[k] {
		p.uncertain = true
		m.unsure(k)
		return
	}
	m.applyPay(t, p, err)
}

// applyPay moves the model as a completed Pay does.
func (m *system[T]) applyPay(t *rapid.T, p *mPayment, err error) {
	a := m.touch(sysKey{p.owner, p.total.Currency()})
	now := m.env.Clock.Now()
	if p.declined {
		var d *checkout.DeclineError
		if !errors.Is(err, checkout.ErrDeclined) || !errors.As(err, &d) || d.Reason == "" {
			t.Fatalf("pay %q with a declined card: %v; want ErrDeclined with a *DeclineError and its reason", p.id, err)
		}
		p.state = checkout.StateFailed
		return
	}
	if err != nil {
		t.Fatalf("pay %s: %v", p.id, err)
	}
	p.expires = now.Add(holdFor)
	if p.balance > 0 {
		a.hold(p.holdID, p.balance, p.expires, now)
	}
	p.state = checkout.StateAuthorized
	if p.mode == checkout.CaptureNow {
		m.applyCapture(p, p.total.Minor(), true)
	}
}

// applyCapture moves the model as a capture does; sweep applies the time
// first, which a capture decided at an earlier instant than now must not.
func (m *system[T]) applyCapture(p *mPayment, amount int64, sweep bool) {
	a := m.account(sysKey{p.owner, p.total.Currency()})
	if sweep {
		a = m.touch(sysKey{p.owner, p.total.Currency()})
	}
	fromBalance := min(amount, p.balance)
	if p.balance > 0 {
		a.capture(p.holdID, fromBalance)
	}
	p.capturedBalance, p.capturedCard = fromBalance, amount-fromBalance
	p.state = checkout.StateCaptured
}

// pickPayment draws a payment of the model in one of the given states, or
// returns nil after paying a new order if there is none.
func (m *system[T]) pickPayment(t *rapid.T, states ...checkout.State) *mPayment {
	var ids []string
	for _, id := range m.order {
		p := m.payments[id]
		for _, s := range states {
			if p.state == s && !p.uncertain {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		m.Pay(t)
		return nil
	}
	return m.payments[rapid.SampledFrom(ids).Draw(t, "payment")]
}

func (m *system[T]) Capture(t *rapid.T) {
	p := m.pickPayment(t, checkout.StateAuthorized)
	if p == nil || p.mode != checkout.CaptureLater {
		return // nothing to capture: CaptureNow payments were captured by Pay
	}
	amount := rapid.Int64Range(1, p.total.Minor()).Draw(t, "amount")
	run := m.captureCall(p, amount, m.callKey(t))
	m.armFaults(t)
	digest, err := run()
	m.disarm()
	m.record(t, "capture "+p.id, run, digest, err).payment = p
	if interrupted(err) {
		m.unsure(sysKey{p.owner, p.total.Currency()})
	}
	if interrupted(err) {
		p.uncertain = true
		return
	}
	if !m.env.Clock.Now().Before(p.expires) {
		if !errors.Is(err, checkout.ErrExpired) {
			t.Fatalf("capture of expired %s: %v; want ErrExpired", p.id, err)
		}
		m.touch(sysKey{p.owner, p.total.Currency()}) // the lapsed hold was released by the sweep
		p.state = checkout.StateExpired
		return
	}
	if err != nil {
		t.Fatalf("capture %s: %v", p.id, err)
	}
	m.applyCapture(p, amount, true)
}

func (m *system[T]) Cancel(t *rapid.T) {
	p := m.pickPayment(t, checkout.StateAuthorized)
	if p == nil {
		return
	}
	run := m.cancelCall(p, m.callKey(t))
	m.armFaults(t)
	digest, err := run()
	m.disarm()
	m.record(t, "cancel "+p.id, run, digest, err).payment = p
	if interrupted(err) {
		m.unsure(sysKey{p.owner, p.total.Currency()})
	}
	if interrupted(err) {
		p.uncertain = true
		return
	}
	if err != nil {
		t.Fatalf("cancel %s: %v", p.id, err)
	}
	m.touch(sysKey{p.owner, p.total.Currency()}).release(p.holdID)
	p.state = checkout.StateCancelled
}

func (m *system[T]) Refund(t *rapid.T) {
	p := m.pickPayment(t, checkout.StateCaptured)
	if p == nil {
		return
	}
	cardLeft, balanceLeft := p.capturedCard-p.refundedCard, p.capturedBalance-p.refundedBalance
	if cardLeft+balanceLeft == 0 {
		return // fully refunded
	}
	amount := rapid.Int64Range(1, cardLeft+balanceLeft).Draw(t, "amount")
	key := m.callKey(t)
	run := func() (string, error) {
		got, err := m.co.Refund(context.Background(), p.id, giftkit.FromMinor(amount, p.total.Currency()), key)
		for _, r := range got.Refunds {
			if r.Key == key {
				return fmt.Sprintf("%s %v %v %v", got.ID, r.Amount, r.Balance, r.Card), err
			}
		}
		return got.ID, err
	}
	m.armFaults(t)
	digest, err := run()
	m.disarm()
	m.record(t, "refund "+p.id, run, digest, err).payment = p
	if interrupted(err) {
		m.unsure(sysKey{p.owner, p.total.Currency()})
	}
	// The refund is recorded before any processor call, so even an
	// interrupted one settles on retry or sweep; the model applies it now and
	// the checks wait for the payment to settle.
	if err != nil && !interrupted(err) {
		t.Fatalf("refund %s: %v", p.id, err)
	}
	if interrupted(err) {
		p.uncertain = true
		return
	}
	toCard := min(amount, cardLeft) // the default policy: card first
	p.refundedCard += toCard
	p.refundedBalance += amount - toCard
	if amount-toCard > 0 {
		m.touch(sysKey{p.owner, p.total.Currency()}).credit(amount-toCard, time.Time{})
	}
}

func (m *system[T]) Advance(t *rapid.T) {
	m.env.Clock.Advance(time.Duration(rapid.IntRange(1, 72).Draw(t, "hours")) * time.Hour)
}

func (m *system[T]) Sweep(t *rapid.T) {
	m.armFaults(t)
	_, _, err := m.co.Sweep(context.Background(), 1000)
	m.disarm()
	if err != nil && !interrupted(err) {
		t.Fatalf("Sweep: %v", err)
	}
	if err == nil {
		m.applySweep()
		return
	}
	// An interrupted sweep may have unwound any lapsed payment.
	now := m.env.Clock.Now()
	for _, p := range m.payments {
		if p.state == checkout.StateAuthorized && !now.Before(p.expires) {
			p.uncertain = true
		}
	}
}

// applySweep moves the model's lapsed payments to expired, as Sweep does for
// payments that nothing interrupted.
func (m *system[T]) applySweep() {
	for _, p := range m.payments {
		m.lapse(p)
	}
}

// lapse expires an authorised payment whose hold has lapsed, as the saga
// does whenever the payment is driven.
func (m *system[T]) lapse(p *mPayment) {
	if p.state == checkout.StateAuthorized && !p.uncertain && !m.env.Clock.Now().Before(p.expires) {
		m.touch(sysKey{p.owner, p.total.Currency()})
		p.state = checkout.StateExpired
	}
}

// Retry repeats an earlier call with its key. A call that completed must
// return the same outcome; an interrupted one may now complete.
func (m *system[T]) Retry(t *rapid.T) {
	if len(m.calls) == 0 {
		m.Redeem(t)
		return
	}
	c := m.calls[rapid.IntRange(0, len(m.calls)-1).Draw(t, "call")]
	digest, err := c.run()
	if c.payment != nil {
		m.lapse(c.payment) // driving a payment unwinds it if its hold lapsed
	}
	if !c.done {
		if !interrupted(err) {
			c.done, c.digest, c.err = true, digest, err
		}
		return
	}
	m.noLeak(t, "retry of "+c.name, err)
	if digest != c.digest || describe(err) != describe(c.err) {
		t.Fatalf("retry of %s: %q, %s; the first completed call returned %q, %s", c.name, digest, describe(err), c.digest, describe(c.err))
	}
}

// Check runs after every step.
func (m *system[T]) Check(t *rapid.T) {
	m.check(t, false)
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

func (m *system[T]) check(t *rapid.T, settled bool) {
	ctx := context.Background()
	m.disarm()
	flows := map[giftkit.Currency]map[wallet.EntryKind]int64{}
	balances := map[giftkit.Currency]int64{}
	held := map[sysKey]int64{} // what each account holds
	if reuses := m.proc.KeyReuses(); len(reuses) > 0 {
		t.Fatalf("two processor calls were given one key: %s", reuses[0])
	}
	for _, owner := range m.owners {
		for _, cur := range sysCurrencies {
			k := sysKey{owner, cur}
			b, err := m.env.Wallet.Balance(ctx, owner, cur)
			if err != nil {
				t.Fatalf("Balance(%s, %v): %v", owner, cur, err)
			}
			if b.Balance.IsNegative() || b.Available.IsNegative() || b.Held.IsNegative() {
				t.Fatalf("%s %v: %+v is below zero", owner, cur, b)
			}
			if !m.uncertainAccounts[k] {
				total, held := m.touch(k).balance()
				if b.Balance.Minor() != total || b.Held.Minor() != held {
					t.Fatalf("%s %v: balance %v held %v; the model says %d held %d", owner, cur, b.Balance, b.Held, total, held)
				}
			}
			if flows[cur] == nil {
				flows[cur] = map[wallet.EntryKind]int64{}
			}
			var sum, heldSum int64
			for after := int64(0); ; {
				page, err := m.env.Wallet.History(ctx, owner, cur, after, wallet.MaxPageSize)
				if err != nil {
					t.Fatalf("History: %v", err)
				}
				for _, e := range page.Entries {
					sum += e.Amount.Minor()
					heldSum += e.Held.Minor()
					flows[cur][e.Kind] += e.Amount.Minor()
				}
				if page.Next == 0 {
					break
				}
				after = page.Next
			}
			if sum != b.Balance.Minor() || heldSum != b.Held.Minor() {
				t.Fatalf("%s %v: journal sums to %d held %d; balance %v held %v", owner, cur, sum, heldSum, b.Balance, b.Held)
			}
			balances[cur] += b.Balance.Minor()
			held[k] = b.Held.Minor()
		}
	}

	unredeemed, voided := map[giftkit.Currency]int64{}, map[giftkit.Currency]int64{}
	for _, c := range m.cards {
		got, err := m.env.Cards.Card(ctx, c.id)
		if err != nil {
			t.Fatalf("Card(%s): %v", c.id, err)
		}
		if got.State == giftcard.StateRedeemed && c.state != giftcard.StateRedeemed {
			// An interrupted redemption completed behind the model's back
			// only if its call is still open.
			if !m.openRedeem(c.id, nil) {
				t.Fatalf("card %s is redeemed, the model says %v", c.id, c.state)
			}
		} else if got.State != c.state || (c.state == giftcard.StateRedeemed && got.RedeemedBy != c.redeemer) {
			t.Fatalf("card %s: %v by %q; the model says %v by %q", c.id, got.State, got.RedeemedBy, c.state, c.redeemer)
		}
		switch got.State {
		case giftcard.StateVoided:
			voided[got.Value.Currency()] += got.Value.Minor()
		case giftcard.StateRedeemed:
		default:
			unredeemed[got.Value.Currency()] += got.Value.Minor()
		}
	}
	for _, cur := range sysCurrencies {
		f := flows[cur]
		spent, refunded, expired := -f[wallet.EntryCapture], f[wallet.EntryRefund], -f[wallet.EntryExpiry]
		if got := unredeemed[cur] + balances[cur] + spent - refunded + expired + voided[cur]; got != m.issued[cur] {
			t.Fatalf("%v not conserved: unredeemed %d + balances %d + spent %d − refunded %d + expired %d + voided %d = %d; issued %d",
				cur, unredeemed[cur], balances[cur], spent, refunded, expired, voided[cur], got, m.issued[cur])
		}
		if f[wallet.EntryCredit]+unredeemed[cur]+voided[cur] != m.issued[cur] {
			t.Fatalf("%v: credits %d + unredeemed %d + voided %d != issued %d: a card was credited twice or not at all",
				cur, f[wallet.EntryCredit], unredeemed[cur], voided[cur], m.issued[cur])
		}
	}

	authsSeen := map[string]bool{}
	openHolds := map[sysKey]int64{}
	for _, id := range m.order {
		mp := m.payments[id]
		p, err := m.co.Payment(ctx, id)
		if errors.Is(err, checkout.ErrPaymentNotFound) && mp.uncertain {
			continue // the interrupted Pay never got to record the payment
		}
		if err != nil {
			t.Fatalf("Payment(%s): %v", id, err)
		}
		checkPayment(t, p, m.proc)
		if p.AuthID != "" {
			authsSeen[p.AuthID] = true
		}
		if p.State == checkout.StatePending || p.State == checkout.StateAuthorized {
			held, _ := p.Balance.Authorized.Sub(p.Balance.Captured)
			if m.env.Clock.Now().Before(p.ExpiresAt) {
				openHolds[sysKey{p.Owner, p.Total.Currency()}] += held.Minor()
			}
		}
		if mp.uncertain {
			continue // an interrupted call decided it; the invariants above still hold
		}
		onItsWay := p.State == checkout.StateUnwinding && p.UnwindTo == mp.state // the void is outstanding
		if p.State != mp.state && !onItsWay {
			t.Fatalf("payment %s is %v; the model says %v", id, p.State, mp.state)
		}
		want := [4]int64{mp.capturedBalance, mp.capturedCard, mp.refundedBalance, mp.refundedCard}
		got := [4]int64{p.Balance.Captured.Minor(), p.Card.Captured.Minor(), p.Balance.Refunded.Minor(), p.Card.Refunded.Minor()}
		if want != got && !p.NeedsWork() {
			t.Fatalf("payment %s: captured/refunded %v; the model says %v", id, got, want)
		}
	}
	for k, h := range held {
		if h != openHolds[k] && !m.uncertainAccounts[k] {
			t.Fatalf("%v: %d held, but open payments hold %d: an orphan hold", k, h, openHolds[k])
		}
	}
	if settled {
		for _, a := range m.proc.Auths() {
			if !authsSeen[a.ID] {
				t.Fatalf("authorisation %s (%+v) belongs to no payment", a.ID, a)
			}
		}
	}
}

// openRedeem reports whether a redemption of the card other than except
// was interrupted and not yet retried to completion.
func (m *system[T]) openRedeem(cardID string, except *sysCall) bool {
	for _, c := range m.calls {
		if !c.done && c != except && c.name == "redeem "+cardID {
			return true
		}
	}
	return false
}

// checkPayment checks the invariants of one payment against itself and
// the processor's ledger.
func checkPayment(t *rapid.T, p checkout.Payment, proc *processortest.Processor) {
	if sum, _ := p.Balance.Planned.Add(p.Card.Planned); sum != p.Total {
		t.Fatalf("payment %s: balance %v + card %v != total %v", p.ID, p.Balance.Planned, p.Card.Planned, p.Total)
	}
	for name, tender := range map[string]checkout.Tender{"balance": p.Balance, "card": p.Card} {
		if c, _ := tender.Captured.Cmp(tender.Authorized); c > 0 {
			t.Fatalf("payment %s: %s captured %v > authorised %v", p.ID, name, tender.Captured, tender.Authorized)
		}
		if c, _ := tender.Refunded.Cmp(tender.Captured); c > 0 {
			t.Fatalf("payment %s: %s refunded %v > captured %v", p.ID, name, tender.Refunded, tender.Captured)
		}
		if tender.Captured.IsNegative() || tender.Refunded.IsNegative() {
			t.Fatalf("payment %s: %s negative: %+v", p.ID, name, tender)
		}
	}
	if sum, _ := p.Balance.Captured.Add(p.Card.Captured); p.State == checkout.StateCaptured && sum != p.CaptureWant {
		t.Fatalf("payment %s captured %v; %v was asked", p.ID, sum, p.CaptureWant)
	}
	if p.AuthID == "" {
		return
	}
	a, ok := proc.Auth(p.AuthID)
	if !ok {
		t.Fatalf("payment %s records authorisation %s, unknown to the processor", p.ID, p.AuthID)
	}
	if p.NeedsWork() {
		return // a step is outstanding: the ledgers agree once it settles
	}
	net, _ := a.Captured.Sub(a.Refunded)
	want, _ := p.Card.Captured.Sub(p.Card.Refunded)
	if net != want {
		t.Fatalf("payment %s: the processor holds %v net; the payment records %v", p.ID, net, want)
	}
	if !a.Closed && p.State != checkout.StateAuthorized {
		t.Fatalf("payment %s is %v with its authorisation still open", p.ID, p.State)
	}
}
