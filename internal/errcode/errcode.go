// Package errcode names a package's sentinel errors with stable snake_case
// codes, for the JSON form of its typed error.
package errcode

import (
	"encoding/json"
	"errors"
	"fmt"
)

// A Table maps codes to sentinel errors.
type Table map[string]error

// Code returns the code of err, or "" if err is not in the table.
func (t Table) Code(err error) string {
	for code, e := range t {
		if e == err {
			return code
		}
	}
	return ""
}

// Sentinel returns the error with the given code; pkg names the caller in
// the error for an unknown code.
func (t Table) Sentinel(pkg, code string) (error, error) {
	e, ok := t[code]
	if !ok {
		return nil, fmt.Errorf("%s: unknown error code %q", pkg, code)
	}
	return e, nil
}

// Marshal encodes fields, the error's fields as a type without MarshalJSON
// (a plain alias of the error type), as one JSON object with "error": code.
func Marshal(fields any, code string) ([]byte, error) {
	obj, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	codeJSON, _ := json.Marshal(code)
	sep := ","
	if len(obj) == 2 { // "{}"
		sep = ""
	}
	out := make([]byte, 0, len(obj)+len(sep)+len(`"error":`)+len(codeJSON))
	out = append(out, obj[:len(obj)-1]...)
	out = append(out, sep+`"error":`...)
	out = append(out, codeJSON...)
	return append(out, '}'), nil
}

// Unmarshal decodes the form written by Marshal into fields and returns the
// sentinel named by its "error" member.
func (t Table) Unmarshal(pkg string, data []byte, fields any) (error, error) {
	var code struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(data, &code); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, fields); err != nil {
		return nil, err
	}
	return t.Sentinel(pkg, code.Error)
}

// The kinds of failure, declared here, in a package with no dependencies,
// so that every package of the module can wrap them, codefmt included (it
// imports nothing else of ours); the root package exports them under their
// documented names (giftkit.ErrInvalid, ...), the only names callers use.
var (
	ErrInvalid           = errors.New("invalid request")
	ErrNotFound          = errors.New("not found")
	ErrConflict          = errors.New("conflict with the current state")
	ErrCurrencyMismatch  = errors.New("currency mismatch")
	ErrInsufficientFunds = errors.New("insufficient funds")
	ErrExpired           = errors.New("expired")
	ErrDeclined          = errors.New("declined")
	ErrUnavailable       = errors.New("unavailable")
	ErrRateLimited       = errors.New("rate limited")
)

// New returns a sentinel error with the message text that wraps kind, one
// of the root package's kinds (giftkit.ErrNotFound, ...): errors.Is finds
// both the sentinel and its kind, and the message is text alone.
func New(kind error, text string) error { return &sentinel{text, kind} }

type sentinel struct {
	text string
	kind error
}

func (e *sentinel) Error() string { return e.text }
func (e *sentinel) Unwrap() error { return e.kind }
