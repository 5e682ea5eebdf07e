package giftkit

import (
	"fmt"

	"github.com/giftkit/giftkit/internal/errcode"
)

// MaxMinorUnits is the largest number of decimal places a [Currency] may have.
// ISO 4217 uses at most 4; the head-room serves points or token currencies.
const MaxMinorUnits = 8

// Currency is an ISO 4217 currency: a three-letter code and the number of
// decimal places of its minor unit (EUR 2, JPY 0, KWD 3).
//
// A Currency carries its own minor units, so there is no global registry to
// mutate: [ParseCurrency] knows the ISO 4217 table, and [NewCurrency] makes a
// currency outside it (a loyalty point, a test currency such as XTS).
//
// Currencies are comparable with ==; two currencies are equal when both the
// code and the minor units are. The zero Currency is not a valid currency;
// [Currency.IsValid] reports false for it and every [Money] operation on it
// fails.
type Currency struct {
	// packed holds the three code letters in its low bytes and the minor
	// units in the high byte. One uint32 (not a [3]byte array) keeps Money
	// in registers and makes == a single comparison.
	packed uint32
}

func newCurrency(code [3]byte, minor uint8) Currency {
	return Currency{packed: uint32(code[0]) | uint32(code[1])<<8 | uint32(code[2])<<16 | uint32(minor)<<24}
}

func (c Currency) code() [3]byte {
	return [3]byte{byte(c.packed), byte(c.packed >> 8), byte(c.packed >> 16)}
}

func (c Currency) minor() uint8 { return uint8(c.packed >> 24) }

// Currencies of the ISO 4217 table that callers use most. Other codes are
// found with [ParseCurrency].
var (
	EUR = MustParseCurrency("EUR")
	USD = MustParseCurrency("USD")
	GBP = MustParseCurrency("GBP")
	CHF = MustParseCurrency("CHF")
	JPY = MustParseCurrency("JPY")
	KRW = MustParseCurrency("KRW")
	KWD = MustParseCurrency("KWD")
	BHD = MustParseCurrency("BHD")
	CAD = MustParseCurrency("CAD")
	AUD = MustParseCurrency("AUD")
	SEK = MustParseCurrency("SEK")
	PLN = MustParseCurrency("PLN")
)

// ErrUnknownCurrency is returned for a currency code that is not in the ISO
// 4217 table, or not three letters A–Z, or has unsupported minor units. It
// is of kind [ErrInvalid].
var ErrUnknownCurrency = errcode.New(ErrInvalid, "unknown currency")

// ParseCurrency returns the ISO 4217 currency with the given code. The code
// must be three upper-case letters; lower case is not accepted, so that a code
// has exactly one spelling in storage and on the wire.
//
// It returns an error wrapping [ErrUnknownCurrency] for any other input.
func ParseCurrency(code string) (Currency, error) {
	c, ok := currencyCode(code)
	if !ok {
		return Currency{}, fmt.Errorf("giftkit: parse currency %q: %w", code, ErrUnknownCurrency)
	}
	minor, ok := isoMinorUnits[code]
	if !ok {
		return Currency{}, fmt.Errorf("giftkit: parse currency %q: %w", code, ErrUnknownCurrency)
	}
	return newCurrency(c, minor), nil
}

// MustParseCurrency is like [ParseCurrency] but panics on error. It is meant
// for tests and package-level variables with a constant code.
func MustParseCurrency(code string) Currency {
	c, err := ParseCurrency(code)
	if err != nil {
		panic(err)
	}
	return c
}

// NewCurrency returns a currency outside the ISO 4217 table, such as store
// points or the test currency XTS. The code must be three upper-case letters
// and minorUnits between 0 and [MaxMinorUnits]. A code that is in the ISO table
// must be given its ISO minor units, so that "EUR" always means one thing.
//
// It returns an error wrapping [ErrUnknownCurrency] otherwise.
func NewCurrency(code string, minorUnits int) (Currency, error) {
	c, ok := currencyCode(code)
	if !ok || minorUnits < 0 || minorUnits > MaxMinorUnits {
		return Currency{}, fmt.Errorf("giftkit: new currency %q with %d minor units: %w", code, minorUnits, ErrUnknownCurrency)
	}
	if iso, ok := isoMinorUnits[code]; ok && int(iso) != minorUnits {
		return Currency{}, fmt.Errorf("giftkit: new currency %q with %d minor units: ISO 4217 says %d: %w", code, minorUnits, iso, ErrUnknownCurrency)
	}
	return newCurrency(c, uint8(minorUnits)), nil
}

