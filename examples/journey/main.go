// Command journey walks through a shopper's path with giftkit, printing each
// step as the shopper would see it:
//
//	go run ./examples/journey
//
// A card is issued and its code shown as the shopper receives it; the code is
// typed messily and redeemed; the balance is shown; a second redemption and a
// typo are refused with their messages; three orders are paid (one below the
// balance, one that exceeds it, one it covers exactly); one is refunded in
// part; and the history is printed as a statement.
//
// Everything runs in memory with a fixed clock, a seeded random source and a
// fake card processor, so the output is the same on every run (a test checks
// it). A real service passes time.Now, nil (crypto/rand) and its processor.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "journey:", err)
		os.Exit(1)
	}
}

// clock is the example's time: it starts on Christmas Eve and moves
// quarter of an hour with every step of the story (not with every reading,
// so the statement's times do not depend on how often the library reads
// the clock).
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func run(w io.Writer) error {
	ctx := context.Background()
	eur := func(s string) giftkit.Money { return giftkit.MustParseMoney(s, giftkit.EUR) }

	// The services, wired as a real application would, over one store.
	store := memstore.New()
	hasher, err := giftcard.NewHasher([]byte("journey-example-secret-key-32-bytes!"))
	if err != nil {
		return err
	}
	clk := &clock{now: time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC)}
	cards, err := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: clk.Now, Rand: rand.NewChaCha8([32]byte{42})})
	if err != nil {
		return err
	}
	accounts, err := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: clk.Now})
	if err != nil {
		return err
	}
	bank := processortest.New()
	shop, err := checkout.NewService(store, bank, checkout.Config{Now: clk.Now})
	if err != nil {
		return err
	}
	const shopper = "ana@example.com"
	step := func(title string) {
		clk.now = clk.now.Add(15 * time.Minute)
		fmt.Fprintf(w, "\n== %s\n", title)
	}
	showBalance := func() error {
		b, err := accounts.Balance(ctx, shopper, giftkit.EUR)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "   Balance: %s\n", b.Available)
		return nil
	}

	step("1. A gift card is bought for Ana")
	batch, err := cards.Issue(ctx, giftcard.IssueRequest{Value: eur("50.00")}, "issue-ana-1")
	if err != nil {
		return err
	}
	code := batch.Cards[0].Code
	fmt.Fprintf(w, "   +-------------------------------+\n")
	fmt.Fprintf(w, "   | %-16s %12s |\n", "GIFT CARD", batch.Cards[0].Card.Value)
	fmt.Fprintf(w, "   | %-29s |\n", "Code: "+code.String())
	fmt.Fprintf(w, "   +-------------------------------+\n")
	fmt.Fprintf(w, "   (the shop's logs only ever show %s)\n", code.Masked())

	step("2. Ana types the code, lower case, spaces, no dashes")
	typed := "  " + strings.ToLower(strings.ReplaceAll(code.String(), "-", " ")) + " "
	fmt.Fprintf(w, "   Ana types: %q\n", typed)
	got, err := accounts.Redeem(ctx, shopper, typed, "redeem-ana-1")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   Credited %s.\n", got.Amount)
	if err := showBalance(); err != nil {
		return err
	}

	step("3. Ana tries the same code again")
	_, err = accounts.Redeem(ctx, shopper, code.String(), "redeem-ana-2")
	if !errors.Is(err, giftcard.ErrAlreadyRedeemed) {
		return fmt.Errorf("second redemption: %v", err)
	}
	var ce *giftcard.Error
	if errors.As(err, &ce) && ce.SameAccount {
		fmt.Fprintln(w, "   Refused: this card is already on your balance.")
	}
	fmt.Fprintf(w, "   (error: %v)\n", err)

	step("4. A friend's card, typed with a typo")
	friends, err := cards.Issue(ctx, giftcard.IssueRequest{Value: eur("25.00")}, "issue-friend-1")
	if err != nil {
		return err
	}
	friendCode := friends.Cards[0].Code
	typo := []byte(friendCode.String())
	typo[7] = otherSymbol(typo[7])
	fmt.Fprintf(w, "   Ana types: %q\n", typo)
	_, err = accounts.Redeem(ctx, shopper, string(typo), "redeem-ana-3")
	var pe *codefmt.ParseError
	if !errors.As(err, &pe) || len(pe.Suggestions) != 1 {
		return fmt.Errorf("typo: %v", err)
	}
	fmt.Fprintf(w, "   Refused: character %d looks wrong. Did you mean %s?\n", pe.Index+1, pe.Suggestions[0])
	fmt.Fprintln(w, "   Ana accepts the suggestion.")
	if _, err := accounts.Redeem(ctx, shopper, pe.Suggestions[0].String(), "redeem-ana-4"); err != nil {
		return err
	}
	if err := showBalance(); err != nil {
		return err
	}

	pay := func(id, total string) (checkout.Payment, error) {
		p, err := shop.Pay(ctx, checkout.PayRequest{
			PaymentID: id, Owner: shopper, Total: eur(total), Instrument: "tok_visa_4242",
		}, "pay-"+id)
		if err != nil {
			return p, err
		}
		fmt.Fprintf(w, "   Order %s: %s = %s from the balance + %s by bank card\n", id, p.Total, p.Balance.Captured, p.Card.Captured)
		return p, showBalance()
	}

	step("5. An order below the balance: the rest is kept for later")
	if _, err := pay("A-1001", "20.00"); err != nil {
		return err
	}

	step("6. An order that exceeds the balance: the bank card pays the rest")
	if _, err := pay("A-1002", "80.00"); err != nil {
		return err
	}

	step("7. Part of that order is returned: refunded to the bank card first")
	p, err := shop.Refund(ctx, "A-1002", eur("30.00"), "refund-A-1002-1")
	if err != nil {
		return err
	}
	r := p.Refunds[0]
	fmt.Fprintf(w, "   Refund of %s: %s to the bank card, %s to the balance\n", r.Amount, r.Card, r.Balance)
	if err := showBalance(); err != nil {
		return err
	}

	step("8. An order the balance covers exactly")
	if _, err := pay("A-1003", "5.00"); err != nil {
		return err
	}

	step("9. Ana's statement")
	page, err := accounts.History(ctx, shopper, giftkit.EUR, 0, 50)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   %-16s  %-8s  %10s  %10s  %s\n", "date", "entry", "amount", "balance", "about")
	for _, e := range page.Entries {
		if e.Kind == wallet.EntryHold || e.Kind == wallet.EntryRelease {
			continue // reservations, not money movements: a statement leaves them out
		}
		fmt.Fprintf(w, "   %-16s  %-8s  %10s  %10s  %s\n", e.At.Format("2006-01-02 15:04"), e.Kind, e.Amount.Amount(), e.BalanceAfter.Amount(), about(e))
	}
	for _, a := range bank.Auths() {
		net, _ := a.Captured.Sub(a.Refunded)
		fmt.Fprintf(w, "   Bank card: %s authorised, %s captured, %s refunded: %s charged in all\n", a.Amount, a.Captured, a.Refunded, net)
	}
	return nil
}

// about describes what an entry refers to, without any code.
func about(e wallet.Entry) string {
	switch {
	case strings.HasPrefix(e.Reference, "card_"):
		return "gift card"
	}
	return "order " + e.Reference
}

// otherSymbol returns a different character of the alphabet, as a typo would.
func otherSymbol(c byte) byte {
	if c == 'X' {
		return 'Y'
	}
	return 'X'
}
