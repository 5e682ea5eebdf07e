package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestSQLiteKeepsEverything: on the default store, a SQLite file, a
// restarted server finds the balances, the cards issued before the
// restart, whose codes it hashes with the key it kept beside the file, and
// a guest's order paid with a gift card by code, with the card's part.
func TestSQLiteKeepsEverything(t *testing.T) {
	db := filepath.Join(t.TempDir(), "giftkit.db")
	cfg := testConfig(t)
	cfg.DSN, cfg.Schema, cfg.HashKey, cfg.DB = "", "", "", db
	start := func() (*apiClient, func()) {
		s, release, err := newServer(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.routes())
		return &apiClient{base: srv.URL, http: contractClient(t)}, func() { srv.Close(); release() }
	}
	api, stop := start()
	first := issue(t, api, "25.00", "issue-1")
	later := issue(t, api, "5.00", "issue-2")
	if status, err := api.call("POST", "/accounts/alice/redeem", aliceToken, "r1", map[string]string{"code": first}, nil); err != nil || status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, err)
	}
	spent := issue(t, api, "30.00", "issue-3")
	mustCall(t, api, "POST", "/accounts/guest/orders/g-1/pay", "", "pay-1",
		map[string]any{"total": eur("12.00"), "codes": []string{spent}}, nil, http.StatusOK)
	stop()
	if info, err := os.Stat(db + ".key"); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the hash key file: %v, %v; want it readable by its owner alone", info, err)
	}

	api, stop = start() // the server restarts
	defer stop()
	var balance struct{ Available struct{ Amount string } }
	if status, _ := api.call("GET", "/accounts/alice/balance?currency=EUR", aliceToken, "", nil, &balance); status != http.StatusOK || balance.Available.Amount != "25.00" {
		t.Errorf("balance after a restart: %d %+v; want 25.00", status, balance)
	}
	if status, err := api.call("POST", "/accounts/alice/redeem", aliceToken, "r2", map[string]string{"code": later}, nil); err != nil || status != http.StatusOK {
		t.Errorf("redeeming a card issued before the restart: %d %v; want 200", status, err)
	}
	var p problem
	if status, _ := api.call("POST", "/accounts/bob/redeem", bobToken, "r1", map[string]string{"code": first}, &p); status != http.StatusConflict {
		t.Errorf("bob redeeming alice's card after the restart: %d %+v; want 409", status, p)
	}
	var paid paidOrder
	mustCall(t, api, "GET", "/accounts/guest/orders/g-1", adminToken, "", nil, &paid, http.StatusOK)
	if len(paid.GiftCards) != 1 || paid.GiftCards[0].MaskedCode != masked(spent) || paid.GiftCards[0].Captured.Amount != "12.00" {
		t.Errorf("the guest's order after the restart: %+v; want 12.00 from %s", paid, masked(spent))
	}
	if b := checkCard(t, api, "", spent); b.Available.Amount != "18.00" {
		t.Errorf("the card spent before the restart: %+v; want 18.00 left", b)
	}
}
