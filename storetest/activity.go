package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// sampleRecords returns two sealed chains: card-1's two records and
// alice's account's one, with every field set (a reason in UTF-8, times in
// another zone and with nanoseconds), in the order they were made.
func sampleRecords() []activity.Record {
	paris := time.FixedZone("CET", 3600)
	at := epoch.In(paris).Add(123456789 * time.Nanosecond)
	cause := activity.Cause{Actor: giftkit.Operator("ana"), Reason: "carte signalée volée, ticket 4411", Key: "k1", At: at}
	var card, acct activity.Head
	var out [3]activity.Record
	out[0], card = cause.Seal(card, activity.Record{Subject: activity.Card("card-1"), Kind: activity.KindIssue,
		Reference: "batch-1", Amount: money("25.00"), Held: money("0"), Before: money("0"), After: money("25.00"),
		Snapshot: []byte{1, 2, 3}})
	out[1], _ = activity.Cause{Actor: giftkit.Shopper("alice"), Key: "k2", At: at.Add(time.Second)}.Seal(acct,
		activity.Record{Subject: activity.Account("alice", eur), Kind: activity.KindCredit, Reference: "card-1",
			Amount: money("25.00"), Held: money("0"), Before: money("0"), After: money("25.00"), Snapshot: []byte("account")})
	out[2], _ = activity.Cause{Actor: giftkit.Shopper("alice"), Key: "k2", At: at.Add(time.Second)}.Seal(card,
		activity.Record{Subject: activity.Card("card-1"), Kind: activity.KindRedeem, Reference: "alice",
			Amount: money("-25.00"), Held: money("0"), Before: money("25.00"), After: money("0")})
	return out[:]
}

