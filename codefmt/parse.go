package codefmt

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/giftkit/giftkit/internal/errcode"
)

// Errors that a [*ParseError] unwraps to. Each is of giftkit's kind
// giftkit.ErrInvalid: a code that does not read is the caller's to fix.
var (
	// ErrEmpty: the input holds no code characters at all.
	ErrEmpty = errcode.New(errcode.ErrInvalid, "activation code is empty")
	// ErrLength: the input holds more or fewer than 15 code characters, or is
	// longer than MaxInputLen bytes.
	ErrLength = errcode.New(errcode.ErrInvalid, "activation code has the wrong length")
	// ErrInvalidChar: a character that is not part of a code.
	ErrInvalidChar = errcode.New(errcode.ErrInvalid, "invalid character in activation code")
	// ErrChecksum: 15 valid characters that do not form a code; at least one
	// is mistyped.
	ErrChecksum = errcode.New(errcode.ErrInvalid, "activation code checksum mismatch")
)

// A ParseError describes input that [Parse] rejected. It unwraps to
// [ErrEmpty], [ErrLength], [ErrInvalidChar] or [ErrChecksum]. Its message
// and its JSON form never contain the input or a whole code (a suggestion
// for a one-typo input is the real code), so both are safe to log; a user
// interface that offers the suggestions reads them from Suggestions.
//
// The hints (Hint and Suggestions) are for a user interface to offer
// ("did you mean …?"); they must never be applied without the shopper's
// confirmation.
type ParseError struct {
	// Offset is the byte offset in the input of the offending character, or
	// -1 if no single character is at fault.
	Offset int
	// Index is the position (0–14) in the code of the offending character, or
	// -1 if no single position is at fault.
	Index int
	// Rune is the offending character as typed, or 0.
	Rune rune
	// Hint is the character that probably belongs at Index, or 0.
	Hint rune
	// Length is the number of code characters found in the input.
	Length int
	// Suggestions are valid codes the shopper probably meant: the code with
	// one character corrected, or with two neighbouring characters swapped.
	Suggestions []Code
	// Err is the sentinel error for the kind of failure.
	Err error
}

// Error returns the message of the ParseError.
func (e *ParseError) Error() string {
	msg := "codefmt: "
	switch {
	case e.Err == ErrLength && e.Length < 0:
		msg += "input is longer than " + strconv.Itoa(MaxInputLen) + " bytes"
	case e.Err == ErrLength:
		msg += "activation code has " + strconv.Itoa(e.Length) + " characters; want " + strconv.Itoa(Len)
	case e.Err == ErrInvalidChar:
		msg += fmt.Sprintf("invalid character %q at index %d (byte %d)", e.Rune, e.Index, e.Offset)
	case e.Err == ErrChecksum && e.Index >= 0:
		msg += fmt.Sprintf("checksum mismatch: character %q at index %d is probably wrong", e.Rune, e.Index)
	case e.Err == ErrChecksum && len(e.Suggestions) > 0:
		msg += "checksum mismatch: two neighbouring characters are probably swapped"
	case e.Err == ErrChecksum:
		msg += "checksum mismatch: more than one character is wrong"
	default:
		msg += e.Err.Error()
	}
	if e.Hint != 0 {
		msg += fmt.Sprintf("; did you mean %q?", e.Hint)
	}
	return msg
}

// Unwrap returns the error the ParseError wraps.
func (e *ParseError) Unwrap() error { return e.Err }

var parseErrorCodes = map[error]string{ErrEmpty: "empty", ErrLength: "length", ErrInvalidChar: "invalid_char", ErrChecksum: "checksum"}

// MarshalJSON encodes the error for logs and APIs: its kind as "error"
// ("empty", "length", "invalid_char" or "checksum"), the position, the
// characters and the length, and each suggestion masked
// ("****-******-*H567"), never whole.
func (e *ParseError) MarshalJSON() ([]byte, error) {
	out := struct {
		Error       string   `json:"error"`
		Offset      int      `json:"offset"`
		Index       int      `json:"index"`
		Rune        string   `json:"rune,omitempty"`
		Hint        string   `json:"hint,omitempty"`
		Length      int      `json:"length"`
		Suggestions []string `json:"suggestions,omitempty"`
		Message     string   `json:"message"`
	}{Error: parseErrorCodes[e.Err], Offset: e.Offset, Index: e.Index, Length: e.Length, Message: e.Error()}
	if e.Rune != 0 {
		out.Rune = string(e.Rune)
	}
	if e.Hint != 0 {
		out.Hint = string(e.Hint)
	}
	for _, c := range e.Suggestions {
		out.Suggestions = append(out.Suggestions, c.Masked())
	}
	return json.Marshal(out)
}

