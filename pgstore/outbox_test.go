package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/pgstore"
)

// paymentEvent returns event number seq of payment id.
func paymentEvent(id string, seq int64) outbox.Event {
	agg := outbox.Aggregate{Kind: outbox.AggregatePayment, ID: id}
	return outbox.New(agg, seq, outbox.PaymentCaptured, giftkit.Client("pos"), time.Unix(1_700_000_000, seq),
		[]byte(fmt.Sprintf(`{"payment_id":%q,"n":%d}`, id, seq)))
}

// appendEvents commits events in one unit of work.
func appendEvents(t *testing.T, s *pgstore.Store, events ...outbox.Event) {
	t.Helper()
	if err := s.Update(context.Background(), func(tx *pgstore.Tx) error { return tx.AppendEvents(events) }); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every event after after for consumer, page by page.
func readAll(t testing.TB, r outbox.Reader, consumer string, after int64) []outbox.Event {
	t.Helper()
	var out []outbox.Event
	for {
		page, err := r.Events(context.Background(), consumer, after, outbox.MaxLimit)
		if err != nil {
			t.Fatalf("Events(%q, %d): %v", consumer, after, err)
		}
		if len(page) == 0 {
			return out
		}
		after = page[len(page)-1].Pos
		out = append(out, page...)
	}
}

func ids(events []outbox.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Aggregate.ID + "#" + fmt.Sprint(e.Seq)
	}
	return out
}

// TestOutboxCommitOrder: positions follow commit order, not insertion
// order. A unit that inserted its event first (its id is smaller) but
// commits after another unit's event was read gets the next position, so a
// consumer that read up to the other's position still reads it.
func TestOutboxCommitOrder(t *testing.T) {
	ctx := context.Background()
	s, schema, drop := openSchema(t, "")
	defer drop()
	inserted, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx *pgstore.Tx) error {
			if err := tx.AppendEvents([]outbox.Event{paymentEvent("slow", 1)}); err != nil {
				return err
			}
			if _, _, err := tx.CardByID("none"); err != nil { // a read: the insert goes with it
				return err
			}
			once.Do(func() { close(inserted) })
			<-release
			return nil
		})
	}()
	<-inserted
	appendEvents(t, s, paymentEvent("fast", 1))
	first := readAll(t, s, "c", 0)
	if diff := cmp.Diff([]string{"fast#1"}, ids(first)); diff != "" {
		t.Fatalf("before the slow unit commits (-want +got):\n%s", diff)
	}
	if err := s.Ack(ctx, "c", first[0].Pos); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	next := readAll(t, s, "c", first[0].Pos)
	if diff := cmp.Diff([]string{"slow#1"}, ids(next)); diff != "" {
		t.Fatalf("after the slow unit commits, past the cursor (-want +got):\n%s", diff)
	}
	if next[0].Pos != first[0].Pos+1 {
		t.Errorf("positions %d then %d; want contiguous", first[0].Pos, next[0].Pos)
	}
	// The slow unit's event was inserted first: the order of insertion is
	// not the order read.
	var slowID, fastID int64
	if err := rawConn(t, schema).QueryRow(ctx, `SELECT
		(SELECT id FROM giftkit_outbox WHERE aggregate_id = 'slow'), (SELECT id FROM giftkit_outbox WHERE aggregate_id = 'fast')`).
		Scan(&slowID, &fastID); err != nil {
		t.Fatal(err)
	}
	if slowID >= fastID {
		t.Errorf("the slow unit's id %d is not before the fast one's %d: the test did not race", slowID, fastID)
	}
}

