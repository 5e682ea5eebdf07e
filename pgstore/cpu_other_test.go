//go:build !linux

package pgstore_test

import (
	"testing"
	"time"
)

// serverCPU returns a function that returns -1: the server's CPU time is
// read from Linux's /proc.
func serverCPU(testing.TB) func() time.Duration { return func() time.Duration { return -1 } }
