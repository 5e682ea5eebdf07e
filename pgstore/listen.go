package pgstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wait's wake-ups. A unit of work that wrote events signals, once it has
// committed, the Store's notifier (never for a unit that rolled back: the
// signal follows a successful COMMIT). The notifier wakes the Store's own
// waiters at once, without a round trip, and tells other processes by
// sending pg_notify on the channel giftkit_outbox with the schema's name,
// on a pool connection. The NOTIFY is not sent inside the unit of work:
// the server makes the commits of transactions that notify take turns (a
// lock on the notification queue held through their commit), so with
// synchronous_commit on their WAL flushes would no longer be shared.
// NOTIFYs are coalesced: at most one is in flight, and at most one begins
// per notifyGap; the commits made meanwhile send one more after it.
//
// A Store has one listener: a goroutine with a connection of its own,
// outside the pool, LISTENing on that channel, which wakes every waiting
// Wait when its schema's name arrives (from another Store, in this process
// or another); each then asks the database whether there is an event after
// its cursor. The first Wait starts the listener; it stops at Close, or
// when a check (every listenCheck) finds that no Wait ran since the last.

// waitPoll is how long a Wait waits for a notification before it looks
// for events anyway: notifications are lost while the listener
// reconnects, and none come from a process that ended between a commit and
// its NOTIFY (see the package doc). A variable for the tests.
var waitPoll = time.Second

const (
	// listenCheck is how often the listener checks that its connection
	// is alive, and stops if no Wait ran since the last check.
	listenCheck = 30 * time.Second
	// listenConnect bounds the listener's connecting and each LISTEN, and
	// the notifier's each NOTIFY.
	listenConnect = 10 * time.Second
)

// notifier is a Store's sender of wake-ups (see above): a goroutine that
// wakes the Store's waiters on each signal and hands the NOTIFY to a
// second, which sends one at a time. Both start with the first signal and
// end at Close.
type notifier struct {
	signal chan struct{} // buffered (1): commits not yet seen coalesce into one
	remote chan struct{} // buffered (1): the NOTIFY to send after the one in flight
	start  sync.Once
	mu     sync.Mutex
	closed bool
	cancel context.CancelFunc
	done   sync.WaitGroup
	sent   func() // for the tests: called as each NOTIFY is about to be sent
}

func newNotifier() *notifier {
	return &notifier{signal: make(chan struct{}, 1), remote: make(chan struct{}, 1)}
}

// eventsCommitted tells the notifier that a unit of work that wrote events
// has committed. It does not block: a signal already waiting covers this
// commit too, since the notifier acts on it after taking it.
func (s *Store) eventsCommitted() {
	n := s.notifier
	n.start.Do(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.closed {
			return
		}
		var ctx context.Context
		ctx, n.cancel = context.WithCancel(context.Background())
		n.done.Add(2)
		go s.wakeLocal(ctx)
		go s.notifyRemote(ctx)
	})
	select {
	case n.signal <- struct{}{}:
	default:
	}
}

// wakeLocal is the notifier's first goroutine: on each signal it wakes
// the Store's waiters and asks for a NOTIFY, which, if one is in flight,
// is sent after it, once for any number of signals.
func (s *Store) wakeLocal(ctx context.Context) {
	n := s.notifier
	defer n.done.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.signal:
		}
		s.listener.broadcast()
		select {
		case n.remote <- struct{}{}:
		default: // one is asked for already, and not yet taken
		}
	}
}

// notifyGap is the least time between the starts of two NOTIFYs of a
// Store: commits made meanwhile send one NOTIFY at its end. Each NOTIFY
// is a transaction and a round trip on a connection of the pool: on a
// busy Store, back-to-back NOTIFYs took a fifth of the CPU time (client
// and server) of the units of work they followed (4 workers redeeming
// cards on two cores: 0.7 NOTIFY per redemption); with the gap, one
// redemption in twenty sends one. The first commit after a quiet spell is
// not delayed: its NOTIFY goes at once.
const notifyGap = 10 * time.Millisecond

// notifyRemote is the notifier's second goroutine: it sends the NOTIFYs
// asked for, one at a time and at most one per notifyGap.
func (s *Store) notifyRemote(ctx context.Context) {
	n := s.notifier
	defer n.done.Done()
	gap := time.NewTimer(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.remote:
		}
		select {
		case <-ctx.Done():
			return
		case <-gap.C:
		}
		gap.Reset(notifyGap)
		if n.sent != nil {
			n.sent()
		}
		// A NOTIFY that fails is not sent again: the other processes'
		// waiters find the events by their poll.
		_ = s.notify(ctx)
	}
}

// notify sends the NOTIFY that wakes the listeners of the store's schema,
// in a transaction of its own that does nothing else. (Its commit does not
// wait for the disk: a transaction that wrote nothing to the WAL but its
// commit record commits asynchronously.)
func (s *Store) notify(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, listenConnect)
	defer cancel()
	return s.withConn(ctx, "notify", func(conn *pgx.Conn) error {
		var err error
		if s.schema != "" {
			_, err = conn.Exec(ctx, `SELECT pg_notify('giftkit_outbox', $1)`, s.schema)
		} else { // the schema the search path finds the table in, as the listener's
			_, err = conn.Exec(ctx, `SELECT pg_notify('giftkit_outbox', n.nspname) `+outboxSchemaFrom)
		}
		return err
	})
}

