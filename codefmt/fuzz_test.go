package codefmt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/giftkit/giftkit/codefmt"
)

// FuzzParse checks that Parse never panics, that every error is a
// *ParseError with positions inside the input, that an accepted input formats
// to a canonical code which parses back to itself, and that suggestions are
// valid codes. The seeds in testdata/fuzz/FuzzParse and below are inputs real
// shoppers produce: pasted, lower-cased, spaced, full-width, with typos.
func FuzzParse(f *testing.F) {
	k := known.String()
	for _, seed := range []string{
		k,
		strings.ToLower(k),
		strings.ReplaceAll(k, "-", ""),
		strings.ReplaceAll(k, "-", " "),
		"“" + k + "”.",
		"\u00a0" + strings.ReplaceAll(k, "-", "\u2013") + "\u200b",
		"ＡＢＣＤ－ＥＦＧＨＪＫ－ＭＮＰＱＲ",
		"abcu-efghjk-mnpqr",
		k[:16],
		k + "X",
		"",
		"ı",
		"\xff\xfe",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := codefmt.Parse(in)
		if err != nil {
			var pe *codefmt.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T is not *ParseError", in, err)
			}
			if pe.Offset >= len(in) || pe.Index >= codefmt.Len {
				t.Fatalf("Parse(%q): Offset %d, Index %d out of range", in, pe.Offset, pe.Index)
			}
			for _, s := range pe.Suggestions {
				if _, err := codefmt.Parse(s.String()); err != nil {
					t.Fatalf("Parse(%q) suggested %v, which is invalid: %v", in, s, err)
				}
			}
			if c.IsValid() {
				t.Fatalf("Parse(%q) returned a valid code with an error", in)
			}
			return
		}
		s := c.String()
		if len(s) != codefmt.Len+2 || s[4] != '-' || s[11] != '-' {
			t.Fatalf("Parse(%q).String() = %q; not canonical", in, s)
		}
		again, err := codefmt.Parse(s)
		if err != nil || again != c {
			t.Fatalf("Parse(%q) = %v, %v; want %v", s, again, err, c)
		}
	})
}
