package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/ledger"
	"github.com/giftkit/giftkit/wallet"
)

// maxBody is the largest request body accepted; every request here is small.
const maxBody = 16 << 10

// principal is who a request stands for: the principal of its bearer
// token, or a guest (no token) on the routes that take guests.
type principal struct {
	name   string
	admin  bool // the admin: the operator of that name
	client bool // an API client, "client:<name>" in the token table: a point of sale, a storefront
	guest  bool // no token: a shopper without an account, who pays and checks cards by their codes
}

// guestName is the name of a guest: the account ID of guests' orders
// (/accounts/guest/orders/{order}), the actor of their changes
// (giftkit.Shopper("guest")), and the caller of their log lines. No token
// may have it.
const guestName = "guest"

// clientPrefix, in the token table, names an API client: "token=client:pos-1".
const clientPrefix = "client:"

// shopper reports whether p is a shopper with an account: a token's, and
// neither the admin's nor an API client's.
func (p principal) shopper() bool { return !p.admin && !p.client && !p.guest }

// caller is how the request log names p.
func (p principal) caller() string {
	if p.client {
		return clientPrefix + p.name
	}
	return p.name
}

// server holds the services and the token table. Its handlers are safe for
// concurrent use, as the services are.
type server struct {
	cards    *giftcard.Service
	wallet   *wallet.Service
	checkout *checkout.Service
	ledger   *ledger.Service
	tokens   map[string]principal
	log      *slog.Logger
	metrics  *metrics         // the services' giftkit.Observer, and the requests' counts; nil for none
	now      func() time.Time // the reports' default instant; time.Now
}

// parseTokens reads "token=name,token=name"; the name "admin" is the admin,
// a name "client:<name>" an API client, any other a shopper. A name is what
// the activity log records as the actor of the changes its token makes, so
// it must be a valid actor ID (see giftkit.Actor.Valid). The name "guest"
// is the guests'.
func parseTokens(spec string) (map[string]principal, error) {
	tokens := map[string]principal{}
	for _, pair := range strings.Split(spec, ",") {
		token, name, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || len(token) < 16 || name == "" {
			return nil, fmt.Errorf("token entry %q: want token=name with a token of 16 or more characters", pair)
		}
		p := principal{name: name, admin: name == "admin"}
		if client, ok := strings.CutPrefix(name, clientPrefix); ok {
			p = principal{name: client, client: true}
		}
		switch {
		case p.name == guestName:
			return nil, fmt.Errorf("token entry %q: the name %q is the guests' (callers without a token)", pair, guestName)
		case p.client && strings.Contains(p.name, ":"):
			return nil, fmt.Errorf("token entry %q: an API client's name holds no colon", pair)
		case !giftkit.Shopper(p.name).Valid():
			return nil, fmt.Errorf("token entry %q: a name must be 1 to %d bytes of text without control characters", pair, giftkit.MaxActorIDLen)
		}
		tokens[token] = p
	}
	return tokens, nil
}

// A route is one pattern of the API and its handler.
type route struct {
	pattern string // "METHOD /path", as http.ServeMux and openapi.json write it
	handler http.HandlerFunc
}

// routeTable lists the API's routes, each with who may call it and the
// query parameters it takes (any other is refused: see checkQuery).
// openapi.json documents exactly these; a test holds the two together.
func (s *server) routeTable() []route {
	return []route{
		{"GET /openapi.json", s.serveOpenAPI},
		{"GET /metrics", s.admin(s.serveMetrics)},
		{"POST /cards", s.admin(s.issueCards)},
		{"POST /cards/balance", s.anyone(s.checkBalance)},
		{"POST /cards/{id}/reload", s.seller(s.reload)},
		{"POST /accounts/{id}/redeem", s.owner(s.redeem)},
		{"GET /accounts/{id}/balance", s.reader(s.balance, "currency")},
		{"GET /accounts/{id}/history", s.reader(s.history, "currency", "after", "limit")},
		{"POST /accounts/{id}/orders/{order}/pay", s.payer(s.pay)},
		{"GET /accounts/{id}/orders/{order}", s.reader(s.order)},
		{"POST /accounts/{id}/orders/{order}/capture", s.admin(s.capture)},
		{"POST /accounts/{id}/orders/{order}/refund", s.admin(s.refund)},
		// The operator's ledger (operator.go, reports.go): the admin only.
		{"POST /accounts/{id}/adjustments", s.admin(s.adjustAccount)},
		{"POST /cards/{id}/adjustments", s.admin(s.adjustCard)},
		{"POST /cards/{id}/clawback", s.admin(s.clawback)},
		{"POST /cards/{id}/transfer", s.admin(s.transfer)},
		{"POST /cards/{id}/merge", s.admin(s.merge)},
		{"POST /accounts/{id}/loads", s.admin(s.loadAccount)},
		{"GET /activity", s.admin(s.activityLog, "card", "account", "currency", "actor_kind", "actor_id", "from", "to", "order", "after", "limit")},
		{"GET /activity/verify", s.admin(s.verifyActivity, "card", "account", "currency")},
		{"GET /reports/liability", s.admin(s.liabilityReport, "at", "format")},
		{"GET /reports/cohorts", s.admin(s.cohortsReport, "at", "format")},
		{"GET /reports/dormancy", s.admin(s.dormancyReport, "since", "at", "format")},
	}
}

