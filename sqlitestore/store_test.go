package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/sqlitestore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

var (
	eur   = giftkit.EUR
	epoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
)

func card(id string, b byte) giftcard.Card {
	var h giftcard.Hash
	h[0], h[1] = b, 0xa5
	return giftcard.Card{ID: id, Hash: h, Suffix: "AB12", Value: giftkit.FromMinor(2500, eur), State: giftcard.StateActive,
		BatchID: "b", IssuedAt: epoch, ActivatedAt: epoch, UpdatedAt: epoch, Class: giftkit.ClassPurchased}
}

// noDriverType reports the first error in err's chain whose type comes from
// the driver.
func noDriverType(t *testing.T, what string, err error) {
	t.Helper()
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if p := reflect.TypeOf(err); strings.Contains(p.String(), "sqlite.") && !strings.Contains(p.String(), "sqlitestore.") {
			t.Errorf("%s: a driver type leaks: %T", what, err)
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
}

// wantErr checks that err is an *sqlitestore.Error wrapping want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	var se *sqlitestore.Error
	if !errors.Is(err, want) || !errors.As(err, &se) {
		t.Errorf("%s = %v; want an *Error wrapping %v", what, err, want)
	}
	noDriverType(t, what, err)
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var leaked *sqlitestore.Tx
	_ = s.Update(ctx, func(tx *sqlitestore.Tx) error { leaked = tx; return nil })
	_, _, err := leaked.CardByID("x")
	wantErr(t, "a Tx used after its unit of work", err, sqlitestore.ErrTxDone)

	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutCard(card("c1", 1)) }); err != nil {
		t.Fatal(err)
	}
	redeemed := card("c2", 2)
	redeemed.State, redeemed.RedeemedBy, redeemed.RedeemedAt = giftcard.StateRedeemed, "alice", epoch
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutCard(redeemed) }); err != nil {
		t.Fatal(err)
	}
	outOfRange := card("c3", 3)
	outOfRange.ExpiresAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	otherMinor, _ := giftkit.NewCurrency("PTZ", 2)
	sameCodeMinor, _ := giftkit.NewCurrency("PTZ", 3)
	a := wallet.NewAccount("bob", otherMinor)
	a, e, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(100, otherMinor)}, "k", epoch)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.SaveAccount(a, []wallet.Entry{e}) }); err != nil {
		t.Fatal(err)
	}
	b := wallet.NewAccount("bob", sameCodeMinor)
	b, be, _ := b.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(100, sameCodeMinor)}, "k", epoch)
	gap, ge1, _ := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(1, otherMinor)}, "k2", epoch)
	gap, ge2, _ := gap.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(1, otherMinor)}, "k3", epoch)
	_ = ge1

	for name, tc := range map[string]struct {
		fn   func(tx *sqlitestore.Tx) error
		want error
	}{
		"negative card value": {func(tx *sqlitestore.Tx) error {
			c := card("neg", 9)
			c.Value = giftkit.FromMinor(-1, eur)
			return tx.PutCard(c)
		}, sqlitestore.ErrConflict},
		"second card with one hash": {func(tx *sqlitestore.Tx) error { return tx.PutCard(card("other", 1)) }, sqlitestore.ErrConflict},
		"a card's hash changes":     {func(tx *sqlitestore.Tx) error { return tx.PutCard(card("c1", 7)) }, sqlitestore.ErrConflict},
		"a redeemed card changes": {func(tx *sqlitestore.Tx) error {
			c := redeemed
			c.State, c.RedeemedBy, c.RedeemedAt = giftcard.StateActive, "", time.Time{}
			return tx.PutCard(c)
		}, sqlitestore.ErrConflict},
		"a redeemed card is redeemed again": {func(tx *sqlitestore.Tx) error {
			c := redeemed
			c.RedeemedBy = "mallory"
			return tx.PutCard(c)
		}, sqlitestore.ErrConflict},
		"a time after 2262":                {func(tx *sqlitestore.Tx) error { return tx.PutCard(outOfRange) }, sqlitestore.ErrConflict},
		"an account in other minor units":  {func(tx *sqlitestore.Tx) error { _, _, err := tx.Account("bob", sameCodeMinor); return err }, sqlitestore.ErrConflict},
		"a new account where one exists":   {func(tx *sqlitestore.Tx) error { return tx.SaveAccount(b, []wallet.Entry{be}) }, sqlitestore.ErrConflict},
		"a journal with a gap":             {func(tx *sqlitestore.Tx) error { return tx.SaveAccount(gap, []wallet.Entry{ge2}) }, sqlitestore.ErrConflict},
		"an account saved without entries": {func(tx *sqlitestore.Tx) error { return tx.SaveAccount(a, nil) }, sqlitestore.ErrConflict},
		"a record twice": {func(tx *sqlitestore.Tx) error {
			r := giftkit.IdempotencyRecord{Scope: "s", Key: "k", Fingerprint: "f", CreatedAt: epoch}
			if err := tx.PutIdempotency(r); err != nil {
				return err
			}
			return tx.PutIdempotency(r)
		}, sqlitestore.ErrConflict},
	} {
		err := s.Update(ctx, tc.fn)
		wantErr(t, name, err, tc.want)
	}

	// Nothing of a refused unit of work stays.
	if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
		if _, ok, _ := tx.CardByID("neg"); ok {
			t.Error("a refused card is stored")
		}
		if _, ok, _ := tx.Idempotency("s", "k"); ok {
			t.Error("the record of a failed unit of work is stored")
		}
		got, _, err := tx.CardByID("c2")
		if err != nil || got.RedeemedBy != "alice" {
			t.Errorf("the redeemed card became %+v, %v", got, err)
		}
		// Writes through a View fail.
		wantErr(t, "PutCard in a View", tx.PutCard(card("v", 5)), sqlitestore.ErrReadOnly)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	s.Close()
	wantErr(t, "Update after Close", s.Update(ctx, func(*sqlitestore.Tx) error { return nil }), sqlitestore.ErrUnavailable)
	s.Close() // twice is fine
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, err := sqlitestore.Open(ctx, filepath.Join(dir, "no", "such", "dir", "giftkit.db"))
	wantErr(t, "Open in a missing directory", err, sqlitestore.ErrUnavailable)

	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = sqlitestore.Open(ctx, junk)
	wantErr(t, "Open of a file that is not a database", err, sqlitestore.ErrUnavailable)

	// A schema newer than the package's is refused, untouched.
	path := filepath.Join(dir, "newer.db")
	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO giftkit_schema_migrations (version, applied_at) VALUES (999, 0)"); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	_, err = sqlitestore.Open(ctx, path)
	wantErr(t, "Open of a newer schema", err, sqlitestore.ErrUnavailable)
	if err == nil || !strings.Contains(err.Error(), "999") {
		t.Errorf("Open of a newer schema: %v; want it to name the version", err)
	}

	// A path with characters that mean something in a URI.
	odd := filepath.Join(dir, "a ?#%&=b.db")
	s, err = sqlitestore.Open(ctx, odd)
	if err != nil {
		t.Fatalf("Open(%q): %v", odd, err)
	}
	s.Close()
	if _, err := os.Stat(odd); err != nil {
		t.Errorf("Open(%q) did not create that file: %v", odd, err)
	}
}

