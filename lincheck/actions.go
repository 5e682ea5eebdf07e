package lincheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/wallet"
)

// The calls that change state. Each records its outcome, reduced to what
// the models check, and its digest, which every retry must repeat.

// redeem has a shopper redeem a card, typed canonically, spaced and in
// lower case, or without dashes. Several clients pick the same cards.
func (c *client) redeem(ctx context.Context) {
	// The clients work through the cards a few at a time, so that several
	// race for each card and the shoppers keep being credited.
	cards := c.d.world.Cards
	card := cards[(int(c.d.redeems.Add(1))/3+c.r.IntN(4))%len(cards)]
	owner := c.owner()
	input := card.Code
	switch c.r.IntN(3) {
	case 1:
		input = " " + strings.ToLower(strings.ReplaceAll(input, "-", " ")) + " "
	case 2:
		input = strings.ReplaceAll(input, "-", "")
	}
	call := &Call{Client: c.id, Kind: KindRedeem, Owner: owner, Currency: card.Currency, Card: card.ID, Key: c.key("redeem"), Amount: card.Value}
	c.do(ctx, call, func(ctx context.Context) Outcome {
		r, err := c.d.svc.shop.Redeem(ctx, owner, input, call.Key)
		o := outcomeOf(err)
		o.Digest = digest(err, r.CardID, " ", r.Amount, " ", r.Entry.Seq, " ", r.Balance)
		if err == nil {
			o.Balance, o.Held, o.Available, o.Seq = r.Balance.Balance.Minor(), r.Balance.Held.Minor(), r.Balance.Available.Minor(), r.Entry.Seq
			if r.CardID != card.ID || r.Amount.Minor() != card.Value {
				c.d.rec.problem("redeem of card %s (%d) returned card %s, %v", card.ID, card.Value, r.CardID, r.Amount)
			}
		}
		return o
	}, nil)
}

// typo redeems a card's code with one character changed: the call must
// fail with a *codefmt.ParseError suggesting exactly that code.
func (c *client) typo(ctx context.Context) {
	card := c.d.world.Cards[c.r.IntN(len(c.d.world.Cards))]
	typo := []byte(card.Code)
	i := []int{0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16}[c.r.IntN(15)]
	typo[i] = map[bool]byte{true: 'X', false: 'Y'}[typo[i] != 'X']
	call := &Call{Client: c.id, Kind: KindTypo, Owner: c.owner(), Key: c.key("typo")}
	c.read(ctx, call, func(ctx context.Context) Outcome {
		_, err := c.d.svc.shop.Redeem(ctx, call.Owner, string(typo), call.Key)
		var pe *codefmt.ParseError
		if !errors.As(err, &pe) || len(pe.Suggestions) != 1 || pe.Suggestions[0].String() != card.Code {
			c.d.rec.problem("redeem of %q (a typo of card %s): %v; want a ParseError suggesting the code", typo, card.ID, err)
		}
		return outcomeOf(err)
	})
}

// guessBurst has one new guesser, from one client address, guess several
// codes at once through a wallet whose limiter allows GuessLimit failures
// per subject: at most that many may reach the lookup.
func (c *client) guessBurst(ctx context.Context) {
	svc, gate, limiter := c.d.svc.memGuess, c.d.svc.memGate, fmt.Sprintf("mem/p%d/", c.d.process)
	if c.d.svc.storeGuess != nil && c.r.IntN(2) == 0 {
		svc, gate, limiter = c.d.svc.storeGuess, c.d.svc.storeGate, "store/"
	}
	owner := c.key("guesser")
	addr := ""
	if c.r.IntN(4) == 0 {
		// One address for every client of a while: of every process, for
		// the StoreLimiter the processes share.
		addr = fmt.Sprintf("198.51.100.%d", c.n/40)
	}
	var subjects []string
	for _, s := range (wallet.Attempt{Owner: owner, Client: addr}).Subjects() {
		subjects = append(subjects, limiter+s)
	}
	calls := make([]*Call, 2+c.r.IntN(9))
	codes := make([]string, len(calls))
	for i := range calls {
		calls[i] = &Call{Client: c.id, Kind: KindGuess, Owner: owner, Key: c.key("guess"), Subjects: subjects}
		code, err := codefmt.Generate(rand.NewChaCha8([32]byte{byte(c.id), byte(c.n), byte(c.n >> 8), byte(i), 'g'}))
		if err != nil {
			panic(err)
		}
		codes[i] = code.String()
		c.d.rec.add(calls[i])
	}
	gate.expect(owner, len(calls))
	gctx := wallet.WithClient(ctx, addr)
	// The guesses start together, so that they meet in the limiter.
	var wg, ready sync.WaitGroup
	start := make(chan struct{})
	for i, call := range calls {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-start
			begin := c.d.clock.now()
			_, err := svc.Redeem(gctx, owner, codes[i], call.Key)
			call.Attempts = []Attempt{{Start: begin, End: c.d.clock.now(), Out: outcomeOf(err)}}
		}()
	}
	ready.Wait()
	close(start)
	wg.Wait()
	for _, call := range calls {
		if o := call.Attempts[0].Out; o.Code != "giftcard.not_redeemable" && o.Code != Locked && o.Code != Unknown {
			c.d.rec.problem("guess %s by %s: %s; want not_redeemable or too_many_attempts", call.Key, owner, o.Note)
		}
	}
}

