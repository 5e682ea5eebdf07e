package main

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/giftkit/giftkit/codefmt"
)

// A codeCheck is what the code field says about what the shopper has typed
// so far: the live check's answer (POST /giftcards/check), and, for a code
// that does not read, the redeem form's error.
type codeCheck struct {
	// State is "empty" (nothing typed), "partial" (fewer than 15
	// characters, none wrong so far), "ok" (a code that reads) or
	// "invalid" (a character that is never in a code, too many
	// characters, or 15 that do not add up).
	State   string `json:"state"`
	Message string `json:"message,omitempty"` // for the shopper, in their language
	// Suggestion is the code the shopper probably meant, when one
	// character is wrong or two neighbours are swapped: offered, never
	// applied without the shopper's say.
	Suggestion string `json:"suggestion,omitempty"`
}

// checkTyped reads typed as codefmt.Parse does, forgiving what it forgives
// (case, spaces, dashes, O for 0, I and L for 1), and says what is wrong in
// l's language: which character, and what it probably is. It is pure
// computation on what the shopper typed: the check characters catch a typo
// without looking anything up, so a check never counts as a guess and
// tells nothing about which cards exist.
func checkTyped(l locale, typed string) codeCheck {
	_, err := codefmt.Parse(typed)
	if err == nil {
		return codeCheck{State: "ok", Message: l.T("code.ok")}
	}
	var pe *codefmt.ParseError
	if !errors.As(err, &pe) {
		return codeCheck{State: "invalid", Message: l.T("code.unreadable")}
	}
	switch {
	case errors.Is(err, codefmt.ErrEmpty):
		return codeCheck{State: "empty"}
	case errors.Is(err, codefmt.ErrLength) && short(pe):
		return codeCheck{State: "partial", Message: l.Nf("code.partial", pe.Length, codefmt.Len)}
	}
	return codeCheck{State: "invalid", Message: problem(l, pe), Suggestion: suggestion(pe)}
}

// problem says what is wrong with a code that does not read, counting
// characters from 1 as people do.
func problem(l locale, pe *codefmt.ParseError) string {
	switch {
	case errors.Is(pe, codefmt.ErrEmpty):
		return l.T("code.empty")
	case errors.Is(pe, codefmt.ErrLength) && short(pe):
		return l.Nf("code.short", pe.Length, codefmt.Len)
	case errors.Is(pe, codefmt.ErrLength) && pe.Length < 0: // longer than codefmt.MaxInputLen: not counted
		return l.Tf("code.toolong", codefmt.Len)
	case errors.Is(pe, codefmt.ErrLength):
		return l.Tf("code.long", pe.Length, codefmt.Len)
	case errors.Is(pe, codefmt.ErrInvalidChar) && pe.Index >= 0 && pe.Hint != 0:
		return l.Tf("code.char.hint", pe.Index+1, pe.Rune, pe.Hint)
	case errors.Is(pe, codefmt.ErrInvalidChar) && pe.Index >= 0:
		return l.Tf("code.char", pe.Index+1, pe.Rune)
	case errors.Is(pe, codefmt.ErrInvalidChar):
		return l.Tf("code.char.somewhere", pe.Rune)
	case errors.Is(pe, codefmt.ErrChecksum) && pe.Index >= 0 && pe.Hint != 0:
		return l.Tf("code.typo", pe.Index+1, pe.Rune, pe.Hint)
	}
	return l.T("code.checksum")
}

// short reports whether a code with a length error has too few
// characters. Its Length is negative when the input is too long for Parse
// to count them (codefmt.MaxInputLen).
func short(pe *codefmt.ParseError) bool { return pe.Length >= 0 && pe.Length < codefmt.Len }

// suggestion is the one code the shopper probably meant, or "" if there is
// none or more than one.
func suggestion(pe *codefmt.ParseError) string {
	if len(pe.Suggestions) != 1 {
		return ""
	}
	return pe.Suggestions[0].String()
}

// checkCode answers the code field's live check: the form's code as typed
// so far, with the session's CSRF token, in a POST body, so that no code
// is ever in a URL (or in the access logs that keep URLs). Nothing is
// logged but the route.
func (s *server) checkCode(w http.ResponseWriter, r *http.Request, _ session) {
	check := checkTyped(s.locale(r), r.PostFormValue("code"))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(check)
}
