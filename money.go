package giftkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/bits"
	"strconv"

	"github.com/giftkit/giftkit/internal/errcode"
	"github.com/shopspring/decimal"
)

// Money is an exact amount in a [Currency], held as an integer count of the
// currency's minor units (cents for EUR, yen for JPY, fils for KWD).
//
// Money is an immutable value: every operation returns a new Money. Amounts
// are never rounded: a constructor given more decimal places than the currency
// has returns an error wrapping [ErrPrecision], and arithmetic that would leave
// the int64 range returns [ErrOverflow] instead of wrapping. Operations on two
// amounts in different currencies return [ErrCurrencyMismatch]. Successful
// arithmetic does not allocate.
//
// Two Money values are == when they have the same currency and amount. The
// zero Money has no currency: it is not a valid amount, [Money.IsValid]
// reports false, and every operation on it fails with [ErrUnknownCurrency].
type Money struct {
	minor int64
	cur   Currency
}

// Errors that money operations wrap in an [*AmountError], besides
// [ErrCurrencyMismatch] for operands in different currencies.
var (
	// ErrOverflow: the result does not fit in an int64 count of minor
	// units. It is of kind ErrInvalid, as are ErrPrecision and ErrSyntax.
	ErrOverflow = errcode.New(ErrInvalid, "amount out of range")
	// ErrPrecision: the amount has more decimal places than the currency.
	ErrPrecision = errcode.New(ErrInvalid, "more decimal places than the currency has")
	// ErrSyntax: the text is not a decimal amount.
	ErrSyntax = errcode.New(ErrInvalid, "invalid amount syntax")
)

// An AmountError records a failed money operation. It unwraps to one of
// [ErrCurrencyMismatch], [ErrOverflow], [ErrPrecision], [ErrSyntax] or
// [ErrUnknownCurrency].
type AmountError struct {
	Op    string // the operation: "parse", "new", "add", "sub", "neg", "cmp", "allocate", "unmarshal"
	Input string // the operand or operands, as text
	Err   error  // the cause
}

// Error returns the message of the AmountError.
func (e *AmountError) Error() string {
	return "giftkit: " + e.Op + " " + e.Input + ": " + e.Err.Error()
}

// Unwrap returns the error the AmountError wraps.
func (e *AmountError) Unwrap() error { return e.Err }

func amountError(op, input string, err error) error {
	return &AmountError{Op: op, Input: input, Err: err}
}

func pairText(a, b Money) string { return a.String() + " and " + b.String() }

// FromMinor returns the amount of n minor units of c: FromMinor(1250, EUR) is
// 12.50 EUR. With the zero Currency it returns an invalid Money.
func FromMinor(n int64, c Currency) Money { return Money{minor: n, cur: c} }

// Zero returns zero in currency c.
func Zero(c Currency) Money { return Money{cur: c} }

// NewMoney returns the amount d in currency c. It fails with [ErrPrecision] if
// d has more decimal places than c (trailing zeros do not count: 12.500 EUR is
// 12.50 EUR), with [ErrOverflow] if the amount of minor units does not fit in
// an int64, and with [ErrUnknownCurrency] for the zero Currency.
func NewMoney(d decimal.Decimal, c Currency) (Money, error) {
	if !c.IsValid() {
		return Money{}, amountError("new", d.String(), ErrUnknownCurrency)
	}
	shifted := d.Shift(int32(c.minor()))
	if !shifted.IsInteger() {
		return Money{}, amountError("new", d.String()+" "+c.Code(), ErrPrecision)
	}
	n := shifted.BigInt()
	if !n.IsInt64() {
		return Money{}, amountError("new", d.String()+" "+c.Code(), ErrOverflow)
	}
	return Money{minor: n.Int64(), cur: c}, nil
}

