package codefmt_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/giftkit/giftkit/codefmt"
)

// seeded returns a deterministic random source, so that every failure can be
// reproduced.
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range s {
		s[i] = byte(seed >> (8 * (i % 8)))
	}
	return rand.NewChaCha8(s)
}

func sampleCodes(t testing.TB, n int) []codefmt.Code {
	t.Helper()
	r := seeded(1)
	codes := make([]codefmt.Code, n)
	for i := range codes {
		c, err := codefmt.Generate(r)
		if err != nil {
			t.Fatal(err)
		}
		codes[i] = c
	}
	return codes
}

// compact returns the 15 characters of c without dashes.
func compact(c codefmt.Code) []byte {
	return []byte(strings.ReplaceAll(c.String(), "-", ""))
}

func TestEverySingleErrorIsDetectedAndCorrected(t *testing.T) {
	for _, c := range sampleCodes(t, 300) {
		orig := compact(c)
		for pos := 0; pos < codefmt.Len; pos++ {
			for _, sym := range []byte(codefmt.Alphabet) {
				if sym == orig[pos] {
					continue
				}
				typo := bytes.Clone(orig)
				typo[pos] = sym
				_, err := codefmt.Parse(string(typo))
				var pe *codefmt.ParseError
				if !errors.As(err, &pe) || !errors.Is(err, codefmt.ErrChecksum) {
					t.Fatalf("Parse(%s) error = %v; want ErrChecksum", typo, err)
				}
				if pe.Index != pos || pe.Offset != pos || pe.Rune != rune(sym) || pe.Hint != rune(orig[pos]) {
					t.Fatalf("Parse(%s): Index %d Offset %d Rune %q Hint %q; want %d %d %q %q",
						typo, pe.Index, pe.Offset, pe.Rune, pe.Hint, pos, pos, sym, orig[pos])
				}
				if len(pe.Suggestions) != 1 || pe.Suggestions[0] != c {
					t.Fatalf("Parse(%s).Suggestions = %v; want [%v]", typo, pe.Suggestions, c)
				}
			}
		}
	}
}

func TestEveryTranspositionIsDetected(t *testing.T) {
	for _, c := range sampleCodes(t, 300) {
		orig := compact(c)
		for i := 0; i < codefmt.Len; i++ {
			for j := i + 1; j < codefmt.Len; j++ {
				if orig[i] == orig[j] {
					continue
				}
				swapped := bytes.Clone(orig)
				swapped[i], swapped[j] = swapped[j], swapped[i]
				_, err := codefmt.Parse(string(swapped))
				if !errors.Is(err, codefmt.ErrChecksum) {
					t.Fatalf("Parse(%s) with %d and %d swapped: error = %v; want ErrChecksum", swapped, i, j, err)
				}
				var pe *codefmt.ParseError
				errors.As(err, &pe)
				if pe.Index >= 0 {
					t.Fatalf("Parse(%s): a swap was taken for a single error at %d", swapped, pe.Index)
				}
				if j == i+1 && !containsCode(pe.Suggestions, c) {
					t.Fatalf("Parse(%s): suggestions %v lack the unswapped %v", swapped, pe.Suggestions, c)
				}
			}
		}
	}
}

func containsCode(codes []codefmt.Code, c codefmt.Code) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// The code is linear, so whether an error pattern is detected does not depend
// on the code it hits; still, every pattern is tried on several codes.
func TestEveryPairOfWrongCharactersIsDetected(t *testing.T) {
	codes := sampleCodes(t, 4)
	if testing.Short() {
		codes = codes[:1]
	}
	for _, c := range codes {
		orig := compact(c)
		typo := bytes.Clone(orig)
		for i := 0; i < codefmt.Len; i++ {
			for j := i + 1; j < codefmt.Len; j++ {
				for _, a := range []byte(codefmt.Alphabet) {
					if a == orig[i] {
						continue
					}
					for _, b := range []byte(codefmt.Alphabet) {
						if b == orig[j] {
							continue
						}
						typo[i], typo[j] = a, b
						if _, err := codefmt.Parse(string(typo)); !errors.Is(err, codefmt.ErrChecksum) {
							t.Fatalf("Parse(%s), wrong at %d and %d: error = %v; want ErrChecksum", typo, i, j, err)
						}
					}
				}
				typo[i], typo[j] = orig[i], orig[j]
			}
		}
	}
}

