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
