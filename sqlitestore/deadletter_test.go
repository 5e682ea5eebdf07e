package sqlitestore_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/sqlitestore"
)

var deadLetterOpts = cmp.Options{cmpTimes, cmp.Comparer(func(a, b giftkit.Currency) bool { return a == b })}

// Dead letters are kept in the file: another store on it (as of another
// process) reads them, and so does the store that reopens it, after the
// outbox has pruned their events.
func TestDeadLettersDurable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "giftkit.db")
	one, two := openAt(t, path), openAt(t, path)
	emit(t, one, event("p1", 1, 0))
	events, err := one.Events(ctx, "webhook:crm", 0, 10)
	if err != nil || len(events) != 1 {
		t.Fatalf("Events = %v, %v", events, err)
	}
	account := outbox.New(outbox.Aggregate{Kind: outbox.AggregateAccount, ID: "alice", Currency: eur}, 3, outbox.AccountCredited,
		giftkit.Actor{}, epoch.Add(time.Nanosecond), []byte(`{}`))
	account.Pos = 9
	want := []outbox.DeadLetter{
		{Consumer: "webhook:crm", Event: events[0], Attempts: 8, Status: 503, Error: "status 503", At: epoch.Add(time.Hour + 1)},
		// The zero time is kept, as every time is; an account's currency too.
		{Consumer: "webhook:crm", Event: account, Error: "cannot be encoded"},
	}
	for _, l := range want {
		if err := one.DeadLetters().Put(ctx, l); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	// The consumer acknowledged the event, and the outbox prunes it.
	if err := one.Ack(ctx, "webhook:crm", events[0].Pos); err != nil {
		t.Fatal(err)
	}
	if p, err := one.Prune(ctx, outbox.Retention{EventsBefore: epoch.Add(time.Hour)}); err != nil || p.Events != 1 {
		t.Fatalf("Prune = %+v, %v; want 1 event", p, err)
	}
	got, err := two.DeadLetters().List(ctx, "webhook:crm", 0, 10)
	if diff := cmp.Diff(want, got, deadLetterOpts); err != nil || diff != "" {
		t.Errorf("List from another store = %v (-want +got):\n%s", err, diff)
	}
	one.Close()
	two.Close()

	again := openAt(t, path)
	got, err = again.DeadLetters().List(ctx, "webhook:crm", 0, 10)
	if diff := cmp.Diff(want, got, deadLetterOpts); err != nil || diff != "" {
		t.Errorf("List after reopening = %v (-want +got):\n%s", err, diff)
	}
	l, err := again.DeadLetters().Get(ctx, "webhook:crm", want[1].Event.ID)
	if diff := cmp.Diff(want[1], l, deadLetterOpts); err != nil || diff != "" {
		t.Errorf("Get after reopening = %v (-want +got):\n%s", err, diff)
	}
}

func TestDeadLettersErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	dl := s.DeadLetters()
	good := outbox.DeadLetter{Consumer: "webhook:crm", Event: event("p1", 1, 0), Attempts: 1, Error: "status 500", At: epoch}
	good.Event.Pos = 1

	_, err := dl.Get(ctx, "webhook:crm", "evt_nope")
	if !errors.Is(err, outbox.ErrDeadLetterNotFound) || !errors.Is(err, giftkit.ErrNotFound) {
		t.Errorf("Get of nothing = %v; want ErrDeadLetterNotFound", err)
	}
	noDriverType(t, "Get of nothing", err)

	for name, change := range map[string]func(l *outbox.DeadLetter){
		"an event without a time":  func(l *outbox.DeadLetter) { l.Event.At = time.Time{} },
		"an event after 2262":      func(l *outbox.DeadLetter) { l.Event.At = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) },
		"a failure after 2262":     func(l *outbox.DeadLetter) { l.At = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) },
		"an event of no aggregate": func(l *outbox.DeadLetter) { l.Event.Aggregate.Kind = 0 },
		"an event of no type":      func(l *outbox.DeadLetter) { l.Event.Type = "" },
		"negative attempts":        func(l *outbox.DeadLetter) { l.Attempts = -1 },
	} {
		bad := good
		change(&bad)
		wantErr(t, "Put of "+name, dl.Put(ctx, bad), sqlitestore.ErrConflict)
	}
	if got, err := dl.List(ctx, "webhook:crm", 0, 10); err != nil || len(got) != 0 {
		t.Errorf("List after refused Puts = %v, %v; want none", got, err)
	}

	for _, consumer := range []string{"", "webhook\x00crm", strings.Repeat("c", outbox.MaxConsumerLen+1)} {
		bad := good
		bad.Consumer = consumer
		_, getErr := dl.Get(ctx, consumer, "evt_x")
		_, listErr := dl.List(ctx, consumer, 0, 10)
		for method, err := range map[string]error{"Put": dl.Put(ctx, bad), "Get": getErr, "List": listErr,
			"Delete": dl.Delete(ctx, consumer, "evt_x")} {
			if !errors.Is(err, outbox.ErrInvalidConsumer) {
				t.Errorf("%s(%q) = %v; want ErrInvalidConsumer", method, consumer, err)
			}
		}
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, getErr := dl.Get(cancelled, "webhook:crm", "evt_x")
	_, listErr := dl.List(cancelled, "webhook:crm", 0, 10)
	for method, err := range map[string]error{"Put": dl.Put(cancelled, good), "Get": getErr, "List": listErr,
		"Delete": dl.Delete(cancelled, "webhook:crm", "evt_x")} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s(cancelled) = %v; want context.Canceled", method, err)
		}
	}

	s.Close()
	wantErr(t, "Put to a closed store", dl.Put(ctx, good), sqlitestore.ErrUnavailable)
	_, err = dl.Get(ctx, "webhook:crm", "evt_x")
	wantErr(t, "Get of a closed store", err, sqlitestore.ErrUnavailable)
	_, err = dl.List(ctx, "webhook:crm", 0, 10)
	wantErr(t, "List of a closed store", err, sqlitestore.ErrUnavailable)
	wantErr(t, "Delete of a closed store", dl.Delete(ctx, "webhook:crm", "evt_x"), sqlitestore.ErrUnavailable)
}
