package giftkit_test

// Tests that pin down behaviour the rest of the suite left open, each found
// by a mutant that survived it (scripts/mutation).

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/giftkit/giftkit"
)

var equateMoney = cmp.Comparer(func(a, b giftkit.Money) bool { return a == b })

// TestCurrencyEdges: Z is a letter of a code like A, and a currency outside
// ISO 4217 may have up to MaxMinorUnits minor units.
func TestCurrencyEdges(t *testing.T) {
	if c, err := giftkit.ParseCurrency("ZAR"); err != nil || c.Code() != "ZAR" || c.MinorUnits() != 2 {
		t.Errorf("ParseCurrency(ZAR) = %v/%d, %v; want ZAR/2", c, c.MinorUnits(), err)
	}
	for _, tc := range []struct {
		code  string
		minor int
	}{{"PTZ", 0}, {"QQA", giftkit.MaxMinorUnits}} {
		if c, err := giftkit.NewCurrency(tc.code, tc.minor); err != nil || c.Code() != tc.code || c.MinorUnits() != tc.minor {
			t.Errorf("NewCurrency(%q, %d) = %v/%d, %v", tc.code, tc.minor, c, c.MinorUnits(), err)
		}
	}
}

func TestNegMinCmp(t *testing.T) {
	three, five := giftkit.FromMinor(300, eur), giftkit.FromMinor(500, eur)
	for _, m := range []giftkit.Money{three, giftkit.FromMinor(-300, eur), giftkit.Zero(eur), giftkit.FromMinor(math.MaxInt64, eur)} {
		neg, err := m.Neg()
		if err != nil || neg.Minor() != -m.Minor() || neg.Currency() != eur {
			t.Errorf("(%v).Neg() = %v, %v; want %d minor units", m, neg, err, -m.Minor())
		}
	}
	for _, pair := range [][2]giftkit.Money{{three, five}, {five, three}} {
		if got, err := pair[0].Min(pair[1]); err != nil || got != three {
			t.Errorf("(%v).Min(%v) = %v, %v; want %v", pair[0], pair[1], got, err, three)
		}
	}
	for _, tc := range []struct {
		a, b giftkit.Money
		want int
	}{{three, five, -1}, {five, three, 1}, {three, giftkit.FromMinor(300, eur), 0}} {
		if got, err := tc.a.Cmp(tc.b); err != nil || got != tc.want {
			t.Errorf("(%v).Cmp(%v) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
}

// TestAllocateLargestWeights: weights may sum to the largest int64, and not
// one more.
func TestAllocateLargestWeights(t *testing.T) {
	m := giftkit.FromMinor(1000, eur)
	parts, err := m.Allocate(math.MaxInt64-1, 1)
	want := []giftkit.Money{giftkit.FromMinor(1000, eur), giftkit.FromMinor(0, eur)}
	if diff := cmp.Diff(want, parts, equateMoney); err != nil || diff != "" {
		t.Errorf("Allocate(MaxInt64-1, 1) = %v; mismatch (-want +got):\n%s", err, diff)
	}
	if _, err := m.Allocate(math.MaxInt64, 1); !errors.Is(err, giftkit.ErrOverflow) {
		t.Errorf("Allocate(MaxInt64, 1) error = %v; want ErrOverflow", err)
	}
}

// TestSplitIntoNoParts: Split says why it cannot split into no parts.
func TestSplitIntoNoParts(t *testing.T) {
	for _, n := range []int{0, -1} {
		_, err := giftkit.FromMinor(100, eur).Split(n)
		var ae *giftkit.AmountError
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), "fewer than one part") {
			t.Errorf("Split(%d) error = %v; want an *AmountError saying fewer than one part", n, err)
		}
	}
}

// TestDecodeBinaryTruncated: an amount whose varint is cut short is not an
// amount, and trailing bytes are counted in the error.
func TestDecodeBinaryTruncated(t *testing.T) {
	cur, _ := eur.MarshalBinary()
	var m giftkit.Money
	if n, err := m.DecodeBinary(append(cur, 0x80)); !errors.Is(err, giftkit.ErrSyntax) {
		t.Errorf("DecodeBinary(EUR, 0x80) = %d, %v; want ErrSyntax", n, err)
	}
	data, _ := giftkit.FromMinor(1, eur).MarshalBinary()
	err := m.UnmarshalBinary(append(data, 0, 0))
	if !errors.Is(err, giftkit.ErrSyntax) || !strings.Contains(err.Error(), "with 2 trailing bytes") {
		t.Errorf("UnmarshalBinary(amount and 2 bytes) = %v; want ErrSyntax naming 2 trailing bytes", err)
	}
}

func TestSign(t *testing.T) {
	for _, tc := range []struct {
		minor              int64
		negative, positive bool
	}{{-1, true, false}, {0, false, false}, {1, false, true}} {
		m := giftkit.FromMinor(tc.minor, eur)
		if m.IsNegative() != tc.negative || m.IsPositive() != tc.positive {
			t.Errorf("%v: IsNegative %v, IsPositive %v; want %v, %v", m, m.IsNegative(), m.IsPositive(), tc.negative, tc.positive)
		}
	}
}

// TestCurrencyUnmarshalText: empty text is the zero Currency, a code is its
// currency, and an unknown code is refused and leaves the receiver alone.
func TestCurrencyUnmarshalText(t *testing.T) {
	c := giftkit.USD
	if err := c.UnmarshalText(nil); err != nil || c.IsValid() {
		t.Errorf("UnmarshalText(empty) = %v, %v; want the zero Currency", c, err)
	}
	if err := c.UnmarshalText([]byte("EUR")); err != nil || c != eur {
		t.Errorf("UnmarshalText(EUR) = %v, %v", c, err)
	}
	if err := c.UnmarshalText([]byte("XXZ")); !errors.Is(err, giftkit.ErrUnknownCurrency) || c != eur {
		t.Errorf("UnmarshalText(XXZ) = %v, %v; want ErrUnknownCurrency and EUR left alone", c, err)
	}
}
