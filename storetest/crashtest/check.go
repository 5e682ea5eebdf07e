package crashtest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

// finish takes over from the last child as a restarted child would, retries
// every acknowledged call once more, and checks what the run left.
func (p *parent[T]) finish() {
	p.t.Helper()
	if p.bad {
		return
	}
	ctx := context.Background()
	store, closeStore, err := p.cfg.Open(ctx, p.in)
	if err != nil {
		p.errorf("open after the last kill: %v", err)
		return
	}
	defer closeStore()
	j, err := openJournal(p.path("processor.log"))
	if err != nil {
		p.errorf("processor journal after the last kill: %v", err)
		return
	}
	defer j.close()
	s, err := newSystem(store, p.cfg.Seed, p.cards, j, hasher(), false)
	if err != nil {
		p.t.Fatalf("crashtest: %v", err)
		return
	}
	var mu sync.Mutex
	open, err := restart(ctx, s, p.next, func(a ack) {
		mu.Lock()
		defer mu.Unlock()
		p.note(a)
	})
	if err != nil {
		p.errorf("the last restart: %v", err)
		return
	}
	if open != 0 {
		p.errorf("after the last restart's retries and sweep, %d payments are still open", open)
	}

	// Every acknowledged call, once more, in order.
	ids := make([]callID, 0, len(p.acks))
	for id := range p.acks {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if a.worker != b.worker {
			return a.worker < b.worker
		}
		if a.op != b.op {
			return a.op < b.op
		}
		return a.call < b.call
	})
	for _, id := range ids {
		o, _ := planOp(p.cfg.Seed, id.worker, id.op)
		out, err := s.call(ctx, o, id.call)
		p.res.Retries++
		switch {
		case !outcome(err):
			p.errorf("worker %d, operation %d: a retry of %s failed: %v", id.worker, id.op, id.call, err)
		case out != p.acks[id]:
			p.errorf("worker %d, operation %d: a retry of %s returned %q; the first call returned %q", id.worker, id.op, id.call, out, p.acks[id])
		}
	}
	p.check(ctx, s)
	// Every card's and account's chain of activity records came through
	// the kills whole: nothing committed without its record, no record
	// without its change.
	storetest.CheckActivity(p.t, store)
	// And the outbox holds the event of every record, and no other.
	storetest.CheckOutbox(p.t, store)
}

// ledger is what check reads of one currency.
type ledger struct {
	issued, unredeemed, balances        int64
	captured, refunded, expired, credit int64
}

