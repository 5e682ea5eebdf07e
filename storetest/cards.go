package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// The actions on cards spent directly: payments that give cards by code,
// reloads, loads onto accounts, transfers and merges between cards,
// redemptions of opened cards and balance checks. The first of them that
// needs a card's value moves it into the card's own account (the model's
// openCard), once.

// unknownCode draws a well-formed code that no card has.
func unknownCode(t *rapid.T) codefmt.Code {
	seed := rapid.Uint64().Draw(t, "unknown code")
	code, err := codefmt.Generate(rand.NewChaCha8([32]byte{'u', byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)}))
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return code
}

// otherCurrency returns a currency of the run other than cur.
func otherCurrency(cur giftkit.Currency) giftkit.Currency {
	i := slices.Index(sysCurrencies, cur)
	return sysCurrencies[(i+1)%len(sysCurrencies)]
}

// cardRefused reports whether err is a refusal of a card given by code,
// which counts as a failed guess.
func cardRefused(err error) bool {
	return errors.Is(err, giftcard.ErrNotRedeemable) || errors.Is(err, giftcard.ErrAlreadyRedeemed) ||
		errors.Is(err, giftcard.ErrExpired) || errors.Is(err, giftcard.ErrNoBalance)
}

// mFund is what a card given by code can pay, as the planner sees it.
type mFund struct {
	card  *mCard
	avail int64
	lapse time.Time // the soonest expiry of its available value; zero: never
}

// spendingOrder sorts funds as checkout.SpendingOrder does: soonest lapse
// first (never last), then the smallest, then by card ID.
func spendingOrder(funds []mFund) {
	slices.SortStableFunc(funds, func(x, y mFund) int {
		switch {
		case !x.lapse.Equal(y.lapse) && (y.lapse.IsZero() || (!x.lapse.IsZero() && x.lapse.Before(y.lapse))):
			return -1
		case !x.lapse.Equal(y.lapse):
			return 1
		}
		if c := cmp.Compare(x.avail, y.avail); c != 0 {
			return c
		}
		return cmp.Compare(x.card.id, y.card.id)
	})
}

// pickSpendable draws a card to spend: mostly one the model expects to be
// spendable with value on it (issuing cards if there is none), now and
// then any card. With other set, it draws a card of other's currency other
// than it, or returns nil if there is none.
func (m *system[T]) pickSpendable(t *rapid.T, other *mCard) *mCard {
	now := m.env.Clock.Now()
	var all, good []*mCard
	for _, c := range m.cards {
		if other != nil && (c == other || c.value.Currency() != other.value.Currency()) {
			continue
		}
		all = append(all, c)
		if m.busy(c) || m.spendable(c) != nil || (c.opened() && m.touch(c.key()).available(now) == 0) {
			continue
		}
		good = append(good, c)
	}
	if len(good) == 0 && other == nil {
		m.Issue(t)
		return m.cards[len(m.cards)-1]
	}
	switch {
	case len(good) > 0 && rapid.IntRange(0, 5).Draw(t, "any card") > 0:
		return rapid.SampledFrom(good).Draw(t, "spendable card")
	case len(all) > 0:
		return rapid.SampledFrom(all).Draw(t, "card")
	}
	return nil
}

// cardParts is a payment's gift-card tenders, for a digest.
func cardParts(p checkout.Payment) string {
	var b strings.Builder
	for _, t := range p.Cards {
		fmt.Fprintf(&b, "[%s %s %v]", t.CardID, t.Masked, t.Planned)
	}
	return b.String()
}

