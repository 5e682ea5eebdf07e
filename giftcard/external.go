package giftcard

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"unicode/utf8"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/internal/errcode"
)

// This file is the one place the codes of imported cards are read: how an
// external code is normalised, hashed, and told apart from a native one.

// MaxExternalLen is the longest external code, in bytes after
// normalisation (see [NormalizeExternal]).
const MaxExternalLen = 255

// ErrExternalCode: an external code is empty, too long, holds a control
// character, or has the shape of a native code (see [NormalizeExternal]).
// Kind giftkit.ErrInvalid.
var ErrExternalCode = errcode.New(giftkit.ErrInvalid, "invalid external code")

// NormalizeExternal returns the canonical form of a code of another
// programme, the form its hash is taken of. The rule, applied the same way
// at import and every time a shopper types the code:
//
//   - ASCII spaces, tabs and hyphens are removed wherever they appear;
//   - ASCII letters are upper-cased; nothing else is changed;
//   - the result must be 1 to MaxExternalLen bytes of UTF-8 without control
//     characters.
//
// A code that reads as a native one, or as a native one with a character
// or two dropped or doubled, is refused ([LooksNative]: 13 to 17 ASCII
// letters and digits with at least one letter): a shopper who types such
// characters is taken to mean a native code, whose check characters catch
// a typo before any lookup, so such an imported code could never be found.
// Codes of digits alone (the 16- and 19-digit numbers of most card
// programmes) and codes of other lengths or with other characters import.
// It fails with an error wrapping [ErrExternalCode].
func NormalizeExternal(code string) (string, error) {
	if len(code) > 4*MaxExternalLen {
		return "", errExternal("longer than 255 characters")
	}
	var b strings.Builder
	b.Grow(len(code))
	for i := 0; i < len(code); {
		r, n := utf8.DecodeRuneInString(code[i:])
		i += n
		switch {
		case r == ' ' || r == '\t' || r == '-':
			continue
		case r == utf8.RuneError && n == 1:
			return "", errExternal("not UTF-8")
		case r < 0x20 || (r >= 0x7f && r < 0xa0):
			return "", errExternal("holds a control character")
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		b.WriteRune(r)
	}
	out := b.String()
	switch {
	case out == "":
		return "", errExternal("empty")
	case len(out) > MaxExternalLen:
		return "", errExternal("longer than 255 characters")
	case LooksNative(out):
		return "", errExternal("has the shape of a native code (13 to 17 letters and digits, not digits alone)")
	}
	return out, nil
}

// LooksNative reports whether input, once ASCII spaces and hyphens are
// removed, has the shape of a native code or of one mistyped with up to
// two characters dropped or added: 13 to 17 ASCII letters and digits, at
// least one a letter. Such input is read by codefmt.Parse, whose check
// characters name the typo, and is never looked up as an external code, so
// a typo never counts as a guess. (A native code is all digits with odds
// of about one in ten million, and codefmt reads that one as well.)
func LooksNative(input string) bool {
	n, letters := 0, 0
	for i := 0; i < len(input); i++ {
		switch c := input[i]; {
		case c == ' ' || c == '\t' || c == '-':
		case c >= '0' && c <= '9':
			n++
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			n, letters = n+1, letters+1
		default:
			return false
		}
	}
	return n == codefmt.Len || (n >= codefmt.Len-2 && n <= codefmt.Len+2 && letters > 0)
}

func errExternal(why string) error { return &externalError{why} }

type externalError struct{ why string }

func (e *externalError) Error() string { return "giftcard: external code " + e.why }
func (e *externalError) Unwrap() error { return ErrExternalCode }

// HashExternal returns the keyed hash of a normalised external code (see
// [NormalizeExternal]). It is domain-separated from [Hasher.Hash]: no
// external code can hash to a native code's hash.
func (h *Hasher) HashExternal(normalized string) Hash {
	mac := hmac.New(sha256.New, h.key)
	mac.Write([]byte("giftkit/external-code\x00"))
	mac.Write([]byte(normalized))
	var out Hash
	mac.Sum(out[:0])
	return out
}

// A CodeRef is a code as a shopper typed it, read: the hash to look its
// card up by and the masked form to name it by.
type CodeRef struct {
	Hash     Hash         // the keyed hash of the code's canonical form
	Code     codefmt.Code // the native code; zero for an external one
	External bool         // an imported card's code
	masked   string       // an external code, masked
}

// Masked returns the code with all but its last four characters hidden.
// A native code's is built when asked for, so reading a code costs nothing
// more than parsing and hashing it.
func (r CodeRef) Masked() string {
	if r.External {
		return r.masked
	}
	return r.Code.Masked()
}

// ReadCode reads a code as a shopper typed it. A code of the native format
// is parsed by codefmt.Parse: a typo is a *codefmt.ParseError, found by the
// check characters before anything is looked up. With external true, an
// input that does not have the native shape (see [LooksNative]) is read as
// an imported card's code instead ([NormalizeExternal]); with external
// false it is the ParseError.
func ReadCode(h *Hasher, input string, external bool) (CodeRef, error) {
	code, err := codefmt.Parse(input)
	if err == nil {
		return CodeRef{Hash: h.Hash(code), Code: code}, nil
	}
	if !external || LooksNative(input) {
		return CodeRef{}, err
	}
	norm, nerr := NormalizeExternal(input)
	if nerr != nil {
		return CodeRef{}, nerr
	}
	return CodeRef{Hash: h.HashExternal(norm), External: true, masked: "****" + suffix(norm)}, nil
}

// suffix returns the last four characters of a normalised code, or of a
// code shorter than eight its last half, so that what is shown never
// gives the whole code away.
func suffix(norm string) string {
	keep := min(4, utf8.RuneCountInString(norm)/2)
	n, i := 0, len(norm)
	for i > 0 && n < keep {
		_, size := utf8.DecodeLastRuneInString(norm[:i])
		i -= size
		n++
	}
	return norm[i:]
}
