package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/pgstore"
)

// listenOutbox returns a connection that LISTENs on the outbox's channel.
func listenOutbox(t *testing.T) *pgx.Conn {
	t.Helper()
	conn := rawConn(t, "public")
	if _, err := conn.Exec(context.Background(), "LISTEN giftkit_outbox"); err != nil {
		t.Fatal(err)
	}
	return conn
}

// notifications counts the notifications of schema that conn receives
// until none has come for quiet.
func notifications(t *testing.T, conn *pgx.Conn, schema string, quiet time.Duration) int {
	t.Helper()
	n := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		got, err := conn.WaitForNotification(ctx)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return n
		case err != nil:
			t.Fatal(err)
		case got.Payload == schema:
			n++
		}
	}
}

// TestNotifyOnlyAfterCommit: a unit of work that rolls back (its function
// failed, or its commit refused a write) or wrote no event sends no
// NOTIFY; one that committed events sends one.
func TestNotifyOnlyAfterCommit(t *testing.T) {
	ctx := context.Background()
	s, schema, drop := openSchema(t, "")
	defer drop()
	var sent atomic.Int32
	pgstore.SetNotifyHook(s, func() { sent.Add(1) })
	conn := listenOutbox(t)

	failed := errors.New("failed")
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		if err := tx.AppendEvents([]outbox.Event{paymentEvent("rolled-back", 1)}); err != nil {
			return err
		}
		if _, _, err := tx.CardByID("none"); err != nil { // a read: the insert goes with it
			return err
		}
		return failed
	}); !errors.Is(err, failed) {
		t.Fatalf("Update = %v; want the function's error", err)
	}
	bad := paymentEvent("refused", 1)
	bad.Aggregate.Kind = 0 // refused by a CHECK at the commit
	if err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.AppendEvents([]outbox.Event{bad}) }); !errors.Is(err, pgstore.ErrConflict) {
		t.Fatalf("Update with a refused event = %v; want ErrConflict", err)
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		_, _, err := tx.CardByID("none")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n := notifications(t, conn, schema, 300*time.Millisecond); n != 0 || sent.Load() != 0 {
		t.Errorf("%d notifications (%d sent) for units that committed no event; want none", n, sent.Load())
	}

	appendEvents(t, s, paymentEvent("committed", 1))
	if n := notifications(t, conn, schema, time.Second); n != 1 {
		t.Errorf("%d notifications for a unit that committed an event; want 1", n)
	}
}

// TestNotifyCoalesced: a burst of 100 commits sends far fewer NOTIFYs than
// commits, and one after the last. The first NOTIFY is held back, in
// flight, while the burst commits: the burst's commits then send exactly
// one NOTIFY more, after it.
func TestNotifyCoalesced(t *testing.T) {
	s, schema, drop := openSchema(t, "")
	defer drop()
	var calls atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	pgstore.SetNotifyHook(s, func() {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
	})
	conn := listenOutbox(t)

	appendEvents(t, s, paymentEvent("first", 1))
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no NOTIFY after a commit")
	}
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				if err := s.Update(context.Background(), func(tx *pgstore.Tx) error {
					return tx.AppendEvents([]outbox.Event{paymentEvent(fmt.Sprint("w", w), int64(i+1))})
				}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	// Every commit of the burst has returned, and so signalled: what the
	// notifier sends from now on follows the last commit.
	before := calls.Load()
	close(release)
	n := notifications(t, conn, schema, time.Second)
	// The NOTIFY held back, and the one the burst asked for. The notifier
	// may take the burst's last signal only after the NOTIFY that follows
	// the one held back has begun, hence a third at most.
	if n < 2 || n > 3 {
		t.Errorf("%d NOTIFYs for 101 commits, the first held back during the other 100; want 2 (or 3)", n)
	}
	if calls.Load() <= before {
		t.Errorf("no NOTIFY after the last commit")
	}
	if got := len(readAll(t, s, "c", 0)); got != 101 {
		t.Errorf("%d events; want 101", got)
	}
}

// TestWaitWokenInProcess: a commit wakes a Wait on the same Store at once,
// with the poll an hour long and the NOTIFY held back: the notifier wakes
// its Store's waiters itself.
func TestWaitWokenInProcess(t *testing.T) {
	defer pgstore.SetWaitPoll(time.Hour)()
	s, _, drop := openSchema(t, "")
	defer drop()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	pgstore.SetNotifyHook(s, func() {
		once.Do(func() { close(entered) })
		<-release
	})
	defer close(release) // before drop closes the store

	woke := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		woke <- s.Wait(ctx, 0)
	}()
	time.Sleep(200 * time.Millisecond) // Wait has found nothing and sleeps
	appendEvents(t, s, paymentEvent("p", 1))
	select {
	case err := <-woke:
		if err != nil {
			t.Errorf("Wait = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait not woken by a commit on its Store")
	}
	select {
	case <-entered: // the NOTIFY was held back: it did not wake the waiter
	case <-time.After(10 * time.Second):
		t.Error("no NOTIFY after the commit")
	}
}

// notifierGoroutines counts the goroutines of notifiers in this process
// once the count has held for 100 ms (a notifier's goroutines are still
// listed for a moment after Close has seen them end), or after 5 s.
func notifierGoroutines() int {
	last, since := -1, time.Now()
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
		n := 0
		for _, g := range strings.Split(goroutines(), "\n\n") {
			if strings.Contains(g, "pgstore.(*Store).wakeLocal(") || strings.Contains(g, "pgstore.(*Store).notifyRemote(") {
				n++
			}
		}
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= 100*time.Millisecond {
			break
		}
	}
	return last
}

// goroutines returns the stacks of every goroutine.
func goroutines() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestNotifierStops: a Store's notifier starts with its first commit of
// events, and its goroutines end at Close, even with a NOTIFY in flight.
func TestNotifierStops(t *testing.T) {
	ctx := context.Background()
	base := notifierGoroutines() // other tests' Stores left open, if any
	s, _, drop := openSchema(t, "")
	defer drop()
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		_, _, err := tx.CardByID("none")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n := notifierGoroutines() - base; n != 0 {
		t.Errorf("%d notifier goroutines after a commit of no event; want 0", n)
	}
	appendEvents(t, s, paymentEvent("p", 1))
	if n := notifierGoroutines() - base; n != 2 {
		t.Errorf("%d notifier goroutines after a commit of events; want 2", n)
	}
	for i := range 50 { // a NOTIFY in flight, another asked for
		appendEvents(t, s, paymentEvent("p", int64(i+2)))
	}
	s.Close()
	if n := notifierGoroutines() - base; n != 0 {
		t.Errorf("%d notifier goroutines after Close; want 0", n)
	}
}
