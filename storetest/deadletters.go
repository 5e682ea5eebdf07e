package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/giftkit/giftkit/outbox"
	"github.com/google/go-cmp/cmp"
)

// A DeadLetterer is a store that keeps the outbox's dead letters (see
// outbox.DeadLetters) beside it, as every store does: a webhook dispatcher
// acknowledges a dead letter's event in the outbox, so a process that lost
// its dead letters could not replay them.
type DeadLetterer interface {
	DeadLetters() outbox.DeadLetters
}

func testDeadLetters(t *testing.T, s any) {
	ctx := context.Background()
	d, ok := s.(DeadLetterer)
	if !ok {
		t.Fatalf("%T keeps no dead letters (a DeadLetters() outbox.DeadLetters method)", s)
	}
	dl := d.DeadLetters()
	letter := func(consumer string, pos int64, status int) outbox.DeadLetter {
		e := sampleEvent("p-"+consumer, pos, int(pos))
		e.Pos = pos
		return outbox.DeadLetter{Consumer: consumer, Event: e, Attempts: int(pos) + 1, Status: status,
			Error: "status 500 «serveur»", At: epoch.Add(time.Duration(pos)*time.Minute + 123*time.Nanosecond)}
	}
	if _, err := dl.Get(ctx, "webhook:crm", "evt_nope"); !errors.Is(err, outbox.ErrDeadLetterNotFound) {
		t.Fatalf("Get of nothing = %v; want ErrDeadLetterNotFound", err)
	}
	if got, err := dl.List(ctx, "webhook:crm", 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("List of nothing = %d, %v", len(got), err)
	}
	want := []outbox.DeadLetter{letter("webhook:crm", 3, 500), letter("webhook:crm", 1, 0), letter("webhook:crm", 7, 410)}
	for _, l := range append(want, letter("webhook:erp", 2, 503)) {
		if err := dl.Put(ctx, l); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	want[0].Event.Payload[0] = 'X' // the store keeps its own copy
	kept, err := dl.Get(ctx, "webhook:crm", want[0].Event.ID)
	if err == nil && kept.Event.Payload[0] != '{' {
		t.Fatal("Put kept the caller's payload, not a copy")
	}
	want[0].Event.Payload[0] = '{'
	got, err := dl.Get(ctx, "webhook:crm", want[0].Event.ID)
	if diff := cmp.Diff(want[0], got, cmpOpts); err != nil || diff != "" {
		t.Fatalf("Get = %v (-want +got):\n%s", err, diff)
	}
	got.Event.Payload[0] = 'Y'
	if again, _ := dl.Get(ctx, "webhook:crm", want[0].Event.ID); again.Event.Payload[0] != '{' {
		t.Fatal("a change to a dead letter read reached the store")
	}
	// List: one consumer's, in order of position, after a position, up to a limit.
	ordered := []outbox.DeadLetter{want[1], want[0], want[2]}
	all, err := dl.List(ctx, "webhook:crm", 0, 10)
	if diff := cmp.Diff(ordered, all, cmpOpts); err != nil || diff != "" {
		t.Fatalf("List = %v (-want +got):\n%s", err, diff)
	}
	page, err := dl.List(ctx, "webhook:crm", 1, 1)
	if err != nil || len(page) != 1 || page[0].Event.ID != want[0].Event.ID {
		t.Fatalf("List after 1, limit 1 = %v, %v", page, err)
	}
	// Put replaces; Delete removes one, and deleting it again is no error.
	replaced := want[0]
	replaced.Attempts, replaced.Error, replaced.Status = 11, "timed out after 30s", 0
	if err := dl.Put(ctx, replaced); err != nil {
		t.Fatal(err)
	}
	if got, _ := dl.Get(ctx, "webhook:crm", replaced.Event.ID); got.Attempts != 11 || got.Error != replaced.Error || got.Status != 0 {
		t.Fatalf("after replacing: %+v", got)
	}
	for range 2 {
		if err := dl.Delete(ctx, "webhook:crm", want[1].Event.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	if _, err := dl.Get(ctx, "webhook:crm", want[1].Event.ID); !errors.Is(err, outbox.ErrDeadLetterNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if other, _ := dl.List(ctx, "webhook:erp", 0, 10); len(other) != 1 || other[0].Event.Pos != 2 {
		t.Fatalf("another consumer's dead letters: %v", other)
	}
}
