package giftcard_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/storetest"
)

// FuzzReadCode: whatever a shopper types, reading it never panics; a
// native-shaped input is never read as an external code (so a typo is
// never a guess); what reads is hashed the same way every time, its masked
// form never holds the whole code, and an external code reads as its own
// normalisation does.
func FuzzReadCode(f *testing.F) {
	h, err := giftcard.NewHasher(storetest.TestHashKey)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		"7K3M-9PQ2R4-XW8N5", "7k3m 9pq2r4 xw8n5", "7K3M9PQ2R4XW8N", "7K3M-9PQ2R4-XW8N55", // native, and native with a character dropped or doubled
		"6006 4912 3456 7890 12", "6006-4912-3456-7890-1234", "LEGACY_0001", "gift_Ünïcode-42", "ab", "a-b-c-d-e",
		"", " ", "\x00", "\xff\xfe", strings.Repeat("9", 300), "ABCD-EFGH-JKMN-P", "０１２３",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		ref, err := giftcard.ReadCode(h, input, true)
		if err != nil {
			return
		}
		if ref.External && giftcard.LooksNative(input) {
			t.Fatalf("%q has the native shape but was read as an external code", input)
		}
		again, _ := giftcard.ReadCode(h, input, true)
		if again.Hash != ref.Hash || again.Masked() != ref.Masked() {
			t.Fatalf("%q read two ways", input)
		}
		if !ref.External {
			code, err := codefmt.Parse(input)
			if err != nil || h.Hash(code) != ref.Hash {
				t.Fatalf("%q: native reading disagrees with codefmt.Parse", input)
			}
			return
		}
		norm, err := giftcard.NormalizeExternal(input)
		if err != nil {
			t.Fatalf("%q read as external but does not normalise: %v", input, err)
		}
		if h.HashExternal(norm) != ref.Hash {
			t.Fatalf("%q: hash is not its normalisation's", input)
		}
		if !utf8.ValidString(norm) || len(norm) > giftcard.MaxExternalLen {
			t.Fatalf("%q normalises to %q", input, norm)
		}
		shown, ok := strings.CutPrefix(ref.Masked(), "****")
		if !ok || !strings.HasSuffix(norm, shown) || 2*utf8.RuneCountInString(shown) > utf8.RuneCountInString(norm) {
			t.Fatalf("masked %q shows more than half of the code %q", ref.Masked(), norm)
		}
	})
}
