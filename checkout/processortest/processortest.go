// Package processortest provides a deterministic, in-memory bank-card
// processor for tests and examples, in the manner of net/http/httptest. It
// is a test double, not a product: it moves no money.
//
// A [Processor] approves every call unless told otherwise. [Processor.Queue]
// scripts the next outcomes of one operation: a decline, a transport failure,
// a timeout, or success with a lost reply (the ambiguous case a network
// gives you). Like a real processor it is idempotent: a call repeated with a
// key it has answered returns the first answer and acts once. Like Stripe's,
// its keys are one space across operations, and a key reused for another
// operation or other parameters is refused with [ErrKeyReuse] and kept in
// [Processor.KeyReuses], so a test can tell that two calls were given one
// key. It keeps a ledger of authorisations for tests to compare with what
// payments record.
package processortest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
)

// Outcome is what the processor does with one call.
type Outcome uint8

// Outcomes.
const (
	Approve   Outcome = iota // act and answer
	Decline                  // refuse with a *checkout.DeclineError; the refusal is remembered under the key
	Fail                     // do nothing and answer with ErrTransport
	Timeout                  // do nothing and answer with an error wrapping context.DeadlineExceeded
	LoseReply                // act, then answer with ErrTransport: the caller cannot tell it happened
)

var outcomeNames = [...]string{"approve", "decline", "fail", "timeout", "lose-reply"}

// String returns the Outcome's name.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Operations, for [Processor.Queue].
const (
	OpAuthorize = "authorize"
	OpCapture   = "capture"
	OpVoid      = "void"
	OpRefund    = "refund"
)

// ErrTransport is the error of a call that failed on the way.
var ErrTransport = errors.New("processortest: connection reset")

// ErrKeyReuse is the error of a call whose key an earlier call of another
// operation or with other parameters used.
var ErrKeyReuse = errors.New("processortest: idempotency key reused with other parameters")

// DeclinedInstrument is an instrument token whose authorisations are always
// declined, as a test card number would be.
const DeclinedInstrument = "tok_declined"

// Auth is the processor's record of one authorisation.
type Auth struct {
	ID         string        // "auth_0001", "auth_0002", ... in the order the authorisations were made
	Instrument string        // the instrument token Authorize was given
	Amount     giftkit.Money // authorised
	Captured   giftkit.Money // the amount captured, at most Amount; zero until captured
	Refunded   giftkit.Money // the sum of the card refunds so far, at most Captured
	Voided     bool          // the authorisation was voided: nothing was captured
	Closed     bool          // captured or voided: no more capture or void
}

type answer struct {
	request string // the operation and its parameters
	authID  string
	err     error
}

// Processor is the fake processor. It is safe for concurrent use; the zero
// value is not usable: call [New].
type Processor struct {
	mu      sync.Mutex
	script  map[string][]Outcome
	answers map[string]answer // by key
	auths   map[string]*Auth
	calls   map[string]int
	reuses  []string
}

var _ checkout.Processor = (*Processor)(nil)

// New returns a Processor that approves everything until told otherwise.
func New() *Processor {
	return &Processor{script: map[string][]Outcome{}, answers: map[string]answer{}, auths: map[string]*Auth{}, calls: map[string]int{}}
}

// Queue sets the outcomes of the next calls of operation op (OpAuthorize,
// ...) that the processor has not answered before; later calls are approved.
func (p *Processor) Queue(op string, outcomes ...Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script[op] = append(p.script[op], outcomes...)
}

// Clear drops every outcome queued and not yet used.
func (p *Processor) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script = map[string][]Outcome{}
}

// Calls returns how many calls of op reached the processor, repeats included.
func (p *Processor) Calls(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[op]
}

// Auth returns the authorisation with the given ID.
func (p *Processor) Auth(id string) (Auth, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.auths[id]
	if !ok {
		return Auth{}, false
	}
	return *a, true
}

// Auths returns every authorisation, in order of ID.
func (p *Processor) Auths() []Auth {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Auth, 0, len(p.auths))
	for _, a := range p.auths {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// KeyReuses describes every call refused with [ErrKeyReuse], in order.
func (p *Processor) KeyReuses() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.reuses...)
}

