package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/egift"
)

// deliveryTx returns tx as an egift.Tx, or an error if the store's
// transaction is not one: every store keeps deliveries.
func deliveryTx(tx any) (egift.Tx, error) {
	d, ok := tx.(egift.Tx)
	if !ok {
		return nil, fmt.Errorf("%T does not implement egift.Tx", tx)
	}
	return d, nil
}

func sampleDelivery(id string, sendAt time.Time, state egift.State) egift.Delivery {
	paris := time.FixedZone("CET", 3600)
	d := egift.Delivery{ID: id, CardID: "card_" + id, Recipient: "zoé@example.org", From: "Grand-mère",
		Message: "Joyeux anniversaire ! <3 \u2028 & tout", SendAt: sendAt.In(paris), State: state,
		Sealed: []byte{1, 2, 3, 0, 255}, Attempts: 2, LastError: "smtp: 451 try later",
		CreatedAt: epoch.Add(123456789 * time.Nanosecond).In(paris), UpdatedAt: epoch.Add(time.Minute)}
	switch state {
	case egift.StateSent:
		d.Sealed, d.SentAt = nil, epoch.Add(2*time.Minute)
	case egift.StateCancelled:
		d.Sealed = nil // sent and cancelled deliveries have erased their code
	}
	return d
}

