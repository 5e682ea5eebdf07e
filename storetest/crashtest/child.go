package crashtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/giftkit/giftkit/checkout"
)

// runChild is a child's life: open the store, replay the processor's
// journal, retry what was in flight and sweep, then go on with the plan
// until killed, acknowledging every outcome on standard output. Anything
// unexpected ends it with status 3 and a line on standard error.
func runChild[T checkout.Tx](cfg Config[T], o orders) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crashtest child: "+format+"\n", args...)
		os.Exit(3)
	}
	go func() { // an orphan does not run for ever
		time.Sleep(time.Until(o.Until))
		fail("still running at %v", o.Until)
	}()
	ctx := context.Background()
	path := func(name string) string { return filepath.Join(o.Instance.Dir, "crashtest."+name) }
	data, err := os.ReadFile(path("cards.json"))
	if err != nil {
		fail("%v", err)
	}
	var cards [][]issuedCard
	if err := json.Unmarshal(data, &cards); err != nil || len(cards) != o.Workers || len(o.Next) != o.Workers {
		fail("cards.json does not match the orders: %v", err)
	}
	store, closeStore, err := cfg.Open(ctx, o.Instance)
	if err != nil {
		fail("open: %v", err)
	}
	j, err := openJournal(path("processor.log"))
	if err != nil {
		fail("processor journal: %v", err)
	}
	s, err := newSystem(store, o.Seed, cards, j, hasher(), true)
	if err != nil {
		fail("%v", err)
	}

	var mu sync.Mutex // one line, one write: a kill never cuts a line
	say := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := os.Stdout.Write([]byte(line + "\n")); err != nil {
			os.Exit(4) // the parent is gone
		}
	}
	acknowledge := func(a ack) {
		b, _ := json.Marshal(a)
		say(lineAck + string(b))
	}
	say(lineReady)
	open, err := restart(ctx, s, o.Next, acknowledge)
	if err != nil {
		fail("restart: %v", err)
	}
	say(lineSwept + strconv.Itoa(open))

	var wg sync.WaitGroup
	for w := range o.Next {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := o.Next[w] + 1; ; n++ {
				op, ok := planOp(o.Seed, w, n)
				if !ok {
					return
				}
				if err := s.runOp(ctx, op, acknowledge); err != nil {
					fail("%v", err)
				}
			}
		}()
	}
	wg.Wait()
	closeStore()
	j.close()
	say(lineDone)
}
