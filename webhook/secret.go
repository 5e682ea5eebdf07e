package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
)

// The lengths of a secret's key, in bytes, as the Standard Webhooks
// specification sets them for HMAC-SHA256.
const (
	MinSecretLen = 24
	MaxSecretLen = 64
)

// secretPrefix starts the text form of a symmetric secret.
const secretPrefix = "whsec_"

// A Secret is the key an endpoint's sender and receiver share, to sign and
// verify with HMAC-SHA256. Its text form is "whsec_" and the standard
// base64 (with padding) of the key. The zero Secret is not valid: a Signer
// and a Verifier refuse it.
//
// A Secret prints as "whsec_[redacted]" with fmt and log/slog; only
// [Secret.Encode] gives the text form, to show to the receiver's owner
// once or to store.
type Secret struct {
	key string // MinSecretLen to MaxSecretLen bytes; a string, so a Secret is immutable
}

// ParseSecret returns the secret whose text form is s. It fails with a
// [*SecretError] (ErrInvalidSecret) unless s is "whsec_" and the standard
// base64 of MinSecretLen to MaxSecretLen bytes.
func ParseSecret(s string) (Secret, error) {
	enc, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return Secret{}, &SecretError{Reason: "no " + secretPrefix + " prefix"}
	}
	// The decoder would skip line breaks; a secret with one was not
	// copied whole, or was copied with its file's newline.
	if strings.ContainsAny(enc, "\r\n") {
		return Secret{}, &SecretError{Reason: "line break in secret"}
	}
	key, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		return Secret{}, &SecretError{Reason: "not standard base64"}
	}
	return secretFromKey(key)
}

// MustParseSecret is like ParseSecret but panics on error. It is for tests
// and examples.
func MustParseSecret(s string) Secret {
	sec, err := ParseSecret(s)
	if err != nil {
		panic(err)
	}
	return sec
}

// NewSecret returns a new secret of 32 bytes read from r; nil means
// crypto/rand.
func NewSecret(r io.Reader) (Secret, error) {
	if r == nil {
		r = rand.Reader
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(r, key); err != nil {
		return Secret{}, err
	}
	return secretFromKey(key)
}

func secretFromKey(key []byte) (Secret, error) {
	switch {
	case len(key) < MinSecretLen:
		return Secret{}, &SecretError{Reason: "shorter than 24 bytes"}
	case len(key) > MaxSecretLen:
		return Secret{}, &SecretError{Reason: "longer than 64 bytes"}
	}
	return Secret{key: string(key)}, nil
}

// IsValid reports whether s is a secret (not the zero Secret).
func (s Secret) IsValid() bool { return s.key != "" }

// Encode returns the text form of s: "whsec_" and the base64 of its key;
// "" for the zero Secret.
func (s Secret) Encode() string {
	if !s.IsValid() {
		return ""
	}
	return secretPrefix + base64.StdEncoding.EncodeToString([]byte(s.key))
}

// String returns "whsec_[redacted]", so that a secret printed by mistake
// does not leak; "" for the zero Secret.
func (s Secret) String() string {
	if !s.IsValid() {
		return ""
	}
	return secretPrefix + "[redacted]"
}

// GoString is String, for %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue is String, for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
