package codefmt

import (
	"cmp"
	"slices"
	"strings"
)

// Withheld is what [Redact] returns for a text that holds a code it cannot
// place to mask (written in full-width characters, say).
const Withheld = "[withheld: holds an activation code]"

// Redact returns s with every activation code in it masked ([Code.Masked]),
// for a log line, an error message, a span attribute: s's masked code if s
// reads as one whole ([Parse]); else s with each window of 15 ASCII letters
// and digits, or of 4, 6 and 5 of them with a dash or a space between, that
// reads as a code replaced by its masked form, wherever it is (alone, or
// glued to other text, as a code a client put in an order ID), and each
// code split otherwise by spaces and dashes ("1WGJD KA95R 709VA"); or
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
// Redact), and codes split into runs of letters and digits in any grouping
// ("1WGJD KA95R 709VA", "1WG-JDK-A95-R70-9VA"): runs joined by one to three
// spaces or dashes whose letters and digits, 15 in all, read as a code.
func maskWindows(s string) string {
	type span struct {
		start, end int
		code       Code
	}
	var spans []span
	for i := 0; i+Len <= len(s); i++ {
		for _, n := range [...]int{Len + 2, Len} {
			if !codeShaped(s, i, n) {
				continue
			}
			if c, err := Parse(s[i : i+n]); err == nil {
				spans = append(spans, span{i, i + n, c})
			}
		}
	}
	runs := alnumRuns(s)
	var buf [Len]byte
	for i := range runs {
		n := 0
		for j := i; j < len(runs) && n+runs[j][1]-runs[j][0] <= Len; j++ {
			if j > i && !joiner(s[runs[j-1][1]:runs[j][0]]) {
				break
			}
			n += copy(buf[n:], s[runs[j][0]:runs[j][1]])
			if n == Len && j > i {
				if c, err := Parse(string(buf[:])); err == nil {
					spans = append(spans, span{runs[i][0], runs[j][1], c})
				}
			}
		}
	}
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		if k := len(merged) - 1; sp.start < merged[k].end { // overlapping windows are masked as one
			if sp.end > merged[k].end {
				merged[k].end, merged[k].code = sp.end, sp.code
			}
			continue
		}
		merged = append(merged, sp)
	}
	var b strings.Builder
	last := 0
	for _, sp := range merged {
		b.WriteString(s[last:sp.start])
		b.WriteString(sp.code.Masked())
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// alnumRuns returns the byte ranges of the maximal runs of ASCII letters
// and digits in s.
func alnumRuns(s string) [][2]int {
	var runs [][2]int
	for i := 0; i < len(s); {
		if !isAlnum(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isAlnum(s[j]) {
			j++
		}
		runs = append(runs, [2]int{i, j})
		i = j
	}
	return runs
}

// joiner reports whether sep, the text between two runs, is one to three
// spaces and dashes: what may split a code a shopper typed.
func joiner(sep string) bool {
	if len(sep) == 0 || len(sep) > 3 {
		return false
	}
	for i := 0; i < len(sep); i++ {
		if sep[i] != ' ' && sep[i] != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
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
		if !isAlnum(c) {
			return false
		}
	}
	return true
}
