// Package webhook delivers outbox events to HTTP endpoints as Standard
// Webhooks (https://www.standardwebhooks.com), and verifies them on the
// receiving side.
//
// # Messages
//
// Each event is POSTed as a JSON [Message]: the specification's envelope
// (type, timestamp: when the event happened, data: its payload) with the
// event's id, version, aggregate, seq, actor and pos beside them. The
// request carries the headers webhook-id (the event's ID, the same on every
// attempt), webhook-timestamp (the attempt's time, in Unix seconds) and
// webhook-signature: "v1," and the base64 HMAC-SHA256 of
// id + "." + timestamp + "." + body, once per secret ([Signer]), so that an
// endpoint's secret can change without a message failing. Secrets are
// written "whsec_" and base64 ([ParseSecret], [NewSecret]).
//
// # Receiving
//
// A receiver checks each request with [Verifier.Verify] on the body exactly
// as received, then decodes it into a Message. Verify refuses a message
// whose signature does not match one of its secrets, and one whose
// timestamp is more than a tolerance (five minutes by default) from the
// receiver's clock either way, which bounds how late a captured request can
// be replayed. Within that window a receiver dedupes by webhook-id, which
// it must do anyway (see below).
//
// # Delivery
//
// A [Dispatcher] reads one outbox consumer's events and sends them to one
// endpoint; a host with several endpoints runs one Dispatcher, with its own
// consumer name, per endpoint, and one process runs each (Run refuses a
// second Run of one Dispatcher, but two processes running the same
// consumer would both send every event, interleaved: elect one, as with
// any singleton job). It guarantees:
//
//   - At least once. An event is acknowledged in the outbox only after the
//     endpoint answers with a 2xx status, so a process that stops between
//     the two sends it again when it restarts; a timeout may also repeat an
//     event the endpoint did handle. Receivers dedupe by webhook-id.
//   - In order, per endpoint. Events go one at a time, in the outbox's
//     order; a failing event is retried, with exponential backoff and full
//     jitter, and the events after it wait for it. So an endpoint that is
//     down delays everything after the event it failed on, and never sees
//     an event before one that came before it.
//   - Failures end in a dead letter. After Config.MaxAttempts failed
//     attempts, or at once on 410 Gone, the event is put in
//     Config.DeadLetters and acknowledged, and delivery goes on with the
//     next one (or, after 410, Run stops: see [Dispatcher.Run]). An operator
//     lists dead letters ([Dispatcher.DeadLetters]) and sends one again
//     ([Dispatcher.Replay]), or has a range of past events sent again
//     ([Dispatcher.Redeliver]). Dead letters are kept in memory, and lost
//     with the process, unless Config.DeadLetters is a store's durable
//     ones (memstore, sqlitestore and pgstore each have a DeadLetters
//     method; see outbox.DeadLetters).
//
// The dispatcher reads no clock of its own: the host passes Config.Now
// (time.Now), and may pass Config.Sleep and Config.Rand. Logs and dead
// letters never carry a body, a secret or the endpoint's URL (an error may
// name its host and port).
//
// Signer, Verifier (once set up) and Dispatcher are
// safe for concurrent use. The zero Secret, Signer and Verifier sign or
// accept nothing; use the constructors.
//
// # Errors
//
// Verify returns a [*VerifyError] that unwraps to [ErrMissingHeader],
// [ErrInvalidHeader], [ErrInvalidTimestamp], [ErrTooOld], [ErrTooNew] or
// [ErrNoMatchingSignature]; ParseSecret returns a [*SecretError]
// ([ErrInvalidSecret]); NewDispatcher returns [ErrInvalidConfig]. All are of
// kind giftkit.ErrInvalid. Replay returns [outbox.ErrDeadLetterNotFound] (kind
// giftkit.ErrNotFound) or a [*DeliveryError] that unwraps to
// [ErrDeliveryFailed] (kind giftkit.ErrUnavailable) or [ErrGone] (kind
// giftkit.ErrNotFound), which Run also returns when an endpoint answers
// 410. A second Run returns [ErrRunning] (kind giftkit.ErrConflict). Any
// other error is the outbox's, the dead letters' store's or the context's.
package webhook
