package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/giftkit/giftkit/wallet"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
)

const (
	adminToken = "admin-token-0123456789"
	aliceToken = "alice-token-0123456789"
	bobToken   = "bob-token-0123456789ab"
	// API clients: two tills that sell reloads.
	tillToken      = "till-token-0123456789"
	otherTillToken = "till-token-9876543210"
)

// newTestServer starts the service over real HTTP with admin, alice, bob,
// the API clients till-1 and till-2 and shoppers s0…s31, on the in-memory store, or on PostgreSQL in a schema
// of its own when GIFTKIT_PG_STORE_TESTS is set (with GIFTKIT_PG_DSN). Its
// client checks every exchange against openapi.json.
func newTestServer(t *testing.T) *apiClient {
	t.Helper()
	return startTestServer(t, testConfig(t), io.Discard)
}

// testConfig returns the configuration of newTestServer. Two servers
// started with one configuration share its store when it is PostgreSQL.
func testConfig(t *testing.T) serverConfig {
	t.Helper()
	spec := adminToken + "=admin," + aliceToken + "=alice," + bobToken + "=bob," + tillToken + "=client:till-1," + otherTillToken + "=client:till-2"
	for i := 0; i < 32; i++ {
		spec += fmt.Sprintf(",shopper-token-%04d=s%d", i, i)
	}
	cfg := serverConfig{Tokens: spec}
	if dsn := os.Getenv("GIFTKIT_PG_DSN"); dsn != "" && os.Getenv("GIFTKIT_PG_STORE_TESTS") != "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.DSN, cfg.Schema, cfg.HashKey = dsn, "http_"+hex.EncodeToString(b[:]), "httpserver-test-hash-key-0123456789"
		t.Cleanup(func() { dropSchema(t, dsn, cfg.Schema) })
	}
	return cfg
}

// startTestServer starts the service with cfg over real HTTP, logging as
// JSON to log, with its sweeper if cfg has an interval, and returns a client
// that checks every exchange against openapi.json.
func startTestServer(t *testing.T, cfg serverConfig, log io.Writer) *apiClient {
	t.Helper()
	logger := slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, release, err := newServer(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.routes())
	stopSweeper := startSweeper(s.checkout, cfg.SweepInterval, logger)
	t.Cleanup(func() { srv.Close(); stopSweeper(); release() })
	return &apiClient{base: srv.URL, http: contractClient(t)}
}

func dropSchema(t *testing.T, dsn, schema string) {
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
		t.Error(err)
	}
}

func eur(amount string) map[string]string {
	return map[string]string{"amount": amount, "currency": "EUR"}
}

// issue has the admin issue one card of value and returns its code.
func issue(t *testing.T, api *apiClient, value, key string) string {
	t.Helper()
	var out struct {
		Cards []struct{ Code string } `json:"cards"`
	}
	status, err := api.call("POST", "/cards", adminToken, key, map[string]any{"value": eur(value)}, &out)
	if err != nil || status != http.StatusCreated || len(out.Cards) != 1 {
		t.Fatalf("issue: %d %v %+v", status, err, out)
	}
	return out.Cards[0].Code
}

type problem struct {
	Type        string   `json:"type"`
	Status      int      `json:"status"`
	Detail      string   `json:"detail"`
	Index       *int     `json:"index"`
	Character   *int     `json:"character"`
	Suggestions []string `json:"suggestions"`
	SameAccount *bool    `json:"same_account"`
}

func TestAuthorization(t *testing.T) {
	api := newTestServer(t)
	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token", "GET", "/accounts/alice/balance", "", http.StatusUnauthorized},
		{"unknown token", "GET", "/accounts/alice/balance", "nope-nope-nope-nope", http.StatusUnauthorized},
		{"shopper issues cards", "POST", "/cards", aliceToken, http.StatusForbidden},
		{"shopper refunds", "POST", "/accounts/alice/orders/o1/refund", aliceToken, http.StatusForbidden},
		{"shopper captures", "POST", "/accounts/alice/orders/o1/capture", aliceToken, http.StatusForbidden},
		{"shopper pays into another account", "POST", "/accounts/bob/orders/o1/pay", aliceToken, http.StatusForbidden},
		{"other account's order", "GET", "/accounts/bob/orders/o1", aliceToken, http.StatusForbidden},
		{"other account's balance", "GET", "/accounts/bob/balance", aliceToken, http.StatusForbidden},
		{"other account's history", "GET", "/accounts/bob/history", aliceToken, http.StatusForbidden},
		{"redeem into another account", "POST", "/accounts/bob/redeem", aliceToken, http.StatusForbidden},
		{"admin redeems for a shopper", "POST", "/accounts/alice/redeem", adminToken, http.StatusForbidden},
		{"admin pays for a shopper", "POST", "/accounts/alice/orders/o1/pay", adminToken, http.StatusForbidden},
		{"own balance", "GET", "/accounts/alice/balance", aliceToken, http.StatusOK},
		{"support reads a balance", "GET", "/accounts/alice/balance", adminToken, http.StatusOK},
	} {
		req, _ := http.NewRequest(tc.method, api.base+tc.path, strings.NewReader("{}"))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := api.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s %s = %d; want %d", tc.name, tc.method, tc.path, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
		if tc.want >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: content type %q; want application/problem+json", tc.name, resp.Header.Get("Content-Type"))
		}
	}
}

