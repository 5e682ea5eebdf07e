package checkout_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/outbox"
)

// paymentEvents returns the types of payment id's events, in order.
func (f fixture) paymentEvents(t *testing.T, id string) ([]outbox.Type, []outbox.Event) {
	t.Helper()
	events, err := f.store.Events(context.Background(), "test", 0, outbox.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	var types []outbox.Type
	var mine []outbox.Event
	for _, e := range events {
		if e.Aggregate.Kind == outbox.AggregatePayment && e.Aggregate.ID == id {
			types = append(types, e.Type)
			mine = append(mine, e)
		}
	}
	return types, mine
}

// TestPaymentEvents walks payments through every ending and checks the
// events each emits, in order, numbered from 1, with their payloads.
func TestPaymentEvents(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, checkout.Config{HoldFor: time.Hour})
	f.Fund(t, "alice", eurs("30.00"))

	// Paid now, part balance part card, then refunded twice, the second
	// refused by the processor.
	if _, err := f.pay(t, "paid", "50.00", checkout.CaptureNow); err != nil {
		t.Fatal(err)
	}
	if _, err := f.co.Refund(ctx, "paid", eurs("5.00"), "refund-1"); err != nil {
		t.Fatal(err)
	}
	f.proc.Queue(processortest.OpRefund, processortest.Decline)
	_, _ = f.co.Refund(ctx, "paid", eurs("25.00"), "refund-2") // card first: the processor declines
	// Authorised, then cancelled; declined; expired.
	if _, err := f.pay(t, "cancelled", "5.00", checkout.CaptureLater); err != nil {
		t.Fatal(err)
	}
	if _, err := f.co.Cancel(ctx, "cancelled", "cancel-1"); err != nil {
		t.Fatal(err)
	}
	f.proc.Queue(processortest.OpAuthorize, processortest.Decline)
	_, _ = f.pay(t, "declined", "5.00", checkout.CaptureNow)
	if _, err := f.pay(t, "lapsed", "5.00", checkout.CaptureLater); err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(2 * time.Hour)
	if _, _, err := f.co.Sweep(ctx, 10); err != nil {
		t.Fatal(err)
	}

	for id, want := range map[string][]outbox.Type{
		"paid":      {outbox.PaymentAuthorized, outbox.PaymentCaptured, outbox.PaymentRefunded, outbox.PaymentRefundFailed},
		"cancelled": {outbox.PaymentAuthorized, outbox.PaymentCancelled},
		"declined":  {outbox.PaymentFailed},
		"lapsed":    {outbox.PaymentAuthorized, outbox.PaymentExpired},
	} {
		got, events := f.paymentEvents(t, id)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", id, diff)
		}
		p, err := f.co.Payment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.EventSeq != int64(len(events)) {
			t.Errorf("%s: EventSeq %d, %d events", id, p.EventSeq, len(events))
		}
		for i, e := range events {
			if e.Seq != int64(i+1) || e.ID != outbox.ID(e.Aggregate, e.Seq) {
				t.Errorf("%s: event %d has Seq %d, ID %s", id, i, e.Seq, e.ID)
			}
			var body map[string]any
			if err := json.Unmarshal(e.Payload, &body); err != nil {
				t.Fatalf("%s: payload %s: %v", id, e.Payload, err)
			}
			if body["payment_id"] != id || body["owner"] != "alice" {
				t.Errorf("%s: payload %s", id, e.Payload)
			}
			if strings.Contains(string(e.Payload), "tok_visa") || strings.Contains(string(e.Payload), "pay-"+id) {
				t.Errorf("%s: payload carries the card token or the key: %s", id, e.Payload)
			}
			switch e.Type {
			case outbox.PaymentFailed, outbox.PaymentCancelled, outbox.PaymentExpired:
				if _, ok := body["failure"]; !ok {
					t.Errorf("%s %s: no failure in %s", id, e.Type, e.Payload)
				}
			case outbox.PaymentRefunded, outbox.PaymentRefundFailed:
				if _, ok := body["refund"]; !ok {
					t.Errorf("%s %s: no refund in %s", id, e.Type, e.Payload)
				}
			}
		}
	}
}
