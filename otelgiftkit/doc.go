// Package otelgiftkit adapts OpenTelemetry to [giftkit.Observer]: give the
// [Observer] that [New] returns to the services (the Observer field of
// giftcard.Config, wallet.Config and checkout.Config) and every use case
// becomes a span and a few measurements. It lives in a module of its own so
// that the library imports no telemetry framework.
//
// # Traces
//
// Each use case is a span named after its operation ("wallet.redeem",
// "checkout.pay"), a child of the span in the caller's context, if any. When
// the use case returns, the span gets the attribute "giftkit.outcome" (see
// [Outcome]: "ok", or the kind of the error, such as "not_found"), the
// attributes the library gives for the outcome, each under "giftkit." and its
// slog key (a group's members as "giftkit.group.key"; numbers and booleans
// keep their type, a duration becomes float seconds, a time its RFC 3339
// text in UTC, anything else its text), and its status: Ok on success,
// Error with the error's message otherwise, refusals included. A notice
// ([giftkit.Observer.Notice]) is an event, with its attributes, on the span
// in the notice's context, if one is recording.
//
// # Metrics
//
// All from one meter named [ScopeName]; the only metric attributes are the
// operation, the outcome and the notice's name (and an outbox consumer's
// name), so that the number of series stays bounded whatever the traffic:
//
//	giftkit.operation.duration  histogram, s          giftkit.op, giftkit.outcome
//	giftkit.operation.count     counter, {operation}  giftkit.op, giftkit.outcome
//	giftkit.notice.count        counter, {notice}     giftkit.notice
//	giftkit.outbox.lag          gauge, s              giftkit.consumer
//	giftkit.outbox.backlog      gauge, {event}        giftkit.consumer
//
// The outbox's two are gauges, not histograms: an "outbox.lag" notice says
// how far a consumer is behind now ("seconds", "events"), a level whose last
// value is what an alert compares with a threshold; a histogram of it would
// weigh each level by how often the dispatcher happened to report it.
//
// # Activation codes
//
// The library never gives an Observer a whole activation code of its own,
// but the identifiers a caller chooses (an order ID in a payment ID, an
// owner) may be one, so this package does not rely on it: before a string
// reaches a span or a metric (a span's name, an attribute's key or value,
// an event, a status message), one that reads as a whole code
// ([codefmt.Parse] accepts it) is replaced by its masked form,
// [codefmt.Code.Masked]; in any other, every run of 15 ASCII letters and
// digits (or of 4, 6 and 5 with a dash or a space between) that reads as a
// code is masked in place, even glued to other text; and one that still
// holds a code ([codefmt.Extract] finds one in full-width characters, say)
// is replaced by [Withheld]. As 15 letters and digits read as a code with
// probability 1/1024, a long identifier is masked in part once in a while.
//
// # Concurrency
//
// An Observer is safe for concurrent use. The zero Observer is not usable:
// make one with New.
package otelgiftkit
