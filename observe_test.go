package giftkit_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu      sync.Mutex
	calls   []string // "op outcome-kind attrs"
	notices []string // "name attrs"
	open    int
}

func (r *recorder) Begin(ctx context.Context, op string) (context.Context, func(error, ...slog.Attr)) {
	r.mu.Lock()
	r.open++
	r.mu.Unlock()
	ended := false
	return ctx, func(err error, attrs ...slog.Attr) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if ended {
			panic("end called twice for " + op)
		}
		ended = true
		r.open--
		kind := "ok"
		if err != nil {
			kind = "error"
			if k := giftkit.KindOf(err); k != nil {
				kind = k.Error()
			}
		}
		r.calls = append(r.calls, op+" "+kind+" "+slog.GroupValue(attrs...).String())
	}
}

func (r *recorder) Notice(_ context.Context, name string, attrs ...slog.Attr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notices = append(r.notices, name+" "+slog.GroupValue(attrs...).String())
}

// TestObserved runs the journey with a logger and an Observer: every use
// case is reported once with its outcome, lockouts and recoveries are
// noticed, and no log line or attribute holds the code.
func TestObserved(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rec := &recorder{}
	store := memstore.New()
	now := func() time.Time { return time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC) }
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: now, Logger: logger, Observer: rec})
	w, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now, Logger: logger, Observer: rec,
		Limiter: wallet.NewMemoryLimiter(2, time.Hour, time.Hour)})
	proc := processortest.New()
	co, _ := checkout.NewService(store, proc, checkout.Config{Now: now, Logger: logger, Observer: rec})

	batch, err := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("30.00", giftkit.EUR)}, "issue-1")
	if err != nil {
		t.Fatal(err)
	}
	code := batch.Cards[0].Code
	if _, err := w.Redeem(ctx, "alice", strings.ToLower(code.String()), "redeem-1"); err != nil {
		t.Fatal(err)
	}
	_, _ = w.Redeem(ctx, "mallory", code.String(), "guess-1") // already redeemed: a guess
	_, _ = w.Redeem(ctx, "mallory", code.String(), "guess-2")
	_, _ = w.Redeem(ctx, "mallory", code.String(), "guess-3") // locked out
	proc.Queue(processortest.OpAuthorize, processortest.Fail)
	if _, err := co.Pay(ctx, checkout.PayRequest{PaymentID: "order-1", Owner: "alice", Total: giftkit.MustParseMoney("50.00", giftkit.EUR),
		Instrument: "tok_visa"}, "pay-1"); err == nil {
		t.Fatal("Pay with the processor down succeeded")
	}
	if _, err := co.Resume(ctx, "order-1"); err != nil {
		t.Fatal(err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.open != 0 {
		t.Errorf("%d calls begun and never ended", rec.open)
	}
	want := []string{
		"giftcard.issue ok []",
		"wallet.redeem ok [code=****-******-*" + code.String()[len(code.String())-4:] + "]",
		"wallet.redeem conflict",
		"wallet.redeem conflict",
		"wallet.redeem rate limited",
		"checkout.pay unavailable",
	}
	for i, w := range want {
		if i >= len(rec.calls) || !strings.HasPrefix(rec.calls[i], w) {
			t.Errorf("call %d = %q; want %q…\nall: %q", i, at(rec.calls, i), w, rec.calls)
		}
	}
	joined := strings.Join(rec.notices, "\n")
	for _, n := range []string{"wallet.lockout [owner=mallory", "checkout.recovery [payment_id=order-1 from=pending to=captured]"} {
		if !strings.Contains(joined, n) {
			t.Errorf("notices lack %q:\n%s", n, joined)
		}
	}
	all := logs.String() + strings.Join(rec.calls, "\n") + joined
	for _, form := range []string{code.String(), strings.ReplaceAll(code.String(), "-", "")} {
		if strings.Contains(strings.ToUpper(all), form) {
			t.Fatalf("the code %s is in a log line or an attribute:\n%s", form, all)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(line, `"op":`) && !strings.Contains(line, "lockout") && !strings.Contains(line, "recovery") {
			t.Errorf("log line without an op: %s", line)
		}
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), `"outcome":"unavailable"`) {
		t.Errorf("the processor's outage is not logged as a warning with its outcome:\n%s", logs.String())
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(none)"
}
