// Package crashtest proves that a giftkit store keeps what it acknowledged
// when its process is killed: a test runs [Run], which starts the test's
// own binary again as a child process that redeems cards and pays orders
// through the real services, kills it with SIGKILL at random moments,
// many times, and restarts it, each time retrying the calls that were in
// flight with their keys and sweeping; then it checks the data the killed
// processes left:
//
//   - every acknowledged call is durable: its effect is in the store, and a
//     retry with its key returns the same outcome;
//   - money is conserved per currency: issued = unredeemed + balances +
//     spent − refunded + expired, from the store's journals;
//   - no card is redeemed twice, or credited twice;
//   - no balance is below zero, and every balance is the sum of its journal;
//   - no payment is left open after a sweep, no hold outlives its payment,
//     and the processor holds what every payment records.
//
// A store proves itself with one test:
//
//	func TestCrash(t *testing.T) {
//		crashtest.Run(t, crashtest.Config[*mystore.Tx]{
//			Open: func(ctx context.Context, in crashtest.Instance) (giftkit.Store[*mystore.Tx], func(), error) {
//				s, err := mystore.Open(ctx, filepath.Join(in.Dir, "giftkit.db"))
//				if err != nil {
//					return nil, nil, err
//				}
//				return s, s.Close, nil
//			},
//		})
//	}
//
// The test function runs in the parent and in every child: in a child, Run
// plays the child's part and ends the process, never returning. Code before
// Run therefore runs in every process, and code after it in the parent
// alone. Open is called in both; [Config.Setup], in the parent only, is
// where to create what the opener needs (a PostgreSQL schema) and to
// register its clean-up. [Instance] names what the processes share: a
// directory and a name fit for a schema.
//
// # The child
//
// A child opens the store and runs a few workers at once, each with its own
// owners and cards and a numbered plan of operations derived from a seed:
// redemptions, payments from the balance alone, split payments (balance
// first, a bank card for the rest) captured at once or later, declined
// cards, and refunds. Every call has a key derived from the worker and the
// operation's number. After each call returns an outcome (success, or a
// refusal that the service records), the child writes an acknowledgement
// line with the outcome to its standard output.
//
// The bank-card processor is processortest's fake, which lives in memory:
// killed with the child, it would forget the authorisations the store
// records. So the child calls it through a journal in the run's directory,
// written before each call reaches the fake; a new child replays the journal
// into a new fake, which is deterministic, and finds the processor as the
// killed child left it, as a real processor would be. A call written but not
// made before the kill is made by the replay: to the store, a reply lost on
// the way, which checkout repeats with the same key. This keeps split
// payments, captures, voids and refunds in the test without a processor
// server, and lets the checks compare the processor's ledger with the
// payments.
//
// # Restarts
//
// The parent reads the acknowledgements as they come, checks that a call
// acknowledged twice had one outcome, and knows where each worker stood.
// A restarted child first retries, per worker, the operation in flight and
// the two before it, with their keys, then sweeps (checkout.Service.Sweep,
// and the passage of time applied to every account), reports how many
// payments are still open (none may be), and goes on with the plan. The
// parent kills children for [Config.Duration], then does the same restart
// itself, retries every acknowledged call once more, and checks.
//
// SIGKILL ends a process, not the machine: what the process wrote to the
// operating system survives it. The test proves that a store commits
// atomically, acknowledges only what it committed, and recovers; not that
// its commits reach the disk before a power loss, which needs the machine
// to fail.
package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/checkout"
	"github.com/giftkit/giftkit/giftcard"
)

// Instance is what the parent and its children share: the same values in
// every process of one run.
type Instance struct {
	// Dir is a directory that lasts as long as the run: a store keeps its
	// files here. The harness keeps its own files here too, under names
	// starting with "crashtest.".
	Dir string
	// Name is unique to the run: "crashtest_" and 12 lower-case hex
	// digits, fit for a PostgreSQL schema or a database's name.
	Name string
}

// An Opener opens the store under test for one process of a run. close
// releases it; a child is killed without calling it.
type Opener[T checkout.Tx] func(ctx context.Context, in Instance) (store giftkit.Store[T], close func(), err error)

