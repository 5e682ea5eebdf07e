package idem_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/bin"
	"github.com/giftkit/giftkit/internal/idem"
)

// memTx is a map-backed Tx; its store runs units of work one at a time.
type memTx struct {
	records map[string]giftkit.IdempotencyRecord
}

func (t *memTx) Idempotency(scope, key string) (giftkit.IdempotencyRecord, bool, error) {
	r, ok := t.records[scope+"/"+key]
	return r, ok, nil
}

func (t *memTx) PutIdempotency(r giftkit.IdempotencyRecord) error {
	t.records[r.Scope+"/"+r.Key] = r
	return nil
}

type memStore struct {
	tx      *memTx
	between func() // runs before each unit of work
}

func (s *memStore) Update(ctx context.Context, fn func(tx *memTx) error) error {
	if s.between != nil {
		s.between()
	}
	snapshot := map[string]giftkit.IdempotencyRecord{}
	for k, v := range s.tx.records {
		snapshot[k] = v
	}
	if err := fn(s.tx); err != nil {
		s.tx.records = snapshot // roll back
		return err
	}
	return nil
}

type failure struct{ Reason string }

func (f *failure) Error() string { return "failure: " + f.Reason }

func (f *failure) AppendBinary(b []byte) ([]byte, error) { return bin.String(b, f.Reason), nil }

func (f *failure) UnmarshalBinary(data []byte) error {
	r := bin.NewReader(data)
	f.Reason = r.String()
	return r.Err()
}

var kinds = idem.Outcomes[string]{
	Append: bin.String,
	Read:   (*bin.Reader).String,
	Errors: idem.Errors{idem.ErrorKind[failure]("failure")},
}

// A call that fails on its merits while a concurrent call with the same key
// succeeds must return the success that was recorded, not its own failure.
// This is the interleaving a database store gives and a mutex-serialized one
// never does: it was found by storetest's ReplayRace on PostgreSQL.
func TestFailureLosesToConcurrentSuccess(t *testing.T) {
	store := &memStore{tx: &memTx{records: map[string]giftkit.IdempotencyRecord{}}}
	call := idem.NewCall("s", "k", time.Time{}, "r")
	units := 0
	store.between = func() {
		units++
		if units == 2 { // between the failed unit and the one that records it
			res, err := idem.Do(context.Background(), giftkit.Store[*memTx](&memStore{tx: store.tx}), call, kinds,
				func(*memTx) (string, error) { return "won", nil })
			if err != nil || res.Value != "won" {
				t.Fatalf("concurrent call: %v, %v", res, err)
			}
		}
	}
	res, err := idem.Do(context.Background(), giftkit.Store[*memTx](store), call, kinds,
		func(*memTx) (string, error) { return "", &failure{"lost the race"} })
	if err != nil || res.Value != "won" || !res.Replayed {
		t.Fatalf("Do = %+v, %v; want the concurrent success replayed", res, err)
	}
}

func TestReplaysAndConflicts(t *testing.T) {
	store := &memStore{tx: &memTx{records: map[string]giftkit.IdempotencyRecord{}}}
	ctx := context.Background()
	call := idem.NewCall("s", "k", time.Time{}, "r")
	runs := 0
	fail := func(*memTx) (string, error) { runs++; return "", &failure{"no"} }
	_, err1 := idem.Do(ctx, giftkit.Store[*memTx](store), call, kinds, fail)
	_, err2 := idem.Do(ctx, giftkit.Store[*memTx](store), call, kinds, fail)
	var f *failure
	if !errors.As(err2, &f) || f.Reason != "no" || err1.Error() != err2.Error() || runs != 1 {
		t.Errorf("replayed failure = %v (ran %d times); want the first failure, run once", err2, runs)
	}
	other := idem.NewCall("s", "k", time.Time{}, "other")
	if _, err := idem.Do(ctx, giftkit.Store[*memTx](store), other, kinds, fail); !errors.Is(err, giftkit.ErrIdempotencyConflict) {
		t.Errorf("same key, other request: %v; want ErrIdempotencyConflict", err)
	}
	storeErr := errors.New("disk on fire")
	if _, err := idem.Do(ctx, giftkit.Store[*memTx](store), idem.NewCall("s", "k2", time.Time{}, "r"), kinds,
		func(*memTx) (string, error) { return "", storeErr }); err != storeErr {
		t.Errorf("store error: %v; want it unchanged", err)
	}
	if _, ok, _ := store.tx.Idempotency("s", "k2"); ok {
		t.Error("a store error was recorded")
	}
}

// TestFingerprintFormat: fingerprints keep the form records already stored
// were written with, the SHA-256 of "<len>:<field>;" per field.
func TestFingerprintFormat(t *testing.T) {
	sum := sha256.Sum256([]byte("2:ab;1:c;0:;"))
	if got, want := idem.Fingerprint("ab", "c", ""), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Fingerprint = %s; want %s", got, want)
	}
	if idem.Fingerprint("ab", "c") == idem.Fingerprint("a", "bc") {
		t.Error("fields are not length-prefixed")
	}
}
