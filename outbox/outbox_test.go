package outbox_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/outbox"
)

func TestID(t *testing.T) {
	seen := map[string]string{}
	for _, a := range []outbox.Aggregate{
		{Kind: outbox.AggregateCard, ID: "card_1"},
		{Kind: outbox.AggregatePayment, ID: "card_1"},
		{Kind: outbox.AggregateAccount, ID: "alice", Currency: giftkit.EUR},
		{Kind: outbox.AggregateAccount, ID: "alice", Currency: giftkit.USD},
		{Kind: outbox.AggregateAccount, ID: "alice\x00EUR"},
	} {
		for seq := int64(1); seq <= 3; seq++ {
			id := outbox.ID(a, seq)
			if len(id) != 36 || !strings.HasPrefix(id, "evt_") || strings.Contains(id, a.ID) && a.ID != "" {
				t.Errorf("ID(%v, %d) = %q", a, seq, id)
			}
			if id != outbox.ID(a, seq) {
				t.Errorf("ID(%v, %d) is not stable", a, seq)
			}
			if prev, dup := seen[id]; dup {
				t.Errorf("ID(%v, %d) = ID of %s", a, seq, prev)
			}
			seen[id] = a.String()
		}
	}
}

func TestFromRecord(t *testing.T) {
	eur := func(s string) giftkit.Money { return giftkit.MustParseMoney(s, giftkit.EUR) }
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	rec, _ := activity.Cause{Actor: giftkit.Operator("ana"), Reason: `goodwill "ticket" <7> & more`, Key: "secret-key", At: at}.Seal(activity.Head{},
		activity.Record{Subject: activity.Account("zoé", giftkit.EUR), Kind: activity.KindAdjust, Reference: "ticket-7",
			Amount: eur("5.00"), Held: eur("0"), Before: eur("10.00"), After: eur("15.00"), Snapshot: []byte{1}})
	e := outbox.FromRecord(rec)
	if e.Type != outbox.AccountAdjusted || e.Seq != 1 || e.Version != outbox.Version || e.Actor != giftkit.Operator("ana") || !e.At.Equal(at) ||
		e.Aggregate != (outbox.Aggregate{Kind: outbox.AggregateAccount, ID: "zoé", Currency: giftkit.EUR}) || e.ID != outbox.ID(e.Aggregate, 1) {
		t.Fatalf("FromRecord = %+v", e)
	}
	var p struct {
		Owner, Currency, Kind, Reference, Reason, Digest string
		Amount, Held, Before, After                      giftkit.Money
	}
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		t.Fatalf("payload %s: %v", e.Payload, err)
	}
	if p.Owner != "zoé" || p.Currency != "EUR" || p.Kind != "adjust" || p.Reference != "ticket-7" || p.Reason != rec.Reason ||
		p.Digest != rec.Digest.String() || p.Amount != eur("5.00") || p.Before != eur("10.00") || p.After != eur("15.00") || p.Held != eur("0") {
		t.Fatalf("payload = %+v", p)
	}
	if strings.Contains(string(e.Payload), "secret-key") {
		t.Fatal("the payload carries the idempotency key")
	}
	// The whole event encodes, and decodes back.
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back outbox.Event
	if err := json.Unmarshal(b, &back); err != nil || back.ID != e.ID || string(back.Payload) != string(e.Payload) || back.Aggregate != e.Aggregate {
		t.Fatalf("JSON round trip: %v\n%s", err, b)
	}
}

func TestTypeOf(t *testing.T) {
	for k := activity.KindIssue; k.IsValid(); k++ {
		for _, s := range []activity.SubjectKind{activity.SubjectCard, activity.SubjectAccount} {
			ty := outbox.TypeOf(s, k)
			if !strings.HasPrefix(string(ty), s.String()+".") || strings.Contains(string(ty), "(") {
				t.Errorf("TypeOf(%v, %v) = %q", s, k, ty)
			}
		}
	}
	if got := outbox.TypeOf(activity.SubjectCard, activity.KindRedeem); got != outbox.CardRedeemed {
		t.Errorf("TypeOf(card, redeem) = %q", got)
	}
	if got := outbox.TypeOf(activity.SubjectAccount, activity.KindClawback); got != outbox.AccountClawedBack {
		t.Errorf("TypeOf(account, clawback) = %q", got)
	}
}

func TestCheckConsumer(t *testing.T) {
	for _, ok := range []string{"webhooks", "warehouse-loader/eu-1", strings.Repeat("x", outbox.MaxConsumerLen)} {
		if err := outbox.CheckConsumer(ok); err != nil {
			t.Errorf("CheckConsumer(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "tab\there", "\xff", strings.Repeat("x", outbox.MaxConsumerLen+1)} {
		if err := outbox.CheckConsumer(bad); !errors.Is(err, outbox.ErrInvalidConsumer) {
			t.Errorf("CheckConsumer(%q) = %v", bad, err)
		}
	}
}

func TestAggregateKindText(t *testing.T) {
	for k := outbox.AggregateCard; k.IsValid(); k++ {
		b, err := k.MarshalText()
		var back outbox.AggregateKind
		if err != nil || back.UnmarshalText(b) != nil || back != k {
			t.Errorf("%v: %q, %v, back %v", k, b, err, back)
		}
	}
	var k outbox.AggregateKind
	if err := k.UnmarshalText([]byte("order")); !errors.Is(err, giftkit.ErrInvalid) {
		t.Errorf("UnmarshalText(order) = %v", err)
	}
	if _, err := outbox.AggregateKind(0).MarshalText(); err == nil {
		t.Error("MarshalText of the zero kind succeeded")
	}
}
