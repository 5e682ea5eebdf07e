package ledger_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/ledger"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

var eur = giftkit.EUR

func eurs(s string) giftkit.Money { return giftkit.MustParseMoney(s, eur) }

var (
	shop  = giftkit.WithActor(context.Background(), giftkit.Client("shop"))
	staff = giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Operator("ana")), "ticket 7")
)

func shopper(name string) context.Context {
	return giftkit.WithActor(context.Background(), giftkit.Shopper(name))
}

// live is what the services say the business owes at the clock's
// instant: every known card's value while it is owed, every account's
// balance (read, so swept, at that instant), per class.
func live(t *testing.T, env storetest.Env, cards []string, owners []string) map[giftkit.ValueClass]int64 {
	t.Helper()
	out := map[giftkit.ValueClass]int64{}
	now := env.Clock.Now()
	for _, id := range cards {
		c, err := env.Cards.Card(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if (c.State == giftcard.StateActive || c.State == giftcard.StateBlocked) && !c.Expired(now) {
			out[c.Class] += c.Value.Minor()
		}
	}
	for _, o := range owners {
		if _, err := env.Wallet.Balance(context.Background(), o, eur); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// byClass sums a liability's lines per class.
func byClass(l ledger.Liability, cards bool) map[giftkit.ValueClass]int64 {
	out := map[giftkit.ValueClass]int64{}
	for _, line := range l.Lines {
		if cards {
			out[line.Class] += line.Cards.Minor()
		} else {
			out[line.Class] += line.Accounts.Minor()
		}
	}
	for k, v := range out {
		if v == 0 {
			delete(out, k)
		}
	}
	return out
}

// TestLiabilityAtPastInstants runs a history and records, after each step,
// what the live services owe; then the report at each of those instants,
// computed afterwards from the log alone, must give the same figures.
func TestLiabilityAtPastInstants(t *testing.T) {
	store := memstore.New()
	env := storetest.NewEnv(t, store, 3)
	led, err := ledger.NewService(store)
	if err != nil {
		t.Fatal(err)
	}
	type moment struct {
		at              time.Time
		cards, accounts map[giftkit.ValueClass]int64
	}
	var moments []moment
	var cardIDs []string
	owners := []string{"alice", "bob"}
	snapshot := func() {
		env.Clock.Advance(time.Hour)
		cards := live(t, env, cardIDs, owners)
		at := env.Clock.Now()
		accounts := map[giftkit.ValueClass]int64{}
		for _, o := range owners {
			st := accountState(t, store, o)
			for _, l := range st.Lots {
				accounts[l.Class] += l.Remaining.Minor()
			}
		}
		for _, m := range []map[giftkit.ValueClass]int64{cards, accounts} {
			for k, v := range m {
				if v == 0 {
					delete(m, k)
				}
			}
		}
		moments = append(moments, moment{at, cards, accounts})
		env.Clock.Advance(time.Hour) // what follows happens after the moment
	}
	issue := func(value string, class giftkit.ValueClass, pending bool, expires time.Duration, key string) giftcard.IssuedCard {
		req := giftcard.IssueRequest{Value: eurs(value), Class: class, Pending: pending}
		if expires > 0 {
			req.ExpiresAt = env.Clock.Now().Add(expires)
		}
		out, err := env.Cards.Issue(shop, req, key)
		if err != nil {
			t.Fatal(err)
		}
		cardIDs = append(cardIDs, out.Cards[0].Card.ID)
		return out.Cards[0]
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	snapshot()
	sold := issue("50.00", giftkit.ClassPurchased, false, 0, "i1")
	snapshot()
	promo := issue("10.00", giftkit.ClassPromotional, false, 48*time.Hour, "i2")
	physical := issue("30.00", giftkit.ClassPurchased, true, 0, "i3")
	snapshot() // the pending card owes nothing yet
	must(env.Cards.Activate(shop, physical.Card.ID, "a3"))
	snapshot()
	must(env.Wallet.Redeem(shopper("alice"), "alice", sold.Code.String(), "r1"))
	must(env.Wallet.Redeem(shopper("alice"), "alice", promo.Code.String(), "r2"))
	snapshot()
	must(env.Wallet.Debit(shopper("alice"), "alice", eurs("15.00"), "order-1", "d1")) // the promotional credit goes first
	must(env.Wallet.Hold(shopper("alice"), "alice", wallet.HoldRequest{Amount: eurs("5.00"), Reference: "order-2",
		ExpiresAt: env.Clock.Now().Add(24 * time.Hour)}, "h1"))
	snapshot()
	must(env.Wallet.Adjust(staff, "bob", eurs("7.00"), "goodwill", "adj1"))
	must(env.Wallet.Refund(shop, "alice", eurs("2.50"), "order-1", "ref1"))
	snapshot()
	env.Clock.Advance(72 * time.Hour) // the hold lapses and nothing is left of the promotional credit to expire
	snapshot()
	must(env.Cards.Block(staff, physical.Card.ID, "b3"))
	snapshot() // a blocked card is still owed
	must(env.Wallet.Clawback(staff, sold.Card.ID, eurs("50.00"), "c1"))
	must(env.Cards.Void(staff, physical.Card.ID, "v3"))
	snapshot()
	for i, m := range moments {
		l, err := led.Liability(context.Background(), m.at)
		if err != nil {
			t.Fatal(err)
		}
		if got := byClass(l, true); fmt.Sprint(got) != fmt.Sprint(m.cards) {
			t.Errorf("moment %d (%v): cards owed %v; the live services said %v", i, m.at, got, m.cards)
		}
		if got := byClass(l, false); fmt.Sprint(got) != fmt.Sprint(m.accounts) {
			t.Errorf("moment %d (%v): accounts owe %v; the live services said %v", i, m.at, got, m.accounts)
		}
	}
	if breaks, err := led.VerifyAll(context.Background()); err != nil || len(breaks) != 0 {
		t.Errorf("VerifyAll = %v, %v", breaks, err)
	}
	storetest.CheckActivity(t, store)
}

func accountState(t *testing.T, store *memstore.Store, owner string) wallet.AccountState {
	var st wallet.AccountState
	err := store.Update(context.Background(), func(tx *memstore.Tx) error {
		a, _, err := tx.Account(owner, eur)
		st = a.State()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// tampering is a store whose reads of the activity log change one record,
// as someone editing the database by hand would.
type tampering struct {
	*memstore.Store
	change func(*activity.Record)
}

type tamperingTx struct {
	*memstore.Tx
	change func(*activity.Record)
}

func (s tampering) Update(ctx context.Context, fn func(*tamperingTx) error) error {
	return s.Store.Update(ctx, func(tx *memstore.Tx) error { return fn(&tamperingTx{tx, s.change}) })
}

func (tx *tamperingTx) Activity(q activity.Query, limit int) ([]activity.Record, error) {
	recs, err := tx.Tx.Activity(q, limit)
	for i := range recs {
		tx.change(&recs[i])
	}
	return recs, err
}

func TestVerifyFindsTampering(t *testing.T) {
	store := memstore.New()
	env := storetest.NewEnv(t, store, 4)
	card, code := env.Issue(t, eurs("20.00"), "i")
	if _, err := env.Wallet.Redeem(shopper("alice"), "alice", code.String(), "r"); err != nil {
		t.Fatal(err)
	}
	alice := activity.Account("alice", eur)
	for name, change := range map[string]func(*activity.Record){
		"an amount raised": func(r *activity.Record) {
			if r.Subject == alice && r.Seq == 1 {
				r.Amount = eurs("2000.00")
			}
		},
		"a record hidden": func(r *activity.Record) {
			if r.Subject.Kind == activity.SubjectCard && r.Seq == 2 {
				r.Seq = 3
			}
		},
		"an actor rewritten": func(r *activity.Record) {
			if r.Subject.Kind == activity.SubjectCard && r.Seq == 1 {
				r.Actor = giftkit.Operator("mallory")
			}
		},
	} {
		led, err := ledger.NewService(tampering{store, change})
		if err != nil {
			t.Fatal(err)
		}
		breaks, err := led.VerifyAll(context.Background())
		if err != nil || len(breaks) != 1 {
			t.Errorf("%s: VerifyAll = %v, %v; want one break", name, breaks, err)
		}
		subject := alice
		if !strings.Contains(name, "amount") {
			subject = activity.Card(card.ID)
		}
		if err := led.Verify(context.Background(), subject); !errors.Is(err, activity.ErrBroken) {
			t.Errorf("%s: Verify(%s) = %v; want ErrBroken", name, subject, err)
		}
	}
	led, _ := ledger.NewService(store)
	if breaks, err := led.VerifyAll(context.Background()); err != nil || len(breaks) != 0 {
		t.Errorf("the untouched store: VerifyAll = %v, %v", breaks, err)
	}
}

func TestCohortsAddUp(t *testing.T) {
	store := memstore.New()
	env := storetest.NewEnv(t, store, 5)
	led, _ := ledger.NewService(store)
	ctx := context.Background()
	var codes []string
	var ids []string
	for i, v := range []string{"10.00", "20.00", "30.00", "40.00"} {
		out, err := env.Cards.Issue(shop, giftcard.IssueRequest{Value: eurs(v), ExpiresAt: env.Clock.Now().Add(80 * 24 * time.Hour)}, fmt.Sprint("i", i))
		if err != nil {
			t.Fatal(err)
		}
		codes, ids = append(codes, out.Cards[0].Code.String()), append(ids, out.Cards[0].Card.ID)
	}
	if _, err := env.Cards.Issue(shop, giftcard.IssueRequest{Value: eurs("99.00"), Pending: true}, "never-sold"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Wallet.Redeem(shopper("a"), "a", codes[0], "r0"); err != nil { // month 0
		t.Fatal(err)
	}
	env.Clock.Advance(10 * 24 * time.Hour)
	if _, err := env.Wallet.Redeem(shopper("b"), "b", codes[1], "r1"); err != nil { // month 1
		t.Fatal(err)
	}
	if _, err := env.Cards.Adjust(staff, ids[2], eurs("-5.00"), "adj"); err != nil {
		t.Fatal(err)
	}
	at := env.Clock.Now().Add(80 * 24 * time.Hour) // after the cards' expiry, three months after the issue month
	cohorts, err := led.Cohorts(ctx, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(cohorts) != 1 {
		t.Fatalf("cohorts = %+v; want one", cohorts)
	}
	c := cohorts[0]
	if c.Cards != 4 || c.Sold != eurs("100.00") || c.Redeemed != eurs("30.00") || c.Removed != eurs("5.00") ||
		c.Expired != eurs("65.00") || c.Outstanding != eurs("0.00") {
		t.Errorf("cohort = %+v", c)
	}
	if len(c.Curve) != 4 || c.Curve[0].Share != "0.1000" || c.Curve[1].Share != "0.3000" || c.Curve[3].Redeemed != eurs("30.00") {
		t.Errorf("curve = %+v", c.Curve)
	}
	var buf bytes.Buffer
	if err := ledger.WriteCohorts(&buf, cohorts, ledger.CSV); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 5 || rows[0][0] != "currency" || rows[2][11] != "0.3000" {
		t.Errorf("CSV = %v, %v", rows, err)
	}
}

func TestDormancy(t *testing.T) {
	store := memstore.New()
	env := storetest.NewEnv(t, store, 6)
	led, _ := ledger.NewService(store)
	ctx := context.Background()
	_, code := env.Issue(t, eurs("20.00"), "i1")
	untouched, _ := env.Issue(t, eurs("5.00"), "i2")
	if _, err := env.Wallet.Redeem(shopper("alice"), "alice", code.String(), "r"); err != nil {
		t.Fatal(err)
	}
	env.Clock.Advance(400 * 24 * time.Hour)
	since := env.Clock.Now().Add(-365 * 24 * time.Hour)
	if _, err := env.Wallet.Adjust(staff, "alice", eurs("1.00"), "x", "adj"); err != nil { // an operator's change is not the holder's
		t.Fatal(err)
	}
	var got []ledger.Dormant
	if err := led.Dormancy(ctx, since, env.Clock.Now(), func(d ledger.Dormant) error { got = append(got, d); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Subject != activity.Card(untouched.ID) || got[1].Subject != activity.Account("alice", eur) ||
		got[1].Value != eurs("21.00") || got[0].Value != eurs("5.00") {
		t.Errorf("dormant = %+v", got)
	}
	if _, err := env.Wallet.Debit(shopper("alice"), "alice", eurs("1.00"), "o", "d"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := led.WriteDormancy(ctx, &buf, since, env.Clock.Now(), ledger.JSON); err != nil {
		t.Fatal(err)
	}
	var rows []ledger.Dormant
	if err := json.Unmarshal(buf.Bytes(), &rows); err != nil || len(rows) != 1 {
		t.Errorf("after alice spends, dormant = %s (%v); want the card only", buf.Bytes(), err)
	}
}

func TestWriteActivityEscapesFormulas(t *testing.T) {
	store := memstore.New()
	env := storetest.NewEnv(t, store, 8)
	led, _ := ledger.NewService(store)
	ctx := giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Operator("=HYPERLINK(1)")), "+SUM(A1)")
	env.Fund(t, "alice", eurs("10.00"))
	if _, err := env.Wallet.Adjust(ctx, "alice", eurs("-1.00"), "@ref", "k"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := led.WriteActivity(context.Background(), &buf, activity.Query{Actor: giftkit.Operator("=HYPERLINK(1)")}, ledger.CSV); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows = %v, %v", rows, err)
	}
	if r := rows[1]; r[7] != "'=HYPERLINK(1)" || r[8] != "'+SUM(A1)" || r[10] != "'@ref" || r[11] != "-1.00" {
		t.Errorf("row = %q", r)
	}
	buf.Reset()
	if err := led.WriteActivity(context.Background(), &buf, activity.Query{Subject: activity.Account("alice", eur)}, ledger.JSON); err != nil {
		t.Fatal(err)
	}
	var recs []activity.Record
	if err := json.Unmarshal(buf.Bytes(), &recs); err != nil || len(recs) != 2 {
		t.Fatalf("JSON = %s, %v", buf.Bytes(), err)
	}
	if err := activity.Verify(activity.Account("alice", eur), recs, activity.Head{Seq: 2, Digest: recs[1].Digest}); err != nil {
		t.Errorf("records exported as JSON do not verify: %v", err)
	}
}

func TestActivityPages(t *testing.T) {
	store := memstore.New()
	env := storetest.NewEnv(t, store, 9)
	led, _ := ledger.NewService(store)
	for i := range 5 {
		env.Fund(t, fmt.Sprint("owner-", i), eurs("1.00"))
	}
	var all []activity.Record
	q := activity.Query{Order: activity.ByTime}
	for {
		page, err := led.Activity(context.Background(), q, 3)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Records...)
		if !page.More {
			break
		}
		q.After = page.Next
	}
	if len(all) != 15 { // each funding: the card's issue and redeem, the account's credit
		t.Errorf("%d records; want 15", len(all))
	}
	if _, err := led.Activity(context.Background(), activity.Query{Order: 7}, 0); !errors.Is(err, giftkit.ErrInvalid) {
		t.Errorf("an unknown order: %v; want ErrInvalid", err)
	}
}

func TestVerifyUnknownSubject(t *testing.T) {
	led, _ := ledger.NewService(memstore.New())
	for _, s := range []activity.Subject{activity.Card("nope"), activity.Account("nobody", eur)} {
		if err := led.Verify(context.Background(), s); !errors.Is(err, ledger.ErrNotFound) || !errors.Is(err, giftkit.ErrNotFound) {
			t.Errorf("Verify(%s) = %v; want ErrNotFound", s, err)
		}
	}
}

// hiding is a store whose reads of the activity log leave out records.
type hiding struct {
	*memstore.Store
	hide func(activity.Record) bool
}

type hidingTx struct {
	*memstore.Tx
	hide func(activity.Record) bool
}

func (s hiding) Update(ctx context.Context, fn func(*hidingTx) error) error {
	return s.Store.Update(ctx, func(tx *memstore.Tx) error { return fn(&hidingTx{tx, s.hide}) })
}

func (tx *hidingTx) Activity(q activity.Query, limit int) ([]activity.Record, error) {
	recs, err := tx.Tx.Activity(q, limit)
	kept := recs[:0]
	for _, r := range recs {
		if !tx.hide(r) {
			kept = append(kept, r)
		}
	}
	return kept, err
}

// VerifyAll reports a missing tail (found against the head, after the
// chain is read) and a broken chain (found as it is read) in subject order.
func TestVerifyAllOrder(t *testing.T) {
	store := memstore.New()
	env := storetest.NewEnv(t, store, 10)
	card, code := env.Issue(t, eurs("20.00"), "i")
	if _, err := env.Wallet.Redeem(shopper("alice"), "alice", code.String(), "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Wallet.Debit(shopper("alice"), "alice", eurs("1.00"), "o", "d"); err != nil {
		t.Fatal(err)
	}
	led, _ := ledger.NewService(hiding{store, func(r activity.Record) bool {
		return (r.Subject == activity.Card(card.ID) && r.Seq == 2) || (r.Subject.Kind == activity.SubjectAccount && r.Seq == 1)
	}})
	breaks, err := led.VerifyAll(context.Background())
	if err != nil || len(breaks) != 2 || breaks[0].Subject != activity.Card(card.ID) || breaks[1].Subject != activity.Account("alice", eur) {
		t.Fatalf("VerifyAll = %+v, %v; want the card's missing tail, then alice's missing first record", breaks, err)
	}
	if breaks[0].Seq != 2 || breaks[1].Seq != 1 {
		t.Errorf("breaks at %d and %d; want 2 and 1", breaks[0].Seq, breaks[1].Seq)
	}
	// Every record of an account gone: Verify still finds it, by its head.
	led, _ = ledger.NewService(hiding{store, func(r activity.Record) bool { return r.Subject.Kind == activity.SubjectAccount }})
	if err := led.Verify(context.Background(), activity.Account("alice", eur)); !errors.Is(err, activity.ErrBroken) {
		t.Errorf("Verify of an account whose records are all gone = %v; want ErrBroken", err)
	}
}
