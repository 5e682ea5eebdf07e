// Command httpserver is a small JSON HTTP service that embeds giftkit, to
// copy into a real service:
//
//	GET  /openapi.json                          the OpenAPI 3.1 document of this API (no token needed)
//	GET  /metrics                               the server's metrics, in Prometheus' text format (the admin)
//	POST /accounts/{id}/redeem                  a shopper redeems a code into their balance
//	GET  /accounts/{id}/balance                 ?currency=EUR
//	GET  /accounts/{id}/history                 ?currency=EUR&after=0&limit=50
//	POST /accounts/{id}/orders/{order}/pay      a shopper pays an order: gift cards by code, the balance, a bank card for the rest;
//	                                            a guest (no token) pays under /accounts/guest with codes
//	GET  /accounts/{id}/orders/{order}          the order's payment, for its shopper or the admin
//	POST /cards                                 the admin issues cards
//	POST /cards/balance                         what a card holds, by its code in the body: anyone, guests too
//	POST /cards/{id}/reload                     the admin, or an API client (a till), reloads a card
//	POST /accounts/{id}/orders/{order}/capture  the admin captures an order paid with "capture": "later"
//	POST /accounts/{id}/orders/{order}/refund   the admin refunds an order
//
// and the operator's ledger, for the admin alone (operator.go, reports.go):
//
//	POST /accounts/{id}/adjustments             adjust a balance, up or down, with a reason
//	POST /cards/{id}/adjustments                adjust a card's value, with a reason
//	POST /cards/{id}/clawback                   take back a charged-back card's value: recovered and shortfall
//	POST /cards/{id}/transfer                   move part of a card's value to another card
//	POST /cards/{id}/merge                      move all of a card's value to another card
//	POST /accounts/{id}/loads                   load a balance with value the shopper bought
//	GET  /activity                              the activity log: ?card|account&currency&actor_kind&actor_id&from&to&order&after&limit
//	GET  /activity/verify                       check the chains of records: ?card|account&currency, or all
//	GET  /reports/liability                     ?at=RFC 3339&format=csv|json
//	GET  /reports/cohorts                       ?at=&format=: each month's cards and their redemption curve
//	GET  /reports/dormancy                      ?since=&at=&format=: value with no holder activity since
//
// openapi.json, served at /openapi.json, documents every route, body,
// problem and header; the tests check every request and response they make
// against it.
//
// Every request but GET /openapi.json, a balance check and a guest's
// payment carries "Authorization: Bearer <token>"; a table of tokens
// (-tokens or GIFTKIT_TOKENS: "token=name,...", the name "admin" for the
// admin, "client:<name>" for an API client such as a till) says who is
// calling. Without either, the server runs in development mode: it makes
// one token for the admin and one for the shopper alice, prints them, and
// forgets them when it stops. A shopper acts only on their own account: any
// other {id} is 403. A caller without a token is a guest, who may check a
// card's balance by its code and pay an order of the account "guest" with
// gift cards' codes (no shopper may be named guest). POSTs that change
// something need an Idempotency-Key header, which maps to the library's
// idempotency keys: a retry returns the first outcome.
//
// Codes that name no usable card count as failed guesses in one limiter,
// shared by redemptions, balance checks and payments (wallet.Config.Limiter
// and checkout.Config.Limiter are the same), per account and per client
// address (wallet.WithClient; a guest's only per address); a code with a
// typo is caught by its check characters and never counts. Errors are RFC 9457 problem documents
// whose detail is written for the person reading it; what went wrong inside
// goes to the log, one line per request with its X-Request-ID.
//
// The log is JSON on stderr (log/slog): a line per request (requestlog.go),
// and the services' own records (giftcard.Config.Logger, ...) under the
// same request ID; no line holds a whole activation code. The services
// report every call to the server's metrics (metrics.go, their
// giftkit.Observer), which GET /metrics serves with the requests' counts.
//
// Every change is recorded in giftkit's activity log with who made it: each
// request carries its caller into the library (giftkit.WithActor), the
// admin as the operator of that name, a shopper as that shopper; an
// adjustment or a clawback also carries the reason its body gives
// (giftkit.WithReason). GET /activity pages through the log with an opaque
// cursor (base64url of a small JSON object, checked member by member when
// it comes back: a cursor the server did not write is a 400). The reports
// stream as they are computed; CSV comes as text/csv; charset=utf-8, an
// attachment.
//
// Order IDs belong to the account: alice's order-1 and bob's order-1 are two
// orders, each paid, shown and refunded on its own, and nothing one shopper
// does tells them whether another has an order of that ID. An order ID has 1
// to 85 bytes of UTF-8 without control characters.
//
// Query parameters are strict: one a route does not take, one given twice,
// or a bad value (a non-numeric after, a limit outside 1 to 500) is a 400
// that names it; an absent one takes its default (currency EUR, after 0,
// limit 50).
//
//	go run -C examples/httpserver .                   # development mode: prints its tokens
//	go run -C examples/httpserver . -addr 127.0.0.1:8080 -tokens "$GIFTKIT_TOKENS"
//	go run -C examples/httpserver . -smoke            # start, run a scripted shopper, stop
//
// The store is a SQLite file, giftkit.db in the working directory unless -db
// names another, so that a restarted server finds every balance; its codes'
// hash key, unless -hash-key gives one, is made on the first run and kept
// beside it (giftkit.db.key). With -dsn (or GIFTKIT_PG_DSN) the store is
// PostgreSQL, which every instance of the service can share. With -memory
// it is in memory, for throwaway runs. The schema is migrated at start, and
// on SQLite and PostgreSQL redemption attempts are counted in the database,
// so that a guesser is locked out of every instance at once, and after a
// restart. Every -sweep-interval
// (and once at start), the server sweeps the payments that a crash or a
// processor outage left open. The card processor is the fake one from
// checkout/processortest (the instrument "tok_declined" is declined, any
// other is approved): a real service passes its own.
//
// This example is a module of its own, so that the database drivers stay
// out of giftkit's core module: run it with go run -C examples/httpserver .
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

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/ledger"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/sqlitestore"
	"github.com/giftkit/giftkit/wallet"
)

