//go:build unix

package benchcpu

import (
	"syscall"
	"time"
)

// ProcessTime returns the CPU time, user and system, of every thread of
// the process so far (the collector's included); false where it cannot be
// read.
func ProcessTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
