package wallet_test

// Tests that pin down behaviour the rest of the suite left open, each found
// by a mutant that survived it (scripts/mutation).

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

var equateMoney = cmp.Options{
	cmp.Comparer(func(a, b giftkit.Money) bool { return a == b }),
	cmp.Comparer(func(a, b giftkit.Currency) bool { return a == b }),
}

// TestEntriesRecordHeldChanges: every entry's Held is the change it made to
// the held amount (negative for a release and a capture), so that the
// journal sums to the account: Σ Amount = Balance, Σ Held = Held.
func TestEntriesRecordHeldChanges(t *testing.T) {
	a := wallet.NewAccount("alice", eur)
	var journal []wallet.Entry
	step := func(next wallet.Account, entries []wallet.Entry, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		a = next
		journal = append(journal, entries...)
	}
	one := func(next wallet.Account, e wallet.Entry, err error) { t.Helper(); step(next, []wallet.Entry{e}, err) }
	one(a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("10"), Source: "c"}, "k1", t0))
	one(a.PlaceHold(wallet.HoldSpec{ID: "h1", Placer: wallet.PlacerWallet, Amount: eurs("6")}, "k2", t0))
	one(a.Release("h1", wallet.PlacerWallet, "k3", t0))
	one(a.PlaceHold(wallet.HoldSpec{ID: "h2", Placer: wallet.PlacerWallet, Amount: eurs("6")}, "k4", t0))
	step(a.Capture("h2", wallet.PlacerWallet, eurs("4"), "k5", t0))

	type change struct {
		Kind         wallet.EntryKind
		Amount, Held giftkit.Money
	}
	var got []change
	for _, e := range journal {
		got = append(got, change{e.Kind, e.Amount, e.Held})
	}
	want := []change{
		{wallet.EntryCredit, eurs("10"), eurs("0")},
		{wallet.EntryHold, eurs("0"), eurs("6")},
		{wallet.EntryRelease, eurs("0"), eurs("-6")},
		{wallet.EntryHold, eurs("0"), eurs("6")},
		{wallet.EntryCapture, eurs("-4"), eurs("-4")},
		{wallet.EntryRelease, eurs("0"), eurs("-2")},
	}
	if diff := cmp.Diff(want, got, equateMoney); diff != "" {
		t.Errorf("journal mismatch (-want +got):\n%s", diff)
	}
	if a.Balance() != eurs("6") || a.Held() != eurs("0") {
		t.Errorf("account after the capture: balance %v, held %v; want 6.00 EUR, 0.00 EUR", a.Balance(), a.Held())
	}
}

// TestCreditUpToLargestAmount: a balance may reach the largest int64 of
// minor units exactly, and not one unit more.
func TestCreditUpToLargestAmount(t *testing.T) {
	a := wallet.NewAccount("alice", eur)
	credit := func(a wallet.Account, minor int64, key string) (wallet.Account, error) {
		b, _, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(minor, eur)}, key, t0)
		return b, err
	}
	a, err := credit(a, 1, "k1")
	if err != nil {
		t.Fatal(err)
	}
	a, err = credit(a, math.MaxInt64-1, "k2")
	if err != nil || a.Balance() != giftkit.FromMinor(math.MaxInt64, eur) {
		t.Fatalf("credit up to the largest amount = %v, %v", a.Balance(), err)
	}
	if _, err := credit(a, 1, "k3"); !errors.Is(err, wallet.ErrInvalidAmount) {
		t.Errorf("one unit past the largest amount: %v; want ErrInvalidAmount", err)
	}
}

// TestDuplicateHold: a hold ID already open is refused, whichever hold it is.
func TestDuplicateHold(t *testing.T) {
	a := wallet.NewAccount("alice", eur)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("10")}, "k1", t0)
	a, _, err := a.PlaceHold(wallet.HoldSpec{ID: "first", Placer: wallet.PlacerWallet, Amount: eurs("1")}, "k2", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.PlaceHold(wallet.HoldSpec{ID: "first", Placer: wallet.PlacerWallet, Amount: eurs("1")}, "k3", t0); !errors.Is(err, wallet.ErrDuplicateHold) {
		t.Errorf("PlaceHold(first) again = %v; want ErrDuplicateHold", err)
	}
}

// TestSweepLeavesReceiver: Sweep returns a new account and leaves its
// receiver as it was (Account is immutable), and an expired credit leaves
// no empty lot behind.
func TestSweepLeavesReceiver(t *testing.T) {
	a := wallet.NewAccount("alice", eur)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("10"), ExpiresAt: t0.Add(time.Hour), Source: "soon"}, "k1", t0)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("5"), ExpiresAt: t0.Add(48 * time.Hour), Source: "later"}, "k2", t0)
	before := a.State()

	swept, entries := a.Sweep(t0.Add(2 * time.Hour))
	if diff := cmp.Diff(before, a.State(), equateMoney); diff != "" {
		t.Errorf("Sweep changed its receiver (-before +after):\n%s", diff)
	}
	if len(entries) != 1 || entries[0].Kind != wallet.EntryExpiry || entries[0].Amount != eurs("-10") {
		t.Errorf("Sweep entries = %+v; want one expiry of 10.00 EUR", entries)
	}
	if lots := swept.Lots(); len(lots) != 1 || lots[0].Source != "later" || swept.Balance() != eurs("5") {
		t.Errorf("swept account: lots %+v, balance %v; want the later lot alone, 5.00 EUR", lots, swept.Balance())
	}
	if _, err := wallet.RestoreAccount(swept.State()); err != nil {
		t.Errorf("swept account does not restore: %v", err)
	}
}

