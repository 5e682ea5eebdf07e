package storetest

import (
	"context"
	"errors"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// The invariants, checked after every step from the system's own records
// (balances, journals, cards, payments and the processor's ledger), and
// compared with the model wherever the model knows the state.

// Check runs after every step (rapid's "" action). It checks invariants 1
// to 4 of [System], the processor-key half of 7, and the orphan-hold half
// of 6: every account holds just what its open payments hold. settle checks
// the rest of 6 at the end of the run; the actions check 5 (Retry) and the
// error half of 7 (record, noLeak) as each call returns.
func (m *system[T]) Check(t *rapid.T) {
	m.check(t, false)
}

// check checks the invariants in order: processor keys, accounts and their
// journals, cards, conservation per currency, payments, holds. settled adds
// the invariant that holds only once every interrupted call was retried and
// open payments swept: every authorisation belongs to a payment.
func (m *system[T]) check(t *rapid.T, settled bool) {
	m.disarm()
	if reuses := m.proc.KeyReuses(); len(reuses) > 0 {
		t.Fatalf("two processor calls were given one key: %s", reuses[0])
	}
	m.live = live{accounts: map[sysKey][2]int64{}, cards: map[string]int64{}, payments: map[string]checkout.Payment{}}
	flows, balances, held := m.checkAccounts(t)
	unredeemed, voided := m.checkCards(t)
	m.checkConservation(t, flows, balances, unredeemed, voided)
	m.checkLedger(t, balances)
	authsSeen, openHolds := m.checkPayments(t)
	m.checkHolds(t, held, openHolds)
	m.checkOutbox(t, m.live)
	if settled {
		m.checkAuths(t, authsSeen)
	}
}

// checkAccounts checks every account of the run: no amount below zero, the
// balance the model expects (unless an interrupted call left it unknown),
// and a journal that sums to the balance. It returns the journals' flows
// per currency and entry kind, the balances summed per currency, and what
// each account holds.
func (m *system[T]) checkAccounts(t *rapid.T) (flows map[giftkit.Currency]map[wallet.EntryKind]int64, balances map[giftkit.Currency]int64, held map[sysKey]int64) {
	ctx := context.Background()
	flows = map[giftkit.Currency]map[wallet.EntryKind]int64{}
	balances = map[giftkit.Currency]int64{}
	held = map[sysKey]int64{} // what each account holds
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
			sum, heldSum := m.journal(ctx, t, owner, cur, flows[cur])
			if sum != b.Balance.Minor() || heldSum != b.Held.Minor() {
				t.Fatalf("%s %v: journal sums to %d held %d; balance %v held %v", owner, cur, sum, heldSum, b.Balance, b.Held)
			}
			balances[cur] += b.Balance.Minor()
			held[k] = b.Held.Minor()
			m.live.accounts[k] = [2]int64{b.Balance.Minor(), b.Held.Minor()}
		}
	}
	return flows, balances, held
}

// journal reads the whole journal of owner in cur, page by page, adds each
// entry's amount to flows under its kind, and returns the sums of the
// entries' amounts and held amounts.
func (m *system[T]) journal(ctx context.Context, t *rapid.T, owner string, cur giftkit.Currency, flows map[wallet.EntryKind]int64) (sum, heldSum int64) {
	for after := int64(0); ; {
		page, err := m.env.Wallet.History(ctx, owner, cur, after, wallet.MaxPageSize)
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		for _, e := range page.Entries {
			sum += e.Amount.Minor()
			heldSum += e.Held.Minor()
			flows[e.Kind] += e.Amount.Minor()
		}
		if page.Next == 0 {
			break
		}
		after = page.Next
	}
	return sum, heldSum
}

// checkCards checks every card against the model, and returns the value of
// the cards not redeemed (voided ones aside) and of the voided ones, per
// currency.
func (m *system[T]) checkCards(t *rapid.T) (unredeemed, voided map[giftkit.Currency]int64) {
	ctx := context.Background()
	unredeemed, voided = map[giftkit.Currency]int64{}, map[giftkit.Currency]int64{}
	for _, c := range m.cards {
		got, err := m.env.Cards.Card(ctx, c.id)
		if err != nil {
			t.Fatalf("Card(%s): %v", c.id, err)
		}
		m.live.cards[c.id] = got.Outstanding().Minor()
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
	return unredeemed, voided
}

// checkConservation checks invariants 1 and 3 per currency: every unit
// issued is unredeemed, in a balance, spent net of refunds, expired or
// voided; and the wallets were credited exactly the value of the cards
// redeemed.
func (m *system[T]) checkConservation(t *rapid.T, flows map[giftkit.Currency]map[wallet.EntryKind]int64, balances, unredeemed, voided map[giftkit.Currency]int64) {
	for _, cur := range sysCurrencies {
		f := flows[cur]
		spent, refunded, expired := -f[wallet.EntryCapture], f[wallet.EntryRefund], -f[wallet.EntryExpiry]
		clawed, adjusted := -f[wallet.EntryClawback], f[wallet.EntryAdjustment]
		if got := unredeemed[cur] + balances[cur] + spent - refunded + expired + voided[cur] + clawed - adjusted; got != m.issued[cur] {
			t.Fatalf("%v not conserved: unredeemed %d + balances %d + spent %d − refunded %d + expired %d + voided %d + clawed back %d − adjusted %d = %d; issued %d",
				cur, unredeemed[cur], balances[cur], spent, refunded, expired, voided[cur], clawed, adjusted, got, m.issued[cur])
		}
		if f[wallet.EntryCredit]+unredeemed[cur]+voided[cur] != m.issued[cur] {
			t.Fatalf("%v: credits %d + unredeemed %d + voided %d != issued %d: a card was credited twice or not at all",
				cur, f[wallet.EntryCredit], unredeemed[cur], voided[cur], m.issued[cur])
		}
	}
}

// checkPayments checks every payment of the run on its own and against the
// processor (checkPayment), and against the model where the model knows its
// state. It returns the processor authorisations the payments record, and
// what the payments with a live hold hold, per account.
func (m *system[T]) checkPayments(t *rapid.T) (authsSeen map[string]bool, openHolds map[sysKey]int64) {
	ctx := context.Background()
	authsSeen = map[string]bool{}
	openHolds = map[sysKey]int64{}
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
		m.live.payments[id] = p
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
	return authsSeen, openHolds
}

// checkHolds checks that every account holds exactly what its open payments
// hold, unless an interrupted call left the account unknown: a hold no
// payment accounts for is an orphan.
func (m *system[T]) checkHolds(t *rapid.T, held, openHolds map[sysKey]int64) {
	for k, h := range held {
		if h != openHolds[k] && !m.uncertainAccounts[k] {
			t.Fatalf("%v: %d held, but open payments hold %d: an orphan hold", k, h, openHolds[k])
		}
	}
}

// checkAuths checks that every authorisation the processor holds belongs to
// a payment, which holds only once the run has settled.
func (m *system[T]) checkAuths(t *rapid.T, authsSeen map[string]bool) {
	for _, a := range m.proc.Auths() {
		if !authsSeen[a.ID] {
			t.Fatalf("authorisation %s (%+v) belongs to no payment", a.ID, a)
		}
	}
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
