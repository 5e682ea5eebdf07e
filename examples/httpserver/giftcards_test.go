package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
	"github.com/google/go-cmp/cmp"
)

// Gift cards spent by their codes, checked, reloaded and moved.

// cardPart is a gift card's part of an order, as the API shows it.
type cardPart struct {
	MaskedCode                  string `json:"masked_code"`
	Planned, Captured, Refunded money
}

// paidOrder is what these tests read of an order.
type paidOrder struct {
	ID, State     string
	GiftCards     []cardPart `json:"gift_cards"`
	Balance, Card struct{ Planned, Captured, Refunded money }
	Refunds       []struct {
		Amount        money
		GiftCards     []money `json:"gift_cards"`
		Balance, Card money
	}
}

// cardBalance is what a card holds, as the API shows it.
type cardBalance struct {
	CardID                   string `json:"card_id"`
	MaskedCode               string `json:"masked_code"`
	Balance, Held, Available money
	ExpiresAt                *time.Time `json:"expires_at"`
	NextExpiry               *time.Time `json:"next_expiry"`
}

// issueUntil has the admin issue one card of value expiring at expires (an
// RFC 3339 time; "" for never) and returns its ID and code.
func issueUntil(t *testing.T, api *apiClient, value, expires, key string) (id, code string) {
	t.Helper()
	req := map[string]any{"value": eur(value)}
	if expires != "" {
		req["expires_at"] = expires
	}
	var out struct {
		Cards []struct{ ID, Code string } `json:"cards"`
	}
	mustCall(t, api, "POST", "/cards", adminToken, key, req, &out, http.StatusCreated)
	return out.Cards[0].ID, out.Cards[0].Code
}

func masked(code string) string { return codefmt.MustParse(code).Masked() }

// checkCard checks the card of code as token (a guest for ""), which must
// answer 200.
func checkCard(t *testing.T, api *apiClient, token, code string) cardBalance {
	t.Helper()
	var b cardBalance
	mustCall(t, api, "POST", "/cards/balance", token, "", map[string]string{"code": code}, &b, http.StatusOK)
	return b
}

// TestGuestPaysWithCodes: a guest, without a token, pays an order with two
// gift cards by code and a bank card for the rest: the card whose value
// lapses soonest pays first, whatever the order the codes were given in;
// each card's part shows by its masked code; the balances left are checked
// by code; a refund goes to the bank card first, then to the card spent
// last. The admin reads the guest's order; nobody else does.
func TestGuestPaysWithCodes(t *testing.T) {
	api := newTestServer(t)
	_, later := issueUntil(t, api, "40.00", "2035-06-30T00:00:00Z", "issue-1")
	_, sooner := issueUntil(t, api, "20.00", "2034-01-31T00:00:00Z", "issue-2")
	body := map[string]any{"total": eur("65.00"), "codes": []string{later, strings.ToLower(sooner)}, "instrument": "tok_visa"}

	var paid paidOrder
	mustCall(t, api, "POST", "/accounts/guest/orders/g-1/pay", "", "pay-1", body, &paid, http.StatusOK)
	want := []cardPart{
		{masked(sooner), money{"20.00", "EUR"}, money{"20.00", "EUR"}, money{"0.00", "EUR"}},
		{masked(later), money{"40.00", "EUR"}, money{"40.00", "EUR"}, money{"0.00", "EUR"}},
	}
	if diff := cmp.Diff(want, paid.GiftCards); diff != "" || paid.State != "captured" || paid.Card.Captured.Amount != "5.00" || paid.Balance.Captured.Amount != "0.00" {
		t.Fatalf("guest's payment: %+v; gift cards (-want +got):\n%s", paid, diff)
	}
	// The same key and request: the same order, charged once.
	var again paidOrder
	mustCall(t, api, "POST", "/accounts/guest/orders/g-1/pay", "", "pay-1", body, &again, http.StatusOK)
	if diff := cmp.Diff(paid, again); diff != "" {
		t.Errorf("replay (-first +again):\n%s", diff)
	}
	for _, code := range []string{later, sooner} {
		if b := checkCard(t, api, "", code); b.Available.Amount != "0.00" || b.MaskedCode != masked(code) || b.CardID != "" {
			t.Errorf("the balance left on %s: %+v; want 0.00, by masked code, without the card's ID", masked(code), b)
		}
	}

	var refunded paidOrder
	mustCall(t, api, "POST", "/accounts/guest/orders/g-1/refund", adminToken, "refund-1", map[string]any{"amount": eur("25.00")}, &refunded, http.StatusOK)
	r := refunded.Refunds[0]
	if r.Card.Amount != "5.00" || len(r.GiftCards) != 2 || r.GiftCards[0].Amount != "0.00" || r.GiftCards[1].Amount != "20.00" {
		t.Errorf("refund of 25.00: %+v; want 5.00 to the bank card, then 20.00 to the card spent last", r)
	}
	if b := checkCard(t, api, "", later); b.Available.Amount != "20.00" {
		t.Errorf("after the refund, %s holds %+v; want 20.00", masked(later), b)
	}

	mustCall(t, api, "GET", "/accounts/guest/orders/g-1", adminToken, "", nil, &again, http.StatusOK)
	var p problem
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {aliceToken, http.StatusForbidden}} {
		if status, _ := api.call("GET", "/accounts/guest/orders/g-1", tc.token, "", nil, &p); status != tc.want {
			t.Errorf("reading the guest's order with token %q: %d; want %d", tc.token, status, tc.want)
		}
	}
}

