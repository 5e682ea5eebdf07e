package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
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
	"github.com/giftkit/giftkit/internal/benchcpu"
	"github.com/giftkit/giftkit/ledger"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/wallet"
)

// The benchmarks measure transactions per second against one database with
// 1, 4 and 16 concurrent workers, each beside the minimal SQL that does the
// same work: one data-modifying statement per operation, in autocommit,
// with no library logic at all, writing what the library writes (a
// redemption: the card's update with its activity head and its times'
// nanoseconds, the account's upsert with its head, the journal entry, the
// card's and the account's activity records and their two outbox events,
// and the idempotency record; a payment the balance covers: the account's
// debit with its head, its two entries, its activity record, the payment,
// three outbox events (the account's, the payment's authorisation and
// capture) and the record). The activity records and the events' payloads
// are bytes of the size of the library's, each record the next of its
// subject's chain, which the database checks as it does the library's
// (the primary key, and the foreign key to the record before). The
// minimal SQL sends no NOTIFY; the library sends one after its commits,
// outside the units of work, at most one at a time and one every 10 ms
// (see the package doc), and that is counted in its figures. The ratio
// library/minimal (raw) is what the library's generality, checks and
// recoverability cost. A third figure, rawlocked, is the minimal SQL in
// the library's shape: BEGIN and the reads that lock the rows in one round
// trip, the same statement and COMMIT in a second; rawlocked/raw is what
// that shape costs by itself, the most any library built on it could
// reach. Each worker has its own account, so the figures measure
// throughput, not lock waits. Beside tx/s, each benchmark reports
// the CPU time an operation took in the benchmark's process
// (client-µs/op: the library, pgx and Go's runtime) and, when the server
// runs on the same Linux machine, in the server's processes
// (server-µs/op; see serverCPU).
//
//	scripts/postgres-test bash -c 'cd pgstore && go test -run ^$ -bench . -benchtime 2000x'

var workerCounts = []int{1, 4, 16}

// runWorkers runs b.N operations spread over the workers and reports tx/s,
// and the CPU time each operation took in this process (client-µs/op) and,
// when the server runs on this machine and its processes can be read, in
// the server (server-µs/op: see serverCPU).
func runWorkers(b *testing.B, workers int, op func(worker, i int) error) {
	b.Helper()
	server := serverCPU(b)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	serverStart, clientStart := server(), clientCPU()
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
	if clientStart >= 0 {
		b.ReportMetric(float64((clientCPU()-clientStart).Microseconds())/float64(b.N), "client-µs/op")
	}
	if serverStart >= 0 {
		b.ReportMetric(float64((server()-serverStart).Microseconds())/float64(b.N), "server-µs/op")
	}
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
		for v, redeem := range []func(*pgxpool.Pool, string, issuedCard) error{rawRedeem, rawRedeemLocked} {
			b.Run(fmt.Sprintf("%s/workers=%d", rawVariants[v], workers), func(b *testing.B) {
				s, schema, drop := openSchema(b, "")
				defer drop()
				codes := issueForBench(b, s, b.N)
				pool := rawPool(b, schema)
				defer pool.Close()
				runWorkers(b, workers, func(w, i int) error { return redeem(pool, fmt.Sprint("w", w), codes[i]) })
			})
		}
	}
}

// The activity records the ceilings write: bytes of the sizes of the
// library's records in these benchmarks (its binary form of a card's
// redemption, 314 bytes; of the account's credit, 234; of a payment's
// debit, 183), and a head digest in place of the SHA-256 the library
// computes.
var (
	benchCardRecord    = benchBytes(314)
	benchAccountRecord = benchBytes(234)
	benchPayRecord     = benchBytes(183)
	benchDigest        = benchBytes(32)
)

// The events the ceilings write: payloads of the sizes of the library's
// (a card's redemption, 282 bytes; the account's credit, 338; a payment's
// debit of the account, 322; the payment's authorisation and capture, 503
// each), and an ID of the length of the library's.
var (
	benchRedeemedPayload = benchBytes(282)
	benchCreditedPayload = benchBytes(338)
	benchCapturedPayload = benchBytes(322)
	benchPaymentPayload  = benchBytes(503)
	benchEventID         = "evt_0123456789abcdef0123456789abcdef"
	benchEventColumns    = `event_id, type, version, aggregate_kind, aggregate_id, currency, minor_units, seq, actor_kind, actor_id, at_ns, payload`
)

func benchBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*131 + 7)
	}
	return b
}

