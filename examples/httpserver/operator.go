package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/ledger"
	"github.com/giftkit/giftkit/wallet"
)

// The operator's side of the service, for the admin: corrections
// (adjustments of an account's balance or a card's value), clawbacks of
// cards whose purchase was charged back, and the activity log that records
// every change with who made it and why. The guard has put the admin into
// the request's context as giftkit.Operator("admin") (see actorOf); the
// handlers here add the reason the request gives, which the library
// requires of these changes and keeps in the log.

// maxCardIDLen is the longest card ID a request may name.
const maxCardIDLen = 128

// validID reports whether s is 1 to max bytes of UTF-8 without control
// characters: what the library accepts as a card ID or an owner.
func validID(s string, max int) bool {
	return s != "" && len(s) <= max && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// withReason returns the request's context with reason, which must be 1 to
// giftkit.MaxReasonLen bytes of text on one line.
func withReason(r *http.Request, reason string) (*http.Request, error) {
	if reason == "" || !giftkit.ValidReason(reason) {
		return nil, badRequest(`the member "reason" is required: say why, in 1 to %d bytes of text on one line`, giftkit.MaxReasonLen)
	}
	return r.WithContext(giftkit.WithReason(r.Context(), reason)), nil
}

// nonZero refuses a zero adjustment, which changes nothing.
func nonZero(amount giftkit.Money) error {
	if amount.IsValid() && amount.IsZero() {
		return badRequest(`the member "amount" must not be zero: give the change, such as "5.00" to add or "-5.00" to take away`)
	}
	return nil
}

type adjustmentJSON struct {
	Amount    giftkit.Money `json:"amount"`
	Reference string        `json:"reference"`
	Balance   balanceJSON   `json:"balance"`
}

// adjustAccount answers POST /accounts/{id}/adjustments: the admin changes
// the balance of the account {id} in the amount's currency by the amount,
// up (a credit of class adjustment that never expires) or down (never below
// what is available), with a reason and, optionally, a reference such as a
// support ticket.
func (s *server) adjustAccount(r *http.Request, _ principal) (int, any, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Amount    amountIn `json:"amount"`
		Reference string   `json:"reference"`
		Reason    string   `json:"reason"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if err := nonZero(req.Amount.Money); err != nil {
		return 0, nil, err
	}
	if r, err = withReason(r, req.Reason); err != nil {
		return 0, nil, err
	}
	b, err := s.wallet.Adjust(r.Context(), r.PathValue("id"), req.Amount.Money, req.Reference, key)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, adjustmentJSON{Amount: req.Amount.Money, Reference: req.Reference, Balance: balanceOf(b)}, nil
}

// cardOf shows a card.
func cardOf(c giftcard.Card) cardJSON {
	out := cardJSON{ID: c.ID, Value: c.Value, State: c.State.String()}
	if !c.ExpiresAt.IsZero() {
		out.ExpiresAt = &c.ExpiresAt
	}
	return out
}

// adjustCard answers POST /cards/{id}/adjustments: the admin changes the
// value of a card that is not redeemed or voided by the amount, up or down,
// with a reason.
func (s *server) adjustCard(r *http.Request, _ principal) (int, any, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Amount amountIn `json:"amount"`
		Reason string   `json:"reason"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	if err := nonZero(req.Amount.Money); err != nil {
		return 0, nil, err
	}
	if r, err = withReason(r, req.Reason); err != nil {
		return 0, nil, err
	}
	c, err := s.cards.Adjust(r.Context(), r.PathValue("id"), req.Amount.Money, key)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, cardOf(c), nil
}

type clawbackJSON struct {
	CardID    string        `json:"card_id"`
	Asked     giftkit.Money `json:"asked"`
	Recovered giftkit.Money `json:"recovered"`
	Shortfall giftkit.Money `json:"shortfall"`
	Voided    bool          `json:"voided"`
	Account   string        `json:"account,omitempty"`
	Card      cardJSON      `json:"card"`
}

// clawback answers POST /cards/{id}/clawback: the admin takes back the
// value of a card whose purchase was refunded or charged back: amount of it
// if given, else all that is left. A card not redeemed loses it (and is
// voided if that is all of it); a redeemed card's value is taken from the
// balance of the account that redeemed it, as far as it is available, and
// what is not is reported as the shortfall.
func (s *server) clawback(r *http.Request, _ principal) (int, any, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Amount json.RawMessage `json:"amount"` // absent for all that is left; null is refused, as any amount that is not one
		Reason string          `json:"reason"`
	}
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	var amount giftkit.Money // all that is left
	if req.Amount != nil {
		var in amountIn
		if err := in.UnmarshalJSON(req.Amount); err != nil {
			return 0, nil, bodyError(err)
		}
		amount = in.Money
	}
	if r, err = withReason(r, req.Reason); err != nil {
		return 0, nil, err
	}
	out, err := s.wallet.Clawback(r.Context(), r.PathValue("id"), amount, key)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, clawbackJSON{CardID: out.CardID, Asked: out.Asked, Recovered: out.Recovered, Shortfall: out.Shortfall,
		Voided: out.Voided, Account: out.Owner, Card: cardOf(out.Card)}, nil
}

