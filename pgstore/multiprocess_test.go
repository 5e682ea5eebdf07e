package pgstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/giftkit/giftkit"
	"github.com/giftkit/giftkit/giftcard"
	"github.com/giftkit/giftkit/outbox"
	"github.com/giftkit/giftkit/pgstore"
	"github.com/giftkit/giftkit/wallet"
)

// The multi-process test runs several OS processes of this test binary
// against one database, as several instances of a service would: each
// redeems every code of a shared list for its own shopper and debits one
// shared account, with several goroutines. The parent then checks that each
// card was redeemed exactly once, credited once, and that the shared account
// was never overdrawn and lost no cent.
//
// Meanwhile each process reads the outbox as a consumer of its own and
// acknowledges what it read both as that consumer and as one consumer that
// all processes share. The parent checks that what each process read is
// the start of the whole outbox, in the same order (nothing lost, nothing
// reordered, whichever process positioned it), that the whole holds one
// event per activity record, each aggregate's in order, and that each
// cursor is where its readers left it.

const (
	workerEnv    = "GIFTKIT_PG_WORKER"
	processes    = 4
	cardsToRace  = 40
	debitsEach   = 30
	sharedFunds  = 10000 // 100.00 EUR
	debitMinor   = 300   // 3.00 EUR
	workerRoutes = 4
)

type workerJob struct {
	Schema string   `json:"schema"`
	ID     int      `json:"id"`
	Codes  []string `json:"codes"`
}

type workerReport struct {
	Redeemed []string `json:"redeemed"` // card IDs this process credited
	Debited  int64    `json:"debited"`  // minor units debited from the shared account
	Refused  int      `json:"refused"`  // debits refused for want of funds
	Seen     []string `json:"seen"`     // the IDs of the events this process read, in order
	LastPos  int64    `json:"last_pos"` // the position of the last
}

var hashKey = []byte("pgstore-multiprocess-hash-key-0123456789")