// rawRedeem is the minimal SQL of a redemption: one statement. It writes
// what the library writes: the card, redeemed, with its head and its times'
// nanoseconds; the account, credited, with its head; the journal entry; the
// card's and the account's activity records, each the next of its chain
// (the primary key and the foreign key to the record before check it, as
// for the library), and their events; and the idempotency record.
// clientCPU returns the CPU time this process has used, every thread's
// (the collector's included); -1 if it cannot be read.
func clientCPU() time.Duration {
	if t, ok := benchcpu.ProcessTime(); ok {
		return t
	}
	return -1
}

// rawVariants names the minimal SQL's two shapes: raw, one statement in
// autocommit; rawlocked, the library's shape (BEGIN and the locking reads,
// then the write and COMMIT), with no library code.
var rawVariants = [...]string{"raw", "rawlocked"}

func rawRedeem(pool *pgxpool.Pool, owner string, c issuedCard) error {
	tag, err := pool.Exec(context.Background(), rawRedeemSQL, rawRedeemArgs(owner, c)...)
	if err == nil && tag.RowsAffected() != 1 {
		err = fmt.Errorf("card %s not redeemed", c.code)
	}
	return err
}

// rawRedeemSQL is rawRedeem's statement, with the parameters of
// rawRedeemArgs.
var rawRedeemSQL = `WITH card AS (
			UPDATE giftkit_cards SET state = 'redeemed', redeemed_by = $1, redeemed_at = $3, redeemed_at_ns = $5,
				updated_at = $3, updated_at_ns = $5, head_seq = head_seq + 1, head_digest = $7
			WHERE hash = $2 AND state = 'active' RETURNING id, value, head_seq),
		acct AS (
			INSERT INTO giftkit_accounts (owner, currency, minor_units, balance, held, next_seq, lots, holds, updated_at,
				updated_at_ns, head_seq, head_digest)
			SELECT $1, 'EUR', 2, value, 0, 2, '[]', '[]', $3, $5, 1, $7 FROM card
			ON CONFLICT (owner, currency) DO UPDATE SET balance = giftkit_accounts.balance + excluded.balance,
				next_seq = giftkit_accounts.next_seq + 1, updated_at = excluded.updated_at,
				updated_at_ns = excluded.updated_at_ns, head_seq = giftkit_accounts.head_seq + 1,
				head_digest = excluded.head_digest
			RETURNING balance, next_seq - 1 AS seq, head_seq),
		entry AS (
			INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at)
			SELECT $1, 'EUR', acct.seq, 'credit', card.value, 0, acct.balance, acct.balance, card.id, $4, $3 FROM card, acct),
		activity AS (
			INSERT INTO giftkit_activity (subject_kind, subject_id, currency, seq, at_ns, actor_kind, actor_id, record)
			SELECT 1, card.id, '', card.head_seq, $6::bigint, 0, '', $8::bytea FROM card
			UNION ALL SELECT 2, $1, 'EUR', acct.head_seq, $6::bigint, 0, '', $9::bytea FROM acct),
		events AS (
			INSERT INTO giftkit_outbox (` + benchEventColumns + `)
			SELECT $10, 'account.credited', 1, 2, $1, 'EUR', 2, acct.head_seq, 0, '', $6::bigint, $11::bytea FROM acct
			UNION ALL SELECT $10, 'card.redeemed', 1, 1, card.id, '', 0, card.head_seq, 0, '', $6::bigint, $12::bytea FROM card)
		INSERT INTO giftkit_idempotency (scope, key, fingerprint, outcome, created_at)
		SELECT 'wallet/' || $1, $4, 'f', '\x01'::bytea, $3 FROM card`

func rawRedeemArgs(owner string, c issuedCard) []any {
	now := time.Now()
	ns := int16(now.Nanosecond() % 1000)
	return []any{owner, c.hash[:], now, c.code, ns, now.UnixNano(), benchDigest, benchCardRecord, benchAccountRecord,
		benchEventID, benchCreditedPayload, benchRedeemedPayload}
}

// rawRedeemLocked is the minimal SQL of a redemption in the library's
// shape: BEGIN and the reads that lock (the idempotency record, the card,
// the account) in one round trip, rawRedeem's statement and COMMIT in
// another; no library logic at all. Its ratio to rawRedeem is what two
// round trips and the locking reads cost, whatever the library does.
func rawRedeemLocked(pool *pgxpool.Pool, owner string, c issuedCard) error {
	return lockedThen(pool, []string{
		`SELECT fingerprint, outcome, created_at FROM giftkit_idempotency WHERE scope = $1 AND key = $2 FOR UPDATE`,
		`SELECT id, state, value, head_seq, head_digest FROM giftkit_cards WHERE hash = $1 FOR UPDATE`,
		`SELECT next_seq, balance, lots, holds, head_seq FROM giftkit_accounts WHERE owner = $1 FOR UPDATE`,
	}, [][]any{{"wallet/" + owner, c.code}, {c.hash[:]}, {owner}}, rawRedeemSQL, rawRedeemArgs(owner, c))
}

