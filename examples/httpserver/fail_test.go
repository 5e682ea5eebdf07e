package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/wallet"
	"github.com/google/go-cmp/cmp"
)

// answer is what a client reads of a problem response: the status, the
// problem type's slug, Retry-After, and the members beyond RFC 9457's.
type answer struct {
	Status     int
	Slug       string
	RetryAfter string
	Extra      map[string]any
}

// failWith runs err through fail and returns the answer, the problem's
// detail and what the server logged.
func failWith(t *testing.T, err error) (got answer, detail, logged string) {
	t.Helper()
	var log bytes.Buffer
	s := &server{log: slog.New(slog.NewJSONHandler(&log, nil))}
	rec := httptest.NewRecorder()
	s.fail(rec, httptest.NewRequest("POST", "/accounts/alice/redeem", nil), err)
	resp := rec.Result()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("fail(%v): content type %q; want application/problem+json", err, ct)
	}
	var body map[string]any
	if derr := json.NewDecoder(resp.Body).Decode(&body); derr != nil {
		t.Fatalf("fail(%v): decode problem: %v", err, derr)
	}
	typ, _ := body["type"].(string)
	slug, ok := strings.CutPrefix(typ, "https://giftkit.example/problems/")
	if !ok || body["status"] != float64(resp.StatusCode) {
		t.Errorf("fail(%v): type %q, status member %v for status %d", err, typ, body["status"], resp.StatusCode)
	}
	detail, _ = body["detail"].(string)
	for _, member := range []string{"type", "title", "status", "detail", "instance"} {
		delete(body, member)
	}
	if len(body) == 0 {
		body = nil
	}
	return answer{resp.StatusCode, slug, resp.Header.Get("Retry-After"), body}, detail, log.String()
}

// Each service returns its sentinels (and the shared giftkit ones) in its
// own typed error, the money functions theirs in a *giftkit.AmountError.
func inCard(err error) error   { return &giftcard.Error{Op: "redeem", CardID: "card-1", Err: err} }
func inWallet(err error) error { return &wallet.Error{Op: "hold", Owner: "alice", Err: err} }
func inAmount(err error) error { return &giftkit.AmountError{Op: "parse", Input: "1.234", Err: err} }
func inCheckout(err error) error {
	return &checkout.Error{Op: "capture", PaymentID: "order-1", Err: err}
}

