// Command codes shows what a shopper sees of an activation code: a few new
// codes, messy input read correctly, and typos caught with a suggested fix.
//
//	go run ./examples/codes
//
// Its random source is fixed so that the output is the same on every run;
// a real issuer passes nil to codefmt.Generate, which uses crypto/rand.
package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/giftkit/giftkit/codefmt"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "codes:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	random := rand.NewChaCha8([32]byte{'g', 'i', 'f', 't', 'k', 'i', 't'})

	fmt.Fprintln(w, "New codes, as printed on cards (and as logged, masked):")
	var first codefmt.Code
	for i := 0; i < 3; i++ {
		code, err := codefmt.GenerateAvoiding(random, codefmt.DefaultDenylist())
		if err != nil {
			return err
		}
		if i == 0 {
			first = code
		}
		fmt.Fprintf(w, "  %s   %s\n", code, code.Masked())
	}

	canonical := first.String()
	typo := []byte(canonical)
	typo[7] = swapChar(typo[7])
	swapped := []byte(canonical)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	withU := []byte(canonical)
	withU[14] = 'U'

	fmt.Fprintln(w, "\nWhat shoppers type:")
	for _, input := range []string{
		lower(canonical[:4]) + " " + lower(canonical[5:11]) + " " + lower(canonical[12:]),
		"“" + canonical[:4] + canonical[5:11] + canonical[12:] + "”.",
		string(typo),
		string(swapped),
		string(withU),
		canonical[:16],
	} {
		fmt.Fprintf(w, "  %-22q -> %s\n", input, describe(input))
	}
	return nil
}

// describe reads one input as a redemption form would, and says what the
// shopper should be told.
func describe(input string) string {
	code, err := codefmt.Parse(input)
	if err == nil {
		return "ok, " + code.Masked()
	}
	var pe *codefmt.ParseError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	switch {
	case errors.Is(err, codefmt.ErrChecksum) && len(pe.Suggestions) == 1:
		return fmt.Sprintf("typo? did you mean %s", pe.Suggestions[0])
	case errors.Is(err, codefmt.ErrInvalidChar) && pe.Hint != 0:
		return fmt.Sprintf("%q is not used in codes; did you mean %q?", pe.Rune, pe.Hint)
	case errors.Is(err, codefmt.ErrLength):
		return fmt.Sprintf("a code has 15 characters; this has %d", pe.Length)
	}
	return err.Error()
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// swapChar returns another character of the alphabet, as a typo would.
func swapChar(c byte) byte {
	if c == 'X' {
		return 'Y'
	}
	return 'X'
}
