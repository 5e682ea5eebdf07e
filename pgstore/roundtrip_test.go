package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

// roundTrips counts the store's round trips to the server (each query
// sent alone, each batch, each COPY) and the statements it sends, but for
// the NOTIFY the notifier sends after a unit's commit, on its own time and
// not in the unit (one for any number of commits while one is in flight).
type roundTrips struct{ n, statements, notifies atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.Contains(data.SQL, "pg_notify") {
		r.notifies.Add(1)
		return ctx
	}
	r.n.Add(1)
	r.statements.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	r.statements.Add(1)
}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
func (r *roundTrips) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	r.n.Add(1)
	r.statements.Add(1)
	return ctx
}
func (r *roundTrips) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// TestRoundTrips: a redemption and a payment the balance covers each take
// two round trips (reads and locks with BEGIN, writes with COMMIT), counted
// by a pgx tracer rather than guessed, and six statements: BEGIN and three
// reads (the idempotency record, the card or the payment, the accounts),
// each sent once; then one statement for all the unit's writes (the card
// or the payment, the account, its journal entries, the activity records
// and outbox events, the idempotency record: the parts of one
// data-modifying WITH) and COMMIT.
func TestRoundTrips(t *testing.T) {
	counter := &roundTrips{}
	s, _, drop := openSchema(t, "", pgstore.WithTracer(counter))
	defer drop()
	env := storetest.NewEnv(t, s, 1)
	co, err := checkout.NewService(s, processortest.New(), checkout.Config{Now: env.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, code := env.Issue(t, eurs("50.00"), "issue")
	ctx := context.Background()

	before, statements := counter.n.Load(), counter.statements.Load()
	if _, err := env.Wallet.Redeem(ctx, "alice", code.String(), "redeem"); err != nil {
		t.Fatal(err)
	}
	if n := counter.n.Load() - before; n != 2 {
		t.Errorf("a redemption took %d round trips; want 2", n)
	}
	if n := counter.statements.Load() - statements; n != 6 {
		t.Errorf("a redemption sent %d statements; want 6", n)
	}
	before, statements = counter.n.Load(), counter.statements.Load()
	p, err := co.Pay(ctx, checkout.PayRequest{PaymentID: "o1", Owner: "alice", Total: eurs("20.00")}, "pay")
	if err != nil || p.State != checkout.StateCaptured {
		t.Fatal(p.State, err)
	}
	if n := counter.n.Load() - before; n != 2 {
		t.Errorf("a payment the balance covers took %d round trips; want 2", n)
	}
	if n := counter.statements.Load() - statements; n != 6 {
		t.Errorf("a payment the balance covers sent %d statements; want 6", n)
	}
	// The NOTIFY follows the commits on the notifier's own time (at most
	// one every 10 ms), outside the units of work: wait for it.
	for start := time.Now(); counter.notifies.Load() == 0 && time.Since(start) < 5*time.Second; {
		time.Sleep(10 * time.Millisecond)
	}
	if counter.notifies.Load() == 0 {
		t.Errorf("no NOTIFY traced after the units' commits")
	}
}

func eurs(s string) giftkit.Money { return giftkit.MustParseMoney(s, giftkit.EUR) }

// strictOpts compares Money and Currency by ==, times by Equal, and tells
// a nil slice from an empty one (the conformance suite's options do not).
var strictOpts = cmp.Options{
	cmp.Comparer(func(a, b giftkit.Money) bool { return a == b }),
	cmp.Comparer(func(a, b giftkit.Currency) bool { return a == b }),
	cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
}

var epoch = time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)

func testCard(id string, b byte) giftcard.Card {
	c := giftcard.Card{ID: id, Suffix: "AB12", Value: eurs("25.00"), State: giftcard.StateActive, BatchID: "b",
		IssuedAt: epoch, ActivatedAt: epoch, UpdatedAt: epoch, Class: giftkit.ClassPurchased}
	c.Hash[0], c.Hash[1] = b, 0xa5
	return c
}

// An imported card and a card's tags round-trip, whether written by PutCard
// or InsertCards (COPY) and read by ID, by hash or read ahead; cards without
// them read back as issued here, untagged; PutCard changes them on a card
// that is not final, and a redeemed card keeps them as it keeps the rest
// (a clawback may not change them).
func TestCardImportedAndTags(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	imported := testCard("imp", 1)
	imported.Imported, imported.Tags, imported.Suffix = true, "a,b", "H567"
	bulk := testCard("bulk", 2)
	bulk.Imported, bulk.Tags = true, "a,b"
	bulkPlain := testCard("bulk-plain", 3)
	plain := testCard("plain", 4)
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		if err := tx.PutCard(imported); err != nil {
			return err
		}
		if err := tx.PutCard(plain); err != nil {
			return err
		}
		taken, err := tx.InsertCards([]giftcard.Card{bulk, bulkPlain})
		if taken {
			t.Error("InsertCards: a hash taken")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	read := func(want giftcard.Card) {
		t.Helper()
		for name, get := range map[string]func(tx *pgstore.Tx) (giftcard.Card, bool, error){
			"CardByID":   func(tx *pgstore.Tx) (giftcard.Card, bool, error) { return tx.CardByID(want.ID) },
			"CardByHash": func(tx *pgstore.Tx) (giftcard.Card, bool, error) { return tx.CardByHash(want.Hash) },
			"CardByHash, read ahead": func(tx *pgstore.Tx) (giftcard.Card, bool, error) {
				tx.ReadAhead(giftkit.ReadAhead{HasCard: true, CardHash: want.Hash})
				return tx.CardByHash(want.Hash)
			},
		} {
			if err := s.Update(ctx, func(tx *pgstore.Tx) error {
				got, ok, err := get(tx)
				if err != nil || !ok {
					t.Errorf("%s(%s) = %v, %v", name, want.ID, ok, err)
				}
				if diff := cmp.Diff(want, got, strictOpts); diff != "" {
					t.Errorf("%s(%s) (-want +got):\n%s", name, want.ID, diff)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []giftcard.Card{imported, bulk, bulkPlain, plain} {
		read(c)
	}

	// PutCard replaces them on a card that is not final.
	retagged := plain
	retagged.Imported, retagged.Tags, retagged.UpdatedAt = true, "campaign-7", epoch.Add(time.Hour)
	if err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.PutCard(retagged) }); err != nil {
		t.Fatal(err)
	}
	read(retagged)

	// A redeemed card keeps them, through a clawback too.
	redeemed := imported
	redeemed.State, redeemed.RedeemedBy, redeemed.RedeemedAt = giftcard.StateRedeemed, "alice", epoch.Add(time.Minute)
	if err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.PutCard(redeemed) }); err != nil {
		t.Fatal(err)
	}
	clawback := redeemed
	clawback.ClawedBack, clawback.UpdatedAt = eurs("1.00"), epoch.Add(2*time.Minute)
	clawback.Head = activity.Head{Seq: 1, Digest: activity.Digest{7}}
	for name, c := range map[string]giftcard.Card{
		"tags changed":          func() giftcard.Card { c := clawback; c.Tags = "a"; return c }(),
		"tags removed":          func() giftcard.Card { c := clawback; c.Tags = ""; return c }(),
		"no longer imported":    func() giftcard.Card { c := clawback; c.Imported = false; return c }(),
		"retagged, no clawback": func() giftcard.Card { c := redeemed; c.Tags = "x"; return c }(),
	} {
		if err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.PutCard(c) }); !errors.Is(err, pgstore.ErrConflict) {
			t.Errorf("PutCard of a redeemed card, %s: %v; want ErrConflict", name, err)
		}
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.PutCard(clawback) }); err != nil {
		t.Fatalf("a clawback of a redeemed imported card: %v", err)
	}
	read(clawback)
}

