package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/webhook"
)

// A sender signs a message; the receiver verifies it, and refuses it once
// the body is changed or when it comes too late.
func ExampleVerifier_Verify() {
	secret, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	signer, _ := webhook.NewSigner(secret)
	sentAt := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	h := http.Header{}
	if err := signer.Sign(h, "msg_p5jXN8AQM9LWM0D4loKWxJek", sentAt, body); err != nil {
		panic(err)
	}
	fmt.Println(h.Get(webhook.HeaderSignature))

	v := webhook.Verifier{Secrets: []webhook.Secret{secret}}
	fmt.Println(v.Verify(h, body, sentAt.Add(time.Second)))
	err = v.Verify(h, []byte(`{"test": 2432232315}`), sentAt.Add(time.Second))
	fmt.Println(errors.Is(err, webhook.ErrNoMatchingSignature), giftkit.KindOf(err) == giftkit.ErrInvalid)
	fmt.Println(v.Verify(h, body, sentAt.Add(time.Hour)))
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// <nil>
	// true true
	// webhook: verify msg_p5jXN8AQM9LWM0D4loKWxJek: webhook timestamp too old (1614265330)
}

// A dispatcher delivers a store's outbox events to an endpoint, which
// verifies each and dedupes by webhook-id.
func ExampleDispatcher() {
	secret, _ := webhook.NewSecret(nil) // shown once to the endpoint's owner: secret.Encode()
	now := func() time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) }

	received := make(chan webhook.Message)
	verifier := webhook.Verifier{Secrets: []webhook.Secret{secret}}
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := verifier.Verify(r.Header, body, now()); err != nil { // time.Now() in a real receiver
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var m webhook.Message
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent) // after storing m, deduped by m.ID
		received <- m
	}))
	defer endpoint.Close()

	store := memstore.New()
	card := outbox.Aggregate{Kind: outbox.AggregateCard, ID: "card_1"}
	_ = store.Update(context.Background(), func(tx *memstore.Tx) error {
		return tx.AppendEvents([]outbox.Event{
			outbox.New(card, 1, outbox.CardIssued, giftkit.Client("pos-1"), now(), []byte(`{"card_id":"card_1"}`)),
			outbox.New(card, 2, outbox.CardActivated, giftkit.Client("pos-1"), now(), []byte(`{"card_id":"card_1"}`)),
		})
	})

	d, err := webhook.NewDispatcher(webhook.Config{
		Reader:   store,
		Consumer: "webhook:crm",
		URL:      endpoint.URL,
		Secrets:  []webhook.Secret{secret},
		Now:      now, // time.Now in a real host
	})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	for range 2 {
		m := <-received
		fmt.Println(m.Pos, m.Type, m.Aggregate, string(m.Data))
	}
	stop()
	fmt.Println(<-done)
	// Output:
	// 1 card.issued card/card_1 {"card_id":"card_1"}
	// 2 card.activated card/card_1 {"card_id":"card_1"}
	// context canceled
}