// Config configures [Run].
type Config[T checkout.Tx] struct {
	// Open opens the store. Required.
	Open Opener[T]
	// Setup, if not nil, runs in the parent only, before the first Open:
	// create what Open needs, and register its clean-up with t.Cleanup.
	Setup func(t TB, in Instance)
	// Duration is how long the parent goes on killing children; 0 means
	// 30 seconds, or 5 with -short. The run takes a few seconds more, to
	// issue the cards, retry and check.
	Duration time.Duration
	// MaxKillDelay bounds how long a child runs after it is ready before it
	// is killed; 0 means 300 ms. One child in five is killed sooner, while
	// it opens the store and replays the processor's journal.
	MaxKillDelay time.Duration
	// Workers is how many workers a child runs at once; 0 means 4.
	Workers int
	// Seed makes the plan and the kills; 0 means a random one, which Run
	// logs, so that a failure can be run again with it.
	Seed uint64
}

// TB is the part of testing.TB that Run uses. Run reports what it finds
// with Errorf, and stops with Fatalf, after which it returns at once.
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Result says what a run did.
type Result struct {
	Seed     uint64        // the seed of the plan and the kills
	Children int           // child processes started
	Kills    int           // of which killed with SIGKILL
	Acks     int           // calls acknowledged (each call counted once)
	Retries  int           // acknowledged calls retried, by restarted children and the final check, each compared with the first outcome
	Ops      int           // operations completed, over all workers
	Elapsed  time.Duration // the whole run, setup and checks included
}

// childEnv names the environment variable that makes a process a child: it
// holds the child's orders, as JSON.
const childEnv = "GIFTKIT_CRASHTEST_CHILD"

// orders is what the parent tells a child.
type orders struct {
	Test     string    `json:"test"` // the test's name, for a sanity check
	Instance Instance  `json:"instance"`
	Seed     uint64    `json:"seed"`
	Workers  int       `json:"workers"`
	Next     []int     `json:"next"`  // per worker, the operation in flight: the first not acknowledged whole
	Until    time.Time `json:"until"` // a child still alive then exits
}

// readyTimeout is how long a child may take to open the store and replay
// the processor's journal.
const readyTimeout = time.Minute

// replayDepth is how many acknowledged operations before the one in flight
// a restart retries, per worker.
const replayDepth = 2

// Lines a child writes to its standard output.
const (
	lineAck   = "crashtest:ack "
	lineReady = "crashtest:ready"
	lineSwept = "crashtest:swept "
	lineDone  = "crashtest:done"
)

