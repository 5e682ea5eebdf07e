package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/unit"
	"github.com/giftkit/giftkit/wallet"
)

// The adversary: identifiers a careless or hostile caller chooses, calls
// made at the same moment, calls aimed at what is not the caller's, and
// calls at the very instant a deadline passes. The actions here join the
// state machine of [System].

// hostileTokens make up identifiers: separators, the library's own key
// prefixes and call names, and characters beyond ASCII. Joining a few of
// them makes IDs and keys that a derivation joining fields with a separator
// would confuse ("x" + "/refund/" + "authorize" and "x/refund" + "/" +
// "authorize").
var hostileTokens = []string{
	"a", "b", "7", "/", ":", "-", "_", ".", " ", "#", "%2F", `\`, `"`,
	"refund", "authorize", "capture", "void", "pay", "giftkit", "checkout/", "wallet/", "hold_", "pay/", "owner:", "client:",
	"é", "Ω", "🎁", "ｇｉｆｔ",
}

// callNames are the processor calls checkout derives keys for.
var callNames = []string{"authorize", "capture", "void", "refund"}

// hostileText draws an identifier of at most maxLen bytes: a few hostile
// tokens, now and then exactly maxLen bytes long.
func hostileText(maxLen int) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		if rapid.IntRange(0, 11).Draw(t, "at the maximum length") == 0 {
			return strings.Repeat("é", (maxLen-1)/2) + strings.Repeat("x", maxLen-2*((maxLen-1)/2))
		}
		return strings.Join(rapid.SliceOfN(rapid.SampledFrom(hostileTokens), 1, 4).Draw(t, "tokens"), "")
	})
}

// unique returns s, or s made unique with a suffix if used has it, and
// marks it used. It keeps s within maxLen bytes.
func unique(s string, used map[string]bool, maxLen int) string {
	for n := 2; used[s]; n++ {
		suffix := fmt.Sprintf("#%d", n)
		if len(s)+len(suffix) > maxLen {
			s = strings.ToValidUTF8(s[:maxLen-len(suffix)], "")
		}
		s += suffix
	}
	used[s] = true
	return s
}

// paymentID draws a new payment ID: hostile text, or, a third of the time,
// an earlier payment's ID extended by a separator and a call name, the
// shape that confused processor keys joined with '/'.
func (m *system[T]) paymentID(t *rapid.T) string {
	id := hostileText(checkout.MaxIDLen).Draw(t, "payment ID")
	if len(m.order) > 0 && rapid.IntRange(0, 2).Draw(t, "extend an ID") == 0 {
		base := rapid.SampledFrom(m.order).Draw(t, "base ID")
		ext := rapid.SampledFrom([]string{"/refund", "/authorize", "/capture", "/void", "/refund/", ":"}).Draw(t, "extension")
		if len(base)+len(ext) <= checkout.MaxIDLen {
			id = base + ext
		}
	}
	return unique(id, m.usedIDs, checkout.MaxIDLen)
}

// callKey draws a new idempotency key for a call: hostile text, or a bare
// processor call name (so that a refund key can be "authorize").
func (m *system[T]) callKey(t *rapid.T) string {
	k := hostileText(giftkit.MaxKeyLen).Draw(t, "key")
	if rapid.IntRange(0, 3).Draw(t, "call name as key") == 0 {
		k = rapid.SampledFrom(callNames).Draw(t, "call name")
	}
	return unique(k, m.usedKeys, giftkit.MaxKeyLen)
}

// describe is the whole of an outcome's error, as a retry must repeat it:
// its type, its message and its JSON form (every field).
func describe(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("%T: %v", err, err)
	if data, jerr := json.Marshal(err); jerr == nil && string(data) != "{}" {
		s += " " + string(data)
	}
	return s
}

