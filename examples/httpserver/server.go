package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// maxBody is the largest request body accepted; every request here is small.
const maxBody = 16 << 10

// principal is who a bearer token stands for.
type principal struct {
	name  string
	admin bool
}

// server holds the services and the token table. Its handlers are safe for
// concurrent use, as the services are.
type server struct {
	cards    *giftcard.Service
	wallet   *wallet.Service
	checkout *checkout.Service
	tokens   map[string]principal
	log      *slog.Logger
}

// parseTokens reads "token=name,token=name"; the name "admin" is the admin.
func parseTokens(spec string) (map[string]principal, error) {
	tokens := map[string]principal{}
	for _, pair := range strings.Split(spec, ",") {
		token, name, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || len(token) < 16 || name == "" {
			return nil, fmt.Errorf("token entry %q: want token=name with a token of 16 or more characters", pair)
		}
		tokens[token] = principal{name: name, admin: name == "admin"}
	}
	return tokens, nil
}

// routes maps each route to its handler, who may call it, and the query
// parameters it takes (any other is refused: see checkQuery).
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cards", s.admin(s.issueCards))
	mux.HandleFunc("POST /accounts/{id}/redeem", s.owner(s.redeem))
	mux.HandleFunc("GET /accounts/{id}/balance", s.reader(s.balance, "currency"))
	mux.HandleFunc("GET /accounts/{id}/history", s.reader(s.history, "currency", "after", "limit"))
	mux.HandleFunc("POST /accounts/{id}/orders/{order}/pay", s.owner(s.pay))
	mux.HandleFunc("GET /accounts/{id}/orders/{order}", s.reader(s.order))
	mux.HandleFunc("POST /accounts/{id}/orders/{order}/capture", s.admin(s.capture))
	mux.HandleFunc("POST /accounts/{id}/orders/{order}/refund", s.admin(s.refund))
	return mux
}

// handler is a route that returns a status and a JSON body, or an error that
// becomes a problem response.
type handler func(r *http.Request, who principal) (int, any, error)

// authenticate finds the principal of the request's bearer token, comparing
// in constant time against every token so that timing tells nothing.
func (s *server) authenticate(r *http.Request) (principal, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return principal{}, false
	}
	var found principal
	ok = false
	for t, p := range s.tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			found, ok = p, true
		}
	}
	return found, ok
}