// TestRestoreAccountEdges: a new account's state restores, and two holds
// with one ID do not, whichever comes first.
func TestRestoreAccountEdges(t *testing.T) {
	if _, err := wallet.RestoreAccount(wallet.NewAccount("alice", eur).State()); err != nil {
		t.Errorf("RestoreAccount(new account) = %v", err)
	}
	a := wallet.NewAccount("alice", eur)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("10")}, "k1", t0)
	a, _, _ = a.PlaceHold(wallet.HoldSpec{ID: "h1", Placer: wallet.PlacerWallet, Amount: eurs("1")}, "k2", t0)
	a, _, _ = a.PlaceHold(wallet.HoldSpec{ID: "h2", Placer: wallet.PlacerWallet, Amount: eurs("2")}, "k3", t0)
	st := a.State()
	if _, err := wallet.RestoreAccount(st); err != nil {
		t.Fatal(err)
	}
	st.Holds[1].ID = st.Holds[0].ID
	if _, err := wallet.RestoreAccount(st); !errors.Is(err, wallet.ErrCorrupt) {
		t.Errorf("RestoreAccount(two holds named %q) = %v; want ErrCorrupt", st.Holds[0].ID, err)
	}
}

// TestEntryKindText: every kind reads back from its name; the zero kind, a
// kind past the last and the empty name are no kinds.
func TestEntryKindText(t *testing.T) {
	for k := wallet.EntryCredit; k <= wallet.EntryClawback; k++ {
		text, err := k.MarshalText()
		var back wallet.EntryKind
		if err != nil || back.UnmarshalText(text) != nil || back != k || string(text) != k.String() {
			t.Errorf("kind %v round trip: %q, %v, back %v", k, text, err, back)
		}
	}
	var empty wallet.EntryKind
	if err := empty.UnmarshalText(nil); err == nil {
		t.Errorf("UnmarshalText(empty) = %v; want an error", empty)
	}
	past := wallet.EntryFee + 1
	if got := past.String(); got != "EntryKind(12)" {
		t.Errorf("EntryKind(12).String() = %q", got)
	}
	for _, k := range []wallet.EntryKind{0, past} {
		if text, err := k.MarshalText(); err == nil {
			t.Errorf("%v.MarshalText() = %q; want an error", k, text)
		}
	}
}

// TestHistoryLimits: a limit of 0 means DefaultPageSize, and a page that
// ends exactly at the last entry has no next page.
func TestHistoryLimits(t *testing.T) {
	env, _ := newEnv(t)
	ctx := context.Background()
	env.Fund(t, "alice", eurs("1.00"))
	if _, err := env.Wallet.Refund(ctx, "alice", eurs("0.10"), "r", "refund"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int
		seqs  []int64
		next  int64
	}{
		{0, []int64{1, 2}, 0},
		{2, []int64{1, 2}, 0},
		{1, []int64{1}, 1},
	} {
		page, err := env.Wallet.History(ctx, "alice", eur, 0, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, e := range page.Entries {
			seqs = append(seqs, e.Seq)
		}
		if diff := cmp.Diff(tc.seqs, seqs); diff != "" || page.Next != tc.next {
			t.Errorf("History(limit %d): next %d (want %d), seqs mismatch (-want +got):\n%s", tc.limit, page.Next, tc.next, diff)
		}
	}
}

// TestAttemptSubjects: an owner's attempts count under "owner:", a client's
// under "client:", and only a named client counts.
func TestAttemptSubjects(t *testing.T) {
	for _, tc := range []struct {
		a    wallet.Attempt
		want []string
	}{
		{wallet.Attempt{Owner: "alice"}, []string{"owner:alice"}},
		{wallet.Attempt{Owner: "alice", Client: "10.0.0.1"}, []string{"owner:alice", "client:10.0.0.1"}},
	} {
		if diff := cmp.Diff(tc.want, tc.a.Subjects()); diff != "" {
			t.Errorf("%+v.Subjects() mismatch (-want +got):\n%s", tc.a, diff)
		}
	}
}

// TestLimiterDefaults: zero window and lockout mean an hour each, so three
// failures ten minutes apart lock the owner out for an hour.
func TestLimiterDefaults(t *testing.T) {
	ctx := context.Background()
	store, err := wallet.NewStoreLimiter(memstore.New(), wallet.LimitRule{Max: 3})
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]wallet.Limiter{"MemoryLimiter": wallet.NewMemoryLimiter(3, 0, 0), "StoreLimiter": store} {
		for i := range 3 {
			a := wallet.Attempt{Owner: "mallory", At: t0.Add(time.Duration(i) * 10 * time.Minute)}
			if ok, _, err := l.Reserve(ctx, a); !ok || err != nil {
				t.Fatalf("%s: attempt %d refused: %v", name, i, err)
			}
			if err := l.Settle(ctx, a, wallet.AttemptFailed); err != nil {
				t.Fatal(err)
			}
		}
		if ok, wait, err := l.Reserve(ctx, wallet.Attempt{Owner: "mallory", At: t0.Add(30 * time.Minute)}); ok || wait != 50*time.Minute || err != nil {
			t.Errorf("%s: Reserve 10 minutes after the third failure in 20 minutes = %v, %v, %v; want the rest of a 1h lockout, 50m", name, ok, wait, err)
		}
	}
}