// lockedThen runs, on one connection, BEGIN and reads in one round trip,
// then write and COMMIT in another.
func lockedThen(pool *pgxpool.Pool, reads []string, readArgs [][]any, write string, writeArgs []any) error {
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	for i, sql := range reads {
		b.Queue(sql, readArgs[i]...)
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	b = &pgx.Batch{}
	b.Queue(write, writeArgs...)
	b.Queue("COMMIT")
	return conn.SendBatch(ctx, b).Close()
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
		for v, pay := range []func(*pgxpool.Pool, string, string) error{rawCheckout, rawCheckoutLocked} {
			b.Run(fmt.Sprintf("%s/workers=%d", rawVariants[v], workers), func(b *testing.B) {
				s, schema, drop := openSchema(b, "")
				defer drop()
				_, accounts := services(b, s)
				fundWorkers(b, accounts.Refund, workers, b.N)
				pool := rawPool(b, schema)
				defer pool.Close()
				runWorkers(b, workers, func(w, i int) error { return pay(pool, fmt.Sprint("w", w), fmt.Sprint("order-", i)) })
			})
		}
	}
}

func fundWorkers(b *testing.B, refund func(context.Context, string, giftkit.Money, string, string) (wallet.Balance, error), workers, n int) {
	for w := 0; w < workers; w++ {
		if _, err := refund(context.Background(), fmt.Sprint("w", w), giftkit.FromMinor(int64(n)*100+100, giftkit.EUR), "fund", fmt.Sprint("fund-", w)); err != nil {
			b.Fatal(err)
		}
	}
}

// rawCheckout is the minimal SQL of a payment the balance covers: one
// statement that debits the account if it can (with its head and its
// time's nanoseconds), journals the hold and the capture, appends the
// account's activity record, and stores the payment, the three events and
// the record.
func rawCheckout(pool *pgxpool.Pool, owner, id string) error {
	tag, err := pool.Exec(context.Background(), rawCheckoutSQL, rawCheckoutArgs(owner, id)...)
	if err == nil && tag.RowsAffected() != 1 {
		err = fmt.Errorf("payment %s not made", id)
	}
	return err
}

// rawCheckoutSQL is rawCheckout's statement, with the parameters of
// rawCheckoutArgs.
var rawCheckoutSQL = `WITH acct AS (
			UPDATE giftkit_accounts SET balance = balance - 100, next_seq = next_seq + 2, updated_at = $3,
				updated_at_ns = $4, head_seq = head_seq + 1, head_digest = $6
			WHERE owner = $1 AND currency = 'EUR' AND balance - held >= 100
			RETURNING balance, held, next_seq - 2 AS seq, head_seq),
		entries AS (
			INSERT INTO giftkit_entries (owner, currency, seq, kind, amount, held, balance_after, available_after, reference, key, at)
			SELECT $1, 'EUR', seq, 'hold', 0, 100, balance + 100, balance - held, $2, $2, $3 FROM acct
			UNION ALL SELECT $1, 'EUR', seq + 1, 'capture', -100, -100, balance, balance - held, $2, $2, $3 FROM acct),
		activity AS (
			INSERT INTO giftkit_activity (subject_kind, subject_id, currency, seq, at_ns, actor_kind, actor_id, record)
			SELECT 2, $1, 'EUR', head_seq, $5, 0, '', $7 FROM acct),
		payment AS (
			INSERT INTO giftkit_payments (id, owner, currency, total, state, needs_work, data, updated_at)
			SELECT $2, $1, 'EUR', 100, 'captured', false, '{}', $3 FROM acct),
		events AS (
			INSERT INTO giftkit_outbox (` + benchEventColumns + `)
			SELECT $8, 'account.captured', 1, 2, $1, 'EUR', 2, head_seq, 0, '', $5, $9::bytea FROM acct
			UNION ALL SELECT $8, 'payment.authorized', 1, 3, $2, '', 0, 1, 0, '', $5, $10::bytea FROM acct
			UNION ALL SELECT $8, 'payment.captured', 1, 3, $2, '', 0, 2, 0, '', $5, $10::bytea FROM acct)
		INSERT INTO giftkit_idempotency (scope, key, fingerprint, outcome, created_at)
		SELECT 'checkout/' || $2, $2, 'f', '\x01'::bytea, $3 FROM acct`

