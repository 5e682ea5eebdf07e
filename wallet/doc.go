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
// hold, release, capture, refund, expiry, adjustment, clawback, load,
// transfer, fee. An Account is an immutable value
// whose amounts are int64 minor units inside and [giftkit.Money] at its
// API; its methods are pure: they take the time as an argument and return
// a new Account and its entries. [Account.State] and [RestoreAccount] are
// its stored form; RestoreAccount refuses a state that breaks the rules
// above ([ErrCorrupt]).
//
// Every use case, this package's and checkout's, changes an account through
// [UpdateAccount]: load, apply the passage of time ([Account.Sweep]),
// change, save with the new entries, in one unit of work.
//
// # Service
//
// [Service] runs the use cases over any store whose transactions implement
// [Tx] (see giftkit.Store). [Service.Redeem] parses a code as the shopper
// typed it and credits the account in one unit of work. A card never spent
// directly moves to redeemed, once, whatever the interleaving. An opened
// card (see below) stays as it is: what is available on it is transferred
// ([EntryTransfer]), and Redeem fails with giftcard.ErrNoBalance when
// nothing is. Under a giftcard.Programme the credit keeps the programme's
// minimum validity and the account's maximum balance holds.
//
// Every method that changes state takes an idempotency key; a retry returns
// the first outcome, refusals included. The one exception is
// [ErrTooManyAttempts], a throttle rather than an outcome: after
// [Error.RetryAfter] the same call with the same key runs. Every method
// first applies the passage of time to the account it touches (expired
// holds released, expired credits removed; see [Account.Sweep]). A Service
// is safe for concurrent use; its zero value is not usable.
//
// # Cards spent directly
//
// A card's value can live in an account of its own (owner
// giftcard.AccountOwner(id), which no caller may name as an owner): the
// first time the card is spent as a tender (package checkout), reloaded
// ([Service.Reload]) or has value moved to or from it ([Service.Transfer],
// [Service.Merge]), [OpenCard] redeems it into that account, once, so every
// rule above applies to its value unchanged. A shopper who redeems such a
// card later gets what is available on it, moved with its class and expiry
// ([Account.TransferOut], [Account.TransferIn]; [EntryTransfer] entries).
// [Service.CheckBalance] reads a card's balance by its code without
// spending it, through the same limiter as redemption (a typo in a native
// code never counts; a card found clears nothing), and [Service.CardFunds]
// by its ID for operators. [Service.Load] adds bought value to an account
// ([EntryLoad]). An operator blocks ([Service.BlockCard]) and adjusts
// ([Service.AdjustCard]) either kind of card, and the host's periodic job
// charges the programme's dormancy fee ([Service.ChargeDormancyFee]), only
// as its rules allow; a clawback follows
// an opened card's value to where it moved. A giftcard.Programme in Config
// bounds all of these.
//
// # Guessing
//
// Attempts to use a code (redemptions, balance checks by code, codes given
// at checkout) count against a [Limiter], per owner and, when the host
// names one with [WithClient], per client (an address, an API client). A
// guest, who has no owner, is counted per client ([GuestOr]). An attempt
// is reserved before the code is looked up and settled after, so
// concurrent guesses cannot overtake the count. A call that completed is
// replayed before the limiter is asked, so a retry keeps its first outcome
// during a lockout. [MemoryLimiter] is the default; [StoreLimiter] keeps the
// counts in the store, shared by every instance.
//
// A refusal says only what the shopper who typed the code needs: an
// unknown, pending, blocked or voided card is one error
// (giftcard.ErrNotRedeemable); a card redeemed by another account, an
// expired card and a card in a currency the wallet does not hold
// (Config.Currencies) are named by the masked code the shopper typed, with
// no card ID, time or state. Only the shopper's own redeemed card is named
// by its ID, with the time of its redemption.
//
// # Holds
//
// A [Hold] belongs to the party that placed it ([Hold.Placer]): holds placed
// through [Service.Hold] are [PlacerWallet]'s, a checkout payment's are
// checkout's, the hold that blocks an opened card is [PlacerBlock]'s
// (released only by [Service.UnblockCard]), and the wallet API refuses to
// capture or release another party's hold ([ErrForeignHold]), so no caller
// can free the balance a payment is about to capture.
//
// Identifiers a caller chooses (owners, references, hold IDs, keys) must be
// UTF-8 text without control characters, within their maximum lengths.
//
// # Errors
//
// Each sentinel wraps one of giftkit's kinds of failure (ErrHoldNotFound is
// giftkit.ErrNotFound, ErrTooManyAttempts giftkit.ErrRateLimited, ...).
// Wallet failures are [*Error] values that unwrap to [ErrInsufficientFunds],
// [ErrTooManyAttempts] (with [Error.RetryAfter]), [ErrHoldNotFound],
// [ErrForeignHold], [ErrDuplicateHold], [ErrExceedsHold],
// [ErrInvalidAmount], [ErrInvalidExpiry], [giftkit.ErrCurrencyMismatch],
// [ErrInvalidOwner], [ErrInvalidReference], giftkit.ErrKeyRequired or
// giftkit.ErrIdempotencyConflict. Redeem also returns *giftcard.Error
// (not redeemable, already redeemed, expired, currency mismatch, no
// balance) and *codefmt.ParseError (a code that does not read, with a
// suggested correction). A programme's rules refuse with
// giftcard.ErrProgrammeLimit. The operations on cards by ID also fail with
// giftcard.ErrNotFound (an unknown card) and giftcard.ErrNoBalance
// (nothing available to move or charge). Every error's message and JSON
// form are safe to log: none holds a whole code.
//
// # Who and why
//
// Every call that changes a card or an account records, in the unit of
// work that makes the change, an activity record with the actor and the
// reason its context carries (giftkit.WithActor, giftkit.WithReason; see
// package activity): a call without an actor is recorded as unattributed,
// and one with an invalid actor or reason is refused with
// activity.ErrInvalidActor before it changes anything.
// Adjust, AdjustCard and Clawback are the operator's: they need an
// operator actor and a reason.
package wallet
