package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/sqlitestore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

// chain returns n sealed records of subject, from its first, a second
// apart from at.
func chain(subject activity.Subject, n int, at time.Time) []activity.Record {
	var head activity.Head
	out := make([]activity.Record, n)
	zero := giftkit.Zero(eur)
	for i := range out {
		cause := activity.Cause{Actor: giftkit.Operator("ana"), Reason: "test", Key: fmt.Sprint("k", i), At: at.Add(time.Duration(i) * time.Second)}
		out[i], head = cause.Seal(head, activity.Record{Subject: subject, Kind: activity.KindAdjust, Amount: zero, Held: zero,
			Before: zero, After: zero, Snapshot: []byte{byte(i)}})
	}
	return out
}

// records reads every record q selects, through a View.
func records(t *testing.T, s *sqlitestore.Store, q activity.Query) []activity.Record {
	t.Helper()
	var out []activity.Record
	if err := s.View(context.Background(), func(tx *sqlitestore.Tx) (err error) {
		out, err = tx.Activity(q, 1<<20)
		return err
	}); err != nil {
		t.Fatalf("Activity(%+v): %v", q, err)
	}
	return out
}

var recordOpts = cmp.Options{cmpTimes, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b giftkit.Currency) bool { return a == b })}

// The database itself refuses to change or remove an activity record (or
// a journal entry: the migration that rebuilt the journal made its
// triggers again), whoever connects to the file.
func TestActivityAppendOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "giftkit.db")
	s := openAt(t, path)
	card := chain(activity.Card("c1"), 2, epoch)
	acct := chain(activity.Account("alice", eur), 1, epoch)
	a, e, _ := wallet.NewAccount("alice", eur).Credit(wallet.CreditSpec{Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(100, eur)}, "k", epoch)
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
		if err := tx.SaveAccount(a, []wallet.Entry{e}); err != nil {
			return err
		}
		return tx.AppendActivity(append(append([]activity.Record(nil), card...), acct...))
	}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct{ stmt, want string }{
		{"UPDATE giftkit_activity SET actor_id = 'mallory'", "activity records are never changed"},
		{"UPDATE giftkit_activity SET record = x'00' WHERE subject_id = 'c1' AND seq = 2", "activity records are never changed"},
		{"UPDATE giftkit_activity SET seq = 3 WHERE subject_id = 'c1' AND seq = 2", "activity records are never changed"},
		{"DELETE FROM giftkit_activity", "activity records are never removed"},
		{"DELETE FROM giftkit_activity WHERE subject_id = 'c1' AND seq = 2", "activity records are never removed"},
		{"INSERT OR REPLACE INTO giftkit_activity SELECT * FROM giftkit_activity", "activity records are never replaced"},
		{"REPLACE INTO giftkit_activity (subject_kind, subject_id, currency, seq, at_ns, actor_kind, actor_id, record) " +
			"VALUES (1, 'c1', '', 2, 0, 'unattributed', '', x'00')", "activity records are never replaced"},
		{"INSERT OR REPLACE INTO giftkit_entries SELECT * FROM giftkit_entries", "journal entries are never replaced"},
		{"UPDATE giftkit_entries SET amount = 1", "journal entries are never changed"},
		{"DELETE FROM giftkit_entries", "journal entries are never removed"},
	} {
		if _, err := db.ExecContext(ctx, tc.stmt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s = %v; want %q", tc.stmt, err, tc.want)
		}
	}
	got := records(t, s, activity.Query{})
	if diff := cmp.Diff(append(card, acct...), got, recordOpts); diff != "" {
		t.Errorf("the records changed (-appended +stored):\n%s", diff)
	}
	if err := activity.Verify(activity.Card("c1"), got[:2], activity.Head{Seq: 2, Digest: card[1].Digest}); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestActivityErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c1 := chain(activity.Card("c1"), 3, epoch)
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.AppendActivity(c1[:1]) }); err != nil {
		t.Fatal(err)
	}
	with := func(r activity.Record, change func(*activity.Record)) activity.Record {
		change(&r)
		return r
	}
	for name, batch := range map[string][]activity.Record{
		"a second record 1":               c1[:1],
		"record 3 after 1":                c1[2:3],
		"record 2 twice":                  {c1[1], c1[1]},
		"record 2 of a new subject":       chain(activity.Card("c2"), 2, epoch)[1:],
		"a record without a time":         {with(c1[1], func(r *activity.Record) { r.At = time.Time{} })},
		"a record after 2262":             {with(c1[1], func(r *activity.Record) { r.At = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) })},
		"a card's record with a currency": {with(c1[0], func(r *activity.Record) { r.Subject.Currency = eur })},
		"an account's without a currency": {with(chain(activity.Account("bob", eur), 1, epoch)[0], func(r *activity.Record) { r.Subject.Currency = giftkit.Currency{} })},
		"a subject of no kind":            {{Subject: activity.Subject{ID: "x"}, Seq: 1, At: epoch}},
		"an actor of an unknown kind":     {with(c1[1], func(r *activity.Record) { r.Actor.Kind = 9 })},
		"an actor of a kind without ID":   {with(c1[1], func(r *activity.Record) { r.Actor.ID = "" })},
	} {
		err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.AppendActivity(batch) })
		wantErr(t, name, err, sqlitestore.ErrConflict)
	}

	// A batch is appended whole or not at all, even by a unit of work that
	// goes on after it failed.
	other := chain(activity.Card("c3"), 2, epoch)
	var appendErr error
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error {
		appendErr = tx.AppendActivity([]activity.Record{c1[1], other[0], other[1], c1[1]})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a batch with a record twice", appendErr, sqlitestore.ErrConflict)
	if got := records(t, s, activity.Query{}); len(got) != 1 {
		t.Errorf("after a failed batch, %d records; want the 1 before it", len(got))
	}

	// Reads go through a View; writes do not.
	if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
		wantErr(t, "AppendActivity in a View", tx.AppendActivity(c1[1:2]), sqlitestore.ErrReadOnly)
		got, err := tx.Activity(activity.Query{Subject: activity.Card("c1")}, 10)
		if err != nil || len(got) != 1 {
			t.Errorf("Activity in a View = %d records, %v", len(got), err)
		}
		if got, err := tx.Activity(activity.Query{}, 0); err != nil || got != nil {
			t.Errorf("Activity(limit 0) = %v, %v; want nothing", got, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var leaked *sqlitestore.Tx
	_ = s.Update(ctx, func(tx *sqlitestore.Tx) error { leaked = tx; return nil })
	_, err := leaked.Activity(activity.Query{}, 10)
	wantErr(t, "Activity after the unit of work", err, sqlitestore.ErrTxDone)
	wantErr(t, "AppendActivity after the unit of work", leaked.AppendActivity(c1[1:2]), sqlitestore.ErrTxDone)

	// The records after the failures are the next ones, and bounds of time
	// beyond the years the table holds select all or none.
	if err := s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.AppendActivity(c1[1:]) }); err != nil {
		t.Fatalf("records 2 and 3: %v", err)
	}
	far, early := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		q    activity.Query
		want int
	}{
		{activity.Query{From: early, To: far}, 3},
		{activity.Query{From: far}, 0},
		{activity.Query{To: early}, 0},
		{activity.Query{From: c1[1].At.In(time.FixedZone("X", -7200)), Order: activity.ByTime}, 2},
		{activity.Query{Order: activity.ByTime, After: activity.Cursor{At: early, Subject: activity.Card("zzz"), Seq: 9}}, 3},
		{activity.Query{Order: activity.ByTime, After: activity.Cursor{At: far}}, 0},
	} {
		if got := records(t, s, tc.q); len(got) != tc.want {
			t.Errorf("Activity(%+v) = %d records; want %d", tc.q, len(got), tc.want)
		}
	}
}

