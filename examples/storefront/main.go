// Command storefront is a small web shop that embeds giftkit, with the
// pages a shopper sees: sign in, redeem a gift card, see the balance and
// its history, shop, and pay with the balance and a bank card. It is
// written to be copied: server-rendered pages (html/template), one small
// script, no front-end build step.
//
//	go run -C examples/storefront .            # SQLite in storefront.db; prints the address
//	go run -C examples/storefront . -memory    # everything in memory, forgotten at stop
//	go run -C examples/storefront . -smoke     # start, run a scripted session over HTTP, stop
//
// # Pages
//
//	GET  /                  the shop: four products, each with "Add to cart"
//	GET  /signin            sign in as a demo shopper (Ana or Ben; no password: a demo)
//	GET  /giftcards         the redeem form, the balance, and this run's demo cards
//	POST /giftcards/redeem  redeem the typed code into the balance
//	POST /giftcards/check   the code field's live check, as the shopper types (JSON)
//	GET  /balance           the balance and its history, oldest first, ten lines a page (?after=)
//	GET  /cart              the cart
//	GET  /checkout          the order, the balance applied to it, the opt-out, the bank card's part
//	POST /checkout/pay      pay; then GET /orders/{id}, the confirmation with the split
//	POST /checkout/cancel   cancel an order whose payment has not finished
//	GET  /orders            the shopper's orders: paid, and those whose payment has not finished
//	POST /lang              the language switch (French, English)
//
// # Payments that do not finish
//
// A payment whose processor does not answer stays open (checkout's
// ErrProcessorUnavailable), holding the balance, and the sweep completes
// or unwinds it later. Until it has finished, it is the shopper's open
// order, in every session of theirs: checkout shows it as the payment
// stands (the split it holds, the bank card it started with), to try
// again, which resumes it, or to cancel it; the cart and the choice of
// balance wait, and no other order starts. Once it has finished, the
// shopper is shown the outcome, and the orders page lists it. So no
// payment completes that the shopper is not shown.
//
// # The code field
//
// The code is read as codefmt.Parse reads it: case, spaces, dashes and the
// look-alikes O, I and L are forgiven. As the shopper types, a small script
// (static/app.js) posts what is typed to /giftcards/check, which runs
// codefmt.Parse on the server and answers which character looks wrong and
// what it probably is; the hint is announced (aria-live), and a code with
// one typo comes with a button that puts in the code meant. The check is
// arithmetic on the code's two check characters: nothing is looked up, it
// never counts as a guess, and it tells nothing about which cards exist.
// Without the script the form works the same, and the same messages come
// back when it is sent.
//
// The check runs on the server rather than in the browser as WebAssembly:
// codefmt compiled with GOOS=js GOARCH=wasm is 2.9 MB (850 kB gzipped) and
// needs 'wasm-unsafe-eval' in the Content-Security-Policy, a build before
// the server starts (go generate, or a go build at start, which a
// deployed binary cannot run) or a large binary in the repository; the
// round trip it saves is a few milliseconds for a request of a few dozen
// bytes, made at most once per pause in typing. The server answers with
// the very same Go code that redeems.
//
// # Languages
//
// French, the seed's language, and English: the language comes from the
// switch on every page (a cookie), else from Accept-Language, else French.
// Amounts and dates are written for the reader: 1 234,50 € and
// 24 déc. 2026, 10:15 in French, €1,234.50 and 24 Dec 2026, 10:15 in
// English, from the amounts' exact decimal text (see locale.Money).
//
// # Safety
//
// The session cookie is HttpOnly and SameSite=Lax, and Secure when the shop
// is served over TLS (-tls-cert, -tls-key); behind a proxy that ends TLS,
// set Secure always. Every form carries the session's CSRF token, checked
// on every POST (a wrong or missing one is a 403 and changes nothing), and
// http.CrossOriginProtection refuses cross-site POSTs besides. The
// Content-Security-Policy allows scripts, styles and requests to the shop
// alone, and no inline script or style. No code is ever in a URL, in a log
// line (the request log names routes, not paths, and never a body; the
// services log codes masked, ****-******-*PQR), or in a page after it is
// redeemed: the forms post it, a redemption answers with the amount, and
// a demo card leaves the page once redeemed.
//
// # Store and demo data
//
// The store is SQLite, storefront.db in the working directory unless -db
// names another, so that balances and orders survive a restart; the codes'
// hash key is made on the first run and kept beside it (storefront.db.key).
// With -memory everything is in memory. Each run issues three demo cards
// (25.00, 40.00 and 10.00 EUR) and shows their codes on the gift-card page
// until they are redeemed, as if they were in the visitor's hand: codes are
// never stored, so a restart issues new ones. The card processor is the
// fake one from checkout/processortest: "Visa 4242" is approved, the test
// card "declined" is declined.
//
// This example is a module of its own, so that the SQLite driver and the
// browser tests' chromedp stay out of giftkit's core module.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // the shop's time zone, wherever it runs

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/codefmt"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/sqlitestore"
	"github.com/giftkit/giftkit/wallet"
)

