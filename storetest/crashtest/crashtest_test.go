package crashtest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout/processortest"
)

// A processor opened from its journal is the processor that wrote it: the
// same authorisations under the same IDs, the same answers to repeated
// keys; a last line cut short is dropped.
func TestJournalReplays(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "processor.log")
	j, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	jpy := func(n int64) giftkit.Money { return giftkit.FromMinor(n, giftkit.JPY) }
	a1, _ := j.Authorize(ctx, "tok_visa", jpy(500), "k1")
	a2, _ := j.Authorize(ctx, "tok_visa", jpy(700), "k2")
	if _, err := j.Authorize(ctx, processortest.DeclinedInstrument, jpy(1), "k3"); err == nil {
		t.Fatal("a declined instrument was authorised")
	}
	_ = j.Capture(ctx, a1, jpy(400), "c1")
	_ = j.Refund(ctx, a1, jpy(100), "r1")
	_ = j.Void(ctx, a2, "v2")
	want := j.inner.Auths()
	j.close()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"op":"authorize","instrument":"tok_vi`) // killed mid-write
	_ = f.Close()

	again, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if diff := cmp.Diff(want, again.inner.Auths(), cmp.Comparer(func(a, b giftkit.Money) bool { return a == b })); diff != "" {
		t.Errorf("replayed processor mismatch (-before +after):\n%s", diff)
	}
	if id, err := again.Authorize(ctx, "tok_visa", jpy(500), "k1"); id != a1 || err != nil {
		t.Errorf("Authorize(k1) again = %q, %v; want %q, the first answer", id, err, a1)
	}
	if id, _ := again.Authorize(ctx, "tok_visa", jpy(900), "k4"); id == a1 || id == a2 {
		t.Errorf("a new authorisation got the ID %q of an old one", id)
	}
	if reuses := again.inner.KeyReuses(); len(reuses) > 0 {
		t.Errorf("replay reused keys: %v", reuses)
	}
}

func TestRunPattern(t *testing.T) {
	for name, want := range map[string][]string{
		"TestCrash":          {"TestCrash"},
		"TestCrash/sqlite+1": {"TestCrash", "sqlite+1"},
	} {
		parts := strings.Split(runPattern(name), "/") // as go test splits it: no part of a name holds a slash
		for i, p := range parts {
			re := regexp.MustCompile(p)
			if i >= len(want) || !re.MatchString(want[i]) || re.MatchString(want[i]+"x") {
				t.Errorf("runPattern(%q) = %q; part %d does not select %q alone", name, runPattern(name), i, want)
			}
		}
	}
}

// The plan is a pure function of the seed: every process agrees on it.
func TestPlanIsDeterministic(t *testing.T) {
	for n := 0; n < 500; n++ {
		a, okA := planOp(42, 1, n)
		b, okB := planOp(42, 1, n)
		if a != b || okA != okB {
			t.Fatalf("planOp(42, 1, %d) = %+v then %+v", n, a, b)
		}
		if a.Kind == opRefund {
			if target, _ := planOp(42, 1, a.Target); target.Kind == opRedeem || target.Kind == opRefund || a.Target >= n {
				t.Errorf("operation %d refunds operation %d, a %v", n, a.Target, target.Kind)
			}
		}
	}
	if _, ok := planOp(42, 0, cardsPerWorker*redeemEvery); ok {
		t.Error("the plan goes on past the last card")
	}
}
