package storetest_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// A store proves itself with two calls from its own tests: the conformance
// suite, and the whole-system property test with faults.
func Example() {
	// In mystore_test.go:
	_ = func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) giftkit.Store[*memstore.Tx] { return memstore.New() })
	}
	_ = func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			storetest.System(t, memstore.New(), storetest.SystemOptions{Faults: true})
		})
	}
	// Output:
}