// TestOutboxOrderInUnit: a unit's events come in the order of its calls,
// whether appended by AppendEvents or with activity records, in one
// statement or several, over VALUES or over arrays.
func TestOutboxOrderInUnit(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	recs := chain(activity.Account("alice", giftkit.EUR), 12, giftkit.Shopper("alice"), time.Unix(1_700_000_000, 0))
	many := make([]outbox.Event, 9)
	for i := range many {
		many[i] = paymentEvent("q", int64(i+1))
	}
	err := s.Update(ctx, func(tx *pgstore.Tx) error {
		for _, step := range []func() error{
			func() error { return tx.AppendEvents([]outbox.Event{paymentEvent("p", 1)}) },
			func() error { return tx.AppendActivity(recs[:2]) },
			func() error { return tx.AppendEvents([]outbox.Event{paymentEvent("p", 2), paymentEvent("p", 3)}) },
			func() error { return tx.AppendActivity(recs[2:3]) },
			func() error { _, _, err := tx.CardByID("none"); return err }, // a read: what is queued goes with it
			func() error { return tx.AppendEvents(many) },                 // then more than VALUES takes: arrays
			func() error { return tx.AppendActivity(recs[3:]) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"p#1", "alice#1", "alice#2", "p#2", "p#3", "alice#3"}
	for i := range many {
		want = append(want, fmt.Sprint("q#", i+1))
	}
	for _, r := range recs[3:] {
		want = append(want, fmt.Sprint("alice#", r.Seq))
	}
	got := readAll(t, s, "c", 0)
	if diff := cmp.Diff(want, ids(got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for i, e := range got {
		if e.Pos != int64(i+1) {
			t.Fatalf("event %d at position %d; want %d", i, e.Pos, i+1)
		}
	}
	if diff := cmp.Diff(outbox.FromRecord(recs[0]), withPos(got[1], 0), eventOpts); diff != "" {
		t.Errorf("a record's event read back (-want +got):\n%s", diff)
	}
}

// eventOpts compares events: currencies by ==, times by Equal.
var eventOpts = cmp.Options{
	cmp.Comparer(func(a, b giftkit.Currency) bool { return a == b }),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

func withPos(e outbox.Event, pos int64) outbox.Event {
	e.Pos = pos
	return e
}

// TestOutboxLargeUnits: an issuance's records and events go by COPY; a
// unit with more events than the positioner takes at once is read whole,
// over several calls of Events, in order; Prune removes them in several
// statements.
func TestOutboxLargeUnits(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	cards, _ := services(t, s)
	batch, err := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.FromMinor(500, giftkit.EUR), Count: 1200}, "big")
	if err != nil {
		t.Fatal(err)
	}
	issued := readAll(t, s, "c", 0)
	if len(issued) != len(batch.Cards) {
		t.Fatalf("%d events for %d cards issued", len(issued), len(batch.Cards))
	}
	for i, e := range issued {
		if e.Type != outbox.CardIssued || e.Aggregate.ID != batch.Cards[i].Card.ID || e.Pos != int64(i+1) {
			t.Fatalf("event %d: %s of %s at %d; want card.issued of %s at %d", i, e.Type, e.Aggregate.ID, e.Pos, batch.Cards[i].Card.ID, i+1)
		}
	}

	n := outbox.MaxLimit + 5
	events := make([]outbox.Event, n)
	for i := range events {
		events[i] = paymentEvent("many", int64(i+1))
	}
	appendEvents(t, s, events...)
	after := issued[len(issued)-1].Pos
	page, err := s.Events(ctx, "c", after, outbox.MaxLimit)
	if err != nil || len(page) != outbox.MaxLimit {
		t.Fatalf("first page: %d events, %v; want %d", len(page), err, outbox.MaxLimit)
	}
	rest := readAll(t, s, "c", page[len(page)-1].Pos)
	all := append(page, rest...)
	if len(all) != n {
		t.Fatalf("read %d events; want %d", len(all), n)
	}
	for i, e := range all {
		if e.Seq != int64(i+1) || e.Pos != after+int64(i+1) {
			t.Fatalf("event %d: #%d at %d", i, e.Seq, e.Pos)
		}
	}
	if err := s.Ack(ctx, "c", all[len(all)-1].Pos); err != nil {
		t.Fatal(err)
	}
	pruned, err := s.Prune(ctx, outbox.Retention{EventsBefore: time.Now().Add(100 * 365 * 24 * time.Hour)})
	if err != nil || pruned.Events != n+len(issued) {
		t.Fatalf("Prune = %+v, %v; want %d events", pruned, err, n+len(issued))
	}
	if left := readAll(t, s, "other", 0); len(left) != 0 {
		t.Errorf("%d events left after pruning all", len(left))
	}
}

// TestOutboxIsAppendOnly: the database refuses to change an event, to
// position one twice, and to remove one not yet positioned.
func TestOutboxIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	s, schema, drop := openSchema(t, "")
	defer drop()
	appendEvents(t, s, paymentEvent("p", 1), paymentEvent("p", 2))
	readAll(t, s, "c", 0) // positions them
	appendEvents(t, s, paymentEvent("p", 3))
	conn := rawConn(t, schema)
	for _, sql := range []string{
		"UPDATE giftkit_outbox SET payload = '\\x00'::bytea WHERE seq = 1",
		"UPDATE giftkit_outbox SET pos = pos + 10 WHERE seq = 2",
		"UPDATE giftkit_outbox SET pos = 99, event_id = 'x' WHERE seq = 3",
		"DELETE FROM giftkit_outbox WHERE seq = 3",
		"TRUNCATE giftkit_outbox",
	} {
		if _, err := conn.Exec(ctx, sql); err == nil {
			t.Errorf("%s: succeeded; want the database to refuse it", sql)
		}
	}
	if _, err := conn.Exec(ctx, "DELETE FROM giftkit_outbox WHERE seq = 1"); err != nil {
		t.Errorf("removing a positioned event: %v", err)
	}
	got := readAll(t, s, "c", 0)
	if diff := cmp.Diff([]string{"p#2", "p#3"}, ids(got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if string(got[0].Payload) != string(paymentEvent("p", 2).Payload) {
		t.Errorf("payload changed: %s", got[0].Payload)
	}
}

// TestOutboxManyStores: several Store values on one database (as several
// processes have), some redeeming cards into one shared account and
// debiting it at once, others reading and acknowledging the outbox, two of
// them as one consumer. Every consumer sees every event once, each
// aggregate's in order of Seq with no gap, in the same order of positions;
// the cursors end at the last event.
func TestOutboxManyStores(t *testing.T) {
	ctx := context.Background()
	first, schema, drop := openSchema(t, "")
	defer drop()
	open := func() *pgstore.Store {
		s, _, _ := openSchema(t, schema, pgstore.WithMaxConns(4)) // not its drop, which would drop the schema: Close only
		t.Cleanup(s.Close)
		return s
	}
	cards, accounts := services(t, first)
	batch, err := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.FromMinor(300, giftkit.EUR), Count: 30}, "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.Refund(ctx, "shared", giftkit.FromMinor(5000, giftkit.EUR), "fund", "fund"); err != nil {
		t.Fatal(err)
	}
	consumers := []string{"shared", "shared", "solo"}
	readers := make([]*pgstore.Store, len(consumers))
	for i := range readers {
		readers[i] = open()
		if _, err := readers[i].Events(ctx, consumers[i], 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	var writers sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 3 {
		s := open()
		_, acc := services(t, s)
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i, ic := range batch.Cards {
				if i%3 == w {
					if _, err := acc.Redeem(ctx, "shared", ic.Code.String(), "r-"+ic.Card.ID); err != nil {
						errs <- err
					}
				}
				if _, err := acc.Debit(ctx, "shared", giftkit.FromMinor(7, giftkit.EUR), "order", fmt.Sprint("d-", w, "-", i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	done := make(chan struct{})
	seen := make([][]outbox.Event, len(consumers))
	var readersWG sync.WaitGroup
	for ci, r := range readers {
		readersWG.Add(1)
		go func() {
			defer readersWG.Done()
			var after int64
			finishing := false
			for {
				page, err := r.Events(ctx, consumers[ci], after, 5)
				if err != nil {
					errs <- err
					return
				}
				if len(page) > 0 {
					seen[ci] = append(seen[ci], page...)
					after = page[len(page)-1].Pos
					if err := r.Ack(ctx, consumers[ci], after); err != nil {
						errs <- err
					}
					continue
				}
				if finishing {
					return
				}
				select {
				case <-done:
					finishing = true
				default:
					wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					if err := r.Wait(wctx, after); err != nil && !errors.Is(err, context.DeadlineExceeded) {
						errs <- err
					}
					cancel()
				}
			}
		}()
	}
	writers.Wait()
	close(done)
	readersWG.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all := readAll(t, first, "check", 0)
	last := all[len(all)-1].Pos
	lastSeq := map[outbox.Aggregate]int64{}
	for i, e := range all {
		if i > 0 && e.Pos != all[i-1].Pos+1 {
			t.Fatalf("positions %d then %d", all[i-1].Pos, e.Pos)
		}
		if e.Seq != lastSeq[e.Aggregate]+1 {
			t.Fatalf("%s: event #%d after #%d", e.Aggregate, e.Seq, lastSeq[e.Aggregate])
		}
		lastSeq[e.Aggregate] = e.Seq
	}
	if want := 30 + 30*2 + 1 + 3*30; len(all) != want { // issued; redeemed and credited; funded; debited
		t.Errorf("%d events; want %d", len(all), want)
	}
	for ci, got := range seen {
		if diff := cmp.Diff(ids(all), ids(got)); diff != "" {
			t.Errorf("consumer %d (%s) read (-want +got):\n%s", ci, consumers[ci], diff)
		}
	}
	for _, c := range []string{"shared", "solo"} {
		if cur, err := first.Cursor(ctx, c); err != nil || cur != last {
			t.Errorf("Cursor(%s) = %d, %v; want %d", c, cur, err, last)
		}
	}
}

// TestWait: Wait returns for another Store's commit on the same schema by
// notification (the poll is made too long to help), for events committed
// but not yet positioned, and at its context's end; one listener serves a
// Store's waiters and Close ends it. Events committed with no NOTIFY after
// them are found by the poll.
func TestWait(t *testing.T) {
	defer pgstore.SetWaitPoll(time.Hour)()
	ctx := context.Background()
	reader, schema, drop := openSchema(t, "")
	defer drop()
	writer, _, _ := openSchema(t, schema)
	defer writer.Close()

	// Nothing yet: the deadline.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if err := reader.Wait(short, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on an empty outbox = %v; want the deadline", err)
	}
	cancel()

	var wg sync.WaitGroup
	woke := make([]error, 3)
	for i := range woke {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			woke[i] = reader.Wait(wctx, 0)
		}()
	}
	conn := rawConn(t, "public")
	if n := listening(t, conn, schema, 1); n != 1 {
		t.Errorf("%d listening connections for three waiters; want 1", n)
	}
	// Another schema's events do not wake the waiters.
	other := newStore(t)
	appendEvents(t, other, paymentEvent("elsewhere", 1))
	time.Sleep(100 * time.Millisecond)
	appendEvents(t, writer, paymentEvent("p", 1))
	wg.Wait()
	for i, err := range woke {
		if err != nil {
			t.Errorf("waiter %d: %v", i, err)
		}
	}
	// Committed, not yet positioned: Wait returns at once.
	if err := reader.Wait(ctx, 0); err != nil {
		t.Errorf("Wait with an unpositioned event: %v", err)
	}
	got := readAll(t, reader, "c", 0)
	short, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
	if err := reader.Wait(short, got[len(got)-1].Pos); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait past the last event = %v; want the deadline", err)
	}
	cancel()

	// Events committed without a NOTIFY, as by a process that ended
	// before sending it: Wait's poll finds them.
	readAll(t, reader, "c", 0)
	restore := pgstore.SetWaitPoll(20 * time.Millisecond)
	after := got[len(got)-1].Pos
	raw, inserted := rawConn(t, schema), make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		inserted <- insertEventRaw(raw, "quiet", 1)
	}()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := reader.Wait(pctx, after); err != nil {
		t.Errorf("Wait by polling: %v", err)
	}
	cancel()
	restore()
	if err := <-inserted; err != nil {
		t.Fatal(err)
	}

	reader.Close()
	if n := listening(t, conn, schema, 0); n != 0 {
		t.Errorf("%d listening connections after Close; want 0", n)
	}
}

// listening returns how many connections of the store in schema are
// listening, once that is want or after a few seconds.
func listening(t *testing.T, conn *pgx.Conn, schema string, want int) int {
	t.Helper()
	var n int
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND query = 'LISTEN giftkit_outbox'`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == want {
			break
		}
	}
	return n
}

// insertEventRaw commits an event of payment id in one statement, without
// the store: no NOTIFY follows it.
func insertEventRaw(conn *pgx.Conn, id string, seq int64) error {
	_, err := conn.Exec(context.Background(), `INSERT INTO giftkit_outbox (event_id, type, version, aggregate_kind,
		aggregate_id, currency, minor_units, seq, actor_kind, actor_id, at_ns, payload)
		VALUES ($1, 'payment.captured', 1, $2, $3, '', 0, $4, 0, '', 0, '{}')`,
		fmt.Sprint("evt_", id, "_", seq), int16(outbox.AggregatePayment), id, seq)
	return err
}

// TestPruneIdempotencyPages: Prune removes the old idempotency records of
// a table larger than one statement reads, and only those.
func TestPruneIdempotencyPages(t *testing.T) {
	ctx := context.Background()
	s, schema, drop := openSchema(t, "")
	defer drop()
	conn := rawConn(t, schema)
	old := time.Unix(1_600_000_000, 0)
	if _, err := conn.Exec(ctx, `INSERT INTO giftkit_idempotency (scope, key, fingerprint, outcome, created_at)
		SELECT 'wallet/alice', 'key-' || i, 'fingerprint', '\x0102030405060708090a'::bytea,
			CASE WHEN i % 1000 = 0 THEN $1::timestamptz + interval '2 days' ELSE $1::timestamptz END
		FROM generate_series(1, 150000) i`, old); err != nil {
		t.Fatal(err)
	}
	var pages int64
	if err := conn.QueryRow(ctx, `SELECT pg_relation_size('giftkit_idempotency') / 8192`).Scan(&pages); err != nil || pages <= 1024 {
		t.Fatalf("the table has %d pages (%v); the test needs more than one statement's 1024", pages, err)
	}
	pruned, err := s.Prune(ctx, outbox.Retention{IdempotencyBefore: old.Add(24 * time.Hour)})
	if err != nil || pruned != (outbox.Pruned{Idempotency: 150000 - 150}) {
		t.Fatalf("Prune = %+v, %v; want %d idempotency records", pruned, err, 150000-150)
	}
	var left int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM giftkit_idempotency`).Scan(&left); err != nil || left != 150 {
		t.Errorf("%d records left (%v); want the 150 recent ones", left, err)
	}
}

// TestAckBeyondLast: acknowledging past the last position given is
// refused, and so is a negative position; acknowledging 0 on an empty
// outbox registers the consumer.
func TestAckBeyondLast(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.Ack(ctx, "c", 0); err != nil {
		t.Fatalf("Ack(0) on an empty outbox: %v", err)
	}
	for _, pos := range []int64{-1, 1} {
		if err := s.Ack(ctx, "c", pos); !errors.Is(err, giftkit.ErrInvalid) {
			t.Errorf("Ack(%d) on an empty outbox = %v; want ErrInvalid", pos, err)
		}
	}
	appendEvents(t, s, paymentEvent("p", 1))
	// Committed but not positioned: not yet a position anyone was given.
	if err := s.Ack(ctx, "c", 1); !errors.Is(err, giftkit.ErrInvalid) {
		t.Errorf("Ack(1) before Events positioned it = %v; want ErrInvalid", err)
	}
	readAll(t, s, "c", 0)
	if err := s.Ack(ctx, "c", 1); err != nil {
		t.Errorf("Ack(1): %v", err)
	}
}
