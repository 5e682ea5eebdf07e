package wallet_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

var (
	eur = giftkit.EUR
	t0  = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
)

func eurs(s string) giftkit.Money { return giftkit.MustParseMoney(s, eur) }

func newEnv(t *testing.T) (storetest.Env, *memstore.Store) {
	store := memstore.New()
	return storetest.NewEnv(t, store, 5), store
}

// snapshot reads everything an account owner could see, to prove that a
// failed call changed nothing.
func snapshot(t *testing.T, env storetest.Env, owner string) (wallet.Balance, []wallet.Entry) {
	t.Helper()
	b, err := env.Wallet.Balance(context.Background(), owner, eur)
	if err != nil {
		t.Fatal(err)
	}
	p, err := env.Wallet.History(context.Background(), owner, eur, 0, wallet.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	return b, p.Entries
}

// TestSeedFlow is the library's first promise end to end: issue a card, type
// its code messily, redeem it, see the balance and the journal entry, and
// fail to redeem it again.
func TestSeedFlow(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	card, code := env.Issue(t, eurs("25.00"), "issue-1")

	messy := "  " + strings.ToLower(strings.ReplaceAll(code.String(), "-", " ")) + "\u200b "
	got, err := env.Wallet.Redeem(ctx, "alice", messy, "redeem-1")
	if err != nil {
		t.Fatalf("Redeem(%q): %v", messy, err)
	}
	want := wallet.Redeemed{
		CardID: card.ID, Amount: eurs("25.00"),
		Balance: wallet.Balance{Owner: "alice", Currency: eur, Balance: eurs("25.00"), Held: eurs("0"), Available: eurs("25.00")},
		Entry: wallet.Entry{Owner: "alice", Currency: eur, Seq: 1, Kind: wallet.EntryCredit, Amount: eurs("25.00"), Held: eurs("0"),
			BalanceAfter: eurs("25.00"), AvailableAfter: eurs("25.00"), Reference: card.ID, Key: "redeem-1", At: t0},
	}
	if diff := cmp.Diff(want, got, cmpMoney); diff != "" {
		t.Errorf("Redeem mismatch (-want +got):\n%s", diff)
	}
	b, entries := snapshot(t, env, "alice")
	if b != want.Balance || len(entries) != 1 || entries[0] != want.Entry {
		t.Errorf("after redeeming: balance %+v, journal %+v", b, entries)
	}
	_, err = env.Wallet.Redeem(ctx, "alice", code.String(), "redeem-2")
	var ce *giftcard.Error
	if !errors.Is(err, giftcard.ErrAlreadyRedeemed) || !errors.As(err, &ce) || !ce.SameAccount {
		t.Errorf("second redemption: %v; want ErrAlreadyRedeemed by the same account", err)
	}
	if strings.Contains(err.Error(), code.String()) {
		t.Errorf("error %q reveals the code", err)
	}
	_, err = env.Wallet.Redeem(ctx, "bob", code.String(), "redeem-3")
	if !errors.As(err, &ce) || ce.SameAccount {
		t.Errorf("redemption by bob: %v; want ErrAlreadyRedeemed by another account", err)
	}
	if after, entries2 := snapshot(t, env, "alice"); after != b || len(entries2) != 1 {
		t.Errorf("failed redemptions changed alice's account: %+v", after)
	}
}

var cmpMoney = cmp.Options{
	cmp.Comparer(func(a, b giftkit.Money) bool { return a == b }),
	cmp.Comparer(func(a, b giftkit.Currency) bool { return a == b }),
}

// TestBadInput: every bad input is a typed error, and nothing changes.
func TestBadInput(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	env.Fund(t, "alice", eurs("10.00"))
	_, code := env.Issue(t, eurs("5.00"), "spare")
	typo := []byte(code.String())
	typo[2] = map[bool]byte{true: 'X', false: 'Y'}[typo[2] != 'X']
	pending, err := env.Cards.Issue(ctx, giftcard.IssueRequest{Value: eurs("5"), Pending: true}, "pending")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Wallet.Debit(ctx, "alice", eurs("1.00"), "o", "used-key"); err != nil {
		t.Fatal(err)
	}
	before, beforeEntries := snapshot(t, env, "alice")
	jpy := giftkit.FromMinor(100, giftkit.JPY)
	for _, tc := range []struct {
		name string
		run  func() error
		want error
	}{
		{"redeem: empty owner", func() error { _, err := env.Wallet.Redeem(ctx, "", code.String(), "k"); return err }, wallet.ErrInvalidOwner},
		{"redeem: long owner", func() error {
			_, err := env.Wallet.Redeem(ctx, strings.Repeat("a", 200), code.String(), "k")
			return err
		}, wallet.ErrInvalidOwner},
		{"redeem: no key", func() error { _, err := env.Wallet.Redeem(ctx, "alice", code.String(), ""); return err }, giftkit.ErrKeyRequired},
		{"redeem: empty code", func() error { _, err := env.Wallet.Redeem(ctx, "alice", "", "k1"); return err }, codefmt.ErrEmpty},
		{"redeem: short code", func() error { _, err := env.Wallet.Redeem(ctx, "alice", "ABCD-1234", "k2"); return err }, codefmt.ErrLength},
		{"redeem: typo", func() error { _, err := env.Wallet.Redeem(ctx, "alice", string(typo), "k3"); return err }, codefmt.ErrChecksum},
		{"redeem: bad char", func() error { _, err := env.Wallet.Redeem(ctx, "alice", "ABCD-EFGH!K-MNPQR", "k4"); return err }, codefmt.ErrInvalidChar},
		{"redeem: unknown", func() error {
			c, _ := codefmt.Generate(nil)
			_, err := env.Wallet.Redeem(ctx, "alice", c.String(), "k5")
			return err
		}, giftcard.ErrNotRedeemable},
		{"redeem: pending", func() error {
			_, err := env.Wallet.Redeem(ctx, "alice", pending.Cards[0].Code.String(), "k6")
			return err
		}, giftcard.ErrNotRedeemable},
		{"redeem: key reused", func() error { _, err := env.Wallet.Redeem(ctx, "alice", code.String(), "used-key"); return err }, giftkit.ErrIdempotencyConflict},
		{"debit: zero", func() error { _, err := env.Wallet.Debit(ctx, "alice", eurs("0"), "o", "k7"); return err }, wallet.ErrInvalidAmount},
		{"debit: negative", func() error { _, err := env.Wallet.Debit(ctx, "alice", eurs("-1"), "o", "k8"); return err }, wallet.ErrInvalidAmount},
		{"debit: no currency", func() error { _, err := env.Wallet.Debit(ctx, "alice", giftkit.Money{}, "o", "k9"); return err }, wallet.ErrInvalidAmount},
		{"debit: too much", func() error { _, err := env.Wallet.Debit(ctx, "alice", eurs("9.01"), "o", "k10"); return err }, wallet.ErrInsufficientFunds},
		{"debit: key reused", func() error { _, err := env.Wallet.Debit(ctx, "alice", eurs("2.00"), "o", "used-key"); return err }, giftkit.ErrIdempotencyConflict},
		{"refund: zero", func() error { _, err := env.Wallet.Refund(ctx, "alice", eurs("0"), "o", "k11"); return err }, wallet.ErrInvalidAmount},
		{"capture: unknown hold", func() error { _, err := env.Wallet.Capture(ctx, "alice", "hold_x", eurs("1"), "k13"); return err }, wallet.ErrHoldNotFound},
		{"release: unknown hold", func() error { _, err := env.Wallet.Release(ctx, "alice", eur, "hold_x", "k14"); return err }, wallet.ErrHoldNotFound},
		{"hold: other currency", func() error {
			_, err := env.Wallet.Hold(ctx, "alice", wallet.HoldRequest{Amount: jpy}, "k15")
			return err
		}, wallet.ErrInsufficientFunds},
		{"history: negative cursor", func() error { _, err := env.Wallet.History(ctx, "alice", eur, -1, 0); return err }, wallet.ErrInvalidAmount},
		{"balance: no owner", func() error { _, err := env.Wallet.Balance(ctx, "", eur); return err }, wallet.ErrInvalidOwner},
	} {
		err := tc.run()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.want)
		}
		if after, entries := snapshot(t, env, "alice"); after != before || len(entries) != len(beforeEntries) {
			t.Fatalf("%s changed the account: %+v, %d entries; before %+v, %d", tc.name, after, len(entries), before, len(beforeEntries))
		}
	}
}

