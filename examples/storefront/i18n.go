package main

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/giftkit/giftkit"
	"golang.org/x/text/language"
)

// The shop speaks French, the seed's language and the default, and
// English. A reader's language is the one they chose with the switch (the
// lang cookie), else the best match of their Accept-Language, else French.
const (
	langFR = "fr"
	langEN = "en"
)

// langCookie keeps the language a reader chose with the switch.
const langCookie = "lang"

// supported are the shop's languages, French first: language.NewMatcher
// falls back on the first when nothing in Accept-Language matches.
var (
	supported = []string{langFR, langEN}
	matcher   = language.NewMatcher([]language.Tag{language.French, language.English})
)

// langOf is the language to answer r in: the lang cookie if it names one
// of ours, else the best match of Accept-Language (fr-CA is French, en-GB
// English, de French).
func langOf(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == langFR || c.Value == langEN) {
		return c.Value
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, _ := matcher.Match(tags...)
	return supported[i]
}

// A locale writes text, amounts and times for a reader in one language.
// Templates call its methods: {{.L.T "nav.shop"}}, {{.L.Money .Total}}.
type locale struct {
	Lang string         // "fr" or "en", also the page's lang attribute
	zone *time.Location // the shop's time zone, in which times are shown
}

// T returns the message key in the locale's language. A key that is not
// in the catalogue is shown as itself, so that a mistake shows on the page
// instead of an empty space (a test checks every key the templates use).
func (l locale) T(key string) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	if l.Lang == langEN {
		return m[1]
	}
	return m[0]
}

// Tf formats the message key, a fmt format, with args.
func (l locale) Tf(key string, args ...any) string { return fmt.Sprintf(l.T(key), args...) }

// Nf formats the message key, a fmt format, with the count n and args,
// in the singular (the message key+".one") if n calls for it in the
// locale's language: 0 and 1 in French ("1 caractère"), 1 in English.
func (l locale) Nf(key string, n int, args ...any) string {
	if n == 1 || n == 0 && l.Lang == langFR {
		key += ".one"
	}
	return l.Tf(key, append([]any{n}, args...)...)
}

// OtherLang is the language the switch offers, "en" or "fr".
func (l locale) OtherLang() string {
	if l.Lang == langEN {
		return langFR
	}
	return langEN
}

// OtherName is the name of the language the switch offers, written in
// itself.
func (l locale) OtherName() string {
	if l.Lang == langEN {
		return "Français"
	}
	return "English"
}

// Money writes an amount as a reader of the locale expects it: 1 234,50 €
// in French (a narrow no-break space between thousands, a no-break space
// before the symbol) and €1,234.50 in English, with a minus sign (U+2212)
// for a negative amount. It works on Money's exact decimal text, so
// nothing is rounded and no float is involved.
func (l locale) Money(m giftkit.Money) string {
	if !m.IsValid() {
		return ""
	}
	digits, neg := strings.CutPrefix(m.Amount(), "-")
	whole, frac, _ := strings.Cut(digits, ".")
	sym, prefix := currencySymbol(m.Currency())
	var b strings.Builder
	if neg {
		b.WriteString("−")
	}
	if l.Lang == langEN {
		if prefix {
			b.WriteString(sym)
		}
		b.WriteString(group(whole, ","))
		if frac != "" {
			b.WriteString("." + frac)
		}
		if !prefix {
			b.WriteString("\u00a0" + sym)
		}
		return b.String()
	}
	b.WriteString(group(whole, "\u202f"))
	if frac != "" {
		b.WriteString("," + frac)
	}
	b.WriteString("\u00a0" + sym)
	return b.String()
}

// Signed is Money with a plus sign before a positive amount, for the
// lines of a statement.
func (l locale) Signed(m giftkit.Money) string {
	if m.IsPositive() {
		return "+" + l.Money(m)
	}
	return l.Money(m)
}

// Date writes t in the shop's time zone: "24 déc. 2026, 10:15" in French,
// "24 Dec 2026, 10:15" in English (day first, 24-hour clock, as in
// Britain and Ireland).
func (l locale) Date(t time.Time) string {
	t = t.In(l.zone)
	months := monthsEN
	if l.Lang == langFR {
		months = monthsFR
	}
	return fmt.Sprintf("%d %s %d, %02d:%02d", t.Day(), months[t.Month()-1], t.Year(), t.Hour(), t.Minute())
}

var (
	monthsFR = [12]string{"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."}
	monthsEN = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// currencySymbol is how amounts in c are marked, and whether English
// writes the mark before the number; a currency without a symbol here is
// written by its ISO code, after the number.
func currencySymbol(c giftkit.Currency) (sym string, prefix bool) {
	switch c.Code() {
	case "EUR":
		return "€", true
	case "GBP":
		return "£", true
	case "USD":
		return "$", true
	}
	return c.Code(), false
}

// group puts sep between each group of three digits of whole, from the
// right.
func group(whole, sep string) string {
	if len(whole) <= 3 {
		return whole
	}
	var b strings.Builder
	first := len(whole) % 3
	if first > 0 {
		b.WriteString(whole[:first])
	}
	for i := first; i < len(whole); i += 3 {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(whole[i : i+3])
	}
	return b.String()
}