// TestGuestRoutes: a guest pays only under the account guest, and only with
// codes; a token, if sent, must be valid, and a shopper's does not make
// them a guest.
func TestGuestRoutes(t *testing.T) {
	api := newTestServer(t)
	_, code := issueUntil(t, api, "10.00", "", "issue-1")
	withCodes := map[string]any{"total": eur("5.00"), "codes": []string{code}}
	for _, tc := range []struct {
		name, path, token string
		body              any
		want              int
	}{
		{"a guest without codes", "/accounts/guest/orders/g-1/pay", "", map[string]any{"total": eur("5.00"), "instrument": "tok_visa"}, http.StatusBadRequest},
		{"a guest in a shopper's account", "/accounts/alice/orders/g-1/pay", "", withCodes, http.StatusUnauthorized},
		{"a shopper as a guest", "/accounts/guest/orders/g-1/pay", aliceToken, withCodes, http.StatusForbidden},
		{"the admin as a guest", "/accounts/guest/orders/g-1/pay", adminToken, withCodes, http.StatusForbidden},
		{"a till as a guest", "/accounts/guest/orders/g-1/pay", tillToken, withCodes, http.StatusForbidden},
		{"a bad token on a guest's route", "/accounts/guest/orders/g-1/pay", "nope-nope-nope-nope", withCodes, http.StatusUnauthorized},
		{"a bad token on a balance check", "/cards/balance", "nope-nope-nope-nope", map[string]string{"code": code}, http.StatusUnauthorized},
		{"a guest redeeming", "/accounts/guest/redeem", "", map[string]string{"code": code}, http.StatusUnauthorized},
		{"a guest loading", "/accounts/guest/loads", adminToken, map[string]any{"amount": eur("5.00")}, http.StatusBadRequest},
	} {
		var p problem
		if status, err := api.call("POST", tc.path, tc.token, "k-"+tc.name, tc.body, &p); err != nil || status != tc.want {
			t.Errorf("%s: %d %v %+v; want %d", tc.name, status, err, p, tc.want)
		}
		checkHumanDetail(t, errEmpty, p.Detail)
	}
	// The guest's code was never spent.
	if b := checkCard(t, api, "", code); b.Available.Amount != "10.00" {
		t.Errorf("the card after refused payments: %+v; want 10.00", b)
	}
}

