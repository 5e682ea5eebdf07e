package egift_test

import (
	"context"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/egift"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
)

// printer is a Sender that prints what it would email.
type printer struct{}

func (printer) Send(_ context.Context, m egift.Message) error {
	// A real Sender puts m.Code in the email; a log gets m, which masks it.
	fmt.Printf("to %s from %s: %q, %v, code %s\n", m.To, m.From, m.Text, m.Value, m.Code.Masked()[:13]+"…")
	return nil
}

// Send an e-gift card for Christmas morning, and deliver it when the time
// comes.
func ExampleService_Send() {
	ctx := context.Background()
	clock := time.Date(2026, 12, 20, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	store := memstore.New()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: now})
	keys, _ := egift.NewKeyring([]byte("another 32-byte key from a vault")) // from the host's secret store
	gifts, _ := egift.NewService(store, egift.Config{Cards: cards, Keys: keys, Sender: printer{}, Now: now})

	d, err := gifts.Send(ctx, egift.SendRequest{
		Value:     giftkit.MustParseMoney("50.00", giftkit.EUR),
		Recipient: "zoe@example.org",
		From:      "Mamie",
		Message:   "Joyeux Noël !",
		SendAt:    time.Date(2026, 12, 25, 7, 0, 0, 0, time.UTC),
	}, "order-1234")
	fmt.Println(d.State, d.SendAt.Format(time.DateTime), err)

	rep, _ := gifts.Deliver(ctx, 100) // a timer runs this
	fmt.Printf("on the 20th: %+v\n", rep)
	clock = time.Date(2026, 12, 25, 7, 0, 0, 0, time.UTC)
	rep, _ = gifts.Deliver(ctx, 100)
	fmt.Printf("on the 25th: %+v\n", rep)
	sent, _ := gifts.Delivery(ctx, d.ID)
	fmt.Println(sent.State)
	// Output:
	// scheduled 2026-12-25 07:00:00 <nil>
	// on the 20th: {Sent:0 Retrying:0 Failed:0 Cancelled:0}
	// to zoe@example.org from Mamie: "Joyeux Noël !", 50.00 EUR, code ****-******-*…
	// on the 25th: {Sent:1 Retrying:0 Failed:0 Cancelled:0}
	// sent
}