// noLeak fails if an error's message or JSON form holds the whole code of a
// card: every error giftkit returns must be safe to log.
func (m *system[T]) noLeak(t *rapid.T, what string, err error) {
	if err == nil {
		return
	}
	text := describe(err)
	for e := err; e != nil; e = errors.Unwrap(e) {
		if data, jerr := json.Marshal(e); jerr == nil {
			text += " " + string(data)
		}
	}
	upper := strings.ToUpper(text)
	for _, c := range m.cards {
		if strings.Contains(upper, c.code.String()) || strings.Contains(upper, strings.ReplaceAll(c.code.String(), "-", "")) {
			t.Fatalf("%s: the error holds the whole code of card %s: %s", what, c.id, text)
		}
	}
}

// Guessing: a wallet whose limiter allows guessLimit failed attempts per
// owner and per client for the whole run.
const guessLimit = 3

var guessClients = []string{"", "198.51.100.1", "198.51.100.2"}

// newGuesser returns the wallet the GuessRace action uses: a StoreLimiter
// if the store keeps attempt logs, a MemoryLimiter otherwise.
func newGuesser[T checkout.Tx](t *rapid.T, store giftkit.Store[T], clock *Clock) *wallet.Service {
	rule := wallet.LimitRule{Max: guessLimit, Window: 100000 * time.Hour, Lockout: 100000 * time.Hour}
	var limiter wallet.Limiter = wallet.NewMemoryLimiter(rule.Max, rule.Window, rule.Lockout)
	if logs, ok := limiterStore(store); ok {
		sl, err := wallet.NewStoreLimiter(logs, rule)
		if err != nil {
			t.Fatalf("NewStoreLimiter: %v", err)
		}
		limiter = sl
	}
	hasher, _ := giftcard.NewHasher(TestHashKey)
	// A little latency before each unit of work, as a database has, so that
	// concurrent guesses are in flight together even on a fast store.
	slow := unit.StoreFunc[T](func(ctx context.Context, fn func(T) error) error {
		time.Sleep(time.Millisecond)
		return store.Update(ctx, fn)
	})
	w, err := wallet.NewService(giftkit.Store[T](slow), wallet.Config{Hasher: hasher, Now: clock.Now, Limiter: limiter})
	if err != nil {
		t.Fatalf("wallet.NewService: %v", err)
	}
	return w
}

// limiterStore returns store as a store of wallet.LimiterTx, if its Tx
// implements it.
func limiterStore[T any](store giftkit.Store[T]) (giftkit.Store[wallet.LimiterTx], bool) {
	if _, ok := any(*new(T)).(wallet.LimiterTx); !ok {
		return nil, false
	}
	return unit.Erase(store, func(tx T) wallet.LimiterTx { return any(tx).(wallet.LimiterTx) }), true
}

// GuessRace has one owner, from one client, guess several codes at the same
// moment. Of all the guesses of a run, at most guessLimit per owner and per
// client may reach the lookup; the rest are refused with
// ErrTooManyAttempts. A guess that was looked up keeps its outcome on retry,
// during the lockout too.
func (m *system[T]) GuessRace(t *rapid.T) {
	owner := rapid.SampledFrom(m.owners).Draw(t, "owner")
	client := rapid.SampledFrom(guessClients).Draw(t, "client")
	racers := rapid.IntRange(1, 6).Draw(t, "guessers")
	seed := rapid.Uint64().Draw(t, "seed")
	type guess struct {
		key, code string
		err       error
	}
	guesses := make([]guess, racers)
	for i := range guesses {
		code, err := codefmt.Generate(rand.NewChaCha8([32]byte{byte(i), byte(seed), byte(seed >> 8), byte(seed >> 16), 'g'}))
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		guesses[i] = guess{key: m.callKey(t), code: code.String()}
	}
	ctx := wallet.WithClient(context.Background(), client)
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, guesses[i].err = m.guesser.Redeem(ctx, owner, guesses[i].code, guesses[i].key)
		}()
	}
	wg.Wait()
	subjects := wallet.Attempt{Owner: owner, Client: client}.Subjects()
	for _, g := range guesses {
		m.noLeak(t, "guess", g.err)
		switch {
		case errors.Is(g.err, giftcard.ErrNotRedeemable):
			for _, s := range subjects {
				m.lookups[s]++
			}
			run := func() (string, error) {
				_, err := m.guesser.Redeem(ctx, owner, g.code, g.key)
				return "", err
			}
			m.record(t, "guess by "+owner, run, "", g.err)
		case !errors.Is(g.err, wallet.ErrTooManyAttempts):
			t.Fatalf("guess by %q from %q: %v; want ErrNotRedeemable or ErrTooManyAttempts", owner, client, g.err)
		}
	}
	for _, s := range subjects {
		if m.lookups[s] > guessLimit {
			t.Fatalf("%d guesses of %q reached the lookup; the limiter allows %d", m.lookups[s], s, guessLimit)
		}
	}
}