// guard wraps a handler with authentication, an authorisation rule, and the
// check of the query against the route's parameters.
func (s *server) guard(allow func(r *http.Request, who principal) bool, h handler, params []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, ok := s.authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="giftkit"`)
			s.problem(w, r, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required", nil)
			return
		}
		if !allow(r, who) {
			s.problem(w, r, http.StatusForbidden, "forbidden", "this token may not act here", nil)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := checkQuery(r, params); err != nil {
			s.fail(w, r, err)
			return
		}
		status, body, err := h(r, who)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, status, body)
	}
}

// admin: only the admin token.
func (s *server) admin(h handler, params ...string) http.HandlerFunc {
	return s.guard(func(_ *http.Request, who principal) bool { return who.admin }, h, params)
}

// owner: only the shopper whose account {id} is.
func (s *server) owner(h handler, params ...string) http.HandlerFunc {
	return s.guard(func(r *http.Request, who principal) bool { return !who.admin && who.name == r.PathValue("id") }, h, params)
}

// reader: the account's shopper, or the admin (customer support).
func (s *server) reader(h handler, params ...string) http.HandlerFunc {
	return s.guard(func(r *http.Request, who principal) bool { return who.admin || who.name == r.PathValue("id") }, h, params)
}

// errBadRequest marks a malformed request: bad JSON, a missing header, a
// bad query or path parameter.
var errBadRequest = errors.New("bad request")

type requestError struct{ detail string }

func (e *requestError) Error() string { return e.detail }
func (e *requestError) Unwrap() error { return errBadRequest }

func badRequest(format string, args ...any) error {
	return &requestError{detail: fmt.Sprintf(format, args...)}
}

// decode reads a JSON body strictly: unknown fields and trailing data are
// errors, and the body is limited to maxBody bytes.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("request body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("request body: more than one JSON value")
	}
	return nil
}

func idempotencyKey(r *http.Request) (string, error) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return "", badRequest("the Idempotency-Key header is required")
	}
	return key, nil
}

// checkQuery refuses a query that does not parse, that names a parameter
// not in params, or that gives one twice: a misspelt or repeated parameter
// must not silently fall back on a default or on its first value.
func checkQuery(r *http.Request, params []string) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("query: %v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		switch {
		case !slices.Contains(params, name):
			return badRequest("unknown query parameter %q", name)
		case len(q[name]) > 1:
			return badRequest("query parameter %s is given more than once", name)
		}
	}
	return nil
}

// currencyParam reads the query parameter currency; EUR when absent. Present,
// even empty, it must be a currency code.
func currencyParam(r *http.Request) (giftkit.Currency, error) {
	q := r.URL.Query()
	if !q.Has("currency") {
		return giftkit.ParseCurrency("EUR")
	}
	c, err := giftkit.ParseCurrency(q.Get("currency"))
	if err != nil {
		return c, badRequest("query parameter currency: %v", err)
	}
	return c, nil
}

// intParam reads the query parameter name, an integer from lo to hi; def
// when absent. Present, even empty, it must be such an integer.
func intParam(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return def, nil
	}
	n, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("query parameter %s must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

// orderParam reads the order a route names: the owner of the account {id}
// (the guard has checked who may act on it) and the order ID {order}.
func orderParam(r *http.Request) (owner, order string, err error) {
	owner, order = r.PathValue("id"), r.PathValue("order")
	return owner, order, checkOrderID(order)
}

// Requests and responses. The library's types carry fields a client has no
// use for (keys, fingerprints), so the API has its own.

type issueRequest struct {
	Value     giftkit.Money `json:"value"`
	Count     int           `json:"count"`
	BatchID   string        `json:"batch_id"`
	ExpiresAt time.Time     `json:"expires_at"`
	Pending   bool          `json:"pending"`
}

type cardJSON struct {
	ID        string        `json:"id"`
	Code      string        `json:"code,omitempty"` // only in the issuance response, once
	Value     giftkit.Money `json:"value"`
	State     string        `json:"state"`
	ExpiresAt *time.Time    `json:"expires_at,omitempty"`
}

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
		Value: req.Value, Count: req.Count, BatchID: req.BatchID, ExpiresAt: req.ExpiresAt, Pending: req.Pending,
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

func balanceOf(b wallet.Balance) balanceJSON {
	return balanceJSON{Balance: b.Balance, Held: b.Held, Available: b.Available}
}

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
	got, err := s.wallet.Redeem(r.Context(), who.name, req.Code, key)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"card_id": got.CardID, "amount": got.Amount, "balance": balanceOf(got.Balance)}, nil
}

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
	ID      string        `json:"id"` // the order ID, as the shopper chose it
	State   string        `json:"state"`
	Total   giftkit.Money `json:"total"`
	Balance tenderJSON    `json:"balance"`
	Card    tenderJSON    `json:"card"`
	Refunds []refundJSON  `json:"refunds,omitempty"`
}

type tenderJSON struct {
	Planned  giftkit.Money `json:"planned"`
	Captured giftkit.Money `json:"captured"`
	Refunded giftkit.Money `json:"refunded"`
}

type refundJSON struct {
	Amount  giftkit.Money `json:"amount"`
	Balance giftkit.Money `json:"balance"`
	Card    giftkit.Money `json:"card"`
	Done    bool          `json:"done"`
}

// paymentOf shows the payment of order: by its order ID, never by the
// payment ID, which is the server's business.
func paymentOf(p checkout.Payment, order string) paymentJSON {
	out := paymentJSON{ID: order, State: p.State.String(), Total: p.Total,
		Balance: tenderJSON{p.Balance.Planned, p.Balance.Captured, p.Balance.Refunded},
		Card:    tenderJSON{p.Card.Planned, p.Card.Captured, p.Card.Refunded}}
	for _, r := range p.Refunds {
		out.Refunds = append(out.Refunds, refundJSON{r.Amount, r.Balance, r.Card, r.Done})
	}
	return out
}

// pay pays the shopper's order {order}. The key goes to checkout as it is:
// it is only ever compared with the keys of the same payment, which is the
// shopper's own.
func (s *server) pay(r *http.Request, _ principal) (int, any, error) {
	owner, order, err := orderParam(r)
	if err != nil {
		return 0, nil, err
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Total       giftkit.Money `json:"total"`
		Instrument  string        `json:"instrument"`
		Capture     string        `json:"capture"` // "now" (default) or "later"
		SkipBalance bool          `json:"skip_balance"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	mode := checkout.CaptureNow
	switch req.Capture {
	case "", "now":
	case "later":
		mode = checkout.CaptureLater
	default:
		return 0, nil, badRequest(`capture must be "now" or "later"`)
	}
	p, err := s.checkout.Pay(r.Context(), checkout.PayRequest{
		PaymentID: paymentID(owner, order), Owner: owner, Total: req.Total,
		Instrument: req.Instrument, Mode: mode, SkipBalance: req.SkipBalance,
	}, key)
	if err != nil {
		return 0, nil, forOrder(err, order)
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

func (s *server) capture(r *http.Request, _ principal) (int, any, error) {
	return s.amountCommand(r, s.checkout.Capture)
}

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
		Amount giftkit.Money `json:"amount"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	p, err := run(r.Context(), paymentID(owner, order), req.Amount, key)
	if err != nil {
		return 0, nil, forOrder(err, order)
	}
	return http.StatusOK, paymentOf(p, order), nil
}

// writeJSON writes body as JSON with the status.
func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// problem writes an RFC 9457 problem document.
func (s *server) problem(w http.ResponseWriter, r *http.Request, status int, kind, detail string, extra map[string]any) {
	body := map[string]any{
		"type":     "https://giftkit.example/problems/" + kind,
		"title":    http.StatusText(status),
		"status":   status,
		"detail":   detail,
		"instance": r.URL.Path,
	}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// A failure is how fail answers the errors that match err: a status, a
// problem type (the last element of its URI) and, for a few, extra members
// and headers.
type failure struct {
	err    error
	status int
	slug   string
	extra  func(err error, h http.Header) map[string]any // nil for none
}

// failures maps the library's errors to answers, looked up in order with
// errors.Is. First come the sentinels whose answer differs from their
// kind's, then one row per kind, in giftkit.KindOf's order, so that an error
// of two kinds gets the answer of the kind KindOf reports. An error that
// matches no row wraps no kind: it is the store's or the context's, a 500.
var failures = []failure{
	{errBadRequest, http.StatusBadRequest, "bad-request", nil},
	{giftkit.ErrKeyRequired, http.StatusBadRequest, "bad-request", nil},
	{giftcard.ErrAlreadyRedeemed, http.StatusConflict, "already-redeemed", sameAccount},
	{giftcard.ErrNotRedeemable, http.StatusUnprocessableEntity, "not-redeemable", nil},
	{wallet.ErrTooManyAttempts, http.StatusTooManyRequests, "too-many-attempts", limiterWait},
	{checkout.ErrProcessorUnavailable, http.StatusServiceUnavailable, "processor-unavailable", retrySoon},
	{giftkit.ErrIdempotencyConflict, http.StatusUnprocessableEntity, "idempotency-key-reused", nil},
	{checkout.ErrExceedsAuthorized, http.StatusUnprocessableEntity, "amount-too-large", nil},
	{checkout.ErrExceedsCaptured, http.StatusUnprocessableEntity, "amount-too-large", nil},
	{wallet.ErrExceedsHold, http.StatusUnprocessableEntity, "amount-too-large", nil},

	{giftkit.ErrInvalid, http.StatusBadRequest, "invalid-request", nil},
	{giftkit.ErrNotFound, http.StatusNotFound, "not-found", nil},
	{giftkit.ErrConflict, http.StatusConflict, "invalid-state", nil},
	{giftkit.ErrCurrencyMismatch, http.StatusBadRequest, "invalid-request", nil},
	{giftkit.ErrInsufficientFunds, http.StatusPaymentRequired, "payment-declined", nil},
	{giftkit.ErrExpired, http.StatusGone, "expired", nil},
	{giftkit.ErrDeclined, http.StatusPaymentRequired, "payment-declined", nil},
	{giftkit.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", retrySoon},
	{giftkit.ErrRateLimited, http.StatusTooManyRequests, "rate-limited", limiterWait},
}

// fail answers err with an RFC 9457 problem document: by the first row of
// failures that err matches, or for the two errors that are types rather
// than sentinels (a body too large, a code that does not read). Any other
// error is a 500 whose detail is generic: its cause goes to the log, not the
// client.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		tooBig *http.MaxBytesError
		pe     *codefmt.ParseError
	)
	switch {
	case errors.As(err, &tooBig):
		s.problem(w, r, http.StatusRequestEntityTooLarge, "too-large", err.Error(), nil)
		return
	case errors.As(err, &pe):
		s.problem(w, r, http.StatusUnprocessableEntity, "invalid-code", err.Error(), codeHints(pe))
		return
	}
	for _, f := range failures {
		if errors.Is(err, f.err) {
			var extra map[string]any
			if f.extra != nil {
				extra = f.extra(err, w.Header())
			}
			s.problem(w, r, f.status, f.slug, err.Error(), extra)
			return
		}
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	s.problem(w, r, http.StatusInternalServerError, "internal", "internal error", nil)
}

// codeHints locates the fault in a code that does not read, with the codes
// the shopper probably meant: they typed this code, so showing them the
// correction reveals nothing they did not have.
func codeHints(pe *codefmt.ParseError) map[string]any {
	extra := map[string]any{"index": pe.Index, "offset": pe.Offset}
	if len(pe.Suggestions) > 0 {
		s := make([]string, len(pe.Suggestions))
		for i, c := range pe.Suggestions {
			s[i] = c.String()
		}
		extra["suggestions"] = s
	}
	return extra
}

// sameAccount tells whether the account asking is the one that redeemed the
// card: a repeat of one's own redemption, not someone else's.
func sameAccount(err error, _ http.Header) map[string]any {
	var ce *giftcard.Error
	if !errors.As(err, &ce) {
		return nil
	}
	return map[string]any{"same_account": ce.SameAccount}
}

// limiterWait sets Retry-After to the lockout the wallet's limiter reports.
func limiterWait(err error, h http.Header) map[string]any {
	var we *wallet.Error
	if errors.As(err, &we) && we.RetryAfter > 0 {
		setRetryAfter(h, we.RetryAfter)
	}
	return nil
}

// retrySoon sets Retry-After to 5 seconds: a party that did not answer
// often does on the next try, and the same key makes the retry safe.
func retrySoon(_ error, h http.Header) map[string]any {
	setRetryAfter(h, 5*time.Second)
	return nil
}

// setRetryAfter sets Retry-After to d in whole seconds, rounded up.
func setRetryAfter(h http.Header, d time.Duration) {
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
}
