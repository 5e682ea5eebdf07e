package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// Requests and responses. The library's types carry fields a client has no
// use for (keys, fingerprints), so the API has its own; openapi.json
// describes each.

// amountIn is an amount in a request body, read as strictly as the body
// around it: an object of exactly "amount" (a decimal string) and
// "currency" (an ISO 4217 code). giftkit.Money's own decoding ignores
// members it does not know.
type amountIn struct{ giftkit.Money }

// UnmarshalJSON reads {"amount": "12.50", "currency": "EUR"} and nothing
// else; the amount is then checked as giftkit.Money checks it.
func (a *amountIn) UnmarshalJSON(data []byte) error {
	var v struct{ Amount, Currency *string }
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil || v.Amount == nil || v.Currency == nil {
		return badRequest(`an amount must be an object of two strings, such as {"amount": "12.50", "currency": "EUR"}`)
	}
	return a.Money.UnmarshalJSON(data)
}

type issueRequest struct {
	Value     amountIn  `json:"value"`
	Count     int       `json:"count"`
	BatchID   string    `json:"batch_id"`
	ExpiresAt time.Time `json:"expires_at"`
	Pending   bool      `json:"pending"`
}

type cardJSON struct {
	ID        string        `json:"id"`
	Code      string        `json:"code,omitempty"` // only in the issuance response, once
	Value     giftkit.Money `json:"value"`
	State     string        `json:"state"`
	ExpiresAt *time.Time    `json:"expires_at,omitempty"`
}

// issueCards issues cards for the admin: 201 with their codes, or 200
// without them for a replay of the same key.
func (s *server) issueCards(r *http.Request, _ principal) (int, any, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	var req issueRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	out, err := s.cards.Issue(r.Context(), giftcard.IssueRequest{
		Value: req.Value.Money, Count: req.Count, BatchID: req.BatchID, ExpiresAt: req.ExpiresAt, Pending: req.Pending,
	}, key)
	if err != nil {
		return 0, nil, err
	}
	cards := make([]cardJSON, len(out.Cards))
	for i, ic := range out.Cards {
		cards[i] = cardJSON{ID: ic.Card.ID, Code: ic.Code.String(), Value: ic.Card.Value, State: ic.Card.State.String()}
		if !ic.Card.ExpiresAt.IsZero() {
			cards[i].ExpiresAt = &ic.Card.ExpiresAt
		}
	}
	status := http.StatusCreated
	if out.Replayed {
		status = http.StatusOK // the codes are not stored, so a replay cannot show them
	}
	return status, map[string]any{"batch_id": out.BatchID, "cards": cards}, nil
}

type balanceJSON struct {
	Balance   giftkit.Money `json:"balance"`
	Held      giftkit.Money `json:"held"`
	Available giftkit.Money `json:"available"`
}

// balanceOf shows a wallet balance.
func balanceOf(b wallet.Balance) balanceJSON {
	return balanceJSON{Balance: b.Balance, Held: b.Held, Available: b.Available}
}

// redeem redeems the code in the body into the shopper's own account.
func (s *server) redeem(r *http.Request, who principal) (int, any, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	noteCodes(r, req.Code)
	got, err := s.wallet.Redeem(r.Context(), who.name, req.Code, key)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"card_id": got.CardID, "amount": got.Amount, "balance": balanceOf(got.Balance)}, nil
}

// balance shows the balance of the account {id} in ?currency.
func (s *server) balance(r *http.Request, _ principal) (int, any, error) {
	c, err := currencyParam(r)
	if err != nil {
		return 0, nil, err
	}
	b, err := s.wallet.Balance(r.Context(), r.PathValue("id"), c)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, balanceOf(b), nil
}

type entryJSON struct {
	Seq          int64         `json:"seq"`
	Kind         string        `json:"kind"`
	Amount       giftkit.Money `json:"amount"`
	Held         giftkit.Money `json:"held"`
	BalanceAfter giftkit.Money `json:"balance_after"`
	Reference    string        `json:"reference"`
	At           time.Time     `json:"at"`
}

// history returns a page of the account's journal: ?after (a sequence
// number, 0 or more; 0 when absent) and ?limit (1 to wallet.MaxPageSize;
// wallet.DefaultPageSize when absent). An entry about one of the owner's
// payments shows its order ID as its reference.
func (s *server) history(r *http.Request, _ principal) (int, any, error) {
	c, err := currencyParam(r)
	if err != nil {
		return 0, nil, err
	}
	after, err := intParam(r, "after", 0, 0, math.MaxInt64)
	if err != nil {
		return 0, nil, err
	}
	limit, err := intParam(r, "limit", wallet.DefaultPageSize, 1, wallet.MaxPageSize)
	if err != nil {
		return 0, nil, err
	}
	owner := r.PathValue("id")
	page, err := s.wallet.History(r.Context(), owner, c, after, int(limit))
	if err != nil {
		return 0, nil, err
	}
	entries := make([]entryJSON, len(page.Entries))
	for i, e := range page.Entries {
		ref := e.Reference
		if order, ok := orderOf(owner, ref); ok {
			ref = order
		}
		entries[i] = entryJSON{Seq: e.Seq, Kind: e.Kind.String(), Amount: e.Amount, Held: e.Held,
			BalanceAfter: e.BalanceAfter, Reference: ref, At: e.At}
	}
	body := map[string]any{"entries": entries}
	if page.Next != 0 {
		body["next"] = page.Next
	}
	return http.StatusOK, body, nil
}

