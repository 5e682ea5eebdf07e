package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/wallet"
)

// Attempt logs keep their times to the nanosecond: a StoreLimiter finds an
// attempt it settles as void by its exact time, which is time.Now's.
func TestAttemptLogKeepsNanoseconds(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	want := wallet.AttemptLog{Subject: "client:\xff\x00", Attempts: []time.Time{at, at.Add(1)}, LockedUntil: at.Add(time.Hour + 1)}
	if err := s.Update(ctx, func(tx *pgstore.Tx) error { return tx.PutAttemptLog(want) }); err != nil {
		t.Fatalf("PutAttemptLog: %v", err)
	}
	var got wallet.AttemptLog
	var found bool
	if err := s.Update(ctx, func(tx *pgstore.Tx) (err error) {
		got, found, err = tx.AttemptLog(want.Subject)
		return err
	}); err != nil || !found {
		t.Fatalf("AttemptLog(%q) = %v, %v", want.Subject, found, err)
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("AttemptLog mismatch (-want +got):\n%s", diff)
	}

	// A reservation settled as void leaves nothing behind.
	limiter, err := wallet.NewStoreLimiter(s, wallet.LimitRule{Max: 3})
	if err != nil {
		t.Fatal(err)
	}
	a := wallet.Attempt{Owner: "alice", At: time.Now()}
	if ok, _, err := limiter.Reserve(ctx, a); !ok || err != nil {
		t.Fatalf("Reserve = %v, %v; want true, nil", ok, err)
	}
	if err := limiter.Settle(ctx, a, wallet.AttemptVoid); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if err := s.Update(ctx, func(tx *pgstore.Tx) (err error) {
		got, found, err = tx.AttemptLog("owner:alice")
		return err
	}); err != nil || found {
		t.Errorf("after a void attempt, AttemptLog = %+v, %v, %v; want none", got, found, err)
	}

	// Times an int64 of nanoseconds cannot hold are refused.
	err = s.Update(ctx, func(tx *pgstore.Tx) error {
		return tx.PutAttemptLog(wallet.AttemptLog{Subject: "owner:bob", Attempts: []time.Time{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}})
	})
	if !errors.Is(err, pgstore.ErrConflict) {
		t.Errorf("PutAttemptLog(year 1) = %v; want ErrConflict", err)
	}
}
