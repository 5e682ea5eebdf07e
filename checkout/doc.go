// Package checkout pays orders with split tender: gift cards given by code
// and the shopper's gift card balance first, their bank card for the rest.
//
// # Planning
//
// [PlanTenders] is the pure rule, and the one place the spending order
// lives: gift cards given by code (PayRequest.Codes) pay first, the card
// whose value lapses soonest first (never-expiring last), then the
// smallest ([SpendingOrder]), within a programme's cap per remote payment;
// then the balance pays what it can of the rest unless the shopper opts
// out; the bank card pays what is left. The parts sum to the total
// exactly. [Plan] is the same without cards. A zero bank-card part never
// calls the processor; a zero gift part places no hold.
//
// # Gift cards as tenders
//
// A card given by code is spent from an account of its own
// (giftcard.AccountOwner): its first use moves its value there, once (see
// wallet.OpenCard), and its part of the payment is held there, captured,
// released and refunded exactly as the balance's part is, by the same
// transitions, in the same units of work. A refund goes back to the bank
// card first (RefundCardFirst), then to the gift tenders in the reverse of
// the order they were spent in: the balance, then the cards, last spent
// first. A guest without an account may pay with codes (Owner empty).
// Codes count as guesses through Config.Limiter (the wallet's); a guest's
// are counted per client (wallet.GuestOr). A typo in a native code is
// caught by the code's check characters before any lookup and never
// counts. An imported code has no check characters, so with ExternalCodes
// set a mistyped imported code is a miss, and counts. The refusals of
// unknown, pending, blocked and voided cards are one.
//
// # The saga
//
// [Service.Pay] runs each payment as a saga of recorded steps: hold each
// gift tender's part on its account (each card's on the card's own, the
// balance part on the shopper's; the holds expire), authorise the bank card
// part, and capture them all, now ([CaptureNow]) or at shipment
// ([CaptureLater] and [Service.Capture], which may capture less and
// releases the rest). If the bank card is declined, or the payment is
// cancelled or not captured in time, the holds are released and the
// authorisation voided: the shopper is charged nothing. Captured payments take refunds ([Service.Refund]), several if need
// be, never more than captured per tender, split between tenders by a
// [RefundPolicy] exact to the cent.
//
// Every step is recorded before the next runs, and every [Processor] call
// carries a key derived from the payment, so a call interrupted by a crash or
// a processor outage is completed or unwound by calling it again with the
// same key, by [Service.Resume], or by a periodic [Service.Sweep]; the
// processor acts once. No unit of work stays open across a processor call.
//
// Processor keys are "<prefix>:<call>:<digest>", the digest of the
// length-prefixed payment ID, call and refund key, so no two calls of any
// two payments share a key, whatever bytes their IDs and keys hold; the
// prefix is Config.ProcessorKeyPrefix, which keeps deployments that share a
// processor account apart. A capture is decided, and takes the gift
// tenders' parts (the cards' first, then the balance's), at one instant: a
// capture decided while the holds are live succeeds.
//
// Pay, Capture, Cancel and Refund record their outcome under their key,
// refusals included, in a key space per payment: a refused call retried
// with its key is refused again the same way, whatever the payment did
// since, and a key used for one operation is a conflict for another.
// Payment IDs are 1 to [MaxIDLen] bytes of UTF-8 without control
// characters.
//
// A call's outcome (success, or its typed error) is what its retries keep;
// the [Payment] they return is the payment as it stands, which later calls
// may have moved on (a payment authorised by Pay and cancelled since is
// returned cancelled, and the retried Pay still succeeds).
//
// The services are safe for concurrent use; their zero values are not
// usable. Package processortest has a deterministic fake [Processor] for
// tests and examples.
//
// # Where the rules are
//
// split.go decides the spending order ([PlanTenders], [Plan], and the split
// of a capture); tenders.go reads the codes and opens a payment that spends
// gift cards; payment.go holds [Payment] and its pure transitions, each
// returning the new payment and its effects on the accounts of its gift
// tenders; refund.go the refund policies and what is refundable;
// processor.go the [Processor] and its keys; saga.go only picks the processor call a state needs, makes it,
// and applies the transition that records the answer.
//
// # Errors
//
// Each sentinel wraps one of giftkit's kinds of failure (ErrDeclined is
// giftkit.ErrDeclined, ErrProcessorUnavailable giftkit.ErrUnavailable,
// ErrPaymentNotFound giftkit.ErrNotFound, ErrInvalidState
// giftkit.ErrConflict, ...).
//
// Failures are [*Error] values that unwrap to [ErrInvalidOrder],
// [giftkit.ErrCurrencyMismatch], [ErrInstrumentRequired], [ErrDeclined] (with the
// processor's reason), [ErrProcessorUnavailable] (retry with the same key),
// [ErrPaymentNotFound], [ErrInvalidState], [ErrExceedsAuthorized],
// [ErrExceedsCaptured], [ErrExpired], or the shared giftkit and wallet errors,
// and to the processor's or store's error that caused them: a decline
// unwraps to a [*DeclineError] with the processor's reason. A code given
// at checkout that names no usable card is refused as redemption refuses
// it (giftcard.ErrNotRedeemable, giftcard.ErrExpired,
// giftcard.ErrAlreadyRedeemed, giftcard.ErrNoBalance), in an [*Error]
// naming the code masked; a code that does not read is a
// *codefmt.ParseError.
//
// # Who and why
//
// Every call that changes a card or an account records, in the unit of
// work that makes the change, an activity record with the actor and the
// reason its context carries (giftkit.WithActor, giftkit.WithReason; see
// package activity): a call without an actor is recorded as unattributed,
// and one with an invalid actor or reason is refused with
// activity.ErrInvalidActor before it changes anything.
package checkout
