// Package idem runs a use case exactly once per idempotency key, for every
// service of giftkit.
//
// A call runs in one unit of work that first looks for a record under its
// key. With none, it runs the operation and stores the result in the same
// unit of work as the effects. If the operation fails with a business error
// (one the Errors codec knows), that unit of work is rolled back, so nothing
// of the operation is written, and a second unit of work records the failure,
// which later retries replay. Any other error (the store's) records nothing,
// so the caller may retry.
package idem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/giftkit/giftkit"
)

// Tx is what idem needs of a unit of work.
type Tx interface {
	// Idempotency returns the record stored under scope and key, if any.
	Idempotency(scope, key string) (giftkit.IdempotencyRecord, bool, error)
	// PutIdempotency stores a new record.
	PutIdempotency(r giftkit.IdempotencyRecord) error
}

// A Kind is one type of business error that a call records: a pointer type
// that marshals to and from JSON.
type Kind struct {
	name   string
	encode func(error) ([]byte, bool)
	decode func([]byte) (error, error)
}

// KindOf returns the Kind for errors of type *E, found with errors.As.
func KindOf[E any, P interface {
	*E
	error
}](name string) Kind {
	return Kind{
		name: name,
		encode: func(err error) ([]byte, bool) {
			var p P
			if !errors.As(err, &p) {
				return nil, false
			}
			data, merr := json.Marshal(p)
			return data, merr == nil
		},
		decode: func(data []byte) (error, error) {
			p := P(new(E))
			return p, json.Unmarshal(data, p)
		},
	}
}

// Errors lists the business errors a use case records; any other error is
// the store's, and is not recorded.
type Errors []Kind

func (k Errors) encode(err error) (string, []byte, bool) {
	for _, kind := range k {
		if data, ok := kind.encode(err); ok {
			return kind.name, data, true
		}
	}
	return "", nil, false
}

func (k Errors) decode(name string, data []byte) (error, error) {
	for _, kind := range k {
		if kind.name == name {
			return kind.decode(data)
		}
	}
	return nil, fmt.Errorf("unknown recorded error type %q", name)
}

// Call describes one idempotent call.
type Call struct {
	Scope   string    // the party whose keys these are, e.g. "wallet/alice": one key, one call, whatever the operation
	Key     string    // the caller's key
	Request []string  // the operation and its arguments; their digest is the fingerprint
	Now     time.Time // stored as the record's creation time
}

// Fingerprint returns the digest of the request fields.
func (c Call) Fingerprint() string { return Fingerprint(c.Request...) }