// routes returns the service's handler: the routes, a problem document for
// any other path or method, and a log line for every request.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		mux.HandleFunc(rt.pattern, rt.handler)
	}
	mux.HandleFunc("/", s.unrouted(mux))
	return s.logRequests(mux)
}

// unrouted answers a request that no route takes: 405 with the Allow header
// if the path has routes for other methods, else 404.
func (s *server) unrouted(mux *http.ServeMux) http.HandlerFunc {
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range methods {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			s.problem(w, r, http.StatusNotFound, "not-found", "there is nothing at this path: see /openapi.json for the routes", nil)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.problem(w, r, http.StatusMethodNotAllowed, "method-not-allowed",
			fmt.Sprintf("this path takes %s, not %s", strings.Join(allow, ", "), r.Method), nil)
	}
}

// handler is a route that returns a status and a JSON body, or an error that
// becomes a problem response. A body that is a download is streamed as a
// file instead (see serveDownload), and one that is plainText is written as
// it is.
type handler func(r *http.Request, who principal) (int, any, error)

// actorOf is who the library records as making the changes of a request by
// who (giftkit.WithActor): the admin as an operator, an API client as a
// client, a shopper, who only ever acts on their own account, as that
// shopper, and a guest as the shopper "guest". The activity log attributes
// every change to one of them.
func actorOf(who principal) giftkit.Actor {
	switch {
	case who.admin:
		return giftkit.Operator(who.name)
	case who.client:
		return giftkit.Client(who.name)
	}
	return giftkit.Shopper(who.name)
}

