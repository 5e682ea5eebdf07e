package main

import (
	"context"
	"errors"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
)

// checkoutForm reads b's checkout page and returns its pay form as the
// browser sends it, with the bank card instrument chosen ("" for none).
func checkoutForm(t *testing.T, b *browser, instrument string) url.Values {
	t.Helper()
	form := hiddenFields(mustGet(t, b, "/checkout"), "pay-form")
	if form.Get("order") == "" {
		t.Fatalf("the checkout page (at %s) has no pay form", b.last)
	}
	if instrument != "" {
		form.Set("instrument", instrument)
	}
	return form
}

// mustGet reads a page, failing the test if it is not a 200.
func mustGet(t *testing.T, b *browser, path string) string {
	t.Helper()
	page, err := b.get(path)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// mustPost sends a form and returns the page it ends on, failing the test
// if that is not a 200.
func mustPost(t *testing.T, b *browser, path string, form url.Values) string {
	t.Helper()
	page, err := b.post(path, form)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// textOf returns the text of the page's element whose ID is id, unescaped;
// "" if there is none.
func textOf(page, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// wantOpenOrder checks that page, where b ended, is the checkout page of
// the open order id, as its payment stands: 25.00 EUR held on the balance
// and 39.90 EUR by Visa, with the way to try again and nothing to choose.
func wantOpenOrder(t *testing.T, b *browser, page, id string) {
	t.Helper()
	if b.last != "/checkout" || hiddenFields(page, "pay-form").Get("order") != id {
		t.Fatalf("at %s, paying order %q; want the checkout of the open order %s", b.last, hiddenFields(page, "pay-form").Get("order"), id)
	}
	for elem, want := range map[string]string{
		"split-balance": "25,00\u00a0€",
		"split-card":    "39,90\u00a0€",
		"open-card":     "Carte bancaire\u00a0: Visa se terminant par 4242",
		"pay":           "Réessayer de payer 64,90\u00a0€",
	} {
		if got := textOf(page, elem); got != want {
			t.Errorf("the open order's checkout: #%s says %q; want %q", elem, got, want)
		}
	}
	if strings.Contains(page, `id="bank-card"`) || strings.Contains(page, `id="balance-toggle"`) {
		t.Error("the open order's checkout offers to choose a bank card or the balance again")
	}
}

// lampOrder starts a shop with a fake processor, credits Ana 25.00 and
// puts the lamp (64.90) in her cart: it returns the shop, its processor,
// Ana's browser and her checkout form, to be paid by Visa.
func lampOrder(t *testing.T) (*shop, *processortest.Processor, *browser, url.Values) {
	t.Helper()
	proc := processortest.New()
	s := startShop(t, config{Processor: proc})
	s.credit(t, "ana", "25.00")
	ana := signedIn(t, s, "ana")
	mustPost(t, ana, "/cart/add", url.Values{"product": {"lamp"}})
	return s, proc, ana, checkoutForm(t, ana, "tok_visa")
}

// TestOpenOrderWaits pays while the processor does not answer: the
// payment stays open, holding the balance. Until it is finished, the
// shopper's cart and choice of balance wait, in this session or another,
// and checkout shows that order as its payment stands, not a new one;
// the orders page lists it. When the sweep completes it, the shopper is
// shown it paid, and the cart it was made of is emptied: no order is paid
// that the shopper is not shown.
func TestOpenOrderWaits(t *testing.T) {
	s, proc, ana, form := lampOrder(t)
	id := form.Get("order")
	proc.Queue(processortest.OpAuthorize, processortest.Fail)
	page := mustPost(t, ana, "/checkout/pay", form)
	if got, want := flashOf(page), "Le service de paiement ne répond pas. Réessayez\u00a0: vous ne serez pas débité deux fois."; got != want {
		t.Errorf("paying while the processor does not answer: %q; want %q", got, want)
	}
	wantOpenOrder(t, ana, page, id)

	wait := "Le paiement de la commande " + id + " n'est pas terminé\u00a0: terminez-le ou annulez la commande d'abord."
	for _, change := range []struct {
		path string
		form url.Values
	}{
		{"/cart/add", url.Values{"product": {"mug"}}},
		{"/cart/remove", url.Values{"product": {"lamp"}}},
		{"/checkout/balance", url.Values{"use": {"no"}}},
		{"/checkout/pay", form}, // the form of the order, sent again: it would be paid afresh
	} {
		page := mustPost(t, ana, change.path, change.form)
		if got := flashOf(page); got != wait {
			t.Errorf("POST %s while the order is open: %q; want %q", change.path, got, wait)
		}
		wantOpenOrder(t, ana, page, id)
	}
	if page := mustGet(t, ana, "/cart"); !strings.Contains(page, `id="line-lamp"`) || strings.Contains(page, `id="line-mug"`) {
		t.Error("the cart changed while its order was open")
	}

	// Signed in again, in another browser: the same order, and no other.
	other := signedIn(t, s, "ana")
	if page := mustPost(t, other, "/cart/add", url.Values{"product": {"mug"}}); flashOf(page) != wait {
		t.Errorf("another browser's cart while the order is open: %q; want %q", flashOf(page), wait)
	}
	wantOpenOrder(t, other, mustGet(t, other, "/checkout"), id)
	if page := mustGet(t, other, "/orders"); !strings.Contains(page, `id="order-`+id+`"`) || !strings.Contains(page, "Paiement en cours") {
		t.Errorf("the orders page does not list the open order %s as in progress", id)
	}
	if page := mustGet(t, other, "/orders/"+id); textOf(page, "order-title") != "Le paiement de cette commande n'est pas terminé" || textOf(page, "planned-card") != "39,90\u00a0€" {
		t.Errorf("the open order's page: %q, card %q", textOf(page, "order-title"), textOf(page, "planned-card"))
	}

	// The sweep completes the payment, as it does every minute.
	if _, _, err := s.checkout.Sweep(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	page = mustGet(t, ana, "/checkout")
	if ana.last != "/orders/"+id || flashOf(page) != "Le paiement de la commande "+id+" a abouti." || textOf(page, "paid-card") != "39,90\u00a0€" {
		t.Errorf("checkout after the sweep paid the order: at %s, %q, card %q; want its confirmation", ana.last, flashOf(page), textOf(page, "paid-card"))
	}
	if page := mustGet(t, ana, "/cart"); !strings.Contains(page, `id="cart-empty"`) {
		t.Error("the cart of the order paid is not empty")
	}
	if page := mustGet(t, other, "/orders"); !strings.Contains(page, "Payée") {
		t.Error("the orders page does not list the order paid")
	}
	if auths := proc.Auths(); len(auths) != 1 || auths[0].Captured.Amount() != "39.90" {
		t.Errorf("the processor's authorisations: %+v; want one, of the order, captured", auths)
	}
	// The shopper is free again: a new order, of a new cart.
	mustPost(t, other, "/cart/add", url.Values{"product": {"mug"}})
	if next := checkoutForm(t, other, "tok_visa"); next.Get("order") == id {
		t.Error("the next order reuses the order paid")
	}
}

// TestCancelOpenOrder cancels an order whose payment the processor left
// open, and is still not answering: the balance is released at once,
// nothing is charged, the order is not listed, and the cart is the
// shopper's again, for a new order. The sweep voids the authorisation.
func TestCancelOpenOrder(t *testing.T) {
	s, proc, ana, form := lampOrder(t)
	id := form.Get("order")
	proc.Queue(processortest.OpAuthorize, processortest.Fail, processortest.Fail) // the payment's, and the cancel's
	page := mustPost(t, ana, "/checkout/pay", form)
	wantOpenOrder(t, ana, page, id)

	page = mustPost(t, ana, "/checkout/cancel", hiddenFields(page, "cancel-form"))
	if got, want := flashOf(page), "La commande "+id+" est annulée\u00a0: rien n'a été débité, et votre solde est intact."; ana.last != "/cart" || got != want {
		t.Errorf("cancelling the open order: at %s, %q; want /cart, %q", ana.last, got, want)
	}
	if !strings.Contains(page, `id="line-lamp"`) {
		t.Error("cancelling the order emptied the cart")
	}
	if b, _ := s.wallet.Balance(context.Background(), "ana", giftkit.EUR); b.Available.Amount() != "25.00" || !b.Held.IsZero() {
		t.Errorf("after cancelling: available %s, held %s; want 25.00 EUR, nothing held", b.Available, b.Held)
	}
	if page := mustGet(t, ana, "/orders"); !strings.Contains(page, `id="orders-empty"`) {
		t.Error("the orders page lists the order cancelled")
	}
	if _, err := ana.get("/orders/" + id); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("the cancelled order's page: %v; want 404", err)
	}
	if _, _, err := s.checkout.Sweep(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if p, err := s.checkout.Payment(context.Background(), id); err != nil || p.State != checkout.StateCancelled {
		t.Errorf("after the sweep, the order's payment is %v (%v); want cancelled", p.State, err)
	}
	for _, a := range proc.Auths() {
		if !a.Captured.IsZero() || !a.Voided {
			t.Errorf("authorisation %+v; want it voided, nothing captured", a)
		}
	}

	mustPost(t, ana, "/cart/add", url.Values{"product": {"mug"}})
	next := checkoutForm(t, ana, "tok_visa")
	if next.Get("order") == id {
		t.Fatal("the order after the cancelled one reuses it")
	}
	page = mustPost(t, ana, "/checkout/pay", next)
	if ana.last != "/orders/"+next.Get("order") || textOf(page, "paid-balance") != "25,00\u00a0€" || textOf(page, "paid-card") != "57,90\u00a0€" {
		t.Errorf("the next order: at %s, %q by the balance and %q by card; want paid, 25,00 and 57,90", ana.last, textOf(page, "paid-balance"), textOf(page, "paid-card"))
	}
}

// TestRetryOpenOrder tries again an order whose payment the processor
// left open: first with the form of the order and the other card (which
// the payment's key cannot take), which is shown the order as its payment
// stands, the split it holds and the card it started with; then from that
// page, which resumes the payment and pays it.
func TestRetryOpenOrder(t *testing.T) {
	_, proc, ana, form := lampOrder(t)
	id := form.Get("order")
	proc.Queue(processortest.OpAuthorize, processortest.Fail)
	mustPost(t, ana, "/checkout/pay", form)

	form.Set("instrument", "tok_mastercard")
	page := mustPost(t, ana, "/checkout/pay", form)
	wantOpenOrder(t, ana, page, id)

	page = mustPost(t, ana, "/checkout/pay", hiddenFields(page, "pay-form"))
	if ana.last != "/orders/"+id || textOf(page, "paid-balance") != "25,00\u00a0€" || textOf(page, "paid-card") != "39,90\u00a0€" {
		t.Errorf("trying again: at %s, %q by the balance and %q by card; want the order paid, 25,00 and 39,90", ana.last, textOf(page, "paid-balance"), textOf(page, "paid-card"))
	}
	if auths := proc.Auths(); len(auths) != 1 || auths[0].Instrument != "tok_visa" || auths[0].Captured.Amount() != "39.90" {
		t.Errorf("the processor's authorisations: %+v; want one, by Visa, captured", auths)
	}
}

// TestPayRace sends an order's form while another request, sent at the
// same moment from another tab with the other card, has paid it: the
// shopper is shown the order paid, not an error.
func TestPayRace(t *testing.T) {
	s := newShop(t, 0)
	ana := signedIn(t, s, "ana")
	mustPost(t, ana, "/cart/add", url.Values{"product": {"mug"}})
	form := checkoutForm(t, ana, "tok_visa")
	id := form.Get("order")
	if _, err := s.checkout.Pay(context.Background(), checkout.PayRequest{PaymentID: id, Owner: "ana", Total: eur("18.00"), Instrument: "tok_mastercard"}, "pay-"+id); err != nil {
		t.Fatal(err)
	}
	page := mustPost(t, ana, "/checkout/pay", form)
	if ana.last != "/orders/"+id || textOf(page, "paid-card") != "18,00\u00a0€" {
		t.Errorf("paying an order another tab paid: at %s; want its confirmation", ana.last)
	}
}

// TestSplitChanged pays an order whose split changed after its page was
// shown (another tab spent part of the balance): nothing is paid, and the
// shopper is sent back to the new split, which is then what is paid.
func TestSplitChanged(t *testing.T) {
	s := newShop(t, 0)
	s.credit(t, "ana", "25.00")
	first := signedIn(t, s, "ana")
	second := signedIn(t, s, "ana")
	mustPost(t, first, "/cart/add", url.Values{"product": {"lamp"}})
	form := checkoutForm(t, first, "tok_visa") // 25.00 by the balance, 39.90 by card
	mustPost(t, second, "/cart/add", url.Values{"product": {"notebook"}})
	mustPost(t, second, "/checkout/pay", checkoutForm(t, second, "tok_visa")) // 12.50 by the balance

	page := mustPost(t, first, "/checkout/pay", form)
	if got, want := flashOf(page), "Votre panier ou votre solde a changé\u00a0: vérifiez le règlement avant de payer."; first.last != "/checkout" || got != want {
		t.Errorf("paying a split no longer right: at %s, %q; want back at checkout, %q", first.last, got, want)
	}
	if _, err := s.checkout.Payment(context.Background(), form.Get("order")); !errors.Is(err, checkout.ErrPaymentNotFound) {
		t.Errorf("the order was paid with a split it did not show: %v", err)
	}
	if b, c := textOf(page, "split-balance"), textOf(page, "split-card"); b != "12,50\u00a0€" || c != "52,40\u00a0€" {
		t.Errorf("checkout shows %s by the balance and %s by card; want 12,50 and 52,40", b, c)
	}
	again := hiddenFields(page, "pay-form")
	again.Set("instrument", "tok_visa")
	page = mustPost(t, first, "/checkout/pay", again)
	if textOf(page, "paid-balance") != "12,50\u00a0€" || textOf(page, "paid-card") != "52,40\u00a0€" {
		t.Errorf("paid %s by the balance and %s by card; want the split shown, 12,50 and 52,40", textOf(page, "paid-balance"), textOf(page, "paid-card"))
	}
}

// TestOrderPageBalance reads an order's confirmation after the balance
// changed: it says what the balance is now, in so many words, not that it
// is what the order left.
func TestOrderPageBalance(t *testing.T) {
	s := newShop(t, 0)
	s.credit(t, "ana", "25.00")
	ana := signedIn(t, s, "ana")
	mustPost(t, ana, "/cart/add", url.Values{"product": {"notebook"}})
	page := mustPost(t, ana, "/checkout/pay", checkoutForm(t, ana, ""))
	if got, want := textOf(page, "balance-now"), "Votre solde de cartes cadeaux est maintenant de 12,50\u00a0€."; got != want {
		t.Errorf("the confirmation says %q; want %q", got, want)
	}
	s.credit(t, "ana", "10.00")
	page = mustGet(t, ana, ana.last)
	if got, want := textOf(page, "balance-now"), "Votre solde de cartes cadeaux est maintenant de 22,50\u00a0€."; got != want {
		t.Errorf("the confirmation read after a redemption says %q; want %q", got, want)
	}
}

// TestInstrumentRequired pays an order the bank card must pay part of
// without choosing one: the shopper is asked to, and the next try, a new
// order, is paid.
func TestInstrumentRequired(t *testing.T) {
	s := newShop(t, 0)
	ana := signedIn(t, s, "ana")
	mustPost(t, ana, "/cart/add", url.Values{"product": {"mug"}})
	form := checkoutForm(t, ana, "")
	page := mustPost(t, ana, "/checkout/pay", form)
	if got, want := flashOf(page), "Choisissez une carte bancaire pour payer le reste."; got != want {
		t.Errorf("paying without a bank card: %q; want %q", got, want)
	}
	next := checkoutForm(t, ana, "tok_visa")
	page = mustPost(t, ana, "/checkout/pay", next)
	if ana.last != "/orders/"+next.Get("order") || textOf(page, "paid-card") != "18,00\u00a0€" {
		t.Errorf("paying with a bank card then: at %s; want the order paid", ana.last)
	}
}
