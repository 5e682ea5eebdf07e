package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/giftkit/giftkit/codefmt"
)

// Every request gets one log line, written when its answer is complete, in
// JSON (main's handler; a test may give another):
//
//	{"time":"…","level":"INFO","msg":"request","method":"POST","route":"POST /accounts/{id}/redeem",
//	 "status":409,"latency":1200000,"bytes":312,"request_id":"…","caller":"alice",
//	 "code":"****-******-*8DM3","problem":"already-redeemed","err":"giftcard: redeem card_… (****-******-*8DM3): …"}
//
// route is the pattern that took the request ("/" when none did), so that
// lines group by route and never hold the IDs in a path. bytes is the size
// of the answer's body. code is the code a redemption or a balance check
// names, masked, when it reads as one; a payment that gives several codes
// has codes, a list of those that read, masked. err is the error behind a problem document, which the
// client never sees; a 5xx is logged at ERROR, anything else at INFO. No
// line holds a whole activation code: the library's errors show codes
// masked, maskCodes masks any that a client put in an ID an error repeats
// (an order ID), and a request ID that holds one is replaced.
//
// The services log too (their Config.Logger, at DEBUG on success), through
// serviceLogHandler: it adds the request_id of the request a record was
// logged for, so that those records are found under the same ID, and masks
// any code in them.

// maxRequestIDLen is the longest X-Request-ID the server adopts.
const maxRequestIDLen = 128

// requestLog is what a request's handlers note for its log line. It is used
// by one request at a time.
type requestLog struct {
	id      string   // the X-Request-ID
	caller  string   // who called: a token's name ("client:<name>" for an API client), or "guest"
	codes   []string // the codes the request names, masked; those that do not read as codes are left out
	problem string   // the problem's slug, if the answer is one
	err     error    // the error behind the problem, if any
	aborted bool     // the answer was cut short after it began: a download that failed midway
}

type requestLogKey struct{}

// logOf returns the request's log notes; nil outside logRequests.
func logOf(r *http.Request) *requestLog {
	rl, _ := r.Context().Value(requestLogKey{}).(*requestLog)
	return rl
}

// noteCaller notes who made the request.
func noteCaller(r *http.Request, name string) {
	if rl := logOf(r); rl != nil {
		rl.caller = name
	}
}

// noteCodes notes the codes a request names, masked, those that read as
// codes; a code that does not read is not noted (a code with one typo would
// be the real code but for one character).
func noteCodes(r *http.Request, codes ...string) {
	if rl := logOf(r); rl != nil {
		for _, code := range codes {
			if c, err := codefmt.Parse(code); err == nil {
				rl.codes = append(rl.codes, c.Masked())
			}
		}
	}
}

// noteProblem notes the slug of the problem the request is answered with.
func noteProblem(r *http.Request, slug string) {
	if rl := logOf(r); rl != nil {
		rl.problem = slug
	}
}

// noteError notes the error behind a problem answer for the request's log
// line; outside logRequests, it logs the error at once.
func (s *server) noteError(r *http.Request, status int, err error) {
	if rl := logOf(r); rl != nil {
		rl.err = err
		return
	}
	s.log.Log(r.Context(), levelOf(status), "request failed", "method", r.Method, "status", status, "err", maskCodes(err.Error()))
}

// logRequests wraps next with the log line of every request and its
// request ID, which it takes from X-Request-ID if the client sent a usable
// one (1 to 128 letters, digits and ._~:-, and no activation code), makes
// otherwise, and sends back in X-Request-ID.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rl := &requestLog{id: requestID(r.Header.Get("X-Request-ID"))}
		w.Header().Set("X-Request-ID", rl.id)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(context.WithValue(r.Context(), requestLogKey{}, rl))
		// Deferred, so that a download cut short (see serveDownload), which
		// ends its handler with a panic, is logged too.
		defer s.logRequest(r, sw, rl, start)
		next.ServeHTTP(sw, r)
	})
}

