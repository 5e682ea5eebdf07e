package codefmt

import (
	"math/rand/v2"
	"testing"
)

// TestDenylistFilter: the pair filter never lets a denied code through: it
// agrees with comparing every word with every group, on many codes and on
// lists with one-character and repeated words.
func TestDenylistFilter(t *testing.T) {
	src := rand.NewChaCha8([32]byte{7})
	for _, words := range [][]string{DefaultDenylist(), {"A", "XYZ"}, {"00", "0O", "11"}, {"ZZZZZ", "WW"}, nil} {
		d := NewDenylist(words)
		denied := 0
		for range 20000 {
			c, err := Generate(src)
			if err != nil {
				t.Fatal(err)
			}
			want := c.containsAny(d.words)
			if got := d.Denies(c); got != want {
				t.Fatalf("words %q, code %v: denies = %v; want %v", words, c, got, want)
			}
			if want {
				denied++
			}
		}
		if len(words) > 0 && words[0] == "A" && denied == 0 {
			t.Error("a one-character word denied nothing")
		}
	}
}
