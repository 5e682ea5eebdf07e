// Package text checks the identifiers and free text callers give: what every
// store can keep as text and every log can show on one line.
package text

import "unicode/utf8"

// Valid reports whether s is at most max bytes of UTF-8 without control
// characters.
func Valid(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
