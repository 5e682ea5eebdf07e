package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// The invariants, checked after every step from the system's own records
// (balances, journals, cards, payments and the processor's ledger), and
// compared with the model wherever the model knows the state.

// Check runs after every step (rapid's "" action). It checks invariants 1
// to 4 and 8 and 9 of [System], the processor-key half of 7, and the
// orphan-hold half of 6: every account, a shopper's or a card's own,
// holds just what its open payments hold, and a blocked opened card's
// account what its block holds besides. settle checks the rest of 6 at
// the end of the run; the actions check 5 (Retry) and the error half of 7
// (record, noLeak) as each call returns.
func (m *system[T]) Check(t *rapid.T) {
	m.check(t, false)
}

// check checks the invariants in order: processor keys, cards (read once,
// for the others), accounts and their journals, conservation per
// currency, the ledger, payments, holds, the outbox. settled adds the
// invariant that holds only once every interrupted call was retried and
// open payments swept: every authorisation belongs to a payment.
func (m *system[T]) check(t *rapid.T, settled bool) {
	m.disarm()
	if reuses := m.proc.KeyReuses(); len(reuses) > 0 {
		t.Fatalf("two processor calls were given one key: %s", reuses[0])
	}
	m.live = live{accounts: map[sysKey][2]int64{}, cards: map[string]int64{}, payments: map[string]checkout.Payment{},
		read: make(map[string]giftcard.Card, len(m.cards))}
	m.readCards(t)
	flows, balances, held := m.checkAccounts(t)
	m.live.flows = flows
	unredeemed, voided := m.checkCards(t)
	m.checkConservation(t, flows, balances, unredeemed, voided)
	m.checkLedger(t, balances)
	authsSeen, openHolds := m.checkPayments(t)
	m.addBlockHolds(openHolds)
	m.checkHolds(t, held, openHolds)
	m.checkOutbox(t, m.live)
	if settled {
		m.checkAuths(t, authsSeen)
	}
}

// readCards reads every card of the run for the checks, and settles what
// the model could not tell of a card an interrupted payment may have
// opened, once no call that may open it is still open: if the system
// opened it, so does the model, with an account it cannot tell.
func (m *system[T]) readCards(t *rapid.T) {
	ctx := context.Background()
	for _, c := range m.cards {
		got, err := m.env.Cards.Card(ctx, c.id)
		if err != nil {
			t.Fatalf("Card(%s): %v", c.id, err)
		}
		m.live.read[c.id] = got
		if !c.unsure || m.opening(c) {
			continue
		}
		c.unsure = false
		if got.Opened() && !c.opened() {
			c.state, c.redeemer = giftcard.StateRedeemed, giftcard.AccountOwner(c.id)
			m.unsure(c.key())
		} else if !c.opened() {
			// Never opened: it has no account, which the model knows.
			delete(m.uncertainAccounts, c.key())
			delete(m.accounts, c.key())
		}
	}
}

