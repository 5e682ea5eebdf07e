package main

import (
	"context"
	"embed"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/wallet"
)

// The pages' templates and the static files, built into the binary: there
// is no front-end build step.
var (
	//go:embed templates
	templateFS embed.FS
	//go:embed static
	staticFS embed.FS
)

// contentSecurityPolicy lets a page load scripts, styles and images from
// the shop alone, fetch from it alone, post forms to it alone, and be
// framed by no one. No inline script or style is allowed, so an injected
// one does not run.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// server is the shop: the library's services, the sessions and the
// pages. Its handlers are safe for concurrent use.
type server struct {
	cards    *giftcard.Service
	wallet   *wallet.Service
	checkout *checkout.Service
	sessions *sessions
	orders   *orderBook
	demo     *demoCards
	pages    map[string]*template.Template // by page name: the layout with the page's "content"
	log      *slog.Logger
	zone     *time.Location // the shop's time zone, in which pages show times
	// historyPage is how many lines the balance page shows at a time.
	historyPage int
}

// parsePages parses every page in templates/ with the layout.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		page := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if page == "layout" {
			continue
		}
		t, err := layout.Clone()
		if err == nil {
			t, err = t.ParseFS(templateFS, name)
		}
		if err != nil {
			return nil, err
		}
		pages[page] = t
	}
	return pages, nil
}

// routes returns the shop's handler: every route, behind the security
// headers, the request log and the cross-origin check (which refuses a
// POST that a browser says comes from another site).
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.page(s.shop))
	mux.HandleFunc("GET /signin", s.page(s.signInPage))
	mux.HandleFunc("POST /signin", s.form(s.signIn))
	mux.HandleFunc("POST /signout", s.form(s.signOut))
	mux.HandleFunc("POST /lang", s.form(s.switchLang))
	mux.HandleFunc("GET /giftcards", s.page(s.signedIn(s.giftCards)))
	mux.HandleFunc("POST /giftcards/redeem", s.form(s.signedIn(s.redeem)))
	mux.HandleFunc("POST /giftcards/check", s.form(s.checkCode))
	mux.HandleFunc("POST /demo/cards", s.form(s.signedIn(s.issueDemoCard)))
	mux.HandleFunc("GET /balance", s.page(s.signedIn(s.balance)))
	mux.HandleFunc("GET /cart", s.page(s.cartPage))
	mux.HandleFunc("POST /cart/add", s.form(s.addToCart))
	mux.HandleFunc("POST /cart/remove", s.form(s.removeFromCart))
	mux.HandleFunc("GET /checkout", s.page(s.signedIn(s.checkoutPage)))
	mux.HandleFunc("POST /checkout/balance", s.form(s.signedIn(s.chooseBalance)))
	mux.HandleFunc("POST /checkout/pay", s.form(s.signedIn(s.pay)))
	mux.HandleFunc("POST /checkout/cancel", s.form(s.signedIn(s.cancelOrder)))
	mux.HandleFunc("GET /orders", s.page(s.signedIn(s.ordersPage)))
	mux.HandleFunc("GET /orders/{id}", s.page(s.signedIn(s.order)))
	mux.HandleFunc("/", s.page(s.notFound))
	return securityHeaders(s.logRequests(http.NewCrossOriginProtection().Handler(mux)))
}

// securityHeaders sets the headers every answer carries: the
// Content-Security-Policy, no MIME sniffing, no framing, no referrer to
// other sites, HSTS over TLS, and no caching of pages (they show a
// shopper's balance, and the redeem form what was typed in it).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status a handler wrote, for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// logRequests logs one line per request: its method, its route (the
// pattern, never the path or the query, which a visitor can fill with
// anything, a code included), the status and the time taken. No request
// body is ever logged: the redeem form's holds a code.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if strings.HasPrefix(r.Pattern, "GET /static/") {
			return
		}
		s.log.Info("request", "method", r.Method, "route", r.Pattern, "status", sw.status, "duration", time.Since(start))
	})
}

// handler serves a request in the browser's session.
type handler func(w http.ResponseWriter, r *http.Request, sess session)

// page wraps the handler of a page: it finds the browser's session, or
// starts one (so that the page's forms have a CSRF token).
func (s *server) page(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.sessionOf(r)
		if !ok {
			sess = s.sessions.create(session{})
			setCookie(w, r, sessionCookie, sess.id, 0)
		}
		h(w, r, sess)
	}
}

// form wraps the handler of a form's POST: without the session's cookie
// and its CSRF token in the form, the request is refused (403) and nothing
// happens.
func (s *server) form(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		sess, ok := s.sessionOf(r)
		if !ok || !validCSRF(r, sess) {
			s.log.Warn("refused: no session or a wrong CSRF token", "route", r.Pattern)
			s.render(w, r, sess, http.StatusForbidden, "error", errorPage{Message: "error.csrf"})
			return
		}
		h(w, r, sess)
	}
}

