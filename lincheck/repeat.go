package lincheck

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
)

// Budget is how long [Repeat] runs: $GIFTKIT_LINCHECK_TIME (a Go duration,
// such as 10m for a soak) if set, def otherwise.
func Budget(def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv("GIFTKIT_LINCHECK_TIME")); err == nil && d > 0 {
		return d
	}
	return def
}

// Repeat calls [Run] on a new store from newStore with seeds opts.Seed,
// opts.Seed+1, ... until budget is spent (at least once), or only with
// the seed $GIFTKIT_LINCHECK_SEED if it is set, to replay a failure's
// choices. It stops at the first run that fails, and logs how many runs
// it made.
func Repeat[T checkout.Tx](t *testing.T, budget time.Duration, newStore func(t testing.TB) giftkit.Store[T], opts Options) {
	t.Helper()
	if s, err := strconv.ParseUint(os.Getenv("GIFTKIT_LINCHECK_SEED"), 10, 64); err == nil {
		opts.Seed, budget = s, 0
	}
	start := time.Now()
	runs := 0
	for seed := opts.Seed; runs == 0 || time.Since(start) < budget; seed++ {
		o := opts
		o.Seed = seed
		ok := t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) { Run(t, newStore(t), o) })
		runs++
		if !ok {
			t.Logf("lincheck: seed %d failed after %d runs in %v; replay it with GIFTKIT_LINCHECK_SEED=%d", seed, runs, time.Since(start).Round(time.Millisecond), seed)
			return
		}
	}
	t.Logf("lincheck: %d runs in %v", runs, time.Since(start).Round(time.Millisecond))
}