func TestWrongLengthIsDetected(t *testing.T) {
	for _, c := range sampleCodes(t, 50) {
		orig := string(compact(c))
		for n := 0; n <= 40; n++ {
			if n == codefmt.Len {
				continue
			}
			in := strings.Repeat(orig, 3)[:n]
			want := codefmt.ErrLength
			if n == 0 {
				want = codefmt.ErrEmpty
			}
			_, err := codefmt.Parse(in)
			var pe *codefmt.ParseError
			if !errors.Is(err, want) || !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error = %v; want %v", in, err, want)
			}
			if n > 0 && pe.Length != n {
				t.Fatalf("Parse(%q).Length = %d; want %d", in, pe.Length, n)
			}
		}
		for pos := 0; pos < codefmt.Len; pos++ {
			deleted := orig[:pos] + orig[pos+1:]
			if _, err := codefmt.Parse(deleted); !errors.Is(err, codefmt.ErrLength) {
				t.Fatalf("Parse(%q) (character %d deleted) error = %v; want ErrLength", deleted, pos, err)
			}
			inserted := orig[:pos] + "7" + orig[pos:]
			if _, err := codefmt.Parse(inserted); !errors.Is(err, codefmt.ErrLength) {
				t.Fatalf("Parse(%q) (character inserted at %d) error = %v; want ErrLength", inserted, pos, err)
			}
		}
	}
}

// known is a fixed valid code used by the table tests.
var known = func() codefmt.Code {
	c, err := codefmt.Generate(bytes.NewReader([]byte{0x8a, 0x13, 0x5c, 0xe2, 0x07, 0x99, 0x41, 0xbe, 0x01}))
	if err != nil {
		panic(err)
	}
	return c
}()

func TestParseNormalisation(t *testing.T) {
	k := known.String() // e.g. "AB12-CDEFGH-JKMNP"
	g1, g2, g3 := k[:4], k[5:11], k[12:]
	flat := g1 + g2 + g3
	lower := strings.ToLower(k)
	fullWidth := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' {
				r += '０' - '0'
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	for name, in := range map[string]string{
		"canonical":                k,
		"lower case":               lower,
		"no dashes":                flat,
		"spaces":                   g1 + " " + g2 + " " + g3,
		"extra spaces":             "  " + g1 + "  " + g2 + "\t" + g3 + "\n",
		"dash per character":       strings.Join(strings.Split(flat, ""), "-"),
		"no-break space":           g1 + "\u00a0" + g2 + "\u202f" + g3,
		"ideographic space":        g1 + "\u3000" + g2 + "\u3000" + g3,
		"hyphen":                   g1 + "\u2010" + g2 + "\u2011" + g3,
		"figure and en dash":       g1 + "\u2012" + g2 + "\u2013" + g3,
		"em dash and bar":          g1 + "\u2014" + g2 + "\u2015" + g3,
		"minus sign":               g1 + "\u2212" + g2 + "\u2212" + g3,
		"small and full dashes":    g1 + "\ufe58" + g2 + "\ufe63" + g3 + "\uff0d",
		"soft hyphen":              g1 + "\u00ad" + g2 + "\u00ad" + g3,
		"zero-width":               "\ufeff" + g1 + "\u200b" + g2 + "\u200d" + g3 + "\u2060",
		"bidi marks":               "\u200e" + k + "\u200f",
		"full-width":               fullWidth(k),
		"full-width lower":         strings.ToLower(fullWidth(k)),
		"double quotes":            `"` + k + `"`,
		"curly quotes":             "“" + k + "”",
		"guillemets and full stop": "«" + k + "».",
		"parentheses":              "(" + k + ")!",
		"look-alikes":              lookAlikes(k),
	} {
		got, err := codefmt.Parse(in)
		if err != nil || got != known {
			t.Errorf("%s: Parse(%q) = %v, %v; want %v", name, in, got, err, known)
		}
	}
}