// logRequest writes the log line of a request answered through sw.
func (s *server) logRequest(r *http.Request, sw *statusWriter, rl *requestLog, start time.Time) {
	latency := time.Since(start)
	if s.metrics != nil {
		s.metrics.request(r.Pattern, sw.status, latency)
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", r.Pattern),
		slog.Int("status", sw.status),
		slog.Duration("latency", latency),
		slog.Int64("bytes", sw.bytes),
		slog.String("request_id", rl.id),
	}
	if rl.caller != "" {
		attrs = append(attrs, slog.String("caller", rl.caller))
	}
	switch {
	case len(rl.codes) == 1:
		attrs = append(attrs, slog.String("code", rl.codes[0]))
	case len(rl.codes) > 1:
		attrs = append(attrs, slog.Any("codes", rl.codes))
	}
	if rl.problem != "" {
		attrs = append(attrs, slog.String("problem", rl.problem))
	}
	if rl.err != nil {
		attrs = append(attrs, slog.String("err", maskCodes(rl.err.Error())))
	}
	level := levelOf(sw.status)
	if rl.aborted {
		attrs, level = append(attrs, slog.Bool("aborted", true)), slog.LevelError
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// levelOf is the log level of a request answered with status.
func levelOf(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// requestID returns sent if it is a usable request ID, else a new one. An
// ID that holds an activation code is not usable: it would put the code in
// the log.
func requestID(sent string) string {
	ok := sent != "" && len(sent) <= maxRequestIDLen
	for i := 0; ok && i < len(sent); i++ {
		c := sent[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._~:-", c) >= 0
	}
	if ok && len(codefmt.Extract(sent)) == 0 {
		return sent
	}
	return rand.Text()
}

// maskCodes returns s with every activation code in it masked as
// codefmt.Code.Masked shows it ("****-******-*H567"): 15 ASCII letters and
// digits, or 4, 6 and 5 of them with a dash or a space between, that read
// as a code, wherever they are, even glued to other text (a payment ID is
// an owner's tag followed by the order ID, which may be a code), in any
// case and with look-alike characters. Windows that overlap are masked as
// one. If a code remains that it cannot place (in full-width characters,
// say), it withholds s whole. As 15 letters and digits read as a code with
// probability 1/1024, a long ID is masked in part once in a while.
func maskCodes(s string) string { return codefmt.Redact(s) }

// statusWriter remembers the status a handler answered with, and counts
// the bytes of the body.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	bytes  int64
}

// WriteHeader implements http.ResponseWriter.
func (w *statusWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write implements http.ResponseWriter.
func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serviceLogHandler is the handler of the services' logger (their
// Config.Logger). A record logged with the context of a request, as the
// services log each call, gets the request_id of that request, as the
// request's own line has it. And every string in a record (its message, a
// string attribute, an error's or another value's text, in groups too)
// passes through maskCodes: the library shows its codes masked, but an ID a
// client chose (an order ID, which a payment ID holds) may be a code.
type serviceLogHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h serviceLogHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, maskCodes(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	if rl, _ := ctx.Value(requestLogKey{}).(*requestLog); rl != nil {
		out.AddAttrs(slog.String("request_id", rl.id))
	}
	return h.Handler.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h serviceLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = maskAttr(a)
	}
	return serviceLogHandler{h.Handler.WithAttrs(masked)}
}

// WithGroup implements slog.Handler.
func (h serviceLogHandler) WithGroup(name string) slog.Handler {
	return serviceLogHandler{h.Handler.WithGroup(name)}
}

// maskAttr returns a with maskCodes applied to its text: a string's, a
// group's members', and that of any other value whose text holds a code
// (which is then logged as its masked text).
func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, maskCodes(v.String()))
	case slog.KindGroup:
		members := v.Group()
		masked := make([]slog.Attr, len(members))
		for i, m := range members {
			masked[i] = maskAttr(m)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(masked...)}
	case slog.KindAny:
		if text := fmt.Sprint(v.Any()); maskCodes(text) != text {
			return slog.String(a.Key, maskCodes(text))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
