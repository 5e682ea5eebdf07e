package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

// dsn returns the test database, or skips: the tests need a real
// PostgreSQL, which scripts/postgres-test starts.
func dsn(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("GIFTKIT_PG_DSN")
	if dsn == "" {
		t.Skip("GIFTKIT_PG_DSN is not set: run these tests with scripts/postgres-test go test ./...")
	}
	return dsn
}

// newStore opens a store in a schema of its own, migrated, and drops the
// schema when the test ends.
func newStore(t testing.TB) *pgstore.Store {
	t.Helper()
	s, _, drop := openSchema(t, "")
	t.Cleanup(drop)
	return s
}

// openSchema opens a migrated store in schema (a new one if empty), with a
// pool of 32 unless opts say otherwise, and returns a function that closes
// it and drops the schema. The store's connections carry the schema's name
// as their application_name.
func openSchema(t testing.TB, schema string, opts ...pgstore.Option) (*pgstore.Store, string, func()) {
	t.Helper()
	if schema == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		schema = "t_" + hex.EncodeToString(b[:])
	}
	ctx := context.Background()
	opts = append([]pgstore.Option{pgstore.WithSchema(schema), pgstore.WithMaxConns(32)}, opts...)
	s, err := pgstore.Open(ctx, withApplicationName(dsn(t), schema), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s, schema, func() {
		s.Close()
		conn, err := pgx.Connect(ctx, dsn(t))
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	}
}

// withApplicationName adds application_name to a URL or key=value DSN.
func withApplicationName(dsn, name string) string {
	switch {
	case !strings.Contains(dsn, "://"):
		return dsn + " application_name=" + name
	case strings.Contains(dsn, "?"):
		return dsn + "&application_name=" + name
	default:
		return dsn + "?application_name=" + name
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) giftkit.Store[*pgstore.Tx] { return newStore(t) })
}

