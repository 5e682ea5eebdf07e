// Command httpserver is a small JSON HTTP service that embeds giftkit, to
// copy into a real service:
//
//	POST /accounts/{id}/redeem   a shopper redeems a code into their balance
//	GET  /accounts/{id}/balance  ?currency=EUR
//	GET  /accounts/{id}/history  ?currency=EUR&after=0&limit=50
//	POST /orders/{id}/pay        a shopper pays an order: balance first, card for the rest
//	POST /cards                  the admin issues cards
//	POST /orders/{id}/capture    the admin captures an order paid with "capture": "later"
//	POST /orders/{id}/refund     the admin refunds an order
//
// Every request carries "Authorization: Bearer <token>"; a table of tokens
// (-tokens or GIFTKIT_TOKENS: "token=name,token=name", the name "admin" for
// the admin) says who is calling. A shopper acts only on their own account:
// any other {id} is 403. POSTs need an Idempotency-Key header, which maps to
// the library's idempotency keys: a retry returns the first outcome. Errors
// are RFC 9457 problem documents.
//
//	go run ./examples/httpserver -addr 127.0.0.1:8080 -tokens "$GIFTKIT_TOKENS"
//	go run ./examples/httpserver -smoke   # start, run a scripted shopper, stop
//
// The store is in memory and the card processor is the fake one from
// checkout/processortest: a real service passes its own processor, and a
// store shared by its instances.
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

	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/memstore"
	"github.com/giftkit/giftkit/wallet"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	tokens := flag.String("tokens", os.Getenv("GIFTKIT_TOKENS"), `bearer tokens, "token=name,..."; the name "admin" is the admin`)
	hashKey := flag.String("hash-key", os.Getenv("GIFTKIT_HASH_KEY"), "secret for hashing codes, 32+ bytes; random if empty (fine for a memory store)")
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
	if err := serve(ctx, *addr, *tokens, *hashKey, log, nil); err != nil {
		log.Error("httpserver stopped", "err", err)
		os.Exit(1)
	}
}

// newServer wires the services over a memory store.
func newServer(tokenSpec, hashKey string, log *slog.Logger) (*server, error) {
	tokens, err := parseTokens(tokenSpec)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	key := []byte(hashKey)
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	hasher, err := giftcard.NewHasher(key)
	if err != nil {
		return nil, err
	}
	store := memstore.New()
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
func serve(ctx context.Context, addr, tokens, hashKey string, log *slog.Logger, ready chan<- string) error {
	s, err := newServer(tokens, hashKey, log)
	if err != nil {
		return err
	}
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
	go func() { done <- serve(ctx, "127.0.0.1:0", tokens, "", log, ready) }()
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