func rawCheckoutArgs(owner, id string) []any {
	now := time.Now()
	return []any{owner, id, now, int16(now.Nanosecond() % 1000), now.UnixNano(), benchDigest, benchPayRecord,
		benchEventID, benchCapturedPayload, benchPaymentPayload}
}

// rawCheckoutLocked is rawCheckout in the library's shape (see
// rawRedeemLocked): the idempotency record, the payment and the account
// read and locked with BEGIN, then the statement and COMMIT.
func rawCheckoutLocked(pool *pgxpool.Pool, owner, id string) error {
	return lockedThen(pool, []string{
		`SELECT fingerprint, outcome, created_at FROM giftkit_idempotency WHERE scope = $1 AND key = $2 FOR UPDATE`,
		`SELECT data FROM giftkit_payments WHERE id = $1 FOR UPDATE`,
		`SELECT next_seq, balance, lots, holds, head_seq FROM giftkit_accounts WHERE owner = $1 FOR UPDATE`,
	}, [][]any{{"checkout/" + id, id}, {id}, {owner}}, rawCheckoutSQL, rawCheckoutArgs(owner, id))
}

// BenchmarkIssue measures bulk issuance on PostgreSQL: batches of
// giftcard.MaxBatch cards, one unit of work each (one COPY of the cards,
// one of their activity records, one of their events, and the batch's
// idempotency record), issued one after the other (streams=1) or two at
// once (streams=2: a host that issues a campaign's batches from two
// goroutines; each batch is still one unit of work). It reports cards/s
// and the CPU time each card took in this process and in the server.
func BenchmarkIssue(b *testing.B) {
	for _, streams := range []int{1, 2} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			s := newStore(b)
			hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
			cards, err := giftcard.NewService(s, giftcard.Config{Hasher: hasher, Now: func() time.Time { return time.Unix(1e9, 0).UTC() }})
			if err != nil {
				b.Fatal(err)
			}
			value := giftkit.MustParseMoney("25", giftkit.EUR)
			server := serverCPU(b)
			b.ReportAllocs()
			b.ResetTimer()
			serverStart, clientStart := server(), clientCPU()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := int(next.Add(1)) - 1; i < b.N; i = int(next.Add(1)) - 1 {
						if _, err := cards.Issue(context.Background(), giftcard.IssueRequest{Value: value, Count: giftcard.MaxBatch}, fmt.Sprint("batch-", i)); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			n := float64(b.N * giftcard.MaxBatch)
			b.ReportMetric(n/b.Elapsed().Seconds(), "cards/s")
			if clientStart >= 0 {
				b.ReportMetric(float64((clientCPU()-clientStart).Nanoseconds())/1e3/n, "client-µs/card")
			}
			if serverStart >= 0 {
				b.ReportMetric(float64((server()-serverStart).Nanoseconds())/1e3/n, "server-µs/card")
			}
		})
	}
}

// BenchmarkLiability is the liability report over a programme of 10⁶
// cards (GIFTKIT_BENCH_CARDS), one in a hundred redeemed into one of a
// thousand accounts: the whole activity log read in pages of 1,000
// records, in subject order, and each card and account replayed. Building
// the programme takes a minute or more; it is not timed.
//
//	scripts/postgres-test bash -c 'cd pgstore && go test -run ^$ -bench Liability -benchtime 3x -timeout 30m'
func BenchmarkLiability(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("GIFTKIT_BENCH_CARDS")); err == nil && v > 0 {
		n = v
	}
	s := newStore(b)
	cards := issueForBench(b, s, n)
	_, w := services(b, s)
	for i := 0; i < len(cards); i += 100 {
		if _, err := w.Redeem(context.Background(), fmt.Sprint("owner-", i%1000), cards[i].code, fmt.Sprint("r", i)); err != nil {
			b.Fatal(err)
		}
	}
	led, err := ledger.NewService(s)
	if err != nil {
		b.Fatal(err)
	}
	at := time.Now().Add(time.Hour)
	b.ResetTimer()
	for b.Loop() {
		l, err := led.Liability(context.Background(), at)
		if err != nil || len(l.Lines) == 0 {
			b.Fatal(l, err)
		}
	}
	b.ReportMetric(float64(n), "cards")
}
