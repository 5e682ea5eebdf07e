package lincheck

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/checkout/processortest"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/storetest"
	"github.com/giftkit/giftkit/wallet"
)

// Options tune [Run] and [Drive]. The zero Options is a short run without
// faults.
type Options struct {
	Clients int    // concurrent clients per process; 0 means 8
	Ops     int    // calls per client; 0 means 100
	Faults  bool   // inject store and processor faults, and retry through them
	Seed    uint64 // seeds every client's choices; runs with one seed make the same choices, not the same interleaving
	Owners  int    // shoppers, whose accounts the clients share; 0 means 3
	Cards   int    // cards issued for the clients to race for; 0 means 64
	// Skew offsets this process's clock from the others' (multi-process
	// runs). The models hold for any skew far below the hold time (48 h):
	// nothing lapses within a run.
	Skew time.Duration
	// Dir is where a history that is not linearizable is saved; empty
	// means $GIFTKIT_LINCHECK_DIR, or the test's TempDir.
	Dir string
	// CheckTimeout bounds porcupine's search per partition; 0 means 20 s.
	// A partition it cannot decide in time is reported and not failed.
	CheckTimeout time.Duration
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Clients, 8)
	def(&o.Ops, 100)
	def(&o.Owners, 3)
	def(&o.Cards, 64)
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 20 * time.Second
	}
	return o
}

// Epoch is the instant every run's clock stands at. The clock does not
// move during a run, so nothing expires and the models need no time.
var Epoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// GuessLimit is how many failed guesses the guessing wallets allow per
// limiter subject, for the whole run.
const GuessLimit = 3

// A World is what every process of a run shares: the shoppers and the cards
// issued for them, with their codes.
type World struct {
	Owners     []string    `json:"owners"`
	Currencies []string    `json:"currencies"`
	Cards      []WorldCard `json:"cards"`
}

// A WorldCard is an issued card and its code.
type WorldCard struct {
	ID       string `json:"id"`
	Code     string `json:"code"`
	Value    int64  `json:"value"`
	Currency string `json:"currency"`
}

// Setup issues the cards of a run into store and returns the world.
func Setup[T checkout.Tx](ctx context.Context, store giftkit.Store[T], opts Options) (World, error) {
	opts = opts.withDefaults()
	r := rand.New(rand.NewPCG(opts.Seed, 1))
	w := World{Currencies: []string{"EUR", "JPY"}}
	for i := range opts.Owners {
		w.Owners = append(w.Owners, fmt.Sprintf("shopper-%d", i))
	}
	hasher, err := giftcard.NewHasher(storetest.TestHashKey)
	if err != nil {
		return World{}, err
	}
	cards, err := giftcard.NewService(store, giftcard.Config{Hasher: hasher, Now: func() time.Time { return Epoch }})
	if err != nil {
		return World{}, err
	}
	for i := range opts.Cards {
		cur := giftkit.MustParseCurrency(w.Currencies[i%len(w.Currencies)])
		req := giftcard.IssueRequest{Value: giftkit.FromMinor(100+r.Int64N(2900), cur)}
		if i%3 == 0 { // a credit with an expiry, spent first; nothing lapses within a run
			req.ExpiresAt = Epoch.Add(time.Duration(1000+i) * time.Hour)
		}
		out, err := cards.Issue(ctx, req, fmt.Sprintf("setup-%d-%d", opts.Seed, i))
		if err != nil {
			return World{}, err
		}
		ic := out.Cards[0]
		w.Cards = append(w.Cards, WorldCard{ID: ic.Card.ID, Code: ic.Code.String(), Value: req.Value.Minor(), Currency: cur.Code()})
	}
	return w, nil
}

// Run drives the system over store from opts.Clients concurrent clients,
// settles every call a fault interrupted, reads the final state, and checks
// the history for linearizability (see the package doc). It fails t,
// naming the saved history and its visualisation, if the history is not
// linearizable, and reports a problem any call showed on its own.
func Run[T checkout.Tx](t testing.TB, store giftkit.Store[T], opts Options) {
	t.Helper()
	ctx := context.Background()
	w, err := Setup(ctx, store, opts)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	proc := processortest.New()
	h, err := Drive(ctx, store, proc, w, 0, opts)
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	final, err := Finish(ctx, store, proc, w, []*History{h}, opts)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	Check(t, Merge(h, final), opts)
	if reuses := proc.KeyReuses(); len(reuses) > 0 {
		t.Errorf("two processor calls were given one key: %s", reuses[0])
	}
}

