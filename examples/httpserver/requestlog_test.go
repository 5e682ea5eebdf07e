package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/google/go-cmp/cmp"
)

// TestLogNeverHoldsCode: a real code redeemed through the server, and sent
// everywhere else a client can put it (written in every form a shopper
// types, as a request ID, an order ID, a query parameter and its name),
// appears in no log line in any of its forms; each request is logged once,
// under the request ID it was answered with, and a redemption's line shows
// the code masked.
func TestLogNeverHoldsCode(t *testing.T) {
	var logs syncBuffer
	api := startTestServer(t, testConfig(t), &logs)
	code := issue(t, api, "10.00", "issue-1")
	bare := strings.ReplaceAll(code, "-", "")
	forms := []string{code, bare, strings.ToLower(code), strings.ToLower(bare)}

	// send makes a request with the request ID id ("" for none) and returns
	// the ID it was answered under.
	var sent []string
	send := func(method, path, token, id string, body any) string {
		t.Helper()
		var payload bytes.Buffer
		if body != nil {
			_ = json.NewEncoder(&payload).Encode(body)
		}
		req, _ := http.NewRequest(method, api.base+path, &payload)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", rand.Text())
		}
		if id != "" {
			req.Header.Set("X-Request-ID", id)
		}
		client := api.http
		if !strings.HasPrefix(path, "/accounts/") {
			client = http.DefaultClient // not the contract client: the document has no such path
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-ID")
		if got == "" {
			t.Fatalf("%s %s: no X-Request-ID in the answer", method, path)
		}
		sent = append(sent, got)
		return got
	}
	redeem := "/accounts/alice/redeem"
	redeemed := []string{
		send("POST", redeem, aliceToken, "", map[string]string{"code": strings.ToLower(bare)}), // 200
		send("POST", redeem, aliceToken, "again-1", map[string]string{"code": code}),           // 409
		send("POST", redeem, aliceToken, "again-2", map[string]string{"code": " " + strings.ToLower(strings.ReplaceAll(code, "-", " ")) + " "}),
		send("POST", redeem, aliceToken, code, map[string]string{"code": bare}), // a code as request ID: replaced
		send("POST", redeem, aliceToken, strings.ToLower(bare), map[string]string{"code": code}),
	}
	send("POST", orderPath("alice", code)+"/pay", aliceToken, "pay-1", map[string]any{"total": eur("99.00"), "instrument": processortest.DeclinedInstrument})
	send("GET", orderPath("alice", bare), aliceToken, "", nil)
	send("GET", "/accounts/alice/balance?currency="+code, aliceToken, "", nil)
	send("GET", "/accounts/alice/balance?"+bare+"=1", aliceToken, "", nil)
	send("GET", "/accounts/"+code+"/balance", adminToken, "", nil)
	send("GET", "/"+code, aliceToken, "", nil)

	var lines []map[string]any
	waitFor(t, "a log line for every request", func() bool {
		lines = lines[:0]
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			lines = append(lines, rec)
			if rec["msg"] == "request" {
				n++
			}
		}
		return n == len(sent)+1 // and the issuance
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		for _, form := range forms {
			if strings.Contains(strings.ToUpper(line), strings.ToUpper(form)) {
				t.Errorf("log line holds the code as %q: %s", form, line)
			}
		}
		if found := codefmt.Extract(line); len(found) > 0 {
			t.Errorf("log line holds the codes %v: %s", found, line)
		}
	}

	patterns := map[string]bool{"/": true}
	for _, rt := range (&server{}).routeTable() {
		patterns[rt.pattern] = true
	}
	byID := map[string]int{}
	for _, rec := range lines {
		if rec["msg"] != "request" {
			continue
		}
		id, _ := rec["request_id"].(string)
		if id == "" {
			t.Errorf("request line without a request_id: %v", rec)
		}
		byID[id]++
		for _, attr := range []string{"method", "route", "status", "latency", "bytes"} {
			if _, ok := rec[attr]; !ok {
				t.Errorf("request line %s has no %s: %v", id, attr, rec)
			}
		}
		if route, _ := rec["route"].(string); !patterns[route] {
			t.Errorf("request line %s: route %q; want a route pattern, never a path", id, route)
		}
	}
	for _, id := range sent {
		if byID[id] != 1 {
			t.Errorf("request %s logged %d times; want once", id, byID[id])
		}
	}
	masked := codefmt.MustParse(code).Masked()
	for _, id := range redeemed {
		for _, rec := range lines {
			if rec["msg"] == "request" && rec["request_id"] == id && rec["code"] != masked {
				t.Errorf("redemption %s logged with code %v; want %q", id, rec["code"], masked)
			}
		}
	}
}

// TestServiceLogHandler: a record logged with a request's context, as the
// services log, carries the request's ID, through WithAttrs and WithGroup;
// one logged without carries none; a code anywhere in a record (its
// message, a string, an error, a codefmt.Code, a group, an attribute given
// to With) is masked.
func TestServiceLogHandler(t *testing.T) {
	code := codefmt.MustParse("1G06-02M06R-1GGZ1")
	masked := code.Masked()
	var buf bytes.Buffer
	log := slog.New(serviceLogHandler{slog.NewJSONHandler(&buf, nil)})
	ctx := context.WithValue(context.Background(), requestLogKey{}, &requestLog{id: "req-7"})
	log.InfoContext(ctx, "pay "+code.String(), "payment_id", "alice/"+code.String(), "err", errors.New("order "+code.String()),
		"code", code, "n", 3, slog.Group("g", "order", strings.ToLower(code.String())))
	log.With("order", code.String()).WithGroup("wallet").InfoContext(ctx, "call")
	log.InfoContext(context.Background(), "sweep")

	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		delete(rec, "time")
		got = append(got, rec)
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "pay " + masked, "payment_id": "alice/" + masked, "err": "order " + masked, "code": masked, "n": 3.0,
			"g": map[string]any{"order": masked}, "request_id": "req-7"},
		{"level": "INFO", "msg": "call", "order": masked, "wallet": map[string]any{"request_id": "req-7"}},
		{"level": "INFO", "msg": "sweep"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records mismatch (-want +got):\n%s", diff)
	}
}
