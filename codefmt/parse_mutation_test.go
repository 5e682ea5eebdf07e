package codefmt_test

// Tests that pin down behaviour the rest of the suite left open, each found
// by a mutant that survived it (scripts/mutation).

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/giftkit/giftkit/codefmt"
)

// TestParseEdgeInput covers the edges of the scanner: the longest input it
// reads, the first byte and the first rune past ASCII, an invalid character
// followed by punctuation inside the code, and a swap (no single character at
// fault, so no offset).
func TestParseEdgeInput(t *testing.T) {
	k := known.String()
	flat := strings.ReplaceAll(k, "-", "")
	swapped := flat[:7] + flat[8:9] + flat[7:8] + flat[9:]
	if swapped == flat {
		t.Fatal("known has two equal neighbours at 7 and 8; pick another pair")
	}
	equate := cmp.Options{cmpopts.EquateErrors(), cmp.Comparer(func(a, b codefmt.Code) bool { return a == b })}

	padded := strings.Repeat(" ", codefmt.MaxInputLen-len(k)) + k
	if got, err := codefmt.Parse(padded); err != nil || got != known {
		t.Errorf("Parse(%d bytes holding the code) = %v, %v; want %v", len(padded), got, err, known)
	}

	for _, tc := range []struct {
		name string
		in   string
		want *codefmt.ParseError
	}{
		{"byte 0x80", flat[:5] + "\x80" + flat[6:], &codefmt.ParseError{
			Offset: 5, Index: 5, Rune: '\uFFFD', Hint: rune(flat[5]), Length: 15, Suggestions: []codefmt.Code{known}, Err: codefmt.ErrInvalidChar}},
		{"rune U+0080", flat[:3] + "\u0080" + flat[3:], &codefmt.ParseError{
			Offset: 3, Index: 3, Rune: '\u0080', Length: 16, Err: codefmt.ErrInvalidChar}},
		{"first character invalid, punctuation later", "U" + flat[1:4] + "!" + flat[4:], &codefmt.ParseError{
			Offset: 0, Index: 0, Rune: 'U', Hint: 'V', Length: 15, Err: codefmt.ErrInvalidChar}},
		{"two neighbours swapped", swapped, &codefmt.ParseError{
			Offset: -1, Index: -1, Length: 15, Suggestions: []codefmt.Code{known}, Err: codefmt.ErrChecksum}},
	} {
		_, err := codefmt.Parse(tc.in)
		var got *codefmt.ParseError
		if !errors.As(err, &got) {
			t.Errorf("%s: Parse(%q) error = %v; want *ParseError", tc.name, tc.in, err)
			continue
		}
		if diff := cmp.Diff(*tc.want, *got, equate); diff != "" {
			t.Errorf("%s: Parse(%q) mismatch (-want +got):\n%s", tc.name, tc.in, diff)
		}
	}
}

// TestParseInvalidBytesThatCancelOut: the 15-character fast path must not
// read bytes outside the alphabet as values, even when those values would
// pass the check. "!!" in place of "ZZ" at the start of a valid code is
// punctuation around 13 characters.
func TestParseInvalidBytesThatCancelOut(t *testing.T) {
	var zz string
	for _, a := range codefmt.Alphabet {
		for _, b := range codefmt.Alphabet {
			s := "ZZ0123456789A" + string(a) + string(b)
			if _, err := codefmt.Parse(s); err == nil {
				zz = s
			}
		}
	}
	if zz == "" {
		t.Fatal("no valid code starts ZZ0123456789A")
	}
	in := "!!" + zz[2:]
	_, err := codefmt.Parse(in)
	var pe *codefmt.ParseError
	if !errors.As(err, &pe) || pe.Err != codefmt.ErrLength || pe.Length != 13 {
		t.Errorf("Parse(%q) = %v; want ErrLength with 13 characters", in, err)
	}
}

// TestParseErrorJSONFields: the offending character and the hint appear in
// the JSON form when there are some, and only then.
func TestParseErrorJSONFields(t *testing.T) {
	flat := strings.ReplaceAll(known.String(), "-", "")
	for _, tc := range []struct {
		in   string
		want map[string]any
	}{
		{"u" + flat[:3], map[string]any{"error": "invalid_char", "rune": "u", "hint": "V", "offset": 0.0, "index": 0.0, "length": 4.0}},
		{flat[:3], map[string]any{"error": "length", "offset": -1.0, "index": -1.0, "length": 3.0}},
	} {
		_, err := codefmt.Parse(tc.in)
		data, jerr := json.Marshal(err)
		if jerr != nil {
			t.Fatalf("Marshal(%v): %v", err, jerr)
		}
		var got map[string]any
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		delete(got, "message")
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Parse(%q) error as JSON mismatch (-want +got):\n%s", tc.in, diff)
		}
	}
}

// TestExtractShapeAtEnd: text that ends in the first groups of a printed
// code (4 then 6 characters) holds no code.
func TestExtractShapeAtEnd(t *testing.T) {
	for _, text := range []string{"ABCD EFGHJK", "ABCD-EFGHJK", known.String() + " and WXYZ-ABCDEF"} {
		got := codefmt.Extract(text)
		var want []codefmt.Code
		if strings.HasPrefix(text, known.String()) {
			want = []codefmt.Code{known}
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b codefmt.Code) bool { return a == b })); diff != "" {
			t.Errorf("Extract(%q) mismatch (-want +got):\n%s", text, diff)
		}
	}
}