// check reads every card, account, journal and payment of the run and the
// processor's ledger, and reports every invariant broken.
func (p *parent[T]) check(ctx context.Context, s *system) {
	p.t.Helper()
	ledgers := map[giftkit.Currency]*ledger{}
	credits := map[string][]wallet.Entry{} // card ID → the credits of it, in any journal
	keys := map[string]wallet.Entry{}      // idempotency key → the entry it wrote, per owner
	for w := 0; w < p.cfg.Workers; w++ {
		cur := currencyOf(w)
		l := ledgers[cur]
		if l == nil {
			l = &ledger{}
			ledgers[cur] = l
		}
		for k := 0; k < 2; k++ {
			who := owner(w, k)
			b, err := s.wallet.Balance(ctx, who, cur)
			if err != nil {
				p.errorf("Balance(%s): %v", who, err)
				return
			}
			if b.Balance.IsNegative() || b.Held.IsNegative() || b.Available.IsNegative() {
				p.errorf("%s is below zero: %+v", who, b)
			}
			if !b.Held.IsZero() {
				p.errorf("%s holds %v with every payment settled: a hold outlived its payment", who, b.Held)
			}
			l.balances += b.Balance.Minor()
			var sum, held int64
			for after := int64(0); ; {
				page, err := s.wallet.History(ctx, who, cur, after, wallet.MaxPageSize)
				if err != nil {
					p.errorf("History(%s): %v", who, err)
					return
				}
				for _, e := range page.Entries {
					if e.Seq != after+1 {
						p.errorf("%s: entry %d follows entry %d", who, e.Seq, after)
					}
					after = e.Seq
					sum += e.Amount.Minor()
					held += e.Held.Minor()
					if e.BalanceAfter.IsNegative() || e.AvailableAfter.IsNegative() {
						p.errorf("%s: entry %d leaves the balance below zero: %+v", who, e.Seq, e)
					}
					switch e.Kind {
					case wallet.EntryCredit:
						credits[e.Reference] = append(credits[e.Reference], e)
						l.credit += e.Amount.Minor()
					case wallet.EntryCapture:
						l.captured -= e.Amount.Minor()
					case wallet.EntryRefund:
						l.refunded += e.Amount.Minor()
					case wallet.EntryExpiry:
						l.expired -= e.Amount.Minor()
					}
					if e.Key != "" {
						keys[who+"\x00"+e.Key+"\x00"+e.Kind.String()] = e
					}
				}
				if page.Next == 0 {
					break
				}
			}
			if sum != b.Balance.Minor() || held != b.Held.Minor() {
				p.errorf("%s: the journal sums to %d held %d; the balance is %v held %v", who, sum, held, b.Balance, b.Held)
			}
		}
	}

	// Cards: each redeemed card credited once, to its redeemer; the others
	// unredeemed.
	for w, cards := range p.cards {
		cur := currencyOf(w)
		l := ledgers[cur]
		for n, ic := range cards {
			l.issued += ic.Value
			c, err := s.giftc.Card(ctx, ic.ID)
			if err != nil {
				p.errorf("Card(%s): %v", ic.ID, err)
				continue
			}
			got := credits[ic.ID]
			switch {
			case c.State == giftcard.StateRedeemed:
				if len(got) != 1 || got[0].Owner != c.RedeemedBy || got[0].Amount.Minor() != ic.Value {
					p.errorf("card %s (worker %d, number %d) is redeemed by %s and credited %d times: %+v", ic.ID, w, n, c.RedeemedBy, len(got), got)
				}
			case len(got) != 0:
				p.errorf("card %s is %v but credited %d times", ic.ID, c.State, len(got))
			default:
				l.unredeemed += ic.Value
			}
		}
	}
	for cur, l := range ledgers {
		if got := l.unredeemed + l.balances + l.captured - l.refunded + l.expired; got != l.issued {
			p.errorf("%v not conserved: unredeemed %d + balances %d + spent %d − refunded %d + expired %d = %d; issued %d",
				cur, l.unredeemed, l.balances, l.captured, l.refunded, l.expired, got, l.issued)
		}
	}

	// Acknowledged calls: their effects are there.
	payments := map[string]checkout.Payment{}
	for id, out := range p.acks {
		o, _ := planOp(p.cfg.Seed, id.worker, id.op)
		ok := strings.HasPrefix(out, "ok ")
		switch {
		case id.call == "redeem" && ok:
			c, err := s.giftc.Card(ctx, p.cards[id.worker][o.Card].ID)
			if err != nil || c.State != giftcard.StateRedeemed || c.RedeemedBy != o.Owner {
				p.errorf("acknowledged redemption %s: the card is %v by %q, %v", o.key(id.call), c.State, c.RedeemedBy, err)
			}
			if _, found := keys[o.Owner+"\x00"+o.key(id.call)+"\x00credit"]; !found {
				p.errorf("acknowledged redemption %s: no credit in %s's journal", o.key(id.call), o.Owner)
			}
		case id.call != "redeem":
			pay, err := s.co.Payment(ctx, o.paymentID())
			if err != nil {
				if ok || !errors.Is(err, checkout.ErrPaymentNotFound) {
					p.errorf("acknowledged %s %s: payment %s: %v", id.call, o.key(id.call), o.paymentID(), err)
				}
				continue
			}
			payments[pay.ID] = pay
			if !ok {
				continue
			}
			switch id.call {
			case "pay":
				if pay.Keys.Pay != o.key(id.call) {
					p.errorf("acknowledged payment %s: the payment has key %q", o.key(id.call), pay.Keys.Pay)
				}
				if o.Kind != opPayLater && pay.State != checkout.StateCaptured {
					p.errorf("acknowledged payment %s is %v; want captured", o.key(id.call), pay.State)
				}
			case "capture":
				if pay.State != checkout.StateCaptured || pay.Keys.Capture != o.key(id.call) {
					p.errorf("acknowledged capture %s: the payment is %v, captured under %q", o.key(id.call), pay.State, pay.Keys.Capture)
				}
			case "refund":
				found := false
				for _, r := range pay.Refunds {
					found = found || r.Key == o.key(id.call) && r.Done
				}
				if !found {
					p.errorf("acknowledged refund %s: not done in payment %s: %+v", o.key(id.call), pay.ID, pay.Refunds)
				}
			}
		}
	}

	// Payments: settled, their parts adding up, and the processor holding
	// just what they record.
	auths := map[string]string{}
	for w := range p.next {
		for n := 0; n < p.next[w]; n++ {
			o, _ := planOp(p.cfg.Seed, w, n)
			if o.Kind == opRedeem || o.Kind == opRefund {
				continue
			}
			pay, found := payments[o.paymentID()]
			if !found {
				var err error
				if pay, err = s.co.Payment(ctx, o.paymentID()); errors.Is(err, checkout.ErrPaymentNotFound) {
					continue // refused before it was created
				} else if err != nil {
					p.errorf("Payment(%s): %v", o.paymentID(), err)
					continue
				}
			}
			p.checkPayment(pay, s, auths)
		}
	}
	for _, a := range s.journal.inner.Auths() {
		if _, ok := auths[a.ID]; !ok {
			p.errorf("authorisation %s of %v belongs to no payment", a.ID, a.Amount)
		}
	}
	if reuses := s.journal.inner.KeyReuses(); len(reuses) > 0 {
		p.errorf("two processor calls were given one key: %s", reuses[0])
	}
}

