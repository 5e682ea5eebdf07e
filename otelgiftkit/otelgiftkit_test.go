package otelgiftkit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/otelgiftkit"
	"github.com/giftkit/giftkit/wallet"
	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// harness is an Observer whose spans go to an in-memory exporter as they
// end and whose metrics are read on demand.
type harness struct {
	obs    *otelgiftkit.Observer
	tp     *sdktrace.TracerProvider
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	h.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(h.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	t.Cleanup(func() {
		_ = h.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	var err error
	if h.obs, err = otelgiftkit.New(h.tp, mp); err != nil {
		t.Fatal(err)
	}
	return h
}

// metrics collects the metrics recorded so far.
func (h *harness) metrics(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// metric returns the metric of that name, failing t if there is none.
func metric(t *testing.T, rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				if sm.Scope.Name != otelgiftkit.ScopeName {
					t.Errorf("metric %s in scope %q; want %q", name, sm.Scope.Name, otelgiftkit.ScopeName)
				}
				return m
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}
}

// key encodes a data point's attributes as "k=v,k=v", in key order.
func key(s attribute.Set) string { return s.Encoded(attribute.DefaultEncoder()) }

// points returns the value of each data point of a sum or gauge, by key.
func points(t *testing.T, m metricdata.Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] = float64(p.Value)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] = float64(p.Value)
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			out[key(p.Attributes)] = p.Value
		}
	default:
		t.Fatalf("metric %s is a %T; want a sum or a gauge", m.Name, m.Data)
	}
	return out
}

