package main

import (
	"net/http"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/wallet"
)

// The value on a card, without redeeming it: what a card holds, checked by
// its code (anyone, a guest too); reloads (the admin, or an API client such
// as a till that sells them); and value moved between cards (the admin). A
// card's value lives in an account of its own once it is spent by code,
// reloaded or moved (see wallet.OpenCard); these routes read and change it
// there.

// cardBalanceJSON is what a card holds. A check by code shows the card by
// its masked code only; the admin and API clients, who name cards by ID,
// get the ID too.
type cardBalanceJSON struct {
	CardID     string        `json:"card_id,omitempty"`
	MaskedCode string        `json:"masked_code"`
	Balance    giftkit.Money `json:"balance"`
	Held       giftkit.Money `json:"held"`
	Available  giftkit.Money `json:"available"`
	ExpiresAt  *time.Time    `json:"expires_at,omitempty"`  // the card's own expiry
	NextExpiry *time.Time    `json:"next_expiry,omitempty"` // when the soonest of the value on it lapses
	Programme  string        `json:"programme,omitempty"`
	Disclosure string        `json:"disclosure,omitempty"`
}

// cardBalanceOf shows b, with the card's ID if withID.
func cardBalanceOf(b wallet.CardBalance, withID bool) cardBalanceJSON {
	out := cardBalanceJSON{MaskedCode: b.Masked, Balance: b.Balance, Held: b.Held, Available: b.Available,
		ExpiresAt: timeOrNil(b.ExpiresAt), NextExpiry: timeOrNil(b.NextLapse), Programme: b.Programme, Disclosure: b.Disclosure}
	if withID {
		out.CardID = b.CardID
	}
	return out
}

// timeOrNil returns &t, or nil for the zero time (never).
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// checkBalance answers POST /cards/balance: what the card whose code the
// body gives holds, for anyone who has the code: a shopper, a guest at
// checkout, a till. The code travels in the body, never in a URL (which
// proxies and browsers keep). It changes nothing, so it takes no
// Idempotency-Key; but every check that finds no usable card counts as a
// failed guess, in the same counts as redemptions and payments (per
// account, a guest's per address, and per client address), and a lockout
// is a 429. A code with a typo is caught by its check characters before
// anything is looked up, and never counts.
func (s *server) checkBalance(r *http.Request, who principal) (int, any, error) {
	var req struct {
		Code string `json:"code"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	noteCodes(r, req.Code)
	b, err := s.wallet.CheckBalance(r.Context(), guessOwner(who), req.Code)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, cardBalanceOf(b, false), nil
}

// guessOwner is whom the limiter counts who's guesses under, besides their
// address: a shopper's and the admin's under their names, an API client's
// under "client:<name>" (no shopper's name begins so), a guest's as a
// guest's ("", which the library counts per address alone).
func guessOwner(who principal) string {
	switch {
	case who.guest:
		return ""
	case who.client:
		return who.caller()
	}
	return who.name
}

// cardKey returns the idempotency key of a card operation by who. The
// library keeps one key space for every card operation; so that two API
// clients that happen to choose the same key never replay each other's
// reloads, an API client's key is prefixed with its name, which holds no
// colon ("client:pos-1:<key>"). The admin's keys go as they are.
func cardKey(who principal, key string) (string, error) {
	if !who.client {
		return key, nil
	}
	scoped := who.caller() + ":" + key
	if len(scoped) > giftkit.MaxKeyLen {
		return "", badRequest("the Idempotency-Key header of this API client must be at most %d bytes", giftkit.MaxKeyLen-len(who.caller())-1)
	}
	return scoped, nil
}

// reload answers POST /cards/{id}/reload: value bought by the card's holder
// is added to the card, with an optional reference (a till's receipt), as
// the programme's rules allow (reloadable cards, a maximum balance and
// monthly load). The admin or an API client.
func (s *server) reload(r *http.Request, who principal) (int, any, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	if key, err = cardKey(who, key); err != nil {
		return 0, nil, err
	}
	var req struct {
		Amount    amountIn `json:"amount"`
		Reference string   `json:"reference"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	b, err := s.wallet.Reload(r.Context(), r.PathValue("id"), req.Amount.Money, req.Reference, key)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, cardBalanceOf(b, true), nil
}

type transferJSON struct {
	Amount giftkit.Money   `json:"amount"` // what moved
	From   cardBalanceJSON `json:"from"`   // the card it left, after
	To     cardBalanceJSON `json:"to"`     // the card it reached, after
}

// transfer answers POST /cards/{id}/transfer: the admin moves amount of the
// card's available value to the card "to", keeping its class and expiry.
func (s *server) transfer(r *http.Request, _ principal) (int, any, error) {
	return s.moveValue(r, false)
}

// merge answers POST /cards/{id}/merge: the admin moves all the card's
// available value to the card "to".
func (s *server) merge(r *http.Request, _ principal) (int, any, error) {
	return s.moveValue(r, true)
}

// moveValue runs a transfer, or with all a merge, from the card {id}: a
// body of the receiving card "to", the amount (a transfer's alone), and an
// optional reason for the activity log.
func (s *server) moveValue(r *http.Request, all bool) (int, any, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		To     string    `json:"to"`
		Amount *amountIn `json:"amount"` // a transfer's; a merge takes none
		Reason string    `json:"reason"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	switch {
	case !validID(req.To, maxCardIDLen):
		return 0, nil, badRequest(`the member "to" is required: the ID of the card that receives the value, 1 to %d bytes`, maxCardIDLen)
	case all && req.Amount != nil:
		return 0, nil, badRequest(`a merge moves all that is available, so it takes no "amount": to move part of it, use /transfer`)
	case !all && req.Amount == nil:
		return 0, nil, badRequest(`the member "amount" is required: how much to move (to move all that is available, use /merge)`)
	}
	if req.Reason != "" {
		if r, err = withReason(r, req.Reason); err != nil {
			return 0, nil, err
		}
	}
	from := r.PathValue("id")
	var out wallet.Transferred
	if all {
		out, err = s.wallet.Merge(r.Context(), from, req.To, key)
	} else {
		out, err = s.wallet.Transfer(r.Context(), from, req.To, req.Amount.Money, key)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, transferJSON{Amount: out.Amount, From: cardBalanceOf(out.From, true), To: cardBalanceOf(out.To, true)}, nil
}

// loadAccount answers POST /accounts/{id}/loads: the admin adds value the
// shopper bought (at a till, by bank transfer) to the account {id}, as
// purchased value that never expires, with an optional reference such as a
// receipt, within the programme's maximum account balance.
func (s *server) loadAccount(r *http.Request, _ principal) (int, any, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Amount    amountIn `json:"amount"`
		Reference string   `json:"reference"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	owner := r.PathValue("id")
	if owner == guestName {
		return 0, nil, badRequest("%q is not an account: it holds guests' orders, and guests have no balance", guestName)
	}
	b, err := s.wallet.Load(r.Context(), owner, req.Amount.Money, req.Reference, key)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, adjustmentJSON{Amount: req.Amount.Money, Reference: req.Reference, Balance: balanceOf(b)}, nil
}
