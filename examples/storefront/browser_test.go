package main

// End-to-end tests in a real browser: headless Chromium, driven through the
// DevTools protocol with chromedp, against the shop served by httptest.
// Without Chromium they skip, saying how to install it (scripts/
// chromium-install); with GIFTKIT_BROWSER_TESTS=1, as in CI, they fail
// instead. A failing test saves a screenshot and says where.

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
)

// stepTimeout bounds each step of a test: a page load, a click, a wait.
const stepTimeout = 15 * time.Second

// chromium is the browser the tests share: started by the first test that
// needs it, stopped by TestMain.
var chromium struct {
	once    sync.Once
	ctx     context.Context
	stop    func()
	err     error
	dataDir string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if chromium.stop != nil {
		chromium.stop()
	}
	if chromium.dataDir != "" {
		os.RemoveAll(chromium.dataDir)
	}
	os.Exit(code)
}

// chromiumPath is the browser to run: $GIFTKIT_CHROMIUM, else Debian's
// /usr/bin/chromium, else the first of chromium, chromium-browser and
// google-chrome on the PATH; "" if there is none.
func chromiumPath() string {
	if p := os.Getenv("GIFTKIT_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserCtx returns the shared browser's context, starting Chromium on
// first use. It skips t when there is no Chromium, unless
// GIFTKIT_BROWSER_TESTS=1, which makes a missing browser a failure.
func browserCtx(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("GIFTKIT_BROWSER_TESTS") == "1" {
			t.Fatal("GIFTKIT_BROWSER_TESTS=1 and no Chromium: run scripts/chromium-install (or set GIFTKIT_CHROMIUM)")
		}
		t.Skip("no Chromium, so no browser test: run scripts/chromium-install (or set GIFTKIT_CHROMIUM) to run them")
	}
	chromium.once.Do(func() {
		chromium.dataDir, chromium.err = os.MkdirTemp("", "storefront-chromium-")
		if chromium.err != nil {
			return
		}
		// Headless (in the defaults), as root in a container (no sandbox),
		// without a GPU, and with nothing that reaches for the network:
		// a closed network refuses QUIC, component updates, sync and the
		// background fetches, and Chromium's connections with them. The
		// reader's language is French, the shop's default.
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-sync", true),
			chromedp.Flag("accept-lang", "fr-FR,fr"),
			chromedp.UserDataDir(chromium.dataDir),
			chromedp.WindowSize(1280, 1000),
		)
		alloc, stopAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, stopBrowser := chromedp.NewContext(alloc)
		chromium.ctx, chromium.stop = ctx, func() { stopBrowser(); stopAlloc() }
		chromium.err = within(time.Minute, func() error { return chromedp.Do(ctx) }) // starts it
	})
	if chromium.err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, chromium.err)
	}
	return chromium.ctx
}

// within runs f and returns its error, or an error of its own if f has not
// returned after d: for the steps that start Chromium and open tabs, which
// must not run under a context with a deadline (the browser or tab would
// close with it).
func within(d time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("no answer from Chromium within %v", d)
	}
}

// A tab is one test's browser tab, in a browser context of its own (its
// own cookies), on one shop.
type tab struct {
	t    *testing.T
	ctx  context.Context // the tab's; steps run with a timeout derived from it
	shop *shop
}

// newTab opens a tab for t on s. When t fails, the tab's page is saved as
// a screenshot first, and its path logged.
func newTab(t *testing.T, s *shop) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx(t), chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first action opens the tab, and binds it to the context it is
	// given: so, no timeout there, but a limit on the wait.
	if err := within(stepTimeout, func() error { return chromedp.Do(ctx) }); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	tb := &tab{t: t, ctx: ctx, shop: s}
	t.Cleanup(tb.screenshotIfFailed) // runs before cancel: cleanups run last first
	return tb
}

