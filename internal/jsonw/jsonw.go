// Package jsonw appends JSON objects to a byte slice by hand: for the
// payloads of events, which are written on every use case's path, where
// encoding/json's reflection would cost more than the use case.
package jsonw

import (
	"encoding/hex"
	"unicode/utf8"

	"github.com/giftkit/giftkit"
)

// An Object is a JSON object being appended to B. Call the field methods in
// order, then End. Keys are written as given: they must need no escaping.
type Object struct {
	B     []byte
	first bool
}

// Begin starts an object at the end of b.
func Begin(b []byte) Object { return Object{B: append(b, '{'), first: true} }

func (o *Object) key(k string) {
	if !o.first {
		o.B = append(o.B, ',')
	}
	o.first = false
	o.B = append(o.B, '"')
	o.B = append(o.B, k...)
	o.B = append(o.B, '"', ':')
}

// String writes k: v, escaped.
func (o *Object) String(k, v string) {
	o.key(k)
	o.B = AppendString(o.B, v)
}

// OmitEmpty writes k: v unless v is empty.
func (o *Object) OmitEmpty(k, v string) {
	if v != "" {
		o.String(k, v)
	}
}

// Hex writes k: b in lower-case hexadecimal, as a string.
func (o *Object) Hex(k string, b []byte) {
	o.key(k)
	o.B = append(o.B, '"')
	o.B = hex.AppendEncode(o.B, b)
	o.B = append(o.B, '"')
}

// Money writes k: m in the form of giftkit.Money.MarshalJSON.
func (o *Object) Money(k string, m giftkit.Money) {
	o.key(k)
	o.B = m.AppendJSON(o.B)
}

// Object starts a nested object under k; End it before the next field.
func (o *Object) Object(k string) Object {
	o.key(k)
	return Begin(o.B)
}

// Close ends a nested object n that o's field k began, taking back its
// buffer.
func (o *Object) Close(n Object) { o.B = n.End() }

// End closes the object and returns the buffer.
func (o *Object) End() []byte { return append(o.B, '}') }

// An Array is a JSON array being appended under a key of an Object (see
// Object.Array): add its elements in order, then give it back to the
// Object with CloseArray.
type Array struct {
	B     []byte
	first bool
}

// Array starts an array under k; CloseArray it before the next field.
func (o *Object) Array(k string) Array {
	o.key(k)
	return Array{B: append(o.B, '['), first: true}
}

// CloseArray ends an array a that o's field began, taking back its buffer.
func (o *Object) CloseArray(a Array) { o.B = append(a.B, ']') }

func (a *Array) sep() {
	if !a.first {
		a.B = append(a.B, ',')
	}
	a.first = false
}

// Object starts an object as the array's next element; Close it before
// the next element.
func (a *Array) Object() Object {
	a.sep()
	return Begin(a.B)
}

// Close ends an element n that Object began, taking back its buffer.
func (a *Array) Close(n Object) { a.B = n.End() }

// Money appends m as the array's next element.
func (a *Array) Money(m giftkit.Money) {
	a.sep()
	a.B = m.AppendJSON(a.B)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, and
// <, > and & are escaped as encoding/json does, so the result is safe in
// HTML too.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
