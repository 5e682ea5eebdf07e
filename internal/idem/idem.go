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
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/giftkit/giftkit/internal/text"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/internal/bin"
)

// Tx is what idem needs of a unit of work.
type Tx interface {
	// Idempotency returns the record stored under scope and key, if any.
	Idempotency(scope, key string) (giftkit.IdempotencyRecord, bool, error)
	// PutIdempotency stores a new record.
	PutIdempotency(r giftkit.IdempotencyRecord) error
}

// A Kind is one type of business error that a call records: a pointer type
// with a binary form.
type Kind struct {
	name   string
	encode func(b []byte, err error) ([]byte, bool)
	decode func([]byte) (error, error)
}

// ErrorKind returns the Kind for errors of type *E, found with errors.As.
func ErrorKind[E any, P interface {
	*E
	error
	AppendBinary([]byte) ([]byte, error)
	UnmarshalBinary([]byte) error
}](name string) Kind {
	return Kind{
		name: name,
		encode: func(b []byte, err error) ([]byte, bool) {
			var p P
			if !errors.As(err, &p) {
				return b, false
			}
			out, merr := p.AppendBinary(b)
			return out, merr == nil
		},
		decode: func(data []byte) (error, error) {
			p := P(new(E))
			return p, p.UnmarshalBinary(data)
		},
	}
}

// Errors lists the business errors a use case records; any other error is
// the store's, and is not recorded.
type Errors []Kind

// encode appends the name of err's kind and its binary form, with its
// length; ok is false if err is of no kind listed.
func (k Errors) encode(b []byte, err error) ([]byte, bool) {
	for _, kind := range k {
		start := len(b)
		b = bin.String(b, kind.name)
		lenAt := len(b)
		b = append(b, make([]byte, binary.MaxVarintLen32)...) // room for the length
		if out, ok := kind.encode(b, err); ok {
			payload := len(out) - len(b)
			n := binary.PutUvarint(out[lenAt:], uint64(payload))
			copy(out[lenAt+n:], out[len(b):])
			return out[:lenAt+n+payload], true
		}
		b = b[:start]
	}
	return b, false
}

// recordable reports whether err is of a kind listed.
func (k Errors) recordable(err error) bool {
	_, ok := k.encode(nil, err)
	return ok
}

func (k Errors) decode(r *bin.Reader) (error, error) {
	name, payload := r.String(), r.String()
	if err := r.Err(); err != nil {
		return nil, err
	}
	for _, kind := range k {
		if kind.name == name {
			return kind.decode([]byte(payload))
		}
	}
	return nil, fmt.Errorf("unknown recorded error type %q", name)
}

// Outcomes says how the outcomes of a use case are recorded: the binary
// form of its result (Append and Read; nil for a result that is struct{})
// and the business errors it records.
type Outcomes[R any] struct {
	// Append appends the binary form of a successful result to b; nil
	// records none, and a replay then returns the zero R.
	Append func(b []byte, v R) []byte
	// Read decodes a result Append wrote, reporting malformed input through
	// r (r.Fail); nil when Append is nil.
	Read func(r *bin.Reader) R
	// Errors are the business errors recorded and replayed; any other
	// error is the store's, which records nothing.
	Errors Errors
}

// A record is a version byte, then recordResult and the result's binary
// form, or recordError and the error's kind and binary form.
const (
	recordVersion = 1
	recordResult  = 'r'
	recordError   = 'e'
)

// Call describes one idempotent call. Make it with NewCall.
type Call struct {
	Scope string    // the party whose keys these are, e.g. "wallet/alice": one key, one call, whatever the operation
	Key   string    // the caller's key
	Op    string    // the operation, the first field of the request
	Now   time.Time // stored as the record's creation time
	// Reads names what the operation reads besides the call's record, for
	// stores that fetch ahead (see giftkit.ReadAhead).
	Reads  giftkit.ReadAhead
	digest [sha256.Size]byte
}

// ReadAhead tells tx, if it can fetch ahead, what a unit of work for the
// call reads: its record and c.Reads.
func (c *Call) ReadAhead(tx any) {
	if ra, ok := tx.(giftkit.ReadAheader); ok {
		r := c.Reads
		r.Scope, r.Key = c.Scope, c.Key
		ra.ReadAhead(r)
	}
}