// sentinelAnswers holds every sentinel that TestKinds in the root package
// lists, grouped by kind as there, with fail's answer to it.
var sentinelAnswers = []struct {
	err  error
	want answer
}{
	{inWallet(giftkit.ErrKeyRequired), answer{400, "bad-request", "", nil}},
	{inCheckout(giftkit.ErrKeyRequired), answer{400, "bad-request", "", nil}},
	{inAmount(giftkit.ErrOverflow), answer{400, "invalid-request", "", nil}},
	{inAmount(giftkit.ErrPrecision), answer{400, "invalid-request", "", nil}},
	{inAmount(giftkit.ErrSyntax), answer{400, "invalid-request", "", nil}},
	{inAmount(giftkit.ErrUnknownCurrency), answer{400, "invalid-request", "", nil}},
	{inCard(giftcard.ErrInvalidRequest), answer{400, "invalid-request", "", nil}},
	{inWallet(wallet.ErrInvalidExpiry), answer{400, "invalid-request", "", nil}},
	{inWallet(wallet.ErrExceedsHold), answer{422, "amount-too-large", "", nil}},
	{inWallet(wallet.ErrInvalidReference), answer{400, "invalid-request", "", nil}},
	{inWallet(wallet.ErrInvalidAmount), answer{400, "invalid-request", "", nil}},
	{inWallet(wallet.ErrInvalidOwner), answer{400, "invalid-request", "", nil}},
	{inCheckout(checkout.ErrInvalidOrder), answer{400, "invalid-request", "", nil}},
	{inCheckout(checkout.ErrInstrumentRequired), answer{400, "invalid-request", "", nil}},
	{inCheckout(checkout.ErrExceedsAuthorized), answer{422, "amount-too-large", "", nil}},
	{inCheckout(checkout.ErrExceedsCaptured), answer{422, "amount-too-large", "", nil}},

	{inCard(giftcard.ErrNotRedeemable), answer{422, "not-redeemable", "", nil}},
	{inCard(giftcard.ErrExternalCode), answer{422, "invalid-code", "", nil}},
	{inCard(giftcard.ErrNoBalance), answer{402, "no-balance", "", nil}},
	{&checkout.Error{Op: "pay", PaymentID: "order-1", Detail: "gift card ****-******-*8DM3", Err: giftcard.ErrNoBalance}, answer{402, "no-balance", "", nil}},
	{inWallet(giftcard.ErrProgrammeLimit), answer{422, "programme-limit", "", nil}},
	{inCard(giftcard.ErrCancelWindow), answer{409, "invalid-state", "", nil}},
	{inCard(giftcard.ErrNotFound), answer{404, "not-found", "", nil}},
	{inWallet(wallet.ErrHoldNotFound), answer{404, "not-found", "", nil}},
	{inCheckout(checkout.ErrPaymentNotFound), answer{404, "not-found", "", nil}},

	{inWallet(giftkit.ErrIdempotencyConflict), answer{422, "idempotency-key-reused", "", nil}},
	{inCheckout(giftkit.ErrIdempotencyConflict), answer{422, "idempotency-key-reused", "", nil}},
	{&giftcard.Error{Op: "redeem", SameAccount: true, Err: giftcard.ErrAlreadyRedeemed},
		answer{409, "already-redeemed", "", map[string]any{"same_account": true}}},
	{inCard(giftcard.ErrAlreadyRedeemed), answer{409, "already-redeemed", "", map[string]any{"same_account": false}}},
	{inCard(giftcard.ErrInvalidTransition), answer{409, "invalid-state", "", nil}},
	{inWallet(wallet.ErrForeignHold), answer{409, "invalid-state", "", nil}},
	{inWallet(wallet.ErrDuplicateHold), answer{409, "invalid-state", "", nil}},
	{inCheckout(checkout.ErrInvalidState), answer{409, "invalid-state", "", nil}},

	{inAmount(giftkit.ErrCurrencyMismatch), answer{400, "invalid-request", "", nil}},
	{inCard(giftkit.ErrCurrencyMismatch), answer{400, "invalid-request", "", nil}},
	{inWallet(wallet.ErrInsufficientFunds), answer{402, "payment-declined", "", nil}},
	{inCard(giftcard.ErrExpired), answer{410, "expired", "", nil}},
	{inCheckout(checkout.ErrExpired), answer{410, "expired", "", nil}},
	{inCheckout(checkout.ErrDeclined), answer{402, "payment-declined", "", nil}},
	{&checkout.Error{Op: "pay", PaymentID: "order-1", Err: checkout.ErrDeclined,
		Cause: &checkout.DeclineError{Reason: "do_not_honor"}}, answer{402, "payment-declined", "", nil}},
	{&checkout.Error{Op: "pay", PaymentID: "order-1", Err: checkout.ErrProcessorUnavailable,
		Cause: errors.New("processor: timeout")}, answer{503, "processor-unavailable", "5", nil}},
	{&wallet.Error{Op: "redeem", Owner: "alice", RetryAfter: time.Hour, Err: wallet.ErrTooManyAttempts},
		answer{429, "too-many-attempts", "3600", nil}},
	{&wallet.Error{Op: "redeem", Owner: "alice", RetryAfter: 1500 * time.Millisecond, Err: wallet.ErrTooManyAttempts},
		answer{429, "too-many-attempts", "2", nil}},
}

// TestFailSentinels: every sentinel of the library, in its package's typed
// error and wrapped once more, gets its answer, with a detail written for
// people (checkHumanDetail) and the error's message in the log; none is a
// 500.
func TestFailSentinels(t *testing.T) {
	for _, tc := range sentinelAnswers {
		for _, err := range []error{tc.err, fmt.Errorf("handler: %w", tc.err)} {
			got, detail, logged := failWith(t, err)
			if got.Status == http.StatusInternalServerError {
				t.Errorf("fail(%v) = 500; want the answer of its kind or sentinel", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("fail(%v) mismatch (-want +got):\n%s", err, diff)
			}
			checkHumanDetail(t, err, detail)
			if got := loggedErr(t, logged); got != err.Error() {
				t.Errorf("fail(%v) logged err %q; want the error's message", err, got)
			}
		}
	}
}

// checkHumanDetail fails the test if detail, the problem's answer to err,
// reads like an error chain rather than a sentence for people: if it is
// empty, repeats err's message, or holds a package prefix, a card ID, a
// shopper's name, a Go duration or a Go value.
func checkHumanDetail(t *testing.T, err error, detail string) {
	t.Helper()
	if detail == "" || strings.Contains(detail, err.Error()) {
		t.Errorf("fail(%v): detail %q; want a sentence for people, not the error's message", err, detail)
	}
	if cardID.MatchString(detail) {
		t.Errorf("fail(%v): detail %q holds a card ID", err, detail)
	}
	for _, internal := range []string{"giftcard:", "wallet:", "checkout:", "giftkit:", "codefmt:", "handler:", "card-1", "alice",
		"1h0m0s", "1.5s", "State(", "<nil>", "invalid Money", "index"} {
		if strings.Contains(detail, internal) {
			t.Errorf("fail(%v): detail %q holds %q; want a sentence for people", err, detail, internal)
		}
	}
}

// cardID matches the card IDs giftcard makes.
var cardID = regexp.MustCompile(`card_[0-9a-f]{4}`)

// loggedErr returns the err attribute of the last record in logged, a JSON
// log.
func loggedErr(t *testing.T, logged string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(logged), "\n")
	var rec struct{ Err string }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil {
		t.Fatalf("log %q: %v", logged, err)
	}
	return rec.Err
}