// livePayment draws an authorised CaptureLater payment whose state the
// model knows and whose hold has not lapsed, or returns nil.
func (m *system[T]) livePayment(t *rapid.T, label string) *mPayment {
	now := m.env.Clock.Now()
	var ids []string
	for _, id := range m.order {
		p := m.payments[id]
		if p.state == checkout.StateAuthorized && p.mode == checkout.CaptureLater && !p.uncertain && now.Before(p.expires) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return m.payments[rapid.SampledFrom(ids).Draw(t, label)]
}

// captureCall and cancelCall are the calls the actions make and Retry
// repeats, returning the digest of their outcome.
func (m *system[T]) captureCall(p *mPayment, amount int64, key string) func() (string, error) {
	return func() (string, error) {
		got, err := m.co.Capture(context.Background(), p.id, giftkit.FromMinor(amount, p.total.Currency()), key)
		return fmt.Sprintf("%q %v", got.ID, got.CaptureWant), err
	}
}

func (m *system[T]) cancelCall(p *mPayment, key string) func() (string, error) {
	return func() (string, error) {
		got, err := m.co.Cancel(context.Background(), p.id, key)
		return fmt.Sprintf("%q %q", got.ID, got.Keys.Cancel), err
	}
}

// CaptureCancelRace captures and cancels one authorised payment from
// several callers at once: exactly one wins, the others are refused with
// ErrInvalidState, and every one of them keeps its outcome on retry.
func (m *system[T]) CaptureCancelRace(t *rapid.T) {
	p := m.livePayment(t, "raced payment")
	if p == nil {
		m.Pay(t)
		return
	}
	type racer struct {
		cancel bool
		amount int64
		run    func() (string, error)
		digest string
		err    error
	}
	racers := make([]racer, rapid.IntRange(2, 4).Draw(t, "racers"))
	for i := range racers {
		r := &racers[i]
		key := m.callKey(t)
		if r.cancel = rapid.Bool().Draw(t, "cancel"); r.cancel {
			r.run = m.cancelCall(p, key)
		} else {
			r.amount = rapid.Int64Range(1, p.total.Minor()).Draw(t, "amount")
			r.run = m.captureCall(p, r.amount, key)
		}
	}
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			racers[i].digest, racers[i].err = racers[i].run()
		}()
	}
	wg.Wait()
	winner := -1
	for i, r := range racers {
		m.noLeak(t, "race", r.err)
		switch {
		case r.err == nil && winner >= 0:
			t.Fatalf("payment %q: racers %d and %d both won", p.id, winner, i)
		case r.err == nil:
			winner = i
		case !errors.Is(r.err, checkout.ErrInvalidState):
			t.Fatalf("payment %q, racer %d: %v; want success or ErrInvalidState", p.id, i, r.err)
		}
		if c := m.record(t, fmt.Sprintf("race on %q", p.id), r.run, r.digest, r.err); r.err == nil {
			c.payment = p // a replayed refusal does not drive the payment; a replayed success does
		}
	}
	if winner < 0 {
		t.Fatalf("payment %q: nobody won the race", p.id)
	}
	if w := racers[winner]; w.cancel {
		m.releaseAll(p)
		p.state = checkout.StateCancelled
	} else {
		m.applyCapture(p, w.amount, true)
	}
}