// Character classes of the ASCII table, for the allocation-free fast path.
// A value 0–31 is the character's value (lower case, O, I and L included).
const (
	clsIgnore  = -1 // spaces and dashes: dropped wherever they appear
	clsLetter  = -2 // letters and digits that no code contains (U)
	clsPunct   = -3 // trimmed around the code, invalid inside it
	clsInvalid = -4 // control characters: always invalid
)

var asciiClass = func() (t [utf8.RuneSelf]int8) {
	for i := range t {
		t[i] = clsInvalid
		switch r := rune(i); {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == '-':
			t[i] = clsIgnore
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			t[i] = clsPunct
		}
	}
	for v := 0; v < len(Alphabet); v++ {
		t[Alphabet[v]] = int8(v)
		t[Alphabet[v]|0x20] = int8(v) // lower case; the digits are unaffected
	}
	t['O'], t['o'] = 0, 0
	t['I'], t['i'], t['L'], t['l'] = 1, 1, 1, 1
	t['U'], t['u'] = clsLetter, clsLetter
	return t
}()

// classify returns the class of a rune, reading full-width letters and digits
// as their ASCII counterparts.
func classify(r rune) int8 {
	if r < utf8.RuneSelf {
		return asciiClass[r]
	}
	switch {
	case r >= '０' && r <= '９', r >= 'Ａ' && r <= 'Ｚ', r >= 'ａ' && r <= 'ｚ':
		return asciiClass[r-'０'+'0']
	case unicode.IsSpace(r), r == '\u2212', unicode.Is(unicode.Pd, r), unicode.Is(unicode.Cf, r):
		return clsIgnore // U+00AD and the zero-width characters are Cf
	case r == utf8.RuneError, unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsNumber(r), unicode.IsMark(r):
		return clsLetter
	case unicode.IsPunct(r), unicode.IsSymbol(r):
		return clsPunct
	}
	return clsInvalid
}

// Parse reads an activation code as a shopper types it, and returns it if it
// is valid. It is tolerant of everything that cannot change the meaning:
//
//   - case: ASCII letters are folded to upper case (no Unicode case folding,
//     which would read the Turkish ı as I);
//   - look-alikes: O reads as 0, I and L as 1;
//   - spaces (including no-break and ideographic), every Unicode dash and
//     invisible format characters (zero-width, soft hyphen, BOM) are dropped
//     wherever they appear;
//   - full-width letters and digits read as ASCII;
//   - quotes and punctuation around the code are trimmed.
//
// It is strict about everything else, returning a [*ParseError]: input over
// [MaxInputLen] bytes, any other character (inside the code), a count of code
// characters other than 15, or a failed check. A failed check names the likely
// wrong character and suggests the corrected code.
//
// Parse does not allocate unless it returns an error.
func Parse(s string) (Code, error) {
	// One function of some 70 lines on purpose: the scan below is a single
	// pass whose ten variables (values, offsets, the first bad character,
	// pending punctuation) together make the error it reports; split, they
	// would travel in a struct through every helper.
	if c, ok := parseCanonical(s); ok {
		return c, nil
	}
	if len(s) > MaxInputLen {
		return Code{}, &ParseError{Offset: -1, Index: -1, Length: -1, Err: ErrLength}
	}
	var (
		v       [Len]byte
		offsets [Len]int16
		n       int // code characters seen, valid or not
		bad     = -1
		badOff  int
		badRune rune
		nBad    int  // invalid characters that occupy a position
		punct   = -1 // offset of punctuation after the last code character
		punctR  rune
		punctN  int
	)
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		var cls int8
		if r < utf8.RuneSelf {
			cls = asciiClass[r] // the fast path: no call for ASCII
		} else {
			r, size = utf8.DecodeRuneInString(s[i:])
			cls = classify(r)
		}
		switch {
		case cls == clsIgnore:
		case cls == clsPunct:
			if n > 0 && punct < 0 {
				punct, punctR, punctN = i, r, n
			}
		default: // a character that takes a position in the code
			if punct >= 0 {
				// Punctuation inside the code: no position to repair.
				if bad < 0 {
					bad, badOff, badRune = punctN, punct, punctR
				}
				nBad += 2
				punct = -1
			}
			if cls < 0 {
				if bad < 0 {
					bad, badOff, badRune = n, i, r
				}
				nBad++
			} else if n < Len {
				v[n] = byte(cls)
				offsets[n] = int16(i)
			}
			n++
		}
		i += size
	}
	// An invalid character past the 15th is reported as a wrong length: the
	// input is too long whatever that character was meant to be.
	if bad >= 0 && bad < Len {
		return Code{}, invalidCharError(&v, n, nBad, bad, badOff, badRune)
	}
	switch {
	case n == 0:
		return Code{}, &ParseError{Offset: -1, Index: -1, Err: ErrEmpty}
	case n != Len:
		return Code{}, &ParseError{Offset: -1, Index: -1, Length: n, Err: ErrLength}
	}
	s0, s1 := syndromes(&v)
	if s0 != 0 || s1 != 0 {
		return Code{}, checksumError(&v, &offsets, s0, s1)
	}
	return fromValues(&v), nil
}