// lookAlikes spells the 0s of k as O and its 1s as l. The known code has a
// 0; TestLookAlikesMapToDigits covers every look-alike on codes made of them.
func lookAlikes(k string) string {
	r := strings.NewReplacer("0", "O", "1", "l")
	return r.Replace(k)
}

func TestLookAlikesMapToDigits(t *testing.T) {
	// Build a code that has 0s and 1s, then spell them with O, o, I, i, L, l.
	c, err := codefmt.Generate(bytes.NewReader(make([]byte, 9))) // all-zero data
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	if !strings.HasPrefix(s, "0000-") {
		t.Fatalf("all-zero data gave %s", s)
	}
	for _, alike := range []string{"OOOO", "oooo", "OoO0"} {
		if got, err := codefmt.Parse(alike + s[4:]); err != nil || got != c {
			t.Errorf("Parse(%q) = %v, %v; want %v", alike+s[4:], got, err, c)
		}
	}
	ones, err := codefmt.Generate(bytes.NewReader([]byte{0x21, 0x84, 0x10, 0x42, 0x08, 0x21, 0x84, 0x10, 0}))
	if err != nil {
		t.Fatal(err)
	}
	s = ones.String()
	if !strings.HasPrefix(s, "1111-") {
		t.Fatalf("data of ones gave %s", s)
	}
	for _, alike := range []string{"IIII", "iiii", "LLLL", "llll", "IlLi"} {
		if got, err := codefmt.Parse(alike + s[4:]); err != nil || got != ones {
			t.Errorf("Parse(%q) = %v, %v; want %v", alike+s[4:], got, err, ones)
		}
	}
}

func TestParseErrors(t *testing.T) {
	k := known.String()
	flat := strings.ReplaceAll(k, "-", "")
	withAt := func(s string, i int, r string) string { return s[:i] + r + s[i+1:] }
	for _, tc := range []struct {
		name string
		in   string
		want *codefmt.ParseError
	}{
		{"empty", "", &codefmt.ParseError{Offset: -1, Index: -1, Err: codefmt.ErrEmpty}},
		{"only separators", " - \u00a0-", &codefmt.ParseError{Offset: -1, Index: -1, Err: codefmt.ErrEmpty}},
		{"only quotes", `""`, &codefmt.ParseError{Offset: -1, Index: -1, Err: codefmt.ErrEmpty}},
		{"short", flat[:14], &codefmt.ParseError{Offset: -1, Index: -1, Length: 14, Err: codefmt.ErrLength}},
		{"long", flat + "0", &codefmt.ParseError{Offset: -1, Index: -1, Length: 16, Err: codefmt.ErrLength}},
		{"over 256 bytes", strings.Repeat(" ", 257), &codefmt.ParseError{Offset: -1, Index: -1, Length: -1, Err: codefmt.ErrLength}},
		{"U with hint from the check", withAt(flat, 6, "U"), &codefmt.ParseError{
			Offset: 6, Index: 6, Rune: 'U', Hint: rune(flat[6]), Length: 15, Suggestions: []codefmt.Code{known}, Err: codefmt.ErrInvalidChar}},
		{"u in a short code", "u" + flat[:10], &codefmt.ParseError{Offset: 0, Index: 0, Rune: 'u', Hint: 'V', Length: 11, Err: codefmt.ErrInvalidChar}},
		{"dotless i", withAt(flat, 3, "ı"), &codefmt.ParseError{
			Offset: 3, Index: 3, Rune: 'ı', Hint: rune(flat[3]), Length: 15, Suggestions: []codefmt.Code{known}, Err: codefmt.ErrInvalidChar}},
		{"accented letter after dash", k[:5] + "É" + k[6:], &codefmt.ParseError{
			Offset: 5, Index: 4, Rune: 'É', Hint: rune(flat[4]), Length: 15, Suggestions: []codefmt.Code{known}, Err: codefmt.ErrInvalidChar}},
		{"punctuation inside", flat[:4] + "." + flat[4:], &codefmt.ParseError{Offset: 4, Index: 4, Rune: '.', Length: 15, Err: codefmt.ErrInvalidChar}},
		{"control character", flat[:2] + "\x00" + flat[2:], &codefmt.ParseError{Offset: 2, Index: 2, Rune: 0, Length: 16, Err: codefmt.ErrInvalidChar}},
		{"invalid UTF-8", flat[:7] + "\xff" + flat[8:], &codefmt.ParseError{Offset: 7, Index: 7, Rune: '\uFFFD', Hint: rune(flat[7]), Length: 15, Suggestions: []codefmt.Code{known}, Err: codefmt.ErrInvalidChar}},
		{"two bad characters", "U" + flat[1:5] + "U" + flat[6:], &codefmt.ParseError{Offset: 0, Index: 0, Rune: 'U', Hint: 'V', Length: 15, Err: codefmt.ErrInvalidChar}},
	} {
		_, err := codefmt.Parse(tc.in)
		var got *codefmt.ParseError
		if !errors.As(err, &got) {
			t.Errorf("%s: Parse(%q) error = %v; want *ParseError", tc.name, tc.in, err)
			continue
		}
		if diff := cmp.Diff(*tc.want, *got, cmpopts.EquateErrors(), cmp.Comparer(func(a, b codefmt.Code) bool { return a == b })); diff != "" {
			t.Errorf("%s: Parse(%q) mismatch (-want +got):\n%s", tc.name, tc.in, diff)
		}
		if msg := err.Error(); strings.Contains(msg, flat) || strings.Contains(msg, k) {
			t.Errorf("%s: error message %q reveals the code", tc.name, msg)
		}
	}
}

