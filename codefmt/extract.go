package codefmt

import "unicode/utf8"

// Extract returns the valid codes found in text, such as an email body pasted
// whole, in order of first appearance and without repeats.
//
// A candidate is either one run of 15 letters and digits, or three runs of 4,
// 6 and 5 separated by a single dash or space each, the way codes are printed.
// Each candidate is read by [Parse], so case and look-alike characters are
// forgiven, and kept only if it passes the check; the 10-bit check keeps the
// chance that ordinary text passes for a code to about 1 in 1,000 per
// candidate, and the shapes above keep candidates rare.
func Extract(text string) []Code {
	type run struct{ start, end, chars int } // byte span and character count
	var runs []run
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !isWordRune(r) {
			i += size
			continue
		}
		start, chars := i, 0
		for i < len(text) {
			r, size := utf8.DecodeRuneInString(text[i:])
			if !isWordRune(r) {
				break
			}
			i += size
			chars++
		}
		runs = append(runs, run{start, i, chars})
	}

	var found []Code
	seen := make(map[Code]bool)
	add := func(s string) {
		if c, err := Parse(s); err == nil && !seen[c] {
			seen[c] = true
			found = append(found, c)
		}
	}
	separated := func(a, b run) bool { // one space or dash between two runs
		r, size := utf8.DecodeRuneInString(text[a.end:])
		return a.end+size == b.start && classify(r) == clsIgnore
	}
	for k, r := range runs {
		if r.chars == Len {
			add(text[r.start:r.end])
		}
		if k+2 < len(runs) && r.chars == 4 && runs[k+1].chars == 6 && runs[k+2].chars == 5 &&
			separated(r, runs[k+1]) && separated(runs[k+1], runs[k+2]) {
			add(text[r.start:runs[k+2].end])
		}
	}
	return found
}

// isWordRune reports whether r is a letter or digit that could belong to a
// code, including the full-width forms Parse accepts.
func isWordRune(r rune) bool {
	cls := classify(r)
	return cls >= 0 || cls == clsLetter
}