// services are the services one process runs over its store.
type services struct {
	shop       *wallet.Service // shoppers: a limiter that never locks out
	memGuess   *wallet.Service // guessers: a MemoryLimiter of GuessLimit
	storeGuess *wallet.Service // guessers: a StoreLimiter of GuessLimit, or nil if the store keeps no attempt logs
	memGate    *gate           // memGuess's limiter
	storeGate  *gate           // storeGuess's limiter
	co         *checkout.Service
	clock      *storetest.Clock
}

// newServices builds the services of process over store, whose units of
// work fail as each call's fault plan says, and proc, whose calls do too.
func newServices[T checkout.Tx](store giftkit.Store[T], proc checkout.Processor, opts Options) (*services, error) {
	faulty := giftkit.Store[T](faultStore[T]{inner: store})
	hasher, err := giftcard.NewHasher(storetest.TestHashKey)
	if err != nil {
		return nil, err
	}
	s := &services{clock: storetest.NewClock(Epoch.Add(opts.Skew))}
	wallets := []struct {
		dst     **wallet.Service
		limiter wallet.Limiter
	}{
		{&s.shop, wallet.NewMemoryLimiter(1<<30, time.Hour, time.Second)},
		{&s.memGuess, newGate(wallet.NewMemoryLimiter(GuessLimit, 1<<20*time.Hour, 1<<20*time.Hour))},
	}
	s.memGate = wallets[1].limiter.(*gate)
	if logs, ok := limiterStore(store); ok {
		sl, err := wallet.NewStoreLimiter(logs, wallet.LimitRule{Max: GuessLimit, Window: 1 << 20 * time.Hour, Lockout: 1 << 20 * time.Hour})
		if err != nil {
			return nil, err
		}
		wallets = append(wallets, struct {
			dst     **wallet.Service
			limiter wallet.Limiter
		}{&s.storeGuess, newGate(sl)})
		s.storeGate = wallets[2].limiter.(*gate)
	}
	for _, w := range wallets {
		if *w.dst, err = wallet.NewService(faulty, wallet.Config{Hasher: hasher, Now: s.clock.Now, Limiter: w.limiter}); err != nil {
			return nil, err
		}
	}
	s.co, err = checkout.NewService(faulty, faultProcessor{inner: proc}, checkout.Config{Now: s.clock.Now, HoldFor: 48 * time.Hour})
	return s, err
}

// limiterStore returns store as a store of wallet.LimiterTx, if its Tx
// implements it.
func limiterStore[T any](store giftkit.Store[T]) (giftkit.Store[wallet.LimiterTx], bool) {
	if _, ok := any(*new(T)).(wallet.LimiterTx); !ok {
		return nil, false
	}
	return limiterTxStore[T]{store}, true
}

type limiterTxStore[T any] struct{ inner giftkit.Store[T] }

func (s limiterTxStore[T]) Update(ctx context.Context, fn func(wallet.LimiterTx) error) error {
	return s.inner.Update(ctx, func(tx T) error { return fn(any(tx).(wallet.LimiterTx)) })
}

// stamp reads the clock every process of a run shares: the wall clock,
// kept monotonic within the process.
type stamp struct{ base time.Time }

func newStamp() stamp { return stamp{base: time.Now()} }

func (s stamp) now() int64 { return s.base.UnixNano() + time.Since(s.base).Nanoseconds() }

// recorder collects the calls of a process.
type recorder struct {
	mu       sync.Mutex
	calls    []*Call
	problems []string
}

func (r *recorder) add(c *Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *recorder) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// dir returns where failing histories are saved: opts.Dir,
// $GIFTKIT_LINCHECK_DIR, or a new directory under the system's temporary
// directory, which outlives the test (a test's TempDir would not).
func (o Options) dir() (string, error) {
	if o.Dir != "" {
		return o.Dir, nil
	}
	if d := os.Getenv("GIFTKIT_LINCHECK_DIR"); d != "" {
		return d, nil
	}
	return os.MkdirTemp("", "giftkit-lincheck-")
}