func TestRedeemFlow(t *testing.T) {
	api := newTestServer(t)
	code := issue(t, api, "25.00", "issue-1")
	messy := " " + strings.ToLower(strings.ReplaceAll(code, "-", " ")) + " "

	var first, again map[string]any
	if status, err := api.call("POST", "/accounts/alice/redeem", aliceToken, "r1", map[string]string{"code": messy}, &first); err != nil || status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, err)
	}
	// The same key returns the first outcome.
	if status, _ := api.call("POST", "/accounts/alice/redeem", aliceToken, "r1", map[string]string{"code": messy}, &again); status != http.StatusOK || fmt.Sprint(first) != fmt.Sprint(again) {
		t.Errorf("replay: %d %v; want %v", status, again, first)
	}
	var p problem
	status, _ := api.call("POST", "/accounts/alice/redeem", aliceToken, "r2", map[string]string{"code": code}, &p)
	if status != http.StatusConflict || p.SameAccount == nil || !*p.SameAccount || !strings.HasSuffix(p.Type, "/already-redeemed") {
		t.Errorf("second redemption: %d %+v; want 409 already-redeemed by the same account", status, p)
	}
	if strings.Contains(p.Detail, code) {
		t.Errorf("problem detail %q reveals the code", p.Detail)
	}
	status, _ = api.call("POST", "/accounts/bob/redeem", bobToken, "r1", map[string]string{"code": code}, &p)
	if status != http.StatusConflict || p.SameAccount == nil || *p.SameAccount {
		t.Errorf("bob redeeming alice's card: %d %+v", status, p)
	}

	var balance struct {
		Available struct{ Amount, Currency string }
	}
	if status, _ := api.call("GET", "/accounts/alice/balance?currency=EUR", aliceToken, "", nil, &balance); status != 200 || balance.Available.Amount != "25.00" {
		t.Errorf("balance: %d %+v", status, balance)
	}
	var history struct {
		Entries []struct {
			Seq  int64
			Kind string
		}
	}
	if status, _ := api.call("GET", "/accounts/alice/history", aliceToken, "", nil, &history); status != 200 || len(history.Entries) != 1 || history.Entries[0].Kind != "credit" {
		t.Errorf("history: %d %+v", status, history)
	}
}

func TestBadCodes(t *testing.T) {
	api := newTestServer(t)
	code := issue(t, api, "10.00", "issue-1")
	typo := []byte(code)
	typo[2] = map[bool]byte{true: 'X', false: 'Y'}[typo[2] != 'X']
	withU := code[:16] + "U"

	var p problem
	status, _ := api.call("POST", "/accounts/alice/redeem", aliceToken, "k1", map[string]string{"code": string(typo)}, &p)
	if status != http.StatusUnprocessableEntity || p.Index == nil || *p.Index != 2 || len(p.Suggestions) != 1 || p.Suggestions[0] != code {
		t.Errorf("typo: %d %+v; want 422 at index 2 suggesting the code", status, p)
	}
	// People count from 1: the third character is character 3, in the
	// detail and in the member for people.
	if p.Character == nil || *p.Character != 3 || !strings.Contains(p.Detail, "character 3 of 15,") || strings.Contains(p.Detail, "index") {
		t.Errorf("typo: %+v; want character 3, and a detail that says so", p)
	}
	p = problem{}
	status, _ = api.call("POST", "/accounts/alice/redeem", aliceToken, "k2", map[string]string{"code": withU}, &p)
	if status != http.StatusUnprocessableEntity || !strings.Contains(p.Detail, "did you mean") {
		t.Errorf("U: %d %+v", status, p)
	}
	p = problem{}
	status, _ = api.call("POST", "/accounts/alice/redeem", aliceToken, "k3", map[string]string{"code": "1G06-02M06R-1GGZ1"}, &p)
	if status != http.StatusUnprocessableEntity || !strings.HasSuffix(p.Type, "/not-redeemable") {
		t.Errorf("unknown code: %d %+v", status, p)
	}
}

