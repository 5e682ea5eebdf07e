package giftkit_test

import (
	"testing"

	"github.com/giftkit/giftkit"
)

var (
	sink    giftkit.Money
	sinkErr error
	sinkInt int64
)

func BenchmarkMoney(b *testing.B) {
	x := giftkit.FromMinor(1250, giftkit.EUR)
	y := giftkit.FromMinor(399, giftkit.EUR)
	// The baseline is the same loop on bare int64s: Add's cost over it is
	// the price of the currency and overflow checks.
	b.Run("int64-baseline", func(b *testing.B) {
		b.ReportAllocs()
		p, q := x.Minor(), y.Minor()
		for i := 0; i < b.N; i++ {
			sinkInt = p + q
		}
	})
	b.Run("Add", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sink, sinkErr = x.Add(y)
		}
	})
	b.Run("Sub", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sink, _ = x.Sub(y)
		}
	})
	b.Run("Cmp", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			c, _ := x.Cmp(y)
			if c == 0 {
				b.Fatal("equal")
			}
		}
	})
	b.Run("ParseMoney", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			sink, _ = giftkit.ParseMoney("1234.56", giftkit.EUR)
		}
	})
	b.Run("AppendText", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 32)
		for i := 0; i < b.N; i++ {
			buf = x.AppendText(buf[:0])
		}
	})
}