// fastValue maps the Alphabet's characters, upper or lower case, to their
// values and everything else to 0xFF.
var fastValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for v := 0; v < len(Alphabet); v++ {
		t[Alphabet[v]] = byte(v)
		t[unicode.ToLower(rune(Alphabet[v]))] = byte(v)
	}
	return t
}()

// parseCanonical accepts the two forms most input arrives in once a form
// has tidied it: XXXX-XXXXXX-XXXXX and the 15 characters without dashes,
// in upper or lower case, of a valid code. Any other input, valid or not,
// is left to the general scanner.
func parseCanonical(s string) (Code, bool) {
	var v [Len]byte
	var bad byte
	switch {
	case len(s) == Len:
		for i := range Len {
			v[i] = fastValue[s[i]]
			bad |= v[i]
		}
	case len(s) == Len+2 && s[4] == '-' && s[11] == '-':
		for i := range Len {
			v[i] = fastValue[s[i+(i+2)/6]] // skip the dash after 4 and after 10 characters
			bad |= v[i]
		}
	default:
		return Code{}, false
	}
	if bad&0xE0 != 0 {
		return Code{}, false
	}
	if s0, s1 := syndromes(&v); s0 != 0 || s1 != 0 {
		return Code{}, false
	}
	return fromValues(&v), true
}

// MustParse is like [Parse] but panics on error. It is meant for tests and
// examples with constant codes, never for user input.
func MustParse(s string) Code {
	c, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return c
}

// invalidCharError builds the error for an invalid character. When it is the
// only fault in an otherwise complete code, the check characters determine the
// missing value (an erasure), which becomes the hint.
func invalidCharError(v *[Len]byte, n, nBad, bad, off int, r rune) *ParseError {
	e := &ParseError{Offset: off, Index: bad, Rune: r, Length: n, Err: ErrInvalidChar}
	if nBad == 1 && n == Len {
		w := *v
		w[bad] = 0
		s0, _ := syndromes(&w)
		w[bad] = s0 // the value that makes Σvᵢ = 0
		if _, s1 := syndromes(&w); s1 == 0 {
			e.Hint = rune(Alphabet[s0])
			e.Suggestions = []Code{fromValues(&w)}
		}
	}
	if e.Hint == 0 && (r == 'U' || r == 'u') {
		e.Hint = 'V' // the alphabet leaves out U; V is the usual intent
	}
	return e
}

// checksumError explains a failed check: one wrong character (located and
// corrected by the syndromes), or two neighbouring characters swapped (a swap
// leaves S₀ = 0, so it is never mistaken for a single error).
func checksumError(v *[Len]byte, offsets *[Len]int16, s0, s1 byte) *ParseError {
	e := &ParseError{Offset: -1, Index: -1, Length: Len, Err: ErrChecksum}
	if pos, errVal, ok := correctSingle(s0, s1); ok {
		w := *v
		w[pos] ^= errVal
		e.Index, e.Offset = pos, int(offsets[pos])
		e.Rune, e.Hint = rune(Alphabet[v[pos]]), rune(Alphabet[w[pos]])
		e.Suggestions = []Code{fromValues(&w)}
		return e
	}
	for i := 0; i+1 < Len; i++ {
		if v[i] == v[i+1] {
			continue
		}
		w := *v
		w[i], w[i+1] = w[i+1], w[i]
		if a, b := syndromes(&w); a == 0 && b == 0 {
			e.Suggestions = append(e.Suggestions, fromValues(&w))
		}
	}
	return e
}
