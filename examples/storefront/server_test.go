package main

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
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
	return startShop(t, config{HistoryPage: historyPage})
}

// startShop starts a shop in memory for t, configured by cfg, with the
// tests' clock and the Paris time zone.
func startShop(t *testing.T, cfg config) *shop {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Zone, cfg.Now = paris, func() time.Time { return testNow }
	s, release, err := newServer(context.Background(), cfg, log)
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
		"/checkout/cancel":  {"order": {"SF-X"}},
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
	for back, want := range map[string]string{
		"/cart": "/cart", "//evil.example/": "/", "https://evil.example/": "/", `/\evil.example`: "/",
		// Browsers drop tabs and line feeds from an address: each of these
		// is //evil.example/ to them.
		"/\t/evil.example/": "/", "/\n/evil.example/": "/", "/\r/evil.example/": "/", "/\r\n/evil.example/": "/",
		"/%09/evil.example/": "/", "/%0A/evil.example/": "/", "/%2F/evil.example/": "/", "/%5Cevil.example/": "/",
	} {
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

// TestLocalPath checks what a "next" or "back" parameter may send the
// reader to: a path on this site, written anew, and nothing else, however
// it is written.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                       "/",
		"/cart":                   "/cart",
		"/balance?after=12":       "/balance?after=12",
		"/orders/SF-1#top":        "/orders/SF-1",
		"/caf%C3%A9":              "/caf%C3%A9",
		"/a?next=//evil.example/": "/a?next=//evil.example/",
		"/.//evil.example/":       "/.//evil.example/", // a path of this site: Redirect makes it /evil.example/
		"":                        "/",
		"cart":                    "/",
		"https://evil.example/":   "/",
		"javascript:alert(1)":     "/",
		"//evil.example/":         "/",
		"///evil.example/":        "/",
		`/\evil.example/`:         "/",
		`\\evil.example/`:         "/",
		`/a\b`:                    "/",
		"/\t/evil.example/":       "/",
		"/\n/evil.example/":       "/",
		"/\r/evil.example/":       "/",
		"\t//evil.example/":       "/",
		" //evil.example/":        "/",
		"/\x00/evil.example/":     "/",
		"/\x7f/evil.example/":     "/",
		"/\u0085/evil.example/":   "/",
		"/%09/evil.example/":      "/",
		"/%0d%0a/evil.example/":   "/",
		"/%00/evil.example/":      "/",
		"/%2F/evil.example/":      "/",
		"/%2f%2fevil.example/":    "/",
		"/%5Cevil.example/":       "/",
		"/%5c%5cevil.example/":    "/",
		"/%zz":                    "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestRedirectsStayOnSite sends the sign-in's "next" and the language
// switch's "back" places on other sites, written every way that browsers
// read as one: each answer sends the reader to the shop's home page, and
// the sign-in page does not carry them in its form.
func TestRedirectsStayOnSite(t *testing.T) {
	s := newShop(t, 0)
	evil := []string{
		"//evil.example/", `/\evil.example/`, "https://evil.example/",
		"/\t/evil.example/", "/\n/evil.example/", "/\r/evil.example/", "\t//evil.example/",
		"/%09/evil.example/", "/%0D%0A/evil.example/", "/%2F/evil.example/", "/%5Cevil.example/",
	}
	for _, place := range evil {
		b, err := newBrowser(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		page, err := b.get("/signin?next=" + url.QueryEscape(place))
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(page); m == nil || m[1] != "/" {
			t.Errorf("GET /signin?next=%q: the form's next is %q; want \"/\"", place, m)
		}
		b.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		for _, f := range []struct{ path, field string }{{"/lang", "back"}, {"/signin", "next"}} { // signing in ends the session
			path, field := f.path, f.field
			form := url.Values{"csrf": {b.csrf}, field: {place}, "lang": {"en"}, "shopper": {"ana"}}
			res, err := b.http.PostForm(s.URL+path, form)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/" {
				t.Errorf("POST %s with %s=%q: %s to %q; want 303 to \"/\"", path, field, place, res.Status, loc)
			}
		}
	}
}

// TestDeclinedCard pays with the card the fake processor declines: the
// shopper sees which part was declined and that nothing was charged, her
// balance is whole, and the next try, a new payment, is paid. The form
// sent again after that shows the order paid, and pays nothing more.
func TestDeclinedCard(t *testing.T) {
	s := newShop(t, 0)
	s.credit(t, "ana", "25.00")
	ana := signedIn(t, s, "ana")
	if _, err := ana.post("/cart/add", url.Values{"product": {"lamp"}}); err != nil {
		t.Fatal(err)
	}
	first := checkoutForm(t, ana, "tok_declined")
	page, err := ana.post("/checkout/pay", first)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := flashOf(page), "Votre carte bancaire a été refusée pour sa part, 39,90\u00a0€. Rien n'a été débité, et votre solde est intact."; got != want {
		t.Errorf("after a declined card, the message is %q; want %q", got, want)
	}
	if b, _ := s.wallet.Balance(context.Background(), "ana", giftkit.EUR); b.Available.Amount() != "25.00" {
		t.Errorf("after a declined card, the balance is %s; want 25.00 EUR", b.Available)
	}
	if _, err := ana.get("/orders/" + first.Get("order")); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("the declined order's page: %v; want 404", err)
	}
	second := checkoutForm(t, ana, "tok_visa")
	if second.Get("order") == first.Get("order") {
		t.Fatal("the try after a declined card reuses the order")
	}
	order := "/orders/" + second.Get("order")
	page, err = ana.post("/checkout/pay", second)
	if err != nil {
		t.Fatal(err)
	}
	if ana.last != order || !strings.Contains(page, `id="paid-card">39,90`) {
		t.Errorf("the second try ended at %s; want the confirmation at %s", ana.last, order)
	}
	// The form sent again after paying (a second click, the back button)
	// shows the order paid, with no message, and pays nothing more.
	page, err = ana.post("/checkout/pay", second)
	if err != nil {
		t.Fatal(err)
	}
	if ana.last != order || flashOf(page) != "" || !strings.Contains(page, `id="paid-card">39,90`) {
		t.Errorf("the form sent again after paying: at %s, message %q; want the confirmation at %s, no message", ana.last, flashOf(page), order)
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
	form := checkoutForm(t, ana, "tok_visa")
	order := form.Get("order")
	if _, err := ana.post("/checkout/pay", form); err != nil {
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
	use := regexp.MustCompile(`\.Tf? "([a-z.]+)"|l\.[TN]f?\("([a-z.]+)"|Key(?:, f\.Args)? = "([a-z.]+)"|Key: "([a-z.]+)"|Message: "([a-z.]+)"|, "(card\.[a-z]+)"\}|return "(card\.[a-z]+)"`)
	plural := regexp.MustCompile(`l\.Nf\("([a-z.]+)"`)
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
		for _, m := range plural.FindAllStringSubmatch(string(src), -1) {
			if _, ok := messages[m[1]+".one"]; !ok {
				t.Errorf("%s counts with the message %q, whose singular %q is not in the catalogue", name, m[1], m[1]+".one")
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

// TestSQLiteRestartOpenOrder stops the shop while an order's payment is
// open (the processor did not answer): after the restart, the order is
// the shopper's open order again, so that the sweep's outcome is shown to
// them.
func TestSQLiteRestartOpenOrder(t *testing.T) {
	db := filepath.Join(t.TempDir(), "storefront.db")
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	proc := processortest.New()
	s, release, err := newServer(ctx, config{DB: db, Processor: proc}, log)
	if err != nil {
		t.Fatal(err)
	}
	proc.Queue(processortest.OpAuthorize, processortest.Fail)
	_, err = s.checkout.Pay(ctx, checkout.PayRequest{PaymentID: "SF-OPEN", Owner: "ana", Total: eur("18.00"), Instrument: "tok_visa"}, "pay-SF-OPEN")
	if !errors.Is(err, checkout.ErrProcessorUnavailable) {
		t.Fatalf("paying while the processor does not answer: %v", err)
	}
	release()

	s, release, err = newServer(ctx, config{DB: db, Processor: proc}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if got := s.orders.charging("ana"); len(got) != 1 || got[0] != "SF-OPEN" {
		t.Errorf("after a restart, Ana's open orders are %q; want [SF-OPEN]", got)
	}
}

// TestSessionsBounded checks that sessions are bounded: beyond the bound,
// the one used least recently ends, and one idle too long ends when the
// next starts.
func TestSessionsBounded(t *testing.T) {
	now := testNow
	ss := newSessions(func() time.Time { return now }, 3)
	a, b, c := ss.create(session{}), ss.create(session{}), ss.create(session{})
	now = now.Add(time.Second)
	if _, ok := ss.get(a.id); !ok { // a is used: b is now the least recently used
		t.Fatal("a new session is gone")
	}
	d := ss.create(session{})
	for _, s := range []struct {
		name string
		id   string
		live bool
	}{{"a", a.id, true}, {"b", b.id, false}, {"c", c.id, true}, {"d", d.id, true}} {
		if _, ok := ss.get(s.id); ok != s.live {
			t.Errorf("session %s live: %v; want %v", s.name, ok, s.live)
		}
	}
	if n := ss.len(); n != 3 {
		t.Errorf("%d sessions kept; want 3", n)
	}
	now = now.Add(sessionIdle + time.Second)
	e := ss.create(session{})
	if n := ss.len(); n != 1 {
		t.Errorf("after the others were idle too long, %d sessions kept; want 1", n)
	}
	if _, ok := ss.get(e.id); !ok {
		t.Error("the new session is gone")
	}

	// Over HTTP: visitors without a cookie, each given a session, never
	// take more than the bound, and a shopper who keeps using the shop
	// stays signed in among them.
	shop := newShop(t, 0)
	shop.sessions.max = 5
	ana := signedIn(t, shop, "ana")
	for i := range 40 {
		res, err := http.Get(shop.URL + "/nowhere")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if n := shop.sessions.len(); n > 5 {
			t.Fatalf("%d sessions after %d visits; want at most 5", n, i+1)
		}
		if i%3 == 0 {
			if page := mustGet(t, ana, "/"); !strings.Contains(page, "Bonjour, Ana") {
				t.Fatalf("after %d visits, Ana was signed out", i+1)
			}
		}
	}
}

// TestDemoCardsBounded asks for demo card after demo card: no more than
// maxDemoCards wait to be redeemed, the shopper is told why, and
// redeeming one makes room for another.
func TestDemoCardsBounded(t *testing.T) {
	s := newShop(t, 0)
	ana := signedIn(t, s, "ana")
	var page string
	for range maxDemoCards {
		page = mustPost(t, ana, "/demo/cards", url.Values{})
	}
	codes := codefmt.Extract(page)
	if len(codes) != maxDemoCards {
		t.Fatalf("after asking for %d more, %d demo cards are shown; want %d", maxDemoCards, len(codes), maxDemoCards)
	}
	if got, want := flashOf(page), "10 cartes de démonstration attendent déjà d'être utilisées\u00a0: utilisez-en une avant d'en émettre une autre."; got != want {
		t.Errorf("asking for one too many: %q; want %q", got, want)
	}
	mustPost(t, ana, "/giftcards/redeem", url.Values{"code": {codes[0].String()}})
	page = mustPost(t, ana, "/demo/cards", url.Values{})
	if got := len(codefmt.Extract(page)); got != maxDemoCards || flashOf(page) != "Une nouvelle carte de démonstration a été émise." {
		t.Errorf("after redeeming one: %d demo cards shown, %q; want %d, a new one issued", got, flashOf(page), maxDemoCards)
	}
}
