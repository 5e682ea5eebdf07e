package crashtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/internal/unit"
	"github.com/giftkit/giftkit/wallet"
)

// The plan: each worker runs its own numbered sequence of operations, every
// one a pure function of the seed, the worker and the operation's number,
// with keys derived from them, so that a process that restarts knows what
// its predecessor was doing and retries it with the same keys. Workers
// touch disjoint owners and cards, so that what one does never changes the
// outcome of another's operation: a worker's calls have one outcome each,
// whichever process makes them and however often.

// Operation kinds.
type opKind uint8

const (
	opRedeem      opKind = iota + 1 // redeem the worker's next card
	opPayBalance                    // pay a small order from the balance alone, captured at once
	opPaySplit                      // pay a large order, balance first and a bank card for the rest, captured at once
	opPayDeclined                   // as opPaySplit, with a card the processor declines
	opPayLater                      // pay with CaptureLater, then capture the whole order
	opRefund                        // refund part of the worker's latest payment
)

// calls are the calls an operation makes, in order; an acknowledgement
// names one of them.
func (k opKind) calls() []string {
	switch k {
	case opRedeem:
		return []string{"redeem"}
	case opPayLater:
		return []string{"pay", "capture"}
	case opRefund:
		return []string{"refund"}
	}
	return []string{"pay"}
}

// cardsPerWorker is how many cards the parent issues for each worker; a
// worker redeems one every redeemEvery operations, and stops when it has
// none left.
const (
	cardsPerWorker = 2000
	redeemEvery    = 5
)

// currencyOf is worker w's currency: two, with different minor units.
func currencyOf(w int) giftkit.Currency {
	if w%2 == 1 {
		return giftkit.JPY
	}
	return giftkit.EUR
}

// cardValue is the value in minor units of worker w's card number n.
func cardValue(n int) int64 { return []int64{2000, 3500, 5000, 6500}[n%4] }

func owner(w, k int) string { return fmt.Sprintf("w%d-shopper-%d", w, k) }

// op is one operation of the plan.
type op struct {
	Worker, N  int
	Kind       opKind
	Owner      string
	Card       int // opRedeem: the worker's card number
	Total      int64
	Instrument string
	Target     int // opRefund: the operation whose payment is refunded
}

func (o op) paymentID() string {
	if o.Kind == opRefund {
		return fmt.Sprintf("w%d-op%d", o.Worker, o.Target)
	}
	return fmt.Sprintf("w%d-op%d", o.Worker, o.N)
}

func (o op) key(call string) string { return fmt.Sprintf("%s-w%d-op%d", call, o.Worker, o.N) }

// planOp returns operation n of worker w; false past the end of the plan.
func planOp(seed uint64, w, n int) (op, bool) {
	o := op{Worker: w, N: n}
	if n%redeemEvery == 0 {
		o.Kind, o.Card = opRedeem, n/redeemEvery
		o.Owner = owner(w, o.Card%2)
		return o, o.Card < cardsPerWorker
	}
	r := rand.New(rand.NewPCG(seed, uint64(w)<<32|uint64(n)))
	o.Owner = owner(w, r.IntN(2))
	switch x := r.IntN(100); {
	case x < 35:
		o.Kind, o.Total = opPayBalance, 100+r.Int64N(900)
	case x < 60:
		o.Kind, o.Total, o.Instrument = opPaySplit, 3000+r.Int64N(9000), "tok_visa"
	case x < 68:
		o.Kind, o.Total, o.Instrument = opPayDeclined, 8000+r.Int64N(5000), "tok_declined"
	case x < 85:
		o.Kind, o.Total, o.Instrument = opPayLater, 1500+r.Int64N(6000), "tok_visa"
	default:
		o.Kind, o.Total = opRefund, 100
		for m := n - 1; m >= 0 && m > n-redeemEvery*4; m-- {
			if p, _ := planOp(seed, w, m); p.Kind != opRedeem && p.Kind != opRefund {
				o.Target, o.Owner = m, p.Owner
				return o, true
			}
		}
		o.Kind = opPayBalance // no payment to refund yet
	}
	return o, true
}

// issuedCard is a card the parent issued for a worker: its ID and code,
// which the children read from the run's directory.
type issuedCard struct {
	ID    string `json:"id"`
	Code  string `json:"code"`
	Value int64  `json:"value"`
}

// ack is the acknowledgement of a call that returned an outcome: success
// or a refusal the service records. Out is the outcome as text, the same
// for every retry with the call's key.
type ack struct {
	Worker int    `json:"w"`
	Op     int    `json:"op"`
	Call   string `json:"call"`
	Out    string `json:"out"`
}

// system is the services a process runs the plan with.
type system struct {
	seed    uint64
	cards   [][]issuedCard // per worker
	store   giftkit.Store[wallet.Tx]
	giftc   *giftcard.Service
	wallet  *wallet.Service
	co      *checkout.Service
	journal *journal
}

