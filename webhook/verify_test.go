package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/giftkit/giftkit/webhook"
)

func TestVerify(t *testing.T) {
	secret := webhook.MustParseSecret(specSecret)
	signer, _ := webhook.NewSigner(secret)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"card.issued","data":{"card_id":"card_1"}}`)
	signed := func(at time.Time) http.Header {
		h := http.Header{}
		if err := signer.Sign(h, "evt_1", at, body); err != nil {
			t.Fatal(err)
		}
		return h
	}
	with := func(h http.Header, key string, values ...string) http.Header {
		h = h.Clone()
		h.Del(key)
		for _, v := range values {
			h.Add(key, v)
		}
		return h
	}
	valid := signed(now).Get(webhook.HeaderSignature)
	other, _ := webhook.NewSigner(mustNewSecret(t, 9))
	otherSig, _ := other.Signature("evt_1", now, body)

	tests := []struct {
		name      string
		header    http.Header
		body      string
		tolerance time.Duration
		want      error
	}{
		{name: "valid", header: signed(now)},
		{name: "at the edge of the past", header: signed(now.Add(-webhook.DefaultTolerance))},
		{name: "at the edge of the future", header: signed(now.Add(webhook.DefaultTolerance))},
		{name: "tampered body", header: signed(now), body: `{"type":"card.issued","data":{"card_id":"card_2"}}`, want: webhook.ErrNoMatchingSignature},
		{name: "body with a space added", header: signed(now), body: string(body) + " ", want: webhook.ErrNoMatchingSignature},
		{name: "empty body", header: signed(now), body: "-", want: webhook.ErrNoMatchingSignature},
		{name: "wrong secret", header: with(signed(now), webhook.HeaderSignature, otherSig), want: webhook.ErrNoMatchingSignature},
		{name: "tampered id", header: with(signed(now), webhook.HeaderID, "evt_2"), want: webhook.ErrNoMatchingSignature},
		{name: "tampered timestamp", header: with(signed(now), webhook.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10)), want: webhook.ErrNoMatchingSignature},
		{name: "old", header: signed(now.Add(-webhook.DefaultTolerance - time.Second)), want: webhook.ErrTooOld},
		{name: "future", header: signed(now.Add(webhook.DefaultTolerance + time.Second)), want: webhook.ErrTooNew},
		{name: "far past", header: with(signed(now), webhook.HeaderTimestamp, "0"), want: webhook.ErrTooOld},
		{name: "far future", header: with(signed(now), webhook.HeaderTimestamp, "9223372036854775807"), want: webhook.ErrTooNew},
		{name: "old within a wider tolerance", header: signed(now.Add(-time.Hour)), tolerance: 2 * time.Hour},
		{name: "old for a narrower tolerance", header: signed(now.Add(-time.Minute)), tolerance: 30 * time.Second, want: webhook.ErrTooOld},
		{name: "no id", header: with(signed(now), webhook.HeaderID), want: webhook.ErrMissingHeader},
		{name: "empty id", header: with(signed(now), webhook.HeaderID, ""), want: webhook.ErrMissingHeader},
		{name: "no timestamp", header: with(signed(now), webhook.HeaderTimestamp), want: webhook.ErrMissingHeader},
		{name: "no signature", header: with(signed(now), webhook.HeaderSignature), want: webhook.ErrMissingHeader},
		{name: "no headers", header: http.Header{}, want: webhook.ErrMissingHeader},
		{name: "two ids", header: with(signed(now), webhook.HeaderID, "evt_1", "evt_2"), want: webhook.ErrInvalidHeader},
		{name: "two timestamps", header: with(signed(now), webhook.HeaderTimestamp, "1", "2"), want: webhook.ErrInvalidHeader},
		{name: "id with a full stop", header: with(signed(now), webhook.HeaderID, "evt.1"), want: webhook.ErrInvalidHeader},
		{name: "id with a space", header: with(signed(now), webhook.HeaderID, "evt 1"), want: webhook.ErrInvalidHeader},
		{name: "timestamp not a number", header: with(signed(now), webhook.HeaderTimestamp, "soon"), want: webhook.ErrInvalidTimestamp},
		{name: "timestamp with a sign", header: with(signed(now), webhook.HeaderTimestamp, "+"+strconv.FormatInt(now.Unix(), 10)), want: webhook.ErrInvalidTimestamp},
		{name: "timestamp with a leading zero", header: with(signed(now), webhook.HeaderTimestamp, "0"+strconv.FormatInt(now.Unix(), 10)), want: webhook.ErrInvalidTimestamp},
		{name: "timestamp in milliseconds", header: with(signed(now), webhook.HeaderTimestamp, strconv.FormatInt(now.UnixMilli(), 10)), want: webhook.ErrTooNew},
		{name: "timestamp too long", header: with(signed(now), webhook.HeaderTimestamp, "99999999999999999999"), want: webhook.ErrInvalidTimestamp},
		{name: "several signatures, one valid", header: with(signed(now), webhook.HeaderSignature,
			"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,x  v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw "+valid+" v1,")},
		{name: "signatures on several lines", header: with(signed(now), webhook.HeaderSignature, otherSig, valid)},
		{name: "valid signature under another version", header: with(signed(now), webhook.HeaderSignature, "v1a,"+valid[3:]), want: webhook.ErrNoMatchingSignature},
		{name: "signature without version", header: with(signed(now), webhook.HeaderSignature, valid[3:]), want: webhook.ErrNoMatchingSignature},
		{name: "partial signature", header: with(signed(now), webhook.HeaderSignature, "v1,"), want: webhook.ErrNoMatchingSignature},
		{name: "truncated signature", header: with(signed(now), webhook.HeaderSignature, valid[:len(valid)-1]), want: webhook.ErrNoMatchingSignature},
		{name: "signature of different case", header: with(signed(now), webhook.HeaderSignature, "V1"+valid[2:]), want: webhook.ErrNoMatchingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := body
			switch tt.body {
			case "":
			case "-":
				b = nil
			default:
				b = []byte(tt.body)
			}
			v := webhook.Verifier{Secrets: []webhook.Secret{secret}, Tolerance: tt.tolerance}
			err := v.Verify(tt.header, b, now)
			if diff := cmp.Diff(tt.want, err, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("Verify = %v; want %v", err, tt.want)
			}
			var ve *webhook.VerifyError
			if err != nil && !errors.As(err, &ve) {
				t.Errorf("Verify = %T; want a *VerifyError", err)
			}
		})
	}

	var zero webhook.Verifier
	if err := zero.Verify(signed(now), body, now); !errors.Is(err, webhook.ErrNoMatchingSignature) {
		t.Errorf("zero Verifier: %v; want ErrNoMatchingSignature", err)
	}
}

func TestVerifyErrorMessage(t *testing.T) {
	at := time.Unix(1614265330, 0)
	for _, tt := range []struct {
		err  *webhook.VerifyError
		want string
	}{
		{&webhook.VerifyError{Header: webhook.HeaderID, Err: webhook.ErrMissingHeader}, "webhook: verify: missing webhook header (webhook-id)"},
		{&webhook.VerifyError{ID: "evt_1", Timestamp: at, Err: webhook.ErrTooOld}, "webhook: verify evt_1: webhook timestamp too old (1614265330)"},
		{&webhook.VerifyError{ID: "evt_1", Timestamp: at, Err: webhook.ErrNoMatchingSignature}, "webhook: verify evt_1: no matching webhook signature"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q; want %q", got, tt.want)
		}
	}
}