// call runs one operation under the script and the idempotency rules. act
// does the work and returns the answer; it runs at most once per key.
// request is the operation and its parameters, which a repeat must match.
func (p *Processor) call(ctx context.Context, op, key, request string, act func() answer) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[op]++
	if a, ok := p.answers[key]; ok {
		if a.request != request {
			p.reuses = append(p.reuses, fmt.Sprintf("key %q: %s, then %s", key, a.request, request))
			return "", fmt.Errorf("%s: %w", op, ErrKeyReuse)
		}
		return a.authID, a.err
	}
	outcome := Approve
	if q := p.script[op]; len(q) > 0 {
		outcome, p.script[op] = q[0], q[1:]
	}
	switch outcome {
	case Fail:
		return "", fmt.Errorf("%s: %w", op, ErrTransport)
	case Timeout:
		return "", fmt.Errorf("%s: %w", op, context.DeadlineExceeded)
	case Decline:
		a := answer{request: request, err: &checkout.DeclineError{Reason: "do_not_honor"}}
		p.answers[key] = a
		return "", a.err
	}
	a := act()
	a.request = request
	p.answers[key] = a
	if outcome == LoseReply {
		return "", fmt.Errorf("%s: reply lost: %w", op, ErrTransport)
	}
	return a.authID, a.err
}

func decline(reason string) answer { return answer{err: &checkout.DeclineError{Reason: reason}} }

// Authorize implements checkout.Processor.
func (p *Processor) Authorize(ctx context.Context, instrument string, amount giftkit.Money, key string) (string, error) {
	return p.call(ctx, OpAuthorize, key, fmt.Sprint(OpAuthorize, " ", instrument, " ", amount), func() answer {
		if instrument == DeclinedInstrument {
			return decline("card_declined")
		}
		if !amount.IsPositive() {
			return decline("invalid_amount")
		}
		id := fmt.Sprintf("auth_%04d", len(p.auths)+1)
		zero := giftkit.Zero(amount.Currency())
		p.auths[id] = &Auth{ID: id, Instrument: instrument, Amount: amount, Captured: zero, Refunded: zero}
		return answer{authID: id}
	})
}

// Capture implements checkout.Processor.
func (p *Processor) Capture(ctx context.Context, authID string, amount giftkit.Money, key string) error {
	_, err := p.call(ctx, OpCapture, key, fmt.Sprint(OpCapture, " ", authID, " ", amount), func() answer {
		a, ok := p.auths[authID]
		switch {
		case !ok:
			return decline("no_such_authorization")
		case a.Closed:
			return decline("authorization_closed")
		case !amount.IsPositive():
			return decline("invalid_amount")
		}
		if c, err := amount.Cmp(a.Amount); err != nil || c > 0 {
			return decline("amount_exceeds_authorization")
		}
		a.Captured, a.Closed = amount, true
		return answer{}
	})
	return err
}

// Void implements checkout.Processor.
func (p *Processor) Void(ctx context.Context, authID string, key string) error {
	_, err := p.call(ctx, OpVoid, key, fmt.Sprint(OpVoid, " ", authID), func() answer {
		a, ok := p.auths[authID]
		switch {
		case !ok:
			return decline("no_such_authorization")
		case a.Closed:
			return decline("authorization_closed")
		}
		a.Voided, a.Closed = true, true
		return answer{}
	})
	return err
}

// Refund implements checkout.Processor.
func (p *Processor) Refund(ctx context.Context, authID string, amount giftkit.Money, key string) error {
	_, err := p.call(ctx, OpRefund, key, fmt.Sprint(OpRefund, " ", authID, " ", amount), func() answer {
		a, ok := p.auths[authID]
		if !ok || a.Voided || !a.Closed {
			return decline("nothing_captured")
		}
		left, _ := a.Captured.Sub(a.Refunded)
		if c, err := amount.Cmp(left); err != nil || c > 0 || !amount.IsPositive() {
			return decline("amount_exceeds_capture")
		}
		a.Refunded, _ = a.Refunded.Add(amount)
		return answer{}
	})
	return err
}
