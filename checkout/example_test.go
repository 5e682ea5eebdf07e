package checkout_test

import (
	"context"
	"fmt"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

// shop wires a store, a wallet, a checkout and a fake processor, and gives
// alice a balance of 30.00 EUR.
func shop() (*checkout.Service, *wallet.Service) {
	store := memstore.New()
	now := func() time.Time { return time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC) }
	accounts, _ := wallet.NewService(store, wallet.Config{Hasher: exampleHasher(), Now: now})
	pay, _ := checkout.NewService(store, processortest.New(), checkout.Config{Now: now})
	_, _ = accounts.Refund(context.Background(), "alice", giftkit.MustParseMoney("30.00", giftkit.EUR), "welcome", "credit-1")
	return pay, accounts
}

func order(id, total string) checkout.PayRequest {
	return checkout.PayRequest{PaymentID: id, Owner: "alice", Total: giftkit.MustParseMoney(total, giftkit.EUR), Instrument: "tok_visa"}
}

// The balance covers the order: the card is not charged.
func ExampleService_Pay_balanceCovers() {
	pay, accounts := shop()
	p, err := pay.Pay(context.Background(), order("order-1", "30.00"), "pay-1")
	b, _ := accounts.Balance(context.Background(), "alice", giftkit.EUR)
	fmt.Println(p.State, "balance:", p.Balance.Captured, "card:", p.Card.Captured, err)
	fmt.Println("left:", b.Available)
	// Output:
	// captured balance: 30.00 EUR card: 0.00 EUR <nil>
	// left: 0.00 EUR
}

// The order exceeds the balance: the bank card pays the rest.
func ExampleService_Pay_cardPaysTheRest() {
	pay, accounts := shop()
	p, err := pay.Pay(context.Background(), order("order-2", "45.00"), "pay-2")
	b, _ := accounts.Balance(context.Background(), "alice", giftkit.EUR)
	fmt.Println(p.State, "balance:", p.Balance.Captured, "card:", p.Card.Captured, err)
	fmt.Println("left:", b.Available)
	// Output:
	// captured balance: 30.00 EUR card: 15.00 EUR <nil>
	// left: 0.00 EUR
}

// The order is below the balance: the rest stays for later.
func ExampleService_Pay_restIsKept() {
	pay, accounts := shop()
	p, err := pay.Pay(context.Background(), order("order-3", "12.50"), "pay-3")
	b, _ := accounts.Balance(context.Background(), "alice", giftkit.EUR)
	fmt.Println(p.State, "balance:", p.Balance.Captured, "card:", p.Card.Captured, err)
	fmt.Println("left:", b.Available)
	// Output:
	// captured balance: 12.50 EUR card: 0.00 EUR <nil>
	// left: 17.50 EUR
}

// A refund goes back to the bank card first, then to the balance.
func ExampleService_Refund() {
	pay, accounts := shop()
	ctx := context.Background()
	_, _ = pay.Pay(ctx, order("order-4", "45.00"), "pay-4") // 30.00 balance + 15.00 card
	p, err := pay.Refund(ctx, "order-4", giftkit.MustParseMoney("20.00", giftkit.EUR), "refund-1")
	b, _ := accounts.Balance(ctx, "alice", giftkit.EUR)
	fmt.Println("to card:", p.Refunds[0].Card, "to balance:", p.Refunds[0].Balance, err)
	fmt.Println("balance now:", b.Available)
	// Output:
	// to card: 15.00 EUR to balance: 5.00 EUR <nil>
	// balance now: 5.00 EUR
}

func ExamplePlan() {
	split, _ := checkout.Plan(giftkit.MustParseMoney("45.00", giftkit.EUR), giftkit.MustParseMoney("30.00", giftkit.EUR), checkout.PlanOptions{})
	fmt.Println(split.Balance, "+", split.Card)
	// Output:
	// 30.00 EUR + 15.00 EUR
}

func exampleHasher() *giftcard.Hasher {
	h, _ := giftcard.NewHasher([]byte("a secret of at least 32 bytes!!!"))
	return h
}

// PlanTenders spends the gift cards given by code first, the one whose
// value lapses soonest first, then the balance, and the bank card last.
func ExamplePlanTenders() {
	eur := giftkit.EUR
	m := func(s string) giftkit.Money { return giftkit.MustParseMoney(s, eur) }
	cards := []checkout.CardFunds{
		{CardID: "card_never", Available: m("20.00")},
		{CardID: "card_june", Available: m("15.00"), ExpiresAt: time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)},
	}
	split, order, _ := checkout.PlanTenders(m("50.00"), m("10.00"), cards, checkout.PlanOptions{})
	for i, c := range order {
		fmt.Println(c.CardID, split.Cards[i])
	}
	fmt.Println("balance", split.Balance)
	fmt.Println("bank card", split.Card)
	// Output:
	// card_june 15.00 EUR
	// card_never 20.00 EUR
	// balance 10.00 EUR
	// bank card 5.00 EUR
}