func TestHoldCaptureRelease(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	env.Fund(t, "alice", eurs("50.00"))
	h, err := env.Wallet.Hold(ctx, "alice", wallet.HoldRequest{Amount: eurs("30.00"), Reference: "order-1", ExpiresAt: t0.Add(time.Hour)}, "h1")
	if err != nil || h.ID != wallet.HoldID("alice", "h1") || h.Amount != eurs("30.00") {
		t.Fatalf("Hold = %+v, %v", h, err)
	}
	if again, err := env.Wallet.Hold(ctx, "alice", wallet.HoldRequest{Amount: eurs("30.00"), Reference: "order-1", ExpiresAt: t0.Add(time.Hour)}, "h1"); err != nil || again.ID != h.ID || len(again.Parts) != len(h.Parts) {
		t.Errorf("Hold retried = %+v, %v; want %+v", again, err, h)
	}
	if b, _ := env.Wallet.Balance(ctx, "alice", eur); b.Available != eurs("20.00") || b.Held != eurs("30.00") {
		t.Errorf("after the hold: %+v", b)
	}
	if _, err := env.Wallet.Debit(ctx, "alice", eurs("20.01"), "o", "d1"); !errors.Is(err, wallet.ErrInsufficientFunds) {
		t.Errorf("debit beyond the available balance: %v", err)
	}
	if _, err := env.Wallet.Capture(ctx, "alice", h.ID, eurs("30.01"), "c0"); !errors.Is(err, wallet.ErrExceedsHold) {
		t.Errorf("capture beyond the hold: %v", err)
	}
	b, err := env.Wallet.Capture(ctx, "alice", h.ID, eurs("12.50"), "c1")
	if err != nil || b.Balance != eurs("37.50") || b.Held != eurs("0") || b.Available != eurs("37.50") {
		t.Errorf("partial capture: %+v, %v; want 37.50 EUR and the rest released", b, err)
	}
	if _, err := env.Wallet.Capture(ctx, "alice", h.ID, eurs("1"), "c2"); !errors.Is(err, wallet.ErrHoldNotFound) {
		t.Errorf("second capture: %v; want ErrHoldNotFound", err)
	}
	h2, _ := env.Wallet.Hold(ctx, "alice", wallet.HoldRequest{Amount: eurs("7.50"), ExpiresAt: t0.Add(time.Hour)}, "h2")
	if b, err := env.Wallet.Release(ctx, "alice", eur, h2.ID, "r1"); err != nil || b.Available != eurs("37.50") {
		t.Errorf("release: %+v, %v", b, err)
	}
	// A hold that lapses returns to the balance when the account is next touched.
	if _, err := env.Wallet.Hold(ctx, "alice", wallet.HoldRequest{Amount: eurs("10"), ExpiresAt: t0.Add(time.Hour)}, "h3"); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(time.Hour)
	if b, err := env.Wallet.Sweep(ctx, "alice", eur); err != nil || b.Held != eurs("0") || b.Available != eurs("37.50") {
		t.Errorf("after the hold expired: %+v, %v", b, err)
	}
	_, entries := snapshot(t, env, "alice")
	var kinds []string
	for _, e := range entries {
		kinds = append(kinds, e.Kind.String())
	}
	if got := strings.Join(kinds, " "); got != "credit hold capture release hold release hold release" {
		t.Errorf("journal kinds: %s", got)
	}
}