// main runs the command with the process's arguments and environment,
// until SIGINT or SIGTERM.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, log)
	stop()
	os.Exit(code)
}

// run is the command: it reads its flags from args (falling back on
// environment variables through getenv), runs the server or the smoke test
// until ctx is done, and returns the exit code. It logs why it failed, and
// says "stopped" only after a server that started has shut down.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("httpserver", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	tokens := fs.String("tokens", getenv("GIFTKIT_TOKENS"), `bearer tokens, "token=name,..."; the name "admin" is the admin; empty for development mode, which makes and prints its own`)
	hashKey := fs.String("hash-key", getenv("GIFTKIT_HASH_KEY"), "secret for hashing codes, 32+ bytes; if empty, kept in a file beside the SQLite database (made on the first run), random in memory, required with PostgreSQL")
	db := fs.String("db", "giftkit.db", "the SQLite database file, created if missing")
	dsn := fs.String("dsn", getenv("GIFTKIT_PG_DSN"), "PostgreSQL URL; if set, the store is PostgreSQL instead of -db")
	memory := fs.Bool("memory", false, "keep everything in memory, forgotten when the server stops, instead of -db or -dsn")
	sweep := fs.Duration("sweep-interval", time.Minute, "how often to finish or unwind payments left open; 0 turns the sweep off")
	smoke := fs.Bool("smoke", false, "start on a free port, run a scripted shopper against the server, and stop")
	fs.SetOutput(stdout)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *smoke {
		if err := runSmoke(stdout, log, nil); err != nil {
			log.Error("smoke test failed", "err", err)
			return 1
		}
		return 0
	}
	cfg := serverConfig{Tokens: *tokens, HashKey: *hashKey, DSN: *dsn, SweepInterval: *sweep}
	switch {
	case *memory:
		cfg.DSN = ""
	case *dsn == "":
		cfg.DB = *db
	}
	if cfg.Tokens == "" {
		spec, err := developmentTokens(stdout, *addr)
		if err != nil {
			log.Error("httpserver did not start", "err", err)
			return 1
		}
		log.Warn("development mode: the tokens printed above were made for this run; pass -tokens or GIFTKIT_TOKENS to choose them")
		cfg.Tokens = spec
	}
	err := serve(ctx, *addr, cfg, log, nil)
	var se *startError
	switch {
	case errors.As(err, &se):
		log.Error("httpserver did not start", "err", se.err)
		return 1
	case err != nil:
		log.Error("httpserver failed", "err", err)
		return 1
	}
	return 0
}