// TestPayWithCodesAndBalance: a shopper's gift cards by code pay before her
// balance, and the bank card pays the rest; skip_balance leaves the
// balance alone.
func TestPayWithCodesAndBalance(t *testing.T) {
	api := newTestServer(t)
	_, redeemed := issueUntil(t, api, "10.00", "", "issue-1")
	_, first := issueUntil(t, api, "15.00", "", "issue-2")
	_, second := issueUntil(t, api, "15.00", "", "issue-3")
	mustCall(t, api, "POST", "/accounts/alice/redeem", aliceToken, "redeem-1", map[string]string{"code": redeemed}, nil, http.StatusOK)

	var paid paidOrder
	mustCall(t, api, "POST", "/accounts/alice/orders/o1/pay", aliceToken, "pay-1",
		map[string]any{"total": eur("30.00"), "codes": []string{first}, "instrument": "tok_visa"}, &paid, http.StatusOK)
	if len(paid.GiftCards) != 1 || paid.GiftCards[0].Captured.Amount != "15.00" || paid.Balance.Captured.Amount != "10.00" || paid.Card.Captured.Amount != "5.00" {
		t.Errorf("15.00 by card, 10.00 of balance, 5.00 by bank card: got %+v", paid)
	}
	mustCall(t, api, "POST", "/accounts/alice/adjustments", adminToken, "adj-1",
		map[string]any{"amount": eur("10.00"), "reason": "goodwill"}, nil, http.StatusOK)
	mustCall(t, api, "POST", "/accounts/alice/orders/o2/pay", aliceToken, "pay-2",
		map[string]any{"total": eur("20.00"), "codes": []string{second}, "instrument": "tok_visa", "skip_balance": true}, &paid, http.StatusOK)
	if paid.GiftCards[0].Captured.Amount != "15.00" || paid.Balance.Captured.Amount != "0.00" || paid.Card.Captured.Amount != "5.00" {
		t.Errorf("skip_balance: %+v; want 15.00 by card and 5.00 by bank card", paid)
	}
	var b struct{ Available money }
	mustCall(t, api, "GET", "/accounts/alice/balance", aliceToken, "", nil, &b, http.StatusOK)
	if b.Available.Amount != "10.00" {
		t.Errorf("alice's balance after skipping it: %+v; want 10.00", b)
	}
}

// TestPayCodeRefusals: each way a code given to pay can fail is a problem
// whose detail names the card by its masked code (or, for a typo, by its
// position among the codes, counted from 1), and nothing is spent.
func TestPayCodeRefusals(t *testing.T) {
	api := newTestServer(t)
	_, good := issueUntil(t, api, "10.00", "", "issue-1")
	_, taken := issueUntil(t, api, "10.00", "", "issue-2")
	_, spent := issueUntil(t, api, "5.00", "", "issue-3")
	mustCall(t, api, "POST", "/accounts/bob/redeem", bobToken, "redeem-1", map[string]string{"code": taken}, nil, http.StatusOK)
	mustCall(t, api, "POST", "/accounts/guest/orders/spend/pay", "", "pay-0",
		map[string]any{"total": eur("5.00"), "codes": []string{spent}}, nil, http.StatusOK)
	typo := []byte(good)
	typo[7] = map[bool]byte{true: 'X', false: 'Y'}[typo[7] != 'X']
	unknown := "1G06-02M06R-1GGZ1" // reads, but no card has it

	for i, tc := range []struct {
		name   string
		codes  []string
		extra  map[string]any
		status int
		slug   string
		detail string
	}{
		{"a typo in the second code", []string{good, string(typo)}, nil, 422, "invalid-code", "gift card 2 of 2: the code does not check out: character 7 of 15"},
		{"an unknown code", []string{unknown}, nil, 422, "not-redeemable", "the gift card " + masked(unknown) + " cannot be used"},
		{"a card redeemed into an account", []string{good, taken}, nil, 409, "already-redeemed", "the gift card " + masked(taken) + " was redeemed into an account"},
		{"a card with nothing left", []string{spent}, map[string]any{"instrument": "tok_visa"}, 402, "no-balance", "the gift card " + masked(spent) + " has nothing left to spend"},
		{"a code given twice", []string{good, strings.ToLower(good)}, nil, 400, "invalid-request", "gift card " + masked(good) + " is given twice"},
		{"six codes", []string{good, good, good, good, good, good}, nil, 400, "invalid-request", "at most 5 gift cards"},
		{"no bank card for the rest", []string{good}, nil, 400, "invalid-request", `the gift cards do not cover the whole order: give a bank card as "instrument" for the rest, 10.00 EUR`},
		{"a declined bank card", []string{good}, map[string]any{"instrument": "tok_declined"}, 402, "payment-declined", "nothing was charged, and the gift cards are as they were"},
	} {
		body := map[string]any{"total": eur("20.00"), "codes": tc.codes}
		for k, v := range tc.extra {
			body[k] = v
		}
		req, _ := json.Marshal(body)
		resp, err := api.http.Do(guestRequest(t, api, fmt.Sprintf("/accounts/guest/orders/o%d/pay", i), fmt.Sprint("pay-", i), req))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p struct {
			problem
			Position *int `json:"position"`
		}
		_ = json.Unmarshal(raw, &p)
		if resp.StatusCode != tc.status || !strings.HasSuffix(p.Type, "/"+tc.slug) || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s: %d %s; want %d %s with a detail holding %q", tc.name, resp.StatusCode, raw, tc.status, tc.slug, tc.detail)
		}
		if tc.slug == "invalid-code" && (p.Position == nil || *p.Position != 2 || p.Character == nil || *p.Character != 7) {
			t.Errorf("%s: %s; want position 2 and character 7", tc.name, raw)
		}
		checkHumanDetail(t, errEmpty, p.Detail)
	}
	// Nothing was spent of the good card, and no refusal above was a guess
	// that the check characters could catch: the typo did not count.
	if b := checkCard(t, api, "", good); b.Available.Amount != "10.00" || b.Held.Amount != "0.00" {
		t.Errorf("the good card after the refusals: %+v; want 10.00 available, nothing held", b)
	}
}