// newSystem returns the services over store. With storeLimiter, and a store
// whose Tx implements wallet.LimiterTx, redemptions count their attempts in
// the store (a wallet.StoreLimiter that locks no one out), so that the
// limiter's writes are killed too; otherwise in memory.
func newSystem[T checkout.Tx](store giftkit.Store[T], seed uint64, cards [][]issuedCard, j *journal, hasher *giftcard.Hasher, storeLimiter bool) (*system, error) {
	limiter := wallet.Limiter(wallet.NewMemoryLimiter(1<<30, time.Hour, time.Second))
	if _, ok := any(*new(T)).(wallet.LimiterTx); ok && storeLimiter {
		logs := unit.Erase(store, func(tx T) wallet.LimiterTx { return any(tx).(wallet.LimiterTx) })
		sl, err := wallet.NewStoreLimiter(logs, wallet.LimitRule{Max: 1 << 20, Window: time.Hour, Lockout: time.Second})
		if err != nil {
			return nil, err
		}
		limiter = sl
	}
	gc, err := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: time.Now})
	if err != nil {
		return nil, err
	}
	ws, err := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: time.Now, Limiter: limiter})
	if err != nil {
		return nil, err
	}
	co, err := checkout.NewService(store, j, checkout.Config{Now: time.Now})
	if err != nil {
		return nil, err
	}
	return &system{seed: seed, cards: cards, store: unit.Erase(store, func(tx T) wallet.Tx { return tx }),
		giftc: gc, wallet: ws, co: co, journal: j}, nil
}

// errNotOutcome marks a call that returned no outcome (the store or the
// processor did not answer) after its retries.
var errNotOutcome = errors.New("crashtest: no outcome")

// outcome reports whether err is an outcome of the call, which every retry
// must return again: nil, or a refusal of one of giftkit's kinds other than
// unavailable and rate limited (a throttle, which says when to retry).
func outcome(err error) bool {
	k := giftkit.KindOf(err)
	return err == nil || k != nil && k != giftkit.ErrUnavailable && k != giftkit.ErrRateLimited
}

// runOp runs operation o, acknowledging each call that returns an outcome.
// A call that returns none is tried again a few times, with its key, then
// given up with errNotOutcome.
func (s *system) runOp(ctx context.Context, o op, acknowledge func(ack)) error {
	for _, call := range o.Kind.calls() {
		var out string
		var err error
		for try := 0; ; try++ {
			out, err = s.call(ctx, o, call)
			if outcome(err) || ctx.Err() != nil {
				break
			}
			if try == 4 {
				return fmt.Errorf("%w: %s of operation %d of worker %d: %v", errNotOutcome, call, o.N, o.Worker, err)
			}
			time.Sleep(time.Duration(try+1) * 10 * time.Millisecond)
		}
		if !outcome(err) {
			return err
		}
		acknowledge(ack{Worker: o.Worker, Op: o.N, Call: call, Out: out})
	}
	return nil
}

// call makes one call of o and returns its outcome as text.
func (s *system) call(ctx context.Context, o op, call string) (string, error) {
	cur := currencyOf(o.Worker)
	money := func(n int64) giftkit.Money { return giftkit.FromMinor(n, cur) }
	switch call {
	case "redeem":
		r, err := s.wallet.Redeem(ctx, o.Owner, s.cards[o.Worker][o.Card].Code, o.key(call))
		if err != nil {
			return refusal(err), err
		}
		return fmt.Sprintf("ok %s %v seq=%d balance=%v", r.CardID, r.Amount, r.Entry.Seq, r.Balance.Balance), nil
	case "pay":
		mode := checkout.CaptureNow
		if o.Kind == opPayLater {
			mode = checkout.CaptureLater
		}
		p, err := s.co.Pay(ctx, checkout.PayRequest{PaymentID: o.paymentID(), Owner: o.Owner, Total: money(o.Total),
			Instrument: o.Instrument, Mode: mode}, o.key(call))
		if err != nil {
			return refusal(err), err
		}
		return fmt.Sprintf("ok %s %v %v balance=%v card=%v auth=%s", p.ID, p.Mode, p.Total, p.Balance.Planned, p.Card.Planned, p.AuthID), nil
	case "capture":
		p, err := s.co.Capture(ctx, o.paymentID(), money(o.Total), o.key(call))
		if err != nil {
			return refusal(err), err
		}
		return fmt.Sprintf("ok %s want=%v", p.ID, p.CaptureWant), nil
	case "refund":
		p, err := s.co.Refund(ctx, o.paymentID(), money(o.Total), o.key(call))
		if err != nil {
			return refusal(err), err
		}
		for _, r := range p.Refunds {
			if r.Key == o.key(call) {
				return fmt.Sprintf("ok %s %v balance=%v card=%v", p.ID, r.Amount, r.Balance, r.Card), nil
			}
		}
		return "", fmt.Errorf("crashtest: refund %s of payment %s returned the payment without it", o.key(call), p.ID)
	}
	panic("crashtest: unknown call " + call)
}

// refusal is the text of a refusal: its kind and message, which a replay
// returns alike.
func refusal(err error) string {
	return fmt.Sprintf("refused %v: %s", giftkit.KindOf(err), err)
}

// sweep completes or unwinds every open payment (checkout.Service.Sweep)
// and applies the passage of time to every account of the plan; it returns
// how many payments are still open.
func (s *system) sweep(ctx context.Context, workers int) (open int, err error) {
	for range 5 {
		if _, open, err = s.co.Sweep(ctx, 100); err != nil || open == 0 {
			break
		}
	}
	if err != nil {
		return open, err
	}
	now := time.Now()
	for w := 0; w < workers; w++ {
		for k := 0; k < 2; k++ {
			if err := s.store.Update(ctx, func(tx wallet.Tx) error {
				_, err := wallet.UpdateAccount(tx, wallet.Change{Owner: owner(w, k), Currency: currencyOf(w), Cause: activity.Sweep(now)}, nil)
				return err
			}); err != nil {
				return open, err
			}
		}
	}
	return open, nil
}