// An issuance of the largest batch appends its records, one per card, in
// its one unit of work.
func TestActivityOfALargeIssuance(t *testing.T) {
	s := newStore(t)
	env := storetest.NewEnv(t, s, 3)
	start := time.Now()
	batch, err := env.Cards.Issue(context.Background(), giftcard.IssueRequest{Value: giftkit.FromMinor(1000, eur), Count: giftcard.MaxBatch}, "big")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cards and their records issued in %v", len(batch.Cards), time.Since(start))
	start = time.Now()
	got := records(t, s, activity.Query{Kind: activity.SubjectCard, Order: activity.ByTime})
	t.Logf("read back in %v", time.Since(start))
	if len(got) != giftcard.MaxBatch {
		t.Fatalf("%d records; want %d", len(got), giftcard.MaxBatch)
	}
	for i, r := range got {
		if r.Kind != activity.KindIssue || r.Seq != 1 || (i > 0 && r.Subject.ID <= got[i-1].Subject.ID) {
			t.Fatalf("record %d: %s %d %v, after %s", i, r.Subject, r.Seq, r.Kind, got[max(i-1, 0)].Subject)
		}
	}
}

// Redeemed and voided cards are final, but for a clawback of a redeemed
// card: it adds to ClawedBack and moves UpdatedAt and the head, and
// nothing else of the card changes.
func TestFinalCards(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	redeemed := card("r", 1)
	redeemed.State, redeemed.RedeemedBy, redeemed.RedeemedAt = giftcard.StateRedeemed, "alice", epoch
	voided := card("v", 2)
	voided.State = giftcard.StateVoided
	put := func(c giftcard.Card) error {
		return s.Update(ctx, func(tx *sqlitestore.Tx) error { return tx.PutCard(c) })
	}
	for _, c := range []giftcard.Card{redeemed, voided} {
		if err := put(c); err != nil {
			t.Fatal(err)
		}
	}
	clawback := func(c giftcard.Card, minor int64) giftcard.Card {
		c.ClawedBack = giftkit.FromMinor(minor, eur)
		c.UpdatedAt = c.UpdatedAt.Add(time.Hour)
		c.Head = activity.Head{Seq: c.Head.Seq + 1, Digest: activity.Digest{byte(minor)}}
		return c
	}
	with := func(c giftcard.Card, change func(*giftcard.Card)) giftcard.Card {
		change(&c)
		return c
	}
	refused := func(cases map[string]giftcard.Card) {
		t.Helper()
		for name, c := range cases {
			wantErr(t, name, put(c), sqlitestore.ErrConflict)
		}
	}
	first := clawback(redeemed, 500)
	if err := put(first); err != nil {
		t.Fatalf("a clawback of a redeemed card: %v", err)
	}
	// A clawback (more clawed back) that changes anything else.
	more := clawback(first, 600)
	refused(map[string]giftcard.Card{
		"clawback that changes class":  with(more, func(c *giftcard.Card) { c.Class = giftkit.ClassPromotional }),
		"clawback that changes owner":  with(more, func(c *giftcard.Card) { c.RedeemedBy = "mallory" }),
		"clawback that changes time":   with(more, func(c *giftcard.Card) { c.RedeemedAt = epoch.Add(1) }),
		"clawback that changes value":  with(more, func(c *giftcard.Card) { c.Value = giftkit.FromMinor(3000, eur) }),
		"clawback that changes expiry": with(more, func(c *giftcard.Card) { c.ExpiresAt = epoch.Add(time.Hour) }),
		"clawback that changes batch":  with(more, func(c *giftcard.Card) { c.BatchID = "other" }),
		"clawback that unredeems": with(more, func(c *giftcard.Card) {
			c.State, c.RedeemedBy, c.RedeemedAt = giftcard.StateActive, "", time.Time{}
		}),
		"clawed back in another currency": with(more, func(c *giftcard.Card) { c.ClawedBack = giftkit.FromMinor(600, giftkit.USD) }),
		"more clawed back than the value": clawback(first, 2501),
		"clawback of a voided card":       clawback(voided, 100),
		"a voided card's head moves":      with(voided, func(c *giftcard.Card) { c.Head.Seq++ }),
		"a voided card unvoided":          with(voided, func(c *giftcard.Card) { c.State = giftcard.StateActive }),
		"a card of no class":              with(card("n", 3), func(c *giftcard.Card) { c.Class = 0 }),
		"a card of an unknown class":      with(card("n", 3), func(c *giftcard.Card) { c.Class = 9 }),
	})
	second := clawback(first, 2500)
	if err := put(second); err != nil {
		t.Fatalf("a clawback of the rest of a redeemed card: %v", err)
	}
	// What is clawed back never shrinks, and a change of anything else
	// needs a clawback.
	refused(map[string]giftcard.Card{
		"no more clawed back":   with(second, func(c *giftcard.Card) { c.Head.Seq++ }),
		"the same card again":   second,
		"less clawed back":      clawback(second, 2000),
		"clawed back forgotten": with(second, func(c *giftcard.Card) { c.ClawedBack = giftkit.Money{} }),
	})
	if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
		for _, want := range []giftcard.Card{second, voided} {
			got, _, err := tx.CardByID(want.ID)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got, cmpTimes); diff != "" {
				t.Errorf("card %s (-want +got):\n%s", want.ID, diff)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A database that version 1 of the schema made, with cards, an account
// and its journal, migrates to the current version when it is opened: its
// rows read as before (cards and lots of the purchased class, nothing
// clawed back, no chain of records started), the journal is whole, and
// the services go on with them, an operator's adjustments and a clawback
// included.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "giftkit.db")
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ns := func(t time.Time) int64 { return t.UnixNano() }
	issued := epoch.Add(-48 * time.Hour)
	for _, stmt := range []string{
		// What Open of version 1 did.
		`CREATE TABLE giftkit_schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`,
		string(v1),
		`INSERT INTO giftkit_schema_migrations (version, applied_at) VALUES (1, 0)`,
		// Its rows: an active card, a redeemed one in alice's account.
		fmt.Sprintf(`INSERT INTO giftkit_cards (id, hash, suffix, currency, minor_units, value, state, batch_id, issued_at,
			activated_at, expires_at, redeemed_by, redeemed_at, updated_at) VALUES
			('active', x'%[3]s01', 'AB12', 'EUR', 2, 4000, 'active', 'b1', %[1]d, %[1]d, NULL, NULL, NULL, %[1]d),
			('redeemed', x'%[3]s02', 'CD34', 'EUR', 2, 2500, 'redeemed', 'b1', %[1]d, %[1]d, NULL, 'alice', %[2]d, %[2]d)`,
			ns(issued), ns(issued.Add(time.Hour)), strings.Repeat("00", 31)),
		fmt.Sprintf(`INSERT INTO giftkit_accounts (owner, currency, minor_units, balance, held, next_seq, lots, holds, updated_at)
			VALUES ('alice', 'EUR', 2, 2500, 0, 2, '[{"id":"lot-1","source":"redeemed","remaining":2500,"reserved":0,"created_at":%[1]d}]',
			'[]', %[1]d)`, ns(issued.Add(time.Hour))),
		fmt.Sprintf(`INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at)
			VALUES ('alice', 'EUR', 1, 'credit', 2500, 0, 2500, 2500, 'redeemed', 'redeem-1', %d)`, ns(issued.Add(time.Hour))),
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%.60s: %v", stmt, err)
		}
	}
	_ = db.Close()

	s := openAt(t, path)
	oldEntries := []wallet.Entry{{Owner: "alice", Currency: eur, Seq: 1, Kind: wallet.EntryCredit, Amount: giftkit.FromMinor(2500, eur),
		Held: giftkit.Zero(eur), BalanceAfter: giftkit.FromMinor(2500, eur), AvailableAfter: giftkit.FromMinor(2500, eur),
		Reference: "redeemed", Key: "redeem-1", At: issued.Add(time.Hour)}}
	if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
		for _, id := range []string{"active", "redeemed"} {
			c, ok, err := tx.CardByID(id)
			if err != nil || !ok {
				return fmt.Errorf("CardByID(%s) = %v, %v", id, ok, err)
			}
			if c.Class != giftkit.ClassPurchased || c.ClawedBack != (giftkit.Money{}) || c.Head != (activity.Head{}) {
				t.Errorf("card %s: class %v, clawed back %#v, head %+v; want purchased, zero, zero", id, c.Class, c.ClawedBack, c.Head)
			}
		}
		a, ok, err := tx.Account("alice", eur)
		if err != nil || !ok {
			return fmt.Errorf("Account = %v, %v", ok, err)
		}
		if lots := a.Lots(); len(lots) != 1 || lots[0].Class != giftkit.ClassPurchased || a.Head() != (activity.Head{}) ||
			a.Balance() != giftkit.FromMinor(2500, eur) {
			t.Errorf("account: lots %+v, head %+v, balance %v", lots, a.Head(), a.Balance())
		}
		entries, err := tx.Entries("alice", eur, 0, 10)
		if diff := cmp.Diff(oldEntries, entries, recordOpts); diff != "" {
			t.Errorf("the journal (-version 1 +now):\n%s", diff)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	env := storetest.NewEnv(t, s, 5)
	ana := giftkit.WithReason(giftkit.WithActor(ctx, giftkit.Operator("ana")), "purchase refunded, ticket 9")
	cb, err := env.Wallet.Clawback(ana, "redeemed", giftkit.FromMinor(1000, eur), "claw-1")
	if err != nil || cb.Recovered != giftkit.FromMinor(1000, eur) || cb.Owner != "alice" {
		t.Fatalf("Clawback of a card redeemed under version 1 = %+v, %v", cb, err)
	}
	if _, err := env.Cards.Adjust(ana, "active", giftkit.FromMinor(-500, eur), "adj-card"); err != nil {
		t.Fatalf("Adjust of a card issued under version 1: %v", err)
	}
	if _, err := env.Wallet.Adjust(ana, "alice", giftkit.FromMinor(300, eur), "ticket-9", "adj-up"); err != nil {
		t.Fatalf("Adjust of an account made under version 1: %v", err)
	}
	if err := s.View(ctx, func(tx *sqlitestore.Tx) error {
		entries, err := tx.Entries("alice", eur, 0, 10)
		if err != nil {
			return err
		}
		var kinds []string
		for _, e := range entries {
			kinds = append(kinds, e.Kind.String())
		}
		if got := strings.Join(kinds, " "); got != "credit clawback adjustment" {
			t.Errorf("alice's journal: %s; want credit clawback adjustment", got)
		}
		a, _, err := tx.Account("alice", eur)
		if err != nil {
			return err
		}
		if a.Balance() != giftkit.FromMinor(1800, eur) {
			t.Errorf("alice's balance %v; want 18.00 EUR", a.Balance())
		}
		red, _, err := tx.CardByID("redeemed")
		if err != nil {
			return err
		}
		if red.State != giftcard.StateRedeemed || red.ClawedBack != giftkit.FromMinor(1000, eur) || red.Head.Seq != 1 {
			t.Errorf("the redeemed card after the clawback: %v, clawed back %v, head %d", red.State, red.ClawedBack, red.Head.Seq)
		}
		active, _, err := tx.CardByID("active")
		if err != nil {
			return err
		}
		for _, chain := range []struct {
			subject activity.Subject
			head    activity.Head
		}{{activity.Card("redeemed"), red.Head}, {activity.Card("active"), active.Head}, {activity.Account("alice", eur), a.Head()}} {
			recs, err := tx.Activity(activity.Query{Subject: chain.subject}, 10)
			if err != nil {
				return err
			}
			if err := activity.Verify(chain.subject, recs, chain.head); err != nil || len(recs) == 0 {
				t.Errorf("the chain of %s (%d records) started after the upgrade: %v", chain.subject, len(recs), err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx *sqlitestore.Tx) error {
		red, _, err := tx.CardByID("redeemed")
		if err != nil {
			return err
		}
		red.RedeemedBy = "mallory"
		return tx.PutCard(red)
	})
	wantErr(t, "a card redeemed under version 1 redeemed again", err, sqlitestore.ErrConflict)

	// Opened again, it is not migrated twice.
	s.Close()
	s = openAt(t, path)
	if got := records(t, s, activity.Query{Actor: giftkit.Operator("ana")}); len(got) != 4 {
		t.Errorf("the operator's records after a reopen: %d; want 4 (clawback of card and account, two adjustments)", len(got))
	}
	db, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var versions string
	if err := db.QueryRowContext(ctx, "SELECT group_concat(version, ' ') FROM giftkit_schema_migrations").Scan(&versions); err != nil || versions != "1 2 3 4" {
		t.Errorf("the migrations applied: %q, %v; want 1 2 3 4", versions, err)
	}
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	rows, err := db.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Error("foreign_key_check reports a violation")
	}
	_ = rows.Close()
}