// TestSpendSoonestExpiringFirst: credits with the nearest expiry are spent
// first, and an expiring credit leaves through an expiry entry.
func TestSpendSoonestExpiringFirst(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	for i, tc := range []struct {
		value   string
		expires time.Duration
	}{{"10.00", 0}, {"20.00", 72 * time.Hour}, {"5.00", 24 * time.Hour}} {
		req := giftcard.IssueRequest{Value: eurs(tc.value)}
		if tc.expires > 0 {
			req.ExpiresAt = t0.Add(tc.expires)
		}
		out, err := env.Cards.Issue(ctx, req, "i"+string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Wallet.Redeem(ctx, "alice", out.Cards[0].Code.String(), "r"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	// 8.00 takes the 5.00 expiring in a day, then 3.00 of the 20.00.
	if _, err := env.Wallet.Debit(ctx, "alice", eurs("8.00"), "o1", "d1"); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(72 * time.Hour) // the rest of the 20.00 (17.00) expires
	b, err := env.Wallet.Balance(ctx, "alice", eur)
	if err != nil || b.Balance != eurs("10.00") {
		t.Fatalf("balance after expiry: %+v, %v; want the never-expiring 10.00", b, err)
	}
	_, entries := snapshot(t, env, "alice")
	last := entries[len(entries)-1]
	if last.Kind != wallet.EntryExpiry || last.Amount != eurs("-17.00") {
		t.Errorf("last entry %+v; want an expiry of 17.00", last)
	}
}

// TestExpiryNeverTakesHeldMoney: a credit that expires while a hold
// reserves it keeps the reserved part until the hold is resolved.
func TestExpiryNeverTakesHeldMoney(t *testing.T) {
	a := wallet.NewAccount("alice", eur)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("10"), ExpiresAt: t0.Add(time.Hour),
		Source: "card", Reference: "card"}, "k", t0)
	a, _, err := a.PlaceHold(wallet.HoldSpec{ID: "h", Placer: wallet.PlacerWallet, Amount: eurs("6"), Reference: "order"}, "k2", t0)
	if err != nil {
		t.Fatal(err)
	}
	swept, entries := a.Sweep(t0.Add(2 * time.Hour))
	if len(entries) != 1 || entries[0].Amount != eurs("-4") || swept.Balance() != eurs("6") || swept.Available().IsNegative() {
		t.Fatalf("sweep: %+v, balance %v available %v", entries, swept.Balance(), swept.Available())
	}
	captured, _, err := swept.Capture("h", wallet.PlacerWallet, eurs("6"), "k3", t0.Add(2*time.Hour))
	if err != nil || !captured.Balance().IsZero() || len(captured.Lots()) != 0 {
		t.Errorf("capture after expiry: %+v, %v", captured, err)
	}
	if a.Balance() != eurs("10") || len(a.Holds()) != 1 {
		t.Errorf("Sweep changed its receiver: %+v", a)
	}
}

func TestTooManyAttempts(t *testing.T) {
	store := memstore.New()
	hasher, _ := giftcard.NewHasher(storetest.TestHashKey)
	clock := storetest.NewClock(t0)
	w, err := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: clock.Now, Limiter: wallet.NewMemoryLimiter(3, time.Hour, 30*time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		c, _ := codefmt.Generate(nil)
		if _, err := w.Redeem(ctx, "mallory", c.String(), "guess-"+string(rune('a'+i))); !errors.Is(err, giftcard.ErrNotRedeemable) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	c, _ := codefmt.Generate(nil)
	_, err = w.Redeem(ctx, "mallory", c.String(), "guess-d")
	var we *wallet.Error
	if !errors.Is(err, wallet.ErrTooManyAttempts) || !errors.As(err, &we) || we.RetryAfter != 30*time.Minute {
		t.Fatalf("fourth guess: %v; want ErrTooManyAttempts with RetryAfter 30m", err)
	}
	if _, err := w.Redeem(ctx, "alice", c.String(), "other"); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("another owner is affected by mallory's lockout: %v", err)
	}
	clock.Advance(30 * time.Minute)
	if _, err := w.Redeem(ctx, "mallory", c.String(), "guess-e"); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("after the lockout: %v; want to be allowed to try", err)
	}
}