// ForeignHold aims the wallet's own Release and Capture at the hold checkout
// placed for a payment: both are refused with ErrForeignHold and change
// nothing, so the payment is never stranded.
func (m *system[T]) ForeignHold(t *rapid.T) {
	p := m.livePayment(t, "payment")
	if p == nil || p.balance == 0 {
		return
	}
	key := m.callKey(t)
	cur := p.total.Currency()
	run := func() (string, error) {
		b, err := m.env.Wallet.Release(context.Background(), p.owner, cur, p.holdID, key)
		return fmt.Sprint(b), err
	}
	if rapid.Bool().Draw(t, "capture") {
		amount := giftkit.FromMinor(rapid.Int64Range(1, p.balance).Draw(t, "amount"), cur)
		run = func() (string, error) {
			b, err := m.env.Wallet.Capture(context.Background(), p.owner, p.holdID, amount, key)
			return fmt.Sprint(b), err
		}
	}
	digest, err := run()
	if !errors.Is(err, wallet.ErrForeignHold) {
		t.Fatalf("wallet call on payment %q's hold %q: %v; want ErrForeignHold", p.id, p.holdID, err)
	}
	m.record(t, "foreign hold of "+p.id, run, digest, err)
}

// CaptureAtDeadline captures a payment within a few nanoseconds of its
// hold's expiry, with the clock moving on at every reading, so that a call
// reading the clock twice sees the hold live and then lapsed. The capture
// either succeeds whole or fails with ErrExpired; at the deadline itself it
// is ErrExpired.
func (m *system[T]) CaptureAtDeadline(t *rapid.T) {
	p := m.livePayment(t, "payment")
	if p == nil {
		return
	}
	before := time.Duration(rapid.IntRange(0, 4).Draw(t, "nanoseconds before the deadline"))
	at := p.expires.Add(-before)
	if at.Before(m.env.Clock.Now()) {
		return
	}
	amount := rapid.Int64Range(1, p.total.Minor()).Draw(t, "amount")
	run := m.captureCall(p, amount, m.callKey(t))
	m.env.Clock.set(at, 0)
	m.touchAll(p) // the model at the first reading
	if n := len(m.past); n > 0 && !m.past[n-1].at.Before(at) {
		// The last step was checked at this very instant, which the capture
		// writes at too, and the next check is later: what was owed at it
		// is no longer what the last step saw.
		m.past = m.past[:n-1]
	}
	m.env.Clock.set(at, time.Nanosecond)
	digest, err := run()
	m.env.Clock.set(m.env.Clock.Now(), 0)
	m.noLeak(t, "capture at the deadline", err)
	m.record(t, "capture at the deadline of "+p.id, run, digest, err).payment = p
	switch {
	case err == nil && before > 0:
		m.applyCapture(p, amount, false) // decided at its first reading, before the deadline
	case errors.Is(err, checkout.ErrExpired):
		m.touchAll(p)
		p.state = checkout.StateExpired
	default:
		t.Fatalf("capture %v before the deadline of %q: %v; want success (if before it) or ErrExpired", before, p.id, err)
	}
}

