package giftkit_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/activity"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/egift"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/ledger"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
	"github.com/giftkit/giftkit/webhook"
)

// The README's snippets, as code that compiles and runs: TestReadme checks
// that every Go snippet of README.md appears, line for line, here, in
// examples/quickstart or in pgstore's examples.

// Cards spent directly, as the README shows them.
func Example_readmeCardsAsTender() {
	ctx := context.Background()
	store := memstore.New()
	hasher, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	now := func() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) }
	eur := func(s string) giftkit.Money { return giftkit.MustParseMoney(s, giftkit.EUR) }
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: now})
	batch, _ := cards.Issue(ctx, giftcard.IssueRequest{Value: eur("20"), Count: 2}, "issue-7")
	first, second := batch.Cards[0].Code.String(), batch.Cards[1].Code.String()

	programme := giftcard.EUAnonymousPrepaid() // or USCardAct(), Ireland(), France(), or your own
	limiter := wallet.NewMemoryLimiter(0, 0, 0)
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now, Limiter: limiter, Programme: &programme})
	pay, _ := checkout.NewService(store, processortest.New(), checkout.Config{Now: now,
		Hasher: hasher, Limiter: limiter, Programme: &programme}) // one limiter: guesses count together

	// A guest pays 45.00 with two gift cards and a bank card.
	p, err := pay.Pay(ctx, checkout.PayRequest{PaymentID: "order-77", Total: eur("45.00"),
		Codes: []string{first, second}, Instrument: "tok_visa"}, "pay-order-77")
	// p.Cards[0].Captured 20.00, p.Cards[1].Captured 20.00, p.Card.Captured 5.00.
	left, _ := accounts.CheckBalance(ctx, "", first) // rate limited; a typo never counts
	fmt.Println(p.State, len(p.Cards), p.Card.Captured, left.Available, err)
	// Output: captured 2 5.00 EUR 0.00 EUR <nil>
}

// Redeeming a card, as the README shows it.
func Example_readmeRedeem() {
	ctx := context.Background()
	secretKey := []byte("a secret of at least 32 bytes!!!")

	store := memstore.New()
	hasher, _ := giftcard.NewHasher(secretKey) // 32+ bytes, kept outside the database
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: time.Now})
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: time.Now})

	batch, _ := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.MustParseMoney("25", giftkit.EUR)}, "issue-42")
	code := batch.Cards[0].Code // print or send it; it is never stored

	// The shopper types it however they like: " abcd efghjk mnpqr " reads as ABCD-EFGHJK-MNPQR.
	got, err := accounts.Redeem(ctx, "alice", code.String(), "redeem-7")
	// got.Balance.Available == 25.00 EUR; redeeming again: giftcard.ErrAlreadyRedeemed

	fmt.Println(got.Balance.Available, err)
	// Output: 25.00 EUR <nil>
}

// Paying an order, as the README shows it.
func Example_readmePay() {
	ctx := context.Background()
	store := memstore.New()
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: mustHasher(), Now: time.Now})
	_, _ = accounts.Refund(ctx, "alice", giftkit.MustParseMoney("30.00", giftkit.EUR), "goodwill", "fund")
	processor, cardToken := processortest.New(), "tok_visa"

	pay, _ := checkout.NewService(store, processor, checkout.Config{Now: time.Now})
	p, err := pay.Pay(ctx, checkout.PayRequest{
		PaymentID: "order-1001", Owner: "alice", Total: giftkit.MustParseMoney("45.00", giftkit.EUR),
		Instrument: cardToken, // the processor's token for the shopper's bank card
	}, "pay-order-1001")
	// With 30.00 EUR on the balance: p.Balance.Captured 30.00, p.Card.Captured 15.00.
	// Declined card: checkout.ErrDeclined, and the balance is whole again.
	// Processor down: checkout.ErrProcessorUnavailable; call Pay again with the
	// same key (or Resume, or let a periodic Sweep) to complete or unwind it.

	fmt.Println(p.Balance.Captured, p.Card.Captured, err)
	// Output: 30.00 EUR 15.00 EUR <nil>
}

