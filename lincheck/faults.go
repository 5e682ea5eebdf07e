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
)

// Fault injection. Each attempt of a call carries its own plan in its
// context, so a fault meant for one client's call never lands on another's
// (as a shared "fail the next unit of work" switch would under
// concurrency): the store wrapper fails the plan's n-th unit of work of
// the call, before or after it commits, and the processor wrapper fails,
// times out or loses the reply of the plan's processor call, as
// processortest.Queue would.

// ErrInjected is the error of an injected store fault.
var ErrInjected = errors.New("lincheck: injected store fault")

// storeFault is what a unit of work meets.
type storeFault uint8

const (
	noFault storeFault = iota
	failBeforeCommit
	failAfterCommit
)

// plan is the faults of one attempt.
type plan struct {
	mu       sync.Mutex
	store    storeFault
	unit     int // the unit of work (1-based) the store fault hits
	units    int // units of work begun so far
	procOp   string
	procOut  processortest.Outcome
	fired    []string
	disarmed bool
}

type planKey struct{}

// drawPlan draws the faults of one attempt: a store fault a quarter of the
// time, a processor fault a fifth of the time.
func drawPlan(r *rand.Rand) *plan {
	p := &plan{}
	if r.IntN(4) == 0 {
		p.store = storeFault(1 + r.IntN(2))
		p.unit = 1 + r.IntN(3)
	}
	if r.IntN(5) == 0 {
		p.procOp = []string{processortest.OpAuthorize, processortest.OpCapture, processortest.OpVoid, processortest.OpRefund}[r.IntN(4)]
		p.procOut = []processortest.Outcome{processortest.Fail, processortest.Timeout, processortest.LoseReply}[r.IntN(3)]
	}
	return p
}

func withPlan(ctx context.Context, p *plan) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, planKey{}, p)
}

func planOf(ctx context.Context) *plan {
	p, _ := ctx.Value(planKey{}).(*plan)
	return p
}

// nextUnit returns the fault of the unit of work beginning now.
func (p *plan) nextUnit() storeFault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.units++
	if p.disarmed || p.store == noFault || p.units != p.unit {
		return noFault
	}
	p.fired = append(p.fired, map[storeFault]string{failBeforeCommit: "store: before commit", failAfterCommit: "store: after commit"}[p.store]+fmt.Sprintf(" (unit %d)", p.unit))
	return p.store
}

// procFault returns the outcome the plan gives processor call op, once.
func (p *plan) procFault(op string) processortest.Outcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.disarmed || p.procOp != op {
		return processortest.Approve
	}
	p.procOp = ""
	p.fired = append(p.fired, "processor "+op+": "+p.procOut.String())
	return p.procOut
}

// report describes the faults that fired.
func (p *plan) report() string {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.fired, "; ")
}

// faultStore wraps a store and fails units of work as the plan in their
// context says.
type faultStore[T any] struct{ inner giftkit.Store[T] }

// Update implements giftkit.Store.
func (f faultStore[T]) Update(ctx context.Context, fn func(tx T) error) error {
	p := planOf(ctx)
	if p == nil {
		return f.inner.Update(ctx, fn)
	}
	switch p.nextUnit() {
	case failBeforeCommit:
		return f.inner.Update(ctx, func(tx T) error {
			if err := fn(tx); err != nil {
				return err
			}
			return ErrInjected
		})
	case failAfterCommit:
		if err := f.inner.Update(ctx, fn); err != nil {
			return err
		}
		return ErrInjected
	}
	return f.inner.Update(ctx, fn)
}

// faultProcessor wraps a processor and fails its calls as the plan in their
// context says: Fail and Timeout do nothing and answer with an error;
// LoseReply acts and answers with an error.
type faultProcessor struct{ inner checkout.Processor }

func (f faultProcessor) fault(ctx context.Context, op string, act func() error) error {
	out := processortest.Approve
	if p := planOf(ctx); p != nil {
		out = p.procFault(op)
	}
	switch out {
	case processortest.Fail:
		return fmt.Errorf("%s: %w", op, processortest.ErrTransport)
	case processortest.Timeout:
		return fmt.Errorf("%s: %w", op, context.DeadlineExceeded)
	case processortest.LoseReply:
		_ = act()
		return fmt.Errorf("%s: reply lost: %w", op, processortest.ErrTransport)
	}
	return act()
}

// Authorize implements checkout.Processor.
func (f faultProcessor) Authorize(ctx context.Context, instrument string, amount giftkit.Money, key string) (id string, err error) {
	err = f.fault(ctx, processortest.OpAuthorize, func() (err error) {
		id, err = f.inner.Authorize(ctx, instrument, amount, key)
		return err
	})
	if err != nil {
		id = ""
	}
	return id, err
}

// Capture implements checkout.Processor.
func (f faultProcessor) Capture(ctx context.Context, authID string, amount giftkit.Money, key string) error {
	return f.fault(ctx, processortest.OpCapture, func() error { return f.inner.Capture(ctx, authID, amount, key) })
}

// Void implements checkout.Processor.
func (f faultProcessor) Void(ctx context.Context, authID string, key string) error {
	return f.fault(ctx, processortest.OpVoid, func() error { return f.inner.Void(ctx, authID, key) })
}

// Refund implements checkout.Processor.
func (f faultProcessor) Refund(ctx context.Context, authID string, amount giftkit.Money, key string) error {
	return f.fault(ctx, processortest.OpRefund, func() error { return f.inner.Refund(ctx, authID, amount, key) })
}
