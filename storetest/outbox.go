package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/wallet"
)

// reader returns s's outbox, failing the test if s has none: every store
// implements outbox.Reader.
func reader[T any](t TB, s giftkit.Store[T]) outbox.Reader {
	t.Helper()
	r, ok := s.(outbox.Reader)
	if !ok {
		t.Fatalf("%T does not implement outbox.Reader", s)
	}
	return r
}

// sampleEvent returns event number seq of payment id, at epoch plus
// minutes.
func sampleEvent(id string, seq int64, minutes int) outbox.Event {
	agg := outbox.Aggregate{Kind: outbox.AggregatePayment, ID: id}
	return outbox.New(agg, seq, outbox.PaymentCaptured, giftkit.Client("pos-1"), epoch.Add(time.Duration(minutes)*time.Minute),
		[]byte(fmt.Sprintf(`{"payment_id":%q,"n":%d,"text":"é\u2028<&>"}`, id, seq)))
}

// readEvents reads every event after after for consumer, page by page.
func readEvents(t TB, r outbox.Reader, consumer string, after int64, page int) []outbox.Event {
	t.Helper()
	var out []outbox.Event
	for {
		got, err := r.Events(context.Background(), consumer, after, page)
		if err != nil {
			t.Fatalf("Events(%q, %d, %d): %v", consumer, after, page, err)
		}
		if len(got) > page {
			t.Fatalf("Events(%q, %d, %d) returned %d events", consumer, after, page, len(got))
		}
		if len(got) == 0 {
			return out
		}
		for _, e := range got {
			if e.Pos <= after {
				t.Fatalf("Events(%q, %d): event at %d is not after the cursor", consumer, after, e.Pos)
			}
			after = e.Pos
		}
		out = append(out, got...)
	}
}

// withoutPos returns events with Pos cleared, to compare with what was
// appended.
func withoutPos(events []outbox.Event) []outbox.Event {
	out := make([]outbox.Event, len(events))
	for i, e := range events {
		e.Pos = 0
		out[i] = e
	}
	return out
}

