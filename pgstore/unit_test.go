package pgstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// fold joins runs of writes into one statement, but for a write whose
// result is checked, a statement that is not a write, a second write of a
// row, and runs longer than foldMax; parameters are renumbered after the
// previous writes'.
func TestFold(t *testing.T) {
	w := func(op, row, sql string, args ...any) pendingWrite {
		return pendingWrite{op: op, row: row, sql: sql, args: args}
	}
	checked := w("checked", "l1", "UPDATE l SET a = $2 WHERE k = $1", 1, 2)
	checked.check = func(pgconn.CommandTag) error { return nil }
	savepoint := pendingWrite{op: "savepoint", sql: "SAVEPOINT s", alone: true}
	log := w("log", "", "INSERT INTO a VALUES ($1)", 7, 8)
	log.sql, log.more = "INSERT INTO a VALUES ($1)", "INSERT INTO e VALUES ($2)"
	var many []pendingWrite
	for range foldMax + 1 {
		many = append(many, w("entry", "", "INSERT INTO n VALUES ($1)", 0))
	}
	for _, c := range []struct {
		name   string
		writes []pendingWrite
		want   []string // the statements queued
		runs   []int    // the writes each carries
	}{
		{"one", []pendingWrite{w("card", "c1", "UPDATE c SET s = $2 WHERE id = $1", "c1", "x")},
			[]string{"UPDATE c SET s = $2 WHERE id = $1"}, []int{1}},
		{"a redemption's shape",
			[]pendingWrite{w("account", "a1", "UPDATE a SET b = $3 WHERE o = $1 AND c = $2", "o", "EUR", 5),
				w("entries", "", "INSERT INTO e VALUES ($1, $2)", 1, 2), log,
				w("card", "c1", "UPDATE c SET s = $2 WHERE id = $1", "c1", "x"),
				w("record", "", "INSERT INTO i VALUES ($1)", "k")},
			[]string{"WITH w1 AS (UPDATE a SET b = $3 WHERE o = $1 AND c = $2), w2 AS (INSERT INTO e VALUES ($4, $5)), " +
				"w3 AS (INSERT INTO a VALUES ($6)), w4 AS (INSERT INTO e VALUES ($7)), w5 AS (UPDATE c SET s = $9 WHERE id = $8) " +
				"INSERT INTO i VALUES ($10)"}, []int{5}},
		{"a log alone", []pendingWrite{log}, []string{"WITH w1 AS (INSERT INTO a VALUES ($1)) INSERT INTO e VALUES ($2)"}, []int{1}},
		{"a row twice", []pendingWrite{w("card", "c1", "UPDATE c SET s = $2 WHERE id = $1", "c1", "x"),
			w("other", "c2", "UPDATE c SET s = $2 WHERE id = $1", "c2", "y"),
			w("card again", "c1", "UPDATE c SET s = $2 WHERE id = $1", "c1", "z")},
			[]string{"WITH w1 AS (UPDATE c SET s = $2 WHERE id = $1) UPDATE c SET s = $4 WHERE id = $3",
				"UPDATE c SET s = $2 WHERE id = $1"}, []int{2, 1}},
		{"checked and alone", []pendingWrite{w("a", "", "INSERT INTO x VALUES ($1)", 1), checked,
			w("b", "", "INSERT INTO x VALUES ($1)", 2), savepoint, w("c", "", "INSERT INTO y VALUES ($1)", 3)},
			[]string{"INSERT INTO x VALUES ($1)", "UPDATE l SET a = $2 WHERE k = $1", "INSERT INTO x VALUES ($1)",
				"SAVEPOINT s", "INSERT INTO y VALUES ($1)"}, []int{1, 1, 1, 1, 1}},
		{"longer than foldMax", many, nil, []int{foldMax, 1}},
	} {
		b := &pgx.Batch{}
		sent := fold(b, c.writes)
		var got []string
		var args int
		for _, q := range b.QueuedQueries {
			got = append(got, q.SQL)
			args += len(q.Arguments)
		}
		var runs []int
		for _, ws := range sent {
			runs = append(runs, len(ws))
		}
		if c.want != nil {
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("%s: statements (-want +got):\n%s", c.name, diff)
			}
		}
		if diff := cmp.Diff(c.runs, runs); diff != "" {
			t.Errorf("%s: writes per statement (-want +got):\n%s", c.name, diff)
		}
		want := 0
		for _, w := range c.writes {
			want += len(w.args)
		}
		if args != want {
			t.Errorf("%s: %d arguments queued; want %d", c.name, args, want)
		}
	}
}

// A folded statement's failure names the write whose table the server
// names, or all of them.
func TestSentWritesOp(t *testing.T) {
	ws := sentWrites{
		{op: "save account", sql: "INSERT INTO giftkit_accounts\n\t(owner) VALUES ($1)"},
		{op: "append activity", sql: "INSERT INTO giftkit_activity (a) VALUES ($1)", more: "INSERT INTO giftkit_outbox (b) VALUES ($2)"},
		{op: "put card", sql: "UPDATE giftkit_cards SET a = $2 WHERE id = $1"},
	}
	for table, want := range map[string]string{
		"giftkit_accounts": "save account", "giftkit_outbox": "append activity", "giftkit_cards": "put card",
		"giftkit_entries": "save account, append activity, put card", "": "save account, append activity, put card",
	} {
		if got := ws.op(&pgconn.PgError{TableName: table}); got != want {
			t.Errorf("op for an error on %q = %q; want %q", table, got, want)
		}
	}
	if got := ws.op(errors.New("lost")); !strings.Contains(got, "put card") {
		t.Errorf("op for a lost connection = %q", got)
	}
	if got := ws[:1].op(&pgconn.PgError{TableName: "giftkit_cards"}); got != "save account" {
		t.Errorf("op of one write = %q; want its own", got)
	}
}

func TestRenumber(t *testing.T) {
	for _, c := range []struct {
		sql    string
		offset int
		want   string
	}{
		{"VALUES ($1, $2::bigint, $10)", 0, "VALUES ($1, $2::bigint, $10)"},
		{"VALUES ($1, $2::bigint, $10)", 7, "VALUES ($8, $9::bigint, $17)"},
		{"WHERE id = $1", 99, "WHERE id = $100"},
		{"no parameters", 3, "no parameters"},
	} {
		if got := renumber(c.sql, c.offset); got != c.want {
			t.Errorf("renumber(%q, %d) = %q; want %q", c.sql, c.offset, got, c.want)
		}
	}
}