// Sinks keep the compiler from discarding what the allocation tests measure.
var (
	sinkString string
	sinkBytes  []byte
)

// TestFormattingAllocatesOnce: String and MarshalText size their buffer for
// the grouped form, so each allocates only the result.
func TestFormattingAllocatesOnce(t *testing.T) {
	for name, f := range map[string]func(){
		"String":      func() { sinkString = known.String() },
		"MarshalText": func() { sinkBytes, _ = known.MarshalText() },
	} {
		if allocs := testing.AllocsPerRun(100, f); allocs != 1 {
			t.Errorf("%s allocates %v times; want 1", name, allocs)
		}
	}
}

// TestChecksumErrorMessages: the message of a failed check matches what the
// error knows: the character at fault (at any index, 0 included), a swap of
// neighbours, or more than one wrong character. Every kind is met.
func TestChecksumErrorMessages(t *testing.T) {
	flat := []byte(strings.ReplaceAll(known.String(), "-", ""))
	var inputs []string
	for i := range flat {
		for _, c := range []byte("0Z") {
			typo := append([]byte(nil), flat...)
			if typo[i] != c {
				typo[i] = c
				inputs = append(inputs, string(typo))
			}
			for j := i + 2; j < len(flat); j++ { // two wrong characters
				two := append([]byte(nil), typo...)
				two[j] = map[bool]byte{true: 'A', false: 'B'}[two[j] != 'A']
				inputs = append(inputs, string(two))
			}
		}
		if i+1 < len(flat) && flat[i] != flat[i+1] {
			swap := append([]byte(nil), flat...)
			swap[i], swap[i+1] = swap[i+1], swap[i]
			inputs = append(inputs, string(swap))
		}
	}
	seen := map[string]bool{}
	for _, in := range inputs {
		_, err := codefmt.Parse(in)
		var pe *codefmt.ParseError
		if !errors.As(err, &pe) || pe.Err != codefmt.ErrChecksum {
			continue
		}
		var kind, want string
		switch {
		case pe.Index >= 0:
			kind, want = "one", "codefmt: checksum mismatch: character "+strconv.QuoteRune(pe.Rune)+" at index "+strconv.Itoa(pe.Index)+" is probably wrong; did you mean "+strconv.QuoteRune(pe.Hint)+"?"
			if pe.Index == 0 {
				kind = "one at 0"
			}
		case len(pe.Suggestions) > 0:
			kind, want = "swap", "codefmt: checksum mismatch: two neighbouring characters are probably swapped"
		default:
			kind, want = "many", "codefmt: checksum mismatch: more than one character is wrong"
		}
		seen[kind] = true
		if got := pe.Error(); got != want {
			t.Errorf("Parse(%q) error = %q; want %q", in, got, want)
		}
	}
	for _, kind := range []string{"one", "one at 0", "swap", "many"} {
		if !seen[kind] {
			t.Errorf("no input gave a checksum error of kind %q", kind)
		}
	}
}

// TestParseFullWidthEnds: full-width digits and letters read as ASCII, the
// ends of each range (０ ９ Ａ Ｚ ａ ｚ) included.
func TestParseFullWidthEnds(t *testing.T) {
	var code codefmt.Code
	for _, c := range sampleCodes(t, 500) {
		if s := c.String(); strings.ContainsRune(s, '9') && strings.ContainsRune(s, '0') && strings.ContainsRune(s, 'Z') && strings.ContainsRune(s, 'A') {
			code = c
			break
		}
	}
	if !code.IsValid() {
		t.Fatal("no sample code holds 0, 9, A and Z")
	}
	wide := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r > ' ' && r < 0x7F {
				return r + 0xFEE0
			}
			return r
		}, s)
	}
	for _, in := range []string{wide(code.String()), wide(strings.ToLower(code.String()))} {
		if got, err := codefmt.Parse(in); err != nil || got != code {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, code)
		}
	}
}

// TestParseDashedShapes: input shaped like the printed form but holding 16
// code characters, or only 11, is the wrong length whatever the dashes.
func TestParseDashedShapes(t *testing.T) {
	flat := strings.ReplaceAll(known.String(), "-", "")
	for in, n := range map[string]int{
		flat[:4] + "0" + flat[4:10] + "-" + flat[10:]:   16,
		flat[:4] + "-" + flat[4:10] + "0" + flat[10:]:   16,
		flat[:4] + "-" + flat[4:10] + "-" + flat[10:11]: 11,
	} {
		_, err := codefmt.Parse(in)
		var pe *codefmt.ParseError
		if !errors.As(err, &pe) || pe.Err != codefmt.ErrLength || pe.Length != n {
			t.Errorf("Parse(%q) = %v; want ErrLength with %d characters", in, err, n)
		}
	}
}

func TestMustParse(t *testing.T) {
	if got := codefmt.MustParse(known.String()); got != known {
		t.Errorf("MustParse(%q) = %v", known.String(), got)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParse(invalid) did not panic")
		}
	}()
	codefmt.MustParse("not a code")
}