func testDeliveries[T any](t *testing.T, s giftkit.Store[T]) {
	d1 := sampleDelivery("dlv_1", epoch.Add(time.Hour), egift.StateScheduled)
	update(t, s, func(tx T) error {
		dt, err := deliveryTx(tx)
		if err != nil {
			return err
		}
		if _, ok, err := dt.Delivery("dlv_1"); err != nil || ok {
			return fmt.Errorf("reading before PutDelivery: found %v, %v", ok, err)
		}
		if err := dt.PutDelivery(d1); err != nil {
			return err
		}
		if got, ok, err := dt.Delivery("dlv_1"); err != nil || !ok || got.Recipient != d1.Recipient {
			return fmt.Errorf("reading in the writing unit: %v, %v, %v", got.ID, ok, err)
		}
		return nil
	})
	d1.Sealed[0] = 99 // the store keeps its own copy
	d1.Sealed[0] = 1
	read := func() (egift.Delivery, bool) {
		var got egift.Delivery
		var ok bool
		update(t, s, func(tx T) (err error) {
			dt, err := deliveryTx(tx)
			if err != nil {
				return err
			}
			got, ok, err = dt.Delivery("dlv_1")
			return err
		})
		return got, ok
	}
	got, ok := read()
	if diff := cmp.Diff(d1, got, cmpOpts); !ok || diff != "" {
		t.Fatalf("delivery read back (found %v; -want +got):\n%s", ok, diff)
	}
	got.Sealed[0] = 42
	if again, _ := read(); again.Sealed[0] != 1 {
		t.Fatal("a change to a read delivery reached the store")
	}

	// Replacing: the delivery sent, its code erased.
	sent := sampleDelivery("dlv_1", d1.SendAt, egift.StateSent)
	update(t, s, func(tx T) error {
		dt, err := deliveryTx(tx)
		if err != nil {
			return err
		}
		return dt.PutDelivery(sent)
	})
	if got, _ := read(); got.State != egift.StateSent || len(got.Sealed) != 0 || !got.SentAt.Equal(sent.SentAt) {
		t.Fatalf("after replacing: %v, sealed %d bytes, sent at %v", got.State, len(got.Sealed), got.SentAt)
	}

	// A failed unit leaves nothing.
	boom := errors.New("boom")
	if err := s.Update(t.Context(), func(tx T) error {
		dt, err := deliveryTx(tx)
		if err != nil {
			return err
		}
		if err := dt.PutDelivery(sampleDelivery("dlv_rolled_back", epoch, egift.StateScheduled)); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing unit: %v", err)
	}

	// Due: scheduled, or sending with a lapsed lease, at or before now, by
	// SendAt then ID, up to the limit.
	update(t, s, func(tx T) error {
		dt, err := deliveryTx(tx)
		if err != nil {
			return err
		}
		for _, d := range []egift.Delivery{
			sampleDelivery("dlv_c", epoch.Add(-time.Minute), egift.StateScheduled),
			sampleDelivery("dlv_b", epoch.Add(-time.Hour), egift.StateScheduled),
			sampleDelivery("dlv_a", epoch.Add(-time.Minute), egift.StateScheduled),
			sampleDelivery("dlv_now", epoch, egift.StateScheduled),
			sampleDelivery("dlv_later", epoch.Add(time.Nanosecond), egift.StateScheduled),
			sampleDelivery("dlv_failed", epoch.Add(-2*time.Hour), egift.StateFailed),
			sampleDelivery("dlv_cancelled", epoch.Add(-2*time.Hour), egift.StateCancelled),
			sampleDelivery("dlv_lapsed", epoch.Add(-time.Second), egift.StateSending), // its lease lapsed: due again
			sampleDelivery("dlv_out", epoch.Add(time.Second), egift.StateSending),     // with a Sender until its lease lapses
		} {
			if err := dt.PutDelivery(d); err != nil {
				return err
			}
		}
		return nil
	})
	due := func(limit int) []string {
		var ids []string
		update(t, s, func(tx T) error {
			dt, err := deliveryTx(tx)
			if err != nil {
				return err
			}
			ds, err := dt.DueDeliveries(epoch, limit)
			for _, d := range ds {
				ids = append(ids, d.ID)
			}
			return err
		})
		return ids
	}
	if diff := cmp.Diff([]string{"dlv_b", "dlv_a", "dlv_c", "dlv_lapsed", "dlv_now"}, due(10)); diff != "" {
		t.Errorf("DueDeliveries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dlv_b", "dlv_a"}, due(2)); diff != "" {
		t.Errorf("DueDeliveries with limit 2 (-want +got):\n%s", diff)
	}
}

// recordingSender keeps the messages it is given.
type recordingSender struct{ got []egift.Message }

func (r *recordingSender) Send(_ context.Context, m egift.Message) error {
	r.got = append(r.got, m)
	return nil
}

// testDeliveriesOfServices runs egift.Service over the store: a card sent
// later, one cancelled, one whose card is voided; the code delivered is the
// card's, and no delivery keeps a code once it is settled.
func testDeliveriesOfServices[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	ctx := context.Background()
	env := NewEnv(t, s, 5)
	keys, err := egift.NewKeyring([]byte("storetest-egift-key-0123456789ab"))
	if err != nil {
		t.Fatal(err)
	}
	sender := &recordingSender{}
	gifts, err := egift.NewService(giftkit.Store[egift.Tx](deliveryStore[T]{s}), egift.Config{Cards: env.Cards, Keys: keys, Sender: sender, Now: env.Clock.Now,
		Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 1<<10))})
	if err != nil {
		t.Fatal(err)
	}
	req := egift.SendRequest{Value: money("20.00"), Recipient: "zoé@example.org", From: "Mamie", Message: "Bon anniversaire\nBises",
		SendAt: epoch.Add(time.Hour + 123*time.Nanosecond)}
	later, err := gifts.Send(ctx, req, "send-later")
	if err != nil {
		t.Fatal(err)
	}
	req.SendAt = time.Time{}
	cancelled, _ := gifts.Send(ctx, req, "send-cancelled")
	voided, _ := gifts.Send(ctx, req, "send-voided")
	if _, err := gifts.Cancel(ctx, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Cards.Void(ctx, voided.CardID, "void"); err != nil {
		t.Fatal(err)
	}
	if rep, err := gifts.Deliver(ctx, 10); err != nil || rep != (egift.Report{Cancelled: 1}) {
		t.Fatalf("Deliver now = %+v, %v; want the voided card's delivery cancelled", rep, err)
	}
	env.Clock.Advance(time.Hour)
	if rep, err := gifts.Deliver(ctx, 10); err != nil || rep != (egift.Report{}) {
		t.Fatalf("Deliver a nanosecond early = %+v, %v", rep, err)
	}
	env.Clock.Advance(time.Nanosecond * 123)
	if rep, err := gifts.Deliver(ctx, 10); err != nil || rep != (egift.Report{Sent: 1}) || len(sender.got) != 1 {
		t.Fatalf("Deliver on time = %+v, %v", rep, err)
	}
	if r, err := env.Wallet.Redeem(ctx, "zoe", sender.got[0].Code.String(), "redeem"); err != nil || r.CardID != later.CardID {
		t.Fatalf("redeeming the code delivered: %+v, %v", r, err)
	}
	for _, id := range []string{later.ID, cancelled.ID, voided.ID} {
		update(t, s, func(tx T) error {
			dt, err := deliveryTx(tx)
			if err != nil {
				return err
			}
			d, ok, err := dt.Delivery(id)
			if err != nil || !ok {
				return fmt.Errorf("delivery %s: %v, %v", id, ok, err)
			}
			if d.State != egift.StateSent && d.State != egift.StateCancelled || len(d.Sealed) != 0 {
				return fmt.Errorf("delivery %s is %v with %d sealed bytes", id, d.State, len(d.Sealed))
			}
			return nil
		})
	}
}

// deliveryStore is a store whose transactions are used as egift.Tx.
type deliveryStore[T any] struct{ s giftkit.Store[T] }

func (d deliveryStore[T]) Update(ctx context.Context, fn func(egift.Tx) error) error {
	return d.s.Update(ctx, func(tx T) error {
		dt, err := deliveryTx(tx)
		if err != nil {
			return err
		}
		return fn(dt)
	})
}
