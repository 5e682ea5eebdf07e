package storetest

import (
	"context"
	"errors"
	"sync"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
)

// Fault injection: a store wrapper that fails the next unit of work before
// or after it commits, and processor outcomes queued for the next call.
// Every action that may meet a fault arms it just before its call and
// disarms it just after, so no fault outlives the call rapid chose it for.

// errInjected is the error of an injected store fault.
var errInjected = errors.New("storetest: injected store fault")

// faultStore wraps a store and, when armed, fails the next unit of work:
// either before it commits (fn ran, then the unit is rolled back) or after
// it committed (the ambiguous answer a network gives).
type faultStore[T any] struct {
	inner giftkit.Store[T]
	mu    sync.Mutex // RedeemRace calls Update from several goroutines
	fault fault
}

// arm sets the fault of the next unit of work.
func (f *faultStore[T]) arm(x fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = x
}

// fault is what the next unit of work of a faultStore meets.
type fault uint8

const (
	noFault fault = iota
	failBeforeCommit
	failAfterCommit
)

// Update runs fn in a unit of work of the inner store, and fails it as the
// last call to arm asked; the fault is spent either way.
func (f *faultStore[T]) Update(ctx context.Context, fn func(tx T) error) error {
	f.mu.Lock()
	armed := f.fault
	f.fault = noFault
	f.mu.Unlock()
	switch armed {
	case failBeforeCommit:
		err := f.inner.Update(ctx, func(tx T) error {
			if err := fn(tx); err != nil {
				return err
			}
			return errInjected
		})
		return err
	case failAfterCommit:
		if err := f.inner.Update(ctx, fn); err != nil {
			return err
		}
		return errInjected
	}
	return f.inner.Update(ctx, fn)
}

// armFaults lets rapid decide whether the next call meets a fault.
func (m *system[T]) armFaults(t *rapid.T) {
	if !m.opts.Faults {
		return
	}
	m.faults.arm(rapid.SampledFrom([]fault{noFault, noFault, noFault, failBeforeCommit, failAfterCommit}).Draw(t, "store fault"))
	if o := rapid.SampledFrom([]processortest.Outcome{processortest.Approve, processortest.Approve, processortest.Fail,
		processortest.Timeout, processortest.LoseReply}).Draw(t, "processor fault"); o != processortest.Approve {
		m.proc.Queue(rapid.SampledFrom([]string{processortest.OpAuthorize, processortest.OpCapture,
			processortest.OpVoid, processortest.OpRefund}).Draw(t, "processor op"), o)
	}
}

// interrupted reports whether err is a fault this harness injected (or its
// consequence), after which the call's effect is unknown until it is retried.
func interrupted(err error) bool {
	return errors.Is(err, errInjected) || errors.Is(err, checkout.ErrProcessorUnavailable)
}

// disarm clears any fault left unused by the last call.
func (m *system[T]) disarm() {
	m.faults.arm(noFault)
	m.proc.Clear()
}
