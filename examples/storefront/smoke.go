package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/giftkit/giftkit/codefmt"
)

// runSmoke starts the shop in memory on a free loopback port, runs a short
// scripted session against it over HTTP, as a browser without scripts
// would, prints each step to w, and shuts it down. The shop's log goes to
// log.
func runSmoke(w io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, "127.0.0.1:0", config{Zone: time.UTC}, log, io.Discard, ready) }()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		cancel()
		return err
	}
	err := smokeSession(w, base)
	cancel()
	if serr := <-done; err == nil {
		err = serr
	}
	return err
}

// smokeSession is the scripted session: Ana signs in, catches a typo in a
// demo card's code, redeems it typed messily, cannot redeem it again, and
// pays an order that her balance covers.
func smokeSession(w io.Writer, base string) error {
	b, err := newBrowser(base)
	if err != nil {
		return err
	}
	step := func(format string, args ...any) { fmt.Fprintf(w, "smoke: "+format+"\n", args...) }

	if _, err := b.get("/signin"); err != nil {
		return err
	}
	if _, err := b.post("/signin", url.Values{"shopper": {"ana"}, "next": {"/giftcards"}}); err != nil {
		return err
	}
	page, err := b.get("/giftcards")
	if err != nil {
		return err
	}
	codes := codefmt.Extract(page)
	if len(codes) == 0 {
		return errors.New("the gift-card page shows no demo card")
	}
	code := codes[0]
	step("signed in as Ana; %d demo cards on the gift-card page", len(codes))

	typo := []byte(code.String())
	typo[7] = otherSymbol(typo[7])
	var check codeCheck
	if err := b.postJSON("/giftcards/check", url.Values{"code": {string(typo)}}, &check); err != nil {
		return err
	}
	if check.State != "invalid" || check.Suggestion != code.String() {
		return fmt.Errorf("live check of a typo: %+v", check)
	}
	step("live check of a typo: %q", check.Message)

	messy := "  " + strings.ToLower(strings.ReplaceAll(code.String(), "-", " ")) + " "
	page, err = b.post("/giftcards/redeem", url.Values{"code": {messy}})
	if err != nil {
		return err
	}
	if strings.Contains(page, code.String()) {
		return errors.New("the page after redemption shows the code")
	}
	step("redeemed the code typed messily: %q", flashOf(page))

	page, err = b.post("/giftcards/redeem", url.Values{"code": {code.String()}})
	if err == nil || !strings.Contains(page, "déjà sur votre solde") {
		return fmt.Errorf("a second redemption was not refused: %v", err)
	}
	step("a second redemption is refused")

	if _, err := b.post("/cart/add", url.Values{"product": {"notebook"}}); err != nil {
		return err
	}
	page, err = b.get("/checkout")
	if err != nil {
		return err
	}
	form := hiddenFields(page, "pay-form")
	order := form.Get("order")
	if order == "" {
		return errors.New("the checkout page has no order")
	}
	page, err = b.post("/checkout/pay", form)
	if err != nil {
		return err
	}
	paid := regexp.MustCompile(`id="paid-balance">([^<]+)<`).FindStringSubmatch(page)
	if paid == nil || !strings.HasSuffix(b.last, "/orders/"+order) {
		return errors.New("no confirmation after paying")
	}
	step("paid order %s: %s from the balance", order, html.UnescapeString(paid[1]))
	return nil
}

var (
	formTag     = regexp.MustCompile(`(?s)<form [^>]*id="([^"]+)"[^>]*>(.*?)</form>`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// hiddenFields returns the hidden fields of the page's form whose ID is
// id, as a browser sends them (the CSRF token aside, which post adds).
func hiddenFields(page, id string) url.Values {
	v := url.Values{}
	for _, f := range formTag.FindAllStringSubmatch(page, -1) {
		if f[1] != id {
			continue
		}
		for _, in := range hiddenInput.FindAllStringSubmatch(f[2], -1) {
			if in[1] != "csrf" {
				v.Add(in[1], html.UnescapeString(in[2]))
			}
		}
	}
	return v
}

// A browser is an HTTP client with cookies that sends forms with the CSRF
// token of the last page it read, as a browser sends a page's form.
type browser struct {
	base string
	http *http.Client
	csrf string
	last string // the path of the last page read, after redirects
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func newBrowser(base string) (*browser, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	return &browser{base: strings.TrimSuffix(base, "/"), http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}, nil
}

// get reads a page.
func (b *browser) get(path string) (string, error) {
	return b.do(http.MethodGet, path, nil)
}

// post sends a form with the CSRF token, follows the redirect, and
// returns the page it ends on.
func (b *browser) post(path string, form url.Values) (string, error) {
	return b.do(http.MethodPost, path, form)
}

func (b *browser) do(method, path string, form url.Values) (string, error) {
	var body io.Reader
	if form != nil {
		form.Set("csrf", b.csrf)
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		return "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.http.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return "", err
	}
	page := string(data)
	if m := csrfField.FindStringSubmatch(page); m != nil {
		b.csrf = m[1]
	}
	b.last = res.Request.URL.Path
	if res.StatusCode != http.StatusOK {
		return page, fmt.Errorf("%s %s: %s", method, path, res.Status)
	}
	return page, nil
}

// postJSON sends a form with the CSRF token and decodes the JSON answer.
func (b *browser) postJSON(path string, form url.Values, v any) error {
	form.Set("csrf", b.csrf)
	res, err := b.http.PostForm(b.base+path, form)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", path, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

var flashText = regexp.MustCompile(`id="flash"[^>]*>([^<]*)<`)

// flashOf returns the page's message, unescaped, or "".
func flashOf(page string) string {
	if m := flashText.FindStringSubmatch(page); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// otherSymbol returns a different character of the codes' alphabet, as a
// typo would.
func otherSymbol(c byte) byte {
	if c == 'X' {
		return 'Y'
	}
	return 'X'
}