// TestFailDetails: the details that carry values say them as people read
// them: the declined part of an order and its amount (not the order's
// total), waits in whole seconds rounded up, positions in a code counted
// from 1, orders by the ID the shopper chose.
func TestFailDetails(t *testing.T) {
	eur := func(s string) giftkit.Money { return giftkit.MustParseMoney(s, giftkit.EUR) }
	code := codefmt.MustParse("1G06-02M06R-1GGZ1")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&checkout.Error{Op: "pay", PaymentID: "order-1", Amount: eur("15.00"), Detail: "card_declined", Err: checkout.ErrDeclined,
			Cause: &checkout.DeclineError{Reason: "card_declined"}},
			"the bank card was declined for its part of the order, 15.00 EUR (the processor's reason: card_declined); nothing was charged, and the balance is as it was"},
		{&checkout.Error{Op: "refund", PaymentID: "order-1", Amount: eur("5.00"), Err: checkout.ErrDeclined,
			Cause: &checkout.DeclineError{Reason: "amount_exceeds_capture"}},
			"the bank card did not take the refund of 5.00 EUR (the processor's reason: amount_exceeds_capture)"},
		{&wallet.Error{Op: "redeem", Owner: "alice", RetryAfter: 59*time.Minute + 59505291216*time.Nanosecond, Err: wallet.ErrTooManyAttempts},
			"too many failed attempts to redeem a code: try again in 3600 seconds"},
		{&wallet.Error{Op: "redeem", Owner: "alice", RetryAfter: time.Millisecond, Err: wallet.ErrTooManyAttempts},
			"too many failed attempts to redeem a code: try again in 1 second"},
		{&checkout.Error{Op: "pay", PaymentID: "order-1", Err: checkout.ErrProcessorUnavailable, Cause: errors.New("processor: timeout")},
			"the card processor did not answer, so the order is still open: retry in 5 seconds with the same Idempotency-Key, which finishes it exactly once"},
		{&giftcard.Error{Op: "redeem", CardID: "card_468c", Masked: "****-******-*8DM3", Err: giftcard.ErrAlreadyRedeemed},
			"this card, ****-******-*8DM3, has already been redeemed into another account"},
		{&giftcard.Error{Op: "redeem", Err: giftcard.ErrExpired}, "this card has expired"},
		{&checkout.Error{Op: "capture", PaymentID: "order-1", State: checkout.StateFailed, Err: checkout.ErrInvalidState},
			"the order is failed, so it cannot be captured"},
		{&checkout.Error{Op: "refund", PaymentID: "order-1", Amount: eur("25.01"), Err: checkout.ErrExceedsCaptured},
			"cannot refund 25.01 EUR: that is more than is left to refund on the order"},
		{&checkout.Error{Op: "get", PaymentID: "commande n° 7", Err: checkout.ErrPaymentNotFound},
			`this account has no order "commande n° 7"`},
		{&codefmt.ParseError{Offset: 7, Index: 6, Rune: 'X', Hint: 'Y', Err: codefmt.ErrChecksum, Suggestions: []codefmt.Code{code}},
			`the code does not check out: character 7 of 15, "X", is probably mistyped; did you mean "Y" there?`},
		{&codefmt.ParseError{Offset: 19, Index: 14, Rune: 'U', Hint: 'V', Length: 15, Err: codefmt.ErrInvalidChar},
			`character 15 of 15, "U", is not one that codes use; did you mean "V" there?`},
		{&codefmt.ParseError{Offset: -1, Index: -1, Length: 14, Err: codefmt.ErrLength},
			"a code has 15 characters, not counting dashes and spaces; this one has 14"},
		{&codefmt.ParseError{Offset: -1, Index: -1, Length: 15, Err: codefmt.ErrChecksum, Suggestions: []codefmt.Code{code}},
			"the code does not check out: two characters next to each other are probably swapped; did you mean one of the suggested codes?"},
		// Gift cards given to pay, checked by code, reloaded and moved.
		{&tenderError{err: &codefmt.ParseError{Offset: 7, Index: 6, Rune: 'X', Err: codefmt.ErrChecksum}, codes: 3, position: 2},
			`gift card 2 of 3: the code does not check out: character 7 of 15, "X", is probably mistyped`},
		{&tenderError{err: &checkout.Error{Op: "pay", PaymentID: "order-1", Detail: "gift card ****-******-*8DM3", Err: giftcard.ErrNotRedeemable}, codes: 1},
			"the gift card ****-******-*8DM3 cannot be used: check its code against the card, and ask the seller if it still fails"},
		{&checkout.Error{Op: "pay", PaymentID: "order-1", Detail: "gift card ****-******-*8DM3", Err: giftcard.ErrExpired}, "the gift card ****-******-*8DM3 has expired"},
		{&checkout.Error{Op: "pay", PaymentID: "order-1", Detail: "gift card ****-******-*8DM3 holds USD", Err: giftkit.ErrCurrencyMismatch},
			"the gift card ****-******-*8DM3 holds USD, not the order's currency"},
		{&tenderError{err: &checkout.Error{Op: "pay", PaymentID: "order-1", Amount: eur("15.00"), Err: checkout.ErrDeclined,
			Cause: &checkout.DeclineError{Reason: "card_declined"}}, codes: 2},
			"the bank card was declined for its part of the order, 15.00 EUR (the processor's reason: card_declined); nothing was charged, and the gift cards and the balance are as they were"},
		{&tenderError{err: &checkout.Error{Op: "pay", PaymentID: "order-1", Amount: eur("4.50"), Err: checkout.ErrInstrumentRequired}, codes: 1, guest: true},
			`the gift cards do not cover the whole order: give a bank card as "instrument" for the rest, 4.50 EUR`},
		{&giftcard.Error{Op: "check_balance", Masked: "****-******-*8DM3", Err: giftcard.ErrAlreadyRedeemed},
			"this card, ****-******-*8DM3, has been redeemed into an account: its value is on that account's balance"},
		{&giftcard.Error{Op: "check_balance", Err: giftcard.ErrNotRedeemable},
			"no card that can be used has this code: check it against the card, and ask the seller if it still fails"},
		{&wallet.Error{Op: "check_balance", RetryAfter: 1500 * time.Millisecond, Err: wallet.ErrTooManyAttempts},
			"too many failed attempts with gift card codes: try again in 2 seconds"},
		{&giftcard.Error{Op: "reload", CardID: "card_468c", Masked: "****-******-*8DM3", Err: giftcard.ErrNotRedeemable},
			"this card is not active (it is pending, blocked or voided), so no value can be added to it or moved from it"},
		{&giftcard.Error{Op: "merge", CardID: "card_468c", Masked: "****-******-*8DM3", Err: giftcard.ErrNoBalance},
			"this card, ****-******-*8DM3, has nothing available to move"},
		{&wallet.Error{Op: "reload", Err: giftcard.ErrProgrammeLimit, Detail: "giftcard: programme: cards are not reloadable"},
			"the programme's rules do not allow this: cards are not reloadable"},
		{&wallet.Error{Op: "load", Owner: "alice", Amount: eur("200.00"), Err: giftcard.ErrProgrammeLimit,
			Detail: "giftcard: Ireland: maximum account balance is 150.00 EUR, would be 200.00 EUR"},
			"the rules of Ireland do not allow this: maximum account balance is 150.00 EUR, would be 200.00 EUR"},
		{fmt.Errorf("wrapped: %w", &giftcard.RuleError{Programme: "EU anonymous prepaid", Rule: "maximum load per month", Limit: eur("150.00"),
			Would: eur("160.00"), Err: giftcard.ErrProgrammeLimit}),
			"the rules of EU anonymous prepaid do not allow this: maximum load per month is 150.00 EUR, would be 160.00 EUR"},
		{&giftcard.Error{Op: "cancel", CardID: "card_468c", Err: giftcard.ErrCancelWindow},
			"this card was issued longer ago than the programme allows a card to be cancelled: void it instead"},
		{&giftcard.Error{Op: "issue", Err: giftcard.ErrProgrammeLimit, Detail: "giftcard: France: maximum card value is 150.00 EUR, would be 200.00 EUR"},
			"the rules of France do not allow this: maximum card value is 150.00 EUR, would be 200.00 EUR"},
		{&wallet.Error{Op: "transfer", Err: wallet.ErrInvalidAmount, Detail: "a card cannot receive its own value"},
			`a card cannot receive its own value: name another card as "to"`},
		{&wallet.Error{Op: "transfer", Currency: giftkit.EUR, Err: giftkit.ErrCurrencyMismatch, Detail: "the cards hold EUR and USD"},
			"the cards hold EUR and USD: value moves only between cards of one currency"},
	} {
		_, detail, _ := failWith(t, tc.err)
		if detail != tc.want {
			t.Errorf("fail(%v): detail %q; want %q", tc.err, detail, tc.want)
		}
		checkHumanDetail(t, tc.err, detail)
	}
}

