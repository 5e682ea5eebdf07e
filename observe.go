package giftkit

import (
	"context"
	"log/slog"
)

// An Observer is told what the services do, for metrics and traces: hooks,
// not a dependency, so the library imports no telemetry framework (the
// giftkit/otelgiftkit module adapts OpenTelemetry to it). Services call it
// from the goroutine of the call; an implementation must be safe for
// concurrent use and should return quickly.
//
// No attribute the library gives an Observer holds an activation code (a
// redemption's code appears only masked, as codefmt.Code.Masked; string
// attributes of notices pass through codefmt.Redact, since a host's payment
// ID may hold one), a card processor's token or an idempotency key. An
// error's text may quote the host's identifiers: an Observer that exports
// it should redact it too (codefmt.Redact), as otelgiftkit does.
type Observer interface {
	// Begin is called when a use case starts, with its name, such as
	// "wallet.redeem" or "checkout.pay". It returns the context the use
	// case goes on with (a tracer puts its span in it) and a function the
	// use case calls exactly once when it returns, with its error (nil on
	// success; KindOf gives the outcome's kind) and attributes of the call
	// (a redemption's masked "code"). The names are the package and the
	// method in lower case: "giftcard.issue", "wallet.balance",
	// "checkout.sweep", ... A call that makes another (egift.send issues
	// its card through giftcard.issue; checkout.resume reads the payment)
	// begins it inside its own context: a tracer sees it nested.
	Begin(ctx context.Context, op string) (context.Context, func(err error, attrs ...slog.Attr))
	// Notice reports something notable that is not a call's outcome:
	//
	//   - "wallet.lockout": the limiter refused a redemption (attributes
	//     "owner", "retry_after");
	//   - "checkout.recovery": Resume or Sweep moved a payment a crashed or
	//     failed call left open ("payment_id", "from", "to");
	//   - "egift.delivered": what one egift.Service.Deliver did ("sent",
	//     "retrying", "failed");
	//   - "outbox.lag": how far a consumer is behind ("consumer", and
	//     "seconds": the age of the last event it handled), reported by
	//     the webhook dispatcher after each page of events.
	Notice(ctx context.Context, name string, attrs ...slog.Attr)
}
