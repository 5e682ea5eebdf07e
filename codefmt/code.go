package codefmt

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"github.com/giftkit/giftkit/internal/errcode"
)

const (
	// Len is the number of characters in a code, dashes excluded.
	Len = 15
	// dataLen is the number of random characters; the last two are checks.
	dataLen = 13
	// Alphabet is Crockford's base-32 alphabet, one character per value 0–31.
	Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	// MaxInputLen is the longest input, in bytes, that [Parse] reads; longer
	// input is rejected before it is scanned.
	MaxInputLen = 256
)

// groups is where the dashes go: XXXX-XXXXXX-XXXXX.
var groups = [3][2]int{{0, 4}, {4, 10}, {10, 15}}

// A Code is a valid activation code: 15 characters of [Alphabet] whose last
// two are check characters. Codes are comparable with ==, can be map keys,
// and are immutable.
//
// The zero Code is not a valid code: [Code.IsValid] reports false for it,
// [Code.String] returns "", and it marshals to empty text. Every Code returned
// by [Parse], [Generate] or [Extract] is valid.
type Code struct {
	c [Len]byte // ASCII characters of Alphabet; all zero for the zero Code
}

// IsValid reports whether c is a valid code rather than the zero Code.
func (c Code) IsValid() bool { return c.c[0] != 0 }

// String returns the code in its canonical form, XXXX-XXXXXX-XXXXX, or "" for
// the zero Code. It is the only method that reveals the whole code: log
// [Code.Masked] instead.
func (c Code) String() string {
	if !c.IsValid() {
		return ""
	}
	return string(c.appendGrouped(make([]byte, 0, Len+2)))
}

// AppendText appends the code's canonical form to b, as String returns it,
// without allocating when b has room (encoding.TextAppender).
func (c Code) AppendText(b []byte) ([]byte, error) {
	if !c.IsValid() {
		return b, nil
	}
	return c.appendGrouped(b), nil
}

func (c Code) appendGrouped(b []byte) []byte {
	for i, g := range groups {
		if i > 0 {
			b = append(b, '-')
		}
		b = append(b, c.c[g[0]:g[1]]...)
	}
	return b
}

// Masked returns the code with all but its last four characters hidden,
// ****-******-*H567, for logs, receipts and error messages. It returns "" for
// the zero Code.
func (c Code) Masked() string {
	if !c.IsValid() {
		return ""
	}
	return "****-******-*" + string(c.c[Len-4:])
}

// Suffix returns the last four characters, which stores keep for display.
func (c Code) Suffix() string {
	if !c.IsValid() {
		return ""
	}
	return string(c.c[Len-4:])
}

// MarshalText encodes the code in its canonical form; the zero Code encodes
// as empty text.
func (c Code) MarshalText() ([]byte, error) {
	if !c.IsValid() {
		return []byte{}, nil
	}
	return c.appendGrouped(make([]byte, 0, Len+2)), nil
}

// UnmarshalText decodes text with [Parse], so a code read from JSON or a
// database is validated again. Empty text decodes to the zero Code.
func (c *Code) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*c = Code{}
		return nil
	}
	parsed, err := Parse(string(text))
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}

func fromValues(v *[Len]byte) Code {
	var c Code
	for i, x := range v {
		c.c[i] = Alphabet[x]
	}
	return c
}

// ErrDenylist is returned by [GenerateAvoiding] when the denylist rejected so
// many codes in a row that the list, not chance, must be at fault.
var ErrDenylist = errcode.New(errcode.ErrInvalid, "denylist rejects almost every code")

// Generate returns a new random code. Its first 13 characters carry 65
// random bits read from r; each character takes exactly five bits, so every
// character is uniform over the alphabet, with no modulo bias. The last two
// are check characters. A nil r means crypto/rand, the right choice outside
// tests.
//
// It returns an error only if reading r fails.
func Generate(r io.Reader) (Code, error) {
	if r == nil {
		r = rand.Reader
	}
	var buf [RandomLen]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return Code{}, fmt.Errorf("codefmt: generate: read random source: %w", err)
	}
	return FromRandom(buf), nil
}

// RandomLen is the number of random bytes a code is made of: 72 bits, of
// which 65 are used.
const RandomLen = 9

