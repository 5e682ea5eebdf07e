// Package codefmt parses, normalises, generates, formats and masks gift card
// activation codes.
//
// A code is 15 characters of Crockford's base-32 alphabet
// (0123456789ABCDEFGHJKMNPQRSTVWXYZ: no I, L, O or U), written in groups of
// 4, 6 and 5: XXXX-XXXXXX-XXXXX. The first 13 characters are random (65 bits
// from crypto/rand); the last two are check characters.
//
// # The check
//
// Each character is an element vᵢ of GF(32), and a code is valid when
//
//	Σ vᵢ = 0  and  Σ αⁱ vᵢ = 0   (i = 0 … 14)
//
// which makes the codes a [15,13,3] Reed–Solomon-style code. The tests of this
// package prove, exhaustively over many codes, that:
//
//   - every single wrong character is detected, located and corrected
//     (offered as [ParseError.Suggestions], never applied by itself);
//   - every transposition of two characters, neighbours or not, and every
//     pair of wrong characters is detected;
//   - every wrong length is detected.
//
// A random 15-character string passes the check with probability 1/1024, so
// the check is a typing aid, not a secret: the 65 random bits are what make a
// code impossible to guess, and stores keep only a keyed hash of it.
//
// # Reading codes
//
// [Parse] forgives what cannot change the meaning (case, spaces, dashes of
// every kind, invisible characters, full-width forms, surrounding quotes, and
// the look-alikes O→0, I→1, L→1) and rejects everything else with a
// [*ParseError] that unwraps to [ErrEmpty], [ErrLength], [ErrInvalidChar] or
// [ErrChecksum] and carries the byte offset, the position in the code and a
// hint. [Extract] finds codes in pasted text such as an email body.
//
// # Values
//
// [Code] is a comparable value; its zero value is not a valid code.
// [Code.String] is the only way to see a whole code; logs and error messages
// use [Code.Masked]. Every function in this package is safe for concurrent use.
package codefmt
