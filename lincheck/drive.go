package lincheck

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/wallet"
)

// driver is one process's run: its services, the world, and what the
// clients share.
type driver struct {
	svc     *services
	world   World
	opts    Options
	process int
	clock   stamp
	rec     *recorder
	pool    *pool
	redeems atomic.Int64 // redemptions begun, which choose the cards in play
}

// Drive runs opts.Clients clients of process over store and proc, each
// making opts.Ops calls, then retries every call a fault left unknown,
// without faults, until its outcome is known. It returns what the clients
// recorded. Several processes may drive one database at once, each with
// its own process number; their histories are merged for [Check].
func Drive[T checkout.Tx](ctx context.Context, store giftkit.Store[T], proc checkout.Processor, w World, process int, opts Options) (*History, error) {
	opts = opts.withDefaults()
	svc, err := newServices(store, proc, opts)
	if err != nil {
		return nil, err
	}
	d := &driver{svc: svc, world: w, opts: opts, process: process, clock: newStamp(), rec: &recorder{}, pool: &pool{}}
	var wg sync.WaitGroup
	for i := range opts.Clients {
		c := d.newClient(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop(ctx)
		}()
	}
	wg.Wait()
	return &History{Process: process, Calls: d.rec.calls, Problems: d.rec.problems}, nil
}

// Finish ends a run: it sweeps every open payment, then reads every
// shopper's balance and journal and every payment the histories name, as
// calls of their own, so that the check compares the final state too.
func Finish[T checkout.Tx](ctx context.Context, store giftkit.Store[T], proc checkout.Processor, w World, hs []*History, opts Options) (*History, error) {
	opts = opts.withDefaults()
	svc, err := newServices(store, proc, opts)
	if err != nil {
		return nil, err
	}
	d := &driver{svc: svc, world: w, opts: opts, process: -1, clock: newStamp(), rec: &recorder{}, pool: &pool{}}
	c := d.newClient(-1)
	c.id = 1 << 20 // a client of its own, after every process's
	c.sweep(ctx)
	for _, owner := range w.Owners {
		for _, cur := range w.Currencies {
			c.balanceOf(ctx, owner, cur)
			c.historyOf(ctx, owner, cur)
		}
	}
	seen := map[string]bool{}
	for _, h := range hs {
		for _, call := range h.Calls {
			if call.Kind == KindPay && !seen[call.Payment] {
				seen[call.Payment] = true
				c.getPayment(ctx, call.Payment, call.Currency)
			}
		}
	}
	return &History{Process: -1, Calls: d.rec.calls, Problems: d.rec.problems}, nil
}

// pool holds the payments whose Pay completed, for the clients to capture,
// cancel, refund and read, racing each other.
type pool struct {
	mu       sync.Mutex
	payments []paid
}

type paid struct {
	id, owner, currency string
	total               int64
	later               bool
}

func (p *pool) add(x paid) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.payments = append(p.payments, x)
}

func (p *pool) pick(r *rand.Rand) (paid, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.payments) == 0 {
		return paid{}, false
	}
	// Mostly the newest payments, so that clients meet on them.
	n := len(p.payments)
	return p.payments[n-1-min(n-1, int(r.ExpFloat64()*2))], true
}

// client is one goroutine of calls.
type client struct {
	d      *driver
	id     int // unique across processes
	r      *rand.Rand
	n      int
	done   []*retry // completed calls with a key, to repeat
	parked []*retry // calls a fault interrupted, to retry later
	// settling: the client's calls are made; parked ones are retried
	// without faults until their outcome is known.
	settling bool
}

// retry is a call and how to make another attempt of it.
type retry struct {
	call    *Call
	attempt func(context.Context) Outcome
	onDone  func(Outcome)
}

func (d *driver) newClient(i int) *client {
	id := max(d.process, 0)*d.opts.Clients + i
	return &client{d: d, id: id, r: rand.New(rand.NewPCG(d.opts.Seed, uint64(id)+1000))}
}

// key returns a new idempotency key, unique in the run.
func (c *client) key(what string) string {
	c.n++
	return fmt.Sprintf("%s-c%d-%d", what, c.id, c.n)
}

// loop makes the client's calls: a weighted choice of actions, and now and
// then the retry of a parked call.
func (c *client) loop(ctx context.Context) {
	actions := []struct {
		weight int
		run    func(context.Context)
	}{
		{20, c.redeem}, {3, c.typo}, {6, c.guessBurst}, {12, c.balance}, {6, c.history},
		{16, c.pay}, {8, c.capture}, {5, c.cancel}, {14, c.refund}, {6, c.get}, {2, c.sweep}, {6, c.repeat},
	}
	total := 0
	for _, a := range actions {
		total += a.weight
	}
	for range c.d.opts.Ops {
		if len(c.parked) > 0 && c.r.IntN(3) == 0 {
			c.resume(ctx, c.r.IntN(len(c.parked)))
			continue
		}
		n := c.r.IntN(total)
		for _, a := range actions {
			if n -= a.weight; n < 0 {
				a.run(ctx)
				break
			}
		}
	}
	c.settling = true
	for len(c.parked) > 0 {
		c.resume(ctx, 0)
	}
}

