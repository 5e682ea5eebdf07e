package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a Standard Webhooks message.
const (
	HeaderID        = "webhook-id"        // the message's ID: the outbox event's ID, the same on every attempt
	HeaderTimestamp = "webhook-timestamp" // when the attempt was made, in seconds since the Unix epoch
	HeaderSignature = "webhook-signature" // space-separated signatures, each "v1," and a base64 HMAC-SHA256
)

// MaxIDLen is the longest webhook-id a Signer signs and a Verifier
// accepts, in bytes.
const MaxIDLen = 256

// DefaultTolerance is how far a message's timestamp may be from the
// receiver's clock, either way, when a Verifier has no Tolerance of its own.
const DefaultTolerance = 5 * time.Minute

// signatureVersion marks a symmetric (HMAC-SHA256) signature.
const signatureVersion = "v1"

// validID reports whether id may be a webhook-id: 1 to MaxIDLen bytes of
// visible ASCII without a full stop. The full stop separates the signed
// parts (id.timestamp.body), so an id with one could make two different
// messages sign the same bytes.
func validID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '.' {
			return false
		}
	}
	return true
}

// signature returns the base64 HMAC-SHA256, keyed by key, of
// id + "." + timestamp + "." + body.
func signature(key, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	var sum [sha256.Size]byte
	return base64.StdEncoding.EncodeToString(mac.Sum(sum[:0]))
}

// A Signer signs messages with one or more secrets: each message carries a
// signature by each, so a receiver may move from an old secret to a new one
// without losing a message (sign with both while it changes over). A Signer
// is safe for concurrent use; the zero Signer signs nothing (use
// [NewSigner]).
type Signer struct {
	secrets []Secret
}

// NewSigner returns a Signer that signs with every one of secrets. It
// fails with ErrInvalidSecret when there is none, or one is the zero
// Secret.
func NewSigner(secrets ...Secret) (*Signer, error) {
	if len(secrets) == 0 {
		return nil, &SecretError{Reason: "no secret to sign with"}
	}
	for _, s := range secrets {
		if !s.IsValid() {
			return nil, &SecretError{Reason: "zero Secret"}
		}
	}
	return &Signer{secrets: append([]Secret(nil), secrets...)}, nil
}

// Signature returns the webhook-signature of a message: "v1," and the
// base64 HMAC-SHA256 of id + "." + the Unix seconds of at + "." + body, by
// each secret, separated by spaces. It fails with ErrInvalidHeader for an
// id that is not 1 to MaxIDLen bytes of visible ASCII without a full stop,
// and with ErrInvalidSecret for the zero Signer.
func (s *Signer) Signature(id string, at time.Time, body []byte) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("webhook: sign: %w: %s must be 1 to %d bytes of visible ASCII without a full stop", ErrInvalidHeader, HeaderID, MaxIDLen)
	}
	if len(s.secrets) == 0 {
		return "", &SecretError{Reason: "no secret to sign with"}
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	var b strings.Builder
	for i, sec := range s.secrets {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(signatureVersion + ",")
		b.WriteString(signature(sec.key, id, ts, body))
	}
	return b.String(), nil
}

// Sign sets the three webhook headers of a message in h: its id, at as
// Unix seconds, and its [Signer.Signature]. It fails as Signature does,
// and then leaves h unchanged.
func (s *Signer) Sign(h http.Header, id string, at time.Time, body []byte) error {
	sig, err := s.Signature(id, at, body)
	if err != nil {
		return err
	}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return nil
}

// A Verifier checks, on the receiving side, that a message was signed by a
// holder of one of its secrets and was sent recently. It is safe for
// concurrent use, once set up. The zero Verifier has no secret: it refuses
// every message with ErrNoMatchingSignature.
//
// A Verifier does not remember the messages it saw: a receiver dedupes by
// webhook-id itself, keeping the IDs it processed for at least the
// tolerance (a message replayed later than that is refused as too old).
type Verifier struct {
	// Secrets are the secrets a message may be signed with: more than one
	// while the sender's secret changes over.
	Secrets []Secret
	// Tolerance is how far webhook-timestamp may be from now, in the past
	// or the future; zero or less means DefaultTolerance.
	Tolerance time.Duration
}

// Verify checks a message: its headers h (as net/http gives them, with
// canonical keys), its body exactly as received (not parsed and
// re-encoded) and the receiver's clock now. It returns nil when
// webhook-signature holds a v1 signature of the message by one of the
// verifier's secrets and webhook-timestamp is within the tolerance of now;
// otherwise a [*VerifyError] that unwraps to ErrMissingHeader,
// ErrInvalidHeader, ErrInvalidTimestamp, ErrTooOld, ErrTooNew or
// ErrNoMatchingSignature. Signatures of other versions (such as "v1a") are
// skipped. Signatures are compared in constant time.
func (v *Verifier) Verify(h http.Header, body []byte, now time.Time) error {
	ids, stamps, sigs := h.Values(HeaderID), h.Values(HeaderTimestamp), h.Values(HeaderSignature)
	for _, hv := range [...]struct {
		name   string
		values []string
	}{{HeaderID, ids}, {HeaderTimestamp, stamps}, {HeaderSignature, sigs}} {
		if len(hv.values) == 0 || hv.values[0] == "" {
			return &VerifyError{Header: hv.name, Err: ErrMissingHeader}
		}
		// Two ids or timestamps leave it to chance which one a proxy
		// and this check each read; several signature lines are a list.
		if len(hv.values) > 1 && hv.name != HeaderSignature {
			return &VerifyError{Header: hv.name, Err: ErrInvalidHeader}
		}
	}
	id, ts := ids[0], stamps[0]
	if !validID(id) {
		return &VerifyError{Header: HeaderID, Err: ErrInvalidHeader}
	}
	at, ok := parseTimestamp(ts)
	if !ok {
		return &VerifyError{ID: id, Header: HeaderTimestamp, Err: ErrInvalidTimestamp}
	}
	tolerance := v.Tolerance
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	// Sub saturates, so a timestamp centuries away cannot wrap around
	// into the window.
	switch age := now.Sub(at); {
	case age > tolerance:
		return &VerifyError{ID: id, Timestamp: at, Err: ErrTooOld}
	case age < -tolerance:
		return &VerifyError{ID: id, Timestamp: at, Err: ErrTooNew}
	}
	want := make([]string, 0, len(v.Secrets))
	for _, sec := range v.Secrets {
		if sec.IsValid() {
			want = append(want, signature(sec.key, id, ts, body))
		}
	}
	for _, line := range sigs {
		for _, versioned := range strings.Fields(line) {
			version, sig, ok := strings.Cut(versioned, ",")
			if !ok || version != signatureVersion {
				continue
			}
			for _, w := range want {
				// The length of a signature is no secret (it is
				// 44 bytes), so a length mismatch may return at once.
				if subtle.ConstantTimeCompare([]byte(sig), []byte(w)) == 1 {
					return nil
				}
			}
		}
	}
	return &VerifyError{ID: id, Timestamp: at, Err: ErrNoMatchingSignature}
}

// parseTimestamp parses Unix seconds written as a Signer writes them:
// decimal digits alone, no sign, no leading zero. One text per time keeps
// Verify from accepting a message Sign could not have made.
func parseTimestamp(s string) (time.Time, bool) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return time.Time{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	// time.Unix overflows far beyond year 9999 (into the past), and
	// nothing that far off can be within the tolerance anyway.
	const year9999 = 253402300799
	return time.Unix(min(n, year9999), 0), true
}
