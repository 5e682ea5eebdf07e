package codefmt_test

import (
	"strings"
	"testing"

	"github.com/giftkit/giftkit/codefmt"
)

func TestRedact(t *testing.T) {
	code := codefmt.MustParse("1G06-02M06R-1GGZ1")
	masked := code.Masked()
	bare := strings.ReplaceAll(code.String(), "-", "")
	// A prefix that makes a second code of its 4 characters and the
	// code's first 11: the two windows overlap.
	var overlap string
	for n := 0; overlap == "" && n < 32*32*32*32; n++ {
		x := string([]byte{codefmt.Alphabet[n%32], codefmt.Alphabet[n/32%32], codefmt.Alphabet[n/1024%32], codefmt.Alphabet[n/32768]})
		if _, err := codefmt.Parse(x + bare[:11]); err == nil {
			overlap = x
		}
	}
	if overlap == "" {
		t.Fatal("no prefix of 4 characters makes a code with the first 11 of the code")
	}
	const tag = "K9gGyX8OAK8aH8Myj6djqSaXI8jbj6xPk69x2xhtbpA" // a client's prefix glued to the code
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"no code here", "no code here"},
		{"card_13058df744c5eb520e4f", "card_13058df744c5eb520e4f"},
		{code.String(), masked},
		{" " + strings.ToLower(strings.ReplaceAll(code.String(), "-", " ")) + " ", masked},
		{"order " + code.String() + " failed", "order " + masked + " failed"},
		{"spaced " + strings.ReplaceAll(code.String(), "-", " "), "spaced " + masked},
		{"look-alikes 1GO6-O2M06R-1GGZ1.", "look-alikes " + masked + "."},
		{tag + strings.ToLower(bare), tag + masked},
		{"two " + bare + "/" + code.String(), "two " + masked + "/" + masked},
		{"ID-" + overlap + bare, "ID-" + masked},
		{"full-width １Ｇ０６-02M06R-1GGZ1", codefmt.Withheld},
		{"fives 1G060 2M06R 1GGZ1 ok", "fives " + masked + " ok"},
		{"1G06 - 02M06R - 1GGZ1", masked},
		{"threes: 1G0-602-M06-R1G-GZ1.", "threes: " + masked + "."},
		{"not split by a comma 1G06,02M06R,1GGZ1", "not split by a comma 1G06,02M06R,1GGZ1"},
	} {
		if got := codefmt.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzRedact checks that no code survives Redact: whatever the text,
// Extract finds no code in what Redact returns.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{"", "1G06-02M06R-1GGZ1", "order 1g0602m06r1ggz1!", "１Ｇ０６-02M06R-1GGZ1", "xx1G06 02M06R 1GGZ1yy"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := codefmt.Redact(s)
		if codes := codefmt.Extract(out); len(codes) > 0 {
			t.Fatalf("Redact(%q) = %q, which still holds %v", s, out, codes[0].Masked())
		}
	})
}
