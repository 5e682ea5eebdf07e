package lincheck

import (
	"fmt"

	"github.com/anishathalye/porcupine"

	"github.com/giftkit/giftkit/wallet"
)

// partition is the operations of one object, checked on their own.
type partition struct {
	name    string
	model   porcupine.Model
	ops     []porcupine.Operation
	clients map[int]int // the calls' clients, numbered densely for the visualisation
	tainted string      // why the partition cannot be checked, if it cannot
}

// builder turns the calls of a history into partitions.
type builder struct {
	parts map[string]*partition
	order []string
	inf   int64            // a return time after every other: "never known"
	pays  map[string]*Call // the Pay call of each payment
}

// span is the interval and outcome of a call: from its first attempt to
// the first attempt that told what happened (the effect happened in
// between, whichever attempt's unit of work it was), or to inf if none did.
func (b *builder) span(c *Call) (start, end int64, out Outcome, known bool) {
	start = c.Attempts[0].Start
	for _, a := range c.Attempts {
		if a.Out.definitive() {
			return start, a.End, a.Out, true
		}
	}
	return start, b.inf, Outcome{Code: Unknown}, false
}

func (b *builder) add(name string, model porcupine.Model, c *Call, start, end int64, in, out any) {
	p := b.parts[name]
	if p == nil {
		p = &partition{name: name, model: model, clients: map[int]int{}}
		b.parts[name] = p
		b.order = append(b.order, name)
	}
	id, ok := p.clients[c.Client]
	if !ok {
		id = len(p.clients)
		p.clients[c.Client] = id
	}
	p.ops = append(p.ops, porcupine.Operation{ClientId: id, Input: in, Output: out, Call: start, Return: end, Metadata: c.ID})
}

func (b *builder) taint(name, why string) {
	if p := b.parts[name]; p != nil && p.tainted == "" {
		p.tainted = why
	}
}

var (
	accountModelD = accountModel.ToModel()
	cardModelD    = cardModel.ToModel()
)

func accountName(owner, cur string) string { return "account " + owner + " " + cur }

// partitions builds every partition of h.
func partitions(h *History) []*partition {
	b := &builder{parts: map[string]*partition{}, pays: map[string]*Call{}}
	for _, c := range h.Calls {
		for _, a := range c.Attempts {
			b.inf = max(b.inf, a.End+1)
		}
		if c.Kind == KindPay {
			b.pays[c.Payment] = c
		}
	}
	var tainted [][2]string
	for _, c := range h.Calls {
		if len(c.Attempts) == 0 {
			continue
		}
		b.keyOps(c)
		if why := b.callOps(c); why != "" {
			tainted = append(tainted, [2]string{accountName(c.Owner, c.Currency), why})
		}
	}
	for _, t := range tainted {
		b.taint(t[0], t[1])
	}
	out := make([]*partition, len(b.order))
	for i, name := range b.order {
		out[i] = b.parts[name]
	}
	return out
}

// keyOps adds every attempt of a call with a key to the key's partition.
func (b *builder) keyOps(c *Call) {
	if !c.Kind.changes() {
		return
	}
	for i, a := range c.Attempts {
		b.add(fmt.Sprintf("key %s %s", c.Kind, c.Key), keyModel, c, a.Start, a.End, fmt.Sprintf("#%d attempt %d", c.ID, i+1), a.Out)
	}
}