// spanAttrs returns a span's attributes as their emitted text, by key.
func spanAttrs(kvs []attribute.KeyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

var errDisk = errors.New("disk on fire")

// TestBeginSpans: each use case is a span named after its operation, a
// child of the caller's span, ended with the outcome's status and kind.
func TestBeginSpans(t *testing.T) {
	h := newHarness(t)
	type span struct {
		Name        string
		Status      codes.Code
		Description string
		Outcome     string
	}
	var want []span
	parent, root := h.tp.Tracer("test").Start(context.Background(), "request")
	for _, tc := range []struct {
		op  string
		err error
		span
	}{
		{op: "wallet.redeem", span: span{"wallet.redeem", codes.Ok, "", "ok"}},
		{op: "wallet.redeem", err: fmt.Errorf("wallet: redeem: %w", giftkit.ErrNotFound),
			span: span{"wallet.redeem", codes.Error, "wallet: redeem: not found", "not_found"}},
		{op: "wallet.redeem", err: giftcard.ErrAlreadyRedeemed, span: span{"wallet.redeem", codes.Error, "card already redeemed", "conflict"}},
		{op: "wallet.redeem", err: wallet.ErrTooManyAttempts,
			span: span{"wallet.redeem", codes.Error, "too many failed redemption attempts", "rate_limited"}},
		{op: "checkout.pay", err: fmt.Errorf("checkout: pay: %w", giftkit.ErrDeclined),
			span: span{"checkout.pay", codes.Error, "checkout: pay: declined", "declined"}},
		{op: "giftcard.issue", err: errDisk, span: span{"giftcard.issue", codes.Error, "disk on fire", "error"}},
		{op: "giftcard.issue", err: context.Canceled, span: span{"giftcard.issue", codes.Error, "context canceled", "canceled"}},
	} {
		_, end := h.obs.Begin(parent, tc.op)
		end(tc.err)
		want = append(want, tc.span)
	}
	root.End()

	var got []span
	for _, s := range h.spans.GetSpans() {
		if s.Name == "request" {
			continue
		}
		if s.Parent.SpanID() != root.SpanContext().SpanID() {
			t.Errorf("span %s has parent %v; want the caller's span %v", s.Name, s.Parent.SpanID(), root.SpanContext().SpanID())
		}
		if s.InstrumentationScope.Name != otelgiftkit.ScopeName {
			t.Errorf("span %s from scope %q; want %q", s.Name, s.InstrumentationScope.Name, otelgiftkit.ScopeName)
		}
		got = append(got, span{s.Name, s.Status.Code, s.Status.Description, spanAttrs(s.Attributes)[otelgiftkit.KeyOutcome]})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans mismatch (-want +got):\n%s", diff)
	}
}

// TestBeginContext: the context Begin returns carries the use case's span,
// so that what the use case starts (a store's query span) is its child.
func TestBeginContext(t *testing.T) {
	h := newHarness(t)
	ctx, end := h.obs.Begin(context.Background(), "wallet.redeem")
	_, child := h.tp.Tracer("store").Start(ctx, "query")
	child.End()
	end(nil)
	spans := h.spans.GetSpans()
	if len(spans) != 2 || spans[0].Name != "query" || spans[1].Name != "wallet.redeem" {
		t.Fatalf("spans %v; want query, then wallet.redeem", spans)
	}
	if spans[0].Parent.SpanID() != spans[1].SpanContext.SpanID() {
		t.Errorf("the query's parent is %v; want the use case's span %v", spans[0].Parent.SpanID(), spans[1].SpanContext.SpanID())
	}
}

// TestOperationMetrics: every use case is counted and timed by operation
// and outcome; ending one twice records it once.
func TestOperationMetrics(t *testing.T) {
	h := newHarness(t)
	run := func(op string, err error, took time.Duration) {
		_, end := h.obs.Begin(context.Background(), op)
		time.Sleep(took)
		end(err)
	}
	run("wallet.redeem", nil, 2*time.Millisecond)
	run("wallet.redeem", nil, 0)
	run("wallet.redeem", fmt.Errorf("x: %w", giftkit.ErrNotFound), 0)
	run("checkout.pay", giftkit.ErrInsufficientFunds, 0)
	_, end := h.obs.Begin(context.Background(), "checkout.refund")
	end(nil)
	end(errDisk) // a second call does nothing

	rm := h.metrics(t)
	wantCounts := map[string]float64{
		"giftkit.op=wallet.redeem,giftkit.outcome=ok":                2,
		"giftkit.op=wallet.redeem,giftkit.outcome=not_found":         1,
		"giftkit.op=checkout.pay,giftkit.outcome=insufficient_funds": 1,
		"giftkit.op=checkout.refund,giftkit.outcome=ok":              1,
	}
	count := metric(t, rm, "giftkit.operation.count")
	if diff := cmp.Diff(wantCounts, points(t, count)); diff != "" {
		t.Errorf("giftkit.operation.count mismatch (-want +got):\n%s", diff)
	}
	if sum, ok := count.Data.(metricdata.Sum[int64]); !ok || !sum.IsMonotonic || count.Unit != "{operation}" {
		t.Errorf("giftkit.operation.count is %T in %q; want a monotonic sum of {operation}", count.Data, count.Unit)
	}

	dur := metric(t, rm, "giftkit.operation.duration")
	hist, ok := dur.Data.(metricdata.Histogram[float64])
	if !ok || dur.Unit != "s" {
		t.Fatalf("giftkit.operation.duration is %T in %q; want a histogram in s", dur.Data, dur.Unit)
	}
	gotCounts := map[string]float64{}
	for _, p := range hist.DataPoints {
		gotCounts[key(p.Attributes)] = float64(p.Count)
		if p.Bounds[0] != 0.005 || p.Bounds[len(p.Bounds)-1] != 10 {
			t.Errorf("duration buckets %v; want 5 ms to 10 s", p.Bounds)
		}
		if key(p.Attributes) == "giftkit.op=wallet.redeem,giftkit.outcome=ok" {
			if max, _ := p.Max.Value(); max < 0.002 || p.Sum < 0.002 || p.Sum > 60 {
				t.Errorf("wallet.redeem took %v s at most, %v s in all; want at least the 0.002 s it slept", max, p.Sum)
			}
		}
	}
	if diff := cmp.Diff(wantCounts, gotCounts); diff != "" {
		t.Errorf("giftkit.operation.duration counts mismatch (-want +got):\n%s", diff)
	}
	if n := len(h.spans.GetSpans()); n != 5 {
		t.Errorf("%d spans; want 5", n)
	}
}

// TestNotice: a notice is counted by name and is an event of the span in
// its context; "outbox.lag" sets the outbox gauges of its consumer.
func TestNotice(t *testing.T) {
	h := newHarness(t)
	ctx, end := h.obs.Begin(context.Background(), "wallet.redeem")
	h.obs.Notice(ctx, "wallet.lockout", slog.String("scope", "owner"), slog.String("owner", "alice"))
	end(wallet.ErrTooManyAttempts)
	h.obs.Notice(context.Background(), "wallet.lockout", slog.String("scope", "client"))
	h.obs.Notice(context.Background(), "checkout.recovery", slog.String("payment_id", "pay_1"), slog.String("from", "authorizing"), slog.String("to", "canceled"))
	h.obs.Notice(context.Background(), "outbox.lag", slog.String("consumer", "webhooks"), slog.Int("events", 12), slog.Float64("seconds", 3.5))
	h.obs.Notice(context.Background(), "outbox.lag", slog.String("consumer", "webhooks"), slog.Int("events", 2), slog.Float64("seconds", 0.5))
	h.obs.Notice(context.Background(), "outbox.lag", slog.String("consumer", "search"), slog.Int64("events", 40), slog.Duration("seconds", 90*time.Second))

	rm := h.metrics(t)
	for name, want := range map[string]map[string]float64{
		"giftkit.notice.count": {
			"giftkit.notice=wallet.lockout":    2,
			"giftkit.notice=checkout.recovery": 1,
			"giftkit.notice=outbox.lag":        3,
		},
		"giftkit.outbox.lag":     {"giftkit.consumer=webhooks": 0.5, "giftkit.consumer=search": 90},
		"giftkit.outbox.backlog": {"giftkit.consumer=webhooks": 2, "giftkit.consumer=search": 40},
	} {
		if diff := cmp.Diff(want, points(t, metric(t, rm, name))); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
		}
	}

	spans := h.spans.GetSpans()
	if len(spans) != 1 || len(spans[0].Events) != 1 {
		t.Fatalf("spans %+v; want one, with one event", spans)
	}
	ev := spans[0].Events[0]
	want := map[string]string{"giftkit.scope": "owner", "giftkit.owner": "alice"}
	if diff := cmp.Diff(want, spanAttrs(ev.Attributes)); ev.Name != "wallet.lockout" || diff != "" {
		t.Errorf("event %q; want wallet.lockout; attributes mismatch (-want +got):\n%s", ev.Name, diff)
	}
}

