package giftkit_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"

	"github.com/giftkit/giftkit"
)

var (
	eur = giftkit.EUR
	jpy = giftkit.JPY
	kwd = giftkit.KWD
)

func TestParseCurrency(t *testing.T) {
	for _, tc := range []struct {
		code  string
		minor int
		err   error
	}{
		{"EUR", 2, nil}, {"USD", 2, nil}, {"GBP", 2, nil}, {"CHF", 2, nil},
		{"JPY", 0, nil}, {"KRW", 0, nil}, {"KWD", 3, nil}, {"BHD", 3, nil},
		{"CAD", 2, nil}, {"AUD", 2, nil}, {"SEK", 2, nil}, {"PLN", 2, nil},
		{"CLF", 4, nil},
		{"eur", 0, giftkit.ErrUnknownCurrency},
		{"EU", 0, giftkit.ErrUnknownCurrency},
		{"EURO", 0, giftkit.ErrUnknownCurrency},
		{"XXZ", 0, giftkit.ErrUnknownCurrency},
		{"", 0, giftkit.ErrUnknownCurrency},
	} {
		c, err := giftkit.ParseCurrency(tc.code)
		if !errors.Is(err, tc.err) {
			t.Errorf("ParseCurrency(%q) error = %v; want %v", tc.code, err, tc.err)
			continue
		}
		if err == nil && (c.Code() != tc.code || c.MinorUnits() != tc.minor) {
			t.Errorf("ParseCurrency(%q) = %s/%d; want %s/%d", tc.code, c, c.MinorUnits(), tc.code, tc.minor)
		}
		if err != nil && c.IsValid() {
			t.Errorf("ParseCurrency(%q) returned a valid currency with an error", tc.code)
		}
	}
}

func TestNewCurrency(t *testing.T) {
	pts, err := giftkit.NewCurrency("PTS", 0)
	if err != nil || pts.Code() != "PTS" || pts.MinorUnits() != 0 {
		t.Fatalf("NewCurrency(PTS, 0) = %v, %v", pts, err)
	}
	if got, err := giftkit.NewCurrency("EUR", 2); err != nil || got != eur {
		t.Errorf("NewCurrency(EUR, 2) = %v, %v; want EUR", got, err)
	}
	for _, tc := range []struct {
		code  string
		minor int
	}{{"EUR", 3}, {"pts", 0}, {"PTS", -1}, {"PTS", giftkit.MaxMinorUnits + 1}, {"P1S", 2}} {
		if _, err := giftkit.NewCurrency(tc.code, tc.minor); !errors.Is(err, giftkit.ErrUnknownCurrency) {
			t.Errorf("NewCurrency(%q, %d) error = %v; want ErrUnknownCurrency", tc.code, tc.minor, err)
		}
	}
	var zero giftkit.Currency
	if zero.IsValid() || zero.Code() != "" || zero.String() != "???" {
		t.Errorf("zero Currency: IsValid=%v Code=%q String=%q", zero.IsValid(), zero.Code(), zero.String())
	}
}

func TestParseMoney(t *testing.T) {
	for _, tc := range []struct {
		in    string
		cur   giftkit.Currency
		minor int64
		err   error
	}{
		{"12.50", eur, 1250, nil},
		{"12.5", eur, 1250, nil},
		{"12", eur, 1200, nil},
		{"-3.07", eur, -307, nil},
		{"+1.00", eur, 100, nil},
		{"0.05", eur, 5, nil},
		{"12.500", eur, 1250, nil}, // a trailing zero adds no precision
		{"1000", jpy, 1000, nil},
		{"1.000", jpy, 1, nil},
		{"1.234", kwd, 1234, nil},
		{"92233720368547758.07", eur, math.MaxInt64, nil},
		{"-92233720368547758.08", eur, math.MinInt64, nil},
		{"12.505", eur, 0, giftkit.ErrPrecision},
		{"1.5", jpy, 0, giftkit.ErrPrecision},
		{"1.2345", kwd, 0, giftkit.ErrPrecision},
		{"92233720368547758.08", eur, 0, giftkit.ErrOverflow},
		{"-92233720368547758.09", eur, 0, giftkit.ErrOverflow},
		{"99999999999999999999999", jpy, 0, giftkit.ErrOverflow},
		{"", eur, 0, giftkit.ErrSyntax},
		{"-", eur, 0, giftkit.ErrSyntax},
		{".5", eur, 0, giftkit.ErrSyntax},
		{"5.", eur, 0, giftkit.ErrSyntax},
		{"1e3", eur, 0, giftkit.ErrSyntax},
		{"1,50", eur, 0, giftkit.ErrSyntax},
		{"1.2.3", eur, 0, giftkit.ErrSyntax},
		{" 1", eur, 0, giftkit.ErrSyntax},
		{"NaN", eur, 0, giftkit.ErrSyntax},
		{"1", giftkit.Currency{}, 0, giftkit.ErrUnknownCurrency},
	} {
		m, err := giftkit.ParseMoney(tc.in, tc.cur)
		if !errors.Is(err, tc.err) {
			t.Errorf("ParseMoney(%q, %v) error = %v; want %v", tc.in, tc.cur, err, tc.err)
			continue
		}
		var ae *giftkit.AmountError
		if err != nil && !errors.As(err, &ae) {
			t.Errorf("ParseMoney(%q) error %T is not *AmountError", tc.in, err)
		}
		if err == nil && m != giftkit.FromMinor(tc.minor, tc.cur) {
			t.Errorf("ParseMoney(%q, %v) = %v; want %d minor units", tc.in, tc.cur, m, tc.minor)
		}
	}
}

