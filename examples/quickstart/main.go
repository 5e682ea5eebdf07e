// Quickstart is the README's first program: a code generated, typed
// messily and with a typo, and money that never rounds.
package main

import (
	"errors"
	"fmt"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
)

func main() {
	code, _ := codefmt.Generate(nil) // crypto/rand
	fmt.Println("printed on the card:", code, "logged as:", code.Masked())

	typed, err := codefmt.Parse(" " + code.String()[:4] + " " + code.String()[5:] + " ")
	fmt.Println(typed == code, err) // true <nil>: spaces, case, dashes forgiven

	_, err = codefmt.Parse("1G06-02M06R-1GG21") // one character mistyped
	var pe *codefmt.ParseError
	if errors.As(err, &pe) && errors.Is(err, codefmt.ErrChecksum) {
		fmt.Println("did you mean", pe.Suggestions[0], "?")
	}

	balance := giftkit.MustParseMoney("20.00", giftkit.EUR)
	order, _ := giftkit.ParseMoney("12.50", giftkit.EUR)
	rest, _ := balance.Sub(order)
	fmt.Println(rest) // 7.50 EUR
}