// screenshotIfFailed saves the page as a PNG when the test failed, under
// $GIFTKIT_SCREENSHOTS or the temporary directory's
// giftkit-storefront-screenshots, and logs the path and the page's address.
func (tb *tab) screenshotIfFailed() {
	if !tb.t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("no screenshot: %v", err)
		return
	}
	dir := os.Getenv("GIFTKIT_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "giftkit-storefront-screenshots")
	}
	name := filepath.Join(dir, strings.NewReplacer("/", "-", " ", "_").Replace(tb.t.Name())+".png")
	err = os.MkdirAll(dir, 0o755)
	if err == nil {
		err = os.WriteFile(name, png, 0o644)
	}
	if err != nil {
		tb.t.Logf("screenshot not saved: %v", err)
		return
	}
	where, _ := chromedp.Run(ctx, chromedp.Location())
	tb.t.Logf("screenshot of %s saved as %s", where, name)
}

// do runs steps, failing the test at the first error.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
}

// load runs trigger (a click, a key) and waits for the page it leads to to
// load: the new document's, after any redirect, and not a late event of
// the page before (chromedp.RunResponse follows the navigation's loader).
func (tb *tab) load(trigger chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, trigger); err != nil {
		tb.t.Fatalf("browser, waiting for a page: %v", err)
	}
}

// open loads the shop's page at path.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.shop.URL + path)) // Navigate waits for the page
}

// value runs an action that returns a value, failing the test on error.
func value[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.t.Fatalf("browser: %v", err)
	}
	return v
}

// text returns the visible text of the element with the ID id.
func (tb *tab) text(id string) string {
	tb.t.Helper()
	return value(tb, chromedp.Text(chromedp.ID(id)))
}

// js evaluates a JavaScript expression that returns a boolean.
func (tb *tab) js(expr string) bool {
	tb.t.Helper()
	return value(tb, chromedp.Evaluate[bool](expr))
}

// wantFocus checks that the element with the ID id has the focus: a
// message a page loads with takes it, so that a screen reader reads it.
func (tb *tab) wantFocus(id string) {
	tb.t.Helper()
	if got := value(tb, chromedp.Evaluate[string](`document.activeElement.id`)); got != id {
		tb.t.Errorf("the focus is on #%s; want it on #%s", got, id)
	}
}

// wantText checks the visible text of the element with the ID id.
func (tb *tab) wantText(id, want string) {
	tb.t.Helper()
	if got := tb.text(id); got != want {
		tb.t.Errorf("#%s says %q; want %q", id, got, want)
	}
}

// waitHint waits until the code field's live check says state.
func (tb *tab) waitHint(state string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	expr := fmt.Sprintf(`document.getElementById("code-hint").dataset.state === %q`, state)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		tb.t.Fatalf("the code field's hint never reached %q (it says %q): %v", state, tb.text("code-hint"), err)
	}
}

// signIn signs in as a demo shopper with the mouse.
func (tb *tab) signIn(owner string) {
	tb.t.Helper()
	tb.open("/signin")
	tb.load(chromedp.Click(chromedp.ID("signin-" + owner)))
}

// html returns the page's whole HTML.
func (tb *tab) html() string {
	tb.t.Helper()
	return value(tb, chromedp.OuterHTML(chromedp.CSS("html")))
}

// messy is code as a shopper might type it: lower case, spaces for dashes,
// spaces around.
func messy(code string) string {
	return "  " + strings.ToLower(strings.ReplaceAll(code, "-", " ")) + " "
}

// TestBrowserRedeem redeems a code typed messily: the live check accepts it
// as it is typed, the balance shows the card's value, and the page after it
// shows no code.
func TestBrowserRedeem(t *testing.T) {
	s := newShop(t, 0)
	code := s.issue(t, "25.00")
	tb := newTab(t, s)
	tb.signIn("ana")
	tb.open("/giftcards")
	tb.wantText("balance", "0,00\u00a0€")
	tb.do(chromedp.SendKeys(chromedp.ID("code"), messy(code.String())))
	tb.waitHint("ok")
	tb.load(chromedp.Click(chromedp.ID("redeem")))
	tb.wantText("flash", "25,00\u00a0€ ajoutés à votre solde, qui est maintenant de 25,00\u00a0€.")
	tb.wantFocus("flash")
	tb.wantText("balance", "25,00\u00a0€")
	if html := tb.html(); strings.Contains(html, code.String()) || strings.Contains(strings.ToLower(html), strings.ToLower(strings.ReplaceAll(code.String(), "-", ""))) {
		t.Error("the page after redemption shows the code")
	}
	if v := value(tb, chromedp.Value(chromedp.ID("code"))); v != "" {
		t.Errorf("the code field holds %q after redemption; want it empty", v)
	}
}

