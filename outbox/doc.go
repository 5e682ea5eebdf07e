// Package outbox tells the rest of a business what giftkit changed: every
// committed change to a card, an account or a payment puts a domain
// [Event] in the store's outbox, in the same unit of work as the change (a
// transactional outbox). A unit of work that rolls back emits nothing; one
// that commits cannot lose its events, even if the process dies the moment
// after.
//
// Card and account events are projections of activity records (see
// [FromRecord]): a store that appends a record to the activity log appends
// its event with it, so the one cannot exist without the other, and an
// event's aggregate and sequence number are its record's subject and Seq.
// Payment events are emitted by package checkout when a payment is
// authorised, captured, fails, is cancelled, expires or is refunded.
//
// Consumers read the outbox with a cursor they own ([Reader.Events]) and
// acknowledge what they have handled ([Reader.Ack]); the store keeps each
// consumer's cursor. Delivery is at least once: a consumer that fails
// before acknowledging reads the same events again, so consumers dedupe by
// [Event.ID], which is the same every time an event is read. Events come in
// the order their units of work committed, which is, per aggregate, the
// order of Seq. [Reader.Prune] removes what every consumer has
// acknowledged, and old idempotency records (see [Retention]);
// [Reader.Forget] drops a consumer gone for good, which would otherwise
// hold every event back. Package webhook delivers the outbox over HTTP.
//
// A consumer that gives up on an event (a webhook endpoint that failed every
// attempt) keeps it as a [DeadLetter], in the store's [DeadLetters] (every
// store has a DeadLetters method), so that it can be sent again after the
// outbox has pruned it.
//
// A card spent directly has an account of its own
// (giftcard.AccountOwner). Its loads, holds (a block among them, with
// reference "block"), adjustments, transfers and fees are account.* events
// whose aggregate ID is "giftcard:<card ID>". Its first use emits
// card.redeemed and account.credited, as a redemption does.
//
// No event carries a whole activation code. Card and account events name
// cards by ID. Payment events name each gift-card tender by its masked
// code (its last four characters), as receipts do.
package outbox
