// Package unit adapts stores (giftkit.Store) between transaction types.
package unit

import (
	"context"

	"github.com/giftkit/giftkit"
)

// StoreFunc adapts a function to giftkit.Store.
type StoreFunc[Tx any] func(context.Context, func(Tx) error) error

// Update implements giftkit.Store.
func (f StoreFunc[Tx]) Update(ctx context.Context, fn func(Tx) error) error { return f(ctx, fn) }

// Erase turns a store of a concrete transaction type T into a store of the
// interface I that T implements; asI is the conversion (func(t T) I { return t }),
// which Go's generics cannot express as a constraint.
func Erase[I, T any](store giftkit.Store[T], asI func(T) I) giftkit.Store[I] {
	return StoreFunc[I](func(ctx context.Context, fn func(I) error) error {
		return store.Update(ctx, func(tx T) error { return fn(asI(tx)) })
	})
}