func services(t testing.TB, s *pgstore.Store) (*giftcard.Service, *wallet.Service) {
	hasher, err := giftcard.NewHasher(hashKey)
	if err != nil {
		t.Fatal(err)
	}
	cards, err := giftcard.NewService(s, giftcard.Config{Hasher: hasher, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wallet.NewService(s, wallet.Config{Hasher: hasher, Now: time.Now, Limiter: wallet.NewMemoryLimiter(1<<30, time.Hour, time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return cards, w
}

func TestMultiProcess(t *testing.T) {
	dsn(t)
	s, schema, drop := openSchema(t, "")
	defer drop()
	ctx := context.Background()
	cards, accounts := services(t, s)
	batch, err := cards.Issue(ctx, giftcard.IssueRequest{Value: giftkit.FromMinor(500, giftkit.EUR), Count: cardsToRace}, "race-batch")
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, ic := range batch.Cards {
		codes = append(codes, ic.Code.String())
	}
	if _, err := accounts.Refund(ctx, "shared", giftkit.FromMinor(sharedFunds, giftkit.EUR), "funding", "fund-shared"); err != nil {
		t.Fatal(err)
	}

	reports := make([]workerReport, processes)
	var wg sync.WaitGroup
	for i := 0; i < processes; i++ {
		job, _ := json.Marshal(workerJob{Schema: schema, ID: i, Codes: codes})
		cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), workerEnv+"="+string(job))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if line, ok := strings.CutPrefix(sc.Text(), "REPORT "); ok {
					if err := json.Unmarshal([]byte(line), &reports[i]); err != nil {
						t.Errorf("process %d: %v", i, err)
					}
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("process %d: %v", i, err)
			}
		}()
	}
	wg.Wait()

	// Exactly once: every card credited by one process, none twice.
	creditedBy := map[string]int{}
	var debited int64
	for i, r := range reports {
		for _, id := range r.Redeemed {
			if prev, dup := creditedBy[id]; dup {
				t.Errorf("card %s redeemed by processes %d and %d", id, prev, i)
			}
			creditedBy[id] = i
		}
		debited += r.Debited
	}
	if len(creditedBy) != cardsToRace {
		t.Errorf("%d cards redeemed; want all %d, once each", len(creditedBy), cardsToRace)
	}
	var total int64
	for i := 0; i < processes; i++ {
		b, err := accounts.Balance(ctx, fmt.Sprint("proc-", i), giftkit.EUR)
		if err != nil {
			t.Fatal(err)
		}
		total += b.Balance.Minor()
		if want := int64(len(reports[i].Redeemed)) * 500; b.Balance.Minor() != want {
			t.Errorf("proc-%d holds %v; it redeemed %d cards", i, b.Balance, len(reports[i].Redeemed))
		}
	}
	if total != cardsToRace*500 {
		t.Errorf("redeemed value on accounts = %d; want %d", total, cardsToRace*500)
	}
	checkOutboxOfProcesses(t, s, schema, reports)

	// No overdraft, no lost cent.
	shared, err := accounts.Balance(ctx, "shared", giftkit.EUR)
	if err != nil {
		t.Fatal(err)
	}
	if shared.Balance.IsNegative() || shared.Balance.Minor() != sharedFunds-debited {
		t.Errorf("shared account holds %v; 100.00 − debits of %d = %d", shared.Balance, debited, sharedFunds-debited)
	}
	if shared.Balance.Minor() >= debitMinor {
		t.Errorf("%v left on the shared account although debits were refused", shared.Balance)
	}
	page, err := accounts.History(ctx, "shared", giftkit.EUR, 0, wallet.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for i, e := range page.Entries {
		if e.Seq != int64(i+1) {
			t.Fatalf("shared journal entry %d has seq %d", i, e.Seq)
		}
		sum += e.Amount.Minor()
	}
	if sum != shared.Balance.Minor() {
		t.Errorf("shared journal sums to %d; balance %v", sum, shared.Balance)
	}
}

// TestWorkerProcess is one process of TestMultiProcess; it runs only when
// that test starts it.
func TestWorkerProcess(t *testing.T) {
	spec := os.Getenv(workerEnv)
	if spec == "" {
		t.Skip("runs only as a process of TestMultiProcess")
	}
	var job workerJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := pgstore.Open(ctx, dsn(t), pgstore.WithSchema(job.Schema), pgstore.WithMaxConns(8))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, accounts := services(t, s)
	owner := fmt.Sprint("proc-", job.ID)
	var (
		mu     sync.Mutex
		report workerReport
		wg     sync.WaitGroup
	)
	stop := make(chan struct{})
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		report.Seen, report.LastPos = consumeOutbox(t, s, fmt.Sprint("mp-", job.ID), stop)
	}()
	for g := 0; g < workerRoutes; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each goroutine walks the codes from its own offset, so the
			// processes and goroutines collide on every card.
			for k := range job.Codes {
				code := job.Codes[(k+g*7+job.ID*13)%len(job.Codes)]
				got, err := accounts.Redeem(ctx, owner, code, "redeem-"+code)
				switch {
				case err == nil && !got.Replayed:
					mu.Lock()
					report.Redeemed = append(report.Redeemed, got.CardID)
					mu.Unlock()
				case err == nil, errors.Is(err, giftcard.ErrAlreadyRedeemed):
				default:
					t.Errorf("redeem: %v", err)
				}
			}
			for d := 0; d < debitsEach/workerRoutes+1; d++ {
				key := fmt.Sprintf("debit-%d-%d-%d", job.ID, g, d)
				_, err := accounts.Debit(ctx, "shared", giftkit.FromMinor(debitMinor, giftkit.EUR), "order", key)
				mu.Lock()
				switch {
				case err == nil:
					report.Debited += debitMinor
				case errors.Is(err, wallet.ErrInsufficientFunds):
					report.Refused++
				default:
					t.Errorf("debit: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-consumed
	out, _ := json.Marshal(report)
	fmt.Println("REPORT " + string(out))
}

// consumeOutbox reads the outbox as consumer from the start, acknowledging
// each page as consumer and as "mp-shared", until stop is closed and a
// last read finds nothing. It returns the IDs of the events read and the
// last position.
func consumeOutbox(t *testing.T, s *pgstore.Store, consumer string, stop <-chan struct{}) ([]string, int64) {
	ctx := context.Background()
	var (
		seen    []string
		after   int64
		lastSeq = map[outbox.Aggregate]int64{}
	)
	for stopping := false; ; {
		page, err := s.Events(ctx, consumer, after, 17)
		if err != nil {
			t.Errorf("events: %v", err)
			return seen, after
		}
		for _, e := range page {
			if e.Pos <= after || e.Seq != lastSeq[e.Aggregate]+1 {
				t.Errorf("%s #%d at %d, after %d and #%d", e.Aggregate, e.Seq, e.Pos, after, lastSeq[e.Aggregate])
			}
			after, lastSeq[e.Aggregate] = e.Pos, e.Seq
			seen = append(seen, e.ID)
		}
		if len(page) > 0 {
			for _, c := range []string{consumer, "mp-shared"} {
				if err := s.Ack(ctx, c, after); err != nil {
					t.Errorf("ack %s: %v", c, err)
				}
			}
			continue
		}
		if stopping {
			return seen, after
		}
		select {
		case <-stop:
			stopping = true // one more read, after this process's last commit
		default:
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := s.Wait(wctx, after); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("wait: %v", err)
			}
			cancel()
		}
	}
}

// checkOutboxOfProcesses checks what the processes read of the outbox
// against the whole of it (see the top of this file).
func checkOutboxOfProcesses(t *testing.T, s *pgstore.Store, schema string, reports []workerReport) {
	ctx := context.Background()
	all := readAll(t, s, "mp-check", 0)
	lastSeq := map[outbox.Aggregate]int64{}
	for i, e := range all {
		if i > 0 && e.Pos <= all[i-1].Pos {
			t.Fatalf("positions %d then %d", all[i-1].Pos, e.Pos)
		}
		if e.Seq != lastSeq[e.Aggregate]+1 {
			t.Fatalf("%s: event #%d after #%d", e.Aggregate, e.Seq, lastSeq[e.Aggregate])
		}
		lastSeq[e.Aggregate] = e.Seq
	}
	var records int
	if err := rawConn(t, schema).QueryRow(ctx, "SELECT count(*) FROM giftkit_activity").Scan(&records); err != nil {
		t.Fatal(err)
	}
	if len(all) != records {
		t.Errorf("%d events for %d activity records", len(all), records)
	}
	var shared int64
	for i, r := range reports {
		if len(r.Seen) > len(all) {
			t.Errorf("process %d read %d events of %d", i, len(r.Seen), len(all))
			continue
		}
		for j, id := range r.Seen {
			if id != all[j].ID {
				t.Errorf("process %d's event %d is %s; the outbox has %s there", i, j, id, all[j].ID)
				break
			}
		}
		if cur, err := s.Cursor(ctx, fmt.Sprint("mp-", i)); err != nil || cur != r.LastPos {
			t.Errorf("Cursor(mp-%d) = %d, %v; want %d", i, cur, err, r.LastPos)
		}
		shared = max(shared, r.LastPos)
	}
	if cur, err := s.Cursor(ctx, "mp-shared"); err != nil || cur != shared {
		t.Errorf("Cursor(mp-shared) = %d, %v; want %d, the furthest any process read", cur, err, shared)
	}
}
