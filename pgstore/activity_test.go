package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

// rawConn connects to the test database outside any store, with schema on
// its search_path, as an operator with psql would.
func rawConn(t *testing.T, schema string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, "SET search_path TO "+schema); err != nil {
		t.Fatal(err)
	}
	return conn
}

// chain seals n records of subject, one second apart from at.
func chain(subject activity.Subject, n int, actor giftkit.Actor, at time.Time) []activity.Record {
	var head activity.Head
	out := make([]activity.Record, n)
	for i := range out {
		zero := giftkit.Zero(giftkit.EUR)
		out[i], head = activity.Cause{Actor: actor, Key: "k", At: at.Add(time.Duration(i) * time.Second)}.Seal(head,
			activity.Record{Subject: subject, Kind: activity.KindAdjust, Amount: zero, Held: zero, Before: zero, After: zero,
				Snapshot: []byte{byte(i)}})
	}
	return out
}

// TestActivityIsAppendOnly: the database itself refuses to change, delete
// or truncate activity records, whoever asks.
func TestActivityIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	s, schema, drop := openSchema(t, "")
	defer drop()
	recs := chain(activity.Card("card-1"), 2, giftkit.Operator("ana"), time.Unix(1_700_000_000, 5))
	if err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.AppendActivity(recs) }); err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t, schema)
	for _, sql := range []string{
		"UPDATE giftkit_activity SET actor_id = 'mallory'",
		"UPDATE giftkit_activity SET record = record || '\\x00'::bytea WHERE seq = 2",
		"DELETE FROM giftkit_activity WHERE seq = 2",
		"DELETE FROM giftkit_activity",
		"TRUNCATE giftkit_activity",
	} {
		if _, err := conn.Exec(ctx, sql); err == nil {
			t.Errorf("%s: succeeded; want the database to refuse it", sql)
		}
	}
	var got []activity.Record
	if err := s.Update(ctx, func(tx *pgstore.Tx) (err error) {
		got, err = tx.Activity(activity.Query{}, 10)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := activity.Verify(recs[0].Subject, got, activity.Head{Seq: 2, Digest: recs[1].Digest}); err != nil {
		t.Errorf("after the refused changes: %v", err)
	}
}

// TestActivitySequence: the database keeps each chain numbered without
// gaps or repeats. Records of one subject appended together find each
// other in any order; a gap and a repeat fail the unit whole with
// ErrConflict; a raw INSERT with a gap is refused too.
func TestActivitySequence(t *testing.T) {
	ctx := context.Background()
	s, schema, drop := openSchema(t, "")
	defer drop()
	at := time.Unix(1_700_000_000, 0)
	a := chain(activity.Account("alice", giftkit.EUR), 4, giftkit.Shopper("alice"), at)
	err := s.Update(ctx, func(tx *pgstore.Tx) error {
		if err := tx.AppendActivity([]activity.Record{a[1], a[0]}); err != nil { // one statement, in reverse
			return err
		}
		if err := tx.AppendActivity(a[2:3]); err != nil { // sent with the one before
			return err
		}
		if got, err := tx.Activity(activity.Query{Subject: a[0].Subject}, 10); err != nil || len(got) != 3 {
			t.Errorf("the unit's own records: %d, %v; want 3", len(got), err)
		}
		return tx.AppendActivity(a[3:]) // after a read
	})
	if err != nil {
		t.Fatal(err)
	}
	card := chain(activity.Card("card-1"), 3, giftkit.Operator("ana"), at)
	for name, recs := range map[string][]activity.Record{
		"a gap":               {card[0], card[2]},
		"a repeat":            {card[0], card[0]},
		"a record 2 in a gap": {card[1]},
		"a repeat of alice's": a[3:],
	} {
		err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.AppendActivity(recs) })
		if !errors.Is(err, pgstore.ErrConflict) {
			t.Errorf("%s: %v; want ErrConflict", name, err)
		}
	}
	var n int
	conn := rawConn(t, schema)
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM giftkit_activity").Scan(&n); err != nil || n != 4 {
		t.Errorf("the table holds %d records (%v); want alice's 4", n, err)
	}

	// Batches as large as an issuance's go by COPY, after the unit's
	// pending writes, and are held to the same rules.
	var big []activity.Record
	for i := range 800 {
		c := chain(activity.Card(fmt.Sprintf("bulk-%04d", i)), 2, giftkit.Client("batch"), at)
		big = append(big, c[1], c[0]) // each card's record 2 before its record 1
	}
	err = s.Update(ctx, func(tx *pgstore.Tx) error {
		if _, err := wallet.UpdateAccount(tx, wallet.Change{Owner: "bob", Currency: giftkit.EUR, Cause: activity.Cause{At: at}},
			func(acct wallet.Account) (wallet.Account, []wallet.Entry, error) {
				acct, e, err := acct.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("1.00")}, "k", at)
				return acct, []wallet.Entry{e}, err
			}); err != nil { // pending: bob's account, and its record 1
			return err
		}
		if err := tx.AppendActivity(big); err != nil {
			return err
		}
		got, err := tx.Activity(activity.Query{Kind: activity.SubjectCard}, 2000)
		if err != nil || len(got) != len(big) {
			t.Errorf("the unit's own records: %d, %v; want %d", len(got), err, len(big))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM giftkit_activity").Scan(&n); err != nil || n != 4+1+len(big) {
		t.Errorf("the table holds %d records (%v); want %d", n, err, 4+1+len(big))
	}
	more := chain(activity.Card("bulk-gap"), 3, giftkit.Client("batch"), at)
	for name, recs := range map[string][]activity.Record{
		"a gap":    append(chain(activity.Card("bulk-other"), 1500, giftkit.Client("batch"), at), more[0], more[2]),
		"a repeat": append(chain(activity.Card("bulk-new"), 1200, giftkit.Client("batch"), at), big[1]),
	} {
		err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.AppendActivity(recs) })
		if !errors.Is(err, pgstore.ErrConflict) {
			t.Errorf("by COPY, %s: %v; want ErrConflict", name, err)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM giftkit_activity").Scan(&n); err != nil || n != 4+1+len(big) {
		t.Errorf("after refused batches, the table holds %d records (%v); want %d", n, err, 4+1+len(big))
	}
	if _, err := conn.Exec(ctx, `INSERT INTO giftkit_activity (subject_kind, subject_id, currency, seq, at_ns, actor_kind, actor_id, record)
		VALUES (2, 'alice', 'EUR', 6, 0, 0, '', '')`); err == nil {
		t.Error("a raw INSERT of record 6 after 4: succeeded; want a foreign key violation")
	}
}