func TestParseErrorMessages(t *testing.T) {
	flat := strings.ReplaceAll(known.String(), "-", "")
	typo := []byte(flat)
	typo[9] = map[bool]byte{true: 'Z', false: 'Y'}[typo[9] != 'Z']
	for in, want := range map[string]string{
		"":                       "codefmt: activation code is empty",
		flat[:3]:                 "codefmt: activation code has 3 characters; want 15",
		strings.Repeat("a", 300): "codefmt: input is longer than 256 bytes",
		"u" + flat[:3]:           `codefmt: invalid character 'u' at index 0 (byte 0); did you mean 'V'?`,
		string(typo): `codefmt: checksum mismatch: character '` + string(typo[9]) + `' at index 9 is probably wrong; did you mean '` +
			string(flat[9]) + `'?`,
	} {
		_, err := codefmt.Parse(in)
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q) error = %v; want %q", in, err, want)
		}
	}
}

func TestFormatting(t *testing.T) {
	c := known
	s := c.String()
	if len(s) != 17 || s[4] != '-' || s[11] != '-' {
		t.Fatalf("String() = %q; want XXXX-XXXXXX-XXXXX", s)
	}
	if want := "****-******-*" + s[13:]; c.Masked() != want {
		t.Errorf("Masked() = %q; want %q", c.Masked(), want)
	}
	if c.Suffix() != s[13:] {
		t.Errorf("Suffix() = %q; want %q", c.Suffix(), s[13:])
	}
	var zero codefmt.Code
	if zero.IsValid() || zero.String() != "" || zero.Masked() != "" || zero.Suffix() != "" {
		t.Errorf("zero Code: IsValid %v String %q Masked %q Suffix %q", zero.IsValid(), zero.String(), zero.Masked(), zero.Suffix())
	}
}

func TestMarshalling(t *testing.T) {
	type card struct {
		Code codefmt.Code `json:"code"`
	}
	data, err := json.Marshal(card{known})
	if err != nil || string(data) != `{"code":"`+known.String()+`"}` {
		t.Fatalf("Marshal = %s, %v", data, err)
	}
	var back card
	if err := json.Unmarshal(data, &back); err != nil || back.Code != known {
		t.Errorf("Unmarshal(%s) = %v, %v", data, back.Code, err)
	}
	messy := `{"code":"` + strings.ToLower(strings.ReplaceAll(known.String(), "-", " ")) + `"}`
	if err := json.Unmarshal([]byte(messy), &back); err != nil || back.Code != known {
		t.Errorf("Unmarshal(%s) = %v, %v", messy, back.Code, err)
	}
	bad := []byte(`{"code":"` + known.String()[:16] + `"}`)
	if err := json.Unmarshal(bad, &back); !errors.Is(err, codefmt.ErrLength) {
		t.Errorf("Unmarshal(%s) error = %v; want ErrLength", bad, err)
	}
	empty, _ := json.Marshal(card{})
	if string(empty) != `{"code":""}` {
		t.Errorf("Marshal(zero) = %s", empty)
	}
	back.Code = known
	if err := json.Unmarshal(empty, &back); err != nil || back.Code.IsValid() {
		t.Errorf("Unmarshal(%s) = %v, %v; want the zero Code", empty, back.Code, err)
	}
}