// pay pays an order from a shopper's balance first and a bank card for the
// rest, which may be declined or missing; now and then without the
// balance. A completed payment joins the pool.
func (c *client) pay(ctx context.Context) {
	owner, cur := c.owner(), c.currency()
	instruments := []string{"tok_visa", "tok_visa", "tok_visa", "tok_visa", "tok_visa", processortest.DeclinedInstrument, ""}
	call := &Call{Client: c.id, Kind: KindPay, Owner: owner, Currency: cur, Key: c.key("pay"), Amount: 1 + c.r.Int64N(4000),
		Later: c.r.IntN(2) == 0, Skip: c.r.IntN(8) == 0, Instrument: instruments[c.r.IntN(len(instruments))]}
	call.Payment = "p-" + call.Key
	mode := map[bool]checkout.CaptureMode{false: checkout.CaptureNow, true: checkout.CaptureLater}[call.Later]
	req := checkout.PayRequest{PaymentID: call.Payment, Owner: owner, Total: giftkit.FromMinor(call.Amount, giftkit.MustParseCurrency(cur)),
		Instrument: call.Instrument, Mode: mode, SkipBalance: call.Skip}
	c.do(ctx, call, func(ctx context.Context) Outcome {
		p, err := c.d.svc.co.Pay(ctx, req, call.Key)
		o := outcomeOf(err)
		o.X, o.Y = p.Balance.Planned.Minor(), p.Card.Planned.Minor()
		if p.ID != "" {
			o.State = p.State.String()
		}
		o.Digest = digest(err, p.ID, " ", p.Balance.Planned, " ", p.Card.Planned)
		return o
	}, func(o Outcome) {
		if o.Code == "" {
			c.d.pool.add(paid{id: call.Payment, owner: owner, currency: cur, total: call.Amount, later: call.Later})
		}
	})
}

// capture captures part or all of a payment from the pool: one made with
// CaptureLater, mostly, which other clients may be capturing or cancelling
// at the same moment.
func (c *client) capture(ctx context.Context) {
	p, ok := c.d.pool.pick(c.r)
	if !ok {
		c.pay(ctx)
		return
	}
	cur := giftkit.MustParseCurrency(p.currency)
	call := &Call{Client: c.id, Kind: KindCapture, Owner: p.owner, Currency: p.currency, Payment: p.id, Key: c.key("capture"), Amount: 1 + c.r.Int64N(p.total)}
	c.do(ctx, call, func(ctx context.Context) Outcome {
		got, err := c.d.svc.co.Capture(ctx, p.id, giftkit.FromMinor(call.Amount, cur), call.Key)
		o := outcomeOf(err)
		o.X, o.Y = got.Balance.Captured.Minor(), got.Card.Captured.Minor()
		if got.ID != "" {
			o.State = got.State.String()
		}
		o.Digest = digest(err, got.ID, " ", got.CaptureWant, " ", got.Keys.Capture)
		return o
	}, nil)
}

// cancel cancels a payment from the pool.
func (c *client) cancel(ctx context.Context) {
	p, ok := c.d.pool.pick(c.r)
	if !ok {
		c.pay(ctx)
		return
	}
	call := &Call{Client: c.id, Kind: KindCancel, Owner: p.owner, Currency: p.currency, Payment: p.id, Key: c.key("cancel")}
	c.do(ctx, call, func(ctx context.Context) Outcome {
		got, err := c.d.svc.co.Cancel(ctx, p.id, call.Key)
		o := outcomeOf(err)
		if got.ID != "" {
			o.State = got.State.String()
		}
		o.Digest = digest(err, got.ID, " ", got.Keys.Cancel)
		return o
	}, nil)
}

// refund refunds part of a payment from the pool, now and then more than
// is left, while other clients refund it too.
func (c *client) refund(ctx context.Context) {
	p, ok := c.d.pool.pick(c.r)
	if !ok {
		c.pay(ctx)
		return
	}
	cur := giftkit.MustParseCurrency(p.currency)
	call := &Call{Client: c.id, Kind: KindRefund, Owner: p.owner, Currency: p.currency, Payment: p.id, Key: c.key("refund"), Amount: 1 + c.r.Int64N(p.total/2+1)}
	c.do(ctx, call, func(ctx context.Context) Outcome {
		got, err := c.d.svc.co.Refund(ctx, p.id, giftkit.FromMinor(call.Amount, cur), call.Key)
		o := outcomeOf(err)
		var r checkout.Refund
		for _, x := range got.Refunds {
			if x.Key == call.Key {
				r = x
			}
		}
		o.X, o.Y = r.Balance.Minor(), r.Card.Minor()
		o.Digest = digest(err, got.ID, " ", r.Amount, " ", r.Balance, " ", r.Card)
		return o
	}, nil)
}

// sweep resumes open payments; it may only fail with a fault.
func (c *client) sweep(ctx context.Context) {
	call := &Call{Client: c.id, Kind: KindSweep}
	c.read(ctx, call, func(ctx context.Context) Outcome {
		_, _, err := c.d.svc.co.Sweep(ctx, 1+c.r.IntN(3))
		o := outcomeOf(err)
		if o.Code != "" && o.Code != Unknown {
			c.d.rec.problem("Sweep: %v", err)
		}
		return o
	})
}
