package pgstore

import "time"

// SetWaitPoll sets how long Wait waits for a notification before it looks
// anyway, and returns a function that restores it. Not for use while a
// Wait runs.
func SetWaitPoll(d time.Duration) (restore func()) {
	old := waitPoll
	waitPoll = d
	return func() { waitPoll = old }
}

// SetNotifyHook makes s's notifier call f as each NOTIFY is about to be
// sent (f may block it). Call it before s's first commit.
func SetNotifyHook(s *Store, f func()) { s.notifier.sent = f }