// stringer is a fmt.Stringer, as many of the library's values are.
type stringer string

func (s stringer) String() string { return "S:" + string(s) }

// valuer is a slog.LogValuer that resolves to a group.
type valuer struct{}

func (valuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", "card_1"), slog.Int("n", 2))
}

// TestAttributeKinds: the outcome's slog attributes become span attributes
// of the matching type, under "giftkit.", groups flattened with dots.
func TestAttributeKinds(t *testing.T) {
	h := newHarness(t)
	_, end := h.obs.Begin(context.Background(), "giftcard.issue")
	at := time.Date(2026, 11, 28, 4, 9, 37, 0, time.FixedZone("CET", 3600))
	end(nil,
		slog.String("card_id", "card_1"),
		slog.Int("count", 3),
		slog.Uint64("small", 7),
		slog.Uint64("big", math.MaxUint64),
		slog.Float64("ratio", 0.25),
		slog.Bool("pending", true),
		slog.Duration("retry_after", 1500*time.Millisecond),
		slog.Time("expires_at", at),
		slog.Group("batch", slog.String("id", "b1"), slog.Group("inner", slog.Int("n", 1))),
		slog.Group("", slog.String("inlined", "yes")),
		slog.Any("amount", stringer("12.50 EUR")),
		slog.Any("err", errDisk),
		slog.Any("tags", []string{"a", "b"}),
		slog.Any("card", valuer{}),
		slog.Any("nothing", nil),
		slog.Attr{}, // ignored, as slog ignores it
	)
	spans := h.spans.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans; want 1", len(spans))
	}
	got := map[string]attribute.KeyValue{}
	for _, kv := range spans[0].Attributes {
		got[string(kv.Key)] = kv
	}
	for _, want := range []attribute.KeyValue{
		attribute.String("giftkit.outcome", "ok"),
		attribute.String("giftkit.card_id", "card_1"),
		attribute.Int64("giftkit.count", 3),
		attribute.Int64("giftkit.small", 7),
		attribute.String("giftkit.big", "18446744073709551615"),
		attribute.Float64("giftkit.ratio", 0.25),
		attribute.Bool("giftkit.pending", true),
		attribute.Float64("giftkit.retry_after", 1.5),
		attribute.String("giftkit.expires_at", "2026-11-28T03:09:37Z"),
		attribute.String("giftkit.batch.id", "b1"),
		attribute.Int64("giftkit.batch.inner.n", 1),
		attribute.String("giftkit.inlined", "yes"),
		attribute.String("giftkit.amount", "S:12.50 EUR"),
		attribute.String("giftkit.err", "disk on fire"),
		attribute.StringSlice("giftkit.tags", []string{"a", "b"}),
		attribute.String("giftkit.card.id", "card_1"),
		attribute.Int64("giftkit.card.n", 2),
		attribute.String("giftkit.nothing", ""),
	} {
		if g, ok := got[string(want.Key)]; !ok || g.Value.Type() != want.Value.Type() || g.Value.String() != want.Value.String() {
			t.Errorf("attribute %s = %v (%v); want %v (%v)", want.Key, g.Value.String(), g.Value.Type(), want.Value.String(), want.Value.Type())
		}
		delete(got, string(want.Key))
	}
	if len(got) != 0 {
		t.Errorf("unexpected attributes %v", got)
	}
}

