package webhook

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoff(t *testing.T) {
	d := &Dispatcher{cfg: Config{BaseBackoff: time.Second, MaxBackoff: 10 * time.Second}}

	// A Rand that fails gives the ceilings themselves.
	d.cfg.Rand = iotest.ErrReader(errors.New("no randomness"))
	var ceilings []time.Duration
	for n := 1; n <= 6; n++ {
		ceilings = append(ceilings, d.backoff(n))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if diff := cmp.Diff(want, ceilings); diff != "" {
		t.Errorf("ceilings mismatch (-want +got):\n%s", diff)
	}

	// Full jitter: zero draws give zero; every draw is within the ceiling.
	d.cfg.Rand = bytes.NewReader(make([]byte, 8))
	if got := d.backoff(3); got != 0 {
		t.Errorf("backoff with a zero draw = %v; want 0", got)
	}
	d.cfg.Rand = rand.Reader
	for n := 1; n <= 1000; n++ {
		if got, ceiling := d.backoff(n), want[min(n, len(want))-1]; got < 0 || got > ceiling {
			t.Fatalf("backoff(%d) = %v; want within [0, %v]", n, got, ceiling)
		}
	}
	// No overflow, however many failures, with the largest cap.
	d.cfg.MaxBackoff = time.Duration(1<<63 - 1)
	d.cfg.Rand = iotest.ErrReader(errors.New("no randomness"))
	for _, n := range []int{62, 63, 64, 1000} {
		if got := d.backoff(n); got <= 0 {
			t.Errorf("backoff(%d) with no cap = %v", n, got)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{"Tue, 01 Dec 2026 09:00:30 GMT", 30 * time.Second, true},
		{"Tue, 01 Dec 2026 08:00:00 GMT", 0, true},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999", 0, false},
	} {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
