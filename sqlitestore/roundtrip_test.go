package sqlitestore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/sqlitestore"
	"github.com/giftkit/giftkit/wallet"
)

// strictOpts compares as cmpTimes does, and tells a nil slice from an
// empty one: the conformance suite's options do not.
var strictOpts = cmp.Options{cmpTimes, cmp.Comparer(func(a, b giftkit.Currency) bool { return a == b })}

// An imported card and a card's tags round-trip, whether written by PutCard
// or InsertCards and read by ID or by hash; cards without them read back
// as issued here, untagged; PutCard changes them on a card that is not
// final, and a redeemed card keeps them as it keeps the rest (a clawback
// may not change them).
func TestCardImportedAndTags(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	imported := card("imp", 1)
	imported.Imported, imported.Tags, imported.Suffix = true, "a,b", "H567"
	bulk := card("bulk", 2)
	bulk.Imported, bulk.Tags = true, "a,b"
	bulkPlain := card("bulk-plain", 3)
	plain := card("plain", 4)
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
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
		if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
			for name, get := range map[string]func() (giftcard.Card, bool, error){
				"CardByID":   func() (giftcard.Card, bool, error) { return tx.CardByID(want.ID) },
				"CardByHash": func() (giftcard.Card, bool, error) { return tx.CardByHash(want.Hash) },
			} {
				got, ok, err := get()
				if err != nil || !ok {
					t.Errorf("%s(%s) = %v, %v", name, want.ID, ok, err)
				}
				if diff := cmp.Diff(want, got, strictOpts); diff != "" {
					t.Errorf("%s(%s) (-want +got):\n%s", name, want.ID, diff)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []giftcard.Card{imported, bulk, bulkPlain, plain} {
		read(c)
	}

	// PutCard replaces them on a card that is not final.
	retagged := plain
	retagged.Imported, retagged.Tags, retagged.UpdatedAt = true, "campaign-7", epoch.Add(time.Hour)
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutCard(retagged) }); err != nil {
		t.Fatal(err)
	}
	read(retagged)

	// A redeemed card keeps them, through a clawback too.
	redeemed := imported
	redeemed.State, redeemed.RedeemedBy, redeemed.RedeemedAt = giftcard.StateRedeemed, "alice", epoch.Add(time.Minute)
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutCard(redeemed) }); err != nil {
		t.Fatal(err)
	}
	clawback := redeemed
	clawback.ClawedBack, clawback.UpdatedAt = giftkit.FromMinor(100, eur), epoch.Add(2*time.Minute)
	clawback.Head = activity.Head{Seq: 1, Digest: activity.Digest{7}}
	for name, c := range map[string]giftcard.Card{
		"tags changed":          func() giftcard.Card { c := clawback; c.Tags = "a"; return c }(),
		"tags removed":          func() giftcard.Card { c := clawback; c.Tags = ""; return c }(),
		"no longer imported":    func() giftcard.Card { c := clawback; c.Imported = false; return c }(),
		"retagged, no clawback": func() giftcard.Card { c := redeemed; c.Tags = "x"; return c }(),
	} {
		err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutCard(c) })
		wantErr(t, "a redeemed card's "+name, err, sqlitestore.ErrConflict)
	}
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutCard(clawback) }); err != nil {
		t.Fatalf("a clawback of a redeemed imported card: %v", err)
	}
	read(clawback)
}