// TestOutcome: the outcome names are giftkit.Outcome's (tested there).
func TestOutcome(t *testing.T) {
	for _, err := range []error{nil, giftkit.ErrNotFound, errors.New("disk full")} {
		if got, want := otelgiftkit.Outcome(err), giftkit.Outcome(err); got != want {
			t.Errorf("Outcome(%v) = %q; want %q", err, got, want)
		}
	}
}

// testCode generates a real activation code from a fixed seed.
func testCode(t *testing.T) codefmt.Code {
	t.Helper()
	var seed [32]byte
	copy(seed[:], "otelgiftkit never exports codes")
	code, err := codefmt.Generate(rand.NewChaCha8(seed))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// exported returns every string the exporters received: spans' names,
// attributes, events and statuses, and metrics' names and attributes.
func exported(t *testing.T, h *harness) string {
	t.Helper()
	var b strings.Builder
	kvs := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			fmt.Fprintf(&b, "%s=%s\n", kv.Key, kv.Value.String())
		}
	}
	for _, s := range h.spans.GetSpans() {
		fmt.Fprintf(&b, "span %s: %s\n", s.Name, s.Status.Description)
		kvs(s.Attributes)
		for _, ev := range s.Events {
			fmt.Fprintf(&b, "event %s\n", ev.Name)
			kvs(ev.Attributes)
		}
	}
	rm := h.metrics(t)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			fmt.Fprintf(&b, "metric %s\n", m.Name)
			var sets []attribute.Set
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					sets = append(sets, p.Attributes)
					for _, e := range p.Exemplars {
						kvs(e.FilteredAttributes)
					}
				}
			default:
				t.Fatalf("metric %s is a %T, which this test does not read", m.Name, m.Data)
			}
			for _, s := range sets {
				kvs(s.ToSlice())
			}
		}
	}
	return b.String()
}

// paymentTag is the start of a payment ID that a host makes of an owner's
// tag and a client's order ID, which may be a code.
const paymentTag = "K9gGyX8OAK8aH8Myj6djqSaXI8jbj6xPk69x2xhtbpA"

