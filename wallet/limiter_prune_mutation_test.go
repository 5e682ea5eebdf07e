package wallet

// Pruning keeps MemoryLimiter's memory bounded; what it removes behaves
// like what was never there, so only the limiter's own map shows it.

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMemoryLimiterPrunes: every 1024th settlement forgets the subjects
// whose attempts all left the window, and keeps the others.
func TestMemoryLimiterPrunes(t *testing.T) {
	ctx := context.Background()
	l := NewMemoryLimiter(10, time.Minute, time.Minute)
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	fail := func(owner string, at time.Time) {
		t.Helper()
		a := Attempt{Owner: owner, At: at}
		if ok, _, err := l.Reserve(ctx, a); !ok || err != nil {
			t.Fatalf("Reserve(%s) refused: %v", owner, err)
		}
		if err := l.Settle(ctx, a, AttemptFailed); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1023 {
		fail(fmt.Sprint("owner-", i), t0)
	}
	if n := len(l.logs); n != 1023 {
		t.Fatalf("after 1023 failures: %d subjects kept; want 1023 (none is idle)", n)
	}
	// The 1024th settlement, after the others left the window.
	fail("last", t0.Add(2*time.Minute))
	if _, ok := l.logs[subject{name: "last"}]; len(l.logs) != 1 || !ok {
		t.Errorf("after the 1024th settlement: %d subjects kept (last among them: %v); want only last", len(l.logs), ok)
	}
}
