package lincheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// code names the outcome of err as the models see it: "" for nil, the
// package and stable code of a typed error, "parse" for a code that does
// not read, and Unknown for an error that wraps no kind of failure (the
// store's or the context's, injected or real) or an unanswered processor:
// the call may or may not have taken effect.
func code(err error) string {
	var (
		ge *giftcard.Error
		we *wallet.Error
		ce *checkout.Error
		pe *codefmt.ParseError
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, checkout.ErrProcessorUnavailable), giftkit.KindOf(err) == nil:
		return Unknown
	case errors.As(err, &pe):
		return "parse"
	case errors.As(err, &ge):
		return "giftcard." + ge.Code()
	case errors.As(err, &we):
		return "wallet." + we.Code()
	case errors.As(err, &ce):
		return "checkout." + ce.Code()
	}
	return "kind." + giftkit.KindOf(err).Error()
}

// outcomeOf starts the outcome of an attempt that returned err.
func outcomeOf(err error) Outcome {
	o := Outcome{Code: code(err)}
	if err != nil {
		o.Note = err.Error()
	}
	var ge *giftcard.Error
	if errors.As(err, &ge) {
		o.Same = ge.SameAccount
	}
	return o
}

// describe is the whole of an error as a retry must repeat it: its type,
// its message and its JSON form.
func describe(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("%T: %v", err, err)
	if data, jerr := json.Marshal(err); jerr == nil && string(data) != "{}" {
		s += " " + string(data)
	}
	return s
}

// digest joins the parts of an outcome a retry must repeat.
func digest(err error, parts ...any) string {
	return fmt.Sprint(parts...) + " | " + describe(err)
}

// entryHash extends the digest h of a journal by one entry, as History
// reads and the account model both compute it: every field but the time.
func entryHash(h uint64, seq int64, kind wallet.EntryKind, amount, held, balanceAfter, availableAfter int64, ref, key string) uint64 {
	f := fnv.New64a()
	fmt.Fprintf(f, "%d|%d|%s|%d|%d|%d|%d|%q|%q", h, seq, kind, amount, held, balanceAfter, availableAfter, ref, key)
	return f.Sum64()
}

// journalHash is the digest of a journal read by History.
func journalHash(entries []wallet.Entry) uint64 {
	var h uint64
	for _, e := range entries {
		h = entryHash(h, e.Seq, e.Kind, e.Amount.Minor(), e.Held.Minor(), e.BalanceAfter.Minor(), e.AvailableAfter.Minor(), e.Reference, e.Key)
	}
	return h
}