// main runs the command with the process's arguments until SIGINT or
// SIGTERM.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	code := run(ctx, os.Args[1:], os.Stdout, log)
	stop()
	os.Exit(code)
}

// run is the command: it reads its flags from args, runs the shop or the
// smoke test until ctx is done, and returns the exit code.
func run(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("storefront", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	db := fs.String("db", "storefront.db", "the SQLite database file, created if missing")
	memory := fs.Bool("memory", false, "keep everything in memory, forgotten when the shop stops, instead of -db")
	tz := fs.String("tz", "Europe/Paris", "the shop's time zone, in which pages show times (IANA name)")
	certFile := fs.String("tls-cert", "", "serve HTTPS with this certificate (PEM); with -tls-key")
	keyFile := fs.String("tls-key", "", "the certificate's private key (PEM)")
	smoke := fs.Bool("smoke", false, "start on a free port, run a scripted session over HTTP, and stop")
	fs.SetOutput(stdout)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	zone, err := time.LoadLocation(*tz)
	if err != nil {
		log.Error("storefront did not start", "err", err)
		return 2
	}
	if *smoke {
		if err := runSmoke(stdout, log); err != nil {
			log.Error("smoke test failed", "err", err)
			return 1
		}
		return 0
	}
	cfg := config{Zone: zone, CertFile: *certFile, KeyFile: *keyFile}
	if !*memory {
		cfg.DB = *db
	}
	if err := serve(ctx, *addr, cfg, log, stdout, nil); err != nil {
		log.Error("storefront failed", "err", err)
		return 1
	}
	return 0
}

// config says how to build the shop.
type config struct {
	DB                string             // the SQLite file; empty for memory
	Zone              *time.Location     // the shop's time zone; nil for UTC
	Now               func() time.Time   // the services' clock; nil for time.Now
	Processor         checkout.Processor // nil for a new processortest.Processor
	HistoryPage       int                // lines per page of the balance's history; 0 for 10
	CertFile, KeyFile string             // serve HTTPS with these, if set
}

// newServer wires the services over the configured store and issues the
// run's demo cards. The returned function releases the store.
func newServer(ctx context.Context, cfg config, log *slog.Logger) (*server, func(), error) {
	if cfg.DB == "" {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, nil, err
		}
		s, err := build(ctx, memstore.New(), key, wallet.NewMemoryLimiter(0, 0, 0), cfg, log)
		return s, func() {}, err
	}
	key, err := hashKey(cfg.DB + ".key")
	if err != nil {
		return nil, nil, err
	}
	store, err := sqlitestore.Open(ctx, cfg.DB)
	if err != nil {
		return nil, nil, err
	}
	// Failed guesses of codes are counted in the database, so that a
	// restart forgets none of them.
	limiter, err := wallet.NewStoreLimiter(store, wallet.LimitRule{})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	s, err := build(ctx, store, key, limiter, cfg, log)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return s, store.Close, nil
}