// subjectParam reads the card or account the query names: ?card=ID, or
// ?account=owner with ?currency (EUR when absent); the zero Subject for
// neither.
func subjectParam(r *http.Request) (activity.Subject, error) {
	q := r.URL.Query()
	switch {
	case q.Has("card") && q.Has("account"):
		return activity.Subject{}, badRequest("give query parameter card or account, not both")
	case q.Has("currency") && !q.Has("account"):
		return activity.Subject{}, badRequest("query parameter currency goes with account: an account is an owner's balance in one currency")
	case q.Has("card"):
		id := q.Get("card")
		if !validID(id, maxCardIDLen) {
			return activity.Subject{}, badRequest("query parameter card must be a card ID of 1 to %d bytes", maxCardIDLen)
		}
		return activity.Card(id), nil
	case q.Has("account"):
		owner := q.Get("account")
		if !validID(owner, wallet.MaxOwnerLen) {
			return activity.Subject{}, badRequest("query parameter account must be an account ID of 1 to %d bytes without control characters", wallet.MaxOwnerLen)
		}
		c, err := currencyParam(r)
		if err != nil {
			return activity.Subject{}, err
		}
		return activity.Account(owner, c), nil
	}
	return activity.Subject{}, nil
}

// actorParam reads ?actor_kind (shopper, operator, client or system) and
// ?actor_id, which go together; the zero Actor, any, for neither.
func actorParam(r *http.Request) (giftkit.Actor, error) {
	q := r.URL.Query()
	if !q.Has("actor_kind") && !q.Has("actor_id") {
		return giftkit.Actor{}, nil
	}
	var kind giftkit.ActorKind
	if err := kind.UnmarshalText([]byte(q.Get("actor_kind"))); err != nil || kind == 0 {
		return giftkit.Actor{}, badRequest("query parameter actor_kind must be shopper, operator, client or system, given with actor_id")
	}
	a := giftkit.Actor{Kind: kind, ID: q.Get("actor_id")}
	if a.ID == "" || !a.Valid() {
		return giftkit.Actor{}, badRequest("query parameter actor_id must be 1 to %d bytes of text, given with actor_kind", giftkit.MaxActorIDLen)
	}
	return a, nil
}

// activityQuery reads the query of GET /activity.
func activityQuery(r *http.Request) (activity.Query, error) {
	var q activity.Query
	var err error
	if q.Subject, err = subjectParam(r); err != nil {
		return q, err
	}
	if q.Actor, err = actorParam(r); err != nil {
		return q, err
	}
	if q.From, err = timeParam(r, "from", time.Time{}); err != nil {
		return q, err
	}
	if q.To, err = timeParam(r, "to", time.Time{}); err != nil {
		return q, err
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, badRequest("query parameter from must be before to")
	}
	switch order := r.URL.Query(); {
	case !order.Has("order") || order.Get("order") == "subject":
		q.Order = activity.BySubject
	case order.Get("order") == "time":
		q.Order = activity.ByTime
	default:
		return q, badRequest("query parameter order must be subject or time")
	}
	if r.URL.Query().Has("after") {
		if q.After, err = decodeCursor(r.URL.Query().Get("after"), q.Order); err != nil {
			return q, err
		}
	}
	return q, nil
}