// developmentTokens makes a token for the admin and one for the shopper
// alice, prints them to w with a request to try, and returns them as a
// token table.
func developmentTokens(w io.Writer, addr string) (string, error) {
	admin, alice := rand.Text(), rand.Text()
	_, err := fmt.Fprintf(w, `Development mode: no -tokens or GIFTKIT_TOKENS, so this run made its own tokens.
They work until the server stops. Do not run a real service like this.

  admin (issues cards, captures, refunds, reads any account, runs the ledger):  %s
  alice (a shopper: redeems, pays, reads her own account):                     %s

Try:  curl -s -H "Authorization: Bearer %s" http://%s/accounts/alice/balance
The API is described at http://%[4]s/openapi.json

`, admin, alice, alice, addr)
	return admin + "=admin," + alice + "=alice", err
}

// serverConfig says how to build the server.
type serverConfig struct {
	Tokens        string             // "token=name,..."
	HashKey       string             // the codes' HMAC key; from DB's key file, or random, when empty
	DB            string             // the SQLite file; if empty, DSN, or memory
	DSN           string             // PostgreSQL; if empty (and DB too), memory
	Schema        string             // PostgreSQL schema; empty for the default
	SweepInterval time.Duration      // how often serve sweeps open payments; 0 for never
	Processor     checkout.Processor // the card processor; nil for a new processortest.Processor
	// Limit is the rule of the limiter that counts failed guesses of codes
	// (redemptions, balance checks, codes given to pay), per account and
	// per client address; zero for the defaults: 10 in an hour, then an
	// hour's lockout.
	Limit wallet.LimitRule
	// Programme is the gift-card programme's rules (giftcard.Programme),
	// given to every service; nil for none.
	Programme *giftcard.Programme
}

// deps are what build wires the services with, besides the store.
type deps struct {
	hasher    *giftcard.Hasher
	tokens    map[string]principal
	limiter   wallet.Limiter // counts guesses; the store's, or one in memory
	programme *giftcard.Programme
	processor checkout.Processor
	log       *slog.Logger
	metrics   *metrics // the services' Observer; served at GET /metrics
}

// newServer wires the services over the configured store. The returned
// function releases the store. On SQLite and PostgreSQL, failed guesses of
// codes are counted in the database (wallet.NewStoreLimiter), so that every
// instance sharing it shares the counts, and a restart forgets none: a
// guesser cannot multiply their tries by the number of instances or of
// restarts.
func newServer(ctx context.Context, cfg serverConfig, log *slog.Logger) (*server, func(), error) {
	d, err := newDeps(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	if cfg.DB != "" {
		store, err := sqlitestore.Open(ctx, cfg.DB)
		if err != nil {
			return nil, nil, err
		}
		if d.limiter, err = wallet.NewStoreLimiter(store, cfg.Limit); err != nil {
			store.Close()
			return nil, nil, err
		}
		s, err := build(store, d)
		if err != nil {
			store.Close()
			return nil, nil, err
		}
		log.Info("store", "sqlite", cfg.DB)
		return s, store.Close, nil
	}
	if cfg.DSN == "" {
		d.limiter = wallet.NewMemoryLimiter(cfg.Limit.Max, cfg.Limit.Window, cfg.Limit.Lockout)
		s, err := build(memstore.New(), d)
		return s, func() {}, err
	}
	var opts []pgstore.Option
	if cfg.Schema != "" {
		opts = append(opts, pgstore.WithSchema(cfg.Schema))
	}
	store, err := pgstore.Open(ctx, cfg.DSN, opts...)
	if err != nil {
		return nil, nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, nil, err
	}
	if d.limiter, err = wallet.NewStoreLimiter(store, cfg.Limit); err != nil {
		store.Close()
		return nil, nil, err
	}
	s, err := build(store, d)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return s, store.Close, nil
}

// newDeps reads the tokens, makes the hasher and picks the processor.
func newDeps(cfg serverConfig, log *slog.Logger) (deps, error) {
	tokens, err := parseTokens(cfg.Tokens)
	if err != nil {
		return deps{}, fmt.Errorf("tokens: %w", err)
	}
	key := []byte(cfg.HashKey)
	switch {
	case len(key) > 0:
	case cfg.DB != "":
		if key, err = keyFile(cfg.DB + ".key"); err != nil {
			return deps{}, err
		}
	case cfg.DSN != "":
		return deps{}, errors.New("a PostgreSQL store needs -hash-key: with a random one, no stored card could be found after a restart")
	default:
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return deps{}, err
		}
	}
	hasher, err := giftcard.NewHasher(key)
	if err != nil {
		return deps{}, err
	}
	proc := cfg.Processor
	if proc == nil {
		proc = processortest.New()
	}
	return deps{hasher: hasher, tokens: tokens, programme: cfg.Programme, processor: proc, log: log, metrics: &metrics{}}, nil
}