// TestActivityMergedAppends: the records of a unit's calls of
// AppendActivity until its next round trip travel in one statement (by
// VALUES, or over arrays past a few records), and are held to the chain's
// rules as a whole: in any order across calls, and a gap or a repeat
// across calls fails the unit.
func TestActivityMergedAppends(t *testing.T) {
	ctx := context.Background()
	s, schema, drop := openSchema(t, "")
	defer drop()
	at := time.Unix(1_700_000_000, 0)
	carol := chain(activity.Account("carol", giftkit.EUR), 12, giftkit.Shopper("carol"), at)
	dave := chain(activity.Card("card-dave"), 2, giftkit.Shopper("dave"), at)
	err := s.Update(ctx, func(tx *pgstore.Tx) error {
		for _, recs := range [][]activity.Record{carol[1:2], carol[0:1], dave[1:2], carol[2:3], carol[3:6]} {
			if err := tx.AppendActivity(recs); err != nil {
				return err
			}
		}
		if err := tx.PutIdempotency(giftkit.IdempotencyRecord{Scope: "s", Key: "k", Fingerprint: "f", Outcome: []byte{1},
			CreatedAt: at}); err != nil { // another write between the calls
			return err
		}
		for _, recs := range [][]activity.Record{carol[6:11], dave[0:1], carol[11:]} { // 14 records: over arrays
			if err := tx.AppendActivity(recs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]activity.Record{carol, dave} {
		var got []activity.Record
		if err := s.Update(ctx, func(tx *pgstore.Tx) (err error) {
			got, err = tx.Activity(activity.Query{Subject: c[0].Subject}, 100)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		last := c[len(c)-1]
		if err := activity.Verify(c[0].Subject, got, activity.Head{Seq: last.Seq, Digest: last.Digest}); err != nil {
			t.Errorf("%v: %v", c[0].Subject, err)
		}
	}

	erin := chain(activity.Account("erin", giftkit.EUR), 12, giftkit.Shopper("erin"), at)
	for name, calls := range map[string][][]activity.Record{
		"a gap across calls":             {erin[0:1], erin[2:3]},
		"a repeat across calls":          {erin[0:2], erin[1:2]},
		"a gap across calls, by arrays":  {erin[0:5], erin[6:12]},
		"a repeat of carol's, by arrays": {erin[0:9], carol[11:]},
	} {
		err := s.Update(ctx, func(tx *pgstore.Tx) error {
			for _, recs := range calls {
				if err := tx.AppendActivity(recs); err != nil {
					return err
				}
			}
			return nil
		})
		if !errors.Is(err, pgstore.ErrConflict) {
			t.Errorf("%s: %v; want ErrConflict", name, err)
		}
	}
	var n int
	if err := rawConn(t, schema).QueryRow(ctx, "SELECT count(*) FROM giftkit_activity").Scan(&n); err != nil || n != 14 {
		t.Errorf("the table holds %d records (%v); want carol's 12 and dave's 2", n, err)
	}
}

// TestActivityOrder: subjects are ordered byte by byte, as Go compares
// strings (activity.Subject.Compare), whatever the database's collation,
// and times to the nanosecond; paging by cursor reads every record once.
func TestActivityOrder(t *testing.T) {
	t.Run("database collation", func(t *testing.T) { testActivityOrder(t, newStore(t)) })
	// The test server's collation is C.UTF-8, which orders as Go does
	// anyway; an ICU collation ("a" < "B" < "b") does not.
	t.Run("ICU collation", func(t *testing.T) { testActivityOrder(t, icuStore(t)) })
}

// icuStore opens a migrated store in a new database whose collation is
// ICU's English, and drops the database when the test ends.
func icuStore(t *testing.T) *pgstore.Store {
	ctx := context.Background()
	u, err := url.Parse(dsn(t))
	if err != nil || u.Scheme == "" {
		t.Skip("GIFTKIT_PG_DSN is not a URL")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "giftkit_icu_" + hex.EncodeToString(b[:])
	conn := rawConn(t, "public")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en'"); err != nil {
		t.Skipf("the server cannot create a database with an ICU collation: %v", err)
	}
	u.Path = "/" + name
	s, err := pgstore.Open(ctx, u.String())
	if err == nil {
		err = s.Migrate(ctx)
	}
	t.Cleanup(func() {
		if s != nil {
			s.Close()
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testActivityOrder(t *testing.T, s *pgstore.Store) {
	ctx := context.Background()
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []activity.Record
	for i, id := range []string{"b", "B", "a", "é", "e", "z", "Z", "a b", "a-b", "ab", "ä", "日本", "~", "card_10", "card_9"} {
		for _, subject := range []activity.Subject{activity.Card(id), activity.Account(id, giftkit.EUR), activity.Account(id, giftkit.USD)} {
			// Times a nanosecond apart, in an order unrelated to the subjects'.
			recs := chain(subject, 2, giftkit.Client("pos"), at.Add(time.Duration((i*7)%5)*time.Nanosecond))
			all = append(all, recs...)
		}
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.AppendActivity(all) }); err != nil {
		t.Fatal(err)
	}
	for _, order := range []activity.Order{activity.BySubject, activity.ByTime} {
		want := slices.Clone(all)
		slices.SortFunc(want, func(a, b activity.Record) int {
			ca, cb := activity.CursorOf(a, order), activity.CursorOf(b, order)
			switch {
			case order.Less(ca, cb):
				return -1
			case order.Less(cb, ca):
				return 1
			}
			return 0
		})
		for _, limit := range []int{1, 7, 1000} {
			var got []activity.Record
			q := activity.Query{Order: order}
			for {
				var page []activity.Record
				if err := s.Update(ctx, func(tx *pgstore.Tx) (err error) {
					page, err = tx.Activity(q, limit)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				got = append(got, page...)
				if len(page) < limit {
					break
				}
				q.After = activity.CursorOf(page[len(page)-1], order)
			}
			if len(got) != len(want) {
				t.Fatalf("order %d, pages of %d: %d records; want %d", order, limit, len(got), len(want))
			}
			for i := range want {
				if got[i].Subject != want[i].Subject || got[i].Seq != want[i].Seq {
					t.Fatalf("order %d, pages of %d: record %d is %s/%d; want %s/%d", order, limit, i,
						got[i].Subject, got[i].Seq, want[i].Subject, want[i].Seq)
				}
			}
		}
	}
	// Bounds beyond the range of int64 nanoseconds select all or nothing.
	for _, tc := range []struct {
		q    activity.Query
		want int
	}{
		{activity.Query{From: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)}, len(all)},
		{activity.Query{To: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, len(all)},
		{activity.Query{From: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, 0},
		{activity.Query{To: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)}, 0},
		{activity.Query{Order: activity.ByTime, After: activity.Cursor{At: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), Subject: activity.Card("zz")}}, len(all)},
		{activity.Query{Order: activity.ByTime, After: activity.Cursor{At: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}}, 0},
		{activity.Query{From: at.Add(2 * time.Nanosecond), To: at.Add(3 * time.Nanosecond)}, 3 * 3}, // the first records of 3 IDs' 3 subjects
	} {
		var got []activity.Record
		if err := s.Update(ctx, func(tx *pgstore.Tx) (err error) {
			got, err = tx.Activity(tc.q, 1000)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("Activity(%+v) = %d records; want %d", tc.q, len(got), tc.want)
		}
	}
	// A record dated where int64 nanoseconds do not reach is refused.
	far := chain(activity.Card("far"), 1, giftkit.Actor{}, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.AppendActivity(far) }); !errors.Is(err, pgstore.ErrConflict) {
		t.Errorf("a record dated 2300: %v; want ErrConflict", err)
	}
}

// TestFinalCard: the trigger that keeps redeemed and voided cards final
// lets a clawback record what it took back and move the card's head, and
// nothing else: a redeemed card still cannot be redeemed again, revived,
// or change value or owner, through the store or behind its back.
func TestFinalCard(t *testing.T) {
	ctx := context.Background()
	s, schema, drop := openSchema(t, "")
	defer drop()
	env := storetest.NewEnv(t, s, 3)
	card, code := env.Issue(t, eurs("30.00"), "issue")
	if _, err := env.Wallet.Redeem(ctx, "alice", code.String(), "redeem"); err != nil {
		t.Fatal(err)
	}
	ana := giftkit.WithReason(giftkit.WithActor(ctx, giftkit.Operator("ana")), "chargeback 77")
	cb, err := env.Wallet.Clawback(ana, card.ID, eurs("10.00"), "claw")
	if err != nil || cb.Recovered != eurs("10.00") {
		t.Fatalf("Clawback = %+v, %v; want 10.00 recovered", cb, err)
	}
	var redeemed giftcard.Card
	if err := s.Update(ctx, func(tx *pgstore.Tx) (err error) {
		redeemed, _, err = tx.CardByID(card.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if redeemed.State != giftcard.StateRedeemed || redeemed.ClawedBack != eurs("10.00") || redeemed.Head.Seq != 3 || redeemed.RedeemedBy != "alice" {
		t.Fatalf("after the clawback: %+v; want redeemed by alice, 10.00 clawed back, head at record 3", redeemed)
	}
	storetest.CheckActivity(t, s)

	// A second redemption, by the service: refused by the domain.
	if _, err := env.Wallet.Redeem(ctx, "bob", code.String(), "redeem-bob"); !errors.Is(err, giftcard.ErrAlreadyRedeemed) {
		t.Errorf("a second redemption: %v; want ErrAlreadyRedeemed", err)
	}
	// Through the store, as a unit that forgot the rules would: refused by
	// the database.
	revived := redeemed
	revived.State, revived.RedeemedBy, revived.RedeemedAt = giftcard.StateActive, "", time.Time{}
	rebought := redeemed
	rebought.RedeemedBy, rebought.RedeemedAt = "bob", redeemed.RedeemedAt.Add(time.Hour)
	revalued := redeemed
	revalued.Value = eurs("300.00")
	reclassed := redeemed
	reclassed.Class = giftkit.ClassRefund
	for name, c := range map[string]giftcard.Card{"revived": revived, "redeemed by bob": rebought, "revalued": revalued, "reclassed": reclassed} {
		err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.PutCard(c) })
		if !errors.Is(err, pgstore.ErrConflict) {
			t.Errorf("PutCard of the redeemed card %s: %v; want ErrConflict", name, err)
		}
		// Read first, as the services do: the store then updates what
		// changed, which the database refuses just the same.
		err = s.Update(ctx, func(tx *pgstore.Tx) error {
			if _, _, err := tx.CardByID(c.ID); err != nil {
				return err
			}
			return tx.PutCard(c)
		})
		if !errors.Is(err, pgstore.ErrConflict) {
			t.Errorf("PutCard of the redeemed card %s, read first: %v; want ErrConflict", name, err)
		}
	}
	// Behind the store's back: refused as well, but for what a clawback
	// changes.
	conn := rawConn(t, schema)
	for _, sql := range []string{
		"UPDATE giftkit_cards SET state = 'active', redeemed_by = NULL, redeemed_at = NULL",
		"UPDATE giftkit_cards SET redeemed_by = 'bob'",
		"UPDATE giftkit_cards SET redeemed_at = redeemed_at + interval '1 second'",
		"UPDATE giftkit_cards SET value = value + 1",
		"UPDATE giftkit_cards SET expires_at = now()",
		"UPDATE giftkit_cards SET class = 3",
		"UPDATE giftkit_cards SET state = 'voided'",
	} {
		if _, err := conn.Exec(ctx, sql); err == nil {
			t.Errorf("%s on a redeemed card: succeeded; want it refused", sql)
		}
	}
	if _, err := conn.Exec(ctx, "UPDATE giftkit_cards SET clawed_back = clawed_back + 1, updated_at = now(), head_seq = head_seq"); err != nil {
		t.Errorf("a clawback's columns on a redeemed card: %v; want them changed", err)
	}
	if _, err := conn.Exec(ctx, "UPDATE giftkit_cards SET clawed_back = clawed_back - 1"); err != nil {
		t.Fatal(err)
	}

	// A clawback of all that is left, then a voided card: final too.
	if _, err := env.Wallet.Clawback(ana, card.ID, giftkit.Money{}, "claw-rest"); err != nil {
		t.Errorf("Clawback of the rest: %v", err)
	}
	other, _ := env.Issue(t, eurs("5.00"), "issue-2")
	if _, err := env.Cards.Void(ana, other.ID, "void"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "UPDATE giftkit_cards SET state = 'active' WHERE id = $1", other.ID); err == nil {
		t.Error("reviving a voided card: succeeded; want it refused")
	}
	storetest.CheckActivity(t, s)
}

// TestMigrateFromVersion4: rows written before the activity log read as
// they were, with the new fields' defaults: cards purchased, nothing
// clawed back, no activity head; lots purchased.
func TestMigrateFromVersion4(t *testing.T) {
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_v4_" + hex.EncodeToString(b[:])
	conn := rawConn(t, "public")
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema+"; SET search_path TO "+schema); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE giftkit_schema_migrations (
		version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for v, name := range []string{"0001_init.sql", "0002_attempt_logs.sql", "0003_account_state.sql", "0004_card_hash_fixed.sql"} {
		sql, err := os.ReadFile(filepath.Join("migrations", name))
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
		INSERT INTO giftkit_cards (id, hash, suffix, currency, minor_units, value, state, batch_id, issued_at, redeemed_by, redeemed_at, updated_at)
		VALUES ('card-old', decode(repeat('ab', 32), 'hex'), 'AB12', 'EUR', 2, 2500, 'redeemed', 'b', '2024-01-01Z', 'alice', '2024-02-01Z', '2024-02-01Z');
		INSERT INTO giftkit_accounts (owner, currency, minor_units, balance, held, next_seq, lots, holds, updated_at)
		VALUES ('alice', 'EUR', 2, 2500, 0, 2,
			'[{"id": "lot-1", "source": "card-old", "remaining": 2500, "reserved": 0, "expires_at": "0001-01-01T00:00:00Z", "created_at": "2024-02-01T00:00:00Z"}]',
			'[]', '2024-02-01Z');
		INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at)
		VALUES ('alice', 'EUR', 1, 'credit', 2500, 0, 2500, 2500, 'card-old', 'k', '2024-02-01Z');`).ReadAll(); err != nil {
		t.Fatal(err)
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
	if card.Class != giftkit.ClassPurchased || card.ClawedBack != (giftkit.Money{}) || card.Head != (activity.Head{}) || card.State != giftcard.StateRedeemed {
		t.Errorf("the old card reads as %+v; want a redeemed purchased card, nothing clawed back, no head", card)
	}
	if lots := acct.Lots(); len(lots) != 1 || lots[0].Class != giftkit.ClassPurchased || acct.Head() != (activity.Head{}) || acct.Balance() != eurs("25.00") {
		t.Errorf("the old account reads as %+v, head %v; want one purchased lot of 25.00, no head", lots, acct.Head())
	}
	// The old card's value can be clawed back from the old account; both
	// start their chains there.
	env := storetest.NewEnv(t, s, 4)
	ana := giftkit.WithReason(giftkit.WithActor(ctx, giftkit.Operator("ana")), "refunded")
	if cb, err := env.Wallet.Clawback(ana, "card-old", giftkit.Money{}, "claw"); err != nil || cb.Recovered != eurs("25.00") {
		t.Errorf("Clawback of the old card = %+v, %v; want 25.00 recovered", cb, err)
	}
	var recs []activity.Record
	if err := s.Update(ctx, func(tx *pgstore.Tx) (err error) {
		recs, err = tx.Activity(activity.Query{}, 10)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Seq != 1 || recs[1].Seq != 1 || recs[0].Kind != activity.KindClawback {
		t.Errorf("the clawback's records: %+v; want the card's and the account's first", recs)
	}
}

// TestTimesKeepNanoseconds: cards and accounts read back with the
// nanoseconds of their times, which timestamptz does not keep, as their
// activity records' snapshots have them: whether written by PutCard, by
// InsertCards or with an account.
func TestTimesKeepNanoseconds(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	at := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	card := giftcard.Card{ID: "c1", Suffix: "ABCD", Value: eurs("5.00"), State: giftcard.StateRedeemed, BatchID: "b",
		IssuedAt: at, ActivatedAt: at.Add(1), ExpiresAt: at.Add(999), RedeemedBy: "alice", RedeemedAt: at.Add(1000),
		UpdatedAt: at.Add(-1), Class: giftkit.ClassPromotional}
	card.Hash[0] = 1
	bulk := card
	bulk.ID, bulk.Hash[0], bulk.ClawedBack = "c2", 2, giftkit.Zero(giftkit.EUR)
	var acct wallet.Account
	err := s.Update(ctx, func(tx *pgstore.Tx) error {
		if _, err := tx.InsertCards([]giftcard.Card{bulk}); err != nil {
			return err
		}
		var err error
		acct, err = wallet.UpdateAccount(tx, wallet.Change{Owner: "alice", Currency: giftkit.EUR, Cause: activity.Cause{At: at.Add(7)}},
			func(a wallet.Account) (wallet.Account, []wallet.Entry, error) {
				a, e, err := a.Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: eurs("5.00"), ExpiresAt: at.Add(3)}, "k", at.Add(7))
				return a, []wallet.Entry{e}, err
			})
		if err != nil {
			return err
		}
		return tx.PutCard(card)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error {
		for _, want := range []giftcard.Card{card, bulk} {
			got, _, err := tx.CardByID(want.ID)
			if err != nil {
				return err
			}
			for i, pair := range [][2]time.Time{{got.IssuedAt, want.IssuedAt}, {got.ActivatedAt, want.ActivatedAt},
				{got.ExpiresAt, want.ExpiresAt}, {got.RedeemedAt, want.RedeemedAt}, {got.UpdatedAt, want.UpdatedAt}} {
				if !pair[0].Equal(pair[1]) {
					t.Errorf("card %s, time %d: %v; want %v", want.ID, i, pair[0], pair[1])
				}
			}
			if got.ClawedBack != want.ClawedBack || got.Class != want.Class {
				t.Errorf("card %s: clawed back %#v, class %v; want %#v, %v", want.ID, got.ClawedBack, got.Class, want.ClawedBack, want.Class)
			}
		}
		got, _, err := tx.Account("alice", giftkit.EUR)
		if err != nil {
			return err
		}
		if !got.UpdatedAt().Equal(acct.UpdatedAt()) || !got.UpdatedAt().Equal(at.Add(7)) || got.Head() != acct.Head() || got.Head().Seq != 1 {
			t.Errorf("account: updated %v, head %v; want %v, %v", got.UpdatedAt(), got.Head(), acct.UpdatedAt(), acct.Head())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestActivityConcurrentAppends: units of work that extend one chain at
// once, each from the head it read without a lock (which the services
// never do: they hold the card's or account's row), collide on the
// primary key; Update runs the loser again from the new head, and the chain
// ends whole, without gaps or repeats.
func TestActivityConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	s, _, drop := openSchema(t, "", pgstore.WithRetries(200))
	defer drop()
	subject := activity.Account("shared", giftkit.EUR)
	const workers, each = 8, 5
	var wg sync.WaitGroup
	var attempts atomic.Int64
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- s.Update(ctx, func(tx *pgstore.Tx) error {
					attempts.Add(1)
					recs, err := tx.Activity(activity.Query{Subject: subject}, 1000)
					if err != nil {
						return err
					}
					var head activity.Head
					if len(recs) > 0 {
						last := recs[len(recs)-1]
						head = activity.Head{Seq: last.Seq, Digest: last.Digest}
					}
					zero := giftkit.Zero(giftkit.EUR)
					r, _ := activity.Cause{Actor: giftkit.Client(fmt.Sprint("w", w)), At: time.Unix(1_700_000_000, int64(w*each+i))}.Seal(head,
						activity.Record{Subject: subject, Kind: activity.KindAdjust, Amount: zero, Held: zero, Before: zero, After: zero})
					return tx.AppendActivity([]activity.Record{r})
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a concurrent append: %v", err)
		}
	}
	var recs []activity.Record
	if err := s.Update(ctx, func(tx *pgstore.Tx) (err error) {
		recs, err = tx.Activity(activity.Query{Subject: subject}, 1000)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != workers*each {
		t.Fatalf("the chain has %d records; want %d", len(recs), workers*each)
	}
	t.Logf("%d appends took %d attempts", workers*each, attempts.Load())
	last := recs[len(recs)-1]
	if err := activity.Verify(subject, recs, activity.Head{Seq: last.Seq, Digest: last.Digest}); err != nil {
		t.Error(err)
	}
}
