//go:build !unix

package benchcpu

import "time"

// ProcessTime returns false: the process's CPU time is read on Unix only.
func ProcessTime() (time.Duration, bool) { return 0, false }