// guestRequest is a guest's POST of body to path under key.
func guestRequest(t *testing.T, api *apiClient, path, key string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", api.base+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	return req
}

// TestCheckBalance: a card's balance by its code, for a shopper, a guest,
// a till or the admin; a typo is caught by the check characters, an
// unknown code is the redemption's refusal, a card redeemed into an
// account says its value is there.
func TestCheckBalance(t *testing.T) {
	api := newTestServer(t)
	_, code := issueUntil(t, api, "12.50", "2034-03-12T00:00:00Z", "issue-1")
	for _, token := range []string{"", aliceToken, tillToken, adminToken} {
		b := checkCard(t, api, token, " "+strings.ToLower(strings.ReplaceAll(code, "-", " ")))
		exp := time.Date(2034, 3, 12, 0, 0, 0, 0, time.UTC)
		if b.Available.Amount != "12.50" || b.Balance.Amount != "12.50" || b.Held.Amount != "0.00" || b.MaskedCode != masked(code) ||
			b.CardID != "" || b.ExpiresAt == nil || !b.ExpiresAt.Equal(exp) || b.NextExpiry == nil {
			t.Errorf("check as %q: %+v", token, b)
		}
	}
	typo := []byte(code)
	typo[2] = map[bool]byte{true: 'X', false: 'Y'}[typo[2] != 'X']
	mustCall(t, api, "POST", "/accounts/alice/redeem", aliceToken, "redeem-1", map[string]string{"code": code}, nil, http.StatusOK)
	for _, tc := range []struct {
		code, slug, detail string
		status             int
	}{
		{string(typo), "invalid-code", "character 3 of 15", 422},
		{"1G06-02M06R-1GGZ1", "not-redeemable", "no card that can be used has this code", 422},
		{code, "already-redeemed", "this card, " + masked(code) + ", has been redeemed into an account", 409},
	} {
		var p problem
		if status, _ := api.call("POST", "/cards/balance", "", "", map[string]string{"code": tc.code}, &p); status != tc.status ||
			!strings.HasSuffix(p.Type, "/"+tc.slug) || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("check %s: %d %+v; want %d %s holding %q", tc.code, status, p, tc.status, tc.slug, tc.detail)
		}
	}
}