// attempt makes one attempt of call, with faults drawn for it if faulty.
func (c *client) attempt(ctx context.Context, call *Call, fn func(context.Context) Outcome, faulty bool) Outcome {
	var p *plan
	if faulty && c.d.opts.Faults {
		p = drawPlan(c.r)
	}
	start := c.d.clock.now()
	o := fn(withPlan(ctx, p))
	end := c.d.clock.now()
	call.Attempts = append(call.Attempts, Attempt{Start: start, End: end, Fault: p.report(), Out: o})
	return o
}

// do makes a call that changes state: attempts under faults until one has
// a known outcome, or parks it for a later retry, as a caller whose
// request timed out does.
func (c *client) do(ctx context.Context, call *Call, fn func(context.Context) Outcome, onDone func(Outcome)) {
	c.d.rec.add(call)
	rt := &retry{call: call, attempt: fn, onDone: onDone}
	for {
		if o := c.attempt(ctx, call, fn, true); o.definitive() {
			c.finish(rt, o)
			return
		}
		if c.r.IntN(5) < 2 {
			c.parked = append(c.parked, rt)
			return
		}
	}
}

// resume retries parked call i: with faults during the run, without them
// once the client's calls are done, until its outcome is known.
func (c *client) resume(ctx context.Context, i int) {
	rt := c.parked[i]
	c.parked = append(c.parked[:i], c.parked[i+1:]...)
	for tries := 0; ; tries++ {
		o := c.attempt(ctx, rt.call, rt.attempt, !c.settling && tries < 3)
		if o.definitive() {
			c.finish(rt, o)
			return
		}
		if tries >= 50 {
			c.d.rec.problem("%s %s: still unknown after %d retries without faults: %s", rt.call.Kind, rt.call.Key, tries, o.Note)
			return
		}
		if tries >= 3 {
			time.Sleep(time.Duration(tries) * time.Millisecond) // a store that lost its server: give it time
		}
	}
}

func (c *client) finish(rt *retry, o Outcome) {
	c.done = append(c.done, rt)
	if rt.onDone != nil {
		rt.onDone(o)
	}
}

// repeat sends a completed call again with its key, as a client whose
// answer was lost on the way back would: it must return the first outcome.
func (c *client) repeat(ctx context.Context) {
	if len(c.done) == 0 {
		c.redeem(ctx)
		return
	}
	rt := c.done[c.r.IntN(len(c.done))]
	c.attempt(ctx, rt.call, rt.attempt, false)
}

// Reads: a balance, a journal, a payment. They take no key, so one that
// meets a fault is not retried: it observed nothing.

func (c *client) owner() string    { return c.d.world.Owners[c.r.IntN(len(c.d.world.Owners))] }
func (c *client) currency() string { return c.d.world.Currencies[c.r.IntN(len(c.d.world.Currencies))] }

func (c *client) balance(ctx context.Context) { c.balanceOf(ctx, c.owner(), c.currency()) }
func (c *client) history(ctx context.Context) { c.historyOf(ctx, c.owner(), c.currency()) }

func (c *client) read(ctx context.Context, call *Call, fn func(context.Context) Outcome) {
	c.d.rec.add(call)
	c.attempt(ctx, call, fn, true)
}

func (c *client) balanceOf(ctx context.Context, owner, cur string) {
	call := &Call{Client: c.id, Kind: KindBalance, Owner: owner, Currency: cur}
	c.read(ctx, call, func(ctx context.Context) Outcome {
		b, err := c.d.svc.shop.Balance(ctx, owner, giftkit.MustParseCurrency(cur))
		o := outcomeOf(err)
		o.Balance, o.Held, o.Available = b.Balance.Minor(), b.Held.Minor(), b.Available.Minor()
		return o
	})
}

func (c *client) historyOf(ctx context.Context, owner, cur string) {
	call := &Call{Client: c.id, Kind: KindHistory, Owner: owner, Currency: cur}
	c.read(ctx, call, func(ctx context.Context) Outcome {
		page, err := c.d.svc.shop.History(ctx, owner, giftkit.MustParseCurrency(cur), 0, wallet.MaxPageSize)
		o := outcomeOf(err)
		o.Seq, o.Hash = int64(len(page.Entries)), journalHash(page.Entries)
		if err == nil && page.Next != 0 {
			o.Code, o.Note = "partial", "the journal has more than one page"
		}
		return o
	})
}

func (c *client) get(ctx context.Context) {
	p, ok := c.d.pool.pick(c.r)
	if !ok || c.r.IntN(8) == 0 {
		c.getPayment(ctx, c.key("nopay"), c.currency()) // never paid
		return
	}
	c.getPayment(ctx, p.id, p.currency)
}

func (c *client) getPayment(ctx context.Context, id, cur string) {
	call := &Call{Client: c.id, Kind: KindGet, Payment: id, Currency: cur}
	c.read(ctx, call, func(ctx context.Context) Outcome {
		p, err := c.d.svc.co.Payment(ctx, id)
		o := outcomeOf(err)
		if err == nil {
			o.State, o.X, o.Y, o.Refunds = p.State.String(), p.Balance.Captured.Minor(), p.Card.Captured.Minor(), len(p.Refunds)
		}
		return o
	})
}