func TestTooManyAttempts(t *testing.T) {
	api := newTestServer(t)
	var (
		resp *http.Response
		p    problem
	)
	for i := 0; i < 11; i++ {
		body := `{"code":"1G06-02M06R-1GGZ1"}` // valid, but no card has it
		req, _ := http.NewRequest("POST", api.base+"/accounts/alice/redeem", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprint("guess-", i))
		var err error
		if resp, err = api.http.Do(req); err != nil {
			t.Fatal(err)
		}
		p = problem{}
		_ = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3600" {
		t.Errorf("eleventh guess: %d Retry-After %q; want 429 with Retry-After 3600", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The detail's wait is the header's: whole seconds, rounded up.
	if want := "too many failed attempts to redeem a code: try again in 3600 seconds"; p.Detail != want {
		t.Errorf("eleventh guess: detail %q; want %q", p.Detail, want)
	}
}

func TestRequestHygiene(t *testing.T) {
	api := newTestServer(t)
	send := func(body, key string) int {
		req, _ := http.NewRequest("POST", api.base+"/accounts/alice/redeem", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := api.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, tc := range map[string]struct {
		body, key string
		want      int
	}{
		"no idempotency key": {`{"code":"x"}`, "", http.StatusBadRequest},
		"not JSON":           {`code=x`, "k1", http.StatusBadRequest},
		"unknown field":      {`{"code":"x","admin":true}`, "k2", http.StatusBadRequest},
		"two values":         {`{"code":"x"}{"code":"y"}`, "k3", http.StatusBadRequest},
		"too large":          {`{"code":"` + strings.Repeat("a", maxBody) + `"}`, "k4", http.StatusRequestEntityTooLarge},
	} {
		if got := send(tc.body, tc.key); got != tc.want {
			t.Errorf("%s: %d; want %d", name, got, tc.want)
		}
	}
}

func TestPayRefundCapture(t *testing.T) {
	api := newTestServer(t)
	code := issue(t, api, "30.00", "issue-1")
	if status, err := api.call("POST", "/accounts/alice/redeem", aliceToken, "r1", map[string]string{"code": code}, nil); err != nil || status != 200 {
		t.Fatalf("redeem: %d %v", status, err)
	}
	type tender struct{ Captured, Refunded struct{ Amount string } }
	var paid struct {
		State         string
		Balance, Card tender
	}
	status, _ := api.call("POST", "/accounts/alice/orders/o1/pay", aliceToken, "p1", map[string]any{"total": eur("45.00"), "instrument": "tok_visa"}, &paid)
	if status != 200 || paid.State != "captured" || paid.Balance.Captured.Amount != "30.00" || paid.Card.Captured.Amount != "15.00" {
		t.Fatalf("pay: %d %+v", status, paid)
	}
	var p problem
	status, _ = api.call("POST", "/accounts/alice/orders/o1/pay", aliceToken, "p1", map[string]any{"total": eur("46.00"), "instrument": "tok_visa"}, &p)
	if status != http.StatusUnprocessableEntity || !strings.HasSuffix(p.Type, "/idempotency-key-reused") {
		t.Errorf("key reused for another request: %d %+v", status, p)
	}
	status, _ = api.call("POST", "/accounts/alice/orders/o2/pay", aliceToken, "p2", map[string]any{"total": eur("5.00"), "instrument": "tok_declined"}, &p)
	if status != http.StatusPaymentRequired {
		t.Errorf("declined card: %d %+v; want 402", status, p)
	}
	status, _ = api.call("POST", "/accounts/alice/orders/o1/refund", adminToken, "f1", map[string]any{"amount": eur("20.00")}, &paid)
	if status != 200 || paid.Card.Refunded.Amount != "15.00" || paid.Balance.Refunded.Amount != "5.00" {
		t.Errorf("refund: %d %+v", status, paid)
	}
	status, _ = api.call("POST", "/accounts/alice/orders/o1/refund", adminToken, "f2", map[string]any{"amount": eur("25.01")}, &p)
	if status != http.StatusUnprocessableEntity {
		t.Errorf("refund beyond the capture: %d %+v", status, p)
	}
	status, _ = api.call("POST", "/accounts/alice/orders/o3/pay", aliceToken, "p3", map[string]any{"total": eur("8.00"), "instrument": "tok_visa", "capture": "later"}, &paid)
	if status != 200 || paid.State != "authorized" {
		t.Fatalf("pay later: %d %+v", status, paid)
	}
	status, _ = api.call("POST", "/accounts/alice/orders/o3/capture", adminToken, "c1", map[string]any{"amount": eur("6.00")}, &paid)
	if status != 200 || paid.State != "captured" || paid.Balance.Captured.Amount != "5.00" || paid.Card.Captured.Amount != "1.00" {
		t.Errorf("capture: %d %+v", status, paid)
	}
	status, _ = api.call("POST", "/accounts/alice/orders/nope/capture", adminToken, "c2", map[string]any{"amount": eur("6.00")}, &p)
	if status != http.StatusNotFound {
		t.Errorf("capture of an unknown order: %d", status)
	}
}

// TestConcurrentRedemptions: 32 shoppers send the same code at once over
// HTTP; exactly one is credited. They all come from one address, whose
// failed guesses the limiter counts together (see TestGuessesPerAddress),
// so the limit is raised here above the 31 refusals.
func TestConcurrentRedemptions(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limit = wallet.LimitRule{Max: 64}
	api := startTestServer(t, cfg, io.Discard)
	code := issue(t, api, "50.00", "issue-1")
	statuses := make([]int, 32)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := fmt.Sprintf("shopper-token-%04d", i)
			statuses[i], _ = api.call("POST", fmt.Sprintf("/accounts/s%d/redeem", i), token, "r", map[string]string{"code": code}, nil)
		}()
	}
	wg.Wait()
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	if counts[http.StatusOK] != 1 || counts[http.StatusConflict] != 31 {
		t.Errorf("statuses %v; want one 200 and 31 409", counts)
	}
}

func TestSmoke(t *testing.T) {
	var out bytes.Buffer
	if err := runSmoke(&out, slog.New(slog.NewTextHandler(io.Discard, nil)), contractClient(t)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "25.00 from the balance, 15.00 by card") {
		t.Errorf("smoke output:\n%s", out.String())
	}
}

func TestParseTokens(t *testing.T) {
	for _, bad := range []string{"", "short=alice", "no-equals-sign-here", "0123456789abcdef=", "0123456789abcdef=al\x01ice",
		"0123456789abcdef=guest", "0123456789abcdef=client:", "0123456789abcdef=client:guest", "0123456789abcdef=client:a:b"} {
		if _, err := parseTokens(bad); err == nil {
			t.Errorf("parseTokens(%q) succeeded", bad)
		}
	}
	got, err := parseTokens(adminToken + "=admin, " + aliceToken + "=alice," + tillToken + "=client:till-1")
	if err != nil || !got[adminToken].admin || got[aliceToken].admin || got[aliceToken].name != "alice" || !got[aliceToken].shopper() {
		t.Errorf("parseTokens = %v, %v", got, err)
	}
	if till := got[tillToken]; !till.client || till.name != "till-1" || till.shopper() || till.caller() != "client:till-1" {
		t.Errorf("parseTokens: the API client is %+v; want client till-1", till)
	}
}

// TestQueryParams: a bad, repeated or unknown query parameter is a 400
// problem that names it, never a silent default.
func TestQueryParams(t *testing.T) {
	api := newTestServer(t)
	for _, tc := range []struct {
		path     string
		want     int
		wantName string // in the problem's detail
	}{
		{"/accounts/alice/history?after=abc", http.StatusBadRequest, "after"},
		{"/accounts/alice/history?after=-1", http.StatusBadRequest, "after"},
		{"/accounts/alice/history?after=1.5", http.StatusBadRequest, "after"},
		{"/accounts/alice/history?after=9223372036854775808", http.StatusBadRequest, "after"},
		{"/accounts/alice/history?after=", http.StatusBadRequest, "after"},
		{"/accounts/alice/history?after=1&after=2", http.StatusBadRequest, "after"},
		{"/accounts/alice/history?limit=abc", http.StatusBadRequest, "limit"},
		{"/accounts/alice/history?limit=-1", http.StatusBadRequest, "limit"},
		{"/accounts/alice/history?limit=0", http.StatusBadRequest, "limit"},
		{fmt.Sprintf("/accounts/alice/history?limit=%d", wallet.MaxPageSize+1), http.StatusBadRequest, "limit"},
		{"/accounts/alice/history?limit=99999999999999999999", http.StatusBadRequest, "limit"},
		{"/accounts/alice/history?limit=", http.StatusBadRequest, "limit"},
		{"/accounts/alice/history?limt=5", http.StatusBadRequest, "limt"},
		{"/accounts/alice/history?currency=", http.StatusBadRequest, "currency"},
		{"/accounts/alice/history?currency=EUR&currency=USD", http.StatusBadRequest, "currency"},
		{"/accounts/alice/history?after=%zz", http.StatusBadRequest, "query"},
		{"/accounts/alice/balance?currency=", http.StatusBadRequest, "currency"},
		{"/accounts/alice/balance?limit=5", http.StatusBadRequest, "limit"},
		{"/accounts/alice/orders/o1?owner=bob", http.StatusBadRequest, "owner"},
		{"/accounts/alice/history?after=0", http.StatusOK, ""},
		{"/accounts/alice/history?after=9223372036854775807", http.StatusOK, ""},
		{"/accounts/alice/history?limit=1", http.StatusOK, ""},
		{fmt.Sprintf("/accounts/alice/history?limit=%d", wallet.MaxPageSize), http.StatusOK, ""},
		{"/accounts/alice/history?currency=EUR&after=0&limit=50", http.StatusOK, ""},
		{"/accounts/alice/balance?currency=EUR", http.StatusOK, ""},
	} {
		var p problem
		status, err := api.call("GET", tc.path, aliceToken, "", nil, &p)
		if err != nil || status != tc.want {
			t.Errorf("GET %s = %d %v %+v; want %d", tc.path, status, err, p, tc.want)
			continue
		}
		if tc.want == http.StatusBadRequest && (!strings.HasSuffix(p.Type, "/bad-request") || !strings.Contains(p.Detail, tc.wantName)) {
			t.Errorf("GET %s: problem %+v; want bad-request naming %q", tc.path, p, tc.wantName)
		}
	}
	// POST routes take no query parameters.
	var p problem
	status, _ := api.call("POST", "/accounts/alice/orders/o1/pay?owner=bob", aliceToken, "k",
		map[string]any{"total": eur("1.00"), "instrument": "tok_visa"}, &p)
	if status != http.StatusBadRequest || !strings.Contains(p.Detail, "owner") {
		t.Errorf("pay with ?owner=bob: %d %+v; want 400 naming owner", status, p)
	}
}

// TestHistoryDefaults: without after and limit, a page starts at the first
// entry and holds wallet.DefaultPageSize entries; both walk the journal.
func TestHistoryDefaults(t *testing.T) {
	api := newTestServer(t)
	const n = wallet.DefaultPageSize + 1
	var issued struct {
		Cards []struct{ Code string } `json:"cards"`
	}
	status, err := api.call("POST", "/cards", adminToken, "issue", map[string]any{"value": eur("1.00"), "count": n}, &issued)
	if err != nil || status != http.StatusCreated || len(issued.Cards) != n {
		t.Fatalf("issue %d cards: %d %v", n, status, err)
	}
	for i, c := range issued.Cards {
		if status, err := api.call("POST", "/accounts/alice/redeem", aliceToken, fmt.Sprint("r", i), map[string]string{"code": c.Code}, nil); err != nil || status != http.StatusOK {
			t.Fatalf("redeem card %d: %d %v", i, status, err)
		}
	}
	type page struct {
		Seqs []int64
		Next int64
	}
	get := func(query string) page {
		t.Helper()
		var body struct {
			Entries []struct{ Seq int64 }
			Next    int64
		}
		if status, err := api.call("GET", "/accounts/alice/history"+query, aliceToken, "", nil, &body); err != nil || status != http.StatusOK {
			t.Fatalf("GET history%s: %d %v", query, status, err)
		}
		var p page
		for _, e := range body.Entries {
			p.Seqs = append(p.Seqs, e.Seq)
		}
		p.Next = body.Next
		return p
	}
	seqs := func(from, to int64) []int64 {
		var s []int64
		for i := from; i <= to; i++ {
			s = append(s, i)
		}
		return s
	}
	for _, tc := range []struct {
		query string
		want  page
	}{
		{"", page{seqs(1, wallet.DefaultPageSize), wallet.DefaultPageSize}},
		{"?currency=EUR", page{seqs(1, wallet.DefaultPageSize), wallet.DefaultPageSize}},
		{fmt.Sprintf("?after=%d", wallet.DefaultPageSize), page{seqs(n, n), 0}},
		{"?limit=2", page{seqs(1, 2), 2}},
		{"?after=2&limit=2", page{seqs(3, 4), 4}},
		{fmt.Sprintf("?limit=%d", wallet.MaxPageSize), page{seqs(1, n), 0}},
	} {
		if diff := cmp.Diff(tc.want, get(tc.query)); diff != "" {
			t.Errorf("GET history%s mismatch (-want +got):\n%s", tc.query, diff)
		}
	}
}
