package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// apiClient calls the service at base through http, as a shopper's app or
// the admin's tool would.
type apiClient struct {
	base string // such as "http://127.0.0.1:8080"
	http *http.Client
}

// call sends one JSON request to the path (with its query) and decodes the
// JSON answer into out, if out is not nil.
func (c *apiClient) call(method, path, token, key string, body, out any) (int, error) {
	var payload io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		payload = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, payload)
	if err != nil {
		return 0, err
	}
	if token != "" { // none for a guest
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode %d response: %w", method, path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode, nil
}

// smokeSession is the scripted session of -smoke: the admin issues a card,
// alice redeems it, checks her balance and pays an order larger than it,
// which the admin then looks up; then a guest, without a token, checks two
// more cards by their codes and pays an order with both and a bank card,
// the card whose value lapses sooner first.
func smokeSession(w io.Writer, api *apiClient, admin, alice string) error {
	eur := func(amount string) map[string]string { return map[string]string{"amount": amount, "currency": "EUR"} }
	var issued struct {
		Cards []struct{ Code string } `json:"cards"`
	}
	if status, err := api.call("POST", "/cards", admin, "issue-1", map[string]any{"value": eur("25.00")}, &issued); err != nil || status != http.StatusCreated {
		return fmt.Errorf("issue: %d %v", status, err)
	}
	fmt.Fprintln(w, "POST /cards -> 201: one card of 25.00 EUR")

	var problem map[string]any
	status, err := api.call("POST", "/accounts/alice/redeem", alice, "redeem-1", map[string]string{"code": issued.Cards[0].Code}, &problem)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("redeem: %d %v %v", status, err, problem)
	}
	fmt.Fprintln(w, "POST /accounts/alice/redeem -> 200")

	var balance struct{ Available struct{ Amount string } }
	if status, err := api.call("GET", "/accounts/alice/balance?currency=EUR", alice, "", nil, &balance); err != nil || status != http.StatusOK {
		return fmt.Errorf("balance: %d %v", status, err)
	}
	fmt.Fprintf(w, "GET /accounts/alice/balance -> 200: %s EUR available\n", balance.Available.Amount)

	var payment struct {
		State   string
		Balance struct{ Captured struct{ Amount string } }
		Card    struct{ Captured struct{ Amount string } }
	}
	status, err = api.call("POST", "/accounts/alice/orders/order-1/pay", alice, "pay-1", map[string]any{"total": eur("40.00"), "instrument": "tok_visa"}, &payment)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("pay: %d %v", status, err)
	}
	fmt.Fprintf(w, "POST /accounts/alice/orders/order-1/pay -> 200: %s, %s from the balance, %s by card\n",
		payment.State, payment.Balance.Captured.Amount, payment.Card.Captured.Amount)

	var order struct{ ID, State string }
	if status, err := api.call("GET", "/accounts/alice/orders/order-1", admin, "", nil, &order); err != nil || status != http.StatusOK || order.ID != "order-1" {
		return fmt.Errorf("support reading alice's order: %d %v %+v", status, err, order)
	}
	fmt.Fprintf(w, "GET /accounts/alice/orders/order-1 as the admin -> 200: %s\n", order.State)

	status, err = api.call("GET", "/accounts/bob/balance", alice, "", nil, &problem)
	if err != nil || status != http.StatusForbidden {
		return fmt.Errorf("alice reading bob's balance: %d %v", status, err)
	}
	fmt.Fprintln(w, "GET /accounts/bob/balance as alice -> 403")
	return guestSession(w, api, admin)
}

// guestSession is the guest's part of the -smoke session: gift cards
// checked and spent by their codes.
func guestSession(w io.Writer, api *apiClient, admin string) error {
	eur := func(amount string) map[string]string { return map[string]string{"amount": amount, "currency": "EUR"} }
	var codes []string
	for i, card := range []struct{ value, expires string }{{"30.00", "2035-12-31T00:00:00Z"}, {"20.00", "2035-06-30T00:00:00Z"}} {
		var issued struct {
			Cards []struct{ Code string } `json:"cards"`
		}
		body := map[string]any{"value": eur(card.value), "expires_at": card.expires}
		if status, err := api.call("POST", "/cards", admin, fmt.Sprint("issue-guest-", i), body, &issued); err != nil || status != http.StatusCreated {
			return fmt.Errorf("issue: %d %v", status, err)
		}
		codes = append(codes, issued.Cards[0].Code)
	}
	fmt.Fprintln(w, "POST /cards -> 201 twice: 30.00 EUR valid until 2035-12-31, 20.00 EUR until 2035-06-30")

	var card struct {
		MaskedCode string `json:"masked_code"`
		Available  struct{ Amount string }
	}
	if status, err := api.call("POST", "/cards/balance", "", "", map[string]string{"code": codes[0]}, &card); err != nil || status != http.StatusOK {
		return fmt.Errorf("balance check: %d %v", status, err)
	}
	fmt.Fprintf(w, "POST /cards/balance as a guest -> 200: %s holds %s EUR\n", card.MaskedCode, card.Available.Amount)

	var payment struct {
		State     string
		GiftCards []struct {
			MaskedCode string `json:"masked_code"`
			Captured   struct{ Amount string }
		} `json:"gift_cards"`
		Card struct{ Captured struct{ Amount string } }
	}
	body := map[string]any{"total": eur("60.00"), "codes": codes, "instrument": "tok_visa"}
	status, err := api.call("POST", "/accounts/guest/orders/guest-order-1/pay", "", "pay-guest-1", body, &payment)
	if err != nil || status != http.StatusOK || len(payment.GiftCards) != 2 {
		return fmt.Errorf("guest's payment: %d %v %+v", status, err, payment)
	}
	fmt.Fprintf(w, "POST /accounts/guest/orders/guest-order-1/pay as a guest -> 200: %s, %s EUR from %s, %s EUR from %s, %s EUR by card\n",
		payment.State, payment.GiftCards[0].Captured.Amount, payment.GiftCards[0].MaskedCode,
		payment.GiftCards[1].Captured.Amount, payment.GiftCards[1].MaskedCode, payment.Card.Captured.Amount)

	if status, err := api.call("POST", "/cards/balance", "", "", map[string]string{"code": codes[1]}, &card); err != nil || status != http.StatusOK {
		return fmt.Errorf("balance check: %d %v", status, err)
	}
	fmt.Fprintf(w, "POST /cards/balance as a guest -> 200: %s holds %s EUR\n", card.MaskedCode, card.Available.Amount)
	return nil
}