// signedIn wraps a handler that needs a shopper: a page sends the visitor
// to sign in and back, a form is refused.
func (s *server) signedIn(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request, sess session) {
		if sess.shopper != "" {
			h(w, r, sess)
			return
		}
		if r.Method == http.MethodGet {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
			return
		}
		s.render(w, r, sess, http.StatusForbidden, "error", errorPage{Message: "error.signin"})
	}
}

// sessionOf returns the session the request's cookie names, if it is
// live, its checkout brought up to date with its order (syncOrder).
func (s *server) sessionOf(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	sess, ok := s.sessions.get(c.Value)
	if ok {
		sess = s.syncOrder(sess)
	}
	return sess, ok
}

// view is what every page's template gets: the locale, the session's
// token and shopper, the cart's size, the message for this page, and the
// page's own data.
type view struct {
	Page      string // the page's name, on <body data-page>, for tests and styles
	L         locale
	CSRF      string
	Shopper   string // the signed-in shopper's name; empty for none
	CartCount int
	Flash     string // a message left by the previous request
	Alert     bool   // Flash is an error
	Back      string // where the language switch comes back to: this page
	Data      any
}

// render writes the page name with data, in the reader's language. A
// template that fails is logged, and the reader gets a plain 500.
func (s *server) render(w http.ResponseWriter, r *http.Request, sess session, status int, name string, data any) {
	l := s.locale(r)
	v := view{Page: name, L: l, CSRF: sess.csrf, Data: data, Back: r.URL.RequestURI()}
	if r.Method != http.MethodGet { // a form's answer: back to the page of the form
		v.Back = "/"
		if name == "giftcards" {
			v.Back = "/giftcards"
		}
	}
	if sess.shopper != "" {
		v.Shopper = shopperName(sess.shopper)
	}
	for _, n := range sess.cart {
		v.CartCount += n
	}
	if f := s.sessions.takeFlash(sess.id); f.Key != "" {
		args := make([]any, len(f.Args))
		for i, a := range f.Args {
			if m, ok := a.(giftkit.Money); ok {
				a = l.Money(m)
			}
			args[i] = a
		}
		v.Flash, v.Alert = l.Tf(f.Key, args...), f.Alert
	}
	var b strings.Builder
	if err := s.pages[name].ExecuteTemplate(&b, "layout", v); err != nil {
		s.log.Error("template failed", "page", name, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

// locale is the reader's locale.
func (s *server) locale(r *http.Request) locale { return locale{Lang: langOf(r), zone: s.zone} }

// errorPage is the data of the error page: a catalogue key.
type errorPage struct{ Message string }

// notFound answers a path that has no page.
func (s *server) notFound(w http.ResponseWriter, r *http.Request, sess session) {
	s.render(w, r, sess, http.StatusNotFound, "error", errorPage{Message: "error.notfound"})
}

// failed logs an unexpected error of the library (masked: no error of
// giftkit holds a whole code, and Redact makes sure) and shows the reader
// a page saying that something went wrong.
func (s *server) failed(w http.ResponseWriter, r *http.Request, sess session, err error) {
	s.log.Error("failed", "route", r.Pattern, "err", codefmt.Redact(err.Error()))
	s.render(w, r, sess, http.StatusInternalServerError, "error", errorPage{Message: "error.internal"})
}

// shopperCtx is the context of a shopper's call into the library: the
// activity log records the shopper as the actor, and the limiter counts
// failed guesses of codes per client address as well as per account.
func shopperCtx(r *http.Request, sess session) context.Context {
	ctx := giftkit.WithActor(r.Context(), giftkit.Shopper(sess.shopper))
	return wallet.WithClient(ctx, clientAddr(r))
}

// clientAddr is the network address of the request's client, without its
// port. Behind a reverse proxy, take it from the header the proxy sets.
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// localPath returns p, written anew, if it is a path on this site
// ("/balance", "/balance?after=12"), and "/" otherwise: a "next" or "back"
// parameter must never send the reader to another site. p must parse as a
// URL with no scheme and no host, and its path, as sent and decoded, must
// start with a single "/" and hold no backslash and no control character:
// browsers read "//evil.example" and "/\evil.example" as another host, and
// drop tabs and line feeds from an address, so that "/\t/evil.example" is
// "//evil.example" to them. Only the path and the query are kept.
func localPath(p string) string {
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!safePath(p) || !safePath(u.Path) {
		return "/"
	}
	return (&url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}).String()
}

// safePath reports whether p starts with a single "/" and holds no
// backslash and no control character.
func safePath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") &&
		!strings.ContainsFunc(p, func(r rune) bool { return r == '\\' || unicode.IsControl(r) })
}