// build wires the services over any store, with one hasher and one
// limiter shared by the wallet and checkout, and issues the demo cards.
func build[T checkout.Tx](ctx context.Context, store giftkit.Store[T], key []byte, limiter wallet.Limiter, cfg config, log *slog.Logger) (*server, error) {
	hasher, err := giftcard.NewHasher(key)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	proc := cfg.Processor
	if proc == nil {
		proc = processortest.New()
	}
	cards, err := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: now, Logger: log})
	if err != nil {
		return nil, err
	}
	accounts, err := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: now, Limiter: limiter, Logger: log})
	if err != nil {
		return nil, err
	}
	pay, err := checkout.NewService(store, proc, checkout.Config{Now: now, Hasher: hasher, Limiter: limiter, Logger: log})
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &server{cards: cards, wallet: accounts, checkout: pay, sessions: newSessions(time.Now, maxSessions),
		orders: newOrderBook(), demo: &demoCards{}, pages: pages, log: log, zone: cfg.Zone, historyPage: cfg.HistoryPage}
	if err := recoverOpenOrders(ctx, store, s.orders); err != nil {
		return nil, err
	}
	if s.zone == nil {
		s.zone = time.UTC
	}
	if s.historyPage <= 0 {
		s.historyPage = 10
	}
	for range demoValues {
		if err := s.demo.issue(ctx, cards); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// hashKey returns the codes' hash key kept in the file name, making one on
// the first run: the cards a shop issued are found by the key it hashed
// their codes with, so a restarted shop needs the same one. The file is
// readable by its owner alone.
func hashKey(name string) ([]byte, error) {
	key, err := os.ReadFile(name)
	switch {
	case err == nil && len(key) < giftcard.MinKeyLen:
		return nil, fmt.Errorf("%s: a key of %d bytes; want %d or more", name, len(key), giftcard.MinKeyLen)
	case err == nil || !errors.Is(err, os.ErrNotExist):
		return key, err
	}
	key = []byte(rand.Text() + rand.Text()) // 260 random bits
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process made it first
		return hashKey(name)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

// serve runs the shop on addr until ctx is done, then shuts it down: it
// stops accepting, waits up to 10 s for requests in flight, stops the
// sweeper and releases the store. It prints the address to stdout; if
// ready is not nil, it also sends it there.
func serve(ctx context.Context, addr string, cfg config, log *slog.Logger, stdout io.Writer, ready chan<- string) error {
	s, release, err := newServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer release()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      45 * time.Second, // a payment may take up to 30 s
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	stopSweeper := sweepEvery(s.checkout, time.Minute, log)
	defer stopSweeper()
	tls := cfg.CertFile != "" || cfg.KeyFile != ""
	errc := make(chan error, 1)
	go func() {
		if tls {
			errc <- srv.ServeTLS(ln, cfg.CertFile, cfg.KeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
	scheme, store := "http", "SQLite "+cfg.DB
	if tls {
		scheme = "https"
	}
	if cfg.DB == "" {
		store = "memory"
	}
	url := scheme + "://" + ln.Addr().String() + "/"
	fmt.Fprintf(stdout, "Storefront: %s (store: %s)\nSign in as a demo shopper; this run's demo gift cards are on the gift-card page.\n", url, store)
	if ready != nil {
		ready <- url
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sweepEvery sweeps open payments (checkout.Service.Sweep) at once and
// then every interval, until the returned function is called, which waits
// for a sweep in progress to stop. A payment is left open when the process
// stops between two of its steps; the sweep completes or unwinds it.
func sweepEvery(pay *checkout.Service, interval time.Duration, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			if resumed, open, err := pay.Sweep(ctx, 0); err != nil && ctx.Err() == nil {
				log.Error("sweep failed", "resumed", resumed, "still_open", open, "err", codefmt.Redact(err.Error()))
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}