// NewCall returns the call of operation op with the request's other fields
// args: their digest is the request's fingerprint. It keeps none of them.
func NewCall(scope, key string, now time.Time, op string, args ...string) Call {
	c := Call{Scope: scope, Key: key, Op: op, Now: now}
	var stack [512]byte
	buf := appendField(stack[:0], op)
	for _, a := range args {
		buf = appendField(buf, a)
	}
	c.digest = sha256.Sum256(buf)
	return c
}

// appendField appends "<len>:<field>;", the length-prefixed form that makes
// the digest of a list of fields injective.
func appendField(b []byte, f string) []byte {
	b = strconv.AppendInt(b, int64(len(f)), 10)
	b = append(b, ':')
	b = append(b, f...)
	return append(b, ';')
}

// Fingerprint returns the digest of the request, in hex.
func (c Call) Fingerprint() string {
	var text [2 * sha256.Size]byte
	hex.Encode(text[:], c.digest[:])
	return string(text[:])
}

// sameFingerprint reports whether fp is the digest of the request, without
// allocating.
func (c Call) sameFingerprint(fp string) bool {
	var text [2 * sha256.Size]byte
	hex.Encode(text[:], c.digest[:])
	return string(text[:]) == fp
}

// Fingerprint returns a digest of fields that no other list of fields has:
// each is prefixed by its length, so ("ab", "c") and ("a", "bc") differ.
func Fingerprint(fields ...string) string {
	var stack [512]byte
	buf := stack[:0]
	for _, f := range fields {
		buf = appendField(buf, f)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
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
func ValidText(s string, max int) bool { return text.Valid(s, max) }

// businessError carries a business failure out of the first unit of work so
// that the store rolls it back.
type businessError struct{ err error }

func (e businessError) Error() string { return e.err.Error() }

// Result reports how a call ended.
type Result[R any] struct {
	Value    R    // the result, the recorded one if Replayed; zero if the call failed
	Replayed bool // the outcome came from an earlier call with the same key
}

// Lookup reads the record of call inside a unit of work. With none, found
// is false. Otherwise it returns the recorded result and the recorded error,
// or giftkit.ErrIdempotencyConflict if the record is of a different request;
// err is set only if the record cannot be read or decoded.
func Lookup[R any](tx Tx, call Call, o Outcomes[R]) (res Result[R], recorded error, found bool, err error) {
	rec, found, err := tx.Idempotency(call.Scope, call.Key)
	if err != nil || !found {
		return Result[R]{}, nil, false, err
	}
	res.Replayed = true
	if !call.sameFingerprint(rec.Fingerprint) {
		return res, giftkit.ErrIdempotencyConflict, true, nil
	}
	fail := func(err error) (Result[R], error, bool, error) {
		return Result[R]{}, nil, true, fmt.Errorf("decode idempotency record %s/%s: %w", call.Scope, call.Key, err)
	}
	if len(rec.Outcome) < 2 || rec.Outcome[0] != recordVersion {
		return fail(bin.ErrCorrupt)
	}
	r := bin.NewReader(rec.Outcome[2:])
	switch rec.Outcome[1] {
	case recordError:
		decoded, err := o.Errors.decode(r)
		if err == nil {
			err = r.Err()
		}
		if err != nil {
			return fail(err)
		}
		return res, decoded, true, nil
	case recordResult:
		if o.Read != nil {
			res.Value = o.Read(r)
		}
		if err := r.Err(); err != nil {
			return fail(err)
		}
		return res, nil, true, nil
	}
	return fail(bin.ErrCorrupt)
}

// Record stores the outcome of call inside a unit of work: v, or failure if
// it is not nil, which must be of a kind o.Errors knows.
func Record[R any](tx Tx, call Call, o Outcomes[R], v R, failure error) error {
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	data := append((*buf)[:0], recordVersion, recordResult)
	if failure != nil {
		data[1] = recordError
		var ok bool
		if data, ok = o.Errors.encode(data, failure); !ok {
			return fmt.Errorf("record outcome of %s/%s: %w is not a recorded kind", call.Scope, call.Key, failure)
		}
	} else if o.Append != nil {
		data = o.Append(data, v)
	}
	*buf = data
	// The store copies the outcome (values go into a store as copies), so
	// the buffer is used again.
	return tx.PutIdempotency(giftkit.IdempotencyRecord{
		Scope: call.Scope, Key: call.Key, Fingerprint: call.Fingerprint(), Outcome: data, CreatedAt: call.Now,
	})
}

// buffers holds the buffers outcomes are encoded in.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// Replay returns the recorded outcome of call in a unit of work of its own,
// running nothing: found is false if no call with its key completed. A
// service uses it where it must not run the call (a caller locked out may
// still learn the outcome of a call that completed).
func Replay[T Tx, R any](ctx context.Context, store giftkit.Store[T], call Call, o Outcomes[R]) (res Result[R], recorded error, found bool, err error) {
	err = store.Update(ctx, func(tx T) error {
		var err error
		res, recorded, found, err = Lookup(tx, call, o)
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
func Do[T Tx, R any](ctx context.Context, store giftkit.Store[T], call Call, o Outcomes[R], op func(tx T) (R, error)) (Result[R], error) {
	return DoWith(ctx, store, call, o, op, runOp[T, R])
}

// runOp is Do's operation for DoWith: the closure it was given.
func runOp[T Tx, R any](tx T, op *func(T) (R, error)) (R, error) { return (*op)(tx) }

// DoWith is [Do] for an operation that is a plain function of the unit of
// work and an argument: arg is copied into the call's own state, and op is
// given a pointer to that copy, which lives as long as anything op hands
// out refers to it. A hot path keeps its per-call state, scratch space
// included, in arg, and so allocates it together with the call's, once.
func DoWith[T Tx, R, A any](ctx context.Context, store giftkit.Store[T], call Call, o Outcomes[R], arg A, op func(tx T, arg *A) (R, error)) (Result[R], error) {
	d := &doing[T, R, A]{call: call, o: o, op: op, arg: arg} // one allocation for the whole call's state
	err := store.Update(ctx, d.first)
	be, failed := asBusiness(err)
	if !failed {
		if err != nil {
			return Result[R]{}, err
		}
		return d.res, d.resErr
	}
	// The operation failed on its merits: record the failure on its own.
	d.failure = be.err
	if err := store.Update(ctx, d.recordFailure); err != nil {
		return Result[R]{}, err
	}
	return d.res, d.resErr
}

// doing is the state of one Do.
type doing[T Tx, R, A any] struct {
	call    Call
	o       Outcomes[R]
	op      func(T, *A) (R, error)
	arg     A
	res     Result[R]
	resErr  error
	failure error
}

// first is Do's first unit of work: replay the record, or run the
// operation and record its success.
func (d *doing[T, R, A]) first(tx T) error {
	d.call.ReadAhead(tx)
	var found bool
	var err error
	d.res, d.resErr, found, err = Lookup(tx, d.call, d.o)
	if err != nil || found {
		return err
	}
	v, err := d.op(tx, &d.arg)
	if err != nil {
		if d.o.Errors.recordable(err) {
			return businessError{err}
		}
		return err
	}
	d.res.Value = v
	return Record(tx, d.call, d.o, v, nil)
}

// recordFailure records the failure of the operation, unless a concurrent
// call with the same key finished first.
func (d *doing[T, R, A]) recordFailure(tx T) error {
	var found bool
	var err error
	if d.res, d.resErr, found, err = Lookup(tx, d.call, d.o); err != nil || found {
		return err
	}
	d.res, d.resErr = Result[R]{}, d.failure
	var zero R
	return Record(tx, d.call, d.o, zero, d.failure)
}

// asBusiness finds the businessError in err: stores return the callback's
// error unchanged, so a type assertion nearly always does.
func asBusiness(err error) (businessError, bool) {
	if be, ok := err.(businessError); ok {
		return be, true
	}
	if err == nil {
		return businessError{}, false
	}
	return asBusinessWrapped(err)
}

func asBusinessWrapped(err error) (businessError, bool) {
	var be businessError
	ok := errors.As(err, &be)
	return be, ok
}