// TestVoidSettlesItsOwnAttempt: a void attempt stops counting, whichever of
// the counted attempts it is.
func TestVoidSettlesItsOwnAttempt(t *testing.T) {
	rule := wallet.LimitRule{Max: 5, Window: time.Hour, Lockout: time.Hour}
	l := wallet.AttemptLog{Subject: "owner:alice"}
	for _, at := range []time.Time{t0, t0.Add(time.Second)} {
		var ok bool
		if l, ok, _ = l.Reserve(at, rule); !ok {
			t.Fatalf("Reserve at %v refused", at)
		}
	}
	l = l.Settle(t0, wallet.AttemptVoid, rule)
	if diff := cmp.Diff([]time.Time{t0.Add(time.Second)}, l.Attempts); diff != "" {
		t.Errorf("attempts after voiding the first mismatch (-want +got):\n%s", diff)
	}
	if l = l.Settle(t0.Add(time.Second), wallet.AttemptVoid, rule); len(l.Attempts) != 0 {
		t.Errorf("attempts after voiding both = %v; want none", l.Attempts)
	}
}

// TestStoreLimiterCountsEverySubject: a reservation counts against the owner
// and the client both, and a void settlement stops counting against both.
func TestStoreLimiterCountsEverySubject(t *testing.T) {
	ctx := context.Background()
	l, err := wallet.NewStoreLimiter(memstore.New(), wallet.LimitRule{Max: 1, Window: time.Hour, Lockout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	reserve := func(owner, client string, at time.Time) bool {
		t.Helper()
		ok, _, err := l.Reserve(ctx, wallet.Attempt{Owner: owner, Client: client, At: at})
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	first := wallet.Attempt{Owner: "alice", Client: "c1", At: t0}
	if !reserve(first.Owner, first.Client, first.At) {
		t.Fatal("first attempt refused")
	}
	if reserve("bob", "c1", t0) {
		t.Error("the client's second attempt was allowed")
	}
	if reserve("alice", "c2", t0) {
		t.Error("the owner's second attempt was allowed")
	}
	if err := l.Settle(ctx, first, wallet.AttemptVoid); err != nil {
		t.Fatal(err)
	}
	if !reserve("alice", "c1", t0.Add(time.Second)) {
		t.Error("after the void settlement, the owner and the client are still counted")
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  *wallet.Error
		want string
	}{
		{&wallet.Error{Op: "redeem", Owner: "alice", RetryAfter: time.Minute, Err: wallet.ErrTooManyAttempts},
			"wallet: redeem for alice: " + wallet.ErrTooManyAttempts.Error() + " (retry after 1m0s)"},
		{&wallet.Error{Op: "release", Owner: "alice", HoldID: "h", Err: wallet.ErrHoldNotFound},
			"wallet: release for alice on hold h: " + wallet.ErrHoldNotFound.Error()},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q; want %q", got, tc.want)
		}
	}
}

// TestErrorBinary: an Error reads back from its binary form, and a cut one
// does not read.
func TestErrorBinary(t *testing.T) {
	in := &wallet.Error{Op: "hold", Owner: "alice", Currency: eur, Amount: eurs("5"), Available: eurs("2"), HoldID: "h",
		RetryAfter: time.Second, Detail: "d", Err: wallet.ErrInsufficientFunds}
	data, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var out wallet.Error
	if err := out.UnmarshalBinary(data); err != nil || out.Error() != in.Error() || !errors.Is(&out, wallet.ErrInsufficientFunds) {
		t.Errorf("binary round trip = %v, %v; want %v", &out, err, in)
	}
	if err := new(wallet.Error).UnmarshalBinary(data[:len(data)-1]); err == nil {
		t.Error("UnmarshalBinary(cut) succeeded")
	}
}

// TestRestoreLargestBalance: an account whose lots sum to the largest
// amount restores.
func TestRestoreLargestBalance(t *testing.T) {
	a := wallet.NewAccount("alice", eur)
	a, _, _ = a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(1, eur), ExpiresAt: t0.Add(time.Hour)}, "k1", t0)
	a, _, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(math.MaxInt64-1, eur)}, "k2", t0)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := wallet.RestoreAccount(a.State()); err != nil || b.Balance() != giftkit.FromMinor(math.MaxInt64, eur) {
		t.Errorf("RestoreAccount(balance of MaxInt64 in two lots) = %v, %v", b.Balance(), err)
	}
}
