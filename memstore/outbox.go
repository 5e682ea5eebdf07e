package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/outbox"
)

var _ outbox.Reader = (*Store)(nil)

// outboxLog holds the outbox: the events not yet pruned, in commit order.
// Positions are contiguous: events[i] has Pos first+i. A record's event is
// kept as the record's position in the activity log, which holds the record
// anyway, and built when it is read (outbox.FromRecord is a pure function
// of the record); a payment's event is kept whole, in payments.
type outboxLog struct {
	events    []entry
	first     int64            // the Pos of events[0]; the next Pos when events is empty
	payments  []outbox.Event   // the payment events of events, in order
	payFirst  int64            // the number of payment events pruned before payments[0]
	consumers map[string]int64 // each registered consumer's cursor
	wake      chan struct{}    // closed, and replaced, when events commit
}

// An entry is one event of the outbox: the activity record at position rec
// projects it, or, when rec is -1, it is payment event number pay (counted
// from the first ever).
type entry struct {
	rec int32
	pay int64
}

// A pendingEvent is an event of a unit of work not yet committed: the
// event of the unit's activity record number rec, or, when rec is -1, ev.
type pendingEvent struct {
	rec int32
	ev  outbox.Event
}

// AppendEvents implements outbox.Tx.
func (tx *Tx) AppendEvents(events []outbox.Event) error {
	if err := tx.usable(); err != nil {
		return err
	}
	for _, e := range events { // their payloads are handed over (see outbox.Tx)
		tx.w.events = append(tx.w.events, pendingEvent{rec: -1, ev: e})
	}
	return nil
}

// commitEvents numbers a committed unit's events. base is the position in
// the activity log of the unit's first record.
func (s *Store) commitEvents(pending []pendingEvent, base int32) {
	if len(pending) == 0 {
		return
	}
	o := &s.outbox
	if o.first == 0 {
		o.first = 1
	}
	for _, p := range pending {
		if p.rec >= 0 {
			o.events = append(o.events, entry{rec: base + p.rec})
			continue
		}
		o.events = append(o.events, entry{rec: -1, pay: o.payFirst + int64(len(o.payments))})
		o.payments = append(o.payments, p.ev)
	}
	if o.wake != nil {
		close(o.wake)
		o.wake = nil
	}
}

// event returns the event of entry i of the outbox, as a reader's copy.
func (s *Store) event(i int) outbox.Event {
	o := &s.outbox
	var e outbox.Event
	if en := o.events[i]; en.rec >= 0 {
		e = outbox.FromRecord(*s.activity.at(en.rec))
	} else {
		e = o.payments[en.pay-o.payFirst].Clone()
	}
	e.Pos = o.first + int64(i)
	return e
}

// eventAt returns the time of entry i of the outbox.
func (s *Store) eventAt(i int) time.Time {
	o := &s.outbox
	if en := o.events[i]; en.rec >= 0 {
		return s.activity.at(en.rec).At
	} else {
		return o.payments[en.pay-o.payFirst].At
	}
}

// register returns consumer's cursor, registering it at 0 if it is new.
func (o *outboxLog) register(consumer string) int64 {
	if o.consumers == nil {
		o.consumers = make(map[string]int64)
	}
	c, ok := o.consumers[consumer]
	if !ok {
		o.consumers[consumer] = 0
	}
	return c
}

// checkCall returns the error of a call for consumer with ctx that must
// not run: a bad name, or ctx done.
func checkCall(ctx context.Context, consumer string) error {
	if err := outbox.CheckConsumer(consumer); err != nil {
		return err
	}
	return ctx.Err()
}

// Events implements outbox.Reader.
func (s *Store) Events(ctx context.Context, consumer string, after int64, limit int) ([]outbox.Event, error) {
	if err := checkCall(ctx, consumer); err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), outbox.MaxLimit)
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.outbox
	o.register(consumer)
	start := max(after-o.first+1, 0)
	if start >= int64(len(o.events)) {
		return nil, nil
	}
	end := min(start+int64(limit), int64(len(o.events)))
	out := make([]outbox.Event, 0, end-start)
	for i := start; i < end; i++ {
		out = append(out, s.event(int(i)))
	}
	return out, nil
}

// Ack implements outbox.Reader.
func (s *Store) Ack(ctx context.Context, consumer string, pos int64) error {
	if err := checkCall(ctx, consumer); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &s.outbox
	if last := o.first + int64(len(o.events)) - 1; pos > max(last, 0) || pos < 0 {
		return fmt.Errorf("memstore: ack %d: %w: no event at that position", pos, giftkit.ErrInvalid)
	}
	if pos > o.register(consumer) {
		o.consumers[consumer] = pos
	}
	return nil
}

// Cursor implements outbox.Reader.
func (s *Store) Cursor(ctx context.Context, consumer string) (int64, error) {
	if err := checkCall(ctx, consumer); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outbox.consumers[consumer], nil
}

// Forget implements outbox.Reader.
func (s *Store) Forget(ctx context.Context, consumer string) error {
	if err := checkCall(ctx, consumer); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.outbox.consumers, consumer)
	return nil
}

// Wait implements outbox.Reader: it returns as soon as a unit of work
// commits an event after after.
func (s *Store) Wait(ctx context.Context, after int64) error {
	for {
		s.mu.Lock()
		o := &s.outbox
		if len(o.events) > 0 && o.first+int64(len(o.events))-1 > after { // not pruned: Events would return it
			s.mu.Unlock()
			return nil
		}
		if o.wake == nil {
			o.wake = make(chan struct{})
		}
		wake := o.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Prune implements outbox.Reader.
func (s *Store) Prune(ctx context.Context, r outbox.Retention) (outbox.Pruned, error) {
	if err := ctx.Err(); err != nil {
		return outbox.Pruned{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out outbox.Pruned
	if !r.IdempotencyBefore.IsZero() {
		for k, rec := range s.idem {
			if rec.CreatedAt.Before(r.IdempotencyBefore) {
				delete(s.idem, k)
				out.Idempotency++
			}
		}
	}
	if !r.EventsBefore.IsZero() {
		o := &s.outbox
		acked := o.first + int64(len(o.events)) - 1 // every event, if no consumer is registered
		for _, c := range o.consumers {
			acked = min(acked, c)
		}
		n, pays := 0, 0
		for n < len(o.events) && o.first+int64(n) <= acked && s.eventAt(n).Before(r.EventsBefore) {
			if o.events[n].rec < 0 {
				pays++
			}
			n++
		}
		if n > 0 {
			o.events = o.events[n:]
			clear(o.payments[:pays])
			o.payments = o.payments[pays:]
			o.first += int64(n)
			o.payFirst += int64(pays)
			out.Events = n
		}
	}
	return out, nil
}

// DeadLetters returns the Store's webhook dead letters: in memory, as
// everything memstore keeps (see storetest.DeadLetterer).
func (s *Store) DeadLetters() outbox.DeadLetters {
	return s.dead
}