// ParseMoney parses a decimal amount such as "12.50", "-3" or "0.5" in
// currency c. The syntax is an optional sign, digits, and optionally a point
// followed by digits; exponents, grouping separators and spaces are rejected
// with [ErrSyntax]. Precision and range are checked as by [NewMoney].
func ParseMoney(s string, c Currency) (Money, error) {
	if !c.IsValid() {
		return Money{}, amountError("parse", strconv.Quote(s), ErrUnknownCurrency)
	}
	n, err := parseMinor(s, int(c.minor()))
	if err != nil {
		return Money{}, amountError("parse", strconv.Quote(s)+" "+c.Code(), err)
	}
	return Money{minor: n, cur: c}, nil
}

// MustParseMoney is like [ParseMoney] but panics on error. It is meant for
// tests and constants, never for user input.
func MustParseMoney(s string, c Currency) Money {
	m, err := ParseMoney(s, c)
	if err != nil {
		panic(err)
	}
	return m
}

// parseMinor converts a decimal string into an integer count of units of
// 10^-scale, exactly, without allocating.
func parseMinor(s string, scale int) (int64, error) {
	i, neg := 0, false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	var mag uint64 // magnitude so far, in minor units once scaled
	digits, frac, seenPoint := 0, 0, false
	for ; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '.' && !seenPoint:
			if digits == 0 {
				return 0, ErrSyntax
			}
			seenPoint = true
			continue
		case ch < '0' || ch > '9':
			return 0, ErrSyntax
		}
		d := uint64(ch - '0')
		if seenPoint {
			frac++
			if frac > scale {
				if d != 0 {
					return 0, ErrPrecision
				}
				continue // a trailing zero beyond the scale changes nothing
			}
		}
		digits++
		if mag > (math.MaxUint64-d)/10 {
			return 0, ErrOverflow
		}
		mag = mag*10 + d
	}
	if digits == 0 || (seenPoint && frac == 0) {
		return 0, ErrSyntax
	}
	for ; frac < scale; frac++ {
		if mag > math.MaxUint64/10 {
			return 0, ErrOverflow
		}
		mag *= 10
	}
	return signed(mag, neg)
}

// signed returns ±mag as an int64, or ErrOverflow.
func signed(mag uint64, neg bool) (int64, error) {
	if neg {
		if mag > 1<<63 {
			return 0, ErrOverflow
		}
		return int64(-mag), nil // -(1<<63) wraps to MinInt64, which is right
	}
	if mag > math.MaxInt64 {
		return 0, ErrOverflow
	}
	return int64(mag), nil
}

// Currency returns the currency of m.
func (m Money) Currency() Currency { return m.cur }

// Minor returns the amount as an integer count of minor units.
func (m Money) Minor() int64 { return m.minor }

// Decimal returns the amount as a decimal.Decimal with the currency's scale.
func (m Money) Decimal() decimal.Decimal { return decimal.New(m.minor, -int32(m.cur.minor())) }

// IsValid reports whether m has a currency, as opposed to the zero Money.
func (m Money) IsValid() bool { return m.cur.IsValid() }

// IsZero reports whether the amount is zero (in any currency, or none).
func (m Money) IsZero() bool { return m.minor == 0 }

// IsNegative reports whether the amount is below zero.
func (m Money) IsNegative() bool { return m.minor < 0 }

// IsPositive reports whether the amount is above zero.
func (m Money) IsPositive() bool { return m.minor > 0 }

// sameCurrency reports whether m and b are in the same, valid currency. It is
// the only check on the hot path, small enough to inline.
func (m Money) sameCurrency(b Money) bool { return m.cur == b.cur && m.cur.packed != 0 }

// currencyError explains why sameCurrency failed. It is kept out of line so
// that the operations that call it stay cheap.
//
//go:noinline
func (m Money) currencyError(op string, b Money) error {
	if !m.cur.IsValid() || !b.cur.IsValid() {
		return amountError(op, pairText(m, b), ErrUnknownCurrency)
	}
	return amountError(op, pairText(m, b), ErrCurrencyMismatch)
}

// Add returns m + b.
func (m Money) Add(b Money) (Money, error) {
	s := m.minor + b.minor // Go defines signed overflow as wrapping
	// Overflow happened iff both operands differ in sign from the sum.
	if !m.sameCurrency(b) || (m.minor^s)&(b.minor^s) < 0 {
		return Money{}, m.addError("add", b)
	}
	return Money{minor: s, cur: m.cur}, nil
}