type recordJSON struct {
	Subject   activity.Subject `json:"subject"`
	Seq       int64            `json:"seq"`
	Kind      string           `json:"kind"`
	Actor     giftkit.Actor    `json:"actor"`
	Reason    string           `json:"reason,omitempty"`
	Key       string           `json:"key,omitempty"`
	Reference string           `json:"reference,omitempty"`
	At        time.Time        `json:"at"`
	Amount    giftkit.Money    `json:"amount"`
	Held      giftkit.Money    `json:"held"`
	Before    giftkit.Money    `json:"before"`
	After     giftkit.Money    `json:"after"`
	Prev      activity.Digest  `json:"prev"`
	Digest    activity.Digest  `json:"digest"`
}

// recordOf shows an activity record, without its snapshot (the binary state
// the reports replay). An account's record about one of its owner's orders
// names the order by the ID the shopper chose, as the history does.
func recordOf(rec activity.Record) recordJSON {
	ref := rec.Reference
	if rec.Subject.Kind == activity.SubjectAccount {
		if order, ok := orderOf(rec.Subject.ID, ref); ok {
			ref = order
		}
	}
	return recordJSON{Subject: rec.Subject, Seq: rec.Seq, Kind: rec.Kind.String(), Actor: rec.Actor, Reason: rec.Reason, Key: rec.Key,
		Reference: ref, At: rec.At, Amount: rec.Amount, Held: rec.Held, Before: rec.Before, After: rec.After, Prev: rec.Prev, Digest: rec.Digest}
}

type activityPageJSON struct {
	Records []recordJSON `json:"records"`
	Next    string       `json:"next,omitempty"`
}

// activityLog answers GET /activity: a page of the activity log, of one card
// or account or of all, by one actor or any, from and to instants, in
// order of subject (each card's and account's records together) or of
// time, after the position the opaque cursor ?after names (the next of
// the page before), up to ?limit records.
func (s *server) activityLog(r *http.Request, _ principal) (int, any, error) {
	q, err := activityQuery(r)
	if err != nil {
		return 0, nil, err
	}
	limit, err := intParam(r, "limit", ledger.DefaultPageSize, 1, ledger.MaxPageSize)
	if err != nil {
		return 0, nil, err
	}
	page, err := s.ledger.Activity(r.Context(), q, int(limit))
	if err != nil {
		return 0, nil, err
	}
	out := activityPageJSON{Records: make([]recordJSON, len(page.Records))}
	for i, rec := range page.Records {
		out.Records[i] = recordOf(rec)
	}
	if page.More {
		out.Next = encodeCursor(page.Next, q.Order)
	}
	return http.StatusOK, out, nil
}

type breakJSON struct {
	Subject activity.Subject `json:"subject"`
	Seq     int64            `json:"seq"`
	Problem string           `json:"problem"`
}

type verifyJSON struct {
	OK     bool        `json:"ok"`
	Breaks []breakJSON `json:"breaks,omitempty"`
}

// verifyActivity answers GET /activity/verify: whether the chain of
// records of the card or account the query names, or of every card and
// account when it names none, holds together: each record linked to the
// one before it, its digest matching its contents, the chain ending at the
// head its card or account keeps. A card or account that has neither a
// row nor records is a 404.
func (s *server) verifyActivity(r *http.Request, _ principal) (int, any, error) {
	subject, err := subjectParam(r)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	var breaks []*activity.BreakError
	switch subject.Kind {
	case 0:
		if breaks, err = s.ledger.VerifyAll(ctx); err != nil {
			return 0, nil, err
		}
	default:
		var be *activity.BreakError
		switch err := s.ledger.Verify(ctx, subject); {
		case errors.As(err, &be):
			breaks = append(breaks, be)
		case err != nil:
			return 0, nil, err
		}
	}
	out := verifyJSON{OK: len(breaks) == 0}
	for _, b := range breaks {
		out.Breaks = append(out.Breaks, breakJSON{Subject: b.Subject, Seq: b.Seq, Problem: b.Problem})
	}
	return http.StatusOK, out, nil
}