// TestBrowserTypoHint types a code with one wrong character: before
// anything is sent, the hint says which character and what it probably
// is, and offers the code meant, which the shopper takes. A character
// that is never in a code is caught as soon as it is typed. Sending the
// typo anyway gets the same message from the server, and the code meant.
func TestBrowserTypoHint(t *testing.T) {
	s := newShop(t, 0)
	code := s.issue(t, "40.00")
	typo := []byte(code.String())
	typo[8] = otherSymbol(typo[8]) // the 8th character of the code: dashes do not count
	tb := newTab(t, s)
	tb.signIn("ana")
	tb.open("/giftcards")

	tb.do(chromedp.SendKeys(chromedp.ID("code"), "5nu"))
	tb.waitHint("invalid")
	tb.wantText("code-hint", "Le caractère 3, «\u00a0u\u00a0», n'existe pas dans les codes\u00a0: c'est sans doute «\u00a0V\u00a0».")
	if !tb.js(`document.getElementById("code").getAttribute("aria-invalid") === "true"`) {
		t.Error("the field is not marked aria-invalid")
	}

	tb.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("code").value = document.getElementById("code-hint").dataset.state = ""`), chromedp.SendKeys(chromedp.ID("code"), string(typo)))
	tb.waitHint("invalid")
	want := fmt.Sprintf("Le caractère 8, «\u00a0%c\u00a0», semble erroné\u00a0: c'est sans doute «\u00a0%c\u00a0».", typo[8], code.String()[8])
	tb.wantText("code-hint", want)
	tb.wantText("use-suggestion", "Utiliser "+code.String())
	if tb.js(`document.querySelector("[aria-live] #code-hint") === null`) {
		t.Error("the hint is not in a live region")
	}
	if b, _ := s.wallet.Balance(context.Background(), "ana", giftkit.EUR); !b.Available.IsZero() {
		t.Fatalf("the live check redeemed something: balance %s", b.Available)
	}
	tb.do(chromedp.Click(chromedp.ID("use-suggestion")))
	tb.waitHint("ok")
	if v := value(tb, chromedp.Value(chromedp.ID("code"))); v != code.String() {
		t.Errorf("after taking the suggestion, the field holds %q; want %q", v, code.String())
	}

	// The typo sent anyway: the server's refusal, and the code meant.
	tb.do(chromedp.SetValue(chromedp.ID("code"), string(typo)))
	tb.load(chromedp.Click(chromedp.ID("redeem")))
	tb.wantText("code-error", want)
	tb.wantFocus("code-error")
	if !tb.js(`document.getElementById("code-error").getAttribute("role") === "alert"`) {
		t.Error("the refusal is not announced (role=alert)")
	}
	tb.load(chromedp.Click(chromedp.ID("redeem-suggestion")))
	tb.wantText("balance", "40,00\u00a0€")
}

// TestBrowserSecondRedemption redeems a card, then tries it again: the
// refusal says it is already on the balance, and the page does not show
// the code.
func TestBrowserSecondRedemption(t *testing.T) {
	s := newShop(t, 0)
	code := s.issue(t, "25.00")
	tb := newTab(t, s)
	tb.signIn("ana")
	tb.open("/giftcards")
	for range 2 {
		tb.do(chromedp.SendKeys(chromedp.ID("code"), code.String()))
		tb.load(chromedp.Click(chromedp.ID("redeem")))
	}
	tb.wantText("code-error", "Cette carte est déjà sur votre solde.")
	tb.wantText("balance", "25,00\u00a0€")
	if strings.Contains(tb.html(), code.String()) {
		t.Error("the refusal shows the code")
	}
	// Another shopper is told only that it was used.
	other := newTab(t, s)
	other.signIn("ben")
	other.open("/giftcards")
	other.do(chromedp.SendKeys(chromedp.ID("code"), code.String()))
	other.load(chromedp.Click(chromedp.ID("redeem")))
	other.wantText("code-error", "Cette carte a déjà été utilisée.")
	other.wantText("balance", "0,00\u00a0€")
}

// TestBrowserCheckout runs the seed's three checkout cases, and the
// opt-out: the checkout page shows the balance applied automatically and
// the bank card's part, and the confirmation the split.
func TestBrowserCheckout(t *testing.T) {
	for _, tc := range []struct {
		name       string
		shopper    string
		balance    string // credited before, "" for none
		product    string
		keep       bool // the shopper keeps the balance
		note       string
		fromBal    string
		byCard     string
		left       string
		cardChoice bool // the page asks for a bank card
	}{
		{"balance covers the order, the rest is kept", "ana", "25.00", "notebook", false,
			"Votre solde de cartes cadeaux s'applique automatiquement\u00a0: 12,50\u00a0€. Il vous restera 12,50\u00a0€.",
			"12,50\u00a0€", "0,00\u00a0€", "12,50\u00a0€", false},
		{"balance short, the bank card pays the difference", "ana", "25.00", "lamp", false,
			"Votre solde de cartes cadeaux s'applique automatiquement\u00a0: 25,00\u00a0€. Il vous restera 0,00\u00a0€.",
			"25,00\u00a0€", "39,90\u00a0€", "0,00\u00a0€", true},
		{"no balance", "ben", "", "mug", false,
			"Vous n'avez pas de solde de cartes cadeaux\u00a0: la carte bancaire paie tout.",
			"0,00\u00a0€", "18,00\u00a0€", "0,00\u00a0€", true},
		{"balance kept for later", "ana", "25.00", "notebook", true,
			"Vous gardez votre solde de 25,00\u00a0€ pour plus tard.",
			"0,00\u00a0€", "12,50\u00a0€", "25,00\u00a0€", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newShop(t, 0)
			if tc.balance != "" {
				s.credit(t, tc.shopper, tc.balance)
			}
			tb := newTab(t, s)
			tb.signIn(tc.shopper)
			tb.open("/")
			tb.load(chromedp.Click(chromedp.ID("add-" + tc.product)))
			tb.load(chromedp.Click(chromedp.ID("to-checkout")))
			if tc.keep {
				tb.load(chromedp.Click(chromedp.ID("balance-toggle")))
			}
			tb.wantText("balance-note", tc.note)
			tb.wantText("split-balance", tc.fromBal)
			tb.wantText("split-card", tc.byCard)
			if got := tb.js(`document.getElementById("bank-card") !== null`); got != tc.cardChoice {
				t.Errorf("the page asks for a bank card: %v; want %v", got, tc.cardChoice)
			}
			tb.load(chromedp.Click(chromedp.ID("pay")))
			tb.wantText("order-title", "Merci, votre commande est payée")
			tb.wantText("paid-balance", tc.fromBal)
			tb.wantText("paid-card", tc.byCard)
			tb.wantText("balance-now", "Votre solde de cartes cadeaux est maintenant de "+tc.left+".")
		})
	}
}

// TestBrowserHistory pages through the balance's history: the lines,
// oldest first, with their dates and amounts written for a French reader,
// three to a page.
func TestBrowserHistory(t *testing.T) {
	s := newShop(t, 3)
	s.credit(t, "ana", "25.00")
	s.credit(t, "ana", "10.00")
	for i, total := range []string{"12.50", "5.00"} {
		id := fmt.Sprintf("SF-TEST%d", i+1)
		if _, err := s.checkout.Pay(context.Background(), checkout.PayRequest{PaymentID: id, Owner: "ana", Total: eur(total)}, "pay-"+id); err != nil {
			t.Fatal(err)
		}
	}
	tb := newTab(t, s)
	tb.signIn("ana")
	tb.open("/balance")
	tb.wantText("available", "17,50\u00a0€")
	rows := func() [][]string {
		return value(tb, chromedp.Evaluate[[][]string](`[...document.querySelectorAll("#history tbody tr")].map(r => [...r.cells].map(c => c.innerText))`))
	}
	when := "24 déc. 2026, 10:00"
	page1 := [][]string{
		{when, "Carte cadeau ajoutée", "+25,00\u00a0€", "25,00\u00a0€"},
		{when, "Carte cadeau ajoutée", "+10,00\u00a0€", "35,00\u00a0€"},
		{when, "Commande SF-TEST1", "−12,50\u00a0€", "22,50\u00a0€"},
	}
	if got := rows(); fmt.Sprint(got) != fmt.Sprint(page1) {
		t.Errorf("first page of history:\n got %q\nwant %q", got, page1)
	}
	if tb.js(`document.getElementById("history-first") !== null`) {
		t.Error("the first page links to the first page")
	}
	tb.load(chromedp.Click(chromedp.ID("history-next")))
	page2 := [][]string{{when, "Commande SF-TEST2", "−5,00\u00a0€", "17,50\u00a0€"}}
	if got := rows(); fmt.Sprint(got) != fmt.Sprint(page2) {
		t.Errorf("second page of history:\n got %q\nwant %q", got, page2)
	}
	if tb.js(`document.getElementById("history-next") !== null`) {
		t.Error("the last page links to a next page")
	}
	tb.load(chromedp.Click(chromedp.ID("history-first")))
	if got := rows(); len(got) != 3 {
		t.Errorf("back on the first page: %d lines; want 3", len(got))
	}
}

// TestBrowserLanguage switches from French, the browser's language, to
// English and back: the page's text, its lang attribute and its amounts
// follow, and the choice holds on the next page.
func TestBrowserLanguage(t *testing.T) {
	s := newShop(t, 0)
	tb := newTab(t, s)
	tb.open("/")
	check := func(lang, title, price, signIn string) {
		t.Helper()
		if !tb.js(fmt.Sprintf(`document.documentElement.lang === %q`, lang)) {
			t.Errorf("the page is not in %q", lang)
		}
		if h1 := value(tb, chromedp.Text(chromedp.CSS("h1"))); h1 != title {
			t.Errorf("heading %q; want %q", h1, title)
		}
		tb.wantText("nav-signin", signIn)
		if price != "" {
			if got := value(tb, chromedp.Text(chromedp.CSS("#product-notebook .price"))); got != price {
				t.Errorf("the notebook costs %q; want %q", got, price)
			}
		}
	}
	check("fr", "Boutique", "12,50\u00a0€", "Se connecter")
	tb.wantText("lang-switch", "English")
	tb.load(chromedp.Click(chromedp.ID("lang-switch")))
	check("en", "Shop", "€12.50", "Sign in")
	tb.open("/signin")
	check("en", "Sign in", "", "Sign in")
	tb.load(chromedp.Click(chromedp.ID("lang-switch")))
	check("fr", "Connexion", "", "Se connecter")
}

// TestBrowserKeyboardOnly goes the shopper's whole way with the keyboard
// alone, Tab, typing and Enter: sign in, open the gift-card page, redeem a
// code, add a product to the cart, check out and pay. Every control is
// reached with Tab, in order, and shows where the focus is.
func TestBrowserKeyboardOnly(t *testing.T) {
	s := newShop(t, 0)
	code := s.issue(t, "25.00")
	tb := newTab(t, s)
	tb.open("/signin")

	tb.do(chromedp.KeyEvent(kb.Tab))
	if !tb.js(`document.activeElement.matches("a.skip")`) {
		t.Error("the first Tab does not reach the skip link")
	}
	press := func(selector string) {
		t.Helper()
		tb.tabTo(selector)
		tb.load(chromedp.KeyEvent(kb.Enter))
	}
	press("#signin-ana")
	press("#nav-giftcards")
	tb.tabTo("#code")
	tb.do(chromedp.KeyEvent(messy(code.String())))
	tb.waitHint("ok")
	tb.load(chromedp.KeyEvent(kb.Enter)) // sends the form, as Enter in a text field does
	tb.wantText("balance", "25,00\u00a0€")
	press("#nav-shop")
	press("#add-notebook")
	press("#to-checkout")
	press("#pay")
	tb.wantText("paid-balance", "12,50\u00a0€")
	tb.wantText("balance-now", "Votre solde de cartes cadeaux est maintenant de 12,50\u00a0€.")
}

// tabTo presses Tab until the element selector matches has the focus, and
// checks that the focus is visible on it: a ring in a colour of a
// contrast of 3:1 or more with the background around it (WCAG 2.2,
// 1.4.11), which is the nearest ancestor's that has one.
func (tb *tab) tabTo(selector string) {
	tb.t.Helper()
	at := fmt.Sprintf(`document.activeElement.matches(%q)`, selector)
	for range 60 {
		tb.do(chromedp.KeyEvent(kb.Tab))
		if !tb.js(at) {
			continue
		}
		if !tb.js(`getComputedStyle(document.activeElement).outlineStyle !== "none"`) {
			tb.t.Errorf("%s has the focus, and shows no focus ring", selector)
			return
		}
		colours := value(tb, chromedp.Evaluate[[]string](`(() => {
			const el = document.activeElement;
			let bg = "rgb(255, 255, 255)"; // the canvas
			for (let e = el.parentElement; e; e = e.parentElement) {
				const c = getComputedStyle(e).backgroundColor;
				if (c !== "transparent" && !c.startsWith("rgba(0, 0, 0, 0")) {
					bg = c;
					break;
				}
			}
			return [getComputedStyle(el).outlineColor, bg];
		})()`))
		ratio, err := contrast(colours[0], colours[1])
		if err != nil {
			tb.t.Fatal(err)
		}
		if ratio < 3 {
			tb.t.Errorf("%s: the focus ring, %s on %s, has a contrast of %.2f:1; want 3:1 or more", selector, colours[0], colours[1], ratio)
		}
		return
	}
	tb.t.Fatalf("Tab never reaches %s", selector)
}

// contrast returns the contrast ratio of two opaque colours, as computed
// styles write them ("rgb(179, 92, 0)"), by WCAG 2's definition: (L1 +
// 0.05) / (L2 + 0.05) of their relative luminances, the lighter's first.
func contrast(a, b string) (float64, error) {
	la, err := luminance(a)
	if err != nil {
		return 0, err
	}
	lb, err := luminance(b)
	if err != nil {
		return 0, err
	}
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05), nil
}

// luminance returns the relative luminance of a colour written
// "rgb(r, g, b)" or "rgba(r, g, b, 1)".
func luminance(colour string) (float64, error) {
	var r, g, b float64
	if _, err := fmt.Sscanf(strings.Replace(colour, "rgba(", "rgb(", 1), "rgb(%g, %g, %g", &r, &g, &b); err != nil {
		return 0, fmt.Errorf("colour %q: %v", colour, err)
	}
	linear := func(c float64) float64 {
		c /= 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*linear(r) + 0.7152*linear(g) + 0.0722*linear(b), nil
}

// TestContrast checks the contrast ratios tabTo computes, with WCAG's
// own figures: black on white is 21:1, and the orange ring the shop had
// (#e38b00) is under 3:1 on white.
func TestContrast(t *testing.T) {
	for _, tc := range []struct {
		a, b     string
		min, max float64
	}{
		{"rgb(0, 0, 0)", "rgb(255, 255, 255)", 20.99, 21.01},
		{"rgb(255, 255, 255)", "rgba(255, 255, 255, 1)", 1, 1},
		{"rgb(227, 139, 0)", "rgb(255, 255, 255)", 2.5, 2.7}, // #e38b00
		{"rgb(179, 92, 0)", "rgb(255, 255, 255)", 4.6, 4.8},  // #b35c00
		{"rgb(11, 92, 173)", "rgb(255, 255, 255)", 6.6, 6.8}, // #0b5cad
	} {
		got, err := contrast(tc.a, tc.b)
		if err != nil || got < tc.min || got > tc.max {
			t.Errorf("contrast(%s, %s) = %.2f, %v; want %.2f to %.2f", tc.a, tc.b, got, err, tc.min, tc.max)
		}
	}
	if _, err := contrast("#fff", "rgb(0, 0, 0)"); err == nil {
		t.Error("contrast of a colour it cannot read: no error")
	}
}
