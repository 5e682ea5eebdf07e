// Package obs is how the services tell their host what they do: one log
// record per call on the host's *slog.Logger, and the calls and notices of
// the host's giftkit.Observer. With neither set, it costs a nil check.
package obs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
)

// Hooks are a service's logger, observer and clock.
type Hooks struct {
	Log *slog.Logger
	Obs giftkit.Observer
	Now func() time.Time
}

// On reports whether anyone listens.
func (h *Hooks) On() bool { return h.Log != nil || h.Obs != nil }

// A Call is one use case being observed. Its zero value observes nothing.
type Call struct {
	h     *Hooks
	ctx   context.Context
	op    string
	start time.Time
	attr  slog.Attr
	end   func(error, ...slog.Attr)
}

// Begin starts observing the use case op; see BeginWith.
func (h *Hooks) Begin(ctx context.Context, op string) (context.Context, Call) {
	return h.BeginWith(ctx, op, slog.Attr{})
}

// BeginWith starts observing the use case op, with one attribute of the
// call (a zero Attr for none): one, not variadic, so that a call nobody
// observes allocates nothing.
func (h *Hooks) BeginWith(ctx context.Context, op string, a slog.Attr) (context.Context, Call) {
	if !h.On() {
		return ctx, Call{}
	}
	c := Call{h: h, op: op, attr: a, start: h.Now()}
	if h.Obs != nil {
		ctx, c.end = h.Obs.Begin(ctx, op)
	}
	c.ctx = ctx
	return ctx, c
}

// End ends the call with the error *err (nil for success). It takes a
// pointer so that a deferred End sees the function's named result.
func (c Call) End(err *error) {
	if c.h == nil {
		return
	}
	var e error
	if err != nil {
		e = *err
	}
	if c.end != nil {
		if c.attr.Key != "" {
			c.end(e, c.attr)
		} else {
			c.end(e)
		}
	}
	if c.h.Log == nil {
		return
	}
	level := slog.LevelDebug
	switch {
	case e == nil:
	case giftkit.KindOf(e) == giftkit.ErrUnavailable,
		giftkit.KindOf(e) == nil && !errors.Is(e, context.Canceled) && !errors.Is(e, context.DeadlineExceeded):
		level = slog.LevelWarn // the store's or the processor's failure: the outcome is unknown
	default:
		level = slog.LevelInfo // a refusal
	}
	if !c.h.Log.Enabled(c.ctx, level) {
		return
	}
	attrs := [5]slog.Attr{slog.String("op", c.op), slog.String("outcome", giftkit.Outcome(e)),
		slog.Duration("duration", c.h.Now().Sub(c.start))}
	n := 3
	if c.attr.Key != "" {
		attrs[n], n = c.attr, n+1
	}
	if e != nil {
		attrs[n], n = slog.String("error", codefmt.Redact(e.Error())), n+1
	}
	c.h.Log.LogAttrs(c.ctx, level, "giftkit "+c.op, attrs[:n]...)
}

// Notice reports a notable event to the observer and the log. String
// attributes are redacted (codefmt.Redact): a payment ID is the host's, and
// may hold a code.
func (h *Hooks) Notice(ctx context.Context, name string, attrs ...slog.Attr) {
	for i, a := range attrs {
		if a.Value.Kind() == slog.KindString {
			attrs[i].Value = slog.StringValue(codefmt.Redact(a.Value.String()))
		}
	}
	if h.Obs != nil {
		h.Obs.Notice(ctx, name, attrs...)
	}
	if h.Log != nil {
		h.Log.LogAttrs(ctx, slog.LevelInfo, "giftkit "+name, attrs...)
	}
}
