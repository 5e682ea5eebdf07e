package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/google/go-cmp/cmp"
)

// sampleLine is a sample of the text exposition format: a metric name,
// labels and a value.
var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*\})? (\S+)$`)

// parseExposition reads the text exposition format strictly (every sample
// of a family declared by # TYPE, after it; every value a number) and
// returns each sample's value by its series, name{labels}.
func parseExposition(t *testing.T, text string) map[string]float64 {
	t.Helper()
	samples := map[string]float64{}
	types := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			types[name] = typ
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("exposition line %q is not a sample", line)
		}
		family := m[1]
		if typ := types[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(family, "_bucket"), "_sum"), "_count")]; typ == "histogram" {
			family = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(family, "_bucket"), "_sum"), "_count")
		}
		if types[family] == "" {
			t.Errorf("exposition sample %q before its family's # TYPE", line)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Errorf("exposition sample %q: value %v", line, err)
		}
		if _, dup := samples[m[1]+m[2]]; dup {
			t.Errorf("exposition sample %q given twice", line)
		}
		samples[m[1]+m[2]] = v
	}
	return samples
}

// TestMetricsExposition: what the Observer and the requests count, as the
// text format writes it, with cumulative histogram buckets.
func TestMetricsExposition(t *testing.T) {
	m := &metrics{}
	for _, err := range []error{nil, nil, fmt.Errorf("x: %w", giftkit.ErrNotFound), giftcard.ErrAlreadyRedeemed, context.Canceled} {
		_, end := m.Begin(context.Background(), "wallet.redeem")
		end(err)
	}
	m.Notice(context.Background(), "wallet.lockout")
	m.Notice(context.Background(), "wallet.lockout")
	m.Notice(context.Background(), "checkout.recovery")
	m.request("POST /accounts/{id}/redeem", 200, 3*time.Millisecond)
	m.request("POST /accounts/{id}/redeem", 409, 30*time.Millisecond)
	m.request("POST /accounts/{id}/redeem", 200, 11*time.Second)
	m.request(`odd "route"`+"\\\n", 404, time.Millisecond)

	text := string(m.exposition())
	got := parseExposition(t, text)
	for series, want := range map[string]float64{
		`giftkit_operations_total{op="wallet.redeem",outcome="ok"}`:                            2,
		`giftkit_operations_total{op="wallet.redeem",outcome="not_found"}`:                     1,
		`giftkit_operations_total{op="wallet.redeem",outcome="conflict"}`:                      1,
		`giftkit_operations_total{op="wallet.redeem",outcome="canceled"}`:                      1,
		`giftkit_operation_duration_seconds_count{op="wallet.redeem",outcome="ok"}`:            2,
		`giftkit_operation_duration_seconds_bucket{op="wallet.redeem",outcome="ok",le="+Inf"}`: 2,
		`giftkit_notices_total{name="wallet.lockout"}`:                                         2,
		`giftkit_notices_total{name="checkout.recovery"}`:                                      1,
		`http_requests_total{route="POST /accounts/{id}/redeem",status="200"}`:                 2,
		`http_requests_total{route="POST /accounts/{id}/redeem",status="409"}`:                 1,
		`http_requests_total{route="odd \"route\"\\\n",status="404"}`:                          1,
		`http_request_duration_seconds_bucket{route="POST /accounts/{id}/redeem",le="0.005"}`:  1,
		`http_request_duration_seconds_bucket{route="POST /accounts/{id}/redeem",le="0.01"}`:   1,
		`http_request_duration_seconds_bucket{route="POST /accounts/{id}/redeem",le="0.05"}`:   2,
		`http_request_duration_seconds_bucket{route="POST /accounts/{id}/redeem",le="10"}`:     2,
		`http_request_duration_seconds_bucket{route="POST /accounts/{id}/redeem",le="+Inf"}`:   3,
		`http_request_duration_seconds_count{route="POST /accounts/{id}/redeem"}`:              3,
		`http_request_duration_seconds_sum{route="POST /accounts/{id}/redeem"}`:                11.033,
	} {
		if g, ok := got[series]; !ok || fmt.Sprintf("%.6f", g) != fmt.Sprintf("%.6f", want) {
			t.Errorf("%s = %v (present: %v); want %v\n%s", series, g, ok, want, text)
		}
	}
	// Families come in a fixed order, each with its HELP and TYPE.
	var families []string
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			families = append(families, rest)
		}
	}
	want := []string{
		"giftkit_operations_total counter", "giftkit_operation_duration_seconds histogram", "giftkit_notices_total counter",
		"http_requests_total counter", "http_request_duration_seconds histogram",
	}
	if diff := cmp.Diff(want, families); diff != "" {
		t.Errorf("families mismatch (-want +got):\n%s", diff)
	}
}

// scrape gets /metrics with token and returns the status, the content type
// and the body.
func scrape(t *testing.T, api *apiClient, token string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", api.base+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := api.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// TestMetricsEndpoint: GET /metrics is the admin's, in the text exposition
// format, and its request counts move with the traffic, by route pattern
// and status.
func TestMetricsEndpoint(t *testing.T) {
	api := newTestServer(t)
	status, contentType, body := scrape(t, api, adminToken)
	if status != http.StatusOK || contentType != metricsContentType {
		t.Fatalf("GET /metrics = %d %q; want 200 %q", status, contentType, metricsContentType)
	}
	before := parseExposition(t, body)
	if n := len(before); n != 0 {
		t.Errorf("before any request, %d samples; want none:\n%s", n, body)
	}
	if status, _, _ := scrape(t, api, aliceToken); status != http.StatusForbidden {
		t.Errorf("GET /metrics as alice = %d; want 403", status)
	}
	if status, _, _ := scrape(t, api, ""); status != http.StatusUnauthorized {
		t.Errorf("GET /metrics without a token = %d; want 401", status)
	}

	code := issue(t, api, "10.00", "issue-1")
	for i, want := range []int{http.StatusOK, http.StatusConflict} {
		if status, err := api.call("POST", "/accounts/alice/redeem", aliceToken, fmt.Sprint("r", i), map[string]string{"code": code}, nil); err != nil || status != want {
			t.Fatalf("redeem %d: %d %v; want %d", i, status, err, want)
		}
	}
	if status, _ := api.call("GET", "/accounts/bob/balance", aliceToken, "", nil, nil); status != http.StatusForbidden {
		t.Fatalf("alice reading bob's balance: %d; want 403", status)
	}
	if status, _ := api.call("GET", "/accounts/alice/orders/no-such-order", aliceToken, "", nil, nil); status != http.StatusNotFound {
		t.Fatalf("alice reading an order she does not have: %d; want 404", status)
	}

	_, _, body = scrape(t, api, adminToken)
	got := parseExposition(t, body)
	for series, want := range map[string]float64{
		`http_requests_total{route="GET /metrics",status="200"}`:                             1, // the first scrape; this one is counted after
		`http_requests_total{route="GET /metrics",status="401"}`:                             1,
		`http_requests_total{route="GET /metrics",status="403"}`:                             1,
		`http_requests_total{route="POST /cards",status="201"}`:                              1,
		`http_requests_total{route="POST /accounts/{id}/redeem",status="200"}`:               1,
		`http_requests_total{route="POST /accounts/{id}/redeem",status="409"}`:               1,
		`http_requests_total{route="GET /accounts/{id}/balance",status="403"}`:               1,
		`http_requests_total{route="GET /accounts/{id}/orders/{order}",status="404"}`:        1,
		`http_request_duration_seconds_count{route="POST /accounts/{id}/redeem"}`:            2,
		`http_request_duration_seconds_bucket{route="POST /accounts/{id}/redeem",le="+Inf"}`: 2,
	} {
		if got[series] != want {
			t.Errorf("after the traffic, %s = %v; want %v\n%s", series, got[series], want, body)
		}
	}
	if strings.Contains(body, code) || strings.Contains(body, "no-such-order") || strings.Contains(body, "/alice/") {
		t.Errorf("/metrics holds a path or a code:\n%s", body)
	}
}

// TestMetricsOperations: the services report their calls to the server's
// metrics: a redemption, a refused one and a lockout move the counts.
//
// It needs the services to call their Config.Observer (Begin and Notice);
// until they do, it fails.
func TestMetricsOperations(t *testing.T) {
	api := newTestServer(t)
	code := issue(t, api, "10.00", "issue-1")
	for i, want := range []int{http.StatusOK, http.StatusConflict} {
		if status, err := api.call("POST", "/accounts/alice/redeem", aliceToken, fmt.Sprint("r", i), map[string]string{"code": code}, nil); err != nil || status != want {
			t.Fatalf("redeem %d: %d %v; want %d", i, status, err, want)
		}
	}
	for i := 0; i < 11; i++ { // the eleventh guess is locked out (see TestTooManyAttempts)
		_, _ = api.call("POST", "/accounts/bob/redeem", bobToken, fmt.Sprint("guess-", i), map[string]string{"code": "1G06-02M06R-1GGZ1"}, nil)
	}

	_, _, body := scrape(t, api, adminToken)
	got := parseExposition(t, body)
	for _, series := range []string{
		`giftkit_operations_total{op="wallet.redeem",outcome="ok"}`,
		`giftkit_operations_total{op="wallet.redeem",outcome="conflict"}`,
		`giftkit_operation_duration_seconds_count{op="wallet.redeem",outcome="ok"}`,
		`giftkit_notices_total{name="wallet.lockout"}`,
	} {
		if got[series] < 1 {
			t.Errorf("after a redemption, a refused one and a lockout, %s = %v; want 1 or more\n%s", series, got[series], body)
		}
	}
}