// TestGuessesPerAddress: failed guesses of codes count together per client
// address, whoever makes them: a guest who checks ten unknown codes is
// locked out (429, Retry-After), and so is a shopper redeeming from the
// same address, while typos never count.
func TestGuessesPerAddress(t *testing.T) {
	api := newTestServer(t)
	_, code := issueUntil(t, api, "10.00", "", "issue-1")
	typo := []byte(code)
	typo[2] = map[bool]byte{true: 'X', false: 'Y'}[typo[2] != 'X']
	for i := 0; i < 20; i++ { // typos: caught before any lookup, never counted
		mustCall(t, api, "POST", "/cards/balance", "", "", map[string]string{"code": string(typo)}, nil, http.StatusUnprocessableEntity)
	}
	checkCard(t, api, "", code) // a card found clears nothing, counts nothing
	for i := 0; i < 10; i++ {
		mustCall(t, api, "POST", "/cards/balance", "", "", map[string]string{"code": "1G06-02M06R-1GGZ1"}, nil, http.StatusUnprocessableEntity)
	}
	send := func(path, token, key string, body any) (int, string, problem) {
		t.Helper()
		data, _ := json.Marshal(body)
		req := guestRequest(t, api, path, key, data)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := api.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p problem
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, resp.Header.Get("Retry-After"), p
	}
	for _, tc := range []struct {
		name, path, token string
		body              any
		detail            string
	}{
		{"the guest's next check", "/cards/balance", "", map[string]string{"code": code}, "too many failed attempts with gift card codes: try again in 3600 seconds"},
		{"a guest's payment", "/accounts/guest/orders/g-1/pay", "", map[string]any{"total": eur("5.00"), "codes": []string{code}}, "too many failed attempts with gift card codes"},
		{"alice's redemption, from the same address", "/accounts/alice/redeem", aliceToken, map[string]string{"code": code}, "too many failed attempts to redeem a code"},
	} {
		status, retry, p := send(tc.path, tc.token, "k-"+tc.name, tc.body)
		if status != http.StatusTooManyRequests || retry != "3600" || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s: %d Retry-After %q %+v; want 429 after 3600 s, %q", tc.name, status, retry, p, tc.detail)
		}
	}
}