// Fingerprint returns a digest of fields that no other list of fields has:
// each is prefixed by its length, so ("ab", "c") and ("a", "bc") differ.
func Fingerprint(fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CheckKey returns an error for a missing, oversized or malformed key.
func CheckKey(key string) error {
	switch {
	case key == "":
		return giftkit.ErrKeyRequired
	case len(key) > giftkit.MaxKeyLen:
		return fmt.Errorf("idempotency key of %d bytes is longer than %d: %w", len(key), giftkit.MaxKeyLen, giftkit.ErrKeyRequired)
	case !ValidText(key, giftkit.MaxKeyLen):
		return fmt.Errorf("idempotency key is not UTF-8 text without control characters: %w", giftkit.ErrKeyRequired)
	}
	return nil
}

// ValidText reports whether s, an identifier a caller chose (an owner, a
// payment ID, a key, a reference), is at most max bytes of UTF-8 without
// control characters: what every store can keep as text and every log can
// show on one line.
func ValidText(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

type outcome[R any] struct {
	Result    *R              `json:"result,omitempty"`
	ErrorType string          `json:"error_type,omitempty"`
	Error     json.RawMessage `json:"error,omitempty"`
}

// businessError carries a business failure out of the first unit of work so
// that the store rolls it back.
type businessError struct{ err error }

func (e businessError) Error() string { return e.err.Error() }

// Result reports how a call ended.
type Result[R any] struct {
	Value    R
	Replayed bool // the outcome came from an earlier call with the same key
}

// Lookup reads the record of call inside a unit of work. With none, found
// is false. Otherwise it returns the recorded result and the recorded error,
// or giftkit.ErrIdempotencyConflict if the record is of a different request;
// err is set only if the record cannot be read or decoded.
func Lookup[R any](tx Tx, call Call, errs Errors) (res Result[R], recorded error, found bool, err error) {
	rec, found, err := tx.Idempotency(call.Scope, call.Key)
	if err != nil || !found {
		return Result[R]{}, nil, false, err
	}
	res.Replayed = true
	if rec.Fingerprint != call.Fingerprint() {
		return res, giftkit.ErrIdempotencyConflict, true, nil
	}
	var out outcome[R]
	if err := json.Unmarshal(rec.Outcome, &out); err != nil {
		return Result[R]{}, nil, true, fmt.Errorf("decode idempotency record %s/%s: %w", call.Scope, call.Key, err)
	}
	if out.ErrorType != "" {
		decoded, err := errs.decode(out.ErrorType, out.Error)
		if err != nil {
			return Result[R]{}, nil, true, fmt.Errorf("decode recorded error of %s/%s: %w", call.Scope, call.Key, err)
		}
		return res, decoded, true, nil
	}
	if out.Result != nil {
		res.Value = *out.Result
	}
	return res, nil, true, nil
}

// Record stores the outcome of call inside a unit of work: v, or failure if
// it is not nil, which must be of a kind errs knows.
func Record[R any](tx Tx, call Call, errs Errors, v R, failure error) error {
	out := outcome[R]{Result: &v}
	if failure != nil {
		typ, data, ok := errs.encode(failure)
		if !ok {
			return fmt.Errorf("record outcome of %s/%s: %w is not a recorded kind", call.Scope, call.Key, failure)
		}
		out = outcome[R]{ErrorType: typ, Error: data}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encode outcome of %s/%s: %w", call.Scope, call.Key, err)
	}
	return tx.PutIdempotency(giftkit.IdempotencyRecord{
		Scope: call.Scope, Key: call.Key, Fingerprint: call.Fingerprint(), Outcome: data, CreatedAt: call.Now,
	})
}

// Replay returns the recorded outcome of call in a unit of work of its own,
// running nothing: found is false if no call with its key completed. A
// service uses it where it must not run the call (a caller locked out may
// still learn the outcome of a call that completed).
func Replay[T Tx, R any](ctx context.Context, store giftkit.Store[T], call Call, errs Errors) (res Result[R], recorded error, found bool, err error) {
	err = store.Update(ctx, func(tx T) error {
		var err error
		res, recorded, found, err = Lookup[R](tx, call, errs)
		return err
	})
	if err != nil {
		return Result[R]{}, nil, false, err
	}
	return res, recorded, found, nil
}

// Do runs op exactly once for call.Key within call.Scope and returns its
// result, or the recorded outcome of the first completed call. A different
// request under the same key fails with giftkit.ErrIdempotencyConflict.
func Do[T Tx, R any](ctx context.Context, store giftkit.Store[T], call Call, errs Errors, op func(tx T) (R, error)) (Result[R], error) {
	var (
		res    Result[R]
		resErr error
	)
	err := store.Update(ctx, func(tx T) error {
		var found bool
		var err error
		res, resErr, found, err = Lookup[R](tx, call, errs)
		if err != nil || found {
			return err
		}
		v, err := op(tx)
		if err != nil {
			if _, _, ok := errs.encode(err); ok {
				return businessError{err}
			}
			return err
		}
		res.Value = v
		return Record(tx, call, errs, v, nil)
	})
	var be businessError
	if !errors.As(err, &be) {
		if err != nil {
			return Result[R]{}, err
		}
		return res, resErr
	}

	// The operation failed on its merits: record the failure on its own.
	err = store.Update(ctx, func(tx T) error {
		var found bool
		var err error
		res, resErr, found, err = Lookup[R](tx, call, errs)
		if err != nil || found { // a concurrent call with the same key finished first
			return err
		}
		res, resErr = Result[R]{}, be.err
		var zero R
		return Record(tx, call, errs, zero, be.err)
	})
	if err != nil {
		return Result[R]{}, err
	}
	return res, resErr
}
