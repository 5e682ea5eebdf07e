package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/sqlitestore"
	"github.com/giftkit/giftkit/wallet"
)

// The benchmarks measure a redemption and a payment the balance covers,
// one at a time, on a SQLite file, each beside its ceiling: the minimal SQL
// that does the same work in one transaction, with no library logic (a
// redemption: BEGIN IMMEDIATE, the card's update, the account's upsert,
// the journal entry, the card's and the account's activity records and
// their events, the idempotency record, COMMIT; a payment: the account's
// debit, its two entries, its activity record, the payment, the record and
// the events), through
// the same driver on a connection with the same settings. Both insert
// their outbox events with one statement (two events for a redemption,
// the card's and the account's; three for the payment). The ratio
// library/ceiling is what the library's generality, checks and
// recoverability cost. Both synchronous settings: with FULL a commit waits
// for the disk, which dominates both; NORMAL shows the CPU.
//
//	cd sqlitestore && uptime && go test -run '^$' -bench . -benchmem -count 5 | tee bench.txt

var benchSyncs = []struct {
	name   string
	sync   sqlitestore.Sync
	pragma string
}{
	{"full", sqlitestore.SyncFull, "FULL"},
	{"normal", sqlitestore.SyncNormal, "NORMAL"},
}

var benchHashKey = []byte("sqlitestore-bench-hash-key-0123456789")

func benchServices(b *testing.B, s *sqlitestore.Store) (*giftcard.Service, *wallet.Service) {
	hasher, err := giftcard.NewHasher(benchHashKey)
	if err != nil {
		b.Fatal(err)
	}
	cards, err := giftcard.NewService(s, giftcard.Config{Hasher: hasher, Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	w, err := wallet.NewService(s, wallet.Config{Hasher: hasher, Now: time.Now, Limiter: wallet.NewMemoryLimiter(1<<30, time.Hour, time.Second)})
	if err != nil {
		b.Fatal(err)
	}
	return cards, w
}

type benchCard struct {
	code string
	hash giftcard.Hash
}

// benchFile opens a store on a new file, with sync, and issues n cards.
func benchFile(b *testing.B, sync sqlitestore.Sync, n int) (*sqlitestore.Store, string, []benchCard) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "giftkit.db")
	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.WithSync(sync))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	cards, _ := benchServices(b, s)
	hasher, _ := giftcard.NewHasher(benchHashKey)
	var out []benchCard
	for len(out) < n {
		batch, err := cards.Issue(context.Background(), giftcard.IssueRequest{Value: giftkit.FromMinor(100, giftkit.EUR),
			Count: min(n-len(out), giftcard.MaxBatch)}, fmt.Sprint("bench-", len(out)))
		if err != nil {
			b.Fatal(err)
		}
		for _, ic := range batch.Cards {
			out = append(out, benchCard{code: ic.Code.String(), hash: hasher.Hash(ic.Code)})
		}
	}
	return s, path, out
}

// rawConn opens a connection of its own to path with the store's settings,
// and prepares the statements of the ceiling.
type rawConn struct {
	db    *sql.DB
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

func openRaw(b *testing.B, path, sync string) *rawConn {
	b.Helper()
	q := url.Values{"_busy_timeout": {"5000"}, "_foreign_keys": {"1"}, "_synchronous": {sync}, "_journal_mode": {"WAL"}}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}).String())
	if err != nil {
		b.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	r := &rawConn{db: db, conn: conn, stmts: map[string]*sql.Stmt{}}
	b.Cleanup(func() {
		for _, st := range r.stmts {
			_ = st.Close()
		}
		_ = conn.Close()
		_ = db.Close()
	})
	return r
}

func (r *rawConn) stmt(query string) *sql.Stmt {
	st, ok := r.stmts[query]
	if !ok {
		var err error
		if st, err = r.conn.PrepareContext(context.Background(), query); err != nil {
			panic(err)
		}
		r.stmts[query] = st
	}
	return st
}