// TestNoCodeExported: a whole activation code given to the Observer, in
// any form and any place (an attribute, a group, a value's String, an
// error, a notice, an ID it is glued to, even an operation's name),
// reaches no span, event or metric: it is masked where it stands, and a
// value that holds one in a form that cannot be placed is withheld.
func TestNoCodeExported(t *testing.T) {
	h := newHarness(t)
	code := testCode(t)
	canonical := code.String()
	forms := []string{canonical, strings.ReplaceAll(canonical, "-", ""), strings.ToLower(canonical), strings.ToLower(strings.ReplaceAll(canonical, "-", " "))}

	ctx, end := h.obs.Begin(context.Background(), "wallet.redeem")
	h.obs.Notice(ctx, "wallet.lockout", slog.String("code", forms[1]), slog.String("owner", "typed "+forms[2]))
	h.obs.Notice(ctx, canonical, slog.String(canonical, "key"))
	h.obs.Notice(ctx, "outbox.lag", slog.String("consumer", canonical), slog.Float64("seconds", 1))
	h.obs.Notice(ctx, "checkout.recovery", slog.String("payment_id", paymentTag+strings.ToLower(forms[1])))
	end(fmt.Errorf("redeem %s: %w", canonical, giftkit.ErrNotFound),
		slog.String("code", canonical),
		slog.String("lower", forms[2]),
		slog.String("spaced", forms[3]),
		slog.Any("value", code),
		slog.Group("request", slog.String("code", forms[1])),
		slog.Any("codes", []string{canonical, "x"}),
		slog.Any("bytes", []byte(canonical)),
		slog.String("sentence", "the shopper typed "+canonical+" twice"),
		slog.String("payment_id", paymentTag+canonical),
		slog.String("fullwidth", "code "+string(rune(canonical[0])-'!'+'！')+canonical[1:]), // its first character full-width
	)
	_, end = h.obs.Begin(context.Background(), canonical)
	end(nil)

	out := exported(t, h)
	for _, form := range forms {
		if strings.Contains(strings.ToUpper(out), strings.ToUpper(form)) {
			t.Errorf("exported data holds the code as %q:\n%s", form, out)
		}
	}
	if found := codefmt.Extract(out); len(found) > 0 {
		t.Errorf("exported data holds the codes %v:\n%s", found, out)
	}
	// What was a code is there, masked: the attributes were scrubbed, not
	// dropped.
	for _, want := range []string{
		"giftkit.code=" + code.Masked(),
		"giftkit.lower=" + code.Masked(),
		"giftkit.value=" + code.Masked(),
		"giftkit.request.code=" + code.Masked(),
		"giftkit.sentence=the shopper typed " + code.Masked() + " twice",
		"giftkit.payment_id=" + paymentTag + code.Masked(),
		"giftkit.fullwidth=" + otelgiftkit.Withheld,
		"span wallet.redeem: redeem " + code.Masked() + ": not found",
		"span " + code.Masked() + ": ",
	} {
		if !slices.Contains(strings.Split(out, "\n"), want) {
			t.Errorf("exported data has no line %q:\n%s", want, out)
		}
	}
}

// TestNew: nil providers are the global ones, which are no-ops until a
// host sets them.
func TestNew(t *testing.T) {
	obs, err := otelgiftkit.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, end := obs.Begin(context.Background(), "wallet.redeem")
	obs.Notice(ctx, "wallet.lockout")
	end(nil)
}

// TestScrub: an attribute that holds a code, glued to a host's tag, is
// exported masked (codefmt.Redact, tested there, does the finding).
func TestScrub(t *testing.T) {
	code := codefmt.MustParse("1G06-02M06R-1GGZ1")
	h := newHarness(t)
	_, end := h.obs.Begin(context.Background(), "op")
	end(nil, slog.String("v", paymentTag+strings.ReplaceAll(code.String(), "-", "")))
	if got := spanAttrs(h.spans.GetSpans()[0].Attributes)["giftkit.v"]; got != paymentTag+code.Masked() {
		t.Errorf("attribute exported as %q; want the code masked", got)
	}
}