type paymentJSON struct {
	ID        string         `json:"id"` // the order ID, as the shopper chose it
	State     string         `json:"state"`
	Total     giftkit.Money  `json:"total"`
	GiftCards []giftCardJSON `json:"gift_cards,omitempty"` // in the order they are spent
	Balance   tenderJSON     `json:"balance"`
	Card      tenderJSON     `json:"card"`
	Refunds   []refundJSON   `json:"refunds,omitempty"`
}

type tenderJSON struct {
	Planned  giftkit.Money `json:"planned"`
	Captured giftkit.Money `json:"captured"`
	Refunded giftkit.Money `json:"refunded"`
}

// giftCardJSON is a gift card's part of an order: the card by its masked
// code, never its ID or whole code.
type giftCardJSON struct {
	MaskedCode string `json:"masked_code"`
	tenderJSON
}

type refundJSON struct {
	Amount    giftkit.Money   `json:"amount"`
	GiftCards []giftkit.Money `json:"gift_cards,omitempty"` // in the order of the order's gift_cards
	Balance   giftkit.Money   `json:"balance"`
	Card      giftkit.Money   `json:"card"`
	Done      bool            `json:"done"`
}

// paymentOf shows the payment of order: by its order ID, never by the
// payment ID, which is the server's business, and its gift cards by their
// masked codes, in the order they were spent.
func paymentOf(p checkout.Payment, order string) paymentJSON {
	out := paymentJSON{ID: order, State: p.State.String(), Total: p.Total,
		Balance: tenderJSON{p.Balance.Planned, p.Balance.Captured, p.Balance.Refunded},
		Card:    tenderJSON{p.Card.Planned, p.Card.Captured, p.Card.Refunded}}
	for _, c := range p.Cards {
		out.GiftCards = append(out.GiftCards, giftCardJSON{c.Masked, tenderJSON{c.Planned, c.Captured, c.Refunded}})
	}
	for _, r := range p.Refunds {
		out.Refunds = append(out.Refunds, refundJSON{r.Amount, r.Cards, r.Balance, r.Card, r.Done})
	}
	return out
}

// pay pays the order {order} of the shopper, or of a guest (the account
// "guest", without a token, who must give gift-card codes): the gift cards
// given by code first, soonest-expiring first, then the balance, then the
// bank card. The key goes to checkout as it is: it is only ever compared
// with the keys of the same payment, which is the shopper's own (or the
// guests').
func (s *server) pay(r *http.Request, who principal) (int, any, error) {
	owner, order, err := orderParam(r)
	if err != nil {
		return 0, nil, err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Total       amountIn `json:"total"`
		Codes       []string `json:"codes"` // gift cards, as typed
		Instrument  string   `json:"instrument"`
		Capture     string   `json:"capture"` // "now" (default) or "later"
		SkipBalance bool     `json:"skip_balance"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	noteCodes(r, req.Codes...)
	payer := owner // whose balance pays after the gift cards
	if who.guest {
		if len(req.Codes) == 0 {
			return 0, nil, badRequest(`a guest pays with gift cards: give their codes as "codes" (and a bank card as "instrument" for the rest); to pay from a balance, sign in`)
		}
		payer = "" // a guest has no balance
	}
	mode := checkout.CaptureNow
	switch req.Capture {
	case "", "now":
	case "later":
		mode = checkout.CaptureLater
	default:
		return 0, nil, badRequest(`the member "capture" must be "now" or "later"`)
	}
	p, err := s.checkout.Pay(r.Context(), checkout.PayRequest{
		PaymentID: paymentID(owner, order), Owner: payer, Total: req.Total.Money, Codes: req.Codes,
		Instrument: req.Instrument, Mode: mode, SkipBalance: req.SkipBalance,
	}, key)
	if err != nil {
		return 0, nil, withCodes(forOrder(err, order), req.Codes, who.guest)
	}
	return http.StatusOK, paymentOf(p, order), nil
}

// order shows the order {order} of the account {id}.
func (s *server) order(r *http.Request, _ principal) (int, any, error) {
	owner, order, err := orderParam(r)
	if err != nil {
		return 0, nil, err
	}
	p, err := s.checkout.Payment(r.Context(), paymentID(owner, order))
	if err != nil {
		return 0, nil, forOrder(err, order)
	}
	return http.StatusOK, paymentOf(p, order), nil
}

// capture captures an order paid with "capture": "later".
func (s *server) capture(r *http.Request, _ principal) (int, any, error) {
	return s.amountCommand(r, s.checkout.Capture)
}

// refund refunds part or all of a captured order.
func (s *server) refund(r *http.Request, _ principal) (int, any, error) {
	return s.amountCommand(r, s.checkout.Refund)
}

// amountCommand runs a capture or refund of the order {order} of the
// account {id}: a JSON body {"amount": ...} and the Idempotency-Key header.
func (s *server) amountCommand(r *http.Request, run func(context.Context, string, giftkit.Money, string) (checkout.Payment, error)) (int, any, error) {
	owner, order, err := orderParam(r)
	if err != nil {
		return 0, nil, err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Amount amountIn `json:"amount"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	p, err := run(r.Context(), paymentID(owner, order), req.Amount.Money, key)
	if err != nil {
		return 0, nil, forOrder(err, order)
	}
	return http.StatusOK, paymentOf(p, order), nil
}
