package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/egift"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/sqlitestore"
)

// event returns event number seq of payment id, at epoch plus minutes.
func event(id string, seq int64, minutes int) outbox.Event {
	return outbox.New(outbox.Aggregate{Kind: outbox.AggregatePayment, ID: id}, seq, outbox.PaymentCaptured,
		giftkit.Client("pos-1"), epoch.Add(time.Duration(minutes)*time.Minute), []byte(fmt.Sprintf(`{"payment_id":%q}`, id)))
}

// emit commits events in a unit of work of s.
func emit(t *testing.T, s *sqlitestore.Store, events ...outbox.Event) {
	t.Helper()
	if err := s.Update(context.Background(), func(tx *sqlitestore.Tx) error { return tx.AppendEvents(events) }); err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
}

// positions reads the positions of every event of s after after, as
// consumer.
func positions(t *testing.T, s *sqlitestore.Store, consumer string, after int64) []int64 {
	t.Helper()
	var out []int64
	for {
		page, err := s.Events(context.Background(), consumer, after, 1000)
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			out = append(out, e.Pos)
			after = e.Pos
		}
	}
}

// Events are never changed or replaced, whoever connects to the file, and
// are deleted only once every registered consumer has acknowledged them.
func TestOutboxAppendOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "giftkit.db")
	s := openAt(t, path)
	emit(t, s, event("p1", 1, 0), event("p1", 2, 0), event("p1", 3, 0))
	if err := s.Ack(ctx, "billing", 1); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`UPDATE giftkit_outbox SET payload = x'7b7d' WHERE pos = 2`,
		`UPDATE giftkit_outbox SET pos = 10 WHERE pos = 3`,
		`INSERT OR REPLACE INTO giftkit_outbox (pos, event_id, type, version, aggregate_kind, aggregate_id, currency, minor_units,
			seq, actor_kind, actor_id, at_ns, payload) VALUES (2, 'evt_x', 'payment.captured', 1, 3, 'p1', '', 0, 2, 'unattributed', '', 0, x'7b7d')`,
		`DELETE FROM giftkit_outbox WHERE pos = 2`, // billing has acknowledged 1 only
		`DELETE FROM giftkit_outbox`,
		`INSERT INTO giftkit_outbox (pos, event_id, type, version, aggregate_kind, aggregate_id, currency, minor_units,
			seq, actor_kind, actor_id, at_ns, payload) VALUES (0, 'evt_x', 'payment.captured', 1, 3, 'p1', '', 0, 2, 'unattributed', '', 0, x'7b7d')`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err == nil {
			t.Errorf("%.70s: succeeded", stmt)
		}
	}
	if got := positions(t, s, "billing", 0); !cmp.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("positions after the refused statements: %v; want [1 2 3]", got)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM giftkit_outbox WHERE pos = 1`); err != nil {
		t.Errorf("deleting an event every consumer acknowledged: %v", err)
	}
}

// Positions increase in commit order, among the units of work of several
// stores on one file (as of several processes) too, and are never given
// again: not after a prune, a reopen, nor in a backup.
func TestOutboxPositions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "giftkit.db")
	one, two := openAt(t, path), openAt(t, path)
	var want []string
	for i := range 10 {
		s, id := one, fmt.Sprint("one-", i)
		if i%3 == 1 {
			s, id = two, fmt.Sprint("two-", i)
		}
		emit(t, s, event(id, 1, i), event(id, 2, i))
		want = append(want, id, id)
	}
	page, err := two.Events(ctx, "check", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, e := range page {
		got = append(got, e.Aggregate.ID)
		if e.Pos != int64(i+1) {
			t.Errorf("event %d at position %d; want %d", i, e.Pos, i+1)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events in the order of their commits (-want +got):\n%s", diff)
	}

	// Every consumer acknowledged everything: a prune removes it all.
	if err := one.Ack(ctx, "check", 20); err != nil {
		t.Fatal(err)
	}
	if p, err := one.Prune(ctx, outbox.Retention{EventsBefore: epoch.Add(time.Hour)}); err != nil || p.Events != 20 {
		t.Fatalf("Prune = %+v, %v; want 20 events", p, err)
	}
	if err := one.Ack(ctx, "check", 20); err != nil {
		t.Errorf("Ack of a pruned position = %v; want nil", err)
	}
	wantErr(t, "Ack past the last position, with every event pruned", one.Ack(ctx, "check", 21), giftkit.ErrInvalid)
	emit(t, two, event("after-prune", 1, 0))
	if got := positions(t, one, "check", 0); !cmp.Equal(got, []int64{21}) {
		t.Errorf("after the prune: positions %v; want [21]", got)
	}
	if err := one.Ack(ctx, "check", 21); err != nil {
		t.Fatal(err)
	}
	if p, err := one.Prune(ctx, outbox.Retention{EventsBefore: epoch.Add(time.Hour)}); err != nil || p.Events != 1 {
		t.Fatalf("Prune = %+v, %v; want 1 event", p, err)
	}
	backup := filepath.Join(dir, "copy.db")
	if err := one.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	one.Close()
	two.Close()
	for _, p := range []string{path, backup} {
		s := openAt(t, p)
		emit(t, s, event("reopened", 1, 0))
		if got := positions(t, s, "check", 0); !cmp.Equal(got, []int64{22}) {
			t.Errorf("%s reopened: positions %v; want [22]", filepath.Base(p), got)
		}
		if c, err := s.Cursor(ctx, "check"); err != nil || c != 21 {
			t.Errorf("%s reopened: Cursor = %d, %v; want 21", filepath.Base(p), c, err)
		}
	}
}

// Wait returns when another store on the file (another process) commits
// an event, by looking again every 250 milliseconds, and at once for a
// commit of its own store.
func TestOutboxWaitAcrossStores(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "giftkit.db")
	one, two := openAt(t, path), openAt(t, path)
	emit(t, one, event("p", 1, 0))
	last := int64(1)
	for _, tc := range []struct {
		name   string
		writer *sqlitestore.Store
		within time.Duration
	}{
		{"its own store", one, 150 * time.Millisecond},
		{"another store", two, time.Second},
	} {
		woke := make(chan error, 1)
		go func() {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			woke <- one.Wait(wctx, last)
		}()
		time.Sleep(300 * time.Millisecond) // past a first look again
		select {
		case err := <-woke:
			t.Fatalf("%s: Wait returned %v before any commit", tc.name, err)
		default:
		}
		emit(t, tc.writer, event(tc.name, 1, 0))
		last++
		committed := time.Now()
		if err := <-woke; err != nil {
			t.Fatalf("%s: Wait = %v", tc.name, err)
		}
		if d := time.Since(committed); d > tc.within {
			t.Errorf("%s: Wait returned %v after the commit; want within %v", tc.name, d, tc.within)
		}
	}
}

func TestOutboxErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for name, e := range map[string]outbox.Event{
		"an event without a time":  event("p", 1, 0),
		"an event after 2262":      event("p", 1, 0),
		"an event of no aggregate": event("p", 1, 0),
		"an account without currency": outbox.New(outbox.Aggregate{Kind: outbox.AggregateAccount, ID: "alice"}, 1, outbox.AccountCredited,
			giftkit.Actor{}, epoch, []byte(`{}`)),
		"an event of no type": event("p", 1, 0),
	} {
		switch name {
		case "an event without a time":
			e.At = time.Time{}
		case "an event after 2262":
			e.At = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
		case "an event of no aggregate":
			e.Aggregate.Kind = 0
		case "an event of no type":
			e.Type = ""
		}
		// The unit's other writes go with the refused event.
		err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
			if err := tx.PutCard(card("c-"+name, 1)); err != nil {
				return err
			}
			return tx.AppendEvents([]outbox.Event{event("ok", 1, 0), e})
		})
		wantErr(t, name, err, sqlitestore.ErrConflict)
		if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
			if _, ok, _ := tx.CardByID("c-" + name); ok {
				t.Errorf("%s: the unit's card is stored", name)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	// A batch of records that is refused puts no event in the outbox,
	// even if the unit of work goes on and commits.
	good := chain(activity.Card("c1"), 2, epoch)
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
		if err := tx.AppendActivity([]activity.Record{good[0], good[0]}); err == nil {
			return errors.New("a record twice was appended")
		}
		if err := tx.AppendActivity(good[1:]); err == nil {
			return errors.New("record 2 was appended without record 1")
		}
		return tx.AppendActivity(good[:1])
	}); err != nil {
		t.Fatal(err)
	}
	page, err := s.Events(ctx, "check", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(outbox.FromRecords(good[:1]), page, cmpTimes, cmp.Comparer(func(a, b giftkit.Currency) bool { return a == b }),
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Pos" }, cmp.Ignore())); diff != "" {
		t.Errorf("the outbox after refused batches (-want +got):\n%s", diff)
	}

	var leaked *sqlitestore.Tx
	_ = s.Update(ctx, func(tx *sqlitestore.Tx) error { leaked = tx; return nil })
	wantErr(t, "AppendEvents after the unit of work", leaked.AppendEvents([]outbox.Event{event("p", 1, 0)}), sqlitestore.ErrTxDone)
	err = s.View(ctx, func(tx *sqlitestore.Tx) error { return tx.AppendEvents([]outbox.Event{event("p", 1, 0)}) })
	wantErr(t, "AppendEvents in View", err, sqlitestore.ErrReadOnly)
	wantErr(t, "Ack of a negative position", s.Ack(ctx, "check", -1), giftkit.ErrInvalid)
	wantErr(t, "Ack past the last event", s.Ack(ctx, "check", 2), giftkit.ErrInvalid)
	if err := s.Ack(ctx, "check\x00", 1); !errors.Is(err, outbox.ErrInvalidConsumer) {
		t.Errorf("Ack of a consumer with a NUL = %v; want ErrInvalidConsumer", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Events(cancelled, "check", 0, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Events(cancelled) = %v", err)
	}
	if err := s.Wait(cancelled, 100); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(cancelled) = %v", err)
	}
	s.Close()
	_, err = s.Events(ctx, "check", 0, 10)
	wantErr(t, "Events of a closed store", err, sqlitestore.ErrUnavailable)
	wantErr(t, "Ack of a closed store", s.Ack(ctx, "check", 1), sqlitestore.ErrUnavailable)
	wantErr(t, "Wait of a closed store", s.Wait(ctx, 100), sqlitestore.ErrUnavailable)
	_, err = s.Cursor(ctx, "check")
	wantErr(t, "Cursor of a closed store", err, sqlitestore.ErrUnavailable)
	_, err = s.Prune(ctx, outbox.Retention{EventsBefore: epoch})
	wantErr(t, "Prune of a closed store", err, sqlitestore.ErrUnavailable)
}

// Prune removes more than one unit of work's worth of events and
// idempotency records, and only the oldest events: it stops at the first
// that is too recent, even if later ones are older.
func TestPruneLarge(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var old []outbox.Event
	for i := range 12000 {
		old = append(old, event(fmt.Sprint("p", i/2), int64(1+i%2), 0))
	}
	emit(t, s, old...)
	emit(t, s, event("recent", 1, 120), event("old-again", 1, 0))
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
		for i := range 12000 {
			at := epoch
			if i%2 == 1 {
				at = epoch.Add(2 * time.Hour)
			}
			if i == 7 {
				at = time.Time{} // as old as can be
			}
			if err := tx.PutIdempotency(giftkit.IdempotencyRecord{Scope: fmt.Sprint("scope-", i%3), Key: fmt.Sprint(i),
				Fingerprint: "f", Outcome: []byte{1}, CreatedAt: at}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// No consumer is registered: every event may go if it is old enough.
	p, err := s.Prune(ctx, outbox.Retention{EventsBefore: epoch.Add(time.Hour), IdempotencyBefore: epoch.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (outbox.Pruned{Events: 12000, Idempotency: 6000 + 1}); p != want {
		t.Errorf("Prune = %+v; want %+v", p, want)
	}
	if got := positions(t, s, "check", 0); !cmp.Equal(got, []int64{12001, 12002}) {
		t.Errorf("after the prune: %v; want the recent event and the old one after it", got)
	}
	if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
		for i := range 12000 {
			_, ok, err := tx.Idempotency(fmt.Sprint("scope-", i%3), fmt.Sprint(i))
			if err != nil {
				return err
			}
			if want := i%2 == 1 && i != 7; ok != want {
				t.Errorf("idempotency record %d: found %v; want %v", i, ok, want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// "check" has acknowledged nothing: nothing more goes.
	if p, err := s.Prune(ctx, outbox.Retention{EventsBefore: epoch.Add(1000 * time.Hour)}); err != nil || p.Events != 0 {
		t.Errorf("Prune with an unacknowledging consumer = %+v, %v; want nothing", p, err)
	}
}

// Deliveries: a zero SendAt is due at once, first; a sending delivery is
// due once its lease lapses; times round-trip to the nanosecond at the
// ends of the range; a delivery that cannot be stored, or a sent or
// cancelled one that keeps its sealed code, fails with ErrConflict.
func TestDeliveries(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	d := func(id string, sendAt time.Time) egift.Delivery {
		return egift.Delivery{ID: id, CardID: "card_" + id, Recipient: "zoe@example.org", SendAt: sendAt, State: egift.StateScheduled,
			Sealed: []byte{7}, CreatedAt: time.Unix(0, -(1 << 62)), UpdatedAt: time.Unix(0, 1<<62+1)}
	}
	lapsed, out := d("lapsed", epoch.Add(-time.Second)), d("out", epoch.Add(time.Second))
	lapsed.State, out.State = egift.StateSending, egift.StateSending
	failed := d("failed", time.Unix(0, -(1<<62)))
	failed.State = egift.StateFailed
	all := []egift.Delivery{d("b", epoch), d("a", time.Time{}), d("c", epoch.Add(time.Nanosecond)), d("d", time.Unix(0, -(1<<62))),
		lapsed, out, failed}
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
		for _, x := range all {
			if err := tx.PutDelivery(x); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	due := func(now time.Time, limit int) (ids []string) {
		if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
			ds, err := tx.DueDeliveries(now, limit)
			for _, x := range ds {
				ids = append(ids, x.ID)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for _, tc := range []struct {
		now   time.Time
		limit int
		want  []string
	}{
		{epoch, 10, []string{"a", "d", "lapsed", "b"}},
		{epoch, 2, []string{"a", "d"}},
		{time.Time{}, 10, []string{"a"}},
		{time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), 10, []string{"a"}},
		{time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), 10, []string{"a", "d", "lapsed", "b", "c", "out"}},
		{epoch, 0, nil},
	} {
		if got := due(tc.now, tc.limit); !cmp.Equal(got, tc.want) {
			t.Errorf("DueDeliveries(%v, %d) = %v; want %v", tc.now, tc.limit, got, tc.want)
		}
	}
	if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
		for _, want := range all {
			got, ok, err := tx.Delivery(want.ID)
			if err != nil || !ok {
				return fmt.Errorf("Delivery(%s) = %v, %v", want.ID, ok, err)
			}
			if diff := cmp.Diff(want, got, cmpTimes); diff != "" {
				t.Errorf("delivery %s (-want +got):\n%s", want.ID, diff)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]egift.Delivery{
		"no state":               {ID: "x"},
		"negative attempts":      {ID: "x", State: egift.StateFailed, Attempts: -1},
		"a time after 2262":      {ID: "x", State: egift.StateScheduled, SendAt: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
		"a sent one sealed":      {ID: "x", State: egift.StateSent, Sealed: []byte{1}},
		"a cancelled one sealed": {ID: "x", State: egift.StateCancelled, Sealed: []byte{1}},
	} {
		err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutDelivery(bad) })
		wantErr(t, "PutDelivery of "+name, err, sqlitestore.ErrConflict)
	}
	err := s.View(ctx, func(tx *sqlitestore.Tx) error { return tx.PutDelivery(d("v", epoch)) })
	wantErr(t, "PutDelivery in View", err, sqlitestore.ErrReadOnly)
}

// The services' units of work put their events in the outbox of a store
// that a second store on the file reads: what a consumer process sees.
func TestOutboxOfAnotherProcess(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "giftkit.db")
	writer, reader := openAt(t, path), openAt(t, path)
	hasher, err := giftcard.NewHasher([]byte("sqlitestore-test-hash-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	cards, err := giftcard.NewService(writer, giftcard.Config{Hasher: hasher, Now: func() time.Time { return epoch }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.FromMinor(100, eur), Count: 3}, "issue"); err != nil {
		t.Fatal(err)
	}
	page, err := reader.Events(ctx, "other-process", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range page {
		types = append(types, string(e.Type))
	}
	if got := strings.Join(types, " "); got != "card.issued card.issued card.issued" {
		t.Errorf("events read by another store: %s", got)
	}
}
