//go:build !linux

package pgstore_test

import (
	"testing"
	"time"
)

// clientCPU returns -1: the benchmarks read the CPU time used on Linux
// only.
func clientCPU() time.Duration { return -1 }

// serverCPU returns a function that returns -1: the server's CPU time is
// read from Linux's /proc.
func serverCPU(testing.TB) func() time.Duration { return func() time.Duration { return -1 } }