// Journal entries of the kinds load, transfer and fee round-trip: a load
// onto one account, a transfer out of it and into another, and a fee.
func TestEntriesLoadAndTransfer(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	from, load, err := wallet.NewAccount("giftcard:c1", eur).Credit(wallet.CreditSpec{Kind: wallet.EntryLoad,
		Class: giftkit.ClassPurchased, Amount: giftkit.FromMinor(5000, eur), Source: "reload", Reference: "order-1"}, "k-load", epoch)
	if err != nil {
		t.Fatal(err)
	}
	from, out, parcels, err := from.TransferOut(giftkit.FromMinor(2000, eur), false, "xfer-1", "k-xfer", epoch.Add(time.Second))
	if err != nil || len(out) != 1 {
		t.Fatalf("TransferOut = %v, %v", out, err)
	}
	to, in, err := wallet.NewAccount("alice", eur).TransferIn(parcels, nil, "giftcard:c1", "xfer-1", "k-xfer", epoch.Add(time.Second))
	if err != nil || len(in) != 1 {
		t.Fatalf("TransferIn = %v, %v", in, err)
	}
	from, fee, _, err := from.Take(wallet.TakeSpec{Kind: wallet.EntryFee, Amount: giftkit.FromMinor(500, eur), Reference: "dormancy"}, "k-fee",
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
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
		if err := tx.SaveAccount(from, fromEntries); err != nil {
			return err
		}
		return tx.SaveAccount(to, in)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
		for _, acct := range []struct {
			a    wallet.Account
			want []wallet.Entry
		}{{from, fromEntries}, {to, in}} {
			got, err := tx.Entries(acct.a.Owner(), eur, 0, 10)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(acct.want, got, strictOpts); diff != "" {
				t.Errorf("the journal of %s (-want +got):\n%s", acct.a.Owner(), diff)
			}
			a, _, err := tx.Account(acct.a.Owner(), eur)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(acct.a.State(), a.State(), strictOpts); diff != "" {
				t.Errorf("the account of %s (-want +got):\n%s", acct.a.Owner(), diff)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// cardPayment is a payment that spent two gift cards by code, with a
// refund that gave back to each.
func cardPayment(id string) checkout.Payment {
	m := func(minor int64) giftkit.Money { return giftkit.FromMinor(minor, eur) }
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
// round-trip; nil stays nil, an empty list is not stored and reads back
// nil, and a row written before them (without the members) reads back
// without them.
func TestPaymentCards(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "giftkit.db")
	s := openAt(t, path)
	spent := cardPayment("p-cards")
	none := cardPayment("p-none")
	none.Cards, none.Refunds = nil, none.Refunds[1:]
	empty := cardPayment("p-empty")
	empty.Cards, empty.Refunds = []checkout.CardTender{}, []checkout.Refund{{Key: "r1", Amount: giftkit.Zero(eur),
		Balance: giftkit.Zero(eur), Cards: []giftkit.Money{}, Card: giftkit.Zero(eur), Done: true, At: epoch}}
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
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
		if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
			got, ok, err := tx.Payment(want.ID)
			if err != nil || !ok {
				t.Fatalf("Payment(%s) = %v, %v", want.ID, ok, err)
			}
			if diff := cmp.Diff(want, got, strictOpts); diff != "" {
				t.Errorf("Payment(%s) (-want +got):\n%s", want.ID, diff)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	read(spent)
	read(none)
	read(emptyRead)

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var data string
	if err := db.QueryRowContext(ctx, "SELECT data FROM giftkit_payments WHERE id = 'p-empty'").Scan(&data); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(data, "cards") {
		t.Errorf("a payment without gift cards is stored with them: %s", data)
	}
	// A row written before the members: they are removed from the stored
	// JSON, and the payment reads back as one that spent no gift card.
	if _, err := db.ExecContext(ctx, `UPDATE giftkit_payments SET data = json_remove(data, '$.cards', '$.refunds[0].cards')
		WHERE id = 'p-cards'`); err != nil {
		t.Fatal(err)
	}
	old := spent
	old.Cards, old.Refunds = nil, append([]checkout.Refund(nil), spent.Refunds...)
	old.Refunds[0].Cards = nil
	read(old)
}

// A database of schema version 3 migrates to version 4 in place: its cards
// read as issued here, untagged; its journal keeps every entry, and its
// triggers (and indexes: it has none but its key) as they were, the table's
// CHECK allowing the three new kinds and nothing else changed; and the
// journal takes a load.
func TestUpgradeFromVersion3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "giftkit.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(stmt string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, stmt, args...); err != nil {
			t.Fatalf("%.60s: %v", stmt, err)
		}
	}
	exec(`CREATE TABLE giftkit_schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`)
	for v, name := range []string{"0001_init.sql", "0002_activity.sql", "0003_outbox.sql"} {
		text, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		exec(string(text))
		exec(`INSERT INTO giftkit_schema_migrations (version, applied_at) VALUES (?, 0)`, v+1)
	}
	old := card("old", 1)
	old.State, old.RedeemedBy, old.RedeemedAt = giftcard.StateRedeemed, "alice", epoch
	exec(`INSERT INTO giftkit_cards (id, hash, suffix, currency, minor_units, value, state, batch_id, issued_at,
		activated_at, redeemed_by, redeemed_at, updated_at) VALUES ('old', ?, 'AB12', 'EUR', 2, 2500, 'redeemed', 'b', ?, ?, 'alice', ?, ?)`,
		old.Hash[:], epoch.UnixNano(), epoch.UnixNano(), epoch.UnixNano(), epoch.UnixNano())
	a, credit, err := wallet.NewAccount("alice", eur).Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(2500, eur),
		Source: "old", Reference: "old"}, "k1", epoch)
	if err != nil {
		t.Fatal(err)
	}
	a, adjust, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryAdjustment, Amount: giftkit.FromMinor(100, eur), Reference: "t-1"}, "k2", epoch)
	if err != nil {
		t.Fatal(err)
	}
	exec(`INSERT INTO giftkit_accounts (owner, currency, minor_units, balance, held, next_seq, lots, holds, updated_at)
		VALUES ('alice', 'EUR', 2, 2600, 0, 3, ?, '[]', ?)`,
		lotsJSON(t, a.Lots()), epoch.UnixNano())
	for _, e := range []wallet.Entry{credit, adjust} {
		exec(`INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at)
			VALUES ('alice', 'EUR', ?, ?, ?, 0, ?, ?, ?, ?, ?)`, e.Seq, e.Kind.String(), e.Amount.Minor(), e.BalanceAfter.Minor(),
			e.AvailableAfter.Minor(), e.Reference, e.Key, e.At.UnixNano())
	}
	schema := func() (table string, others []string) {
		t.Helper()
		rows, err := db.QueryContext(ctx, `SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'giftkit_entries' ORDER BY type, name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var typ, name string
			var text sql.NullString
			if err := rows.Scan(&typ, &name, &text); err != nil {
				t.Fatal(err)
			}
			if typ == "table" {
				table = text.String
				continue
			}
			others = append(others, typ+" "+name+": "+text.String)
		}
		return table, others
	}
	tableV3, othersV3 := schema()
	if len(othersV3) != 3 {
		t.Fatalf("the journal of version 3 has %d triggers and indexes: %q; want its 3 triggers", len(othersV3), othersV3)
	}

	s := openAt(t, path)
	tableV4, othersV4 := schema()
	if diff := cmp.Diff(othersV3, othersV4); diff != "" {
		t.Errorf("the journal's triggers and indexes changed (-version 3 +version 4):\n%s", diff)
	}
	const kinds3, kinds4 = "'adjustment', 'clawback'))", "'adjustment', 'clawback', 'load', 'transfer', 'fee'))"
	if want := strings.Replace(tableV3, kinds3, kinds4, 1); tableV4 != want || want == tableV3 {
		t.Errorf("the journal's table of version 4:\n%s\nwant that of version 3 with the new kinds:\n%s", tableV4, want)
	}
	var versions string
	if err := db.QueryRowContext(ctx, "SELECT group_concat(version, ' ') FROM giftkit_schema_migrations").Scan(&versions); err != nil || versions != "1 2 3 4" {
		t.Errorf("the migrations applied: %q, %v; want 1 2 3 4", versions, err)
	}

	if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
		got, ok, err := tx.CardByID("old")
		if err != nil || !ok {
			t.Fatalf("CardByID(old) = %v, %v", ok, err)
		}
		if diff := cmp.Diff(old, got, strictOpts); diff != "" || got.Imported || got.Tags != "" {
			t.Errorf("the card of version 3 (-want +got):\n%s", diff)
		}
		entries, err := tx.Entries("alice", eur, 0, 10)
		if diff := cmp.Diff([]wallet.Entry{credit, adjust}, entries, strictOpts); err != nil || diff != "" {
			t.Errorf("the journal of version 3 (-want +got), %v:\n%s", err, diff)
		}
		got2, ok, err := tx.Account("alice", eur)
		if diff := cmp.Diff(a.State(), got2.State(), strictOpts, cmpopts.EquateEmpty()); err != nil || !ok || diff != "" {
			t.Errorf("the account of version 3 (-want +got), %v, %v:\n%s", ok, err, diff)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a, load, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryLoad, Amount: giftkit.FromMinor(300, eur), Reference: "order-2"}, "k3", epoch)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.SaveAccount(a, []wallet.Entry{load}) }); err != nil {
		t.Errorf("a load in a journal of version 3: %v", err)
	}
	// The card of version 3 is still final, its new columns too.
	retagged := old
	retagged.Tags = "a"
	err = s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutCard(retagged) })
	wantErr(t, "a redeemed card of version 3 tagged", err, sqlitestore.ErrConflict)
	for _, stmt := range []string{
		"UPDATE giftkit_entries SET kind = 'transfer'",
		"DELETE FROM giftkit_entries",
		"INSERT OR REPLACE INTO giftkit_entries SELECT * FROM giftkit_entries",
	} {
		if _, err := db.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "journal entries are never") {
			t.Errorf("%s after the migration = %v; want it refused by the journal's triggers", stmt, err)
		}
	}
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
}

// lotsJSON is the lots column of an account, as version 2 and later keep
// it: minor units, nanoseconds, the class by name.
func lotsJSON(t *testing.T, lots []wallet.Lot) string {
	type lotRow struct {
		ID        string `json:"id"`
		Source    string `json:"source"`
		Remaining int64  `json:"remaining"`
		Reserved  int64  `json:"reserved"`
		CreatedAt int64  `json:"created_at"`
		Class     string `json:"class"`
	}
	rows := make([]lotRow, len(lots))
	for i, l := range lots {
		if !l.ExpiresAt.IsZero() {
			t.Fatal("lotsJSON: a lot that expires")
		}
		rows[i] = lotRow{l.ID, l.Source, l.Remaining.Minor(), l.Reserved.Minor(), l.CreatedAt.UnixNano(), l.Class.String()}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