func (p *parent[T]) checkPayment(pay checkout.Payment, s *system, auths map[string]string) {
	p.t.Helper()
	if pay.NeedsWork() {
		p.errorf("payment %s is still open after the sweep: %v", pay.ID, pay.State)
	}
	sum := func(a, b giftkit.Money) int64 { return a.Minor() + b.Minor() }
	switch pay.State {
	case checkout.StateCaptured:
		want := pay.Total
		if pay.CaptureWant.IsValid() {
			want = pay.CaptureWant
		}
		if sum(pay.Balance.Captured, pay.Card.Captured) != want.Minor() {
			p.errorf("payment %s captured %v + %v of %v", pay.ID, pay.Balance.Captured, pay.Card.Captured, want)
		}
	case checkout.StateFailed, checkout.StateCancelled, checkout.StateExpired:
		if sum(pay.Balance.Captured, pay.Card.Captured) != 0 {
			p.errorf("payment %s is %v but captured %v + %v", pay.ID, pay.State, pay.Balance.Captured, pay.Card.Captured)
		}
	default:
		p.errorf("payment %s is %v after the sweep", pay.ID, pay.State)
	}
	if sum(pay.Balance.Planned, pay.Card.Planned) != pay.Total.Minor() {
		p.errorf("payment %s: parts %v + %v of %v", pay.ID, pay.Balance.Planned, pay.Card.Planned, pay.Total)
	}
	if pay.AuthID == "" {
		if pay.Card.Authorized.IsPositive() {
			p.errorf("payment %s: %v authorised without an authorisation", pay.ID, pay.Card.Authorized)
		}
		return
	}
	if other, ok := auths[pay.AuthID]; ok {
		p.errorf("payments %s and %s share authorisation %s", other, pay.ID, pay.AuthID)
	}
	auths[pay.AuthID] = pay.ID
	a, ok := s.journal.inner.Auth(pay.AuthID)
	switch {
	case !ok:
		p.errorf("payment %s: the processor has no authorisation %s", pay.ID, pay.AuthID)
	case a.Amount != pay.Card.Authorized || a.Captured != pay.Card.Captured || a.Refunded != pay.Card.Refunded:
		p.errorf("payment %s records card %+v; the processor %s",
			pay.ID, pay.Card, fmt.Sprintf("authorised %v, captured %v, refunded %v", a.Amount, a.Captured, a.Refunded))
	case !a.Closed:
		p.errorf("payment %s is %v but its authorisation is neither captured nor voided", pay.ID, pay.State)
	}
}