// Reopening a database finds what was committed, and opening one file from
// many stores at once migrates it once.
func TestReopenAndConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "giftkit.db")
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := sqlitestore.Open(ctx, path)
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			errs[i] = s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutCard(card(fmt.Sprint("card-", i), byte(i))) })
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d: %v", i, err)
		}
	}
	s := openAt(t, path)
	if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
		for i := range errs {
			want := card(fmt.Sprint("card-", i), byte(i))
			got, ok, err := tx.CardByID(want.ID)
			if err != nil || !ok {
				return fmt.Errorf("CardByID(%s) = %v, %v", want.ID, ok, err)
			}
			if diff := cmp.Diff(want, got, cmpTimes); diff != "" {
				t.Errorf("card %s mismatch (-want +got):\n%s", want.ID, diff)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

var cmpTimes = cmp.Options{
	cmp.Comparer(func(a, b giftkit.Money) bool { return a == b }),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

func openAt(t testing.TB, path string, opts ...sqlitestore.Option) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(s.Close)
	return s
}

// Times round-trip to the nanosecond, at the ends of the range too, in any
// location; the zero time stays zero.
func TestTimesRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	zone := time.FixedZone("UTC+5:45", 5*3600+45*60)
	times := []time.Time{
		time.Date(2026, 11, 27, 12, 0, 0, 123456789, zone),
		time.Unix(0, 0),
		time.Unix(0, -1),
		time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, math.MinInt64+2),
		time.Unix(0, math.MaxInt64),
	}
	for i, at := range times {
		c := card(fmt.Sprint("t", i), byte(100+i))
		c.IssuedAt, c.ActivatedAt, c.ExpiresAt, c.UpdatedAt = at, at.Add(-1), time.Time{}, at.Add(-2)
		p := checkout.Payment{ID: c.ID, Owner: "o", Total: giftkit.FromMinor(1, eur), State: checkout.StatePending,
			ExpiresAt: at, CreatedAt: at.Add(-1), UpdatedAt: at,
			Refunds: []checkout.Refund{{Key: "r", Amount: giftkit.FromMinor(1, eur), At: at}, {Key: "zero"}}}
		if err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
			if err := tx.PutCard(c); err != nil {
				return err
			}
			return tx.PutPayment(p)
		}); err != nil {
			t.Fatalf("time %v: %v", at, err)
		}
		if err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
			got, _, err := tx.CardByID(c.ID)
			if err != nil {
				return err
			}
			if !got.IssuedAt.Equal(c.IssuedAt) || !got.ActivatedAt.Equal(c.ActivatedAt) || !got.ExpiresAt.IsZero() || !got.UpdatedAt.Equal(c.UpdatedAt) {
				t.Errorf("card times %v: got %v %v %v %v", at, got.IssuedAt, got.ActivatedAt, got.ExpiresAt, got.UpdatedAt)
			}
			gp, _, err := tx.Payment(p.ID)
			if err != nil {
				return err
			}
			if !gp.ExpiresAt.Equal(p.ExpiresAt) || !gp.CreatedAt.Equal(p.CreatedAt) || !gp.Refunds[0].At.Equal(at) || !gp.Refunds[1].At.IsZero() {
				t.Errorf("payment times %v: got %+v", at, gp)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// Attempt logs keep their times to the nanosecond and any subject, NUL
// included.
func TestAttemptLogKeepsNanoseconds(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	want := wallet.AttemptLog{Subject: "client:\xff\x00", Attempts: []time.Time{at, at.Add(1)}, LockedUntil: at.Add(time.Hour + 1)}
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutAttemptLog(want) }); err != nil {
		t.Fatalf("PutAttemptLog: %v", err)
	}
	var got wallet.AttemptLog
	var found bool
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) (err error) {
		if _, ok, _ := tx.AttemptLog("client:\xff"); ok {
			t.Error("a subject is found by a prefix of it")
		}
		got, found, err = tx.AttemptLog(want.Subject)
		return err
	}); err != nil || !found {
		t.Fatalf("AttemptLog(%q) = %v, %v", want.Subject, found, err)
	}
	if diff := cmp.Diff(want, got, cmpTimes); diff != "" {
		t.Errorf("AttemptLog mismatch (-want +got):\n%s", diff)
	}
	err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
		return tx.PutAttemptLog(wallet.AttemptLog{Subject: "owner:bob", Attempts: []time.Time{time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)}})
	})
	wantErr(t, "PutAttemptLog(year 1)", err, sqlitestore.ErrConflict)
}