func testActivity[T wallet.Tx](t *testing.T, s giftkit.Store[T]) {
	recs := sampleRecords()
	update(t, s, func(tx T) error { return tx.AppendActivity(recs[:1]) })
	update(t, s, func(tx T) error {
		if err := tx.AppendActivity(recs[1:]); err != nil {
			return err
		}
		// A unit of work reads its own records.
		got, err := tx.Activity(activity.Query{Subject: recs[2].Subject}, 10)
		if err != nil || len(got) != 2 {
			return fmt.Errorf("activity in the writing unit: %d records, %v; want 2", len(got), err)
		}
		return nil
	})
	// What was appended must not alias the caller's memory.
	recs[0].Snapshot[0] = 99
	recs[0].Snapshot[0] = 1
	card, acct := recs[0].Subject, recs[1].Subject
	bySubject := []activity.Record{recs[0], recs[2], recs[1]} // cards sort before accounts
	byTime := []activity.Record{recs[0], recs[2], recs[1]}    // card-1 sorts before alice's account at one instant
	for _, tc := range []struct {
		name string
		q    activity.Query
		want []activity.Record
	}{
		{"all", activity.Query{}, bySubject},
		{"by time", activity.Query{Order: activity.ByTime}, byTime},
		{"card", activity.Query{Subject: card}, []activity.Record{recs[0], recs[2]}},
		{"account", activity.Query{Subject: acct}, recs[1:2]},
		{"cards", activity.Query{Kind: activity.SubjectCard}, []activity.Record{recs[0], recs[2]}},
		{"accounts", activity.Query{Kind: activity.SubjectAccount, Order: activity.ByTime}, recs[1:2]},
		{"operator", activity.Query{Actor: giftkit.Operator("ana")}, recs[:1]},
		{"shopper", activity.Query{Actor: giftkit.Shopper("alice"), Order: activity.ByTime}, byTime[1:]},
		{"other actor", activity.Query{Actor: giftkit.Operator("bob")}, nil},
		{"from", activity.Query{From: recs[1].At, Order: activity.ByTime}, byTime[1:]},
		{"to", activity.Query{To: recs[1].At}, recs[:1]},
		{"after card's first", activity.Query{Subject: card, After: activity.CursorOf(recs[0], activity.BySubject)}, recs[2:3]},
		{"after the cards", activity.Query{After: activity.CursorOf(recs[2], activity.BySubject)}, recs[1:2]},
		{"after the first by time", activity.Query{Order: activity.ByTime, After: activity.CursorOf(recs[0], activity.ByTime)}, byTime[1:]},
	} {
		for _, limit := range []int{1, 2, 10} {
			got := readAll(t, s, tc.q, limit)
			if diff := cmp.Diff(tc.want, got, cmpOpts); diff != "" {
				t.Errorf("%s, pages of %d: mismatch (-want +got):\n%s", tc.name, limit, diff)
			}
		}
	}
	if err := activity.Verify(card, readAll(t, s, activity.Query{Subject: card}, 10), activity.Head{Seq: 2, Digest: recs[2].Digest}); err != nil {
		t.Errorf("the stored chain of %s does not verify: %v", card, err)
	}
	// A record out of sequence, or a second record 1, is refused and the
	// unit rolls back.
	for name, r := range map[string]activity.Record{"a second record 2": recs[2], "record 4 after 2": func() activity.Record {
		r := recs[2]
		r.Seq = 4
		return r
	}()} {
		err := s.Update(context.Background(), func(tx T) error {
			if err := tx.AppendActivity([]activity.Record{r}); err != nil {
				return err
			}
			return nil
		})
		if err == nil {
			t.Errorf("%s: AppendActivity succeeded; want an error", name)
		}
	}
	rollback := errors.New("rollback")
	err := s.Update(context.Background(), func(tx T) error {
		next, _ := activity.Cause{At: epoch}.Seal(activity.Head{Seq: 2, Digest: recs[2].Digest},
			activity.Record{Subject: card, Kind: activity.KindVoid, Amount: money("0"), Held: money("0"), Before: money("0"), After: money("0")})
		if err := tx.AppendActivity([]activity.Record{next}); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("Update = %v; want the callback's error", err)
	}
	if got := readAll(t, s, activity.Query{Subject: card}, 10); len(got) != 2 {
		t.Errorf("after a rolled-back append, %s has %d records; want 2", card, len(got))
	}
}

// readAll reads every record q selects, limit at a time, following the
// cursor of each page's last record.
func readAll[T activity.Tx](t *testing.T, s giftkit.Store[T], q activity.Query, limit int) []activity.Record {
	t.Helper()
	var out []activity.Record
	for page := 0; ; page++ {
		var got []activity.Record
		update(t, s, func(tx T) (err error) {
			got, err = tx.Activity(q, limit)
			return err
		})
		out = append(out, got...)
		if len(got) < limit {
			return out
		}
		if page > 1000 {
			t.Fatalf("Activity(%+v) does not end", q)
		}
		q.After = activity.CursorOf(got[len(got)-1], q.Order)
	}
}

// CheckActivity fails t unless the store's activity log holds together:
// every card's and account's chain verifies (activity.Verify) and ends at
// the Head the card or account keeps, its last record's snapshot is the
// card or account as stored (and an account that keeps every rule
// wallet.RestoreAccount checks), and an account's records sum to its balance
// and held amount, a card's to its outstanding value. Stores' own tests
// and the harness call it.
func CheckActivity[T wallet.Tx](t TB, s giftkit.Store[T]) {
	t.Helper()
	var records []activity.Record
	q := activity.Query{}
	for {
		var page []activity.Record
		err := s.Update(context.Background(), func(tx T) (err error) {
			page, err = tx.Activity(q, 500)
			return err
		})
		if err != nil {
			t.Fatalf("Activity: %v", err)
		}
		records = append(records, page...)
		if len(page) < 500 {
			break
		}
		q.After = activity.CursorOf(page[len(page)-1], activity.BySubject)
	}
	for start := 0; start < len(records); {
		end := start + 1
		for end < len(records) && records[end].Subject == records[start].Subject {
			end++
		}
		if err := checkChain(s, records[start:end]); err != nil {
			t.Fatalf("activity of %s: %v", records[start].Subject, err)
		}
		start = end
	}
}

func checkChain[T wallet.Tx](s giftkit.Store[T], chain []activity.Record) error {
	subject := chain[0].Subject
	last := chain[len(chain)-1]
	var amount, held int64
	for _, r := range chain {
		amount, held = amount+r.Amount.Minor(), held+r.Held.Minor()
	}
	return s.Update(context.Background(), func(tx T) error {
		switch subject.Kind {
		case activity.SubjectCard:
			card, ok, err := tx.CardByID(subject.ID)
			if err != nil || !ok {
				return fmt.Errorf("card: %v, %v", ok, err)
			}
			if err := activity.Verify(subject, chain, card.Head); err != nil {
				return err
			}
			snap, err := giftcard.CardFromSnapshot(last.Snapshot)
			if err != nil {
				return err
			}
			snap.Head = card.Head
			// The same bytes are the same card (the snapshot has no Head);
			// cmp, much slower, tells what differs when they are not, or
			// when a store gave times another location.
			if !bytes.Equal(card.AppendSnapshot(nil), last.Snapshot) {
				if diff := cmp.Diff(card, snap, cmpOpts); diff != "" {
					return fmt.Errorf("the last snapshot is not the card (-card +snapshot):\n%s", diff)
				}
			}
			if amount != card.Outstanding().Minor() || held != 0 {
				return fmt.Errorf("the records sum to %d (held %d); the card holds %v", amount, held, card.Outstanding())
			}
		case activity.SubjectAccount:
			acct, ok, err := tx.Account(subject.ID, subject.Currency)
			if err != nil || !ok {
				return fmt.Errorf("account: %v, %v", ok, err)
			}
			if err := activity.Verify(subject, chain, acct.Head()); err != nil {
				return err
			}
			snap, err := wallet.StateFromSnapshot(last.Snapshot)
			if err != nil {
				return err
			}
			snap.Head = acct.Head()
			if _, err := wallet.RestoreAccount(snap); err != nil {
				return fmt.Errorf("the account breaks its rules: %w", err)
			}
			if !bytes.Equal(acct.AppendSnapshot(nil), last.Snapshot) {
				if diff := cmp.Diff(acct.State(), snap, cmpOpts); diff != "" {
					return fmt.Errorf("the last snapshot is not the account (-account +snapshot):\n%s", diff)
				}
			}
			if amount != acct.Balance().Minor() || held != acct.Held().Minor() {
				return fmt.Errorf("the records sum to %d, held %d; the account has %v, held %v", amount, held, acct.Balance(), acct.Held())
			}
		}
		return nil
	})
}

// testActivityOfServices drives every kind of change through the services
// and checks the log they leave: each chain verifies and replays to the
// stored state, and records carry the actor and reason of their call.
func testActivityOfServices[T wallet.Tx](t *testing.T, s giftkit.Store[T]) {
	env := NewEnv(t, s, 7)
	shop := giftkit.WithActor(context.Background(), giftkit.Client("pos-1"))
	ana := giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Operator("ana")), "goodwill, ticket 12")
	alice := giftkit.WithActor(context.Background(), giftkit.Shopper("alice"))
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	issued, err := env.Cards.Issue(shop, giftcard.IssueRequest{Value: money("40.00"), Count: 2, Pending: true,
		ExpiresAt: epoch.Add(90 * 24 * time.Hour), Class: giftkit.ClassPromotional}, "issue")
	must("Issue", err)
	c1, c2 := issued.Cards[0], issued.Cards[1]
	for i, step := range []func() error{
		func() error { _, err := env.Cards.Activate(shop, c1.Card.ID, "act-1"); return err },
		func() error { _, err := env.Cards.Activate(shop, c2.Card.ID, "act-2"); return err },
		func() error { _, err := env.Cards.Block(ana, c2.Card.ID, "block"); return err },
		func() error { _, err := env.Cards.Unblock(ana, c2.Card.ID, "unblock"); return err },
		func() error { _, err := env.Cards.Adjust(ana, c1.Card.ID, money("-5.00"), "adj-card"); return err },
		func() error { _, err := env.Wallet.Redeem(alice, "alice", c1.Code.String(), "redeem"); return err },
		func() error {
			_, err := env.Wallet.Adjust(ana, "alice", money("3.00"), "ticket-12", "adj-up")
			return err
		},
		func() error {
			_, err := env.Wallet.Hold(alice, "alice", wallet.HoldRequest{Amount: money("10.00"), Reference: "order-1", ExpiresAt: epoch.Add(30 * 24 * time.Hour)}, "hold")
			return err
		},
		func() error {
			_, err := env.Wallet.Debit(alice, "alice", money("20.00"), "order-2", "debit")
			return err
		},
		func() error {
			_, err := env.Wallet.Refund(shop, "alice", money("1.00"), "order-2", "refund")
			return err
		},
		func() error {
			_, err := env.Wallet.Adjust(ana, "alice", money("-1.00"), "ticket-13", "adj-down")
			return err
		},
		func() error {
			cb, err := env.Wallet.Clawback(ana, c1.Card.ID, giftkit.Money{}, "claw-1")
			if err == nil && (cb.Recovered.IsZero() || cb.Voided) {
				err = fmt.Errorf("clawback of a redeemed card = %+v; want money recovered from alice", cb)
			}
			return err
		},
		func() error { _, err := env.Wallet.Clawback(ana, c2.Card.ID, money("15.00"), "claw-2"); return err },
		func() error { _, err := env.Cards.Void(ana, c2.Card.ID, "void"); return err },
		func() error {
			env.Clock.Advance(100 * 24 * time.Hour)
			_, err := env.Wallet.Balance(alice, "alice", eur)
			return err
		},
	} {
		must(fmt.Sprintf("step %d", i), step())
		CheckActivity(t, s)
	}
	ops := readAll(t, s, activity.Query{Actor: giftkit.Operator("ana"), Order: activity.ByTime}, 100)
	if len(ops) != 9 {
		t.Errorf("the operator's records: %d; want 9 (block, unblock, card adjust, two account adjusts, two clawbacks' card and account records, void)", len(ops))
	}
	for _, r := range ops {
		if r.Reason != "goodwill, ticket 12" {
			t.Errorf("%s record %d: reason %q", r.Subject, r.Seq, r.Reason)
		}
	}
	sweeps := readAll(t, s, activity.Query{Actor: giftkit.System("sweep")}, 100)
	if len(sweeps) != 1 || sweeps[0].Kind != activity.KindExpiry || sweeps[0].Key != "" {
		t.Errorf("the sweep's records = %+v; want one expiry without a key", sweeps)
	}
	// A call whose context carries an invalid actor, or a clawback without
	// an operator, changes nothing.
	bad := giftkit.WithActor(context.Background(), giftkit.Actor{Kind: giftkit.ActorOperator})
	before := readAll(t, s, activity.Query{}, 100)
	if _, err := env.Wallet.Refund(bad, "alice", money("1.00"), "x", "bad-1"); !errors.Is(err, giftkit.ErrInvalid) {
		t.Errorf("Refund with an actor without ID = %v; want ErrInvalid", err)
	}
	if _, err := env.Wallet.Clawback(alice, c2.Card.ID, giftkit.Money{}, "bad-2"); !errors.Is(err, activity.ErrInvalidActor) {
		t.Errorf("Clawback by a shopper = %v; want ErrInvalidActor", err)
	}
	if after := readAll(t, s, activity.Query{}, 100); len(after) != len(before) {
		t.Errorf("refused calls wrote %d records", len(after)-len(before))
	}
}
