package checkout_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
)

// TestSystemStateMachine drives cards, wallets and checkout together over
// memstore and compares them with a plain model after every step (see
// storetest.System for the invariants). Faults are left to
// TestConservationUnderFaults at the root.
func TestSystemStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		storetest.System(t, memstore.New(), storetest.SystemOptions{})
	})
}
