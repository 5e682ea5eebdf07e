package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
)

// syncBuffer is a bytes.Buffer that a server's goroutines may write at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s", what)
		}
	}
}

// logRecord is a line of the server's JSON log.
type logRecord struct {
	Level, Msg, Method, Route, RequestID, Caller, Problem, Err string
	Status                                                     int
	Latency                                                    *float64
}

// requestRecord returns the log line of the request whose ID is id, if it
// has been written.
func requestRecord(t *testing.T, logged, id string) (logRecord, bool) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logged), "\n") {
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if raw["msg"] != "request" || raw["request_id"] != id {
			continue
		}
		var rec logRecord
		data, _ := json.Marshal(raw)
		_ = json.Unmarshal(data, &rec)
		rec.RequestID = id
		return rec, true
	}
	return logRecord{}, false
}

// TestRequestLog: every request is logged once, with its method, route
// pattern, status, latency, caller and request ID (the client's if usable,
// else a new one, sent back in X-Request-ID), and the error behind a problem;
// no log line holds a whole activation code, even one a client put in a
// request ID or an order ID.
func TestRequestLog(t *testing.T) {
	var logs syncBuffer
	api := startTestServer(t, testConfig(t), &logs)
	code := issue(t, api, "10.00", "issue-1")
	send := func(path, requestID string, body any) string {
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", api.base+path, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "k-"+requestID)
		req.Header.Set("X-Request-ID", requestID)
		resp, err := api.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Request-ID")
	}
	redeem := map[string]string{"code": code}
	send("/accounts/alice/redeem", "req-1", redeem)
	send("/accounts/alice/redeem", "req-2", redeem) // refused: already redeemed
	typo := []byte(code)
	typo[0] = map[bool]byte{true: 'X', false: 'Y'}[typo[0] != 'X']
	send("/accounts/alice/redeem", "req-3", map[string]string{"code": string(typo)})
	if got := send("/accounts/alice/redeem", code, redeem); got == code || got == "" {
		t.Errorf("X-Request-ID %q sent back for a request ID that is a code; want a new one", got)
	}
	send(orderPath("alice", code)+"/pay", "req-5", map[string]any{"total": eur("99.00"), "instrument": processortest.DeclinedInstrument})
	if got := send("/accounts/alice/redeem", "bad id with spaces", redeem); got == "bad id with spaces" || len(got) < 16 {
		t.Errorf("X-Request-ID %q sent back for an unusable request ID; want a new one", got)
	}

	for _, want := range []logRecord{
		{Level: "INFO", Method: "POST", Route: "POST /accounts/{id}/redeem", Status: 200, RequestID: "req-1", Caller: "alice"},
		{Level: "INFO", Method: "POST", Route: "POST /accounts/{id}/redeem", Status: 409, RequestID: "req-2", Caller: "alice", Problem: "already-redeemed"},
		{Level: "INFO", Method: "POST", Route: "POST /accounts/{id}/redeem", Status: 422, RequestID: "req-3", Caller: "alice", Problem: "invalid-code"},
		{Level: "INFO", Method: "POST", Route: "POST /accounts/{id}/orders/{order}/pay", Status: 402, RequestID: "req-5", Caller: "alice", Problem: "payment-declined"},
	} {
		var got logRecord
		waitFor(t, "the log line of "+want.RequestID, func() (ok bool) { got, ok = requestRecord(t, logs.String(), want.RequestID); return ok })
		if got.Latency == nil {
			t.Errorf("log line of %s has no latency", want.RequestID)
		}
		if want.Problem != "" && got.Err == "" {
			t.Errorf("log line of %s has no err; want the error behind the problem", want.RequestID)
		}
		got.Latency, got.Err, got.Msg = nil, "", ""
		if got != want {
			t.Errorf("log line of %s = %+v; want %+v", want.RequestID, got, want)
		}
	}
	logged := logs.String()
	if found := codefmt.Extract(logged); len(found) > 0 {
		t.Errorf("the log holds whole activation codes %v:\n%s", found, logged)
	}
	if rec, _ := requestRecord(t, logged, "req-2"); !strings.Contains(rec.Err, "(****-******-*") {
		t.Errorf("log line of a refused redemption: err %q; want the card's masked code", rec.Err)
	}
}

