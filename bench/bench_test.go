package bench_test

import (
	"strings"
	"testing"

	govalues "github.com/govalues/money"
	"github.com/shopspring/decimal"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
)

var (
	sinkMoney    giftkit.Money
	sinkDecimal  decimal.Decimal
	sinkGovalues govalues.Amount
	sinkErr      error
	sinkCode     codefmt.Code
	sinkValues   [15]byte
)

// BenchmarkAdd adds 12.50 EUR and 3.99 EUR, each library its way: giftkit's
// Money (an int64 and a packed currency, overflow and currency checked),
// shopspring's arbitrary-precision Decimal (no currency), govalues' Amount
// (a currency and a fixed-point decimal).
func BenchmarkAdd(b *testing.B) {
	b.Run("giftkit", func(b *testing.B) {
		x, y := giftkit.FromMinor(1250, giftkit.EUR), giftkit.FromMinor(399, giftkit.EUR)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sinkMoney, sinkErr = x.Add(y)
		}
	})
	b.Run("shopspring", func(b *testing.B) {
		x, y := decimal.New(1250, -2), decimal.New(399, -2)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sinkDecimal = x.Add(y)
		}
	})
	b.Run("govalues", func(b *testing.B) {
		x, _ := govalues.NewAmount("EUR", 1250, 2)
		y, _ := govalues.NewAmount("EUR", 399, 2)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sinkGovalues, sinkErr = x.Add(y)
		}
	})
}

// BenchmarkParseAmount reads "1234.56" as euros.
func BenchmarkParseAmount(b *testing.B) {
	b.Run("giftkit", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sinkMoney, sinkErr = giftkit.ParseMoney("1234.56", giftkit.EUR)
		}
	})
	b.Run("shopspring", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sinkDecimal, sinkErr = decimal.NewFromString("1234.56")
		}
	})
	b.Run("govalues", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sinkGovalues, sinkErr = govalues.ParseAmount("EUR", "1234.56")
		}
	})
}

// crockford maps the code alphabet's characters to their values, 0xFF
// for anything else: the least a decoder can do.
var crockford = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for v, c := range codefmt.Alphabet {
		t[c] = byte(v)
	}
	return t
}()

// BenchmarkParseCode reads a code: giftkit's Parse (with its check and its
// forgiveness) against a bare decode of the same 15 characters that checks
// nothing.
func BenchmarkParseCode(b *testing.B) {
	code, _ := codefmt.Generate(nil)
	canonical := code.String()
	bare := strings.ReplaceAll(canonical, "-", "")
	b.Run("giftkit/canonical", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sinkCode, sinkErr = codefmt.Parse(canonical)
		}
	})
	b.Run("giftkit/nodashes", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sinkCode, sinkErr = codefmt.Parse(bare)
		}
	})
	b.Run("crockford/nodashes", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			for j := 0; j < len(bare); j++ {
				sinkValues[j] = crockford[bare[j]]
			}
		}
	})
}
