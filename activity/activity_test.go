package activity_test

import (
	"errors"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
)

var (
	eur = giftkit.EUR
	t0  = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
)

// chain returns n sealed records of one card and the card's head.
func chain(n int) ([]activity.Record, activity.Head) {
	var head activity.Head
	out := make([]activity.Record, n)
	for i := range out {
		out[i], head = activity.Cause{Actor: giftkit.Operator("ana"), Reason: "test", Key: "k", At: t0.Add(time.Duration(i) * time.Minute)}.Seal(head,
			activity.Record{Subject: activity.Card("card-1"), Kind: activity.KindAdjust, Amount: giftkit.FromMinor(int64(i+1), eur),
				Snapshot: []byte{byte(i)}})
	}
	return out, head
}

func TestVerifyFindsEveryTampering(t *testing.T) {
	recs, head := chain(5)
	card := activity.Card("card-1")
	if err := activity.Verify(card, recs, head); err != nil {
		t.Fatalf("an untouched chain: %v", err)
	}
	for _, tc := range []struct {
		name   string
		tamper func([]activity.Record, activity.Head) ([]activity.Record, activity.Head)
		seq    int64
	}{
		{"an amount changed", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			r[2].Amount = giftkit.FromMinor(1000, eur)
			return r, h
		}, 3},
		{"a reason changed", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			r[0].Reason = "other"
			return r, h
		}, 1},
		{"an actor changed", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			r[1].Actor = giftkit.Operator("eve")
			return r, h
		}, 2},
		{"a snapshot changed", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			r[4].Snapshot = []byte{9}
			return r, h
		}, 5},
		{"a time changed", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			r[3].At = r[3].At.Add(time.Nanosecond)
			return r, h
		}, 4},
		{"a record changed and resealed", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			r[1].Amount = giftkit.FromMinor(1000, eur)
			r[1], _ = activity.Seal(activity.Head{Seq: 1, Digest: r[0].Digest}, r[1])
			return r, h // record 3 no longer links to it
		}, 3},
		{"a record removed", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			return append(r[:1:1], r[2:]...), h
		}, 2},
		{"two records swapped", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			r[1], r[2] = r[2], r[1]
			return r, h
		}, 2},
		{"the last record removed", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			return r[:4], h
		}, 5},
		{"a record added after the head", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			extra, _ := activity.Seal(h, activity.Record{Subject: activity.Card("card-1"), Kind: activity.KindVoid})
			return append(r, extra), h
		}, 6},
		{"the head's digest changed", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			h.Digest[0] ^= 1
			return r, h
		}, 5},
		{"another subject's record", func(r []activity.Record, h activity.Head) ([]activity.Record, activity.Head) {
			r[2].Subject = activity.Card("card-2")
			return r, h
		}, 3},
	} {
		recs, head := chain(5)
		recs, head = tc.tamper(recs, head)
		err := activity.Verify(card, recs, head)
		var be *activity.BreakError
		if !errors.As(err, &be) || be.Seq != tc.seq || be.Subject != card {
			t.Errorf("%s: Verify = %v; want a break at record %d", tc.name, err, tc.seq)
			continue
		}
		if !errors.Is(err, activity.ErrBroken) || !errors.Is(err, giftkit.ErrConflict) || !activity.IsBroken(err) {
			t.Errorf("%s: %v does not wrap ErrBroken and giftkit.ErrConflict", tc.name, err)
		}
	}
}

