package memstore_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// TestConservationUnderFaults is the library's central promise on the
// embedded store: under any sequence of operations, injected store and
// processor faults, crashes and retries, no cent is created or lost (see
// storetest.System). Run longer with -rapid.checks and -rapid.steps.
func TestConservationUnderFaults(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		storetest.System(t, memstore.New(), storetest.SystemOptions{Faults: true})
	})
}

// FuzzConservation is the same harness driven by the fuzzer: rapid decodes
// the fuzzer's bytes into a sequence of operations and faults, and every
// invariant of storetest.System is checked after every step. The seeds are
// operation sequences that reach payments, captures, refunds and expiry.
//
//	go test -run '^$' -fuzz FuzzConservation ./memstore
func FuzzConservation(f *testing.F) {
	for _, seed := range [][]byte{
		{},
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		{9, 9, 9, 9, 1, 1, 1, 1, 5, 5, 5, 5, 7, 7, 7, 7, 3, 3, 3, 3},
		{255, 128, 64, 32, 16, 8, 4, 2, 1, 0, 255, 128, 64, 32, 16, 8, 4, 2, 1, 0},
		[]byte("issue redeem pay capture refund advance sweep retry"),
	} {
		f.Add(seed)
	}
	f.Fuzz(rapid.MakeFuzz(func(t *rapid.T) {
		storetest.System(t, memstore.New(), storetest.SystemOptions{Faults: true})
	}))
}