func testOutbox[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	ctx := context.Background()
	r := reader(t, s)
	if got, err := r.Events(ctx, "c1", 0, 10); err != nil || len(got) != 0 {
		t.Fatalf("Events of an empty outbox = %d events, %v", len(got), err)
	}

	// A unit of work that fails emits nothing; one that commits emits its
	// events, and the store keeps no memory of the caller's.
	first := []outbox.Event{sampleEvent("p1", 1, 0), sampleEvent("p1", 2, 1)}
	boom := errors.New("boom")
	if err := s.Update(ctx, func(tx T) error {
		if err := tx.AppendEvents([]outbox.Event{sampleEvent("rolled-back", 1, 0)}); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing unit: %v", err)
	}
	update(t, s, func(tx T) error { return tx.AppendEvents(first) })
	// The records' events go in with them, in the same unit.
	recs := sampleRecords()
	update(t, s, func(tx T) error {
		if err := tx.AppendActivity(recs); err != nil {
			return err
		}
		return tx.AppendEvents([]outbox.Event{sampleEvent("p2", 1, 2)})
	})
	want := append(append([]outbox.Event{}, first...), outbox.FromRecords(recs)...)
	want = append(want, sampleEvent("p2", 1, 2))
	got := readEvents(t, r, "c1", 0, 2)
	if diff := cmp.Diff(want, withoutPos(got), cmpOpts); diff != "" {
		t.Fatalf("events read back (-want +got):\n%s", diff)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Pos <= got[i-1].Pos {
			t.Fatalf("positions not increasing: %d then %d", got[i-1].Pos, got[i].Pos)
		}
	}
	got[0].Payload[0] = 'X' // the reader's copy is its own
	if again := readEvents(t, r, "c1", 0, 100); string(again[0].Payload) != string(want[0].Payload) {
		t.Fatalf("a reader's change to a payload reached the store: %s", again[0].Payload)
	}
	last := got[len(got)-1].Pos

	// Cursors: registered on first use, never moved back, refused past the
	// last event or for a bad name.
	for _, bad := range []string{"", "a\nb", string(make([]byte, outbox.MaxConsumerLen+1))} {
		if _, err := r.Events(ctx, bad, 0, 1); !errors.Is(err, outbox.ErrInvalidConsumer) || !errors.Is(err, giftkit.ErrInvalid) {
			t.Errorf("Events(%q) = %v; want ErrInvalidConsumer", bad, err)
		}
		if err := r.Ack(ctx, bad, 1); !errors.Is(err, outbox.ErrInvalidConsumer) {
			t.Errorf("Ack(%q) = %v; want ErrInvalidConsumer", bad, err)
		}
	}
	if c, err := r.Cursor(ctx, "c1"); err != nil || c != 0 {
		t.Fatalf("Cursor before any Ack = %d, %v; want 0", c, err)
	}
	if err := r.Ack(ctx, "c1", got[2].Pos); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := r.Ack(ctx, "c1", got[1].Pos); err != nil {
		t.Fatalf("Ack behind the cursor: %v", err)
	}
	if c, _ := r.Cursor(ctx, "c1"); c != got[2].Pos {
		t.Fatalf("Cursor = %d after acking %d then %d; want %d", c, got[2].Pos, got[1].Pos, got[2].Pos)
	}
	if err := r.Ack(ctx, "c1", last+1); !errors.Is(err, giftkit.ErrInvalid) {
		t.Fatalf("Ack past the last event = %v; want ErrInvalid", err)
	}
	if after := readEvents(t, r, "c1", got[2].Pos, 10); len(after) != len(got)-3 {
		t.Fatalf("Events after the cursor = %d events; want %d", len(after), len(got)-3)
	}

	// Wait returns when a unit commits an event, and at the deadline
	// otherwise.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	if err := r.Wait(short, last); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with nothing new = %v; want the deadline", err)
	}
	cancel()
	if err := r.Wait(ctx, last-1); err != nil {
		t.Fatalf("Wait behind the last event = %v", err)
	}
	woke := make(chan error, 1)
	go func() {
		long, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		woke <- r.Wait(long, last)
	}()
	time.Sleep(10 * time.Millisecond)
	update(t, s, func(tx T) error { return tx.AppendEvents([]outbox.Event{sampleEvent("p3", 1, 3)}) })
	if err := <-woke; err != nil {
		t.Fatalf("Wait across a commit = %v", err)
	}

	// Prune keeps what any registered consumer has not acknowledged, and
	// what is recent; it removes idempotency records by age.
	all := readEvents(t, r, "c2", 0, 100)
	update(t, s, func(tx T) error {
		for i, at := range []time.Time{epoch, epoch.Add(2 * time.Hour)} {
			rec := giftkit.IdempotencyRecord{Scope: "prune", Key: fmt.Sprint("k", i), Fingerprint: "f", Outcome: []byte{1}, CreatedAt: at}
			if err := tx.PutIdempotency(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err := r.Ack(ctx, "c2", all[len(all)-1].Pos); err != nil {
		t.Fatal(err)
	}
	pruned, err := r.Prune(ctx, outbox.Retention{EventsBefore: epoch.Add(time.Hour), IdempotencyBefore: epoch.Add(time.Hour)})
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	// c1 acknowledged the first three; c2 all. Every event is before
	// the hour.
	if pruned.Events != 3 || pruned.Idempotency != 1 {
		t.Fatalf("Prune = %+v; want 3 events (what c1 acknowledged), 1 idempotency record", pruned)
	}
	if rest := readEvents(t, r, "c1", 0, 100); len(rest) != len(all)-3 || rest[0].ID != all[3].ID {
		t.Fatalf("after Prune, reading from 0 gives %d events; want the %d not pruned", len(rest), len(all)-3)
	}
	update(t, s, func(tx T) error {
		if _, ok, err := tx.Idempotency("prune", "k0"); err != nil || ok {
			return fmt.Errorf("pruned idempotency record: found %v, %v", ok, err)
		}
		if _, ok, err := tx.Idempotency("prune", "k1"); err != nil || !ok {
			return fmt.Errorf("recent idempotency record: found %v, %v", ok, err)
		}
		return nil
	})
	if pruned, err := r.Prune(ctx, outbox.Retention{}); err != nil || pruned != (outbox.Pruned{}) {
		t.Fatalf("Prune with a zero Retention = %+v, %v; want nothing removed", pruned, err)
	}

	// A consumer registered by a read and never heard from again holds
	// every event back, until it is forgotten.
	if _, err := r.Events(ctx, "ghost", 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.Forget(ctx, "a\nb"); !errors.Is(err, outbox.ErrInvalidConsumer) {
		t.Fatalf("Forget of a bad name = %v", err)
	}
	if err := r.Forget(ctx, "never-registered"); err != nil {
		t.Fatalf("Forget of an unknown consumer = %v", err)
	}

	// Once everything is pruned, a cursor behind it has nothing to wait
	// for: Wait must not return at once (a consumer would spin).
	end := readEvents(t, r, "c1", 0, 100)
	for _, c := range []string{"c1", "c2"} {
		if err := r.Ack(ctx, c, end[len(end)-1].Pos); err != nil {
			t.Fatal(err)
		}
	}
	if pruned, err := r.Prune(ctx, outbox.Retention{EventsBefore: epoch.Add(1000 * time.Hour)}); err != nil || pruned.Events != 0 {
		t.Fatalf("Prune while ghost has acknowledged nothing = %+v, %v; want nothing removed", pruned, err)
	}
	if err := r.Forget(ctx, "ghost"); err != nil {
		t.Fatal(err)
	}
	if c, err := r.Cursor(ctx, "c1"); err != nil || c != end[len(end)-1].Pos {
		t.Fatalf("Forget of another consumer moved c1's cursor: %d, %v", c, err)
	}
	if _, err := r.Prune(ctx, outbox.Retention{EventsBefore: epoch.Add(1000 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if rest := readEvents(t, r, "c1", 0, 100); len(rest) != 0 {
		t.Fatalf("after pruning every acknowledged event, %d remain", len(rest))
	}
	short, cancel = context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := r.Wait(short, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait behind an outbox pruned empty = %v; want the deadline", err)
	}
}

// testOutboxConcurrency runs writers that emit events on their own
// aggregates while consumers read and acknowledge, two processes of one
// consumer among them: every consumer sees every committed event, each
// aggregate's in order of Seq, and a cursor never moves back.
func testOutboxConcurrency[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	ctx := context.Background()
	r := reader(t, s)
	const writers, perWriter = 8, 25
	consumers := []string{"a", "b", "shared", "shared"}
	for _, c := range consumers {
		if _, err := r.Events(ctx, c, 0, 1); err != nil { // register before the writers start
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var werr sync.Map
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= perWriter; i++ {
				id := fmt.Sprintf("w%d", w)
				err := s.Update(ctx, func(tx T) error {
					return tx.AppendEvents([]outbox.Event{sampleEvent(id, 2*int64(i)-1, i), sampleEvent(id, 2*int64(i), i)})
				})
				if err != nil {
					werr.Store(w, err)
					return
				}
			}
		}()
	}
	type seen struct {
		ids  map[string]bool
		errs []string
	}
	results := make([]seen, len(consumers))
	var cwg sync.WaitGroup
	for ci, name := range consumers {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			res := seen{ids: map[string]bool{}}
			lastSeq := map[string]int64{}
			var after int64
			finishing := false
			for {
				page, err := r.Events(ctx, name, after, 7)
				if err != nil {
					res.errs = append(res.errs, err.Error())
					break
				}
				for _, e := range page {
					if e.Pos <= after {
						res.errs = append(res.errs, fmt.Sprintf("position %d after %d", e.Pos, after))
					}
					after = e.Pos
					if e.Seq != lastSeq[e.Aggregate.ID]+1 {
						res.errs = append(res.errs, fmt.Sprintf("%s: event %d after %d", e.Aggregate.ID, e.Seq, lastSeq[e.Aggregate.ID]))
					}
					lastSeq[e.Aggregate.ID] = e.Seq
					res.ids[e.ID] = true
				}
				if len(page) > 0 {
					if err := r.Ack(ctx, name, after); err != nil {
						res.errs = append(res.errs, err.Error())
					}
					continue
				}
				if finishing {
					break
				}
				select {
				case <-done:
					finishing = true // one more read after the last commit
				default:
					wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
					_ = r.Wait(wctx, after)
					cancel()
				}
			}
			results[ci] = res
		}()
	}
	wg.Wait()
	close(done)
	cwg.Wait()
	werr.Range(func(k, v any) bool { t.Fatalf("writer %v: %v", k, v); return false })
	for ci, res := range results {
		for _, e := range res.errs {
			t.Errorf("consumer %d (%s): %s", ci, consumers[ci], e)
		}
		if len(res.ids) != writers*perWriter*2 {
			t.Errorf("consumer %d (%s) saw %d distinct events; want %d", ci, consumers[ci], len(res.ids), writers*perWriter*2)
		}
	}
	all := readEvents(t, r, "check", 0, 1000)
	for _, c := range []string{"a", "b", "shared"} {
		if cur, err := r.Cursor(ctx, c); err != nil || cur != all[len(all)-1].Pos {
			t.Errorf("Cursor(%s) = %d, %v; want %d, the last", c, cur, err, all[len(all)-1].Pos)
		}
	}
}

// testOutboxOfServices checks that the services' changes emit their
// events with them, and a refused call emits none.
func testOutboxOfServices[T checkout.Tx](t *testing.T, s giftkit.Store[T]) {
	ctx := context.Background()
	r := reader(t, s)
	env := NewEnv(t, s, 3)
	card, code := env.Issue(t, money("30.00"), "issue")
	if _, err := env.Wallet.Redeem(ctx, "alice", code.String(), "redeem"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Wallet.Redeem(ctx, "bob", code.String(), "redeem-again"); err == nil {
		t.Fatal("second redemption succeeded")
	}
	co, err := checkout.NewService(s, processortest.New(), checkout.Config{Now: env.Clock.Now, HoldFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.Pay(ctx, checkout.PayRequest{PaymentID: "order-1", Owner: "alice", Total: money("12.00")}, "pay-1"); err != nil {
		t.Fatal(err)
	}
	var types []outbox.Type
	for _, e := range readEvents(t, r, "svc", 0, 100) {
		types = append(types, e.Type)
		if e.Aggregate.Kind == outbox.AggregateCard && e.Aggregate.ID != card.ID {
			t.Errorf("event %s about card %s", e.Type, e.Aggregate.ID)
		}
	}
	// A payment the balance covers is held and captured at once: one
	// account record, and so one account event.
	want := []outbox.Type{outbox.CardIssued, outbox.AccountCredited, outbox.CardRedeemed,
		outbox.AccountCaptured, outbox.PaymentAuthorized, outbox.PaymentCaptured}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("event types (-want +got):\n%s", diff)
	}
	CheckOutbox(t, s)
}

// The harness's reading of the outbox: after every step it reads the
// events committed since the last, as a consumer would, and replays them.
type outboxFold struct {
	reader   outbox.Reader
	after    int64                       // the harness's cursor
	seq      map[outbox.Aggregate]int64  // each aggregate's last Seq
	value    map[outbox.Aggregate]int64  // a card's value or an account's balance, replayed
	held     map[outbox.Aggregate]int64  // an account's held amount, replayed
	payments map[string][]outbox.Type    // each payment's events, in order
	ids      map[string]outbox.Aggregate // every event ID seen
	// loaded and moved sum the amounts of the account.loaded and
	// account.transferred events per currency: the loads made, and zero.
	loaded, moved map[giftkit.Currency]int64
}

// live is what the other checks read of the system, for checkOutbox to
// compare with the replayed events.
type live struct {
	read     map[string]giftcard.Card                        // every card, as stored
	accounts map[sysKey][2]int64                             // balance and held, of shoppers' and opened cards' accounts
	cards    map[string]int64                                // what each card still holds (Outstanding)
	payments map[string]checkout.Payment                     // as stored
	flows    map[giftkit.Currency]map[wallet.EntryKind]int64 // the journals' sums per kind of entry
}

const harnessConsumer = "storetest-harness"

// checkOutbox is invariant 9: the outbox holds one event per activity
// record and per payment transition, each aggregate's numbered 1, 2, 3, ...
// in order of position, with the ID its aggregate and number give; and
// replaying the events from the start gives every live balance, held
// amount and card value, and each payment's EventSeq and the events its
// state implies.
func (m *system[T]) checkOutbox(t *rapid.T, l live) {
	f := &m.outbox
	for _, e := range readEvents(t, f.reader, harnessConsumer, f.after, 1+m.n%50) {
		f.after = e.Pos
		if e.ID != outbox.ID(e.Aggregate, e.Seq) {
			t.Fatalf("event %s of %s #%d: ID is not outbox.ID", e.ID, e.Aggregate, e.Seq)
		}
		if prev, dup := f.ids[e.ID]; dup {
			t.Fatalf("event %s (%s #%d) read twice; first for %s", e.ID, e.Aggregate, e.Seq, prev)
		}
		f.ids[e.ID] = e.Aggregate
		if e.Seq != f.seq[e.Aggregate]+1 {
			t.Fatalf("%s: event #%d (%s) follows #%d", e.Aggregate, e.Seq, e.Type, f.seq[e.Aggregate])
		}
		f.seq[e.Aggregate] = e.Seq
		if e.Aggregate.Kind == outbox.AggregatePayment {
			f.payments[e.Aggregate.ID] = append(f.payments[e.Aggregate.ID], e.Type)
			continue
		}
		var p struct{ Amount, Held, Before, After giftkit.Money }
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatalf("%s #%d payload %s: %v", e.Aggregate, e.Seq, e.Payload, err)
		}
		if p.Before.Minor() != f.value[e.Aggregate] {
			t.Fatalf("%s #%d (%s): before %v; the events before it sum to %d", e.Aggregate, e.Seq, e.Type, p.Before, f.value[e.Aggregate])
		}
		f.value[e.Aggregate] += p.Amount.Minor()
		f.held[e.Aggregate] += p.Held.Minor()
		switch e.Type {
		case outbox.AccountLoaded:
			if !p.Amount.IsPositive() || !p.Held.IsZero() {
				t.Fatalf("%s #%d (%s): amount %v held %v; a load adds value and holds nothing", e.Aggregate, e.Seq, e.Type, p.Amount, p.Held)
			}
			f.loaded[e.Aggregate.Currency] += p.Amount.Minor()
		case outbox.AccountTransferred:
			if p.Amount.IsZero() || !p.Held.IsZero() {
				t.Fatalf("%s #%d (%s): amount %v held %v; a transfer moves value and holds nothing", e.Aggregate, e.Seq, e.Type, p.Amount, p.Held)
			}
			f.moved[e.Aggregate.Currency] += p.Amount.Minor()
		}
		if p.After.Minor() != f.value[e.Aggregate] {
			t.Fatalf("%s #%d (%s): after %v is not before %v + amount %v", e.Aggregate, e.Seq, e.Type, p.After, p.Before, p.Amount)
		}
	}
	if f.after > 0 {
		if err := f.reader.Ack(context.Background(), harnessConsumer, f.after); err != nil {
			t.Fatalf("Ack(%d): %v", f.after, err)
		}
	}
	for k, b := range l.accounts {
		agg := outbox.Aggregate{Kind: outbox.AggregateAccount, ID: k.owner, Currency: k.cur}
		if f.value[agg] != b[0] || f.held[agg] != b[1] {
			t.Fatalf("%s: the events replay to balance %d held %d; the account has %d held %d", agg, f.value[agg], f.held[agg], b[0], b[1])
		}
	}
	for _, cur := range sysCurrencies {
		if f.moved[cur] != 0 || f.loaded[cur] != l.flows[cur][wallet.EntryLoad] {
			t.Fatalf("%v: the account.transferred events sum to %d, the account.loaded events to %d; the journals move 0 and load %d",
				cur, f.moved[cur], f.loaded[cur], l.flows[cur][wallet.EntryLoad])
		}
	}
	for id, v := range l.cards {
		if agg := (outbox.Aggregate{Kind: outbox.AggregateCard, ID: id}); f.value[agg] != v {
			t.Fatalf("%s: the events replay to %d; the card holds %d", agg, f.value[agg], v)
		}
	}
	for id, p := range l.payments {
		types := f.payments[id]
		if int64(len(types)) != p.EventSeq {
			t.Fatalf("payment %s: EventSeq %d, %d events %v", id, p.EventSeq, len(types), types)
		}
		count := map[outbox.Type]int{}
		for _, ty := range types {
			count[ty]++
		}
		final := map[checkout.State]outbox.Type{checkout.StateCaptured: outbox.PaymentCaptured, checkout.StateFailed: outbox.PaymentFailed,
			checkout.StateCancelled: outbox.PaymentCancelled, checkout.StateExpired: outbox.PaymentExpired}
		for st, ty := range final {
			if want := b2i(p.State == st); count[ty] != want {
				t.Fatalf("payment %s is %v with %d %s events: %v", id, p.State, count[ty], ty, types)
			}
		}
		done := 0
		for _, r := range p.Refunds {
			done += b2i(r.Done)
		}
		if got := count[outbox.PaymentRefunded] + count[outbox.PaymentRefundFailed]; got != done {
			t.Fatalf("payment %s has %d refunds done and %d refund events: %v", id, done, got, types)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PruneOutbox prunes the events the harness has acknowledged, and no
// idempotency record (Retry needs them all): replay must go on from the
// cursor as if nothing was removed.
func (m *system[T]) PruneOutbox(t *rapid.T) {
	if _, err := m.outbox.reader.Prune(context.Background(), outbox.Retention{EventsBefore: m.env.Clock.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("Prune: %v", err)
	}
}

// CheckOutbox fails t unless the store's outbox holds exactly the event of
// every activity record (outbox.FromRecord), card and account events of no
// other origin, and each payment's events numbered 1, 2, 3, ... without a
// gap: what a crash or a failed unit of work must never break. The outbox
// must not have been pruned. Stores' crash tests call it with
// CheckActivity.
func CheckOutbox[T wallet.Tx](t TB, s giftkit.Store[T]) {
	t.Helper()
	events := readEvents(t, reader(t, s), "storetest-check", 0, outbox.MaxLimit)
	byID := make(map[string]outbox.Event, len(events))
	payments := map[string]int64{}
	for _, e := range events {
		if _, dup := byID[e.ID]; dup {
			t.Fatalf("event %s (%s #%d) is in the outbox twice", e.ID, e.Aggregate, e.Seq)
		}
		byID[e.ID] = e
		if e.Aggregate.Kind == outbox.AggregatePayment {
			if e.Seq != payments[e.Aggregate.ID]+1 {
				t.Fatalf("%s: event #%d follows #%d", e.Aggregate, e.Seq, payments[e.Aggregate.ID])
			}
			payments[e.Aggregate.ID] = e.Seq
		}
	}
	q := activity.Query{}
	records := 0
	for {
		var page []activity.Record
		if err := s.Update(context.Background(), func(tx T) (err error) {
			page, err = tx.Activity(q, 500)
			return err
		}); err != nil {
			t.Fatalf("Activity: %v", err)
		}
		for _, r := range page {
			want := outbox.FromRecord(r)
			got, ok := byID[want.ID]
			if !ok {
				t.Fatalf("%s record #%d (%v) has no event in the outbox", r.Subject, r.Seq, r.Kind)
			}
			got.Pos = 0
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Fatalf("%s record #%d: its event differs (-want +got):\n%s", r.Subject, r.Seq, diff)
			}
			records++
		}
		if len(page) < 500 {
			break
		}
		q.After = activity.CursorOf(page[len(page)-1], activity.BySubject)
	}
	var paymentEvents int64
	for _, n := range payments {
		paymentEvents += n
	}
	if extra := int64(len(events)) - int64(records) - paymentEvents; extra != 0 {
		t.Fatalf("the outbox holds %d card or account events that no activity record made", extra)
	}
}
