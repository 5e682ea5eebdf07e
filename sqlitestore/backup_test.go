package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/egift"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/sqlitestore"
	"github.com/giftkit/giftkit/wallet"
)

// dump is everything a test of backups compares: what the first n units of
// backupUnit store, and the dead letters of putDeadLetters.
type dump struct {
	Cards       []giftcard.Card
	Accounts    []wallet.AccountState
	Entries     [][]wallet.Entry
	Payments    []checkout.Payment
	Records     []giftkit.IdempotencyRecord
	Activity    []activity.Record
	Deliveries  []egift.Delivery
	Events      []outbox.Event
	DeadLetters []outbox.DeadLetter
}

var backupOwners = []string{"alice", "bob", "carol"}

// backupUnit is unit of work i of the backup test: it issues and redeems a
// card into an owner's account, and every third time places a hold and
// records a payment and its event, and schedules the card's delivery, all
// in one unit (with the account's events), so that a copy holds it whole or
// not at all.
func backupUnit(tx *sqlitestore.Tx, i int) error {
	now := epoch.Add(time.Duration(i) * time.Second)
	owner := backupOwners[i%len(backupOwners)]
	c := card(fmt.Sprint("card-", i), 0)
	c.Hash[0], c.Hash[1] = byte(i), byte(i>>8)
	c.Value = giftkit.FromMinor(int64(1000+i), eur)
	if err := tx.PutCard(c); err != nil {
		return err
	}
	c, red, err := c.Redeem(owner, now)
	if err != nil {
		return err
	}
	if err := tx.PutCard(c); err != nil {
		return err
	}
	_, err = wallet.UpdateAccount(tx, wallet.Change{Owner: owner, Currency: eur, Reference: c.ID,
		Cause: activity.Cause{Actor: giftkit.Shopper(owner), Key: fmt.Sprint("k", i), At: now}}, func(a wallet.Account) (wallet.Account, []wallet.Entry, error) {
		a, e, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: red.Amount, Source: c.ID, Reference: c.ID}, fmt.Sprint("k", i), now)
		if err != nil || i%3 != 0 {
			return a, []wallet.Entry{e}, err
		}
		a, h, err := a.PlaceHold(wallet.HoldSpec{ID: fmt.Sprint("hold-", i), Placer: checkout.Placer, Amount: giftkit.FromMinor(500, eur),
			Reference: fmt.Sprint("pay-", i), ExpiresAt: now.Add(time.Hour)}, fmt.Sprint("k", i), now)
		return a, []wallet.Entry{e, h}, err
	})
	if err != nil {
		return err
	}
	if i%3 == 0 {
		zero := giftkit.Zero(eur)
		if err := tx.PutPayment(checkout.Payment{ID: fmt.Sprint("pay-", i), Owner: owner, Total: giftkit.FromMinor(500, eur),
			State: checkout.StatePending, Balance: checkout.Tender{Planned: giftkit.FromMinor(500, eur), Authorized: zero, Captured: zero, Refunded: zero},
			Card: checkout.Tender{Planned: zero, Authorized: zero, Captured: zero, Refunded: zero}, HoldID: fmt.Sprint("hold-", i),
			Keys: checkout.Keys{Prefix: "giftkit", Pay: fmt.Sprint("k", i)}, ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}); err != nil {
			return err
		}
		if err := tx.AppendEvents([]outbox.Event{outbox.New(outbox.Aggregate{Kind: outbox.AggregatePayment, ID: fmt.Sprint("pay-", i)}, 1,
			outbox.PaymentAuthorized, giftkit.Shopper(owner), now, []byte(fmt.Sprintf(`{"n":%d}`, i)))}); err != nil {
			return err
		}
	}
	if err := tx.PutDelivery(egift.Delivery{ID: fmt.Sprint("dlv-", i), CardID: c.ID, Recipient: owner + "@example.org",
		Message: fmt.Sprint("card ", i), SendAt: now.Add(time.Duration(i) * time.Nanosecond), State: egift.StateScheduled,
		Sealed: []byte{byte(i), 1, 2}, CreatedAt: now, UpdatedAt: now}); err != nil {
		return err
	}
	return tx.PutIdempotency(giftkit.IdempotencyRecord{Scope: "test", Key: fmt.Sprint("k", i), Fingerprint: "f",
		Outcome: []byte(fmt.Sprint(i)), CreatedAt: now})
}

// dumpStore reads what the first units of the backup test may have stored,
// up to units.
func dumpStore(t *testing.T, s *sqlitestore.Store, units int) dump {
	t.Helper()
	var d dump
	if err := s.View(context.Background(), func(tx *sqlitestore.Tx) error {
		for i := 0; i < units; i++ {
			if c, ok, err := tx.CardByID(fmt.Sprint("card-", i)); err != nil {
				return err
			} else if ok {
				d.Cards = append(d.Cards, c)
			}
			if p, ok, err := tx.Payment(fmt.Sprint("pay-", i)); err != nil {
				return err
			} else if ok {
				d.Payments = append(d.Payments, p)
			}
			if r, ok, err := tx.Idempotency("test", fmt.Sprint("k", i)); err != nil {
				return err
			} else if ok {
				d.Records = append(d.Records, r)
			}
			if dl, ok, err := tx.Delivery(fmt.Sprint("dlv-", i)); err != nil {
				return err
			} else if ok {
				d.Deliveries = append(d.Deliveries, dl)
			}
		}
		for _, owner := range backupOwners {
			a, ok, err := tx.Account(owner, eur)
			if err != nil {
				return err
			}
			if ok {
				d.Accounts = append(d.Accounts, a.State())
			}
			es, err := tx.Entries(owner, eur, 0, 1<<20)
			if err != nil {
				return err
			}
			d.Entries = append(d.Entries, es)
		}
		recs, err := tx.Activity(activity.Query{}, 1<<20)
		if err != nil {
			return err
		}
		d.Activity = recs
		open, err := tx.OpenPayments("", 1<<20)
		if len(open) != len(d.Payments) {
			t.Errorf("%d open payments of %d", len(open), len(d.Payments))
		}
		return err
	}); err != nil {
		t.Fatalf("dump: %v", err)
	}
	// No unit of work commits while a test dumps a store.
	events, err := s.Events(context.Background(), "backup-test", 0, outbox.MaxLimit)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	d.Events = events
	if d.DeadLetters, err = s.DeadLetters().List(context.Background(), "webhook:backup", 0, 1<<20); err != nil {
		t.Fatalf("dump: %v", err)
	}
	return d
}