// A card read back is the card written, whether written whole (PutCard of
// a card the unit did not read: an upsert; InsertCards: a binary COPY)
// or, once read, by an UPDATE of the columns that changed; with times far
// from the epoch on either side. Changing a card's hash is refused either
// way. A row the store cannot read as a card (an infinite time, written
// behind its back) fails the read.
func TestCardRows(t *testing.T) {
	ctx := context.Background()
	s, schema, drop := openSchema(t, "")
	defer drop()
	times := []time.Time{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1900, 2, 3, 4, 5, 6, 999999999, time.UTC),
		time.Unix(-1, 1).UTC(), time.Unix(0, 0).UTC(), time.Date(2500, 12, 31, 23, 59, 59, 1, time.FixedZone("Y", -7200)),
		time.Date(9999, 1, 1, 0, 0, 0, 123, time.UTC)}
	var cards []giftcard.Card
	for i, at := range times {
		c := testCard(fmt.Sprint("t", i), byte(10+i))
		c.IssuedAt, c.ActivatedAt, c.ExpiresAt, c.UpdatedAt = at, at.Add(1), at.Add(time.Hour+999), at.Add(-1)
		c.Head = activity.Head{Seq: int64(i), Digest: activity.Digest{byte(i), 0xff}}
		c.Tags = fmt.Sprint("tag", i)
		cards = append(cards, c)
	}
	bulk := make([]giftcard.Card, 0, len(cards))
	for i, c := range cards {
		c.ID, c.Hash[1] = "bulk-"+c.ID, byte(i)
		bulk = append(bulk, c)
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		for _, c := range cards {
			if err := tx.PutCard(c); err != nil {
				return err
			}
		}
		taken, err := tx.InsertCards(slices.Clone(bulk))
		if taken {
			t.Error("InsertCards: a hash taken")
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	check := func(want giftcard.Card) {
		t.Helper()
		if err := s.Update(ctx, func(tx *pgstore.Tx) error {
			got, ok, err := tx.CardByID(want.ID)
			if err != nil || !ok {
				t.Fatalf("CardByID(%s) = %v, %v", want.ID, ok, err)
			}
			if diff := cmp.Diff(want, got, strictOpts); diff != "" {
				t.Errorf("card %s (-want +got):\n%s", want.ID, diff)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range append(slices.Clone(cards), bulk...) {
		check(c)
	}

	// Read, then changed: what changed is written, the rest kept.
	changed := cards[1]
	changed.State, changed.RedeemedBy, changed.RedeemedAt = giftcard.StateRedeemed, "alice", times[4]
	changed.UpdatedAt, changed.Head, changed.Tags, changed.Imported = times[5], activity.Head{Seq: 9, Digest: activity.Digest{9}}, "", true
	unchanged := cards[2]
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		for _, c := range []giftcard.Card{changed, unchanged} {
			if _, _, err := tx.CardByHash(c.Hash); err != nil {
				return err
			}
			if err := tx.PutCard(c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check(changed)
	check(unchanged)
	rehashed := cards[3]
	rehashed.Hash[0] = 0xee
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		if _, _, err := tx.CardByID(rehashed.ID); err != nil {
			return err
		}
		return tx.PutCard(rehashed)
	}); !errors.Is(err, pgstore.ErrConflict) {
		t.Errorf("PutCard of a read card with another hash: %v; want ErrConflict", err)
	}

	conn := rawConn(t, schema)
	if _, err := conn.Exec(ctx, "UPDATE giftkit_cards SET expires_at = 'infinity' WHERE id = $1", cards[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		_, _, err := tx.CardByID(cards[0].ID)
		return err
	}); err == nil {
		t.Error("a card with an infinite expiry read without an error")
	}
}

// Journal entries of the kinds load, transfer and fee round-trip: a load
// onto one account, a transfer out of it and into another, and a fee. (An entry's time is
// a timestamptz, which keeps microseconds.)
func TestEntriesLoadAndTransfer(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	epoch := epoch.Truncate(time.Microsecond)
	from, load, err := wallet.NewAccount("giftcard:c1", giftkit.EUR).Credit(wallet.CreditSpec{Kind: wallet.EntryLoad,
		Class: giftkit.ClassPurchased, Amount: eurs("50.00"), Source: "reload", Reference: "order-1"}, "k-load", epoch)
	if err != nil {
		t.Fatal(err)
	}
	from, out, parcels, err := from.TransferOut(eurs("20.00"), false, "xfer-1", "k-xfer", epoch.Add(time.Second))
	if err != nil || len(out) != 1 {
		t.Fatalf("TransferOut = %v, %v", out, err)
	}
	to, in, err := wallet.NewAccount("alice", giftkit.EUR).TransferIn(parcels, nil, "giftcard:c1", "xfer-1", "k-xfer", epoch.Add(time.Second))
	if err != nil || len(in) != 1 {
		t.Fatalf("TransferIn = %v, %v", in, err)
	}
	from, fee, _, err := from.Take(wallet.TakeSpec{Kind: wallet.EntryFee, Amount: eurs("5.00"), Reference: "dormancy"}, "k-fee",
		epoch.Add(2*time.Second))
	if err != nil || len(fee) != 1 {
		t.Fatalf("Take (fee) = %v, %v", fee, err)
	}
	fromEntries := append(append([]wallet.Entry{load}, out...), fee...)
	// The premise: the entries to store are of the new kinds (the journal's
	// comparison below then checks the store keeps them).
	if k := []wallet.EntryKind{fromEntries[0].Kind, fromEntries[1].Kind, fromEntries[2].Kind, in[0].Kind}; k[0] != wallet.EntryLoad ||
		k[1] != wallet.EntryTransfer || k[2] != wallet.EntryFee || k[3] != wallet.EntryTransfer {
		t.Fatalf("the entries' kinds: %v; want load, transfer, fee, transfer", k)
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		if err := tx.SaveAccount(from, fromEntries); err != nil {
			return err
		}
		return tx.SaveAccount(to, in)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		for _, acct := range []struct {
			a    wallet.Account
			want []wallet.Entry
		}{{from, fromEntries}, {to, in}} {
			got, err := tx.Entries(acct.a.Owner(), giftkit.EUR, 0, 10)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(acct.want, got, strictOpts); diff != "" {
				t.Errorf("the journal of %s (-want +got):\n%s", acct.a.Owner(), diff)
			}
			a, _, err := tx.Account(acct.a.Owner(), giftkit.EUR)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(acct.a.State(), a.State(), strictOpts, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("the account of %s (-want +got):\n%s", acct.a.Owner(), diff)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// cardPayment is a payment that spent two gift cards by code, with a
// refund that gave back to each and one that gave back to none.
func cardPayment(id string) checkout.Payment {
	m := func(minor int64) giftkit.Money { return giftkit.FromMinor(minor, giftkit.EUR) }
	return checkout.Payment{
		ID: id, Owner: "alice", Total: m(6000), Mode: checkout.CaptureLater, State: checkout.StateCaptured,
		Balance: checkout.Tender{Planned: m(1000), Authorized: m(1000), Captured: m(1000), Refunded: m(0)},
		Card:    checkout.Tender{Planned: m(0), Authorized: m(0), Captured: m(0), Refunded: m(0)},
		HoldID:  "pay/" + id, CaptureWant: m(6000),
		Keys: checkout.Keys{Prefix: "giftkit", Pay: "k", Fingerprint: "f", Capture: "c"},
		Cards: []checkout.CardTender{
			{CardID: "card_1", Masked: "****-******-*H567", Tender: checkout.Tender{Planned: m(3000), Authorized: m(3000), Captured: m(3000), Refunded: m(500)}},
			{CardID: "card_2", Masked: "****X9Z1", Tender: checkout.Tender{Planned: m(2000), Authorized: m(2000), Captured: m(2000), Refunded: m(0)}},
		},
		Refunds: []checkout.Refund{
			{Key: "r1", Amount: m(500), Balance: m(0), Cards: []giftkit.Money{m(500), m(0)}, Card: m(0), Done: true, At: epoch.Add(time.Hour)},
			{Key: "r2", Amount: m(0), Balance: m(0), Card: m(0), Done: true, At: epoch.Add(2 * time.Hour)}, // Cards nil
		},
		ExpiresAt: epoch.Add(24 * time.Hour), CreatedAt: epoch, UpdatedAt: epoch.Add(2 * time.Hour), EventSeq: 4,
	}
}

// A payment's gift-card tenders and its refunds' amounts for each card
// round-trip, read alone, read ahead and among the open payments; nil
// stays nil, an empty list is not stored and reads back nil, and a row
// written before them (without the members) reads back without them.
func TestPaymentCards(t *testing.T) {
	ctx := context.Background()
	s, schema, drop := openSchema(t, "")
	defer drop()
	spent := cardPayment("p-cards")
	spent.State = checkout.StateCapturing // open: OpenPayments returns it
	none := cardPayment("p-none")
	none.Cards, none.Refunds = nil, none.Refunds[1:]
	zero := giftkit.Zero(giftkit.EUR)
	empty := cardPayment("p-empty")
	empty.Cards, empty.Refunds = []checkout.CardTender{}, []checkout.Refund{{Key: "r1", Amount: zero, Balance: zero,
		Cards: []giftkit.Money{}, Card: zero, Done: true, At: epoch}}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		for _, p := range []checkout.Payment{spent, none, empty} {
			if err := tx.PutPayment(p); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	emptyRead := empty
	emptyRead.Cards, emptyRead.Refunds = nil, []checkout.Refund{empty.Refunds[0]}
	emptyRead.Refunds[0].Cards = nil
	read := func(want checkout.Payment) {
		t.Helper()
		for _, ahead := range []bool{false, true} {
			if err := s.Update(ctx, func(tx *pgstore.Tx) error {
				if ahead {
					tx.ReadAhead(giftkit.ReadAhead{Payment: want.ID})
				}
				got, ok, err := tx.Payment(want.ID)
				if err != nil || !ok {
					t.Fatalf("Payment(%s) = %v, %v", want.ID, ok, err)
				}
				if diff := cmp.Diff(want, got, strictOpts); diff != "" {
					t.Errorf("Payment(%s), read ahead %v (-want +got):\n%s", want.ID, ahead, diff)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	read(spent)
	read(none)
	read(emptyRead)
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		open, err := tx.OpenPayments("", 10)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]checkout.Payment{spent}, open, strictOpts); diff != "" {
			t.Errorf("OpenPayments (-want +got):\n%s", diff)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	conn := rawConn(t, schema)
	var data string
	if err := conn.QueryRow(ctx, "SELECT data::text FROM giftkit_payments WHERE id = 'p-empty'").Scan(&data); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(data), "cards") {
		t.Errorf("a payment without gift cards is stored with them: %s", data)
	}
	// A row written before the members: they are removed from the stored
	// JSON, and the payment reads back as one that spent no gift card.
	if _, err := conn.Exec(ctx, `UPDATE giftkit_payments SET data = (data - 'cards') #- '{refunds,0,Cards}'
		WHERE id = 'p-cards'`); err != nil {
		t.Fatal(err)
	}
	old := spent
	old.Cards, old.Refunds = nil, append([]checkout.Refund(nil), spent.Refunds...)
	old.Refunds[0].Cards = nil
	read(old)
}

// A schema of version 6 migrates to version 7: its cards read as issued
// here, untagged, and the journal's CHECK takes the three new kinds beside
// the old ones.
func TestMigrateFromVersion6(t *testing.T) {
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_v6_" + hex.EncodeToString(b[:])
	conn := rawConn(t, "public")
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema+"; SET search_path TO "+schema); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE giftkit_schema_migrations (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if len(names) < 7 {
		t.Fatalf("migrations: %v", names)
	}
	for v, name := range names[:6] {
		sql, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.PgConn().Exec(ctx, string(sql)).ReadAll(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO giftkit_schema_migrations (version) VALUES ($1)", v+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.PgConn().Exec(ctx, `
		INSERT INTO giftkit_cards (id, hash, suffix, currency, minor_units, value, state, batch_id, issued_at, updated_at)
		VALUES ('card-old', decode(repeat('ab', 32), 'hex'), 'AB12', 'EUR', 2, 2500, 'active', 'b', '2024-01-01Z', '2024-01-01Z');
		INSERT INTO giftkit_accounts (owner, currency, minor_units, balance, held, next_seq, lots, holds, updated_at)
		VALUES ('alice', 'EUR', 2, 2500, 0, 2,
			'[{"id": "lot-1", "source": "x", "class": 1, "remaining": 2500, "reserved": 0, "expires_at": "0001-01-01T00:00:00Z", "created_at": "2024-02-01T00:00:00Z"}]',
			'[]', '2024-02-01Z');
		INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at)
		VALUES ('alice', 'EUR', 1, 'clawback', 0, 0, 2500, 2500, 'x', 'k', '2024-02-01Z');`).ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after,
		available_after, reference, key, at) VALUES ('alice', 'EUR', 2, 'load', 0, 0, 2500, 2500, 'x', 'k', now())`); err == nil {
		t.Fatal("a load in a journal of version 6: accepted; want it refused (the test's premise)")
	}
	s, _, drop := openSchema(t, schema) // migrates to the current version
	defer drop()
	var card giftcard.Card
	var acct wallet.Account
	if err := s.Update(ctx, func(tx *pgstore.Tx) (err error) {
		if card, _, err = tx.CardByID("card-old"); err != nil {
			return err
		}
		acct, _, err = tx.Account("alice", giftkit.EUR)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if card.Imported || card.Tags != "" || card.ID != "card-old" {
		t.Errorf("the old card reads as %+v; want it not imported, untagged", card)
	}
	acct, load, err := acct.Credit(wallet.CreditSpec{Kind: wallet.EntryLoad, Amount: eurs("1.00")}, "k-load", epoch)
	if err != nil {
		t.Fatal(err)
	}
	acct, out, _, err := acct.TransferOut(eurs("0.50"), false, "xfer", "k-xfer", epoch)
	if err != nil {
		t.Fatal(err)
	}
	acct, fee, _, err := acct.Take(wallet.TakeSpec{Kind: wallet.EntryFee, Amount: eurs("0.25")}, "k-fee", epoch)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		return tx.SaveAccount(acct, append(append([]wallet.Entry{load}, out...), fee...))
	}); err != nil {
		t.Errorf("a load, a transfer and a fee after the migration: %v", err)
	}
	for i, kind := range []string{"refund", "nonsense"} {
		_, err := conn.Exec(ctx, `INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after,
			available_after, reference, key, at) VALUES ('alice', 'EUR', $1, $2, 0, 0, 0, 0, 'x', 'k', now())`, 100+i, kind)
		if (err == nil) != (kind == "refund") {
			t.Errorf("an entry of kind %s after the migration: %v", kind, err)
		}
	}
}
