package main

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
)

// Order IDs belong to a shopper: /accounts/alice/orders/order-1 and
// /accounts/bob/orders/order-1 are two orders. checkout's payment IDs are
// global, so the server never hands it an order ID as it came: it pays the
// order under paymentID(owner, order), and every route that names an order
// (pay, get, capture, refund) goes through that one function, as every
// response that shows a payment goes through orderOf.
//
// A payment ID is the owner's tag, a base64url SHA-256 digest of the owner
// of fixed length, followed by the order ID as it is. As the tag's length
// never varies, a payment ID splits back into exactly one (tag, order ID)
// pair, and as SHA-256 has no known collisions, one tag is one owner: the
// encoding is injective without a separator that an order ID could contain.
// A shopper's requests only ever reach payment IDs under their own tag, so no
// order ID they choose can take, reach or reveal another shopper's order.
// The tag is not secret, and need not be: callers never name payment IDs.
//
// A full digest of owner and order ID would also be injective, but could not
// be read back: the history shows the order ID of each payment entry, which
// a digest would hide from the shopper who chose it. The price is the order
// ID's length: maxOrderIDLen bytes, what checkout.MaxIDLen leaves after the
// tag.

// ownerTagLen is the length of an owner's tag: a SHA-256 digest in base64
// without padding.
const ownerTagLen = (sha256.Size*8 + 5) / 6

// maxOrderIDLen is the longest order ID accepted, in bytes.
const maxOrderIDLen = checkout.MaxIDLen - ownerTagLen

// ownerTag returns the prefix of the payment IDs of owner's orders.
func ownerTag(owner string) string {
	sum := sha256.Sum256([]byte(owner))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// paymentID returns the payment ID of owner's order.
func paymentID(owner, order string) string {
	return ownerTag(owner) + order
}

// orderOf returns the order ID that paymentID stands for, if it is one of
// owner's; false for any other reference (a card ID, another's payment).
func orderOf(owner, paymentID string) (string, bool) {
	order, ok := strings.CutPrefix(paymentID, ownerTag(owner))
	return order, ok && order != ""
}

// checkOrderID refuses an order ID that is empty, longer than maxOrderIDLen
// bytes, not UTF-8, or with control characters (a NUL cannot be stored in a
// PostgreSQL text column, and none belongs in an ID).
func checkOrderID(order string) error {
	if order == "" || len(order) > maxOrderIDLen {
		return badRequest("order ID must have 1 to %d bytes", maxOrderIDLen)
	}
	if !utf8.ValidString(order) || strings.ContainsFunc(order, unicode.IsControl) {
		return badRequest("order ID must be UTF-8 without control characters")
	}
	return nil
}

// forOrder rewrites checkout's error about a payment to name the order as
// the caller knows it, rather than by its payment ID. It keeps the error's
// type and chain: only the ID it shows changes. checkout returns its *Error
// unwrapped; any other error (the store's, the wallet's) is left as it is.
func forOrder(err error, order string) error {
	ce, ok := err.(*checkout.Error)
	if !ok {
		return err
	}
	shown := *ce
	shown.PaymentID = order
	return &shown
}

// A tenderError is checkout's refusal of a payment that gave gift cards by
// code, with what the problem's detail needs to speak of them: how many
// codes the request gave and, for a code that does not read, which one,
// counted from 1 as people count. Its message and chain are the refusal's.
type tenderError struct {
	err      error
	codes    int  // how many codes the request gave
	position int  // the code that does not read, from 1; 0 if none
	guest    bool // a guest's payment: there is no balance
}

// Error returns the refusal's message.
func (e *tenderError) Error() string { return e.err.Error() }

// Unwrap returns the refusal.
func (e *tenderError) Unwrap() error { return e.err }

// withCodes wraps err, the refusal of a payment that gave codes, in a
// *tenderError; without codes it returns err as it is. checkout reads the
// codes in order and refuses the first that does not read before looking
// any up, so that is the first that codefmt.Parse refuses (this server
// takes no imported cards' codes: wallet.Config.ExternalCodes is off).
func withCodes(err error, codes []string, guest bool) error {
	if err == nil || len(codes) == 0 {
		return err
	}
	te := &tenderError{err: err, codes: len(codes), guest: guest}
	if pe := (*codefmt.ParseError)(nil); errors.As(err, &pe) || errors.Is(err, giftcard.ErrExternalCode) {
		for i, code := range codes {
			if _, perr := codefmt.Parse(code); perr != nil {
				te.position = i + 1
				break
			}
		}
	}
	return te
}

// tendered returns the *tenderError in err's chain; nil if the request gave
// no codes.
func tendered(err error) *tenderError {
	if te := (*tenderError)(nil); errors.As(err, &te) {
		return te
	}
	return nil
}
