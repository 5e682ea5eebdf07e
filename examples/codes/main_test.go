package main

import (
	"bytes"
	"testing"

	"github.com/giftkit/giftkit/internal/golden"
)

// TestOutput runs the program and compares its output with the golden file,
// so the example prints what it promises. go test -update rewrites it.
func TestOutput(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "output.txt", out.Bytes())
}