// tx runs fn between BEGIN IMMEDIATE and COMMIT.
func (r *rawConn) tx(fn func() error) error {
	ctx := context.Background()
	if _, err := r.stmt("BEGIN IMMEDIATE").ExecContext(ctx); err != nil {
		return err
	}
	if err := fn(); err != nil {
		_, _ = r.conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	_, err := r.stmt("COMMIT").ExecContext(ctx)
	return err
}

// benchRecord stands for an activity record's binary form, of about the
// size of a card's.
var benchRecord = make([]byte, 256)

// activity appends the next activity record of a subject, as the head
// that the subject's row keeps says.
func (r *rawConn) activity(kind int, id, currency string, seq, now int64) error {
	_, err := r.stmt(`INSERT INTO giftkit_activity (subject_kind, subject_id, currency, seq, at_ns, actor_kind, actor_id, record)
		VALUES (?, ?, ?, ?, ?, 'unattributed', '', ?)`).Exec(kind, id, currency, seq, now, benchRecord)
	return err
}

// benchPayload stands for an event's payload, of about the size of a
// card's (outbox.FromRecord).
var benchPayload = make([]byte, 300)

// insertEvents is the INSERT of n events whose aggregate, ID, Seq and type
// vary: event_id, type, aggregate_kind, aggregate_id, currency,
// minor_units, seq for each.
func insertEvents(n int) string {
	row := "(?, ?, 1, ?, ?, ?, ?, ?, 'unattributed', '', ?, ?)"
	q := `INSERT INTO giftkit_outbox (event_id, type, version, aggregate_kind, aggregate_id, currency, minor_units, seq,
		actor_kind, actor_id, at_ns, payload) VALUES ` + row
	for range n - 1 {
		q += ", " + row
	}
	return q
}

// rawRedeem is the minimal SQL of a redemption, in one transaction.
func (r *rawConn) redeem(owner string, c benchCard) error {
	return r.tx(func() error {
		now := time.Now().UnixNano()
		var id string
		var value, cardSeq int64
		if err := r.stmt(`UPDATE giftkit_cards SET state = 'redeemed', redeemed_by = ?1, redeemed_at = ?2, updated_at = ?2,
				head_seq = head_seq + 1, head_digest = ?4
			WHERE hash = ?3 AND state = 'active' RETURNING id, value, head_seq`).QueryRow(owner, now, c.hash[:], benchRecord[:32]).Scan(
			&id, &value, &cardSeq); err != nil {
			return fmt.Errorf("card %s: %w", c.code, err)
		}
		var balance, seq, acctSeq int64
		if err := r.stmt(`INSERT INTO giftkit_accounts (owner, currency, minor_units, balance, held, next_seq, lots, holds, updated_at,
				head_seq, head_digest)
			VALUES (?1, 'EUR', 2, ?2, 0, 2, '[]', '[]', ?3, 1, ?4)
			ON CONFLICT (owner, currency) DO UPDATE SET balance = balance + excluded.balance, next_seq = next_seq + 1,
				updated_at = excluded.updated_at, head_seq = head_seq + 1, head_digest = excluded.head_digest
			RETURNING balance, next_seq - 1, head_seq`).QueryRow(owner, value, now, benchRecord[:32]).Scan(&balance, &seq, &acctSeq); err != nil {
			return err
		}
		if _, err := r.stmt(`INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after,
			available_after, reference, key, at) VALUES (?1, 'EUR', ?2, 'credit', ?3, 0, ?4, ?4, ?5, ?6, ?7)`).Exec(
			owner, seq, value, balance, id, c.code, now); err != nil {
			return err
		}
		if err := r.activity(1, id, "", cardSeq, now); err != nil {
			return err
		}
		if err := r.activity(2, owner, "EUR", acctSeq, now); err != nil {
			return err
		}
		if _, err := r.stmt(`INSERT INTO giftkit_idempotency (scope, key, fingerprint, outcome, created_at)
			VALUES ('wallet/' || ?1, ?2, 'f', x'01', ?3)`).Exec(owner, c.code, now); err != nil {
			return err
		}
		_, err := r.stmt(insertEvents(2)).Exec(
			"evt_"+id, "card.redeemed", 1, id, "", 0, cardSeq, now, benchPayload,
			"evt_"+owner+fmt.Sprint(acctSeq), "account.credited", 2, owner, "EUR", 2, acctSeq, now, benchPayload)
		return err
	})
}

// rawPay is the minimal SQL of a payment the balance covers, in one
// transaction: the account's debit if it can, the hold and the capture in
// its journal, the payment and the record.
func (r *rawConn) pay(owner, id string) error {
	return r.tx(func() error {
		now := time.Now().UnixNano()
		var balance, held, seq, acctSeq int64
		if err := r.stmt(`UPDATE giftkit_accounts SET balance = balance - 100, next_seq = next_seq + 2, updated_at = ?2,
				head_seq = head_seq + 1, head_digest = ?3
			WHERE owner = ?1 AND currency = 'EUR' AND balance - held >= 100
			RETURNING balance, held, next_seq - 2, head_seq`).QueryRow(owner, now, benchRecord[:32]).Scan(&balance, &held, &seq, &acctSeq); err != nil {
			return fmt.Errorf("payment %s: %w", id, err)
		}
		if err := r.activity(2, owner, "EUR", acctSeq, now); err != nil {
			return err
		}
		entry := r.stmt(`INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after,
			available_after, reference, key, at) VALUES (?1, 'EUR', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)`)
		if _, err := entry.Exec(owner, seq, "hold", 0, 100, balance+100, balance-held, id, now); err != nil {
			return err
		}
		if _, err := entry.Exec(owner, seq+1, "capture", -100, -100, balance, balance-held, id, now); err != nil {
			return err
		}
		if _, err := r.stmt(`INSERT INTO giftkit_payments (id, owner, currency, total, state, needs_work, data, updated_at)
			VALUES (?1, ?2, 'EUR', 100, 'captured', 0, '{}', ?3)`).Exec(id, owner, now); err != nil {
			return err
		}
		if _, err := r.stmt(`INSERT INTO giftkit_idempotency (scope, key, fingerprint, outcome, created_at)
			VALUES ('checkout/' || ?1, ?1, 'f', x'01', ?2)`).Exec(id, now); err != nil {
			return err
		}
		_, err := r.stmt(insertEvents(3)).Exec(
			"evt_"+owner+fmt.Sprint(acctSeq), "account.captured", 2, owner, "EUR", 2, acctSeq, now, benchPayload,
			"evt_"+id+"1", "payment.authorized", 3, id, "", 0, 1, now, benchPayload,
			"evt_"+id+"2", "payment.captured", 3, id, "", 0, 2, now, benchPayload)
		return err
	})
}

func BenchmarkRedeem(b *testing.B) {
	for _, sync := range benchSyncs {
		b.Run("sync="+sync.name+"/library", func(b *testing.B) {
			s, _, cards := benchFile(b, sync.sync, b.N)
			_, accounts := benchServices(b, s)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := accounts.Redeem(context.Background(), "alice", cards[i].code, cards[i].code); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("sync="+sync.name+"/ceiling", func(b *testing.B) {
			s, path, cards := benchFile(b, sync.sync, b.N)
			s.Close()
			raw := openRaw(b, path, sync.pragma)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := raw.redeem("alice", cards[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBalancePayment(b *testing.B) {
	for _, sync := range benchSyncs {
		b.Run("sync="+sync.name+"/library", func(b *testing.B) {
			s, _, _ := benchFile(b, sync.sync, 0)
			_, accounts := benchServices(b, s)
			if _, err := accounts.Refund(context.Background(), "alice", giftkit.FromMinor(int64(b.N)*100+100, giftkit.EUR), "fund", "fund"); err != nil {
				b.Fatal(err)
			}
			co, err := checkout.NewService(s, processortest.New(), checkout.Config{Now: time.Now})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := fmt.Sprint("order-", i)
				p, err := co.Pay(context.Background(), checkout.PayRequest{PaymentID: id, Owner: "alice",
					Total: giftkit.FromMinor(100, giftkit.EUR), Instrument: "tok"}, id)
				if err != nil || p.State != checkout.StateCaptured || !p.Card.Planned.IsZero() {
					b.Fatalf("Pay: %v, %v", p.State, err)
				}
			}
		})
		b.Run("sync="+sync.name+"/ceiling", func(b *testing.B) {
			s, path, _ := benchFile(b, sync.sync, 0)
			_, accounts := benchServices(b, s)
			if _, err := accounts.Refund(context.Background(), "alice", giftkit.FromMinor(int64(b.N)*100+100, giftkit.EUR), "fund", "fund"); err != nil {
				b.Fatal(err)
			}
			s.Close()
			raw := openRaw(b, path, sync.pragma)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := raw.pay("alice", fmt.Sprint("order-", i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIssueBatch measures an issuance of the largest batch: its
// cards inserted in bulk (giftcard.CardInserter) and one activity record
// each, in one unit of work.
func BenchmarkIssueBatch(b *testing.B) {
	for _, sync := range benchSyncs {
		b.Run("sync="+sync.name, func(b *testing.B) {
			s, _, _ := benchFile(b, sync.sync, 0)
			cards, _ := benchServices(b, s)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := cards.Issue(context.Background(), giftcard.IssueRequest{Value: giftkit.FromMinor(100, giftkit.EUR),
					Count: giftcard.MaxBatch}, fmt.Sprint("batch-", i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*giftcard.MaxBatch), "ns/card")
		})
	}
}
