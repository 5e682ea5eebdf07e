package storetest

import (
	"context"
	"errors"
	"fmt"
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

// The actions of the state machine. rapid finds them by reflection: every
// exported method of system with the signature func(*rapid.T) is an action
// (the adversary's are in adversary.go), and Check, in invariants.go, runs
// after each one. An action never skips: when what it needs is missing, it
// makes it (a card, a payment), so that any sequence rapid or the fuzzer
// draws is a valid run. An action that calls the system checks the
// outcome against the model, then moves the model as the call did.

// pickCard draws a card of the model, issuing one if there is none: actions
// never skip, so that any byte string the fuzzer makes is a valid run.
func (m *system[T]) pickCard(t *rapid.T) *mCard {
	if len(m.cards) == 0 {
		m.Issue(t)
	}
	return m.cards[rapid.IntRange(0, len(m.cards)-1).Draw(t, "card")]
}

// Issue issues one to three cards of one value and currency, pending now
// and then, expiring or not, and adds them to the model and to what was
// issued. It runs without faults and must succeed.
func (m *system[T]) Issue(t *rapid.T) {
	cur := rapid.SampledFrom(sysCurrencies).Draw(t, "currency")
	value := giftkit.FromMinor(rapid.Int64Range(1, 20000).Draw(t, "value"), cur)
	count := rapid.IntRange(1, 3).Draw(t, "count")
	pending := rapid.IntRange(0, 4).Draw(t, "pending") == 0
	class := rapid.SampledFrom([]giftkit.ValueClass{giftkit.ClassPurchased, giftkit.ClassPromotional}).Draw(t, "class")
	var expires time.Time
	if rapid.Bool().Draw(t, "expires") {
		expires = m.env.Clock.Now().Add(time.Duration(rapid.IntRange(1, 200).Draw(t, "hours")) * time.Hour)
	}
	// Issuance runs without faults: its replay returns no codes, so a
	// caller who lost them voids the batch, which the Admin action covers.
	out, err := m.env.Cards.Issue(m.actor(t), giftcard.IssueRequest{Value: value, Count: count, ExpiresAt: expires, Pending: pending,
		Class: class}, m.key("issue"))
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	for _, ic := range out.Cards {
		state := giftcard.StateActive
		if pending {
			state = giftcard.StatePending
		}
		m.cards = append(m.cards, &mCard{id: ic.Card.ID, code: ic.Code, value: value, state: state, expires: expires, class: class,
			issuedAt: ic.Card.IssuedAt})
		m.issued[cur] += value.Minor()
	}
}

// Admin activates, blocks, unblocks or voids a card, retrying at once
// through store faults: an allowed transition must reach the state the
// model expects, any other must fail with giftcard.ErrInvalidTransition.
// It leaves alone a card an interrupted call may still change (busy): a
// redemption, or a payment that may have opened it.
func (m *system[T]) Admin(t *rapid.T) {
	c := m.pickCard(t)
	if m.busy(c) {
		return // the card's state is uncertain until the interrupted call is retried
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

// Redeem has an owner redeem a card by its code, typed canonically, spaced
// and lower-cased, or without dashes, under a hostile key and maybe a
// fault. The outcome must be the one the model expects, a refusal must not
// name the card unless the caller redeemed it before, and an interrupted
// redemption is left to Retry, which applies it to the model once it
// completes. A card spent as a tender (opened) gives what it has available,
// moved into the owner's account, or giftcard.ErrNoBalance.
func (m *system[T]) Redeem(t *rapid.T) {
	m.redeem(t, m.pickCard(t))
}

// typed returns code as a shopper may type it: canonical, spaced and
// lower-cased, or without dashes.
func typed(t *rapid.T, code codefmt.Code) string {
	input := code.String()
	switch rapid.IntRange(0, 2).Draw(t, "form") {
	case 1:
		input = " " + strings.ToLower(strings.ReplaceAll(input, "-", " ")) + " "
	case 2:
		input = strings.ReplaceAll(input, "-", "")
	}
	return input
}

// redeem is Redeem of card c.
func (m *system[T]) redeem(t *rapid.T, c *mCard) {
	if c.unsure {
		return // an interrupted payment may have opened it
	}
	owner := rapid.SampledFrom(m.owners).Draw(t, "owner")
	input := typed(t, c.code)
	key := m.callKey(t)
	var got wallet.Redeemed
	run := func() (string, error) {
		r, err := m.env.Wallet.Redeem(context.Background(), owner, input, key)
		got = r
		return fmt.Sprintf("%s %v %d %v", r.CardID, r.Amount, r.Entry.Seq, r.Balance), err
	}
	opened := c.opened()
	unsureCard := opened && m.uncertainAccounts[c.key()]
	want := m.redeemOutcome(c, owner)
	m.armFaults(t)
	digest, err := run()
	m.disarm()
	call := m.record(t, "redeem "+c.id, run, digest, err)
	k := sysKey{owner, c.value.Currency()}
	if interrupted(err) {
		m.unsure(k)
		if opened {
			m.unsure(c.key()) // its available value may have moved
		}
		call.run = func() (string, error) { // the retry applies the model once it completes
			d, err := run()
			if err == nil && c.state != giftcard.StateRedeemed {
				m.applyRedeem(c, owner)
			}
			return d, err
		}
		return
	}
	if m.openRedeem(c.id, call) || unsureCard {
		// An earlier redemption of this card was interrupted and may have
		// happened, or the model cannot tell what the opened card has left:
		// either outcome is right until it is retried.
		switch {
		case err == nil && opened:
			m.unsure(k)
		case err == nil:
			m.applyRedeem(c, owner)
		case !errors.Is(err, giftcard.ErrAlreadyRedeemed) && !errors.Is(err, giftcard.ErrNoBalance) && !errors.Is(err, want):
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
	switch {
	case err == nil && opened:
		if moved := m.move(c.key(), k, -1); moved != got.Amount.Minor() {
			t.Fatalf("redeem of opened card %s by %s moved %v; the model says %d", c.id, owner, got.Amount, moved)
		}
	case err == nil:
		m.applyRedeem(c, owner)
	}
}

// RedeemRace has several shoppers redeem one card at the same moment: at
// most one may win, and only if the card could be redeemed. It leaves
// alone a card an interrupted call may still change (busy: a redemption,
// or a payment that may have opened it), and an opened card whose account
// the model cannot tell.
func (m *system[T]) RedeemRace(t *rapid.T) {
	c := m.pickCard(t)
	if m.busy(c) || (c.opened() && m.uncertainAccounts[c.key()]) {
		return // the card, or what its account has available, is the system's to tell
	}
	racers := rapid.IntRange(2, 4).Draw(t, "racers")
	want := m.redeemOutcome(c, "")
	lose := giftcard.ErrAlreadyRedeemed // what the losers get
	if c.opened() {
		lose = giftcard.ErrNoBalance // the winner took all that was available
	}
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
		case want == nil && !errors.Is(err, lose):
			t.Fatalf("racer %d for %s: %v; want success or %v", i, c.id, err, lose)
		case want != nil && want != giftcard.ErrAlreadyRedeemed && !errors.Is(err, want):
			t.Fatalf("racer %d for %s: %v; want %v", i, c.id, err, want)
		}
	}
	if (winner >= 0) != (want == nil) {
		t.Fatalf("card %s: winner %d; the model expected %v", c.id, winner, want)
	}
	if winner < 0 {
		return
	}
	if owner := m.owners[winner%len(m.owners)]; c.opened() {
		m.move(c.key(), sysKey{owner, c.value.Currency()}, -1)
	} else {
		m.applyRedeem(c, owner)
	}
}

// raceKey is the key of racer i in the coming RedeemRace.
func (m *system[T]) raceKey(i int) string { return fmt.Sprintf("race-%d-%d", m.n, i) }

// RedeemTypo redeems a card's code with one character changed: the call
// must fail with a *codefmt.ParseError suggesting exactly that code, and
// must not hold the whole code of any card.
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

// Pay pays an order in one of the wallet's currencies, from the balance
// (unless skipped) and a bank card for the rest, which may be declined or
// missing, maybe under a fault. A card part without a bank card must be
// refused with checkout.ErrInstrumentRequired and create nothing; any
// other completed outcome is checked by applyPay. A payment interrupted,
// or made in an account the model cannot tell, is left uncertain.
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

// applyPay moves the model as a completed Pay does: each gift card's part
// is held on its account and the balance part on the shopper's, then
// captured at once with CaptureNow; a declined bank card leaves nothing
// held.
func (m *system[T]) applyPay(t *rapid.T, p *mPayment, err error) {
	now := m.env.Clock.Now()
	m.touchAll(p)
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
	for _, tn := range p.cards {
		m.account(tn.card.key()).hold(p.holdID, tn.planned, p.expires, now)
	}
	if p.balance > 0 {
		m.account(sysKey{p.owner, p.total.Currency()}).hold(p.holdID, p.balance, p.expires, now)
	}
	p.state = checkout.StateAuthorized
	if p.mode == checkout.CaptureNow {
		m.applyCapture(p, p.total.Minor(), true)
	}
}

// pickPayment draws a payment of the model in one of the given states,
// half the time one that spends gift cards by code, or returns nil after
// paying a new order (with gift cards or without) if there is none.
func (m *system[T]) pickPayment(t *rapid.T, states ...checkout.State) *mPayment {
	var ids, withCards []string
	for _, id := range m.order {
		p := m.payments[id]
		for _, s := range states {
			if p.state == s && !p.uncertain {
				ids = append(ids, id)
				if len(p.cards) > 0 {
					withCards = append(withCards, id)
				}
			}
		}
	}
	cards := rapid.Bool().Draw(t, "a payment with gift cards")
	switch {
	case cards && len(withCards) == 0:
		m.PayWithCards(t) // for a later action to find
		return nil
	case cards:
		ids = withCards // as often as the others, though they are fewer
	case len(ids) == 0:
		m.Pay(t)
		return nil
	}
	return m.payments[rapid.SampledFrom(ids).Draw(t, "payment")]
}

// Capture captures part or all of an authorised CaptureLater payment,
// maybe under a fault (paying a new order if none is authorised). It must
// succeed while the hold is live and fail with checkout.ErrExpired once it
// has lapsed. Now and then the bank declines to capture its part: the
// call fails with checkout.ErrDeclined, and what the gift cards and the
// balance gave goes back to them as refund credit.
func (m *system[T]) Capture(t *rapid.T) {
	p := m.pickPayment(t, checkout.StateAuthorized)
	if p == nil || p.mode != checkout.CaptureLater {
		return // nothing to capture: CaptureNow payments were captured by Pay
	}
	amount := rapid.Int64Range(1, p.total.Minor()).Draw(t, "amount")
	run := m.captureCall(p, amount, m.callKey(t))
	gift := p.total.Minor() - p.card // the gift cards' and the balance's parts
	live := m.env.Clock.Now().Before(p.expires)
	decline := live && amount > gift && rapid.IntRange(0, 2).Draw(t, "bank declines the capture") == 0
	if decline {
		m.proc.Queue(processortest.OpCapture, processortest.Decline)
	} else {
		m.armFaults(t)
	}
	digest, err := run()
	m.disarm()
	m.record(t, "capture "+p.id, run, digest, err).payment = p
	if interrupted(err) {
		m.unsurePayment(p)
		p.uncertain = true
		return
	}
	switch {
	case !live:
		if !errors.Is(err, checkout.ErrExpired) {
			t.Fatalf("capture of expired %s: %v; want ErrExpired", p.id, err)
		}
		m.touchAll(p) // the lapsed holds were released by the sweep
		p.state = checkout.StateExpired
	case decline:
		var d *checkout.DeclineError
		if !errors.Is(err, checkout.ErrDeclined) || !errors.As(err, &d) {
			t.Fatalf("capture %s the bank declines: %v; want ErrDeclined with a *DeclineError", p.id, err)
		}
		m.applyCaptureDeclined(p, amount)
	case err != nil:
		t.Fatalf("capture %s: %v", p.id, err)
	default:
		m.applyCapture(p, amount, true)
	}
}

// Cancel cancels an authorised payment, maybe under a fault (paying a new
// order if none is authorised): it must succeed and release the hold.
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
		m.unsurePayment(p)
		p.uncertain = true
		return
	}
	if err != nil {
		t.Fatalf("cancel %s: %v", p.id, err)
	}
	m.releaseAll(p)
	p.state = checkout.StateCancelled
}

// Refund refunds part of what a captured payment has left, maybe under a
// fault (paying a new order if none is captured). It must succeed; the
// model refunds the bank card first, then the balance, then the gift cards
// given by code from the last spent to the first, crediting what goes back
// to a balance or a card as refund credit that never expires.
func (m *system[T]) Refund(t *rapid.T) {
	p := m.pickPayment(t, checkout.StateCaptured)
	if p == nil {
		return
	}
	left := p.refundable()
	if left == 0 {
		return // fully refunded
	}
	amount := rapid.Int64Range(1, left).Draw(t, "amount")
	key := m.callKey(t)
	run := func() (string, error) {
		got, err := m.co.Refund(context.Background(), p.id, giftkit.FromMinor(amount, p.total.Currency()), key)
		for _, r := range got.Refunds {
			if r.Key == key {
				return fmt.Sprintf("%s %v %v %v %v", got.ID, r.Amount, r.Balance, r.Card, r.Cards), err
			}
		}
		return got.ID, err
	}
	m.armFaults(t)
	digest, err := run()
	m.disarm()
	m.record(t, "refund "+p.id, run, digest, err).payment = p
	// The refund is recorded before any processor call, so even an
	// interrupted one settles on retry or sweep; the model leaves it to the
	// system and checks the invariants, which hold whatever happened.
	if err != nil && !interrupted(err) {
		t.Fatalf("refund %s: %v", p.id, err)
	}
	if interrupted(err) {
		m.unsurePayment(p)
		p.uncertain = true
		return
	}
	m.applyRefund(p, amount)
}

// Advance moves the clock on by 1 to 72 hours, so that holds, lots and
// cards lapse; the next Check compares the system with the swept model.
func (m *system[T]) Advance(t *rapid.T) {
	m.env.Clock.Advance(time.Duration(rapid.IntRange(1, 72).Draw(t, "hours")) * time.Hour)
}

// Sweep runs checkout's Sweep, reading pages of 1 to 3 payments, maybe
// under a fault. It must fail only with an injected fault; a completed
// sweep expires every lapsed authorised payment, whatever page it is on; an
// interrupted one leaves them uncertain.
func (m *system[T]) Sweep(t *rapid.T) {
	page := rapid.IntRange(1, 3).Draw(t, "page")
	m.armFaults(t)
	_, _, err := m.co.Sweep(context.Background(), page)
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