// TestMaskCodes: maskCodes is codefmt.Redact (tested there): a code glued
// to an owner's tag, as in a payment ID, is masked.
func TestMaskCodes(t *testing.T) {
	code := codefmt.MustParse("1G06-02M06R-1GGZ1")
	if got := maskCodes("order tagX" + strings.ReplaceAll(code.String(), "-", "")); got != "order tagX"+code.Masked() {
		t.Errorf("maskCodes = %q", got)
	}
}

// TestDeclineNamesCardPart: a declined card is reported with the part of
// the order it was to pay, not the order's total, and the balance it was
// to pay with is as it was.
func TestDeclineNamesCardPart(t *testing.T) {
	api := newTestServer(t)
	code := issue(t, api, "10.00", "issue-1")
	if status, err := api.call("POST", "/accounts/bob/redeem", bobToken, "r1", map[string]string{"code": code}, nil); err != nil || status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, err)
	}
	var p problem
	status, _ := api.call("POST", "/accounts/bob/orders/o1/pay", bobToken, "p1",
		map[string]any{"total": eur("25.00"), "instrument": processortest.DeclinedInstrument}, &p)
	if want := "the bank card was declined for its part of the order, 15.00 EUR (the processor's reason: card_declined); nothing was charged, and the balance is as it was"; status != http.StatusPaymentRequired || p.Detail != want {
		t.Errorf("declined: %d %q; want 402 %q", status, p.Detail, want)
	}
	var o order
	if status, _ := api.call("GET", "/accounts/bob/orders/o1", bobToken, "", nil, &o); status != http.StatusOK || o.State != "failed" {
		t.Errorf("the declined order: %d %+v; want failed", status, o)
	}
	var balance struct{ Available struct{ Amount string } }
	if status, _ := api.call("GET", "/accounts/bob/balance", bobToken, "", nil, &balance); status != http.StatusOK || balance.Available.Amount != "10.00" {
		t.Errorf("balance after the decline: %d %+v; want 10.00 available", status, balance)
	}
}

// TestSweeper: an order the processor did not answer for stays open (503,
// Retry-After 5, a detail that says to retry); the sweeper finishes it, and
// stops when told.
func TestSweeper(t *testing.T) {
	proc := processortest.New()
	proc.Queue(processortest.OpAuthorize, processortest.Fail)
	cfg := testConfig(t)
	cfg.Processor = proc
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	s, release, err := newServer(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.routes())
	t.Cleanup(func() { srv.Close(); release() })
	api := &apiClient{base: srv.URL, http: contractClient(t)}

	req, _ := http.NewRequest("POST", api.base+"/accounts/alice/orders/o1/pay", strings.NewReader(`{"total":{"amount":"7.00","currency":"EUR"},"instrument":"tok_visa"}`))
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "p1")
	resp, err := api.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p problem
	_ = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" || !strings.Contains(p.Detail, "retry in 5 seconds") {
		t.Fatalf("pay while the processor fails: %d Retry-After %q %+v; want 503, 5, retry in 5 seconds", resp.StatusCode, resp.Header.Get("Retry-After"), p)
	}

	stop := startSweeper(s.checkout, 10*time.Millisecond, log)
	waitFor(t, "the sweeper to capture the order", func() bool {
		var o order
		status, _ := api.call("GET", "/accounts/alice/orders/o1", aliceToken, "", nil, &o)
		return status == http.StatusOK && o.State == "captured" && o.Card.Captured.Amount == "7.00"
	})
	stop()
	if !strings.Contains(logs.String(), `"resumed":1`) {
		t.Errorf("log %s; want a sweep that resumed one payment", logs.String())
	}
	if got := proc.Calls(processortest.OpAuthorize); got != 2 {
		t.Errorf("authorize called %d times; want 2, the failed call and the sweep's", got)
	}
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// noEnv is an environment with no variables.
func noEnv(string) string { return "" }

