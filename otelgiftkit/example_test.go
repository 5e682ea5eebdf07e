package otelgiftkit_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/otelgiftkit"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A host gives the Observer to its services (wallet.Config{Observer: obs},
// and the same in giftcard.Config and checkout.Config); here a use case's
// calls are made by hand, as a service makes them.
func Example() {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	obs, err := otelgiftkit.New(tp, mp)
	if err != nil {
		panic(err)
	}

	// A redemption that fails: the code belongs to no card.
	ctx, end := obs.Begin(context.Background(), "wallet.redeem")
	_ = ctx // the use case goes on with ctx, which carries its span
	end(fmt.Errorf("wallet: redeem: %w", giftkit.ErrNotFound), slog.String("code", "****-******-*H567"))

	for _, s := range spans.GetSpans() {
		fmt.Println("span:", s.Name, s.Status.Code)
		for _, kv := range s.Attributes {
			fmt.Printf("  %s = %s\n", kv.Key, kv.Value.String())
		}
	}
	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
			for _, p := range sum.DataPoints {
				fmt.Printf("metric: %s{%s} %d\n", m.Name, p.Attributes.Encoded(attribute.DefaultEncoder()), p.Value)
			}
		}
	}
	// Output:
	// span: wallet.redeem Error
	//   giftkit.outcome = not_found
	//   giftkit.code = ****-******-*H567
	// metric: giftkit.operation.count{giftkit.op=wallet.redeem,giftkit.outcome=not_found} 1
}