// Run runs the crash test: see the package documentation. In a child it
// does not return. In the parent it returns what the run did; every
// violation was reported with t.Errorf.
func Run[T checkout.Tx](t TB, cfg Config[T]) Result {
	t.Helper()
	if env := os.Getenv(childEnv); env != "" {
		var o orders
		if err := json.Unmarshal([]byte(env), &o); err != nil {
			fmt.Fprintln(os.Stderr, "crashtest: child orders:", err)
			os.Exit(3)
		}
		if o.Test != t.Name() {
			// Another test of the binary, run by a pattern too wide: not ours.
			return Result{}
		}
		runChild(cfg, o)
		os.Exit(0)
	}
	if cfg.Open == nil {
		t.Fatalf("crashtest: Config.Open is required")
		return Result{}
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 30 * time.Second
		if testing.Short() {
			cfg.Duration = 5 * time.Second
		}
	}
	if cfg.MaxKillDelay <= 0 {
		cfg.MaxKillDelay = 300 * time.Millisecond
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Seed == 0 {
		cfg.Seed = mrand.Uint64() | 1
	}
	var name [6]byte
	_, _ = rand.Read(name[:])
	p := &parent[T]{t: t, cfg: cfg, in: Instance{Dir: t.TempDir(), Name: "crashtest_" + hex.EncodeToString(name[:])},
		acks: map[callID]string{}, next: make([]int, cfg.Workers), res: Result{Seed: cfg.Seed}}
	t.Logf("crashtest: seed %d, %d workers, killing for %v (run again with Config.Seed)", cfg.Seed, cfg.Workers, cfg.Duration)
	start := time.Now()
	if cfg.Setup != nil {
		cfg.Setup(t, p.in)
	}
	if !p.setup() {
		return p.res
	}
	issued := time.Now()
	p.kill(issued.Add(cfg.Duration))
	killed := time.Now()
	p.finish()
	p.res.Elapsed = time.Since(start)
	t.Logf("crashtest: %d children, %d killed; %d calls acknowledged, %d retried and compared; %d operations; "+
		"%v: setup %v, kills %v, final retries and checks %v",
		p.res.Children, p.res.Kills, p.res.Acks, p.res.Retries, p.res.Ops, p.res.Elapsed.Round(time.Millisecond),
		issued.Sub(start).Round(time.Millisecond), killed.Sub(issued).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	return p.res
}

type callID struct {
	worker, op int
	call       string
}

type parent[T checkout.Tx] struct {
	t     TB
	cfg   Config[T]
	in    Instance
	cards [][]issuedCard
	acks  map[callID]string
	next  []int
	res   Result
	bad   bool // a violation was reported
}

func (p *parent[T]) errorf(format string, args ...any) {
	p.t.Helper()
	p.bad = true
	p.t.Errorf("crashtest: "+format, args...)
}

// path names a file of the harness in the run's directory.
func (p *parent[T]) path(name string) string { return filepath.Join(p.in.Dir, "crashtest."+name) }

// setup issues every worker's cards, with the store opened once without a
// kill, and writes them where the children read them.
func (p *parent[T]) setup() bool {
	ctx := context.Background()
	store, closeStore, err := p.cfg.Open(ctx, p.in)
	if err != nil {
		p.t.Fatalf("crashtest: open: %v", err)
		return false
	}
	defer closeStore()
	cards, err := giftcard.NewService(store, giftcard.Config{Hasher: hasher(), Now: time.Now})
	if err != nil {
		p.t.Fatalf("crashtest: %v", err)
		return false
	}
	p.cards = make([][]issuedCard, p.cfg.Workers)
	for w := range p.cards {
		for v := 0; v < 4; v++ { // one batch per value, interleaved as cardValue numbers them
			out, err := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.FromMinor(cardValue(v), currencyOf(w)),
				Count: cardsPerWorker / 4}, fmt.Sprintf("issue-w%d-%d", w, v))
			if err != nil {
				p.t.Fatalf("crashtest: issue: %v", err)
				return false
			}
			for i, c := range out.Cards {
				n := i*4 + v
				for len(p.cards[w]) <= n {
					p.cards[w] = append(p.cards[w], issuedCard{})
				}
				p.cards[w][n] = issuedCard{ID: c.Card.ID, Code: c.Code.String(), Value: c.Card.Value.Minor()}
			}
		}
	}
	b, _ := json.Marshal(p.cards)
	if err := os.WriteFile(p.path("cards.json"), b, 0o600); err != nil {
		p.t.Fatalf("crashtest: %v", err)
		return false
	}
	return true
}