func TestMemoryLimiterWindow(t *testing.T) {
	ctx := context.Background()
	l := wallet.NewMemoryLimiter(2, time.Minute, time.Hour)
	fail := func(at time.Time) {
		t.Helper()
		a := wallet.Attempt{Owner: "a", At: at}
		if ok, wait, err := l.Reserve(ctx, a); !ok || err != nil {
			t.Fatalf("Reserve at %v = %v, %v, %v; want ok", at, ok, wait, err)
		}
		if err := l.Settle(ctx, a, wallet.AttemptFailed); err != nil {
			t.Fatal(err)
		}
	}
	fail(t0)
	fail(t0.Add(2 * time.Minute)) // the first failure left the window
	fail(t0.Add(150 * time.Second))
	if ok, wait, _ := l.Reserve(ctx, wallet.Attempt{Owner: "a", At: t0.Add(150 * time.Second)}); ok || wait != time.Hour {
		t.Errorf("Reserve after 2 failures in a minute = %v, %v; want a lockout of 1h", ok, wait)
	}
	if ok, _, _ := l.Reserve(ctx, wallet.Attempt{Owner: "b", At: t0.Add(150 * time.Second)}); !ok {
		t.Errorf("another owner was locked out too")
	}
}

func TestHistoryPaging(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	env.Fund(t, "alice", eurs("1.00"))
	for i := 0; i < 9; i++ {
		if _, err := env.Wallet.Refund(ctx, "alice", eurs("0.10"), "r", "k"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	var seqs []int64
	for after := int64(0); ; {
		page, err := env.Wallet.History(ctx, "alice", eur, after, 4)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			seqs = append(seqs, e.Seq)
		}
		if page.Next == 0 {
			break
		}
		after = page.Next
	}
	if diff := cmp.Diff([]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, seqs); diff != "" {
		t.Errorf("paged seqs mismatch (-want +got):\n%s", diff)
	}
	empty, err := env.Wallet.History(ctx, "nobody", eur, 0, 0)
	if err != nil || len(empty.Entries) != 0 || empty.Next != 0 {
		t.Errorf("history of a new account = %+v, %v", empty, err)
	}
}

func TestBalanceOverflow(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	huge := giftkit.FromMinor(1<<62, eur)
	if _, err := env.Wallet.Refund(ctx, "alice", huge, "o", "k1"); err != nil {
		t.Fatal(err)
	}
	before, entries := snapshot(t, env, "alice")
	if _, err := env.Wallet.Refund(ctx, "alice", huge, "o", "k2"); !errors.Is(err, wallet.ErrInvalidAmount) {
		t.Errorf("refund past the int64 range: %v; want ErrInvalidAmount", err)
	}
	if after, entries2 := snapshot(t, env, "alice"); after != before || len(entries2) != len(entries) {
		t.Errorf("the failed refund changed the account: %+v", after)
	}
}

func TestCurrencyRestriction(t *testing.T) {
	store := memstore.New()
	env := storetest.NewEnv(t, store, 6)
	hasher, _ := giftcard.NewHasher(storetest.TestHashKey)
	eurOnly, err := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: env.Clock.Now, Currencies: []giftkit.Currency{eur}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	card, code := env.Issue(t, giftkit.MustParseMoney("10", giftkit.USD), "usd")
	if _, err := eurOnly.Redeem(ctx, "alice", code.String(), "r1"); !errors.Is(err, giftkit.ErrCurrencyMismatch) {
		t.Fatalf("redeeming USD into an EUR-only wallet: %v; want ErrCurrencyMismatch", err)
	}
	if c, _ := env.Cards.Card(ctx, card.ID); c.State != giftcard.StateActive {
		t.Errorf("refused card is %v; want still active", c.State)
	}
	_, eurCode := env.Issue(t, eurs("10"), "eur")
	if _, err := eurOnly.Redeem(ctx, "alice", eurCode.String(), "r2"); err != nil {
		t.Errorf("redeeming EUR: %v", err)
	}
}
