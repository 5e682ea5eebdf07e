package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/giftkit/giftkit/checkout"
)

// startSweeper sweeps open payments (checkout.Service.Sweep) at once and
// then every interval, in a goroutine, until the returned function is
// called; that function cancels a sweep in progress and waits for it to
// end, so that the store can be released after it. A payment is left open
// when the process stops, or the processor stops answering, between two of
// its steps; the sweep completes or unwinds it with the same processor keys,
// so the processor acts once. Several instances may sweep one store at once:
// each step is recorded only if the payment is still where the step began.
// An interval of 0 or less turns the sweeper off.
func startSweeper(pay *checkout.Service, interval time.Duration, log *slog.Logger) (stop func()) {
	if interval <= 0 {
		log.Info("sweeper off: payments left open are finished only by their retries")
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			sweepOnce(ctx, pay, log)
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// sweepOnce runs one sweep and logs what it did, if anything.
func sweepOnce(ctx context.Context, pay *checkout.Service, log *slog.Logger) {
	start := time.Now()
	resumed, open, err := pay.Sweep(ctx, 0)
	switch {
	case err != nil && ctx.Err() != nil:
		// Stopped during shutdown; the next start sweeps again.
	case err != nil:
		log.Error("sweep failed", "resumed", resumed, "still_open", open, "err", maskCodes(err.Error()))
	case resumed > 0:
		log.Info("sweep", "resumed", resumed, "still_open", open, "latency", time.Since(start))
	default:
		log.Debug("sweep", "still_open", open, "latency", time.Since(start))
	}
}