// Cursors. A page of GET /activity ends with the position of its last
// record, which the next request passes back as ?after. Clients treat it as
// opaque: it is base64url (without padding) of a small JSON object, so that
// the server can read it back and check every member, and change its form
// later under a new version. Positions never move (see activity.Cursor), so
// a cursor stays good for as long as the log does.

// cursorVersion is the version of the cursor's form.
const cursorVersion = 1

// maxCursorLen bounds the cursor a request may send, before it is decoded.
const maxCursorLen = 1024

// cursorJSON is a cursor's contents: the form's version, the order it is a
// position in ("subject" or "time"), and the position: the record's
// subject, its number and, in order of time, its instant.
type cursorJSON struct {
	V     int        `json:"v"`
	Order string     `json:"o"`
	Kind  string     `json:"k"`
	ID    string     `json:"id"`
	Cur   string     `json:"c,omitempty"`
	Seq   int64      `json:"s"`
	At    *time.Time `json:"t,omitempty"`
}

// orderName is the name of an order in a cursor and in ?order.
func orderName(o activity.Order) string {
	if o == activity.ByTime {
		return "time"
	}
	return "subject"
}

// encodeCursor returns the opaque form of position c in order o.
func encodeCursor(c activity.Cursor, o activity.Order) string {
	v := cursorJSON{V: cursorVersion, Order: orderName(o), Kind: c.Subject.Kind.String(), ID: c.Subject.ID, Seq: c.Seq}
	if c.Subject.Kind == activity.SubjectAccount {
		v.Cur = c.Subject.Currency.Code()
	}
	if o == activity.ByTime {
		at := c.At.UTC()
		v.At = &at
	}
	data, _ := json.Marshal(v) // strings, numbers and a time: it cannot fail
	return base64.RawURLEncoding.EncodeToString(data)
}

// errBadCursor is the answer to a cursor this server did not write.
var errBadCursor = badRequest("query parameter after is not a cursor of this listing: pass the next of the page before, as it came, or leave after out to start from the first record")

// decodeCursor reads a cursor that encodeCursor wrote for order o; any
// other is a bad request, never a silent start from the first record.
func decodeCursor(s string, o activity.Order) (activity.Cursor, error) {
	if s == "" || len(s) > maxCursorLen {
		return activity.Cursor{}, errBadCursor
	}
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return activity.Cursor{}, errBadCursor
	}
	var v cursorJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil || dec.More() || v.V != cursorVersion {
		return activity.Cursor{}, errBadCursor
	}
	if v.Order != orderName(o) {
		return activity.Cursor{}, badRequest("query parameter after is a cursor of the listing in order of %s, not of %s: keep the order of the first page", v.Order, orderName(o))
	}
	c := activity.Cursor{Seq: v.Seq}
	switch v.Kind {
	case "card":
		c.Subject = activity.Card(v.ID)
		if v.Cur != "" {
			return activity.Cursor{}, errBadCursor
		}
	case "account":
		cur, err := giftkit.ParseCurrency(v.Cur)
		if err != nil {
			return activity.Cursor{}, errBadCursor
		}
		c.Subject = activity.Account(v.ID, cur)
	default:
		return activity.Cursor{}, errBadCursor
	}
	switch {
	case !validID(v.ID, wallet.MaxOwnerLen) || v.Seq < 1:
		return activity.Cursor{}, errBadCursor
	case (o == activity.ByTime) != (v.At != nil):
		return activity.Cursor{}, errBadCursor
	case v.At != nil:
		if v.At.IsZero() {
			return activity.Cursor{}, errBadCursor
		}
		c.At = v.At.UTC()
	}
	return c, nil
}
