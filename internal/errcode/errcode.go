// Package errcode names a package's sentinel errors with stable snake_case
// codes, for the JSON form of its typed error.
package errcode

import "fmt"

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