// TestDevelopmentMode: without -tokens or GIFTKIT_TOKENS, the server says it
// is in development mode, prints a token for the admin and one for alice,
// and takes them.
func TestDevelopmentMode(t *testing.T) {
	addr := freeAddr(t)
	var out, logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", addr, "-db", filepath.Join(t.TempDir(), "giftkit.db")}, noEnv, &out, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	waitFor(t, "the server to listen", func() bool { return strings.Contains(logs.String(), "msg=listening") })

	tokens := regexp.MustCompile(`(?m)^  (admin|alice) \(.*\):\s+(\S+)$`).FindAllStringSubmatch(out.String(), -1)
	if len(tokens) != 2 || tokens[0][1] != "admin" || tokens[1][1] != "alice" || !strings.Contains(out.String(), "Development mode") {
		t.Fatalf("output:\n%s\nwant development mode, with a token for admin and one for alice", out.String())
	}
	api := &apiClient{base: "http://" + addr, http: contractClient(t)}
	var issued struct{ Cards []struct{ Code string } }
	if status, err := api.call("POST", "/cards", tokens[0][2], "issue-1", map[string]any{"value": eur("5.00")}, &issued); err != nil || status != http.StatusCreated {
		t.Fatalf("the admin issues a card with the printed token: %d %v", status, err)
	}
	code := issued.Cards[0].Code
	if status, err := api.call("POST", "/accounts/alice/redeem", tokens[1][2], "r1", map[string]string{"code": code}, nil); err != nil || status != http.StatusOK {
		t.Errorf("alice redeems with her printed token: %d %v", status, err)
	}
	cancel()
	if got := <-done; got != 0 {
		t.Errorf("run = %d; want 0", got)
	}
	for _, want := range []string{"development mode", "msg=stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log:\n%s\nwant %q", logs.String(), want)
		}
	}
	if strings.Contains(logs.String(), tokens[0][2]) {
		t.Errorf("the log holds the admin's token")
	}
}

// TestStartFailure: a server that cannot start says so, exits 1, and does
// not log "stopped".
func TestStartFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	const tokens = adminToken + "=admin"
	for name, args := range map[string][]string{
		"address in use": {"-addr", taken.Addr().String(), "-tokens", tokens, "-memory"},
		"bad tokens":     {"-addr", "127.0.0.1:0", "-tokens", "short=alice", "-memory"},
		"bad database":   {"-addr", "127.0.0.1:0", "-tokens", tokens, "-db", filepath.Join(t.TempDir(), "no", "such", "dir", "giftkit.db")},
		"bad DSN":        {"-addr", "127.0.0.1:0", "-tokens", tokens, "-hash-key", "0123456789abcdef0123456789abcdef", "-dsn", "postgres://%zz"},
	} {
		var logs syncBuffer
		code := run(context.Background(), args, noEnv, io.Discard, slog.New(slog.NewTextHandler(&logs, nil)))
		if code != 1 || !strings.Contains(logs.String(), "did not start") || strings.Contains(logs.String(), "stopped") {
			t.Errorf("%s: run = %d, log:\n%s\nwant 1, did not start, and no stopped", name, code, logs.String())
		}
	}
}