// Sub returns m - b.
func (m Money) Sub(b Money) (Money, error) {
	d := m.minor - b.minor
	// Overflow happened iff the operands differ in sign and m differs in sign
	// from the result.
	if !m.sameCurrency(b) || (m.minor^b.minor)&(m.minor^d) < 0 {
		return Money{}, m.addError("sub", b)
	}
	return Money{minor: d, cur: m.cur}, nil
}

//go:noinline
func (m Money) addError(op string, b Money) error {
	if !m.sameCurrency(b) {
		return m.currencyError(op, b)
	}
	return amountError(op, pairText(m, b), ErrOverflow)
}

// Neg returns -m.
func (m Money) Neg() (Money, error) {
	if !m.cur.IsValid() {
		return Money{}, amountError("neg", m.String(), ErrUnknownCurrency)
	}
	if m.minor == math.MinInt64 {
		return Money{}, amountError("neg", m.String(), ErrOverflow)
	}
	return Money{minor: -m.minor, cur: m.cur}, nil
}

// Cmp compares m and b: -1 if m < b, 0 if equal, +1 if m > b. Amounts in
// different currencies are not ordered and return an error.
func (m Money) Cmp(b Money) (int, error) {
	if !m.sameCurrency(b) {
		return 0, m.currencyError("cmp", b)
	}
	switch {
	case m.minor < b.minor:
		return -1, nil
	case m.minor > b.minor:
		return 1, nil
	}
	return 0, nil
}

// Min returns the smaller of m and b.
func (m Money) Min(b Money) (Money, error) {
	c, err := m.Cmp(b)
	if err != nil {
		return Money{}, err
	}
	if c <= 0 {
		return m, nil
	}
	return b, nil
}

// Allocate splits m into len(weights) parts proportional to the weights, by
// the largest-remainder method: each part is its exact share rounded down to a
// minor unit, and the minor units left over go one each to the parts with the
// largest remainders (the earlier part on a tie). The parts sum to m exactly
// and each differs from its exact share by less than one minor unit.
//
// Weights must be non-negative with a positive sum that fits in an int64.
// A negative m is split like its absolute value, with every part negated.
func (m Money) Allocate(weights ...int64) ([]Money, error) {
	if !m.cur.IsValid() {
		return nil, amountError("allocate", m.String(), ErrUnknownCurrency)
	}
	var total uint64
	for _, w := range weights {
		if w < 0 {
			return nil, amountError("allocate", m.String(), errors.New("negative weight"))
		}
		total += uint64(w)
		if total > math.MaxInt64 {
			return nil, amountError("allocate", m.String(), ErrOverflow)
		}
	}
	if total == 0 {
		return nil, amountError("allocate", m.String(), errors.New("weights must have a positive sum"))
	}
	neg := m.minor < 0
	mag := uint64(m.minor)
	if neg {
		mag = -mag
	}
	parts := make([]Money, len(weights))
	rems := make([]uint64, len(weights))
	var given uint64
	for i, w := range weights {
		hi, lo := bits.Mul64(mag, uint64(w))
		q, r := bits.Div64(hi, lo, total) // hi < total since w <= total
		parts[i] = Money{minor: int64(q), cur: m.cur}
		rems[i] = r
		given += q
	}
	for left := mag - given; left > 0; left-- {
		best := -1
		for i, r := range rems {
			if weights[i] > 0 && (best < 0 || r > rems[best]) {
				best = i
			}
		}
		parts[best].minor++
		rems[best] = 0
	}
	if neg {
		for i := range parts {
			parts[i].minor = -parts[i].minor
		}
	}
	return parts, nil
}

// Split divides m into n parts that differ by at most one minor unit and sum
// to m exactly, the larger parts first.
func (m Money) Split(n int) ([]Money, error) {
	if n <= 0 {
		return nil, amountError("allocate", m.String(), errors.New("split into fewer than one part"))
	}
	w := make([]int64, n)
	for i := range w {
		w[i] = 1
	}
	return m.Allocate(w...)
}