// kinds lists giftkit's kinds of failure.
var kinds = []error{
	giftkit.ErrInvalid, giftkit.ErrNotFound, giftkit.ErrConflict, giftkit.ErrCurrencyMismatch, giftkit.ErrInsufficientFunds,
	giftkit.ErrExpired, giftkit.ErrDeclined, giftkit.ErrUnavailable, giftkit.ErrRateLimited,
}

// TestFailKinds: an error that wraps a kind but none of the sentinels with
// an answer of their own gets its kind's answer, never a 500; an error of
// two kinds gets the answer of the one giftkit.KindOf reports.
func TestFailKinds(t *testing.T) {
	for _, kind := range kinds {
		if got, _, _ := failWith(t, kind); got.Status == http.StatusInternalServerError {
			t.Errorf("fail(%v) = 500; want its kind's answer", kind)
		}
		for _, other := range kinds {
			both := errors.Join(kind, other)
			want, _, _ := failWith(t, giftkit.KindOf(both))
			if got, _, _ := failWith(t, both); !cmp.Equal(want, got) {
				t.Errorf("fail(%v and %v) = %+v; want %+v, the answer of %v", kind, other, got, want, giftkit.KindOf(both))
			}
		}
	}
}

// TestFailOthers: the errors that are types rather than sentinels get their
// own answers, and an error of no kind (the store's, the context's) is a 500
// that shows a generic detail and logs the cause.
func TestFailOthers(t *testing.T) {
	code := codefmt.MustParse("1G06-02M06R-1GGZ1")
	for _, tc := range []struct {
		err  error
		want answer
	}{
		{&http.MaxBytesError{Limit: maxBody}, answer{413, "too-large", "", nil}},
		{badRequest("unknown query parameter %q", "limt"), answer{400, "bad-request", "", nil}},
		{&codefmt.ParseError{Offset: 3, Index: 2, Err: codefmt.ErrChecksum, Suggestions: []codefmt.Code{code}},
			answer{422, "invalid-code", "", map[string]any{"character": 3.0, "index": 2.0, "offset": 3.0, "suggestions": []any{code.String()}}}},
		{&codefmt.ParseError{Offset: -1, Index: -1, Err: codefmt.ErrEmpty}, answer{422, "invalid-code", "", map[string]any{"index": -1.0, "offset": -1.0}}},
		{&tenderError{err: &codefmt.ParseError{Offset: 3, Index: 2, Err: codefmt.ErrChecksum}, codes: 2, position: 2},
			answer{422, "invalid-code", "", map[string]any{"character": 3.0, "index": 2.0, "offset": 3.0, "position": 2.0}}},
		{&tenderError{err: fmt.Errorf("read: %w", giftcard.ErrExternalCode), codes: 2, position: 1},
			answer{422, "invalid-code", "", map[string]any{"position": 1.0}}},
	} {
		if got, _, _ := failWith(t, tc.err); !cmp.Equal(tc.want, got) {
			t.Errorf("fail(%v) mismatch (-want +got):\n%s", tc.err, cmp.Diff(tc.want, got))
		}
	}
	for _, err := range []error{
		errors.New("dial tcp 10.0.0.7:5432: connection refused"),
		fmt.Errorf("wallet: redeem: %w", context.DeadlineExceeded),
		&pgstore.Error{Op: "commit", Err: pgstore.ErrUnavailable},
	} {
		got, detail, logged := failWith(t, err)
		if want := (answer{Status: 500, Slug: "internal"}); !cmp.Equal(want, got) || detail != "internal error" {
			t.Errorf("fail(%v) = %+v with detail %q; want %+v with detail %q", err, got, detail, want, "internal error")
		}
		if !strings.Contains(logged, err.Error()) {
			t.Errorf("fail(%v) logged %q; want the cause", err, logged)
		}
	}
}