// putDeadLetters puts n dead letters in s, each a unit of work of its own.
func putDeadLetters(t *testing.T, s *sqlitestore.Store, n int) {
	t.Helper()
	for i := range n {
		e := event(fmt.Sprint("dead-", i), 1, i)
		e.Pos = int64(i + 1)
		if err := s.DeadLetters().Put(context.Background(), outbox.DeadLetter{Consumer: "webhook:backup", Event: e, Attempts: i,
			Status: 500, Error: "status 500", At: e.At.Add(time.Nanosecond)}); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
}

var dumpOpts = cmp.Options{cmpTimes, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b giftkit.Currency) bool { return a == b })}

// TestBackupWhileWriting backs the database up again and again while units
// of work commit, then opens each copy and compares it with the source as
// it was after some number of units: every copy is the database as of one
// instant, with no unit of work in part.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, filepath.Join(dir, "giftkit.db"))
	ctx := context.Background()
	const units = 100
	// The dead letters are put before every unit, so every copy holds them.
	putDeadLetters(t, s, 5)
	after := make([]dump, units+1) // after[n]: the source after n units
	after[0] = dumpStore(t, s, units)
	type backup struct {
		path           string
		before, during int // units committed when the backup started, and while it ran
	}
	var (
		wg        sync.WaitGroup
		tick      = make(chan struct{}, 1) // a backup may start
		committed atomic.Int64
		copies    []backup
		backErr   error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			if _, ok := <-tick; !ok {
				return
			}
			path := filepath.Join(dir, fmt.Sprintf("copy-%d.db", n))
			before := int(committed.Load())
			if err := s.Backup(ctx, path); err != nil {
				backErr = err
				return
			}
			copies = append(copies, backup{path, before, int(committed.Load()) - before})
		}
	}()
	for i := 0; i < units; i++ {
		if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return backupUnit(tx, i) }); err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
		committed.Add(1)
		after[i+1] = dumpStore(t, s, i+1)
		if i%4 == 0 {
			select { // start a backup unless one is running: it goes on while the next units commit
			case tick <- struct{}{}:
			default:
			}
		}
	}
	close(tick)
	wg.Wait()
	// Each unit's account events, and every third a payment's.
	if d := after[units]; len(d.Deliveries) != units || len(d.Events) != units+units/3+1 || len(d.DeadLetters) != 5 {
		t.Fatalf("the source holds %d deliveries, %d events and %d dead letters; want %d, %d and 5", len(d.Deliveries), len(d.Events),
			len(d.DeadLetters), units, units+units/3+1)
	}
	if backErr != nil {
		t.Fatalf("Backup while writing: %v", backErr)
	}
	// One more, of the database at rest.
	final := filepath.Join(dir, "final.db")
	if err := s.Backup(ctx, final); err != nil {
		t.Fatal(err)
	}
	copies = append(copies, backup{final, units, 0})

	overlapped := 0
	for _, b := range copies {
		c := openAt(t, b.path)
		got := dumpStore(t, c, units)
		n := len(got.Records) // the units in the copy, if it is whole
		if diff := cmp.Diff(after[n], got, dumpOpts); diff != "" {
			t.Errorf("%s holds %d units but differs from the source after %d (-source +copy):\n%s", filepath.Base(b.path), n, n, diff)
		}
		if n < b.before || n > b.before+b.during {
			t.Errorf("%s holds %d units; %d had committed when it started, %d when it ended", filepath.Base(b.path), n, b.before, b.before+b.during)
		}
		if b.during > 0 {
			overlapped++
		}
		c.Close()
	}
	if got := dumpStore(t, openAt(t, final), units); !cmp.Equal(after[units], got, dumpOpts) {
		t.Errorf("the final copy differs from the source")
	}
	t.Logf("%d copies, %d of them taken while units of work committed", len(copies), overlapped)
	if overlapped == 0 {
		t.Error("no copy was taken while units of work committed")
	}
}

func TestBackupErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "giftkit.db")
	s := openAt(t, path)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return backupUnit(tx, 0) }); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Backup onto the database itself", s.Backup(ctx, path), sqlitestore.ErrUnavailable)
	wantErr(t, "Backup into a missing directory", s.Backup(ctx, filepath.Join(dir, "no", "copy.db")), sqlitestore.ErrUnavailable)

	// A backup replaces what is at its path; one that fails leaves it.
	target := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(target, []byte("the previous backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Backup(cancelled, target); !errors.Is(err, context.Canceled) {
		t.Errorf("Backup(cancelled) = %v; want context.Canceled", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "the previous backup" {
		t.Errorf("a failed backup changed its target")
	}
	if err := s.Backup(ctx, target); err != nil {
		t.Fatal(err)
	}
	if got := dumpStore(t, openAt(t, target), 1); len(got.Cards) != 1 {
		t.Errorf("the backup holds %d cards; want 1", len(got.Cards))
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*partial*"))
	if len(left) > 0 {
		t.Errorf("partial copies left behind: %v", left)
	}
}
