package bin_test

import (
	"errors"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/bin"
)

func TestRoundTrip(t *testing.T) {
	times := []time.Time{{}, time.Date(2026, 12, 24, 18, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", 3600)), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}
	var b []byte
	b = bin.String(b, "")
	b = bin.String(b, "héllo")
	b = bin.Int(b, -1<<63)
	b = bin.Bool(b, true)
	for _, tm := range times {
		b = bin.Time(b, tm)
	}
	b = bin.Money(b, giftkit.MustParseMoney("12.50", giftkit.EUR))
	r := bin.NewReader(b)
	if s := r.String(); s != "" {
		t.Errorf("String = %q", s)
	}
	if s := r.String(); s != "héllo" {
		t.Errorf("String = %q", s)
	}
	if n := r.Int(); n != -1<<63 {
		t.Errorf("Int = %d", n)
	}
	if !r.Bool() {
		t.Error("Bool = false")
	}
	for _, want := range times {
		if got := r.Time(); !got.Equal(want) || got.Format(time.RFC3339Nano) != want.Format(time.RFC3339Nano) {
			t.Errorf("Time = %v; want %v", got, want)
		}
	}
	if m := r.Money(); m != giftkit.MustParseMoney("12.50", giftkit.EUR) {
		t.Errorf("Money = %v", m)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	// Every truncation fails, never panics.
	for i := range b {
		r := bin.NewReader(b[:i])
		_, _ = r.String(), r.String()
		r.Int()
		r.Bool()
		for range times {
			r.Time()
		}
		r.Money()
		if !errors.Is(r.Err(), bin.ErrCorrupt) {
			t.Errorf("truncated at %d: %v", i, r.Err())
		}
	}
}
