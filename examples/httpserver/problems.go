package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// Problem documents (RFC 9457) are for two readers. Their type, status and
// extension members are for programs; their detail is for the person using
// the program, so it is written as a sentence about what they asked for and
// what they can do, never an error chain: no package prefixes, no card or
// payment IDs, no Go durations. What went wrong inside goes to the log line
// of the request (see logRequests), under the same X-Request-ID.

// problemTypeBase is the start of every problem type URI; the rest is the
// problem's slug, such as "already-redeemed".
const problemTypeBase = "https://giftkit.example/problems/"

// processorRetry is how long a client should wait before retrying after a
// party that did not answer: the card processor or the store.
const processorRetry = 5 * time.Second

// problem writes an RFC 9457 problem document, and notes its slug for the
// request's log line.
func (s *server) problem(w http.ResponseWriter, r *http.Request, status int, slug, detail string, extra map[string]any) {
	noteProblem(r, slug)
	body := map[string]any{
		"type":     problemTypeBase + slug,
		"title":    http.StatusText(status),
		"status":   status,
		"detail":   detail,
		"instance": r.URL.EscapedPath(),
	}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// A failure is how fail answers the errors that match err: a status, a
// problem type (the last element of its URI), a detail for people and, for
// a few, extra members and headers.
type failure struct {
	err    error
	status int
	slug   string
	detail func(err error) string
	extra  func(err error, h http.Header) map[string]any // nil for none
}

// failures maps the library's errors to answers, looked up in order with
// errors.Is. First come the sentinels whose answer differs from their
// kind's, then one row per kind, in giftkit.KindOf's order, so that an error
// of two kinds gets the answer of the kind KindOf reports. An error that
// matches no row wraps no kind: it is the store's or the context's, a 500.
var failures = []failure{
	{errBadRequest, http.StatusBadRequest, "bad-request", requestDetail, nil},
	{giftkit.ErrKeyRequired, http.StatusBadRequest, "bad-request", keyDetail, nil},
	{giftcard.ErrAlreadyRedeemed, http.StatusConflict, "already-redeemed", redeemedDetail, sameAccount},
	{giftcard.ErrNotRedeemable, http.StatusUnprocessableEntity, "not-redeemable", notRedeemableDetail, nil},
	{giftcard.ErrExternalCode, http.StatusUnprocessableEntity, "invalid-code", externalCodeDetail, codePosition},
	{giftcard.ErrNoBalance, http.StatusPaymentRequired, "no-balance", noBalanceDetail, nil},
	{giftcard.ErrProgrammeLimit, http.StatusUnprocessableEntity, "programme-limit", programmeDetail, nil},
	{wallet.ErrTooManyAttempts, http.StatusTooManyRequests, "too-many-attempts", attemptsDetail, limiterWait},
	{checkout.ErrProcessorUnavailable, http.StatusServiceUnavailable, "processor-unavailable", processorDetail, retrySoon},
	{giftkit.ErrIdempotencyConflict, http.StatusUnprocessableEntity, "idempotency-key-reused", keyReusedDetail, nil},
	{checkout.ErrExceedsAuthorized, http.StatusUnprocessableEntity, "amount-too-large", tooLargeDetail, nil},
	{checkout.ErrExceedsCaptured, http.StatusUnprocessableEntity, "amount-too-large", tooLargeDetail, nil},
	{wallet.ErrExceedsHold, http.StatusUnprocessableEntity, "amount-too-large", tooLargeDetail, nil},

	{giftkit.ErrInvalid, http.StatusBadRequest, "invalid-request", invalidDetail, nil},
	{giftkit.ErrNotFound, http.StatusNotFound, "not-found", notFoundDetail, nil},
	{giftkit.ErrConflict, http.StatusConflict, "invalid-state", conflictDetail, nil},
	{giftkit.ErrCurrencyMismatch, http.StatusBadRequest, "invalid-request", currencyDetail, nil},
	{giftkit.ErrInsufficientFunds, http.StatusPaymentRequired, "payment-declined", fundsDetail, nil},
	{giftkit.ErrExpired, http.StatusGone, "expired", expiredDetail, nil},
	{giftkit.ErrDeclined, http.StatusPaymentRequired, "payment-declined", declinedDetail, nil},
	{giftkit.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", unavailableDetail, retrySoon},
	{giftkit.ErrRateLimited, http.StatusTooManyRequests, "rate-limited", rateLimitedDetail, limiterWait},
}

// fail answers err with an RFC 9457 problem document: by the first row of
// failures that err matches, or for the two errors that are types rather
// than sentinels (a body too large, a code that does not read). Any other
// error is a 500 whose detail is generic. The error itself goes to the log,
// never to the client.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		tooBig *http.MaxBytesError
		pe     *codefmt.ParseError
	)
	switch {
	case errors.As(err, &tooBig):
		s.noteError(r, http.StatusRequestEntityTooLarge, err)
		s.problem(w, r, http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the request body is larger than %d bytes", tooBig.Limit), nil)
		return
	case errors.As(err, &pe):
		extra := codeHints(pe)
		maps.Copy(extra, codePosition(err, w.Header()))
		s.noteError(r, http.StatusUnprocessableEntity, err)
		s.problem(w, r, http.StatusUnprocessableEntity, "invalid-code", whichCode(err)+codeDetail(pe), extra)
		return
	}
	for _, f := range failures {
		if errors.Is(err, f.err) {
			var extra map[string]any
			if f.extra != nil {
				extra = f.extra(err, w.Header())
			}
			s.noteError(r, f.status, err)
			s.problem(w, r, f.status, f.slug, f.detail(err), extra)
			return
		}
	}
	s.noteError(r, http.StatusInternalServerError, err)
	s.problem(w, r, http.StatusInternalServerError, "internal", "internal error", nil)
}

// codeDetail says what is wrong with a code, counting its characters from 1
// as people do, without the dashes and spaces: "character 7 of 15".
func codeDetail(pe *codefmt.ParseError) string {
	var msg string
	switch {
	case errors.Is(pe.Err, codefmt.ErrEmpty):
		msg = "the code is empty"
	case errors.Is(pe.Err, codefmt.ErrLength) && pe.Length < 0:
		msg = "this is far too long to be a code"
	case errors.Is(pe.Err, codefmt.ErrLength):
		msg = fmt.Sprintf("a code has %d characters, not counting dashes and spaces; this one has %d", codefmt.Len, pe.Length)
	case errors.Is(pe.Err, codefmt.ErrInvalidChar) && pe.Index >= 0:
		msg = fmt.Sprintf("character %d of %d, %q, is not one that codes use", pe.Index+1, codefmt.Len, string(pe.Rune))
	case errors.Is(pe.Err, codefmt.ErrInvalidChar):
		msg = fmt.Sprintf("the code holds %q, which is not one of the characters codes use", string(pe.Rune))
	case pe.Index >= 0:
		msg = fmt.Sprintf("the code does not check out: character %d of %d, %q, is probably mistyped", pe.Index+1, codefmt.Len, string(pe.Rune))
	case len(pe.Suggestions) > 0:
		msg = "the code does not check out: two characters next to each other are probably swapped"
	default:
		msg = "the code does not check out: more than one character is mistyped"
	}
	switch {
	case pe.Hint != 0 && pe.Index >= 0:
		msg += fmt.Sprintf("; did you mean %q there?", string(pe.Hint))
	case len(pe.Suggestions) > 0:
		msg += "; did you mean one of the suggested codes?"
	}
	return msg
}

// codeHints locates the fault in a code that does not read, with the codes
// the shopper probably meant: they typed this code, so showing them the
// correction reveals nothing they did not have. index is the position from
// 0 (for programs, as codefmt has it), character the same position from 1
// (for people: "character 7"); offset is the byte offset in what was sent.
func codeHints(pe *codefmt.ParseError) map[string]any {
	extra := map[string]any{"index": pe.Index, "offset": pe.Offset}
	if pe.Index >= 0 {
		extra["character"] = pe.Index + 1
	}
	if len(pe.Suggestions) > 0 {
		s := make([]string, len(pe.Suggestions))
		for i, c := range pe.Suggestions {
			s[i] = c.String()
		}
		extra["suggestions"] = s
	}
	return extra
}

// codePosition says which of a payment's codes does not read, counted from
// 1, when the payment gave several: "position": 2.
func codePosition(err error, _ http.Header) map[string]any {
	if te := tendered(err); te != nil && te.position > 0 {
		return map[string]any{"position": te.position}
	}
	return nil
}

// whichCode names the code of a payment that does not read, when the
// payment gave more than one: "gift card 2 of 3: ".
func whichCode(err error) string {
	if te := tendered(err); te != nil && te.position > 0 && te.codes > 1 {
		return fmt.Sprintf("gift card %d of %d: ", te.position, te.codes)
	}
	return ""
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
	if wait := walletError(err).RetryAfter; wait > 0 {
		h.Set("Retry-After", strconv.Itoa(wholeSeconds(wait)))
	}
	return nil
}

// retrySoon sets Retry-After to processorRetry: a party that did not answer
// often does on the next try, and the same key makes the retry safe.
func retrySoon(_ error, h http.Header) map[string]any {
	h.Set("Retry-After", strconv.Itoa(wholeSeconds(processorRetry)))
	return nil
}

// wholeSeconds returns d in whole seconds, rounded up, so that a client
// that waits that long never comes back too early.
func wholeSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}

// seconds writes n seconds for people: "1 second", "3600 seconds".
func seconds(n int) string {
	if n == 1 {
		return "1 second"
	}
	return strconv.Itoa(n) + " seconds"
}