// PayWithCards pays an order with one or two gift cards given by code (any
// card of the run, in any state, typed in any form, or a code no card
// has), by an owner or a guest, with the balance (an owner's, unless
// skipped) and a bank card, which may be declined or missing, for the
// rest, maybe under a fault. The first code in the order given that names
// no usable card must be refused with giftcard's uniform kinds
// (ErrNotRedeemable for an unknown, pending, blocked (opened or not) or
// voided card, ErrAlreadyRedeemed, ErrExpired, ErrNoBalance), without
// naming the card, and count as one failed guess; nothing else counts.
// Otherwise the order is planned as the model's spendingOrder says, the
// cards it spends (and only those) are opened, and applyPay and Check
// check the rest. A payment interrupted, or whose accounts the model
// cannot tell, is left uncertain.
func (m *system[T]) PayWithCards(t *rapid.T) {
	first := m.pickSpendable(t, nil)
	cur := first.value.Currency()
	given := []*mCard{first}
	if rapid.Bool().Draw(t, "two cards") {
		if second := m.pickSpendable(t, first); second != nil {
			given = append(given, second)
		}
	}
	codes := make([]string, len(given))
	for i, c := range given {
		codes[i] = typed(t, c.code)
	}
	if rapid.IntRange(0, 9).Draw(t, "unknown code") == 0 {
		i := rapid.IntRange(0, len(given)-1).Draw(t, "unknown at")
		codes[i], given[i] = unknownCode(t).String(), nil
	}
	var known []*mCard
	for _, c := range given {
		if c != nil && m.busy(c) {
			return // an interrupted call may still change it
		}
		if c != nil {
			known = append(known, c)
		}
	}
	owner := ""
	if rapid.IntRange(0, 3).Draw(t, "guest") > 0 {
		owner = rapid.SampledFrom(m.owners).Draw(t, "owner")
	}
	now := m.env.Clock.Now()
	// What the model expects: the first refusal in the order given, or a
	// fund for each card.
	var refusal error
	uncertain := owner != "" && m.uncertainAccounts[sysKey{owner, cur}]
	var funds []mFund
	for _, c := range given {
		switch {
		case c == nil, c.opened() && c.blocked:
			refusal = giftcard.ErrNotRedeemable // a blocked card is refused as an unknown code is
		case c.opened():
			uncertain = uncertain || m.uncertainAccounts[c.key()]
			a := m.touch(c.key())
			if avail := a.available(now); avail > 0 {
				funds = append(funds, mFund{c, avail, a.nextLapse(now)})
			} else {
				refusal = giftcard.ErrNoBalance
			}
		default:
			if refusal = m.spendable(c); refusal == nil {
				funds = append(funds, mFund{c, c.value.Minor(), c.expires})
			}
		}
		if refusal != nil {
			break
		}
	}
	var sum int64
	for _, f := range funds {
		sum += f.avail
	}
	skip := rapid.IntRange(0, 4).Draw(t, "skip") == 0
	var balance int64
	if owner != "" && !skip {
		balance = m.touch(sysKey{owner, cur}).available(now)
	}
	total := rapid.Int64Range(1, sum+balance+3000).Draw(t, "total")
	mode := rapid.SampledFrom([]checkout.CaptureMode{checkout.CaptureNow, checkout.CaptureLater}).Draw(t, "mode")
	instrument := rapid.SampledFrom([]string{"tok_visa", "tok_visa", "tok_visa", processortest.DeclinedInstrument, ""}).Draw(t, "instrument")
	id := m.paymentID(t)
	p := &mPayment{id: id, owner: owner, total: giftkit.FromMinor(total, cur), mode: mode, holdID: "pay/" + id}
	spendingOrder(funds)
	left := total
	for _, f := range funds {
		if n := min(f.avail, left); n > 0 {
			p.cards = append(p.cards, &mTender{card: f.card, planned: n})
			left -= n
		}
	}
	p.balance = min(balance, left)
	p.card = left - p.balance
	p.declined = p.card > 0 && instrument == processortest.DeclinedInstrument
	req := checkout.PayRequest{PaymentID: id, Owner: owner, Total: p.total, Instrument: instrument, Mode: mode, SkipBalance: skip, Codes: codes}
	key := m.callKey(t)
	run := func() (string, error) {
		got, err := m.co.Pay(context.Background(), req, key)
		return fmt.Sprintf("%q %v %v %s", got.ID, got.Balance.Planned, got.Card.Planned, cardParts(got)), err
	}
	guesses := m.limiter.guesses()
	m.armFaults(t)
	digest, err := run()
	m.disarm()
	if !interrupted(err) {
		if got, want := m.limiter.guesses()-guesses, b2i(cardRefused(err)); got != want {
			t.Fatalf("pay %q with cards: %v counted %d failed guesses; want %d", id, err, got, want)
		}
	}
	opens := err == nil || errors.Is(err, checkout.ErrDeclined) // the cards were opened
	switch {
	case interrupted(err), uncertain:
		// The invariants still hold whatever happened; the model learns
		// whether the cards were opened once the call is over (resync).
		m.payments[id] = p
		m.order = append(m.order, id)
		call := m.record(t, "pay with cards "+id, run, digest, err)
		call.payment, p.uncertain = p, true
		for _, c := range known {
			switch {
			case c.opened():
			case interrupted(err):
				c.unsure = true
				call.cards = append(call.cards, c)
			case opens:
				c.unsure = true // the next Check reads whether the payment spent it
			default:
				continue // refused: nothing was opened
			}
			m.unsure(c.key())
		}
		if owner != "" {
			m.unsure(sysKey{owner, cur})
		}
		return
	case refusal != nil:
		if !errors.Is(err, refusal) {
			t.Fatalf("pay %q with cards %v: %v; want %v", id, codes, err, refusal)
		}
		for _, c := range known {
			if strings.Contains(describe(err), c.id) {
				t.Fatalf("pay %q with cards: the refusal %s names card %s", id, describe(err), c.id)
			}
		}
		m.record(t, "pay with refused cards "+id, run, digest, err)
		return
	case p.card > 0 && instrument == "":
		if !errors.Is(err, checkout.ErrInstrumentRequired) {
			t.Fatalf("pay %q of %v with cards and no bank card: %v; want ErrInstrumentRequired", id, p.total, err)
		}
		m.record(t, "pay with cards without a bank card "+id, run, digest, err)
		return
	}
	m.payments[id] = p
	m.order = append(m.order, id)
	m.record(t, "pay with cards "+id, run, digest, err).payment = p
	for _, tn := range p.cards {
		m.openCard(tn.card) // only a card the payment spends: one the plan leaves out stays as it was
	}
	m.applyPay(t, p, err)
}

