package sqlitestore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/storetest"
)

// A redemption and a payment the balance covers put their events in the
// outbox with one statement each, whatever the number of events: the
// statements of the hot path are few, and the outbox adds one.
func TestStatementsOfAUnit(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "giftkit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	env := storetest.NewEnv(t, s, 1)
	_, code := env.Issue(t, giftkit.FromMinor(5000, giftkit.EUR), "issue")
	co, err := checkout.NewService(s, processortest.New(), checkout.Config{Now: env.Clock.Now, HoldFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var queries []string
	s.writer.trace = func(q string) { queries = append(queries, q) }
	defer func() { s.writer.trace = nil }()
	for _, tc := range []struct {
		name       string
		call       func() error
		statements int // all of the unit's, but BEGIN and COMMIT; 11 and 10 before the outbox
	}{
		// Into a new account: an UPDATE that finds no row, then an INSERT.
		{"redeem", func() error { _, err := env.Wallet.Redeem(ctx, "alice", code.String(), "redeem"); return err }, 12},
		{"balance payment", func() error {
			_, err := co.Pay(ctx, checkout.PayRequest{PaymentID: "order-1", Owner: "alice", Total: giftkit.FromMinor(1200, giftkit.EUR)}, "pay-1")
			return err
		}, 11},
	} {
		queries = queries[:0]
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		inserts := 0
		for _, q := range queries {
			if strings.HasPrefix(q, "INSERT INTO giftkit_outbox ") {
				inserts++
			}
		}
		if inserts != 1 || len(queries) != tc.statements {
			t.Errorf("%s: %d statements, %d of them inserting events; want %d, 1:\n%s", tc.name, len(queries), inserts, tc.statements,
				strings.Join(queries, "\n"))
		}
	}
}

// The queries of the outbox, of pruning, of due deliveries and of dead
// letters read an index in their order: none has SQLite sort what it selects, or scan a
// whole table.
func TestOutboxQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "giftkit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		query string
		args  []any
		uses  string // what the plan searches
	}{
		{selectEvents, []any{5, 10}, "SEARCH giftkit_outbox USING INTEGER PRIMARY KEY (rowid>?)"},
		{selectPrunable, []any{5, 10}, "SEARCH giftkit_outbox USING INTEGER PRIMARY KEY (rowid<?)"},
		{selectNextKey, []any{"s", "k", 10}, "SEARCH giftkit_idempotency USING PRIMARY KEY ((scope,key)>(?,?))"},
		{deleteOldKeys, []any{"s", "k", "t", "k", false, 0}, "SEARCH giftkit_idempotency USING PRIMARY KEY ((scope,key)>(?,?) AND (scope,key)<(?,?))"},
		{deleteOldKeysToEnd, []any{"s", "k", false, 0}, "SEARCH giftkit_idempotency USING PRIMARY KEY ((scope,key)>(?,?))"},
		{selectDue, []any{0, 10}, "SEARCH giftkit_deliveries USING INDEX giftkit_deliveries_due (<expr><?)"},
		{selectDeadLetter, []any{"c", "evt_x"}, "SEARCH giftkit_dead_letters USING INDEX sqlite_autoindex_giftkit_dead_letters_1 (consumer=? AND event_id=?)"},
		{selectDeadLetters, []any{"c", 5, 10}, "SEARCH giftkit_dead_letters USING INDEX giftkit_dead_letters_by_pos (consumer=? AND pos>?)"},
	} {
		var plan []string
		if err := s.View(ctx, func(tx *Tx) error {
			rows, err := tx.c.query(ctx, "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					return err
				}
				plan = append(plan, detail)
			}
			return rows.Err()
		}); err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if text := strings.Join(plan, "; "); text != tc.uses {
			t.Errorf("%s\n  plan: %s; want %s", tc.query, text, tc.uses)
		}
	}
}