// TestGenerateDistribution checks with a chi-square test that every position
// of generated codes is uniform over the 32 symbols. The source is seeded, so
// the test is deterministic; the bound is the 99.99th percentile of the
// chi-square distribution with 31 degrees of freedom, and would catch a bias
// as small as a few percent on one symbol.
func TestGenerateDistribution(t *testing.T) {
	const n = 32 * 2000
	var counts [codefmt.Len][32]int
	r := seeded(42)
	for i := 0; i < n; i++ {
		c, err := codefmt.Generate(r)
		if err != nil {
			t.Fatal(err)
		}
		for pos, ch := range compact(c) {
			counts[pos][strings.IndexByte(codefmt.Alphabet, ch)]++
		}
	}
	const critical = 66.6 // chi-square, 31 degrees of freedom, p = 0.0001
	expected := float64(n) / 32
	for pos := range counts {
		chi := 0.0
		for _, got := range counts[pos] {
			d := float64(got) - expected
			chi += d * d / expected
		}
		if chi > critical {
			t.Errorf("position %d: chi-square %.1f > %.1f; counts %v", pos, chi, critical, counts[pos])
		}
	}
}

func TestGenerateUsesEveryBit(t *testing.T) {
	// Flipping any one of the 65 data bits must change the code: no bit is
	// wasted, so each character really carries five random bits.
	base := make([]byte, 9)
	c0, _ := codefmt.Generate(bytes.NewReader(base))
	seen := map[codefmt.Code]bool{c0: true}
	for bit := 0; bit < 65; bit++ {
		b := make([]byte, 9)
		b[bit/8] |= 1 << (bit % 8)
		c, err := codefmt.Generate(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if seen[c] {
			t.Errorf("bit %d does not change the code", bit)
		}
		seen[c] = true
	}
}

func TestGenerateErrors(t *testing.T) {
	boom := errors.New("boom")
	if _, err := codefmt.Generate(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("Generate(failing reader) error = %v; want %v", err, boom)
	}
	if _, err := codefmt.Generate(bytes.NewReader(make([]byte, 5))); err == nil {
		t.Error("Generate(short reader) succeeded")
	}
	c, err := codefmt.Generate(nil)
	if err != nil || !c.IsValid() {
		t.Errorf("Generate(nil) = %v, %v", c, err)
	}
	if _, err := codefmt.Parse(c.String()); err != nil {
		t.Errorf("Generate(nil) gave an invalid code: %v", err)
	}
}

func TestGenerateAvoiding(t *testing.T) {
	r := seeded(7)
	deny := []string{"A", "b"} // common enough to be rejected often
	for i := 0; i < 200; i++ {
		c, err := codefmt.GenerateAvoiding(r, deny)
		if err != nil {
			t.Fatal(err)
		}
		if s := c.String(); strings.ContainsAny(s, "AB") {
			t.Fatalf("GenerateAvoiding(%v) = %s", deny, s)
		}
	}
	// "oO" reads as "00", which every group of an all-zero code contains.
	if _, err := codefmt.GenerateAvoiding(bytes.NewReader(make([]byte, 9*64)), []string{"oO"}); !errors.Is(err, codefmt.ErrDenylist) {
		t.Errorf("GenerateAvoiding(zeros, [oO]) error = %v; want ErrDenylist", err)
	}
	if c, err := codefmt.GenerateAvoiding(seeded(8), codefmt.DefaultDenylist()); err != nil || !c.IsValid() {
		t.Errorf("GenerateAvoiding(default list) = %v, %v", c, err)
	}
}

func TestExtract(t *testing.T) {
	codes := sampleCodes(t, 3)
	a, b, c := codes[0], codes[1], codes[2]
	flatB := strings.ReplaceAll(b.String(), "-", "")
	spacedC := strings.ReplaceAll(strings.ToLower(c.String()), "-", " ")
	typo := []byte(a.String())
	typo[0] = map[bool]byte{true: 'Z', false: 'Y'}[typo[0] != 'Z']
	text := "Hello Ana,\n\nYour gift card code is " + a.String() + ".\n" +
		"Your second card: \"" + flatB + "\" and the third " + spacedC + "!\n" +
		"Repeated: " + a.String() + ". Not a code: " + string(typo) + ", ABCD-EFGHJK-MNPQRS, order 1234-567890-12345.\n"
	got := codefmt.Extract(text)
	want := []codefmt.Code{a, b, c}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y codefmt.Code) bool { return x == y })); diff != "" {
		t.Errorf("Extract mismatch (-want +got):\n%s", diff)
	}
	if got := codefmt.Extract("no codes here, just words and 12345"); len(got) != 0 {
		t.Errorf("Extract(plain text) = %v; want none", got)
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	canonical := known.String()
	messy := " \u00a0" + strings.ToLower(strings.ReplaceAll(canonical, "-", "\u2013")) + "\u200b. "
	bare := strings.ReplaceAll(canonical, "-", "")
	for name, in := range map[string]string{"canonical": canonical, "messy": messy, "no dashes": bare, "no dashes, lower": strings.ToLower(bare)} {
		if allocs := testing.AllocsPerRun(100, func() { _, _ = codefmt.Parse(in) }); allocs != 0 {
			t.Errorf("Parse(%s) allocates %v times; want 0", name, allocs)
		}
	}
}

