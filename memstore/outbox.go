package memstore

import (
	"context"
	"fmt"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/outbox"
)

var _ outbox.Reader = (*Store)(nil)

// outboxLog holds the outbox: the events not yet pruned, in commit order.
// Positions are contiguous: events[i] has Pos first+i.
type outboxLog struct {
	events    []outbox.Event
	first     int64            // the Pos of events[0]; the next Pos when events is empty
	consumers map[string]int64 // each registered consumer's cursor
	wake      chan struct{}    // closed, and replaced, when events commit
}

// AppendEvents implements outbox.Tx.
func (tx *Tx) AppendEvents(events []outbox.Event) error {
	if err := tx.usable(); err != nil {
		return err
	}
	tx.w.events = append(tx.w.events, events...) // their payloads are handed over (see outbox.Tx)
	return nil
}

func (s *Store) commitEvents(pending []outbox.Event) {
	if len(pending) == 0 {
		return
	}
	o := &s.outbox
	if o.first == 0 {
		o.first = 1
	}
	next := o.first + int64(len(o.events))
	for _, e := range pending {
		e.Pos = next
		next++
		o.events = append(o.events, e)
	}
	if o.wake != nil {
		close(o.wake)
		o.wake = nil
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

// Events implements outbox.Reader.
func (s *Store) Events(ctx context.Context, consumer string, after int64, limit int) ([]outbox.Event, error) {
	if err := outbox.CheckConsumer(consumer); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
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
	page := o.events[start:min(start+int64(limit), int64(len(o.events)))]
	out := make([]outbox.Event, len(page))
	for i, e := range page {
		out[i] = e.Clone()
	}
	return out, nil
}

// Ack implements outbox.Reader.
func (s *Store) Ack(ctx context.Context, consumer string, pos int64) error {
	if err := outbox.CheckConsumer(consumer); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
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
	if err := outbox.CheckConsumer(consumer); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outbox.consumers[consumer], nil
}

// Wait implements outbox.Reader: it returns as soon as a unit of work
// commits an event after after.
func (s *Store) Wait(ctx context.Context, after int64) error {
	for {
		s.mu.Lock()
		o := &s.outbox
		if o.first > 0 && o.first+int64(len(o.events))-1 > after {
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
		n := 0
		for n < len(o.events) && o.events[n].Pos <= acked && o.events[n].At.Before(r.EventsBefore) {
			n++
		}
		if n > 0 {
			clear(o.events[:n])
			o.events = o.events[n:]
			o.first += int64(n)
			out.Events = n
		}
	}
	return out, nil
}