// clientAddr is the network address of the request's client, without its
// port: what the redemption limiter counts guesses under besides the
// account (wallet.WithClient), so that one address is slowed down across
// every account it tries, guests included. Behind a reverse proxy, take it
// from the header the proxy sets instead (and only from that proxy).
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

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
// check of the query against the route's parameters. A request without an
// Authorization header is a guest's, which only a rule that allows guests
// lets through; anyone else without a valid token gets a 401. Every request
// that passes carries its actor (giftkit.WithActor) and its client's
// address (wallet.WithClient) into the library.
func (s *server) guard(allow func(r *http.Request, who principal) bool, h handler, params []string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		who, ok := s.authenticate(r)
		if !ok {
			guest := principal{name: guestName, guest: true}
			if r.Header.Get("Authorization") != "" || !allow(r, guest) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="giftkit"`)
				s.problem(w, r, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required: send the header Authorization: Bearer <token>", nil)
				return
			}
			who = guest
		}
		noteCaller(r, who.caller())
		if !allow(r, who) {
			s.problem(w, r, http.StatusForbidden, "forbidden", "this token may not act here: a shopper acts only on their own account, an API client only reloads cards, and only the admin issues cards, captures, refunds, adjusts, loads, moves value between cards, claws back and reads the ledger", nil)
			return
		}
		r = r.WithContext(wallet.WithClient(giftkit.WithActor(r.Context(), actorOf(who)), clientAddr(r)))
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
		switch b := body.(type) {
		case download:
			s.serveDownload(w, r, b)
		case plainText:
			w.Header().Set("Content-Type", b.contentType)
			w.WriteHeader(status)
			_, _ = w.Write(b.body)
		default:
			writeJSON(w, status, body)
		}
	}
}

// admin: only the admin token.
func (s *server) admin(h handler, params ...string) http.HandlerFunc {
	return s.guard(func(_ *http.Request, who principal) bool { return who.admin }, h, params)
}

// owner: only the shopper whose account {id} is.
func (s *server) owner(h handler, params ...string) http.HandlerFunc {
	return s.guard(func(r *http.Request, who principal) bool { return who.shopper() && who.name == r.PathValue("id") }, h, params)
}

// payer: the shopper whose account {id} is, or a guest (no token) when {id}
// is "guest", the account of guests' orders.
func (s *server) payer(h handler, params ...string) http.HandlerFunc {
	return s.guard(func(r *http.Request, who principal) bool {
		return (who.shopper() || who.guest) && who.name == r.PathValue("id")
	}, h, params)
}

// reader: the account's shopper, or the admin (customer support).
func (s *server) reader(h handler, params ...string) http.HandlerFunc {
	return s.guard(func(r *http.Request, who principal) bool {
		return who.admin || (who.shopper() && who.name == r.PathValue("id"))
	}, h, params)
}

// seller: the admin, or an API client (a point of sale that sells reloads).
func (s *server) seller(h handler, params ...string) http.HandlerFunc {
	return s.guard(func(_ *http.Request, who principal) bool { return who.admin || who.client }, h, params)
}

// anyone: any caller with a valid token, or a guest without one.
func (s *server) anyone(h handler, params ...string) http.HandlerFunc {
	return s.guard(func(*http.Request, principal) bool { return true }, h, params)
}

// errBadRequest marks a malformed request: bad JSON, a missing header, a
// bad query or path parameter.
var errBadRequest = errors.New("bad request")

// A requestError is a malformed request, with a detail for the person who
// sent it.
type requestError struct{ detail string }

// Error returns the detail.
func (e *requestError) Error() string { return e.detail }

// Unwrap returns errBadRequest.
func (e *requestError) Unwrap() error { return errBadRequest }

// badRequest returns a *requestError with the detail, formatted as by
// fmt.Sprintf.
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
		return bodyError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("the request body must hold one JSON object and nothing after it")
	}
	return nil
}

// bodyError explains why a request body did not decode, for the person who
// wrote it, keeping the library's own errors (an amount that does not parse)
// for fail to explain.
func bodyError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		amount *giftkit.AmountError
		when   *time.ParseError
	)
	switch {
	case errors.As(err, &amount), errors.Is(err, errBadRequest):
		return err
	case errors.As(err, &when):
		return badRequest("a time must be written as in RFC 3339, such as 2030-12-31T23:59:59Z")
	case errors.Is(err, io.EOF):
		return badRequest("the request body is empty: it must be a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the request body ends in the middle of its JSON")
	case errors.As(err, &syntax):
		return badRequest("the request body is not JSON: the error is at byte %d", syntax.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return badRequest("the member %q of the request body must be a JSON %s", typ.Field, jsonType(typ.Type.Kind().String()))
	case errors.As(err, &typ):
		return badRequest("the request body must be a JSON object")
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badRequest("the request body has a member this request does not take: %s", field)
	}
	return badRequest("the request body is not what this request takes")
}

// jsonType names the JSON type of a Go kind, for people.
func jsonType(kind string) string {
	switch {
	case kind == "string":
		return "string"
	case kind == "bool":
		return "boolean (true or false)"
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "slice", kind == "array":
		return "array"
	}
	return "object"
}

// idempotencyKey reads the Idempotency-Key header, which every POST needs.
func idempotencyKey(r *http.Request) (string, error) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return "", badRequest("the Idempotency-Key header is required: send a new key for each new request, and the same key when you retry one")
	}
	return key, nil
}

// checkQuery refuses a query that does not parse, that names a parameter
// not in params, or that gives one twice: a misspelt or repeated parameter
// must not silently fall back on a default or on its first value.
func checkQuery(r *http.Request, params []string) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("the query does not parse: check its %%-escapes")
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		switch {
		case !slices.Contains(params, name) && len(params) == 0:
			return badRequest("unknown query parameter %q: this route takes none", name)
		case !slices.Contains(params, name):
			return badRequest("unknown query parameter %q: this route takes %s", name, strings.Join(params, ", "))
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
		return c, badRequest("query parameter currency must be an ISO 4217 code such as EUR")
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

// writeJSON writes body as JSON with the status.
func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
