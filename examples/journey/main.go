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
// Then a second scene: a guest, without an account, pays an order with two
// gift cards by their codes and a bank card for the rest. A mistyped code is
// caught by its check characters before anything is looked up; the cards
// are spent in the library's spending order (the one whose value lapses
// soonest first), each part shown by the card's masked code; what is left on
// each card is checked by its code; and part of the order comes back, to the
// bank card first and then to the card spent last. The shop follows the EU
// rules for anonymous prepaid cards (giftcard.EUAnonymousPrepaid), under
// which gift cards pay at most 50.00 EUR of an order paid online.
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
	// The programme's rules, given to every service; one limiter counts
	// guessed codes for redemptions, balance checks and payments alike.
	rules := giftcard.EUAnonymousPrepaid()
	limiter := wallet.NewMemoryLimiter(0, 0, 0)
	cards, err := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: clk.Now, Rand: rand.NewChaCha8([32]byte{42}), Programme: &rules})
	if err != nil {
		return err
	}
	accounts, err := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: clk.Now, Limiter: limiter, Programme: &rules})
	if err != nil {
		return err
	}
	bank := processortest.New()
	shop, err := checkout.NewService(store, bank, checkout.Config{Now: clk.Now, Hasher: hasher, Limiter: limiter, Programme: &rules})
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
	return guestScene(ctx, w, scene{cards: cards, accounts: accounts, shop: shop, step: step, eur: eur})
}

// scene is what the second scene needs of the first: the same shop.
type scene struct {
	cards    *giftcard.Service
	accounts *wallet.Service
	shop     *checkout.Service
	step     func(title string)
	eur      func(string) giftkit.Money
}

// guestScene is the second scene: a guest pays with two gift cards by
// their codes and a bank card for the rest.
func guestScene(ctx context.Context, w io.Writer, s scene) error {
	// A guest has no account: the limiter counts their guesses under their
	// address, which the host passes.
	ctx = wallet.WithClient(ctx, "203.0.113.7")
	const order = "G-2001"

	s.step("10. Ben, who has no account, got two gift cards for his birthday")
	var codes []codefmt.Code
	for i, card := range []struct {
		value string
		until time.Time // the first instant the card is no longer valid
	}{
		{"40.00", time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC)},
		{"20.00", time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)},
	} {
		batch, err := s.cards.Issue(ctx, giftcard.IssueRequest{Value: s.eur(card.value), ExpiresAt: card.until}, fmt.Sprintf("issue-ben-%d", i+1))
		if err != nil {
			return err
		}
		c := batch.Cards[0]
		codes = append(codes, c.Code)
		fmt.Fprintf(w, "   Card %d: %s, valid through %s, code %s (receipts show %s)\n",
			i+1, c.Card.Value, validThrough(c.Card.ExpiresAt), c.Code, c.Code.Masked())
	}

	s.step("11. At checkout, Ben types the second code with a typo")
	typo := []byte(codes[1].String())
	typo[12] = otherSymbol(typo[12])
	fmt.Fprintf(w, "   Ben types: %q and %q\n", codes[0].String(), typo)
	req := checkout.PayRequest{PaymentID: order, Total: s.eur("65.00"), Codes: []string{codes[0].String(), string(typo)}, Instrument: "tok_visa_4242"}
	_, err := s.shop.Pay(ctx, req, "pay-"+order)
	var pe *codefmt.ParseError
	if !errors.As(err, &pe) || len(pe.Suggestions) != 1 {
		return fmt.Errorf("typo at checkout: %v", err)
	}
	fmt.Fprintf(w, "   Refused by the code's check characters, before any card was looked up:\n")
	fmt.Fprintf(w, "   character %d of the second code looks wrong. Did you mean %s?\n", pe.Index+1, pe.Suggestions[0])
	if _, err := s.shop.Payment(ctx, order); !errors.Is(err, checkout.ErrPaymentNotFound) {
		return fmt.Errorf("a payment after a typo: %v", err)
	}
	fmt.Fprintln(w, "   No payment was opened, nothing was held, and a typo never counts as a guess.")
	fmt.Fprintln(w, "   Ben accepts the suggestion.")

	s.step("12. Ben pays order " + order + " of 65.00 EUR with both cards and his bank card")
	req.Codes[1] = pe.Suggestions[0].String()
	p, err := s.shop.Pay(ctx, req, "pay-"+order) // the typo was never recorded: the same key
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "   The card whose value lapses soonest pays first, though Ben gave it second;")
	fmt.Fprintln(w, "   online, gift cards pay at most 50.00 EUR of an order (EU rules for anonymous cards):")
	for _, t := range p.Cards {
		fmt.Fprintf(w, "     %-28s %10s\n", "gift card "+t.Masked, t.Captured)
	}
	fmt.Fprintf(w, "     %-28s %10s\n", "bank card", p.Card.Captured)
	fmt.Fprintf(w, "     %-28s %10s\n", "total", p.Total)

	s.step("13. What is left on Ben's cards, checked by their codes")
	showCards := func() error {
		for _, code := range codes {
			b, err := s.accounts.CheckBalance(ctx, "", code.String())
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "   Card %s: %s left\n", b.Masked, b.Available)
			if b.Held.IsPositive() {
				return fmt.Errorf("card %s: %s still held", b.Masked, b.Held)
			}
		}
		return nil
	}
	if err := showCards(); err != nil {
		return err
	}

	s.step("14. Ben returns part of the order: refunded to the bank card first, then to the card spent last")
	p, err = s.shop.Refund(ctx, order, s.eur("25.00"), "refund-"+order+"-1")
	if err != nil {
		return err
	}
	r := p.Refunds[0]
	fmt.Fprintf(w, "   Refund of %s: %s to the bank card", r.Amount, r.Card)
	for i, m := range r.Cards {
		if m.IsPositive() {
			fmt.Fprintf(w, ", %s to gift card %s", m, p.Cards[i].Masked)
		}
	}
	fmt.Fprintln(w)
	return showCards()
}

// validThrough is the last day on which something that expires at t (the
// first instant it no longer is) is valid.
func validThrough(t time.Time) string {
	return t.Add(-time.Nanosecond).Format("2 Jan 2006")
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
