package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/ledger"
	"github.com/giftkit/giftkit/wallet"
)

// The operator's actions (adjustments, clawbacks) and the ledger's
// invariants: every chain of activity records verifies and replays to the
// state it describes, and the liability report at the current instant
// equals what the live services owe.

// actor returns a context carrying an actor rapid picks: a shopper, the
// shop, an operator, the system, or none (unattributed).
func (m *system[T]) actor(t *rapid.T) context.Context {
	actors := []giftkit.Actor{{}, giftkit.Shopper(m.owners[0]), giftkit.Client("shop"), giftkit.Operator("ops"), giftkit.System("batch")}
	return giftkit.WithActor(context.Background(), rapid.SampledFrom(actors).Draw(t, "actor"))
}

// operator returns the context of an operator's call with a reason; now
// and then one that must be refused (a shopper, or a reason that is not
// one line), which the caller reports as invalid.
func (m *system[T]) operator(t *rapid.T) (ctx context.Context, valid bool) {
	switch rapid.IntRange(0, 9).Draw(t, "operator") {
	case 0:
		return giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Shopper(m.owners[0])), "not staff"), false
	case 1:
		return giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Operator("ops")), "two\nlines"), false
	}
	reason := rapid.SampledFrom([]string{"goodwill", "ticket 4411: card reported stolen", "chargeback"}).Draw(t, "reason")
	return giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Operator("ops")), reason), true
}

// retryFaults runs call with faults armed, again at once with the same key
// while a fault interrupts it, and returns its outcome.
func retryFaults[R any](m interface {
	armFaults(*rapid.T)
	disarm()
}, t *rapid.T, call func() (R, error)) (R, error) {
	for {
		m.armFaults(t)
		out, err := call()
		m.disarm()
		if !errors.Is(err, errInjected) {
			return out, err
		}
	}
}

// Adjust has an operator move an account's balance up or down. Up, the
// money is a new credit that never expires; down, it comes from the
// available balance, and more than is available is refused.
func (m *system[T]) Adjust(t *rapid.T) {
	owner := rapid.SampledFrom(m.owners).Draw(t, "owner")
	cur := rapid.SampledFrom(sysCurrencies).Draw(t, "currency")
	k := sysKey{owner, cur}
	if m.uncertainAccounts[k] {
		return
	}
	delta := rapid.Int64Range(-5000, 5000).Draw(t, "delta")
	ctx, valid := m.operator(t)
	key := m.key("adjust")
	a := m.touch(k)
	now := m.env.Clock.Now()
	_, err := retryFaults(m, t, func() (wallet.Balance, error) {
		return m.env.Wallet.Adjust(ctx, owner, giftkit.FromMinor(delta, cur), "ref", key)
	})
	switch {
	case !valid:
		if !errors.Is(err, activity.ErrInvalidActor) {
			t.Fatalf("Adjust by an invalid operator: %v; want ErrInvalidActor", err)
		}
	case delta == 0:
		if !errors.Is(err, wallet.ErrInvalidAmount) {
			t.Fatalf("Adjust by zero: %v; want ErrInvalidAmount", err)
		}
	case delta > 0:
		if err != nil {
			t.Fatalf("Adjust up by %d: %v", delta, err)
		}
		a.credit(delta, time.Time{}, giftkit.ClassAdjustment)
	case -delta > a.available(now):
		if !errors.Is(err, wallet.ErrInsufficientFunds) {
			t.Fatalf("Adjust down by %d of %d available: %v; want ErrInsufficientFunds", -delta, a.available(now), err)
		}
	default:
		if err != nil {
			t.Fatalf("Adjust down by %d of %d available: %v", -delta, a.available(now), err)
		}
		a.take(-delta, 0, now)
	}
}

