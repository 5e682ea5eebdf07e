package webhook_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/giftkit/giftkit/webhook"
)

// FuzzVerify checks that Verify never panics, that it accepts a message
// only when its signature header holds what a Signer with the verifier's
// secret makes for that id, time and body, and that it accepts every
// message such a Signer signed and no change to its body.
func FuzzVerify(f *testing.F) {
	secret := webhook.MustParseSecret(specSecret)
	signer, _ := webhook.NewSigner(secret)
	v := webhook.Verifier{Secrets: []webhook.Secret{secret}}
	now := time.Unix(specTimestamp, 0)

	f.Add(specID, strconv.Itoa(specTimestamp), specSignature, []byte(specPayload))
	f.Add(specID, strconv.Itoa(specTimestamp), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", []byte(specPayload))
	f.Add(specID, strconv.Itoa(specTimestamp), "v1a,x "+specSignature+" v1,", []byte(specPayload))
	f.Add(specID, "0"+strconv.Itoa(specTimestamp), specSignature, []byte(specPayload))
	f.Add("evt.1", "1614265330", "v1,", []byte(nil))
	f.Add("", "", "", []byte("{}"))
	f.Add("evt_1", "-1", "v1,AAAA", []byte{0xff, 0})
	f.Add("evt_1", "99999999999999999999", "v1,AAAA", []byte("x"))

	f.Fuzz(func(t *testing.T, id, timestamp, signature string, body []byte) {
		h := http.Header{}
		h.Set(webhook.HeaderID, id)
		h.Set(webhook.HeaderTimestamp, timestamp)
		h.Set(webhook.HeaderSignature, signature)
		if err := v.Verify(h, body, now); err == nil {
			secs, perr := strconv.ParseInt(timestamp, 10, 64)
			if perr != nil || strconv.FormatInt(secs, 10) != timestamp {
				t.Fatalf("Verify accepted timestamp %q", timestamp)
			}
			made, serr := signer.Signature(id, time.Unix(secs, 0), body)
			if serr != nil || !slices.Contains(strings.Fields(signature), made) {
				t.Fatalf("Verify accepted (%q, %q, %q, %q), which Sign did not make (%q, %v)", id, timestamp, signature, body, made, serr)
			}
		}

		// What Sign makes, Verify accepts; a changed body it refuses.
		h = http.Header{}
		if err := signer.Sign(h, id, now, body); err != nil {
			return // an id Sign refuses
		}
		if err := v.Verify(h, body, now); err != nil {
			t.Fatalf("Verify refused what Sign made for (%q, %q): %v", id, body, err)
		}
		changed := append(slices.Clone(body), '!')
		if err := v.Verify(h, changed, now); err == nil {
			t.Fatalf("Verify accepted a changed body for (%q, %q)", id, body)
		}
	})
}