// TestGuestsApart: as the server wires the services, guests are counted by
// their address, not all under one name: a guest locked out at one
// address leaves a guest at another free, for balance checks and payments.
func TestGuestsApart(t *testing.T) {
	s, release, err := newServer(context.Background(), serverConfig{Tokens: adminToken + "=admin", Limit: wallet.LimitRule{Max: 2}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	guest := func(addr string) context.Context {
		return wallet.WithClient(giftkit.WithActor(context.Background(), giftkit.Shopper(guestName)), addr)
	}
	unknown := "1G06-02M06R-1GGZ1" // reads, but no card has it
	for i := 0; i < 2; i++ {
		if _, err := s.wallet.CheckBalance(guest("192.0.2.1"), "", unknown); !errors.Is(err, giftcard.ErrNotRedeemable) {
			t.Fatalf("guess %d: %v; want not redeemable", i+1, err)
		}
	}
	if _, err := s.wallet.CheckBalance(guest("192.0.2.1"), "", unknown); !errors.Is(err, wallet.ErrTooManyAttempts) {
		t.Errorf("the third guess at the first address: %v; want a lockout", err)
	}
	pay := checkout.PayRequest{PaymentID: "g-1", Total: giftkit.MustParseMoney("5.00", giftkit.EUR), Codes: []string{unknown}}
	if _, err := s.checkout.Pay(guest("192.0.2.1"), pay, "pay-1"); !errors.Is(err, wallet.ErrTooManyAttempts) {
		t.Errorf("a payment at the first address: %v; want a lockout, counted with the checks", err)
	}
	if _, err := s.wallet.CheckBalance(guest("198.51.100.7"), "", unknown); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("a guest at another address: %v; want not redeemable, not locked out", err)
	}
	if _, err := s.checkout.Pay(guest("198.51.100.7"), pay, "pay-1"); !errors.Is(err, giftcard.ErrNotRedeemable) {
		t.Errorf("a payment at another address: %v; want not redeemable, not locked out", err)
	}
}

// TestReload: the admin and the tills reload cards; each till's
// Idempotency-Keys are its own; shoppers and guests may not.
func TestReload(t *testing.T) {
	api := newTestServer(t)
	id, code := issueUntil(t, api, "10.00", "2034-01-31T00:00:00Z", "issue-1")
	body := map[string]any{"amount": eur("5.00"), "reference": "receipt-7"}
	var b cardBalance
	mustCall(t, api, "POST", "/cards/"+id+"/reload", adminToken, "reload-1", body, &b, http.StatusOK)
	if b.CardID != id || b.Available.Amount != "15.00" || b.MaskedCode != masked(code) {
		t.Errorf("reload by the admin: %+v; want 15.00 on the card", b)
	}
	// Two tills, one key each of the same text: two reloads; a retry: none.
	mustCall(t, api, "POST", "/cards/"+id+"/reload", tillToken, "reload-1", body, &b, http.StatusOK)
	mustCall(t, api, "POST", "/cards/"+id+"/reload", otherTillToken, "reload-1", body, &b, http.StatusOK)
	mustCall(t, api, "POST", "/cards/"+id+"/reload", tillToken, "reload-1", body, &b, http.StatusOK)
	if got := checkCard(t, api, "", code); got.Available.Amount != "25.00" {
		t.Errorf("after the admin's and two tills' reloads and a retry: %+v; want 25.00", got)
	}
	var p problem
	for _, tc := range []struct {
		token string
		want  int
	}{{aliceToken, http.StatusForbidden}, {"", http.StatusUnauthorized}} {
		if status, _ := api.call("POST", "/cards/"+id+"/reload", tc.token, "reload-x", body, &p); status != tc.want {
			t.Errorf("reload with token %q: %d; want %d", tc.token, status, tc.want)
		}
	}
	for _, tc := range []struct {
		name, path string
		body       any
		status     int
		slug       string
		detail     string
	}{
		{"an unknown card", "/cards/card_0123456789abcdef0123/reload", body, 404, "not-found", "there is no such card"},
		{"another currency", "/cards/" + id + "/reload", map[string]any{"amount": map[string]string{"amount": "5.00", "currency": "USD"}}, 400, "invalid-request",
			"the card holds EUR: give the amount in that currency"},
		{"nothing", "/cards/" + id + "/reload", map[string]any{"amount": eur("0")}, 400, "invalid-request", "the amount must be more than zero"},
	} {
		p = problem{}
		if status, _ := api.call("POST", tc.path, adminToken, "k-"+tc.name, tc.body, &p); status != tc.status || !strings.HasSuffix(p.Type, "/"+tc.slug) || p.Detail != tc.detail {
			t.Errorf("%s: %d %+v; want %d %s %q", tc.name, status, p, tc.status, tc.slug, tc.detail)
		}
		checkHumanDetail(t, errEmpty, p.Detail)
	}
}

// TestTransferAndMerge: the admin moves part of a card's value to another
// card, then all of it; a card with nothing left, a card to itself, an
// unknown card and a missing amount are refused.
func TestTransferAndMerge(t *testing.T) {
	api := newTestServer(t)
	from, fromCode := issueUntil(t, api, "30.00", "", "issue-1")
	to, toCode := issueUntil(t, api, "5.00", "", "issue-2")
	var moved struct {
		Amount   money
		From, To cardBalance
	}
	mustCall(t, api, "POST", "/cards/"+from+"/transfer", adminToken, "move-1",
		map[string]any{"to": to, "amount": eur("10.00"), "reason": "the holder asked"}, &moved, http.StatusOK)
	if moved.Amount.Amount != "10.00" || moved.From.Available.Amount != "20.00" || moved.To.Available.Amount != "15.00" || moved.From.CardID != from || moved.To.CardID != to {
		t.Errorf("transfer of 10.00: %+v", moved)
	}
	mustCall(t, api, "POST", "/cards/"+from+"/merge", adminToken, "merge-1", map[string]any{"to": to}, &moved, http.StatusOK)
	if moved.Amount.Amount != "20.00" || moved.From.Available.Amount != "0.00" || moved.To.Available.Amount != "35.00" {
		t.Errorf("merge: %+v", moved)
	}
	if b := checkCard(t, api, "", toCode); b.Available.Amount != "35.00" {
		t.Errorf("the card merged into, checked by code: %+v", b)
	}
	if b := checkCard(t, api, "", fromCode); b.Available.Amount != "0.00" {
		t.Errorf("the card merged from, checked by code: %+v", b)
	}
	for _, tc := range []struct {
		name, path string
		body       any
		status     int
		slug       string
		detail     string
	}{
		{"from an empty card", "/cards/" + from + "/merge", map[string]any{"to": to}, 402, "no-balance", "this card, " + masked(fromCode) + ", has nothing available to move"},
		{"more than there is", "/cards/" + to + "/transfer", map[string]any{"to": from, "amount": eur("50.00")}, 402, "payment-declined",
			"the card has 35.00 EUR available to move, less than the 50.00 EUR asked for"},
		{"to itself", "/cards/" + to + "/transfer", map[string]any{"to": to, "amount": eur("1.00")}, 400, "invalid-request", `a card cannot receive its own value: name another card as "to"`},
		{"to an unknown card", "/cards/" + to + "/merge", map[string]any{"to": "card_0123456789abcdef0123"}, 404, "not-found", "there is no such card: check the IDs of both cards"},
		{"a transfer without an amount", "/cards/" + to + "/transfer", map[string]any{"to": from}, 400, "bad-request", `the member "amount" is required`},
		{"a merge with an amount", "/cards/" + to + "/merge", map[string]any{"to": from, "amount": eur("1.00")}, 400, "bad-request", `a merge moves all that is available`},
		{"without a card to move to", "/cards/" + to + "/merge", map[string]any{}, 400, "bad-request", `the member "to" is required`},
	} {
		var p problem
		if status, _ := api.call("POST", tc.path, adminToken, "k-"+tc.name, tc.body, &p); status != tc.status ||
			!strings.HasSuffix(p.Type, "/"+tc.slug) || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s: %d %+v; want %d %s holding %q", tc.name, status, p, tc.status, tc.slug, tc.detail)
		}
		checkHumanDetail(t, errEmpty, p.Detail)
	}
	var p problem
	if status, _ := api.call("POST", "/cards/"+to+"/merge", tillToken, "k-till", map[string]any{"to": from}, &p); status != http.StatusForbidden {
		t.Errorf("a till merging cards: %d; want 403", status)
	}
}

