package pgstore_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/storetest"
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
// by a pgx tracer rather than guessed, and ten statements: BEGIN and three
// reads (the idempotency record, the card or the payment, the accounts),
// each sent once; then five writes and COMMIT, the unit's activity records
// and outbox events in one statement (the records' INSERT in a WITH) and a
// payment's two journal entries in one.
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
	if n := counter.statements.Load() - statements; n != 10 {
		t.Errorf("a redemption sent %d statements; want 10", n)
	}
	before, statements = counter.n.Load(), counter.statements.Load()
	p, err := co.Pay(ctx, checkout.PayRequest{PaymentID: "o1", Owner: "alice", Total: eurs("20.00")}, "pay")
	if err != nil || p.State != checkout.StateCaptured {
		t.Fatal(p.State, err)
	}
	if n := counter.n.Load() - before; n != 2 {
		t.Errorf("a payment the balance covers took %d round trips; want 2", n)
	}
	if n := counter.statements.Load() - statements; n != 10 {
		t.Errorf("a payment the balance covers sent %d statements; want 10", n)
	}
	if counter.notifies.Load() == 0 {
		t.Errorf("no NOTIFY traced after the units' commits")
	}
}

func eurs(s string) giftkit.Money { return giftkit.MustParseMoney(s, giftkit.EUR) }