// checkAccounts checks every account of the run, each shopper's in every
// currency and each opened card's own: no amount below zero, the balance
// the model expects (unless an interrupted call left it unknown), and a
// journal that sums to the balance. It returns the journals' flows per
// currency and entry kind, the balances summed per currency, and what
// each account holds.
func (m *system[T]) checkAccounts(t *rapid.T) (flows map[giftkit.Currency]map[wallet.EntryKind]int64, balances map[giftkit.Currency]int64, held map[sysKey]int64) {
	ctx := context.Background()
	flows = map[giftkit.Currency]map[wallet.EntryKind]int64{}
	for _, cur := range sysCurrencies {
		flows[cur] = map[wallet.EntryKind]int64{}
	}
	balances = map[giftkit.Currency]int64{}
	held = map[sysKey]int64{} // what each account holds
	account := func(k sysKey, b wallet.Balance, journal func(map[wallet.EntryKind]int64) (int64, int64)) {
		if b.Balance.IsNegative() || b.Available.IsNegative() || b.Held.IsNegative() || b.Available.Minor() != b.Balance.Minor()-b.Held.Minor() {
			t.Fatalf("%q %v: %+v is below zero or does not add up", k.owner, k.cur, b)
		}
		if !m.uncertainAccounts[k] {
			total, held := m.touch(k).balance()
			if b.Balance.Minor() != total || b.Held.Minor() != held {
				t.Fatalf("%q %v: balance %v held %v; the model says %d held %d", k.owner, k.cur, b.Balance, b.Held, total, held)
			}
		}
		sum, heldSum := journal(flows[k.cur])
		if sum != b.Balance.Minor() || heldSum != b.Held.Minor() {
			t.Fatalf("%q %v: journal sums to %d held %d; balance %v held %v", k.owner, k.cur, sum, heldSum, b.Balance, b.Held)
		}
		balances[k.cur] += b.Balance.Minor()
		held[k] = b.Held.Minor()
		m.live.accounts[k] = [2]int64{b.Balance.Minor(), b.Held.Minor()}
	}
	for _, owner := range m.owners {
		for _, cur := range sysCurrencies {
			b, err := m.env.Wallet.Balance(ctx, owner, cur)
			if err != nil {
				t.Fatalf("Balance(%s, %v): %v", owner, cur, err)
			}
			account(sysKey{owner, cur}, b, func(flows map[wallet.EntryKind]int64) (int64, int64) {
				return m.journal(ctx, t, owner, cur, flows)
			})
		}
	}
	for _, c := range m.cards {
		card := m.live.read[c.id]
		if !card.Opened() {
			continue // it has no account
		}
		f, err := m.cardFunds(ctx, card)
		if err != nil {
			t.Fatalf("CardFunds(%s): %v", c.id, err)
		}
		if !f.Opened || f.Currency != card.Value.Currency() {
			t.Fatalf("CardFunds(%s) = %+v of an opened card in %v", c.id, f, card.Value.Currency())
		}
		owner := giftcard.AccountOwner(c.id)
		account(sysKey{owner, f.Currency}, wallet.Balance{Balance: f.Balance, Held: f.Held, Available: f.Available},
			func(flows map[wallet.EntryKind]int64) (int64, int64) {
				return m.rawJournal(ctx, t, owner, f.Currency, flows)
			})
	}
	return flows, balances, held
}

