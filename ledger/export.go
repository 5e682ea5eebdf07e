package ledger

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
)

// Format is a report's written form.
type Format uint8

// The formats.
const (
	CSV  Format = iota + 1 // RFC 4180, with a header row; amounts as decimals without currency ("12.50"), beside a currency column
	JSON                   // one JSON value; lists are written as a JSON array, element by element
)

// ParseFormat returns the format named "csv" or "json".
func ParseFormat(name string) (Format, error) {
	switch name {
	case "csv":
		return CSV, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("ledger: unknown format %q (csv or json): %w", name, giftkit.ErrInvalid)
}

// A rowWriter streams rows as CSV, or values as the elements of a JSON
// array, so that a list of any length is written without holding it.
type rowWriter struct {
	f     Format
	w     io.Writer
	csv   *csv.Writer
	enc   *json.Encoder
	count int
}

func newRowWriter(w io.Writer, f Format, header []string) (*rowWriter, error) {
	rw := &rowWriter{f: f, w: w}
	switch f {
	case CSV:
		rw.csv = csv.NewWriter(w)
		return rw, rw.csv.Write(header)
	case JSON:
		rw.enc = json.NewEncoder(w)
		_, err := io.WriteString(w, "[")
		return rw, err
	}
	return nil, fmt.Errorf("ledger: unknown format %d: %w", f, giftkit.ErrInvalid)
}

// write writes one row: its CSV fields, or v as JSON.
func (rw *rowWriter) write(fields []string, v any) error {
	if rw.f == CSV {
		return rw.csv.Write(fields)
	}
	if rw.count > 0 {
		if _, err := io.WriteString(rw.w, ","); err != nil {
			return err
		}
	}
	rw.count++
	return rw.enc.Encode(v) // a newline after each element keeps the output readable and valid
}

func (rw *rowWriter) close() error {
	if rw.f == CSV {
		rw.csv.Flush()
		return rw.csv.Error()
	}
	_, err := io.WriteString(rw.w, "]\n")
	return err
}

// cell returns text a caller chose (an ID, a reason, a key) as a CSV
// field that a spreadsheet will not run as a formula: one that starts
// with =, +, -, @, a tab or a carriage return gets a leading apostrophe
// (OWASP's advice on CSV injection).
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func amount(m giftkit.Money) string {
	if !m.Currency().IsValid() {
		return ""
	}
	return m.Amount()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Write writes the liability in format f. As CSV: one row per currency and
// class (month "all"), then one per cohort month, with the columns at,
// currency, class, month, cards, accounts, total, card_count,
// account_count.
func (l Liability) Write(w io.Writer, f Format) error {
	if f == JSON {
		return json.NewEncoder(w).Encode(l)
	}
	rw, err := newRowWriter(w, f, []string{"at", "currency", "class", "month", "cards", "accounts", "total", "card_count", "account_count"})
	if err != nil {
		return err
	}
	at := stamp(l.At)
	for _, line := range l.Lines {
		if err := rw.write([]string{at, line.Currency.Code(), line.Class.String(), "all", amount(line.Cards), amount(line.Accounts),
			amount(line.Total), strconv.Itoa(line.CardCount), strconv.Itoa(line.AccountCount)}, nil); err != nil {
			return err
		}
	}
	for _, c := range l.Cohorts {
		total, err := c.Cards.Add(c.Accounts)
		if err != nil {
			return err
		}
		if err := rw.write([]string{at, c.Currency.Code(), c.Class.String(), c.Month, amount(c.Cards), amount(c.Accounts),
			amount(total), "", ""}, nil); err != nil {
			return err
		}
	}
	return rw.close()
}

// WriteCohorts writes cohorts in format f. As CSV: one row per cohort and
// point of its curve, with the columns currency, class, month, cards,
// sold, redeemed, removed, expired, outstanding, months_since_issue,
// redeemed_to_date, share.
func WriteCohorts(w io.Writer, cohorts []Cohort, f Format) error {
	if f == JSON {
		if cohorts == nil {
			cohorts = []Cohort{}
		}
		return json.NewEncoder(w).Encode(cohorts)
	}
	rw, err := newRowWriter(w, f, []string{"currency", "class", "month", "cards", "sold", "redeemed", "removed", "expired",
		"outstanding", "months_since_issue", "redeemed_to_date", "share"})
	if err != nil {
		return err
	}
	for _, c := range cohorts {
		for _, p := range c.Curve {
			if err := rw.write([]string{c.Currency.Code(), c.Class.String(), c.Month, strconv.Itoa(c.Cards), amount(c.Sold),
				amount(c.Redeemed), amount(c.Removed), amount(c.Expired), amount(c.Outstanding), strconv.Itoa(p.Months),
				amount(p.Redeemed), p.Share}, nil); err != nil {
				return err
			}
		}
	}
	return rw.close()
}

// WriteDormancy writes the dormancy report (see [Service.Dormancy]) in
// format f as it reads the log. As CSV: the columns subject_kind,
// subject_id, currency, value, last_activity.
func (s *Service) WriteDormancy(ctx context.Context, w io.Writer, since, at time.Time, f Format) error {
	rw, err := newRowWriter(w, f, []string{"subject_kind", "subject_id", "currency", "value", "last_activity"})
	if err != nil {
		return err
	}
	err = s.Dormancy(ctx, since, at, func(d Dormant) error {
		return rw.write([]string{d.Subject.Kind.String(), cell(d.Subject.ID), d.Value.Currency().Code(), amount(d.Value), stamp(d.LastActivity)}, d)
	})
	if err != nil {
		return err
	}
	return rw.close()
}

// WriteActivity writes the records q selects in format f as it reads them.
// As CSV: the columns subject_kind, subject_id, currency, seq, at, kind,
// actor_kind, actor_id, reason, key, reference, amount, held, before,
// after, digest (the snapshot is left out: JSON keeps it, so that an
// export can be verified). Text a caller chose is escaped against formula
// injection: a field that starts with =, +, -, @, a tab or a carriage
// return gets a leading apostrophe.
func (s *Service) WriteActivity(ctx context.Context, w io.Writer, q activity.Query, f Format) error {
	rw, err := newRowWriter(w, f, []string{"subject_kind", "subject_id", "currency", "seq", "at", "kind", "actor_kind", "actor_id",
		"reason", "key", "reference", "amount", "held", "before", "after", "digest"})
	if err != nil {
		return err
	}
	for r, err := range s.Records(ctx, q) {
		if err != nil {
			return err
		}
		var cur string
		if r.Subject.Kind == activity.SubjectAccount {
			cur = r.Subject.Currency.Code()
		} else {
			cur = r.After.Currency().Code()
		}
		if err := rw.write([]string{r.Subject.Kind.String(), cell(r.Subject.ID), cur, strconv.FormatInt(r.Seq, 10), stamp(r.At),
			r.Kind.String(), r.Actor.Kind.String(), cell(r.Actor.ID), cell(r.Reason), cell(r.Key), cell(r.Reference), amount(r.Amount), amount(r.Held),
			amount(r.Before), amount(r.After), r.Digest.String()}, r); err != nil {
			return err
		}
	}
	return rw.close()
}