func TestNewMoney(t *testing.T) {
	huge, _ := new(big.Int).SetString("9223372036854775808", 10)
	for _, tc := range []struct {
		d     decimal.Decimal
		cur   giftkit.Currency
		minor int64
		err   error
	}{
		{decimal.RequireFromString("12.50"), eur, 1250, nil},
		{decimal.RequireFromString("12.500"), eur, 1250, nil},
		{decimal.RequireFromString("-0.01"), eur, -1, nil},
		{decimal.RequireFromString("7"), jpy, 7, nil},
		{decimal.RequireFromString("12.501"), eur, 0, giftkit.ErrPrecision},
		{decimal.RequireFromString("0.5"), jpy, 0, giftkit.ErrPrecision},
		{decimal.NewFromBigInt(huge, 0), jpy, 0, giftkit.ErrOverflow},
		{decimal.NewFromInt(1), giftkit.Currency{}, 0, giftkit.ErrUnknownCurrency},
	} {
		m, err := giftkit.NewMoney(tc.d, tc.cur)
		if !errors.Is(err, tc.err) {
			t.Errorf("NewMoney(%v, %v) error = %v; want %v", tc.d, tc.cur, err, tc.err)
			continue
		}
		if err == nil {
			if m != giftkit.FromMinor(tc.minor, tc.cur) {
				t.Errorf("NewMoney(%v, %v) = %v; want %d minor units", tc.d, tc.cur, m, tc.minor)
			}
			if !m.Decimal().Equal(tc.d) {
				t.Errorf("NewMoney(%v).Decimal() = %v", tc.d, m.Decimal())
			}
		}
	}
}

func TestArithmeticErrors(t *testing.T) {
	max := giftkit.FromMinor(math.MaxInt64, eur)
	min := giftkit.FromMinor(math.MinInt64, eur)
	one := giftkit.FromMinor(1, eur)
	yen := giftkit.FromMinor(1, jpy)
	var zero giftkit.Money
	for name, tc := range map[string]struct {
		run  func() error
		want error
	}{
		"add overflow":       {func() error { _, err := max.Add(one); return err }, giftkit.ErrOverflow},
		"add underflow":      {func() error { _, err := min.Add(giftkit.FromMinor(-1, eur)); return err }, giftkit.ErrOverflow},
		"sub overflow":       {func() error { _, err := min.Sub(one); return err }, giftkit.ErrOverflow},
		"sub overflow up":    {func() error { _, err := max.Sub(giftkit.FromMinor(-1, eur)); return err }, giftkit.ErrOverflow},
		"neg overflow":       {func() error { _, err := min.Neg(); return err }, giftkit.ErrOverflow},
		"add currencies":     {func() error { _, err := one.Add(yen); return err }, giftkit.ErrCurrencyMismatch},
		"sub currencies":     {func() error { _, err := one.Sub(yen); return err }, giftkit.ErrCurrencyMismatch},
		"cmp currencies":     {func() error { _, err := one.Cmp(yen); return err }, giftkit.ErrCurrencyMismatch},
		"min currencies":     {func() error { _, err := one.Min(yen); return err }, giftkit.ErrCurrencyMismatch},
		"add zero Money":     {func() error { _, err := zero.Add(zero); return err }, giftkit.ErrUnknownCurrency},
		"neg zero Money":     {func() error { _, err := zero.Neg(); return err }, giftkit.ErrUnknownCurrency},
		"allocate zero":      {func() error { _, err := zero.Split(2); return err }, giftkit.ErrUnknownCurrency},
		"allocate overflow":  {func() error { _, err := one.Allocate(math.MaxInt64, 1); return err }, giftkit.ErrOverflow},
		"sub max from min":   {func() error { _, err := min.Sub(max); return err }, giftkit.ErrOverflow},
		"add max to max":     {func() error { _, err := max.Add(max); return err }, giftkit.ErrOverflow},
		"add min to min":     {func() error { _, err := min.Add(min); return err }, giftkit.ErrOverflow},
		"cmp with zero":      {func() error { _, err := one.Cmp(zero); return err }, giftkit.ErrUnknownCurrency},
		"unmarshal currency": {func() error { var m giftkit.Money; return m.UnmarshalText([]byte("1.00 XYZ")) }, giftkit.ErrUnknownCurrency},
		"unmarshal syntax":   {func() error { var m giftkit.Money; return m.UnmarshalText([]byte("1.00EUR")) }, giftkit.ErrSyntax},
		"unmarshal json":     {func() error { var m giftkit.Money; return json.Unmarshal([]byte(`{"amount":1,"currency":"EUR"}`), &m) }, giftkit.ErrSyntax},
	} {
		if err := tc.run(); !errors.Is(err, tc.want) {
			t.Errorf("%s: error = %v; want %v", name, err, tc.want)
		}
	}
	for _, bad := range [][]int64{{}, {0, 0}, {1, -1}} {
		if _, err := one.Allocate(bad...); err == nil {
			t.Errorf("Allocate(%v) succeeded; want an error", bad)
		}
	}
	if _, err := one.Split(0); err == nil {
		t.Error("Split(0) succeeded; want an error")
	}
}

