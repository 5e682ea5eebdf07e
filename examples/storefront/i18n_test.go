package main

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
)

func TestMoney(t *testing.T) {
	jpy := giftkit.MustParseCurrency("JPY")
	chf := giftkit.MustParseCurrency("CHF")
	for _, tc := range []struct {
		m      giftkit.Money
		fr, en string
	}{
		{eur("0"), "0,00\u00a0€", "€0.00"},
		{eur("12.5"), "12,50\u00a0€", "€12.50"},
		{eur("999.99"), "999,99\u00a0€", "€999.99"},
		{eur("1234.5"), "1\u202f234,50\u00a0€", "€1,234.50"},
		{eur("-1234567.89"), "−1\u202f234\u202f567,89\u00a0€", "−€1,234,567.89"},
		{eur("-0.01"), "−0,01\u00a0€", "−€0.01"},
		{giftkit.MustParseMoney("1500", jpy), "1\u202f500\u00a0JPY", "1,500\u00a0JPY"},
		{giftkit.MustParseMoney("100000", chf), "100\u202f000,00\u00a0CHF", "100,000.00\u00a0CHF"},
		{giftkit.Money{}, "", ""},
	} {
		if got := (locale{Lang: langFR}).Money(tc.m); got != tc.fr {
			t.Errorf("fr Money(%v) = %q; want %q", tc.m, got, tc.fr)
		}
		if got := (locale{Lang: langEN}).Money(tc.m); got != tc.en {
			t.Errorf("en Money(%v) = %q; want %q", tc.m, got, tc.en)
		}
	}
	if got, want := (locale{Lang: langEN}).Signed(eur("25")), "+€25.00"; got != want {
		t.Errorf("Signed(25.00 EUR) = %q; want %q", got, want)
	}
	if got, want := (locale{Lang: langFR}).Signed(eur("-12.5")), "−12,50\u00a0€"; got != want {
		t.Errorf("Signed(-12.50 EUR) = %q; want %q", got, want)
	}
}

func TestDate(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 24, 9, 5, 0, 0, time.UTC)
	for lang, want := range map[string]string{langFR: "24 déc. 2026, 10:05", langEN: "24 Dec 2026, 10:05"} {
		if got := (locale{Lang: lang, zone: paris}).Date(at); got != want {
			t.Errorf("%s Date(%v) = %q; want %q", lang, at, got, want)
		}
	}
}

func TestLangOf(t *testing.T) {
	for accept, want := range map[string]string{"": "fr", "en": "en", "en-AU,fr;q=0.1": "en", "fr;q=0.5,en;q=0.9": "en", "it,pt": "fr", "*": "fr", "garbage;;q=x": "fr"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", accept)
		if got := langOf(r); got != want {
			t.Errorf("langOf(Accept-Language %q) = %q; want %q", accept, got, want)
		}
	}
}

// TestCheckTyped checks what the code field says as the shopper types.
func TestCheckTyped(t *testing.T) {
	code := codefmt.MustParse("5NP4-CC1DC9-XPZW3")
	en := locale{Lang: langEN}
	for _, tc := range []struct {
		typed string
		want  codeCheck
	}{
		{"", codeCheck{State: "empty"}},
		{"  - ", codeCheck{State: "empty"}},
		{"5np4", codeCheck{State: "partial", Message: "4 of 15 characters."}},
		{"5NP4-CC1DC9-XPZW", codeCheck{State: "partial", Message: "14 of 15 characters."}},
		{" 5np4 cc1dc9 xpzw3 ", codeCheck{State: "ok", Message: "The code is complete. You can apply it to your balance."}},
		{"5NP4-CCIDC9-XPZW3", codeCheck{State: "ok", Message: "The code is complete. You can apply it to your balance."}}, // I reads as 1
		{"5NU4", codeCheck{State: "invalid", Message: "Character 3, “U”, is never used in codes: it is probably “V”."}},
		{"5N!4", codeCheck{State: "invalid", Message: "Character 3, “!”, cannot be part of a code."}},
		{"5NP4-CC1DC9-XPZW33", codeCheck{State: "invalid", Message: "Too many characters: 16, and a code has 15."}},
		{"5NP4-CC1XC9-XPZW3", codeCheck{State: "invalid", Message: "Character 8, “X”, looks wrong: it is probably “D”.", Suggestion: code.String()}},
		{"5", codeCheck{State: "partial", Message: "1 of 15 characters."}},
		// Longer than codefmt.MaxInputLen: too long for Parse to count.
		{strings.Repeat("5NP4", 100), codeCheck{State: "invalid", Message: "Too many characters: a code has 15."}},
	} {
		got := checkTyped(en, tc.typed)
		if got != tc.want {
			t.Errorf("checkTyped(%q) = %+v; want %+v", tc.typed, got, tc.want)
		}
	}
	fr := locale{Lang: langFR}
	for typed, want := range map[string]string{
		"5NP4-CC1XC9-XPZW3":         "Le caractère 8, «\u00a0X\u00a0», semble erroné\u00a0: c'est sans doute «\u00a0D\u00a0».",
		"5":                         "1 caractère sur 15.",
		"5N":                        "2 caractères sur 15.",
		strings.Repeat("5NP4", 100): "Trop de caractères\u00a0: un code en a 15.",
	} {
		if got := checkTyped(fr, typed).Message; got != want {
			t.Errorf("in French, checkTyped(%.20q) = %q; want %q", typed, got, want)
		}
	}
	// The redeem form's messages, for a code sent as it is.
	for typed, want := range map[string]string{
		"5":                         "Le code est incomplet\u00a0: 1 caractère sur 15.",
		"5N":                        "Le code est incomplet\u00a0: 2 caractères sur 15.",
		strings.Repeat("5NP4", 100): "Trop de caractères\u00a0: un code en a 15.",
	} {
		var pe *codefmt.ParseError
		if _, err := codefmt.Parse(typed); !errors.As(err, &pe) {
			t.Fatalf("Parse(%.20q): %v; want a *ParseError", typed, err)
		}
		if got := problem(fr, pe); got != want {
			t.Errorf("in French, problem(%.20q) = %q; want %q", typed, got, want)
		}
	}
}
