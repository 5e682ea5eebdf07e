package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/ledger"
	"github.com/google/go-cmp/cmp"
)

func mustCurrency(t *testing.T, code string) giftkit.Currency {
	t.Helper()
	c, err := giftkit.ParseCurrency(code)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// issueCard has the admin issue one card of value and returns its ID and
// code.
func issueCard(t *testing.T, api *apiClient, value, key string) (id, code string) {
	t.Helper()
	var out struct {
		Cards []struct{ ID, Code string } `json:"cards"`
	}
	status, err := api.call("POST", "/cards", adminToken, key, map[string]any{"value": eur(value)}, &out)
	if err != nil || status != http.StatusCreated || len(out.Cards) != 1 {
		t.Fatalf("issue: %d %v %+v", status, err, out)
	}
	return out.Cards[0].ID, out.Cards[0].Code
}

// mustCall makes a request that must answer want, decoding the answer into
// out.
func mustCall(t *testing.T, api *apiClient, method, path, token, key string, body, out any, want int) {
	t.Helper()
	var raw json.RawMessage
	status, err := api.call(method, path, token, key, body, &raw)
	if err != nil || status != want {
		t.Fatalf("%s %s = %d %v %s; want %d", method, path, status, err, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

type money struct{ Amount, Currency string }

// TestOperatorRoutesAdminOnly: the operator's routes answer the admin, and
// refuse a shopper with 403 (even on their own account) and no token with
// 401, before reading anything.
func TestOperatorRoutesAdminOnly(t *testing.T) {
	api := newTestServer(t)
	reason := map[string]any{"amount": eur("1.00"), "reason": "test"}
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/accounts/alice/adjustments", reason},
		{"POST", "/cards/card_0123456789abcdef0123/adjustments", reason},
		{"POST", "/cards/card_0123456789abcdef0123/clawback", map[string]any{"reason": "test"}},
		{"POST", "/cards/card_0123456789abcdef0123/transfer", map[string]any{"to": "card_0123456789abcdef0124", "amount": eur("1.00")}},
		{"POST", "/cards/card_0123456789abcdef0123/merge", map[string]any{"to": "card_0123456789abcdef0124"}},
		{"POST", "/accounts/alice/loads", map[string]any{"amount": eur("1.00")}},
		{"GET", "/activity", nil},
		{"GET", "/activity?account=alice", nil},
		{"GET", "/activity/verify", nil},
		{"GET", "/reports/liability", nil},
		{"GET", "/reports/cohorts?format=csv", nil},
		{"GET", "/reports/dormancy?since=2020-01-01T00:00:00Z", nil},
	} {
		var p problem
		if status, err := api.call(tc.method, tc.path, aliceToken, "k-"+tc.path, tc.body, &p); err != nil || status != http.StatusForbidden || !strings.HasSuffix(p.Type, "/forbidden") {
			t.Errorf("alice: %s %s = %d %v %+v; want 403 forbidden", tc.method, tc.path, status, err, p)
		}
		if status, _ := api.call(tc.method, tc.path, "", "k-"+tc.path, tc.body, &p); status != http.StatusUnauthorized {
			t.Errorf("no token: %s %s = %d; want 401", tc.method, tc.path, status)
		}
	}
	// The same routes for the admin: the card ones find no card.
	var p problem
	if status, _ := api.call("POST", "/cards/card_0123456789abcdef0123/adjustments", adminToken, "k1", reason, &p); status != http.StatusNotFound {
		t.Errorf("admin adjusting an unknown card: %d %+v; want 404", status, p)
	}
	mustCall(t, api, "GET", "/activity", adminToken, "", nil, nil, http.StatusOK)
}

// TestAdjustAccount: an adjustment changes the balance once, whatever the
// retries with its key; a key reused for another adjustment is refused; an
// adjustment down beyond what is available is refused; a reason is
// required and a zero amount is refused.
func TestAdjustAccount(t *testing.T) {
	api := newTestServer(t)
	body := map[string]any{"amount": eur("5.00"), "reference": "ticket-4711", "reason": "goodwill: late delivery"}
	var first, again json.RawMessage
	mustCall(t, api, "POST", "/accounts/alice/adjustments", adminToken, "adj-1", body, &first, http.StatusOK)
	mustCall(t, api, "POST", "/accounts/alice/adjustments", adminToken, "adj-1", body, &again, http.StatusOK)
	if string(first) != string(again) {
		t.Errorf("the retry answered %s; want the first outcome %s", again, first)
	}
	var got struct {
		Amount    money
		Reference string
		Balance   struct{ Balance, Available money }
	}
	if err := json.Unmarshal(first, &got); err != nil || got.Amount.Amount != "5.00" || got.Reference != "ticket-4711" || got.Balance.Available.Amount != "5.00" {
		t.Errorf("adjustment: %s %v", first, err)
	}
	var balance struct{ Available money }
	mustCall(t, api, "GET", "/accounts/alice/balance", aliceToken, "", nil, &balance, http.StatusOK)
	if balance.Available.Amount != "5.00" {
		t.Errorf("after an adjustment and its retry, alice has %s; want 5.00, adjusted once", balance.Available.Amount)
	}

	var p problem
	other := map[string]any{"amount": eur("6.00"), "reference": "ticket-4711", "reason": "goodwill: late delivery"}
	if status, _ := api.call("POST", "/accounts/alice/adjustments", adminToken, "adj-1", other, &p); status != http.StatusUnprocessableEntity || !strings.HasSuffix(p.Type, "/idempotency-key-reused") {
		t.Errorf("key reused for another adjustment: %d %+v; want 422 idempotency-key-reused", status, p)
	}
	down := map[string]any{"amount": eur("-7.00"), "reason": "correction"}
	if status, _ := api.call("POST", "/accounts/alice/adjustments", adminToken, "adj-2", down, &p); status != http.StatusPaymentRequired || !strings.Contains(p.Detail, "5.00 EUR available") {
		t.Errorf("adjusting down beyond the balance: %d %+v; want 402 naming what is available", status, p)
	}
	down["amount"] = eur("-2.00")
	mustCall(t, api, "POST", "/accounts/alice/adjustments", adminToken, "adj-3", down, &got, http.StatusOK)
	if got.Balance.Balance.Amount != "3.00" || got.Reference != "" {
		t.Errorf("adjusting down by 2.00: %+v; want a balance of 3.00", got)
	}
	for name, tc := range map[string]map[string]any{
		"no reason":        {"amount": eur("1.00")},
		"an empty reason":  {"amount": eur("1.00"), "reason": ""},
		"a zero amount":    {"amount": eur("0.00"), "reason": "nothing"},
		"a number amount":  {"amount": map[string]any{"amount": 1, "currency": "EUR"}, "reason": "x"},
		"a reason of tabs": {"amount": eur("1.00"), "reason": "\t"},
	} {
		status, _ := api.call("POST", "/accounts/alice/adjustments", adminToken, "adj-"+name, tc, &p)
		if status != http.StatusBadRequest || p.Detail == "" {
			t.Errorf("%s: %d %+v; want 400 with a detail", name, status, p)
		}
	}
}

// TestAdjustCard: a card's value goes up or down by an adjustment, once
// per key; a redeemed card cannot be adjusted.
func TestAdjustCard(t *testing.T) {
	api := newTestServer(t)
	id, code := issueCard(t, api, "20.00", "issue-1")
	body := map[string]any{"amount": eur("-5.00"), "reason": "sold at the wrong price"}
	var first, again struct {
		ID, State string
		Value     money
	}
	mustCall(t, api, "POST", "/cards/"+id+"/adjustments", adminToken, "cadj-1", body, &first, http.StatusOK)
	mustCall(t, api, "POST", "/cards/"+id+"/adjustments", adminToken, "cadj-1", body, &again, http.StatusOK)
	if first.Value.Amount != "15.00" || first.State != "active" || first != again {
		t.Errorf("adjustment %+v, retried %+v; want one card of 15.00 twice", first, again)
	}
	var p problem
	if status, _ := api.call("POST", "/cards/"+id+"/adjustments", adminToken, "cadj-2", map[string]any{"amount": eur("-15.00"), "reason": "x"}, &p); status != http.StatusBadRequest || !strings.Contains(p.Detail, "void the card") {
		t.Errorf("adjusting a card to zero: %d %+v; want 400 saying to void it", status, p)
	}
	mustCall(t, api, "POST", "/accounts/alice/redeem", aliceToken, "r1", map[string]string{"code": code}, nil, http.StatusOK)
	var balance struct{ Available money }
	mustCall(t, api, "GET", "/accounts/alice/balance", aliceToken, "", nil, &balance, http.StatusOK)
	if balance.Available.Amount != "15.00" {
		t.Errorf("alice redeemed the adjusted card for %s; want 15.00", balance.Available.Amount)
	}
	if status, _ := api.call("POST", "/cards/"+id+"/adjustments", adminToken, "cadj-3", body, &p); status != http.StatusConflict || p.Detail != "the card is redeemed, so it cannot be adjusted" {
		t.Errorf("adjusting a redeemed card: %d %+v; want 409", status, p)
	}
}

// TestClawbackShortfall: the value of a card that was redeemed and mostly
// spent is clawed back as far as the balance allows; the rest is reported
// as the shortfall. A retry returns the same outcome; a second clawback
// finds nothing left to claw back. A card not redeemed is voided.
func TestClawbackShortfall(t *testing.T) {
	api := newTestServer(t)
	id, code := issueCard(t, api, "50.00", "issue-1")
	mustCall(t, api, "POST", "/accounts/alice/redeem", aliceToken, "r1", map[string]string{"code": code}, nil, http.StatusOK)
	mustCall(t, api, "POST", "/accounts/alice/orders/o1/pay", aliceToken, "p1", map[string]any{"total": eur("30.00")}, nil, http.StatusOK)

	type outcome struct {
		CardID                      string `json:"card_id"`
		Asked, Recovered, Shortfall money
		Voided                      bool
		Account                     string
		Card                        struct{ State string }
	}
	body := map[string]any{"reason": "chargeback CB-2211"}
	var got, again outcome
	mustCall(t, api, "POST", "/cards/"+id+"/clawback", adminToken, "cb-1", body, &got, http.StatusOK)
	want := outcome{CardID: id, Asked: money{"50.00", "EUR"}, Recovered: money{"20.00", "EUR"}, Shortfall: money{"30.00", "EUR"},
		Account: "alice", Card: struct{ State string }{"redeemed"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("clawback mismatch (-want +got):\n%s", diff)
	}
	mustCall(t, api, "POST", "/cards/"+id+"/clawback", adminToken, "cb-1", body, &again, http.StatusOK)
	if !cmp.Equal(got, again) {
		t.Errorf("retry: %+v; want the first outcome %+v", again, got)
	}
	var balance struct{ Available money }
	mustCall(t, api, "GET", "/accounts/alice/balance", aliceToken, "", nil, &balance, http.StatusOK)
	if balance.Available.Amount != "0.00" {
		t.Errorf("after the clawback alice has %s; want 0.00", balance.Available.Amount)
	}
	var p problem
	if status, _ := api.call("POST", "/cards/"+id+"/clawback", adminToken, "cb-2", body, &p); status != http.StatusBadRequest || !strings.Contains(p.Detail, "left to claw back") {
		t.Errorf("a second clawback: %d %+v; want 400, nothing left", status, p)
	}

	unredeemed, _ := issueCard(t, api, "10.00", "issue-2")
	got = outcome{}
	mustCall(t, api, "POST", "/cards/"+unredeemed+"/clawback", adminToken, "cb-3", map[string]any{"amount": eur("10.00"), "reason": "refunded"}, &got, http.StatusOK)
	if !got.Voided || got.Card.State != "voided" || got.Recovered.Amount != "10.00" || got.Shortfall.Amount != "0.00" || got.Account != "" {
		t.Errorf("clawback of a card not redeemed: %+v; want it voided, all recovered", got)
	}
	if status, _ := api.call("POST", "/cards/"+unredeemed+"/clawback", adminToken, "cb-4", map[string]any{"amount": nil, "reason": "x"}, &p); status != http.StatusBadRequest {
		t.Errorf("a null amount: %d %+v; want 400", status, p)
	}
}

type activityPage struct {
	Records []struct {
		Subject struct{ Kind, ID, Currency string }
		Seq     int64
		Kind    string
		Actor   struct{ Kind, ID string }
		Reason  string
		At      time.Time
		Digest  string
	}
	Next string
}

// TestActivityAttribution: the log attributes every change to who made it:
// a shopper's redemption and payment to the shopper, the admin's issuance,
// refund and adjustment to the operator admin, with the reason given.
func TestActivityAttribution(t *testing.T) {
	api := newTestServer(t)
	id, code := issueCard(t, api, "40.00", "issue-1")
	mustCall(t, api, "POST", "/accounts/alice/redeem", aliceToken, "r1", map[string]string{"code": code}, nil, http.StatusOK)
	mustCall(t, api, "POST", "/accounts/alice/orders/o1/pay", aliceToken, "p1", map[string]any{"total": eur("25.00")}, nil, http.StatusOK)
	mustCall(t, api, "POST", "/accounts/alice/orders/o1/refund", adminToken, "f1", map[string]any{"amount": eur("5.00")}, nil, http.StatusOK)
	mustCall(t, api, "POST", "/accounts/alice/adjustments", adminToken, "a1", map[string]any{"amount": eur("2.00"), "reason": "goodwill"}, nil, http.StatusOK)

	var card, account activityPage
	mustCall(t, api, "GET", "/activity?card="+id, adminToken, "", nil, &card, http.StatusOK)
	mustCall(t, api, "GET", "/activity?account=alice&currency=EUR", adminToken, "", nil, &account, http.StatusOK)
	var got []string
	for _, r := range append(card.Records, account.Records...) {
		got = append(got, fmt.Sprintf("%s %d %s %s:%s %s", r.Subject.Kind, r.Seq, r.Kind, r.Actor.Kind, r.Actor.ID, r.Reason))
	}
	want := []string{
		"card 1 issue operator:admin ",
		"card 2 redeem shopper:alice ",
		"account 1 credit shopper:alice ",
		"account 2 capture shopper:alice ",
		"account 3 refund operator:admin ",
		"account 4 adjust operator:admin goodwill",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("activity mismatch (-want +got):\n%s", diff)
	}
	var byAlice activityPage
	mustCall(t, api, "GET", "/activity?actor_kind=shopper&actor_id=alice&order=time", adminToken, "", nil, &byAlice, http.StatusOK)
	if len(byAlice.Records) != 3 {
		t.Errorf("alice's records: %+v; want her redemption (card and account) and payment", byAlice.Records)
	}
}

// TestActivityPaging: walking the log a few records at a time with the
// cursor reads every record once, in order, and the same records as one
// page, in either order; a filtered walk pages the same way.
func TestActivityPaging(t *testing.T) {
	api := newTestServer(t)
	for i := range 4 {
		_, code := issueCard(t, api, "10.00", fmt.Sprint("issue-", i))
		owner, token := "alice", aliceToken
		if i%2 == 1 {
			owner, token = "bob", bobToken
		}
		mustCall(t, api, "POST", "/accounts/"+owner+"/redeem", token, fmt.Sprint("r", i), map[string]string{"code": code}, nil, http.StatusOK)
	}
	mustCall(t, api, "POST", "/accounts/bob/orders/o1/pay", bobToken, "p1", map[string]any{"total": eur("15.00")}, nil, http.StatusOK)

	type pos struct {
		Subject string
		Seq     int64
	}
	walk := func(query string, limit int) (all []pos, pages int) {
		t.Helper()
		after := ""
		for {
			pages++
			if pages > 50 {
				t.Fatalf("%s: the walk does not end", query)
			}
			path := fmt.Sprintf("/activity?%slimit=%d", query, limit)
			if after != "" {
				path += "&after=" + url.QueryEscape(after)
			}
			var page activityPage
			mustCall(t, api, "GET", path, adminToken, "", nil, &page, http.StatusOK)
			if len(page.Records) > limit {
				t.Fatalf("%s: %d records; want at most %d", path, len(page.Records), limit)
			}
			for _, r := range page.Records {
				all = append(all, pos{r.Subject.Kind + "/" + r.Subject.ID + "/" + r.Subject.Currency, r.Seq})
			}
			if page.Next == "" {
				return all, pages
			}
			if len(page.Records) != limit {
				t.Fatalf("%s: a page of %d records with a next; want %d", path, len(page.Records), limit)
			}
			after = page.Next
		}
	}
	for _, query := range []string{"", "order=subject&", "order=time&", "account=bob&", "order=time&actor_kind=shopper&actor_id=bob&"} {
		whole, pages := walk(query, 1000)
		if pages != 1 {
			t.Fatalf("%s: %d pages of 1000", query, pages)
		}
		if len(whole) < 3 {
			t.Fatalf("%s: only %d records", query, len(whole))
		}
		for _, limit := range []int{1, 2, 3} {
			paged, pages := walk(query, limit)
			if diff := cmp.Diff(whole, paged); diff != "" {
				t.Errorf("%s limit %d: the pages (+) differ from the whole (-):\n%s", query, limit, diff)
			}
			if want := (len(whole) + limit - 1) / limit; pages != want {
				t.Errorf("%s limit %d: %d pages for %d records", query, limit, pages, len(whole))
			}
		}
	}
	// In order of subject, each subject's records come together and in order.
	whole, _ := walk("", 1000)
	done := map[string]bool{}
	for i, r := range whole {
		switch {
		case i > 0 && whole[i-1].Subject == r.Subject && r.Seq != whole[i-1].Seq+1,
			(i == 0 || whole[i-1].Subject != r.Subject) && (done[r.Subject] || r.Seq != 1):
			t.Errorf("records in order of subject are not: %v", whole)
		}
		done[r.Subject] = true
	}
}

// TestActivityBadCursor: a cursor the server did not write, or written for
// the other order, is a 400 problem, never a silent first page.
func TestActivityBadCursor(t *testing.T) {
	api := newTestServer(t)
	for i := range 3 {
		issueCard(t, api, "10.00", fmt.Sprint("issue-", i))
	}
	var page activityPage
	mustCall(t, api, "GET", "/activity?limit=1", adminToken, "", nil, &page, http.StatusOK)
	if page.Next == "" {
		t.Fatal("no next after one record of three")
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, after := range map[string]string{
		"not base64":          "%21%21%21",
		"padded base64":       base64.URLEncoding.EncodeToString([]byte(`{"v":1}`)),
		"not JSON":            enc("garbage"),
		"JSON, not a cursor":  enc(`{"hello":"world"}`),
		"another version":     enc(`{"v":2,"o":"subject","k":"card","id":"card_x","s":1}`),
		"an unknown kind":     enc(`{"v":1,"o":"subject","k":"batch","id":"b","s":1}`),
		"no record number":    enc(`{"v":1,"o":"subject","k":"card","id":"card_x","s":0}`),
		"no ID":               enc(`{"v":1,"o":"subject","k":"card","id":"","s":1}`),
		"an account, no code": enc(`{"v":1,"o":"subject","k":"account","id":"alice","s":1}`),
		"a time by subject":   enc(`{"v":1,"o":"subject","k":"card","id":"card_x","s":1,"t":"2026-01-01T00:00:00Z"}`),
		"trailing data":       enc(`{"v":1,"o":"subject","k":"card","id":"card_x","s":1}{}`),
		"the other order":     page.Next + "&order=time",
		"empty":               "",
		"too long":            strings.Repeat("A", 2000),
	} {
		var p problem
		status, err := api.call("GET", "/activity?limit=1&after="+after, adminToken, "", nil, &p)
		if err != nil || status != http.StatusBadRequest || !strings.HasSuffix(p.Type, "/bad-request") || !strings.Contains(p.Detail, "after") {
			t.Errorf("%s: %d %v %+v; want 400 bad-request naming after", name, status, err, p)
		}
	}
	mustCall(t, api, "GET", "/activity?limit=1&after="+page.Next, adminToken, "", nil, nil, http.StatusOK)
}

// TestCursorRoundTrip: a cursor reads back as the position it was written
// for, in either order.
func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []struct {
		cursor activity.Cursor
		order  activity.Order
	}{
		{activity.Cursor{Subject: activity.Card("card_0123456789abcdef0123"), Seq: 3}, activity.BySubject},
		{activity.Cursor{Subject: activity.Account("zoë", mustCurrency(t, "JPY")), Seq: 12}, activity.BySubject},
		{activity.Cursor{At: time.Date(2026, 6, 30, 23, 59, 59, 123456789, time.UTC), Subject: activity.Account("bob", mustCurrency(t, "EUR")), Seq: 1}, activity.ByTime},
	} {
		s := encodeCursor(c.cursor, c.order)
		got, err := decodeCursor(s, c.order)
		if err != nil || !got.At.Equal(c.cursor.At) || got.Subject != c.cursor.Subject || got.Seq != c.cursor.Seq {
			t.Errorf("decodeCursor(encodeCursor(%+v)) = %+v, %v", c.cursor, got, err)
		}
	}
}

// TestVerifyActivity: the chains of a card, an account and of the whole
// log hold; an unknown card or account is a 404.
func TestVerifyActivity(t *testing.T) {
	api := newTestServer(t)
	id, code := issueCard(t, api, "10.00", "issue-1")
	mustCall(t, api, "POST", "/accounts/alice/redeem", aliceToken, "r1", map[string]string{"code": code}, nil, http.StatusOK)
	for _, query := range []string{"", "?card=" + id, "?account=alice", "?account=alice&currency=EUR"} {
		var got map[string]any
		mustCall(t, api, "GET", "/activity/verify"+query, adminToken, "", nil, &got, http.StatusOK)
		if !cmp.Equal(got, map[string]any{"ok": true}) {
			t.Errorf("verify%s = %v; want {\"ok\": true}", query, got)
		}
	}
	var p problem
	if status, _ := api.call("GET", "/activity/verify?account=nobody", adminToken, "", nil, &p); status != http.StatusNotFound {
		t.Errorf("verify of an unknown account = %d; want 404", status)
	}
	if status, _ := api.call("GET", "/activity/verify?card=card_0123456789abcdef0123", adminToken, "", nil, &p); status != http.StatusNotFound {
		t.Errorf("verifying an unknown card: %d %+v; want 404", status, p)
	}
	if status, _ := api.call("GET", "/activity/verify?card=x&account=alice", adminToken, "", nil, &p); status != http.StatusBadRequest {
		t.Errorf("verifying a card and an account: %d %+v; want 400", status, p)
	}
}

// TestReports: each report streams as CSV (text/csv with its charset, an
// attachment, a header row) or as JSON, at an instant given or now.
func TestReports(t *testing.T) {
	api := newTestServer(t)
	_, code := issueCard(t, api, "30.00", "issue-1")
	issueCard(t, api, "20.00", "issue-2")
	mustCall(t, api, "POST", "/accounts/alice/redeem", aliceToken, "r1", map[string]string{"code": code}, nil, http.StatusOK)

	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", api.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := api.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, resp.StatusCode, body)
		}
		return resp, body
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for _, tc := range []struct{ path, header, file string }{
		{"/reports/liability?format=csv", "at,currency,class,month,cards,accounts,total,card_count,account_count", "liability-"},
		{"/reports/liability?format=csv&at=2026-06-30T23:59:59Z", "at,currency,class,month,cards,accounts,total,card_count,account_count", "liability-20260630T235959Z.csv"},
		{"/reports/cohorts?format=csv", "currency,class,month,cards,sold,redeemed,removed,expired,outstanding,months_since_issue,redeemed_to_date,share", "cohorts-"},
		{"/reports/dormancy?format=csv&since=" + future + "&at=" + future, "subject_kind,subject_id,currency,value,last_activity", "dormancy-"},
	} {
		resp, body := get(tc.path)
		if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q; want text/csv; charset=utf-8", tc.path, ct)
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="`+tc.file) || !strings.HasSuffix(cd, `.csv"`) {
			t.Errorf("GET %s: Content-Disposition %q; want an attachment named %s…", tc.path, cd, tc.file)
		}
		header, _ := bufio.NewReader(strings.NewReader(string(body))).ReadString('\n')
		if strings.TrimRight(header, "\r\n") != tc.header {
			t.Errorf("GET %s: header row %q; want %q", tc.path, header, tc.header)
		}
	}

	// The liability now: the unredeemed card, and alice's balance.
	_, body := get("/reports/liability?format=csv")
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if len(lines) < 2 || !strings.Contains(lines[1], ",EUR,purchased,all,20.00,30.00,50.00,1,1") {
		t.Errorf("liability now:\n%s\nwant a line of 20.00 on cards and 30.00 on accounts", body)
	}
	// JSON, the default; the document's schemas check their members.
	resp, body := get("/reports/liability")
	var l struct {
		Lines []struct{ Total money }
	}
	if resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &l) != nil || len(l.Lines) != 1 || l.Lines[0].Total.Amount != "50.00" {
		t.Errorf("liability as JSON: %q %s", resp.Header.Get("Content-Type"), body)
	}
	_, body = get("/reports/cohorts?format=json")
	var cohorts []struct{ Cards int }
	if json.Unmarshal(body, &cohorts) != nil || len(cohorts) != 1 || cohorts[0].Cards != 2 {
		t.Errorf("cohorts as JSON: %s", body)
	}
	_, body = get("/reports/dormancy?since=" + future + "&at=" + future)
	var dormant []struct{ Subject struct{ Kind, ID string } }
	if json.Unmarshal(body, &dormant) != nil || len(dormant) != 2 {
		t.Errorf("dormancy as JSON: %s; want the unredeemed card and alice's account", body)
	}

	for _, path := range []string{
		"/reports/liability?format=xml",
		"/reports/liability?at=yesterday",
		"/reports/dormancy",
		"/reports/dormancy?since=2026-01-02T00:00:00Z&at=2026-01-01T00:00:00Z",
		"/reports/cohorts?since=2026-01-01T00:00:00Z",
	} {
		var p problem
		if status, _ := api.call("GET", path, adminToken, "", nil, &p); status != http.StatusBadRequest || !strings.HasSuffix(p.Type, "/bad-request") {
			t.Errorf("GET %s = %d %+v; want 400 bad-request", path, status, p)
		}
	}
}

// TestDownloadFailure: a report that fails before anything was sent is a
// problem document; one that fails after is cut short, never ended as if
// whole, and logged as aborted.
func TestDownloadFailure(t *testing.T) {
	var logs syncBuffer
	s := &server{log: slog.New(slog.NewJSONHandler(&logs, nil))}
	failing := func(n int) http.Handler {
		return s.logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.serveDownload(w, r, download{name: "report", format: ledger.CSV, write: func(w io.Writer) error {
				if _, err := w.Write([]byte(strings.Repeat("x", n))); err != nil {
					return err
				}
				return errors.New("store: connection reset")
			}})
		}))
	}
	rec := httptest.NewRecorder()
	failing(10).ServeHTTP(rec, httptest.NewRequest("GET", "/reports/liability?format=csv", nil))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/problem+json" || rec.Header().Get("Content-Disposition") != "" {
		t.Errorf("early failure: %d %q %q; want a 500 problem, no attachment", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Disposition"))
	}

	rec = httptest.NewRecorder()
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("late failure: recovered %v; want http.ErrAbortHandler", v)
			}
		}()
		failing(downloadBuffer+1).ServeHTTP(rec, httptest.NewRequest("GET", "/reports/liability?format=csv", nil))
	}()
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/csv; charset=utf-8" || rec.Body.Len() != downloadBuffer+1 {
		t.Errorf("late failure: %d %q, %d bytes; want the 200 and the bytes sent before it", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	if !strings.Contains(logs.String(), `"aborted":true`) || !strings.Contains(logs.String(), "connection reset") || !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("log:\n%s\nwant the aborted download at ERROR with its cause", logs.String())
	}
}