// callOps adds a call's operations to the partitions of the objects it
// touches. It returns why the call's account cannot be checked, if a call
// whose effect on it is unknown leaves it so.
func (b *builder) callOps(c *Call) string {
	start, end, out, known := b.span(c)
	acct := accountName(c.Owner, c.Currency)
	switch c.Kind {
	case KindRedeem:
		if out.Code == Locked {
			return ""
		}
		b.add("card "+c.Card, cardModelD, c, start, end, cardIn{Call: c.ID, Owner: c.Owner, Maybe: !known}, cardOut{Code: out.Code, Same: out.Same})
		if out.Code == "" || !known {
			in := acctIn{Kind: aCredit, Call: c.ID, Amount: c.Amount, Entry: wallet.EntryCredit, Ref: c.Card, Key: c.Key, Maybe: !known, Check: known}
			b.add(acct, accountModelD, c, start, end, in, acctOut{Balance: out.Balance, Held: out.Held, Available: out.Available, N: out.Seq})
		}
	case KindGuess:
		if known {
			for _, s := range c.Subjects {
				b.add("limiter "+s, guessModel, c, start, end, fmt.Sprintf("#%d guess", c.ID), out.Code == "giftcard.not_redeemable")
			}
		}
	case KindBalance, KindHistory:
		if out.Code == "" {
			kind := map[Kind]acctKind{KindBalance: aBalance, KindHistory: aHistory}[c.Kind]
			b.add(acct, accountModelD, c, start, end, acctIn{Kind: kind, Call: c.ID},
				acctOut{Balance: out.Balance, Held: out.Held, Available: out.Available, N: out.Seq, Hash: out.Hash})
		}
	case KindPay:
		return b.payOps(c, start, end, out, known)
	case KindCapture, KindCancel, KindRefund, KindGet:
		return b.paymentOps(c, start, end, out, known)
	}
	return ""
}

// payOps adds a Pay: its split and hold, and what became of the hold
// before Pay returned (released on a decline, captured with CaptureNow).
func (b *builder) payOps(c *Call, start, end int64, out Outcome, known bool) string {
	if !known {
		return fmt.Sprintf("pay %s: outcome unknown", c.Payment)
	}
	acct := accountName(c.Owner, c.Currency)
	pin := payIn{Kind: pPay, Call: c.ID, Amount: c.Amount, Later: c.Later, Declining: c.Instrument == "tok_declined"}
	b.add("payment "+c.Payment, paymentModel, c, start, end, pin, payOut{Code: out.Code, X: out.X, Y: out.Y, State: out.State})
	plan := acctIn{Kind: aPlan, Call: c.ID, Amount: c.Amount, Skip: c.Skip, Payment: c.Payment, Ref: c.Payment, Key: c.Key}
	switch out.Code {
	case "checkout.instrument_required":
		b.add(acct, accountModelD, c, start, end, plan, acctOut{Refused: true})
		return ""
	case "", "checkout.declined":
	default:
		return ""
	}
	b.add(acct, accountModelD, c, start, end, plan, acctOut{X: out.X})
	if out.X == 0 {
		return ""
	}
	settle := acctIn{Kind: aRelease, Call: c.ID, Payment: c.Payment, Ref: c.Payment, Key: c.Key}
	switch {
	case out.Code == "checkout.declined":
	case !c.Later:
		settle.Kind, settle.Amount = aCapture, out.X
	default:
		return ""
	}
	b.add(acct, accountModelD, c, start, end, settle, acctOut{})
	return ""
}

// paymentOps adds a call on a payment from the pool, and its effect on
// the shopper's balance.
func (b *builder) paymentOps(c *Call, start, end int64, out Outcome, known bool) string {
	if !known {
		return ""
	}
	pay := b.pays[c.Payment]
	po := payOut{Code: out.Code, X: out.X, Y: out.Y, State: out.State, Refunds: out.Refunds}
	kind := map[Kind]payKind{KindCapture: pDecide, KindCancel: pCancel, KindRefund: pRefund, KindGet: pGet}[c.Kind]
	b.add("payment "+c.Payment, paymentModel, c, start, end, payIn{Kind: kind, Call: c.ID, Amount: c.Amount}, po)
	if out.Code != "" || kind == pGet || pay == nil {
		return ""
	}
	_, _, pout, _ := b.span(pay)
	acct := accountName(pay.Owner, pay.Currency)
	in := acctIn{Call: c.ID, Payment: c.Payment, Ref: c.Payment, Key: c.Key}
	switch kind {
	case pDecide:
		b.add("payment "+c.Payment, paymentModel, c, start, end, payIn{Kind: pComplete, Call: c.ID}, payOut{})
		in.Kind, in.Amount = aCapture, out.X
	case pCancel:
		in.Kind = aRelease
	case pRefund:
		in.Kind, in.Amount, in.Entry = aCredit, out.X, wallet.EntryRefund
	}
	if (kind != pRefund && pout.X > 0) || (kind == pRefund && out.X > 0) {
		b.add(acct, accountModelD, c, start, end, in, acctOut{})
	}
	return ""
}