func TestVerifierPages(t *testing.T) {
	recs, head := chain(7)
	v := activity.NewVerifier(activity.Card("card-1"))
	for _, page := range [][]activity.Record{recs[:3], recs[3:6], recs[6:]} {
		for _, r := range page {
			if err := v.Add(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := v.End(head); err != nil || v.Head() != head {
		t.Errorf("End = %v, head %v; want nil, %v", err, v.Head(), head)
	}
	// After a break, the verifier keeps reporting it.
	bad := activity.NewVerifier(activity.Card("card-1"))
	first := bad.Add(recs[1])
	if first == nil || bad.Add(recs[0]) != first || bad.End(head) != first {
		t.Errorf("a verifier forgot its first break %v", first)
	}
}

func TestRecordBinaryRoundTrip(t *testing.T) {
	recs, _ := chain(2)
	r := recs[1]
	r.At = r.At.In(time.FixedZone("X", -5*3600))
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back activity.Record
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if err := activity.Verify(activity.Card("card-1"), []activity.Record{recs[0], back}, activity.Head{Seq: 2, Digest: r.Digest}); err != nil {
		t.Errorf("a decoded record does not verify: %v", err)
	}
	if back.At.Location() != time.UTC || !back.At.Equal(r.At) {
		t.Errorf("At = %v; want %v in UTC", back.At, r.At)
	}
	for i := range b {
		var cut activity.Record
		if cut.UnmarshalBinary(b[:i]) == nil {
			t.Fatalf("a record cut to %d of %d bytes decoded", i, len(b))
		}
	}
}

func FuzzRecordUnmarshal(f *testing.F) {
	recs, _ := chain(3)
	for _, r := range recs {
		b, _ := r.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r activity.Record
		if r.UnmarshalBinary(data) != nil {
			return
		}
		again, _ := r.MarshalBinary()
		var back activity.Record
		if err := back.UnmarshalBinary(again); err != nil {
			t.Fatalf("a decoded record does not decode again: %v", err)
		}
		if back.Digest != r.Digest || back.Seq != r.Seq || back.Subject != r.Subject || string(back.Snapshot) != string(r.Snapshot) {
			t.Fatalf("round trip changed the record: %+v != %+v", back, r)
		}
	})
}

func TestQueryOrder(t *testing.T) {
	a := activity.Record{Subject: activity.Card("a"), Seq: 2, At: t0.Add(time.Minute)}
	b := activity.Record{Subject: activity.Card("b"), Seq: 1, At: t0}
	c := activity.Record{Subject: activity.Account("a", eur), Seq: 1, At: t0}
	bySubject := activity.BySubject
	if !bySubject.Less(activity.CursorOf(a, bySubject), activity.CursorOf(b, bySubject)) ||
		!bySubject.Less(activity.CursorOf(b, bySubject), activity.CursorOf(c, bySubject)) {
		t.Error("BySubject: want card a, card b, then accounts")
	}
	byTime := activity.ByTime
	if !byTime.Less(activity.CursorOf(b, byTime), activity.CursorOf(c, byTime)) || !byTime.Less(activity.CursorOf(c, byTime), activity.CursorOf(a, byTime)) {
		t.Error("ByTime: want b, c (same instant, cards first), then a")
	}
	q := activity.Query{After: activity.CursorOf(b, bySubject)}
	if q.Follows(a) || q.Follows(b) || !q.Follows(c) {
		t.Error("Follows: after card b comes the account only")
	}
	for _, tc := range []struct {
		q    activity.Query
		want bool
	}{
		{activity.Query{}, true},
		{activity.Query{Subject: activity.Card("a")}, true},
		{activity.Query{Subject: activity.Card("b")}, false},
		{activity.Query{Kind: activity.SubjectAccount}, false},
		{activity.Query{Actor: giftkit.Shopper("x")}, false},
		{activity.Query{From: t0.Add(time.Minute)}, true},
		{activity.Query{From: t0.Add(time.Minute + 1)}, false},
		{activity.Query{To: t0.Add(time.Minute)}, false},
		{activity.Query{To: t0.Add(time.Minute + 1)}, true},
	} {
		if got := tc.q.Matches(a); got != tc.want {
			t.Errorf("%+v.Matches = %v; want %v", tc.q, got, tc.want)
		}
	}
}

func TestKindText(t *testing.T) {
	for k := activity.KindIssue; k <= activity.KindClawback; k++ {
		text, err := k.MarshalText()
		var back activity.Kind
		if err != nil || back.UnmarshalText(text) != nil || back != k {
			t.Errorf("%v: %q, %v, %v", k, text, err, back)
		}
	}
	var k activity.Kind
	if k.UnmarshalText([]byte("nope")) == nil || !errors.Is(k.UnmarshalText([]byte("nope")), giftkit.ErrInvalid) {
		t.Error("an unknown kind decoded")
	}
	if _, err := activity.Kind(99).MarshalText(); err == nil {
		t.Error("Kind(99) marshalled")
	}
}
