package otelgiftkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/giftkit/giftkit"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the Observer's tracer and
// meter: this module's path.
const ScopeName = "github.com/giftkit/giftkit/otelgiftkit"

// The attribute keys the Observer sets itself; the library's own attributes
// go under "giftkit." and their slog key.
const (
	KeyOp       = "giftkit.op"       // the operation: "wallet.redeem", ...
	KeyOutcome  = "giftkit.outcome"  // see Outcome
	KeyNotice   = "giftkit.notice"   // a notice's name: "wallet.lockout", ...
	KeyConsumer = "giftkit.consumer" // an outbox consumer, on the outbox gauges
)

// durationBounds are the bucket boundaries of giftkit.operation.duration,
// in seconds: those OpenTelemetry's semantic conventions give for
// request durations, from 5 ms to 10 s.
var durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// An Observer records giftkit's use cases and notices as OpenTelemetry
// spans and metrics (see the package documentation for which). Make one
// with New; it is safe for concurrent use.
type Observer struct {
	tracer        trace.Tracer
	opDuration    metric.Float64Histogram
	opCount       metric.Int64Counter
	noticeCount   metric.Int64Counter
	outboxLag     metric.Float64Gauge
	outboxBacklog metric.Int64Gauge
}

var _ giftkit.Observer = (*Observer)(nil)

// New returns an Observer whose spans come from a tracer of tp and whose
// measurements go to a meter of mp, both named ScopeName. A nil provider
// means the global one (otel.GetTracerProvider, otel.GetMeterProvider), as
// it is when New is called. New fails only if mp refuses an instrument.
func New(tp trace.TracerProvider, mp metric.MeterProvider) (*Observer, error) {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(ScopeName)
	o := &Observer{tracer: tp.Tracer(ScopeName)}
	var errs [5]error
	o.opDuration, errs[0] = meter.Float64Histogram("giftkit.operation.duration",
		metric.WithDescription("How long giftkit's use cases take, by operation and outcome."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBounds...))
	o.opCount, errs[1] = meter.Int64Counter("giftkit.operation.count",
		metric.WithDescription("giftkit's use cases, by operation and outcome."),
		metric.WithUnit("{operation}"))
	o.noticeCount, errs[2] = meter.Int64Counter("giftkit.notice.count",
		metric.WithDescription("giftkit's notices (lockouts, recoveries, outbox lag), by name."),
		metric.WithUnit("{notice}"))
	o.outboxLag, errs[3] = meter.Float64Gauge("giftkit.outbox.lag",
		metric.WithDescription("How far an outbox consumer is behind, in time, when last reported."),
		metric.WithUnit("s"))
	o.outboxBacklog, errs[4] = meter.Int64Gauge("giftkit.outbox.backlog",
		metric.WithDescription("How many events an outbox consumer has yet to handle, when last reported."),
		metric.WithUnit("{event}"))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("otelgiftkit: %w", err)
	}
	return o, nil
}

// Begin implements giftkit.Observer: it starts the span of the use case op
// and returns the context that carries it, and the function that ends it
// and records the use case's duration and outcome. Calls of that function
// after the first do nothing.
func (o *Observer) Begin(ctx context.Context, op string) (context.Context, func(err error, attrs ...slog.Attr)) {
	op = scrub(op)
	start := time.Now()
	ctx, span := o.tracer.Start(ctx, op)
	var ended atomic.Bool
	return ctx, func(err error, attrs ...slog.Attr) {
		if ended.Swap(true) {
			return
		}
		elapsed := time.Since(start).Seconds()
		outcome := Outcome(err)
		if span.IsRecording() {
			kvs := make([]attribute.KeyValue, 0, len(attrs)+1)
			kvs = append(kvs, attribute.String(KeyOutcome, outcome))
			span.SetAttributes(appendAttrs(kvs, "giftkit.", attrs)...)
			if err != nil {
				span.SetStatus(codes.Error, scrub(err.Error()))
			} else {
				span.SetStatus(codes.Ok, "")
			}
		}
		span.End()
		set := metric.WithAttributeSet(attribute.NewSet(attribute.String(KeyOp, op), attribute.String(KeyOutcome, outcome)))
		o.opDuration.Record(ctx, elapsed, set)
		o.opCount.Add(ctx, 1, set)
	}
}

// Notice implements giftkit.Observer: it counts the notice by name, adds it
// as an event to the span in ctx if one is recording, and, for
// "outbox.lag", records its "seconds" and "events" in the outbox gauges
// under its "consumer".
func (o *Observer) Notice(ctx context.Context, name string, attrs ...slog.Attr) {
	name = scrub(name)
	o.noticeCount.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(attribute.String(KeyNotice, name))))
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(name, trace.WithAttributes(appendAttrs(make([]attribute.KeyValue, 0, len(attrs)), "giftkit.", attrs)...))
	}
	if name == "outbox.lag" {
		o.outboxLagged(ctx, attrs)
	}
}

// outboxLagged records an "outbox.lag" notice's attributes in the outbox
// gauges; an attribute that is absent or not a number is not recorded.
func (o *Observer) outboxLagged(ctx context.Context, attrs []slog.Attr) {
	var consumer string
	var seconds, events slog.Value
	for _, a := range attrs {
		switch a.Key {
		case "consumer":
			consumer = scrub(a.Value.Resolve().String())
		case "seconds":
			seconds = a.Value.Resolve()
		case "events":
			events = a.Value.Resolve()
		}
	}
	set := metric.WithAttributeSet(attribute.NewSet(attribute.String(KeyConsumer, consumer)))
	if s, ok := asFloat(seconds); ok {
		o.outboxLag.Record(ctx, s, set)
	}
	if n, ok := asFloat(events); ok {
		o.outboxBacklog.Record(ctx, int64(n), set)
	}
}

// asFloat returns v as a number: seconds for a duration; false if it is
// not a number.
func asFloat(v slog.Value) (float64, bool) {
	switch v.Kind() {
	case slog.KindFloat64:
		return v.Float64(), true
	case slog.KindInt64:
		return float64(v.Int64()), true
	case slog.KindUint64:
		return float64(v.Uint64()), true
	case slog.KindDuration:
		return v.Duration().Seconds(), true
	}
	return 0, false
}

// Outcome names the outcome of a use case that returned err, as the
// attribute "giftkit.outcome" has it, and as the services' own log records
// name it: "ok" for nil; "canceled" for a cancelled context or a deadline
// that passed; the kind of failure err wraps (giftkit.KindOf) in snake case
// ("invalid", "not_found", "conflict", "currency_mismatch",
// "insufficient_funds", "expired", "declined", "unavailable",
// "rate_limited"); or "error" for an error of no kind, the store's, after
// which the outcome of the call is unknown.
func Outcome(err error) string { return giftkit.Outcome(err) }
