package codefmt

import "strings"

// Withheld is what [Redact] returns for a text that holds a code it cannot
// place to mask (written in full-width characters, say).
const Withheld = "[withheld: holds an activation code]"

// Redact returns s with every activation code in it masked ([Code.Masked]),
// for a log line, an error message, a span attribute: s's masked code if s
// reads as one whole ([Parse]); else s with each window of 15 ASCII letters
// and digits, or of 4, 6 and 5 of them with a dash or a space between, that
// reads as a code replaced by its masked form, wherever it is (alone, or
// glued to other text, as a code a client put in an order ID); or
// [Withheld] if a code remains that no window covers ([Extract] finds it).
// Windows that overlap are masked as one.
//
// One text in 1,024 of the right shape passes the check by chance, so an
// unrelated identifier of 15 letters and digits is masked now and then:
// Redact errs on the side of the shopper.
func Redact(s string) string {
	if c, err := Parse(s); err == nil {
		return c.Masked()
	}
	out := maskWindows(s)
	if len(Extract(out)) > 0 || maskWindows(out) != out {
		return Withheld
	}
	return out
}

// maskWindows masks the code-shaped windows of s that read as codes (see
// Redact).
func maskWindows(s string) string {
	type span struct {
		start, end int
		code       Code // the code of the window that ends the span
	}
	var spans []span
	for i := 0; i+Len <= len(s); i++ {
		for _, n := range [...]int{Len + 2, Len} {
			if !codeShaped(s, i, n) {
				continue
			}
			c, err := Parse(s[i : i+n])
			if err != nil {
				continue
			}
			switch k := len(spans) - 1; {
			case k < 0 || i >= spans[k].end:
				spans = append(spans, span{i, i + n, c})
			case i+n > spans[k].end:
				spans[k].end, spans[k].code = i+n, c
			}
		}
	}
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString(sp.code.Masked())
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// codeShaped reports whether s[i:i+n] is 15 ASCII letters and digits, for
// n = 15, or 4, 6 and 5 of them with a dash or a space between, for n = 17.
func codeShaped(s string, i, n int) bool {
	if i+n > len(s) {
		return false
	}
	for j := 0; j < n; j++ {
		c := s[i+j]
		if n == Len+2 && (j == 4 || j == 11) {
			if c != '-' && c != ' ' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
