package giftkit

import (
	"encoding/binary"
	"fmt"
)

// AppendBinary appends c's binary form to b: its three code letters and its
// minor units, four bytes; four zero bytes for the zero Currency. It
// implements encoding.BinaryAppender and does not allocate when b has room.
func (c Currency) AppendBinary(b []byte) ([]byte, error) {
	code := c.code()
	return append(b, code[0], code[1], code[2], c.minor()), nil
}

// MarshalBinary returns c's binary form (see [Currency.AppendBinary]).
func (c Currency) MarshalBinary() ([]byte, error) { return c.AppendBinary(make([]byte, 0, 4)) }

// UnmarshalBinary decodes the form AppendBinary writes, with the checks of
// [NewCurrency]: a code in the ISO 4217 table must have its minor units.
func (c *Currency) UnmarshalBinary(data []byte) error {
	if len(data) != 4 {
		return fmt.Errorf("giftkit: currency of %d bytes: %w", len(data), ErrUnknownCurrency)
	}
	if data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 0 {
		*c = Currency{}
		return nil
	}
	parsed, err := NewCurrency(string(data[:3]), int(data[3]))
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}

// AppendBinary appends m's binary form to b: its currency (see
// [Currency.AppendBinary]) and its count of minor units as a varint. It
// implements encoding.BinaryAppender and does not allocate when b has room.
func (m Money) AppendBinary(b []byte) ([]byte, error) {
	b, _ = m.cur.AppendBinary(b)
	return binary.AppendVarint(b, m.minor), nil
}

// MarshalBinary returns m's binary form (see [Money.AppendBinary]).
func (m Money) MarshalBinary() ([]byte, error) { return m.AppendBinary(make([]byte, 0, 14)) }

// UnmarshalBinary decodes the form AppendBinary writes.
func (m *Money) UnmarshalBinary(data []byte) error {
	n, err := m.DecodeBinary(data)
	if err == nil && n != len(data) {
		err = fmt.Errorf("giftkit: money with %d trailing bytes: %w", len(data)-n, ErrSyntax)
	}
	return err
}

// DecodeBinary decodes the form AppendBinary writes from the start of data
// and returns how many bytes it read, for decoders of larger records.
func (m *Money) DecodeBinary(data []byte) (int, error) {
	if len(data) < 5 {
		return 0, fmt.Errorf("giftkit: money of %d bytes: %w", len(data), ErrSyntax)
	}
	var c Currency
	if err := c.UnmarshalBinary(data[:4]); err != nil {
		return 0, err
	}
	minor, n := binary.Varint(data[4:])
	if n <= 0 {
		return 0, fmt.Errorf("giftkit: money amount is not a varint: %w", ErrSyntax)
	}
	*m = Money{minor: minor, cur: c}
	return 4 + n, nil
}