// keyFile returns the hash key kept in the file name, making one on the
// first run: the cards a server issued are found by the key it hashed their
// codes with, so a restarted server must have the same one. The file is
// readable by its owner alone; who can read it can check guessed codes
// against a copy of the database.
func keyFile(name string) ([]byte, error) {
	if key, err := os.ReadFile(name); err == nil || !errors.Is(err, os.ErrNotExist) {
		if err == nil && len(key) < giftcard.MinKeyLen {
			err = fmt.Errorf("%s: a key of %d bytes; want %d or more", name, len(key), giftcard.MinKeyLen)
		}
		return key, err
	}
	key := []byte(rand.Text() + rand.Text()) // 52 characters, 260 random bits
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another server made it first
		return keyFile(name)
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

// build wires the services over any store. Each logs its calls to the
// server's log, under the request ID of the request that made them, and
// reports them to the server's metrics. The wallet and checkout share one
// limiter and the codes' hasher: a code given to pay is looked up as a
// redemption's is, and counts as a guess in the same count, so that a
// guesser cannot spread guesses between redeeming, checking balances and
// paying.
func build[T checkout.Tx](store giftkit.Store[T], d deps) (*server, error) {
	log := slog.New(serviceLogHandler{d.log.Handler()})
	limiter := d.limiter
	cards, err := giftcard.NewService(store, giftcard.Config{Hasher: d.hasher, Now: time.Now, Logger: log, Observer: d.metrics,
		Programme: d.programme})
	if err != nil {
		return nil, err
	}
	accounts, err := wallet.NewService(store, wallet.Config{Hasher: d.hasher, Now: time.Now, Limiter: limiter, Logger: log, Observer: d.metrics,
		Programme: d.programme})
	if err != nil {
		return nil, err
	}
	pay, err := checkout.NewService(store, d.processor, checkout.Config{Now: time.Now, Logger: log, Observer: d.metrics,
		Hasher: d.hasher, Limiter: limiter, Programme: d.programme})
	if err != nil {
		return nil, err
	}
	book, err := ledger.NewService(store)
	if err != nil {
		return nil, err
	}
	return &server{cards: cards, wallet: accounts, checkout: pay, ledger: book, tokens: d.tokens, log: d.log, metrics: d.metrics, now: time.Now}, nil
}

// A startError is why serve could not start: nothing was served, so nothing
// was stopped.
type startError struct{ err error }

// Error returns the message of the startError.
func (e *startError) Error() string { return "start: " + e.err.Error() }

// Unwrap returns the reason the server did not start.
func (e *startError) Unwrap() error { return e.err }

// serve runs the server on addr until ctx is done, then shuts it down
// gracefully: it stops accepting, waits up to 10 s for requests in flight,
// stops the sweeper and releases the store. If ready is not nil, it receives
// the listening address. A failure before the server listens is a
// *startError.
func serve(ctx context.Context, addr string, cfg serverConfig, log *slog.Logger, ready chan<- string) error {
	s, release, err := newServer(ctx, cfg, log)
	if err != nil {
		return &startError{err}
	}
	defer release()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return &startError{err}
	}
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	stopSweeper := startSweeper(s.checkout, cfg.SweepInterval, log)
	defer stopSweeper() // after the requests in flight, before the store is released
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "openapi", "http://"+ln.Addr().String()+"/openapi.json")
	if ready != nil {
		ready <- ln.Addr().String()
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
	log.Info("stopped")
	return nil
}

// runSmoke starts the server on a free loopback port, runs a short scripted
// session against it over real HTTP with client (nil for
// http.DefaultClient), and shuts it down.
func runSmoke(w io.Writer, log *slog.Logger, client *http.Client) error {
	const tokens = "admin-token-0123456789=admin,alice-token-0123456789=alice"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cfg := serverConfig{Tokens: tokens, SweepInterval: time.Minute}
	go func() { done <- serve(ctx, "127.0.0.1:0", cfg, log, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		return err
	}
	if client == nil {
		client = http.DefaultClient
	}
	api := &apiClient{base: "http://" + addr, http: client}
	err := smokeSession(w, api, "admin-token-0123456789", "alice-token-0123456789")
	cancel()
	if serr := <-done; err == nil {
		err = serr
	}
	return err
}
