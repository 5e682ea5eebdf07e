package pgstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wait's wake-ups. Every statement that inserts events notifies the channel
// giftkit_outbox with its schema's name (migration 0006's trigger), which
// the server delivers when the unit commits. A Store has one listener: a
// goroutine with a connection of its own, outside the pool, LISTENing on
// that channel, which wakes every waiting Wait when its schema's name
// arrives; each then asks the database whether there is an event after
// its cursor. The first Wait starts the listener; it stops at Close, or
// when a check (every listenCheck) finds that no Wait ran since the last.

// waitPoll is how long a Wait waits for a notification before it looks
// for events anyway: notifications are lost while the listener reconnects,
// and none come from sessions that turned them off (see the package doc).
// A variable for the tests.
var waitPoll = time.Second

const (
	// listenCheck is how often the listener checks that its connection
	// is alive, and stops if no Wait ran since the last check.
	listenCheck = 30 * time.Second
	// listenConnect bounds the listener's connecting and each LISTEN.
	listenConnect = 10 * time.Second
)

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
		err = conn.QueryRow(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.oid = 'giftkit_outbox'::regclass`).Scan(&schema)
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
