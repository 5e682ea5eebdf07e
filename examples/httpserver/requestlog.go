package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/giftkit/giftkit/codefmt"
)

// Every request gets one log line, written when its answer is complete:
//
//	level=INFO msg=request method=POST route="POST /accounts/{id}/redeem" status=409
//	  latency=1.2ms request_id=… caller=alice problem=already-redeemed err="giftcard: redeem card_… (****-******-*8DM3): …"
//
// route is the pattern that took the request ("/" when none did), so that
// lines group by route and never hold the IDs in a path. err is the error
// behind a problem document, which the client never sees; a 5xx is logged
// at ERROR, anything else at INFO. No line holds a whole activation code:
// the library's errors show codes masked, maskCodes masks any that a client
// put in an ID an error repeats (an order ID), and a request ID that holds
// one is replaced.

// maxRequestIDLen is the longest X-Request-ID the server adopts.
const maxRequestIDLen = 128

// requestLog is what a request's handlers note for its log line. It is used
// by one request at a time.
type requestLog struct {
	id      string // the X-Request-ID
	caller  string // the name of the token's principal
	problem string // the problem's slug, if the answer is one
	err     error  // the error behind the problem, if any
	aborted bool   // the answer was cut short after it began: a download that failed midway
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
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", r.Pattern),
		slog.Int("status", sw.status),
		slog.Duration("latency", time.Since(start)),
		slog.String("request_id", rl.id),
	}
	if rl.caller != "" {
		attrs = append(attrs, slog.String("caller", rl.caller))
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
// codefmt.Code.Masked shows it ("****-******-*H567"); if a code is written
// in a form it cannot find to replace (with look-alike characters, say),
// it withholds s whole.
func maskCodes(s string) string {
	codes := codefmt.Extract(s)
	if len(codes) == 0 {
		return s
	}
	for _, c := range codes {
		for _, form := range []string{c.String(), strings.ReplaceAll(c.String(), "-", "")} {
			s = regexp.MustCompile("(?i)"+regexp.QuoteMeta(form)).ReplaceAllLiteralString(s, c.Masked())
		}
	}
	if len(codefmt.Extract(s)) > 0 {
		return "[withheld: holds an activation code]"
	}
	return s
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
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
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