// TestUnrouted: a path with no route is a 404 problem, a method a path does
// not take is a 405 problem with Allow; both carry a request ID.
func TestUnrouted(t *testing.T) {
	api := newTestServer(t)
	for _, tc := range []struct {
		method, path string
		status       int
		slug, allow  string
	}{
		{"GET", "/nothing/here", http.StatusNotFound, "not-found", ""},
		{"GET", "/cards", http.StatusMethodNotAllowed, "method-not-allowed", "POST"},
		{"DELETE", "/accounts/alice/orders/o1", http.StatusMethodNotAllowed, "method-not-allowed", "GET, HEAD"},
	} {
		req, _ := http.NewRequest(tc.method, api.base+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		resp, err := http.DefaultClient.Do(req) // not the contract client: these routes are not in the document
		if err != nil {
			t.Fatal(err)
		}
		var p problem
		_ = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != tc.status || p.Type != problemTypeBase+tc.slug || resp.Header.Get("Allow") != tc.allow ||
			resp.Header.Get("Content-Type") != "application/problem+json" || resp.Header.Get("X-Request-ID") == "" {
			t.Errorf("%s %s = %d %+v, Allow %q; want %d %s, Allow %q", tc.method, tc.path, resp.StatusCode, p, resp.Header.Get("Allow"), tc.status, tc.slug, tc.allow)
		}
	}
}

// TestContractRefusals: requests that openapi.json refuses are refused by
// the server too (the contract client fails the test if one is accepted).
func TestContractRefusals(t *testing.T) {
	api := newTestServer(t)
	c := mustContract(t)
	for _, tc := range []struct{ name, method, path, token, body string }{
		{"an amount as a number", "POST", "/accounts/alice/orders/o1/pay", aliceToken, `{"total":{"amount":5,"currency":"EUR"},"instrument":"tok_visa"}`},
		{"an amount with another member", "POST", "/accounts/alice/orders/o1/pay", aliceToken, `{"total":{"amount":"5.00","currency":"EUR","rate":1},"instrument":"tok_visa"}`},
		{"an amount without currency", "POST", "/accounts/alice/orders/o1/pay", aliceToken, `{"total":{"amount":"5.00"},"instrument":"tok_visa"}`},
		{"a negative amount", "POST", "/accounts/alice/orders/o1/pay", aliceToken, `{"total":{"amount":"-5.00","currency":"EUR"},"instrument":"tok_visa"}`},
		{"a null total", "POST", "/accounts/alice/orders/o1/pay", aliceToken, `{"total":null,"instrument":"tok_visa"}`},
		{"no total", "POST", "/accounts/alice/orders/o1/pay", aliceToken, `{"instrument":"tok_visa"}`},
		{"an unknown capture", "POST", "/accounts/alice/orders/o1/pay", aliceToken, `{"total":{"amount":"5.00","currency":"EUR"},"instrument":"tok_visa","capture":"someday"}`},
		{"an unknown member", "POST", "/accounts/alice/orders/o1/pay", aliceToken, `{"total":{"amount":"5.00","currency":"EUR"},"instrument":"tok_visa","tip":"1"}`},
		{"an order ID too long", "POST", orderPath("alice", strings.Repeat("x", 86)) + "/pay", aliceToken, `{"total":{"amount":"5.00","currency":"EUR"},"instrument":"tok_visa"}`},
		{"too many cards", "POST", "/cards", adminToken, `{"value":{"amount":"5.00","currency":"EUR"},"count":10001}`},
		{"an expiry that is not a time", "POST", "/cards", adminToken, `{"value":{"amount":"5.00","currency":"EUR"},"expires_at":"tomorrow"}`},
		{"a code as a number", "POST", "/accounts/alice/redeem", aliceToken, `{"code":123456789012345}`},
		{"no code", "POST", "/accounts/alice/redeem", aliceToken, `{}`},
		{"an empty body", "POST", "/accounts/alice/redeem", aliceToken, ``},
		{"a body that is not an object", "POST", "/accounts/alice/redeem", aliceToken, `["1G06-02M06R-1GGZ1"]`},
		{"a limit too large", "GET", "/accounts/alice/history?limit=501", aliceToken, ``},
		{"a lower-case currency", "GET", "/accounts/alice/balance?currency=eur", aliceToken, ``},
		{"no token", "GET", "/accounts/alice/balance", "", ``},
		{"an adjustment without a reason", "POST", "/accounts/alice/adjustments", adminToken, `{"amount":{"amount":"5.00","currency":"EUR"}}`},
		{"an adjustment as a number", "POST", "/accounts/alice/adjustments", adminToken, `{"amount":{"amount":-5,"currency":"EUR"},"reason":"x"}`},
		{"an adjustment with another member", "POST", "/accounts/alice/adjustments", adminToken, `{"amount":{"amount":"5.00","currency":"EUR"},"reason":"x","by":"me"}`},
		{"a reason on two lines", "POST", "/cards/card_0123456789abcdef0123/adjustments", adminToken, `{"amount":{"amount":"5.00","currency":"EUR"},"reason":"a\nb"}`},
		{"a clawback of a null amount", "POST", "/cards/card_0123456789abcdef0123/clawback", adminToken, `{"amount":null,"reason":"x"}`},
		{"a clawback without a reason", "POST", "/cards/card_0123456789abcdef0123/clawback", adminToken, `{}`},
		{"an unknown order", "GET", "/activity?order=sideways", adminToken, ``},
		{"an unknown actor kind", "GET", "/activity?actor_kind=robot&actor_id=r2", adminToken, ``},
		{"an activity limit too large", "GET", "/activity?limit=1001", adminToken, ``},
		{"a cursor that is not base64url", "GET", "/activity?after=a%2Bb", adminToken, ``},
		{"a from that is not a time", "GET", "/activity?from=monday", adminToken, ``},
		{"an unknown format", "GET", "/reports/liability?format=xlsx", adminToken, ``},
		{"a dormancy without since", "GET", "/reports/dormancy", adminToken, ``},
		{"codes that are not a list", "POST", "/accounts/alice/orders/o1/pay", aliceToken, `{"total":{"amount":"5.00","currency":"EUR"},"codes":"1G06-02M06R-1GGZ1"}`},
		{"six codes", "POST", "/accounts/guest/orders/o1/pay", "", `{"total":{"amount":"5.00","currency":"EUR"},"codes":["a","b","c","d","e","f"]}`},
		{"a code as a number in codes", "POST", "/accounts/guest/orders/o1/pay", "", `{"total":{"amount":"5.00","currency":"EUR"},"codes":[123]}`},
		{"a balance check without a code", "POST", "/cards/balance", "", `{}`},
		{"a balance check with another member", "POST", "/cards/balance", "", `{"code":"1G06-02M06R-1GGZ1","owner":"alice"}`},
		{"a reload as a number", "POST", "/cards/card_0123456789abcdef0123/reload", adminToken, `{"amount":{"amount":5,"currency":"EUR"}}`},
		{"a transfer without a card to move to", "POST", "/cards/card_0123456789abcdef0123/transfer", adminToken, `{"amount":{"amount":"5.00","currency":"EUR"}}`},
		{"a merge with an amount", "POST", "/cards/card_0123456789abcdef0123/merge", adminToken, `{"to":"card_0123456789abcdef0124","amount":{"amount":"5.00","currency":"EUR"}}`},
		{"a load of a negative amount", "POST", "/accounts/alice/loads", adminToken, `{"amount":{"amount":"-5.00","currency":"EUR"}}`},
	} {
		req, _ := http.NewRequest(tc.method, api.base+tc.path, strings.NewReader(tc.body))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		if tc.method == "POST" {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "k-"+tc.name)
		}
		if _, err := c.checkRequest(req, []byte(tc.body)); err == nil {
			t.Errorf("%s: openapi.json allows %s %s %s; want it refused", tc.name, tc.method, tc.path, tc.body)
		}
		resp, err := api.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p problem
		_ = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: %d %+v; want a 4xx problem", tc.name, resp.StatusCode, p)
		}
		checkHumanDetail(t, errEmpty, p.Detail)
	}
}