// Amount returns the amount with the currency's decimal places and no
// currency, such as "12.50" or "-0.05".
func (m Money) Amount() string {
	return string(m.appendAmount(make([]byte, 0, 24)))
}

// String returns the amount and the currency code, such as "12.50 EUR", or
// "invalid Money" for the zero Money.
func (m Money) String() string {
	if !m.cur.IsValid() {
		return "invalid Money"
	}
	return string(m.AppendText(make([]byte, 0, 28)))
}

// AppendText appends the form of [Money.String] to b. It allocates only if b
// lacks room.
func (m Money) AppendText(b []byte) []byte {
	b = m.appendAmount(b)
	b = append(b, ' ')
	code := m.cur.code()
	return append(b, code[:]...)
}

func (m Money) appendAmount(b []byte) []byte {
	scale := int(m.cur.minor())
	mag := uint64(m.minor)
	if m.minor < 0 {
		b = append(b, '-')
		mag = -mag
	}
	var digits [24]byte
	d := strconv.AppendUint(digits[:0], mag, 10)
	if scale == 0 {
		return append(b, d...)
	}
	if len(d) <= scale {
		b = append(b, '0', '.')
		for i := len(d); i < scale; i++ {
			b = append(b, '0')
		}
		return append(b, d...)
	}
	b = append(b, d[:len(d)-scale]...)
	b = append(b, '.')
	return append(b, d[len(d)-scale:]...)
}

// MarshalText encodes m as in [Money.String]; the zero Money encodes as the
// empty string.
func (m Money) MarshalText() ([]byte, error) {
	if !m.cur.IsValid() {
		return []byte{}, nil
	}
	return m.AppendText(nil), nil
}

// UnmarshalText decodes the form "12.50 EUR", validating it as [ParseMoney]
// does. A currency outside the ISO 4217 table is accepted only when m already
// holds a currency with that code. The empty string decodes to the zero Money.
func (m *Money) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*m = Money{}
		return nil
	}
	sp := bytes.IndexByte(text, ' ')
	if sp < 0 {
		return amountError("unmarshal", strconv.Quote(string(text)), ErrSyntax)
	}
	return m.unmarshal(string(text[:sp]), string(text[sp+1:]))
}

func (m *Money) unmarshal(amount, code string) error {
	c, err := lookupCurrency(code, m.cur)
	if err != nil {
		return amountError("unmarshal", strconv.Quote(amount+" "+code), ErrUnknownCurrency)
	}
	parsed, err := ParseMoney(amount, c)
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}

type moneyJSON struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// MarshalJSON encodes m as {"amount":"12.50","currency":"EUR"}: the amount is
// a string so that no JSON reader turns it into a float. The zero Money
// encodes as null.
func (m Money) MarshalJSON() ([]byte, error) {
	return m.AppendJSON(make([]byte, 0, 48)), nil
}

// AppendJSON appends the form [Money.MarshalJSON] writes to b and returns
// the extended buffer: for encoders that build JSON by hand.
func (m Money) AppendJSON(b []byte) []byte {
	if !m.cur.IsValid() {
		return append(b, "null"...)
	}
	// Built by hand: amounts and codes need no escaping, and this runs for
	// every amount of every recorded outcome and event.
	b = append(b, `{"amount":"`...)
	b = m.appendAmount(b)
	b = append(b, `","currency":"`...)
	code := m.cur.code()
	b = append(b, code[:]...)
	return append(b, `"}`...)
}

// UnmarshalJSON decodes the form written by [Money.MarshalJSON], validating it
// as [ParseMoney] does. null decodes to the zero Money.
func (m *Money) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*m = Money{}
		return nil
	}
	var v moneyJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return amountError("unmarshal", strconv.Quote(string(data)), ErrSyntax)
	}
	return m.unmarshal(v.Amount, v.Currency)
}
