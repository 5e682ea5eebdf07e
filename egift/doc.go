// Package egift sends e-gift cards: a card bought as a gift goes to its
// recipient by email, at once or at a time the buyer chose, with the
// buyer's name and message (as Shopify's sendNotificationAt and Solidus'
// send_email_at do).
//
// A card's code exists only when the card is issued (stores keep a keyed
// hash of it), so a delivery must carry the code until it is sent. [Service.Send]
// issues the card and stores its [Delivery] in the same unit of work
// (giftcard.Service.IssueWith), with the code sealed under the host's key
// (AES-256-GCM, bound to the delivery and the card, see [Keyring]): never in
// the clear at rest, in a log, an error or an event. [Service.Deliver]
// opens it, hands it to the host's [Sender] in a [Message], and then erases
// it: a sent delivery keeps no trace of the code.
//
// So a sent card cannot be sent again: [ErrAlreadySent]. That is a
// decision, not a gap. Re-sending would need the code kept for ever, and
// the recipient's inbox is where the code lives once delivered. To give a
// recipient a new code (the email was lost, or went to the wrong address),
// void the card with giftcard.Service.Void and send another: the first
// code then stops working. A delivery not yet sent can be cancelled
// ([Service.Cancel], which erases its code) or sent elsewhere or later
// ([Service.Reschedule]).
//
// Delivery is at least once: a Sender error is retried with a doubling
// wait (Config.RetryAfter, Config.MaxAttempts), and a process that dies
// between sending and marking the delivery sent sends it again once its
// lease lapses (Config.Lease). Each attempt carries the same
// Message.DeliveryID for the Sender to dedupe by.
//
// Stores keep deliveries through [Tx]; memstore, sqlitestore and pgstore
// implement it.
package egift