// TestLoadAccount: the admin loads a balance; the journal shows a load;
// shoppers may not load their own.
func TestLoadAccount(t *testing.T) {
	api := newTestServer(t)
	body := map[string]any{"amount": eur("20.00"), "reference": "till-7 receipt 42"}
	var out struct {
		Amount    money
		Reference string
		Balance   struct{ Available money }
	}
	mustCall(t, api, "POST", "/accounts/alice/loads", adminToken, "load-1", body, &out, http.StatusOK)
	mustCall(t, api, "POST", "/accounts/alice/loads", adminToken, "load-1", body, &out, http.StatusOK)
	if out.Amount.Amount != "20.00" || out.Reference != "till-7 receipt 42" || out.Balance.Available.Amount != "20.00" {
		t.Errorf("load, and its retry: %+v; want 20.00 once", out)
	}
	var history struct {
		Entries []struct{ Kind, Reference string }
	}
	mustCall(t, api, "GET", "/accounts/alice/history", aliceToken, "", nil, &history, http.StatusOK)
	if len(history.Entries) != 1 || history.Entries[0].Kind != "load" || history.Entries[0].Reference != "till-7 receipt 42" {
		t.Errorf("history after a load: %+v", history)
	}
	var p problem
	if status, _ := api.call("POST", "/accounts/alice/loads", aliceToken, "load-2", body, &p); status != http.StatusForbidden {
		t.Errorf("alice loading her own balance: %d; want 403", status)
	}
}

