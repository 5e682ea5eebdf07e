package webhook_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/webhook"
)

// The test vector every Standard Webhooks library checks (for example
// libraries/go/webhook_test.go, TestWebhookSign, in
// github.com/standard-webhooks/standard-webhooks).
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSpecVector(t *testing.T) {
	signer, err := webhook.NewSigner(webhook.MustParseSecret(specSecret))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(specTimestamp, 0)
	got, err := signer.Signature(specID, at, []byte(specPayload))
	if err != nil || got != specSignature {
		t.Fatalf("Signature(spec vector) = %q, %v; want %q", got, err, specSignature)
	}

	h := http.Header{}
	h.Set("Webhook-Id", specID) // header names are case-insensitive
	h.Set("Webhook-Timestamp", fmt.Sprint(specTimestamp))
	h.Set("Webhook-Signature", specSignature)
	v := webhook.Verifier{Secrets: []webhook.Secret{webhook.MustParseSecret(specSecret)}}
	if err := v.Verify(h, []byte(specPayload), at.Add(time.Minute)); err != nil {
		t.Errorf("Verify(spec vector) = %v; want nil", err)
	}
}

func TestSignSetsHeaders(t *testing.T) {
	signer, _ := webhook.NewSigner(webhook.MustParseSecret(specSecret))
	h := http.Header{}
	if err := signer.Sign(h, specID, time.Unix(specTimestamp, 0), []byte(specPayload)); err != nil {
		t.Fatal(err)
	}
	want := http.Header{
		"Webhook-Id":        {specID},
		"Webhook-Timestamp": {"1614265330"},
		"Webhook-Signature": {specSignature},
	}
	if diff := cmp.Diff(want, h); diff != "" {
		t.Errorf("headers mismatch (-want +got):\n%s", diff)
	}
	for _, id := range []string{"", "a.b", "a b", "ü", strings.Repeat("x", webhook.MaxIDLen+1)} {
		h := http.Header{}
		if err := signer.Sign(h, id, time.Unix(1, 0), nil); !errors.Is(err, webhook.ErrInvalidHeader) || len(h) != 0 {
			t.Errorf("Sign(id %q) = %v, headers %v; want ErrInvalidHeader and none", id, err, h)
		}
	}
}

