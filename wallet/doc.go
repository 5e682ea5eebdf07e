// Package wallet owns account balances: redeeming gift card codes into them,
// holds, captures, debits, refunds, expiry, and each account's journal.
//
// # Accounts
//
// An [Account] is one owner's money in one currency. Its balance is made of
// lots, one per credit, each keeping the expiry of the card it came from;
// spending takes the soonest-expiring lot first. A [Hold] reserves part of
// the balance for a pending payment until it is captured (spent), released,
// or lapses. The account keeps
//
//	Balance   = Σ entry.Amount over its journal
//	Held      = Σ open holds     = Σ entry.Held
//	Available = Balance − Held   ≥ 0, always
//
// Every change appends [Entry] values to the account's journal: credit,
// hold, release, capture, refund, expiry. Account's methods are pure: they
// take the time as an argument and return a new Account and its entries.
//
// # Service
//
// [Service] runs the use cases over any store whose transactions implement
// [Tx] (see giftkit.Store). [Service.Redeem] parses a code as the shopper
// typed it, moves the card to redeemed and credits the account in one unit
// of work, so a card can be redeemed once, whatever the interleaving.
// Failed redemptions count against a [Limiter] per owner. Every method that
// changes state takes an idempotency key; a retry returns the first outcome.
// Every method first applies the passage of time to the account it touches
// (expired holds released, expired credits removed; see [Account.Sweep]).
// A Service is safe for concurrent use; its zero value is not usable.
//
// # Errors
//
// Wallet failures are [*Error] values that unwrap to [ErrInsufficientFunds],
// [ErrTooManyAttempts] (with [Error.RetryAfter]), [ErrHoldNotFound],
// [ErrDuplicateHold], [ErrExceedsHold], [ErrInvalidAmount],
// [ErrCurrencyMismatch], [ErrInvalidOwner], giftkit.ErrKeyRequired or
// giftkit.ErrIdempotencyConflict. Redeem also returns *giftcard.Error
// (not redeemable, already redeemed, expired) and *codefmt.ParseError (a
// code that does not read, with a suggested correction).
package wallet