// hasher is the runs' code hasher: the key is fixed, since every process
// must find the cards.
func hasher() *giftcard.Hasher {
	h, err := giftcard.NewHasher([]byte("crashtest-hash-key-0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return h
}

// note records an acknowledgement: a retried call must have the first
// outcome. It moves the worker's operation in flight past an operation
// whose last call it acknowledges.
func (p *parent[T]) note(a ack) {
	p.t.Helper()
	id := callID{a.Worker, a.Op, a.Call}
	if a.Worker < 0 || a.Worker >= len(p.next) {
		p.errorf("acknowledgement of an unknown worker: %+v", a)
		return
	}
	if first, ok := p.acks[id]; ok {
		p.res.Retries++
		if first != a.Out {
			p.errorf("worker %d, operation %d: a retry of %s returned %q; the first call returned %q", a.Worker, a.Op, a.Call, a.Out, first)
		}
		return
	}
	p.acks[id] = a.Out
	p.res.Acks++
	o, _ := planOp(p.cfg.Seed, a.Worker, a.Op)
	if calls := o.Kind.calls(); a.Call == calls[len(calls)-1] && a.Op+1 > p.next[a.Worker] {
		p.res.Ops += a.Op + 1 - p.next[a.Worker]
		p.next[a.Worker] = a.Op + 1
	}
}

// kill starts children and kills them until the deadline, or until a
// child finishes the whole plan.
func (p *parent[T]) kill(deadline time.Time) {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	rng := mrand.New(mrand.NewPCG(p.cfg.Seed, 0x6b696c6c))
	for time.Now().Before(deadline) && !p.bad {
		o := orders{Test: p.t.Name(), Instance: p.in, Seed: p.cfg.Seed, Workers: p.cfg.Workers,
			Next: append([]int(nil), p.next...), Until: deadline.Add(time.Minute)}
		env, _ := json.Marshal(o)
		cmd := exec.Command(exe, "-test.run="+runPattern(p.t.Name()), "-test.count=1", "-test.timeout=0")
		cmd.Env = append(os.Environ(), childEnv+"="+string(env))
		var stderr tail
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			p.t.Fatalf("crashtest: %v", err)
			return
		}
		if err := cmd.Start(); err != nil {
			p.t.Fatalf("crashtest: start child: %v", err)
			return
		}
		p.res.Children++
		lines, exited := make(chan string), make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
			exited <- cmd.Wait()
		}()
		// One child in five dies while it starts; the others some time
		// after they are ready.
		early := rng.IntN(5) == 0
		timer := time.NewTimer(readyTimeout) // a child that never gets ready is killed too, and reported
		if early {
			timer.Reset(time.Duration(rng.Int64N(int64(40 * time.Millisecond))))
		}
		killed, ready, done := false, false, false
		for lines != nil {
			select {
			case line, ok := <-lines:
				if !ok {
					lines = nil
					break
				}
				switch {
				case strings.HasPrefix(line, lineAck):
					var a ack
					if err := json.Unmarshal([]byte(line[len(lineAck):]), &a); err != nil {
						p.errorf("child wrote a bad acknowledgement %q: %v", line, err)
						continue
					}
					p.note(a)
				case line == lineReady:
					ready = true
					if !early {
						timer.Reset(time.Duration(rng.Int64N(int64(p.cfg.MaxKillDelay))))
					}
				case strings.HasPrefix(line, lineSwept):
					if open := strings.TrimPrefix(line, lineSwept); open != "0" {
						p.errorf("after a restart's retries and sweep, %s payments are still open", open)
					}
				case line == lineDone:
					done = true
				}
			case <-timer.C:
				if !killed {
					_ = cmd.Process.Kill() // SIGKILL
					killed = true
				}
			}
		}
		timer.Stop()
		err = <-exited
		if s := stderr.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
			p.errorf("child %d failed:\n%s", p.res.Children, s)
		}
		switch {
		case killed && !early && !ready:
			p.res.Kills++
			p.errorf("child %d was not ready after %v:\n%s", p.res.Children, readyTimeout, stderr.String())
			return
		case killed:
			p.res.Kills++
		case err != nil:
			p.errorf("child %d exited by itself: %v\n%s", p.res.Children, err, stderr.String())
			return
		case done:
			return // the whole plan is done
		}
	}
}

// runPattern is the -test.run pattern that selects the test named name, a
// subtest's too.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, part := range parts {
		parts[i] = "^" + regexp.QuoteMeta(part) + "$"
	}
	return strings.Join(parts, "/")
}

// tail keeps the last 16 KiB written to it: a child's standard error.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - 16<<10; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.Clone(t.buf))
}

// restart is what every process that takes over does: per worker, retry
// the operation in flight and the replayDepth before it, with their keys;
// then sweep. It returns how many payments are still open.
func restart(ctx context.Context, s *system, next []int, acknowledge func(ack)) (open int, err error) {
	next = append([]int(nil), next...) // acknowledge may move the caller's on
	var wg sync.WaitGroup
	errs := make([]error, len(next))
	for w := range next {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := max(0, next[w]-replayDepth); n <= next[w]; n++ {
				o, ok := planOp(s.seed, w, n)
				if !ok {
					return
				}
				if errs[w] = s.runOp(ctx, o, acknowledge); errs[w] != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return s.sweep(ctx, len(next))
}
