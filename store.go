package giftkit

import (
	"context"
	"time"
)

// A Store runs units of work. Every use case that changes state runs inside
// one call to Update: all the reads and writes fn makes through tx commit
// together or not at all, and units of work that touch the same card, account
// or payment behave as if they ran one after the other.
//
// Tx is the store's own transaction type. Each domain package declares the
// accessors it needs as an interface (giftcard.Tx, wallet.Tx, checkout.Tx, each
// embedding the one below it), and a store's Tx implements all of them. The
// services are generic over Tx only in their constructors, which Go infers
// from the store: wallet.NewService(store, ...) works for any store whose
// Update takes a func of a type that implements wallet.Tx.
//
// Update may call fn more than once (a database store retries serialization
// failures), so fn must not have effects outside tx. If fn returns an error,
// Update rolls back and returns that error unchanged; otherwise it returns
// the commit's error, if any. Stores translate their driver's errors into
// their own error values; callers never see a driver type.
type Store[Tx any] interface {
	Update(ctx context.Context, fn func(tx Tx) error) error
}

// An IdempotencyRecord is what a store keeps of one state-changing call: the
// caller's key, a fingerprint of the request, and the encoded outcome
// (success or failure) that a retry with the same key returns. Services write
// it in the same unit of work as the call's effects.
type IdempotencyRecord struct {
	Scope       string    // the party whose keys these are, e.g. "wallet/alice"
	Key         string    // the caller's idempotency key
	Fingerprint string    // a digest of the request; a different request under the same key is a conflict
	Outcome     []byte    // the encoded outcome, opaque to the store
	CreatedAt   time.Time // when the call first completed
}

// MaxKeyLen is the longest idempotency key a service accepts, in bytes.
const MaxKeyLen = 255

// ReadAhead names rows a unit of work is about to read, so that a store
// that talks to a server can fetch them, and lock them, with the unit's
// first round trip instead of one round trip each. It is a hint: it changes
// nothing the unit of work sees. Services give it to transactions that
// implement [ReadAheader], before their first read.
type ReadAhead struct {
	Scope, Key string   // an idempotency record, if Key is not empty
	CardHash   [32]byte // the card with this code hash, if HasCard
	HasCard    bool     // CardHash is set: every [32]byte, zero included, can be a hash
	Owner      string   // every account of this owner, if not empty
	Payment    string   // the payment with this ID, if not empty
}

// A ReadAheader is a transaction that can fetch a unit's reads ahead (see
// [ReadAhead]). It is optional: services find it by type assertion.
type ReadAheader interface {
	ReadAhead(r ReadAhead)
}