// FromRandom returns the code that [Generate] makes of the random bytes buf.
// A caller that makes many codes reads their randomness at once and calls
// it for each, which allocates nothing (Generate's read through an
// io.Reader does).
func FromRandom(buf [RandomLen]byte) Code {
	var bits uint64
	for i := 0; i < 8; i++ {
		bits |= uint64(buf[i]) << (8 * i)
	}
	var v [Len]byte
	for i := 0; i < 12; i++ {
		v[i] = byte(bits>>(5*i)) & 31
	}
	v[12] = byte(bits>>60) | (buf[8]&1)<<4
	v[13], v[14] = checkSymbols(&v)
	return fromValues(&v)
}

// DefaultDenylist returns a small list of words that a shopper should not
// find spelled out in a gift card code. Letters that the alphabet lacks or
// reads as digits (I, L, O, U) are matched as [Parse] would read them.
func DefaultDenylist() []string {
	return []string{
		"ASS", "SEX", "FAG", "KKK", "NAZI", "SHIT", "DICK", "COCK", "TWAT", "PISS",
		"PENIS", "WANK", "BITCH", "PORN", "RAPE", "DAMN", "HELL", "SPERM", "SLAG", "HAG",
	}
}

// GenerateAvoiding is like [Generate] but draws again whenever a group of the
// code contains one of the denied words, so the codes it returns are uniform
// over the codes the list allows. Words are compared as [Parse] reads them
// (case-insensitive; O reads as 0, I and L as 1). It reads the list on
// every call: to draw many codes, compile it once with [NewDenylist].
//
// It returns an error wrapping [ErrDenylist] after 64 rejections in a row.
func GenerateAvoiding(r io.Reader, denied []string) (Code, error) {
	return NewDenylist(denied).Generate(r)
}

// A Denylist is a list of words no generated code may spell, read once as
// [Parse] reads text. Its zero value denies nothing. It is safe for
// concurrent use.
type Denylist struct {
	words  []string
	starts *[256 * 256 / 64]uint64 // the pairs of characters the words begin with; nil: a word of one character
}

// NewDenylist returns the Denylist of words (see [GenerateAvoiding]).
func NewDenylist(words []string) Denylist {
	d := Denylist{words: make([]string, 0, len(words)), starts: new([256 * 256 / 64]uint64)}
	for _, w := range words {
		n := normalizeWord(w)
		switch {
		case n == "":
			continue
		case len(n) == 1:
			d.starts = nil // every character may start a word: no filter
		case d.starts != nil:
			i := int(n[0])<<8 | int(n[1])
			d.starts[i/64] |= 1 << (i % 64)
		}
		d.words = append(d.words, n)
	}
	return d
}

// Denies reports whether a group of c spells one of d's words, as
// [Denylist.Generate] checks each code it draws. A group is compared word
// by word only if a pair of its characters begins one.
func (d Denylist) Denies(c Code) bool {
	if d.starts == nil {
		return c.containsAny(d.words)
	}
	for _, g := range groups {
		for i := g[0]; i+1 < g[1]; i++ {
			pair := int(c.c[i])<<8 | int(c.c[i+1])
			if d.starts[pair/64]&(1<<(pair%64)) != 0 && c.containsAny(d.words) {
				return true
			}
		}
	}
	return false
}

// Generate is like [Generate] but draws again whenever a group of the code
// contains one of d's words (see [GenerateAvoiding]). It returns an error
// wrapping [ErrDenylist] after 64 rejections in a row.
func (d Denylist) Generate(r io.Reader) (Code, error) {
	if r == nil {
		r = rand.Reader
	}
	for attempt := 0; attempt < 64; attempt++ {
		c, err := Generate(r)
		if err != nil {
			return Code{}, err
		}
		if !d.Denies(c) {
			return c, nil
		}
	}
	return Code{}, fmt.Errorf("codefmt: generate: %w", ErrDenylist)
}

func normalizeWord(w string) string {
	var b strings.Builder
	for i := 0; i < len(w); i++ {
		if v := asciiClass[w[i]]; v >= 0 {
			b.WriteByte(Alphabet[v])
		}
	}
	return b.String()
}

func (c Code) containsAny(words []string) bool {
	for _, g := range groups {
		group := string(c.c[g[0]:g[1]])
		for _, w := range words {
			if strings.Contains(group, w) {
				return true
			}
		}
	}
	return false
}
