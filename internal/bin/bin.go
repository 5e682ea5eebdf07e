// Package bin is the compact binary form of the outcomes the services
// record under idempotency keys: append functions that write fields and a
// Reader that reads them back in the same order. Strings are a uvarint
// length and their bytes, integers varints, times a flag byte, Unix
// seconds, nanoseconds and the zone offset, amounts giftkit.Money's binary form.
// Nothing here allocates when writing into a buffer with room.
package bin

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/giftkit/giftkit"
)

// ErrCorrupt: the data ended early or held a value out of range.
var ErrCorrupt = errors.New("bin: corrupt record")

// String appends s.
func String(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Int appends n.
func Int(b []byte, n int64) []byte { return binary.AppendVarint(b, n) }

// Bool appends v as one byte.
func Bool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// Time appends t: a zero time as one byte; otherwise its instant and its
// zone's offset (the zone's name is not kept, as in RFC 3339).
func Time(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	_, offset := t.Zone()
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	b = binary.AppendVarint(b, int64(t.Nanosecond()))
	return binary.AppendVarint(b, int64(offset))
}

// Money appends m.
func Money(b []byte, m giftkit.Money) []byte {
	b, _ = m.AppendBinary(b)
	return b
}

// A Reader reads fields in the order they were appended. After the first
// failure every read returns a zero value and Err reports the failure.
type Reader struct {
	data []byte
	err  error
}

// NewReader returns a Reader of data.
func NewReader(data []byte) *Reader { return &Reader{data: data} }

// Err returns the first failure, or ErrCorrupt if data is left over after
// a complete read (call it last).
func (r *Reader) Err() error {
	if r.err == nil && len(r.data) > 0 {
		return ErrCorrupt
	}
	return r.err
}

// Fail marks the data corrupt, for a decoder that finds a value out of
// range.
func (r *Reader) Fail() { r.err, r.data = ErrCorrupt, nil }

// Int reads an integer.
func (r *Reader) Int() int64 {
	n, size := binary.Varint(r.data)
	if size <= 0 {
		r.Fail()
		return 0
	}
	r.data = r.data[size:]
	return n
}

// String reads a string.
func (r *Reader) String() string {
	n, size := binary.Uvarint(r.data)
	if size <= 0 || n > uint64(len(r.data)-size) {
		r.Fail()
		return ""
	}
	s := string(r.data[size : size+int(n)])
	r.data = r.data[size+int(n):]
	return s
}

// Bytes reads n bytes into dst.
func (r *Reader) Bytes(dst []byte) {
	if len(r.data) < len(dst) {
		r.Fail()
		return
	}
	copy(dst, r.data)
	r.data = r.data[len(dst):]
}

// Bool reads a flag.
func (r *Reader) Bool() bool {
	if len(r.data) == 0 || r.data[0] > 1 {
		r.Fail()
		return false
	}
	v := r.data[0] == 1
	r.data = r.data[1:]
	return v
}

// Time reads a time: UTC when its offset was zero, otherwise in a fixed
// zone of that offset.
func (r *Reader) Time() time.Time {
	if !r.Bool() {
		return time.Time{}
	}
	sec, nsec := r.Int(), r.Int()
	offset := r.Int()
	if nsec < 0 || nsec >= 1e9 {
		r.Fail()
		return time.Time{}
	}
	t := time.Unix(sec, nsec)
	if offset == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(offset)))
}

// Money reads an amount.
func (r *Reader) Money() giftkit.Money {
	var m giftkit.Money
	if r.err != nil {
		return m
	}
	n, err := m.DecodeBinary(r.data)
	if err != nil {
		r.Fail()
		return giftkit.Money{}
	}
	r.data = r.data[n:]
	return m
}

// Currency appends c's four-byte binary form.
func Currency(b []byte, c giftkit.Currency) []byte {
	b, _ = c.AppendBinary(b)
	return b
}

// Currency reads a currency.
func (r *Reader) Currency() giftkit.Currency {
	var raw [4]byte
	r.Bytes(raw[:])
	var c giftkit.Currency
	if r.err == nil && c.UnmarshalBinary(raw[:]) != nil {
		r.Fail()
	}
	return c
}

// Blob appends b2 as a length and its bytes.
func Blob(b, b2 []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(b2)))
	return append(b, b2...)
}

// Blob reads bytes that Blob appended, as a copy; nil when empty.
func (r *Reader) Blob() []byte {
	n, size := binary.Uvarint(r.data)
	if size <= 0 || n > uint64(len(r.data)-size) {
		r.Fail()
		return nil
	}
	var out []byte
	if n > 0 {
		out = append([]byte(nil), r.data[size:size+int(n)]...)
	}
	r.data = r.data[size+int(n):]
	return out
}