// cardFunds is what opened card holds, as wallet.Service.CardFunds
// says, which refuses a blocked card as a balance check does: that one's
// account is read from the store, swept as CardFunds would.
func (m *system[T]) cardFunds(ctx context.Context, card giftcard.Card) (wallet.CardBalance, error) {
	f, refused := m.env.Wallet.CardFunds(ctx, card.ID)
	if !errors.Is(refused, giftcard.ErrNotRedeemable) {
		return f, refused
	}
	var a wallet.Account
	err := m.faults.Update(ctx, func(tx T) (err error) {
		a, err = wallet.UpdateAccount(tx, wallet.Change{Owner: giftcard.AccountOwner(card.ID), Currency: card.Value.Currency(),
			Cause: activity.Sweep(m.env.Clock.Now())}, nil)
		return err
	})
	if err == nil && !wallet.Blocked(a) {
		return f, fmt.Errorf("refused, and not blocked: %w", refused)
	}
	return wallet.CardBalance{CardID: card.ID, Currency: a.Currency(), Balance: a.Balance(), Held: a.Held(), Available: a.Available(),
		Opened: true}, err
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

// rawJournal is journal for an account no caller may name (a card's own),
// read from the store: its entries must be numbered 1, 2, 3, ...
func (m *system[T]) rawJournal(ctx context.Context, t *rapid.T, owner string, cur giftkit.Currency, flows map[wallet.EntryKind]int64) (sum, heldSum int64) {
	for after := int64(0); ; {
		var page []wallet.Entry
		if err := m.faults.Update(ctx, func(tx T) (err error) {
			page, err = tx.Entries(owner, cur, after, wallet.MaxPageSize)
			return err
		}); err != nil {
			t.Fatalf("Entries(%s): %v", owner, err)
		}
		for _, e := range page {
			if e.Seq != after+1 {
				t.Fatalf("%s %v: entry %d follows %d", owner, cur, e.Seq, after)
			}
			after = e.Seq
			sum += e.Amount.Minor()
			heldSum += e.Held.Minor()
			flows[e.Kind] += e.Amount.Minor()
		}
		if len(page) < wallet.MaxPageSize {
			return sum, heldSum
		}
	}
}

// checkCards checks every card against the model, and returns the value of
// the cards not redeemed (voided ones aside) and of the voided ones, per
// currency.
func (m *system[T]) checkCards(t *rapid.T) (unredeemed, voided map[giftkit.Currency]int64) {
	unredeemed, voided = map[giftkit.Currency]int64{}, map[giftkit.Currency]int64{}
	for _, c := range m.cards {
		got := m.live.read[c.id]
		m.live.cards[c.id] = got.Outstanding().Minor()
		switch {
		case got.State == giftcard.StateRedeemed && c.state != giftcard.StateRedeemed:
			// An interrupted redemption completed behind the model's back
			// only if its call is still open; an interrupted payment may
			// have opened it only while its call is open.
			if !m.openRedeem(c.id, nil) && !(c.unsure && got.Opened()) {
				t.Fatalf("card %s is redeemed by %q, the model says %v", c.id, got.RedeemedBy, c.state)
			}
		case got.State != c.state || (c.state == giftcard.StateRedeemed && got.RedeemedBy != c.redeemer):
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
// issued or loaded (bought onto an account or a card: new money in) is
// unredeemed, in a balance (a shopper's or a card's own), spent net of
// refunds, expired, voided, clawed back or charged as a fee, net of
// adjustments; transfers between accounts sum to zero; the journals' loads
// are the model's; and the wallets were credited exactly the value of the
// cards redeemed or opened.
func (m *system[T]) checkConservation(t *rapid.T, flows map[giftkit.Currency]map[wallet.EntryKind]int64, balances, unredeemed, voided map[giftkit.Currency]int64) {
	for _, cur := range sysCurrencies {
		f := flows[cur]
		spent, refunded, expired := -f[wallet.EntryCapture], f[wallet.EntryRefund], -f[wallet.EntryExpiry]
		clawed, adjusted, loaded, fees := -f[wallet.EntryClawback], f[wallet.EntryAdjustment], f[wallet.EntryLoad], -f[wallet.EntryFee]
		if got := unredeemed[cur] + balances[cur] + spent - refunded + expired + voided[cur] + clawed - adjusted + fees; got != m.issued[cur]+loaded {
			t.Fatalf("%v not conserved: unredeemed %d + balances %d + spent %d − refunded %d + expired %d + voided %d + clawed back %d − adjusted %d + fees %d = %d; issued %d + loaded %d",
				cur, unredeemed[cur], balances[cur], spent, refunded, expired, voided[cur], clawed, adjusted, fees, got, m.issued[cur], loaded)
		}
		if moved := f[wallet.EntryTransfer]; moved != 0 {
			t.Fatalf("%v: transfers between accounts sum to %d; value moved must be neither created nor lost", cur, moved)
		}
		if loaded != m.loaded[cur] {
			t.Fatalf("%v: the journals record %d loaded; the loads made were %d", cur, loaded, m.loaded[cur])
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
		if (p.State == checkout.StatePending || p.State == checkout.StateAuthorized) && m.env.Clock.Now().Before(p.ExpiresAt) {
			for _, tn := range p.Cards {
				openHolds[sysKey{giftcard.AccountOwner(tn.CardID), p.Total.Currency()}] += tn.Authorized.Minor() - tn.Captured.Minor()
			}
			if p.Owner != "" {
				openHolds[sysKey{p.Owner, p.Total.Currency()}] += p.Balance.Authorized.Minor() - p.Balance.Captured.Minor()
			}
		}
		if mp.uncertain {
			continue // an interrupted call decided it; the invariants above still hold
		}
		onItsWay := p.State == checkout.StateUnwinding && p.UnwindTo == mp.state // the void is outstanding
		if p.State != mp.state && !onItsWay {
			t.Fatalf("payment %s is %v; the model says %v", id, p.State, mp.state)
		}
		if len(p.Cards) != len(mp.cards) {
			t.Fatalf("payment %s spends %d gift cards (%s); the model says %d", id, len(p.Cards), cardParts(p), len(mp.cards))
		}
		want := []int64{mp.capturedBalance, mp.capturedCard, mp.refundedBalance, mp.refundedCard}
		got := []int64{p.Balance.Captured.Minor(), p.Card.Captured.Minor(), p.Balance.Refunded.Minor(), p.Card.Refunded.Minor()}
		for i, tn := range mp.cards {
			if pt := p.Cards[i]; pt.CardID != tn.card.id || pt.Planned.Minor() != tn.planned || pt.Masked != tn.card.code.Masked() {
				t.Fatalf("payment %s: gift card %d is %s (%s) for %v; the model says %s for %d", id, i, pt.CardID, pt.Masked, pt.Planned, tn.card.id, tn.planned)
			}
			want = append(want, tn.captured, tn.refunded)
			got = append(got, p.Cards[i].Captured.Minor(), p.Cards[i].Refunded.Minor())
		}
		if !slices.Equal(want, got) && !p.NeedsWork() {
			t.Fatalf("payment %s: captured/refunded (balance, card, then each gift card's) %v; the model says %v", id, got, want)
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

// addBlockHolds adds to openHolds what the block of each blocked opened
// card holds on its account (wallet.BlockHoldID): all that was available
// when it was blocked (or put back by a clawback), or nothing, a mark.
// It is no orphan: it lasts until the card is unblocked.
func (m *system[T]) addBlockHolds(openHolds map[sysKey]int64) {
	for _, c := range m.cards {
		if !c.opened() || !c.blocked {
			continue
		}
		if h := m.account(c.key()).holds[blockHold]; h != nil {
			openHolds[c.key()] += h.amount
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
// the processor's ledger: its parts (each gift card's, the balance's, the
// bank card's) sum to its total, each tender captured at most what it
// authorised and refunded at most what it captured, a captured payment
// captured what was asked, each refund's parts sum to it and the refunds
// done sum to what each tender records, and the processor holds what the
// bank card's tender records.
func checkPayment(t *rapid.T, p checkout.Payment, proc *processortest.Processor) {
	tenders := map[string]checkout.Tender{"balance": p.Balance, "card": p.Card}
	planned := p.Balance.Planned.Minor() + p.Card.Planned.Minor()
	captured := p.Balance.Captured.Minor() + p.Card.Captured.Minor()
	seen := map[string]bool{}
	for i, tn := range p.Cards {
		if seen[tn.CardID] {
			t.Fatalf("payment %s spends gift card %s twice", p.ID, tn.CardID)
		}
		seen[tn.CardID] = true
		if !tn.Planned.IsPositive() || tn.Authorized != tn.Planned {
			t.Fatalf("payment %s: gift card %s planned %v, held %v; a gift card's part is positive and held whole", p.ID, tn.CardID, tn.Planned, tn.Authorized)
		}
		tenders[fmt.Sprintf("gift card %d (%s)", i, tn.CardID)] = tn.Tender
		planned += tn.Planned.Minor()
		captured += tn.Captured.Minor()
	}
	if planned != p.Total.Minor() {
		t.Fatalf("payment %s: gift cards %s + balance %v + card %v != total %v", p.ID, cardParts(p), p.Balance.Planned, p.Card.Planned, p.Total)
	}
	for name, tender := range tenders {
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
	if p.State == checkout.StateCaptured && captured != p.CaptureWant.Minor() {
		t.Fatalf("payment %s captured %d; %v was asked", p.ID, captured, p.CaptureWant)
	}
	refunded := make([]int64, len(p.Cards)+1) // each gift card's, then the balance's, by the refunds done
	for _, r := range p.Refunds {
		sum := r.Balance.Minor() + r.Card.Minor()
		if len(r.Cards) != 0 && len(r.Cards) != len(p.Cards) {
			t.Fatalf("payment %s: refund %s has %d gift card parts for %d gift cards", p.ID, r.Key, len(r.Cards), len(p.Cards))
		}
		for i, part := range r.Cards {
			if part.IsNegative() {
				t.Fatalf("payment %s: refund %s gives %v to gift card %d", p.ID, r.Key, part, i)
			}
			sum += part.Minor()
			if r.Done && r.Failed == "" {
				refunded[i] += part.Minor()
			}
		}
		if r.Done && r.Failed == "" {
			refunded[len(p.Cards)] += r.Balance.Minor()
		}
		if sum != r.Amount.Minor() || r.Balance.IsNegative() || r.Card.IsNegative() {
			t.Fatalf("payment %s: refund %s of %v splits as balance %v + card %v + gift cards %v", p.ID, r.Key, r.Amount, r.Balance, r.Card, r.Cards)
		}
	}
	if p.State == checkout.StateCaptured { // (a declined card capture gives the gift tenders back without a refund)
		for i, tn := range p.Cards {
			if refunded[i] != tn.Refunded.Minor() {
				t.Fatalf("payment %s: the refunds done give gift card %s %d; it records %v refunded", p.ID, tn.CardID, refunded[i], tn.Refunded)
			}
		}
		if refunded[len(p.Cards)] != p.Balance.Refunded.Minor() {
			t.Fatalf("payment %s: the refunds done give the balance %d; it records %v refunded", p.ID, refunded[len(p.Cards)], p.Balance.Refunded)
		}
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