// TestParseErrorSafeToLog checks that neither the message nor the JSON form
// of any ParseError holds a whole code, even when a suggestion is the real
// code: one wrong character, and two swapped ones.
func TestParseErrorSafeToLog(t *testing.T) {
	code, err := codefmt.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	real := code.String()
	typo := []byte(real)
	typo[6] = map[bool]byte{true: 'X', false: 'Y'}[typo[6] != 'X']
	swap := []byte(real)
	swap[7], swap[8] = swap[8], swap[7]
	for _, in := range []string{string(typo), string(swap), real[:10], real + "Z", "", real[:3] + "U" + real[4:]} {
		_, err := codefmt.Parse(in)
		var pe *codefmt.ParseError
		if !errors.As(err, &pe) {
			continue // a swap of two equal characters reads as the code
		}
		data, jerr := json.Marshal(pe)
		if jerr != nil {
			t.Fatalf("Marshal(%v): %v", pe, jerr)
		}
		for _, form := range []string{pe.Error(), string(data)} {
			if strings.Contains(form, real) || strings.Contains(form, strings.ReplaceAll(real, "-", "")) {
				t.Errorf("Parse(%q) error holds the whole code: %s", in, form)
			}
		}
	}
}

// TestFastPathAgrees: the forms the fast path takes (with or without
// dashes, either case) read as the general scanner reads them, and a
// mistyped one still gets the general scanner's diagnosis.
func TestFastPathAgrees(t *testing.T) {
	canonical := known.String()
	bare := strings.ReplaceAll(canonical, "-", "")
	for _, in := range []string{canonical, bare, strings.ToLower(bare), strings.ToLower(canonical), " " + bare} {
		got, err := codefmt.Parse(in)
		if err != nil || got != known {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, known)
		}
	}
	typo := []byte(bare)
	typo[3] = map[bool]byte{true: 'A', false: 'B'}[typo[3] == 'B']
	var pe *codefmt.ParseError
	if _, err := codefmt.Parse(string(typo)); !errors.As(err, &pe) || pe.Index != 3 || len(pe.Suggestions) == 0 || pe.Suggestions[0] != known {
		t.Errorf("Parse(typo) = %v; want a checksum error at 3 suggesting the code", err)
	}
}
