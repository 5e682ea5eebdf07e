package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/giftkit/giftkit"
)

// The server's metrics, served at GET /metrics (the admin's) in the
// Prometheus text exposition format, written here by hand so that the
// example needs no metrics library:
//
//	giftkit_operations_total{op,outcome}                 counter    the library's use cases
//	giftkit_operation_duration_seconds{op,outcome}       histogram  how long they took
//	giftkit_notices_total{name}                          counter    lockouts, recoveries, outbox lag
//	http_requests_total{route,status}                    counter    the server's requests
//	http_request_duration_seconds{route}                 histogram  how long they took
//
// The library reports its use cases and notices to metrics, the services'
// giftkit.Observer; the server reports each request as it logs it. A
// label's values are few whatever the traffic: the library's operation
// and notice names, the outcome kinds (see outcome), and the route
// patterns, never a path, which holds IDs.

// latencyBuckets are the histograms' upper bounds, in seconds: Prometheus'
// default buckets, from 5 ms to 10 s.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// A histogram counts observations by latencyBuckets.
type histogram struct {
	buckets []uint64 // buckets[i]: observations ≤ latencyBuckets[i], not cumulative
	count   uint64
	sum     float64
}

// observe adds an observation of seconds.
func (h *histogram) observe(seconds float64) {
	if h.buckets == nil {
		h.buckets = make([]uint64, len(latencyBuckets))
	}
	if i, _ := slices.BinarySearch(latencyBuckets, seconds); i < len(latencyBuckets) {
		h.buckets[i]++
	}
	h.count++
	h.sum += seconds
}

// opKey names a series of the library's use cases.
type opKey struct{ op, outcome string }

// requestKey names a series of the server's requests.
type requestKey struct {
	route  string
	status int
}

// metrics holds the server's metrics. It is safe for concurrent use, and
// its zero value is ready, with every count at 0.
type metrics struct {
	mu        sync.Mutex
	ops       map[opKey]*histogram
	notices   map[string]uint64
	requests  map[requestKey]uint64
	latencies map[string]*histogram // by route
}

var _ giftkit.Observer = (*metrics)(nil)

// Begin implements giftkit.Observer: the use case op is counted and timed
// by its outcome when it ends.
func (m *metrics) Begin(ctx context.Context, op string) (context.Context, func(err error, attrs ...slog.Attr)) {
	start := time.Now()
	return ctx, func(err error, _ ...slog.Attr) {
		elapsed := time.Since(start).Seconds()
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.ops == nil {
			m.ops = map[opKey]*histogram{}
		}
		k := opKey{op, outcome(err)}
		h := m.ops[k]
		if h == nil {
			h = &histogram{}
			m.ops[k] = h
		}
		h.observe(elapsed)
	}
}

// Notice implements giftkit.Observer: the notice is counted by name.
func (m *metrics) Notice(_ context.Context, name string, _ ...slog.Attr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.notices == nil {
		m.notices = map[string]uint64{}
	}
	m.notices[name]++
}

// request counts a request the server answered: its route pattern ("/"
// for a path no route takes), its status and how long it took.
func (m *metrics) request(route string, status int, took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests == nil {
		m.requests, m.latencies = map[requestKey]uint64{}, map[string]*histogram{}
	}
	m.requests[requestKey{route, status}]++
	h := m.latencies[route]
	if h == nil {
		h = &histogram{}
		m.latencies[route] = h
	}
	h.observe(took.Seconds())
}

// outcome is the label of a use case that returned err, as the services'
// log records name it: "ok"; "canceled" for a cancelled request or a
// deadline that passed; the kind of failure (giftkit.KindOf) in snake case;
// or "error" for an error of no kind, the store's.
func outcome(err error) string { return giftkit.Outcome(err) }

// exposition writes the metrics in the Prometheus text format, version
// 0.0.4: each family's HELP and TYPE, then its series, sorted by label.
func (m *metrics) exposition() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b bytes.Buffer
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}

	family("giftkit_operations_total", "counter", "The library's use cases, by operation and outcome (ok, or the kind of failure).")
	ops := sortedKeys(m.ops, func(a, b opKey) int {
		return cmp.Or(strings.Compare(a.op, b.op), strings.Compare(a.outcome, b.outcome))
	})
	for _, k := range ops {
		fmt.Fprintf(&b, "giftkit_operations_total{%s} %d\n", labels("op", k.op, "outcome", k.outcome), m.ops[k].count)
	}
	family("giftkit_operation_duration_seconds", "histogram", "How long the library's use cases took, by operation and outcome.")
	for _, k := range ops {
		writeHistogram(&b, "giftkit_operation_duration_seconds", labels("op", k.op, "outcome", k.outcome), m.ops[k])
	}
	family("giftkit_notices_total", "counter", "The library's notices (wallet.lockout, checkout.recovery, outbox.lag), by name.")
	for _, name := range sortedKeys(m.notices, strings.Compare) {
		fmt.Fprintf(&b, "giftkit_notices_total{%s} %d\n", labels("name", name), m.notices[name])
	}
	family("http_requests_total", "counter", "The server's requests, by route pattern and status.")
	for _, k := range sortedKeys(m.requests, func(a, b requestKey) int { return cmp.Or(strings.Compare(a.route, b.route), a.status-b.status) }) {
		fmt.Fprintf(&b, "http_requests_total{%s} %d\n", labels("route", k.route, "status", strconv.Itoa(k.status)), m.requests[k])
	}
	family("http_request_duration_seconds", "histogram", "How long the server took to answer, by route pattern.")
	for _, route := range sortedKeys(m.latencies, strings.Compare) {
		writeHistogram(&b, "http_request_duration_seconds", labels("route", route), m.latencies[route])
	}
	return b.Bytes()
}

// writeHistogram writes the series of one histogram: its cumulative
// buckets, each with the label le, its sum and its count.
func writeHistogram(b *bytes.Buffer, name, labels string, h *histogram) {
	var cumulative uint64
	for i, le := range latencyBuckets {
		cumulative += h.buckets[i]
		fmt.Fprintf(b, "%s_bucket{%s,le=\"%s\"} %d\n", name, labels, strconv.FormatFloat(le, 'g', -1, 64), cumulative)
	}
	fmt.Fprintf(b, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels, h.count)
	fmt.Fprintf(b, "%s_sum{%s} %s\n", name, labels, strconv.FormatFloat(h.sum, 'g', -1, 64))
	fmt.Fprintf(b, "%s_count{%s} %d\n", name, labels, h.count)
}

// labelEscaper escapes a label value as the text format requires.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// labels writes name="value" pairs, from pairs of a name and a value.
func labels(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(pairs[i] + `="` + labelEscaper.Replace(pairs[i+1]) + `"`)
	}
	return b.String()
}

// sortedKeys returns the keys of m, sorted by compare.
func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	return slices.SortedFunc(maps.Keys(m), compare)
}

// metricsContentType is the media type of the text exposition format.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// serveMetrics answers GET /metrics with the metrics in the text
// exposition format.
func (s *server) serveMetrics(_ *http.Request, _ principal) (int, any, error) {
	return http.StatusOK, plainText{contentType: metricsContentType, body: s.metrics.exposition()}, nil
}

// plainText is a body a handler answers with as it is, rather than
// encoded as JSON.
type plainText struct {
	contentType string
	body        []byte
}