// AdjustCard has an operator correct a card's value, through
// giftcard.Service.Adjust (a card not opened only) or
// wallet.Service.AdjustCard (either kind). A card not opened changes its
// value (it must stay positive; a redeemed or voided card is refused with
// giftcard.ErrInvalidTransition); an opened card's account is credited
// (adjustment value that never expires) or taken from, its available
// balance only (wallet.ErrInsufficientFunds otherwise). An opened card
// whose account the model cannot tell is left alone.
func (m *system[T]) AdjustCard(t *rapid.T) {
	c := m.pickCard(t)
	if m.busy(c) || (c.opened() && m.uncertainAccounts[c.key()]) {
		return
	}
	if c.opened() || rapid.Bool().Draw(t, "through the wallet") {
		m.adjustCardFunds(t, c)
		return
	}
	delta := rapid.Int64Range(-c.value.Minor(), 5000).Draw(t, "delta")
	ctx, valid := m.operator(t)
	key := m.key("adjust-card")
	got, err := retryFaults(m, t, func() (giftcard.Card, error) {
		return m.env.Cards.Adjust(ctx, c.id, giftkit.FromMinor(delta, c.value.Currency()), key)
	})
	switch {
	case !valid:
		if !errors.Is(err, activity.ErrInvalidActor) {
			t.Fatalf("card Adjust by an invalid operator: %v; want ErrInvalidActor", err)
		}
	case c.state == giftcard.StateRedeemed || c.state == giftcard.StateVoided:
		if !errors.Is(err, giftcard.ErrInvalidTransition) {
			t.Fatalf("Adjust of a %v card: %v; want ErrInvalidTransition", c.state, err)
		}
	case delta == 0 || c.value.Minor()+delta <= 0:
		if !errors.Is(err, giftcard.ErrInvalidRequest) {
			t.Fatalf("Adjust of %v by %d: %v; want ErrInvalidRequest", c.value, delta, err)
		}
	default:
		if err != nil || got.Value.Minor() != c.value.Minor()+delta {
			t.Fatalf("Adjust of %v by %d = %v, %v", c.value, delta, got.Value, err)
		}
		c.value = giftkit.FromMinor(c.value.Minor()+delta, c.value.Currency())
		m.issued[c.value.Currency()] += delta
	}
}

// adjustCardFunds is AdjustCard through wallet.Service.AdjustCard.
func (m *system[T]) adjustCardFunds(t *rapid.T, c *mCard) {
	cur := c.value.Currency()
	now := m.env.Clock.Now()
	var a *mAccount
	low := -c.value.Minor()
	if c.opened() {
		a = m.touch(c.key())
		low = -a.available(now) - 100
	}
	delta := rapid.Int64Range(low, 5000).Draw(t, "delta")
	ctx, valid := m.operator(t)
	key := m.key("adjust-card-funds")
	run := func() (string, error) {
		b, err := m.env.Wallet.AdjustCard(ctx, c.id, giftkit.FromMinor(delta, cur), "ref", key)
		return fmt.Sprintf("%s %v %v %v %v %v", b.CardID, b.Balance, b.Held, b.Available, b.Opened, b.Masked), err
	}
	digest, err := retryFaults(m, t, run)
	m.record(t, "adjust card "+c.id, run, digest, err)
	var want error
	switch {
	case !valid:
		want = activity.ErrInvalidActor
	case delta == 0:
		want = wallet.ErrInvalidAmount
	case c.opened() && -delta > a.available(now):
		want = wallet.ErrInsufficientFunds
	case c.opened():
	case c.state == giftcard.StateRedeemed || c.state == giftcard.StateVoided:
		want = giftcard.ErrInvalidTransition
	case c.value.Minor()+delta <= 0:
		want = giftcard.ErrInvalidRequest
	}
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("AdjustCard of %s (%v, opened %v, value %v) by %d: %v; want %v", c.id, c.state, c.opened(), c.value, delta, err, want)
	}
	if err != nil {
		return
	}
	if !c.opened() {
		c.value = giftkit.FromMinor(c.value.Minor()+delta, cur)
		m.issued[cur] += delta
		return
	}
	if delta > 0 {
		a.credit(delta, time.Time{}, giftkit.ClassAdjustment)
	} else {
		a.take(-delta, 0, now)
	}
}