// stop stops the notifier for good and waits for its goroutines to end.
func (n *notifier) stop() {
	n.mu.Lock()
	n.closed = true
	cancel := n.cancel
	n.mu.Unlock()
	if cancel != nil {
		cancel()
		n.done.Wait()
	}
}

// listener is a Store's shared listener (see above).
type listener struct {
	mu      sync.Mutex
	wake    chan struct{} // closed, and replaced, when waiters should look again
	waiters int
	used    bool // a Wait ran since the last check
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when the goroutine ends
}

// join counts a waiter in, starting the listener if it is not running.
func (l *listener) join(s *Store) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waiters++
	l.used = true
	if l.running || l.closed {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.running, l.cancel, l.done = true, cancel, make(chan struct{})
	go s.listen(ctx, cancel, l.done)
}

func (l *listener) leave() {
	l.mu.Lock()
	l.waiters--
	l.mu.Unlock()
}

// next returns the channel the next wake-up closes.
func (l *listener) next() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	return l.wake
}

// broadcast wakes every waiter.
func (l *listener) broadcast() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

// idle reports, at a check, whether no Wait ran since the last: the
// listener then stops, and the next Wait starts it again.
func (l *listener) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiters == 0 && !l.used {
		l.running = false
		return true
	}
	l.used = false
	return false
}

// stop stops the listener for good and waits for it to end.
func (l *listener) stop() {
	l.mu.Lock()
	l.closed = true
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// listen is the listener's goroutine: it connects, LISTENs and relays
// notifications until it is idle or closed, and connects again, a little
// later each time, when its connection fails.
func (s *Store) listen(ctx context.Context, cancel context.CancelFunc, done chan struct{}) {
	l := s.listener
	defer close(done)
	defer cancel()
	var backoff time.Duration
	for {
		conn, schema, err := s.listenConn(ctx)
		if err == nil {
			backoff = 0
			// Waiters look again: what committed before LISTEN took
			// effect notified no one.
			l.broadcast()
			err = l.relay(ctx, conn, schema)
			closeCtx, closed := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(closeCtx)
			closed()
			if err == nil { // idle or closed
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if l.idle() {
			return
		}
	}
}

// outboxSchemaFrom finds the schema of the table giftkit_outbox that the
// search path finds (n.nspname): the payload of its notifications when the
// Store names no schema.
const outboxSchemaFrom = `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = 'giftkit_outbox'::regclass`

// listenConn opens the listener's connection with the pool's settings and
// LISTENs, and returns the schema whose notifications are the store's.
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, string, error) {
	ctx, cancel := context.WithTimeout(ctx, listenConnect)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return nil, "", err
	}
	schema := s.schema
	if schema == "" { // the schema the search path finds the table in
		err = conn.QueryRow(ctx, `SELECT n.nspname `+outboxSchemaFrom).Scan(&schema)
	}
	if err == nil {
		_, err = conn.Exec(ctx, "LISTEN giftkit_outbox")
	}
	if err != nil {
		_ = conn.Close(context.Background())
		return nil, "", err
	}
	return conn, schema, nil
}

// relay wakes the waiters on each notification of schema, until ctx is
// done or the listener is idle (nil), or the connection fails. Every
// listenCheck it checks whether it is idle, and that the connection is
// alive (LISTEN again, which changes nothing: a connection lost without a
// word would otherwise go unnoticed).
func (l *listener) relay(ctx context.Context, conn *pgx.Conn, schema string) error {
	check := time.Now().Add(listenCheck)
	for {
		waitCtx, cancel := context.WithDeadline(ctx, check)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			if n.Payload == schema {
				l.broadcast()
			}
			if time.Now().Before(check) {
				continue
			}
		case ctx.Err() != nil:
			return nil
		case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return err
		}
		if l.idle() {
			return nil
		}
		listenCtx, cancel := context.WithTimeout(ctx, listenConnect)
		_, err = conn.Exec(listenCtx, "LISTEN giftkit_outbox")
		cancel()
		if err != nil {
			return err
		}
		check = time.Now().Add(listenCheck)
	}
}

// Wait implements outbox.Reader. It returns nil when an event after after
// is positioned, or committed and not yet positioned (the next Events
// positions it), and otherwise waits for the store's listener to be
// notified of a commit (see the package doc), or for waitPoll, and looks
// again. It returns ctx's error when ctx is done first, or the store's
// errors.
func (s *Store) Wait(ctx context.Context, after int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l := s.listener
	l.join(s)
	defer l.leave()
	for {
		wake := l.next() // before looking: a notification from now on wakes us
		var found bool
		err := s.withConn(ctx, "wait", func(conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM giftkit_outbox WHERE pos > $1)
				OR EXISTS (SELECT 1 FROM giftkit_outbox WHERE pos IS NULL)`, after).Scan(&found)
		})
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			return err
		case found:
			return nil
		}
		poll := time.NewTimer(waitPoll)
		select {
		case <-wake:
		case <-poll.C:
		case <-ctx.Done():
		}
		poll.Stop()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
