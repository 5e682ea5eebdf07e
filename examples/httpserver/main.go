// Command httpserver is a small JSON HTTP service that embeds giftkit, to
// copy into a real service:
//
//	POST /accounts/{id}/redeem                  a shopper redeems a code into their balance
//	GET  /accounts/{id}/balance                 ?currency=EUR
//	GET  /accounts/{id}/history                 ?currency=EUR&after=0&limit=50
//	POST /accounts/{id}/orders/{order}/pay      a shopper pays an order: balance first, card for the rest
//	GET  /accounts/{id}/orders/{order}          the order's payment, for its shopper or the admin
//	POST /cards                                 the admin issues cards
//	POST /accounts/{id}/orders/{order}/capture  the admin captures an order paid with "capture": "later"
//	POST /accounts/{id}/orders/{order}/refund   the admin refunds an order
//
// Every request carries "Authorization: Bearer <token>"; a table of tokens
// (-tokens or GIFTKIT_TOKENS: "token=name,token=name", the name "admin" for
// the admin) says who is calling. A shopper acts only on their own account:
// any other {id} is 403. POSTs need an Idempotency-Key header, which maps to
// the library's idempotency keys: a retry returns the first outcome. Errors
// are RFC 9457 problem documents.
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
//	go run -C examples/httpserver . -addr 127.0.0.1:8080 -tokens "$GIFTKIT_TOKENS"
//	go run -C examples/httpserver . -smoke   # start, run a scripted shopper, stop
//
// The store is in memory, or PostgreSQL with -dsn (or GIFTKIT_PG_DSN), which
// every instance of the service can share; the schema is migrated at start.
// The card processor is the fake one from checkout/processortest: a real
// service passes its own.
//
// This example is a module of its own, so that the PostgreSQL driver stays
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
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/wallet"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	tokens := flag.String("tokens", os.Getenv("GIFTKIT_TOKENS"), `bearer tokens, "token=name,..."; the name "admin" is the admin`)
	hashKey := flag.String("hash-key", os.Getenv("GIFTKIT_HASH_KEY"), "secret for hashing codes, 32+ bytes; random if empty (fine for a memory store, not for PostgreSQL)")
	dsn := flag.String("dsn", os.Getenv("GIFTKIT_PG_DSN"), "PostgreSQL URL; empty for the in-memory store")
	smoke := flag.Bool("smoke", false, "start on a free port, run a scripted shopper against the server, and stop")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *smoke {
		if err := runSmoke(os.Stdout, log); err != nil {
			fmt.Fprintln(os.Stderr, "httpserver:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := serverConfig{Tokens: *tokens, HashKey: *hashKey, DSN: *dsn}
	if err := serve(ctx, *addr, cfg, log, nil); err != nil {
		log.Error("httpserver stopped", "err", err)
		os.Exit(1)
	}
}

// serverConfig says how to build the server.
type serverConfig struct {
	Tokens  string // "token=name,..."
	HashKey string // the codes' HMAC key; random when empty
	DSN     string // PostgreSQL; empty for memory
	Schema  string // PostgreSQL schema; empty for the default
}

// newServer wires the services over the configured store. The returned
// function releases the store.
func newServer(ctx context.Context, cfg serverConfig, log *slog.Logger) (*server, func(), error) {
	tokens, err := parseTokens(cfg.Tokens)
	if err != nil {
		return nil, nil, fmt.Errorf("tokens: %w", err)
	}
	key := []byte(cfg.HashKey)
	if len(key) == 0 {
		if cfg.DSN != "" {
			return nil, nil, errors.New("a PostgreSQL store needs -hash-key: with a random one, no stored card could be found after a restart")
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, nil, err
		}
	}
	hasher, err := giftcard.NewHasher(key)
	if err != nil {
		return nil, nil, err
	}
	if cfg.DSN == "" {
		s, err := build(memstore.New(), hasher, tokens, log)
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
	s, err := build(store, hasher, tokens, log)
	return s, store.Close, err
}

// build wires the services over any store.
func build[T checkout.Tx](store giftkit.Store[T], hasher *giftcard.Hasher, tokens map[string]principal, log *slog.Logger) (*server, error) {
	cards, err := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: time.Now})
	if err != nil {
		return nil, err
	}
	accounts, err := wallet.NewService(store, wallet.Config{Hasher: hasher, Now: time.Now})
	if err != nil {
		return nil, err
	}
	pay, err := checkout.NewService(store, processortest.New(), checkout.Config{Now: time.Now})
	if err != nil {
		return nil, err
	}
	return &server{cards: cards, wallet: accounts, checkout: pay, tokens: tokens, log: log}, nil
}

// serve runs the server on addr until ctx is done, then shuts it down
// gracefully: it stops accepting and waits up to 10 s for requests in
// flight. If ready is not nil, it receives the listening address.
func serve(ctx context.Context, addr string, cfg serverConfig, log *slog.Logger, ready chan<- string) error {
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
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
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
// session against it over real HTTP, and shuts it down.
func runSmoke(w io.Writer, log *slog.Logger) error {
	const tokens = "admin-token-0123456789=admin,alice-token-0123456789=alice"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, "127.0.0.1:0", serverConfig{Tokens: tokens}, log, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		return err
	}
	err := smokeSession(w, "http://"+addr, "admin-token-0123456789", "alice-token-0123456789")
	cancel()
	if serr := <-done; err == nil {
		err = serr
	}
	return err
}