// BlockCard has an operator block or unblock a card through
// wallet.Service.BlockCard and UnblockCard, retrying at once through
// faults. A card not opened moves between active and blocked by its state;
// an opened card's account gets (or loses) the block hold on all it has
// available, or an empty one when nothing is. Blocking a blocked card,
// unblocking one that is not, and blocking a pending, voided or redeemed
// (into a shopper's account) card fail with giftcard.ErrInvalidTransition.
// A blocked card is then refused as an unknown code is by the other
// actions (the model's spendable and redeemOutcome), and a clawback still
// takes from it.
func (m *system[T]) BlockCard(t *rapid.T) {
	c := m.pickCard(t)
	if m.busy(c) {
		return
	}
	block := rapid.Bool().Draw(t, "block")
	op, call := "unblock", m.env.Wallet.UnblockCard
	if block {
		op, call = "block", m.env.Wallet.BlockCard
	}
	ctx := m.actor(t)
	key := m.key(op + "-card")
	run := func() (string, error) {
		got, err := call(ctx, c.id, key)
		return fmt.Sprintf("%s %v %v", got.ID, got.State, got.Value), err
	}
	digest, err := retryFaults(m, t, run)
	m.record(t, op+" card "+c.id, run, digest, err)
	if c.opened() {
		if c.blocked == block {
			if !errors.Is(err, giftcard.ErrInvalidTransition) {
				t.Fatalf("%s of opened card %s (blocked %v): %v; want ErrInvalidTransition", op, c.id, c.blocked, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s of opened card %s: %v", op, c.id, err)
		}
		a := m.touch(c.key())
		if block {
			a.hold(blockHold, a.available(m.env.Clock.Now()), time.Time{}, m.env.Clock.Now())
		} else {
			a.release(blockHold)
		}
		c.blocked = block
		return
	}
	from, to := giftcard.StateActive, giftcard.StateBlocked
	if !block {
		from, to = to, from
	}
	if c.state != from {
		if !errors.Is(err, giftcard.ErrInvalidTransition) {
			t.Fatalf("%s of %s (%v): %v; want ErrInvalidTransition", op, c.id, c.state, err)
		}
		return
	}
	if err != nil || !strings.Contains(digest, to.String()) {
		t.Fatalf("%s of %s (%v) = %s, %v; want %v", op, c.id, c.state, digest, err, to)
	}
	c.state = to
}

// CancelCard has the issuer take a card back through
// giftcard.Service.Cancel, retrying at once through faults: a pending or
// active card not opened is voided within 24 hours of its issue
// (giftcard.ErrCancelWindow after); any other card is refused with
// giftcard.ErrInvalidTransition.
func (m *system[T]) CancelCard(t *rapid.T) {
	c := m.pickCard(t)
	if m.busy(c) {
		return
	}
	key := m.key("cancel-card")
	ctx := m.actor(t)
	run := func() (string, error) {
		got, err := m.env.Cards.Cancel(ctx, c.id, key)
		return fmt.Sprintf("%s %v %v", got.ID, got.State, got.Value), err
	}
	now := m.env.Clock.Now()
	digest, err := retryFaults(m, t, run)
	m.record(t, "cancel card "+c.id, run, digest, err)
	switch {
	case c.state != giftcard.StatePending && c.state != giftcard.StateActive:
		if !errors.Is(err, giftcard.ErrInvalidTransition) {
			t.Fatalf("cancel of %s (%v, opened %v): %v; want ErrInvalidTransition", c.id, c.state, c.opened(), err)
		}
	case !now.Before(c.issuedAt.Add(24 * time.Hour)):
		if !errors.Is(err, giftcard.ErrCancelWindow) {
			t.Fatalf("cancel of %s issued at %v, at %v: %v; want ErrCancelWindow", c.id, c.issuedAt, now, err)
		}
	case err != nil:
		t.Fatalf("cancel of %s (%v) issued at %v, at %v: %v", c.id, c.state, c.issuedAt, now, err)
	default:
		c.state = giftcard.StateVoided
	}
}

// Clawback has an operator take back a card's value, all that is left of
// it or a part: an unredeemed card loses it (voided when it is all), a
// redeemed card's account gives back what it has available, credit of the
// card's class first, and reports the rest as a shortfall.
func (m *system[T]) Clawback(t *rapid.T) {
	c := m.pickCard(t)
	if m.busy(c) {
		return
	}
	cur := c.value.Currency()
	k := sysKey{c.redeemer, cur}
	if c.state == giftcard.StateRedeemed && m.uncertainAccounts[k] {
		return
	}
	if c.opened() {
		for _, mv := range m.moves[k] {
			if m.uncertainAccounts[mv.to] {
				return // the model cannot tell what a clawback finds there
			}
		}
	}
	left := c.value.Minor()
	if c.state == giftcard.StateRedeemed {
		left -= c.clawed
	}
	var amount giftkit.Money // all that is left
	if rapid.Bool().Draw(t, "part") {
		amount = giftkit.FromMinor(rapid.Int64Range(1, c.value.Minor()+10).Draw(t, "amount"), cur)
	}
	asked := left
	if amount.Currency().IsValid() {
		asked = amount.Minor()
	}
	ctx, valid := m.operator(t)
	key := m.key("clawback")
	now := m.env.Clock.Now()
	if c.state == giftcard.StateRedeemed {
		m.touch(k)
	}
	got, err := retryFaults(m, t, func() (wallet.Clawback, error) { return m.env.Wallet.Clawback(ctx, c.id, amount, key) })
	switch {
	case !valid:
		if !errors.Is(err, activity.ErrInvalidActor) {
			t.Fatalf("Clawback by an invalid operator: %v; want ErrInvalidActor", err)
		}
		return
	case c.state == giftcard.StateVoided:
		if !errors.Is(err, giftcard.ErrInvalidTransition) {
			t.Fatalf("Clawback of a voided card: %v; want ErrInvalidTransition", err)
		}
		return
	case asked <= 0 || asked > left:
		if !errors.Is(err, giftcard.ErrInvalidRequest) {
			t.Fatalf("Clawback of %d with %d left: %v; want ErrInvalidRequest", asked, left, err)
		}
		return
	case err != nil:
		t.Fatalf("Clawback of %d with %d left: %v", asked, left, err)
	}
	recovered := asked
	switch {
	case c.state == giftcard.StateRedeemed:
		// A blocked account (an opened card's) shelters nothing: the block
		// is lifted, the value taken, and the block put back.
		recovered = m.takeBlocked(k, asked, c.class, now)
		if c.opened() { // a card spent directly: follow its value one step
			for _, mv := range m.moves[k] {
				if recovered == asked {
					break
				}
				recovered += m.takeBlocked(mv.to, min(asked-recovered, mv.amount), c.class, now)
			}
		}
		c.clawed += asked
	case asked == c.value.Minor():
		c.state = giftcard.StateVoided
	default:
		c.value = giftkit.FromMinor(c.value.Minor()-asked, cur)
		m.issued[cur] -= asked
	}
	if got.Asked.Minor() != asked || got.Recovered.Minor() != recovered || got.Shortfall.Minor() != asked-recovered ||
		got.Voided != (c.state == giftcard.StateVoided) {
		t.Fatalf("Clawback = %+v; the model says asked %d, recovered %d, voided %v", got, asked, recovered, c.state == giftcard.StateVoided)
	}
}

// checkLedger checks that every chain of activity records verifies and
// replays to the card or account it describes (CheckActivity), and that
// the liability report at the current instant, computed from the log
// alone, equals what the live cards and accounts owe, per currency.
func (m *system[T]) checkLedger(t *rapid.T, balances map[giftkit.Currency]int64) {
	CheckActivity(t, giftkit.Store[T](m.faults))
	ctx := context.Background()
	now := m.env.Clock.Now()
	owed := map[giftkit.Currency]int64{}
	for _, c := range m.cards {
		if got := m.live.read[c.id]; (got.State == giftcard.StateActive || got.State == giftcard.StateBlocked) && !got.ActivatedAt.IsZero() && !got.Expired(now) {
			owed[got.Value.Currency()] += got.Value.Minor()
		}
	}
	led, err := ledger.NewService(giftkit.Store[T](m.faults))
	if err != nil {
		t.Fatalf("ledger.NewService: %v", err)
	}
	l, err := led.Liability(ctx, now)
	if err != nil {
		t.Fatalf("Liability: %v", err)
	}
	cards, accounts := perCurrency(l)
	for _, cur := range sysCurrencies {
		if cards[cur] != owed[cur] || accounts[cur] != balances[cur] {
			t.Fatalf("%v: the liability report at %v says cards %d, accounts %d; the live services owe %d on cards and %d in accounts",
				cur, now, cards[cur], accounts[cur], owed[cur], balances[cur])
		}
	}
	// Steps at one instant: the report at it is the last one's.
	if n := len(m.past); n > 0 && m.past[n-1].at.Equal(now) {
		m.past = m.past[:n-1]
	}
	m.past = append(m.past, pastLiability{at: now, cards: owed, accounts: balances})
	m.checkPastLiability(t, led)
	m.checkFutureLiability(t, led)
}

// perCurrency sums a liability's lines per currency, on cards and in
// accounts.
func perCurrency(l ledger.Liability) (cards, accounts map[giftkit.Currency]int64) {
	cards, accounts = map[giftkit.Currency]int64{}, map[giftkit.Currency]int64{}
	for _, line := range l.Lines {
		cards[line.Currency] += line.Cards.Minor()
		accounts[line.Currency] += line.Accounts.Minor()
	}
	return cards, accounts
}

// pastLiability is what the live services owed at one step's instant.
type pastLiability struct {
	at              time.Time
	cards, accounts map[giftkit.Currency]int64
}

// checkPastLiability checks the report at the instant of an earlier step,
// computed now from a log that has grown since: it must give what the live
// services owed then.
func (m *system[T]) checkPastLiability(t *rapid.T, led *ledger.Service) {
	if len(m.past) < 2 {
		return // only the current instant, which checkLedger checked
	}
	p := m.past[rapid.IntRange(0, len(m.past)-2).Draw(t, "past step")]
	l, err := led.Liability(context.Background(), p.at)
	if err != nil {
		t.Fatalf("Liability: %v", err)
	}
	cards, accounts := perCurrency(l)
	for _, cur := range sysCurrencies {
		if cards[cur] != p.cards[cur] || accounts[cur] != p.accounts[cur] {
			t.Fatalf("%v: the liability report at %v, a past step, says cards %d, accounts %d; the live services owed %d and %d then",
				cur, p.at, cards[cur], accounts[cur], p.cards[cur], p.accounts[cur])
		}
	}
}

// checkFutureLiability checks the report at an instant ahead, which no
// call has swept yet: the log's accounts must be swept at that instant as
// the wallet would (the model's accounts, swept there, say what they
// hold), and cards that will have expired owe nothing.
func (m *system[T]) checkFutureLiability(t *rapid.T, led *ledger.Service) {
	ctx := context.Background()
	at := m.env.Clock.Now().Add(time.Duration(rapid.IntRange(0, 300).Draw(t, "report hours ahead")) * time.Hour)
	want := map[giftkit.Currency]int64{}
	unsure := map[giftkit.Currency]bool{}
	for k, a := range m.accounts {
		if m.uncertainAccounts[k] {
			unsure[k.cur] = true
			continue
		}
		future := a.clone()
		future.sweep(at)
		total, _ := future.balance()
		want[k.cur] += total
	}
	l, err := led.Liability(ctx, at)
	if err != nil {
		t.Fatalf("Liability: %v", err)
	}
	got := map[giftkit.Currency]int64{}
	for _, line := range l.Lines {
		got[line.Currency] += line.Accounts.Minor()
	}
	for _, cur := range sysCurrencies {
		if !unsure[cur] && got[cur] != want[cur] {
			t.Fatalf("%v: the liability report at %v (ahead) says accounts %d; the model's accounts swept then hold %d", cur, at, got[cur], want[cur])
		}
	}
}