func currencyCode(code string) ([3]byte, bool) {
	var c [3]byte
	if len(code) != 3 {
		return c, false
	}
	for i := 0; i < 3; i++ {
		if code[i] < 'A' || code[i] > 'Z' {
			return c, false
		}
		c[i] = code[i]
	}
	return c, true
}

// Code returns the three-letter code, or "" for the zero Currency.
func (c Currency) Code() string {
	if !c.IsValid() {
		return ""
	}
	code := c.code()
	return string(code[:])
}

// MinorUnits returns the number of decimal places of the minor unit.
func (c Currency) MinorUnits() int { return int(c.minor()) }

// IsValid reports whether c is a currency, as opposed to the zero Currency.
func (c Currency) IsValid() bool { return c.packed != 0 }

// String returns the code, or "???" for the zero Currency.
func (c Currency) String() string {
	if !c.IsValid() {
		return "???"
	}
	return c.Code()
}

// MarshalText encodes the currency as its code. The zero Currency encodes as
// the empty string.
func (c Currency) MarshalText() ([]byte, error) {
	if !c.IsValid() {
		return []byte{}, nil
	}
	return []byte(c.Code()), nil
}

// UnmarshalText decodes an ISO 4217 code with [ParseCurrency]. A code outside
// the table is accepted only if c already holds a currency with that code (made
// by [NewCurrency]), whose minor units are then kept. The empty string decodes
// to the zero Currency.
func (c *Currency) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*c = Currency{}
		return nil
	}
	parsed, err := lookupCurrency(string(text), *c)
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}

// lookupCurrency parses code, falling back to hint when hint is a non-ISO
// currency with that code. It lets a decoder round-trip custom currencies
// without a global registry.
func lookupCurrency(code string, hint Currency) (Currency, error) {
	c, err := ParseCurrency(code)
	if err == nil {
		return c, nil
	}
	if hint.IsValid() && hint.Code() == code {
		return hint, nil
	}
	return Currency{}, err
}

// isoMinorUnits is the ISO 4217 table: its currencies and funds with the
// decimal places of their minor units (codes that have none, such as XAU
// and XTS, are left out), and ANG, which XCG replaced in 2025, kept while
// the list has it so that amounts stored in it still read. TestISO4217
// checks it against testdata/iso4217.tsv, a dated copy of the list that
// scripts/refresh-iso4217 renews. It is read-only.
var isoMinorUnits = func() map[string]uint8 {
	m := make(map[string]uint8, 180)
	for _, code := range []string{
		"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
		"UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
	} {
		m[code] = 0
	}
	for _, code := range []string{"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"} {
		m[code] = 3
	}
	for _, code := range []string{"CLF", "UYW"} {
		m[code] = 4
	}
	// Funds and units of account (UYI, CLF and UYW above too): codes in the
	// ISO 4217 table, so that each has its ISO minor units wherever it is
	// used, although no gift card is likely to be sold in one.
	for _, code := range []string{"BOV", "CHE", "CHW", "COU", "MXV", "USN"} {
		m[code] = 2
	}
	for _, code := range []string{
		"AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN",
		"BAM", "BBD", "BDT", "BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BTN",
		"BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP", "CRC", "CUP",
		"CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD",
		"FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL",
		"HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR",
		"KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL",
		"MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN",
		"MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN",
		"PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD",
		"SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
		"SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD",
		"TZS", "UAH", "USD", "UYU", "UZS", "VED", "VES", "WST", "XCD", "XCG",
		"YER", "ZAR", "ZMW", "ZWG",
	} {
		m[code] = 2
	}
	return m
}()