// Reload buys value onto a card (opening its account if it has none), now
// and then in a currency the card does not hold, retrying at once through
// faults. It must succeed for a card that is opened or active, and
// unexpired; be refused as spending the card would be otherwise, and with
// giftcard.ErrExpired for an opened card past its own expiry. What it adds is
// purchased value expiring with the card, and new money in.
func (m *system[T]) Reload(t *rapid.T) {
	c := m.pickSpendable(t, nil)
	if m.busy(c) {
		return
	}
	cur := c.value.Currency()
	amount := giftkit.FromMinor(rapid.Int64Range(1, 5000).Draw(t, "amount"), cur)
	if rapid.IntRange(0, 9).Draw(t, "other currency") == 0 {
		amount = giftkit.FromMinor(amount.Minor(), otherCurrency(cur))
	}
	key := m.callKey(t)
	var got wallet.CardBalance
	run := func() (string, error) {
		var err error
		got, err = m.env.Wallet.Reload(context.Background(), c.id, amount, "reload", key)
		return fmt.Sprintf("%s %v %v %v %v", got.CardID, got.Balance, got.Held, got.Available, got.Opened), err
	}
	want := m.spendable(c)
	switch {
	case want == nil && m.expired(c):
		want = giftcard.ErrExpired // an opened card past its own expiry takes no more value
	case want == nil && amount.Currency() != cur:
		want = giftkit.ErrCurrencyMismatch
	}
	digest, err := retryFaults(m, t, run)
	m.record(t, "reload "+c.id, run, digest, err)
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("reload %v onto %s (%v, opened %v): %v; want %v", amount, c.id, c.state, c.opened(), err, want)
	}
	if err != nil {
		return
	}
	m.openCard(c)
	a := m.touch(c.key())
	a.credit(amount.Minor(), c.expires, giftkit.ClassPurchased)
	m.loaded[cur] += amount.Minor()
	total, held := a.balance()
	if !m.uncertainAccounts[c.key()] && (got.Balance.Minor() != total || got.Held.Minor() != held || !got.Opened) {
		t.Fatalf("reload onto %s = %+v; the model says balance %d held %d", c.id, got, total, held)
	}
}

