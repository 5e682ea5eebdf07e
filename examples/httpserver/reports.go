package main

import (
	"io"
	"net/http"
	"time"

	"github.com/giftkit/giftkit/ledger"
)

// The reports of the operator's ledger, for the admin: what the business
// owes (GET /reports/liability), what became of each month's cards
// (GET /reports/cohorts), and what has lain untouched (GET
// /reports/dormancy), each at any instant, past or present, as CSV for a
// spreadsheet or JSON for a program. package ledger computes them from the
// activity log alone, and writes them as it reads the log: the server
// streams them, never holding a whole report.

// A download is a report a handler answers with: written to the response as
// a file rather than encoded as a JSON body.
type download struct {
	name   string        // the file's name without its extension, such as "liability-20261231T235959Z"
	format ledger.Format // CSV or JSON
	write  func(w io.Writer) error
}

// downloadBuffer is how much of a download the server holds before it
// sends the first byte: a report that fails within it is answered with a
// problem document, as any request that fails.
const downloadBuffer = 32 << 10

// serveDownload streams d: CSV as text/csv with its charset, as an
// attachment with a file name, or JSON. If writing fails before anything
// was sent, the answer is a problem document; after, the server cuts the
// connection (http.ErrAbortHandler) rather than end a file that would look
// whole, and logs why.
func (s *server) serveDownload(w http.ResponseWriter, r *http.Request, d download) {
	out := &heldWriter{w: w, header: func(h http.Header) {
		if d.format == ledger.CSV {
			h.Set("Content-Type", "text/csv; charset=utf-8")
			h.Set("Content-Disposition", `attachment; filename="`+d.name+`.csv"`)
			return
		}
		h.Set("Content-Type", "application/json")
	}}
	err := d.write(out)
	if err == nil {
		err = out.send()
	}
	switch {
	case err == nil:
	case !out.sent:
		s.fail(w, r, err)
	default:
		s.noteError(r, http.StatusInternalServerError, err)
		if rl := logOf(r); rl != nil {
			rl.aborted = true
		}
		panic(http.ErrAbortHandler)
	}
}

// heldWriter holds the first downloadBuffer bytes of an answer, and sends
// its headers and status 200 only once it has more, or is told to send.
type heldWriter struct {
	w      http.ResponseWriter
	header func(http.Header) // sets the answer's headers, once, before its first byte
	held   []byte
	sent   bool
}

// Write implements io.Writer.
func (hw *heldWriter) Write(p []byte) (int, error) {
	if !hw.sent && len(hw.held)+len(p) <= downloadBuffer {
		hw.held = append(hw.held, p...)
		return len(p), nil
	}
	if err := hw.send(); err != nil {
		return 0, err
	}
	return hw.w.Write(p)
}

// send sends the headers and what is held, if it has not yet.
func (hw *heldWriter) send() error {
	if hw.sent {
		return nil
	}
	hw.sent = true
	hw.header(hw.w.Header())
	hw.w.WriteHeader(http.StatusOK)
	_, err := hw.w.Write(hw.held)
	hw.held = nil
	return err
}

// formatParam reads the query parameter format: csv or json; json when
// absent.
func formatParam(r *http.Request) (ledger.Format, error) {
	q := r.URL.Query()
	if !q.Has("format") {
		return ledger.JSON, nil
	}
	f, err := ledger.ParseFormat(q.Get("format"))
	if err != nil {
		return 0, badRequest("query parameter format must be csv or json")
	}
	return f, nil
}

// timeParam reads the query parameter name, an instant in RFC 3339 such as
// 2026-06-30T23:59:59Z; def when absent (and def zero: none).
func timeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, q.Get(name))
	if err != nil {
		return time.Time{}, badRequest("query parameter %s must be an instant in RFC 3339, such as 2026-06-30T23:59:59Z", name)
	}
	return t.UTC(), nil
}

// fileStamp writes an instant for a file name, to the second:
// 20261231T235959Z. The report inside has the instant whole.
func fileStamp(t time.Time) string {
	return t.UTC().Format("20060102T150405Z")
}

// nowParam reads the query parameter at, the instant of a report; now when
// absent.
func (s *server) nowParam(r *http.Request) (time.Time, error) {
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	return timeParam(r, "at", now().UTC())
}

// liabilityReport answers GET /reports/liability?at=&format=: what the
// business owes its card and account holders at the instant at (now when
// absent), per currency and value class, then by month.
func (s *server) liabilityReport(r *http.Request, _ principal) (int, any, error) {
	at, err := s.nowParam(r)
	if err != nil {
		return 0, nil, err
	}
	f, err := formatParam(r)
	if err != nil {
		return 0, nil, err
	}
	l, err := s.ledger.Liability(r.Context(), at)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, download{name: "liability-" + fileStamp(at), format: f, write: func(w io.Writer) error { return l.Write(w, f) }}, nil
}

// cohortsReport answers GET /reports/cohorts?at=&format=: for each month's
// cards, per currency and value class, what was sold, redeemed, removed,
// expired and is outstanding at the instant at, with the redemption curve.
func (s *server) cohortsReport(r *http.Request, _ principal) (int, any, error) {
	at, err := s.nowParam(r)
	if err != nil {
		return 0, nil, err
	}
	f, err := formatParam(r)
	if err != nil {
		return 0, nil, err
	}
	cohorts, err := s.ledger.Cohorts(r.Context(), at)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, download{name: "cohorts-" + fileStamp(at), format: f,
		write: func(w io.Writer) error { return ledger.WriteCohorts(w, cohorts, f) }}, nil
}

// dormancyReport answers GET /reports/dormancy?since=&at=&format=: the cards
// and accounts that hold value at the instant at and have seen no activity
// of their holder since the instant since (required), for
// unclaimed-property reports. It is written as the log is read.
func (s *server) dormancyReport(r *http.Request, _ principal) (int, any, error) {
	if !r.URL.Query().Has("since") {
		return 0, nil, badRequest("query parameter since is required: the instant from which a card or account without holder activity counts as dormant, such as 2023-01-01T00:00:00Z")
	}
	since, err := timeParam(r, "since", time.Time{})
	if err != nil {
		return 0, nil, err
	}
	at, err := s.nowParam(r)
	if err != nil {
		return 0, nil, err
	}
	if since.After(at) {
		return 0, nil, badRequest("query parameter since must not be after at")
	}
	f, err := formatParam(r)
	if err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	return http.StatusOK, download{name: "dormancy-" + fileStamp(since) + "-" + fileStamp(at), format: f,
		write: func(w io.Writer) error { return s.ledger.WriteDormancy(ctx, w, since, at, f) }}, nil
}