// The operator's ledger, as the README shows it.
func Example_readmeLedger() {
	store := memstore.New()
	clock := func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC) }
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: mustHasher(), Now: clock})
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: mustHasher(), Now: clock})
	batch, _ := cards.Issue(context.Background(), giftcard.IssueRequest{Value: giftkit.MustParseMoney("40", giftkit.EUR)}, "sale-9")
	cardID, code := batch.Cards[0].Card.ID, batch.Cards[0].Code.String()

	// Say who acts, where the host authenticates the request.
	shopper := giftkit.WithActor(context.Background(), giftkit.Shopper("alice"))
	_, _ = accounts.Redeem(shopper, "alice", code, "redeem-9")

	// An operator's calls need a reason; the log keeps both.
	ops := giftkit.WithReason(giftkit.WithActor(context.Background(), giftkit.Operator("ana")), "chargeback CB-77")
	back, _ := accounts.Clawback(ops, cardID, giftkit.MustParseMoney("15", giftkit.EUR), "clawback-9") // a partial chargeback
	// back.Recovered: what alice still had of it; back.Shortfall: what she had spent.

	led, _ := ledger.NewService(store)
	page, _ := led.Activity(context.Background(), activity.Query{Actor: giftkit.Operator("ana")}, 50)
	owed, _ := led.Liability(context.Background(), clock()) // at any instant, past or present
	breaks, _ := led.VerifyAll(context.Background())        // every chain of records, against its head
	_ = owed.Write(os.Stdout, ledger.CSV)

	fmt.Println(back.Recovered, back.Shortfall, len(page.Records), len(breaks))
	// Output:
	// at,currency,class,month,cards,accounts,total,card_count,account_count
	// 2026-11-27T12:00:00Z,EUR,purchased,all,0.00,25.00,25.00,0,1
	// 2026-11-27T12:00:00Z,EUR,purchased,2026-11,0.00,25.00,25.00,,
	// 15.00 EUR 0.00 EUR 2 0
}

func mustHasher() *giftcard.Hasher {
	h, err := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	if err != nil {
		panic(err)
	}
	return h
}

// printSender prints the e-gift emails it would send, the code masked.
type printSender struct{}

func (printSender) Send(_ context.Context, m egift.Message) error {
	fmt.Println("email to", m.To, "with the code,", len(m.Code.String()), "characters")
	return nil
}

// Events, webhooks and e-gift cards, as the README shows them.
func Example_readmeEvents() {
	ctx := context.Background()
	clock := func() time.Time { return time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC) }
	store := memstore.New()
	cards, _ := giftcard.NewService(store, giftcard.Config{Hasher: mustHasher(), Now: clock})
	vaultKey := []byte("32 bytes from the host's vault!!")
	emailer := printSender{}

	// An e-gift card: issued, its code sealed until Deliver sends it.
	keys, _ := egift.NewKeyring(vaultKey) // AES-256; older keys may follow, for rotation
	gifts, _ := egift.NewService(store, egift.Config{Cards: cards, Keys: keys, Sender: emailer, Now: clock})
	_, _ = gifts.Send(ctx, egift.SendRequest{Value: giftkit.MustParseMoney("30", giftkit.EUR),
		Recipient: "zoe@example.org", Message: "Joyeux Noël", SendAt: clock()}, "order-881")
	_, _ = gifts.Deliver(ctx, 100) // from a timer: sends what is due, then erases the codes

	// Every change is an event in the store's outbox, committed with it.
	events, _ := store.Events(ctx, "warehouse", 0, 100)
	for _, e := range events {
		fmt.Println(e.Pos, e.Type, e.Aggregate.Kind, e.Seq) // dedupe by e.ID: delivery is at least once
	}
	_ = store.Ack(ctx, "warehouse", events[len(events)-1].Pos)

	// Or signed webhooks, one dispatcher per endpoint.
	secret, _ := webhook.NewSecret(nil) // give secret.Encode() to the endpoint's owner
	d, _ := webhook.NewDispatcher(webhook.Config{Reader: store, Consumer: "webhook:crm",
		URL: "https://crm.example.org/hooks/giftkit", Secrets: []webhook.Secret{secret}, Now: time.Now,
		DeadLetters: store.DeadLetters()}) // kept by the store, for Replay
	_ = d // go d.Run(ctx)

	// Output:
	// email to zoe@example.org with the code, 17 characters
	// 1 card.issued card 1
}
