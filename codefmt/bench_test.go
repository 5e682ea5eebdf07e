package codefmt_test

import (
	"strings"
	"testing"

	"github.com/giftkit/giftkit/codefmt"
)

func BenchmarkParse(b *testing.B) {
	canonical := known.String()
	for name, in := range map[string]string{
		"canonical": canonical,
		"nodashes":  strings.ReplaceAll(canonical, "-", ""),
		"messy":     " “" + strings.ToLower(strings.ReplaceAll(canonical, "-", " \u2013 ")) + "”\u200b ",
		"fullwidth": toFullWidth(canonical),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for i := 0; i < b.N; i++ {
				_, _ = codefmt.Parse(in)
			}
		})
	}
}

func BenchmarkGenerate(b *testing.B) {
	r := seeded(3)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := codefmt.Generate(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkString(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = known.String()
	}
}

// toFullWidth spells s with full-width letters, digits and hyphen-minus, as
// East Asian input methods produce.
func toFullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '!' && r <= '~' {
			r += '！' - '!'
		}
		b.WriteRune(r)
	}
	return b.String()
}
