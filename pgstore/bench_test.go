package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/wallet"
)

// The benchmarks measure transactions per second against one database with
// 1, 4 and 16 concurrent workers, each beside the raw SQL ceiling: the same
// statements, in the same transactions, issued directly with pgx and no
// library logic (no parsing, hashing, JSON outcomes or domain rules). The
// ratio library/raw is the library's own cost. Each worker has its own
// account, so the figures measure throughput, not lock waits.
//
//	scripts/postgres-test bash -c 'cd pgstore && go test -run ^$ -bench . -benchtime 2000x'

var workerCounts = []int{1, 4, 16}

// runWorkers runs b.N operations spread over the workers and reports tx/s.
func runWorkers(b *testing.B, workers int, op func(worker, i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(w, i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tx/s")
}

func rawPool(b *testing.B, schema string) *pgxpool.Pool {
	cfg, err := pgxpool.ParseConfig(dsn(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 32
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return pool
}

type issuedCard struct {
	code string
	hash giftcard.Hash
}

func issueForBench(b *testing.B, s *pgstore.Store, n int) []issuedCard {
	cards, _ := services(b, s)
	hasher, _ := giftcard.NewHasher(hashKey)
	var out []issuedCard
	for len(out) < n {
		batch, err := cards.Issue(context.Background(), giftcard.IssueRequest{Value: giftkit.FromMinor(100, giftkit.EUR), Count: min(n-len(out), giftcard.MaxBatch)}, fmt.Sprint("bench-", len(out)))
		if err != nil {
			b.Fatal(err)
		}
		for _, ic := range batch.Cards {
			out = append(out, issuedCard{code: ic.Code.String(), hash: hasher.Hash(ic.Code)})
		}
	}
	return out
}

func BenchmarkRedeem(b *testing.B) {
	for _, workers := range workerCounts {
		b.Run(fmt.Sprintf("library/workers=%d", workers), func(b *testing.B) {
			s, _, drop := openSchema(b, "")
			defer drop()
			codes := issueForBench(b, s, b.N)
			_, accounts := services(b, s)
			runWorkers(b, workers, func(w, i int) error {
				_, err := accounts.Redeem(context.Background(), fmt.Sprint("w", w), codes[i].code, codes[i].code)
				return err
			})
		})
		b.Run(fmt.Sprintf("raw/workers=%d", workers), func(b *testing.B) {
			s, schema, drop := openSchema(b, "")
			defer drop()
			codes := issueForBench(b, s, b.N)
			pool := rawPool(b, schema)
			defer pool.Close()
			runWorkers(b, workers, func(w, i int) error { return rawRedeem(pool, fmt.Sprint("w", w), codes[i]) })
		})
	}
}

// rawRedeem is a redemption's statements as the library issues them.
func rawRedeem(pool *pgxpool.Pool, owner string, c issuedCard) error {
	ctx := context.Background()
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var ignore any
	err = tx.QueryRow(ctx, `SELECT fingerprint, outcome, created_at FROM giftkit_idempotency WHERE scope = $1 AND key = $2 FOR UPDATE`,
		"wallet/"+owner, c.code).Scan(&ignore, &ignore, &ignore)
	if err != pgx.ErrNoRows {
		return fmt.Errorf("idempotency: %v", err)
	}
	var id, suffix, batchID string
	var value int64
	var issued time.Time
	if err := tx.QueryRow(ctx, `SELECT id, suffix, value, batch_id, issued_at FROM giftkit_cards WHERE hash = $1 FOR UPDATE`,
		c.hash[:]).Scan(&id, &suffix, &value, &batchID, &issued); err != nil {
		return err
	}
	var balance, seq int64 = 0, 1
	err = tx.QueryRow(ctx, `SELECT balance, next_seq FROM giftkit_accounts WHERE owner = $1 AND currency = $2 FOR UPDATE`, owner, "EUR").Scan(&balance, &seq)
	if err != nil && err != pgx.ErrNoRows {
		return err
	}
	now := time.Now()
	if _, err := tx.Exec(ctx, `INSERT INTO giftkit_cards (id, hash, suffix, currency, minor_units, value, state, batch_id, issued_at,
			activated_at, expires_at, redeemed_by, redeemed_at, updated_at)
		VALUES ($1, $2, $3, 'EUR', 2, $4, 'redeemed', $5, $6, $6, NULL, $7, $8, $8)
		ON CONFLICT (id) DO UPDATE SET state = excluded.state, activated_at = excluded.activated_at,
			expires_at = excluded.expires_at, redeemed_by = excluded.redeemed_by,
			redeemed_at = excluded.redeemed_at, updated_at = excluded.updated_at
		WHERE giftkit_cards.hash = excluded.hash`, id, c.hash[:], suffix, value, batchID, issued, owner, now); err != nil {
		return err
	}
	balance += value
	lots, _ := json.Marshal([]map[string]any{{"id": "lot-1", "source": id, "remaining": balance, "reserved": 0}})
	if _, err := tx.Exec(ctx, `INSERT INTO giftkit_accounts (owner, currency, minor_units, balance, held, next_seq, version, lots, holds, updated_at)
		VALUES ($1, 'EUR', 2, $2, 0, $3, $3, $4, '[]', $5)
		ON CONFLICT (owner, currency) DO UPDATE SET balance = excluded.balance, next_seq = excluded.next_seq,
			version = excluded.version, lots = excluded.lots, updated_at = excluded.updated_at`, owner, balance, seq+1, lots, now); err != nil {
		return err
	}
	var batch pgx.Batch
	batch.Queue(`INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at)
		VALUES ($1, 'EUR', $2, 'credit', $3, 0, $4, $4, $5, $6, $7)`, owner, seq, value, balance, id, c.code, now)
	if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO giftkit_idempotency (scope, key, fingerprint, outcome, created_at) VALUES ($1, $2, $3, $4, $5)`,
		"wallet/"+owner, c.code, "f", []byte(`{"result":{}}`), now); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func BenchmarkCheckout(b *testing.B) {
	for _, workers := range workerCounts {
		b.Run(fmt.Sprintf("library/workers=%d", workers), func(b *testing.B) {
			s, _, drop := openSchema(b, "")
			defer drop()
			_, accounts := services(b, s)
			fundWorkers(b, accounts.Refund, workers, b.N)
			co, err := checkout.NewService(s, processortest.New(), checkout.Config{Now: time.Now})
			if err != nil {
				b.Fatal(err)
			}
			runWorkers(b, workers, func(w, i int) error {
				id := fmt.Sprint("order-", i)
				_, err := co.Pay(context.Background(), checkout.PayRequest{PaymentID: id, Owner: fmt.Sprint("w", w),
					Total: giftkit.FromMinor(100, giftkit.EUR), Instrument: "tok"}, id)
				return err
			})
		})
		b.Run(fmt.Sprintf("raw/workers=%d", workers), func(b *testing.B) {
			s, schema, drop := openSchema(b, "")
			defer drop()
			_, accounts := services(b, s)
			fundWorkers(b, accounts.Refund, workers, b.N)
			pool := rawPool(b, schema)
			defer pool.Close()
			runWorkers(b, workers, func(w, i int) error { return rawCheckout(pool, fmt.Sprint("w", w), fmt.Sprint("order-", i)) })
		})
	}
}

func fundWorkers(b *testing.B, refund func(context.Context, string, giftkit.Money, string, string) (wallet.Balance, error), workers, n int) {
	for w := 0; w < workers; w++ {
		if _, err := refund(context.Background(), fmt.Sprint("w", w), giftkit.FromMinor(int64(n)*100+100, giftkit.EUR), "fund", fmt.Sprint("fund-", w)); err != nil {
			b.Fatal(err)
		}
	}
}

// rawPayload is what the library stores for a payment and an account with
// one lot and one hold, encoded once: the raw ceiling sends the same bytes
// without the work of producing them.
var rawPayload = func() (payment, lots, holds []byte) {
	eur := giftkit.FromMinor(100, giftkit.EUR)
	zero := giftkit.Zero(giftkit.EUR)
	t := time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC)
	payment, _ = json.Marshal(checkout.Payment{ID: "order-000000", Owner: "w0", Total: eur, State: checkout.StateCaptured,
		Balance: checkout.Tender{Planned: eur, Authorized: eur, Captured: eur, Refunded: zero},
		Card:    checkout.Tender{Planned: zero, Authorized: zero, Captured: zero, Refunded: zero},
		HoldID:  "pay/order-000000", CaptureWant: eur,
		Keys:      checkout.Keys{Prefix: "giftkit", Pay: "order-000000", Fingerprint: "5f0e8c1d5c3a4b8a9e7d6c5b4a39281706f5e4d3c2b1a0918273645546372819"},
		ExpiresAt: t, CreatedAt: t, UpdatedAt: t})
	lots = []byte(`[{"id":"lot-1","source":"fund","remaining":100100,"reserved":100,"expires_at":"0001-01-01T00:00:00Z","created_at":"2026-12-24T18:00:00Z"}]`)
	holds = []byte(`[{"id":"pay/order-000000","amount":100,"reference":"order-000000","parts":[{"lot_id":"lot-1","amount":100}],"expires_at":"2026-12-31T18:00:00Z","created_at":"2026-12-24T18:00:00Z"}]`)
	return payment, lots, holds
}

// rawCheckout is a payment from the balance as the library issues it: the
// hold, the step to authorised (no card part), and the capture, each in its
// own transaction, with payloads of the library's size.
func rawCheckout(pool *pgxpool.Pool, owner, id string) error {
	paymentJSON, lotsJSON, holdsJSON := rawPayload()
	ctx := context.Background()
	now := time.Now()
	var seq, balance, held int64
	unit := func(fn func(tx pgx.Tx) error) error {
		tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	account := func(tx pgx.Tx) error {
		var lots, holds []byte
		return tx.QueryRow(ctx, `SELECT balance, held, next_seq, lots, holds FROM giftkit_accounts WHERE owner = $1 AND currency = 'EUR' FOR UPDATE`,
			owner).Scan(&balance, &held, &seq, &lots, &holds)
	}
	payment := func(tx pgx.Tx, state string, needsWork bool) error {
		var data []byte
		err := tx.QueryRow(ctx, `SELECT data FROM giftkit_payments WHERE id = $1 FOR UPDATE`, id).Scan(&data)
		if err != nil && err != pgx.ErrNoRows {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO giftkit_payments (id, owner, currency, total, state, needs_work, data, updated_at)
			VALUES ($1, $2, 'EUR', 100, $3, $4, $5, $6)
			ON CONFLICT (id) DO UPDATE SET state = excluded.state, needs_work = excluded.needs_work, data = excluded.data, updated_at = excluded.updated_at`,
			id, owner, state, needsWork, paymentJSON, now)
		return err
	}
	writeAccount := func(tx pgx.Tx, kind string, amount, heldDelta int64) error {
		balance += amount
		held += heldDelta
		if _, err := tx.Exec(ctx, `INSERT INTO giftkit_accounts (owner, currency, minor_units, balance, held, next_seq, version, lots, holds, updated_at)
			VALUES ($1, 'EUR', 2, $2, $3, $4, $4, $5, $6, $7)
			ON CONFLICT (owner, currency) DO UPDATE SET balance = excluded.balance, held = excluded.held, next_seq = excluded.next_seq,
				version = excluded.version, lots = excluded.lots, holds = excluded.holds, updated_at = excluded.updated_at`,
			owner, balance, held, seq+1, lotsJSON, holdsJSON, now); err != nil {
			return err
		}
		var batch pgx.Batch
		batch.Queue(`INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at)
			VALUES ($1, 'EUR', $2, $3, $4, $5, $6, $7, $8, $8, $9)`, owner, seq, kind, amount, heldDelta, balance, balance-held, id, now)
		return tx.SendBatch(ctx, &batch).Close()
	}
	if err := unit(func(tx pgx.Tx) error {
		if err := payment(tx, "pending", true); err != nil {
			return err
		}
		if err := account(tx); err != nil {
			return err
		}
		return writeAccount(tx, "hold", 0, 100)
	}); err != nil {
		return err
	}
	if err := unit(func(tx pgx.Tx) error { return payment(tx, "authorized", true) }); err != nil {
		return err
	}
	return unit(func(tx pgx.Tx) error {
		if err := payment(tx, "captured", false); err != nil {
			return err
		}
		if err := account(tx); err != nil {
			return err
		}
		return writeAccount(tx, "capture", -100, -100)
	})
}

// BenchmarkIssue measures bulk issuance on PostgreSQL: batches of
// giftcard.MaxBatch cards, one unit of work each (a query for taken hashes
// and one COPY). It reports cards/s.
func BenchmarkIssue(b *testing.B) {
	s := newStore(b)
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	cards, err := giftcard.NewService(s, giftcard.Config{Hasher: hasher, Now: func() time.Time { return time.Unix(1e9, 0).UTC() }})
	if err != nil {
		b.Fatal(err)
	}
	value := giftkit.MustParseMoney("25", giftkit.EUR)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := cards.Issue(context.Background(), giftcard.IssueRequest{Value: value, Count: giftcard.MaxBatch}, fmt.Sprint("batch-", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*giftcard.MaxBatch)/b.Elapsed().Seconds(), "cards/s")
}