// TestConservationUnderFaults runs the whole-system property test with
// faults (see storetest.System) on PostgreSQL, each run in a fresh schema
// (about 0.6 s a run; CI passes -rapid.checks=30), and then checks that
// the activity log the run left holds together (storetest.CheckActivity):
// units of work that failed, whole, left no record behind.
func TestConservationUnderFaults(t *testing.T) {
	dsn(t)
	rapid.Check(t, func(rt *rapid.T) {
		s, _, drop := openSchema(t, "")
		defer drop()
		storetest.System(rt, s, storetest.SystemOptions{Faults: true})
		storetest.CheckActivity(rt, s)
	})
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	s, schema, drop := openSchema(t, "")
	defer drop()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other, err := pgstore.Open(ctx, dsn(t), pgstore.WithSchema(schema))
			if err != nil {
				errs <- err
				return
			}
			defer other.Close()
			errs <- other.Migrate(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Errorf("Migrate again: %v", err)
	}

	// Version 8: outcomes compressed with lz4, where the server has it.
	conn := rawConn(t, schema)
	var lz4 bool
	var compression string
	if err := conn.QueryRow(ctx, `SELECT 'lz4' = ANY (enumvals) FROM pg_settings WHERE name = 'default_toast_compression'`).Scan(&lz4); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT attcompression::text FROM pg_attribute
		WHERE attrelid = 'giftkit_idempotency'::regclass AND attname = 'outcome'`).Scan(&compression); err != nil {
		t.Fatal(err)
	}
	if lz4 && compression != "l" {
		t.Errorf("outcome compression %q; want lz4 (l)", compression)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := pgstore.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"); !errors.Is(err, pgstore.ErrUnavailable) {
		t.Errorf("Open(unreachable) = %v; want ErrUnavailable", err)
	}
	if _, err := pgstore.Open(ctx, dsn(t), pgstore.WithSchema("Robert'); DROP TABLE x;--")); !errors.Is(err, pgstore.ErrInvalidConfig) {
		t.Errorf("Open(bad schema) = %v; want ErrInvalidConfig", err)
	}
	if _, err := pgstore.Open(ctx, "postgres://%zz"); !errors.Is(err, pgstore.ErrInvalidConfig) {
		t.Errorf("Open(bad DSN) = %v; want ErrInvalidConfig", err)
	}
	s := newStore(t)
	var leaked *pgstore.Tx
	_ = s.Update(ctx, func(tx *pgstore.Tx) error { leaked = tx; return nil })
	if _, _, err := leaked.CardByID("x"); !errors.Is(err, pgstore.ErrTxDone) {
		t.Errorf("Tx used after its unit of work: %v; want ErrTxDone", err)
	}
	// A constraint violation is ErrConflict, with no driver type in the chain.
	err := s.Update(ctx, func(tx *pgstore.Tx) error {
		return tx.PutCard(giftcard.Card{ID: "c", Value: giftkit.FromMinor(-1, giftkit.EUR), State: giftcard.StateActive})
	})
	var pe *pgstore.Error
	if !errors.Is(err, pgstore.ErrConflict) || !errors.As(err, &pe) {
		t.Errorf("negative card value: %v; want ErrConflict", err)
	}
	if pgErr := new(pgconn.PgError); errors.As(err, &pgErr) {
		t.Errorf("a driver type leaks: %T in %v", pgErr, err)
	}
}

// A callback that panics must not leak its connection: after more panics
// than the pool has connections, the store still works.
func TestPanicReleasesConnection(t *testing.T) {
	s := newStore(t) // a pool of 32
	// A leaked connection makes later units wait for one forever: the
	// deadline turns that into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 40; i++ {
		func() {
			defer func() { _ = recover() }()
			_ = s.Update(ctx, func(tx *pgstore.Tx) error {
				_, _, _ = tx.CardByID("x")
				panic("boom")
			})
		}()
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error { _, _, err := tx.CardByID("x"); return err }); err != nil {
		t.Fatalf("Update after panics: %v", err)
	}
}

// TestCorruptAccount: an account row changed behind the library's back so
// that it breaks an account's rules (a hold reserving money no lot has) is
// refused as ErrConflict wrapping wallet.ErrCorrupt, never read as a
// balance.
func TestCorruptAccount(t *testing.T) {
	ctx := context.Background()
	s, schema, drop := openSchema(t, "")
	defer drop()
	err := s.Update(ctx, func(tx *pgstore.Tx) error {
		_, err := wallet.UpdateAccount(tx, wallet.Change{Owner: "alice", Currency: giftkit.EUR, Cause: activity.Cause{At: time.Unix(0, 0)}}, func(a wallet.Account) (wallet.Account, []wallet.Entry, error) {
			a, credit, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(1000, giftkit.EUR)}, "k1", time.Unix(0, 0))
			if err != nil {
				return a, nil, err
			}
			a, hold, err := a.PlaceHold(wallet.HoldSpec{ID: "h", Placer: wallet.PlacerWallet, Amount: giftkit.FromMinor(500, giftkit.EUR)}, "k2", time.Unix(0, 0))
			return a, []wallet.Entry{credit, hold}, err
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE "+schema+".giftkit_accounts SET lots = '[]'"); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx *pgstore.Tx) error { _, _, err := tx.Account("alice", giftkit.EUR); return err })
	if !errors.Is(err, pgstore.ErrConflict) || !errors.Is(err, wallet.ErrCorrupt) {
		t.Errorf("corrupt account read: %v; want ErrConflict and wallet.ErrCorrupt", err)
	}
}

// TestNewFromPool: a store over the host's own pool works, and leaves the
// pool open when it closes.
func TestNewFromPool(t *testing.T) {
	ctx := context.Background()
	_, schema, drop := openSchema(t, "")
	defer drop()
	cfg, err := pgxpool.ParseConfig(dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pgstore.New(pool, pgstore.WithMaxConns(4)); !errors.Is(err, pgstore.ErrInvalidConfig) {
		t.Errorf("New(pool, WithMaxConns) = %v; want ErrInvalidConfig", err)
	}
	s, err := pgstore.New(pool, pgstore.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	env := storetest.NewEnv(t, s, 1)
	env.Fund(t, "alice", giftkit.FromMinor(500, giftkit.EUR))
	s.Close()
	if err := pool.Ping(ctx); err != nil {
		t.Errorf("the host's pool was closed: %v", err)
	}
}

func TestReadmeSnippet(t *testing.T) {
	dsn(t)
	hasher, _ := giftcard.NewHasher(hashKey)
	if accounts, err := readmeSnippet(context.Background(), hasher); err != nil || accounts == nil {
		t.Errorf("the README's snippet: %v", err)
	}
}

// TestFailedWriteCommitsNothing: a unit's writes travel with its COMMIT, so
// a write the database refuses (here a card's hash changed, which a
// trigger forbids) must fail the unit whole: the other writes sent with it
// are not committed.
func TestFailedWriteCommitsNothing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	card := giftcard.Card{ID: "c1", Suffix: "ABCD", Value: giftkit.FromMinor(500, giftkit.EUR), State: giftcard.StateActive,
		BatchID: "b", IssuedAt: time.Unix(0, 0), UpdatedAt: time.Unix(0, 0)}
	card.Hash[0] = 1
	if err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.PutCard(card) }); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, func(tx *pgstore.Tx) error {
		if _, err := wallet.UpdateAccount(tx, wallet.Change{Owner: "alice", Currency: giftkit.EUR, Cause: activity.Cause{At: time.Unix(0, 0)}}, func(a wallet.Account) (wallet.Account, []wallet.Entry, error) {
			a, e, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(100, giftkit.EUR)}, "k", time.Unix(0, 0))
			return a, []wallet.Entry{e}, err
		}); err != nil {
			return err
		}
		changed := card
		changed.Hash[0] = 2
		return tx.PutCard(changed)
	})
	if !errors.Is(err, pgstore.ErrConflict) {
		t.Fatalf("changing a card's hash: %v; want ErrConflict", err)
	}
	_ = s.Update(ctx, func(tx *pgstore.Tx) error {
		if _, found, err := tx.Account("alice", giftkit.EUR); found || err != nil {
			t.Errorf("the refused unit's account write committed (found %v, %v)", found, err)
		}
		return nil
	})
}

// TestFoldedWrites: writes queued together go as one statement, but for
// a second write of one row, which goes in a statement after the first,
// so that it sees it: a card written twice in a unit, blind or read
// first, ends as the second write left it. A refused write names itself.
func TestFoldedWrites(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	card := giftcard.Card{ID: "c1", Suffix: "ABCD", Value: giftkit.FromMinor(500, giftkit.EUR), State: giftcard.StatePending,
		BatchID: "b", IssuedAt: time.Unix(0, 0), UpdatedAt: time.Unix(0, 0)}
	card.Hash[0] = 1
	active := card
	active.State, active.ActivatedAt, active.UpdatedAt = giftcard.StateActive, time.Unix(1, 0), time.Unix(1, 0)
	tagged := active
	tagged.Tags, tagged.UpdatedAt = "t", time.Unix(2, 0)
	read := func() giftcard.Card {
		var c giftcard.Card
		if err := s.Update(ctx, func(tx *pgstore.Tx) (err error) {
			c, _, err = tx.CardByID(card.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		for _, c := range []giftcard.Card{card, active} {
			if err := tx.PutCard(c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := read(); got.State != giftcard.StateActive || !got.UpdatedAt.Equal(active.UpdatedAt) {
		t.Errorf("a card written twice, blind: %+v; want the second write", got)
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		if _, _, err := tx.CardByID(card.ID); err != nil {
			return err
		}
		for _, c := range []giftcard.Card{tagged, active} {
			if err := tx.PutCard(c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := read(); got.Tags != "" || !got.UpdatedAt.Equal(active.UpdatedAt) {
		t.Errorf("a card read, then written twice: %+v; want the second write", got)
	}

	// An event the schema refuses, in the statement that writes the card.
	bad := paymentEvent("refused", 1)
	bad.Aggregate.Kind = 0
	err := s.Update(ctx, func(tx *pgstore.Tx) error {
		if err := tx.PutCard(tagged); err != nil {
			return err
		}
		return tx.AppendEvents([]outbox.Event{bad})
	})
	if !errors.Is(err, pgstore.ErrConflict) || !strings.Contains(err.Error(), "append events") {
		t.Errorf("a refused event: %v; want ErrConflict from append events", err)
	}
	if got := read(); got.Tags != "" {
		t.Errorf("the card written in the refused unit: %+v; want it as before", got)
	}
}
