package pgstore

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/giftkit/giftkit/wallet"
)

// An account's lots and holds are kept as JSON (jsonb): lotRow's and
// holdRow's, as encoding/json writes and reads them. A redemption and a
// payment read and write them once each, so they are written here by
// hand, and read by hand when they are in the form the server gives back
// (jsonb's: keys and values as encoding/json would have them, strings
// without escapes); anything else, which rows written by hand never hold,
// is read by encoding/json, with the same result.

// appendLotsJSON appends the JSON of lots, as encoding/json writes a
// []lotRow. ok is false if a time cannot be written (a year outside 0 to
// 9999): encoding/json says why.
func appendLotsJSON(b []byte, lots []wallet.Lot) (_ []byte, ok bool) {
	b = append(b, '[')
	for i, l := range lots {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, l.ID)
		b = append(b, `,"source":`...)
		b = appendJSONString(b, l.Source)
		if l.Class != 0 {
			b = append(b, `,"class":`...)
			b = strconv.AppendUint(b, uint64(uint8(l.Class)), 10)
		}
		b = append(b, `,"remaining":`...)
		b = strconv.AppendInt(b, l.Remaining.Minor(), 10)
		b = append(b, `,"reserved":`...)
		b = strconv.AppendInt(b, l.Reserved.Minor(), 10)
		b = append(b, `,"expires_at":`...)
		if b, ok = appendJSONTime(b, l.ExpiresAt); !ok {
			return b, false
		}
		b = append(b, `,"created_at":`...)
		if b, ok = appendJSONTime(b, l.CreatedAt); !ok {
			return b, false
		}
		b = append(b, '}')
	}
	return append(b, ']'), true
}