// TestProgrammeRules: under the EU anonymous-prepaid rules, gift cards pay
// at most 50.00 EUR of an order (the bank card the rest), and a reload
// that would take a card above 150.00 EUR is a 422 that names the rule.
func TestProgrammeRules(t *testing.T) {
	cfg := testConfig(t)
	eu := giftcard.EUAnonymousPrepaid()
	cfg.Programme = &eu
	api := startTestServer(t, cfg, io.Discard)
	id, code := issueUntil(t, api, "100.00", "", "issue-1")
	var paid paidOrder
	mustCall(t, api, "POST", "/accounts/guest/orders/g-1/pay", "", "pay-1",
		map[string]any{"total": eur("80.00"), "codes": []string{code}, "instrument": "tok_visa"}, &paid, http.StatusOK)
	if paid.GiftCards[0].Captured.Amount != "50.00" || paid.Card.Captured.Amount != "30.00" {
		t.Errorf("an order of 80.00 under the EU rules: %+v; want 50.00 from the card, 30.00 by bank card", paid)
	}
	b := checkCard(t, api, "", code)
	if b.Available.Amount != "50.00" {
		t.Errorf("the card after paying 50.00: %+v", b)
	}
	var p problem
	status, _ := api.call("POST", "/cards/"+id+"/reload", adminToken, "reload-1", map[string]any{"amount": eur("120.00")}, &p)
	want := "the rules of EU anonymous prepaid do not allow this: maximum card balance is 150.00 EUR, would be 170.00 EUR"
	if status != http.StatusUnprocessableEntity || !strings.HasSuffix(p.Type, "/programme-limit") || p.Detail != want {
		t.Errorf("a reload above the maximum card balance: %d %+v; want 422 programme-limit %q", status, p, want)
	}
	checkHumanDetail(t, errEmpty, p.Detail)
	p = problem{}
	status, _ = api.call("POST", "/cards", adminToken, "issue-2", map[string]any{"value": eur("200.00")}, &p)
	want = "the rules of EU anonymous prepaid do not allow this: maximum card value is 150.00 EUR, would be 200.00 EUR"
	if status != http.StatusUnprocessableEntity || !strings.HasSuffix(p.Type, "/programme-limit") || p.Detail != want {
		t.Errorf("a card above the maximum card value: %d %+v; want 422 programme-limit %q", status, p, want)
	}
	checkHumanDetail(t, errEmpty, p.Detail)
}

// TestCodesLoggedMasked: a guest's payment with two codes and a balance
// check are logged with their codes masked (a payment's as a list), as the
// guest, and no log line, the services' included, holds a whole code.
func TestCodesLoggedMasked(t *testing.T) {
	var logs syncBuffer
	api := startTestServer(t, testConfig(t), &logs)
	_, first := issueUntil(t, api, "10.00", "", "issue-1")
	_, second := issueUntil(t, api, "10.00", "", "issue-2")
	send := func(path, id string, body any) {
		t.Helper()
		data, _ := json.Marshal(body)
		req := guestRequest(t, api, path, "k-"+id, data)
		req.Header.Set("X-Request-ID", id)
		resp, err := api.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("/accounts/guest/orders/g-1/pay", "pay-1", map[string]any{"total": eur("25.00"), "codes": []string{first, strings.ToLower(second)}, "instrument": "tok_visa"})
	send("/cards/balance", "check-1", map[string]string{"code": first})
	for id, want := range map[string]any{
		"pay-1":   []any{masked(first), masked(second)},
		"check-1": masked(first),
	} {
		var rec map[string]any
		waitFor(t, "the log line of "+id, func() bool {
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "request" && rec["request_id"] == id {
					return true
				}
			}
			return false
		})
		got := rec["code"]
		if id == "pay-1" {
			got = rec["codes"]
		}
		if !cmp.Equal(want, got) || rec["caller"] != guestName || rec["status"] != 200.0 {
			t.Errorf("log line of %s: %v; want the codes %v, the caller guest, 200", id, rec, want)
		}
	}
	if found := codefmt.Extract(logs.String()); len(found) > 0 {
		t.Errorf("the log holds whole codes %v", found)
	}
}