// Misuse makes a call the model knows must be refused (capture of a payment
// not authorised or of the wrong amount, cancel of a settled payment, refund
// of what was not captured, any call on an unknown payment), or any call on
// a payment whose state an interrupted call left unknown. A refusal changes
// nothing, and a retry returns it again, whatever the payment did since.
func (m *system[T]) Misuse(t *rapid.T) {
	var p *mPayment
	if len(m.order) > 0 && rapid.IntRange(0, 5).Draw(t, "unknown payment") > 0 {
		p = m.payments[rapid.SampledFrom(m.order).Draw(t, "payment")]
	}
	if p == nil {
		p = &mPayment{id: m.paymentID(t), total: giftkit.FromMinor(100, giftkit.EUR), state: 0}
	}
	cur := p.total.Currency()
	amount := giftkit.FromMinor(rapid.Int64Range(-1, p.total.Minor()+1).Draw(t, "amount"), cur)
	if rapid.IntRange(0, 5).Draw(t, "other currency") == 0 {
		other := giftkit.USD // never a payment's currency here
		if cur == other {
			other = giftkit.EUR
		}
		amount = giftkit.FromMinor(amount.Minor(), other)
	}
	op := rapid.SampledFrom([]string{"capture", "cancel", "refund"}).Draw(t, "op")
	key := m.callKey(t)
	var run func() (string, error)
	switch op {
	case "capture":
		run = func() (string, error) {
			got, err := m.co.Capture(context.Background(), p.id, amount, key)
			return fmt.Sprintf("%q %v", got.ID, got.CaptureWant), err
		}
	case "cancel":
		run = m.cancelCall(p, key)
	default:
		run = func() (string, error) {
			got, err := m.co.Refund(context.Background(), p.id, amount, key)
			return fmt.Sprintf("%q %d", got.ID, len(got.Refunds)), err
		}
	}
	want := m.refusal(p, op, amount)
	if want == nil && !p.uncertain {
		return // the call would be accepted: the other actions make those
	}
	digest, err := run()
	m.noLeak(t, "misuse", err)
	if interrupted(err) {
		t.Fatalf("%s of %q: %v with no fault armed", op, p.id, err)
	}
	if !p.uncertain && !errors.Is(err, want) {
		t.Fatalf("%s of %v on %q (%v): %v; want %v", op, amount, p.id, p.state, err, want)
	}
	m.record(t, op+" misused on "+p.id, run, digest, err) // a replayed refusal does not drive the payment
}

// refusal is the error the model expects of op on p with amount, or nil if
// the call would be accepted (or its outcome depends on the clock).
func (m *system[T]) refusal(p *mPayment, op string, amount giftkit.Money) error {
	if p.state == 0 {
		return checkout.ErrPaymentNotFound
	}
	total := p.total.Minor()
	switch op {
	case "capture":
		switch {
		case p.state != checkout.StateAuthorized || p.mode != checkout.CaptureLater:
			return checkout.ErrInvalidState
		case amount.Currency() != p.total.Currency():
			return giftkit.ErrCurrencyMismatch
		case !amount.IsPositive():
			return checkout.ErrInvalidOrder
		case amount.Minor() > total:
			return checkout.ErrExceedsAuthorized
		}
	case "cancel":
		if p.state != checkout.StateAuthorized {
			return checkout.ErrInvalidState
		}
	case "refund":
		switch {
		case p.state != checkout.StateCaptured:
			return checkout.ErrInvalidState
		case amount.Currency() != p.total.Currency():
			return giftkit.ErrCurrencyMismatch
		case !amount.IsPositive():
			return checkout.ErrInvalidOrder
		case amount.Minor() > p.refundable():
			return checkout.ErrExceedsCaptured
		}
	}
	return nil
}

// RefusedCurrency refunds an amount in a currency the strict wallet does
// not hold: the call is refused and no account is opened in it.
func (m *system[T]) RefusedCurrency(t *rapid.T) {
	owner := rapid.SampledFrom(m.owners).Draw(t, "owner")
	amount := giftkit.FromMinor(rapid.Int64Range(1, 5000).Draw(t, "amount"), giftkit.USD)
	key := m.callKey(t)
	run := func() (string, error) {
		b, err := m.strict.Refund(context.Background(), owner, amount, "refund in USD", key)
		return fmt.Sprint(b), err
	}
	digest, err := run()
	if !errors.Is(err, giftkit.ErrCurrencyMismatch) {
		t.Fatalf("refund of %v to a wallet of %v: %v; want ErrCurrencyMismatch", amount, sysCurrencies, err)
	}
	m.record(t, "refund in USD to "+owner, run, digest, err)
	page, err := m.env.Wallet.History(context.Background(), owner, giftkit.USD, 0, 1)
	if err != nil || len(page.Entries) > 0 {
		t.Fatalf("%q has a USD journal after a refused refund: %+v, %v", owner, page, err)
	}
}
