package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
)

// testNow is the tests' clock: Christmas Eve 2026, 09:00 UTC, 10:00 in
// Paris.
var testNow = time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC)

// shop is a shop under test: the server in memory, with a fixed clock and
// the Paris time zone, served by an httptest.Server, and its log.
type shop struct {
	*server
	URL string
	log *syncBuffer
}

// newShop starts a shop in memory for t. historyPage is the number of
// lines a page of history shows (0 for the default).
func newShop(t *testing.T, historyPage int) *shop {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	s, release, err := newServer(context.Background(), config{Zone: paris, Now: func() time.Time { return testNow }, HistoryPage: historyPage}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	ts := httptest.NewServer(s.routes())
	t.Cleanup(ts.Close)
	return &shop{server: s, URL: ts.URL, log: logs}
}

// issue issues a card of value (such as "25.00") and returns its code.
func (s *shop) issue(t *testing.T, value string) codefmt.Code {
	t.Helper()
	batch, err := s.cards.Issue(context.Background(), giftcard.IssueRequest{Value: eur(value)}, "test-"+t.Name()+"-"+value+"-"+time.Now().String())
	if err != nil {
		t.Fatal(err)
	}
	return batch.Cards[0].Code
}

// credit gives owner a balance of value, by a card redeemed through the
// library.
func (s *shop) credit(t *testing.T, owner, value string) {
	t.Helper()
	code := s.issue(t, value)
	if _, err := s.wallet.Redeem(context.Background(), owner, code.String(), "test-redeem-"+code.Suffix()); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log's buffer, safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// signedIn returns a browser signed in to s as owner.
func signedIn(t *testing.T, s *shop, owner string) *browser {
	t.Helper()
	b, err := newBrowser(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.get("/signin"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.post("/signin", url.Values{"shopper": {owner}}); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCSRF posts every form without its token, with another session's,
// and from another site: each is refused with 403 and changes nothing.
func TestCSRF(t *testing.T) {
	s := newShop(t, 0)
	ana := signedIn(t, s, "ana")
	other := signedIn(t, s, "ben")
	code := s.issue(t, "25.00")
	forms := map[string]url.Values{
		"/signin":           {"shopper": {"ben"}},
		"/signout":          {},
		"/lang":             {"lang": {"en"}, "back": {"/"}},
		"/giftcards/redeem": {"code": {code.String()}},
		"/giftcards/check":  {"code": {code.String()}},
		"/demo/cards":       {},
		"/cart/add":         {"product": {"mug"}},
		"/cart/remove":      {"product": {"mug"}},
		"/checkout/balance": {"use": {"no"}},
		"/checkout/pay":     {"order": {"SF-X"}, "instrument": {"tok_visa"}},
	}
	for path, form := range forms {
		for name, token := range map[string]string{"no token": "", "another session's token": other.csrf} {
			body := url.Values{"csrf": {token}}
			for k, v := range form {
				body[k] = v
			}
			res, err := ana.http.PostForm(s.URL+path, body)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s: %s; want 403", path, name, res.Status)
			}
		}
		// With the right token, but sent by another site's page.
		body := url.Values{"csrf": {ana.csrf}}
		for k, v := range form {
			body[k] = v
		}
		req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		res, err := ana.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s from another site: %s; want 403", path, res.Status)
		}
	}
	// Nothing happened: still signed in as Ana, in French, with an empty
	// cart and nothing redeemed; and the card is still hers to redeem.
	page, err := ana.get("/giftcards")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`lang="fr"`, "Bonjour, Ana", "Panier (0)", `id="balance">0,00`} {
		if !strings.Contains(page, want) {
			t.Errorf("after the refused forms, the gift-card page lacks %q", want)
		}
	}
	if _, err := ana.post("/giftcards/redeem", url.Values{"code": {code.String()}}); err != nil {
		t.Errorf("redeeming with the token after the refusals: %v", err)
	}
	// A form without a session at all.
	res, err := http.PostForm(s.URL+"/giftcards/check", url.Values{"code": {"X"}, "csrf": {ana.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("POST without a session cookie: %s; want 403", res.Status)
	}
}

// TestSecurityHeaders checks the Content-Security-Policy and the other
// headers on pages, static files, errors and refusals, and that no page
// holds an inline script or style, which the policy would block.
func TestSecurityHeaders(t *testing.T) {
	s := newShop(t, 0)
	ana := signedIn(t, s, "ana")
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "same-origin",
	}
	inline := regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)
	for _, path := range []string{"/", "/signin", "/giftcards", "/balance", "/cart", "/nowhere", "/static/app.js", "/static/style.css"} {
		res, err := ana.http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for h, v := range want {
			if got := res.Header.Get(h); got != v {
				t.Errorf("GET %s: %s = %q; want %q", path, h, got, v)
			}
		}
		if strings.HasSuffix(res.Header.Get("Content-Type"), "html; charset=utf-8") {
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("GET %s: Cache-Control = %q; want no-store", path, res.Header.Get("Cache-Control"))
			}
			if m := inline.Find(body); m != nil {
				t.Errorf("GET %s: inline script or style %q, which the policy blocks", path, m)
			}
		}
	}
	res, err := http.PostForm(s.URL+"/cart/add", url.Values{"product": {"mug"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || res.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("a refused form: %s, CSP %q; want 403 with the policy", res.Status, res.Header.Get("Content-Security-Policy"))
	}
}

// TestCookies checks the flags of the session and language cookies: over
// plain HTTP HttpOnly and SameSite=Lax, and over TLS also Secure.
func TestCookies(t *testing.T) {
	s := newShop(t, 0)
	tlsServer := httptest.NewTLSServer(s.routes())
	defer tlsServer.Close()
	for _, tc := range []struct {
		name   string
		base   string
		client *http.Client
		secure bool
	}{
		{"http", s.URL, &http.Client{}, false},
		{"https", tlsServer.URL, tlsServer.Client(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			res, err := tc.client.Get(tc.base + "/signin")
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			cookies := res.Cookies()
			csrf := csrfField.FindStringSubmatch(string(page))
			if len(cookies) != 1 || csrf == nil {
				t.Fatalf("GET /signin: cookies %v, CSRF field %v; want one session cookie and a token", cookies, csrf)
			}
			// Sign in (a new session cookie) and switch the language (the lang cookie).
			var got []*http.Cookie
			for _, form := range []struct {
				path string
				v    url.Values
			}{{"/lang", url.Values{"lang": {"en"}, "back": {"/"}}}, {"/signin", url.Values{"shopper": {"ana"}}}} {
				form.v.Set("csrf", csrf[1])
				req, _ := http.NewRequest(http.MethodPost, tc.base+form.path, strings.NewReader(form.v.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(cookies[0])
				res, err := tc.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				got = append(got, res.Cookies()...)
			}
			got = append(got, cookies...)
			names := map[string]bool{}
			for _, c := range got {
				names[c.Name] = true
				if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.secure || c.Path != "/" {
					t.Errorf("cookie %s: HttpOnly %v, SameSite %v, Secure %v, Path %q; want true, Lax, %v, /",
						c.Name, c.HttpOnly, c.SameSite, c.Secure, c.Path, tc.secure)
				}
			}
			if !names[sessionCookie] || !names[langCookie] {
				t.Errorf("cookies set: %v; want %s and %s", names, sessionCookie, langCookie)
			}
		})
	}
}

// TestCodeNotShownAfterRedemption redeems a card and a demo card, then
// reads every page: none shows either code, and no log line holds one,
// masked or not; the live check is never a GET, so that no code is ever
// in a URL.
func TestCodeNotShownAfterRedemption(t *testing.T) {
	s := newShop(t, 0)
	ana := signedIn(t, s, "ana")
	code := s.issue(t, "25.00")
	page, err := ana.get("/giftcards")
	if err != nil {
		t.Fatal(err)
	}
	demo := codefmt.Extract(page)
	if len(demo) != len(demoValues) {
		t.Fatalf("the gift-card page shows %d demo codes; want %d", len(demo), len(demoValues))
	}
	var pages []string
	from := map[codefmt.Code]int{} // the first page read after the code's redemption
	for _, c := range []codefmt.Code{code, demo[0]} {
		from[c] = len(pages)
		if _, err := ana.post("/giftcards/check", url.Values{"code": {c.String()}}); err != nil {
			t.Fatal(err)
		}
		messy := strings.ToLower(strings.ReplaceAll(c.String(), "-", " "))
		page, err := ana.post("/giftcards/redeem", url.Values{"code": {messy}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(page, "ajoutés à votre solde") {
			t.Fatalf("redeeming %s: no confirmation", c.Masked())
		}
		pages = append(pages, page)
	}
	if _, err := ana.post("/cart/add", url.Values{"product": {"notebook"}}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/giftcards", "/balance", "/cart", "/checkout"} {
		page, err := ana.get(path)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page)
	}
	pages = append(pages, s.log.String())
	for _, c := range []codefmt.Code{code, demo[0]} {
		plain := strings.ReplaceAll(c.String(), "-", "")
		for i, p := range pages[from[c]:] {
			if strings.Contains(p, c.String()) || strings.Contains(p, plain) || strings.Contains(strings.ToLower(p), strings.ToLower(plain)) {
				t.Errorf("page or log %d after its redemption shows the code %s:\n%s", i, c.Masked(), p)
			}
		}
	}
	if !strings.Contains(s.log.String(), "GET /giftcards") {
		t.Error("the log has no request lines: the test checks nothing")
	}
	res, err := ana.http.Get(s.URL + "/giftcards/check?code=" + url.QueryEscape(code.String()))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusOK {
		t.Error("GET /giftcards/check answers: a code would be in a URL")
	}
}

// TestLanguage checks the choice of language: Accept-Language, French when
// nothing matches, the switch's cookie before either, and a switch that
// never sends the reader to another site.
func TestLanguage(t *testing.T) {
	s := newShop(t, 0)
	for _, tc := range []struct {
		accept, cookie, want string
	}{
		{"", "", "fr"},
		{"fr-FR,fr;q=0.9", "", "fr"},
		{"fr-CA", "", "fr"},
		{"en-US,en;q=0.9", "", "en"},
		{"en-GB", "", "en"},
		{"de-DE,de;q=0.9,en;q=0.5", "", "en"},
		{"de-DE", "", "fr"},
		{"en-US", "fr", "fr"},
		{"fr-FR", "en", "en"},
		{"en-US", "xx", "en"},
	} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/", nil)
		if tc.accept != "" {
			req.Header.Set("Accept-Language", tc.accept)
		}
		if tc.cookie != "" {
			req.AddCookie(&http.Cookie{Name: langCookie, Value: tc.cookie})
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !bytes.Contains(page, []byte(`<html lang="`+tc.want+`">`)) {
			t.Errorf("Accept-Language %q, cookie %q: not in %q", tc.accept, tc.cookie, tc.want)
		}
	}

	b, err := newBrowser(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.get("/"); err != nil {
		t.Fatal(err)
	}
	for back, want := range map[string]string{"/cart": "/cart", "//evil.example/": "/", "https://evil.example/": "/", `/\evil.example`: "/"} {
		page, err := b.post("/lang", url.Values{"lang": {"en"}, "back": {back}})
		if err != nil {
			t.Fatal(err)
		}
		if b.last != want || !strings.Contains(page, `<html lang="en">`) {
			t.Errorf("switch to English, back to %q: at %s, English %v; want at %s, in English", back, b.last, strings.Contains(page, `lang="en"`), want)
		}
	}
	page, err := b.post("/lang", url.Values{"lang": {"fr"}, "back": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, `<html lang="fr">`) || !strings.Contains(page, "Ajouter au panier") {
		t.Error("switching back to French did not")
	}
}

// TestDeclinedCard pays with the card the fake processor declines: the
// shopper sees which part was declined and that nothing was charged, her
// balance is whole, and the next try, a new payment, is paid.
func TestDeclinedCard(t *testing.T) {
	s := newShop(t, 0)
	s.credit(t, "ana", "25.00")
	ana := signedIn(t, s, "ana")
	if _, err := ana.post("/cart/add", url.Values{"product": {"lamp"}}); err != nil {
		t.Fatal(err)
	}
	order := func() string {
		page, err := ana.get("/checkout")
		if err != nil {
			t.Fatal(err)
		}
		return regexp.MustCompile(`name="order" value="([^"]+)"`).FindStringSubmatch(page)[1]
	}
	first := order()
	page, err := ana.post("/checkout/pay", url.Values{"order": {first}, "instrument": {"tok_declined"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := flashOf(page), "Votre carte bancaire a été refusée pour sa part, 39,90\u00a0€. Rien n'a été débité, et votre solde est intact."; got != want {
		t.Errorf("after a declined card, the message is %q; want %q", got, want)
	}
	if b, _ := s.wallet.Balance(context.Background(), "ana", giftkit.EUR); b.Available.Amount() != "25.00" {
		t.Errorf("after a declined card, the balance is %s; want 25.00 EUR", b.Available)
	}
	if _, err := ana.get("/orders/" + first); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("the declined order's page: %v; want 404", err)
	}
	second := order()
	if second == first {
		t.Fatal("the try after a declined card reuses the order")
	}
	page, err = ana.post("/checkout/pay", url.Values{"order": {second}, "instrument": {"tok_visa"}})
	if err != nil {
		t.Fatal(err)
	}
	if ana.last != "/orders/"+second || !strings.Contains(page, `id="paid-card">39,90`) {
		t.Errorf("the second try ended at %s; want the confirmation of %s", ana.last, second)
	}
	// The form sent again after paying pays nothing more.
	if _, err := ana.post("/checkout/pay", url.Values{"order": {second}, "instrument": {"tok_visa"}}); err != nil {
		t.Fatal(err)
	}
	if ana.last != "/checkout" && ana.last != "/cart" {
		t.Errorf("a form sent again after paying went to %s; want back to the (now empty) checkout", ana.last)
	}
	if b, _ := s.wallet.Balance(context.Background(), "ana", giftkit.EUR); !b.Available.IsZero() {
		t.Errorf("after paying, the balance is %s; want 0.00 EUR", b.Available)
	}
}

// TestOrderIsTheShoppers shows an order to the shopper who paid it and to
// no one else.
func TestOrderIsTheShoppers(t *testing.T) {
	s := newShop(t, 0)
	ana := signedIn(t, s, "ana")
	if _, err := ana.post("/cart/add", url.Values{"product": {"mug"}}); err != nil {
		t.Fatal(err)
	}
	page, err := ana.get("/checkout")
	if err != nil {
		t.Fatal(err)
	}
	order := regexp.MustCompile(`name="order" value="([^"]+)"`).FindStringSubmatch(page)[1]
	if _, err := ana.post("/checkout/pay", url.Values{"order": {order}, "instrument": {"tok_visa"}}); err != nil {
		t.Fatal(err)
	}
	ben := signedIn(t, s, "ben")
	if _, err := ben.get("/orders/" + order); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Ben reads Ana's order: %v; want 404", err)
	}
	if _, err := ana.get("/orders/" + order); err != nil {
		t.Errorf("Ana reads her order: %v", err)
	}
}

// TestMessages checks that every catalogue key the templates and the code
// use exists, and that every message has both languages.
func TestMessages(t *testing.T) {
	for key, m := range messages {
		if m[0] == "" || m[1] == "" {
			t.Errorf("message %q: French %q, English %q; want both", key, m[0], m[1])
		}
	}
	files, _ := filepath.Glob("templates/*.html")
	goFiles, _ := filepath.Glob("*.go")
	files = append(files, goFiles...)
	use := regexp.MustCompile(`\.Tf? "([a-z.]+)"|l\.Tf?\("([a-z.]+)"|Key(?:, f\.Amounts)? = "([a-z.]+)"|Key: "([a-z.]+)"|Message: "([a-z.]+)"|, "(card\.[a-z]+)"\}`)
	used := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range use.FindAllStringSubmatch(string(src), -1) {
			for _, key := range m[1:] {
				if key == "" {
					continue
				}
				used++
				if _, ok := messages[key]; !ok {
					t.Errorf("%s uses the message %q, which is not in the catalogue", name, key)
				}
			}
		}
	}
	if used < 100 {
		t.Errorf("found %d uses of messages; the pattern misses some", used)
	}
}

// TestSmoke runs the -smoke session.
func TestSmoke(t *testing.T) {
	var out bytes.Buffer
	if err := runSmoke(&out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("smoke: %v\n%s", err, out.String())
	}
}

// TestSQLiteRestart runs the shop on its default store, a SQLite file:
// after a restart, the balance and the orders are still there, and a card
// issued before it is still found by its code (the hash key is kept beside
// the file).
func TestSQLiteRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "storefront.db")
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	s, release, err := newServer(ctx, config{DB: db}, log)
	if err != nil {
		t.Fatal(err)
	}
	kept := s.demo.list()[1].Code
	if _, err := s.wallet.Redeem(ctx, "ana", s.demo.list()[0].Code.String(), "redeem-1"); err != nil {
		t.Fatal(err)
	}
	release()

	s, release, err = newServer(ctx, config{DB: db}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	b, err := s.wallet.Balance(ctx, "ana", giftkit.EUR)
	if err != nil || b.Available.Amount() != "25.00" {
		t.Errorf("after a restart, Ana's balance is %v (%v); want 25.00 EUR", b.Available, err)
	}
	if got, err := s.wallet.Redeem(ctx, "ana", kept.String(), "redeem-2"); err != nil || got.Amount.Amount() != "40.00" {
		t.Errorf("after a restart, redeeming a card of the first run: %v, %v; want 40.00 EUR", got.Amount, err)
	}
	if info, err := os.Stat(db + ".key"); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the hash key file: %v, %v; want it readable by its owner alone", info, err)
	}
}