// LoadAccount buys value onto a shopper's account, retrying at once
// through faults: purchased value that never expires, and new money in.
// Now and then it names a card's own account as the owner, which must be
// refused with wallet.ErrInvalidOwner.
func (m *system[T]) LoadAccount(t *rapid.T) {
	owner := rapid.SampledFrom(m.owners).Draw(t, "owner")
	cur := rapid.SampledFrom(sysCurrencies).Draw(t, "currency")
	hostile := rapid.IntRange(0, 7).Draw(t, "a card's account") == 0
	if hostile {
		c := m.pickCard(t)
		owner, cur = giftcard.AccountOwner(c.id), c.value.Currency()
	}
	amount := giftkit.FromMinor(rapid.Int64Range(1, 5000).Draw(t, "amount"), cur)
	key := m.callKey(t)
	run := func() (string, error) {
		b, err := m.env.Wallet.Load(context.Background(), owner, amount, "top-up", key)
		return fmt.Sprint(b), err
	}
	digest, err := retryFaults(m, t, run)
	m.record(t, "load "+owner, run, digest, err)
	if hostile {
		if !errors.Is(err, wallet.ErrInvalidOwner) {
			t.Fatalf("load onto a card's account %q: %v; want ErrInvalidOwner", owner, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("load %v onto %q: %v", amount, owner, err)
	}
	m.touch(sysKey{owner, cur}).credit(amount.Minor(), time.Time{}, giftkit.ClassPurchased)
	m.loaded[cur] += amount.Minor()
}

// pickPair draws two cards to move value between: mostly spendable ones
// of one currency, now and then the same card twice (refused). It returns
// nil after issuing cards if the run has no two cards of one currency yet.
func (m *system[T]) pickPair(t *rapid.T) (from, to *mCard) {
	from = m.pickSpendable(t, nil)
	if rapid.IntRange(0, 19).Draw(t, "same card") == 0 {
		return from, from
	}
	if to = m.pickSpendable(t, from); to == nil {
		m.Issue(t)
		return nil, nil
	}
	return from, to
}

// Transfer moves part of one card's available balance to another card
// (all of it, with Merge), opening either's account if it has none,
// retrying at once through faults. The refusals are in the order the
// wallet checks: the same card twice (wallet.ErrInvalidAmount), the first
// card's and then the second's as spending them would be refused, a second
// card past its own expiry (giftcard.ErrExpired), then less available than
// asked (wallet.ErrInsufficientFunds; for a merge,
// nothing available: giftcard.ErrNoBalance). What moves keeps its class
// and expiry, and nothing is created or lost.
func (m *system[T]) Transfer(t *rapid.T) { m.transfer(t, false) }

// Merge moves everything available on one card to another: see Transfer.
func (m *system[T]) Merge(t *rapid.T) { m.transfer(t, true) }

func (m *system[T]) transfer(t *rapid.T, all bool) {
	from, to := m.pickPair(t)
	if from == nil || m.busy(from) || m.busy(to) {
		return
	}
	cur := from.value.Currency()
	now := m.env.Clock.Now()
	var avail int64
	switch {
	case from.opened():
		avail = m.touch(from.key()).available(now)
	case m.spendable(from) == nil:
		avail = from.value.Minor()
	}
	amount := giftkit.Money{}
	if !all {
		amount = giftkit.FromMinor(rapid.Int64Range(1, avail+2).Draw(t, "amount"), cur)
	}
	key := m.callKey(t)
	var got wallet.Transferred
	call := func() (string, error) {
		var err error
		if all {
			got, err = m.env.Wallet.Merge(context.Background(), from.id, to.id, key)
		} else {
			got, err = m.env.Wallet.Transfer(context.Background(), from.id, to.id, amount, key)
		}
		return fmt.Sprintf("%v %v %v %v %v", got.Amount, got.From.Balance, got.From.Held, got.To.Balance, got.To.Held), err
	}
	var want error
	switch {
	case from == to:
		want = wallet.ErrInvalidAmount
	case m.spendable(from) != nil:
		want = m.spendable(from)
	case m.spendable(to) != nil:
		want = m.spendable(to)
	case m.expired(to):
		want = giftcard.ErrExpired // an opened card past its own expiry takes no more value
	case all && avail == 0:
		want = giftcard.ErrNoBalance
	case !all && amount.Minor() > avail:
		want = wallet.ErrInsufficientFunds
	}
	unsure := from.opened() && m.uncertainAccounts[from.key()] && from != to
	digest, err := retryFaults(m, t, call)
	m.noLeak(t, "transfer", err)
	m.record(t, fmt.Sprintf("transfer %s to %s", from.id, to.id), call, digest, err)
	if unsure && (want == nil || errors.Is(want, wallet.ErrInsufficientFunds) || errors.Is(want, giftcard.ErrNoBalance)) {
		// The model cannot tell what the first card has available.
		if err != nil && !errors.Is(err, wallet.ErrInsufficientFunds) && !errors.Is(err, giftcard.ErrNoBalance) {
			t.Fatalf("transfer from %s to %s: %v", from.id, to.id, err)
		}
		if err == nil {
			m.openCard(to)
			m.unsure(to.key())
		}
		return
	}
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("transfer %v (all %v) from %s (%v, opened %v, %d available) to %s (%v, opened %v): %v; want %v",
			amount, all, from.id, from.state, from.opened(), avail, to.id, to.state, to.opened(), err, want)
	}
	if err != nil {
		return
	}
	m.openCard(from)
	m.openCard(to)
	n := amount.Minor()
	if all {
		n = -1
	}
	moved := m.move(from.key(), to.key(), n)
	fromTotal, fromHeld := m.touch(from.key()).balance()
	toTotal, toHeld := m.touch(to.key()).balance()
	switch {
	case got.Amount.Minor() != moved:
		t.Fatalf("transfer from %s to %s moved %v; the model says %d", from.id, to.id, got.Amount, moved)
	case !m.uncertainAccounts[from.key()] && (got.From.Balance.Minor() != fromTotal || got.From.Held.Minor() != fromHeld):
		t.Fatalf("transfer from %s: it has %v held %v; the model says %d held %d", from.id, got.From.Balance, got.From.Held, fromTotal, fromHeld)
	case !m.uncertainAccounts[to.key()] && (got.To.Balance.Minor() != toTotal || got.To.Held.Minor() != toHeld):
		t.Fatalf("transfer to %s: it has %v held %v; the model says %d held %d", to.id, got.To.Balance, got.To.Held, toTotal, toHeld)
	}
}

// RedeemOpened has a shopper redeem a card that was spent as a tender,
// reloaded or moved (reloading one first if there is none): what it has
// available moves into the shopper's account, keeping its class and
// expiry, or the redemption is refused with giftcard.ErrNoBalance.
func (m *system[T]) RedeemOpened(t *rapid.T) {
	var opened []*mCard
	for _, c := range m.cards {
		if c.opened() && !m.busy(c) {
			opened = append(opened, c)
		}
	}
	if len(opened) == 0 {
		m.Reload(t)
		return
	}
	m.redeem(t, rapid.SampledFrom(opened).Draw(t, "opened card"))
}

// CheckBalance reads a card's balance by its code (or a code no card has),
// as a shopper or a guest from some client, retrying at once through
// faults. It changes nothing but the passage of time, must agree with the
// model, refuse what spending would refuse, and count exactly its refusals
// as failed guesses; neither its outcome nor its error may hold the code.
func (m *system[T]) CheckBalance(t *rapid.T) {
	var c *mCard
	var code string
	if rapid.IntRange(0, 5).Draw(t, "unknown code") == 0 {
		code = unknownCode(t).String()
	} else {
		c = m.pickCard(t)
		if m.busy(c) {
			return
		}
		code = typed(t, c.code)
	}
	owner := ""
	if rapid.Bool().Draw(t, "shopper") {
		owner = rapid.SampledFrom(m.owners).Draw(t, "owner")
	}
	ctx := wallet.WithClient(context.Background(), rapid.SampledFrom(guessClients).Draw(t, "client"))
	guesses := m.limiter.guesses()
	got, err := retryFaults(m, t, func() (wallet.CardBalance, error) { return m.env.Wallet.CheckBalance(ctx, owner, code) })
	m.noLeak(t, "check balance", err)
	if n := m.limiter.guesses() - guesses; n != b2i(err != nil) {
		t.Fatalf("balance check: %v counted %d failed guesses; want %d", err, n, b2i(err != nil))
	}
	if c == nil {
		if !errors.Is(err, giftcard.ErrNotRedeemable) {
			t.Fatalf("balance check of an unknown code: %+v, %v; want ErrNotRedeemable", got, err)
		}
		return
	}
	if want := m.spendable(c); !errors.Is(err, want) || (want == nil) != (err == nil) {
		t.Fatalf("balance check of %s (%v): %v; want %v", c.id, c.state, err, want)
	}
	if err != nil {
		if strings.Contains(describe(err), c.id) {
			t.Fatalf("balance check of %s: the refusal %s names the card", c.id, describe(err))
		}
		return
	}
	if strings.Contains(strings.ToUpper(fmt.Sprint(got)), strings.ReplaceAll(c.code.String(), "-", "")) || got.Masked != c.code.Masked() {
		t.Fatalf("balance check of %s: %+v shows the code or masks it otherwise", c.id, got)
	}
	total, held, avail := c.value.Minor(), int64(0), c.value.Minor()
	if c.opened() {
		if m.uncertainAccounts[c.key()] {
			return
		}
		a := m.touch(c.key())
		total, held = a.balance()
		avail = a.available(m.env.Clock.Now())
	}
	if got.CardID != c.id || got.Opened != c.opened() || got.Balance.Minor() != total || got.Held.Minor() != held ||
		got.Available.Minor() != avail || got.Currency != c.value.Currency() || !got.ExpiresAt.Equal(c.expires) {
		t.Fatalf("balance check of %s = %+v; the model says balance %d held %d available %d, opened %v, expires %v",
			c.id, got, total, held, avail, c.opened(), c.expires)
	}
}