// A callback that panics rolls its unit of work back and lets the next
// one have the writer.
func TestPanicRollsBackAndReleases(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		func() {
			defer func() {
				if r := recover(); r != "boom" {
					t.Errorf("recovered %v; want the callback's panic", r)
				}
			}()
			_ = s.Update(ctx, func(tx *sqlitestore.Tx) error {
				if err := tx.PutCard(card(fmt.Sprint("p", i), byte(i))); err != nil {
					return err
				}
				panic("boom")
			})
		}()
	}
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
		if _, ok, err := tx.CardByID("p0"); ok || err != nil {
			t.Errorf("the card of a unit of work that panicked: found %v, %v", ok, err)
		}
		return nil
	}); err != nil {
		t.Fatalf("Update after panics: %v", err)
	}
}

// A context that ends while a unit waits for the writer, or while it runs,
// stops it; the unit in progress is not disturbed.
func TestContext(t *testing.T) {
	s := newStore(t)
	bg := context.Background()
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- s.Update(bg, func(tx *sqlitestore.Tx) error {
			close(holding)
			<-release
			return tx.PutCard(card("held", 1))
		})
	}()
	<-holding
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	ran := false
	err := s.Update(ctx, func(*sqlitestore.Tx) error { ran = true; return nil })
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Errorf("Update while another holds the writer, past its deadline = %v, ran %v; want DeadlineExceeded, not run", err, ran)
	}
	// Readers go on while the writer is held.
	if err := s.View(bg, func(tx *sqlitestore.Tx) error {
		_, ok, err := tx.CardByID("held")
		if ok {
			t.Error("a View sees a write not yet committed")
		}
		return err
	}); err != nil {
		t.Errorf("View while the writer is held: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the unit holding the writer: %v", err)
	}

	// Cancelled while it runs: its statements fail with the context's
	// error, and nothing of it stays.
	ctx, cancel = context.WithCancel(bg)
	err = s.Update(ctx, func(tx *sqlitestore.Tx) error {
		if err := tx.PutCard(card("cancelled", 2)); err != nil {
			return err
		}
		cancel()
		_, _, err := tx.CardByID("held")
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update cancelled while it runs = %v; want context.Canceled", err)
	}
	noDriverType(t, "a cancelled statement", err)
	if err := s.View(bg, func(tx *sqlitestore.Tx) error {
		if _, ok, _ := tx.CardByID("cancelled"); ok {
			t.Error("the write of a cancelled unit of work stays")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A View sees one snapshot, whatever commits meanwhile.
func TestViewSnapshot(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	put := func(id string, b byte) {
		t.Helper()
		if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutCard(card(id, b)) }); err != nil {
			t.Fatal(err)
		}
	}
	put("a", 1)
	if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
		if _, ok, err := tx.CardByID("a"); !ok || err != nil {
			return fmt.Errorf("CardByID(a) = %v, %v", ok, err)
		}
		put("b", 2) // commits while the View reads
		if _, ok, _ := tx.CardByID("b"); ok {
			t.Error("a View sees a unit of work that committed after its first read")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Two stores on one file, as two processes would be, take turns to write:
// of many shoppers redeeming one card through both, exactly one wins.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "giftkit.db")
	one, two := openAt(t, path), openAt(t, path)
	env1, env2 := storetest.NewEnv(t, one, 1), storetest.NewEnv(t, two, 1)
	_, code := env1.Issue(t, giftkit.FromMinor(5000, eur), "issue")
	var wg sync.WaitGroup
	results := make([]error, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := env1
			if i%2 == 1 {
				env = env2
			}
			_, results[i] = env.Wallet.Redeem(context.Background(), fmt.Sprint("shopper-", i), code.String(), fmt.Sprint("redeem-", i))
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, giftcard.ErrAlreadyRedeemed):
			t.Errorf("shopper %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d shoppers redeemed the card; want 1", won)
	}
}

// Another process holding the write lock past the busy timeout makes
// Update fail with ErrUnavailable, without running fn.
func TestBusyTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "giftkit.db")
	s := openAt(t, path, sqlitestore.WithBusyTimeout(50*time.Millisecond))
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	start, ran := time.Now(), false
	err = s.Update(ctx, func(*sqlitestore.Tx) error { ran = true; return nil })
	wantErr(t, "Update while another process writes", err, sqlitestore.ErrUnavailable)
	if ran {
		t.Error("fn ran without the write lock")
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 5*time.Second {
		t.Errorf("Update gave up after %v; want about the busy timeout, 50ms", d)
	}
	if _, err := c.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutCard(card("after", 1)) }); err != nil {
		t.Errorf("Update after the other process let go: %v", err)
	}
}

// A new database, and its -wal and -shm files, are its owner's alone.
func TestNewFileIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permissions")
	}
	path := filepath.Join(t.TempDir(), "giftkit.db")
	s := openAt(t, path)
	if err := s.Update(context.Background(), func(tx *sqlitestore.Tx) error { return tx.PutCard(card("c", 1)) }); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		info, err := os.Stat(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v; want no access for others", filepath.Base(name), perm)
		}
	}
}