// A signer with two secrets signs with both: a verifier that holds either
// accepts the message, which is how a secret changes over.
func TestRotation(t *testing.T) {
	oldSecret, newSecret := mustNewSecret(t, 1), mustNewSecret(t, 2)
	both, err := webhook.NewSigner(newSecret, oldSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"card.issued"}`)
	h := http.Header{}
	if err := both.Sign(h, "evt_1", now, body); err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(h.Get(webhook.HeaderSignature))); n != 2 {
		t.Fatalf("signature header %q has %d signatures; want 2", h.Get(webhook.HeaderSignature), n)
	}
	for name, secrets := range map[string][]webhook.Secret{
		"old": {oldSecret}, "new": {newSecret}, "both": {oldSecret, newSecret},
	} {
		v := webhook.Verifier{Secrets: secrets}
		if err := v.Verify(h, body, now); err != nil {
			t.Errorf("verifier with the %s secret: %v", name, err)
		}
	}
	v := webhook.Verifier{Secrets: []webhook.Secret{mustNewSecret(t, 3)}}
	if err := v.Verify(h, body, now); !errors.Is(err, webhook.ErrNoMatchingSignature) {
		t.Errorf("verifier with another secret: %v; want ErrNoMatchingSignature", err)
	}
}

func mustNewSecret(t *testing.T, fill byte) webhook.Secret {
	t.Helper()
	s, err := webhook.NewSecret(bytes.NewReader(bytes.Repeat([]byte{fill}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseSecret(t *testing.T) {
	valid := []string{
		specSecret, // 24 bytes
		"whsec_" + b64(32),
		"whsec_" + b64(64),
	}
	for _, s := range valid {
		sec, err := webhook.ParseSecret(s)
		if err != nil {
			t.Errorf("ParseSecret(%q) = %v", s, err)
			continue
		}
		if sec.Encode() != s {
			t.Errorf("ParseSecret(%q).Encode() = %q", s, sec.Encode())
		}
	}
	invalid := map[string]string{
		"":                                       "no whsec_ prefix",
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw":       "no whsec_ prefix", // the reference library accepts it; a prefix says what it is
		"whsk_" + b64(32):                        "no whsec_ prefix",
		"whsec_":                                 "shorter than 24 bytes",
		"whsec_" + b64(23):                       "shorter than 24 bytes",
		"whsec_" + b64(65):                       "longer than 64 bytes",
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!": "not standard base64",
		"whsec_" + strings.TrimRight(b64(32), "="): "not standard base64",
		"whsec_" + b64(32) + "\n":                  "line break in secret",
		"whsec_MfKQ9r8GKYqrTwjUPD8I\nLPZIo2LaLaSw": "line break in secret",
	}
	for s, reason := range invalid {
		_, err := webhook.ParseSecret(s)
		var se *webhook.SecretError
		if !errors.As(err, &se) || se.Reason != reason || !errors.Is(err, webhook.ErrInvalidSecret) {
			t.Errorf("ParseSecret(%q) = %v; want a SecretError %q", s, err, reason)
		}
		if len(s) > 10 && strings.Contains(fmt.Sprint(err), s[6:]) {
			t.Errorf("ParseSecret(%q): the error %q holds the secret", s, err)
		}
	}
}

// b64 returns the base64 of n bytes.
func b64(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n)) }

func TestSecretDoesNotPrint(t *testing.T) {
	sec := webhook.MustParseSecret(specSecret)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", sec)
	for _, s := range []string{fmt.Sprint(sec), fmt.Sprintf("%v %+v %#v %s", sec, sec, sec, sec), logged.String(),
		fmt.Sprintf("%+v", webhook.Verifier{Secrets: []webhook.Secret{sec}})} {
		if strings.Contains(s, specSecret[6:]) {
			t.Errorf("secret printed: %s", s)
		}
	}
	if !strings.Contains(fmt.Sprint(sec), "redacted") {
		t.Errorf("fmt.Sprint(secret) = %q", fmt.Sprint(sec))
	}
	if (webhook.Secret{}).IsValid() || (webhook.Secret{}).Encode() != "" {
		t.Error("the zero Secret is valid")
	}
}

func TestNewSigner(t *testing.T) {
	for _, secrets := range [][]webhook.Secret{nil, {{}}, {webhook.MustParseSecret(specSecret), {}}} {
		if _, err := webhook.NewSigner(secrets...); !errors.Is(err, webhook.ErrInvalidSecret) {
			t.Errorf("NewSigner(%d secrets) = %v; want ErrInvalidSecret", len(secrets), err)
		}
	}
	var zero webhook.Signer
	if _, err := zero.Signature("evt_1", time.Unix(1, 0), nil); !errors.Is(err, webhook.ErrInvalidSecret) {
		t.Errorf("zero Signer: %v; want ErrInvalidSecret", err)
	}
	if _, err := webhook.NewSecret(strings.NewReader("short")); err == nil {
		t.Error("NewSecret from a short reader succeeded")
	}
	a, _ := webhook.NewSecret(nil)
	b, _ := webhook.NewSecret(nil)
	if !a.IsValid() || a == b {
		t.Error("NewSecret(nil) made an invalid or repeated secret")
	}
}

// TestKinds checks that every sentinel of the package is of exactly the
// kind its documentation names, as the root package's TestKinds does for
// the others.
func TestKinds(t *testing.T) {
	kinds := map[error][]error{
		giftkit.ErrInvalid: {webhook.ErrInvalidSecret, webhook.ErrMissingHeader, webhook.ErrInvalidHeader,
			webhook.ErrInvalidTimestamp, webhook.ErrTooOld, webhook.ErrTooNew, webhook.ErrNoMatchingSignature,
			webhook.ErrInvalidConfig, &webhook.SecretError{Reason: "x"}, &webhook.VerifyError{Err: webhook.ErrTooOld}},
		giftkit.ErrUnavailable: {webhook.ErrDeliveryFailed, &webhook.DeliveryError{Err: webhook.ErrDeliveryFailed, Cause: errors.New("reset")}},
		giftkit.ErrNotFound:    {webhook.ErrGone, outbox.ErrDeadLetterNotFound, &webhook.DeliveryError{Err: webhook.ErrGone}},
		giftkit.ErrConflict:    {webhook.ErrRunning},
	}
	for kind, sentinels := range kinds {
		for _, s := range sentinels {
			if got := giftkit.KindOf(fmt.Errorf("op: %w", s)); got != kind {
				t.Errorf("KindOf(%v) = %v; want %v", s, got, kind)
			}
			for _, other := range []error{giftkit.ErrInvalid, giftkit.ErrNotFound, giftkit.ErrConflict, giftkit.ErrCurrencyMismatch,
				giftkit.ErrInsufficientFunds, giftkit.ErrExpired, giftkit.ErrDeclined, giftkit.ErrUnavailable, giftkit.ErrRateLimited} {
				if other != kind && errors.Is(s, other) {
					t.Errorf("%v is also of kind %v", s, other)
				}
			}
		}
	}
	cause := errors.New("connection reset")
	de := &webhook.DeliveryError{Consumer: "c", EventID: "evt_1", Attempts: 2, Cause: cause, Err: webhook.ErrDeliveryFailed}
	if diff := cmp.Diff([]error{webhook.ErrDeliveryFailed, cause}, []error{de, de}, cmpopts.EquateErrors()); diff != "" {
		t.Errorf("DeliveryError does not unwrap to its sentinel and cause (-want +got):\n%s", diff)
	}
}