// errEmpty stands for no error in checkHumanDetail.
var errEmpty = &requestError{detail: "\x00"}

// TestSharedLimiter: on PostgreSQL, two instances of the service share the
// count of failed redemptions, so that a guesser locked out by one is locked
// out by the other.
func TestSharedLimiter(t *testing.T) {
	cfg := testConfig(t)
	if cfg.DSN == "" {
		t.Skip("needs PostgreSQL: set GIFTKIT_PG_STORE_TESTS and GIFTKIT_PG_DSN")
	}
	one, other := startTestServer(t, cfg, io.Discard), startTestServer(t, cfg, io.Discard)
	guess := map[string]string{"code": "1G06-02M06R-1GGZ1"} // valid, but no card has it
	for i := 0; i < 10; i++ {
		if status, err := one.call("POST", "/accounts/alice/redeem", aliceToken, fmt.Sprint("guess-", i), guess, nil); err != nil || status != http.StatusUnprocessableEntity {
			t.Fatalf("guess %d on the first instance: %d %v; want 422", i+1, status, err)
		}
	}
	var p problem
	if status, _ := other.call("POST", "/accounts/alice/redeem", aliceToken, "guess-10", guess, &p); status != http.StatusTooManyRequests {
		t.Errorf("eleventh guess, on the other instance: %d %+v; want 429", status, p)
	}
}