func TestFormat(t *testing.T) {
	pts, _ := giftkit.NewCurrency("PTS", 0)
	for _, tc := range []struct {
		m    giftkit.Money
		want string
	}{
		{giftkit.FromMinor(1250, eur), "12.50 EUR"},
		{giftkit.FromMinor(5, eur), "0.05 EUR"},
		{giftkit.FromMinor(-5, eur), "-0.05 EUR"},
		{giftkit.FromMinor(0, eur), "0.00 EUR"},
		{giftkit.FromMinor(1000, jpy), "1000 JPY"},
		{giftkit.FromMinor(1, kwd), "0.001 KWD"},
		{giftkit.FromMinor(math.MinInt64, eur), "-92233720368547758.08 EUR"},
		{giftkit.FromMinor(42, pts), "42 PTS"},
		{giftkit.Money{}, "invalid Money"},
	} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("String() = %q; want %q", got, tc.want)
		}
	}
}

func TestCustomCurrencyRoundTrip(t *testing.T) {
	pts, _ := giftkit.NewCurrency("PTS", 1)
	in := giftkit.FromMinor(15, pts)
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := giftkit.Zero(pts) // the decoder learns PTS's minor units from the target
	if err := json.Unmarshal(data, &out); err != nil || out != in {
		t.Errorf("round trip of %v through %s = %v, %v", in, data, out, err)
	}
	var blank giftkit.Money
	if err := json.Unmarshal(data, &blank); !errors.Is(err, giftkit.ErrUnknownCurrency) {
		t.Errorf("decoding %s into a zero Money: error = %v; want ErrUnknownCurrency", data, err)
	}
}

func TestZeroMoneyEncoding(t *testing.T) {
	type wrapper struct {
		M giftkit.Money `json:"m"`
	}
	data, err := json.Marshal(wrapper{})
	if err != nil || string(data) != `{"m":null}` {
		t.Fatalf("Marshal(zero) = %s, %v", data, err)
	}
	w := wrapper{M: giftkit.FromMinor(1, eur)}
	if err := json.Unmarshal(data, &w); err != nil || w.M != (giftkit.Money{}) {
		t.Errorf("Unmarshal(null) = %v, %v; want the zero Money", w.M, err)
	}
	text, _ := giftkit.Money{}.MarshalText()
	var m giftkit.Money
	if err := m.UnmarshalText(text); err != nil || m.IsValid() {
		t.Errorf("text round trip of the zero Money = %v, %v", m, err)
	}
}

func genCurrency() *rapid.Generator[giftkit.Currency] {
	return rapid.SampledFrom([]giftkit.Currency{eur, jpy, kwd, giftkit.MustParseCurrency("CLF")})
}

func genMoney(c giftkit.Currency) *rapid.Generator[giftkit.Money] {
	return rapid.Custom(func(t *rapid.T) giftkit.Money {
		return giftkit.FromMinor(rapid.Int64().Draw(t, "minor"), c)
	})
}

func TestPropAddSubInverse(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genCurrency().Draw(t, "currency")
		a, b := genMoney(c).Draw(t, "a"), genMoney(c).Draw(t, "b")
		sum, err := a.Add(b)
		exact := new(big.Int).Add(big.NewInt(a.Minor()), big.NewInt(b.Minor()))
		if !exact.IsInt64() {
			if !errors.Is(err, giftkit.ErrOverflow) {
				t.Fatalf("%v + %v = %v, %v; want ErrOverflow", a, b, sum, err)
			}
			return
		}
		if err != nil || sum.Minor() != exact.Int64() {
			t.Fatalf("%v + %v = %v, %v; want %v", a, b, sum, err, exact)
		}
		back, err := sum.Sub(b)
		if err != nil || back != a {
			t.Fatalf("(%v + %v) - %v = %v, %v; want %v", a, b, b, back, err, a)
		}
		if cmp, _ := a.Cmp(b); cmp != big.NewInt(a.Minor()).Cmp(big.NewInt(b.Minor())) {
			t.Fatalf("Cmp(%v, %v) = %d", a, b, cmp)
		}
	})
}

