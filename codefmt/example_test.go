package codefmt_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/giftkit/giftkit/codefmt"
)

// A fixed random source keeps the example's output stable; production code
// passes nil to use crypto/rand.
func ExampleGenerate() {
	code, err := codefmt.Generate(bytes.NewReader([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}))
	if err != nil {
		panic(err)
	}
	fmt.Println(code)
	fmt.Println(code.Masked())
	// Output:
	// 1G06-02M06R-1GGZ1
	// ****-******-*GGZ1
}

func ExampleParse() {
	// Shoppers type codes in lower case, with spaces, and with O for 0.
	code, err := codefmt.Parse("  1go6 o2m06r 1ggz1 ")
	fmt.Println(code, err)
	// Output:
	// 1G06-02M06R-1GGZ1 <nil>
}

func ExampleParse_typo() {
	_, err := codefmt.Parse("1G06-02M06R-1GG21") // Z mistyped as 2
	fmt.Println(err)

	var pe *codefmt.ParseError
	if errors.As(err, &pe) && errors.Is(err, codefmt.ErrChecksum) {
		fmt.Printf("check character %d; did you mean %v?\n", pe.Index+1, pe.Suggestions[0])
	}
	// Output:
	// codefmt: checksum mismatch: character '2' at index 13 is probably wrong; did you mean 'Z'?
	// check character 14; did you mean 1G06-02M06R-1GGZ1?
}

func ExampleParse_letterU() {
	_, err := codefmt.Parse("1G06-02M06R-1GGU1")
	fmt.Println(err)
	// Output:
	// codefmt: invalid character 'U' at index 13 (byte 15); did you mean 'Z'?
}

func ExampleExtract() {
	email := "Happy birthday! Your gift card code is 1G06-02M06R-1GGZ1. Enjoy."
	fmt.Println(codefmt.Extract(email))
	// Output:
	// [1G06-02M06R-1GGZ1]
}