// appendHoldsJSON appends the JSON of holds, as encoding/json writes a
// []holdRow; ok as for appendLotsJSON.
func appendHoldsJSON(b []byte, holds []wallet.Hold) (_ []byte, ok bool) {
	b = append(b, '[')
	for i, h := range holds {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendJSONString(b, h.ID)
		b = append(b, `,"amount":`...)
		b = strconv.AppendInt(b, h.Amount.Minor(), 10)
		b = append(b, `,"reference":`...)
		b = appendJSONString(b, h.Reference)
		b = append(b, `,"placer":`...)
		b = appendJSONString(b, h.Placer)
		b = append(b, `,"parts":[`...)
		for j, p := range h.Parts {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"lot_id":`...)
			b = appendJSONString(b, p.LotID)
			b = append(b, `,"amount":`...)
			b = strconv.AppendInt(b, p.Amount.Minor(), 10)
			b = append(b, '}')
		}
		b = append(b, `],"expires_at":`...)
		if b, ok = appendJSONTime(b, h.ExpiresAt); !ok {
			return b, false
		}
		b = append(b, `,"created_at":`...)
		if b, ok = appendJSONTime(b, h.CreatedAt); !ok {
			return b, false
		}
		b = append(b, '}')
	}
	return append(b, ']'), true
}

// appendJSONString appends s as a JSON string. As encoding/json does,
// bytes that are not UTF-8 become U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON does; ok is false
// for a year it refuses.
func appendJSONTime(b []byte, t time.Time) (_ []byte, ok bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

// decodeLots reads lots as encoding/json would into a []lotRow.
func decodeLots(data []byte) ([]lotRow, error) {
	if lots, ok := parseLots(data); ok {
		return lots, nil
	}
	var lots []lotRow
	err := json.Unmarshal(data, &lots)
	return lots, err
}

// decodeHolds reads holds as encoding/json would into a []holdRow.
func decodeHolds(data []byte) ([]holdRow, error) {
	if holds, ok := parseHolds(data); ok {
		return holds, nil
	}
	var holds []holdRow
	err := json.Unmarshal(data, &holds)
	return holds, err
}

// parseLots reads a JSON array of lots in the form described above; ok is
// false for anything else.
func parseLots(data []byte) (lots []lotRow, ok bool) {
	p := jsonParser{data: data}
	ok = p.array(func() bool {
		var l lotRow
		if !p.object(func(key string) bool {
			switch key {
			case "id":
				l.ID, ok = p.string()
			case "source":
				l.Source, ok = p.string()
			case "class":
				var n int64
				n, ok = p.int()
				if ok = ok && n >= 0 && n <= 255; ok {
					l.Class = uint8(n)
				}
			case "remaining":
				l.Remaining, ok = p.int()
			case "reserved":
				l.Reserved, ok = p.int()
			case "expires_at":
				l.ExpiresAt, ok = p.time()
			case "created_at":
				l.CreatedAt, ok = p.time()
			default:
				return false
			}
			return ok
		}) {
			return false
		}
		lots = append(lots, l)
		return true
	})
	return lots, ok && p.end()
}

// parseHolds reads a JSON array of holds in the form described above; ok
// is false for anything else.
func parseHolds(data []byte) (holds []holdRow, ok bool) {
	p := jsonParser{data: data}
	ok = p.array(func() bool {
		var h holdRow
		if !p.object(func(key string) bool {
			switch key {
			case "id":
				h.ID, ok = p.string()
			case "amount":
				h.Amount, ok = p.int()
			case "reference":
				h.Reference, ok = p.string()
			case "placer":
				h.Placer, ok = p.string()
			case "parts":
				h.Parts = []partRow{} // as encoding/json makes an empty array
				ok = p.array(func() bool {
					var part partRow
					if !p.object(func(key string) bool {
						switch key {
						case "lot_id":
							part.LotID, ok = p.string()
						case "amount":
							part.Amount, ok = p.int()
						default:
							return false
						}
						return ok
					}) {
						return false
					}
					h.Parts = append(h.Parts, part)
					return true
				})
			case "expires_at":
				h.ExpiresAt, ok = p.time()
			case "created_at":
				h.CreatedAt, ok = p.time()
			default:
				return false
			}
			return ok
		}) {
			return false
		}
		holds = append(holds, h)
		return true
	})
	return holds, ok && p.end()
}

// jsonParser reads the JSON that parseLots and parseHolds accept: arrays,
// objects, strings without escapes, integers, and the white space between.
type jsonParser struct {
	data []byte
	i    int
}

func (p *jsonParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next reports whether the next byte, after white space, is c, and if so
// consumes it.
func (p *jsonParser) next(c byte) bool {
	p.space()
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (p *jsonParser) end() bool {
	p.space()
	return p.i == len(p.data)
}

// array reads an array, calling elem for each element.
func (p *jsonParser) array(elem func() bool) bool {
	if !p.next('[') {
		return false
	}
	if p.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if p.next(']') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// object reads an object, calling member for each key with the parser
// before its value, which member reads.
func (p *jsonParser) object(member func(key string) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	for {
		key, ok := p.string()
		if !ok || !p.next(':') || !member(key) {
			return false
		}
		if p.next('}') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// raw returns the next string's bytes, quotes included, if it has no
// escape and is UTF-8.
func (p *jsonParser) raw() ([]byte, bool) {
	if !p.next('"') {
		return nil, false
	}
	start := p.i - 1
	for p.i < len(p.data) {
		switch c := p.data[p.i]; {
		case c == '"':
			p.i++
			s := p.data[start:p.i]
			return s, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

func (p *jsonParser) string() (string, bool) {
	s, ok := p.raw()
	if !ok {
		return "", false
	}
	return string(s[1 : len(s)-1]), true
}

// time reads a time as time.Time's UnmarshalJSON does.
func (p *jsonParser) time() (time.Time, bool) {
	s, ok := p.raw()
	if !ok {
		return time.Time{}, false
	}
	var t time.Time
	return t, t.UnmarshalJSON(s) == nil
}

// int reads an integer that an int64 holds.
func (p *jsonParser) int() (int64, bool) {
	p.space()
	start := p.i
	if p.i < len(p.data) && p.data[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		p.i++
	}
	switch {
	case p.i == digits, p.i-digits > 1 && p.data[digits] == '0': // none, or a leading zero
		return 0, false
	case p.i < len(p.data) && (p.data[p.i] == '.' || p.data[p.i] == 'e' || p.data[p.i] == 'E'):
		return 0, false
	}
	n, err := strconv.ParseInt(string(p.data[start:p.i]), 10, 64)
	return n, err == nil
}