func TestPropSubMatchesBigInt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := genMoney(eur).Draw(t, "a"), genMoney(eur).Draw(t, "b")
		d, err := a.Sub(b)
		exact := new(big.Int).Sub(big.NewInt(a.Minor()), big.NewInt(b.Minor()))
		if exact.IsInt64() != (err == nil) || (err == nil && d.Minor() != exact.Int64()) {
			t.Fatalf("%v - %v = %v, %v; exact %v", a, b, d, err, exact)
		}
	})
}

func TestPropAllocate(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genCurrency().Draw(t, "currency")
		m := genMoney(c).Draw(t, "m")
		weights := rapid.SliceOfN(rapid.Int64Range(0, 1<<40), 1, 12).Draw(t, "weights")
		var total int64
		for _, w := range weights {
			total += w
		}
		if total == 0 {
			weights[0] = 1
			total = 1
		}
		parts, err := m.Allocate(weights...)
		if err != nil {
			t.Fatalf("Allocate(%v, %v): %v", m, weights, err)
		}
		sum := new(big.Int)
		for i, p := range parts {
			if p.Currency() != c {
				t.Fatalf("part %d has currency %v", i, p.Currency())
			}
			sum.Add(sum, big.NewInt(p.Minor()))
			// |part*total - m*w| < total, i.e. the part is within one minor
			// unit of its exact share m*w/total.
			diff := new(big.Int).Mul(big.NewInt(p.Minor()), big.NewInt(total))
			diff.Sub(diff, new(big.Int).Mul(big.NewInt(m.Minor()), big.NewInt(weights[i])))
			if diff.CmpAbs(big.NewInt(total)) >= 0 {
				t.Fatalf("part %d = %v is a minor unit or more from its share of %v (weights %v)", i, p, m, weights)
			}
			if weights[i] == 0 && !p.IsZero() {
				t.Fatalf("part %d with weight 0 got %v", i, p)
			}
		}
		if sum.Cmp(big.NewInt(m.Minor())) != 0 {
			t.Fatalf("parts of %v sum to %v", m, sum)
		}
	})
}

func TestPropTextRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := genCurrency().Draw(t, "currency")
		m := genMoney(c).Draw(t, "m")
		text, err := m.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back giftkit.Money
		if err := back.UnmarshalText(text); err != nil || back != m {
			t.Fatalf("text round trip of %v via %q = %v, %v", m, text, back, err)
		}
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var fromJSON giftkit.Money
		if err := json.Unmarshal(data, &fromJSON); err != nil || fromJSON != m {
			t.Fatalf("JSON round trip of %v via %s = %v, %v", m, data, fromJSON, err)
		}
		viaDecimal, err := giftkit.NewMoney(m.Decimal(), c)
		if err != nil || viaDecimal != m {
			t.Fatalf("decimal round trip of %v = %v, %v", m, viaDecimal, err)
		}
		parsed, err := giftkit.ParseMoney(m.Amount(), c)
		if err != nil || parsed != m {
			t.Fatalf("ParseMoney(%q) = %v, %v; want %v", m.Amount(), parsed, err, m)
		}
	})
}

func TestSplit(t *testing.T) {
	parts, err := giftkit.FromMinor(100, eur).Split(3)
	if err != nil {
		t.Fatal(err)
	}
	want := []giftkit.Money{giftkit.FromMinor(34, eur), giftkit.FromMinor(33, eur), giftkit.FromMinor(33, eur)}
	if diff := cmp.Diff(want, parts, cmp.Comparer(func(a, b giftkit.Money) bool { return a == b })); diff != "" {
		t.Errorf("Split(3) mismatch (-want +got):\n%s", diff)
	}
}

func TestArithmeticAllocatesNothing(t *testing.T) {
	a, b := giftkit.FromMinor(1250, eur), giftkit.FromMinor(399, eur)
	allocs := testing.AllocsPerRun(100, func() {
		s, _ := a.Add(b)
		d, _ := s.Sub(b)
		_, _ = d.Cmp(a)
		_, _ = d.Min(b)
		_, _ = d.Neg()
	})
	if allocs != 0 {
		t.Errorf("Add/Sub/Cmp/Min/Neg allocate %v times; want 0", allocs)
	}
}
